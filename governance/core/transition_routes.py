"""One route factory: ``POST …/{id}/{action}`` for every public move of a declared lifecycle."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Body, Depends
from sqlalchemy.orm import Session

from governance.auth.dependencies import Authorize, DbSession, current_principal
from governance.auth.principal import Principal
from governance.core.responses import WRITE
from governance.core.transitions import Lifecycle, Transition, perform

T = TypeVar("T")

# Every generated route: (lifecycle, transition, path template), for the table-walking test.
GENERATED_ROUTES: list[tuple[Lifecycle[Any], Transition[Any], str]] = []

Loader = Callable[..., T]  # load(session, principal, **path_params) -> the object, locked or 404
Renderer = Callable[[Session, Principal, T], Any]


def _principal_dependency(t: Transition[Any]) -> Any:
    if t.scope is None:
        return Annotated[Principal, Depends(current_principal)]
    return Annotated[Principal, Depends(Authorize(t.scope))]


def add_transition_routes(
    router: APIRouter,
    lifecycle: Lifecycle[T],
    *,
    path: str,
    params: Sequence[tuple[str, Any]],
    load: Loader[T],
    render: Renderer[T],
    response_model: Any,
    operation_prefix: str,
    responses: dict[int | str, dict[str, Any]] | None = None,
) -> None:
    """Add ``POST {path}/{action}`` for each public transition of ``lifecycle``.

    The handler loads the object through ``load`` (which applies visibility: 404 for what the caller
    may not see), performs the move and returns ``render``'s view; the request's session commits.
    """
    for t in (t for t in lifecycle.public if t.route):
        _add_route(
            router, lifecycle, t, path, params, load, render, response_model, operation_prefix, responses
        )


def _add_route(
    router: APIRouter,
    lifecycle: Lifecycle[T],
    t: Transition[T],
    path: str,
    params: Sequence[tuple[str, Any]],
    load: Loader[T],
    render: Renderer[T],
    response_model: Any,
    operation_prefix: str,
    responses: dict[int | str, dict[str, Any]] | None,
) -> None:
    names = [name for name, _ in params]

    def handler(**kwargs: Any) -> Any:
        session: Session = kwargs["session"]
        principal: Principal = kwargs["principal"]
        obj = load(session, principal, **{n: kwargs[n] for n in names})
        perform(session, principal, lifecycle, obj, t.name, kwargs.get("body"))
        return render(session, principal, obj)

    parameters = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation)
        for name, annotation in params
    ]
    parameters.append(inspect.Parameter("session", inspect.Parameter.KEYWORD_ONLY, annotation=DbSession))
    parameters.append(
        inspect.Parameter("principal", inspect.Parameter.KEYWORD_ONLY, annotation=_principal_dependency(t))
    )
    if t.body is not None:
        if t.body_required:
            parameters.append(
                inspect.Parameter(
                    "body", inspect.Parameter.KEYWORD_ONLY, annotation=Annotated[t.body, Body()]
                )
            )
        else:
            parameters.append(
                inspect.Parameter(
                    "body",
                    inspect.Parameter.KEYWORD_ONLY,
                    annotation=Annotated[t.body | None, Body()],
                    default=None,
                )
            )
    handler.__signature__ = inspect.Signature(parameters, return_annotation=response_model)  # type: ignore[attr-defined]
    handler.__name__ = f"{t.name}_{operation_prefix}"
    GENERATED_ROUTES.append((lifecycle, t, f"{router.prefix}{path}/{t.name}"))
    router.add_api_route(
        f"{path}/{t.name}",
        handler,
        methods=["POST"],
        summary=t.summary,
        response_model=response_model,
        responses=responses if responses is not None else WRITE,
    )
