"""Commands contributed by the later modules (policy, worker, enforcement, audit, identity, keys)."""

from __future__ import annotations

from pathlib import Path

import click

from governance.config import get_settings
from governance.identity.cli import identity
from governance.outputs.cli import outputs


def register_extra_commands(main: click.Group) -> None:
    main.add_command(policy)
    main.add_command(worker)
    main.add_command(enforcement)
    main.add_command(identity)
    from governance.audit.cli import audit
    from governance.keys.cli import keys

    main.add_command(audit)
    main.add_command(keys)
    main.add_command(outputs)
    main.add_command(transitions)


@click.command()
def transitions() -> None:
    """Print every declared state transition (who may make it, what it refuses) as Markdown."""
    import governance.app  # noqa: F401 - importing the app declares every lifecycle
    from governance.core.transitions import table_markdown

    click.echo(table_markdown())


@click.group()
def policy() -> None:
    """Cedar policies of the Five Safes."""


@policy.command("check")
@click.option(
    "--dir",
    "directory",
    type=click.Path(path_type=Path),
    default=None,
    help="Policy directory (default GOVERNANCE_POLICY_DIR or policies/).",
)
def policy_check(directory: Path | None) -> None:
    """Parse the policies and validate them against the schema; errors name the file and line."""
    from governance.decisions.engine import PolicyLoadError, check_policies

    try:
        click.echo(check_policies(directory or get_settings().policy_dir))
    except PolicyLoadError as exc:
        raise click.ClickException(str(exc))


@policy.command("test")
@click.option(
    "--dir",
    "directory",
    type=click.Path(path_type=Path),
    default=None,
    help="Policy directory (default GOVERNANCE_POLICY_DIR or policies/).",
)
@click.option(
    "--scenarios",
    type=click.Path(path_type=Path),
    default=None,
    help="Scenario directory (default <policy dir>/tests).",
)
def policy_test(directory: Path | None, scenarios: Path | None) -> None:
    """Run the scenario files: each states a situation and the expected verdict per safe."""
    from governance.decisions.engine import PolicyEngine, PolicyLoadError
    from governance.decisions.scenarios import run_scenarios

    directory = directory or get_settings().policy_dir
    try:
        engine = PolicyEngine.from_directory(directory)
    except PolicyLoadError as exc:
        raise click.ClickException(str(exc))
    results = run_scenarios(engine, scenarios or directory / "tests")
    failed = [r for r in results if not r.passed]
    for r in results:
        click.echo(f"{'PASS' if r.passed else 'FAIL'}  {r.file}: {r.name}")
        if not r.passed:
            click.echo("      " + "; ".join(r.failures))
    click.echo(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    if failed or not results:
        raise SystemExit(1)


@click.command()
@click.option("--concurrency", default=2, show_default=True, help="Worker processes.")
@click.option("--beat/--no-beat", default=True, show_default=True, help="Also run the periodic schedule.")
def worker(concurrency: int, beat: bool) -> None:
    """Run a Celery worker (needs GOVERNANCE_BROKER_URL, e.g. redis://127.0.0.1:6379/0)."""
    if not get_settings().broker_url:
        raise click.ClickException(
            "set GOVERNANCE_BROKER_URL (e.g. redis://127.0.0.1:6379/0) to run a worker"
        )
    from governance.worker import run_worker

    run_worker(concurrency, beat)


@click.group()
def enforcement() -> None:
    """Stopping servers whose access lapsed."""


@enforcement.command("sweep")
def enforcement_sweep() -> None:
    """Re-decide every running server now and stop those no longer allowed."""
    from governance.enforcement.service import sweep

    report = sweep()
    click.echo(
        f"checked {report.checked} live servers; stopped {len(report.stopped)}; failed {len(report.failed)}"
    )
    for label in report.stopped:
        click.echo(f"stopped {label}")
    if report.failed:
        raise SystemExit(1)
