"""Base classes for request and response bodies: unknown fields rejected, sizes bounded."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from governance.core.ids import SLUG_PATTERN


class RequestBody(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


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
