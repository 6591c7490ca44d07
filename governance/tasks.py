"""Every background job: declared in its module's tasks.py, run in-process (embedded default) or by Celery.

Importing the modules below declares their jobs (body, retry policy, schedule) in ``core.jobs.JOBS``.
"""

from __future__ import annotations

import importlib
from typing import Any

from governance.config import Settings
from governance.core import jobs

JOB_MODULES = (
    "governance.enforcement.tasks",
    "governance.identity.tasks",
    "governance.outputs.tasks",
    "governance.audit.tasks",
)


def declared_jobs() -> dict[str, jobs.Job]:
    for module in JOB_MODULES:
        importlib.import_module(module)
    return jobs.JOBS


def register(settings: Settings | None = None) -> None:
    """Make every job runnable in-process, and route to Celery when a broker is configured."""
    from governance.config import get_settings

    for name, declared in declared_jobs().items():
        jobs.register_inline(name, declared.body)
    settings = settings or get_settings()
    if settings.broker_url and not settings.jobs_inline:

        def send(task: str, args: tuple[Any, ...]) -> None:
            # Imported when first used: governance.worker itself calls register() while it is imported.
            from governance.worker import celery_app

            celery_app.send_task(task, args=list(args))

        jobs.set_dispatcher(send)
    else:
        jobs.set_dispatcher(None)
