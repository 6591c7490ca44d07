"""Audit queries, always filtered by what the caller may see: everything with read:all, otherwise only
the events of projects the caller leads or is an approved member of.

Blinding holds in the audit log too. For a project the caller is involved in (every project a member
sees; for read:all holders, the projects they lead, created, edited or joined), output checkers' events
of a review round are hidden until the round ends in the reviewers' decision — and for good when it ends
without one (withdrawn, blocked): votes, downloads (only checkers download then) and refusals on the
request's routes (a checker's second vote) — and otherwise shown with the actor redacted (votes,
releases, recalls, blocks, the votes' outcome, checkers' downloads and refusals). Such callers get no
event hashes either, nor the full release record's hash: either would let them confirm a guess of the
redacted actor.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, Select, and_, false, func, or_, select
from sqlalchemy.orm import Session

from governance.audit.checkpoints import Checkpoint
from governance.audit.schemas import AuditEventOut
from governance.audit.sql_store import checkpoint_of
from governance.auth.duties import involved_project_ids
from governance.auth.principal import Principal
from governance.core.errors import InvalidInput, NotFound
from governance.core.ids import parse_seq, parse_uuid
from governance.models import (
    AuditCheckpoint,
    AuditEvent,
    Membership,
    OutputRequest,
    Project,
)
from governance.outputs.states import DECIDED

Order = Literal["asc", "desc"]


@dataclass(frozen=True)
class EventFilters:
    actor: str | None = None  # username or user id
    action: str | None = None  # exact, or a prefix ending in "." ("project." = every project action)
    object_type: str | None = None
    object_id: str | None = None
    project: str | None = None  # id or slug
    outcome: str | None = None
    source: str | None = None
    since: datetime | None = None  # occurred_at >= since
    until: datetime | None = None  # occurred_at < until


def encode_seq_cursor(seq: int, order: Order) -> str:
    raw = json.dumps({"s": seq, "o": order}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_seq_cursor(cursor: str, order: Order) -> int:
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        seq, cursor_order = data["s"], data["o"]
    except (ValueError, TypeError, KeyError):
        raise InvalidInput("the cursor is not one this service issued; start again without it") from None
    if type(seq) is not int or cursor_order != order:
        raise InvalidInput("the cursor belongs to another listing (order); start again without it")
    return seq


def visible_project_ids(session: Session, principal: Principal) -> list[str]:
    """Projects whose events a caller without read:all may read."""
    led = select(Project.id).where(Project.lead_id == principal.user_id)
    member = select(Membership.project_id).where(
        Membership.user_id == principal.user_id,
        Membership.status == "approved",
        Membership.removed_at.is_(None),
    )
    ids = set(session.scalars(led)) | set(session.scalars(member))
    if principal.project_id is not None:  # a project-bound token sees that project only
        ids &= {principal.project_id}
    return sorted(str(i) for i in ids)


# Events whose actor is an output checker (or that the votes made): never named to the project.
CHECKER_ACTIONS = frozenset(
    {
        "output_review.vote",
        "output_request.release",
        "output_request.recall",
        "output_request.block",
        "output_request.approve",
        "output_request.return",
        "output_request.reject",
    }
)
DOWNLOAD = "output_file.download"
VOTE = "output_review.vote"
DENIED = "denied."  # refusals; core/problems marks those on an output request's routes ("checker")
# Events a checker's flag in the summary makes a checker's: their actor is never named to the project.
FLAGGED = (DOWNLOAD,)


@dataclass(frozen=True)
class Blinding:
    """What a caller involved in projects may not learn from the log (see the module's docstring)."""

    project_ids: frozenset[str]  # projects the caller is involved in
    # Those projects' requests whose current round has not ended in the reviewers' decision, by round:
    # ((round, (request id, …)), …). Earlier rounds were decided (only a return lets a request resubmit).
    undecided: tuple[tuple[int, tuple[str, ...]], ...]

    @property
    def active(self) -> bool:
        return bool(self.project_ids)

    def redacts(self, event: AuditEvent) -> bool:
        if event.project_id not in self.project_ids:
            return False
        if event.action in CHECKER_ACTIONS:
            return True
        flagged = event.action in FLAGGED or event.action.startswith(DENIED)
        return flagged and bool((event.summary or {}).get("checker"))


def _involved_project_ids(session: Session, principal: Principal) -> set[str]:
    """Projects a read:all holder is involved in (the rule of auth/duties)."""
    return {str(p) for p in session.scalars(involved_project_ids(principal.user_id))}


def blinding_for(session: Session, principal: Principal) -> Blinding:
    key = ("audit-blinding", principal.user_id, principal.project_id, principal.sees_all)
    memo: dict[Any, Blinding] = session.info.setdefault("audit_blinding", {})
    if key not in memo:
        if principal.sees_all:
            ids = _involved_project_ids(session, principal)
        else:
            ids = set(visible_project_ids(session, principal))
        undecided: dict[int, list[str]] = {}
        if ids:
            for request_id, current in session.execute(
                select(OutputRequest.id, OutputRequest.round)
                .where(
                    OutputRequest.project_id.in_([parse_uuid(i) for i in ids]),
                    OutputRequest.status.not_in([s.value for s in DECIDED]),
                    OutputRequest.round > 0,  # a draft never submitted has had no review
                )
                .order_by(OutputRequest.round, OutputRequest.id)
            ):
                undecided.setdefault(current, []).append(str(request_id))
        memo[key] = Blinding(frozenset(ids), tuple((r, tuple(rs)) for r, rs in undecided.items()))
    return memo[key]


def _flagged_checker(action: ColumnElement[bool]) -> ColumnElement[bool]:
    return and_(action, AuditEvent.summary["checker"].as_boolean().is_(True))


def _checker_event(blinding: Blinding) -> ColumnElement[bool]:
    return and_(
        AuditEvent.project_id.in_(sorted(blinding.project_ids)),
        or_(
            AuditEvent.action.in_(sorted(CHECKER_ACTIONS)),
            _flagged_checker(AuditEvent.action.in_(FLAGGED)),
            _flagged_checker(AuditEvent.action.startswith(DENIED, autoescape=True)),
        ),
    )


def _undecided_round(blinding: Blinding) -> ColumnElement[bool]:
    """Checkers' events of a round not decided by the reviewers: its votes and refusals (by round), and
    downloads of its request's files (they carry no round before it was recorded: all of them)."""
    request_id = AuditEvent.summary["request_id"].as_string()
    event_round = AuditEvent.summary["round"].as_integer()
    everything = [rid for _round, rids in blinding.undecided for rid in rids]
    return and_(
        AuditEvent.project_id.in_(sorted(blinding.project_ids)),
        or_(
            and_(AuditEvent.action == DOWNLOAD, request_id.in_(everything)),
            *(
                and_(
                    or_(
                        AuditEvent.action == VOTE,
                        _flagged_checker(AuditEvent.action.startswith(DENIED, autoescape=True)),
                    ),
                    event_round == current,
                    request_id.in_(rids),
                )
                for current, rids in blinding.undecided
            ),
        ),
    )


def _not(condition: ColumnElement[bool]) -> ColumnElement[bool]:
    """NOT, where an unknown (NULL: an event without the summary's key) counts as false, so no event
    vanishes only because it lacks a key."""
    return ~func.coalesce(condition, false())


def _blinded(
    stmt: Select[tuple[AuditEvent]], blinding: Blinding, filters: EventFilters
) -> Select[tuple[AuditEvent]]:
    if blinding.undecided:
        stmt = stmt.where(_not(_undecided_round(blinding)))
    if filters.actor:  # a redacted actor must not be found by asking for it
        stmt = stmt.where(_not(_checker_event(blinding)))
    return stmt


def event_out(event: AuditEvent, blinding: Blinding) -> AuditEventOut:
    out = AuditEventOut.model_validate(event)
    if blinding.active:
        out.hash = out.prev_hash = None
        if blinding.redacts(event):
            out.actor_id = out.actor_username = None
            out.redacted = True
            if "record_sha256" in out.summary:  # the full release record's: it would confirm a guess
                out.summary = {k: v for k, v in out.summary.items() if k != "record_sha256"}
    return out


def resolve_project(session: Session, ref: str) -> Project:
    as_id = parse_uuid(ref)
    project = session.scalar(select(Project).where(Project.id == as_id if as_id else Project.slug == ref))
    if project is None:
        raise NotFound(f"no project {ref!r} that you can see")
    return project


def _filtered(session: Session, principal: Principal, filters: EventFilters) -> Select[tuple[AuditEvent]]:
    stmt = select(AuditEvent)
    if not principal.sees_all:
        stmt = stmt.where(AuditEvent.project_id.in_(visible_project_ids(session, principal)))
    if filters.actor:
        actor_id = parse_uuid(filters.actor)
        stmt = stmt.where(
            AuditEvent.actor_id == str(actor_id) if actor_id else AuditEvent.actor_username == filters.actor
        )
    if filters.action:
        if filters.action.endswith("."):
            stmt = stmt.where(AuditEvent.action.startswith(filters.action, autoescape=True))
        else:
            stmt = stmt.where(AuditEvent.action == filters.action)
    if filters.object_type:
        stmt = stmt.where(AuditEvent.object_type == filters.object_type)
    if filters.object_id:
        stmt = stmt.where(AuditEvent.object_id == filters.object_id)
    if filters.project:
        project = resolve_project(session, filters.project)
        if not principal.sees_all and str(project.id) not in visible_project_ids(session, principal):
            raise NotFound(f"no project {filters.project!r} that you can see")
        stmt = stmt.where(AuditEvent.project_id == str(project.id))
    if filters.outcome:
        stmt = stmt.where(AuditEvent.outcome == filters.outcome)
    if filters.source:
        stmt = stmt.where(AuditEvent.source == filters.source)
    if filters.since:
        stmt = stmt.where(AuditEvent.occurred_at >= filters.since)
    if filters.until:
        stmt = stmt.where(AuditEvent.occurred_at < filters.until)
    blinding = blinding_for(session, principal)
    if blinding.active:
        stmt = _blinded(stmt, blinding, filters)
    return stmt


def list_events(
    session: Session,
    principal: Principal,
    filters: EventFilters,
    *,
    order: Order,
    limit: int,
    cursor: str | None,
) -> tuple[Sequence[AuditEvent], str | None]:
    """Keyset pagination by seq: the cost of a page does not grow with its depth."""
    if filters.since and filters.until and filters.until <= filters.since:
        raise InvalidInput("until must be later than since")
    stmt = _filtered(session, principal, filters)
    if cursor:
        after = decode_seq_cursor(cursor, order)
        stmt = stmt.where(AuditEvent.seq > after if order == "asc" else AuditEvent.seq < after)
    stmt = stmt.order_by(AuditEvent.seq.asc() if order == "asc" else AuditEvent.seq.desc())
    rows = session.scalars(stmt.limit(limit + 1)).all()
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_seq_cursor(rows[-1].seq, order)
    return rows, next_cursor


def get_event(session: Session, principal: Principal, event_ref: str) -> AuditEvent:
    as_id = parse_uuid(event_ref)
    stmt = _filtered(session, principal, EventFilters())
    if as_id is not None:
        stmt = stmt.where(AuditEvent.id == as_id)
    elif (seq := parse_seq(event_ref)) is not None:  # ASCII digits only: "²³".isdigit() is True
        stmt = stmt.where(AuditEvent.seq == seq)
    else:
        raise NotFound(f"no audit event {event_ref!r} that you can see")
    event = session.scalar(stmt)
    if event is None:
        raise NotFound(f"no audit event {event_ref!r} that you can see")
    return event


def list_checkpoints(
    session: Session, *, after: int | None, limit: int
) -> tuple[list[Checkpoint], str | None]:
    stmt = select(AuditCheckpoint).order_by(AuditCheckpoint.chain_index)
    if after is not None:
        stmt = stmt.where(AuditCheckpoint.chain_index > after)
    rows = session.scalars(stmt.limit(limit + 1)).all()
    items = [checkpoint_of(r) for r in rows[:limit]]
    next_cursor = encode_seq_cursor(items[-1].chain_index, "asc") if len(rows) > limit else None
    return items, next_cursor
