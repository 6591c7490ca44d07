"""/simulate in a real browser: a steward asks "why can't this person launch?" and reads the per-Safe
verdict and obligations — the same answer as POST /api/v1/launch-decisions/simulate, nothing recorded;
bad input re-renders with each problem beside its field; the question lives in the URL."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from playwright.sync_api import Page

from tests.web.conftest import sign_in
from tests.web.test_pages import check_page

NewPage = Callable[[], Page]


def test_steward_simulates_a_launch(new_page: NewPage) -> None:
    sam = new_page()
    sign_in(sam, "sam")
    sam.click("a[href='/simulate']")
    check_page(sam)
    before = sam.request.get("/api/v1/launch-decisions").json()["items"]
    # bob's accreditation expired: refused by Safe people, with the reason, per Safe as the API says.
    sam.fill("#f-username", "bob")
    sam.fill("#f-project", "diabetes-outcomes")
    sam.select_option("#f-profile", "standard")
    sam.check("input[name=datasets][value='hospital-episodes']")
    sam.click("#ask")
    assert sam.locator("#verdict").get_attribute("data-allowed") == "no"
    assert sam.locator("#safe-people").get_attribute("data-allowed") == "no"
    assert "username=bob" in sam.url and "datasets=hospital-episodes" in sam.url  # bookmarkable
    api = sam.request.post(
        "/api/v1/launch-decisions/simulate",
        data={"username": "bob", "project": "diabetes-outcomes", "profile": "standard",
              "datasets": ["hospital-episodes"], "auth": {"mfa": False, "amr": ["pwd"]}},
        headers={"X-Requested-With": "fetch"},
    ).json()  # fmt: skip
    for safe, verdict in api["safes"].items():
        row = sam.locator(f"#safe-{safe}")
        assert row.get_attribute("data-allowed") == ("yes" if verdict["allowed"] else "no")
        for reason in verdict["reasons"]:
            assert reason in row.inner_text()
    check_page(sam, "simulate-refused")
    # alice may: allowed, with the obligations (what the workspace would get).
    sam.goto("/simulate?username=alice&project=diabetes-outcomes&profile=standard&datasets=hospital-episodes")
    assert sam.locator("#verdict").get_attribute("data-allowed") == "yes"
    assert "/data/hospital-episodes" in sam.inner_text("#obligations")
    check_page(sam, "simulate-allowed")
    # Nothing was recorded.
    assert sam.request.get("/api/v1/launch-decisions").json()["items"] == before


def test_bad_input_is_shown_beside_each_field(new_page: NewPage) -> None:
    stella = new_page()
    sign_in(stella, "stella")
    response = stella.goto("/simulate?username=nobody&project=no-such&profile=standard&client_ip=not-an-ip")
    assert response is not None and response.status == 422
    assert "there is no user 'nobody'" in stella.inner_text("#e-username")
    assert "there is no project 'no-such'" in stella.inner_text("#e-project")
    assert "not an IP address" in stella.inner_text("#e-client_ip")
    assert stella.input_value("#f-username") == "nobody"  # the input is kept
    assert stella.locator("#verdict").count() == 0
    check_page(stella, "simulate-errors")
    stella.goto("/simulate?username=alice&project=diabetes-outcomes")  # no profile chosen
    assert stella.locator("#e-profile").is_visible()


def test_simulate_is_for_stewards(new_page: NewPage, server: str) -> None:
    alice = new_page()
    sign_in(alice, "alice")
    assert alice.locator("a[href='/simulate']").count() == 0
    response = alice.goto("/simulate")
    assert response is not None and response.status == 403
    assert "simulate:launches" in alice.inner_text("#message")
    assert httpx.get(f"{server}/simulate").status_code == 401
