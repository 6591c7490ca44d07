"""The pages in a real browser: the researcher/steward journey, buttons equal to the API's allowed_actions
(disabled ones with their reason), zero axe-core violations on every page, keyboard-only approval,
CSRF and visibility refusals as friendly pages, and screenshots into var/screenshots/."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page

from tests.harness.process import REPO_ROOT
from tests.web.conftest import sign_in

SHOTS = REPO_ROOT / "var" / "screenshots"  # the tests' pictures; `make screenshots` writes docs/
NewPage = Callable[[], Page]


def check_page(page: Page, name: str | None = None) -> None:
    """No axe-core violations; no traceback; optionally a full-page screenshot."""
    results = Axe().run(page)
    assert results.violations_count == 0, results.generate_report()
    assert "Traceback" not in page.content()
    if name:
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def assert_buttons_match_api(page: Page, slug: str) -> None:
    api = page.request.get(f"/api/v1/projects/{slug}").json()
    section = page.locator("[data-actions='']").first
    enabled = section.locator("button[data-action]:not([disabled])").evaluate_all(
        "els => els.map(e => e.dataset.action)"
    )
    disabled = section.locator("button[data-action][disabled]").evaluate_all(
        "els => els.map(e => e.dataset.action)"
    )
    assert enabled == api["allowed_actions"]
    assert disabled == [u["action"] for u in api["unavailable_actions"]]
    for u in api["unavailable_actions"]:
        button = section.locator(f"button[data-action='{u['action']}']")
        described = button.get_attribute("aria-describedby")
        assert described and u["reason"] in page.inner_text(f"#{described}")


def test_start_page_offers_dev_sign_in_and_accessible(new_page: NewPage) -> None:
    page = new_page()
    page.goto("/")
    assert page.locator("#sign-in-alice").is_visible() and page.locator("#sign-in-sam").is_visible()
    check_page(page, "start")


def test_journey_apply_approve_return_fix_resubmit_approve(new_page: NewPage) -> None:
    alice = new_page()
    sign_in(alice, "alice")
    assert "via dev sign-in" in alice.inner_text("#who") and alice.inner_text("#mfa") == "no"
    check_page(alice, "my-tasks-alice")
    # A tier-2 draft with sections missing saves; bad input re-renders with the person's input kept.
    alice.goto("/projects/new")
    check_page(alice, "project-new")
    alice.fill("#f-slug", "Bad Slug!")
    alice.fill("#f-title", "Kidney outcomes")
    alice.select_option("#f-tier", "2")
    alice.click("#save")
    assert alice.locator("#e-slug").is_visible() and alice.input_value("#f-title") == "Kidney outcomes"
    check_page(alice, "project-form-errors")
    alice.fill("#f-slug", "kidney-outcomes")
    alice.click("#save")
    assert "The draft was saved" in alice.inner_text("#done")
    assert "summary in plain words" in alice.inner_text("#missing")
    assert "fill in lay_summary" in alice.inner_text("#why-submit")
    assert_buttons_match_api(alice, "kidney-outcomes")
    check_page(alice, "project-draft")
    # Complete and submit.
    alice.click("#edit")
    alice.fill("#f-lay_summary", "How kidney care changes outcomes.")
    alice.fill("#f-purpose", "Cohort study.")
    alice.fill("#f-public_benefit", "Better kidney care.")
    alice.fill("#f-ends_on", "2030-12-31")
    alice.click("#save")
    alice.click("#button-submit")
    assert alice.inner_text("#status") == "submitted"
    # Sam approves; a second steward is still needed, and the disabled approve button says why.
    sam = new_page()
    sign_in(sam, "sam")
    assert "Kidney outcomes" in sam.inner_text("#tasks-review")
    check_page(sam, "my-tasks-sam")
    sam.goto("/queues/projects")
    check_page(sam, "queue-projects")
    sam.click("text=Kidney outcomes")
    assert_buttons_match_api(sam, "kidney-outcomes")
    sam.click("#button-approve")
    assert sam.inner_text("#status") == "in review"
    assert "1 of 2 approvals (by sam)" in sam.inner_text("#approvals")
    assert "another steward must approve it too" in sam.inner_text("#why-approve")
    assert_buttons_match_api(sam, "kidney-outcomes")
    check_page(sam, "project-review-sam")
    # Stella returns it; without a note she is told why, in the API's words, and nothing moves.
    stella = new_page()
    sign_in(stella, "stella")
    stella.goto("/projects/kidney-outcomes")
    stella.evaluate("document.querySelector('#note-return').removeAttribute('required')")
    stella.click("#button-return")
    assert "say why when you return a project" in stella.inner_text("#note-error-return")
    assert stella.inner_text("#status") == "in review"
    stella.fill("#note-return", "Please name the ethics committee.")
    stella.click("#button-return")
    assert stella.inner_text("#status") == "returned"
    # Alice sees the note and the task to fix it.
    alice.goto("/")
    assert "Fix the returned application: Kidney outcomes" in alice.inner_text("#tasks-fix")
    alice.goto("/projects/kidney-outcomes")
    assert "Please name the ethics committee." in alice.inner_text("#returned-note")
    assert_buttons_match_api(alice, "kidney-outcomes")
    check_page(alice, "project-returned")
    alice.goto("/projects")
    check_page(alice, "projects-list")
    # Alice fixes what the note asked for and resubmits.
    alice.goto("/projects/kidney-outcomes")
    alice.click("#edit")
    alice.fill("#f-ethics_ref", "NHS REC 26/LO/0042")
    alice.click("#save")
    assert "The application was saved" in alice.inner_text("#done")
    assert_buttons_match_api(alice, "kidney-outcomes")
    alice.click("#button-submit")
    assert alice.inner_text("#status") == "submitted"
    api = alice.request.get("/api/v1/projects/kidney-outcomes").json()
    assert api["status"] == "submitted" and api["ethics_ref"] == "NHS REC 26/LO/0042"
    # Sam and stella approve the resubmission: one approval is not enough for tier 2, two are.
    sam.goto("/projects/kidney-outcomes")
    assert_buttons_match_api(sam, "kidney-outcomes")
    sam.click("#button-approve")
    assert sam.inner_text("#status") == "in review"
    assert "1 of 2 approvals (by sam)" in sam.inner_text("#approvals")
    stella.goto("/projects/kidney-outcomes")
    assert_buttons_match_api(stella, "kidney-outcomes")
    stella.click("#button-approve")
    assert stella.inner_text("#status") == "approved"
    check_page(stella, "project-approved")
    alice.goto("/projects/kidney-outcomes")
    assert alice.inner_text("#status") == "approved"
    assert alice.request.get("/api/v1/projects/kidney-outcomes").json()["status"] == "approved"


def test_keyboard_only_approval(new_page: NewPage) -> None:
    sam = new_page()
    sign_in(sam, "sam")
    sam.goto("/projects/school-attainment")
    target = sam.locator("#button-approve")
    for _ in range(60):
        sam.keyboard.press("Tab")
        if target.evaluate("e => e === document.activeElement"):
            break
    else:
        raise AssertionError("the approve button cannot be reached with Tab")
    sam.keyboard.press("Enter")
    sam.wait_for_url("**/projects/school-attainment?done=approve")
    assert sam.inner_text("#status") == "approved"


def test_refusals_are_friendly_pages(new_page: NewPage, server: str) -> None:
    carol = new_page()
    sign_in(carol, "carol")
    response = carol.goto("/projects/diabetes-outcomes")  # not hers to see: 404, as the API says
    assert response is not None and response.status == 404
    assert "no project 'diabetes-outcomes' that you can see" in carol.inner_text("#message")
    check_page(carol, "error-not-found")
    # A form post without the page's CSRF token is refused and changes nothing.
    cookies = {c["name"]: c["value"] for c in carol.context.cookies()}
    r = httpx.post(f"{server}/projects/new", data={"slug": "x", "title": "x", "tier": "1"}, cookies=cookies)
    assert r.status_code == 403 and "CSRF token" in r.text and "<html" in r.text
    # Without a session a page asks to sign in again.
    r = httpx.get(f"{server}/projects")
    assert r.status_code == 401 and "sign-in-again" in r.text
    # Dev sign-in refuses unknown people.
    r = httpx.post(f"{server}/dev/sign-in", data={"username": "mallory"})
    assert r.status_code == 404
