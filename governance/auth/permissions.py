"""The permissions of /me and the caller's API tokens, named (deny by default)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from governance.auth.dependencies import Authorize
from governance.auth.principal import Principal
from governance.auth.scopes import Scope

# Your own profile; your own API tokens (holding manage:tokens as well, you may revoke anyone's).
MeRead = Annotated[Principal, Depends(Authorize(Scope.read_me))]
TokensOwn = Annotated[Principal, Depends(Authorize(Scope.read_me))]
