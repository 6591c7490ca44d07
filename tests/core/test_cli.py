from __future__ import annotations

from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from governance.cli import main
from governance.models import ApiToken, RoleBinding, User


def test_token_create_prints_the_token_last_and_stores_only_its_hash(db_url: str, client: TestClient) -> None:
    result = CliRunner().invoke(
        main,
        ["token", "create", "--username", "alice", "--expires-in", "2h", "--scopes", "read:me,read:projects"],
    )
    assert result.exit_code == 0, result.output
    token = result.stdout.strip().splitlines()[-1]
    assert token.startswith("fsg_")
    r = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200 and r.json()["scopes"] == ["read:me", "read:projects"]
    r = client.get("/api/v1/datasets", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code in (403, 404)
    from governance.core.db import new_session

    with new_session() as s:
        stored = s.scalars(select(ApiToken.token_hash)).all()
    assert token not in stored and all(len(h) == 64 for h in stored)
    token_id = result.stderr.split()[1]
    revoke = CliRunner().invoke(main, ["token", "revoke", token_id])
    assert revoke.exit_code == 0, revoke.output
    r = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401 and "revoked" in r.json()["detail"]


def test_token_create_rejects_bad_input(db_url: str) -> None:
    runner = CliRunner()
    assert "no user" in runner.invoke(main, ["token", "create", "--username", "nobody"]).output
    bad = runner.invoke(main, ["token", "create", "--username", "alice", "--expires-in", "forever"])
    assert bad.exit_code != 0 and "30m, 8h or 90d" in bad.output
    bad = runner.invoke(main, ["token", "create", "--username", "alice", "--scopes", "fly:planes"])
    assert bad.exit_code != 0 and "unknown scopes: fly:planes" in bad.output


def test_demo_seed_is_idempotent_and_grant_role_audits(db_url: str, session: Session) -> None:
    runner = CliRunner()
    users = session.scalar(select(func.count()).select_from(User))
    assert "already present" in runner.invoke(main, ["demo", "seed"]).output
    assert session.scalar(select(func.count()).select_from(User)) == users
    result = runner.invoke(main, ["admin", "grant-role", "--username", "carol", "--role", "output_checker"])
    assert result.exit_code == 0 and "granted" in result.output
    again = runner.invoke(main, ["admin", "grant-role", "--username", "carol", "--role", "output_checker"])
    assert "already has" in again.output
    bad = runner.invoke(main, ["admin", "grant-role", "--username", "carol", "--role", "king"])
    assert bad.exit_code != 0 and "unknown role" in bad.output
    carol = session.scalar(select(User).where(User.username == "carol"))
    assert carol is not None
    roles = set(session.scalars(select(RoleBinding.role).where(RoleBinding.user_id == carol.id)))
    assert roles == {"researcher", "output_checker"}


def test_db_current_says_at_head(db_url: str) -> None:
    result = CliRunner().invoke(main, ["db", "current"])
    assert result.exit_code == 0 and "(at head)" in result.output


def test_help_texts_describe_commands() -> None:
    result = CliRunner().invoke(main, ["--help"])
    for command in ("serve", "db", "demo", "token", "admin"):
        assert command in result.output
