"""Authentication strength from the user's own access token (trust the identity provider, not the hub).

The hub may send the user's OIDC access token with a launch question (`user_token`). The service then
validates it like any bearer token (issuer, audience, signature, algorithm, expiry), checks it belongs to
the user the question is about, and takes mfa/acr/amr from its claims instead of the hub's.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.auth.dependencies import _strength
from governance.auth.oidc import verifier_for
from governance.auth.principal import AuthStrength
from governance.config import get_settings
from governance.core.errors import DomainError, InvalidInput
from governance.identity.provisioning import invited_to_link
from governance.models.identity import User


def strength_from_user_token(session: Session, token: str, username: str) -> AuthStrength:
    """The token's authentication strength; InvalidInput when it is not valid or is someone else's."""
    settings = get_settings()
    if not settings.oidc_issuer:
        raise InvalidInput(
            "user_token was sent, but this service trusts no OIDC issuer (GOVERNANCE_OIDC_ISSUER)"
        )
    verifier = verifier_for(
        settings.oidc_issuer,
        settings.oidc_audience,
        settings.oidc_algorithms,
        settings.oidc_jwks_cache_seconds,
    )
    try:
        claims = verifier.verify(token)
    except DomainError as exc:
        raise InvalidInput(f"user_token is not valid: {exc.detail}")
    subject = str(claims["sub"])
    owner = session.scalar(select(User).where(User.issuer == verifier.issuer, User.subject == subject))
    if owner is not None:
        belongs = owner.username == username
    else:
        # Not linked yet: only an account invited for this issuer, under exactly the token's username
        # (the rule of provisioning.py); a matching name alone is not proof it is the same person.
        account = session.scalar(select(User).where(User.username == username))
        raw = claims.get("preferred_username")
        belongs = account is not None and invited_to_link(account, verifier.issuer, str(raw) if raw else None)
    if not belongs:
        raise InvalidInput(f"user_token belongs to another user, not to {username!r}")
    strength = _strength(claims)
    return AuthStrength(
        mfa=strength.mfa,
        acr=strength.acr[:64] if strength.acr else None,
        amr=tuple(a[:32] for a in strength.amr[:16]),
    )
