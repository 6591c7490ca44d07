"""Dataset catalogue routes (thin: parse, authorise, call the service; the request's session commits)."""

from __future__ import annotations

from fastapi import APIRouter, Query, status
from sqlalchemy.orm import Session

from governance.auth.dependencies import DbSession
from governance.auth.principal import Principal
from governance.core.pagination import Page
from governance.core.responses import COMMON, READ, WRITE
from governance.core.schemas import LIST_LIMIT
from governance.core.transitions import actions_for
from governance.datasets import repository, service
from governance.datasets.auth import DatasetsRead, DatasetsWrite
from governance.datasets.lifecycle import DATASET_LIFECYCLE
from governance.datasets.schemas import DatasetCreate, DatasetOut, DatasetUpdate
from governance.datasets.states import DatasetStatus
from governance.models.datasets import Dataset

router = APIRouter(prefix="/api/v1/datasets", tags=["datasets"])


def _out(session: Session, principal: Principal, dataset: Dataset) -> DatasetOut:
    out = DatasetOut.model_validate(dataset)
    if not repository.shows_storage(principal):
        out.storage_uri = None
    out.set_actions(actions_for(session, principal, DATASET_LIFECYCLE, dataset))
    return out


@router.get("", summary="List the dataset catalogue", response_model=Page[DatasetOut], responses=COMMON)
def list_datasets(
    session: DbSession,
    principal: DatasetsRead,
    tier: int | None = Query(None, ge=0, le=4),
    status_: DatasetStatus | None = Query(None, alias="status"),
    q: str | None = Query(None, max_length=100, description="Text in the slug, title or description"),
    limit: LIST_LIMIT = 50,
    cursor: str | None = Query(None, max_length=200),
) -> Page[DatasetOut]:
    rows, next_cursor = repository.list_datasets(
        session, tier=tier, status=status_, q=q, limit=limit, cursor=cursor
    )
    return Page(items=[_out(session, principal, d) for d in rows], next_cursor=next_cursor)


@router.post(
    "",
    summary="Add a dataset to the catalogue",
    status_code=status.HTTP_201_CREATED,
    response_model=DatasetOut,
    responses=WRITE,
)
def create_dataset(body: DatasetCreate, session: DbSession, principal: DatasetsWrite) -> DatasetOut:
    dataset = service.create_dataset(session, principal, body)
    return _out(session, principal, dataset)


@router.get(
    "/{dataset_ref}", summary="Read a dataset by id or slug", response_model=DatasetOut, responses=READ
)
def get_dataset(dataset_ref: str, session: DbSession, principal: DatasetsRead) -> DatasetOut:
    return _out(session, principal, repository.get_dataset(session, dataset_ref))


@router.patch(
    "/{dataset_ref}",
    summary="Change a dataset; status retired/active makes the move retire/reactivate (retiring, or "
    "raising its tier, re-checks running servers)",
    response_model=DatasetOut,
    responses=WRITE,
)
def update_dataset(
    dataset_ref: str, body: DatasetUpdate, session: DbSession, principal: DatasetsWrite
) -> DatasetOut:
    dataset = repository.get_dataset(session, dataset_ref, for_update=True)
    service.update_dataset(session, principal, dataset, body)
    return _out(session, principal, dataset)
