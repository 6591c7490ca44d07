"""The permissions of the outputs module, named (deny by default).

Object-level rules — who is the requester, who is independent of the project, who may read a file's
content — are in access.py and the transition table (lifecycle.py); these say who may call at all.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from governance.auth.dependencies import Authorize
from governance.auth.principal import Principal
from governance.auth.scopes import Scope

# Read requests: the readers, and the researchers (and workspaces) who create them.
OutputsRead = Annotated[Principal, Depends(Authorize(Scope.read_outputs, Scope.create_outputs, any_of=True))]
OutputsCreate = Annotated[Principal, Depends(Authorize(Scope.create_outputs))]
OutputsReview = Annotated[Principal, Depends(Authorize(Scope.review_outputs))]
OutputsRelease = Annotated[Principal, Depends(Authorize(Scope.release_outputs))]
