"""The table walk of tests/core/test_transition_table.py, for the output lifecycles: every declared move
is audited, refuses the parties its check names (with the button's words), and from an illegal state is
a 409 naming the caller's moves. (The scenarios are in transition_scenarios.py beside this file.)"""

from __future__ import annotations

import pytest

import tests.core.test_transition_table as table
import tests.outputs_api.transition_scenarios  # noqa: F401 - registers the output scenarios
from governance.outputs.lifecycle import FILE_REVIEW_LIFECYCLE, OUTPUT_LIFECYCLE
from tests.core import transition_scenarios as scenarios

CASES = [table.Case(lc, t) for lc in (OUTPUT_LIFECYCLE, FILE_REVIEW_LIFECYCLE) for t in lc.transitions]


def test_every_output_transition_has_a_scenario() -> None:
    assert sorted(table._id(c) for c in CASES if table._id(c) not in scenarios.SCENARIOS) == []


@pytest.mark.parametrize("case", CASES, ids=table._id)
def test_output_transition(case: table.Case, db_url: str) -> None:
    table.test_declared_transition(case, db_url)
