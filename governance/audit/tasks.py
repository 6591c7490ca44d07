"""Audit jobs: chain committed events and sign checkpoints (every 2 s; one sealer at a time)."""

from __future__ import annotations

from typing import Any

from governance.core.jobs import job


@job("audit.seal", every=lambda _settings: 2.0)
def seal() -> dict[str, Any]:
    from governance.audit.sealing import seal_pending

    return seal_pending(max_seconds=1.5).to_json()
