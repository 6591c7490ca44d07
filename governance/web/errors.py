"""Friendly error pages: a page's refusal in the API's words (its problem details), never a traceback.

`PageRoute` is the route class of every page router. A refusal (DomainError), bad input the page did not
handle itself (RequestValidationError) or an HTTP error becomes an HTML page with the problem's status,
title and detail. The request's transaction has rolled back by then (the session dependency is
function-scoped, so the error passed through it first), and the API's handler still runs for its side
effects: refused changes are audited and unauthenticated attempts counted, exactly as for the API.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import quote

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from governance.core import problems
from governance.core.errors import DomainError
from governance.identity.next_url import safe_next
from governance.web.templating import render

log = logging.getLogger(__name__)

HINTS = {
    401: "Sign in again to continue.",
    403: "If you think you should be able to do this, ask a data steward.",
    404: "It may not exist, or you may not be allowed to see it.",
    409: "Someone may have changed it meanwhile: open it again to see where it stands now.",
}


def error_page(request: Request, status: int, title: str, detail: str, code: str) -> Response:
    here = request.url.path + (
        f"?{request.url.query}" if request.url.query and request.method == "GET" else ""
    )
    context = {
        "status": status,
        "title": title,
        "detail": detail,
        "code": code,
        "hint": HINTS.get(status, ""),
        "sign_in": f"/?next={quote(safe_next(here), safe='/')}" if status == 401 else None,
    }
    return render(request, "error.html", context, status_code=status)


def _summary(exc: RequestValidationError) -> str:
    errors = problems._clean_errors(exc.errors())
    parts = [f"{'.'.join(e['location'][1:]) or e['location'][0]}: {e['message']}" for e in errors[:5]]
    return f"the request is not valid: {'; '.join(parts)}"


class PageRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                return await original(request)
            except DomainError as exc:
                await problems.domain_error(request, exc)  # audit or count, as the API does
                return error_page(request, exc.status, exc.title, exc.detail, exc.code)
            except RequestValidationError as exc:
                return error_page(request, 422, "Invalid request", _summary(exc), "validation")
            except StarletteHTTPException as exc:
                detail = exc.detail if isinstance(exc.detail, str) else "Error"
                return error_page(request, exc.status_code, "Error", detail, "error")
            except Exception:
                log.exception("unhandled error on page %s %s", request.method, request.url.path)
                return error_page(
                    request,
                    500,
                    "Internal error",
                    "something went wrong; the change was not saved",
                    "internal",
                )

        return handler
