"""Running the sealer: one pass (`governance audit seal`, the Celery task "audit.seal") or a thread.

A pass seals batches in short transactions of their own until it has caught up (or runs out of time),
under the one-sealer lock. Appending never waits for it: record() only inserts.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from governance.audit.sealer import seal_once
from governance.audit.signing import signer_from_settings
from governance.audit.sql_store import SqlSealerStore, try_sealer_lock
from governance.config import Settings, get_settings
from governance.core.clock import utcnow
from governance.core.db import engine_for
from governance.core.tracing import span

log = logging.getLogger(__name__)
BUSY_PAUSE_SECONDS = 0.05
_in_process = threading.Lock()  # a thread and a CLI pass in one process do not queue on the DB lock


@dataclass
class SealReport:
    sealed: int = 0
    checkpoints: int = 0
    batches: int = 0
    busy: bool = False  # another sealer held the lock, so this pass did nothing more
    head: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "sealed": self.sealed,
            "checkpoints": self.checkpoints,
            "batches": self.batches,
            "busy": self.busy,
            "head": self.head,
        }


def seal_pending(settings: Settings | None = None, *, max_seconds: float = 10.0) -> SealReport:
    """Seal everything committed so far (bounded by ``max_seconds``); never raises for a busy lock."""
    settings = settings or get_settings()
    signer = signer_from_settings(settings)
    report = SealReport()
    if not _in_process.acquire(blocking=False):
        report.busy = True
        return report
    try:
        with span("audit.seal") as current:
            deadline = time.monotonic() + max_seconds
            batch = settings.audit_seal_batch
            engine = engine_for(settings.database_url)
            while True:
                with Session(engine, expire_on_commit=False) as session:
                    if not try_sealer_lock(session):
                        session.rollback()
                        report.busy = True
                        break
                    store = SqlSealerStore(session, signer)
                    sealed = seal_once(
                        store,
                        signer.private_key,
                        signer.key_id,
                        utcnow(),
                        settings.audit_checkpoint_every_n,
                        settings.audit_checkpoint_every_seconds,
                        batch,
                    )
                    session.commit()
                report.sealed += sealed
                report.checkpoints += store.checkpoints_written
                report.batches += 1
                report.head = store.head()[0]
                if sealed < batch or time.monotonic() > deadline:
                    break
            current.set_attribute("audit.sealed", report.sealed)
            current.set_attribute("audit.checkpoints", report.checkpoints)
            current.set_attribute("audit.head", report.head)
    finally:
        _in_process.release()
    if report.sealed:
        log.debug("sealed audit events", extra=report.to_json())
    return report


class SealerThread:
    """The embedded default's sealer: a daemon thread that seals, then sleeps while there is nothing to do."""

    def __init__(self, settings: Settings, seal: Callable[[], SealReport] | None = None) -> None:
        self.settings = settings
        self._seal = seal or (lambda: seal_pending(settings, max_seconds=2.0))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="audit-sealer", daemon=True)
        self.passes = 0

    def start(self) -> SealerThread:
        self._thread.start()
        return self

    def _run(self) -> None:
        interval = self.settings.audit_seal_interval_seconds
        while not self._stop.is_set():
            sealed = 0
            try:
                sealed = self._seal().sealed
            except Exception:
                log.exception("the audit sealer failed; retrying")
            self.passes += 1
            if sealed < self.settings.audit_seal_batch:  # caught up: pause, briefly while events flow
                self._stop.wait(min(interval, BUSY_PAUSE_SECONDS) if sealed else interval)

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()


def wants_thread(settings: Settings) -> bool:
    if settings.audit_sealer == "auto":
        return not settings.broker_url and settings.env != "test"
    return settings.audit_sealer == "thread"
