"""The one way anything writes to the audit log."""

from __future__ import annotations

import uuid
from typing import Any, Protocol

from sqlalchemy.orm import Session

from governance.core.clock import utcnow
from governance.core.context import request_id_var, source_var
from governance.models.audit import AuditEvent


class Actor(Protocol):
    @property
    def user_id(self) -> uuid.UUID | None: ...

    @property
    def username(self) -> str | None: ...


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    if isinstance(value, str | int | bool) or value is None:
        return value
    if isinstance(value, float):
        return repr(value)
    return str(value)


def record(
    session: Session,
    actor: Actor | None,
    action: str,
    object_type: str,
    object_id: uuid.UUID | str | None = None,
    *,
    project_id: uuid.UUID | str | None = None,
    summary: dict[str, Any] | None = None,
    outcome: str = "success",
    source: str | None = None,
) -> AuditEvent:
    """Add an audit event to the caller's transaction: it commits or rolls back with the change."""
    event = AuditEvent(
        id=uuid.uuid4(),
        occurred_at=utcnow(),
        actor_id=str(actor.user_id) if actor and actor.user_id else None,
        actor_username=actor.username if actor else None,
        action=action,
        object_type=object_type,
        object_id=str(object_id) if object_id is not None else None,
        project_id=str(project_id) if project_id is not None else None,
        outcome=outcome,
        summary=_jsonable(summary or {}),
        request_id=request_id_var.get(),
        source=source or source_var.get(),
    )
    session.add(event)
    return event
