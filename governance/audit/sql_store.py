"""The sealer's SealerStore over SQLAlchemy (PostgreSQL and SQLite), and the one-sealer lock."""

from __future__ import annotations

import json
import zlib
from collections.abc import Mapping, Sequence
from typing import Any, Final, cast

from sqlalchemy import Table, bindparam, select, text, update
from sqlalchemy.orm import Session

from governance.audit.chain import CANONICAL_FIELDS, GENESIS
from governance.audit.checkpoints import Checkpoint
from governance.audit.signing import Signer, register_key
from governance.models.audit import AuditCheckpoint, AuditEvent

EVENTS: Final = cast(Table, AuditEvent.__table__)
# A fixed 32-bit key for pg_try_advisory_xact_lock: every sealer of this database agrees on it.
SEALER_LOCK_KEY: Final = zlib.crc32(b"five-safes-governance/audit-sealer")
CONTENT_COLUMNS: Final = [EVENTS.c[name] for name in CANONICAL_FIELDS if name != "chain_index"]
_PG_LINK: Final = text(
    "UPDATE audit_events AS e SET chain_index = v.i, prev_hash = v.p, hash = v.h "
    "FROM unnest(CAST(:s AS bigint[]), CAST(:i AS bigint[]), CAST(:p AS text[]), CAST(:h AS text[])) "
    "AS v(s, i, p, h) WHERE e.seq = v.s AND e.chain_index IS NULL"
)


def _loads_utf8(data: bytes) -> Any:
    return json.loads(data.decode("utf-8"))  # json.loads(bytes) first sniffs the encoding: slower


def fast_json(session: Session) -> None:
    """Decode jsonb faster on this session's PostgreSQL connection (the same values, less work)."""
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        from psycopg.types.json import set_json_loads

        set_json_loads(_loads_utf8, conn.connection.dbapi_connection)  # type: ignore[arg-type]


class SealConflict(RuntimeError):
    """Another sealer changed the chain meanwhile (the transaction is rolled back; nothing forks)."""


def try_sealer_lock(session: Session, wait_seconds: float = 10.0) -> bool:
    """Take the sealer lock for the rest of the session's transaction; False when another sealer has it.

    PostgreSQL: a transaction-level advisory lock (released at commit or rollback; never waits).
    SQLite: the write lock itself, taken up front with BEGIN IMMEDIATE, waiting up to ``wait_seconds``
    for the writer that holds it (an API request's short transaction, or another sealer's batch).
    """
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        return bool(
            conn.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": SEALER_LOCK_KEY}).scalar()
        )
    if conn.dialect.name != "sqlite":
        raise NotImplementedError(f"no sealer lock for {conn.dialect.name}")
    conn.exec_driver_sql(f"PRAGMA busy_timeout = {max(0, int(wait_seconds * 1000))}")
    try:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    except Exception as exc:  # sqlite3.OperationalError
        if "within a transaction" in str(exc):
            return True  # this session already writes, so it holds the write lock
        if "locked" in str(exc):
            return False
        raise
    finally:
        conn.exec_driver_sql("PRAGMA busy_timeout = 10000")  # the connection's usual wait (core/db.py)
    return True


def checkpoint_of(row: AuditCheckpoint) -> Checkpoint:
    return Checkpoint(row.chain_index, row.hash, row.created_at, row.key_id, row.signature)


class SqlSealerStore:
    """SealerStore for one sealing transaction (take ``try_sealer_lock`` first)."""

    def __init__(self, session: Session, signer: Signer) -> None:
        self.session = session
        self.signer = signer
        self._head: tuple[int, str] | None = None
        self._last_checkpoint: Checkpoint | None = None
        self._checkpoint_read = False
        self.checkpoints_written = 0

    def head(self) -> tuple[int, str]:
        if self._head is None:
            row = self.session.execute(
                select(AuditEvent.chain_index, AuditEvent.hash)
                .where(AuditEvent.chain_index.is_not(None))
                .order_by(AuditEvent.chain_index.desc())
                .limit(1)
            ).first()
            self._head = (0, GENESIS) if row is None else (int(row[0]), str(row[1]))
        return self._head

    def unsealed_batch(self, limit: int) -> Sequence[Mapping[str, Any]]:
        fast_json(self.session)
        stmt = (
            select(*CONTENT_COLUMNS).where(EVENTS.c.chain_index.is_(None)).order_by(EVENTS.c.seq).limit(limit)
        )
        return cast(Sequence[Mapping[str, Any]], self.session.execute(stmt).mappings().all())

    def write_links(self, links: Sequence[tuple[int, int, str, str]]) -> None:
        if not links:
            return
        conn = self.session.connection()
        if conn.dialect.name == "postgresql":
            seqs, indices, prevs, hashes = (list(column) for column in zip(*links, strict=True))
            result = conn.execute(_PG_LINK, {"s": seqs, "i": indices, "p": prevs, "h": hashes})
        else:
            stmt = (
                update(EVENTS)
                .where(EVENTS.c.seq == bindparam("s"), EVENTS.c.chain_index.is_(None))
                .values(chain_index=bindparam("i"), prev_hash=bindparam("p"), hash=bindparam("h"))
            )
            result = conn.execute(stmt, [{"s": s, "i": i, "p": p, "h": h} for s, i, p, h in links])
        if result.rowcount != len(links):
            raise SealConflict(
                f"sealed {result.rowcount} of {len(links)} events: another sealer ran meanwhile"
            )
        last = links[-1]
        self._head = (last[1], last[3])

    def last_checkpoint(self) -> Checkpoint | None:
        if not self._checkpoint_read:
            row = self.session.scalar(
                select(AuditCheckpoint).order_by(AuditCheckpoint.chain_index.desc()).limit(1)
            )
            self._last_checkpoint = None if row is None else checkpoint_of(row)
            self._checkpoint_read = True
        return self._last_checkpoint

    def events_since_checkpoint(self) -> int:
        last = self.last_checkpoint()
        return self.head()[0] - (last.chain_index if last is not None else 0)

    def write_checkpoint(self, checkpoint: Checkpoint) -> None:
        register_key(self.session, self.signer)
        self.session.add(
            AuditCheckpoint(
                chain_index=checkpoint.chain_index,
                hash=checkpoint.hash,
                created_at=checkpoint.created_at,
                key_id=checkpoint.key_id,
                signature=checkpoint.signature,
            )
        )
        self.session.flush()
        self._last_checkpoint = checkpoint
        self.checkpoints_written += 1
