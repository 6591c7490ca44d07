"""Declared transitions: every state change of every lifecycle is one row of a table.

A ``Transition`` says from which states a move may be made, to which state, who may make it (``check``,
a function returning a ``Refusal`` in plain words or None), whether the thing is ready for it (``ready``),
the audit action, and the side effects (jobs enqueued after commit). ``perform`` is the one function
that makes any move: it locks the row, checks, moves, audits and runs the effects, all in the caller's
transaction. ``actions_for`` tells a caller which moves are open to them and why the others are not;
the API's ``allowed_actions``/``unavailable_actions``, its 403/409 problem details and the pages'
buttons all come from it, so they agree word for word.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Generic, TypeVar

from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Session

from governance.audit.record import record
from governance.auth.principal import Principal
from governance.auth.scopes import Scope
from governance.core.errors import (
    Conflict,
    DomainError,
    Forbidden,
    IllegalTransition,
    InvalidInput,
    NotFound,
    SeparationOfDuties,
)

T = TypeVar("T")

# The actor of moves made by the system (check jobs, sweeps): audited with no person as the actor.
SYSTEM = Principal(
    user_id=uuid.UUID(int=0), username="system", roles=frozenset(), scopes=frozenset(), via="system"
)


class RefusalKind(StrEnum):
    forbidden = "forbidden"  # 403: not this person's move
    duties = "separation-of-duties"  # 403: this person is involved
    conflict = "conflict"  # 409: not now (the thing's state or its parts)
    invalid = "invalid-input"  # 400: the thing or the body is incomplete


_ERRORS: dict[RefusalKind, type[DomainError]] = {
    RefusalKind.forbidden: Forbidden,
    RefusalKind.duties: SeparationOfDuties,
    RefusalKind.conflict: Conflict,
    RefusalKind.invalid: InvalidInput,
}


@dataclass(frozen=True)
class Refusal:
    """Why a move is not open to this caller, in words shown on the button, in the API and in the 403."""

    reason: str
    kind: RefusalKind = RefusalKind.forbidden
    extra: Mapping[str, Any] = field(default_factory=dict)

    def error(self, **more: Any) -> DomainError:
        return _ERRORS[self.kind](self.reason, **{**self.extra, **more})


def forbidden(reason: str) -> Refusal:
    return Refusal(reason, RefusalKind.forbidden)


def duties(reason: str) -> Refusal:
    return Refusal(reason, RefusalKind.duties)


def conflict(reason: str, **extra: Any) -> Refusal:
    return Refusal(reason, RefusalKind.conflict, extra)


def invalid(reason: str, **extra: Any) -> Refusal:
    return Refusal(reason, RefusalKind.invalid, extra)


@dataclass
class Move(Generic[T]):
    """One move in progress: what checks, ``apply`` and effects see. ``apply`` may change ``target``
    (e.g. an approval that is not yet the last one keeps the project in review) and add to ``summary``
    (the audit event's details)."""

    session: Session
    principal: Principal
    obj: T
    action: str
    body: Any
    source: str
    target: str
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def note(self) -> str:
        return str(getattr(self.body, "note", "") or "")


Check = Callable[[Move[T]], Refusal | None]
Apply = Callable[[Move[T]], None]
Effect = Callable[[Move[T]], None]


@dataclass(frozen=True)
class Transition(Generic[T]):
    name: str
    source: frozenset[str]
    target: str
    audit: str
    summary: str  # one line for the API document and the pages
    scope: Scope | None = None  # the permission a caller needs at all (None: checked by ``check``)
    check: Check[T] | None = None  # who may make this move; the reason in plain words when not
    ready: Check[T] | None = None  # is the thing complete enough for it (e.g. an application to submit)
    apply: Apply[T] | None = None  # the work beyond the state change; may raise InvalidInput for a body
    effects: tuple[Effect[T], ...] = ()
    public: bool = True  # a person asks for it (listed by actions_for); False: made by the system
    route: bool = True  # generated as ``POST …/{action}`` (False: another route performs it, e.g. DELETE)
    parties: tuple[str, ...] = ()  # whom ``check`` refuses, named for the table-walking test
    body: type[Any] | None = None  # the request body model of the generated route
    body_required: bool = False


StateOf = Callable[[Any], str]


def _status(obj: Any) -> str:
    return str(obj.status)


def _set_status(obj: Any, state: str) -> None:
    obj.status = state


@dataclass(frozen=True)
class Lifecycle(Generic[T]):
    """The declared moves of one kind of thing."""

    name: str  # in sentences: "a project that is draft cannot be approved"
    object_type: str  # the audit log's object type
    states: type[StrEnum]
    transitions: tuple[Transition[T], ...]
    state_of: Callable[[T], str] = _status
    set_state: Callable[[T, str], None] | None = _set_status  # None: apply writes what the state derives from
    project_of: Callable[[T], Any] = lambda obj: getattr(obj, "project_id", None)
    id_of: Callable[[T], Any] = lambda obj: getattr(obj, "id", None)

    def __post_init__(self) -> None:
        names = [t.name for t in self.transitions]
        if len(names) != len(set(names)):
            raise ValueError(f"{self.name}: one declaration per move name")
        known = {s.value for s in self.states}
        for t in self.transitions:
            unknown = (set(t.source) | {t.target}) - known
            if unknown:
                raise ValueError(f"{self.name}.{t.name}: unknown states {sorted(unknown)}")

    def get(self, action: str) -> Transition[T]:
        for t in self.transitions:
            if t.name == action:
                return t
        raise NotFound(f"there is no move {action!r} for {_a(self.name)}")

    @property
    def public(self) -> list[Transition[T]]:
        return [t for t in self.transitions if t.public]

    def moves_from(self, state: str) -> list[str]:
        return [t.name for t in self.transitions if state in t.source]


@dataclass(frozen=True)
class Unavailable:
    action: str
    reason: str


@dataclass(frozen=True)
class Actions:
    allowed: list[str]
    unavailable: list[Unavailable]

    def reason(self, action: str) -> str | None:
        return next((u.reason for u in self.unavailable if u.action == action), None)


def _a(noun: str) -> str:
    return f"{'an' if noun[:1] in 'aeiou' else 'a'} {noun}"


def _words(name: str) -> str:
    return name.replace("_", " ")


def _state_refusal(lifecycle: Lifecycle[T], t: Transition[T], state: str) -> Refusal:
    sources = " or ".join(_words(s) for s in sorted(t.source))
    return conflict(
        f"you cannot {_words(t.name)} {_a(lifecycle.name)} that is {_words(state)}; "
        f"that is possible only when it is {sources}"
    )


def _refusal(lifecycle: Lifecycle[T], t: Transition[T], move: Move[T]) -> Refusal | None:
    if t.scope is not None and not move.principal.has(t.scope):
        return forbidden(f"you need the permission {t.scope} to {_words(t.name)} {_a(lifecycle.name)}")
    if move.source not in t.source:
        return _state_refusal(lifecycle, t, move.source)
    if t.check is not None:
        refusal = t.check(move)
        if refusal is not None:
            return refusal
    if t.ready is not None:
        return t.ready(move)
    return None


def _move(
    session: Session, principal: Principal, lifecycle: Lifecycle[T], obj: T, t: Transition[T]
) -> Move[T]:
    state = lifecycle.state_of(obj)
    return Move(session, principal, obj, t.name, None, state, t.target)


def actions_for(session: Session, principal: Principal, lifecycle: Lifecycle[T], obj: T) -> Actions:
    """The public moves this caller may make now, and why not the others of this stage.

    Listed are the moves declared from the thing's current state for which the caller holds the scope;
    those refused carry the reason. Moves of other stages, and moves whose scope the caller lacks
    altogether, are not this person's buttons now and are not listed.
    """
    allowed: list[str] = []
    unavailable: list[Unavailable] = []
    state = lifecycle.state_of(obj)
    for t in lifecycle.public:
        if t.scope is not None and not principal.has(t.scope):
            continue
        if state not in t.source:
            continue  # not a move of this stage: no button, so nothing to explain
        refusal = _refusal(lifecycle, t, _move(session, principal, lifecycle, obj, t))
        if refusal is None:
            allowed.append(t.name)
        else:
            unavailable.append(Unavailable(t.name, refusal.reason))
    return Actions(allowed, unavailable)


def _lock(session: Session, obj: Any) -> None:
    """Re-read the row under a lock (FOR UPDATE on PostgreSQL) so the check sees what the move changes."""
    state = sa_inspect(obj)
    if state.persistent:
        session.refresh(obj, with_for_update=True)


def perform(
    session: Session,
    principal: Principal,
    lifecycle: Lifecycle[T],
    obj: T,
    action: str,
    body: Any = None,
    *,
    system: bool = False,
    audit_source: str | None = None,
) -> T:
    """Make one declared move: lock, check, move, audit, effects — in the caller's transaction.

    ``system`` moves (check jobs, the votes' outcome) skip the person checks but not the state check.
    """
    t = lifecycle.get(action)
    if not t.public and not system:
        raise NotFound(f"there is no move {action!r} open to people for {_a(lifecycle.name)}")
    _lock(session, obj)
    move = _move(session, principal, lifecycle, obj, t)
    move.body = body
    if move.source not in t.source:
        allowed = actions_for(session, principal, lifecycle, obj).allowed if not system else []
        moves = ", ".join(allowed) if allowed else "none"
        raise IllegalTransition(
            f"you cannot {_words(t.name)} {_a(lifecycle.name)} that is {_words(move.source)}; "
            f"the moves open to you now are: {moves}",
            current_state=move.source,
            allowed_actions=allowed,
        )
    if not system:
        refusal = _refusal(lifecycle, t, move)
        if refusal is not None:
            raise refusal.error()
    if t.apply is not None:
        t.apply(move)
    if lifecycle.set_state is not None:
        lifecycle.set_state(obj, move.target)
    session.flush()
    note = move.note
    record(
        session,
        None if principal is SYSTEM else principal,
        t.audit,
        lifecycle.object_type,
        lifecycle.id_of(obj),
        project_id=lifecycle.project_of(obj),
        summary={"from": move.source, "to": move.target, **({"note": note} if note else {}), **move.summary},
        source=audit_source,
    )
    for effect in t.effects:
        effect(move)
    return obj


def all_lifecycles() -> Iterable[Lifecycle[Any]]:
    """Every declared lifecycle (for the table-walking test and the docs)."""
    return list(_REGISTRY)


_REGISTRY: list[Lifecycle[Any]] = []


def declare(lifecycle: Lifecycle[T]) -> Lifecycle[T]:
    _REGISTRY.append(lifecycle)
    return lifecycle


def table_markdown() -> str:
    """The declared transitions as Markdown (docs/architecture.md embeds it; a test keeps them equal)."""
    lines: list[str] = []
    for lc in sorted(all_lifecycles(), key=lambda lc: lc.object_type):
        lines += [
            f"#### {lc.name} (`{lc.object_type}`)",
            "",
            "| move | from | to | who (scope) | refuses | audit | by |",
            "|---|---|---|---|---|---|---|",
        ]
        for t in lc.transitions:
            by = "person" if t.public else "system"
            if t.public and not t.route:
                by = "person (own route)"
            lines.append(
                f"| {t.name} | {', '.join(sorted(t.source))} | {t.target} | {t.scope or '—'} | "
                f"{', '.join(t.parties) or '—'} | `{t.audit}` | {by} |"
            )
        lines.append("")
    return "\n".join(lines)
