"""Bodies of the launch-decision API (the hub's question and the answer)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import Field, StringConstraints

from governance.core.schemas import RequestBody, ResponseBody

Ref = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class AuthIn(RequestBody):
    mfa: bool = False
    acr: str | None = Field(None, max_length=64)
    amr: list[Annotated[str, StringConstraints(max_length=32)]] = Field(default_factory=list, max_length=16)


class RequestedIn(RequestBody):
    cpu: float | None = Field(None, gt=0, le=1024)
    memory_gb: float | None = Field(None, gt=0, le=16384)
    gpu: int | None = Field(None, ge=0, le=64)


class DecisionRequest(RequestBody):
    username: str = Field(min_length=1, max_length=64)
    project: Ref
    profile: Ref
    datasets: list[Ref] = Field(default_factory=list, max_length=50)
    server_name: str = Field("", max_length=255)
    client_ip: str | None = Field(None, max_length=64)
    auth: AuthIn = Field(
        default_factory=AuthIn,
        description="The hub's account of the login's strength. Used only without `user_token`, and never "
        "when GOVERNANCE_MFA_FROM_USER_TOKEN_ONLY is on (the production default): then only the user's own "
        "token can satisfy a profile or tier that requires multi-factor authentication.",
    )
    requested: RequestedIn = Field(default_factory=RequestedIn)
    user_token: str | None = Field(
        None,
        max_length=8192,
        description="The user's OIDC access token as the hub holds it. When sent, mfa/acr/amr are taken from "
        "it (validated like a bearer token, and it must belong to `username`) instead of from `auth`; it is "
        "never stored.",
    )

    model_config = RequestBody.model_config | {
        "json_schema_extra": {
            "examples": [
                {
                    "username": "alice",
                    "project": "diabetes-outcomes",
                    "profile": "standard",
                    "datasets": ["hospital-episodes"],
                    "server_name": "",
                    "client_ip": "10.1.2.3",
                    "auth": {"mfa": False, "acr": None, "amr": ["pwd"]},
                }
            ]
        }
    }


class SafeOut(ResponseBody):
    allowed: bool
    reasons: list[str]


class DecisionOut(ResponseBody):
    decision_id: uuid.UUID | None = Field(description="None for a simulation, which is not stored")
    allowed: bool
    safes: dict[str, SafeOut]
    obligations: dict[str, Any] | None
    policy_version: str
    expires_at: datetime | None
    decided_at: datetime
    simulated: bool = False


class DecisionRecordOut(ResponseBody):
    id: uuid.UUID
    created_at: datetime
    username: str
    user_id: uuid.UUID | None
    project_id: uuid.UUID | None
    profile_id: uuid.UUID | None
    dataset_ids: list[str]
    server_name: str
    inputs: dict[str, Any]
    allowed: bool
    safes: dict[str, Any]
    obligations: dict[str, Any] | None
    policy_version: str
    expires_at: datetime | None
    ended_at: datetime | None
    end_cause: str | None


class LaunchOptionProfile(ResponseBody):
    slug: str
    title: str
    max_tier: int
    cpu: float
    memory_gb: float
    gpu: int
    mfa_required: bool


class LaunchOptionDataset(ResponseBody):
    slug: str
    title: str
    tier: int


class LaunchOptionProject(ResponseBody):
    slug: str
    title: str
    tier: int
    profiles: list[LaunchOptionProfile]
    datasets: list[LaunchOptionDataset]


class LaunchOptions(ResponseBody):
    projects: list[LaunchOptionProject]
