"""Verify the audit log in the database (whole or a range) against its signed checkpoints.

A range is always verified from a signed anchor: from the nearest checkpoint before it (or from the
genesis hash), so the first event of the range is vouched for by a signature, not by the database.
Long ranges are cut at checkpoints and verified by several processes (see parallel.py).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final, cast

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from governance.audit.checkpoints import Checkpoint, publish_public_key
from governance.audit.sql_store import EVENTS, checkpoint_of, fast_json
from governance.audit.verify import VerifyReport, verify_chain
from governance.models.audit import AuditCheckpoint, AuditEvent

SEALED_COLUMNS: Final = list(EVENTS.c)
PARALLEL_FROM_EVENTS: Final = 200_000  # below this, starting processes costs more than it saves
STREAM_ROWS: Final = 5000


@dataclass(frozen=True)
class DbVerifyResult:
    report: VerifyReport
    requested_from: int
    requested_to: int | None
    verified_from: int  # where verification started: the event after the anchoring checkpoint
    sealed_head: int  # the last sealed event when verification began
    unsealed: int  # committed events not chained yet (not part of any verification)

    def to_json(self) -> dict[str, Any]:
        return {
            **self.report.to_json(),
            "requested": {"from": self.requested_from, "to": self.requested_to},
            "verified_from": self.verified_from,
            "sealed_head": self.sealed_head,
            "unsealed": self.unsealed,
        }


def sealed_head(session: Session) -> int:
    return int(session.scalar(select(func.max(AuditEvent.chain_index))) or 0)


def unsealed_count(session: Session) -> int:
    return int(session.scalar(select(func.count()).where(AuditEvent.chain_index.is_(None))) or 0)


def checkpoints_between(session: Session, low: int, high: int | None) -> list[Checkpoint]:
    stmt = select(AuditCheckpoint).where(AuditCheckpoint.chain_index >= low)
    if high is not None:
        stmt = stmt.where(AuditCheckpoint.chain_index <= high)
    return [checkpoint_of(row) for row in session.scalars(stmt.order_by(AuditCheckpoint.chain_index))]


def anchor_before(session: Session, start: int) -> int:
    """The index of the nearest checkpoint before ``start`` (0 = the genesis hash)."""
    if start <= 1:
        return 0
    found = session.scalar(
        select(func.max(AuditCheckpoint.chain_index)).where(AuditCheckpoint.chain_index <= start - 1)
    )
    return int(found or 0)


def stream_events(session: Session, low: int, high: int | None) -> Iterator[Mapping[str, Any]]:
    """Sealed events low..high in chain order, fetched in chunks (constant memory)."""
    stmt = select(*SEALED_COLUMNS).where(EVENTS.c.chain_index >= low)
    if high is not None:
        stmt = stmt.where(EVENTS.c.chain_index <= high)
    stmt = stmt.order_by(EVENTS.c.chain_index).execution_options(yield_per=STREAM_ROWS)
    fast_json(session)
    yield from cast(Iterator[Mapping[str, Any]], session.execute(stmt).mappings())


def verify_stretch(
    session: Session,
    low: int,
    high: int | None,
    checkpoints: Sequence[Checkpoint],
    public_keys: Mapping[str, Ed25519PublicKey],
) -> VerifyReport:
    """Verify events low..high anchored at the checkpoint at low - 1 (or genesis when low is 1)."""
    anchor = [c for c in checkpoints if c.chain_index == low - 1]
    if low > 1 and not anchor:
        raise ValueError(f"no checkpoint at {low - 1} to anchor the stretch from {low}")
    return verify_chain(
        stream_events(session, low, high),
        checkpoints,
        public_keys,
        start_index=low,
        end_index=high,
    )


def verify_database(
    session: Session,
    public_keys: Mapping[str, Ed25519PublicKey],
    *,
    start: int = 1,
    end: int | None = None,
    own_key_id: str | None = None,
    workers: int = 1,
    database_url: str | None = None,
) -> DbVerifyResult:
    """Verify sealed events ``start``..``end`` (to the head when None). ValueError for an invalid range."""
    if start < 1:
        raise ValueError("ranges start at 1 or later")
    if end is not None and end < start:
        raise ValueError(f"invalid range {start}-{end}: it ends before it starts")
    head, unsealed = sealed_head(session), unsealed_count(session)
    anchor = anchor_before(session, start)
    checkpoints = checkpoints_between(session, anchor, end)

    def result(report: VerifyReport) -> DbVerifyResult:
        return DbVerifyResult(report, start, end, anchor + 1, head, unsealed)

    if start > head and not any(c.chain_index >= start for c in checkpoints):
        where = f"the sealed log ends at {head}" if head else "no event is sealed yet"
        span = f"{start}-{end}" if end is not None else f"from {start}"
        problem = f"range {span} does not exist: {where}"
        return result(
            VerifyReport(
                ok=False, checked=0, first_bad_index=start, problem=problem, last_checkpoint_verified=None
            )
        )

    stretch_end = end
    if workers > 1 and database_url and (min(end or head, head) - anchor) >= PARALLEL_FROM_EVENTS:
        from governance.audit.parallel import verify_database_parallel

        keys = [publish_public_key(k) for k in public_keys.values()]
        report = verify_database_parallel(database_url, keys, anchor + 1, stretch_end, checkpoints, workers)
        if report is None:  # a stretch failed: verify in one pass for the exact first bad event
            report = verify_stretch(session, anchor + 1, stretch_end, checkpoints, public_keys)
    else:
        report = verify_stretch(session, anchor + 1, stretch_end, checkpoints, public_keys)
    report = _explain_range_end(report, end, head, checkpoints)
    return result(_note_foreign_keys(report, checkpoints, own_key_id))


def _explain_range_end(
    report: VerifyReport, end: int | None, head: int, checkpoints: Sequence[Checkpoint]
) -> VerifyReport:
    """A range reaching past the head is not a truncated log unless a checkpoint says it was longer."""
    if report.ok or end is None or end <= head or report.problem is None:
        return report
    if report.problem.startswith("log truncated: the range ends") and not any(
        c.chain_index > head for c in checkpoints
    ):
        problem = f"range reaches past the end of the sealed log: it ends at {end}, the log at {head}"
        return replace(report, problem=problem)
    return report


def _note_foreign_keys(
    report: VerifyReport, checkpoints: Sequence[Checkpoint], own_key_id: str | None
) -> VerifyReport:
    if own_key_id is None:
        return report
    others = sorted({c.key_id for c in checkpoints if c.key_id != own_key_id})
    if not others:
        return report
    note = (
        f"checkpoints signed by key id(s) {', '.join(others)} were checked with public keys read from the "
        "database: compare them with the keys published when they were in use"
    )
    return replace(report, warnings=(*report.warnings, note))
