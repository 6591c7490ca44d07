"""Audit API: read the log, its checkpoints and published keys, verify it, and the auditor reports.

Nothing here changes state: auditors read everything and change nothing.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Query

from governance.audit import reports, repository
from governance.audit.auth import AuditRead, AuditReadAll, AuditVerify
from governance.audit.chain import format_timestamp
from governance.audit.db_verify import verify_database
from governance.audit.schemas import (
    AuditEventOut,
    CheckpointOut,
    CheckpointPage,
    DatasetAccessReport,
    ProjectDecisionsReport,
    PublicKeyOut,
    PublicKeysOut,
    ReleasesReport,
    VerifyOut,
    VerifyRequest,
)
from governance.audit.signing import published_keys, verification_keys
from governance.auth.dependencies import DbSession
from governance.config import get_settings
from governance.core.errors import InvalidInput
from governance.core.pagination import Page
from governance.core.responses import COMMON, READ
from governance.core.schemas import LIST_LIMIT
from governance.core.tracing import span

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])


@router.get(
    "/events",
    summary="List audit events (auditors: all; researchers: their projects'), newest first by default",
    response_model=Page[AuditEventOut],
    responses=READ,
)
def list_events(
    session: DbSession,
    principal: AuditRead,
    actor: str | None = Query(None, max_length=64, description="Username or user id"),
    action: str | None = Query(None, max_length=64, description="Exact, or a prefix ending in '.'"),
    object_type: str | None = Query(None, max_length=32),
    object_id: str | None = Query(None, max_length=64),
    project: str | None = Query(None, max_length=64, description="Project id or slug"),
    outcome: str | None = Query(None, max_length=16, description="success, denied, failure, …"),
    source: str | None = Query(None, max_length=32, description="api, cli, keycloak-sync, …"),
    since: datetime | None = Query(None, description="Events at or after this time"),
    until: datetime | None = Query(None, description="Events before this time"),
    order: repository.Order = "desc",
    limit: LIST_LIMIT = 50,
    cursor: str | None = Query(None, max_length=200),
) -> Page[AuditEventOut]:
    for name, moment in (("since", since), ("until", until)):
        if moment is not None and moment.tzinfo is None:
            raise InvalidInput(f"{name} needs a timezone (e.g. 2026-01-31T09:00:00Z)")
    filters = repository.EventFilters(
        actor=actor,
        action=action,
        object_type=object_type,
        object_id=object_id,
        project=project,
        outcome=outcome,
        source=source,
        since=since,
        until=until,
    )
    rows, next_cursor = repository.list_events(
        session, principal, filters, order=order, limit=limit, cursor=cursor
    )
    blinding = repository.blinding_for(session, principal)
    return Page(items=[repository.event_out(r, blinding) for r in rows], next_cursor=next_cursor)


@router.get(
    "/events/{event_ref}",
    summary="Read one audit event by id or sequence number",
    response_model=AuditEventOut,
    responses=READ,
)
def get_event(event_ref: str, session: DbSession, principal: AuditRead) -> AuditEventOut:
    event = repository.get_event(session, principal, event_ref)
    return repository.event_out(event, repository.blinding_for(session, principal))


@router.get(
    "/checkpoints",
    summary="List the signed checkpoints in chain order",
    response_model=CheckpointPage,
    responses=COMMON,
)
def list_checkpoints(
    session: DbSession,
    _principal: AuditRead,
    limit: int = Query(200, ge=1, le=1000),
    cursor: str | None = Query(None, max_length=200),
) -> CheckpointPage:
    after = repository.decode_seq_cursor(cursor, "asc") if cursor else None
    items, next_cursor = repository.list_checkpoints(session, after=after, limit=limit)
    return CheckpointPage(
        items=[CheckpointOut(**{**c.to_json(), "created_at": format_timestamp(c.created_at)}) for c in items],
        next_cursor=next_cursor,
    )


@router.get(
    "/checkpoints/keys",
    summary="The public keys that sign checkpoints (published: no authentication)",
    response_model=PublicKeysOut,
    openapi_extra={"security": []},
)
def checkpoint_keys(session: DbSession) -> PublicKeysOut:
    entries = published_keys(session, get_settings())
    return PublicKeysOut(keys=[PublicKeyOut(**entry, current=current) for entry, current in entries])


@router.post(
    "/verify",
    summary="Verify the log (or a range) against the hash chain and the signed checkpoints",
    response_model=VerifyOut,
    responses=COMMON,
)
def verify(body: VerifyRequest, session: DbSession, _principal: AuditVerify) -> VerifyOut:
    if body.to is not None and body.to < body.from_:
        raise InvalidInput(f"invalid range {body.from_}-{body.to}: it ends before it starts")
    settings = get_settings()
    keys, own_key_id = verification_keys(session, settings)
    with span("audit.verify", **{"audit.from": body.from_, "audit.to": body.to}) as current:
        result = verify_database(
            session,
            keys,
            start=body.from_,
            end=body.to,
            own_key_id=own_key_id,
            workers=settings.audit_verify_workers,
            database_url=settings.database_url,
        )
        current.set_attribute("audit.ok", result.report.ok)
    return VerifyOut.model_validate(result.to_json())


@router.get(
    "/reports/dataset-access/{dataset_ref}",
    summary="Who can open a dataset right now, and the chain that lets them",
    response_model=DatasetAccessReport,
    responses=READ,
)
def dataset_access(dataset_ref: str, session: DbSession, _principal: AuditReadAll) -> DatasetAccessReport:
    return reports.dataset_access(session, dataset_ref)


@router.get(
    "/reports/project-decisions/{project_ref}",
    summary="Every launch decision made for a project, oldest first",
    response_model=ProjectDecisionsReport,
    responses=READ,
)
def project_decisions(
    project_ref: str,
    session: DbSession,
    _principal: AuditReadAll,
    limit: LIST_LIMIT = 100,
    cursor: str | None = Query(None, max_length=200),
) -> ProjectDecisionsReport:
    return reports.project_decisions(session, project_ref, limit=limit, cursor=cursor)


@router.get(
    "/reports/releases",
    summary="Every release of outputs with its release record, oldest first (redacted for projects the "
    "caller is involved in)",
    response_model=ReleasesReport,
    responses=READ,
)
def releases(
    session: DbSession,
    principal: AuditReadAll,
    project: str | None = Query(None, max_length=64, description="Project id or slug"),
    limit: LIST_LIMIT = 50,
    cursor: str | None = Query(None, max_length=200),
) -> ReleasesReport:
    return reports.releases(session, principal, project_ref=project, limit=limit, cursor=cursor)
