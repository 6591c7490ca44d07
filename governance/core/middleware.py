"""Request ids, body size limits, security headers, access logs and latency metrics (pure ASGI: cheap)."""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from governance.core.context import request_id_var
from governance.core.metrics import HTTP_LATENCY
from governance.core.problems import problem

access_log = logging.getLogger("governance.access")
MAX_JSON_BODY = 1_048_576
_SAFE_RID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_BASE_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
]
_HSTS = (b"strict-transport-security", b"max-age=31536000; includeSubDomains")


class RequestContext:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        incoming = headers.get("x-request-id", "")
        rid = incoming if _SAFE_RID.match(incoming) else uuid.uuid4().hex
        https = scope.get("scheme") == "https" or headers.get("x-forwarded-proto") == "https"
        scope.setdefault("state", {})
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
            bounded = await _buffer_chunked(receive, headers) if scope["method"] != "GET" else receive
            if bounded is None or _too_large(headers):
                request = Request(scope)
                response = problem(
                    request, 413, "payload-too-large", "Payload too large",
                    f"request bodies may be at most {MAX_JSON_BODY} bytes",
                )  # fmt: skip
                await response(scope, receive, send_with_headers)
            else:
                await self.app(scope, bounded, send_with_headers)
        finally:
            _observe(scope, status, time.perf_counter() - began)
            request_id_var.reset(token)


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


async def _buffer_chunked(receive: Receive, headers: dict[str, str]) -> Receive | None:
    """Bodies sent without Content-Length (chunked) are read up to the limit first; None when over it.

    Multipart uploads stream through untouched: their limits are enforced where they are stored.
    """
    if headers.get("content-type", "").startswith("multipart/") or "content-length" in headers:
        return receive
    parts: list[bytes] = []
    seen = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return receive
        chunk = message.get("body", b"")
        seen += len(chunk)
        if seen > MAX_JSON_BODY:
            return None
        parts.append(chunk)
        if not message.get("more_body", False):
            break
    body = b"".join(parts)
    delivered = False

    async def replay() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _too_large(headers: dict[str, str]) -> bool:
    length = headers.get("content-length", "")
    ctype = headers.get("content-type", "")
    return not ctype.startswith("multipart/") and length.isdigit() and int(length) > MAX_JSON_BODY
