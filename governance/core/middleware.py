"""Request ids, body size limits and security headers."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable

from fastapi import Request, Response
from starlette.middleware.base import BaseHTTPMiddleware

from governance.core.context import request_id_var
from governance.core.metrics import HTTP_LATENCY
from governance.core.problems import problem

access_log = logging.getLogger("governance.access")
MAX_JSON_BODY = 1_048_576
_SAFE_RID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestContext(BaseHTTPMiddleware):
    async def dispatch(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        incoming = request.headers.get("x-request-id", "")
        rid = incoming if _SAFE_RID.match(incoming) else uuid.uuid4().hex
        token = request_id_var.set(rid)
        began = time.perf_counter()
        try:
            if _too_large(request):
                response: Response = problem(
                    request,
                    413,
                    "payload-too-large",
                    "Payload too large",
                    f"request bodies may be at most {MAX_JSON_BODY} bytes",
                )
            else:
                response = await call_next(request)
            elapsed = time.perf_counter() - began
            route = getattr(request.scope.get("route"), "path", "unmatched")
            HTTP_LATENCY.labels(request.method, route, str(response.status_code)).observe(elapsed)
            principal = getattr(request.state, "principal", None)
            access_log.info(
                "%s %s %s",
                request.method,
                route,
                response.status_code,
                extra={
                    "status": response.status_code,
                    "duration_ms": round(elapsed * 1000, 2),
                    "actor": getattr(principal, "username", None),
                    "outcome": "ok" if response.status_code < 400 else "refused",
                },
            )
        finally:
            request_id_var.reset(token)
        response.headers["X-Request-ID"] = rid
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("X-Frame-Options", "DENY")
        if request.url.scheme == "https" or request.headers.get("x-forwarded-proto") == "https":
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        return response


def _too_large(request: Request) -> bool:
    length = request.headers.get("content-length", "")
    ctype = request.headers.get("content-type", "")
    return not ctype.startswith("multipart/") and length.isdigit() and int(length) > MAX_JSON_BODY
