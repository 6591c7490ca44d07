"""Unit tests for the `governance-outputs` command.

The governance service's output-request API is being written in parallel, so a real HTTP server
started here (stdlib http.server on a free port) stands in for it: it answers with canned contract
responses and records every request, including the multipart bodies, which are parsed back with the
standard library's MIME parser. The command talks to it over real HTTP.
"""

from __future__ import annotations

import email.parser
import email.policy
import io
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from governance.outputs_client.cli import main

TOKEN = "workspace-secret-token-123"
REQUEST_ID = "5d0c8a2e-4b1f-4f7e-9a60-2c3b1d7e9f10"


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def multipart(self) -> dict[str, Any]:
        """{field: text} plus {"file": (filename, bytes)} from a multipart/form-data body."""
        raw = f"Content-Type: {self.headers['Content-Type']}\r\n\r\n".encode() + self.body
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(raw)
        fields: dict[str, Any] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            filename = part.get_filename()
            fields[str(name)] = (filename, payload) if filename else payload.decode()
        return fields


@dataclass
class FakeService:
    url: str = ""
    routes: dict[tuple[str, str], tuple[int, Any]] = field(default_factory=dict)
    seen: list[Recorded] = field(default_factory=list)


def request_body(status: str, files: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "id": REQUEST_ID,
        "status": status,
        "title": "Table 2 counts",
        "project": "diabetes-outcomes",
        "files": files or [],
    }


@pytest.fixture
def service(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeService]:
    state = FakeService()
    base = f"/api/v1/output-requests/{REQUEST_ID}"
    state.routes = {
        ("POST", "/api/v1/output-requests"): (201, request_body("draft")),
        ("POST", f"{base}/files"): (201, {"id": "file-1", "name": "uploaded", "status": "pending"}),
        ("POST", f"{base}/submit"): (200, request_body("submitted")),
    }

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            state.seen.append(Recorded(self.command, self.path, dict(self.headers), body))
            status, payload = state.routes.get(
                (self.command, self.path), (404, {"title": "Not Found", "detail": "no such route"})
            )
            data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            self.send_response(status)
            kind = (
                "application/problem+json"
                if status >= 400 and not isinstance(payload, bytes)
                else "application/json"
            )
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _answer

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setenv("GOVERNANCE_URL", state.url)
    monkeypatch.setenv("GOVERNANCE_TOKEN", TOKEN)
    monkeypatch.setenv("GOVERNANCE_PROJECT", "diabetes-outcomes")
    yield state
    server.shutdown()
    server.server_close()


def run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_submit_uploads_each_file_with_context_and_controls_then_submits(
    service: FakeService, tmp_path: Path
) -> None:
    table = tmp_path / "table2.csv"
    table.write_text("age_band,count\n40-49,120\n50-59,87\n")
    figure = tmp_path / "figure1.png"
    figure_bytes = bytes(range(256)) * 1200  # ~300 KB, binary, streamed in several chunks
    figure.write_bytes(figure_bytes)

    code, out, err = run_cli(
        "submit", str(table), str(figure), "--title", "Table 2 counts",
        "--context", "Counts by age band, HES 2019-2022", "--controls", "Suppressed cells < 10; rounded to 5",
    )  # fmt: skip

    assert code == 0, err
    assert out == f"request {REQUEST_ID}: submitted\n"
    create, upload_table, upload_figure, submit = service.seen
    assert (create.method, create.path) == ("POST", "/api/v1/output-requests")
    assert json.loads(create.body) == {"project": "diabetes-outcomes", "title": "Table 2 counts"}
    assert all(r.headers["Authorization"] == f"Bearer {TOKEN}" for r in service.seen)
    assert upload_table.path == f"/api/v1/output-requests/{REQUEST_ID}/files"
    assert upload_table.multipart() == {
        "context": "Counts by age band, HES 2019-2022",
        "controls": "Suppressed cells < 10; rounded to 5",
        "file": ("table2.csv", table.read_bytes()),
    }
    assert upload_figure.multipart()["file"] == ("figure1.png", figure_bytes)
    assert (submit.method, submit.path) == ("POST", f"/api/v1/output-requests/{REQUEST_ID}/submit")
    assert "table2.csv [" in err and "figure1.png [" in err
    assert err.count("100%") == 2
    # streamed in 64 KiB chunks, the bar is redrawn as each one goes: 21%, 42%, 64%, 85%, 100%
    assert err.count("\rfigure1.png [") >= 4 and " 42% " in err
    assert TOKEN not in out + err


def test_submit_takes_project_from_the_option_over_the_environment(
    service: FakeService, tmp_path: Path
) -> None:
    table = tmp_path / "t.csv"
    table.write_text("x\n")
    code, _, err = run_cli(
        "submit",
        str(table),
        "--title",
        "T",
        "--context",
        "C",
        "--controls",
        "K",
        "--project",
        "school-attainment",
    )
    assert code == 0, err
    assert json.loads(service.seen[0].body)["project"] == "school-attainment"


def test_status_prints_each_file_and_its_checks(service: FakeService) -> None:
    files: list[dict[str, Any]] = [
        {
            "name": "table2.csv",
            "status": "in_review",
            "checks": [
                {"name": "cell_counts", "status": "fail"},
                {"check": "dominance", "outcome": "pass"},
                {"name": "malware", "status": None},
            ],
        },
        {"filename": "figure1.png", "status": "approved", "checks": []},
    ]
    service.routes[("GET", f"/api/v1/output-requests/{REQUEST_ID}")] = (200, request_body("in_review", files))

    code, out, err = run_cli("status", REQUEST_ID)

    assert code == 0, err
    assert out.splitlines() == [
        f"request {REQUEST_ID}: in_review",
        "  title: Table 2 counts",
        "  project: diabetes-outcomes",
        "  file table2.csv: in_review",
        "    check cell_counts: fail",
        "    check dominance: pass",
        "    check malware: pending",
        "  file figure1.png: approved",
    ]


def test_status_without_id_lists_my_requests(service: FakeService) -> None:
    items = [request_body("draft"), {"id": "other-id", "status": "released", "title": "Final\nmodel"}]
    service.routes[("GET", "/api/v1/output-requests?mine=true")] = (200, {"items": items, "total": 2})

    code, out, _ = run_cli("status")

    assert code == 0
    assert out.splitlines() == [
        f"{REQUEST_ID}  draft       Table 2 counts",
        "other-id  released    Final model",
    ]


def test_problem_json_errors_are_printed_with_title_and_detail(service: FakeService, tmp_path: Path) -> None:
    service.routes[("POST", "/api/v1/output-requests")] = (
        403,
        {
            "type": "about:blank",
            "title": "Not a project member",
            "status": 403,
            "detail": "You are not a member of school-attainment.",
        },
    )
    table = tmp_path / "t.csv"
    table.write_text("x\n")

    code, out, err = run_cli(
        "submit",
        str(table),
        "--title",
        "T",
        "--context",
        "C",
        "--controls",
        "K",
        "--project",
        "school-attainment",
    )

    assert code == 1
    assert out == ""
    assert err == "error: Not a project member: You are not a member of school-attainment.\n"


def test_a_failed_upload_says_the_request_was_left_as_a_draft(service: FakeService, tmp_path: Path) -> None:
    service.routes[("POST", f"/api/v1/output-requests/{REQUEST_ID}/files")] = (
        413,
        {"title": "File too large", "detail": "The limit is 100 MB."},
    )
    table = tmp_path / "t.csv"
    table.write_text("x\n")

    code, _, err = run_cli("submit", str(table), "--title", "T", "--context", "C", "--controls", "K")

    assert code == 1
    assert f"request {REQUEST_ID} was created but not submitted" in err
    assert err.endswith("error: File too large: The limit is 100 MB.\n")
    assert [r.path.rsplit("/", 1)[-1] for r in service.seen] == ["output-requests", "files"]


def test_a_non_json_error_still_gives_a_readable_line(service: FakeService) -> None:
    service.routes[("GET", "/api/v1/output-requests/nope")] = (502, b"<html>Bad gateway</html>")
    code, _, err = run_cli("status", "nope")
    assert code == 1
    assert err == "error: Bad Gateway\n"


def test_request_ids_cannot_escape_the_path(service: FakeService) -> None:
    code, _, _ = run_cli("status", "../../admin")
    assert code == 1
    assert service.seen[0].path == "/api/v1/output-requests/..%2F..%2Fadmin"


def test_missing_environment_is_a_clear_usage_error_and_never_prints_the_token(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("GOVERNANCE_URL", raising=False)
    monkeypatch.setenv("GOVERNANCE_TOKEN", TOKEN)
    code, out, err = run_cli("status")
    assert code == 2
    assert err.startswith("error: GOVERNANCE_URL is not set.")
    assert TOKEN not in out + err

    monkeypatch.delenv("GOVERNANCE_TOKEN")
    code, _, err = run_cli("status")
    assert code == 2
    assert "GOVERNANCE_URL and GOVERNANCE_TOKEN are not set" in err


def test_usage_errors_exit_2(
    service: FakeService, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, _ = run_cli("submit", "--title", "T")
    assert code == 2
    assert "usage: governance-outputs submit" in capsys.readouterr().err

    code, _, err = run_cli(
        "submit", str(tmp_path / "missing.csv"), "--title", "T", "--context", "C", "--controls", "K"
    )
    assert code == 2
    assert "not a readable file" in err and "missing.csv" in err

    code, _, err = run_cli("submit", str(tmp_path), "--title", "T", "--context", "C", "--controls", "K")
    assert code == 2
    assert service.seen == []


def test_unreachable_service_exits_1(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("GOVERNANCE_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("GOVERNANCE_TOKEN", TOKEN)
    code, _, err = run_cli("status")
    assert code == 1
    assert err.startswith("error: Could not reach the governance service")
    assert TOKEN not in err


def test_the_module_runs_as_a_command(service: FakeService) -> None:
    service.routes[("GET", "/api/v1/output-requests?mine=true")] = (200, [])
    done = subprocess.run(
        [sys.executable, "-m", "governance.outputs_client.cli", "status"],
        capture_output=True,
        text=True,
        env={**os.environ},
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "you have no output requests\n"
