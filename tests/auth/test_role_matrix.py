"""Who may call what: every operation of the OpenAPI document, for every role.

The table is the documented contract. The test fails when an operation has no entry (or an entry names an
operation that no longer exists), when a role outside an entry gets past the scope check, or when a role in
it is refused by the scope check. Object-level rules (visibility, separation of duties) are tested per module.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.app import create_app
from governance.config import Settings
from governance.models import AccessRequest, Accreditation, Agreement, Grant, Membership, User
from tests.conftest import TokenFor

PUBLIC = "public"
ROLE_USERS = {
    "admin": "admin",
    "data_steward": "sam",
    "output_checker": "olivia",
    "auditor": "aud",
    "researcher": "alice",
    "hub": "jupyterhub",
}

MATRIX: dict[str, Any] = {
    "GET /healthz": PUBLIC,
    "GET /readyz": PUBLIC,
    "GET /metrics": PUBLIC,
    "GET /api/v1/me": {"admin", "auditor", "data_steward", "output_checker", "researcher"},
    "GET /api/v1/tokens": {"admin", "auditor", "data_steward", "output_checker", "researcher"},
    "POST /api/v1/tokens": {"admin", "auditor", "data_steward", "output_checker", "researcher"},
    "DELETE /api/v1/tokens/{token_id}": {"admin", "auditor", "data_steward", "output_checker", "researcher"},
    "POST /api/v1/dev/login": PUBLIC,
    "POST /api/v1/launch-decisions": {"hub"},
    "POST /api/v1/launch-decisions/simulate": {"admin", "data_steward"},
    "GET /api/v1/launch-decisions": {"admin", "auditor", "data_steward"},
    "GET /api/v1/launch-decisions/{decision_id}": {"admin", "auditor", "data_steward"},
    "GET /api/v1/hub/launch-options": {"hub"},
    "GET /api/v1/projects": {"admin", "auditor", "data_steward", "researcher"},
    "POST /api/v1/projects": {"admin", "researcher"},
    "GET /api/v1/projects/{project_ref}": {"admin", "auditor", "data_steward", "researcher"},
    "PATCH /api/v1/projects/{project_ref}": {"admin", "data_steward", "researcher"},
    "POST /api/v1/projects/{project_ref}/submit": {"admin", "researcher"},
    "POST /api/v1/projects/{project_ref}/approve": {"admin", "data_steward"},
    "POST /api/v1/projects/{project_ref}/return": {"admin", "data_steward"},
    "POST /api/v1/projects/{project_ref}/reject": {"admin", "data_steward"},
    "POST /api/v1/projects/{project_ref}/activate": {"admin", "data_steward"},
    "POST /api/v1/projects/{project_ref}/suspend": {"admin", "data_steward"},
    "POST /api/v1/projects/{project_ref}/close": {"admin", "data_steward"},
    "GET /api/v1/projects/{project_ref}/members": {"admin", "auditor", "data_steward", "researcher"},
    "POST /api/v1/projects/{project_ref}/members": {"admin", "researcher"},
    "PATCH /api/v1/projects/{project_ref}/members/{member_id}": {"admin", "data_steward"},
    "DELETE /api/v1/projects/{project_ref}/members/{member_id}": {"admin", "data_steward", "researcher"},
    "POST /api/v1/projects/{project_ref}/members/{member_id}/accept": {
        "admin",
        "data_steward",
        "output_checker",
        "researcher",
    },
    "POST /api/v1/projects/{project_ref}/members/{member_id}/decline": {
        "admin",
        "data_steward",
        "output_checker",
        "researcher",
    },
    "POST /api/v1/projects/{project_ref}/members/{member_id}/approve": {"admin", "data_steward"},
    "POST /api/v1/projects/{project_ref}/members/{member_id}/reject": {"admin", "data_steward"},
    "GET /api/v1/organisations": {"admin", "auditor", "data_steward"},
    "POST /api/v1/organisations": {"admin"},
    "GET /api/v1/organisations/{org_ref}": {"admin", "auditor", "data_steward"},
    "PATCH /api/v1/organisations/{org_ref}": {"admin"},
    "GET /api/v1/users": {"admin", "auditor", "data_steward", "output_checker", "researcher"},
    "POST /api/v1/users": {"admin"},
    "GET /api/v1/users/{user_ref}": {"admin", "auditor", "data_steward", "output_checker", "researcher"},
    "PATCH /api/v1/users/{user_ref}": {"admin", "data_steward", "output_checker", "researcher"},
    "GET /api/v1/users/{user_ref}/accreditations": {
        "admin",
        "auditor",
        "data_steward",
        "output_checker",
        "researcher",
    },
    "POST /api/v1/users/{user_ref}/accreditations": {"admin", "data_steward", "output_checker", "researcher"},
    "POST /api/v1/users/{user_ref}/accreditations/{accreditation_id}/verify": {"admin", "data_steward"},
    "POST /api/v1/users/{user_ref}/accreditations/{accreditation_id}/revoke": {"admin", "data_steward"},
    "GET /api/v1/users/{user_ref}/agreements": {
        "admin",
        "auditor",
        "data_steward",
        "output_checker",
        "researcher",
    },
    "POST /api/v1/users/{user_ref}/agreements": {"admin", "data_steward", "output_checker", "researcher"},
    "POST /api/v1/users/{user_ref}/agreements/{agreement_id}/revoke": {"admin", "data_steward"},
    "GET /api/v1/groups": {"admin", "auditor", "data_steward"},
    "POST /api/v1/groups": {"admin"},
    "GET /api/v1/groups/{group_ref}": {"admin", "auditor", "data_steward"},
    "PATCH /api/v1/groups/{group_ref}": {"admin"},
    "GET /api/v1/groups/{group_ref}/members": {"admin", "auditor", "data_steward"},
    "POST /api/v1/groups/{group_ref}/members": {"admin"},
    "DELETE /api/v1/groups/{group_ref}/members/{user_id}": {"admin"},
    "GET /api/v1/role-bindings": {"admin", "auditor", "data_steward"},
    "POST /api/v1/role-bindings": {"admin"},
    "GET /api/v1/role-bindings/{binding_id}": {"admin", "auditor", "data_steward"},
    "DELETE /api/v1/role-bindings/{binding_id}": {"admin"},
    "GET /api/v1/datasets": {"admin", "auditor", "data_steward", "output_checker", "researcher"},
    "POST /api/v1/datasets": {"admin", "data_steward"},
    "GET /api/v1/datasets/{dataset_ref}": {
        "admin",
        "auditor",
        "data_steward",
        "output_checker",
        "researcher",
    },
    "PATCH /api/v1/datasets/{dataset_ref}": {"admin", "data_steward"},
    "GET /api/v1/access-requests": {"admin", "auditor", "data_steward", "output_checker", "researcher"},
    "POST /api/v1/access-requests": {"admin", "researcher"},
    "GET /api/v1/access-requests/{request_id}": {
        "admin",
        "auditor",
        "data_steward",
        "output_checker",
        "researcher",
    },
    "POST /api/v1/access-requests/{request_id}/approve": {"admin", "data_steward"},
    "POST /api/v1/access-requests/{request_id}/reject": {"admin", "data_steward"},
    "GET /api/v1/grants": {"admin", "auditor", "data_steward", "output_checker", "researcher"},
    "GET /api/v1/grants/{grant_id}": {"admin", "auditor", "data_steward", "output_checker", "researcher"},
    "POST /api/v1/grants/{grant_id}/revoke": {"admin", "data_steward"},
    "GET /api/v1/environment-profiles": {
        "admin",
        "auditor",
        "data_steward",
        "hub",
        "output_checker",
        "researcher",
    },
    "POST /api/v1/environment-profiles": {"admin"},
    "GET /api/v1/environment-profiles/{profile_ref}": {
        "admin",
        "auditor",
        "data_steward",
        "hub",
        "output_checker",
        "researcher",
    },
    "PATCH /api/v1/environment-profiles/{profile_ref}": {"admin"},
    # Safe Outputs: researchers create and submit, independent output checkers review and release
    "GET /api/v1/output-requests": {"admin", "auditor", "data_steward", "output_checker", "researcher"},
    "POST /api/v1/output-requests": {"admin", "researcher"},
    "GET /api/v1/output-requests/{output_id}": {
        "admin",
        "auditor",
        "data_steward",
        "output_checker",
        "researcher",
    },
    "POST /api/v1/output-requests/{output_id}/submit": {"admin", "researcher"},
    "POST /api/v1/output-requests/{output_id}/withdraw": {"admin", "researcher"},
    "POST /api/v1/output-requests/{output_id}/files": {"admin", "researcher"},
    "POST /api/v1/output-requests/{output_id}/acro-sessions": {"admin", "researcher"},
    "PATCH /api/v1/output-requests/{output_id}/files/{file_id}": {"admin", "researcher"},
    "DELETE /api/v1/output-requests/{output_id}/files/{file_id}": {"admin", "researcher"},
    "GET /api/v1/output-requests/{output_id}/files/{file_id}/content": {
        "admin",
        "auditor",
        "data_steward",
        "output_checker",
        "researcher",
    },
    "POST /api/v1/output-requests/{output_id}/files/{file_id}/reviews": {"admin", "output_checker"},
    "POST /api/v1/output-requests/{output_id}/release": {"admin", "output_checker"},
    "POST /api/v1/output-requests/{output_id}/recall": {"admin", "output_checker"},
    "GET /api/v1/output-requests/{output_id}/release-record": {
        "admin",
        "auditor",
        "data_steward",
        "output_checker",
        "researcher",
    },
    # Audit: auditors read everything (researchers: their projects' events), verification, published keys
    "GET /api/v1/audit/events": {"admin", "auditor", "researcher"},
    "GET /api/v1/audit/events/{event_ref}": {"admin", "auditor", "researcher"},
    "GET /api/v1/audit/checkpoints": {"admin", "auditor", "researcher"},
    "GET /api/v1/audit/checkpoints/keys": PUBLIC,
    "POST /api/v1/audit/verify": {"admin", "auditor"},
    "GET /api/v1/audit/reports/dataset-access/{dataset_ref}": {"admin", "auditor"},
    "GET /api/v1/audit/reports/project-decisions/{project_ref}": {"admin", "auditor"},
    "GET /api/v1/audit/reports/releases": {"admin", "auditor"},
}


def _operations() -> set[str]:
    app = create_app(Settings(env="dev", dev_login=True, database_url="sqlite://"), check_schema=False)
    return {f"{method.upper()} {path}" for path, ops in app.openapi()["paths"].items() for method in ops}


def test_every_operation_has_an_entry_and_every_entry_an_operation() -> None:
    operations = _operations()
    assert sorted(operations - set(MATRIX)) == [], "operations without an entry in MATRIX"
    assert sorted(set(MATRIX) - operations) == [], "MATRIX entries for operations that no longer exist"


def _path_values(session: Session) -> dict[str, str]:
    def one(stmt: Any) -> str:
        value = session.scalar(stmt)
        assert value is not None
        return str(value)

    alice = session.scalar(select(User.id).where(User.username == "alice"))
    bob = session.scalar(select(User.id).where(User.username == "bob"))
    return {
        "project_ref": "diabetes-outcomes",
        "member_id": one(select(Membership.id).where(Membership.user_id == bob)),
        "org_ref": "demo-university",
        "user_ref": "alice",
        "accreditation_id": one(select(Accreditation.id).where(Accreditation.user_id == alice)),
        "agreement_id": one(select(Agreement.id).where(Agreement.user_id == alice)),
        "group_ref": "no-such-group",
        "user_id": str(uuid.uuid4()),
        "binding_id": str(uuid.uuid4()),
        "token_id": str(uuid.uuid4()),
        "decision_id": str(uuid.uuid4()),
        "dataset_ref": "hospital-episodes",
        "request_id": one(select(AccessRequest.id)),
        "grant_id": one(select(Grant.id)),
        "profile_ref": "standard",
        "output_id": str(uuid.uuid4()),
        "file_id": str(uuid.uuid4()),
        "event_ref": "1",
    }


def _scope_denied(response: Any) -> bool:
    if response.status_code != 403:
        return False
    return "required_scopes" in response.json()


@pytest.mark.parametrize("operation", sorted(MATRIX))
def test_role_matrix(operation: str, client: TestClient, token_for: TokenFor, session: Session) -> None:
    method, template = operation.split(" ", 1)
    path = template.format(**_path_values(session))
    body = {} if method in ("POST", "PATCH", "PUT") else None
    allowed = MATRIX[operation]
    if allowed == PUBLIC:
        response = client.request(method, path, json=body)
        assert response.status_code not in (401, 403, 500), response.text
        return
    anonymous = client.request(method, path, json=body)
    assert anonymous.status_code == 401, f"{operation} answered {anonymous.status_code} without a token"
    for role, username in ROLE_USERS.items():
        response = client.request(method, path, json=body, headers=token_for(username))
        assert response.status_code != 500, f"{operation} as {role}: {response.text}"
        if role in allowed:
            assert not _scope_denied(response), f"{operation} should be open to {role}: {response.text}"
        else:
            assert _scope_denied(response), f"{operation} should be closed to {role}: {response.status_code}"
