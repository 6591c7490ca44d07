"""Explicit lifecycles: one transition table per kind of thing; an illegal move names the allowed ones."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from governance.core.errors import IllegalTransition


@dataclass(frozen=True)
class Lifecycle:
    name: str
    transitions: Mapping[tuple[str, str], str]

    def allowed_actions(self, state: str) -> list[str]:
        return sorted(action for (src, action) in self.transitions if src == state)

    def next_state(self, state: str, action: str) -> str:
        target = self.transitions.get((state, action))
        if target is None:
            allowed = self.allowed_actions(state)
            moves = ", ".join(allowed) if allowed else "none"
            raise IllegalTransition(
                f"a {self.name} that is {state} cannot be {_past(action)}; "
                f"allowed moves from {state}: {moves}",
                current_state=state,
                allowed_actions=allowed,
            )
        return target

    @property
    def states(self) -> set[str]:
        return {s for s, _ in self.transitions} | set(self.transitions.values())


def _past(action: str) -> str:
    irregular = {"submit": "submitted", "reject": "rejected", "approve": "approved", "close": "closed"}
    if action in irregular:
        return irregular[action]
    return action + ("d" if action.endswith("e") else "ed")
