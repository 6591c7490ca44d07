"""The output-request and file-review lifecycles: one declaration per move.

An output request goes draft → submitted → checking → in_review → approved → released, with returned
(changes requested; edited and resubmitted), rejected, withdrawn (by the requester, before approval),
blocked (malware, or a file whose hash no longer matches) and recalled (a release taken back). People
submit, withdraw, release and recall; the system starts and finishes the checks, blocks, and turns the
votes into approve, return or reject (``public=False``: ``perform(..., system=True)``; workers use
``transitions.perform_if``, which moves a request only while it is still in the move's source state).

A file under review takes one vote per independent reviewer and round (approve, request_changes, reject):
the votes are records (``output_reviews``), the move is declared here, so who may vote, and why not, is
said once — for the vote route, for each file's ``allowed_actions`` and for the pages' buttons.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session, object_session

from governance.auth.scopes import Scope
from governance.core import jobs
from governance.core.clock import utcnow
from governance.core.errors import InvalidInput
from governance.core.schemas import TransitionBody
from governance.core.transitions import (
    SYSTEM,
    Lifecycle,
    Move,
    Refusal,
    Transition,
    conflict,
    declare,
    invalid,
    perform,
)
from governance.models.outputs import OutputFile, OutputRelease, OutputRequest
from governance.models.projects import Project
from governance.outputs import releases, repository, reviews
from governance.outputs.access import author_refusal, checker_refusal, requester_refusal
from governance.outputs.runtime import risk_profiles
from governance.outputs.schemas import RecallBody, ReviewCreate
from governance.outputs.service import RUN_CHECKS_TASK
from governance.outputs.states import (
    FILE_REVIEW_STATE,
    FileReviewState,
    OutputRequestStatus,
    Vote,
)

R = OutputRequestStatus
F = FileReviewState
REQUESTER_PARTIES = ("anyone but the requester",)
CHECKER_PARTIES = ("the requester", "project members")


@dataclass(frozen=True)
class Details:
    """The body of a system move: what its audit event says, and the reason a request is held or blocked."""

    summary: dict[str, Any] = field(default_factory=dict)
    hold_reason: str | None = None


def _details(move: Move[Any]) -> Details:
    return move.body if isinstance(move.body, Details) else Details()


def _project(session: Session, request: OutputRequest) -> Project:
    return repository.project_of(session, request)


# --- output requests ------------------------------------------------------------------------------


def _may_submit(move: Move[OutputRequest]) -> Refusal | None:
    return requester_refusal(move.principal, move.obj, "submit") or author_refusal(
        move.session, move.principal, _project(move.session, move.obj), "submit"
    )


def _complete(move: Move[OutputRequest]) -> Refusal | None:
    files = repository.active_files(move.session, move.obj.id)
    if not files:
        return invalid("add at least one file before submitting")
    incomplete = [f.name for f in files if not f.context.strip() or not f.controls.strip()]
    if incomplete:
        return invalid(
            "every file needs its context (what it is and how it was made) and the disclosure controls "
            f"applied before the request can be submitted; missing for: {', '.join(incomplete[:20])}",
            files=incomplete,
        )
    return None


def _submit(move: Move[OutputRequest]) -> None:
    request = move.obj
    project = _project(move.session, request)
    files = repository.active_files(move.session, request.id)
    profiles = risk_profiles()
    profile = profiles.for_tier(project.tier)
    request.tier = project.tier
    request.profile_version = profiles.version
    request.reviewers_required = profile.reviewers_required
    request.round += 1
    request.submitted_at = utcnow()
    request.decided_at = None
    request.hold_reason = ""
    move.summary.update(
        round=request.round,
        files=len(files),
        bytes=sum(f.size for f in files),
        profile_version=profiles.version,
        reviewers_required=profile.reviewers_required,
    )


def _run_checks(move: Move[OutputRequest]) -> None:
    jobs.enqueue(move.session, RUN_CHECKS_TASK, str(move.obj.id))


def _is_requester(move: Move[OutputRequest]) -> Refusal | None:
    return requester_refusal(move.principal, move.obj, move.action)


def _decided(move: Move[OutputRequest]) -> None:
    move.obj.decided_at = utcnow()
    move.summary.update(_details(move).summary)


def _independent_checker(move: Move[OutputRequest]) -> Refusal | None:
    return checker_refusal(
        move.session, move.principal, move.obj, _project(move.session, move.obj), f"{move.action} its outputs"
    )


def _approved(move: Move[OutputRequest]) -> Refusal | None:
    """A request still in review cannot be released; say how far the review has come (counts only)."""
    if move.source == R.in_review:
        return conflict(f"the request is still in review: {reviews.progress(move.session, move.obj)}")
    return None


def _release(move: Move[OutputRequest]) -> None:
    """Re-verify every file (a mismatch raises FilesChanged: see transitions.release) and write the record."""
    session, request = move.session, move.obj
    files = repository.active_files(session, request.id)
    broken = releases.verify_files(files)
    if broken:
        raise releases.FilesChanged(broken)
    now = utcnow()
    content = releases.build_record(session, request, _project(session, request), files, move.principal, now)
    digest = hashlib.sha256(releases.canonical(content)).hexdigest()
    session.add(
        OutputRelease(
            id=uuid.uuid4(),
            request_id=request.id,
            record=content,
            record_sha256=digest,
            released_by_id=move.principal.user_id,
            released_at=now,
        )
    )
    move.summary.update(record_sha256=digest, files=[{"name": f.name, "sha256": f.sha256} for f in files])


def _recall(move: Move[OutputRequest]) -> None:
    reason = move.body.reason if isinstance(move.body, RecallBody) else ""
    if not reason:
        raise InvalidInput("say why the release is recalled", missing_fields=["reason"])
    row = releases.release_record(move.session, move.obj)
    row.recalled_at, row.recalled_by_id, row.recall_reason = utcnow(), move.principal.user_id, reason
    move.summary.update(reason=reason, record_sha256=row.record_sha256)


def _start_checks(move: Move[OutputRequest]) -> None:
    move.obj.checks_heartbeat_at = utcnow()
    move.summary.update({"round": move.obj.round, **_details(move).summary})


def _finish_checks(move: Move[OutputRequest]) -> None:
    move.obj.hold_reason = ""
    move.summary.update(_details(move).summary)


def _block(move: Move[OutputRequest]) -> None:
    details = _details(move)
    if details.hold_reason is not None:
        move.obj.hold_reason = details.hold_reason[:2000]
    move.obj.decided_at = utcnow()
    move.summary.update(details.summary)


WITHDRAWABLE = frozenset({R.draft, R.submitted, R.checking, R.in_review, R.returned})

OUTPUT_LIFECYCLE: Lifecycle[OutputRequest] = declare(
    Lifecycle(
        name="request",
        object_type="output_request",
        states=OutputRequestStatus,
        transitions=(
            Transition(
                "submit",
                source=frozenset({R.draft, R.returned}),
                target=R.submitted,
                audit="output_request.submit",
                summary="Submit the request for automated checks and review (the requester)",
                scope=Scope.create_outputs,
                check=_may_submit,
                ready=_complete,
                apply=_submit,
                effects=(_run_checks,),
                parties=REQUESTER_PARTIES,
            ),
            Transition(
                "withdraw",
                source=WITHDRAWABLE,
                target=R.withdrawn,
                audit="output_request.withdraw",
                summary="Withdraw the request before it is approved (the requester)",
                scope=Scope.create_outputs,
                check=_is_requester,
                apply=_decided,
                parties=REQUESTER_PARTIES,
                body=TransitionBody,
            ),
            Transition(
                "release",
                # in_review is listed so the button can say how far the review has come (see _approved)
                source=frozenset({R.approved, R.in_review}),
                target=R.released,
                audit="output_request.release",
                summary="Release an approved request (an independent output checker): hashes re-verified, "
                "record written",
                scope=Scope.release_outputs,
                check=_independent_checker,
                ready=_approved,
                apply=_release,
                parties=CHECKER_PARTIES,
                route=False,  # its own route: a file that changed blocks the request, and that must commit
            ),
            Transition(
                "recall",
                source=frozenset({R.released}),
                target=R.recalled,
                audit="output_request.recall",
                summary="Recall a release (an independent output checker), with the reason",
                scope=Scope.release_outputs,
                check=_independent_checker,
                apply=_recall,
                parties=CHECKER_PARTIES,
                body=RecallBody,
                body_required=True,
            ),
            Transition(
                "start_checks",
                source=frozenset({R.submitted}),
                target=R.checking,
                audit="output_request.start_checks",
                summary="The check job starts on a submitted request",
                apply=_start_checks,
                public=False,
            ),
            Transition(
                "finish_checks",
                source=frozenset({R.checking}),
                target=R.in_review,
                audit="output_request.finish_checks",
                summary="Every automated check has a result: the request waits for its reviewers",
                apply=_finish_checks,
                public=False,
            ),
            Transition(
                "block",
                source=frozenset({R.checking, R.in_review, R.approved}),
                target=R.blocked,
                audit="output_request.block",
                summary="Malware found, or a file no longer matches its hash: nothing can leave",
                apply=_block,
                public=False,
            ),
            Transition(
                "approve",
                source=frozenset({R.in_review}),
                target=R.approved,
                audit="output_request.approve",
                summary="Every file is approved by the reviewers the tier needs",
                apply=_decided,
                public=False,
            ),
            Transition(
                "return",
                source=frozenset({R.in_review}),
                target=R.returned,
                audit="output_request.return",
                summary="Every file is decided and some need changes: back to the researcher",
                apply=_decided,
                public=False,
            ),
            Transition(
                "reject",
                source=frozenset({R.in_review}),
                target=R.rejected,
                audit="output_request.reject",
                summary="Every file is rejected by its reviewers",
                apply=_decided,
                public=False,
            ),
        ),
    )
)


# --- files under review ---------------------------------------------------------------------------


def request_of(file: OutputFile) -> OutputRequest:
    """The file's request, from the session's identity map (loaded with the file by every caller)."""
    session = object_session(file)
    assert session is not None, "a file under review is always loaded in a session"
    request = session.get(OutputRequest, file.request_id)
    assert request is not None  # a foreign key
    return request


def file_review_state(file: OutputFile) -> str:
    if file.removed_at is not None:
        return F.removed
    return FILE_REVIEW_STATE[R(request_of(file).status)]


def _may_vote(move: Move[OutputFile]) -> Refusal | None:
    request = request_of(move.obj)
    refusal = checker_refusal(move.session, move.principal, request, _project(move.session, request))
    if refusal is not None:
        return refusal
    if reviews.has_voted(move.session, move.obj, request, move.principal.user_id):
        return conflict("you have already voted on this file in this review round; votes cannot be changed")
    return None


def _vote(move: Move[OutputFile]) -> None:
    body = move.body if isinstance(move.body, ReviewCreate) else None
    move.summary.update(
        reviews.record_vote(move.session, move.principal, request_of(move.obj), move.obj, move.action, body)
    )


def _decide(move: Move[OutputFile]) -> None:
    """After a vote: once every file has an outcome the request moves (a system move, no person named)."""
    request = request_of(move.obj)
    decided = reviews.decision(move.session, request)
    if decided is not None:
        action, summary = decided
        perform(move.session, SYSTEM, OUTPUT_LIFECYCLE, request, action, Details(summary), system=True)


def _vote_transition(vote: Vote, summary: str) -> Transition[OutputFile]:
    return Transition(
        vote.value,
        source=frozenset({F.in_review}),
        target=F.in_review,  # a vote changes no state of its own: the outcome derives from the votes
        audit="output_review.vote",
        summary=summary,
        scope=Scope.review_outputs,
        check=_may_vote,
        apply=_vote,
        effects=(_decide,),
        parties=CHECKER_PARTIES,
        body=ReviewCreate,
        body_required=True,
        route=False,  # POST …/files/{file_id}/reviews with the vote in the body
    )


def _may_remove_file(move: Move[OutputFile]) -> Refusal | None:
    request = request_of(move.obj)
    refusal = requester_refusal(move.principal, request, "edit")
    if refusal is not None:
        return refusal
    return author_refusal(move.session, move.principal, _project(move.session, request), "edit")


def _remove_file(move: Move[OutputFile]) -> None:
    """The row stays for the audit trail; its blob is deleted after commit (see the DELETE route)."""
    move.obj.removed_at = utcnow()
    move.summary.update(request_id=str(move.obj.request_id), name=move.obj.name, sha256=move.obj.sha256)


FILE_REVIEW_LIFECYCLE: Lifecycle[OutputFile] = declare(
    Lifecycle(
        name="file",
        object_type="output_file",
        states=FileReviewState,
        state_of=file_review_state,
        set_state=None,
        project_of=lambda file: request_of(file).project_id,
        transitions=(
            _vote_transition(Vote.approve, "Approve a file for release (an independent output checker)"),
            _vote_transition(
                Vote.request_changes, "Ask for changes to a file, saying what (an independent output checker)"
            ),
            _vote_transition(Vote.reject, "Reject a file, saying why (an independent output checker)"),
            Transition(
                "remove",
                source=frozenset({FileReviewState.not_submitted}),
                target=FileReviewState.removed,
                audit="output_file.remove",
                summary="Take a file out of a draft or returned request (the requester)",
                scope=Scope.create_outputs,
                check=_may_remove_file,
                apply=_remove_file,
                parties=("anyone but the requester",),
                route=False,  # DELETE /output-requests/{id}/files/{file_id}
            ),
        ),
    )
)
