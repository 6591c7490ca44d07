"""ACRO sessions, generated with the real `acro` package, uploaded as a ZIP through the API."""

from __future__ import annotations

import zipfile
from pathlib import Path

from tests.outputs.test_acro_ingest import _write_v04_session
from tests.outputs_api.support import Api, problem


def zip_folder(folder: Path, target: Path, inside: str | None = "session") -> Path:
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                name = path.relative_to(folder).as_posix()
                archive.write(path, f"{inside}/{name}" if inside else name)
    return target


def test_an_acro_session_becomes_checked_files(api: Api, acro_session: Path, tmp_path: Path) -> None:
    rid = api.new(title="ACRO outputs")
    response = api.upload_acro(rid, zip_folder(acro_session, tmp_path / "acro.zip"))
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["acro_version"].startswith("1.") and body["outputs"] == 6 and body["problems"] == []
    assert (
        sorted(body["skipped"]) == sorted(u for u in body["skipped"] if u.endswith("DONT_RELEASE"))
        and len(body["skipped"]) == 2
    )
    names = sorted(f["name"] for f in body["files"])
    assert names == [
        "output_0_0.csv",
        "output_1_0.csv",
        "output_2_0.csv",
        "output_2_1.csv",
        "output_2_2.csv",
        "session_figure.png",
    ]
    first = next(f for f in body["files"] if f["name"] == "output_0_0.csv")
    assert (
        first["source"] == "acro" and first["acro"]["uid"] == "output_0" and first["acro"]["status"] == "fail"
    )
    assert first["acro"]["exception"].startswith("The small cells are structural")
    assert first["acro"]["expected_sha256"] == first["sha256"]

    checked = {f["name"]: f for f in api.submit(rid)["files"]}
    acro = next(c for c in checked["output_0_0.csv"]["checks"] if c["name"] == "acro")
    assert acro["status"] == "review"
    codes = {f["code"] for f in acro["findings"]}
    assert {"acro_fail", "exception_requested"} <= codes and "checksum_mismatch" not in codes
    assert any(
        f["location"] and "row" in f["location"]
        for f in acro["findings"]
        if f["code"].startswith("acro_") and f["code"] != "acro_fail"
    )
    # our own checks ran on ACRO's table too, and found the small cells themselves
    ours = next(c for c in checked["output_0_0.csv"]["checks"] if c["name"] == "tabular")
    assert ours["status"] == "fail"
    passing = next(c for c in checked["output_1_0.csv"]["checks"] if c["name"] == "acro")
    assert passing["status"] == "pass"
    figure = next(c for c in checked["session_figure.png"]["checks"] if c["name"] == "acro")
    assert figure["status"] == "review" and figure["parameters"]["type"] == "custom"


def test_an_edited_output_fails_its_acro_checksum(api: Api, acro_copy: Path, tmp_path: Path) -> None:
    table = acro_copy / "output_1_0.csv"
    table.write_text(table.read_text().replace("Alive", "Alive ", 1))
    rid = api.new()
    body = api.upload_acro(rid, zip_folder(acro_copy, tmp_path / "edited.zip", inside=None)).json()
    assert {p["code"] for p in body["problems"]} == {"checksum_mismatch"}
    checked = {f["name"]: f for f in api.submit(rid)["files"]}
    acro = next(c for c in checked["output_1_0.csv"]["checks"] if c["name"] == "acro")
    assert acro["status"] == "fail" and {f["code"] for f in acro["findings"]} == {"checksum_mismatch"}
    assert checked["output_1_0.csv"]["status"] == "fail"


def test_an_acro_04_session(api: Api, tmp_path: Path) -> None:
    _write_v04_session(tmp_path / "old")
    rid = api.new()
    body = api.upload_acro(rid, zip_folder(tmp_path / "old", tmp_path / "old.zip"))
    assert body.status_code == 201, body.text
    assert body.json()["acro_version"] == "0.4.5"
    checked = {f["name"]: f for f in api.submit(rid)["files"]}
    acro = next(c for c in checked["output_0_0.csv"]["checks"] if c["name"] == "acro")
    assert acro["status"] == "review" and "threshold: 1 cells" in acro["findings"][0]["message"]


def test_zips_that_are_not_sessions_are_refused(
    api: Api, acro_copy: Path, tmp_path: Path, store_dir: Path
) -> None:
    rid = api.new()
    loose = tmp_path / "loose"
    loose.mkdir()
    (loose / "table.csv").write_text("a,b\n1,2\n")
    assert (
        "no results.json"
        in problem(api.upload_acro(rid, zip_folder(loose, tmp_path / "l.zip")), 400)["detail"]
    )
    escape = zip_folder(acro_copy, tmp_path / "escape.zip", inside=None)
    with zipfile.ZipFile(escape, "a") as archive:
        archive.writestr("../outside.csv", "a,b\n")
    refused = problem(api.upload_acro(rid, escape), 400)
    assert "climbs out" in refused["detail"] and refused["problems"][0]["code"] == "path_traversal"
    deep = zip_folder(acro_copy, tmp_path / "deep.zip", inside=None)
    with zipfile.ZipFile(deep, "a") as archive:
        archive.writestr("extra/dir/file.csv", "a,b\n")
    assert "not part of an ACRO session" in problem(api.upload_acro(rid, deep), 400)["detail"]
    not_zip = tmp_path / "not.zip"
    not_zip.write_bytes(b"this is not a zip")
    problem(api.upload_acro(rid, not_zip), 400)
    assert api.get(rid)["files"] == []
    assert not [p for p in store_dir.rglob("*") if p.is_file() and p.suffix == ".enc"]
    assert not list((store_dir / ".work").iterdir())  # the plaintext spool is gone
