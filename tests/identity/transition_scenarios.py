"""Scenarios for the table-walking test (tests/core/test_transition_table.py): every declared move of the
user, accreditation, signed-agreement and API-token lifecycles, with a user playing each party its check
refuses.

Registered into ``tests.core.transition_scenarios.SCENARIOS`` when imported (by
test_identity_transition_table.py beside this file, and by tests/core/transition_scenarios.py once it
imports this module).
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.auth.tokens import issue_token
from governance.core.clock import utcnow
from governance.identity.schemas import RevokeBody
from governance.models import Accreditation, Agreement, ApiToken, User
from tests.core.transition_scenarios import named, scenario, user

REVOKE = RevokeBody(reason="The accrediting body withdrew it.")


def _get(model: Any) -> Any:
    def load(s: Session, obj_id: uuid.UUID) -> Any:
        row = s.get(model, obj_id)
        assert row is not None
        return row

    return load


# --- users: an administrator never moves their own account ---------------------------------------


def account(s: Session, status: str) -> uuid.UUID:
    row = user(s, "st-admin", "admin")  # an administrator: the person concerned holds write:users
    row.status = status
    s.flush()
    return row.id


SELF = {"the person concerned": "st-admin"}
scenario("user.suspend", build=lambda s: account(s, "active"), load=_get(User), actor="admin", parties=SELF)
scenario(
    "user.reactivate", build=lambda s: account(s, "suspended"), load=_get(User), actor="admin", parties=SELF
)
scenario(
    "user.deactivate", build=lambda s: account(s, "active"), load=_get(User), actor="admin", parties=SELF
)

# --- accreditations and agreements --------------------------------------------------------------


def accreditation(s: Session, holder: str) -> uuid.UUID:
    row = Accreditation(
        id=uuid.uuid4(),
        user_id=user(s, holder, "data_steward").id,
        kind="safe-researcher",
        issuer="UK Data Service",
        awarded_at=utcnow() - timedelta(days=10),
        expires_at=utcnow() + timedelta(days=365),
    )
    s.add(row)
    s.flush()
    return row.id


scenario(
    "accreditation.verify",
    build=lambda s: accreditation(s, "st-accredited"),  # a steward, so verifying is otherwise theirs to do
    load=_get(Accreditation),
    actor="sam",
    parties={"the person accredited": "st-accredited"},
)
scenario(
    "accreditation.revoke",
    build=lambda s: accreditation(s, "carol"),
    load=_get(Accreditation),
    actor="sam",
    body=REVOKE,
)


def agreement(s: Session) -> uuid.UUID:
    row = Agreement(id=uuid.uuid4(), user_id=named(s, "carol"), version="9.9", signed_at=utcnow())
    s.add(row)
    s.flush()
    return row.id


scenario(
    "agreement.revoke",
    build=agreement,
    load=_get(Agreement),
    actor="sam",
    body=RevokeBody(reason="Breach of clause 4."),
)

# --- API tokens ---------------------------------------------------------------------------------


def token_with_child(s: Session) -> uuid.UUID:
    """alice's token, with a child it minted (revoked with it)."""
    alice = s.get(User, named(s, "alice"))
    assert alice is not None
    parent = issue_token(
        s, alice, name="parent", scopes=["read:me"], lifetime=timedelta(hours=1), actor=None, audit=False
    )
    issue_token(
        s,
        alice,
        name="child",
        scopes=["read:me"],
        lifetime=timedelta(hours=1),
        actor=None,
        audit=False,
        parent_id=parent.record.id,
    )
    return parent.record.id


def child_token(s: Session) -> uuid.UUID:
    parent = s.get(ApiToken, token_with_child(s))
    assert parent is not None
    parent.revoked_at = utcnow()  # revoked some other way; its child follows with ``revoke_with_parent``
    child = s.scalar(select(ApiToken.id).where(ApiToken.parent_id == parent.id))
    assert child is not None
    return child


scenario(
    "api_token.revoke",
    build=token_with_child,
    load=_get(ApiToken),
    actor="alice",
    parties={"anyone but the owner and holders of manage:tokens": "carol"},
)
scenario("api_token.revoke_with_parent", build=child_token, load=_get(ApiToken), actor="alice")
