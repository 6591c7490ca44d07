"""In-process Five Safes evaluation cost, against a trivial cedarpy call measured in the same run.

    .venv/bin/python bench/policy_eval.py [iterations]

Each row times single calls with ``perf_counter_ns`` after a warm-up and reports p50/p99/mean in µs and
the p50 as a multiple of the baseline's p50, so numbers from a busy machine stay comparable.
"""

from __future__ import annotations

import gc
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cedarpy

from governance.decisions.engine import PolicyEngine
from governance.decisions.scenarios import BASELINE, build_situation, merge
from governance.decisions.situation import LaunchSituation, cedar_batch

POLICY_DIR = Path(__file__).resolve().parents[1] / "policies"


def measure(call: Callable[[], object], iterations: int) -> list[float]:
    for _ in range(min(200, iterations)):
        call()
    samples: list[float] = []
    gc.disable()
    try:
        for _ in range(iterations):
            start = time.perf_counter_ns()
            call()
            samples.append((time.perf_counter_ns() - start) / 1000)
    finally:
        gc.enable()
    return samples


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main(iterations: int) -> None:
    engine = PolicyEngine.from_directory(POLICY_DIR)
    strict = PolicyEngine.from_directory(POLICY_DIR, strict=True)
    allowed = build_situation(BASELINE)
    denied = build_situation(
        merge(BASELINE, {"user": {"status": "suspended", "accreditations": []}, "request": {"cpu": 64}})
    )
    three = build_situation(
        merge(
            BASELINE,
            {
                "grants": {"census-extract": {"expires_at": None}, "gp-prescribing": {"expires_at": None}},
                "request": {"datasets": ["hospital-episodes", "census-extract", "gp-prescribing"]},
            },
        )
    )
    secure = build_situation(merge(BASELINE, {"request": {"profile": "gpu-secure"}, "auth": {"mfa": True}}))
    assert engine.evaluate(allowed).allowed and not engine.evaluate(denied).allowed

    trivial_policies = cedarpy.PolicySet.from_str("permit (principal, action, resource);")
    trivial_request: dict[str, Any] = {
        "principal": {"type": "User", "id": "alice"},
        "action": {"type": "Action", "id": "launch"},
        "resource": {"type": "Project", "id": "p"},
        "context": {},
    }
    prepared = cedar_batch(allowed)

    def trivial() -> object:
        return cedarpy.is_authorized(trivial_request, trivial_policies, "[]")

    def uncached(situation: LaunchSituation) -> object:
        engine._shared_entities.cache_clear()  # as for the first launch of a project/profile/datasets
        return engine.evaluate(situation)

    rows: list[tuple[str, Callable[[], object]]] = [
        ("baseline: 1 trivial is_authorized", trivial),
        ("cedar only: 4 requests", lambda: engine.authorize(prepared)),
        ("cedar only: 4 requests + schema", lambda: strict.authorize(prepared)),
        ("build requests/entities only", lambda: cedar_batch(allowed)),
        ("evaluate: allowed, 1 dataset", lambda: engine.evaluate(allowed)),
        ("evaluate: allowed, nothing cached", lambda: uncached(allowed)),
        ("evaluate: denied, 4 reasons", lambda: engine.evaluate(denied)),
        ("evaluate: gpu-secure, IP range + MFA", lambda: engine.evaluate(secure)),
        ("evaluate: 3 datasets (6 requests)", lambda: engine.evaluate(three)),
        ("evaluate: strict (schema per request)", lambda: strict.evaluate(allowed)),
    ]  # fmt: skip
    results = [(label, measure(call, iterations)) for label, call in rows]
    base = statistics.median(results[0][1])
    print(f"cedarpy {cedarpy_version()}, {len(engine.policies)} policies, {iterations} iterations per row")
    print(f"{'case':42s} {'p50 µs':>9s} {'p99 µs':>9s} {'mean µs':>9s} {'x base':>7s}")
    for label, samples in results:
        p50 = statistics.median(samples)
        print(
            f"{label:42s} {p50:9.1f} {percentile(samples, 0.99):9.1f} {statistics.fmean(samples):9.1f}"
            f" {p50 / base:7.1f}"
        )


def cedarpy_version() -> str:
    from importlib.metadata import version

    return version("cedarpy")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3000)
