"""OpenTelemetry tracing, on only when GOVERNANCE_OTEL_EXPORTER is set ("console" or an OTLP/HTTP endpoint).

Without it every span is the API's no-op span: the cost is a function call. Spans carry ids, names and
counts, never tokens, summaries or file contents.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from opentelemetry import trace

from governance.config import Settings

if TYPE_CHECKING:
    from fastapi import FastAPI
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter

log = logging.getLogger(__name__)
_INSTRUMENTATION = "governance"
_lock = threading.Lock()
_provider: TracerProvider | None = None
AttributeValue = str | bool | int | float


def _exporter_for(target: str) -> SpanExporter:
    if target == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    if not target.startswith(("http://", "https://")):
        raise ValueError(
            f"GOVERNANCE_OTEL_EXPORTER must be 'console' or an OTLP/HTTP endpoint URL, not {target[:60]!r}"
        )
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    endpoint = target.rstrip("/")
    if not endpoint.endswith("/v1/traces"):
        endpoint += "/v1/traces"
    return OTLPSpanExporter(endpoint=endpoint)


def configure_tracing(settings: Settings, exporter: SpanExporter | None = None) -> TracerProvider | None:
    """Set up the tracer provider once per process (None when tracing is not configured).

    ``exporter`` replaces the configured one (tests pass an in-memory exporter); it is exported
    synchronously so a test sees its spans at once, while real exporters batch.
    """
    global _provider
    if exporter is None and not settings.otel_exporter:
        return _provider
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    with _lock:
        provider = TracerProvider(resource=Resource.create({"service.name": settings.otel_service_name}))
        if exporter is not None:
            provider.add_span_processor(SimpleSpanProcessor(exporter))
        else:
            assert settings.otel_exporter is not None
            provider.add_span_processor(BatchSpanProcessor(_exporter_for(settings.otel_exporter)))
        if _provider is not None:
            _provider.shutdown()
        _provider = provider
    log.info("OpenTelemetry tracing on", extra={"exporter": settings.otel_exporter or "given"})
    return provider


def reset_tracing() -> None:
    """Stop tracing (tests)."""
    global _provider
    with _lock:
        if _provider is not None:
            _provider.shutdown()
        _provider = None


def tracer() -> trace.Tracer:
    provider = _provider
    if provider is None:
        return trace.get_tracer(_INSTRUMENTATION)
    return provider.get_tracer(_INSTRUMENTATION)


@contextmanager
def span(name: str, **attributes: AttributeValue | None) -> Iterator[trace.Span]:
    """A span around a unit of work; attributes with value None are left out."""
    clean = {k: v for k, v in attributes.items() if v is not None}
    with tracer().start_as_current_span(name, attributes=clean) as current:
        yield current


def instrument_app(app: FastAPI, settings: Settings) -> None:
    """Trace every request (route template as the span name) when tracing is configured."""
    provider = configure_tracing(settings)
    if provider is None:
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(app, tracer_provider=provider, excluded_urls="healthz,readyz,metrics")
