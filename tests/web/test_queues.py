"""The stewards' queues (memberships, access requests, accreditations) in a real browser: what waits,
buttons equal to the API's allowed_actions with disabled ones carrying their reason, a refusal in the API's
words, and My tasks' new items — with zero axe-core violations and screenshots into var/screenshots/."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from playwright.sync_api import Page

from tests.web.conftest import sign_in
from tests.web.test_pages import check_page

NewPage = Callable[[], Page]


def assert_rows_match_api(
    page: Page, api_item: Callable[[str], dict[str, Any]], has_text: str | None = None
) -> int:
    """Every queue row's buttons are the API's allowed_actions; disabled ones say the API's reason."""
    rows = page.locator("tr[data-id]", has_text=has_text)
    for index in range(rows.count()):
        row = rows.nth(index)
        item = api_item(str(row.get_attribute("data-id")))
        enabled = row.locator("button[data-action]:not([disabled])").evaluate_all(
            "els => els.map(e => e.dataset.action)"
        )
        disabled = row.locator("button[data-action][disabled]").evaluate_all(
            "els => els.map(e => e.dataset.action)"
        )
        assert enabled == item["allowed_actions"]
        assert disabled == [u["action"] for u in item["unavailable_actions"]]
        for u in item["unavailable_actions"]:
            described = row.locator(f"button[data-action='{u['action']}']").get_attribute("aria-describedby")
            assert described and u["reason"] in page.inner_text(f"#{described}")
    return int(rows.count())


def test_queues_show_what_waits_with_the_apis_buttons(new_page: NewPage) -> None:
    sam = new_page()
    sign_in(sam, "sam")
    for label in ("Memberships", "Access requests", "Accreditations"):
        assert sam.locator("nav[aria-label='Main']").get_by_role("link", name=label).count() == 1
    # Memberships: bob asked to join carol's tier-2 application.
    sam.goto("/queues/memberships")
    assert "Heart failure care pathways" in sam.inner_text("#queue")
    members = sam.request.get("/api/v1/projects/heart-failure-care/members").json()["items"]
    by_id = {m["id"]: m for m in members}
    assert assert_rows_match_api(sam, lambda i: by_id[i], "Heart failure care pathways") >= 1
    check_page(sam, "queue-memberships")
    # Access requests: bob's pending request for GP prescribing.
    sam.goto("/queues/access-requests")
    assert "GP prescribing records" in sam.inner_text("#queue")
    assert assert_rows_match_api(sam, lambda i: sam.request.get(f"/api/v1/access-requests/{i}").json()) >= 1
    check_page(sam, "queue-access-requests")
    # Filters live in the URL: a tier no pending request has empties the queue.
    sam.goto("/queues/access-requests?tier=0")
    assert sam.locator("#queue-empty").is_visible()
    # Accreditations: carol's renewal waits for verification (left waiting: other pages show it), and one
    # carol records now, which sam verifies here.
    carol = new_page()
    sign_in(carol, "carol")
    created = carol.request.post(
        "/api/v1/users/carol/accreditations",
        data={"kind": "data-protection", "issuer": "Demo University", "awarded_at": "2026-01-05T00:00:00Z",
              "evidence_ref": "DP-CAROL"},
        headers={"X-Requested-With": "fetch"},
    )  # fmt: skip
    assert created.status == 201, created.text()
    sam.goto("/queues/accreditations")
    accreditations = [
        a
        for user in ("bob", "carol")
        for a in sam.request.get(f"/api/v1/users/{user}/accreditations").json()["items"]
    ]
    by_id = {a["id"]: a for a in accreditations}
    assert assert_rows_match_api(sam, lambda i: by_id[i]) >= 2
    check_page(sam, "queue-accreditations")
    # Revoking without a reason is refused in the API's words; nothing moves.
    row = sam.locator("tr[data-id]", has_text="DP-CAROL")
    row.locator("textarea[name=note]").evaluate("e => e.removeAttribute('required')")
    row.locator("button[data-action=revoke]").click()
    assert "say why" in sam.inner_text("#queue")
    assert sam.locator("tr[data-id]", has_text="DP-CAROL").count() == 1
    # Verify it: it leaves the queue.
    sam.locator("tr[data-id]", has_text="DP-CAROL").locator("button[data-action=verify]").click()
    assert "The accreditation was verified." in sam.inner_text("#done")
    assert sam.locator("tr[data-id]", has_text="DP-CAROL").count() == 0
    assert sam.locator("tr[data-id]", has_text="SRS-CAROL-2026").count() == 1


def test_my_tasks_lists_decisions_and_what_ends_soon(new_page: NewPage) -> None:
    stella = new_page()
    sign_in(stella, "stella")
    assert "GP prescribing records" in stella.inner_text("#tasks-access")
    # Stella approved carol's application already: it waits on another steward, not on her.
    alice = new_page()
    sign_in(alice, "alice")
    assert "Air quality by postcode district ends on" in alice.inner_text("#tasks-expiring")
    check_page(alice)


def test_researchers_cannot_open_the_queues(new_page: NewPage) -> None:
    bob = new_page()
    sign_in(bob, "bob")
    response = bob.goto("/queues/access-requests")
    assert response is not None and response.status == 403
    assert "approve:access-requests" in bob.inner_text("#message")
    check_page(bob)
