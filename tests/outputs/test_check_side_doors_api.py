"""Issue 9 through the API and the check job: a file that exhausts the check process's memory is an
"error" result stored once per (file, check, version) while the service keeps running, and an ACRO
session's member names are refused exactly as a direct upload's name would be."""

from __future__ import annotations

import io
import re
import uuid
import zipfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.config import get_settings
from governance.models import OutputCheckResult, OutputFile
from governance.outputs.tasks import run_checks
from tests.conftest import TokenFor
from tests.outputs_api.support import GOOD_CSV, Api, problem

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def store_dir(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    directory = tmp_path / "outputs"
    monkeypatch.setenv("GOVERNANCE_OUTPUT_STORE_DIR", str(directory))
    get_settings.cache_clear()
    yield directory
    get_settings.cache_clear()


@pytest.fixture
def api(client: TestClient, token_for: TokenFor) -> Api:
    return Api(client, token_for)


def use_profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **defaults: int) -> None:
    text = (REPO / "policies" / "output_checks.toml").read_text()
    for key, value in defaults.items():
        text, count = re.subn(rf"(?m)^{key} = [^#\n]*", f"{key} = {value}  ", text, count=1)
        assert count == 1, key
    path = tmp_path / "output_checks.toml"
    path.write_text(text)
    monkeypatch.setenv("GOVERNANCE_RISK_PROFILE_FILE", str(path))
    get_settings.cache_clear()


def results_of(session: Session, request_id: str) -> list[OutputCheckResult]:
    session.expire_all()
    return list(
        session.scalars(
            select(OutputCheckResult)
            .join(OutputFile, OutputFile.id == OutputCheckResult.file_id)
            .where(OutputFile.request_id == uuid.UUID(request_id))
        )
    )


def test_promise_file_checks_run_in_a_limited_child_memory_error_is_stored_once_and_holds_the_request(
    api: Api, session: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the tables bound is lifted, so only the check process's memory limit stands in the way
    use_profile(tmp_path, monkeypatch, max_decoded_bytes=10**15, max_cells=10**12)
    monkeypatch.setenv("GOVERNANCE_OUTPUT_CHECK_MEMORY_BYTES", str(1 << 30))
    get_settings.cache_clear()
    bomb = io.BytesIO()
    labels = pa.DictionaryArray.from_arrays(pa.array([0] * 4000, pa.int32()), pa.array(["x" * (1 << 20)]))
    pq.write_table(pa.table({"label": labels}), bomb, compression="zstd")  # < 1 KB, 4 GiB decoded
    rid = api.new()
    api.add(rid, "labels.parquet", bomb.getvalue())
    api.add(rid, "table.csv", GOOD_CSV)
    body = api.submit(rid)  # jobs run inline: this process ran the check job and survived it
    assert body["status"] == "checking" and "labels.parquet: tabular" in body["hold_reason"]
    first = results_of(session, rid)
    tabular = next(r for r in first if r.check_name == "tabular" and r.status == "error")
    assert [f["code"] for f in tabular.findings] == ["out_of_memory"]
    assert "ran out of memory (limit 1 GiB)" in tabular.findings[0]["message"]
    assert set(Counter((r.file_id, r.check_name, r.check_version) for r in first).values()) == {1}
    assert len(first) == 16  # 2 files x (integrity + 7 checks)
    # the retry re-runs the error, replaces it, and still stores one result per key
    assert run_checks(rid) == "held"
    again = results_of(session, rid)
    assert set(Counter((r.file_id, r.check_name, r.check_version) for r in again).values()) == {1}
    assert len(again) == 16
    assert api.get(rid)["status"] == "checking"


def session_zip(folder: Path, extra: str) -> Path:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(folder.rglob("*")):
            if file.is_file():
                archive.writestr(f"session/{file.relative_to(folder).as_posix()}", file.read_bytes())
        archive.writestr(f"session/{extra}", "a,b\n1,2\n")
    path = folder.parent / "session.zip"
    path.write_bytes(buffer.getvalue())
    return path


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("a\\b.csv", "contains a path"),
        ("evil\u202ecsv.exe", "control or invisible formatting characters"),
        (".hidden.csv", "hidden or special"),
        ("x" * 300 + ".csv", "longer than 255 bytes"),
    ],
)
def test_promise_acro_member_names_are_cleaned_like_direct_uploads_on_both_paths(
    api: Api, acro_copy: Path, store_dir: Path, name: str, reason: str
) -> None:
    rid = api.new()
    direct = problem(api.raw_upload(rid, name.encode(), GOOD_CSV), 400)
    through_acro = problem(api.upload_acro(rid, session_zip(acro_copy, name)), 400)
    assert reason in direct["detail"] and reason in through_acro["detail"]
    # the same sentence, from the same function
    assert direct["detail"].split(": ")[-1] in through_acro["detail"]
    assert api.get(rid)["files"] == []
    assert not [p for p in store_dir.rglob("*") if p.is_file() and p.suffix == ".enc"]


def test_promise_acro_member_names_climbing_out_are_refused(api: Api, acro_copy: Path) -> None:
    rid = api.new()
    refused = problem(api.upload_acro(rid, session_zip(acro_copy, "../../etc/x.csv")), 400)
    assert "climbs out" in refused["detail"]
    assert "contains a path" in problem(api.raw_upload(rid, b"../../etc/x.csv", GOOD_CSV), 400)["detail"]
    assert api.get(rid)["files"] == []
