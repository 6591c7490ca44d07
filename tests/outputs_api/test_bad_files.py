"""Hostile or broken files become recorded failed checks, never a 500 and never a stuck request."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.outputs.samples import PNG
from tests.outputs_api.support import Api


def codes(file: dict[str, Any], check: str) -> set[str]:
    result = next(c for c in file["checks"] if c["name"] == check)
    assert result["status"] == "fail", result
    return {f["code"] for f in result["findings"]}


def zip_of(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_hostile_files_are_checked_and_reported(api: Api) -> None:
    million_columns = ",".join(f"c{i}" for i in range(1_000_000)).encode() + b"\n" + b"1," * 999_999 + b"1\n"
    files = {
        "wide.csv": million_columns,
        "one_line.txt": b"x" * (10 * 1024 * 1024),
        "broken.xlsx": zip_of({"[Content_Types].xml": b"<Types/>", "xl/workbook.xml": b"<not a workbook"}),
        "random.xlsx": b"\x00\x01garbage" * 100,
        "table.csv": PNG,
        "bundle.zip": zip_of({"a.csv": b"a,b\n1,2\n"}),
    }
    rid = api.new()
    for name, data in files.items():
        response = api.upload(rid, name, data)
        assert response.status_code == 201, (name, response.text)
    body = api.submit(rid)
    assert body["status"] == "in_review", body["hold_reason"]
    by_name = {f["name"]: f for f in body["files"]}
    assert all(f["status"] == "fail" for f in by_name.values()), {n: f["status"] for n, f in by_name.items()}
    assert codes(by_name["wide.csv"], "size") & {"line_too_long", "too_many_columns"}
    assert "line_too_long" in codes(by_name["one_line.txt"], "size")
    assert "malformed_file" in codes(by_name["broken.xlsx"], "tabular")
    assert "extension_mismatch" in codes(by_name["random.xlsx"], "filetype")
    assert "extension_mismatch" in codes(by_name["table.csv"], "filetype")
    assert "archive_not_allowed" in codes(by_name["bundle.zip"], "archive")
    assert {f["media_type"] for f in by_name.values()} >= {"png", "zip", "txt"}


def test_a_zip_bomb_is_stopped_when_archives_are_allowed(api: Api, profile_file: Callable[..., Path]) -> None:
    profile_file(archives_allowed=True)
    bomb = zip_of({"zeros.csv": bytes(20 * 1024 * 1024)})
    nested = zip_of(
        {"inner.zip": zip_of({"inner2.zip": zip_of({"innermost.zip": zip_of({"x.csv": b"a,b\n"})})})}
    )
    assert len(bomb) < 100_000
    rid = api.new()
    api.add(rid, "bomb.zip", bomb)
    api.add(rid, "nested.zip", nested)
    api.add(rid, "fine.zip", zip_of({"a.csv": b"year,count\n2020,125\n"}))
    by_name = {f["name"]: f for f in api.submit(rid)["files"]}
    assert "compression_ratio" in codes(by_name["bomb.zip"], "archive")
    assert "archive_too_deep" in codes(by_name["nested.zip"], "archive")
    fine = next(c for c in by_name["fine.zip"]["checks"] if c["name"] == "archive")
    assert fine["status"] == "pass" and fine["parameters"]["archive_kind"] == "zip"
