"""Users on login: found, linked or created from verified claims. Issuer + subject is the identity.

An account is reached by a login in exactly three ways:

1. it is linked to the login's identity (same issuer and subject);
2. it is *invited* to be linked: created by an administrator (or the demo seed) with the login's issuer
   but no subject yet, and the login's username is exactly the account's. The first such login links it;
3. there is no account of that name and provisioning is on: a new account, linked from the start.

Anything else is refused. In particular an account created before its first login (seeded, created
through the API, or left over) is never claimed just because a token's normalised username matches it:
otherwise anyone who can choose a username at the identity provider ("sam") would take over the
steward's account. The directory sync follows the same rule (keycloak_sync_plan.py).
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.audit.record import record
from governance.core.errors import DuplicateError, Forbidden, NotAuthenticated
from governance.identity.schemas import UNSAFE_NAME_CHARS, strip_unsafe_chars
from governance.models.identity import Organisation, User

_USERNAME_RE = re.compile(r"[^a-z0-9._-]")
MAX_IDENTITY_CHARS = 300  # users.issuer and users.subject


def _clean_username(raw: str) -> str:
    name = _USERNAME_RE.sub("-", raw.strip().lower())[:64].strip("-")
    if not name:
        raise NotAuthenticated("the token carries no usable username")
    return name


def claimed_username(claims: dict[str, Any]) -> str:
    """The username a login asks for, as the identity provider wrote it (before normalisation)."""
    return str(claims.get("preferred_username") or claims.get("username") or claims["sub"])


def invited_to_link(user: User, issuer: str, raw_username: str | None) -> bool:
    """An account waiting for its first login from `issuer` under exactly its own username."""
    return (
        user.subject is None
        and user.issuer is not None
        and user.issuer.rstrip("/") == issuer.rstrip("/")
        and raw_username is not None
        and raw_username == user.username
    )


def not_linked(username: str) -> Forbidden:
    return Forbidden(
        f"an account named {username!r} already exists and is not linked to your identity; "
        "ask an administrator to link it (or to invite it for your identity provider)"
    )


def identity_free(
    session: Session, issuer: str | None, subject: str | None, user_id: uuid.UUID | None = None
) -> None:
    """Refuse to link a second account to an identity that already has one (409 naming it)."""
    if issuer is None or subject is None:
        return
    owner = session.scalar(select(User).where(User.issuer == issuer, User.subject == subject))
    if owner is not None and owner.id != user_id:
        raise DuplicateError(
            f"that identity is already linked to the account {owner.username!r}; unlink it there first "
            "(PATCH that user with issuer and subject null) if it belongs here instead"
        )


def user_from_claims(session: Session, issuer: str, claims: dict[str, Any], *, provision: bool) -> User:
    subject = str(claims["sub"])
    if len(subject) > MAX_IDENTITY_CHARS or len(issuer) > MAX_IDENTITY_CHARS:
        raise NotAuthenticated(
            f"the identity provider's issuer or subject is longer than {MAX_IDENTITY_CHARS} characters; "
            "ask the TRE support desk to shorten it"
        )
    user = session.scalar(select(User).where(User.issuer == issuer, User.subject == subject))
    raw_username = claimed_username(claims)
    username = _clean_username(raw_username)
    if user is None:
        existing = session.scalar(select(User).where(User.username == username))
        if existing is not None and invited_to_link(existing, issuer, raw_username):
            user = existing
            user.issuer, user.subject = issuer, subject
            session.flush()
            record(
                session,
                user_actor(user),
                "user.link",
                "user",
                user.id,
                summary={
                    "username": user.username,
                    "issuer": issuer,
                    "subject": subject,
                    "via": "invitation",
                },
            )
        elif existing is not None:
            raise not_linked(username)
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
    if isinstance(email, str) and not UNSAFE_NAME_CHARS.search(email) and email[:254] != user.email:
        user.email = email[:254]
        changed["email"] = user.email
    name = claims.get("name") or " ".join(
        str(claims[k]) for k in ("given_name", "family_name") if isinstance(claims.get(k), str)
    )
    if isinstance(name, str):
        name = strip_unsafe_chars(name).strip()[:200]  # control and bidi characters are never stored
    if isinstance(name, str) and name and name != user.display_name:
        user.display_name = name
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
