"""Revocation: re-decide every live server that a change could affect; stop the ones now denied."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.audit.record import record
from governance.config import get_settings
from governance.core.clock import utcnow
from governance.core.context import source_var
from governance.core.db import transaction
from governance.core.metrics import SERVERS_STOPPED
from governance.decisions.service import end_decision, reevaluate, revoke_workspace_token
from governance.decisions.situation import SAFES
from governance.enforcement.hub_api import HubClient, HubError
from governance.models import LaunchDecision

log = logging.getLogger(__name__)


@dataclass
class RecheckReport:
    checked: int = 0
    stopped: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def hub_client() -> HubClient | None:
    settings = get_settings()
    if not settings.hub_api_url or not settings.hub_api_token:
        return None
    return HubClient(settings.hub_api_url, settings.hub_api_token)


def _live(session: Session, scope: dict[str, Any]) -> list[LaunchDecision]:
    stmt = select(LaunchDecision).where(LaunchDecision.allowed.is_(True), LaunchDecision.ended_at.is_(None))
    if scope.get("project_id"):
        stmt = stmt.where(LaunchDecision.project_id == uuid.UUID(scope["project_id"]))
    if scope.get("user_id"):
        stmt = stmt.where(LaunchDecision.user_id == uuid.UUID(scope["user_id"]))
    rows = list(session.scalars(stmt.order_by(LaunchDecision.created_at).with_for_update()))
    if scope.get("dataset_id"):
        rows = [r for r in rows if scope["dataset_id"] in (r.dataset_ids or [])]
    return rows


def _why(verdict_safes: dict[str, Any]) -> str:
    parts = []
    for safe in SAFES:
        v = verdict_safes[safe]
        if not v.allowed:
            parts.append(f"{safe}: {'; '.join(v.reasons) or 'denied'}")
    return " | ".join(parts)


def recheck(scope: dict[str, Any]) -> RecheckReport:
    """Re-evaluate live decisions in scope (all when the scope names nothing); stop those now denied."""
    token = source_var.set("enforcement")
    report = RecheckReport()
    client = hub_client()
    try:
        with transaction() as session:
            now = utcnow()
            for row in _live(session, scope):
                report.checked += 1
                _situation, _resolved, verdict = reevaluate(session, row, now)
                expired = row.expires_at is not None and row.expires_at <= now
                if verdict.allowed and not expired:
                    continue
                cause = (
                    "the session reached its expiry" if expired and verdict.allowed else _why(verdict.safes)
                )
                label = f"{row.username}/{row.server_name or '(default)'}"
                try:
                    stopped = client.stop_server(row.username, row.server_name) if client else False
                except HubError as exc:
                    log.error("could not stop %s: %s", label, exc)
                    report.failed.append(label)
                    # Access lapsed: the workspace's token stops now, even while its server runs on.
                    token_revoked = revoke_workspace_token(session, row, now)
                    record(
                        session,
                        None,
                        "server.stop-failed",
                        "launch_decision",
                        row.id,
                        project_id=row.project_id,
                        outcome="failure",
                        summary={
                            "server": label,
                            "cause": cause,
                            "error": str(exc),
                            "trigger": scope.get("cause"),
                            "workspace_token_revoked": token_revoked,
                        },
                    )
                    continue
                end_decision(session, row, cause, now)
                SERVERS_STOPPED.inc()
                report.stopped.append(label)
                record(
                    session,
                    None,
                    "server.stop",
                    "launch_decision",
                    row.id,
                    project_id=row.project_id,
                    summary={
                        "server": label,
                        "cause": cause,
                        "trigger": scope.get("cause"),
                        "hub_stopped": stopped,
                        "hub_configured": client is not None,
                    },
                )
    finally:
        source_var.reset(token)
    return report


RECONCILE_GRACE = timedelta(minutes=2)


def reconcile(client: HubClient) -> int:
    """End live decisions whose server the hub no longer runs (stopped by the user, culled, crashed).

    Decisions younger than a grace period are left alone: their server may still be starting.
    """
    running = client.running_servers()
    ended = 0
    with transaction() as session:
        now = utcnow()
        for row in _live(session, {}):
            if (row.username, row.server_name) in running or now - row.created_at < RECONCILE_GRACE:
                continue
            end_decision(session, row, "the server is no longer running on the hub", now)
            record(
                session,
                None,
                "server.gone",
                "launch_decision",
                row.id,
                project_id=row.project_id,
                summary={"server": f"{row.username}/{row.server_name or '(default)'}"},
                source="enforcement",
            )
            ended += 1
    return ended


def sweep() -> RecheckReport:
    """The periodic pass: catches expiries (nothing changes in the database when time runs out)."""
    client = hub_client()
    if client is not None:
        try:
            reconcile(client)
        except HubError as exc:
            log.error("could not list the hub's servers: %s", exc)
    return recheck({"cause": "periodic sweep"})
