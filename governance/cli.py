"""The `governance` command."""

from __future__ import annotations

import re
from datetime import timedelta

import click
from sqlalchemy import select

from governance.config import get_settings


def _duration(value: str) -> timedelta:
    match = re.fullmatch(r"(\d+)\s*([mhd])", value.strip())
    if not match:
        raise click.BadParameter("use a number and a unit, e.g. 30m, 8h or 90d")
    amount, unit = int(match.group(1)), match.group(2)
    return {"m": timedelta(minutes=amount), "h": timedelta(hours=amount), "d": timedelta(days=amount)}[unit]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Five Safes Governance: policy decisions, output checking and audit for a JupyterHub TRE.

    Settings come from GOVERNANCE_* environment variables (see README.md)."""


@main.command()
@click.option("--host", default=None, help="Interface to bind (GOVERNANCE_HOST, default 127.0.0.1).")
@click.option("--port", default=None, type=int, help="Port (GOVERNANCE_PORT, default 8000).")
@click.option("--workers", default=1, show_default=True, help="Worker processes.")
def serve(host: str | None, port: int | None, workers: int) -> None:
    """Serve the API (refuses to start when the database is not at the schema head)."""
    import uvicorn

    settings = get_settings()
    from governance.core.db import get_engine
    from governance.core.migrations import schema_problem

    problems = settings.production_problems()
    problem = schema_problem(get_engine())
    if problem:
        problems.append(problem)
    if problems:
        raise click.ClickException("refusing to start: " + "; ".join(problems))
    uvicorn.run(
        "governance.asgi:app",
        host=host or settings.host,
        port=port or settings.port,
        workers=workers,
        log_level=settings.log_level.lower(),
        access_log=False,
        ssl_certfile=settings.tls_cert_file,
        ssl_keyfile=settings.tls_key_file,
    )


@main.group()
def db() -> None:
    """Database schema migrations."""


@db.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Migrate the database to REVISION (default: head)."""
    from alembic import command

    from governance.core.migrations import alembic_config

    command.upgrade(alembic_config(get_settings().database_url), revision)
    click.echo(f"database at {revision}")


@db.command("downgrade")
@click.argument("revision")
def db_downgrade(revision: str) -> None:
    """Migrate the database down to REVISION ('base' removes everything)."""
    from alembic import command

    from governance.core.migrations import alembic_config

    command.downgrade(alembic_config(get_settings().database_url), revision)
    click.echo(f"database at {revision}")


@db.command("current")
def db_current() -> None:
    """Show the schema revision of the database and whether it is at head."""
    from governance.core.db import get_engine
    from governance.core.migrations import current_revision, head_revision

    current, head = current_revision(get_engine()), head_revision()
    state = "at head" if current == head else f"behind head {head}: run `governance db upgrade`"
    click.echo(f"{current or 'empty'} ({state})")


@main.group()
def demo() -> None:
    """Demo data."""


@demo.command("seed")
@click.option(
    "--scale",
    type=click.Choice(["demo", "large"]),
    default="demo",
    show_default=True,
    help="'large' adds 100k users, 10k projects, 50k datasets and 1M memberships + grants.",
)
def demo_seed(scale: str) -> None:
    """Seed the demo cast of DESIGN.md (once; running it again changes nothing)."""
    from governance.core.db import transaction
    from governance.demo.seed import is_seeded, seed_demo

    with transaction() as session:
        if is_seeded(session):
            click.echo("demo cast already present")
        else:
            seed_demo(session, showcase=True)  # the pages' demo states too (demo/seed.py)
            click.echo("seeded the demo cast: admin, sam, stella, olivia, oscar, aud, alice, bob, carol")
    if scale == "large":
        from governance.demo.large import seed_large

        seed_large()


@main.group()
def token() -> None:
    """API tokens."""


@token.command("create")
@click.option("--username", required=True, help="The user the token acts as.")
@click.option(
    "--scopes", default=None, help="Comma-separated scopes (default: all scopes of the user's roles)."
)
@click.option("--expires-in", default="8h", show_default=True, help="Lifetime, e.g. 30m, 8h, 90d.")
@click.option("--name", default="cli", show_default=True, help="A label to recognise the token by.")
def token_create(username: str, scopes: str | None, expires_in: str, name: str) -> None:
    """Create an API token; the token itself is the last line of output (shown once)."""
    from governance.auth.tokens import issue_token
    from governance.core.db import transaction
    from governance.core.errors import DomainError
    from governance.models.identity import User

    lifetime = _duration(expires_in)
    scope_list = [s.strip() for s in scopes.split(",") if s.strip()] if scopes else None
    try:
        with transaction() as session:
            user = session.scalar(select(User).where(User.username == username))
            if user is None:
                raise click.ClickException(f"there is no user {username!r}")
            issued = issue_token(session, user, name=name, scopes=scope_list, lifetime=lifetime, actor=None)
            token_id, expires = issued.record.id, issued.record.expires_at
    except DomainError as exc:
        raise click.ClickException(exc.detail)
    click.echo(f"token {token_id} for {username}, expires {expires.isoformat()}", err=True)
    click.echo(issued.token)


@token.command("revoke")
@click.argument("token_id")
def token_revoke(token_id: str) -> None:
    """Revoke an API token by its id."""
    import uuid

    from governance.auth.tokens import revoke_token
    from governance.core.db import transaction
    from governance.core.errors import DomainError

    try:
        with transaction() as session:
            revoke_token(session, uuid.UUID(token_id), owner_id=None, actor=None)
    except (DomainError, ValueError) as exc:
        raise click.ClickException(str(exc))
    click.echo(f"revoked {token_id}")


@main.group()
def admin() -> None:
    """Administration."""


@admin.command("grant-role")
@click.option("--username", required=True)
@click.option("--role", required=True, help="admin, data_steward, output_checker, auditor, researcher or hub")
def admin_grant_role(username: str, role: str) -> None:
    """Bind a platform role to a user (idempotent; audited with source 'cli')."""
    import uuid

    from governance.audit.record import record
    from governance.auth.scopes import ROLES
    from governance.core.db import transaction
    from governance.models.identity import RoleBinding, User

    if role not in ROLES:
        raise click.ClickException(f"unknown role {role!r}; choose one of {', '.join(sorted(ROLES))}")
    with transaction() as session:
        user = session.scalar(select(User).where(User.username == username))
        if user is None:
            raise click.ClickException(f"there is no user {username!r}")
        exists = session.scalar(
            select(RoleBinding).where(RoleBinding.user_id == user.id, RoleBinding.role == role)
        )
        if exists:
            click.echo(f"{username} already has {role}")
            return
        binding = RoleBinding(id=uuid.uuid4(), role=role, user_id=user.id, source="cli")
        session.add(binding)
        session.flush()
        record(
            session,
            None,
            "role-binding.create",
            "role_binding",
            binding.id,
            summary={"role": role, "user": username},
            source="cli",
        )
    click.echo(f"granted {role} to {username}")


from governance.cli_extra import register_extra_commands  # noqa: E402

register_extra_commands(main)
