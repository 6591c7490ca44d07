"""Bearer JWTs from an OIDC issuer: discovery + JWKS (cached, refreshed on an unknown kid)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
from jwt import PyJWK

from governance.core.errors import NotAuthenticated, ServiceUnavailable

FORBIDDEN_ALGORITHMS = {"none", "HS256", "HS384", "HS512"}
MIN_REFRESH_INTERVAL = 10.0


@dataclass
class OIDCVerifier:
    issuer: str
    audience: str
    algorithms: list[str]
    cache_seconds: int = 300
    leeway: int = 30
    _keys: dict[str, PyJWK] = field(default_factory=dict)
    _jwks_uri: str | None = None
    _fetched_at: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.algorithms = [a for a in self.algorithms if a not in FORBIDDEN_ALGORITHMS]
        self.issuer = self.issuer.rstrip("/")

    def _discover(self, client: httpx.Client) -> str:
        if self._jwks_uri is None:
            doc = client.get(f"{self.issuer}/.well-known/openid-configuration").raise_for_status().json()
            if doc.get("issuer", "").rstrip("/") != self.issuer:
                raise ServiceUnavailable("the identity provider's discovery document names another issuer")
            self._jwks_uri = str(doc["jwks_uri"])
        return self._jwks_uri

    def refresh(self, *, force: bool = False) -> None:
        with self._lock:
            now = time.monotonic()
            if not force and now - self._fetched_at < self.cache_seconds and self._keys:
                return
            if self._keys and now - self._fetched_at < MIN_REFRESH_INTERVAL:
                return
            try:
                with httpx.Client(timeout=5.0) as client:
                    jwks = client.get(self._discover(client)).raise_for_status().json()
            except (httpx.HTTPError, ValueError, KeyError) as exc:
                if self._keys:
                    return  # keep serving with the keys we have
                raise ServiceUnavailable(f"the identity provider could not be reached ({type(exc).__name__})")
            keys: dict[str, PyJWK] = {}
            for entry in jwks.get("keys", []):
                if entry.get("use", "sig") != "sig" or "kid" not in entry:
                    continue
                try:
                    keys[entry["kid"]] = PyJWK(entry)
                except jwt.PyJWTError:
                    continue
            self._keys = keys
            self._fetched_at = now

    def key_for(self, kid: str) -> PyJWK:
        self.refresh()
        key = self._keys.get(kid)
        if key is None:
            self.refresh(force=True)
            key = self._keys.get(kid)
        if key is None:
            raise NotAuthenticated("the token was signed by a key the identity provider does not publish")
        return key

    def verify(self, token: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise NotAuthenticated("the bearer token is not a well-formed JWT")
        alg = header.get("alg")
        if alg not in self.algorithms:
            raise NotAuthenticated(f"tokens signed with {alg!r} are not accepted")
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise NotAuthenticated("the token does not name its signing key (kid)")
        key = self.key_for(kid)
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key,
                algorithms=[alg],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": ["exp", "iat", "sub", "iss"]},
            )
        except jwt.ExpiredSignatureError:
            raise NotAuthenticated("the token has expired")
        except jwt.ImmatureSignatureError:
            raise NotAuthenticated("the token is not valid yet")
        except jwt.InvalidAudienceError:
            raise NotAuthenticated(f"the token was not issued for this service (audience {self.audience!r})")
        except jwt.InvalidIssuerError:
            raise NotAuthenticated("the token was issued by an identity provider this service does not trust")
        except jwt.InvalidSignatureError:
            raise NotAuthenticated("the token's signature is not valid")
        except jwt.MissingRequiredClaimError as exc:
            raise NotAuthenticated(f"the token lacks the {exc.claim!r} claim")
        except jwt.PyJWTError as exc:
            raise NotAuthenticated(f"the token is not valid: {exc}")
        return claims


_verifiers: dict[tuple[str, str], OIDCVerifier] = {}


def verifier_for(issuer: str, audience: str, algorithms: list[str], cache_seconds: int) -> OIDCVerifier:
    key = (issuer, audience)
    if key not in _verifiers:
        _verifiers[key] = OIDCVerifier(issuer, audience, list(algorithms), cache_seconds)
    return _verifiers[key]
