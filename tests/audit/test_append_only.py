"""The database itself refuses to change or remove audit events (SQLite and PostgreSQL triggers).

The SQL below is built from the constants of this file only.
"""

# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from governance.audit.record import record
from governance.core.db import get_engine, transaction

CONTENT_CHANGES = {
    "occurred_at": "occurred_at = occurred_at",  # even a no-op write is refused once sealed
    "actor_username": "actor_username = 'mallory'",
    "action": "action = 'nothing.happened'",
    "object_id": "object_id = 'x'",
    "project_id": "project_id = 'p-forged'",
    "outcome": "outcome = 'denied'",
    "summary": "summary = '{}'",
    "source": "source = 'mallory'",
    "request_id": "request_id = 'forged'",
    "seq": "seq = seq + 100000",
}


@pytest.fixture
def conn(db_url: str) -> Iterator[Connection]:
    with transaction() as session:  # a few events of our own, none sealed
        for n in range(3):
            record(session, None, "test.append", "test", str(n), summary={"n": n}, source="cli")
    with get_engine().connect() as connection:
        yield connection


def _first_seq(conn: Connection, sealed: bool) -> int:
    condition = "IS NOT NULL" if sealed else "IS NULL"
    seq = conn.execute(text(f"SELECT min(seq) FROM audit_events WHERE chain_index {condition}")).scalar()
    assert seq is not None
    return int(seq)


def _seal_one(conn: Connection, seq: int, index: int) -> None:
    conn.execute(
        text("UPDATE audit_events SET chain_index = :i, prev_hash = :p, hash = :h WHERE seq = :s"),
        {"i": index, "p": "0" * 64, "h": "1" * 64, "s": seq},
    )
    conn.commit()


def _refused(conn: Connection, sql: str, **params: object) -> str:
    with pytest.raises(DBAPIError) as caught:
        conn.execute(text(sql), params)
    conn.rollback()
    return str(caught.value.orig)


def test_the_sealer_may_set_the_chain_fields_once_and_nothing_else(conn: Connection) -> None:
    seq = _first_seq(conn, sealed=False)
    _seal_one(conn, seq, 1)
    row = conn.execute(text("SELECT chain_index, hash FROM audit_events WHERE seq = :s"), {"s": seq}).one()
    assert tuple(row) == (1, "1" * 64)

    message = _refused(
        conn, "UPDATE audit_events SET chain_index = 2, hash = :h WHERE seq = :s", h="2" * 64, s=seq
    )
    assert "append-only" in message
    message = _refused(
        conn,
        "UPDATE audit_events SET hash = NULL, prev_hash = NULL, chain_index = NULL WHERE seq = :s",
        s=seq,
    )
    assert "append-only" in message
    assert conn.execute(text("SELECT hash FROM audit_events WHERE seq = :s"), {"s": seq}).scalar() == "1" * 64


@pytest.mark.parametrize("field", sorted(CONTENT_CHANGES))
def test_content_fields_cannot_be_updated_sealed_or_not(conn: Connection, field: str) -> None:
    unsealed = _first_seq(conn, sealed=False)
    change = CONTENT_CHANGES[field]
    if field != "occurred_at":  # a no-op on an unsealed row changes nothing the trigger can see
        assert "append-only" in _refused(conn, f"UPDATE audit_events SET {change} WHERE seq = :s", s=unsealed)
    _seal_one(conn, unsealed, 1)
    assert "append-only" in _refused(conn, f"UPDATE audit_events SET {change} WHERE seq = :s", s=unsealed)
    # Sealing while changing content in the same statement is refused too.
    other = _first_seq(conn, sealed=False)
    if field != "occurred_at":
        sql = f"UPDATE audit_events SET chain_index = 2, prev_hash = :p, hash = :p, {change} WHERE seq = :s"
        assert "append-only" in _refused(conn, sql, p="3" * 64, s=other)


def test_delete_is_refused_sealed_or_not(conn: Connection) -> None:
    before = conn.execute(text("SELECT count(*) FROM audit_events")).scalar()
    assert before
    assert "append-only" in _refused(
        conn, "DELETE FROM audit_events WHERE seq = :s", s=_first_seq(conn, False)
    )
    _seal_one(conn, _first_seq(conn, sealed=False), 1)
    assert "append-only" in _refused(conn, "DELETE FROM audit_events WHERE chain_index = 1")
    assert "append-only" in _refused(conn, "DELETE FROM audit_events")
    assert conn.execute(text("SELECT count(*) FROM audit_events")).scalar() == before


def test_truncate_is_refused_on_postgresql(conn: Connection) -> None:
    if conn.dialect.name != "postgresql":
        assert conn.dialect.name == "sqlite"  # SQLite has no TRUNCATE; DELETE without WHERE is refused above
        return
    assert "append-only" in _refused(conn, "TRUNCATE audit_events")
    assert "insert-only" in _refused(conn, "TRUNCATE audit_checkpoints")


def test_checkpoints_and_signing_keys_are_insert_only(conn: Connection) -> None:
    conn.execute(
        text(
            "INSERT INTO audit_checkpoints (chain_index, hash, created_at, key_id, signature) "
            "VALUES (1, :h, '2026-01-01 00:00:00', 'k', 's')"
        ),
        {"h": "1" * 64},
    )
    conn.execute(
        text(
            "INSERT INTO audit_signing_keys (key_id, algorithm, public_key, first_used_at) "
            "VALUES ('k', 'Ed25519', 'AAAA', '2026-01-01 00:00:00')"
        )
    )
    conn.commit()
    assert "insert-only" in _refused(conn, "UPDATE audit_checkpoints SET hash = :h", h="2" * 64)
    assert "insert-only" in _refused(conn, "DELETE FROM audit_checkpoints")
    assert "insert-only" in _refused(conn, "UPDATE audit_signing_keys SET public_key = 'BBBB'")
    assert "insert-only" in _refused(conn, "DELETE FROM audit_signing_keys")
    assert conn.execute(text("SELECT count(*) FROM audit_checkpoints")).scalar() == 1
