"""Researchers asking for data and the launch readiness it changes, in a real browser: alice requests a
dataset (bad input first, in the API's words), sam approves it in the queue, alice's launch readiness
now includes it, sam revokes the grant (a reason is required) and it is gone — axe on every new page."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import Page

from tests.web.conftest import sign_in
from tests.web.test_pages import check_page

NewPage = Callable[[], Page]


def ready_datasets(page: Page) -> str:
    page.goto("/projects/diabetes-outcomes")
    return page.inner_text("#readiness-standard .ready-datasets")


def test_request_approve_readiness_revoke(new_page: NewPage) -> None:
    alice = new_page()
    sign_in(alice, "alice")
    # The catalogue and one dataset.
    alice.goto("/datasets")
    assert "Census 2021 microdata extract" in alice.inner_text("#datasets")
    check_page(alice, "datasets")
    alice.goto("/datasets/hospital-episodes")
    assert alice.inner_text("#custodian") == "sam"
    assert "Diabetes outcomes" in alice.inner_text("#grants")
    check_page(alice, "dataset-detail")
    # Launch readiness per profile and Safe, before the request.
    before = ready_datasets(alice)
    assert "census-extract" not in before and "hospital-episodes" in before
    assert alice.locator("#readiness-standard tr[data-safe]").count() == 4
    check_page(alice, "project-readiness")
    # A request with nothing filled in re-renders with each problem beside its field.
    alice.goto("/access-requests/new?project=diabetes-outcomes")
    check_page(alice, "access-request-new")
    alice.click("#send-request")
    assert alice.locator("#e-dataset").is_visible() and alice.locator("#e-justification").is_visible()
    assert alice.input_value("#f-project") == "diabetes-outcomes"
    check_page(alice, "access-request-errors")
    alice.select_option("#f-dataset", "census-extract")
    alice.fill("#f-justification", "Area-level deprivation as a confounder.")
    alice.fill("#f-ends_on", "2020-01-01")
    alice.click("#send-request")
    assert "expires_at must be in the future" in alice.inner_text("#e-ends_on")
    assert alice.input_value("#f-justification") == "Area-level deprivation as a confounder."
    alice.fill("#f-ends_on", "")
    alice.click("#send-request")
    assert "access request was sent" in alice.inner_text("#done")
    assert "Census 2021 microdata extract: pending" in alice.inner_text("#access-requests")
    # Asking twice is refused in the API's words.
    alice.goto("/access-requests/new?project=diabetes-outcomes&dataset=census-extract")
    alice.fill("#f-justification", "Again.")
    alice.click("#send-request")
    assert "already has a pending request" in alice.inner_text("#access-form")
    # Sam approves it in the queue.
    sam = new_page()
    sign_in(sam, "sam")
    sam.goto("/queues/access-requests?dataset=census-extract")
    row = sam.locator("tr[data-id]", has_text="Census 2021 microdata extract")
    assert row.count() == 1
    row.locator("button[data-action=approve]").click()
    assert "approved and the grant created" in sam.inner_text("#done")
    # Alice's launch readiness now includes the dataset.
    assert "census-extract" in ready_datasets(alice)
    assert alice.get_attribute("#readiness-standard", "data-allowed") in {"yes", "no"}
    # Sam revokes the grant: a reason is required, then it is revoked.
    sam.goto("/datasets/census-extract")
    grant = sam.locator("#grants tr[data-id]").first
    assert grant.locator(".grant-state").inner_text() == "active"
    grant.locator("textarea[name=note]").evaluate("e => e.removeAttribute('required')")
    grant.locator("button[data-action=revoke]").click()
    assert "say why the grant is revoked" in sam.inner_text("#grants")
    check_page(sam, "dataset-grants-steward")
    sam.locator("#grants tr[data-id] textarea[name=note]").first.fill("The project no longer needs it.")
    sam.locator("#grants tr[data-id] button[data-action=revoke]").first.click()
    assert "The grant was revoked" in sam.inner_text("#done")
    assert sam.locator("#grants tr[data-id] .grant-state").first.inner_text() == "revoked"
    # Gone from alice's readiness.
    assert "census-extract" not in ready_datasets(alice)


def test_project_grant_buttons_match_the_api(new_page: NewPage) -> None:
    sam = new_page()
    sign_in(sam, "sam")
    sam.goto("/datasets/hospital-episodes")
    rows = sam.locator("#grants tr[data-id]")
    assert rows.count() >= 1
    for index in range(rows.count()):
        row = rows.nth(index)
        api = sam.request.get(f"/api/v1/grants/{row.get_attribute('data-id')}").json()
        enabled = row.locator("button[data-action]:not([disabled])").evaluate_all(
            "els => els.map(e => e.dataset.action)"
        )
        disabled = row.locator("button[data-action][disabled]").evaluate_all(
            "els => els.map(e => e.dataset.action)"
        )
        assert enabled == api["allowed_actions"]
        assert disabled == [u["action"] for u in api["unavailable_actions"]]
    # A researcher sees the grant with no button to revoke it (not her scope).
    alice = new_page()
    sign_in(alice, "alice")
    alice.goto("/datasets/hospital-episodes")
    assert alice.locator("#grants button[data-action]").count() == 0
