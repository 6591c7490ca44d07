"""Launch decisions: load the slice, evaluate the Five Safes, compute obligations, record, audit."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.audit.record import record
from governance.auth.principal import Principal
from governance.auth.tokens import TOKEN_LIFECYCLE, issue_token
from governance.config import get_settings
from governance.core.clock import utcnow
from governance.core.tracing import span
from governance.core.transitions import SYSTEM, perform
from governance.decisions.engine import Verdict
from governance.decisions.loader import load_situation
from governance.decisions.obligations import compute_obligations
from governance.decisions.policies import current_engine
from governance.decisions.schemas import DecisionRequest
from governance.decisions.situation import SAFES, AuthContext, LaunchSituation, RequestedResources
from governance.identity.token_context import strength_from_user_token
from governance.models import ApiToken, LaunchDecision, User

WORKSPACE_TOKEN_SCOPES = ["create:outputs"]
SECRET_ENV = "GOVERNANCE_TOKEN"  # noqa: S105 - the name of the variable, not its value


@dataclass
class Decision:
    id: uuid.UUID | None
    allowed: bool
    verdict: Verdict
    obligations: dict[str, Any] | None
    expires_at: datetime | None
    decided_at: datetime


def auth_of(session: Session, body: DecisionRequest) -> tuple[AuthContext, str]:
    """The authentication strength the decision uses, and whose word it is ("user_token", "hub", "none").

    The user's own verified token wins over the hub. With GOVERNANCE_MFA_FROM_USER_TOKEN_ONLY (the default
    in production) the hub's bare assertion counts for nothing: without a user token there is no second
    factor, so a profile or tier that requires MFA is refused.
    """
    source = auth_source(body)
    if body.user_token:  # trust the identity provider, not the hub
        strength = strength_from_user_token(session, body.user_token, body.username)
        return AuthContext(mfa=strength.mfa, acr=strength.acr, amr=strength.amr), source
    if source == "none":
        return AuthContext(), source
    return AuthContext(mfa=body.auth.mfa, acr=body.auth.acr, amr=tuple(body.auth.amr)), source


def auth_source(body: DecisionRequest) -> str:
    if body.user_token:
        return "user_token"
    return "none" if get_settings().mfa_needs_user_token else "hub"


def situation_for(
    session: Session, body: DecisionRequest, now: datetime, auth: AuthContext | None = None
) -> tuple[LaunchSituation, dict[str, Any]]:
    if auth is None:
        auth, _source = auth_of(session, body)
    return load_situation(
        session,
        now=now,
        username=body.username,
        project_ref=body.project,
        profile_ref=body.profile,
        dataset_refs=body.datasets,
        client_ip=body.client_ip,
        auth=auth,
        requested=RequestedResources(body.requested.cpu, body.requested.memory_gb, body.requested.gpu),
    )


def evaluate(
    session: Session, body: DecisionRequest, now: datetime | None = None, *, auth: AuthContext | None = None
) -> tuple[LaunchSituation, dict[str, Any], Verdict]:
    now = now or utcnow()
    with span(
        "launch.decision", **{"launch.project": body.project, "launch.profile": body.profile}
    ) as current:
        situation, resolved = situation_for(session, body, now, auth)
        verdict = current_engine().evaluate(situation)
        current.set_attribute("launch.allowed", verdict.allowed)
        current.set_attribute("launch.denied_safes", [s for s in SAFES if not verdict.safes[s].allowed])
        current.set_attribute("launch.policy_version", verdict.policy_version)
    return situation, resolved, verdict


def reevaluate(
    session: Session, row: LaunchDecision, now: datetime | None = None
) -> tuple[LaunchSituation, dict[str, Any], Verdict]:
    """Re-decide a live decision (enforcement) on the question it answered and the strength it found.

    A re-check has no user token to verify: it keeps the authentication strength established when the
    decision was made (the user's verified token, or the hub's word where that counted then), so a
    server launched with a second factor is not stopped for want of one, and none is gained either.
    """
    inputs = {k: v for k, v in row.inputs.items() if k in DecisionRequest.model_fields}
    body = DecisionRequest.model_validate(inputs)
    stored = row.inputs.get("auth") or {}
    auth = AuthContext(
        mfa=bool(stored.get("mfa")),
        acr=str(stored["acr"]) if stored.get("acr") is not None else None,
        amr=tuple(str(a) for a in stored.get("amr") or ()),
    )
    return evaluate(session, body, now, auth=auth)


def simulate(session: Session, body: DecisionRequest) -> Decision:
    now = utcnow()
    situation, _resolved, verdict = evaluate(session, body, now)
    obligations = compute_obligations(situation).to_dict() if verdict.allowed else None
    expires = situation_expiry(obligations)
    return Decision(None, verdict.allowed, verdict, obligations, expires, now)


def situation_expiry(obligations: dict[str, Any] | None) -> datetime | None:
    if not obligations or not obligations.get("expires_at"):
        return None
    return datetime.fromisoformat(str(obligations["expires_at"]))


def decide(session: Session, principal: Principal, body: DecisionRequest) -> Decision:
    now = utcnow()
    situation, resolved, verdict = evaluate(session, body, now)
    decision_id = uuid.uuid4()
    obligations: dict[str, Any] | None = None
    stored_obligations: dict[str, Any] | None = None
    token_id = None
    expires_at = None
    if verdict.allowed:
        computed = compute_obligations(situation)
        obligations = computed.to_dict()
        expires_at = computed.expires_at
        user = session.get(User, resolved["user_id"])
        assert user is not None
        issued = issue_token(
            session,
            user,
            name=f"workspace {decision_id}",
            scopes=WORKSPACE_TOKEN_SCOPES,
            lifetime=max(expires_at - now, timedelta(minutes=1)),
            actor=principal,
            project_id=resolved["project_id"],
            audit=False,
        )
        token_id = issued.record.id
        env = dict(obligations.get("environment", {}))
        env.update({"GOVERNANCE_URL": get_settings().base_url, SECRET_ENV: issued.token})
        obligations["environment"] = env
        stored_obligations = {**obligations, "environment": {**env, SECRET_ENV: "(redacted)"}}
        _supersede(session, principal, body.username, body.server_name, decision_id, now)
    inputs = body.model_dump(exclude={"user_token"})  # the token is a credential: never stored
    inputs["auth"] = {"mfa": situation.auth.mfa, "acr": situation.auth.acr, "amr": list(situation.auth.amr)}
    inputs["auth_source"] = auth_source(body)
    if inputs["auth_source"] == "none":
        inputs["hub_auth"] = body.auth.model_dump()  # what the hub said, kept as evidence, not used
    row = LaunchDecision(
        id=decision_id,
        created_at=now,
        username=body.username[:64],
        user_id=resolved["user_id"],
        project_id=resolved["project_id"],
        profile_id=resolved["profile_id"],
        dataset_ids=sorted(d.id for d in situation.datasets.values()),
        server_name=body.server_name,
        inputs=inputs,
        allowed=verdict.allowed,
        safes={s: verdict.safes[s].to_dict() for s in SAFES},
        obligations=stored_obligations,
        policy_version=verdict.policy_version,
        expires_at=expires_at,
        workspace_token_id=token_id,
        requested_by_id=principal.user_id,
    )
    session.add(row)
    session.flush()
    record(
        session,
        principal,
        "launch.decide",
        "launch_decision",
        decision_id,
        project_id=resolved["project_id"],
        outcome="success" if verdict.allowed else "denied",
        summary={
            "username": body.username[:64],
            "allowed": verdict.allowed,
            "policy_version": verdict.policy_version,
            "denied_safes": [s for s in SAFES if not verdict.safes[s].allowed],
            "reasons": verdict.reasons[:20],
            "errors": verdict.errors[:5],
        },
    )
    return Decision(decision_id, verdict.allowed, verdict, obligations, expires_at, now)


def _supersede(
    session: Session, principal: Principal, username: str, server_name: str, new_id: uuid.UUID, now: datetime
) -> None:
    """A new launch of the same server replaces the old decision; its workspace token stops working."""
    live = session.scalars(
        select(LaunchDecision).where(
            LaunchDecision.username == username,
            LaunchDecision.server_name == server_name,
            LaunchDecision.allowed.is_(True),
            LaunchDecision.ended_at.is_(None),
        )
    ).all()
    for old in live:
        end_decision(session, old, f"superseded by decision {new_id}", now)


def end_decision(session: Session, row: LaunchDecision, cause: str, now: datetime | None = None) -> None:
    now = now or utcnow()
    row.ended_at, row.end_cause = now, cause[:500]
    revoke_workspace_token(session, row, now)


def revoke_workspace_token(session: Session, row: LaunchDecision, now: datetime | None = None) -> bool:
    """The workspace token of a launch works only while its decision holds.

    It expires with the decision (its lifetime is the decision's) and is revoked when the decision ends
    (superseded, the server stopped or gone) — and also when a re-check denies the decision but the hub
    could not stop the server: the server may run on, but it can no longer create, upload or submit.
    True when this call revoked it.
    """
    if row.workspace_token_id is None:
        return False
    token = session.get(ApiToken, row.workspace_token_id)
    if token is None or token.revoked_at is not None:
        return False
    # A declared move: audited, and every token below it goes too.
    perform(session, SYSTEM, TOKEN_LIFECYCLE, token, "revoke", system=True)
    return True
