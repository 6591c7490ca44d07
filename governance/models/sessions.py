"""Browser sessions of the service's pages (OIDC or SAML login): the cookie names a row here."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from governance.models.base import Base, CreatedMixin, IdMixin


class WebSession(IdMixin, CreatedMixin, Base):
    __tablename__ = "web_sessions"
    # SHA-256 of the random session secret the cookie carries; the secret itself is never stored.
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    via: Mapped[str] = mapped_column(String(16))
    mfa: Mapped[bool] = mapped_column(default=False)
    acr: Mapped[str | None] = mapped_column(String(64))
    amr: Mapped[list[str]]
    # The OIDC id_token, kept only as the id_token_hint of RP-initiated logout.
    id_token: Mapped[str | None] = mapped_column(Text)
    expires_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
