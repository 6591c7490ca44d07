"""`governance outputs`: retrying held requests and rotating the key-encryption key."""

from __future__ import annotations

import base64
import secrets
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import update
from sqlalchemy.orm import Session

from governance.cli import main
from governance.config import get_settings
from governance.core.clock import utcnow
from governance.models import OutputFile, OutputRequest
from tests.outputs_api.support import GOOD_CSV, Api


def test_retry_held_runs_the_checks_of_a_stalled_request(api: Api, session: Session) -> None:
    rid = api.new()
    api.add(rid)
    api.submit(rid)
    session.execute(
        update(OutputRequest)
        .where(OutputRequest.id == uuid.UUID(rid))
        .values(status="submitted", submitted_at=utcnow() - timedelta(hours=3), checks_heartbeat_at=None)
    )
    session.commit()
    result = CliRunner().invoke(main, ["outputs", "retry-held"])
    assert result.exit_code == 0, result.output
    assert "queued 1 request(s)" in result.output
    assert api.get(rid)["status"] == "in_review"


def test_rewrap_moves_every_data_key_to_the_new_key(
    api: Api, session: Session, monkeypatch: pytest.MonkeyPatch, store_dir: Path
) -> None:
    old = base64.b64encode(secrets.token_bytes(32)).decode()
    monkeypatch.setenv("GOVERNANCE_KEK_KEYS", f'{{"1": "{old}"}}')
    get_settings.cache_clear()
    rid = api.new()
    fid = api.add(rid, "t.csv", GOOD_CSV)
    new = base64.b64encode(secrets.token_bytes(32)).decode()
    monkeypatch.setenv("GOVERNANCE_KEK_KEYS", f'{{"1": "{old}", "2": "{new}"}}')
    get_settings.cache_clear()
    result = CliRunner().invoke(main, ["outputs", "rewrap-keys"])
    assert result.exit_code == 0, result.output
    assert "re-wrapped 1 data key(s) under key-encryption key '2'" in result.output
    row = session.get(OutputFile, uuid.UUID(fid))
    assert row is not None and row.kek_version == "2"
    monkeypatch.setenv("GOVERNANCE_KEK_KEYS", f'{{"2": "{new}"}}')  # the old key is retired
    get_settings.cache_clear()
    from governance.outputs.runtime import output_store

    assert b"".join(output_store().open_reader(row.storage_id, row.wrapped_key, row.kek_version)) == GOOD_CSV
