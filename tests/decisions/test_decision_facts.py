"""The pure helpers behind the engine: candidate selection, addresses, reason wording."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from governance.decisions.engine import render_reason
from governance.decisions.situation import (
    AccreditationFact,
    AgreementFact,
    AuthContext,
    UserFact,
    mfa_present,
    parse_client_ip,
    parse_networks,
    select_accreditation,
    select_agreement,
)

NOW = datetime(2025, 6, 1, 12, tzinfo=UTC)
DAY = timedelta(days=1)


def _acc(
    start: int, end: int | None, verified: bool = True, kind: str = "safe-researcher"
) -> AccreditationFact:
    return AccreditationFact(kind, NOW + start * DAY, None if end is None else NOW + end * DAY, verified)


def _user(*accreditations: AccreditationFact, agreements: tuple[AgreementFact, ...] = ()) -> UserFact:
    return UserFact("u", "alice", "active", accreditations, agreements)


def test_a_valid_accreditation_with_the_latest_expiry_is_chosen() -> None:
    best = _acc(-10, None)
    user = _user(_acc(-10, 5), best, _acc(-10, 50), _acc(-100, -1))
    assert select_accreditation(user, "safe-researcher", NOW) is best


@pytest.mark.parametrize(
    ("candidates", "expected_index"),
    [
        ([_acc(-100, -1), _acc(-5, 30, verified=False)], 1),  # unverified but current beats expired
        ([_acc(-100, -1), _acc(5, 30)], 1),  # starts soon beats expired
        ([_acc(10, 30), _acc(5, 30)], 1),  # the sooner start
        ([_acc(-100, -10), _acc(-100, -1)], 1),  # the most recently expired
        ([_acc(-100, -1, verified=False), _acc(-100, -2)], 1),  # verified-expired beats unverified-expired
    ],
)
def test_the_closest_to_valid_is_chosen_when_none_is_valid(
    candidates: list[AccreditationFact], expected_index: int
) -> None:
    assert select_accreditation(_user(*candidates), "safe-researcher", NOW) is candidates[expected_index]


def test_accreditations_of_other_kinds_are_ignored() -> None:
    assert select_accreditation(_user(_acc(-1, 10, kind="other")), "safe-researcher", NOW) is None


def test_agreement_selection() -> None:
    old = AgreementFact("1", NOW - 400 * DAY, NOW - 30 * DAY)
    current = AgreementFact("2", NOW - 30 * DAY, None)
    future = AgreementFact("3", NOW + 3 * DAY, None)
    assert select_agreement(_user(agreements=(old, current, future)), NOW) is current
    assert select_agreement(_user(agreements=(old, future)), NOW) is future
    assert select_agreement(_user(agreements=(old,)), NOW) is old
    assert select_agreement(_user(), NOW) is None


@pytest.mark.parametrize(
    ("auth", "present"),
    [
        (AuthContext(), False),
        (AuthContext(mfa=True), True),
        (AuthContext(amr=("pwd", "totp")), True),
        (AuthContext(amr=("pwd",)), False),
        (AuthContext(acr="2"), True),
        (AuthContext(acr="1"), False),
    ],
)
def test_mfa_present_mirrors_the_policy(auth: AuthContext, present: bool) -> None:
    assert mfa_present(auth) is present


def test_client_ip_parsing() -> None:
    assert str(parse_client_ip("::ffff:192.0.2.1")) == "192.0.2.1"
    assert str(parse_client_ip("2001:DB8::1")) == "2001:db8::1"
    assert parse_client_ip("192.0.2.0/24") is None
    assert parse_client_ip("host.example") is None


def test_unreadable_networks_are_dropped() -> None:
    assert [str(n) for n in parse_networks(("10.1.2.3/8", "bad", " fd00::/8 "))] == ["10.0.0.0/8", "fd00::/8"]


def test_reason_placeholders() -> None:
    assert (
        render_reason("{dataset} for {project}; {missing}", {"dataset": "d", "project": "p"})
        == "d for p; (unknown)"
    )
