"""A user's accreditations and signed agreements (thin: parse, authorise, call the service, commit)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Query, status

from governance.auth.dependencies import DbSession, require, require_any
from governance.auth.principal import Principal
from governance.core.pagination import Page
from governance.core.responses import READ, WRITE
from governance.core.schemas import LIST_LIMIT
from governance.identity import credentials, repository
from governance.identity.lifecycle import ACCREDITATION_LIFECYCLE, AGREEMENT_LIFECYCLE
from governance.identity.schemas import (
    AccreditationCreate,
    AccreditationOut,
    AgreementCreate,
    AgreementOut,
    RevokeBody,
)
from governance.models.identity import Accreditation, Agreement

router = APIRouter(prefix="/api/v1/users/{user_ref}", tags=["accreditations and agreements"])


def _accreditation_out(row: Accreditation) -> AccreditationOut:
    out = AccreditationOut.model_validate(row)
    out.status = credentials.accreditation_state(row)
    out.allowed_actions = ACCREDITATION_LIFECYCLE.allowed_actions(out.status)
    return out


def _agreement_out(row: Agreement) -> AgreementOut:
    out = AgreementOut.model_validate(row)
    out.status = credentials.agreement_state(row)
    out.allowed_actions = AGREEMENT_LIFECYCLE.allowed_actions(out.status)
    return out


@router.get(
    "/accreditations",
    summary="List a user's accreditations (your own, or anyone's with read:accreditations)",
    response_model=Page[AccreditationOut],
    responses=READ,
)
def list_accreditations(
    user_ref: str,
    session: DbSession,
    principal: Principal = Depends(require("read:me")),
    limit: LIST_LIMIT = 50,
    cursor: str | None = Query(None, max_length=200),
) -> Page[AccreditationOut]:
    user = repository.get_credentials_owner(session, principal, user_ref)
    rows, next_cursor = repository.list_accreditations(session, user, limit=limit, cursor=cursor)
    return Page(items=[_accreditation_out(r) for r in rows], next_cursor=next_cursor)


@router.post(
    "/accreditations",
    summary="Record an accreditation (your own, or anyone's with write:accreditations); it starts unverified",
    status_code=status.HTTP_201_CREATED,
    response_model=AccreditationOut,
    responses=WRITE,
)
def create_accreditation(
    user_ref: str,
    body: AccreditationCreate,
    session: DbSession,
    principal: Principal = Depends(require_any("write:me", "write:accreditations")),
) -> AccreditationOut:
    user = repository.get_credentials_owner(session, principal, user_ref)
    row = credentials.record_accreditation(session, principal, user, body)
    return _accreditation_out(row)


@router.post(
    "/accreditations/{accreditation_id}/verify",
    summary="Verify someone else's accreditation against its evidence",
    response_model=AccreditationOut,
    responses=WRITE,
)
def verify_accreditation(
    user_ref: str,
    accreditation_id: uuid.UUID,
    session: DbSession,
    principal: Principal = Depends(require("write:accreditations")),
) -> AccreditationOut:
    user = repository.get_credentials_owner(session, principal, user_ref)
    row = repository.get_accreditation(session, user, accreditation_id)
    credentials.verify_accreditation(session, principal, row)
    return _accreditation_out(row)


@router.post(
    "/accreditations/{accreditation_id}/revoke",
    summary="Revoke an accreditation, with a reason (the user's servers are re-checked)",
    response_model=AccreditationOut,
    responses=WRITE,
)
def revoke_accreditation(
    user_ref: str,
    accreditation_id: uuid.UUID,
    body: RevokeBody,
    session: DbSession,
    principal: Principal = Depends(require("write:accreditations")),
) -> AccreditationOut:
    user = repository.get_credentials_owner(session, principal, user_ref)
    row = repository.get_accreditation(session, user, accreditation_id)
    credentials.revoke_accreditation(session, principal, row, body.reason)
    return _accreditation_out(row)


@router.get(
    "/agreements",
    summary="List a user's signed data-use agreements (your own, or anyone's with read:accreditations)",
    response_model=Page[AgreementOut],
    responses=READ,
)
def list_agreements(
    user_ref: str,
    session: DbSession,
    principal: Principal = Depends(require("read:me")),
    limit: LIST_LIMIT = 50,
    cursor: str | None = Query(None, max_length=200),
) -> Page[AgreementOut]:
    user = repository.get_credentials_owner(session, principal, user_ref)
    rows, next_cursor = repository.list_agreements(session, user, limit=limit, cursor=cursor)
    return Page(items=[_agreement_out(r) for r in rows], next_cursor=next_cursor)


@router.post(
    "/agreements",
    summary="Sign a version of the data-use agreement (only for yourself; signed now)",
    status_code=status.HTTP_201_CREATED,
    response_model=AgreementOut,
    responses=WRITE,
)
def sign_agreement(
    user_ref: str,
    body: AgreementCreate,
    session: DbSession,
    principal: Principal = Depends(require("write:me")),
) -> AgreementOut:
    user = repository.get_credentials_owner(session, principal, user_ref)
    row = credentials.sign_agreement(session, principal, user, body)
    return _agreement_out(row)


@router.post(
    "/agreements/{agreement_id}/revoke",
    summary="Revoke a signed agreement, with a reason: it lapses now (the user's servers are re-checked)",
    response_model=AgreementOut,
    responses=WRITE,
)
def revoke_agreement(
    user_ref: str,
    agreement_id: uuid.UUID,
    body: RevokeBody,
    session: DbSession,
    principal: Principal = Depends(require("write:accreditations")),
) -> AgreementOut:
    user = repository.get_credentials_owner(session, principal, user_ref)
    row = repository.get_agreement(session, user, agreement_id)
    credentials.revoke_agreement(session, principal, row, body.reason)
    return _agreement_out(row)
