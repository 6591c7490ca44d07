"""/me in a real browser: profile, roles, accreditations with expiry ("renew it"), agreements,
memberships, invitations answered with the membership lifecycle's buttons, API tokens revoked with the
token lifecycle's button (equal to the API's allowed_actions); zero axe violations."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import Page

from tests.web.conftest import sign_in
from tests.web.test_pages import check_page

NewPage = Callable[[], Page]
API = "/api/v1"


def _csrf(page: Page) -> dict[str, str]:
    return {"X-Requested-With": "fetch"}


def test_me_shows_credentials_and_revokes_a_token(new_page: NewPage) -> None:
    bob = new_page()
    sign_in(bob, "bob")
    created = bob.request.post(
        f"{API}/tokens",
        data={"name": "notebook", "scopes": ["read:projects"], "expires_in_hours": 24},
        headers=_csrf(bob),
    )
    assert created.status == 201, created.text()
    bob.goto("/me")
    assert "bob" in bob.inner_text("#profile") and "researcher" in bob.inner_text("#me-roles")
    # bob's accreditation expired 30 days ago (the demo seed): the page says so and what to do.
    accreditations = bob.inner_text("#accreditations-table")
    assert "expired on" in accreditations and "renew it" in accreditations
    assert "diabetes" in bob.inner_text("#memberships-table").lower()
    check_page(bob, "me-bob")
    # The token's buttons are the API's allowed_actions for it.
    tokens = bob.request.get(f"{API}/tokens").json()
    token = next(t for t in tokens if t["name"] == "notebook")
    row = bob.locator("#tokens-table tr", has_text="notebook")
    enabled = row.locator("button[data-action]:not([disabled])").evaluate_all(
        "els => els.map(e => e.dataset.action)"
    )
    assert enabled == token["allowed_actions"] == ["revoke"]
    row.locator("button[data-action='revoke']").click()
    assert "revoked" in bob.inner_text("#done")
    row = bob.locator("#tokens-table tr", has_text="notebook")
    assert "revoked" in row.inner_text() and row.locator("button[data-action='revoke']").count() == 0
    after = next(t for t in bob.request.get(f"{API}/tokens").json() if t["id"] == token["id"])
    assert after["status"] == "revoked"


def test_me_answers_an_invitation(new_page: NewPage) -> None:
    alice = new_page()
    sign_in(alice, "alice")
    invited = alice.request.post(
        f"{API}/projects/school-attainment/members",
        data={"username": "carol", "role": "researcher"},
        headers=_csrf(alice),
    )
    assert invited.status == 201, invited.text()
    carol = new_page()
    sign_in(carol, "carol")
    carol.goto("/me")
    row = carol.locator("#invitations-table tr", has_text="School attainment")
    assert row.locator("button[data-action='accept']").is_enabled()
    assert row.locator("button[data-action='decline']").is_enabled()
    check_page(carol, "me-invitation")
    row.locator("button[data-action='accept']").click()
    carol.wait_for_url("**/projects/school-attainment?done=accept*")
    carol.goto("/me")
    assert carol.locator("#invitations-table").count() == 0
    assert "requested" in carol.inner_text("#memberships-table")


def test_me_needs_a_session(new_page: NewPage, server: str) -> None:
    import httpx

    r = httpx.get(f"{server}/me")
    assert r.status_code == 401 and "sign-in-again" in r.text
    r = httpx.post(f"{server}/me/tokens/00000000-0000-0000-0000-000000000000/revoke")
    assert r.status_code in (401, 403) and "<html" in r.text
