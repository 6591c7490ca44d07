"""Grant revocation: recorded with a reason, and running servers that use the data are re-checked."""

from __future__ import annotations

from sqlalchemy.orm import Session

from governance.audit.record import record
from governance.auth.principal import Principal
from governance.core.clock import utcnow
from governance.datasets.lifecycle import GRANT_LIFECYCLE
from governance.datasets.repository import grant_state
from governance.enforcement.triggers import access_changed
from governance.models.datasets import Grant


def revoke(session: Session, principal: Principal, grant: Grant, reason: str) -> Grant:
    state_before = grant_state(grant)
    GRANT_LIFECYCLE.next_state(state_before, "revoke")
    grant.revoked_at, grant.revoked_by_id, grant.revoked_reason = utcnow(), principal.user_id, reason
    session.flush()
    record(
        session,
        principal,
        "grant.revoke",
        "grant",
        grant.id,
        project_id=grant.project_id,
        summary={"dataset_id": grant.dataset_id, "from": state_before, "reason": reason},
    )
    access_changed(session, "grant.revoke", project_id=grant.project_id, dataset_id=grant.dataset_id)
    return grant
