"""A user's accreditations and signed agreements (thin: parse, authorise, call the service; the request's
session commits). The moves (verify, revoke) are generated from their declarations in lifecycle.py."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Query, status
from sqlalchemy.orm import Session

from governance.auth.dependencies import DbSession
from governance.auth.principal import Principal
from governance.core.pagination import Page
from governance.core.responses import READ, WRITE
from governance.core.schemas import LIST_LIMIT
from governance.core.transition_routes import add_transition_routes
from governance.core.transitions import actions_for
from governance.identity import credentials, repository
from governance.identity.auth import AccreditationsRecord, AgreementsSign, CredentialsRead
from governance.identity.lifecycle import ACCREDITATION_LIFECYCLE, AGREEMENT_LIFECYCLE
from governance.identity.schemas import (
    AccreditationCreate,
    AccreditationOut,
    AgreementCreate,
    AgreementOut,
)
from governance.models.identity import Accreditation, Agreement

router = APIRouter(prefix="/api/v1/users/{user_ref}", tags=["accreditations and agreements"])


def _accreditation_out(session: Session, principal: Principal, row: Accreditation) -> AccreditationOut:
    out = AccreditationOut.model_validate(row)
    out.status = ACCREDITATION_LIFECYCLE.state_of(row)
    out.set_actions(actions_for(session, principal, ACCREDITATION_LIFECYCLE, row))
    return out


def _agreement_out(session: Session, principal: Principal, row: Agreement) -> AgreementOut:
    out = AgreementOut.model_validate(row)
    out.status = AGREEMENT_LIFECYCLE.state_of(row)
    out.set_actions(actions_for(session, principal, AGREEMENT_LIFECYCLE, row))
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
    principal: CredentialsRead,
    limit: LIST_LIMIT = 50,
    cursor: str | None = Query(None, max_length=200),
) -> Page[AccreditationOut]:
    user = repository.get_credentials_owner(session, principal, user_ref)
    rows, next_cursor = repository.list_accreditations(session, user, limit=limit, cursor=cursor)
    return Page(items=[_accreditation_out(session, principal, r) for r in rows], next_cursor=next_cursor)


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
    principal: AccreditationsRecord,
) -> AccreditationOut:
    user = repository.get_credentials_owner(session, principal, user_ref)
    row = credentials.record_accreditation(session, principal, user, body)
    return _accreditation_out(session, principal, row)


def _load_accreditation(
    session: Session, principal: Principal, user_ref: str, accreditation_id: uuid.UUID
) -> Accreditation:
    user = repository.get_credentials_owner(session, principal, user_ref)
    return repository.get_accreditation(session, user, accreditation_id)


add_transition_routes(
    router,
    ACCREDITATION_LIFECYCLE,
    path="/accreditations/{accreditation_id}",
    params=[("user_ref", str), ("accreditation_id", uuid.UUID)],
    load=_load_accreditation,
    render=_accreditation_out,
    response_model=AccreditationOut,
    operation_prefix="accreditation",
)


@router.get(
    "/agreements",
    summary="List a user's signed data-use agreements (your own, or anyone's with read:accreditations)",
    response_model=Page[AgreementOut],
    responses=READ,
)
def list_agreements(
    user_ref: str,
    session: DbSession,
    principal: CredentialsRead,
    limit: LIST_LIMIT = 50,
    cursor: str | None = Query(None, max_length=200),
) -> Page[AgreementOut]:
    user = repository.get_credentials_owner(session, principal, user_ref)
    rows, next_cursor = repository.list_agreements(session, user, limit=limit, cursor=cursor)
    return Page(items=[_agreement_out(session, principal, r) for r in rows], next_cursor=next_cursor)


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
    principal: AgreementsSign,
) -> AgreementOut:
    user = repository.get_credentials_owner(session, principal, user_ref)
    row = credentials.sign_agreement(session, principal, user, body)
    return _agreement_out(session, principal, row)


def _load_agreement(
    session: Session, principal: Principal, user_ref: str, agreement_id: uuid.UUID
) -> Agreement:
    user = repository.get_credentials_owner(session, principal, user_ref)
    return repository.get_agreement(session, user, agreement_id)


add_transition_routes(
    router,
    AGREEMENT_LIFECYCLE,
    path="/agreements/{agreement_id}",
    params=[("user_ref", str), ("agreement_id", uuid.UUID)],
    load=_load_agreement,
    render=_agreement_out,
    response_model=AgreementOut,
    operation_prefix="agreement",
)
