"""Per-request context (request id, actor) that logs and audit events read."""

from __future__ import annotations

from contextvars import ContextVar

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
source_var: ContextVar[str] = ContextVar("audit_source", default="api")
