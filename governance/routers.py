"""Every domain router the application mounts, in one list."""

from __future__ import annotations

from fastapi import APIRouter

from governance.datasets.access_endpoints import access_requests_router, grants_router
from governance.datasets.endpoints import router as datasets
from governance.decisions.endpoints import router as decisions
from governance.environments.endpoints import router as environment_profiles
from governance.identity.credential_endpoints import router as credentials
from governance.identity.endpoints import organisations_router, users_router
from governance.identity.group_endpoints import groups_router, role_bindings_router
from governance.identity.saml_endpoints import router as saml_login
from governance.identity.web_login import router as web_login
from governance.outputs.file_endpoints import router as outputs
from governance.projects.endpoints import router as projects
from governance.web.pages import router as pages

ROUTERS: list[APIRouter] = [decisions, projects]
ROUTERS += [
    organisations_router,
    users_router,
    credentials,
    groups_router,
    role_bindings_router,
    datasets,
    access_requests_router,
    grants_router,
    environment_profiles,
]
ROUTERS += [web_login, saml_login, pages]  # browser login (OIDC, SAML) and the start page
ROUTERS += [outputs]

from governance.audit.endpoints import router as audit  # noqa: E402

ROUTERS += [audit]  # the audit log, its checkpoints and keys, verification and the auditor reports
