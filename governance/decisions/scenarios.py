"""Policy scenario tests: YAML files that state a launch situation and the verdict expected for it.

A file holds ``scenarios:``, a list of ``{name, given, expect}``. ``given`` is merged into ``BASELINE``
(a launch that every default policy allows: alice, lead of diabetes-outcomes, opening hospital-episodes
in the standard profile); mappings merge key by key, anything else replaces, and ``null`` makes a fact
unknown (``user: null``, ``project: null``) or absent (``membership: null``). A file may carry its own
``baseline:`` overrides, merged before each scenario's ``given``.

Times are ISO dates or datetimes (UTC when no zone is written) or relative to ``now``:
``now``, ``now+30d``, ``now-2h``, ``now+15m``. ``expect`` holds:

``allowed``            overall verdict (default: every listed safe allowed and the rest too)
``people|projects|data|settings``  ``allow`` or ``deny`` (default ``allow``)
``reasons``            per safe, substrings that must each appear in one of that safe's reasons
``exact_reasons``      per safe, the complete list of reasons
``policies``           per safe, @ids of forbid policies that must have applied
``obligations``        a subset of ``compute_obligations(...).to_dict()`` that must match
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from governance.decisions.engine import PolicyEngine, Verdict
from governance.decisions.obligations import compute_obligations
from governance.decisions.situation import (
    SAFES,
    AccreditationFact,
    AgreementFact,
    AuthContext,
    DatasetFact,
    GrantFact,
    LaunchSituation,
    MembershipFact,
    ProfileFact,
    ProjectFact,
    RequestedResources,
    UserFact,
)

BASELINE: dict[str, Any] = {
    "now": "2025-06-01T12:00:00Z",
    "required_accreditation_kind": "safe-researcher",
    "mfa_tier": 3,
    "user": {
        "id": "u-alice",
        "username": "alice",
        "status": "active",
        "accreditations": [
            {
                "kind": "safe-researcher",
                "awarded_at": "2024-06-01",
                "expires_at": "2026-06-01",
                "verified": True,
            }
        ],
        "agreements": [{"version": "2024-1", "signed_at": "2024-06-02", "expires_at": "2026-06-02"}],
    },
    "project": {
        "id": "p-diabetes",
        "slug": "diabetes-outcomes",
        "status": "active",
        "tier": 2,
        "starts_on": "2025-01-01",
        "ends_on": "2026-12-31",
    },
    "membership": {"role": "lead", "status": "approved", "expires_at": None, "removed_at": None},
    "datasets": {
        "hospital-episodes": {"id": "d-he", "tier": 2, "status": "active", "title": "Hospital episodes"},
        "census-extract": {"id": "d-ce", "tier": 1, "status": "active", "title": "Census extract"},
        "gp-prescribing": {"id": "d-gp", "tier": 3, "status": "active", "title": "GP prescribing"},
    },
    "grants": {"hospital-episodes": {"expires_at": "2026-01-01", "revoked_at": None, "conditions": ""}},
    "profiles": {
        "standard": {
            "id": "f-standard",
            "image": "registry.example/tre/standard:1",
            "cpu": 4,
            "memory_gb": 16,
            "gpu": 0,
            "max_tier": 2,
            "egress": "none",
            "allowed_networks": [],
            "mfa_required": False,
            "max_session_hours": 8,
            "allowed_for_project": True,
        },
        "gpu-secure": {
            "id": "f-gpu",
            "image": "registry.example/tre/gpu:1",
            "cpu": 8,
            "memory_gb": 64,
            "gpu": 1,
            "max_tier": 3,
            "egress": "none",
            "allowed_networks": ["10.0.0.0/8"],
            "mfa_required": True,
            "max_session_hours": 4,
            "allowed_for_project": True,
        },
    },
    "request": {
        "user": None,  # defaults to user.username
        "project": "diabetes-outcomes",
        "profile": "standard",
        "datasets": ["hospital-episodes"],
        "client_ip": "10.1.2.3",
        "cpu": 2,
        "memory_gb": 8,
        "gpu": None,
    },
    "auth": {"mfa": False, "acr": None, "amr": ["pwd"]},
}

_RELATIVE = re.compile(r"^now\s*(?:([+-])\s*(\d+(?:\.\d+)?)\s*([dhms]))?$")
_UNITS = {"d": "days", "h": "hours", "m": "minutes", "s": "seconds"}
_EXPECT_KEYS = {"allowed", *SAFES, "reasons", "exact_reasons", "policies", "obligations"}


class ScenarioError(ValueError):
    """A scenario file that cannot be read; the message names the file and scenario."""


@dataclass(frozen=True, slots=True)
class Scenario:
    file: str
    name: str
    situation: LaunchSituation
    expect: dict[str, Any]


@dataclass(slots=True)
class ScenarioResult:
    file: str
    name: str
    passed: bool
    expected: dict[str, bool]
    actual: dict[str, bool]
    reasons: dict[str, list[str]]
    failures: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "name": self.name,
            "passed": self.passed,
            "expected": self.expected,
            "actual": self.actual,
            "reasons": self.reasons,
            "failures": self.failures,
        }


# --------------------------------------------------------------------------- building situations


def merge(base: Any, override: Any) -> Any:
    """Mappings merge key by key; anything else (lists, scalars, null) replaces."""
    if isinstance(base, Mapping) and isinstance(override, Mapping):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = merge(base[key], value) if key in base else copy.deepcopy(value)
        return merged
    return copy.deepcopy(override)


def _moment(value: Any, now: datetime, what: str) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, str):
        relative = _RELATIVE.match(value.strip())
        if relative:
            sign, amount, unit = relative.groups()
            if sign is None:
                return now
            delta = timedelta(**{_UNITS[unit]: float(amount)})
            return now + delta if sign == "+" else now - delta
        try:
            return _moment(datetime.fromisoformat(value.replace("Z", "+00:00")), now, what)
        except ValueError:
            pass
    raise ScenarioError(f"{what}: {value!r} is not a date, a datetime or now±N[dhms]")


def _optional_moment(value: Any, now: datetime, what: str) -> datetime | None:
    return None if value is None else _moment(value, now, what)


def _optional_day(value: Any, now: datetime, what: str) -> date | None:
    return None if value is None else _moment(value, now, what).date()


def _fields(spec: Mapping[str, Any], allowed: set[str], what: str) -> Mapping[str, Any]:
    if not isinstance(spec, Mapping):
        raise ScenarioError(f"{what}: expected a mapping, got {spec!r}")
    unknown = sorted(set(spec) - allowed)
    if unknown:
        raise ScenarioError(f"{what}: unknown field(s) {', '.join(unknown)}")
    return spec


def _accreditation(spec: Any, now: datetime) -> AccreditationFact:
    s = _fields(spec, {"kind", "awarded_at", "expires_at", "verified"}, "accreditation")
    return AccreditationFact(
        str(s.get("kind", "safe-researcher")),
        _moment(s.get("awarded_at", "now-365d"), now, "accreditation awarded_at"),
        _optional_moment(s.get("expires_at"), now, "accreditation expires_at"),
        bool(s.get("verified", True)),
    )


def _agreement(spec: Any, now: datetime) -> AgreementFact:
    s = _fields(spec, {"version", "signed_at", "expires_at"}, "agreement")
    return AgreementFact(
        str(s.get("version", "1")),
        _moment(s.get("signed_at", "now-365d"), now, "agreement signed_at"),
        _optional_moment(s.get("expires_at"), now, "agreement expires_at"),
    )


def _user(spec: Any, now: datetime) -> UserFact | None:
    if spec is None:
        return None
    s = _fields(spec, {"id", "username", "status", "accreditations", "agreements"}, "user")
    username = str(s.get("username", "alice"))
    return UserFact(
        str(s.get("id", f"u-{username}")),
        username,
        str(s.get("status", "active")),
        tuple(_accreditation(a, now) for a in s.get("accreditations") or ()),
        tuple(_agreement(a, now) for a in s.get("agreements") or ()),
    )


def _project(spec: Any, now: datetime) -> ProjectFact | None:
    if spec is None:
        return None
    s = _fields(spec, {"id", "slug", "status", "tier", "starts_on", "ends_on"}, "project")
    slug = str(s.get("slug", "project"))
    return ProjectFact(
        str(s.get("id", f"p-{slug}")),
        slug,
        str(s.get("status", "active")),
        int(s.get("tier", 1)),
        _optional_day(s.get("starts_on"), now, "project starts_on"),
        _optional_day(s.get("ends_on"), now, "project ends_on"),
    )


def _membership(spec: Any, now: datetime) -> MembershipFact | None:
    if spec is None:
        return None
    s = _fields(spec, {"role", "status", "expires_at", "removed_at"}, "membership")
    return MembershipFact(
        str(s.get("role", "researcher")),
        str(s.get("status", "approved")),
        _optional_moment(s.get("expires_at"), now, "membership expires_at"),
        _optional_moment(s.get("removed_at"), now, "membership removed_at"),
    )


def _profile(slug: str | None, catalogue: Mapping[str, Any]) -> ProfileFact | None:
    if slug is None or catalogue.get(slug) is None:
        return None
    keys = {
        "id",
        "image",
        "cpu",
        "memory_gb",
        "gpu",
        "max_tier",
        "egress",
        "allowed_networks",
        "mfa_required",
        "max_session_hours",
        "allowed_for_project",
    }
    s = _fields(catalogue[slug], keys, f"profile {slug}")
    return ProfileFact(
        str(s.get("id", f"f-{slug}")),
        slug,
        str(s.get("image", "image")),
        float(s.get("cpu", 1)),
        float(s.get("memory_gb", 1)),
        int(s.get("gpu", 0)),
        int(s.get("max_tier", 1)),
        str(s.get("egress", "none")),
        tuple(str(n) for n in s.get("allowed_networks") or ()),
        bool(s.get("mfa_required", False)),
        float(s.get("max_session_hours", 8)),
        bool(s.get("allowed_for_project", True)),
    )


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def build_situation(spec: Mapping[str, Any]) -> LaunchSituation:
    """A LaunchSituation from a complete (already merged) scenario specification."""
    top = {
        "now",
        "required_accreditation_kind",
        "mfa_tier",
        "user",
        "project",
        "membership",
        "datasets",
        "grants",
        "profiles",
        "request",
        "auth",
    }
    _fields(spec, top, "situation")
    now = _moment(spec["now"], datetime.now(UTC), "now")
    request = _fields(spec.get("request") or {}, set(BASELINE["request"]), "request")
    catalogue: dict[str, DatasetFact] = {}
    for slug, d in (spec.get("datasets") or {}).items():
        if d is None:
            continue
        s = _fields(d, {"id", "tier", "status", "storage_uri", "title"}, f"dataset {slug}")
        catalogue[slug] = DatasetFact(
            str(s.get("id", f"d-{slug}")),
            slug,
            int(s.get("tier", 1)),
            str(s.get("status", "active")),
            str(s.get("storage_uri", f"s3://tre-data/{slug}")),
            str(s.get("title", slug)),
        )
    by_id = {d.id: d for d in catalogue.values()}
    requested = tuple(str(k) for k in request.get("datasets") or ())
    datasets = {k: catalogue.get(k) or by_id[k] for k in requested if k in catalogue or k in by_id}
    grants: dict[str, GrantFact] = {}
    for slug, g in (spec.get("grants") or {}).items():
        if g is None or slug not in catalogue:
            continue
        s = _fields(g, {"expires_at", "revoked_at", "conditions"}, f"grant {slug}")
        dataset_id = catalogue[slug].id
        grants[dataset_id] = GrantFact(
            dataset_id,
            _optional_moment(s.get("expires_at"), now, f"grant {slug} expires_at"),
            _optional_moment(s.get("revoked_at"), now, f"grant {slug} revoked_at"),
            str(s.get("conditions", "")),
        )
    auth = _fields(spec.get("auth") or {}, {"mfa", "acr", "amr"}, "auth")
    user = _user(spec.get("user"), now)
    profile_slug = request.get("profile")
    return LaunchSituation(
        now=now,
        user=user,
        project=_project(spec.get("project"), now),
        membership=_membership(spec.get("membership"), now),
        requested_datasets=requested,
        datasets=datasets,
        grants=grants,
        profile=_profile(None if profile_slug is None else str(profile_slug), spec.get("profiles") or {}),
        client_ip=None if request.get("client_ip") is None else str(request["client_ip"]),
        auth=AuthContext(bool(auth.get("mfa", False)), auth.get("acr"), tuple(auth.get("amr") or ())),
        requested=RequestedResources(
            _number(request.get("cpu")),
            _number(request.get("memory_gb")),
            None if request.get("gpu") is None else int(request["gpu"]),
        ),
        required_accreditation_kind=str(spec.get("required_accreditation_kind", "safe-researcher")),
        mfa_tier=int(spec.get("mfa_tier", 3)),
        requested_user=request.get("user") or (user.username if user else None),
        requested_project=request.get("project"),
        requested_profile=profile_slug,
    )


# --------------------------------------------------------------------------- loading and running


def load_scenarios(directory: Path | str) -> list[Scenario]:
    """Every scenario of every ``*.yaml``/``*.yml`` file in ``directory`` (file-name order)."""
    root = Path(directory)
    files = sorted([*root.glob("*.yaml"), *root.glob("*.yml")])
    scenarios: list[Scenario] = []
    for path in files:
        try:
            document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise ScenarioError(f"{path.name}: not valid YAML: {exc}") from None
        _fields(document, {"description", "baseline", "scenarios"}, path.name)
        baseline = merge(BASELINE, document.get("baseline") or {})
        names: set[str] = set()
        for index, item in enumerate(document.get("scenarios") or []):
            name = str(item.get("name", f"#{index + 1}")) if isinstance(item, Mapping) else f"#{index + 1}"
            where = f"{path.name}: scenario {name!r}"
            try:
                _fields(item, {"name", "description", "given", "expect"}, where)
                if name in names:
                    raise ScenarioError(f"{where}: the name is used twice in this file")
                names.add(name)
                expect = dict(_fields(item.get("expect") or {}, _EXPECT_KEYS, f"{where} expect"))
                for safe in SAFES:
                    if expect.get(safe, "allow") not in ("allow", "deny"):
                        raise ScenarioError(f"{where}: expect.{safe} must be allow or deny")
                situation = build_situation(merge(baseline, item.get("given") or {}))
            except ScenarioError as exc:
                message = str(exc)
                raise ScenarioError(
                    message if message.startswith(path.name) else f"{where}: {message}"
                ) from None
            except (TypeError, ValueError, KeyError) as exc:
                raise ScenarioError(f"{where}: {exc}") from None
            scenarios.append(Scenario(path.name, name, situation, expect))
    return scenarios


def check_scenario(engine: PolicyEngine, scenario: Scenario) -> ScenarioResult:
    verdict: Verdict = engine.evaluate(scenario.situation)
    expect = scenario.expect
    expected = {safe: expect.get(safe, "allow") == "allow" for safe in SAFES}
    actual = {safe: verdict.safes[safe].allowed for safe in SAFES}
    reasons = {safe: list(verdict.safes[safe].reasons) for safe in SAFES}
    failures: list[str] = []
    for safe in SAFES:
        if expected[safe] != actual[safe]:
            failures.append(
                f"{safe}: expected {_word(expected[safe])}, got {_word(actual[safe])} {reasons[safe]}"
            )
    overall = expect.get("allowed", all(expected.values()))
    if bool(overall) != verdict.allowed:
        failures.append(f"overall: expected {_word(bool(overall))}, got {_word(verdict.allowed)}")
    for safe, wanted in (expect.get("reasons") or {}).items():
        for text in wanted:
            if not any(text in reason for reason in reasons.get(safe, [])):
                failures.append(f"{safe}: no reason contains {text!r} (reasons: {reasons.get(safe, [])})")
    for safe, wanted in (expect.get("exact_reasons") or {}).items():
        if list(wanted) != reasons.get(safe):
            failures.append(f"{safe}: reasons {reasons.get(safe)} != expected {list(wanted)}")
    for safe, wanted in (expect.get("policies") or {}).items():
        fired = verdict.safes[safe].policies if safe in verdict.safes else []
        for policy_id in wanted:
            if policy_id not in fired:
                failures.append(f"{safe}: policy {policy_id!r} did not apply (applied: {fired})")
    if expect.get("obligations"):
        failures.extend(_check_obligations(scenario.situation, expect["obligations"]))
    return ScenarioResult(scenario.file, scenario.name, not failures, expected, actual, reasons, failures)


def _check_obligations(situation: LaunchSituation, wanted: Mapping[str, Any]) -> list[str]:
    try:
        actual = compute_obligations(situation).to_dict()
    except ValueError as exc:
        return [f"obligations: {exc}"]
    failures = []
    for key, value in wanted.items():
        if key not in actual:
            failures.append(f"obligations: no field {key!r}")
            continue
        got = actual[key]
        if key == "expires_at":
            ok = _moment(value, situation.now, "expires_at") == datetime.fromisoformat(got)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            ok = isinstance(got, (int, float)) and float(value) == float(got)
        else:
            ok = _subset(value, got)
        if not ok:
            failures.append(f"obligations.{key}: expected {value!r}, got {got!r}")
    return failures


def _subset(wanted: Any, actual: Any) -> bool:
    if isinstance(wanted, Mapping) and isinstance(actual, Mapping):
        return all(k in actual and _subset(v, actual[k]) for k, v in wanted.items())
    return bool(wanted == actual)


def _word(allowed: bool) -> str:
    return "allow" if allowed else "deny"


def run_scenarios(engine: PolicyEngine, directory: Path | str | None = None) -> list[ScenarioResult]:
    """Run every scenario file in ``directory`` (default: the engine's ``tests/`` folder)."""
    root = Path(directory) if directory is not None else engine.directory / "tests"
    return [check_scenario(engine, scenario) for scenario in load_scenarios(root)]


def format_results(results: list[ScenarioResult]) -> str:
    """A plain-text report: one line per scenario, failures spelled out, a final count."""
    lines = []
    for result in results:
        lines.append(f"{'PASS' if result.passed else 'FAIL'}  {result.file}: {result.name}")
        lines.extend(f"        {failure}" for failure in result.failures)
    failed = sum(1 for r in results if not r.passed)
    lines.append(f"{len(results) - failed} passed, {failed} failed, {len(results)} scenarios")
    return "\n".join(lines)
