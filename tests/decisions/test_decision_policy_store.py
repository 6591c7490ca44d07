"""A running service reloads policies; a broken edit never replaces the last good set."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from governance.decisions.engine import PolicyEngine, PolicyLoadError, PolicyStore
from governance.decisions.situation import LaunchSituation

HOLIDAY = """
@id("people-holiday")
@safe("people")
@reason("launches are paused for the holiday")
forbid (principal, action == Action::"launch:people", resource);
"""


def test_store_keeps_the_last_good_set_when_a_reload_fails(
    policy_copy: Path, make_situation: Callable[[], LaunchSituation]
) -> None:
    store = PolicyStore(policy_copy)
    good = store.current
    assert good.evaluate(make_situation()).allowed

    (policy_copy / "broken.cedar").write_text("forbid (principal, action, resource) when { 1 + };\n", "utf-8")
    with pytest.raises(PolicyLoadError, match=r"^broken\.cedar:1: syntax error"):
        store.reload()
    assert store.current is good
    assert isinstance(store.last_error, PolicyLoadError)
    assert store.current.evaluate(make_situation()).allowed

    (policy_copy / "broken.cedar").write_text(HOLIDAY, "utf-8")
    fresh = store.reload()
    assert store.current is fresh and fresh.version != good.version
    assert store.last_error is None
    verdict = store.current.evaluate(make_situation())
    assert verdict.safes["people"].reasons == ["launches are paused for the holiday"]


def test_reload_if_changed_only_swaps_on_a_new_good_version(
    policy_copy: Path, make_situation: Callable[[], LaunchSituation]
) -> None:
    store = PolicyStore(policy_copy)
    first = store.current
    assert store.reload_if_changed() is False
    assert store.current is first

    (policy_copy / "local.cedar").write_text(
        '@id("x")\nforbid (principal, action, resource) when { 1 < "a" };\n'
    )
    with pytest.raises(PolicyLoadError):
        store.reload_if_changed()
    assert store.current is first

    (policy_copy / "local.cedar").write_text(HOLIDAY, "utf-8")
    assert store.reload_if_changed() is True
    assert store.current.version != first.version
    assert not store.current.evaluate(make_situation()).allowed
    assert store.reload_if_changed() is False


def test_engine_reload_returns_a_new_engine_and_leaves_the_old_one(policy_copy: Path) -> None:
    engine = PolicyEngine.from_directory(policy_copy)
    (policy_copy / "local.cedar").write_text(HOLIDAY, "utf-8")
    reloaded = engine.reload()
    assert "people-holiday" in reloaded.policies and "people-holiday" not in engine.policies
    (policy_copy / "local.cedar").write_text("permit (principal, action, resource)", "utf-8")
    with pytest.raises(PolicyLoadError):
        engine.reload()


def test_a_store_cannot_start_from_a_broken_directory(policy_copy: Path) -> None:
    (policy_copy / "schema.cedarschema").write_text("entity User = {", "utf-8")
    with pytest.raises(PolicyLoadError, match=r"^schema\.cedarschema:1: invalid schema"):
        PolicyStore(policy_copy)
