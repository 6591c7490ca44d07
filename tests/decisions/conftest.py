"""Shared fixtures for the launch-decision engine tests (no database)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from governance.decisions.engine import PolicyEngine
from governance.decisions.scenarios import BASELINE, build_situation, merge
from governance.decisions.situation import LaunchSituation

POLICY_DIR = Path(__file__).resolve().parents[2] / "policies"


@pytest.fixture(scope="session")
def engine() -> PolicyEngine:
    """The shipped policies, evaluated with request validation against the schema switched on."""
    return PolicyEngine.from_directory(POLICY_DIR, strict=True)


@pytest.fixture
def policy_copy(tmp_path: Path) -> Path:
    """A writable copy of the shipped schema and policies (without the scenario files)."""
    target = tmp_path / "policies"
    target.mkdir()
    for path in [*POLICY_DIR.glob("*.cedarschema"), *POLICY_DIR.glob("*.cedar")]:
        shutil.copy(path, target / path.name)
    return target


def situation(given: dict[str, Any] | None = None) -> LaunchSituation:
    """The scenario baseline (alice, diabetes-outcomes, hospital-episodes, standard) with overrides."""
    return build_situation(merge(BASELINE, given or {}))


@pytest.fixture
def make_situation() -> Callable[..., LaunchSituation]:
    return situation
