"""Catalogue rules: unique slugs, custodians that exist, audited changes, retirement stops access."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from governance.audit.record import record
from governance.auth.principal import Principal
from governance.core.errors import DuplicateError, InvalidInput
from governance.core.transitions import perform
from governance.datasets.lifecycle import DATASET_LIFECYCLE
from governance.datasets.repository import find_dataset
from governance.datasets.schemas import DatasetCreate, DatasetUpdate
from governance.datasets.states import DATASET_ACTION_FOR_STATUS, DatasetStatus
from governance.enforcement.triggers import access_changed
from governance.identity.users_service import user_named
from governance.models.datasets import Dataset


def create_dataset(session: Session, principal: Principal, body: DatasetCreate) -> Dataset:
    if find_dataset(session, body.slug) is not None:
        raise DuplicateError(f"a dataset with the slug {body.slug!r} already exists")
    custodian_id = user_named(session, body.custodian).id if body.custodian else None
    dataset = Dataset(
        id=uuid.uuid4(),
        status=DatasetStatus.active,
        custodian_id=custodian_id,
        **body.model_dump(exclude={"custodian"}),
    )
    session.add(dataset)
    session.flush()
    record(
        session,
        principal,
        "dataset.create",
        "dataset",
        dataset.id,
        summary={"slug": dataset.slug, "tier": dataset.tier, "custodian": body.custodian},
    )
    return dataset


def update_dataset(session: Session, principal: Principal, dataset: Dataset, body: DatasetUpdate) -> Dataset:
    changes: dict[str, Any] = body.model_dump(exclude_unset=True)
    if not changes:
        raise InvalidInput("nothing to change: send at least one field")
    nulls = sorted(k for k, v in changes.items() if v is None and k != "custodian")
    if nulls:
        raise InvalidInput(f"these fields cannot be empty: {', '.join(nulls)}")
    status = changes.pop("status", None)
    if status is not None:
        # The declared move (retire or reactivate): checked, audited and its effects run, or a 409 naming
        # the moves open to the caller. First, so a refused move leaves the rest of the PATCH undone too.
        perform(session, principal, DATASET_LIFECYCLE, dataset, DATASET_ACTION_FOR_STATUS[status])
        if not changes:
            return dataset
    if "custodian" in changes:
        username = changes.pop("custodian")
        changes["custodian_id"] = user_named(session, username).id if username else None
    # A running server may no longer match the data after these (lowering the tier takes nothing away).
    narrowed = (
        changes.get("tier", dataset.tier) > dataset.tier
        or changes.get("storage_uri", dataset.storage_uri) != dataset.storage_uri
    )
    before = {key: getattr(dataset, key) for key in changes}
    for key, value in changes.items():
        setattr(dataset, key, value)
    session.flush()
    record(
        session,
        principal,
        "dataset.update",
        "dataset",
        dataset.id,
        summary={"before": before, "after": changes},
    )
    if narrowed and status != DatasetStatus.retired:  # retiring re-checks already
        access_changed(session, "dataset.update", dataset_id=dataset.id)
    return dataset
