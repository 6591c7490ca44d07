"""The permissions of the identity module, named (deny by default).

The moves of accreditations and agreements (verify, revoke) carry their scope in their declaration
(lifecycle.py); the route factory builds their dependency from it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from governance.auth.dependencies import Authorize
from governance.auth.principal import Principal
from governance.auth.scopes import Scope

OrganisationsRead = Annotated[Principal, Depends(Authorize(Scope.read_organisations))]
OrganisationsWrite = Annotated[Principal, Depends(Authorize(Scope.write_organisations))]
# Everyone signed in sees themselves; read:users widens what the repository shows.
UsersRead = Annotated[Principal, Depends(Authorize(Scope.read_me))]
UsersCreate = Annotated[Principal, Depends(Authorize(Scope.write_users))]
UsersEdit = Annotated[Principal, Depends(Authorize(Scope.write_me, Scope.write_users, any_of=True))]
# Your own credentials with read:me; anyone's with read:accreditations (the repository decides).
CredentialsRead = Annotated[Principal, Depends(Authorize(Scope.read_me))]
AccreditationsRecord = Annotated[
    Principal, Depends(Authorize(Scope.write_me, Scope.write_accreditations, any_of=True))
]
AgreementsSign = Annotated[Principal, Depends(Authorize(Scope.write_me))]
GroupsRead = Annotated[Principal, Depends(Authorize(Scope.read_groups))]
GroupsWrite = Annotated[Principal, Depends(Authorize(Scope.write_groups))]
RoleBindingsRead = Annotated[Principal, Depends(Authorize(Scope.read_role_bindings))]
RoleBindingsWrite = Annotated[Principal, Depends(Authorize(Scope.write_role_bindings))]
