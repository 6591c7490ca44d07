"""The permissions of the datasets module, named (deny by default).

The moves of access requests and grants (approve, reject, revoke) carry their scope in their declaration
(lifecycle.py); the route factory builds their dependency from it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from governance.auth.dependencies import Authorize
from governance.auth.principal import Principal
from governance.auth.scopes import Scope

DatasetsRead = Annotated[Principal, Depends(Authorize(Scope.read_datasets))]
DatasetsWrite = Annotated[Principal, Depends(Authorize(Scope.write_datasets))]
AccessRequestsCreate = Annotated[Principal, Depends(Authorize(Scope.create_access_requests))]
