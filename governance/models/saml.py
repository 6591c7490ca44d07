"""Outstanding SAML AuthnRequests, kept server-side so any replica can accept the response once."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from governance.models.base import Base, CreatedMixin, IdMixin


class SamlRequest(IdMixin, CreatedMixin, Base):
    __tablename__ = "saml_requests"
    request_id: Mapped[str] = mapped_column(String(128), unique=True)
    next: Mapped[str] = mapped_column(String(2000), default="/")
    used_at: Mapped[datetime | None]
