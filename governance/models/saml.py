"""Outstanding SAML AuthnRequests, kept server-side so any replica can accept the response once.

A row moves: created (request sent) → used_at (a valid response arrived at the ACS; user_id and the
authentication strength recorded) → completed_at (the browser that started the login picked the session up).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from governance.models.base import Base, CreatedMixin, IdMixin


class SamlRequest(IdMixin, CreatedMixin, Base):
    __tablename__ = "saml_requests"
    request_id: Mapped[str] = mapped_column(String(128), unique=True)
    next: Mapped[str] = mapped_column(String(2000), default="/")
    used_at: Mapped[datetime | None]
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    mfa: Mapped[bool] = mapped_column(default=False)
    acr: Mapped[str | None] = mapped_column(String(200))
    completed_at: Mapped[datetime | None]
