"""The Celery application: `governance worker` runs it; beat runs the periodic sweeps."""

from __future__ import annotations

from typing import Any

from celery import Celery

from governance.config import get_settings


def make_celery() -> Celery:
    settings = get_settings()
    app = Celery("governance", broker=settings.broker_url or "memory://")
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_serializer="json",
        accept_content=["json"],
        broker_transport_options={"visibility_timeout": 3600},
        broker_connection_retry_on_startup=True,
        task_ignore_result=True,
        beat_schedule={
            "enforcement-sweep": {"task": "enforcement.sweep", "schedule": settings.sweep_seconds},
            "audit-seal": {"task": "audit.seal", "schedule": 2.0},
        },
    )
    # Directory sync from Keycloak (the task returns at once when GOVERNANCE_KEYCLOAK_URL is not set).
    app.conf.beat_schedule["identity-sync"] = {
        "task": "identity.sync",
        "schedule": settings.keycloak_sync_seconds,
    }
    # Safe Outputs: re-run the checks of requests held (scanner unreachable) or whose check run went silent.
    app.conf.beat_schedule["outputs-retry"] = {
        "task": "outputs.retry_held",
        "schedule": settings.output_retry_seconds,
    }
    from governance.tasks import TASK_OPTIONS, TASKS, register

    register()
    for name, func in TASKS.items():
        app.task(name=name, bind=False, acks_late=True, **TASK_OPTIONS.get(name, {}))(func)
    return app


celery_app = make_celery()


def run_worker(concurrency: int, beat: bool, extra: list[str] | None = None) -> None:
    argv: list[Any] = ["worker", "--loglevel", "INFO", "--concurrency", str(concurrency), "--pool", "prefork"]
    if beat:
        argv.append("--beat")
    celery_app.worker_main(argv + (extra or []))
