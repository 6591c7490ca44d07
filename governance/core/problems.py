"""RFC 9457 problem+json for every error, and an audit event for every denied change."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException

from governance.audit.record import record
from governance.core.context import request_id_var
from governance.core.db import new_session
from governance.core.errors import PROBLEM_BASE, DomainError

log = logging.getLogger(__name__)
MUTATING = {"POST", "PUT", "PATCH", "DELETE"}


def problem(request: Request, status: int, code: str, title: str, detail: str, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + code,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
    }
    rid = request_id_var.get()
    if rid:
        body["request_id"] = rid
    body.update(extra)
    headers = {"WWW-Authenticate": 'Bearer realm="governance"'} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type="application/problem+json", headers=headers)


def _record_denial(request: Request, exc: DomainError) -> None:
    principal = getattr(request.state, "principal", None)
    session = new_session()
    try:
        record(
            session,
            principal,
            f"denied.{request.method.lower()}",
            "request",
            None,
            outcome="denied",
            summary={
                "path": request.url.path,
                "status": exc.status,
                "reason": exc.code,
                "detail": exc.detail,
            },
        )
        session.commit()
    except Exception:
        log.exception("could not record a denied attempt")
        session.rollback()
    finally:
        session.close()


async def domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    if request.method in MUTATING and exc.status in (401, 403, 404, 409):
        _record_denial(request, exc)
    return problem(request, exc.status, exc.code, exc.title, exc.detail, **exc.extra)


def _clean_errors(errors: Any) -> list[dict[str, Any]]:
    cleaned = []
    for err in errors:
        cleaned.append(
            {
                "location": [str(p) for p in err.get("loc", ())],
                "message": str(err.get("msg", "")),
                "kind": str(err.get("type", "")),
            }
        )
    return cleaned[:50]


async def validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = _clean_errors(exc.errors())
    if any(e["kind"] == "json_invalid" for e in errors):
        return problem(request, 400, "malformed-json", "Malformed JSON", "the request body is not valid JSON")
    summary = "; ".join(
        f"{'.'.join(e['location'][1:]) or e['location'][0]}: {e['message']}" for e in errors[:5]
    )
    return problem(
        request, 422, "validation", "Invalid request", f"the request is not valid: {summary}", errors=errors
    )


async def http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    titles = {404: "Not found", 405: "Method not allowed", 413: "Payload too large"}
    title = titles.get(exc.status_code, "Error")
    detail = exc.detail if isinstance(exc.detail, str) else title
    return problem(request, exc.status_code, title.lower().replace(" ", "-"), title, detail)


async def integrity_error(request: Request, exc: Exception) -> JSONResponse:
    log.warning("integrity error: %s", exc)
    return problem(request, 409, "duplicate", "Conflict", "the change conflicts with an existing record")


async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem(
        request, 500, "internal", "Internal error", "something went wrong; the change was not saved"
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, domain_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(IntegrityError, integrity_error)
    app.add_exception_handler(Exception, unexpected_error)
