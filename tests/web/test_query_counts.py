"""The pages' SQL is a fixed number of statements whatever the number of rows (no N+1): My tasks and the
project queue for a steward with 3 and with 30 submitted applications (some with an approval, some the
steward is a member of) must issue the same number of statements. In-process (TestClient), counting every
statement the engine sends, with the session cookie a dev sign-in sets."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, select

from governance.app import create_app
from governance.auth.principal import AuthStrength
from governance.config import get_settings
from governance.core.db import get_engine, transaction
from governance.identity.web_sessions import start_session
from governance.models.identity import User
from governance.models.projects import Membership, Project, ProjectApproval, ProjectEditor

PAGES = ("/", "/queues/projects", "/me")


@pytest.fixture
def web(db_url: str) -> Iterator[TestClient]:
    with TestClient(create_app(), raise_server_exceptions=False) as c:
        yield c


def _sign_in(client: TestClient, username: str) -> None:
    with transaction() as s:
        user = s.scalar(select(User).where(User.username == username))
        assert user is not None
        issued = start_session(s, user, via="dev", strength=AuthStrength())
    client.cookies.set(get_settings().session_cookie_name, issued.cookie_value)


def _add_applications(start: int, count: int) -> None:
    """Submitted tier-2 applications by bob; every third has sam's approval, every fifth alice as a
    member, every seventh sam as an editor (involved), so each branch of the checks is exercised."""
    with transaction() as s:
        people = dict(s.execute(select(User.username, User.id)).tuples().all())
        for i in range(start, start + count):
            p = Project(
                id=uuid.uuid4(),
                slug=f"load-{i}",
                title=f"Load application {i}",
                lay_summary="s",
                purpose="p",
                public_benefit="b",
                lead_id=people["bob"],
                created_by_id=people["bob"],
                tier=2,
                ends_on=date.today() + timedelta(days=365),
                status="submitted" if i % 2 else "in_review",
                review_round=1,
                approvals_required=2,
            )
            s.add(p)
            s.flush()
            if i % 3 == 0:
                s.add(
                    ProjectApproval(
                        id=uuid.uuid4(), project_id=p.id, steward_id=people["sam"], review_round=1
                    )
                )
            if i % 5 == 0:
                s.add(
                    Membership(id=uuid.uuid4(), project_id=p.id, user_id=people["alice"], status="approved")
                )
            if i % 7 == 0:
                s.add(ProjectEditor(project_id=p.id, user_id=people["sam"]))
            s.add(Membership(id=uuid.uuid4(), project_id=p.id, user_id=people["carol"], status="invited",
                             requested_by_id=people["bob"]))  # fmt: skip


def _count(client: TestClient, path: str) -> int:
    statements: list[str] = []

    def listener(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    engine = get_engine()
    event.listen(engine, "before_cursor_execute", listener)
    try:
        response = client.get(path)
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    assert response.status_code == 200, response.text[:500]
    return len(statements)


@pytest.mark.parametrize("username", ["sam", "carol"])
def test_pages_issue_a_fixed_number_of_statements(web: TestClient, username: str) -> None:
    _sign_in(web, username)
    pages = PAGES if username == "sam" else ("/", "/me")
    _add_applications(0, 3)
    few = {path: _count(web, path) for path in pages}
    _add_applications(3, 27)
    many = {path: _count(web, path) for path in pages}
    assert many == few, f"statements grew with the rows: {few} -> {many}"
    if username == "sam":
        assert "Load application 29" in web.get("/queues/projects").text
    else:
        assert web.get("/me").text.count("Accept the invitation") == 30
