"""Bodies for organisations, users, accreditations, agreements, groups and role bindings."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, Field, StringConstraints, model_validator

from governance.core.schemas import Note, RequestBody, ResponseBody, ShortText, Slug, Username

Email = Annotated[
    str, StringConstraints(pattern=r"^[^@\s]{1,64}@[^@\s]{1,188}\.[^@\s.]{1,63}$", max_length=254)
]
DisplayName = Annotated[str, StringConstraints(max_length=200)]
OrganisationName = Annotated[str, StringConstraints(min_length=1, max_length=200)]
GroupName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9 ._/-]{0,199}$")]
Reason = Annotated[str, StringConstraints(min_length=1, max_length=2000)]
UserStatus = Literal["active", "suspended", "deactivated"]
RoleName = Literal["researcher", "data_steward", "output_checker", "auditor", "admin", "hub"]


class OrganisationCreate(RequestBody):
    slug: Slug
    name: OrganisationName

    model_config = RequestBody.model_config | {
        "json_schema_extra": {"examples": [{"slug": "demo-university", "name": "Demo University"}]}
    }


class OrganisationUpdate(RequestBody):
    name: OrganisationName | None = None


class OrganisationOut(ResponseBody):
    id: uuid.UUID
    slug: str
    name: str
    created_at: datetime
    updated_at: datetime


class UserCreate(RequestBody):
    username: Username
    email: Email | None = None
    display_name: DisplayName = ""
    organisation: Slug | None = Field(None, description="Slug of the user's organisation")
    kind: Literal["person", "service"] = "person"

    model_config = RequestBody.model_config | {
        "json_schema_extra": {
            "examples": [
                {
                    "username": "dave",
                    "email": "dave@example.org",
                    "display_name": "Dave Researcher",
                    "organisation": "demo-university",
                }
            ]
        }
    }


class UserUpdate(RequestBody):
    email: Email | None = None
    display_name: DisplayName | None = None
    organisation: Slug | None = Field(None, description="Slug of the organisation")
    status: UserStatus | None = Field(
        None, description="active ⇄ suspended, or deactivated for good; suspending stops the user's servers"
    )


class UserOut(ResponseBody):
    id: uuid.UUID
    username: str
    email: str | None
    display_name: str
    organisation_id: uuid.UUID | None
    status: str
    kind: str
    created_at: datetime
    updated_at: datetime


class AccreditationCreate(RequestBody):
    kind: Slug = Field(description="What the accreditation is, e.g. safe-researcher")
    issuer: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    awarded_at: AwareDatetime
    expires_at: AwareDatetime | None = None
    evidence_ref: ShortText = ""

    @model_validator(mode="after")
    def _dates(self) -> AccreditationCreate:
        if self.expires_at and self.expires_at <= self.awarded_at:
            raise ValueError("expires_at must be after awarded_at")
        return self

    model_config = RequestBody.model_config | {
        "json_schema_extra": {
            "examples": [
                {
                    "kind": "safe-researcher",
                    "issuer": "Office for National Statistics",
                    "awarded_at": "2026-01-10T00:00:00Z",
                    "expires_at": "2029-01-10T00:00:00Z",
                    "evidence_ref": "SRS-12345",
                }
            ]
        }
    }


class AccreditationOut(ResponseBody):
    id: uuid.UUID
    user_id: uuid.UUID
    kind: str
    issuer: str
    awarded_at: datetime
    expires_at: datetime | None
    evidence_ref: str
    verified_by_id: uuid.UUID | None
    verified_at: datetime | None
    revoked_at: datetime | None
    created_at: datetime
    status: str = ""
    allowed_actions: list[str] = []


class RevokeBody(RequestBody):
    reason: Reason

    model_config = RequestBody.model_config | {
        "json_schema_extra": {
            "examples": [{"reason": "The certificate was withdrawn by the accrediting body."}]
        }
    }


class AgreementCreate(RequestBody):
    version: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
    expires_at: AwareDatetime | None = None

    model_config = RequestBody.model_config | {
        "json_schema_extra": {"examples": [{"version": "2026.1", "expires_at": "2027-03-31T23:59:59Z"}]}
    }


class AgreementOut(ResponseBody):
    id: uuid.UUID
    user_id: uuid.UUID
    version: str
    signed_at: datetime
    expires_at: datetime | None
    created_at: datetime
    status: str = ""
    allowed_actions: list[str] = []


class GroupCreate(RequestBody):
    name: GroupName
    description: Note = ""

    model_config = RequestBody.model_config | {
        "json_schema_extra": {"examples": [{"name": "stewards", "description": "All data stewards"}]}
    }


class GroupUpdate(RequestBody):
    name: GroupName | None = None
    description: Note | None = None


class GroupOut(ResponseBody):
    id: uuid.UUID
    name: str
    description: str
    source: str
    external_id: str | None
    created_at: datetime
    updated_at: datetime


class GroupMemberCreate(RequestBody):
    username: Username

    model_config = RequestBody.model_config | {"json_schema_extra": {"examples": [{"username": "carol"}]}}


class GroupMemberOut(ResponseBody):
    group_id: uuid.UUID
    user_id: uuid.UUID
    username: str = ""
    source: str
    created_at: datetime


class RoleBindingCreate(RequestBody):
    role: RoleName
    username: Username | None = None
    group: GroupName | None = Field(None, description="Name or id of the group")

    @model_validator(mode="after")
    def _one_subject(self) -> RoleBindingCreate:
        if (self.username is None) == (self.group is None):
            raise ValueError("name exactly one of username or group")
        return self

    model_config = RequestBody.model_config | {
        "json_schema_extra": {"examples": [{"role": "data_steward", "username": "stella"}]}
    }


class RoleBindingOut(ResponseBody):
    id: uuid.UUID
    role: str
    user_id: uuid.UUID | None
    username: str | None = None
    group_id: uuid.UUID | None
    group_name: str | None = None
    source: str
    created_by_id: uuid.UUID | None
    created_at: datetime
