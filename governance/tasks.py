"""Every background job by name: run in-process (embedded default) or by Celery workers (production)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from governance.config import Settings
from governance.core import jobs
from governance.enforcement.triggers import RECHECK_TASK


def _recheck(scope: dict[str, Any]) -> None:
    from governance.enforcement.service import recheck

    recheck(scope)


def _sweep() -> None:
    from governance.enforcement.service import sweep

    sweep()


TASKS: dict[str, Callable[..., Any]] = {
    RECHECK_TASK: _recheck,
    "enforcement.sweep": _sweep,
}


def register(settings: Settings | None = None) -> None:
    """Make every task runnable in-process, and route to Celery when a broker is configured."""
    from governance.config import get_settings

    for name, func in TASKS.items():
        jobs.register_inline(name, func)
    settings = settings or get_settings()
    if settings.broker_url and not settings.jobs_inline:
        from governance.worker import celery_app

        def send(task: str, args: tuple[Any, ...]) -> None:
            celery_app.send_task(task, args=list(args))

        jobs.set_dispatcher(send)
    else:
        jobs.set_dispatcher(None)
