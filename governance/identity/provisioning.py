"""Users on first login: created or updated from verified token claims (issuer + subject is identity)."""

from __future__ import annotations

import re
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.audit.record import record
from governance.core.errors import Forbidden, NotAuthenticated
from governance.models.identity import Organisation, User

_USERNAME_RE = re.compile(r"[^a-z0-9._-]")


def _clean_username(raw: str) -> str:
    name = _USERNAME_RE.sub("-", raw.strip().lower())[:64].strip("-")
    if not name:
        raise NotAuthenticated("the token carries no usable username")
    return name


def user_from_claims(session: Session, issuer: str, claims: dict[str, Any], *, provision: bool) -> User:
    subject = str(claims["sub"])
    user = session.scalar(select(User).where(User.issuer == issuer, User.subject == subject))
    username = _clean_username(str(claims.get("preferred_username") or claims.get("username") or subject))
    if user is None:
        # An account created before its first login (seeded, or synced) is claimed by username once.
        existing = session.scalar(select(User).where(User.username == username))
        if existing is not None and existing.subject is None:
            user = existing
            user.issuer, user.subject = issuer, subject
        elif existing is not None:
            raise Forbidden(f"the username {username!r} belongs to another identity; ask an administrator")
        elif not provision:
            raise Forbidden("your account is not registered with this service; ask an administrator")
        else:
            user = User(id=uuid.uuid4(), username=username, issuer=issuer, subject=subject, status="active")
            session.add(user)
    changed = _apply_claims(session, user, claims)
    session.flush()
    if changed:
        record(
            session, user_actor(user), "user.login-update", "user", user.id, summary=changed, source="oidc"
        )
    if user.status != "active":
        raise Forbidden(f"your account is {user.status}; contact the data steward or TRE support desk")
    return user


def _apply_claims(session: Session, user: User, claims: dict[str, Any]) -> dict[str, Any]:
    changed: dict[str, Any] = {}
    email = claims.get("email")
    if isinstance(email, str) and email[:254] != user.email:
        user.email = email[:254]
        changed["email"] = user.email
    name = claims.get("name") or " ".join(
        str(claims[k]) for k in ("given_name", "family_name") if isinstance(claims.get(k), str)
    )
    if isinstance(name, str) and name and name[:200] != user.display_name:
        user.display_name = name[:200]
        changed["display_name"] = user.display_name
    org = claims.get("organisation") or claims.get("org")
    if isinstance(org, str) and org:
        organisation = session.scalar(select(Organisation).where(Organisation.slug == org[:64]))
        if organisation is not None and organisation.id != user.organisation_id:
            user.organisation_id = organisation.id
            changed["organisation"] = organisation.slug
    return changed


class _UserActor:
    def __init__(self, user: User) -> None:
        self.user_id: uuid.UUID | None = user.id
        self.username: str | None = user.username


def user_actor(user: User) -> _UserActor:
    return _UserActor(user)
