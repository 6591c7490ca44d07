"""Request ids, body size limits and security headers."""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable

from fastapi import Request, Response
from starlette.middleware.base import BaseHTTPMiddleware

from governance.core.context import request_id_var
from governance.core.problems import problem

MAX_JSON_BODY = 1_048_576
_SAFE_RID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestContext(BaseHTTPMiddleware):
    async def dispatch(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        incoming = request.headers.get("x-request-id", "")
        rid = incoming if _SAFE_RID.match(incoming) else uuid.uuid4().hex
        token = request_id_var.set(rid)
        try:
            length = request.headers.get("content-length")
            ctype = request.headers.get("content-type", "")
            if (
                length
                and not ctype.startswith("multipart/")
                and length.isdigit()
                and int(length) > MAX_JSON_BODY
            ):
                response: Response = problem(
                    request,
                    413,
                    "payload-too-large",
                    "Payload too large",
                    f"request bodies may be at most {MAX_JSON_BODY} bytes",
                )
            else:
                response = await call_next(request)
        finally:
            request_id_var.reset(token)
        response.headers["X-Request-ID"] = rid
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("X-Frame-Options", "DENY")
        if request.url.scheme == "https":
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        return response
