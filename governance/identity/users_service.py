"""User rules: creation, profile edits, and the account lifecycle (suspension stops servers)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.audit.record import record
from governance.auth.principal import Principal
from governance.auth.scopes import Scope
from governance.core.errors import DuplicateError, Forbidden, InvalidInput
from governance.core.transitions import perform
from governance.identity.lifecycle import USER_LIFECYCLE
from governance.identity.provisioning import identity_free
from governance.identity.schemas import UserCreate, UserUpdate
from governance.identity.states import USER_ACTION_FOR_STATUS, UserStatus
from governance.models.identity import Organisation, User

SELF_EDITABLE = {"email", "display_name"}


def get_user_by_username(session: Session, username: str) -> User | None:
    return session.scalar(select(User).where(User.username == username))


def user_named(session: Session, username: str) -> User:
    """The user a request body names; an unknown name is the caller's mistake (400)."""
    user = get_user_by_username(session, username)
    if user is None:
        raise InvalidInput(f"there is no user {username!r}")
    return user


def organisation_named(session: Session, slug: str) -> Organisation:
    org = session.scalar(select(Organisation).where(Organisation.slug == slug))
    if org is None:
        raise InvalidInput(f"there is no organisation {slug!r}")
    return org


def create_user(session: Session, principal: Principal, body: UserCreate) -> User:
    if get_user_by_username(session, body.username) is not None:
        raise DuplicateError(f"a user with the username {body.username!r} already exists")
    organisation_id = organisation_named(session, body.organisation).id if body.organisation else None
    identity_free(session, body.issuer, body.subject)
    user = User(
        id=uuid.uuid4(),
        username=body.username,
        email=body.email,
        display_name=body.display_name,
        organisation_id=organisation_id,
        kind=body.kind,
        status=UserStatus.active,
        issuer=body.issuer,  # linked (with subject) or invited (issuer only); see provisioning.py
        subject=body.subject,
    )
    session.add(user)
    session.flush()
    record(
        session,
        principal,
        "user.create",
        "user",
        user.id,
        summary={
            "username": user.username,
            "kind": user.kind,
            "organisation": body.organisation,
            "issuer": body.issuer,
            "subject": body.subject,
        },
    )
    return user


def update_user(session: Session, principal: Principal, user: User, body: UserUpdate) -> User:
    changes: dict[str, Any] = body.model_dump(exclude_unset=True)
    if not changes:
        raise InvalidInput("nothing to change: send email, display_name, organisation or status")
    admin = principal.has(Scope.write_users)
    if not admin and (user.id != principal.user_id or set(changes) - SELF_EDITABLE):
        raise Forbidden("you may change only your own email and display name; other changes need write:users")
    if "status" in changes and changes["status"] is None:
        raise InvalidInput("status cannot be empty")
    if "display_name" in changes and changes["display_name"] is None:
        changes["display_name"] = ""
    if changes.get("subject") is not None:
        identity_free(session, changes.get("issuer"), changes["subject"], user.id)
    status = changes.pop("status", None)
    if status is not None:
        # The declared move (suspend, reactivate, deactivate): nobody moves their own account, the move is
        # audited and the user's servers re-checked; or a 409 naming the moves open to the caller. First,
        # so a refused move leaves the rest of the PATCH undone too (and the lock sees the stored row).
        perform(session, principal, USER_LIFECYCLE, user, USER_ACTION_FOR_STATUS[UserStatus(status)])
        if not changes:
            return user
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    if "organisation" in changes:
        slug = changes.pop("organisation")
        new_org = organisation_named(session, slug).id if slug else None
        before["organisation_id"], after["organisation_id"] = user.organisation_id, new_org
        user.organisation_id = new_org
    for key, value in changes.items():
        before[key], after[key] = getattr(user, key), value
        setattr(user, key, value)
    session.flush()
    record(session, principal, "user.update", "user", user.id, summary={"before": before, "after": after})
    return user
