"""How the engine asks Cedar: per-safe policy sets and reused entity parses change no answer."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cedarpy

from governance.decisions.engine import PolicyEngine
from governance.decisions.scenarios import load_scenarios
from governance.decisions.situation import LaunchSituation, cedar_batch

POLICY_DIR = Path(__file__).resolve().parents[2] / "policies"
SCENARIOS = load_scenarios(POLICY_DIR / "tests")


def _answer(result: Any) -> tuple[str, list[str], int]:
    diagnostics = result.diagnostics
    ids = diagnostics.id_annotations_by_reason
    return result.decision.value, sorted(ids.get(r, r) for r in diagnostics.reasons), len(diagnostics.errors)


def test_per_safe_policy_sets_answer_like_one_combined_set(engine: PolicyEngine) -> None:
    """Every scenario gets the same Cedar answers as all policies in one set, with entities given as text."""
    texts = [path.read_text(encoding="utf-8") for path in sorted(POLICY_DIR.glob("*.cedar"))]
    combined = cedarpy.PolicySet.from_str("\n".join(texts))
    schema = cedarpy.Schema.from_str((POLICY_DIR / "schema.cedarschema").read_text(encoding="utf-8"))
    denied = 0
    for scenario in SCENARIOS:
        prepared = cedar_batch(scenario.situation)
        expected = cedarpy.is_authorized_batch(prepared.requests, combined, prepared.entities, schema)
        actual = engine.authorize(prepared)
        assert [_answer(r) for r in actual] == [_answer(r) for r in expected], scenario.name
        denied += sum(r.decision == cedarpy.Decision.Deny for r in actual)
    assert denied >= len(SCENARIOS) // 2


def test_a_reused_entity_parse_never_answers_for_changed_facts(
    make_situation: Callable[..., LaunchSituation],
) -> None:
    engine = PolicyEngine.from_directory(POLICY_DIR)
    allowed, suspended = make_situation(), make_situation({"project": {"status": "suspended"}})
    first = engine.evaluate(allowed)
    changed = engine.evaluate(suspended)
    again = engine.evaluate(allowed)
    assert first.allowed and again.allowed and again.to_dict() == first.to_dict()
    assert not changed.allowed and changed.safes["projects"].policies == ["projects-not-active"]
    assert engine._shared_entities.cache_info().hits >= 1  # the third launch reused the first one's parse


def test_the_entities_of_a_batch_are_both_documents_in_one(
    make_situation: Callable[..., LaunchSituation],
) -> None:
    known = cedar_batch(make_situation())
    assert _types(known.shared_entities) == ["Project", "Profile", "Dataset"]
    assert _types(known.launch_entities) == ["User", "Launch"]
    assert _types(known.entities) == ["Project", "Profile", "Dataset", "User", "Launch"]
    unknown = cedar_batch(
        make_situation({"user": None, "project": None, "request": {"profile": "nope", "datasets": []}})
    )
    assert unknown.shared_entities == "[]"
    assert _types(unknown.entities) == _types(unknown.launch_entities) == ["Launch"]
    assert len(cedarpy.Entities.from_json_str(unknown.entities)) == 1


def _types(document: str) -> list[str]:
    return [entity["uid"]["type"] for entity in json.loads(document)]
