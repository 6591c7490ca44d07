"""Organisation rules: unique slugs, audited changes."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.audit.record import record
from governance.auth.principal import Principal
from governance.core.errors import DuplicateError, InvalidInput
from governance.identity.schemas import OrganisationCreate, OrganisationUpdate
from governance.models.identity import Organisation


def create_organisation(session: Session, principal: Principal, body: OrganisationCreate) -> Organisation:
    if session.scalar(select(Organisation.id).where(Organisation.slug == body.slug)) is not None:
        raise DuplicateError(f"an organisation with the slug {body.slug!r} already exists")
    org = Organisation(id=uuid.uuid4(), slug=body.slug, name=body.name)
    session.add(org)
    session.flush()
    record(session, principal, "organisation.create", "organisation", org.id, summary=body.model_dump())
    return org


def update_organisation(
    session: Session, principal: Principal, org: Organisation, body: OrganisationUpdate
) -> Organisation:
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    if not changes:
        raise InvalidInput("nothing to change: send name")
    before = {key: getattr(org, key) for key in changes}
    for key, value in changes.items():
        setattr(org, key, value)
    session.flush()
    record(
        session,
        principal,
        "organisation.update",
        "organisation",
        org.id,
        summary={"before": before, "after": changes},
    )
    return org
