"""SAML login against a real Keycloak acting as the identity provider (one Keycloak for the module).

Each test runs the service on its own port, so it registers a SAML client for that SP entity id and ACS
through the Admin API (and removes it afterwards). Bad inputs start from a genuine, freshly issued
Keycloak response and break one thing.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from defusedxml import ElementTree  # type: ignore[import-untyped]
from sqlalchemy import delete, select, update

from governance.config import get_settings
from governance.core.clock import utcnow
from governance.core.db import transaction
from governance.demo.seed import invite_demo_cast
from governance.identity import saml
from governance.identity.saml_keys import write_pair
from governance.models import AuditEvent, Group, GroupMember, Organisation, SamlRequest, User
from tests.harness.keycloak import KeycloakServer
from tests.identity.keycloak_support import (
    AppServer,
    KeycloakAdminApi,
    browser,
    cookie_value,
    first_form,
    keycloak_login,
    new_port,
    running_service,
    service_env,
)

pytestmark = pytest.mark.integration

DEV_SAML_CLIENT = "http://127.0.0.1:8000/saml/metadata"
DSIG = "{http://www.w3.org/2000/09/xmldsig#}Signature"


@pytest.fixture(scope="module")
def keycloak() -> Iterator[KeycloakServer]:
    server = KeycloakServer().start()
    try:
        admin = KeycloakAdminApi(server)
        profile = admin.call("GET", "/users/profile").json()
        admin.call("PUT", "/users/profile", json={**profile, "unmanagedAttributePolicy": "ENABLED"})
        alice_id = admin.user_id("alice")
        alice = admin.call("GET", f"/users/{alice_id}").json()
        alice["attributes"] = {**(alice.get("attributes") or {}), "affiliation": ["member@demo-university"]}
        admin.call("PUT", f"/users/{alice_id}", json=alice)
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def kc_admin(keycloak: KeycloakServer) -> KeycloakAdminApi:
    return KeycloakAdminApi(keycloak)


def register_sp(kc_admin: KeycloakAdminApi, entity_id: str, acs: str) -> None:
    """A SAML client in Keycloak for this SP, copied from the realm's dev SP client (signatures, mappers)."""
    client = kc_admin.client(DEV_SAML_CLIENT)
    client.pop("id", None)
    for mapper in client.get("protocolMappers", []):
        mapper.pop("id", None)
    client["protocolMappers"].append(
        {
            "name": "eduPersonScopedAffiliation",
            "protocol": "saml",
            "protocolMapper": "saml-user-attribute-mapper",
            "config": {
                "user.attribute": "affiliation",
                "attribute.name": "eduPersonScopedAffiliation",
                "friendly.name": "eduPersonScopedAffiliation",
                "attribute.nameformat": "Basic",
            },
        }
    )
    client["clientId"] = entity_id
    client["attributes"]["saml_assertion_consumer_url_post"] = acs
    kc_admin.create_client(client)


@dataclass
class SamlService:
    app: AppServer
    entity_id: str
    acs: str

    @property
    def url(self) -> str:
        return self.app.url


@pytest.fixture
def sp(
    db_url: str, keycloak: KeycloakServer, kc_admin: KeycloakAdminApi, tmp_path: Path
) -> Iterator[SamlService]:
    port = new_port()
    base = f"http://127.0.0.1:{port}"
    key, cert = write_pair(tmp_path / "sp", "governance-test-sp")
    env = service_env(
        keycloak,
        port,
        GOVERNANCE_SAML_IDP_METADATA_URL=f"{keycloak.issuer}/protocol/saml/descriptor",
        GOVERNANCE_SAML_SP_KEY_FILE=str(key),
        GOVERNANCE_SAML_SP_CERT_FILE=str(cert),
    )
    entity_id, acs = f"{base}/saml/metadata", f"{base}/saml/acs"
    register_sp(kc_admin, entity_id, acs)
    with transaction() as s:  # invited, as the demo seed does: the first SAML login links each account
        invite_demo_cast(s, keycloak.issuer)
    try:
        with running_service(env, port) as app:
            yield SamlService(app, entity_id, acs)
    finally:
        kc_admin.delete_client(entity_id)


def idp_response(client: httpx.Client, start: httpx.Response, username: str = "alice") -> tuple[str, str]:
    """Follow an AuthnRequest redirect to Keycloak, log in if asked: (the ACS URL, the SAMLResponse)."""
    assert start.status_code == 303, start.text
    page = client.get(start.headers["location"])
    _action, fields = first_form(page)
    if "SAMLResponse" not in fields:
        page = keycloak_login(client, page, username, f"demo-{username}")
    action, fields = first_form(page)
    assert "SAMLResponse" in fields, page.text[:800]
    return action, fields["SAMLResponse"]


def fresh_response(sp: SamlService, client: httpx.Client, next_url: str = "/") -> str:
    action, response = idp_response(client, client.get(f"{sp.url}/saml/login", params={"next": next_url}))
    assert action == sp.acs
    return response


def post_acs(client: httpx.Client, sp: SamlService, response: str) -> httpx.Response:
    return client.post(sp.acs, data={"SAMLResponse": response})


def xml_of(response: str) -> str:
    return base64.b64decode(response).decode()


def encoded(xml: str) -> str:
    return base64.b64encode(xml.encode()).decode()


def refused(answer: httpx.Response, words: str) -> None:
    assert answer.status_code == 401, answer.text[:800]
    message = re.search(r'id="message">([^<]*)<', answer.text)
    assert message is not None and words in message.group(1), message and message.group(1)


def test_sp_metadata_names_the_entity_id_acs_and_signing_certificate(sp: SamlService) -> None:
    r = httpx.get(f"{sp.url}/saml/metadata", timeout=30)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/samlmetadata+xml")
    root = ElementTree.fromstring(r.text)
    assert root.get("entityID") == sp.entity_id
    acs = root.find(".//{urn:oasis:names:tc:SAML:2.0:metadata}AssertionConsumerService")
    assert acs is not None and acs.get("Location") == sp.acs and acs.get("Binding").endswith("HTTP-POST")
    assert root.find(".//{http://www.w3.org/2000/09/xmldsig#}X509Certificate") is not None


def test_saml_login_through_keycloak_maps_the_user_and_starts_a_session(
    sp: SamlService, keycloak: KeycloakServer
) -> None:
    client, cookies = browser()
    start = client.get(f"{sp.url}/saml/login", params={"next": "/projects"})
    assert start.headers["location"].startswith(f"{keycloak.issuer}/protocol/saml?SAMLRequest=")
    assert cookie_value(cookies, "governance_saml") is not None
    _acs, response = idp_response(client, start)
    xml = xml_of(response)
    assert xml.count("<dsig:Signature") == 2 or xml.count(":Signature ") >= 2  # response and assertion signed
    accepted = post_acs(client, sp, response)
    assert accepted.status_code == 303 and accepted.headers["location"].startswith("/saml/complete?r=")
    done = client.get(f"{sp.url}{accepted.headers['location']}")
    assert done.status_code == 303 and done.headers["location"] == "/projects"
    assert "secure" in done.headers["set-cookie"].lower() and "httponly" in done.headers["set-cookie"].lower()
    home = client.get(f"{sp.url}/")
    assert 'id="username">alice<' in home.text and 'id="via">SAML<' in home.text
    me = client.get(f"{sp.url}/api/v1/me")
    assert me.status_code == 200 and me.json()["authenticated_via"] == "session"
    with transaction() as s:
        alice = s.scalar(select(User).where(User.username == "alice"))
        assert alice is not None and (alice.issuer, alice.subject) == (keycloak.issuer, "alice")
        assert alice.email == "alice@example.org"
        org = s.scalar(select(Organisation).where(Organisation.slug == "demo-university"))
        assert org is not None and alice.organisation_id == org.id
        group = s.scalar(select(Group).where(Group.source == "saml"))
        assert group is not None and group.name == "saml/127.0.0.1/researchers"
        assert s.get(GroupMember, (group.id, alice.id)) is not None
        row = s.scalar(select(SamlRequest))
        assert row is not None and row.used_at is not None and row.completed_at is not None
        login = s.scalar(select(AuditEvent).where(AuditEvent.action == "user.saml-login"))
        assert login is not None and login.summary["affiliations"] == ["member@demo-university"]


def test_a_replayed_response_is_refused(sp: SamlService) -> None:
    client, _ = browser()
    response = fresh_response(sp, client)
    assert post_acs(client, sp, response).status_code == 303
    refused(post_acs(client, sp, response), "used already")
    other, _ = browser()
    refused(post_acs(other, sp, response), "used already")


def test_an_unsigned_response_is_refused(sp: SamlService) -> None:
    client, _ = browser()
    root = ElementTree.fromstring(xml_of(fresh_response(sp, client)))
    removed = 0
    for parent in list(root.iter()):
        for child in list(parent):
            if child.tag == DSIG:
                parent.remove(child)
                removed += 1
    assert removed == 2
    from xml.etree.ElementTree import tostring

    refused(post_acs(client, sp, encoded(tostring(root, encoding="unicode"))), "Signature missing")


def test_a_tampered_assertion_is_refused(sp: SamlService) -> None:
    client, _ = browser()
    xml = xml_of(fresh_response(sp, client))
    tampered, count = re.subn(r"(<saml:AttributeValue[^>]*>)alice(</saml:AttributeValue>)", r"\1admin\2", xml)
    assert count == 1, xml
    answer = post_acs(client, sp, encoded(tampered))
    refused(answer, "Failed to verify signature")
    with transaction() as s:
        assert s.scalar(select(SamlRequest.used_at)) is None, "a refused response does not use up the request"


def test_unsolicited_responses_are_refused(sp: SamlService) -> None:
    client, _ = browser()
    response = fresh_response(sp, client)
    with transaction() as s:
        s.execute(delete(SamlRequest))
    refused(post_acs(client, sp, response), "unsolicited")
    xml = re.sub(r' InResponseTo="[^"]*"', "", xml_of(fresh_response(sp, client)), count=1)
    refused(post_acs(client, sp, encoded(xml)), "unsolicited")


def test_a_response_for_another_audience_is_refused(sp: SamlService, kc_admin: KeycloakAdminApi) -> None:
    other = sp.entity_id.replace("/saml/metadata", "/another-sp")
    register_sp(kc_admin, other, sp.acs)
    try:
        with transaction() as s:
            _request_id, location = saml.start_login(
                s, "/", get_settings().model_copy(update={"saml_sp_entity_id": other})
            )
        client, _ = browser()
        start = httpx.Response(303, headers={"location": location})
        action, response = idp_response(client, start)
        assert action == sp.acs and f"<saml:Audience>{other}</saml:Audience>" in xml_of(response)
        refused(post_acs(client, sp, response), "AudienceRestrictions conditions not satisfied")
    finally:
        kc_admin.delete_client(other)


def test_a_response_posted_through_another_browser_is_refused(sp: SamlService) -> None:
    attacker, _ = browser()
    response = fresh_response(sp, attacker)
    victim, victim_cookies = browser()
    accepted = post_acs(victim, sp, response)  # e.g. an auto-submitting form on the attacker's page
    assert accepted.status_code == 303
    answer = victim.get(f"{sp.url}{accepted.headers['location']}")
    refused(answer, "started in another browser")
    assert cookie_value(victim_cookies, "governance_session") is None


def test_a_response_to_an_expired_request_is_refused(sp: SamlService) -> None:
    client, _ = browser()
    response = fresh_response(sp, client)
    with transaction() as s:
        s.execute(update(SamlRequest).values(created_at=utcnow() - timedelta(minutes=20)))
    refused(post_acs(client, sp, response), "expired")


def test_a_suspended_user_is_refused_at_the_acs(sp: SamlService) -> None:
    with transaction() as s:
        s.execute(update(User).where(User.username == "alice").values(status="suspended"))
    client, cookies = browser()
    answer = post_acs(client, sp, fresh_response(sp, client))
    assert answer.status_code == 403 and "your account is suspended" in answer.text
    assert cookie_value(cookies, "governance_session") is None
