"""Background jobs are enqueued only after the transaction that asked for them commits."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

Dispatcher = Callable[[str, tuple[Any, ...]], None]


@dataclass
class _Registry:
    dispatcher: Dispatcher | None = None
    inline: dict[str, Callable[..., Any]] = field(default_factory=dict)


_registry = _Registry()


def register_inline(name: str, func: Callable[..., Any]) -> None:
    """Tasks run in-process when no broker is configured (the embedded default)."""
    _registry.inline[name] = func


def set_dispatcher(dispatcher: Dispatcher | None) -> None:
    _registry.dispatcher = dispatcher


@dataclass(frozen=True)
class Job:
    """A background job declared beside its module: body, Celery retry policy and beat schedule."""

    name: str
    body: Callable[..., Any]
    options: dict[str, Any] = field(default_factory=dict)
    every: Callable[[Any], float] | None = None  # seconds between runs, from the Settings; None: on demand


JOBS: dict[str, Job] = {}


def job(
    name: str, *, every: Callable[[Any], float] | None = None, **options: Any
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare a job: ``@job("enforcement.sweep", every=lambda s: s.sweep_seconds)`` in ``tasks.py``."""

    def declare(body: Callable[..., Any]) -> Callable[..., Any]:
        if name in JOBS and JOBS[name].body is not body:
            raise ValueError(f"the job {name} is declared twice")
        JOBS[name] = Job(name, body, dict(options), every)
        return body

    return declare


def enqueue(session: Session, task: str, *args: Any) -> None:
    session.info.setdefault("pending_jobs", []).append((task, args))


def after_commit(session: Session, action: Callable[[], object]) -> None:
    """Run ``action`` once this transaction has committed (e.g. delete a blob the change orphaned)."""
    session.info.setdefault("after_commit", []).append(action)


def on_rollback(session: Session, action: Callable[[], object]) -> None:
    """Run ``action`` if this transaction rolls back (e.g. delete a blob stored for a row never written)."""
    session.info.setdefault("on_rollback", []).append(action)


def _run_hooks(actions: list[Callable[[], object]]) -> None:
    for action in actions:
        try:
            action()
        except Exception:  # the transaction's outcome stands; a failed clean-up is logged
            log.exception("a commit/rollback hook failed")


def _dispatch(task: str, args: tuple[Any, ...]) -> None:
    if _registry.dispatcher is not None:
        _registry.dispatcher(task, args)
        return
    func = _registry.inline.get(task)
    if func is None:
        log.error("no handler registered for job %s", task)
        return
    try:
        func(*args)
    except Exception:  # a failed inline job must not turn a committed request into an error
        log.exception("inline job %s failed", task)


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    session.info.pop("on_rollback", None)
    _run_hooks(session.info.pop("after_commit", []))
    jobs = session.info.pop("pending_jobs", [])
    for task, args in jobs:
        _dispatch(task, args)


@event.listens_for(Session, "after_soft_rollback")
def _after_rollback(session: Session, _previous: Any) -> None:
    session.info.pop("pending_jobs", None)
    session.info.pop("after_commit", None)
    _run_hooks(session.info.pop("on_rollback", []))
