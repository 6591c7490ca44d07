"""The permissions of the projects module, named (deny by default)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from governance.auth.dependencies import Authorize
from governance.auth.principal import Principal
from governance.auth.scopes import Scope

ProjectsRead = Annotated[Principal, Depends(Authorize(Scope.read_projects))]
ProjectsCreate = Annotated[Principal, Depends(Authorize(Scope.create_projects))]
ProjectsEdit = Annotated[
    Principal, Depends(Authorize(Scope.create_projects, Scope.manage_projects, any_of=True))
]
MembershipsWrite = Annotated[Principal, Depends(Authorize(Scope.write_memberships))]
MembershipsApprove = Annotated[Principal, Depends(Authorize(Scope.approve_memberships))]
MembershipsRemove = Annotated[
    Principal,
    Depends(
        Authorize(Scope.write_memberships, Scope.approve_memberships, Scope.manage_projects, any_of=True)
    ),
]
