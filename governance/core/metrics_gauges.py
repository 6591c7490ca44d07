"""Gauges computed when /metrics is scraped: job queue depth and audit sealer lag."""

from __future__ import annotations

import logging

from sqlalchemy import func, select

from governance.config import get_settings
from governance.core.clock import utcnow
from governance.core.db import new_session
from governance.core.metrics import QUEUE_DEPTH, SEALER_LAG
from governance.models.audit import AuditEvent

log = logging.getLogger(__name__)


def refresh_gauges() -> None:
    try:
        with new_session() as session:
            oldest = session.scalar(
                select(func.min(AuditEvent.occurred_at)).where(AuditEvent.chain_index.is_(None))
            )
        if oldest is not None and oldest.tzinfo is None:
            from datetime import UTC

            oldest = oldest.replace(tzinfo=UTC)
        SEALER_LAG.set((utcnow() - oldest).total_seconds() if oldest else 0.0)
    except Exception:
        log.exception("could not measure the sealer lag")
    broker = get_settings().broker_url
    if broker and broker.startswith("redis"):
        try:
            import redis

            QUEUE_DEPTH.set(redis.Redis.from_url(broker, socket_timeout=1).llen("celery"))
        except Exception:
            log.warning("could not read the job queue depth")
    else:
        QUEUE_DEPTH.set(0)
