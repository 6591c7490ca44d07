"""Response bodies for output requests, showing each caller only what they may see.

Blinding: a checker sees their own votes, and the others' on a file only once the required number of
reviewers have voted on it. Overseers (read:all) independent of the project see every vote. Nobody in
the project — the requester and the members, through any token — learns who reviewed or how anyone
voted in a round the reviewers have not decided: the files' votes, vote counts and outcomes are withheld
until the round ends in their decision (approved, returned, rejected; then released, recalled), and for
good when it ends without one (withdrawn, blocked); even then the votes carry no reviewer's name (private
comments stay private), and the project is not given the full release record's hash (it would confirm a
guess of the reviewers).
Check findings shown to anyone but the checkers and overseers carry coordinates and the rule broken,
never a value. Each resource says which moves this caller may make, and why not the others.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.auth.principal import Principal
from governance.core.transitions import actions_for
from governance.models.outputs import (
    OutputCheckResult,
    OutputFile,
    OutputRelease,
    OutputRequest,
    OutputReview,
)
from governance.models.projects import Project
from governance.outputs import repository
from governance.outputs.access import coordinates_only, independent_checker, sees_reviewers
from governance.outputs.lifecycle import FILE_REVIEW_LIFECYCLE, OUTPUT_LIFECYCLE
from governance.outputs.outcomes import file_outcome, file_status, ordered
from governance.outputs.schemas import (
    CheckOut,
    FindingOut,
    NamedRef,
    OutputFileOut,
    OutputRequestOut,
    OutputRequestSummary,
    ReleaseOut,
    ReviewOut,
)
from governance.outputs.states import DECIDED
from governance.outputs.suite import expected_checks

usernames = repository.usernames


def summaries(
    session: Session, principal: Principal, rows: Sequence[OutputRequest]
) -> list[OutputRequestSummary]:
    totals = repository.file_totals(session, [r.id for r in rows])
    names = usernames(session, {r.requester_id for r in rows})
    projects = {
        p.id: p for p in session.scalars(select(Project).where(Project.id.in_({r.project_id for r in rows})))
    }
    out = []
    for row in rows:
        summary = _summary(
            row, projects[row.project_id], names.get(row.requester_id, ""), totals.get(row.id, (0, 0))
        )
        summary.set_actions(actions_for(session, principal, OUTPUT_LIFECYCLE, row))
        out.append(summary)
    return out


def _summary(
    row: OutputRequest, project: Project, requester: str, totals: tuple[int, int]
) -> OutputRequestSummary:
    return OutputRequestSummary(
        id=row.id,
        project=NamedRef(id=project.id, name=project.slug),
        title=row.title,
        status=row.status,
        tier=row.tier,
        requester=NamedRef(id=row.requester_id, name=requester),
        round=row.round,
        reviewers_required=row.reviewers_required,
        profile_version=row.profile_version,
        hold_reason=row.hold_reason,
        file_count=totals[0],
        total_bytes=totals[1],
        submitted_at=row.submitted_at,
        decided_at=row.decided_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def check_out(result: OutputCheckResult, *, full: bool) -> CheckOut:
    findings = result.findings if full else [coordinates_only(f) for f in result.findings]
    return CheckOut(
        name=result.check_name,
        version=result.check_version,
        status=result.status,
        findings=[FindingOut.model_validate(f) for f in findings],
        counts=result.counts,
        parameters=result.parameters,
        checked_at=result.created_at,
    )


class _Viewer:
    """What this caller may see of one request's reviews and findings."""

    def __init__(
        self, session: Session, principal: Principal, request: OutputRequest, project: Project
    ) -> None:
        self.principal = principal
        self.request = request
        self.checker = independent_checker(session, principal, request, project)
        self.reviewers_visible = sees_reviewers(session, principal, request, project)  # checkers, overseers
        self.overseer = self.reviewers_visible and not self.checker
        # Only the current round's votes are shown; it is decided only by the reviewers' decision, never
        # by a withdrawal or a block (which would otherwise lift the blinding mid-review).
        self.decided = request.status in DECIDED

    @property
    def blinded(self) -> bool:
        """A project's view of a round the reviewers have not decided: no votes, counts or outcomes."""
        return not self.reviewers_visible and not self.decided

    def reviews(self, votes: list[OutputReview], names: dict[uuid.UUID, str]) -> list[ReviewOut]:
        required = self.request.reviewers_required
        unblinded = len(votes) >= required
        shown: list[ReviewOut] = []
        for vote in votes:
            own = vote.reviewer_id == self.principal.user_id
            if self.overseer or (self.checker and (own or unblinded)):
                shown.append(review_out(vote, names.get(vote.reviewer_id)))
            elif not self.blinded and not self.reviewers_visible and unblinded:
                out = review_out(vote, None)
                if vote.visibility == "private":
                    out.comment = ""
                shown.append(out)
        return shown


def review_out(vote: OutputReview, reviewer: str | None) -> ReviewOut:
    return ReviewOut(
        id=vote.id,
        file_id=vote.file_id,
        round=vote.round,
        reviewer=reviewer,
        vote=vote.vote,
        comment=vote.comment,
        visibility=vote.visibility,
        justification=vote.justification,
        created_at=vote.created_at,
    )


def file_views(
    session: Session, principal: Principal, request: OutputRequest, project: Project, files: list[OutputFile]
) -> list[OutputFileOut]:
    viewer = _Viewer(session, principal, request, project)
    results: dict[uuid.UUID, list[OutputCheckResult]] = defaultdict(list)
    for result in repository.results_of(session, [f.id for f in files]):
        results[result.file_id].append(result)
    votes: dict[uuid.UUID, list[OutputReview]] = defaultdict(list)
    all_votes = repository.reviews_of(session, request.id)
    for vote in all_votes:
        if vote.round == request.round:
            votes[vote.file_id].append(vote)
    names = usernames(session, {v.reviewer_id for v in all_votes}) if viewer.reviewers_visible else {}
    out = []
    for file in files:
        keys = set(expected_checks(file))
        current = [r for r in results[file.id] if (r.check_name, r.check_version) in keys]
        file_votes = ordered(votes[file.id])
        view = OutputFileOut(
            id=file.id,
            name=file.name,
            size=file.size,
            sha256=file.sha256,
            context=file.context,
            controls=file.controls,
            contributions_column=file.contributions_column,
            media_type=file.media_type,
            source=file.source,
            status=file_status(current, len(keys)),
            checks=[check_out(r, full=viewer.checker) for r in current],
            outcome="pending" if viewer.blinded else file_outcome(file_votes, request.reviewers_required),
            votes_cast=None if viewer.blinded else len(file_votes),
            reviews=viewer.reviews(file_votes, names),
            acro=file.acro,
            created_at=file.created_at,
        )
        view.set_actions(actions_for(session, principal, FILE_REVIEW_LIFECYCLE, file))
        out.append(view)
    return out


def request_view(session: Session, principal: Principal, request: OutputRequest) -> OutputRequestOut:
    project = repository.project_of(session, request)
    files = repository.active_files(session, request.id)
    summary = _summary(
        request,
        project,
        usernames(session, {request.requester_id}).get(request.requester_id, ""),
        (len(files), sum(f.size for f in files)),
    )
    release = session.scalar(select(OutputRelease).where(OutputRelease.request_id == request.id))
    out = OutputRequestOut(
        **summary.model_dump(exclude={"allowed_actions", "unavailable_actions"}),
        files=file_views(session, principal, request, project, files),
        release=(
            release_view(session, release, names=sees_reviewers(session, principal, request, project))
            if release
            else None
        ),
    )
    out.set_actions(actions_for(session, principal, OUTPUT_LIFECYCLE, request))
    return out


def release_view(session: Session, release: OutputRelease, *, names: bool) -> ReleaseOut:
    """The release as shown with the request; the releaser and recaller (checkers) are named, and the
    full record's SHA-256 given, only to those who may know the reviewers (the others get the redacted
    record, whose own hash is in its X-Record-SHA256 header)."""
    ids = {i for i in (release.released_by_id, release.recalled_by_id) if i}
    known = usernames(session, ids) if names else {}
    return ReleaseOut(
        released_at=release.released_at,
        released_by=known.get(release.released_by_id),
        record_sha256=release.record_sha256 if names else None,
        recalled_at=release.recalled_at,
        recalled_by=known.get(release.recalled_by_id) if release.recalled_by_id else None,
        recall_reason=release.recall_reason,
    )
