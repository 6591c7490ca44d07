"""`governance outputs …`: operator commands for the output workflow."""

from __future__ import annotations

import click


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
