"""Uploads: streamed into the encrypted store, limited by the risk profile, nothing half-stored."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from governance.models import AuditEvent, OutputFile
from tests.outputs_api.support import BASE, CONTEXT, CONTROLS, GOOD_CSV, Api, problem


def stored_blobs(store: Path) -> list[Path]:
    """Encrypted files and any leftover temporary parts in the store."""
    if not store.exists():
        return []
    return [p for p in store.rglob("*") if p.is_file() and (p.suffix in (".enc", ".part"))]


def test_a_file_is_stored_encrypted_with_its_hash(api: Api, store_dir: Path, session: Session) -> None:
    rid = api.new()
    data = b"region,count\n" + b"".join(f"r{i},{100 + 5 * i}\n".encode() for i in range(20_000))
    response = api.upload(rid, "counts.csv", data)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["name"] == "counts.csv" and body["size"] == len(data)
    assert body["sha256"] == hashlib.sha256(data).hexdigest()
    assert body["context"] == CONTEXT and body["controls"] == CONTROLS and body["source"] == "upload"
    assert body["status"] == "pending" and body["checks"] == [] and body["outcome"] == "pending"
    [blob] = stored_blobs(store_dir)
    raw = blob.read_bytes()
    assert b"region,count" not in raw and b"r1999," not in raw and len(raw) > len(data)
    row = session.get(OutputFile, uuid.UUID(body["id"]))
    assert row is not None and row.kek_version == "dev" and len(row.wrapped_key) == 61
    event = session.scalar(select(AuditEvent).where(AuditEvent.action == "output_file.add"))
    assert event is not None and event.summary["sha256"] == body["sha256"]


def test_unreleased_files_are_read_back_only_by_independent_checkers(
    api: Api, session: Session, ids: dict[str, uuid.UUID]
) -> None:
    from datetime import timedelta

    from governance.auth.tokens import issue_token
    from governance.models import User

    rid = api.new()
    fid = api.add(rid, "t.csv", GOOD_CSV)
    refused = problem(api.content(rid, fid, "alice"), 403)
    assert "only by the independent output checkers" in refused["detail"]
    alice = session.get(User, ids["alice"])
    assert alice is not None
    workspace = issue_token(
        session,
        alice,
        name="ws",
        scopes=["create:outputs"],
        lifetime=timedelta(hours=1),
        actor=None,
        project_id=ids["diabetes-outcomes"],
        audit=False,
    )
    session.commit()
    inside = problem(api.content(rid, fid, {"Authorization": f"Bearer {workspace.token}"}), 403)
    assert "already in the workspace" in inside["detail"]
    problem(api.content(rid, fid, "carol"), 404)
    problem(api.content(rid, fid, "olivia"), 404)  # a draft is invisible to checkers
    api.submit(rid)
    download = api.content(rid, fid, "olivia")
    assert download.status_code == 200 and download.content == GOOD_CSV
    assert download.headers["content-type"] == "application/octet-stream"
    assert download.headers["x-content-sha256"] == hashlib.sha256(GOOD_CSV).hexdigest()
    assert "attachment" in download.headers["content-disposition"]
    downloads = session.scalar(
        select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "output_file.download")
    )
    assert downloads == 1


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("../../etc/passwd", "contains a path"),
        ("..\\secrets.csv", "contains a path"),
        ("/abs/table.csv", "contains a path"),
        ("table\x07.csv", "control"),
        ("evil\u202ecsv.exe", "control"),
        (".hidden.csv", "hidden"),
        ("..", "hidden"),
        ("x" * 300 + ".csv", "longer than"),
    ],
)
def test_unsafe_names_are_refused_and_nothing_is_stored(
    api: Api, store_dir: Path, name: str, reason: str
) -> None:
    rid = api.new()
    body = problem(api.raw_upload(rid, name.encode(), GOOD_CSV), 400)
    assert reason in body["detail"]
    assert stored_blobs(store_dir) == [] and api.get(rid)["files"] == []


def test_empty_files_and_duplicates_are_refused(api: Api, store_dir: Path) -> None:
    rid = api.new()
    assert "empty" in problem(api.upload(rid, "empty.csv", b""), 400)["detail"]
    assert stored_blobs(store_dir) == []
    api.add(rid, "t.csv")
    assert (
        "already has a file called"
        in problem(api.upload(rid, "t.csv", GOOD_CSV + b"2022,170\n"), 409)["detail"]
    )
    assert len(stored_blobs(store_dir)) == 1


def test_files_over_the_limit_are_refused_mid_stream(
    api: Api, store_dir: Path, profile_file: Callable[..., Path]
) -> None:
    profile_file(max_file_bytes=100_000, max_request_bytes=250_000)
    rid = api.new()
    big = os.urandom(100_001)
    body = problem(api.upload(rid, "big.csv", big), 413)
    assert "at most 100,000 bytes" in body["detail"] and body["limit_bytes"] == 100_000
    # without a Content-Length the limit is enforced while the bytes arrive
    chunks = iter([big[:60_000], big[60_000:]])
    boundary = "b0undary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.csv"\r\n'
        "Content-Type: text/csv\r\n\r\n"
    ).encode()

    def body_stream() -> object:
        yield head
        yield from chunks
        yield f"\r\n--{boundary}--\r\n".encode()

    streamed = api.client.post(
        f"{BASE}/{rid}/files",
        content=body_stream(),  # type: ignore[arg-type]
        headers={**api.h("alice"), "Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    problem(streamed, 413)
    assert stored_blobs(store_dir) == []
    api.add(rid, "a.csv", os.urandom(90_000))
    api.add(rid, "b.csv", os.urandom(90_000))
    over = problem(api.upload(rid, "c.csv", os.urandom(90_000)), 413)
    assert "more bytes" in over["detail"] and over["limit_bytes"] == 70_000
    assert len(stored_blobs(store_dir)) == 2


def test_malformed_uploads_get_clear_problems(api: Api, store_dir: Path) -> None:
    rid = api.new()
    url = f"{BASE}/{rid}/files"
    h = api.h("alice")
    assert (
        "multipart/form-data" in problem(api.client.post(url, json={"file": "x"}, headers=h), 400)["detail"]
    )
    no_file = api.client.post(
        url, data={"context": "c"}, files={"other": ("x.csv", b"1", "text/csv")}, headers=h
    )
    assert "field 'file'" in problem(no_file, 400)["detail"]
    only_fields = api.client.post(
        url,
        data={"context": "c"},
        files={},
        headers={**h, "Content-Type": "multipart/form-data; boundary=zz"},
    )
    problem(only_fields, 400)
    unknown = api.upload(rid, "t.csv", GOOD_CSV, surprise="1")
    assert "unknown form field" in problem(unknown, 400)["detail"]
    long_context = api.upload(rid, "t.csv", GOOD_CSV, context="x" * 10_001)
    assert "longer than" in problem(long_context, 400)["detail"]
    truncated = api.client.post(
        url,
        content=b'--zz\r\nContent-Disposition: form-data; name="file"; filename="t.csv"\r\n\r\n1,2\n3,4',
        headers={**h, "Content-Type": "multipart/form-data; boundary=zz"},
    )
    assert "ended before" in problem(truncated, 400)["detail"]
    two_files = api.client.post(
        url,
        files=[("file", ("a.csv", b"1,2\n", "text/csv")), ("file", ("b.csv", b"3,4\n", "text/csv"))],
        headers=h,
    )
    assert "one file per upload" in problem(two_files, 400)["detail"]
    assert stored_blobs(store_dir) == []


def test_uploads_only_while_draft_or_returned(api: Api, store_dir: Path) -> None:
    rid = api.new()
    api.add(rid)
    api.submit(rid)
    refused = problem(api.upload(rid, "late.csv", GOOD_CSV), 409)
    assert "draft or returned" in refused["detail"] and refused["current_state"] == "in_review"
    fid = api.get(rid)["files"][0]["id"]
    problem(api.client.delete(f"{BASE}/{rid}/files/{fid}", headers=api.h("alice")), 409)
    assert len(stored_blobs(store_dir)) == 1


def test_removing_a_file_deletes_its_blob_and_frees_the_name(
    api: Api, store_dir: Path, session: Session
) -> None:
    rid = api.new()
    fid = api.add(rid, "t.csv")
    response = api.client.delete(f"{BASE}/{rid}/files/{fid}", headers=api.h("alice"))
    assert response.status_code == 204
    assert stored_blobs(store_dir) == [] and api.get(rid)["files"] == []
    row = session.get(OutputFile, uuid.UUID(fid))
    assert row is not None and row.removed_at is not None  # kept for the audit trail
    api.add(rid, "t.csv")
    problem(api.client.delete(f"{BASE}/{rid}/files/{fid}", headers=api.h("alice")), 404)
