"""Identity jobs: directory sync from Keycloak (retried with backoff while Keycloak is unreachable)."""

from __future__ import annotations

from typing import Any

from governance.core.jobs import job
from governance.identity.sync_errors import KeycloakUnreachable


@job(
    "identity.sync",
    every=lambda settings: settings.keycloak_sync_seconds,
    autoretry_for=(KeycloakUnreachable,),
    retry_backoff=30,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=5,
)
def identity_sync(dry_run: bool = False) -> dict[str, Any]:
    from governance.config import get_settings
    from governance.identity.keycloak_sync import run_sync

    if not get_settings().keycloak_url:
        return {"skipped": "GOVERNANCE_KEYCLOAK_URL is not set"}
    report = run_sync(dry_run=dry_run)
    return {"applied": report.applied, **report.plan.summary()}
