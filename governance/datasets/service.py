"""Catalogue rules: unique slugs, custodians that exist, audited changes, retirement stops access."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from governance.audit.record import record
from governance.auth.principal import Principal
from governance.core.errors import DuplicateError, InvalidInput
from governance.datasets.lifecycle import DATASET_ACTION_FOR_STATUS, DATASET_LIFECYCLE
from governance.datasets.repository import find_dataset
from governance.datasets.schemas import DatasetCreate, DatasetUpdate
from governance.enforcement.triggers import access_changed
from governance.identity.users_service import user_named
from governance.models.datasets import Dataset


def create_dataset(session: Session, principal: Principal, body: DatasetCreate) -> Dataset:
    if find_dataset(session, body.slug) is not None:
        raise DuplicateError(f"a dataset with the slug {body.slug!r} already exists")
    custodian_id = user_named(session, body.custodian).id if body.custodian else None
    dataset = Dataset(
        id=uuid.uuid4(), status="active", custodian_id=custodian_id, **body.model_dump(exclude={"custodian"})
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
    if "custodian" in changes:
        username = changes.pop("custodian")
        changes["custodian_id"] = user_named(session, username).id if username else None
    if "status" in changes:
        action = DATASET_ACTION_FOR_STATUS[changes["status"]]
        changes["status"] = DATASET_LIFECYCLE.next_state(dataset.status, action)
    # A running server may no longer match the data after these (lowering the tier takes nothing away).
    narrowed = (
        changes.get("status") == "retired"
        or changes.get("tier", dataset.tier) > dataset.tier
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
    if narrowed:
        access_changed(session, "dataset.update", dataset_id=dataset.id)
    return dataset
