"""Bodies for the dataset catalogue, access requests and grants."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import AwareDatetime, Field, StringConstraints

from governance.core.schemas import (
    LongText,
    Note,
    Ref,
    RequestBody,
    ResponseBody,
    Slug,
    Tier,
    Title,
    Username,
    WithActions,
)
from governance.datasets.states import DatasetStatus

StorageUri = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9+.-]*://\S+$", max_length=1000)]
Justification = Annotated[str, StringConstraints(min_length=1, max_length=10_000)]
RequiredNote = Annotated[str, StringConstraints(min_length=1, max_length=2000)]


class DatasetCreate(RequestBody):
    slug: Slug
    title: Title
    description: LongText = ""
    tier: Tier
    storage_uri: StorageUri = Field(description="Where the data lives; shown only to stewards and admins")
    use_conditions: LongText = ""
    custodian: Username | None = Field(None, description="Username of the custodian who decides access")

    model_config = RequestBody.model_config | {
        "json_schema_extra": {
            "examples": [
                {
                    "slug": "hospital-episodes",
                    "title": "Hospital episode statistics",
                    "description": "Admitted patient care episodes, 2015-2025.",
                    "tier": 2,
                    "storage_uri": "s3://tre-data/hospital-episodes/v1/",
                    "use_conditions": "No attempt to re-identify individuals.",
                    "custodian": "sam",
                }
            ]
        }
    }


class DatasetUpdate(RequestBody):
    title: Title | None = None
    description: LongText | None = None
    tier: Tier | None = None
    storage_uri: StorageUri | None = None
    use_conditions: LongText | None = None
    custodian: Username | None = None
    status: DatasetStatus | None = Field(
        None,
        description="active ⇄ retired (the moves retire and reactivate); retiring stops servers that use it",
    )


class DatasetOut(ResponseBody, WithActions):
    id: uuid.UUID
    slug: str
    title: str
    description: str
    tier: int
    storage_uri: str | None = Field(None, description="Shown only to holders of read:all or write:datasets")
    use_conditions: str
    custodian_id: uuid.UUID | None
    status: str
    created_at: datetime
    updated_at: datetime


class AccessRequestCreate(RequestBody):
    project: Ref = Field(description="Id or slug of the project")
    dataset: Ref = Field(description="Id or slug of the dataset")
    justification: Justification
    expires_at: AwareDatetime | None = Field(None, description="Until when the access is needed")

    model_config = RequestBody.model_config | {
        "json_schema_extra": {
            "examples": [
                {
                    "project": "diabetes-outcomes",
                    "dataset": "census-extract",
                    "justification": "Area-level deprivation as a confounder of readmission.",
                    "expires_at": "2027-06-30T00:00:00Z",
                }
            ]
        }
    }


class AccessApprove(RequestBody):
    conditions: LongText | None = Field(None, description="Defaults to the dataset's use conditions")
    expires_at: AwareDatetime | None = Field(
        None, description="Defaults to the requested expiry; never later than the project's end"
    )
    note: Note = ""

    model_config = RequestBody.model_config | {
        "json_schema_extra": {
            "examples": [
                {"conditions": "Aggregate outputs only.", "expires_at": "2027-06-30T00:00:00Z", "note": ""}
            ]
        }
    }


class AccessReject(RequestBody):
    note: RequiredNote = Field(description="Why; shown to the applicants")

    model_config = RequestBody.model_config | {
        "json_schema_extra": {
            "examples": [
                {"note": "The justification does not explain why identifiable admissions data are needed."}
            ]
        }
    }


class AccessRequestOut(ResponseBody, WithActions):
    id: uuid.UUID
    project_id: uuid.UUID
    dataset_id: uuid.UUID
    justification: str
    requested_by_id: uuid.UUID
    requested_expires_at: datetime | None
    status: str
    decided_by_id: uuid.UUID | None
    decided_at: datetime | None
    decision_note: str
    created_at: datetime
    updated_at: datetime
    grant_id: uuid.UUID | None = None


class GrantRevoke(RequestBody):
    reason: RequiredNote

    model_config = RequestBody.model_config | {
        "json_schema_extra": {
            "examples": [{"reason": "The data-sharing agreement with the custodian ended."}]
        }
    }


class GrantOut(ResponseBody, WithActions):
    id: uuid.UUID
    project_id: uuid.UUID
    dataset_id: uuid.UUID
    access_request_id: uuid.UUID | None
    conditions: str
    granted_by_id: uuid.UUID | None
    expires_at: datetime | None
    revoked_at: datetime | None
    revoked_reason: str
    revoked_by_id: uuid.UUID | None
    created_at: datetime
    status: str = ""
