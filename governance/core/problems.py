"""RFC 9457 problem+json for every error, and the audit trail of refusals.

Who is refused what is evidence. A known caller's refused change, and a known caller's refused read of
file content, the audit log or launch decisions, is one audit event each (actor, path, reason). A caller
with no valid credentials (401) is not: anyone can send those by the million, so they are counted
(Prometheus) and summed into one `denied.unauthenticated` event per interval, reason and route template.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import select
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from governance.audit.record import record
from governance.core.clock import utcnow
from governance.core.context import request_id_var
from governance.core.db import new_session, transaction
from governance.core.errors import PROBLEM_BASE, DomainError
from governance.core.metrics import DENIED_UNAUTHENTICATED
from governance.models.outputs import OutputRequest

log = logging.getLogger(__name__)
MUTATING = {"POST", "PUT", "PATCH", "DELETE"}
READS = {"GET", "HEAD"}
# Route templates whose refused reads are audited: file content, the audit log, launch decisions.
AUDITED_READS = (
    re.compile(r"^/api/v1/output-requests/\{[^/}]+\}/files/\{[^/}]+\}/content$"),
    re.compile(r"^/api/v1/audit(?:/.*)?$"),
    re.compile(r"^/api/v1/launch-decisions(?:/\{[^/}]+\})?$"),
    re.compile(r"^/audit(?:/.*)?$"),
    re.compile(r"^/review/\{[^/}]+\}/files/\{[^/}]+\}$"),
)


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


def problem_response(request: Request, exc: DomainError) -> JSONResponse:
    """A refusal answered without raising, for when the request's transaction must still commit."""
    return problem(request, exc.status, exc.code, exc.title, exc.detail, **exc.extra)


def route_template(request: Request) -> str:
    """The matched route's template (/api/v1/projects/{project_ref}), bounded in number unlike paths."""
    return str(getattr(request.scope.get("route"), "path", "") or "unmatched")


# A refusal on an output request's path (a checker's second vote, a release tried too early) is evidence
# about the request's review: it belongs to the request's project, and to its blinding (audit/repository).
OUTPUT_REQUEST_PATH = re.compile(
    r"^/api/v1/output-requests/([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})"
    r"(?:/|$)"
)


def _output_request_of(session: Session, path: str, principal: Any) -> dict[str, Any]:
    """The project and review round of the output request a denied path is about, and whether the denial
    is to be blinded like a checker's event (anyone's but the requester's): one query; {} when the path is
    not a request's or the request cannot be read (the denial is recorded without them)."""
    found = OUTPUT_REQUEST_PATH.match(path)
    if found is None:
        return {}
    try:
        row = session.execute(
            select(OutputRequest.project_id, OutputRequest.requester_id, OutputRequest.round).where(
                OutputRequest.id == uuid.UUID(found.group(1))
            )
        ).first()
    except Exception:
        log.warning("could not find the output request of a denied attempt on %s", path, exc_info=True)
        session.rollback()  # nothing written yet: the denial is recorded in a fresh transaction
        return {}
    if row is None:
        return {}
    actor = getattr(principal, "user_id", None)
    return {
        "project_id": row.project_id,
        "request_id": found.group(1).lower(),
        "round": row.round,
        "checker": actor is None or actor != row.requester_id,
    }


def _record_denial(request: Request, exc: DomainError) -> None:
    principal = getattr(request.state, "principal", None)
    session = new_session()
    try:
        about = _output_request_of(session, request.url.path, principal)
        project_id = about.pop("project_id", None)
        record(
            session,
            principal,
            f"denied.{request.method.lower()}",
            "request",
            None,
            project_id=project_id,
            outcome="denied",
            summary={
                "path": request.url.path,
                "route": route_template(request),
                "method": request.method,
                "status": exc.status,
                "reason": exc.code,
                "detail": exc.detail,
                **about,  # request_id, round, checker: for the audit log's blinding
            },
        )
        session.commit()
    except Exception:
        log.exception("could not record a denied attempt")
        session.rollback()
    finally:
        session.close()


def audited_read(request: Request) -> bool:
    route = route_template(request)
    return request.method in READS and any(p.match(route) for p in AUDITED_READS)


async def domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    if exc.status == 401:
        count_unauthenticated(request, exc)
    elif exc.status in (403, 404, 409) and (
        request.method in MUTATING
        or (audited_read(request) and getattr(request.state, "principal", None) is not None)
    ):
        await run_in_threadpool(_record_denial, request, exc)
    return problem(request, exc.status, exc.code, exc.title, exc.detail, **exc.extra)


# Unauthenticated refusals: counted, and aggregated into one audit event per interval, reason and route.


@dataclass
class _Tally:
    count: int = 0
    methods: dict[str, int] = field(default_factory=dict)
    details: list[str] = field(default_factory=list)
    first_at: datetime | None = None
    last_at: datetime | None = None


class DenialAggregator:
    """Sums 401s in memory and writes `denied.unauthenticated` events at most once per interval.

    One per app (the middleware owns it and flushes it after a response once the interval has passed, and
    at shutdown). Keys are (reason code, route template): both come from a fixed set, so memory stays
    bounded whatever an attacker sends; a few distinct details are kept as examples.
    """

    MAX_KEYS = 500
    MAX_DETAILS = 5

    def __init__(self, interval_seconds: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._tallies: dict[tuple[str, str], _Tally] = {}
        self._last_flush = clock()

    def add(self, reason: str, route: str, method: str, detail: str) -> None:
        now = utcnow()
        with self._lock:
            key = (reason, route)
            if key not in self._tallies and len(self._tallies) >= self.MAX_KEYS:
                key = (reason, "other")
            tally = self._tallies.setdefault(key, _Tally(first_at=now))
            tally.count += 1
            tally.methods[method] = tally.methods.get(method, 0) + 1
            tally.last_at = now
            if len(tally.details) < self.MAX_DETAILS and detail[:200] not in tally.details:
                tally.details.append(detail[:200])

    def pending(self) -> int:
        with self._lock:
            return sum(t.count for t in self._tallies.values())

    def due(self) -> bool:
        return bool(self._tallies) and self._clock() - self._last_flush >= self.interval

    def flush(self, *, force: bool = False) -> int:
        """Write one event per (reason, route) summed since the last flush; returns how many were written."""
        with self._lock:
            if not self._tallies or not (force or self._clock() - self._last_flush >= self.interval):
                return 0
            tallies, self._tallies = self._tallies, {}
            self._last_flush = self._clock()
        try:
            with transaction() as session:
                for (reason, route), tally in sorted(tallies.items()):
                    record(
                        session,
                        None,
                        "denied.unauthenticated",
                        "request",
                        None,
                        outcome="denied",
                        source="api",
                        summary={
                            "route": route,
                            "reason": reason,
                            "status": 401,
                            "count": tally.count,
                            "methods": dict(sorted(tally.methods.items())),
                            "examples": tally.details,
                            "first_at": tally.first_at.isoformat() if tally.first_at else None,
                            "last_at": tally.last_at.isoformat() if tally.last_at else None,
                        },
                    )
        except Exception:
            log.exception(
                "could not record %d unauthenticated refusals", sum(t.count for t in tallies.values())
            )
            return 0
        return len(tallies)


def count_unauthenticated(request: Request, exc: DomainError) -> None:
    route = route_template(request)
    DENIED_UNAUTHENTICATED.labels(route, exc.code).inc()
    aggregator = getattr(request.state, "denials", None)
    if isinstance(aggregator, DenialAggregator):
        aggregator.add(exc.code, route, request.method, exc.detail)


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


_NOT_NULL_SQLITE = re.compile(r"NOT NULL constraint failed: \w+\.(\w+)")


def _null_column(exc: IntegrityError) -> str | None:
    """The column a NOT NULL violation names (PostgreSQL's diagnostics, SQLite's message), else None."""
    orig = exc.orig
    if getattr(orig, "sqlstate", None) == "23502":
        return str(getattr(getattr(orig, "diag", None), "column_name", None) or "a required field")
    found = _NOT_NULL_SQLITE.search(str(orig))
    return found.group(1) if found else None


async def integrity_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, IntegrityError)
    log.warning("integrity error: %s", exc)
    column = _null_column(exc)
    if column is not None:  # a field sent as null that the record cannot be without: the payload's fault
        return problem(
            request, 422, "validation", "Invalid request",
            f"the request is not valid: {column} may not be null; send a value, or leave the field out to "
            "keep the current one",
            errors=[{"location": ["body", column], "message": "may not be null", "kind": "null_not_allowed"}],
        )  # fmt: skip
    return problem(request, 409, "duplicate", "Conflict", "the change conflicts with an existing record")


async def out_of_range(request: Request, exc: Exception) -> JSONResponse:
    """A value the database cannot hold (an integer past 64 bits, a string past its column): never a 500."""
    log.warning("value out of range on %s %s: %s", request.method, request.url.path, exc)
    return problem(
        request, 422, "out-of-range", "Value out of range",
        "a value in the request is out of range (integers must fit in 64 bits; texts must fit their field); "
        "correct it and send the request again",
    )  # fmt: skip


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
    app.add_exception_handler(DataError, out_of_range)
    app.add_exception_handler(OverflowError, out_of_range)
    app.add_exception_handler(Exception, unexpected_error)
