"""Bodies for organisations, users, accreditations, agreements, groups and role bindings."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, Field, StringConstraints, model_validator

from governance.core.schemas import (
    Note,
    RequestBody,
    ResponseBody,
    ShortText,
    Slug,
    Username,
    WithActions,
)

# Control characters (C0, DEL, C1) and bidirectional formatting marks, embeddings, overrides and isolates:
# in a name they can hide or reorder what a reviewer, an audit report or a page shows ("evil\u202egnp").
UNSAFE_NAME_CHARS = re.compile("[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069\u061c]")


def refuse_unsafe_chars(value: str) -> str:
    found = UNSAFE_NAME_CHARS.search(value)
    if found:
        code = f"U+{ord(found.group()):04X}"
        raise ValueError(
            f"must not contain control or bidirectional formatting characters (found {code}); "
            "remove it and send the name again"
        )
    return value


def strip_unsafe_chars(value: str) -> str:
    """An identity provider's claim as it is stored: the same text without those characters."""
    return UNSAFE_NAME_CHARS.sub("", value)


Email = Annotated[
    str, StringConstraints(pattern=r"^[^@\s]{1,64}@[^@\s]{1,188}\.[^@\s.]{1,63}$", max_length=254)
]
DisplayName = Annotated[str, StringConstraints(max_length=200), AfterValidator(refuse_unsafe_chars)]
Issuer = Annotated[str, StringConstraints(pattern=r"^[^\s]{1,300}$")]  # an issuer URL or SAML entity id
Subject = Annotated[str, StringConstraints(min_length=1, max_length=300, pattern=r"^[^\s]+$")]
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

    not_nullable = frozenset({"name"})


class OrganisationOut(ResponseBody):
    id: uuid.UUID
    slug: str
    name: str
    created_at: datetime
    updated_at: datetime


_LINK_HELP = (
    "The identity the account is linked to: the issuer (an OIDC issuer URL or a SAML IdP entity id) and "
    "the subject there (the token's `sub`, the Keycloak user id, or the SAML NameID). With an issuer but no "
    "subject the account is invited: the first login from that issuer whose username is exactly this one "
    "links it. Without either, a login never takes the account over (it is refused and the administrator "
    "asked to link it)."
)


def _one_link(issuer: str | None, subject: str | None, sent: set[str]) -> None:
    if subject is not None and issuer is None:
        raise ValueError("a subject needs its issuer: send issuer as well")
    if "issuer" in sent and issuer is None and not ("subject" in sent and subject is None):
        raise ValueError("to unlink, send both issuer: null and subject: null")


class UserCreate(RequestBody):
    username: Username
    email: Email | None = None
    display_name: DisplayName = ""
    organisation: Slug | None = Field(None, description="Slug of the user's organisation")
    kind: Literal["person", "service"] = "person"
    issuer: Issuer | None = Field(None, description=_LINK_HELP)
    subject: Subject | None = Field(None, description="The subject at `issuer` (see issuer)")

    @model_validator(mode="after")
    def _link(self) -> UserCreate:
        _one_link(self.issuer, self.subject, self.model_fields_set)
        return self

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
    issuer: Issuer | None = Field(None, description=_LINK_HELP + " Needs write:users.")
    subject: Subject | None = Field(None, description="The subject at `issuer` (see issuer)")

    not_nullable = frozenset({"status"})

    @model_validator(mode="after")
    def _link(self) -> UserUpdate:
        _one_link(self.issuer, self.subject, self.model_fields_set)
        return self


class UserOut(ResponseBody, WithActions):
    id: uuid.UUID
    username: str
    email: str | None
    display_name: str
    organisation_id: uuid.UUID | None
    status: str
    kind: str
    issuer: str | None = Field(None, description="The identity provider the account is linked or invited to")
    subject: str | None = Field(None, description="The subject there; None while only invited (or unlinked)")
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


class AccreditationOut(ResponseBody, WithActions):
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


class AgreementOut(ResponseBody, WithActions):
    id: uuid.UUID
    user_id: uuid.UUID
    version: str
    signed_at: datetime
    expires_at: datetime | None
    created_at: datetime
    status: str = ""


class GroupCreate(RequestBody):
    name: GroupName
    description: Note = ""

    model_config = RequestBody.model_config | {
        "json_schema_extra": {"examples": [{"name": "stewards", "description": "All data stewards"}]}
    }


class GroupUpdate(RequestBody):
    name: GroupName | None = None
    description: Note | None = None

    not_nullable = frozenset({"name", "description"})


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
