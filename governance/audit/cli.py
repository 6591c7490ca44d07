"""`governance audit`: seal, verify (the database or an export), export, keygen."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from governance.audit.verify import VerifyReport
from governance.config import get_settings


@click.group()
def audit() -> None:
    """The tamper-evident audit log."""


@audit.command("seal")
def audit_seal() -> None:
    """Chain every committed event now and sign a checkpoint when one is due (one pass)."""
    from governance.audit.sealing import seal_pending

    report = seal_pending(max_seconds=3600)
    if report.busy and not report.sealed:
        click.echo("another sealer is running; nothing done")
        return
    click.echo(
        f"sealed {report.sealed} events, wrote {report.checkpoints} checkpoints; "
        f"the chain head is {report.head}"
    )


@audit.command("keygen")
def audit_keygen() -> None:
    """Print a new Ed25519 signing key for GOVERNANCE_AUDIT_SIGNING_KEY (its public key goes to stderr)."""
    from governance.audit.checkpoints import generate_private_key_text, load_private_key, publish_public_key

    text = generate_private_key_text()
    published = publish_public_key(load_private_key(text).public_key())
    click.echo(f"key id {published['key_id']}, public key {published['public_key']}", err=True)
    click.echo(text)


def _print_report(report: VerifyReport, extra: dict[str, object], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps({**report.to_json(), **extra}, indent=2))
    elif report.ok:
        span = f"events up to {report.last_index}" if report.last_index is not None else "no events"
        click.echo(
            f"OK: {report.checked} events verified ({span}); last signed checkpoint "
            f"{report.last_checkpoint_verified}; head {report.head_hash}"
        )
    else:
        where = f" at {report.first_bad_index}" if report.first_bad_index is not None else ""
        click.echo(f"FAILED{where}: {report.problem}")
        click.echo(f"({report.checked} events verified before that)")
    if not as_json:
        for warning in report.warnings:
            click.echo(f"warning: {warning}")


@audit.command("verify")
@click.option("--from", "start", type=int, default=1, show_default=True, help="First event (chain index).")
@click.option("--to", "end", type=int, default=None, help="Last event (default: the chain head).")
@click.option(
    "--file",
    "export_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Verify an export file instead of the database (needs nothing but the file and the public key).",
)
@click.option(
    "--public-key",
    "public_key",
    default=None,
    help="Trusted public keys: a file or JSON as published at /api/v1/audit/checkpoints/keys, or a PEM file.",
)
@click.option("--workers", type=click.IntRange(1, 64), default=None, help="Processes for long logs.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def audit_verify(
    start: int,
    end: int | None,
    export_file: Path | None,
    public_key: str | None,
    workers: int | None,
    as_json: bool,
) -> None:
    """Verify the chain and the signed checkpoints; name the first bad event. Exit 1 when it fails."""
    from governance.audit.trusted_keys import load_trusted_keys

    trusted = None
    if public_key is not None:
        try:
            trusted = load_trusted_keys(public_key)
        except ValueError as exc:
            raise click.ClickException(f"--public-key: {exc}")
    settings = get_settings()
    processes = workers or settings.audit_verify_workers
    if export_file is not None:
        if start != 1 or end is not None:
            raise click.UsageError("--from/--to select a range of the database; export a range to verify it")
        report = _verify_file(export_file, trusted, processes)
        _print_report(report, {"file": str(export_file)}, as_json)
    else:
        report = _verify_db(start, end, trusted, processes, as_json)
    if not report.ok:
        sys.exit(1)


def _verify_file(path: Path, trusted: list[dict[str, str]] | None, workers: int) -> VerifyReport:
    from governance.audit.export_format import verify_export
    from governance.audit.parallel import verify_export_parallel

    if workers > 1 and path.stat().st_size >= 64 * 1024 * 1024:
        report = verify_export_parallel(path, trusted, workers)
        if report is not None:
            return report
    with path.open("rb", buffering=1 << 20) as fp:
        return verify_export(fp, trusted)


def _verify_db(
    start: int, end: int | None, trusted: list[dict[str, str]] | None, workers: int, as_json: bool
) -> VerifyReport:
    from governance.audit.checkpoints import parse_public_keys
    from governance.audit.db_verify import verify_database
    from governance.audit.signing import verification_keys
    from governance.core.db import new_session

    settings = get_settings()
    with new_session() as session:
        if trusted is not None:
            keys, own = parse_public_keys(trusted), None
        else:
            keys, own_id = verification_keys(session, settings)
            own = own_id
        try:
            result = verify_database(
                session,
                keys,
                start=start,
                end=end,
                own_key_id=own,
                workers=workers,
                database_url=settings.database_url,
            )
        except ValueError as exc:
            raise click.UsageError(str(exc))
    extra: dict[str, object] = {
        "verified_from": result.verified_from,
        "sealed_head": result.sealed_head,
        "unsealed": result.unsealed,
    }
    _print_report(result.report, extra, as_json)
    if not as_json and result.unsealed:
        click.echo(
            f"note: {result.unsealed} committed events are not sealed yet (run `governance audit seal`)"
        )
    return result.report


@audit.command("export")
@click.option("--from", "start", type=int, default=1, show_default=True, help="First event (chain index).")
@click.option("--to", "end", type=int, default=None, help="Last event (default: the chain head).")
@click.option(
    "--out", "out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="File to write."
)
def audit_export(start: int, end: int | None, out: Path) -> None:
    """Write sealed events and their checkpoints as JSON Lines that `audit verify --file` checks offline."""
    from governance.audit.export_db import export_database, export_range
    from governance.audit.signing import verification_keys
    from governance.core.db import new_session

    settings = get_settings()
    with new_session() as session:
        try:
            first, last = export_range(session, start, end)
        except ValueError as exc:
            raise click.UsageError(str(exc))
        keys, _ = verification_keys(session, settings)
        partial = out.with_name(f".{out.name}.{os.getpid()}.part")
        try:
            with (
                partial.open("wb", buffering=1 << 20) as fp,
                click.progressbar(length=last - first + 1, label="exporting", file=sys.stderr) as bar,
            ):
                written = export_database(session, fp, keys, first, last, progress=bar.update)
                fp.flush()
                os.fsync(fp.fileno())
            partial.replace(out)
        finally:
            partial.unlink(missing_ok=True)
    click.echo(f"wrote {written} events ({first}-{last}) to {out}")
