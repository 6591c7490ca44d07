"""The environment profile lifecycle (Safe Settings): one declaration per move."""

from __future__ import annotations

from governance.auth.scopes import Scope
from governance.core.schemas import TransitionBody
from governance.core.transitions import Lifecycle, Move, Transition, declare
from governance.enforcement.triggers import access_changed
from governance.environments.states import ProfileStatus
from governance.models.environments import EnvironmentProfile

S = ProfileStatus


def _profile_access_changed(move: Move[EnvironmentProfile]) -> None:
    # Any running server may use the profile (all_projects or not): re-check them all.
    access_changed(move.session, f"profile.{move.action}")


PROFILE_LIFECYCLE: Lifecycle[EnvironmentProfile] = declare(
    Lifecycle(
        name="profile",  # "you cannot retire a profile that is retired"
        object_type="environment_profile",
        states=ProfileStatus,
        transitions=(
            Transition(
                "retire",
                source=frozenset({S.active}),
                target=S.retired,
                audit="profile.retire",
                summary="Retire an environment profile: no new launches; running servers using it stop",
                scope=Scope.write_profiles,
                effects=(_profile_access_changed,),
                route=False,  # PATCH /environment-profiles/{ref} {"status": "retired"}
                body=TransitionBody,
            ),
            Transition(
                "reactivate",
                source=frozenset({S.retired}),
                target=S.active,
                audit="profile.reactivate",
                summary="Offer a retired environment profile again",
                scope=Scope.write_profiles,
                route=False,  # PATCH /environment-profiles/{ref} {"status": "active"}
                body=TransitionBody,
            ),
        ),
    )
)
