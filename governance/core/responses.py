"""Error responses documented on every operation of the OpenAPI document."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class Problem(BaseModel):
    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    request_id: str | None = None


def _problem(description: str, status: int, code: str, detail: str) -> dict[str, Any]:
    return {
        "model": Problem,
        "description": description,
        "content": {
            "application/problem+json": {
                "example": {
                    "type": f"https://five-safes.dev/problems/{code}",
                    "title": description,
                    "status": status,
                    "detail": detail,
                }
            }
        },
    }


COMMON: dict[int | str, dict[str, Any]] = {
    400: _problem("Invalid input", 400, "invalid-input", "ends_on must not be before starts_on"),
    401: _problem("Authentication required", 401, "not-authenticated", "the token has expired"),
    403: _problem("Not allowed", 403, "forbidden", "this operation needs the scope approve:projects"),
    422: _problem("Invalid request", 422, "validation", "the request is not valid: tier: must be at most 4"),
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: _problem("Not found", 404, "not-found", "no project 'x' that you can see"),
}
CONFLICT: dict[int | str, dict[str, Any]] = {
    409: _problem("Conflict", 409, "illegal-transition", "a project that is draft cannot be approved"),
}
READ = COMMON | NOT_FOUND
WRITE = COMMON | NOT_FOUND | CONFLICT
