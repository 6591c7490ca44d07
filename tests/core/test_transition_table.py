"""Walks the table of declared transitions, the way the role matrix walks the OpenAPI document.

For every declared move of every lifecycle: it writes its audit event, it refuses every party its
declaration names (and the refusal's words are the button's words), its generated route is in the role
matrix, and a move from an illegal state is a 409 naming the caller's allowed moves. The test fails when
a transition is declared without a scenario here, or with parties the scenario does not exercise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

import governance.app  # noqa: F401 - importing the app declares every lifecycle and route
from governance.auth.principal import Principal, principal_for_user
from governance.core.db import transaction
from governance.core.errors import DomainError, IllegalTransition
from governance.core.transition_routes import GENERATED_ROUTES
from governance.core.transitions import Lifecycle, Transition, actions_for, all_lifecycles, perform
from governance.models import AuditEvent, User
from tests.auth.test_role_matrix import MATRIX
from tests.core import transition_scenarios as scenarios


@dataclass
class Case:
    lifecycle: Lifecycle[Any]
    transition: Transition[Any]


def _cases() -> list[Case]:
    return [Case(lc, t) for lc in all_lifecycles() for t in lc.transitions]


def _id(case: Case) -> str:
    return f"{case.lifecycle.object_type}.{case.transition.name}"


def _principal(session: Session, username: str) -> Principal:
    user = session.scalar(select(User).where(User.username == username))
    assert user is not None, username
    return principal_for_user(session, user, "api-token")


def test_every_declared_transition_has_a_scenario() -> None:
    declared = {_id(c) for c in _cases()}
    missing = sorted(declared - set(scenarios.SCENARIOS))
    stale = sorted(set(scenarios.SCENARIOS) - declared)
    assert missing == [], "declared transitions without a scenario in tests/core/transition_scenarios.py"
    assert stale == [], "scenarios for transitions that are no longer declared"


def test_every_routed_transition_is_in_the_role_matrix() -> None:
    routed = {(lc.object_type, t.name) for lc in all_lifecycles() for t in lc.public if t.route}
    generated = {(lc.object_type, t.name): path for lc, t, path in GENERATED_ROUTES}
    assert routed <= set(generated), "public transitions without a generated POST route"
    missing = sorted(f"POST {path}" for path in generated.values() if f"POST {path}" not in MATRIX)
    assert missing == []


@pytest.mark.parametrize("case", _cases(), ids=_id)
def test_declared_transition(case: Case, db_url: str) -> None:
    scenario = scenarios.SCENARIOS[_id(case)]
    t, lifecycle = case.transition, case.lifecycle
    assert t.audit and "." in t.audit
    assert set(scenario.parties) == set(t.parties), "the scenario must play every declared party"
    with transaction() as s:
        obj_id = scenario.build(s)
    # Every named party is refused, with the button's words.
    for party, username in scenario.parties.items():
        with transaction() as s:
            obj = scenario.load(s, obj_id)
            principal = _principal(s, username)
            actions = actions_for(s, principal, lifecycle, obj)
            assert t.name not in actions.allowed, (party, username)
            with pytest.raises(DomainError) as refused:
                perform(s, principal, lifecycle, obj, t.name, scenario.body, system=not t.public)
            if t.public:
                assert refused.value.status in (403, 404), (party, refused.value.detail)
                reason = actions.reason(t.name)
                if reason is not None:
                    assert reason == refused.value.detail
            s.rollback()
    # The permitted actor makes the move, and it is audited.
    with transaction() as s:
        obj = scenario.load(s, obj_id)
        principal = _principal(s, scenario.actor)
        if t.public:
            assert t.name in actions_for(s, principal, lifecycle, obj).allowed
        perform(s, principal, lifecycle, obj, t.name, scenario.body, system=not t.public)
        after = lifecycle.state_of(obj)
        events = s.scalars(
            select(AuditEvent).where(
                AuditEvent.action == t.audit, AuditEvent.object_id == str(lifecycle.id_of(obj))
            )
        ).all()
        assert events, f"{t.name} wrote no {t.audit} event"
    # From a state the move is not declared for, the refusal is a 409 naming the caller's moves.
    with transaction() as s:
        obj = scenario.load(s, obj_id)
        if lifecycle.state_of(obj) in t.source:
            assert scenario.illegal is not None, f"{_id(case)}: {after} is a source; give `illegal`"
            scenario.illegal(s, obj)
            s.flush()
        principal = _principal(s, scenario.actor)
        allowed = actions_for(s, principal, lifecycle, obj).allowed
        with pytest.raises(IllegalTransition) as illegal:
            perform(s, principal, lifecycle, obj, t.name, scenario.body, system=not t.public)
        assert illegal.value.status == 409
        if t.public:
            assert illegal.value.extra["allowed_actions"] == allowed
            assert (", ".join(allowed) or "none") in illegal.value.detail
        s.rollback()
