"""Evaluation: per-safe verdicts, reasons from annotations, and failures that deny instead of allowing."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cedarpy

from governance.decisions.engine import ERROR_REASON, PolicyEngine
from governance.decisions.situation import SAFES, LaunchSituation

Make = Callable[..., LaunchSituation]

OVERFLOW = """
@id("people-overflows")
@safe("people")
@reason("this text is never shown, the policy fails before it can apply")
forbid (principal is User, action == Action::"launch:people", resource)
when { Launch::"launch".mfaTier * 9223372036854775807 > 0 };
"""


def test_the_baseline_is_allowed_on_every_safe(engine: PolicyEngine, make_situation: Make) -> None:
    verdict = engine.evaluate(make_situation())
    assert verdict.allowed
    assert list(verdict.safes) == list(SAFES)
    assert all(v.allowed and v.reasons == [] and v.policies == [] for v in verdict.safes.values())
    assert verdict.policy_version == engine.version
    assert verdict.errors == []
    assert json.loads(json.dumps(verdict.to_dict()))["safes"]["data"] == {
        "allowed": True,
        "reasons": [],
        "policies": [],
    }


def test_cedar_itself_allows_when_a_forbid_fails_to_evaluate() -> None:
    """The hazard the engine guards against: Cedar skips an erroring forbid and answers Allow."""
    policies = (
        "permit (principal, action, resource);\n"
        "forbid (principal, action, resource) when { 3 * 9223372036854775807 > 0 };"
    )
    request: dict[str, Any] = {
        "principal": 'User::"a"',
        "action": 'Action::"a"',
        "resource": 'User::"a"',
        "context": {},
    }
    result = cedarpy.is_authorized(request, policies, "[]")
    assert result.decision == cedarpy.Decision.Allow and result.diagnostics.errors


def test_a_forbid_that_fails_to_evaluate_denies_its_safe(policy_copy: Path, make_situation: Make) -> None:
    (policy_copy / "local.cedar").write_text(OVERFLOW, encoding="utf-8")
    engine = PolicyEngine.from_directory(policy_copy)
    verdict = engine.evaluate(make_situation())
    assert not verdict.allowed
    people = verdict.safes["people"]
    assert not people.allowed
    assert people.reasons == [ERROR_REASON.format(safe="people", detail="error in policy people-overflows")]
    assert people.policies == []
    assert any("people-overflows" in e and "overflow" in e for e in verdict.errors)
    assert all(verdict.safes[s].allowed for s in ("projects", "data", "settings"))


def test_an_erroring_forbid_does_not_hide_other_reasons(policy_copy: Path, make_situation: Make) -> None:
    (policy_copy / "local.cedar").write_text(OVERFLOW, encoding="utf-8")
    engine = PolicyEngine.from_directory(policy_copy)
    verdict = engine.evaluate(make_situation({"user": {"status": "suspended"}}))
    reasons = verdict.safes["people"].reasons
    assert reasons[0].startswith("your account is suspended")
    assert reasons[1].startswith(
        "the people policy could not be evaluated (error in policy people-overflows)"
    )


def test_reasons_are_listed_in_policy_file_order(engine: PolicyEngine, make_situation: Make) -> None:
    situation = make_situation({"user": {"status": "suspended", "accreditations": [], "agreements": []}})
    for _ in range(5):
        assert engine.evaluate(situation).safes["people"].policies == [
            "people-account-not-active",
            "people-no-accreditation",
            "people-no-agreement",
        ]


def test_each_dataset_is_judged_separately(engine: PolicyEngine, make_situation: Make) -> None:
    situation = make_situation(
        {
            "grants": {"census-extract": {"revoked_at": "2025-05-20"}},
            "request": {"datasets": ["hospital-episodes", "census-extract", "nope", "hospital-episodes"]},
        }
    )
    data = engine.evaluate(situation).safes["data"]
    assert data.reasons == [
        "access of project diabetes-outcomes to dataset census-extract was revoked on 2025-05-20",
        "dataset nope is not available to project diabetes-outcomes",
    ]
    assert data.policies == ["data-grant-revoked", "data-not-available"]


def test_absurd_amounts_are_clamped_not_crashing(engine: PolicyEngine, make_situation: Make) -> None:
    huge = engine.evaluate(
        make_situation({"request": {"cpu": 1e300, "memory_gb": float("inf"), "gpu": 10**30}})
    )
    assert huge.errors == []
    assert huge.safes["settings"].policies == [
        "settings-cpu-above-profile",
        "settings-memory-above-profile",
        "settings-gpu-above-profile",
    ]
    nan = engine.evaluate(make_situation({"request": {"cpu": float("nan")}}))
    assert nan.safes["settings"].policies == ["settings-invalid-resources"]


def test_naive_datetimes_are_taken_as_utc(engine: PolicyEngine, make_situation: Make) -> None:
    aware = make_situation({"grants": {"hospital-episodes": {"expires_at": "2025-06-01T12:00:01Z"}}})
    naive = make_situation(
        {"now": "2025-06-01T12:00:00", "grants": {"hospital-episodes": {"expires_at": "2025-06-01T12:00:01"}}}
    )
    assert engine.evaluate(aware).allowed and engine.evaluate(naive).allowed
    later = make_situation(
        {"now": "2025-06-01T12:00:01", "grants": {"hospital-episodes": {"expires_at": "2025-06-01T12:00:01"}}}
    )
    assert engine.evaluate(later).safes["data"].policies == ["data-grant-expired"]
