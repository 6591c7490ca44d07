"""Per-run memo so that several checks of one file share detection, scanning and parsing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from governance.outputs.checks.base import CheckContext

T = TypeVar("T")


def memoised(ctx: CheckContext, kind: str, path: Path, compute: Callable[[], T]) -> T:
    key = (kind, str(path))
    if key in ctx.cache:
        value: Any = ctx.cache[key]
        if isinstance(value, BaseException):
            raise value
        return value  # type: ignore[no-any-return]
    try:
        result = compute()
    except Exception as exc:
        ctx.cache[key] = exc
        raise
    ctx.cache[key] = result
    return result
