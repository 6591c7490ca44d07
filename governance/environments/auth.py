"""The permissions of the environments module, named (deny by default)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from governance.auth.dependencies import Authorize
from governance.auth.principal import Principal
from governance.auth.scopes import Scope

ProfilesRead = Annotated[Principal, Depends(Authorize(Scope.read_profiles))]
ProfilesWrite = Annotated[Principal, Depends(Authorize(Scope.write_profiles))]
