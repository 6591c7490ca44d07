from __future__ import annotations

import io
import json
import logging

import pytest
from fastapi.testclient import TestClient

from governance.app import create_app
from governance.config import get_settings
from governance.core.logging import JsonFormatter
from tests.conftest import TokenFor


def test_metrics_expose_latency_decisions_and_gauges(client: TestClient, token_for: TokenFor) -> None:
    ask = {"username": "bob", "project": "diabetes-outcomes", "profile": "standard", "datasets": []}
    assert (
        client.post("/api/v1/launch-decisions", json=ask, headers=token_for("jupyterhub")).status_code == 200
    )
    client.get("/api/v1/projects/diabetes-outcomes", headers=token_for("alice"))
    text = client.get("/metrics").text
    assert (
        'governance_http_request_seconds_count{method="GET",route="/api/v1/projects/{project_ref}",status="200"}'
        in text
    )
    assert 'governance_launch_decisions_total{outcome="denied"}' in text
    assert 'governance_launch_denials_by_safe_total{safe="people"}' in text
    assert "governance_audit_sealer_lag_seconds" in text and "governance_job_queue_depth" in text


def test_metrics_token_is_enforced(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOVERNANCE_METRICS_TOKEN", "m" * 32)
    get_settings.cache_clear()
    with TestClient(create_app()) as c:
        assert c.get("/metrics").status_code == 401
        assert c.get("/metrics", headers={"Authorization": "Bearer " + "m" * 32}).status_code == 200


def test_json_logs_carry_request_context_and_never_tokens(client: TestClient, token_for: TokenFor) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    access = logging.getLogger("governance.access")
    access.addHandler(handler)
    access.setLevel(logging.INFO)
    try:
        headers = {**token_for("alice"), "X-Request-ID": "req-12345"}
        client.get("/api/v1/me", headers=headers)
        logging.getLogger("governance.test").warning("leaked %s", headers["Authorization"])
    finally:
        access.removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    entry = next(e for e in lines if e["message"].startswith("GET /api/v1/me"))
    assert entry["request_id"] == "req-12345" and entry["actor"] == "alice" and entry["status"] == 200
    assert entry["duration_ms"] >= 0 and entry["outcome"] == "ok"
    formatted = JsonFormatter().format(
        logging.LogRecord("x", logging.INFO, "", 0, "token %s", (headers["Authorization"],), None)
    )
    assert "(redacted)" in formatted
    assert headers["Authorization"].split()[1] not in formatted


def test_security_headers_and_request_id(client: TestClient) -> None:
    r = client.get("/healthz", headers={"X-Forwarded-Proto": "https"})
    assert r.headers["x-content-type-options"] == "nosniff" and r.headers["x-frame-options"] == "DENY"
    assert "max-age" in r.headers["strict-transport-security"]
    assert len(r.headers["x-request-id"]) == 32
    assert client.get("/healthz", headers={"X-Request-ID": "bad id\n"}).headers["x-request-id"] != "bad id\n"
