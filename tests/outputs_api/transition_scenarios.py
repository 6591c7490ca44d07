"""Scenarios for the table-walking test (tests/core/test_transition_table.py): every declared move of the
output-request and file-review lifecycles, with a user playing each party its check refuses.

Registered into ``tests.core.transition_scenarios.SCENARIOS`` when imported (that module imports this one).
The release and recall scenarios use requests without files: what the walk checks is who may make the
move and that it is audited (releasing real files is tested in test_review_release.py).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from governance.core.clock import utcnow
from governance.core.schemas import TransitionBody
from governance.models import Membership, OutputFile, OutputRelease, OutputRequest
from governance.outputs.schemas import RecallBody, ReviewCreate
from tests.core.transition_scenarios import named, project, scenario, user

NOTE = TransitionBody(note="The wrong table was attached.")
# Output checkers who are also researchers: the requester, and a member of the project.
CHECKER_PARTIES = {"the requester": "oc-requester", "project members": "oc-member"}


def _member(s: Session, project_id: uuid.UUID, user_id: uuid.UUID) -> None:
    s.add(
        Membership(
            id=uuid.uuid4(),
            project_id=project_id,
            user_id=user_id,
            role="researcher",
            status="approved",
            requested_by_id=user_id,
            decided_at=utcnow(),
        )
    )


def output_request(
    s: Session, status: str, *, files: int = 1, checkers: bool = False, reviewers: int = 2
) -> uuid.UUID:
    """A request of an active project in ``status``. Without ``checkers`` alice asks (bob is a member);
    with them the requester and a member are output checkers too, so only independence refuses them."""
    project_id = project(s, "active")
    if checkers:
        requester = user(s, "oc-requester", "researcher", "output_checker").id
        others = [user(s, "oc-member", "researcher", "output_checker").id]
    else:
        requester, others = named(s, "alice"), [named(s, "bob")]
    for user_id in (requester, *others):
        _member(s, project_id, user_id)
    submitted: datetime | None = utcnow() if status != "draft" else None
    row = OutputRequest(
        id=uuid.uuid4(),
        project_id=project_id,
        title="Table 1",
        requester_id=requester,
        status=status,
        tier=2,
        reviewers_required=reviewers,
        round=1 if submitted else 0,
        submitted_at=submitted,
    )
    s.add(row)
    s.flush()
    for i in range(files):
        s.add(
            OutputFile(
                id=uuid.uuid4(),
                request_id=row.id,
                name=f"t{i}.csv",
                context="Counts by year.",
                controls="Rounded to 5.",
                size=10,
                sha256="0" * 64,
                storage_id=uuid.uuid4().hex,
                wrapped_key=b"not a key",
                kek_version="dev",
                uploaded_by_id=requester,
            )
        )
    if status in ("released", "recalled"):
        s.add(
            OutputRelease(
                id=uuid.uuid4(),
                request_id=row.id,
                record={"format": "five-safes-governance/release-record"},
                record_sha256="0" * 64,
                released_by_id=named(s, "olivia"),
                released_at=utcnow(),
            )
        )
    s.flush()
    return row.id


def get_request(s: Session, obj_id: uuid.UUID) -> OutputRequest:
    row = s.get(OutputRequest, obj_id)
    assert row is not None
    return row


def first_file(s: Session, request_id: uuid.UUID) -> OutputFile:
    from sqlalchemy import select

    row = s.scalar(select(OutputFile).where(OutputFile.request_id == request_id))
    assert row is not None
    s.get(OutputRequest, request_id)  # the file's request, in the identity map
    return row


def request_status(status: str) -> Any:
    def apply(s: Session, obj: Any) -> None:
        request = s.get(OutputRequest, obj.request_id) if isinstance(obj, OutputFile) else obj
        assert request is not None
        request.status = status

    return apply


scenario(
    "output_request.submit",
    build=lambda s: output_request(s, "draft"),
    load=get_request,
    actor="alice",
    parties={"anyone but the requester": "bob"},
)
scenario(
    "output_request.withdraw",
    build=lambda s: output_request(s, "in_review"),
    load=get_request,
    actor="alice",
    parties={"anyone but the requester": "bob"},
    body=NOTE,
)
scenario(
    "output_request.release",
    build=lambda s: output_request(s, "approved", files=0, checkers=True),
    load=get_request,
    actor="olivia",
    parties=CHECKER_PARTIES,
)
scenario(
    "output_request.recall",
    build=lambda s: output_request(s, "released", files=0, checkers=True),
    load=get_request,
    actor="olivia",
    parties=CHECKER_PARTIES,
    body=RecallBody(reason="A small cell was found after release."),
)
for action, source in (
    ("start_checks", "submitted"),
    ("finish_checks", "checking"),
    ("block", "checking"),
    ("approve", "in_review"),
    ("return", "in_review"),
    ("reject", "in_review"),
):
    scenario(
        f"output_request.{action}",
        build=lambda s, source=source: output_request(s, source),
        load=get_request,
        actor="olivia",
    )
for vote in ("approve", "request_changes", "reject"):
    scenario(
        f"output_file.{vote}",
        build=lambda s: output_request(s, "in_review", checkers=True),
        load=first_file,
        actor="olivia",
        parties=CHECKER_PARTIES,
        body=ReviewCreate(vote=vote, comment="Say how the years were chosen."),  # type: ignore[arg-type]
        illegal=request_status("approved"),  # one vote of the two needed leaves it in review
    )

scenario(
    "output_file.remove",
    build=lambda s: output_request(s, "draft", files=2),
    load=first_file,
    actor="alice",
    parties={"anyone but the requester": "bob"},
)
