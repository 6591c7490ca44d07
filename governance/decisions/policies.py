"""The service's policy set: loaded once, re-read when its files change, last good set kept."""

from __future__ import annotations

import logging
import threading
import time

from governance.config import get_settings
from governance.decisions.engine import PolicyEngine, PolicyLoadError, PolicyStore

log = logging.getLogger(__name__)
RECHECK_SECONDS = 5.0


class _Holder:
    def __init__(self) -> None:
        self.store: PolicyStore | None = None
        self.checked_at = 0.0
        self.lock = threading.Lock()


_holder = _Holder()


def current_engine() -> PolicyEngine:
    """The engine to decide with; a broken edit on disk is logged and the last good set stays in use."""
    with _holder.lock:
        directory = get_settings().policy_dir
        if _holder.store is None or _holder.store.path != directory:
            _holder.store = PolicyStore(directory)
            _holder.checked_at = time.monotonic()
        elif time.monotonic() - _holder.checked_at > RECHECK_SECONDS:
            _holder.checked_at = time.monotonic()
            try:
                if _holder.store.reload_if_changed():
                    log.info("policies reloaded: version %s", _holder.store.current.version)
            except PolicyLoadError as exc:
                log.error("policy change refused, keeping version %s: %s", _holder.store.current.version, exc)
        return _holder.store.current


def reset() -> None:
    with _holder.lock:
        _holder.store = None
