"""The project page's member buttons work, including Remove (a DELETE in the API, a POST form here)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from governance.app import create_app
from governance.auth.principal import AuthStrength
from governance.config import get_settings
from governance.core.db import transaction
from governance.identity.web_sessions import csrf_token_for, start_session
from governance.models import AuditEvent, Membership, Project, User


@pytest.fixture
def web(db_url: str) -> Iterator[TestClient]:
    with TestClient(create_app(), raise_server_exceptions=False) as c:
        yield c


def _sign_in(client: TestClient, username: str) -> str:
    with transaction() as s:
        user = s.scalar(select(User).where(User.username == username))
        assert user is not None
        issued = start_session(s, user, via="dev", strength=AuthStrength())
        token = csrf_token_for(issued.row)
    client.cookies.set(get_settings().session_cookie_name, issued.cookie_value)
    return token


def test_the_lead_removes_a_member_from_the_project_page(web: TestClient) -> None:
    csrf = _sign_in(web, "alice")
    with transaction() as s:
        project = s.scalar(select(Project).where(Project.slug == "diabetes-outcomes"))
        bob = s.scalar(select(User).where(User.username == "bob"))
        assert project is not None and bob is not None
        member = s.scalar(
            select(Membership).where(Membership.project_id == project.id, Membership.user_id == bob.id)
        )
        assert member is not None
        member_id = member.id
    page = web.get("/projects/diabetes-outcomes")
    assert page.status_code == 200 and f"/members/{member_id}/remove" in page.text
    r = web.post(
        f"/projects/diabetes-outcomes/members/{member_id}/remove",
        data={"csrf_token": csrf, "state": "approved"},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    with transaction() as s:
        row = s.get(Membership, member_id)
        assert row is not None and row.removed_at is not None
        assert s.scalar(select(AuditEvent.id).where(AuditEvent.action == "membership.remove"))


def test_the_navigation_offers_only_pages_the_person_may_open(web: TestClient) -> None:
    _sign_in(web, "olivia")  # an output checker: no read:projects
    page = web.get("/me")
    assert page.status_code == 200
    assert 'href="/projects"' not in page.text
    assert web.get("/projects").status_code == 403
    _sign_in(web, "alice")
    assert 'href="/projects"' in web.get("/me").text
