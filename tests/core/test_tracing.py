"""OpenTelemetry tracing when configured: request spans by route, the decision and seal spans."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace.export import ConsoleSpanExporter
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from governance.app import create_app
from governance.audit.record import record
from governance.audit.sealing import seal_pending
from governance.config import Settings, get_settings
from governance.core.db import transaction
from governance.core.tracing import _exporter_for, configure_tracing, reset_tracing, span
from tests.conftest import TokenFor

ASK = {
    "username": "alice",
    "project": "diabetes-outcomes",
    "profile": "standard",
    "datasets": ["hospital-episodes"],
    "server_name": "",
    "client_ip": "10.1.2.3",
    "auth": {"mfa": False, "acr": None, "amr": ["pwd"]},
}


@pytest.fixture
def exporter(db_url: str) -> Iterator[InMemorySpanExporter]:
    memory = InMemorySpanExporter()
    configure_tracing(get_settings(), exporter=memory)
    try:
        yield memory
    finally:
        reset_tracing()


def test_requests_decisions_and_sealing_are_traced(
    exporter: InMemorySpanExporter, token_for: TokenFor
) -> None:
    hub = token_for("jupyterhub")
    with TestClient(create_app()) as client:
        assert client.post("/api/v1/launch-decisions", json=ASK, headers=hub).json()["allowed"] is True
        assert client.get("/healthz").status_code == 200  # excluded: probes would drown the traces
    spans = exporter.get_finished_spans()
    server = [s for s in spans if s.kind.name == "SERVER"]
    assert [s.name for s in server] == ["POST /api/v1/launch-decisions"]
    assert (
        server[0].attributes is not None and server[0].attributes["http.route"] == "/api/v1/launch-decisions"
    )
    decision = next(s for s in spans if s.name == "launch.decision")
    assert decision.attributes is not None and decision.attributes["launch.allowed"] is True
    assert decision.parent is not None and decision.context.trace_id == server[0].context.trace_id
    assert all("token" not in str(v).lower() for s in spans for v in (s.attributes or {}).values())

    exporter.clear()
    with transaction() as s:
        record(s, None, "test.traced", "test", "1", source="cli")
    report = seal_pending()
    (sealed,) = [s for s in exporter.get_finished_spans() if s.name == "audit.seal"]
    assert sealed.attributes is not None and sealed.attributes["audit.sealed"] == report.sealed > 0


def test_without_an_exporter_spans_cost_nothing_and_record_nothing(db_url: str) -> None:
    reset_tracing()
    assert configure_tracing(Settings(env="test")) is None
    with span("not.recorded", n=1) as current:
        assert not current.is_recording()


def test_the_exporter_setting() -> None:
    assert isinstance(_exporter_for("console"), ConsoleSpanExporter)
    otlp = _exporter_for("http://127.0.0.1:4318")
    assert isinstance(otlp, OTLPSpanExporter) and otlp._endpoint == "http://127.0.0.1:4318/v1/traces"
    with pytest.raises(ValueError, match="console' or an OTLP/HTTP endpoint"):
        _exporter_for("jaeger")
