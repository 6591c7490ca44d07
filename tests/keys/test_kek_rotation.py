"""`governance keys`: rotate adds a KEK version and re-wraps data keys (files untouched); retire refuses
while a version is in use; the server picks the new version up from the key file."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.cli import main
from governance.config import get_settings
from governance.models import AuditEvent, OutputFile, OutputRequest
from governance.outputs.runtime import output_store


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


@pytest.fixture
def kek_file(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "keys" / "kek.json"
    monkeypatch.setenv("GOVERNANCE_KEK_FILE", str(path))
    monkeypatch.setenv("GOVERNANCE_OUTPUT_STORE_DIR", str(tmp_path / "outputs"))
    get_settings.cache_clear()
    return path


def store_files(session: Session, ids: dict[str, uuid.UUID], count: int) -> dict[str, bytes]:
    """Encrypt ``count`` files into the store and add their rows; returns plaintext by storage id."""
    request = OutputRequest(
        id=uuid.uuid4(), project_id=ids["diabetes-outcomes"], title="t", requester_id=ids["alice"], tier=2
    )
    session.add(request)
    session.flush()
    contents: dict[str, bytes] = {}
    for n in range(count):
        data = f"year,count\n2020,{100 + n}\n".encode()
        writer = output_store().open_writer(uuid.uuid4().hex, max_bytes=1 << 20)
        writer.write(data)
        stored = writer.commit()
        session.add(
            OutputFile(
                id=uuid.uuid4(),
                request_id=request.id,
                name=f"t{n}.csv",
                size=stored.size,
                sha256=stored.sha256,
                storage_id=stored.file_id,
                wrapped_key=stored.wrapped_key,
                kek_version=stored.kek_version,
                uploaded_by_id=ids["alice"],
            )
        )
        contents[stored.file_id] = data
    session.commit()
    return contents


def readable(session: Session, contents: dict[str, bytes]) -> bool:
    store = output_store()
    for row in session.scalars(select(OutputFile)):
        if (
            b"".join(store.open_reader(row.storage_id, row.wrapped_key, row.kek_version))
            != contents[row.storage_id]
        ):
            return False
    return True


def versions(session: Session) -> set[str]:
    session.expire_all()
    return set(session.scalars(select(OutputFile.kek_version)))


def test_rotate_rewraps_without_reencrypting_and_retire_waits_until_unused(
    kek_file: Path, session: Session, ids: dict[str, uuid.UUID]
) -> None:
    contents = store_files(session, ids, 3)
    assert versions(session) == {"dev"}
    on_disk = {p: p.read_bytes() for p in Path(get_settings().output_store_dir).rglob("*.enc")}
    assert len(on_disk) == 3
    assert "* dev" in run("keys", "list").output

    rotated = run("keys", "rotate")
    assert rotated.exit_code == 0, rotated.output
    assert (
        "added KEK version 1" in rotated.output
        and "re-wrapped 3 data key(s) under version 1 (3 from dev)" in rotated.output
    )
    assert versions(session) == {"1"} and readable(session, contents)
    assert {p: p.read_bytes() for p in on_disk} == on_disk  # the data was not re-encrypted
    assert output_store().keyring.current == "1"  # the server reads the key file
    assert json.loads(kek_file.read_text())["current"] == "1" and oct(kek_file.stat().st_mode)[-3:] == "600"
    actions = session.scalars(select(AuditEvent.action).where(AuditEvent.object_type == "kek")).all()
    assert actions == ["kek.rotate", "kek.rewrap"]

    refused = run("keys", "retire", "1")
    assert refused.exit_code == 1 and "is current" in refused.output
    assert run("keys", "retire", "dev").exit_code == 0  # nothing uses it any more
    assert "dev" not in output_store().keyring.keys and readable(session, contents)

    assert run("keys", "rotate", "--no-rewrap").exit_code == 0
    in_use = run("keys", "retire", "1")
    assert in_use.exit_code == 1 and "still wraps the data keys of 3 output file(s)" in in_use.output
    new_files = store_files(session, ids, 1)  # new files are wrapped under the new version at once
    assert versions(session) == {"1", "2"}
    rewrapped = run("keys", "rewrap")
    assert (
        rewrapped.exit_code == 0 and "re-wrapped 3 data key(s) under version 2 (3 from 1)" in rewrapped.output
    )
    assert run("keys", "retire", "1").exit_code == 0
    assert versions(session) == {"2"} and readable(session, {**contents, **new_files})
    listing = run("keys", "list").output.splitlines()
    assert listing == ["* 2        file     4 file(s)"]
    unknown = run("keys", "retire", "7")
    assert unknown.exit_code == 1 and "no KEK version '7'" in unknown.output


def test_a_damaged_data_key_is_reported_and_the_others_still_rewrapped(
    kek_file: Path, session: Session, ids: dict[str, uuid.UUID]
) -> None:
    store_files(session, ids, 3)
    broken = session.scalars(select(OutputFile)).first()
    assert broken is not None
    broken.wrapped_key = b"\x01" + bytes(60)
    session.commit()
    result = run("keys", "rotate")
    assert result.exit_code == 1 and f"could not re-wrap output file {broken.id}" in result.output
    assert "re-wrapped 2 data key(s)" in result.output
    assert versions(session) == {"dev", "1"}


def test_rotation_needs_a_key_file_the_server_reads_and_no_pinned_version(
    db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("GOVERNANCE_KEK_FILE", raising=False)
    get_settings.cache_clear()
    result = run("keys", "rotate")
    assert result.exit_code == 1 and "set GOVERNANCE_KEK_FILE" in result.output
    monkeypatch.setenv("GOVERNANCE_KEK_FILE", str(tmp_path / "kek.json"))
    monkeypatch.setenv("GOVERNANCE_KEK_CURRENT", "dev")
    get_settings.cache_clear()
    pinned = run("keys", "rotate")
    assert pinned.exit_code == 1 and "GOVERNANCE_KEK_CURRENT pins version 'dev'" in pinned.output
    (tmp_path / "kek.json").write_text("{broken")
    monkeypatch.delenv("GOVERNANCE_KEK_CURRENT")
    get_settings.cache_clear()
    damaged = run("keys", "list")
    assert damaged.exit_code == 1 and "cannot be read" in damaged.output
