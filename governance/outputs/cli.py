"""`governance outputs …`: operator commands for the output workflow."""

from __future__ import annotations

import click
from sqlalchemy import select

from governance.audit.record import record


@click.group()
def outputs() -> None:
    """Safe Outputs: output requests, their checks and the encrypted file store."""


@outputs.command("retry-held")
def retry_held_command() -> None:
    """Re-run the checks of held or stalled requests now (what the worker's beat does periodically)."""
    from governance.outputs.tasks import retry_held
    from governance.tasks import register

    register()
    click.echo(f"queued {retry_held()} request(s) for checking")


@outputs.command("rewrap-keys")
def rewrap_keys() -> None:
    """Re-wrap every file's data key under the current key-encryption key (after adding a new KEK to
    GOVERNANCE_KEK_KEYS and making it current); file contents are not re-encrypted."""
    from governance.core.db import transaction
    from governance.models.outputs import OutputFile
    from governance.outputs.runtime import output_store

    store = output_store()
    current = store.keyring.current
    changed = 0
    with transaction() as session:
        rows = session.scalars(select(OutputFile).where(OutputFile.kek_version != current)).all()
        for row in rows:
            row.wrapped_key = store.rewrap(row.wrapped_key, row.kek_version, current)
            row.kek_version = current
            changed += 1
        record(
            session,
            None,
            "output_store.rewrap",
            "system",
            None,
            summary={"files": changed, "kek": current},
            source="cli",
        )
    click.echo(f"re-wrapped {changed} data key(s) under key-encryption key {current!r}")
