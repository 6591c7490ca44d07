"""The SAML service provider without an IdP running: metadata, AuthnRequests, and responses refused early.

Complete logins (and signature, audience and replay checks on genuine responses) are in
test_saml_keycloak.py, against Keycloak as the IdP.
"""

from __future__ import annotations

import base64
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from governance.app import create_app
from governance.config import get_settings
from governance.core.db import transaction
from governance.identity.saml_keys import write_pair
from governance.models import AuditEvent, SamlRequest

IDP = "https://idp.example/idp"
SSO = "https://idp.example/sso"


def idp_metadata(cert_pem: bytes) -> str:
    body = b"".join(line for line in cert_pem.splitlines() if not line.startswith(b"-----")).decode()
    return f"""<?xml version="1.0"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#"
    entityID="{IDP}">
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{body}</ds:X509Certificate>
    </ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="{SSO}"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>
"""


@pytest.fixture
def sp(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> TestClient:
    key, cert = write_pair(tmp_path / "sp", "test-sp")
    _idp_key, idp_cert = write_pair(tmp_path / "idp", "test-idp")
    metadata = tmp_path / "idp.xml"
    metadata.write_text(idp_metadata(idp_cert.read_bytes()))
    monkeypatch.setenv("GOVERNANCE_SAML_IDP_METADATA_FILE", str(metadata))
    monkeypatch.setenv("GOVERNANCE_SAML_SP_KEY_FILE", str(key))
    monkeypatch.setenv("GOVERNANCE_SAML_SP_CERT_FILE", str(cert))
    get_settings.cache_clear()
    return TestClient(create_app(), raise_server_exceptions=False)


def _response_xml(in_response_to: str | None) -> str:
    attr = f' InResponseTo="{in_response_to}"' if in_response_to else ""
    return (
        f'<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_r1" Version="2.0" '
        f'IssueInstant="2026-01-01T00:00:00Z"{attr}/>'
    )


def _post(sp: TestClient, xml: str | bytes) -> str:
    raw = xml.encode() if isinstance(xml, str) else xml
    r = sp.post("/saml/acs", data={"SAMLResponse": base64.b64encode(raw).decode()}, follow_redirects=False)
    assert r.status_code == 401, r.text
    return str(r.text)


def test_metadata_describes_this_service_provider(sp: TestClient) -> None:
    r = sp.get("/saml/metadata")
    assert r.status_code == 200
    assert 'entityID="http://127.0.0.1:8000/saml/metadata"' in r.text
    assert 'Location="http://127.0.0.1:8000/saml/acs"' in r.text and "X509Certificate" in r.text


def test_login_stores_the_request_and_redirects_to_the_idp(sp: TestClient) -> None:
    r = sp.get("/saml/login", params={"next": "//evil.example"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith(f"{SSO}?SAMLRequest=")
    assert "governance_saml=" in r.headers["set-cookie"] and "HttpOnly" in r.headers["set-cookie"]
    assert "SAMLRequest" in parse_qs(urlsplit(r.headers["location"]).query)
    with transaction() as s:
        row = s.scalar(select(SamlRequest))
        assert row is not None and row.next == "/" and row.used_at is None and row.request_id


def test_responses_that_answer_nothing_or_are_malformed_are_refused(sp: TestClient) -> None:
    assert "unsolicited" in _post(sp, _response_xml("_never-asked"))
    assert "unsolicited" in _post(sp, _response_xml(None))
    assert "not a Response" in _post(
        sp, '<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"/>'
    )
    assert "not well-formed" in _post(sp, b"<unclosed")
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]>'
        '<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol">&b;</samlp:Response>'
    )
    assert "refused" in _post(sp, bomb)
    with transaction() as s:  # unauthenticated posts are counted, not written one row each
        assert s.scalars(select(AuditEvent).where(AuditEvent.action == "session.refused")).all() == []
    with sp:  # the app's shutdown writes what it counted: one event for the five
        pass
    with transaction() as s:
        refusals = s.scalars(select(AuditEvent).where(AuditEvent.action == "denied.unauthenticated")).all()
    assert [(e.summary["route"], e.summary["count"], e.outcome) for e in refusals] == [
        ("/saml/acs", 5, "denied")
    ]


def test_a_response_to_an_outstanding_request_still_needs_a_valid_signature(sp: TestClient) -> None:
    sp.get("/saml/login", follow_redirects=False)
    with transaction() as s:
        request_id = s.scalar(select(SamlRequest.request_id))
    assert request_id
    page = _post(sp, _response_xml(request_id))
    assert "refused" in page
    with transaction() as s:
        assert s.scalar(select(SamlRequest.used_at)) is None


def test_completing_a_login_needs_the_browser_that_started_it(sp: TestClient) -> None:
    r = sp.get("/saml/complete", params={"r": "00000000-0000-0000-0000-000000000000"})
    assert r.status_code == 401 and "no SAML login to complete" in r.text


def test_saml_says_clearly_when_it_is_not_configured(client: TestClient) -> None:
    r = client.get("/saml/login", follow_redirects=False)
    assert r.status_code == 503 and "GOVERNANCE_SAML_IDP_METADATA_URL" in r.text


def test_an_unreachable_metadata_url_is_a_clear_503(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key, cert = write_pair(tmp_path / "sp", "test-sp")
    monkeypatch.setenv("GOVERNANCE_SAML_IDP_METADATA_URL", "http://127.0.0.1:9/descriptor")
    monkeypatch.setenv("GOVERNANCE_SAML_SP_KEY_FILE", str(key))
    monkeypatch.setenv("GOVERNANCE_SAML_SP_CERT_FILE", str(cert))
    get_settings.cache_clear()
    r = TestClient(create_app()).get("/saml/login", follow_redirects=False)
    assert r.status_code == 503 and "could not be fetched" in r.text
