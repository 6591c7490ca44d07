"""Bodies for environment profiles (Safe Settings)."""

from __future__ import annotations

import ipaddress
import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, field_validator, model_validator

from governance.core.schemas import Ref, RequestBody, ResponseBody, Slug, Tier, Title, WithActions
from governance.environments.states import ProfileStatus

Image = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._/:@+-]*$", max_length=500)]
Egress = Literal["none", "proxy", "open"]
Cpu = Annotated[float, Field(gt=0, le=256)]
MemoryGb = Annotated[float, Field(gt=0, le=4096)]
Gpu = Annotated[int, Field(ge=0, le=16)]
SessionHours = Annotated[float, Field(gt=0, le=24 * 7)]
Networks = Annotated[
    list[Annotated[str, StringConstraints(max_length=64)]],
    Field(max_length=50, description="CIDR ranges the workspace may be reached from; empty means any"),
]
ProjectRefs = Annotated[list[Ref], Field(max_length=200, description="Ids or slugs of the projects allowed")]


def normalise_networks(values: list[str]) -> list[str]:
    result: list[str] = []
    for value in values:
        try:
            network = ipaddress.ip_network(value, strict=True)
        except ValueError as exc:
            raise ValueError(f"{value!r} is not a CIDR network such as 10.0.0.0/8 ({exc})") from None
        if str(network) not in result:
            result.append(str(network))
    return result


class ProfileCreate(RequestBody):
    slug: Slug
    title: Title
    image: Image
    cpu: Cpu
    memory_gb: MemoryGb
    gpu: Gpu = 0
    max_tier: Tier
    egress: Egress = "none"
    allowed_networks: Networks = []
    mfa_required: bool = False
    max_session_hours: SessionHours
    all_projects: bool = True
    projects: ProjectRefs = []

    @field_validator("allowed_networks")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        return normalise_networks(value)

    @model_validator(mode="after")
    def _scope(self) -> ProfileCreate:
        if self.all_projects and self.projects:
            raise ValueError("name projects only when all_projects is false")
        return self

    model_config = RequestBody.model_config | {
        "json_schema_extra": {
            "examples": [
                {
                    "slug": "gpu-secure",
                    "title": "Secure GPU workspace",
                    "image": "quay.io/jupyter/pytorch-notebook:cuda12-2026-01-05",
                    "cpu": 8,
                    "memory_gb": 32,
                    "gpu": 1,
                    "max_tier": 3,
                    "egress": "none",
                    "allowed_networks": ["10.0.0.0/8"],
                    "mfa_required": True,
                    "max_session_hours": 4,
                    "all_projects": False,
                    "projects": ["diabetes-outcomes"],
                }
            ]
        }
    }


class ProfileUpdate(RequestBody):
    title: Title | None = None
    image: Image | None = None
    cpu: Cpu | None = None
    memory_gb: MemoryGb | None = None
    gpu: Gpu | None = None
    max_tier: Tier | None = None
    egress: Egress | None = None
    allowed_networks: Networks | None = None
    mfa_required: bool | None = None
    max_session_hours: SessionHours | None = None
    all_projects: bool | None = None
    projects: ProjectRefs | None = None
    status: ProfileStatus | None = Field(
        None,
        description="active ⇄ retired (the moves retire and reactivate); retiring stops servers using it",
    )

    @field_validator("allowed_networks")
    @classmethod
    def _networks(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else normalise_networks(value)


class ProfileOut(ResponseBody, WithActions):
    id: uuid.UUID
    slug: str
    title: str
    image: str
    cpu: float
    memory_gb: float
    gpu: int
    max_tier: int
    egress: str
    allowed_networks: list[str]
    mfa_required: bool
    max_session_hours: float
    all_projects: bool
    projects: list[str] = Field(
        default_factory=list,
        description="Slugs of the allowed projects that you can see (when not all_projects)",
    )
    status: str
    created_at: datetime
    updated_at: datetime
