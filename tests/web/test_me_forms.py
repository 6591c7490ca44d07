"""/me's forms in a real browser: record an accreditation (it awaits verification), sign the current
data-use agreement, create an API token with some of one's own scopes (its secret shown once, never in a URL,
`Cache-Control: no-store`). Bad input re-renders with the person's input and each problem beside its field
in the API's words; every state passes axe-core with zero violations."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from playwright.sync_api import Page

from governance.config import get_settings
from tests.web.conftest import sign_in
from tests.web.test_pages import check_page

NewPage = Callable[[], Page]
API = "/api/v1"


def _me(page: Page) -> dict[str, str]:
    me = page.request.get(f"{API}/me")
    assert me.ok, me.text()
    data: dict[str, str] = me.json()
    return data


def test_record_an_accreditation(new_page: NewPage) -> None:
    carol = new_page()
    sign_in(carol, "carol")
    carol.goto("/me")
    check_page(carol, "me-forms-carol")
    # Nothing filled in: each problem beside its field, in the API's words; nothing recorded.
    carol.fill("#acc-kind", "Not A Slug")
    carol.click("#record-accreditation-button")
    assert carol.locator("#acc-e-kind").is_visible() and carol.locator("#acc-e-issuer").is_visible()
    assert "give the date it was awarded" in carol.inner_text("#acc-e-awarded_on")
    assert carol.input_value("#acc-kind") == "Not A Slug"
    assert carol.get_attribute("#acc-issuer", "aria-invalid") == "true"
    check_page(carol, "me-accreditation-errors")
    # Expiry before the award: the model's own rule, beside the expiry field; the input is kept.
    carol.fill("#acc-kind", "safe-researcher-plus")
    carol.fill("#acc-issuer", "UK Data Service")
    carol.fill("#acc-awarded_on", "2026-03-01")
    carol.fill("#acc-expires_on", "2025-03-01")
    carol.fill("#acc-evidence_ref", "UKDS-991")
    carol.click("#record-accreditation-button")
    assert "expires_at must be after awarded_at" in carol.inner_text("#acc-e-expires_on")
    assert carol.input_value("#acc-evidence_ref") == "UKDS-991"
    # Good input: recorded by the API's service, shown as awaiting verification.
    carol.fill("#acc-expires_on", "2029-03-01")
    carol.click("#record-accreditation-button")
    assert "awaiting verification" in carol.inner_text("#done")
    row = carol.locator("#accreditations-table tr", has_text="safe-researcher-plus")
    assert "UKDS-991" in row.inner_text() and "waiting for a data steward" in row.inner_text()
    check_page(carol)
    user = _me(carol)
    listed = carol.request.get(f"{API}/users/{user['id']}/accreditations").json()["items"]
    mine = next(a for a in listed if a["kind"] == "safe-researcher-plus")
    assert mine["status"] == "unverified" and mine["evidence_ref"] == "UKDS-991"
    # The same again: the API's duplicate refusal, on the form, with the input kept.
    carol.fill("#acc-kind", "safe-researcher-plus")
    carol.fill("#acc-issuer", "UK Data Service")
    carol.fill("#acc-awarded_on", "2026-03-01")
    carol.click("#record-accreditation-button")
    assert "already recorded for carol" in carol.inner_text("#acc-e-_form")
    assert carol.input_value("#acc-issuer") == "UK Data Service"
    check_page(carol)


def test_sign_the_current_agreement(new_page: NewPage) -> None:
    olivia = new_page()  # the demo seed gives output checkers no agreement
    sign_in(olivia, "olivia")
    olivia.goto("/me")
    assert olivia.locator("#no-agreements").is_visible() and olivia.locator("#agreement-text").is_visible()
    # Not ticked: said beside the box; nothing signed.
    olivia.click("#sign-agreement-button")
    assert "tick the box" in olivia.inner_text("#agr-e-agree")
    assert olivia.locator("#agreements-table").count() == 0
    check_page(olivia, "me-agreement-errors")
    olivia.check("#agr-agree")
    olivia.click("#sign-agreement-button")
    assert "current version" in olivia.inner_text("#done")
    assert get_settings().agreement_version in olivia.inner_text("#agreements-table")
    assert olivia.locator("#signed-current").is_visible() and olivia.locator("#agreement-form").count() == 0
    check_page(olivia, "me-agreement-signed")
    user = _me(olivia)
    signed = olivia.request.get(f"{API}/users/{user['id']}/agreements").json()["items"]
    assert [(a["version"], a["status"]) for a in signed] == [(get_settings().agreement_version, "in_force")]


def test_create_a_token_shown_once(new_page: NewPage, server: str) -> None:
    alice = new_page()
    sign_in(alice, "alice")
    alice.goto("/me")
    own = alice.locator("#tok-scopes input[name='scopes']").evaluate_all("els => els.map(e => e.value)")
    assert own == sorted(_me(alice)["scopes"])  # only the person's own scopes are offered
    # No name and no permission: both said beside their fields.
    alice.click("#create-token-button")
    assert alice.locator("#tok-e-name").is_visible()
    assert "at least one permission" in alice.inner_text("#tok-e-scopes")
    check_page(alice, "me-token-errors")
    # A scope she does not hold (a tampered form) and a lifetime beyond the service's bound: refused.
    alice.fill("#tok-name", "analysis")
    alice.evaluate(
        """() => { const box = document.querySelector("#tok-scope-1").cloneNode();
        box.id = "tok-scope-x"; box.value = "approve:projects"; box.checked = true;
        document.querySelector("#tok-scopes").appendChild(box); }"""
    )
    alice.click("#create-token-button")
    assert "not: approve:projects" in alice.inner_text("#tok-e-scopes")
    assert alice.input_value("#tok-name") == "analysis"
    alice.check("#tok-scopes input[value='read:projects']")
    alice.fill("#tok-expires_in_hours", "5000")
    alice.click("#create-token-button")
    assert "a token may live at most" in alice.inner_text("#tok-e-expires_in_hours")
    assert alice.is_checked("#tok-scopes input[value='read:projects']")
    # Good input: the secret is shown once, on the POST's response, not in the URL, never cached.
    alice.fill("#tok-expires_in_hours", "2")
    with alice.expect_response(lambda r: r.url.endswith("/me/tokens") and r.request.method == "POST") as info:
        alice.click("#create-token-button")
    response = info.value
    assert response.status == 201 and response.headers["cache-control"] == "no-store"
    secret = alice.input_value("#new-token")
    assert secret and secret not in alice.url
    check_page(alice, "me-token-created")
    bearer = {"Authorization": f"Bearer {secret}"}
    assert httpx.get(f"{server}{API}/projects", headers=bearer).status_code == 200
    assert httpx.get(f"{server}{API}/me", headers=bearer).status_code == 403  # only the scope chosen
    tokens = alice.request.get(f"{API}/tokens").json()
    token = next(t for t in tokens if t["name"] == "analysis")
    assert token["scopes"] == ["read:projects"] and "token" not in token
    # Never again: the page afterwards lists it by its prefix only.
    alice.goto("/me")
    assert secret not in alice.content() and alice.locator("#token-created").count() == 0
    assert token["prefix"] in alice.inner_text("#tokens-table")


def test_me_forms_need_the_csrf_token(new_page: NewPage, server: str) -> None:
    bob = new_page()
    sign_in(bob, "bob")
    cookies = {c["name"]: c["value"] for c in bob.context.cookies()}
    posts = {
        "/me/accreditations": {"kind": "x", "issuer": "x", "awarded_on": "2026-01-01"},
        "/me/agreements": {"version": get_settings().agreement_version, "agree": "yes"},
        "/me/tokens": {"name": "x", "scopes": "read:projects", "expires_in_hours": "1"},
    }
    for path, form in posts.items():
        r = httpx.post(f"{server}{path}", data=form, cookies=cookies)
        assert r.status_code == 403 and "CSRF token" in r.text and "<html" in r.text, path
    assert not [t for t in bob.request.get(f"{API}/tokens").json() if t["name"] == "x"]
