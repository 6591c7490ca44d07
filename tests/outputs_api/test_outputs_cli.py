"""`governance outputs retry-held`: what the beat does, on demand (the embedded default has no beat)."""

from __future__ import annotations

import uuid
from datetime import timedelta

from click.testing import CliRunner
from sqlalchemy import update
from sqlalchemy.orm import Session

from governance.cli import main
from governance.core.clock import utcnow
from governance.models import OutputRequest
from tests.outputs_api.support import Api


def test_retry_held_runs_the_checks_of_a_stalled_request(api: Api, session: Session) -> None:
    rid = api.new()
    api.add(rid)
    api.submit(rid)
    session.execute(
        update(OutputRequest)
        .where(OutputRequest.id == uuid.UUID(rid))
        .values(status="submitted", submitted_at=utcnow() - timedelta(hours=3), checks_heartbeat_at=None)
    )
    session.commit()
    result = CliRunner().invoke(main, ["outputs", "retry-held"])
    assert result.exit_code == 0, result.output
    assert "queued 1 request(s)" in result.output
    assert api.get(rid)["status"] == "in_review"
