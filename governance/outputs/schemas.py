"""Output-request bodies: what callers send and what they get back."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from governance.core.schemas import LongText, Note, Ref, RequestBody, ResponseBody, Title, WithActions
from governance.outputs.states import OutputRequestStatus, Vote

FileStatus = Literal["pending", "pass", "review", "fail", "error"]
FileOutcome = Literal["pending", "approved", "changes_requested", "rejected", "conflicted"]


class OutputRequestCreate(RequestBody):
    project: Ref = Field(description="The project's slug or id")
    title: Title

    model_config = RequestBody.model_config | {
        "json_schema_extra": {
            "examples": [{"project": "diabetes-outcomes", "title": "Table 2 for the paper"}]
        }
    }


class FileUpdate(RequestBody):
    context: LongText | None = None
    controls: LongText | None = None
    contributions_column: str | None = Field(None, max_length=200)


class ReviewCreate(RequestBody):
    vote: Vote = Field(description="The move: approve, request_changes or reject")
    comment: LongText = ""
    visibility: Literal["public", "private"] = "public"
    justification: LongText = Field(
        "", description="Required to approve a file that failed an automated check"
    )

    model_config = RequestBody.model_config | {
        "json_schema_extra": {
            "examples": [
                {
                    "vote": "approve",
                    "comment": "Counts are rounded to 5 and no cell is below 10.",
                    "visibility": "public",
                    "justification": "",
                }
            ]
        }
    }


class RecallBody(RequestBody):
    reason: Note = Field(min_length=1)

    model_config = RequestBody.model_config | {
        "json_schema_extra": {"examples": [{"reason": "A cell below the threshold was found after release."}]}
    }


class NamedRef(ResponseBody):
    id: uuid.UUID
    name: str


class FindingOut(ResponseBody):
    code: str
    message: str
    location: dict[str, Any] | None = None


class CheckOut(ResponseBody):
    name: str
    version: str
    status: str
    findings: list[FindingOut]
    counts: dict[str, Any]
    parameters: dict[str, Any]
    checked_at: datetime


class ReviewOut(ResponseBody):
    id: uuid.UUID
    file_id: uuid.UUID
    round: int
    reviewer: str | None = Field(None, description="Hidden from the researchers")
    vote: str
    comment: str
    visibility: str
    justification: str
    created_at: datetime


class OutputFileOut(ResponseBody, WithActions):
    """A file of the request; its actions are this caller's votes (approve, request_changes, reject)."""

    id: uuid.UUID
    name: str
    size: int
    sha256: str
    context: str
    controls: str
    contributions_column: str | None
    media_type: str | None
    source: str
    status: FileStatus = Field(description="pending until every check has run, then the worst check status")
    checks: list[CheckOut]
    outcome: FileOutcome = Field(
        description="What the votes add up to; 'pending' for the project's members until the reviewers "
        "decide the round, and for good if it ends without their decision (withdrawn, blocked): an "
        "outcome such as 'conflicted' would tell them how the reviewers voted"
    )
    votes_cast: int | None = Field(
        description="Votes of this review round; null for the project's members until the reviewers decide "
        "the round, and for good if it ends without their decision (withdrawn, blocked): a count beyond "
        "the reviewers required would tell them the reviewers disagreed"
    )
    reviews: list[ReviewOut]
    acro: dict[str, Any] | None
    created_at: datetime


class ReleaseOut(ResponseBody):
    released_at: datetime
    released_by: str | None = Field(description="The releasing checker; hidden (null) from the project")
    record_sha256: str | None = Field(
        description="The SHA-256 of the full release record; null for those who get the project's redacted "
        "copy (the full record's hash would confirm a guess of the reviewers; the copy's own hash is in "
        "the X-Record-SHA256 header of GET …/release-record)"
    )
    recalled_at: datetime | None
    recalled_by: str | None = Field(description="The recalling checker; hidden (null) from the project")
    recall_reason: str


class OutputRequestSummary(ResponseBody, WithActions):
    id: uuid.UUID
    project: NamedRef
    title: str
    status: OutputRequestStatus
    tier: int
    requester: NamedRef
    round: int
    reviewers_required: int
    profile_version: str | None
    hold_reason: str
    file_count: int
    total_bytes: int
    submitted_at: datetime | None
    decided_at: datetime | None
    created_at: datetime
    updated_at: datetime


class OutputRequestOut(OutputRequestSummary):
    files: list[OutputFileOut]
    release: ReleaseOut | None


class AcroSessionOut(ResponseBody):
    acro_version: str
    outputs: int
    problems: list[FindingOut]
    skipped: list[str] = Field(description="Outputs not for release (ACRO's DONT_RELEASE summaries)")
    files: list[OutputFileOut]
