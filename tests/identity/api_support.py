"""Helpers shared by the identity, datasets and environments API tests."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select

from governance.core import jobs
from governance.core.db import transaction
from governance.enforcement.triggers import RECHECK_TASK
from governance.models import AuditEvent


@pytest.fixture
def rechecks(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The enforcement re-checks dispatched after commit (our own in-process job registry, not a mock)."""
    seen: list[dict[str, Any]] = []
    monkeypatch.setitem(jobs._registry.inline, RECHECK_TASK, seen.append)
    return seen


def events(action: str, outcome: str = "success") -> list[AuditEvent]:
    """Audit events of one kind, read in a fresh transaction so nothing cached hides a write."""
    with transaction() as s:
        rows = list(
            s.scalars(
                select(AuditEvent)
                .where(AuditEvent.action == action, AuditEvent.outcome == outcome)
                .order_by(AuditEvent.seq)
            )
        )
        s.expunge_all()
    return rows


def problem(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """Assert an RFC 9457 problem of this status and code; return its body."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = r.json()
    assert body["type"].endswith("/" + code), body
    return body
