"""Write the sealed log (or a range of it) from the database as an export file."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import IO, Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy.orm import Session

from governance.audit.db_verify import checkpoints_between, sealed_head, stream_events
from governance.audit.export_format import write_export

PROGRESS_EVERY = 1000


def export_range(session: Session, start: int, end: int | None) -> tuple[int, int]:
    """The (start, end) an export of start..end covers; ValueError when nothing of it is sealed."""
    if start < 1:
        raise ValueError("ranges start at 1 or later")
    if end is not None and end < start:
        raise ValueError(f"invalid range {start}-{end}: it ends before it starts")
    head = sealed_head(session)
    if start > head:
        where = f"the sealed log ends at {head}" if head else "no event is sealed yet"
        raise ValueError(f"nothing to export from {start}: {where}")
    return start, head if end is None else min(end, head)


def export_database(
    session: Session,
    fp: IO[bytes],
    public_keys: Mapping[str, Ed25519PublicKey],
    start: int,
    end: int,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Events start..end with the checkpoints in range; ``progress`` is told how many more were written."""

    def events() -> Iterator[Mapping[str, Any]]:
        pending = 0
        for row in stream_events(session, start, end):
            yield row
            pending += 1
            if pending == PROGRESS_EVERY and progress is not None:
                progress(pending)
                pending = 0
        if pending and progress is not None:
            progress(pending)

    checkpoints = checkpoints_between(session, start - 1, end)
    return write_export(events(), checkpoints, public_keys, fp, start_index=start, end_index=end)
