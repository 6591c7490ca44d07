"""Changes that may take access away ask enforcement to re-check running servers, after commit."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from governance.core.jobs import enqueue

RECHECK_TASK = "enforcement.recheck"


def access_changed(
    session: Session,
    cause: str,
    *,
    project_id: uuid.UUID | None = None,
    user_id: uuid.UUID | None = None,
    dataset_id: uuid.UUID | None = None,
) -> None:
    enqueue(
        session,
        RECHECK_TASK,
        {
            "cause": cause,
            "project_id": str(project_id) if project_id else None,
            "user_id": str(user_id) if user_id else None,
            "dataset_id": str(dataset_id) if dataset_id else None,
        },
    )
