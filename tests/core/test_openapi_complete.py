"""The OpenAPI document is complete: summaries, typed responses, error responses and body examples."""

from __future__ import annotations

from typing import Any

import pytest

from governance.app import create_app
from governance.config import Settings

SPEC: dict[str, Any] = create_app(
    Settings(env="dev", dev_login=True, database_url="sqlite://"), check_schema=False
).openapi()
OPERATIONS = [
    (method.upper(), path, op)
    for path, ops in SPEC["paths"].items()
    for method, op in ops.items()
    if path.startswith("/api/")
]


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    for option in schema.get("anyOf", []):
        if "$ref" in option:
            return _resolve(option)
    ref = schema.get("$ref")
    if ref:
        return SPEC["components"]["schemas"][ref.rsplit("/", 1)[1]]  # type: ignore[no-any-return]
    return schema


@pytest.mark.parametrize(("method", "path", "op"), OPERATIONS, ids=[f"{m} {p}" for m, p, _ in OPERATIONS])
def test_operation_is_documented(method: str, path: str, op: dict[str, Any]) -> None:
    assert op.get("summary"), "every operation needs a summary"
    success = [code for code in op["responses"] if code.startswith("2")]
    assert success, "a documented success response"
    content = op["responses"][success[0]].get("content", {})
    if success[0] != "204" and "application/json" in content:
        assert content["application/json"].get("schema"), "a typed success response"
    errors = {code for code in op["responses"] if code[0] in "45"}
    if op.get("security") != []:
        assert {"401", "403"} <= errors, f"documented auth errors, found {sorted(errors)}"
    body = op.get("requestBody", {}).get("content", {}).get("application/json")
    if body and method == "POST":
        schema = _resolve(body["schema"])
        has_example = bool(schema.get("examples") or body.get("example") or body.get("examples"))
        assert has_example, "create bodies carry an example"


def test_problem_responses_use_problem_json() -> None:
    for _method, _path, op in OPERATIONS:
        for code, response in op["responses"].items():
            if code in ("401", "403", "404", "409") and "content" in response:
                assert "application/problem+json" in response["content"]
