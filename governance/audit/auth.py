"""The permissions of the audit module, named (deny by default)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from governance.auth.dependencies import Authorize
from governance.auth.principal import Principal
from governance.auth.scopes import Scope

AuditRead = Annotated[Principal, Depends(Authorize(Scope.read_audit))]
AuditReadAll = Annotated[Principal, Depends(Authorize(Scope.read_audit, Scope.read_all))]
AuditVerify = Annotated[Principal, Depends(Authorize(Scope.verify_audit))]
