"""create_app(): routers, error handlers, middleware."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Response
from fastapi.openapi.utils import get_openapi
from fastapi.responses import PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from governance.auth import endpoints as auth_endpoints
from governance.config import Settings, get_settings
from governance.core import problems
from governance.core.db import get_engine
from governance.core.logging import configure_logging
from governance.core.metrics import REGISTRY
from governance.core.metrics_gauges import refresh_gauges
from governance.core.middleware import RequestContext
from governance.core.migrations import schema_problem
from governance.core.tracing import instrument_app
from governance.routers import ROUTERS

log = logging.getLogger(__name__)

DESCRIPTION = """
Five Safes Governance decides whether a person, in a project, may open data, in a setting, now — and
records why. Authenticate with `Authorization: Bearer <token>`: an API token (`fsg_…`) or a JWT from the
configured OIDC issuer.

**Dev login** (only when `GOVERNANCE_ENV=dev`): `POST /api/v1/dev/login` with `{"username": "alice"}`
returns a token for a demo user; press *Authorize* and paste it. Demo users: admin, sam, stella (data
stewards), olivia, oscar (output checkers), aud (auditor), alice, bob, carol (researchers).
"""


class SchemaNotAtHead(RuntimeError):
    pass


class UnsafeConfiguration(RuntimeError):
    pass


def create_app(settings: Settings | None = None, *, check_schema: bool = True) -> FastAPI:
    settings = settings or get_settings()
    if settings.json_logs:
        configure_logging(settings.log_level)
    unsafe = settings.production_problems()
    if unsafe:
        raise UnsafeConfiguration("refusing to start: " + "; ".join(unsafe))
    from governance.tasks import register

    register(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if check_schema:
            problem = schema_problem(get_engine())
            if problem:
                raise SchemaNotAtHead(f"refusing to start: {problem}")
        # The embedded default chains audit events in a thread (Celery beat runs "audit.seal" otherwise).
        from governance.audit.sealing import SealerThread, wants_thread

        sealer = SealerThread(settings).start() if wants_thread(settings) else None
        _app.state.audit_sealer = sealer
        try:
            yield
        finally:
            if sealer is not None:
                sealer.stop()

    app = FastAPI(
        title="Five Safes Governance",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.add_middleware(RequestContext)
    problems.install(app)
    instrument_app(app, settings)  # OpenTelemetry, when GOVERNANCE_OTEL_EXPORTER is set

    @app.get(
        "/metrics",
        summary="Prometheus metrics",
        tags=["health"],
        response_class=PlainTextResponse,
        responses={401: {"description": "GOVERNANCE_METRICS_TOKEN is set and was not sent"}},
    )
    def metrics() -> Response:
        # The token (GOVERNANCE_METRICS_TOKEN, required in production) is checked by the middleware.
        refresh_gauges()
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    @app.get("/healthz", summary="The process is up", tags=["health"])
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/readyz",
        summary="The database is reachable and at the schema head",
        tags=["health"],
        responses={503: {"description": "Not ready"}},
    )
    def readyz(response: Response) -> dict[str, str]:
        problem = schema_problem(get_engine())
        if problem is None:
            try:
                with get_engine().connect() as conn:
                    conn.execute(text("select 1"))
            except Exception as exc:
                problem = f"the database cannot be reached ({type(exc).__name__})"
        if problem:
            response.status_code = 503
            return {"status": "unavailable", "detail": problem}
        return {"status": "ok"}

    app.include_router(auth_endpoints.router)
    if settings.env == "dev" and settings.dev_login:
        app.include_router(auth_endpoints.dev_router)
    for router in ROUTERS:
        app.include_router(router)
    from governance.web import mount as mount_pages

    mount_pages(app)  # the pages' routers (projects, queues) and /static (stylesheet, vendored htmx)

    def custom_openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        schema.setdefault("components", {}).setdefault("securitySchemes", {})["bearer"] = {
            "type": "http",
            "scheme": "bearer",
            "description": "An API token (fsg_…) or an OIDC access token",
        }
        schema["security"] = [{"bearer": []}]
        app.openapi_schema = schema
        return schema

    app.openapi = custom_openapi  # type: ignore[method-assign]
    return app
