"""Every background job by name: run in-process (embedded default) or by Celery workers (production)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from governance.config import Settings
from governance.core import jobs
from governance.enforcement.triggers import RECHECK_TASK
from governance.identity.sync_errors import KeycloakUnreachable


def _recheck(scope: dict[str, Any]) -> None:
    from governance.enforcement.service import recheck

    recheck(scope)


def _sweep() -> None:
    from governance.enforcement.service import sweep

    sweep()


def _identity_sync(dry_run: bool = False) -> dict[str, Any]:
    from governance.config import get_settings
    from governance.identity.keycloak_sync import run_sync

    if not get_settings().keycloak_url:
        return {"skipped": "GOVERNANCE_KEYCLOAK_URL is not set"}
    report = run_sync(dry_run=dry_run)
    return {"applied": report.applied, **report.plan.summary()}


TASKS: dict[str, Callable[..., Any]] = {
    RECHECK_TASK: _recheck,
    "enforcement.sweep": _sweep,
}
TASKS["identity.sync"] = _identity_sync

# Extra Celery options per task (the worker passes them to app.task).
TASK_OPTIONS: dict[str, dict[str, Any]] = {
    "identity.sync": {
        "autoretry_for": (KeycloakUnreachable,),
        "retry_backoff": 30,
        "retry_backoff_max": 600,
        "retry_jitter": True,
        "max_retries": 5,
    },
}


def register(settings: Settings | None = None) -> None:
    """Make every task runnable in-process, and route to Celery when a broker is configured."""
    from governance.config import get_settings

    for name, func in TASKS.items():
        jobs.register_inline(name, func)
    settings = settings or get_settings()
    if settings.broker_url and not settings.jobs_inline:

        def send(task: str, args: tuple[Any, ...]) -> None:
            # Imported when first used: governance.worker itself calls register() while it is imported.
            from governance.worker import celery_app

            celery_app.send_task(task, args=list(args))

        jobs.set_dispatcher(send)
    else:
        jobs.set_dispatcher(None)


def _output_checks(request_id: str) -> str:
    from governance.outputs.tasks import run_checks

    return run_checks(request_id)


def _output_retry() -> int:
    from governance.outputs.tasks import retry_held

    return retry_held()


# Safe Outputs: the automated checks of a submitted request (idempotent, acks_late), and the beat job
# that re-runs held or stalled check runs.
TASKS["outputs.run_checks"] = _output_checks
TASKS["outputs.retry_held"] = _output_retry


def _audit_seal() -> dict[str, Any]:
    from governance.audit.sealing import seal_pending

    return seal_pending(max_seconds=1.5).to_json()


# Audit: chain committed events and sign checkpoints (beat runs it every 2 s; one sealer at a time).
TASKS["audit.seal"] = _audit_seal
