"""Issue 9, promise 1: body limits apply to every route before authentication, whatever the content type.

Only the two upload routes stream their bodies (with their own, larger limits), and they are matched
exactly. The middleware is also driven directly over ASGI, to see how much of a body it reads.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from governance.config import get_settings
from governance.core.middleware import MAX_BODY_BYTES, RequestContext, streams_its_own_body
from governance.models import AuditEvent, OutputFile, Project
from tests.conftest import TokenFor

BOUNDARY = "side-door"
TWO_MB = 2 * 1024 * 1024


def _multipart(size: int) -> bytes:
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="big.csv"\r\n'
        "Content-Type: text/csv\r\n\r\n"
    ).encode()
    return head + b"a," * (size // 2) + f"\r\n--{BOUNDARY}--\r\n".encode()


MULTIPART = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}


def _is_413_problem(response: Any) -> dict[str, Any]:
    assert response.status_code == 413, response.text[:500]
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert str(MAX_BODY_BYTES) in body["detail"] and body["limit_bytes"] == MAX_BODY_BYTES
    return body


def test_promise_body_limit_applies_before_authentication_multipart(
    client: TestClient, token_for: TokenFor, session: Session
) -> None:
    projects_before = session.scalar(select(func.count()).select_from(Project))
    # No credentials at all: the answer is 413, not 401, so authentication never ran.
    _is_413_problem(client.post("/api/v1/projects", content=_multipart(TWO_MB), headers=MULTIPART))
    # With credentials, on a route that takes JSON, a multipart body is bounded the same way.
    _is_413_problem(
        client.post(
            "/api/v1/projects", content=_multipart(TWO_MB), headers={**MULTIPART, **token_for("alice")}
        )
    )
    # Any content type, any method.
    _is_413_problem(
        client.patch(
            "/api/v1/projects/diabetes-outcomes",
            content=b"x" * TWO_MB,
            headers={"Content-Type": "application/octet-stream"},
        )
    )
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Project)) == projects_before


def test_promise_body_limit_applies_before_authentication_chunked_multipart(client: TestClient) -> None:
    body = _multipart(TWO_MB)

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 64 * 1024):
            yield body[start : start + 64 * 1024]

    r = client.post("/api/v1/projects", content=chunks(), headers=MULTIPART)  # no Content-Length
    _is_413_problem(r)


def test_promise_body_limit_reads_no_further_than_the_limit_and_never_calls_the_app() -> None:
    """Over ASGI: a chunked 2 MB multipart body is read only up to the limit; the app is never reached."""
    reached: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        reached.append(scope["path"])

    chunk = 64 * 1024
    delivered = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        delivered += chunk
        return {"type": "http.request", "body": b"a" * chunk, "more_body": delivered < TWO_MB}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/api/v1/projects",
        "raw_path": b"/api/v1/projects",
        "query_string": b"",
        "headers": [(b"content-type", MULTIPART["Content-Type"].encode())],
        "scheme": "http",
        "server": ("testserver", 80),
    }
    asyncio.run(RequestContext(app)(scope, receive, send))
    assert reached == []
    assert sent[0]["status"] == 413
    assert delivered <= MAX_BODY_BYTES + chunk, (
        f"read {delivered} bytes of a body refused at {MAX_BODY_BYTES}"
    )
    headers = dict(sent[0]["headers"])
    assert headers[b"content-type"] == b"application/problem+json" and headers[b"connection"] == b"close"


@pytest.mark.parametrize("length", ["\uff11\uff12", "\u0661\u0662", "\u00b2", "12 ", "-1", "0x10", "1e3"])
def test_promise_body_limit_content_length_must_be_ascii_digits(length: str) -> None:
    reached: list[str] = []
    sent: list[dict[str, Any]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        reached.append(scope["path"])

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    upload = f"/api/v1/output-requests/{uuid.uuid4()}/files"
    for path in ("/api/v1/projects", upload):
        scope = {
            "type": "http",
            "method": "POST",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "headers": [(b"content-length", length.encode())],
            "scheme": "http",
            "server": ("testserver", 80),
        }
        asyncio.run(RequestContext(app)(scope, receive, send))
        starts = [m for m in sent if m["type"] == "http.response.start"]
        assert starts[-1]["status"] == 400, (path, length)
    assert reached == []


def test_promise_body_limit_exceptions_match_the_upload_routes_exactly(
    client: TestClient, token_for: TokenFor
) -> None:
    rid = uuid.uuid4()

    def exempt(path: str, method: str = "POST") -> bool:
        return streams_its_own_body({"method": method, "path": path})

    assert exempt(f"/api/v1/output-requests/{rid}/files")
    assert exempt(f"/api/v1/output-requests/{rid}/acro-sessions")
    assert exempt(f"/api/v1/output-requests/{rid.hex}/files")
    for fake in (
        "/api/v1/output-requests/x/files/../../projects",
        f"/api/v1/output-requests/{rid}/files/../../../projects",
        f"/api/v1/output-requests/{rid}/files/",
        f"/api/v1/output-requests/{rid}/files/extra",
        f"/api/v1/output-requests/{rid}/filesystem",
        f"/api/v1/output-requests/{rid}/../{rid}/files",
        f"/api/v1/output-requests/{rid}/x/files",
        f"/prefix/api/v1/output-requests/{rid}/files",
        f"/api/v1/output-requests/{rid}/files?x=/files",
        "/api/v1/output-requests/../projects/files",
        "/api/v1/projects",
    ):
        assert not exempt(fake), fake
    assert not exempt(f"/api/v1/output-requests/{rid}/files", "PUT")
    # Through the app: a faked prefix is bounded like any other route.
    for fake in ("/api/v1/output-requests/x/files/../../projects", f"/api/v1/output-requests/{rid}/files/x"):
        r = client.post(fake, content=_multipart(TWO_MB), headers={**MULTIPART, **token_for("alice")})
        _is_413_problem(r)


def test_promise_upload_routes_still_accept_files_larger_than_the_body_limit(
    client: TestClient, token_for: TokenFor, session: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GOVERNANCE_OUTPUT_STORE_DIR", str(tmp_path / "outputs"))
    get_settings.cache_clear()
    alice = token_for("alice")
    created = client.post(
        "/api/v1/output-requests", json={"project": "diabetes-outcomes", "title": "Big table"}, headers=alice
    )
    assert created.status_code == 201, created.text
    rid = created.json()["id"]
    data = b"region,count\n" + b"".join(f"r{i},{100 + i % 50}\n".encode() for i in range(200_000))
    assert len(data) > MAX_BODY_BYTES
    r = client.post(
        f"/api/v1/output-requests/{rid}/files",
        data={"context": "Counts per region.", "controls": "Rounded to 5."},
        files={"file": ("big.csv", data, "text/csv")},
        headers=alice,
    )
    assert r.status_code == 201, r.text[:500]
    assert r.json()["size"] == len(data)
    assert session.scalar(select(func.count()).select_from(OutputFile)) == 1
    assert session.scalar(
        select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "output_file.add")
    )
    assert os.path.isdir(tmp_path / "outputs")
