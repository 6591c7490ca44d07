"""API tokens: random, shown once, stored only as a SHA-256 hash, scoped, expiring, revocable."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.audit.record import Actor, record
from governance.auth.scopes import SCOPES
from governance.core.clock import utcnow
from governance.core.errors import InvalidInput, NotAuthenticated, NotFound
from governance.models.identity import ApiToken, User

TOKEN_PREFIX = "fsg_"  # noqa: S105 - a marker, not a secret


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedToken:
    token: str
    record: ApiToken


def issue_token(
    session: Session,
    user: User,
    *,
    name: str,
    scopes: list[str] | None,
    lifetime: timedelta,
    actor: Actor | None,
    project_id: uuid.UUID | None = None,
    max_lifetime: timedelta | None = None,
    audit: bool = True,
    not_after: datetime | None = None,
) -> IssuedToken:
    if scopes is not None:
        unknown = sorted(set(scopes) - set(SCOPES))
        if unknown:
            raise InvalidInput(f"unknown scopes: {', '.join(unknown)}", unknown_scopes=unknown)
    if lifetime <= timedelta(0):
        raise InvalidInput("a token's lifetime must be positive")
    if max_lifetime is not None and lifetime > max_lifetime:
        raise InvalidInput(f"a token may live at most {int(max_lifetime.total_seconds() // 3600)} hours")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        id=uuid.uuid4(),
        user_id=user.id,
        name=name,
        prefix=secret[:10],
        token_hash=hash_token(secret),
        scopes=sorted(scopes) if scopes is not None else None,
        project_id=project_id,
        expires_at=min(utcnow() + lifetime, not_after) if not_after else utcnow() + lifetime,
    )
    session.add(row)
    session.flush()
    if audit:
        record(
            session,
            actor,
            "token.create",
            "api_token",
            row.id,
            project_id=project_id,
            summary={"user": user.username, "name": name, "scopes": row.scopes, "expires_at": row.expires_at},
        )
    return IssuedToken(secret, row)


def authenticate_token(session: Session, secret: str) -> tuple[ApiToken, User]:
    digest = hash_token(secret)
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == digest))
    if row is None or not hmac.compare_digest(row.token_hash, digest):
        raise NotAuthenticated("the API token is not valid")
    now = utcnow()
    if row.revoked_at is not None:
        raise NotAuthenticated("the API token has been revoked")
    if row.expires_at <= now:
        raise NotAuthenticated("the API token has expired")
    user = session.get(User, row.user_id)
    if user is None:
        raise NotAuthenticated("the API token is not valid")
    return row, user


def revoke_token(
    session: Session, token_id: uuid.UUID, *, owner_id: uuid.UUID | None, actor: Actor | None
) -> ApiToken:
    row = session.get(ApiToken, token_id)
    if row is None or (owner_id is not None and row.user_id != owner_id):
        raise NotFound("no such token")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        record(session, actor, "token.revoke", "api_token", row.id, summary={"name": row.name})
    return row
