"""`governance keys`: list, rotate, rewrap and retire key-encryption keys for output files at rest."""

from __future__ import annotations

import sys

import click

from governance.config import get_settings
from governance.keys.kek_file import KekConfigError


@click.group()
def keys() -> None:
    """Key-encryption keys (KEKs) that wrap the data keys of output files at rest."""


@keys.command("list")
def keys_list() -> None:
    """Every KEK version: where it comes from, whether it is current, how many files it wraps."""
    from governance.keys.rotation import list_versions

    try:
        versions = list_versions(get_settings())
    except KekConfigError as exc:
        raise click.ClickException(str(exc))
    for v in versions:
        mark = "*" if v.current else " "
        click.echo(f"{mark} {v.version:<8} {v.origin:<8} {v.files} file(s)")


def _rewrap(settings_label: str) -> None:
    from governance.keys.rotation import files_to_rewrap, rewrap_all

    settings = get_settings()
    total = files_to_rewrap(settings)
    with click.progressbar(length=max(total, 1), label=settings_label, file=sys.stderr) as bar:
        report = rewrap_all(settings, progress=bar.update)
    moved = ", ".join(f"{n} from {v}" for v, n in sorted(report.by_version.items())) or "none needed"
    click.echo(f"re-wrapped {report.rewrapped} data key(s) under version {report.to_version} ({moved})")
    for file_id, why in report.failed:
        click.echo(f"could not re-wrap output file {file_id}: {why}", err=True)
    if report.failed:
        raise SystemExit(1)


@keys.command("rotate")
@click.option("--no-rewrap", is_flag=True, help="Only add the version; re-wrap later with `keys rewrap`.")
def keys_rotate(no_rewrap: bool) -> None:
    """Add a KEK version, make it current, and re-wrap every data key under it (data is not re-encrypted)."""
    from governance.keys.rotation import add_version

    settings = get_settings()
    try:
        version = add_version(settings)
    except KekConfigError as exc:
        raise click.ClickException(str(exc))
    click.echo(f"added KEK version {version} to {settings.kek_file_path}; it wraps new files from now on")
    if not no_rewrap:
        _rewrap("re-wrapping")


@keys.command("rewrap")
def keys_rewrap() -> None:
    """Re-wrap every data key that is not under the current KEK version."""
    try:
        _rewrap("re-wrapping")
    except KekConfigError as exc:
        raise click.ClickException(str(exc))


@keys.command("retire")
@click.argument("version")
def keys_retire(version: str) -> None:
    """Remove a KEK version from the key ring (refused while current or while any file uses it)."""
    from governance.keys.rotation import retire

    try:
        origin = retire(get_settings(), version)
    except KekConfigError as exc:
        raise click.ClickException(str(exc))
    click.echo(f"retired KEK version {version}")
    if origin == "env":
        click.echo(f"also remove version {version} from GOVERNANCE_KEK_KEYS", err=True)
