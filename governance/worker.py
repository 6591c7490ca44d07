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
        beat_schedule={},
    )
    from governance.tasks import declared_jobs, register

    register()
    for name, declared in declared_jobs().items():
        app.task(name=name, bind=False, acks_late=True, **declared.options)(declared.body)
        if declared.every is not None:
            app.conf.beat_schedule[name] = {"task": name, "schedule": declared.every(settings)}
    return app


celery_app = make_celery()


def run_worker(concurrency: int, beat: bool, extra: list[str] | None = None) -> None:
    argv: list[Any] = ["worker", "--loglevel", "INFO", "--concurrency", str(concurrency), "--pool", "prefork"]
    if beat:
        argv.append("--beat")
    celery_app.worker_main(argv + (extra or []))
