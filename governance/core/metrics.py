"""Prometheus metrics: one registry, served at /metrics (GOVERNANCE_METRICS_TOKEN guards it in production)."""

from __future__ import annotations

import hmac

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from governance.config import get_settings

REGISTRY = CollectorRegistry(auto_describe=True)

HTTP_LATENCY = Histogram(
    "governance_http_request_seconds",
    "HTTP request latency by route template",
    ["method", "route", "status"],
    registry=REGISTRY,
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
DECISIONS = Counter(
    "governance_launch_decisions_total", "Launch decisions by outcome", ["outcome"], registry=REGISTRY
)
DECISION_SAFE_DENIALS = Counter(
    "governance_launch_denials_by_safe_total", "Denied safes in launch decisions", ["safe"], registry=REGISTRY
)
CHECKS = Counter(
    "governance_output_checks_total",
    "Automated output checks by check and result",
    ["check", "status"],
    registry=REGISTRY,
)
CHECK_SECONDS = Histogram(
    "governance_output_check_seconds", "Duration of automated output checks", ["check"], registry=REGISTRY
)
QUEUE_DEPTH = Gauge("governance_job_queue_depth", "Jobs waiting in the broker queue", registry=REGISTRY)
SEALER_LAG = Gauge(
    "governance_audit_sealer_lag_seconds", "Age of the oldest audit event not yet chained", registry=REGISTRY
)
SERVERS_STOPPED = Counter(
    "governance_servers_stopped_total", "Servers stopped because access lapsed", registry=REGISTRY
)
DENIED_UNAUTHENTICATED = Counter(
    "governance_denied_unauthenticated_total",
    "Requests refused for want of valid credentials (401), by route template and reason",
    ["route", "reason"],
    registry=REGISTRY,
)


def metrics_refusal(authorization: str | None) -> str | None:
    """Why GET /metrics is refused (None: it is not). The token is compared in constant time.

    With GOVERNANCE_METRICS_TOKEN set, the bearer token must equal it; in production it must be set, so
    the metrics (route names, volumes, queue depths) are never open to anyone who can reach the port.
    """
    settings = get_settings()
    expected = settings.metrics_token
    if not expected:
        if settings.env == "production":
            return (
                "metrics need a bearer token in production: set GOVERNANCE_METRICS_TOKEN on the service "
                "and give it to the scraper (Authorization: Bearer <token>)"
            )
        return None
    scheme, _, sent = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(sent.strip().encode(), expected.encode()):
        return "send the metrics token as 'Authorization: Bearer <GOVERNANCE_METRICS_TOKEN>'"
    return None
