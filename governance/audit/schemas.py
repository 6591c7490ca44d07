"""Request and response bodies of the audit API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from governance.core.schemas import RequestBody, ResponseBody

EXAMPLE_HASH = "3f1c0e6b2a5d4c7e9f8a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f67"


class AuditEventOut(ResponseBody):
    seq: int
    id: uuid.UUID
    occurred_at: datetime
    actor_id: str | None
    actor_username: str | None
    action: str
    object_type: str
    object_id: str | None
    project_id: str | None
    outcome: str
    summary: dict[str, Any]
    request_id: str | None
    source: str
    chain_index: int | None = Field(description="Position in the hash chain; null until the sealer chains it")
    prev_hash: str | None = Field(description="Withheld (null) from callers whose view is blinded")
    hash: str | None = Field(
        description="Withheld (null) from callers whose view is blinded: a hash would confirm a guess of a "
        "redacted actor"
    )
    redacted: bool = Field(
        False,
        description="The actor (an output checker) is hidden from the project's members: reviewers stay "
        "anonymous to the project",
    )


class CheckpointOut(BaseModel):
    chain_index: int = Field(description="The last event the signature covers")
    hash: str = Field(description="The chain head at chain_index")
    created_at: str = Field(description="RFC 3339 UTC with microseconds, exactly as signed")
    key_id: str
    signature: str = Field(description="Ed25519 signature (base64) over the checkpoint message")


class CheckpointPage(BaseModel):
    items: list[CheckpointOut]
    next_cursor: str | None = None


class PublicKeyOut(BaseModel):
    key_id: str = Field(description="First 16 hex digits of SHA-256 over the raw public key")
    algorithm: Literal["Ed25519"]
    public_key: str = Field(description="The 32 raw key bytes, base64")
    current: bool = Field(description="Signs new checkpoints; retired keys stay listed so old ones verify")


class PublicKeysOut(BaseModel):
    keys: list[PublicKeyOut]
    message_format: str = Field(
        "five-safes-audit-checkpoint/1",
        description="Signed message: the tag, chain index, head hash, created_at and key id, one per line",
    )


class VerifyRequest(RequestBody):
    from_: int = Field(1, alias="from", ge=1, description="First event (chain index)")
    to: int | None = Field(None, ge=1, description="Last event; default the chain head")

    model_config = RequestBody.model_config | {
        "populate_by_name": True,
        "json_schema_extra": {"examples": [{"from": 1, "to": 5000}]},
    }


class RangeOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    from_: int = Field(alias="from")
    to: int | None


class VerifyOut(BaseModel):
    ok: bool
    checked: int = Field(description="Events verified before stopping")
    first_bad_index: int | None = Field(description="The first event (or checkpoint) that failed")
    problem: str | None = Field(description="What is wrong, in one sentence")
    last_checkpoint_verified: int | None
    last_index: int | None
    head_hash: str | None
    unsigned_tail: int = Field(description="Verified events after the last signed checkpoint")
    keys_trusted: bool
    warnings: list[str]
    requested: RangeOut
    verified_from: int = Field(
        description="Verification starts at the nearest signed checkpoint before the range"
    )
    sealed_head: int
    unsealed: int = Field(description="Committed events not chained yet (not covered by this verification)")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "ok": False,
                    "checked": 56,
                    "first_bad_index": 57,
                    "problem": "event 57 was modified (hash mismatch)",
                    "last_checkpoint_verified": 50,
                    "last_index": None,
                    "head_hash": None,
                    "unsigned_tail": 0,
                    "keys_trusted": True,
                    "warnings": [],
                    "requested": {"from": 1, "to": 100},
                    "verified_from": 1,
                    "sealed_head": 120,
                    "unsealed": 0,
                }
            ]
        }
    )


class AccessLink(BaseModel):
    """One link of the chain that gives a user access: its id and until when it holds."""

    id: uuid.UUID
    expires_at: datetime | None
    detail: str = ""


class DatasetAccessOut(BaseModel):
    username: str
    user_id: uuid.UUID
    project: str
    project_id: uuid.UUID
    grant: AccessLink
    membership: AccessLink
    accreditation: AccessLink
    agreement: AccessLink
    access_until: datetime | None = Field(
        description="The earliest expiry along the chain (null: open-ended)"
    )


class DatasetAccessReport(BaseModel):
    dataset: str
    dataset_id: uuid.UUID
    as_of: datetime
    users: list[DatasetAccessOut]
    note: str = (
        "Access as the launch policies judge it now: a live grant to an active project, an approved "
        "membership, a verified accreditation of the required kind and a data-use agreement in force. "
        "A launch is also subject to the environment profile and MFA."
    )


class ProjectDecisionOut(BaseModel):
    id: uuid.UUID
    created_at: datetime
    username: str
    allowed: bool
    denied_safes: list[str]
    reasons: list[str]
    policy_version: str
    datasets: list[str]
    profile_id: uuid.UUID | None
    server_name: str
    expires_at: datetime | None
    ended_at: datetime | None
    end_cause: str | None


class ProjectDecisionsReport(BaseModel):
    project: str
    project_id: uuid.UUID
    items: list[ProjectDecisionOut]
    next_cursor: str | None = None


class ReleaseOut(BaseModel):
    id: uuid.UUID
    request_id: uuid.UUID
    project_id: uuid.UUID
    released_at: datetime
    released_by_id: uuid.UUID | None = Field(
        description="The releasing checker; null in a row of a project the caller is involved in"
    )
    record_sha256: str = Field(
        description="The SHA-256 of the record given: the stored record's, or, for a project the caller is "
        "involved in, that of the redacted copy (its canonical JSON)"
    )
    record: dict[str, Any] = Field(
        description='The release record; the project\'s redacted copy ("redacted": true) where the caller is '
        "involved in the project, as GET /api/v1/output-requests/{id}/release-record gives it"
    )
    recalled_at: datetime | None
    recall_reason: str


class ReleasesReport(BaseModel):
    items: list[ReleaseOut]
    next_cursor: str | None = None
