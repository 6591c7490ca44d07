"""Project and membership bodies."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Literal

from pydantic import AwareDatetime, Field, model_validator

from governance.core.schemas import (
    LongText,
    Note,
    RequestBody,
    ResponseBody,
    ShortText,
    Slug,
    Tier,
    Title,
    Username,
    WithActions,
)

MemberRole = Literal["lead", "researcher", "viewer"]


class ProjectCreate(RequestBody):
    slug: Slug
    title: Title
    lay_summary: LongText = ""
    purpose: LongText = ""
    public_benefit: LongText = ""
    ethics_ref: ShortText = ""
    organisation: Slug | None = None
    tier: Tier
    starts_on: date | None = None
    ends_on: date | None = None
    lead: Username | None = Field(None, description="Username of the lead; defaults to the caller")

    @model_validator(mode="after")
    def _dates(self) -> ProjectCreate:
        if self.starts_on and self.ends_on and self.ends_on < self.starts_on:
            raise ValueError("ends_on must not be before starts_on")
        return self

    model_config = RequestBody.model_config | {
        "json_schema_extra": {
            "examples": [
                {
                    "slug": "diabetes-outcomes",
                    "title": "Diabetes outcomes after hospital discharge",
                    "lay_summary": "How care after discharge changes outcomes for people with diabetes.",
                    "purpose": "Cohort analysis of readmissions.",
                    "public_benefit": "Better discharge planning.",
                    "ethics_ref": "REC 24/NE/0001",
                    "tier": 2,
                    "starts_on": "2026-01-01",
                    "ends_on": "2027-12-31",
                }
            ]
        }
    }


class ProjectUpdate(RequestBody):
    title: Title | None = None
    lay_summary: LongText | None = None
    purpose: LongText | None = None
    public_benefit: LongText | None = None
    ethics_ref: ShortText | None = None
    tier: Tier | None = None
    starts_on: date | None = None
    ends_on: date | None = None


class ProjectOut(ResponseBody, WithActions):
    id: uuid.UUID
    slug: str
    title: str
    lay_summary: str
    purpose: str
    public_benefit: str
    ethics_ref: str
    organisation_id: uuid.UUID | None
    lead_id: uuid.UUID
    tier: int
    starts_on: date | None
    ends_on: date | None
    status: str
    review_round: int
    approvals_required: int
    created_at: datetime
    updated_at: datetime


class ProjectTransition(RequestBody):
    note: Note = ""


class MemberCreate(RequestBody):
    username: Username
    role: Literal["researcher", "viewer"] = "researcher"
    expires_at: AwareDatetime | None = None

    model_config = RequestBody.model_config | {
        "json_schema_extra": {
            "examples": [{"username": "bob", "role": "researcher", "expires_at": "2027-06-30T00:00:00Z"}]
        }
    }


class MemberUpdate(RequestBody):
    role: Literal["researcher", "viewer"] | None = None
    expires_at: AwareDatetime | None = None


class MemberOut(ResponseBody, WithActions):
    id: uuid.UUID
    project_id: uuid.UUID
    user_id: uuid.UUID
    username: str = ""
    role: str
    status: str
    expires_at: datetime | None
    removed_at: datetime | None
    requested_by_id: uuid.UUID | None
    decided_by_id: uuid.UUID | None
    decided_at: datetime | None
    created_at: datetime
