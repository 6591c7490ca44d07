"""Request ids, body size limits, security headers, access logs and latency metrics (pure ASGI: cheap).

Body limits apply to every route before anything else runs (authentication included), whatever the
content type: a declared Content-Length over the limit is refused unread, and a body without one
(chunked) is read only up to the limit. The two upload routes are the only exceptions, matched exactly:
they stream multipart bodies to storage and enforce their own, larger limits as the bytes arrive.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from governance.core.context import request_id_var
from governance.core.metrics import HTTP_LATENCY, metrics_refusal
from governance.core.problems import DenialAggregator, problem

access_log = logging.getLogger("governance.access")
MAX_BODY_BYTES = 1_048_576
MAX_JSON_BODY = MAX_BODY_BYTES  # the name earlier code and tests know
_SAFE_RID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_CONTENT_LENGTH = re.compile(r"^[0-9]{1,19}$")  # ASCII digits only: int() would accept "١٢٣" and "²"
_UUID_SEGMENT = r"[0-9A-Fa-f]{8}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{12}"
# POST /api/v1/output-requests/{id}/files and …/{id}/acro-sessions: the whole path, one id segment.
STREAMED_UPLOADS = re.compile(rf"/api/v1/output-requests/{_UUID_SEGMENT}/(?:files|acro-sessions)")
_BASE_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
]
_HSTS = (b"strict-transport-security", b"max-age=31536000; includeSubDomains")


def route_path(scope: Scope) -> str:
    """The path the routes see: behind a proxy the ASGI path starts with root_path, which routing strips."""
    path = str(scope.get("path", ""))
    root = str(scope.get("root_path", "") or "")
    if root and path.startswith(root):
        return path[len(root) :] or "/"
    return path


def streams_its_own_body(scope: Scope) -> bool:
    """The upload routes, exactly: anything else (a prefix, a suffix, dot segments) is bounded here."""
    path = route_path(scope)
    return scope.get("method") == "POST" and STREAMED_UPLOADS.fullmatch(path) is not None


class RequestContext:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        # Unauthenticated refusals are counted here and written as one audit event per interval, reason
        # and route (see problems.py); one aggregator per app, flushed at shutdown.
        self.denials = DenialAggregator()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, self._flush_at_shutdown(receive), send)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        incoming = headers.get("x-request-id", "")
        rid = incoming if _SAFE_RID.match(incoming) else uuid.uuid4().hex
        https = scope.get("scheme") == "https" or headers.get("x-forwarded-proto") == "https"
        state = scope.setdefault("state", {})
        state["denials"] = self.denials
        token = request_id_var.set(rid)
        began = time.perf_counter()
        status = 500

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                extra: list[tuple[bytes, bytes]] = [(b"x-request-id", rid.encode()), *_BASE_HEADERS]
                present = {k.lower() for k, _ in message.get("headers", [])}
                if b"x-frame-options" not in present:
                    extra.append((b"x-frame-options", b"DENY"))
                if https:
                    extra.append(_HSTS)
                message["headers"] = [*message.get("headers", []), *[h for h in extra if h[0] not in present]]
            await send(message)

        try:
            refusal = _refusal_before_the_app(scope, headers)
            bounded: Receive | None = receive
            if refusal is None and not streams_its_own_body(scope) and "content-length" not in headers:
                bounded = await _buffer_unsized(receive)
                if bounded is None:
                    refusal = _too_large(scope)
            if refusal is not None or bounded is None:
                await (refusal or _too_large(scope))(scope, receive, send_with_headers)
            else:
                await self.app(scope, bounded, send_with_headers)
        finally:
            _observe(scope, status, time.perf_counter() - began)
            request_id_var.reset(token)
            if self.denials.due():
                await run_in_threadpool(self.denials.flush)

    def _flush_at_shutdown(self, receive: Receive) -> Receive:
        async def wrapped() -> Message:
            message = await receive()
            if message.get("type") == "lifespan.shutdown":
                await run_in_threadpool(self.denials.flush, force=True)
            return message

        return wrapped


def _refusal_before_the_app(scope: Scope, headers: dict[str, str]) -> Response | None:
    """What is refused on its headers alone: a bad or too large Content-Length, /metrics without its token."""
    length = headers.get("content-length")
    if length is not None:
        if not _CONTENT_LENGTH.match(length):
            return problem(
                Request(scope), 400, "invalid-content-length", "Invalid Content-Length",
                "the Content-Length header must be a number of bytes in ASCII digits; send the body again "
                "with a correct length (or chunked)",
            )  # fmt: skip
        if int(length) > MAX_BODY_BYTES and not streams_its_own_body(scope):
            return _too_large(scope)
    if route_path(scope).rstrip("/") == "/metrics":
        detail = metrics_refusal(headers.get("authorization"))
        if detail is not None:
            return problem(Request(scope), 401, "metrics-token", "Metrics token required", detail)
    return None


def _too_large(scope: Scope) -> Response:
    response = problem(
        Request(scope), 413, "payload-too-large", "Payload too large",
        f"request bodies may be at most {MAX_BODY_BYTES} bytes; send less (files go to "
        "POST /api/v1/output-requests/{id}/files, which takes larger uploads)",
        limit_bytes=MAX_BODY_BYTES,
    )  # fmt: skip
    response.headers["connection"] = "close"  # the rest of the body is never read
    return response


def _observe(scope: Scope, status: int, elapsed: float) -> None:
    route = getattr(scope.get("route"), "path", "unmatched")
    HTTP_LATENCY.labels(scope["method"], route, str(status)).observe(elapsed)
    state: dict[str, Any] = scope.get("state", {})
    principal = state.get("principal")
    access_log.info(
        "%s %s %s",
        scope["method"],
        route,
        status,
        extra={
            "status": status,
            "duration_ms": round(elapsed * 1000, 2),
            "actor": getattr(principal, "username", None),
            "outcome": "ok" if status < 400 else "refused",
        },
    )


async def _buffer_unsized(receive: Receive) -> Receive | None:
    """A body without Content-Length (chunked, HTTP/2) is read up to the limit first; None when over it."""
    parts: list[bytes] = []
    seen = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return _replay(b"".join(parts), receive, first=message)
        chunk = message.get("body", b"")
        seen += len(chunk)
        if seen > MAX_BODY_BYTES:
            return None
        parts.append(chunk)
        if not message.get("more_body", False):
            break
    return _replay(b"".join(parts), receive)


def _replay(body: bytes, receive: Receive, first: Message | None = None) -> Receive:
    delivered = False

    async def replay() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            return first if first is not None else {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
