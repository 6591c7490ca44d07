"""Base classes for request and response bodies: unknown fields rejected, sizes bounded."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from governance.core.ids import SLUG_PATTERN, fits_int64


class RequestBody(BaseModel):
    """Unknown fields, NaN/Infinity and integers past 64 bits are refused (422) before any code runs.

    Optional fields default to None, meaning "not sent". A field a record cannot be without (an update's
    title, say) belongs in `not_nullable`: an explicit null for it is then a 422 naming the field, instead
    of reaching the database (where a NOT NULL violation is also answered 422; see core/problems.py).
    """

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, allow_inf_nan=False)
    not_nullable: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="before")
    @classmethod
    def _numbers_fit(cls, data: Any) -> Any:
        if _has_wide_int(data):
            raise ValueError("integers must fit in 64 bits (from -2**63 to 2**63-1)")
        return data

    @model_validator(mode="after")
    def _no_null_for_required_fields(self) -> Self:
        sent_null = sorted(n for n in self.not_nullable & self.model_fields_set if getattr(self, n) is None)
        if sent_null:
            raise ValueError(
                f"{', '.join(sent_null)} may not be null; send a value, or leave the field out to keep it"
            )
        return self


def _has_wide_int(value: Any, depth: int = 0) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return not fits_int64(value)
    if depth > 64:
        return False
    if isinstance(value, dict):
        return any(_has_wide_int(v, depth + 1) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_has_wide_int(v, depth + 1) for v in value)
    return False


class ResponseBody(BaseModel):
    model_config = ConfigDict(from_attributes=True)


Slug = Annotated[str, StringConstraints(pattern=SLUG_PATTERN, min_length=1, max_length=64)]
Ref = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Title = Annotated[str, StringConstraints(min_length=1, max_length=300)]
ShortText = Annotated[str, StringConstraints(max_length=500)]
LongText = Annotated[str, StringConstraints(max_length=10_000)]
Username = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")]
Tier = Annotated[int, Field(ge=0, le=4)]
Note = Annotated[str, StringConstraints(max_length=2000)]


class TransitionBody(RequestBody):
    note: Note = ""

    model_config = RequestBody.model_config | {
        "json_schema_extra": {
            "examples": [{"note": "Ethics approval confirmed; data minimised to what the aims need."}]
        }
    }


LIST_LIMIT = Annotated[int, Field(ge=1, le=200)]


class UnavailableAction(BaseModel):
    action: str
    reason: str


class WithActions(BaseModel):
    """What this caller may do with the resource now, and why not the rest (the pages' buttons)."""

    allowed_actions: list[str] = []
    unavailable_actions: list[UnavailableAction] = []

    def set_actions(self, actions: Any) -> None:
        self.allowed_actions = list(actions.allowed)
        self.unavailable_actions = [
            UnavailableAction(action=u.action, reason=u.reason) for u in actions.unavailable
        ]
