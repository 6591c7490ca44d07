"""Every YAML scenario under policies/tests passes, and the scenarios cover every forbid policy."""

from __future__ import annotations

from pathlib import Path

import pytest

from governance.decisions.engine import PolicyEngine
from governance.decisions.scenarios import (
    Scenario,
    ScenarioError,
    check_scenario,
    format_results,
    load_scenarios,
    run_scenarios,
)

POLICY_DIR = Path(__file__).resolve().parents[2] / "policies"
SCENARIOS = load_scenarios(POLICY_DIR / "tests")


def test_there_are_enough_scenarios_in_several_files() -> None:
    assert len(SCENARIOS) >= 25
    assert len({s.file for s in SCENARIOS}) >= 4


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[f"{s.file}:{s.name}" for s in SCENARIOS])
def test_scenario(engine: PolicyEngine, scenario: Scenario) -> None:
    result = check_scenario(engine, scenario)
    assert result.passed, "\n".join(result.failures)


def test_every_forbid_policy_is_exercised_by_a_scenario(engine: PolicyEngine) -> None:
    verdicts = [engine.evaluate(s.situation) for s in SCENARIOS]
    applied = {p for verdict in verdicts for safe in verdict.safes.values() for p in safe.policies}
    forbids = {p.id for p in engine.policies.values() if p.effect == "forbid"}
    assert forbids - applied == set()


def test_every_forbid_policy_is_named_in_an_expectation(engine: PolicyEngine) -> None:
    named = {p for s in SCENARIOS for ids in (s.expect.get("policies") or {}).values() for p in ids}
    forbids = {p.id for p in engine.policies.values() if p.effect == "forbid"}
    assert forbids - named == set()


def test_a_wrong_expectation_is_reported(engine: PolicyEngine, tmp_path: Path) -> None:
    (tmp_path / "wrong.yaml").write_text(
        "scenarios:\n"
        "  - name: suspended but expected to pass\n"
        "    given: {user: {status: suspended}}\n"
        "    expect: {allowed: true, reasons: {people: [no such words]}}\n",
        encoding="utf-8",
    )
    [result] = run_scenarios(engine, tmp_path)
    assert not result.passed
    assert result.expected["people"] is True and result.actual["people"] is False
    assert any("people: expected allow, got deny" in f for f in result.failures)
    assert any("no such words" in f for f in result.failures)
    report = format_results([result])
    assert report.startswith("FAIL  wrong.yaml: suspended but expected to pass")
    assert report.endswith("0 passed, 1 failed, 1 scenarios")


def test_obligation_expectations_are_checked(engine: PolicyEngine, tmp_path: Path) -> None:
    (tmp_path / "obligations.yaml").write_text(
        "scenarios:\n  - name: wrong expiry\n    expect: {obligations: {expires_at: now+1h, cpu_limit: 3}}\n",
        encoding="utf-8",
    )
    [result] = run_scenarios(engine, tmp_path)
    assert not result.passed
    assert [f.split(":")[0] for f in result.failures] == ["obligations.expires_at", "obligations.cpu_limit"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "scenarios:\n  - name: a\n    given: {user: {stauts: x}}\n",
            "bad.yaml: scenario 'a': user: unknown field(s) stauts",
        ),
        (
            "scenarios:\n  - name: a\n    expect: {people: maybe}\n",
            "bad.yaml: scenario 'a': expect.people must be allow or deny",
        ),
        (
            "scenarios:\n  - name: a\n    given: {now: yesterday}\n",
            "bad.yaml: scenario 'a': now: 'yesterday' is not a date",
        ),
        ("scenarios:\n  - name: a\n  - name: a\n", "bad.yaml: scenario 'a': the name is used twice"),
        ("scenarios: [\n", "bad.yaml: not valid YAML"),
    ],
)
def test_malformed_scenario_files_name_the_file_and_scenario(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "bad.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(ScenarioError) as caught:
        load_scenarios(tmp_path)
    assert str(caught.value).startswith(message)


def test_the_fast_engine_agrees_with_the_schema_checked_one(engine: PolicyEngine) -> None:
    fast = PolicyEngine.from_directory(POLICY_DIR)
    assert not fast.strict and engine.strict
    for scenario in SCENARIOS:
        assert fast.evaluate(scenario.situation).to_dict() == engine.evaluate(scenario.situation).to_dict()
