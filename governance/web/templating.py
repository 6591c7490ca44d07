"""One jinja2 environment for every page (autoescaping on), and the security headers pages carry."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
STATIC_DIR = Path(__file__).resolve().parent / "static"
HTMX = "htmx-2.0.11.min.js"  # vendored from the npm package htmx.org (see `make vendor-htmx`)
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def age(when: datetime | date | None) -> str:
    """How long ago, in plain words ("3 days", "today")."""
    if when is None:
        return "—"
    if isinstance(when, datetime):
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        days = (datetime.now(UTC) - when).days
    else:
        days = (datetime.now(UTC).date() - when).days
    if days <= 0:
        return "today"
    return "1 day" if days == 1 else f"{days} days"


def words(value: object) -> str:
    return str(value).replace("_", " ")


def when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "—"


env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATE_DIR), autoescape=True, undefined=jinja2.StrictUndefined
)
env.filters.update(age=age, words=words, when=when)
env.globals.update(htmx=HTMX)
templates = Jinja2Templates(env=env)


def render(
    request: Request, name: str, context: dict[str, Any] | None = None, status_code: int = 200
) -> HTMLResponse:
    context = {"viewer": None, "nav": {}, "active": "", **(context or {})}
    return templates.TemplateResponse(request, name, context, status_code=status_code, headers=PAGE_HEADERS)
