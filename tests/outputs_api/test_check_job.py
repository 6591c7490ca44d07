"""The check job: idempotent per (file, check, version), safe to run concurrently, held while the scanner
is unreachable and retried, blocking on malware (a real clamd) or a changed file, differencing."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from governance.config import Settings, get_settings
from governance.core.clock import utcnow
from governance.models import AuditEvent, OutputCheckResult, OutputFile, OutputRequest
from governance.outputs.checks.base import CheckResult
from governance.outputs.tasks import retry_held, run_checks, store_result
from tests.outputs.conftest import EICAR, Clamd
from tests.outputs_api.support import GOOD_CSV, Api, problem


def result_keys(session: Session, request_id: str) -> Counter[tuple[uuid.UUID, str, str]]:
    session.expire_all()
    rows = session.execute(
        select(OutputCheckResult.file_id, OutputCheckResult.check_name, OutputCheckResult.check_version)
        .join(OutputFile, OutputFile.id == OutputCheckResult.file_id)
        .where(OutputFile.request_id == uuid.UUID(request_id))
    ).all()
    return Counter((r[0], r[1], r[2]) for r in rows)


def reset_to_submitted(session: Session, request_id: str, *, keep: int = 0) -> None:
    rid = uuid.UUID(request_id)
    ids = session.scalars(
        select(OutputCheckResult.id)
        .join(OutputFile, OutputFile.id == OutputCheckResult.file_id)
        .where(OutputFile.request_id == rid)
        .order_by(OutputCheckResult.created_at)
    ).all()
    session.execute(delete(OutputCheckResult).where(OutputCheckResult.id.in_(ids[keep:])))
    session.execute(update(OutputRequest).where(OutputRequest.id == rid).values(status="submitted"))
    session.commit()


def events(session: Session, request_id: str, action: str) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.object_id == request_id, AuditEvent.action == action)
        )
        or 0
    )


def use_settings(monkeypatch: pytest.MonkeyPatch, **values: str) -> None:
    for key, value in values.items():
        monkeypatch.setenv(f"GOVERNANCE_{key.upper()}", value)
    get_settings.cache_clear()


def test_rerunning_skips_what_is_stored_and_completes_what_is_missing(api: Api, session: Session) -> None:
    rid = api.new()
    api.add(rid, "a.csv")
    api.add(rid, "b.csv", GOOD_CSV.replace(b"2019", b"2018"))
    api.submit(rid)
    before = result_keys(session, rid)
    assert len(before) == 16 and set(before.values()) == {1}  # 2 files x (integrity + 7 checks)
    assert run_checks(rid) == "nothing to do: the request is in_review"
    reset_to_submitted(session, rid, keep=5)
    assert run_checks(rid) == "in_review"
    assert result_keys(session, rid) == before
    assert events(session, rid, "output_request.finish_checks") == 2
    stored = session.scalar(select(OutputCheckResult).where(OutputCheckResult.check_name == "size"))
    assert stored is not None
    duplicate = CheckResult("size", "1", "fail", [], {}, {})
    assert store_result(stored.file_id, duplicate, 0) is False
    session.refresh(stored)
    assert stored.status == "pass"


def test_concurrent_runs_store_each_result_once_and_move_the_request_once(api: Api, session: Session) -> None:
    rid = api.new()
    for i in range(3):
        api.add(rid, f"t{i}.csv", GOOD_CSV.replace(b"2019", f"20{10 + i}".encode()))
    api.submit(rid)
    expected = result_keys(session, rid)
    reset_to_submitted(session, rid)
    outcomes: list[str] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            outcomes.append(run_checks(rid))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    assert result_keys(session, rid) == expected
    assert api.get(rid)["status"] == "in_review"
    assert events(session, rid, "output_request.start_checks") == 2  # once per submission
    assert events(session, rid, "output_request.finish_checks") == 2
    assert "in_review" in outcomes


def test_an_unreachable_scanner_holds_the_request_until_a_retry_succeeds(
    api: Api, session: Session, clamd: Clamd, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_settings(monkeypatch, clamd_address=str(tmp_path / "no-clamd.sock"), output_retry_seconds="0")
    rid = api.new()
    api.add(rid, "t.csv")
    held = api.submit(rid)
    assert held["status"] == "checking" and "malware" in held["hold_reason"]
    malware = next(c for c in held["files"][0]["checks"] if c["name"] == "malware")
    assert malware["status"] == "error" and malware["findings"][0]["code"] == "scanner_unreachable"
    assert held["files"][0]["status"] == "error"
    assert events(session, rid, "output_request.hold") == 1
    assert retry_held() == 1  # still unreachable: held again, not audited twice
    assert api.get(rid)["status"] == "checking" and events(session, rid, "output_request.hold") == 1
    use_settings(
        monkeypatch, clamd_address=clamd.unix_address, clamd_max_stream_bytes=str(clamd.stream_max_bytes)
    )
    assert retry_held() == 1
    done = api.get(rid)
    assert done["status"] == "in_review" and done["hold_reason"] == ""
    malware = next(c for c in done["files"][0]["checks"] if c["name"] == "malware")
    assert malware["status"] == "pass" and malware["parameters"]["scanner"] == "clamd"
    assert Counter(result_keys(session, rid).values()) == Counter({1: 8})


def test_silent_runs_are_retried(api: Api, session: Session) -> None:
    rid = api.new()
    api.add(rid)
    api.submit(rid)
    reset_to_submitted(session, rid, keep=3)
    session.execute(
        update(OutputRequest)
        .where(OutputRequest.id == uuid.UUID(rid))
        .values(status="checking", checks_heartbeat_at=utcnow() - timedelta(minutes=5))
    )
    session.commit()
    assert retry_held() == 0  # not silent for long enough (output_stale_seconds)
    session.execute(
        update(OutputRequest)
        .where(OutputRequest.id == uuid.UUID(rid))
        .values(checks_heartbeat_at=utcnow() - timedelta(hours=2))
    )
    session.commit()
    assert retry_held() == 1
    assert api.get(rid)["status"] == "in_review"


def test_malware_found_by_clamd_blocks_the_request(
    api: Api, session: Session, clamd: Clamd, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_settings(
        monkeypatch, clamd_address=clamd.tcp_address, clamd_max_stream_bytes=str(clamd.stream_max_bytes)
    )
    rid = api.new()
    api.add(rid, "clean.csv")
    bad = api.add(rid, "notes.txt", b"Results summary\n" + EICAR + b"\n")
    blocked = api.submit(rid)
    assert blocked["status"] == "blocked" and "Governance.Test.EICAR" in blocked["hold_reason"]
    infected = next(f for f in blocked["files"] if f["id"] == bad)
    malware = next(c for c in infected["checks"] if c["name"] == "malware")
    assert malware["status"] == "fail" and malware["findings"][0]["code"] == "malware"
    assert problem(api.content(rid, bad, "olivia"), 403)["detail"].startswith(
        "the files of a blocked request"
    )
    problem(api.vote(rid, bad, "olivia"), 409)
    assert events(session, rid, "output_request.block") == 1


def test_a_file_changed_before_checking_blocks_the_request(api: Api, session: Session) -> None:
    from governance.outputs.runtime import output_store

    rid = api.new()
    fid = api.add(rid)
    row = session.get(OutputFile, uuid.UUID(fid))
    assert row is not None
    path = output_store().path_for(row.storage_id)
    path.write_bytes(path.read_bytes()[:-3])
    body = api.submit(rid)
    assert body["status"] == "blocked" and "no longer matches its hash" in body["hold_reason"]
    integrity = next(c for c in body["files"][0]["checks"] if c["name"] == "integrity")
    assert integrity["status"] == "fail" and integrity["findings"][0]["code"] == "hash_mismatch"


def test_differencing_against_the_projects_earlier_release(api: Api) -> None:
    first = api.new(title="by ward")
    api.add(first, "wards.csv", b"ward,patients\nA,125\nB,140\nC,240\n")
    api.submit(first)
    api.approve_all(first)
    assert api.post(first, "release", "olivia").status_code == 200
    second = api.new(title="by ward, later")
    api.add(second, "wards_v2.csv", b"ward,patients\nA,125\nB,143\nC,240\n")
    body = api.submit(second)
    differencing = next(c for c in body["files"][0]["checks"] if c["name"] == "differencing")
    assert differencing["status"] == "fail", differencing
    assert differencing["parameters"]["compared_with"] == ["wards.csv"]
    finding = next(f for f in differencing["findings"] if f["code"] == "differencing")
    assert finding["location"]["row"] == 1 and finding["location"]["column"] == "patients"


def test_the_test_only_delay_is_refused_in_production() -> None:
    with pytest.raises(ValidationError, match="OUTPUT_CHECK_DELAY"):
        Settings(env="production", secret_key="k" * 40, output_check_delay_seconds=1)


def test_production_refuses_to_store_files_without_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    from governance.outputs.runtime import OutputsMisconfigured, keyring_from_settings

    with pytest.raises(OutputsMisconfigured, match="GOVERNANCE_KEK_KEYS"):
        keyring_from_settings(Settings(env="production", secret_key="k" * 40))
    configured = Settings(
        env="production", secret_key="k" * 40, kek_keys={"1": "A" * 43 + "=", "2": "B" * 43 + "="}
    )
    ring = keyring_from_settings(configured)
    assert ring.current == "2" and sorted(ring.keys) == ["1", "2"]
    with pytest.raises(OutputsMisconfigured, match="32 bytes"):
        keyring_from_settings(Settings(env="test", kek_keys={"1": "c2hvcnQ="}))


def test_a_missing_key_encryption_key_holds_rather_than_blocks(
    api: Api, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    import base64
    import secrets

    first, second = (base64.b64encode(secrets.token_bytes(32)).decode() for _ in range(2))
    use_settings(monkeypatch, kek_keys=f'{{"1": "{first}"}}', output_retry_seconds="0")
    rid = api.new()
    api.add(rid)
    use_settings(monkeypatch, kek_keys=f'{{"2": "{second}"}}')  # version 1 is missing here
    held = api.submit(rid)
    assert held["status"] == "checking" and "integrity" in held["hold_reason"]
    integrity = next(c for c in held["files"][0]["checks"] if c["name"] == "integrity")
    assert integrity["status"] == "error" and integrity["findings"][0]["code"] == "key_unavailable"
    use_settings(monkeypatch, kek_keys=f'{{"1": "{first}", "2": "{second}"}}')
    assert retry_held() == 1
    assert api.get(rid)["status"] == "in_review"
