"""API tokens: random, shown once, stored only as a SHA-256 hash, scoped, expiring, revocable.

A token may mint a narrower, shorter-lived child (POST /tokens with a token); the child names its parent,
and revoking a token revokes its whole subtree in the same transaction (the declared moves below), so a
leaked token cannot outlive its revocation through the tokens it made.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from governance.audit.record import Actor, record
from governance.auth.principal import Principal
from governance.auth.scopes import SCOPES, Scope
from governance.auth.states import TokenState
from governance.core.clock import as_utc, utcnow
from governance.core.errors import InvalidInput, NotAuthenticated, NotFound
from governance.core.transitions import (
    SYSTEM,
    Lifecycle,
    Move,
    Refusal,
    Transition,
    declare,
    forbidden,
    perform,
)
from governance.models.identity import ApiToken, User

TOKEN_PREFIX = "fsg_"  # noqa: S105 - a marker, not a secret
T = TokenState


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
    parent_id: uuid.UUID | None = None,
) -> IssuedToken:
    """``parent_id``: the token that mints this one (it is revoked with its parent)."""
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
        parent_id=parent_id,
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
            summary={
                "user": user.username,
                "name": name,
                "scopes": row.scopes,
                "expires_at": row.expires_at,
                **({"parent_id": parent_id} if parent_id is not None else {}),
            },
        )
    return IssuedToken(secret, row)


def _ancestor_revoked(session: Session, row: ApiToken) -> bool:
    """Whether any token above this one is revoked (one query; revocation also marks the subtree, this
    is the second lock on the door should a parent ever be revoked some other way)."""
    if row.parent_id is None:
        return False
    up = (
        select(ApiToken.id, ApiToken.parent_id, ApiToken.revoked_at)
        .where(ApiToken.id == row.parent_id)
        .cte("ancestors", recursive=True)
    )
    parent = aliased(ApiToken)
    up = up.union(
        select(parent.id, parent.parent_id, parent.revoked_at).join(up, parent.id == up.c.parent_id)
    )
    return session.scalar(select(up.c.id).where(up.c.revoked_at.is_not(None)).limit(1)) is not None


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
    if _ancestor_revoked(session, row):
        raise NotAuthenticated("the API token was revoked with the token that created it")
    user = session.get(User, row.user_id)
    if user is None:
        raise NotAuthenticated("the API token is not valid")
    return row, user


# --- the token lifecycle ------------------------------------------------------------------------


def token_state(row: ApiToken) -> str:
    if row.revoked_at is not None:
        return T.revoked
    expires = as_utc(row.expires_at)
    return T.expired if expires is not None and expires <= utcnow() else T.active


def descendants(session: Session, root: ApiToken) -> list[ApiToken]:
    """Every token minted from this one, directly or through others (breadth first, one query a level)."""
    found: list[ApiToken] = []
    seen = {root.id}
    level = [root.id]
    while level:
        children = [
            t
            for t in session.scalars(select(ApiToken).where(ApiToken.parent_id.in_(level)))
            if t.id not in seen
        ]
        seen.update(t.id for t in children)
        found.extend(children)
        level = [t.id for t in children]
    return found


def _owner_or_manager(move: Move[ApiToken]) -> Refusal | None:
    if move.principal.user_id == move.obj.user_id or move.principal.has(Scope.manage_tokens):
        return None
    return forbidden("only the token's owner, or a holder of manage:tokens, may revoke it")


def _revoke(move: Move[ApiToken]) -> None:
    """Revoke the token and, in the same transaction, every token below it: each child's revocation is a
    move of its own (``revoke_with_parent``), so each is locked and has its own audit event; this event
    lists them."""
    move.obj.revoked_at = utcnow()
    below = [t for t in descendants(move.session, move.obj) if token_state(t) != T.revoked]
    for child in below:
        perform(
            move.session,
            move.principal,
            TOKEN_LIFECYCLE,
            child,
            "revoke_with_parent",
            system=True,  # the person's check was the parent's; a child follows its parent
        )
    move.summary.update(name=move.obj.name, descendants_revoked=[str(t.id) for t in below])


def _revoke_with_parent(move: Move[ApiToken]) -> None:
    move.obj.revoked_at = utcnow()
    move.summary.update(name=move.obj.name, revoked_with=str(move.obj.parent_id))


TOKEN_LIFECYCLE: Lifecycle[ApiToken] = declare(
    Lifecycle(
        name="token",
        object_type="api_token",
        states=TokenState,
        state_of=token_state,
        set_state=None,  # the moves write revoked_at; expiry is the clock's
        transitions=(
            Transition(
                "revoke",
                source=frozenset({T.active, T.expired}),
                target=T.revoked,
                audit="token.revoke",
                summary="Revoke an API token and every token it minted (yours; anyone's with manage:tokens)",
                scope=Scope.read_me,  # "manage your own API tokens"
                check=_owner_or_manager,
                apply=_revoke,
                parties=("anyone but the owner and holders of manage:tokens",),
                route=False,  # DELETE /tokens/{token_id}
            ),
            Transition(
                "revoke_with_parent",
                source=frozenset({T.active, T.expired}),
                target=T.revoked,
                audit="token.revoke",
                summary="A token minted by a revoked token is revoked with it",
                apply=_revoke_with_parent,
                public=False,
            ),
        ),
    )
)


def revoke_token(
    session: Session, token_id: uuid.UUID, *, owner_id: uuid.UUID | None, actor: Principal | None
) -> ApiToken:
    """Revoke a token (and its subtree); ``owner_id`` limits it to that user's tokens (404 otherwise).
    ``actor`` None: an operator at the command line (audited with no person as the actor)."""
    row = session.get(ApiToken, token_id)
    if row is None or (owner_id is not None and row.user_id != owner_id):
        raise NotFound("no such token")
    if actor is None:
        return perform(session, SYSTEM, TOKEN_LIFECYCLE, row, "revoke", system=True)
    return perform(session, actor, TOKEN_LIFECYCLE, row, "revoke")
