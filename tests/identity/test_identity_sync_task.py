"""The sync as a Celery task (beat schedule, retries on an unreachable Keycloak) and the identity CLI."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest
from celery.signals import task_retry
from click.testing import CliRunner
from sqlalchemy import func, select

from governance.cli import main as cli_main
from governance.config import get_settings
from governance.core.db import transaction
from governance.identity.sync_errors import KeycloakUnreachable
from governance.models import AuditEvent, Group, RoleBinding, User
from governance.tasks import declared_jobs
from governance.worker import make_celery
from tests.harness.ports import free_port


def _counts() -> tuple[int, ...]:
    with transaction() as s:
        return tuple(
            int(s.scalar(select(func.count()).select_from(m)) or 0)
            for m in (User, Group, RoleBinding, AuditEvent)
        )


def test_the_sync_is_a_task_on_the_beat_schedule(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOVERNANCE_KEYCLOAK_SYNC_SECONDS", "120")
    get_settings.cache_clear()
    app = make_celery()
    assert "identity.sync" in declared_jobs()
    assert app.conf.beat_schedule["identity.sync"] == {"task": "identity.sync", "schedule": 120.0}
    task = app.tasks["identity.sync"]
    assert task.autoretry_for == (KeycloakUnreachable,) and task.max_retries == 5 and task.acks_late


def test_an_unreachable_keycloak_is_retried_then_fails_having_changed_nothing(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GOVERNANCE_KEYCLOAK_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("GOVERNANCE_KEYCLOAK_SYNC_CLIENT_SECRET", "governance-sync-secret")
    monkeypatch.setenv("GOVERNANCE_KEYCLOAK_TIMEOUT_SECONDS", "2")
    get_settings.cache_clear()
    before = _counts()
    retries: list[str] = []

    def on_retry(reason: Any = None, **_kwargs: Any) -> None:
        retries.append(str(reason))

    task_retry.connect(on_retry, weak=False)
    try:
        result = make_celery().tasks["identity.sync"].apply()  # eager: retries run at once
    finally:
        task_retry.disconnect(on_retry)
    assert result.state == "FAILURE" and isinstance(result.result, KeycloakUnreachable)
    assert "could not be reached" in str(result.result) and "nothing was changed" in str(result.result)
    assert len(retries) == 5 and all("KeycloakUnreachable" in r for r in retries)
    assert _counts() == before


def test_the_task_does_nothing_when_no_keycloak_is_configured(db_url: str) -> None:
    assert declared_jobs()["identity.sync"].body() == {"skipped": "GOVERNANCE_KEYCLOAK_URL is not set"}


def test_the_cli_sync_explains_missing_configuration(db_url: str) -> None:
    result = CliRunner().invoke(cli_main, ["identity", "sync", "--dry-run"])
    assert result.exit_code == 1 and "GOVERNANCE_KEYCLOAK_URL" in result.output


def test_the_cli_writes_a_saml_key_pair(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli_main, ["identity", "saml-keypair", "--out", str(tmp_path / "saml")])
    assert result.exit_code == 0, result.output
    key, cert = tmp_path / "saml" / "sp-key.pem", tmp_path / "saml" / "sp-cert.pem"
    assert f"GOVERNANCE_SAML_SP_KEY_FILE={key}" in result.output
    assert key.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert cert.read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
