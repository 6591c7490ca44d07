"""Safe People evidence: accreditations (recorded, then verified by someone else) and signed agreements."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.audit.record import record
from governance.auth.principal import Principal
from governance.core.clock import as_utc, utcnow
from governance.core.errors import Conflict, DuplicateError, Forbidden, InvalidInput, SeparationOfDuties
from governance.enforcement.triggers import access_changed
from governance.identity.lifecycle import ACCREDITATION_LIFECYCLE, AGREEMENT_LIFECYCLE
from governance.identity.schemas import AccreditationCreate, AgreementCreate
from governance.models.identity import Accreditation, Agreement, User


def accreditation_state(row: Accreditation) -> str:
    if row.revoked_at is not None:
        return "revoked"
    return "verified" if row.verified_at is not None else "unverified"


def agreement_state(row: Agreement) -> str:
    expires = as_utc(row.expires_at)
    return "in_force" if expires is None or expires > utcnow() else "lapsed"


def record_accreditation(
    session: Session, principal: Principal, user: User, body: AccreditationCreate
) -> Accreditation:
    if user.id != principal.user_id and not principal.has("write:accreditations"):
        raise Forbidden("you may record only your own accreditations; others' need write:accreditations")
    if user.status == "deactivated":
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


def verify_accreditation(session: Session, principal: Principal, row: Accreditation) -> Accreditation:
    ACCREDITATION_LIFECYCLE.next_state(accreditation_state(row), "verify")
    if row.user_id == principal.user_id:
        raise SeparationOfDuties("nobody may verify their own accreditation; ask another data steward")
    row.verified_by_id, row.verified_at = principal.user_id, utcnow()
    session.flush()
    record(
        session, principal, "accreditation.verify", "accreditation", row.id, summary={"user_id": row.user_id}
    )
    return row


def revoke_accreditation(
    session: Session, principal: Principal, row: Accreditation, reason: str
) -> Accreditation:
    ACCREDITATION_LIFECYCLE.next_state(accreditation_state(row), "revoke")
    row.revoked_at = utcnow()
    session.flush()
    record(
        session,
        principal,
        "accreditation.revoke",
        "accreditation",
        row.id,
        summary={"user_id": row.user_id, "reason": reason},
    )
    access_changed(session, "accreditation.revoke", user_id=row.user_id)
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


def revoke_agreement(session: Session, principal: Principal, row: Agreement, reason: str) -> Agreement:
    """An agreement has no revoked flag: revoking makes it lapse now, which every reader already honours."""
    AGREEMENT_LIFECYCLE.next_state(agreement_state(row), "revoke")
    previous = row.expires_at
    row.expires_at = utcnow()
    session.flush()
    record(
        session,
        principal,
        "agreement.revoke",
        "agreement",
        row.id,
        summary={
            "user_id": row.user_id,
            "version": row.version,
            "reason": reason,
            "previous_expires_at": previous,
        },
    )
    access_changed(session, "agreement.revoke", user_id=row.user_id)
    return row
