"""The sealer over the real database: chaining, checkpoints, the one-sealer lock, the thread, the task."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from governance.app import create_app
from governance.audit.db_verify import verify_database
from governance.audit.record import record
from governance.audit.sealing import SealerThread, seal_pending, wants_thread
from governance.audit.signing import signer_from_settings, verification_keys
from governance.audit.sql_store import SealConflict, SqlSealerStore, try_sealer_lock
from governance.cli import main
from governance.config import Settings, get_settings
from governance.core.db import get_engine, new_session, transaction
from governance.models import AuditCheckpoint, AuditEvent, AuditSigningKey


def append(n: int, action: str = "test.append") -> None:
    with transaction() as session:
        for i in range(n):
            record(session, None, action, "test", str(i), summary={"i": i}, source="cli")


@pytest.fixture
def small_checkpoints(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("GOVERNANCE_AUDIT_CHECKPOINT_EVERY_N", "10")
    monkeypatch.setenv("GOVERNANCE_AUDIT_SEAL_BATCH", "7")
    get_settings.cache_clear()
    return get_settings()


def unsealed(session: Session) -> int:
    return int(session.scalar(select(func.count()).where(AuditEvent.chain_index.is_(None))) or 0)


def test_a_pass_chains_every_committed_event_and_signs_checkpoints(
    small_checkpoints: Settings, session: Session
) -> None:
    append(25)
    total = int(session.scalar(select(func.count()).select_from(AuditEvent)) or 0)
    report = seal_pending()
    assert (report.sealed, report.head, report.busy) == (total, total, False)
    assert report.batches == total // 7 + 1
    assert unsealed(session) == 0
    indices = session.scalars(select(AuditCheckpoint.chain_index).order_by(AuditCheckpoint.chain_index)).all()
    assert indices and all(b - a >= 7 for a, b in itertools.pairwise(indices))
    signer = signer_from_settings(small_checkpoints)
    assert session.scalar(select(AuditSigningKey.key_id)) == signer.key_id
    keys, own = verification_keys(session, small_checkpoints)
    result = verify_database(session, keys, own_key_id=own)
    assert result.report.ok and result.report.checked == total, result.report
    assert result.report.last_checkpoint_verified == indices[-1]

    append(3)  # later events continue the chain; no checkpoint is due yet
    assert seal_pending().sealed == 3
    session.expire_all()
    result = verify_database(session, keys, own_key_id=own)
    assert result.report.ok and result.report.unsigned_tail == total + 3 - indices[-1]
    assert seal_pending().sealed == 0


def test_only_one_sealer_at_a_time(small_checkpoints: Settings) -> None:
    append(4)
    with Session(get_engine()) as holder:
        assert try_sealer_lock(holder)
        with Session(get_engine()) as other:
            assert not try_sealer_lock(other, wait_seconds=0.1)
            other.rollback()
        holder.rollback()
    with Session(get_engine()) as again:
        assert try_sealer_lock(again, wait_seconds=0.1)
        again.rollback()


def test_a_racing_second_sealer_fails_instead_of_forking_the_chain(small_checkpoints: Settings) -> None:
    append(3)
    signer = signer_from_settings(small_checkpoints)
    with Session(get_engine()) as slow:
        store = SqlSealerStore(slow, signer)
        batch = store.unsealed_batch(100)
        assert batch
        seal_pending()  # a second sealer that ignored the lock gets there first
        from governance.audit.chain import link

        links = link(batch, store.head()[1], store.head()[0] + 1)
        with pytest.raises(SealConflict, match="another sealer"):
            store.write_links([(e["seq"], *chain) for e, chain in zip(batch, links, strict=True)])
        slow.rollback()
    with new_session() as session:
        keys, own = verification_keys(session, small_checkpoints)
        assert verify_database(session, keys, own_key_id=own).report.ok


def test_a_pass_in_progress_in_this_process_makes_another_return_busy(small_checkpoints: Settings) -> None:
    from governance.audit import sealing

    with sealing._in_process:
        assert seal_pending().busy


def test_the_thread_runs_with_the_app_and_stops_with_it(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOVERNANCE_AUDIT_SEALER", "thread")
    monkeypatch.setenv("GOVERNANCE_AUDIT_SEAL_INTERVAL_SECONDS", "0.05")
    get_settings.cache_clear()
    app = create_app()
    with TestClient(app):
        sealer = app.state.audit_sealer
        assert isinstance(sealer, SealerThread) and sealer.alive
        append(5)
        deadline = time.monotonic() + 10
        with new_session() as session:
            while unsealed(session) and time.monotonic() < deadline:
                time.sleep(0.05)
                session.expire_all()
            assert unsealed(session) == 0
    assert not sealer.alive


def test_the_thread_is_off_in_tests_and_with_a_broker_unless_asked_for() -> None:
    assert not wants_thread(Settings(env="test"))
    assert wants_thread(Settings(env="dev"))
    assert not wants_thread(Settings(env="dev", broker_url="redis://127.0.0.1:6379/0"))
    assert wants_thread(Settings(env="test", audit_sealer="thread"))
    assert not wants_thread(Settings(env="dev", audit_sealer="off"))


def test_a_failing_pass_does_not_stop_the_thread() -> None:
    calls: list[int] = []

    def flaky() -> object:
        calls.append(1)
        raise RuntimeError("database went away")

    sealer = SealerThread(Settings(env="test", audit_seal_interval_seconds=0.01), seal=flaky).start()  # type: ignore[arg-type]
    deadline = time.monotonic() + 5
    while len(calls) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    sealer.stop()
    assert len(calls) >= 3 and not sealer.alive


def test_the_celery_task_and_the_cli_seal(small_checkpoints: Settings) -> None:
    from governance.tasks import declared_jobs
    from governance.worker import make_celery

    app = make_celery()
    assert "audit.seal" in app.tasks
    assert app.conf.beat_schedule["audit.seal"]["task"] == "audit.seal"
    append(2)
    result = declared_jobs()["audit.seal"].body()
    assert result["sealed"] >= 2 and not result["busy"]
    append(3)
    out = CliRunner().invoke(main, ["audit", "seal"])
    assert out.exit_code == 0 and out.output.startswith("sealed 3 events"), out.output


@pytest.fixture
def sealed_db(small_checkpoints: Settings) -> Iterator[Settings]:
    append(40)
    seal_pending()
    yield small_checkpoints


def test_tampering_in_the_database_is_named(sealed_db: Settings) -> None:
    """What the triggers stop an application from doing, an operator with DDL rights can still do:
    verification names it."""
    engine = get_engine()
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("ALTER TABLE audit_events DISABLE TRIGGER audit_events_seal_only"))
        else:
            conn.execute(text("DROP TRIGGER audit_events_seal_only"))
        conn.execute(text("UPDATE audit_events SET actor_username = 'mallory' WHERE chain_index = 17"))
    with new_session() as session:
        keys, own = verification_keys(session, sealed_db)
        report = verify_database(session, keys, own_key_id=own).report
    assert (report.ok, report.first_bad_index) == (False, 17)
    assert report.problem == "event 17 was modified (hash mismatch)"
