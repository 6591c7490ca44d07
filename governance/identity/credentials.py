"""Safe People evidence: accreditations (recorded, then verified by someone else) and signed agreements.

Verifying and revoking are declared moves (lifecycle.py); this module records and signs.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.audit.record import record
from governance.auth.principal import Principal
from governance.auth.scopes import Scope
from governance.core.clock import as_utc, utcnow
from governance.core.errors import Conflict, DuplicateError, Forbidden, InvalidInput
from governance.identity.schemas import AccreditationCreate, AgreementCreate
from governance.identity.states import UserStatus
from governance.models.identity import Accreditation, Agreement, User


def record_accreditation(
    session: Session, principal: Principal, user: User, body: AccreditationCreate
) -> Accreditation:
    if user.id != principal.user_id and not principal.has(Scope.write_accreditations):
        raise Forbidden("you may record only your own accreditations; others' need write:accreditations")
    if user.status == UserStatus.deactivated:
        raise Conflict(f"{user.username} is deactivated; accreditations cannot be recorded for them")
    same = session.scalars(
        select(Accreditation).where(
            Accreditation.user_id == user.id,
            Accreditation.kind == body.kind,
            Accreditation.issuer == body.issuer,
            Accreditation.revoked_at.is_(None),
        )
    )
    if any(as_utc(row.awarded_at) == body.awarded_at for row in same):
        raise DuplicateError(
            f"this {body.kind} accreditation from {body.issuer} is already recorded for {user.username}"
        )
    row = Accreditation(id=uuid.uuid4(), user_id=user.id, **body.model_dump())
    session.add(row)
    session.flush()
    record(
        session,
        principal,
        "accreditation.create",
        "accreditation",
        row.id,
        summary={"user": user.username, "kind": row.kind, "issuer": row.issuer, "expires_at": row.expires_at},
    )
    return row


def sign_agreement(session: Session, principal: Principal, user: User, body: AgreementCreate) -> Agreement:
    if user.id != principal.user_id:
        raise Forbidden("a data-use agreement can be signed only by the user themselves")
    now = utcnow()
    if body.expires_at is not None and body.expires_at <= now:
        raise InvalidInput("expires_at must be in the future")
    existing = session.scalar(
        select(Agreement.id).where(Agreement.user_id == user.id, Agreement.version == body.version)
    )
    if existing is not None:
        raise DuplicateError(
            f"you have already signed version {body.version!r}; to renew, sign a newer version"
        )
    row = Agreement(
        id=uuid.uuid4(), user_id=user.id, version=body.version, signed_at=now, expires_at=body.expires_at
    )
    session.add(row)
    session.flush()
    record(
        session,
        principal,
        "agreement.sign",
        "agreement",
        row.id,
        summary={"version": row.version, "expires_at": row.expires_at},
    )
    return row
