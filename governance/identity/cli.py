"""`governance identity …`: directory sync from Keycloak, and a SAML key pair for development."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click


@click.group()
def identity() -> None:
    """Identity providers: Keycloak directory sync, SAML."""


class _Progress:
    """A progress bar over the groups phase, shown only for large realms (>= 50 groups)."""

    def __init__(self) -> None:
        self.bar: Any = None
        self.done = 0

    def __call__(self, phase: str, done: int, total: int) -> None:
        if phase == "users":
            click.echo(f"fetched {total} users", err=True)
            return
        if total < 50:
            return
        if self.bar is None:
            self.bar = click.progressbar(length=total, label="fetching group members", file=sys.stderr)
            self.bar.__enter__()
        self.bar.update(done - self.done)
        self.done = done

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)


@identity.command("sync")
@click.option("--dry-run", is_flag=True, help="Fetch and print the changes, write nothing.")
@click.option("--limit", default=200, show_default=True, help="Print at most this many changes (0: all).")
@click.option(
    "--workers", default=4, show_default=True, help="Concurrent Keycloak requests for group members."
)
def identity_sync(dry_run: bool, limit: int, workers: int) -> None:
    """Mirror Keycloak groups, members and realm roles into groups and role bindings."""
    from governance.identity.keycloak_sync import run_sync
    from governance.identity.sync_errors import KeycloakSyncError

    progress = _Progress()
    try:
        report = run_sync(dry_run=dry_run, progress=progress, workers=workers)
    except KeycloakSyncError as exc:
        raise click.ClickException(exc.detail)
    finally:
        progress.close()
    lines = report.plan.lines()
    shown = lines if limit <= 0 else lines[:limit]
    for line in shown:
        click.echo(line)
    if len(shown) < len(lines):
        click.echo(f"… and {len(lines) - len(shown)} more (use --limit 0 to see all)")
    verb = "would make" if dry_run else "made"
    plan = report.plan
    tail = "" if dry_run else f"; {report.rechecked_users} users re-checked"
    click.echo(
        f"{verb} {plan.change_count} changes; {len(plan.ignored_groups)} groups ignored for roles; "
        f"{len(plan.conflicts)} conflicts; {plan.api_calls} Keycloak admin API calls{tail}"
    )


@identity.command("saml-keypair")
@click.option(
    "--out", "directory", type=click.Path(path_type=Path), required=True, help="Directory for the files."
)
@click.option("--name", default="governance-sp", show_default=True, help="Certificate common name.")
def identity_saml_keypair(directory: Path, name: str) -> None:
    """Write a self-signed SAML SP key and certificate (sp-key.pem, sp-cert.pem) for development."""
    from governance.identity.saml_keys import write_pair

    key, cert = write_pair(directory, name)
    click.echo(f"GOVERNANCE_SAML_SP_KEY_FILE={key}")
    click.echo(f"GOVERNANCE_SAML_SP_CERT_FILE={cert}")
