"""Server-rendered pages for people who do not use the API (jinja2 templates in templates/, static files
in static/, htmx vendored there). `mount(app)` adds the pages' routers and the /static files."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles


def mount(app: FastAPI) -> None:
    from governance.web import access, datasets, me, projects, queues, simulate
    from governance.web.templating import STATIC_DIR

    app.include_router(projects.router)
    app.include_router(queues.router)
    app.include_router(me.router)
    app.include_router(simulate.router)
    app.include_router(datasets.router)
    app.include_router(access.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
