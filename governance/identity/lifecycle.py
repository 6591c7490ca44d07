"""Safe People lifecycles: users, accreditations and signed agreements, one declaration per move."""

from __future__ import annotations

from typing import Any

from governance.auth.duties import independence
from governance.auth.scopes import Scope
from governance.core.clock import as_utc, utcnow
from governance.core.errors import InvalidInput
from governance.core.schemas import TransitionBody
from governance.core.transitions import Lifecycle, Move, Refusal, Transition, declare
from governance.enforcement.triggers import access_changed
from governance.identity.schemas import RevokeBody
from governance.identity.states import AccreditationState, AgreementState, UserStatus
from governance.models.identity import Accreditation, Agreement, User

U = UserStatus
A = AccreditationState
G = AgreementState


# --- users --------------------------------------------------------------------------------------


def _not_yourself(move: Move[User]) -> Refusal | None:
    return independence(
        move.session,
        move.principal,
        doing=f"{move.action} this account",
        parties=((move.obj.id, f"you cannot {move.action} your own account; ask another administrator"),),
    )


def _user_access_changed(move: Move[User]) -> None:
    access_changed(move.session, f"user.{move.action}", user_id=move.obj.id)


USER_LIFECYCLE: Lifecycle[User] = declare(
    Lifecycle(
        name="user",
        object_type="user",
        states=UserStatus,
        transitions=(
            Transition(
                "suspend",
                source=frozenset({U.active}),
                target=U.suspended,
                audit="user.suspend",
                summary="Suspend an account (its servers are stopped; it can be reactivated)",
                scope=Scope.write_users,
                check=_not_yourself,
                effects=(_user_access_changed,),
                parties=("the person concerned",),
                route=False,  # PATCH /users/{ref} {"status": "suspended"}
                body=TransitionBody,
            ),
            Transition(
                "reactivate",
                source=frozenset({U.suspended}),
                target=U.active,
                audit="user.reactivate",
                summary="Reactivate a suspended account",
                scope=Scope.write_users,
                check=_not_yourself,
                parties=("the person concerned",),
                route=False,  # PATCH /users/{ref} {"status": "active"}
                body=TransitionBody,
            ),
            Transition(
                "deactivate",
                source=frozenset({U.active, U.suspended}),
                target=U.deactivated,
                audit="user.deactivate",
                summary="Deactivate an account for good (its servers are stopped)",
                scope=Scope.write_users,
                check=_not_yourself,
                effects=(_user_access_changed,),
                parties=("the person concerned",),
                route=False,  # PATCH /users/{ref} {"status": "deactivated"}
                body=TransitionBody,
            ),
        ),
    )
)


# --- accreditations -----------------------------------------------------------------------------


def accreditation_state(row: Accreditation) -> str:
    if row.revoked_at is not None:
        return A.revoked
    return A.verified if row.verified_at is not None else A.unverified


def _not_your_own(move: Move[Accreditation]) -> Refusal | None:
    return independence(
        move.session,
        move.principal,
        doing="verify it",
        parties=((move.obj.user_id, "nobody may verify their own accreditation; ask another data steward"),),
    )


def _verify(move: Move[Accreditation]) -> None:
    move.obj.verified_by_id, move.obj.verified_at = move.principal.user_id, utcnow()
    move.summary.update(user_id=move.obj.user_id)


def _reason(move: Move[Any]) -> str:
    reason = str(getattr(move.body, "reason", "") or "")
    if not reason:
        raise InvalidInput(f"say why when you {move.action} it", missing_fields=["reason"])
    return reason


def _revoke_accreditation(move: Move[Accreditation]) -> None:
    reason = _reason(move)
    move.obj.revoked_at = utcnow()
    move.summary.update(user_id=move.obj.user_id, reason=reason)


def _accreditation_access_changed(move: Move[Accreditation]) -> None:
    access_changed(move.session, f"accreditation.{move.action}", user_id=move.obj.user_id)


ACCREDITATION_LIFECYCLE: Lifecycle[Accreditation] = declare(
    Lifecycle(
        name="researcher accreditation",
        object_type="accreditation",
        states=AccreditationState,
        state_of=accreditation_state,
        set_state=None,  # the moves write verified_at / revoked_at
        transitions=(
            Transition(
                "verify",
                source=frozenset({A.unverified}),
                target=A.verified,
                audit="accreditation.verify",
                summary="Verify someone else's accreditation against its evidence",
                scope=Scope.write_accreditations,
                check=_not_your_own,
                apply=_verify,
                parties=("the person accredited",),
                body=TransitionBody,
            ),
            Transition(
                "revoke",
                source=frozenset({A.unverified, A.verified}),
                target=A.revoked,
                audit="accreditation.revoke",
                summary="Revoke an accreditation, with a reason (the user's servers are re-checked)",
                scope=Scope.write_accreditations,
                apply=_revoke_accreditation,
                effects=(_accreditation_access_changed,),
                body=RevokeBody,
                body_required=True,
            ),
        ),
    )
)


# --- signed agreements --------------------------------------------------------------------------


def agreement_state(row: Agreement) -> str:
    expires = as_utc(row.expires_at)
    return G.in_force if expires is None or expires > utcnow() else G.lapsed


def _revoke_agreement(move: Move[Agreement]) -> None:
    """An agreement has no revoked flag: revoking makes it lapse now, which every reader already honours."""
    reason = _reason(move)
    row = move.obj
    previous, row.expires_at = row.expires_at, utcnow()
    move.summary.update(user_id=row.user_id, version=row.version, reason=reason, previous_expires_at=previous)


def _agreement_access_changed(move: Move[Agreement]) -> None:
    access_changed(move.session, f"agreement.{move.action}", user_id=move.obj.user_id)


AGREEMENT_LIFECYCLE: Lifecycle[Agreement] = declare(
    Lifecycle(
        name="signed agreement",
        object_type="agreement",
        states=AgreementState,
        state_of=agreement_state,
        set_state=None,  # revoking sets expires_at to now
        transitions=(
            Transition(
                "revoke",
                source=frozenset({G.in_force}),
                target=G.lapsed,
                audit="agreement.revoke",
                summary="Revoke a signed agreement (it lapses now), with a reason; servers are re-checked",
                scope=Scope.write_accreditations,
                apply=_revoke_agreement,
                effects=(_agreement_access_changed,),
                body=RevokeBody,
                body_required=True,
            ),
        ),
    )
)
