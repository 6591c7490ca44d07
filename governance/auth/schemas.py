"""Bodies for /me, API tokens and dev login."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import Field

from governance.core.schemas import RequestBody, ResponseBody, Username


class MeOut(ResponseBody):
    id: uuid.UUID
    username: str
    display_name: str
    email: str | None
    status: str
    roles: list[str]
    scopes: list[str]
    authenticated_via: str
    project_id: uuid.UUID | None = None
    mfa: bool = False


class TokenCreate(RequestBody):
    name: str = Field(min_length=1, max_length=100)
    scopes: list[str] | None = Field(None, max_length=50, description="Defaults to all scopes of your roles")
    expires_in_hours: float = Field(8, gt=0, le=24 * 366)

    model_config = RequestBody.model_config | {
        "json_schema_extra": {
            "examples": [{"name": "analysis scripts", "scopes": ["read:projects"], "expires_in_hours": 8}]
        }
    }


class TokenOut(ResponseBody):
    id: uuid.UUID
    name: str
    prefix: str
    scopes: list[str] | None
    project_id: uuid.UUID | None
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


class TokenCreated(TokenOut):
    token: str = Field(description="Shown once; store it now")


class DevLogin(RequestBody):
    username: Username

    model_config = RequestBody.model_config | {"json_schema_extra": {"examples": [{"username": "alice"}]}}
