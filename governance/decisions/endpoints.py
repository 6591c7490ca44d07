"""Launch decisions: the hub asks, stewards simulate, anyone entitled reads past answers."""

from __future__ import annotations

import uuid
from typing import Literal

from fastapi import APIRouter, Query

from governance.auth.dependencies import DbSession
from governance.core.errors import NotFound
from governance.core.metrics import DECISION_SAFE_DENIALS, DECISIONS
from governance.core.pagination import Page, keyset_page
from governance.core.responses import COMMON, READ
from governance.core.schemas import LIST_LIMIT
from governance.decisions import options, service
from governance.decisions.auth import DecisionsRead, LaunchesDecide, LaunchesSimulate
from governance.decisions.schemas import (
    DecisionOut,
    DecisionRecordOut,
    DecisionRequest,
    LaunchOptions,
    SafeOut,
)
from governance.decisions.situation import SAFES
from governance.models import LaunchDecision
from governance.projects.repository import get_visible

router = APIRouter(prefix="/api/v1", tags=["launch decisions"])


def _out(decision: service.Decision, simulated: bool) -> DecisionOut:
    return DecisionOut(
        decision_id=decision.id,
        allowed=decision.allowed,
        safes={
            s: SafeOut(allowed=decision.verdict.safes[s].allowed, reasons=decision.verdict.safes[s].reasons)
            for s in SAFES
        },
        obligations=decision.obligations,
        policy_version=decision.verdict.policy_version,
        expires_at=decision.expires_at,
        decided_at=decision.decided_at,
        simulated=simulated,
    )


@router.post(
    "/launch-decisions",
    summary="Decide whether a server may launch (the hub asks; always 200)",
    response_model=DecisionOut,
    responses=COMMON,
)
def decide(body: DecisionRequest, session: DbSession, principal: LaunchesDecide) -> DecisionOut:
    decision = service.decide(session, principal, body)
    DECISIONS.labels("allowed" if decision.allowed else "denied").inc()
    for safe in SAFES:
        if not decision.verdict.safes[safe].allowed:
            DECISION_SAFE_DENIALS.labels(safe).inc()
    return _out(decision, simulated=False)


@router.post(
    "/launch-decisions/simulate",
    summary="What would the decision be? (no side effects)",
    response_model=DecisionOut,
    responses=COMMON,
)
def simulate(body: DecisionRequest, session: DbSession, principal: LaunchesSimulate) -> DecisionOut:
    return _out(service.simulate(session, body), simulated=True)


@router.get(
    "/launch-decisions",
    summary="List past launch decisions",
    response_model=Page[DecisionRecordOut],
    responses=COMMON,
)
def list_decisions(
    session: DbSession,
    principal: DecisionsRead,
    project: str | None = Query(None, max_length=64),
    username: str | None = Query(None, max_length=64),
    outcome: Literal["allowed", "denied"] | None = None,
    live: bool | None = Query(None, description="Only decisions whose server is (not) still running"),
    limit: LIST_LIMIT = 50,
    cursor: str | None = Query(None, max_length=200),
) -> Page[DecisionRecordOut]:
    from sqlalchemy import select

    stmt = select(LaunchDecision)
    if project:
        stmt = stmt.where(LaunchDecision.project_id == get_visible(session, principal, project).id)
    if username:
        stmt = stmt.where(LaunchDecision.username == username)
    if outcome:
        stmt = stmt.where(LaunchDecision.allowed.is_(outcome == "allowed"))
    if live is not None:
        stmt = stmt.where(LaunchDecision.allowed.is_(True))
        stmt = stmt.where(LaunchDecision.ended_at.is_(None) if live else LaunchDecision.ended_at.is_not(None))
    rows, next_cursor = keyset_page(
        session, stmt, LaunchDecision.created_at, LaunchDecision.id, limit=limit, cursor=cursor
    )
    return Page(items=[DecisionRecordOut.model_validate(r) for r in rows], next_cursor=next_cursor)


@router.get(
    "/launch-decisions/{decision_id}",
    summary="Read a past launch decision with its inputs",
    response_model=DecisionRecordOut,
    responses=READ,
)
def get_decision(decision_id: uuid.UUID, session: DbSession, principal: DecisionsRead) -> DecisionRecordOut:
    row = session.get(LaunchDecision, decision_id)
    if row is None:
        raise NotFound("no such launch decision")
    return DecisionRecordOut.model_validate(row)


@router.get(
    "/hub/launch-options",
    summary="What a user may choose from in the hub's spawn form",
    response_model=LaunchOptions,
    responses=COMMON,
)
def launch_options(
    session: DbSession,
    principal: LaunchesDecide,
    username: str = Query(min_length=1, max_length=64),
) -> LaunchOptions:
    return options.launch_options(session, username)
