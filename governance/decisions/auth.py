"""The permissions of the decisions module, named (deny by default)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from governance.auth.dependencies import Authorize
from governance.auth.principal import Principal
from governance.auth.scopes import Scope

LaunchesDecide = Annotated[Principal, Depends(Authorize(Scope.decide_launches))]
LaunchesSimulate = Annotated[Principal, Depends(Authorize(Scope.simulate_launches))]
DecisionsRead = Annotated[Principal, Depends(Authorize(Scope.read_decisions))]
