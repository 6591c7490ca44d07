"""SAML 2.0 service provider (pysaml2): SP metadata, AuthnRequest (HTTP-Redirect), Response (HTTP-POST).

Trust rules:
- The IdP's metadata comes from GOVERNANCE_SAML_IDP_METADATA_URL (fetched here, cached for an hour, the
  last good copy kept when a refresh fails) or GOVERNANCE_SAML_IDP_METADATA_FILE.
- Signatures: by default both the Response and the Assertion must be signed by a key in that metadata
  (GOVERNANCE_SAML_WANT_RESPONSE_SIGNED / _WANT_ASSERTIONS_SIGNED).
- Every AuthnRequest id is stored in saml_requests. A Response is accepted only in reply to a stored,
  unused, unexpired request (so unsolicited and replayed responses are refused on every replica); the
  request is marked used in the same transaction that starts the session.
- pysaml2 checks audience (our entity id), destination (our ACS), validity windows and InResponseTo.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from defusedxml import DefusedXmlException, ElementTree  # type: ignore[import-untyped]
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.client import Saml2Client
from saml2.config import SPConfig
from saml2.metadata import entity_descriptor
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from governance.audit.record import record
from governance.auth.principal import AuthStrength
from governance.config import REPO_ROOT, Settings, get_settings
from governance.core.clock import utcnow
from governance.core.errors import NotAuthenticated, ServiceUnavailable
from governance.enforcement.triggers import access_changed
from governance.identity.next_url import safe_next
from governance.identity.provisioning import user_actor, user_from_claims
from governance.identity.saml_keys import write_pair
from governance.models.identity import Group, GroupMember, User
from governance.models.saml import SamlRequest

log = logging.getLogger(__name__)

PROTOCOL_NS = "{urn:oasis:names:tc:SAML:2.0:protocol}"
MAX_RESPONSE_BYTES = 512 * 1024
METADATA_TTL = 3600.0
MFA_CONTEXTS = frozenset(
    {
        "https://refeds.org/profile/mfa",
        "urn:oasis:names:tc:SAML:2.0:ac:classes:TimeSyncToken",
        "urn:oasis:names:tc:SAML:2.0:ac:classes:MobileTwoFactorContract",
        "urn:oasis:names:tc:SAML:2.0:ac:classes:MobileTwoFactorUnregistered",
        "http://schemas.microsoft.com/claims/multipleauthn",
    }
)
SAML_SOURCE = "saml"


@dataclass(frozen=True)
class SamlLogin:
    request: SamlRequest
    user: User
    strength: AuthStrength
    issuer: str
    subject: str
    attributes: dict[str, list[str]]


def acs_url(settings: Settings) -> str:
    return f"{settings.base_url.rstrip('/')}/saml/acs"


def configured(settings: Settings) -> bool:
    return bool(settings.saml_idp_metadata_url or settings.saml_idp_metadata_file)


def _xmlsec(settings: Settings) -> str:
    for candidate in (settings.saml_xmlsec_binary, "/usr/bin/xmlsec1", "/usr/local/bin/xmlsec1"):
        if candidate and Path(candidate).is_file():
            return candidate
    raise ServiceUnavailable(
        "SAML needs the xmlsec1 program (Debian package xmlsec1), which is not installed"
    )


def _key_pair(settings: Settings) -> tuple[Path, Path]:
    if settings.saml_sp_key_file and settings.saml_sp_cert_file:
        return settings.saml_sp_key_file, settings.saml_sp_cert_file
    if settings.env == "dev":
        return write_pair(
            REPO_ROOT / "var" / "saml", urlsplit(settings.saml_entity_id).hostname or "governance"
        )
    raise ServiceUnavailable(
        "SAML is not configured: set GOVERNANCE_SAML_SP_KEY_FILE and GOVERNANCE_SAML_SP_CERT_FILE"
    )


def _sp_dict(settings: Settings, metadata_xml: str | None) -> dict[str, Any]:
    key_file, cert_file = _key_pair(settings)
    conf: dict[str, Any] = {
        "entityid": settings.saml_entity_id,
        "xmlsec_binary": _xmlsec(settings),
        "key_file": str(key_file),
        "cert_file": str(cert_file),
        "encryption_keypairs": [{"key_file": str(key_file), "cert_file": str(cert_file)}],
        "allow_unknown_attributes": True,
        "accepted_time_diff": 60,
        "service": {
            "sp": {
                "name": "Five Safes Governance",
                "endpoints": {"assertion_consumer_service": [(acs_url(settings), BINDING_HTTP_POST)]},
                "allow_unsolicited": False,
                "want_response_signed": settings.saml_want_response_signed,
                "want_assertions_signed": settings.saml_want_assertions_signed,
                "want_assertions_or_response_signed": True,
                "authn_requests_signed": False,
            }
        },
    }
    if metadata_xml is not None:
        conf["metadata"] = {"inline": [metadata_xml]}
    return conf


def sp_metadata_xml(settings: Settings | None = None) -> str:
    """This service provider's metadata (entity id, ACS, signing certificate), for the IdP's admin."""
    settings = settings or get_settings()
    config = SPConfig()
    config.load(_sp_dict(settings, None))
    return str(entity_descriptor(config).to_string().decode())


_clients: dict[tuple[Any, ...], tuple[float, Saml2Client]] = {}
_clients_lock = threading.Lock()


def _idp_metadata(settings: Settings) -> str:
    if settings.saml_idp_metadata_file:
        try:
            return settings.saml_idp_metadata_file.read_text()
        except OSError as exc:
            raise ServiceUnavailable(f"the SAML IdP metadata file cannot be read ({exc.strerror})")
    assert settings.saml_idp_metadata_url
    try:
        response = httpx.get(settings.saml_idp_metadata_url, timeout=10.0, follow_redirects=True)
        response.raise_for_status()
    except httpx.HTTPError as exc:
        raise ServiceUnavailable(
            f"the SAML identity provider's metadata could not be fetched ({type(exc).__name__})"
        )
    return response.text


def saml_client(settings: Settings | None = None) -> Saml2Client:
    settings = settings or get_settings()
    if not configured(settings):
        raise ServiceUnavailable(
            "SAML login is not configured: "
            "set GOVERNANCE_SAML_IDP_METADATA_URL or GOVERNANCE_SAML_IDP_METADATA_FILE"
        )
    key = (
        settings.saml_entity_id,
        settings.base_url,
        settings.saml_idp_metadata_url,
        settings.saml_idp_metadata_file,
        settings.saml_sp_key_file,
        settings.saml_sp_cert_file,
        settings.saml_want_response_signed,
        settings.saml_want_assertions_signed,
    )
    with _clients_lock:
        cached = _clients.get(key)
    if cached is not None and time.monotonic() - cached[0] < METADATA_TTL:
        return cached[1]
    try:
        config = SPConfig()
        config.load(_sp_dict(settings, _idp_metadata(settings)))
        client = Saml2Client(config=config)
    except ServiceUnavailable:
        if cached is not None:
            log.warning("keeping the last good SAML IdP metadata; the refresh failed")
            return cached[1]
        raise
    with _clients_lock:
        _clients[key] = (time.monotonic(), client)
    return client


def _idp_entity_id(client: Saml2Client, settings: Settings) -> str:
    if settings.saml_idp_entity_id:
        return settings.saml_idp_entity_id
    idps = list(client.metadata.with_descriptor("idpsso"))
    if len(idps) != 1:
        raise ServiceUnavailable(
            f"the SAML metadata names {len(idps)} identity providers; set GOVERNANCE_SAML_IDP_ENTITY_ID"
        )
    return str(idps[0])


def start_login(session: Session, next_url: str | None, settings: Settings | None = None) -> tuple[str, str]:
    """Store a new AuthnRequest id; return it and the IdP URL (HTTP-Redirect binding) for the browser."""
    settings = settings or get_settings()
    client = saml_client(settings)
    request_id, info = client.prepare_for_authenticate(
        entityid=_idp_entity_id(client, settings), relay_state="", binding=BINDING_HTTP_REDIRECT
    )
    session.add(SamlRequest(id=uuid.uuid4(), request_id=str(request_id), next=safe_next(next_url)))
    session.flush()
    location = dict(info["headers"]).get("Location")
    if not location:
        raise ServiceUnavailable("the SAML identity provider offers no HTTP-Redirect login endpoint")
    return str(request_id), str(location)


def _in_response_to(saml_response: str) -> str | None:
    if len(saml_response) > MAX_RESPONSE_BYTES:
        raise NotAuthenticated("the SAML response is too large")
    try:
        xml = base64.b64decode(saml_response, validate=False)
        root = ElementTree.fromstring(xml)
    except DefusedXmlException as exc:  # entities, DTDs, external references
        raise NotAuthenticated(
            f"the SAML response was refused: it declares a DTD or entities ({type(exc).__name__})"
        )
    except (binascii.Error, ValueError, ElementTree.ParseError) as exc:
        raise NotAuthenticated(f"the SAML response is not well-formed ({type(exc).__name__})")
    if root.tag != f"{PROTOCOL_NS}Response":
        raise NotAuthenticated("the SAML message is not a Response")
    value = root.get("InResponseTo")
    return str(value) if value else None


def _outstanding(session: Session, request_id: str | None, settings: Settings) -> SamlRequest:
    if not request_id:
        raise NotAuthenticated("unsolicited SAML response (it answers no login request of this service)")
    row = session.scalar(select(SamlRequest).where(SamlRequest.request_id == request_id[:128]))
    if row is None:
        raise NotAuthenticated("unsolicited SAML response (it answers no login request of this service)")
    if row.used_at is not None:
        raise NotAuthenticated("this SAML response was used already (replay refused); log in again")
    if utcnow() - row.created_at > timedelta(seconds=settings.saml_request_max_age_seconds):
        raise NotAuthenticated("the login request this SAML response answers has expired; log in again")
    return row


def _attributes(ava: dict[str, Any]) -> dict[str, list[str]]:
    return {str(k): [str(v) for v in (vals if isinstance(vals, list) else [vals])] for k, vals in ava.items()}


def _first(attrs: dict[str, list[str]], *names: str) -> str | None:
    for name in names:
        values = attrs.get(name)
        if values:
            return values[0]
    return None


def finish_login(session: Session, saml_response: str, settings: Settings | None = None) -> SamlLogin:
    """Validate a POSTed SAMLResponse; provision the user; mark the request used. Raises NotAuthenticated."""
    settings = settings or get_settings()
    row = _outstanding(session, _in_response_to(saml_response), settings)
    client = saml_client(settings)
    try:
        response = client.parse_authn_request_response(
            saml_response, BINDING_HTTP_POST, outstanding={row.request_id: row.next}
        )
    except Exception as exc:  # pysaml2 raises many types: signature, audience, validity, status...
        log.info("SAML response refused: %s: %s", type(exc).__name__, exc)
        raise NotAuthenticated(f"the SAML response was refused ({type(exc).__name__}: {str(exc)[:200]})")
    if response is None:
        raise NotAuthenticated("the SAML response could not be read")
    _claim(session, row)
    issuer = str(response.issuer())
    name_id = response.name_id
    subject = str(getattr(name_id, "text", "") or "").strip()
    if not subject:
        raise NotAuthenticated("the SAML assertion names no subject (NameID)")
    attrs = _attributes(response.ava or {})
    affiliations = attrs.get("eduPersonScopedAffiliation", [])
    claims: dict[str, Any] = {
        "sub": subject,
        "preferred_username": _first(attrs, "uid") or subject,
        "email": _first(attrs, "mail", "email"),
        "name": " ".join(v for v in (_first(attrs, "givenName"), _first(attrs, "sn")) if v) or None,
    }
    scopes = [a.split("@", 1)[1] for a in affiliations if "@" in a]
    if scopes:
        claims["organisation"] = scopes[0]
    claims = {k: v for k, v in claims.items() if v is not None}
    user = user_from_claims(session, issuer, claims, provision=settings.oidc_provision_users)
    _mirror_groups(session, user, issuer, attrs.get("groups", []))
    contexts = [str(info[0]) for info in (response.authn_info() or []) if info and info[0]]
    acr = contexts[0] if contexts else None
    strength = AuthStrength(mfa=bool(set(contexts) & MFA_CONTEXTS), acr=acr, amr=())
    record(
        session,
        user_actor(user),
        "user.saml-login",
        "user",
        user.id,
        source=SAML_SOURCE,
        summary={
            "idp": issuer,
            "subject": subject,
            "groups": attrs.get("groups", [])[:50],
            "affiliations": affiliations[:20],
            "acr": acr,
        },
    )
    row.user_id, row.mfa, row.acr = user.id, strength.mfa, acr[:200] if acr else None
    session.flush()
    return SamlLogin(row, user, strength, issuer, subject, attrs)


def _claim(session: Session, row: SamlRequest) -> None:
    """Mark the request used, atomically: of two replicas given the same response, one wins."""
    claimed = session.execute(
        update(SamlRequest)
        .where(SamlRequest.id == row.id, SamlRequest.used_at.is_(None))
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if getattr(claimed, "rowcount", 0) != 1:
        raise NotAuthenticated("this SAML response was used already (replay refused); log in again")
    session.refresh(row)


def complete_login(
    session: Session, row_id: uuid.UUID, bound_request_id: str | None
) -> tuple[SamlRequest, User]:
    """The browser that started the login collects it (login CSRF defence): its cookie names the request."""
    row = session.get(SamlRequest, row_id)
    if row is None or row.used_at is None or row.user_id is None:
        raise NotAuthenticated("there is no SAML login to complete here; log in again")
    if not bound_request_id or bound_request_id != row.request_id:
        raise NotAuthenticated(
            "this SAML login was started in another browser (or its cookie expired), "
            "so it is refused; log in again"
        )
    if row.completed_at is not None:
        raise NotAuthenticated("this SAML login was completed already; log in again")
    if utcnow() - row.used_at > timedelta(minutes=5):
        raise NotAuthenticated("this SAML login took too long to complete; log in again")
    row.completed_at = utcnow()
    user = session.get(User, row.user_id)
    if user is None or user.status != "active":
        status = user.status if user is not None else "gone"
        raise NotAuthenticated(f"your account is {status}; contact the data steward or TRE support desk")
    session.flush()
    return row, user


_GROUP_NAME = re.compile(r"[^A-Za-z0-9 ._/-]")


def _mirror_groups(session: Session, user: User, idp: str, groups: list[str]) -> None:
    """The IdP's groups become groups here (source saml) with the user as member; no roles by default."""
    host = urlsplit(idp).hostname or idp
    wanted: dict[str, str] = {}
    for raw in groups[:200]:
        name = raw.strip().strip("/")
        if name:
            wanted[f"{idp}#{name}"[:300]] = _GROUP_NAME.sub("-", f"saml/{host}/{name}")[:200]
    existing = {
        g.external_id: g
        for g in session.scalars(
            select(Group).where(
                Group.source == SAML_SOURCE, Group.external_id.startswith(f"{idp}#", autoescape=True)
            )
        )
    }
    current = {
        m.group_id: m
        for m in session.scalars(
            select(GroupMember).where(
                GroupMember.user_id == user.id,
                GroupMember.source == SAML_SOURCE,
                GroupMember.group_id.in_([g.id for g in existing.values()]),
            )
        )
    }
    keep: set[uuid.UUID] = set()
    for external_id, name in wanted.items():
        group = existing.get(external_id)
        if group is None:
            if session.scalar(select(Group.id).where(Group.name == name)) is not None:
                name = f"{name[:190]}-{uuid.uuid4().hex[:8]}"  # a local group took the name first
            group = Group(
                id=uuid.uuid4(),
                name=name,
                source=SAML_SOURCE,
                external_id=external_id,
                description=f"Mirrored from the SAML identity provider {idp}",
            )
            session.add(group)
            session.flush()
            record(
                session,
                user_actor(user),
                "group.create",
                "group",
                group.id,
                source=SAML_SOURCE,
                summary={"name": name, "idp": idp},
            )
        keep.add(group.id)
        if group.id not in current:
            session.add(GroupMember(group_id=group.id, user_id=user.id, source=SAML_SOURCE))
            record(
                session,
                user_actor(user),
                "group.member-add",
                "group",
                group.id,
                source=SAML_SOURCE,
                summary={"user": user.username},
            )
    removed = [m for gid, m in current.items() if gid not in keep]
    for member in removed:
        session.delete(member)
        record(
            session,
            user_actor(user),
            "group.member-remove",
            "group",
            member.group_id,
            source=SAML_SOURCE,
            summary={"user": user.username},
        )
    if removed:
        access_changed(session, "saml.group-membership", user_id=user.id)
    session.flush()
