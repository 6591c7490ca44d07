"""Response bodies for output requests, showing each caller only what they may see.

Votes are blinded: a checker sees their own votes, and the others' on a file only once the required
number of reviewers have voted on it. The researchers see votes (without the reviewers' names and
without private comments) once the request has left review.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.auth.principal import Principal
from governance.models.identity import User
from governance.models.outputs import (
    OutputCheckResult,
    OutputFile,
    OutputRelease,
    OutputRequest,
    OutputReview,
)
from governance.models.projects import Project
from governance.outputs import repository
from governance.outputs.access import independence_problem, is_checker
from governance.outputs.lifecycle import OUTPUT_LIFECYCLE, PUBLIC_ACTIONS
from governance.outputs.outcomes import file_outcome, file_status
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
from governance.outputs.suite import expected_checks


def usernames(session: Session, ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not ids:
        return {}
    return {
        row.id: row.username
        for row in session.execute(select(User.id, User.username).where(User.id.in_(ids)))
    }


def summaries(session: Session, rows: Sequence[OutputRequest]) -> list[OutputRequestSummary]:
    totals = repository.file_totals(session, [r.id for r in rows])
    names = usernames(session, {r.requester_id for r in rows})
    projects = {
        p.id: p for p in session.scalars(select(Project).where(Project.id.in_({r.project_id for r in rows})))
    }
    return [
        _summary(row, projects[row.project_id], names.get(row.requester_id, ""), totals.get(row.id, (0, 0)))
        for row in rows
    ]


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
        allowed_actions=[a for a in OUTPUT_LIFECYCLE.allowed_actions(row.status) if a in PUBLIC_ACTIONS],
    )


def check_out(result: OutputCheckResult) -> CheckOut:
    return CheckOut(
        name=result.check_name,
        version=result.check_version,
        status=result.status,
        findings=[FindingOut.model_validate(f) for f in result.findings],
        counts=result.counts,
        parameters=result.parameters,
        checked_at=result.created_at,
    )


class _Viewer:
    def __init__(
        self, session: Session, principal: Principal, request: OutputRequest, project: Project
    ) -> None:
        self.principal = principal
        self.checker = (
            is_checker(principal) and independence_problem(session, principal, request, project) is None
        )
        self.overseer = principal.sees_all and principal.project_id is None and not self.checker
        self.request = request

    def reviews(self, votes: list[OutputReview], names: dict[uuid.UUID, str]) -> list[ReviewOut]:
        required = self.request.reviewers_required
        unblinded = len(votes) >= required
        shown: list[ReviewOut] = []
        for vote in votes:
            own = vote.reviewer_id == self.principal.user_id
            if self.overseer or own or (self.checker and unblinded):
                shown.append(review_out(vote, names.get(vote.reviewer_id)))
            elif not self.checker and self.request.status != "in_review" and unblinded:
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
    names = usernames(session, {v.reviewer_id for v in all_votes})
    out = []
    for file in files:
        keys = set(expected_checks(file))
        current = [r for r in results[file.id] if (r.check_name, r.check_version) in keys]
        file_votes = sorted(votes[file.id], key=lambda v: (v.created_at, str(v.id)))
        out.append(
            OutputFileOut(
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
                checks=[check_out(r) for r in current],
                outcome=file_outcome(file_votes, request.reviewers_required),
                votes_cast=len(file_votes),
                reviews=viewer.reviews(file_votes, names),
                acro=file.acro,
                created_at=file.created_at,
            )
        )
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
    return OutputRequestOut(
        **summary.model_dump(),
        files=file_views(session, principal, request, project, files),
        release=release_view(session, release) if release else None,
    )


def release_view(session: Session, release: OutputRelease) -> ReleaseOut:
    names = usernames(session, {i for i in (release.released_by_id, release.recalled_by_id) if i})
    return ReleaseOut(
        released_at=release.released_at,
        released_by=names.get(release.released_by_id, ""),
        record_sha256=release.record_sha256,
        recalled_at=release.recalled_at,
        recalled_by=names.get(release.recalled_by_id) if release.recalled_by_id else None,
        recall_reason=release.recall_reason,
    )
