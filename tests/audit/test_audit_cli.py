"""`governance audit export` and `verify` (database and file), and the parallel verifiers."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient

from governance.audit import db_verify
from governance.audit.db_verify import verify_database
from governance.audit.export_format import verify_export
from governance.audit.parallel import verify_export_parallel
from governance.audit.record import record
from governance.audit.sealing import seal_pending
from governance.audit.signing import verification_keys
from governance.cli import main
from governance.config import get_settings
from governance.core.db import new_session, transaction
from tests.audit.factories import PUBLISHED, export_bytes, make_event, seal_log


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


@pytest.fixture
def sealed(db_url: str, monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setenv("GOVERNANCE_AUDIT_CHECKPOINT_EVERY_N", "10")
    monkeypatch.setenv("GOVERNANCE_AUDIT_SEAL_BATCH", "10")
    get_settings.cache_clear()
    with transaction() as s:
        for i in range(45):
            record(s, None, "test.cli", "test", str(i), summary={"i": i, "text": "caf\u00e9"}, source="cli")
    return seal_pending().head


@pytest.fixture
def keys_file(sealed: int, client: TestClient, tmp_path: Path) -> Path:
    path = tmp_path / "keys.json"
    path.write_text(client.get("/api/v1/audit/checkpoints/keys").text)
    return path


def test_export_then_verify_the_file_with_only_the_public_key(
    sealed: int, keys_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "audit.jsonl"
    result = run("audit", "export", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert f"wrote {sealed} events (1-{sealed})" in result.output
    good = run("audit", "verify", "--file", str(out), "--public-key", str(keys_file))
    assert good.exit_code == 0 and good.output.startswith(f"OK: {sealed} events verified"), good.output
    as_json = json.loads(
        run("audit", "verify", "--file", str(out), "--public-key", str(keys_file), "--json").output
    )
    assert as_json["ok"] and as_json["keys_trusted"] and as_json["last_index"] == sealed
    untrusted = run("audit", "verify", "--file", str(out))
    assert untrusted.exit_code == 0 and "not independently trusted" in untrusted.output

    lines = out.read_bytes().splitlines(keepends=True)
    first_event = next(n for n, line in enumerate(lines) if line.startswith(b'{"hash"'))
    edited = lines[first_event + 4].replace(b"test.cli", b"test.cLi")
    cases = {
        "tampered": [*lines[: first_event + 4], edited, *lines[first_event + 5 :]],
        "truncated": [*lines[: first_event + 20], lines[first_event + 20][:50]],
        "gap": lines[: first_event + 7] + lines[first_event + 8 :],
        "bad signature": [
            lines[0],
            lines[1].replace(b'"signature":"', b'"signature":"AAAA', 1)[:-3] + lines[1][-3:],
            *lines[2:],
        ],
    }
    expected = {
        "tampered": "FAILED at 5: event 5 was modified (hash mismatch)",
        "truncated": "FAILED at 21: log truncated: checkpoint covers 30 but the log ends at 20",
        "gap": "FAILED at 8: gap: event 8 is missing",
        "bad signature": "FAILED at 10: checkpoint at 10 has a bad signature",
    }
    for name, content in cases.items():
        broken = tmp_path / f"{name}.jsonl"
        broken.write_bytes(b"".join(content))
        result = run("audit", "verify", "--file", str(broken), "--public-key", str(keys_file))
        assert result.exit_code == 1, (name, result.output)
        assert result.output.startswith(expected[name]), (name, result.output)

    other = Ed25519PrivateKey.generate().public_key()
    pem = tmp_path / "other.pem"
    pem.write_bytes(
        other.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    wrong = run("audit", "verify", "--file", str(out), "--public-key", str(pem))
    assert wrong.exit_code == 1 and "signed by unknown key id" in wrong.output, wrong.output
    garbage = run("audit", "verify", "--file", str(out), "--public-key", "{not json")
    assert garbage.exit_code != 0 and "--public-key: the public keys are neither JSON" in garbage.output
    not_export = tmp_path / "notes.txt"
    not_export.write_text("hello\n")
    result = run("audit", "verify", "--file", str(not_export), "--public-key", str(keys_file))
    assert result.exit_code == 1 and "not an audit export" in result.output


def test_export_a_range_and_verify_the_database(sealed: int, keys_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "range.jsonl"
    assert run("audit", "export", "--from", "11", "--to", "25", "--out", str(out)).exit_code == 0
    result = run("audit", "verify", "--file", str(out), "--public-key", str(keys_file))
    assert result.exit_code == 0 and result.output.startswith("OK: 15 events verified"), result.output
    none = run("audit", "export", "--from", str(sealed + 1), "--out", str(tmp_path / "none.jsonl"))
    assert none.exit_code == 2 and f"the sealed log ends at {sealed}" in none.output
    assert not (tmp_path / "none.jsonl").exists()

    db = run("audit", "verify")
    assert db.exit_code == 0 and db.output.startswith(f"OK: {sealed} events verified"), db.output
    ranged = json.loads(run("audit", "verify", "--from", "12", "--to", "30", "--json").output)
    assert ranged["ok"] and ranged["verified_from"] == 11 and ranged["last_index"] == 30
    missing = run("audit", "verify", "--from", "1000", "--to", "2000")
    assert missing.exit_code == 1 and "range 1000-2000 does not exist" in missing.output
    trusted = run("audit", "verify", "--public-key", str(keys_file))
    assert trusted.exit_code == 0, trusted.output
    mixed = run("audit", "verify", "--file", str(out), "--from", "3")
    assert mixed.exit_code == 2 and "--from/--to" in mixed.output


def test_the_parallel_file_verifier_agrees_with_the_sequential_one(tmp_path: Path) -> None:
    store = seal_log([make_event(i) for i in range(600)], batch=50, every_n=50, final_checkpoint=False)
    store.append(make_event(9999))  # an unsealed event is not exported
    blob = export_bytes(store)
    path = tmp_path / "log.jsonl"
    path.write_bytes(blob)
    for trusted in (PUBLISHED, None):
        sequential = verify_export(io.BytesIO(blob), trusted)
        assert sequential.ok
        assert verify_export_parallel(path, trusted, 3) == sequential
    ranged = export_bytes(store, end_index=600)  # the range ends exactly at a checkpoint
    path.write_bytes(ranged)
    assert verify_export_parallel(path, PUBLISHED, 2) == verify_export(io.BytesIO(ranged), PUBLISHED)
    path.write_bytes(ranged + b"more\n")  # the last stretch still reads the file to its very end
    assert verify_export_parallel(path, PUBLISHED, 2) is None
    lines = blob.splitlines(keepends=True)
    for broken in (lines[:300] + lines[301:], lines[:-1], [*lines[:200], b"garbage\n", *lines[200:]]):
        path.write_bytes(b"".join(broken))
        assert not verify_export(io.BytesIO(b"".join(broken)), PUBLISHED).ok
        assert verify_export_parallel(path, PUBLISHED, 2) is None  # the caller then verifies sequentially


def test_the_parallel_database_verifier_agrees_with_the_sequential_one(
    sealed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db_verify, "PARALLEL_FROM_EVENTS", 10)
    settings = get_settings()
    with new_session() as session:
        keys, own = verification_keys(session, settings)
        one = verify_database(session, keys, own_key_id=own)
        two = verify_database(session, keys, own_key_id=own, workers=2, database_url=settings.database_url)
        ranged = verify_database(
            session, keys, start=14, end=41, workers=2, database_url=settings.database_url
        )
    assert one.report.ok and one == two
    assert ranged.report.ok and ranged.verified_from == 11 and ranged.report.last_index == 41
