"""Prometheus metrics: one registry, served at /metrics."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

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
