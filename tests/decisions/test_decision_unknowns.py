"""Unknown users, projects, profiles and datasets are denied in words that reveal nothing; IP ranges."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from governance.decisions.engine import PolicyEngine
from governance.decisions.situation import LaunchSituation

Make = Callable[..., LaunchSituation]


def test_unknown_user_is_a_people_denial(engine: PolicyEngine, make_situation: Make) -> None:
    verdict = engine.evaluate(
        make_situation({"user": None, "membership": None, "request": {"user": "mallory"}})
    )
    assert verdict.safes["people"].reasons == [
        "your account (mallory) is not registered with the governance service; "
        "ask your project lead or an administrator to add you"
    ]
    assert verdict.safes["projects"].reasons == ["project diabetes-outcomes is not available to you"]


def test_unknown_project_and_a_project_you_are_not_in_are_indistinguishable(
    engine: PolicyEngine, make_situation: Make
) -> None:
    unknown = make_situation({"project": None, "membership": None})
    # a real project with facts that would otherwise produce many specific denials
    outsider = make_situation(
        {
            "project": {"status": "suspended", "tier": 3, "starts_on": "2026-01-01"},
            "membership": None,
            "datasets": {"hospital-episodes": {"status": "withdrawn", "tier": 3}},
            "grants": {"hospital-episodes": {"revoked_at": "2025-01-01"}},
        }
    )
    first, second = engine.evaluate(unknown), engine.evaluate(outsider)
    assert first.to_dict() == second.to_dict()
    assert first.safes["projects"].reasons == ["project diabetes-outcomes is not available to you"]
    assert first.safes["people"].allowed  # not even the tier-3 MFA rule reveals the project


def test_a_project_asked_for_by_id_is_not_named_by_its_slug_to_outsiders(
    engine: PolicyEngine, make_situation: Make
) -> None:
    verdict = engine.evaluate(make_situation({"membership": None, "request": {"project": "p-diabetes"}}))
    assert verdict.safes["projects"].reasons == ["project p-diabetes is not available to you"]
    assert "diabetes-outcomes" not in str(verdict.to_dict())


def test_unknown_profile_reads_like_a_profile_not_offered(engine: PolicyEngine, make_situation: Make) -> None:
    unknown = engine.evaluate(make_situation({"profiles": {"standard": None}}))
    refused = engine.evaluate(make_situation({"profiles": {"standard": {"allowed_for_project": False}}}))
    assert (
        unknown.safes["settings"].reasons
        == refused.safes["settings"].reasons
        == ["environment profile standard is not available for project diabetes-outcomes"]
    )


def test_unknown_dataset_reads_like_an_ungranted_one(engine: PolicyEngine, make_situation: Make) -> None:
    unknown = engine.evaluate(
        make_situation({"request": {"datasets": ["gp-prescribing"]}, "datasets": {"gp-prescribing": None}})
    )
    ungranted = engine.evaluate(
        make_situation(
            {
                "request": {"datasets": ["gp-prescribing"]},
                "datasets": {"gp-prescribing": {"status": "withdrawn"}},
            }
        )
    )
    assert unknown.safes["data"].to_dict() == ungranted.safes["data"].to_dict()
    assert unknown.safes["data"].reasons == [
        "dataset gp-prescribing is not available to project diabetes-outcomes"
    ]


GPU_SECURE = {"request": {"profile": "gpu-secure"}, "auth": {"mfa": True}}


@pytest.mark.parametrize(
    ("client_ip", "policy"),
    [
        ("10.1.2.3", None),
        ("10.255.255.255", None),
        ("10.0.0.0", None),
        ("::ffff:10.9.9.9", None),
        (" 10.1.2.3 ", None),
        ("11.0.0.1", "settings-client-network-not-allowed"),
        ("9.255.255.255", "settings-client-network-not-allowed"),
        ("192.168.0.1", "settings-client-network-not-allowed"),
        ("2001:db8::1", "settings-client-network-not-allowed"),
        ("not-an-ip", "settings-client-address-unknown"),
        ("", "settings-client-address-unknown"),
        (None, "settings-client-address-unknown"),
        ("10.1.2.3/32", "settings-client-address-unknown"),
        ("fe80::1%eth0", "settings-client-address-unknown"),
        ("10.1.2.300", "settings-client-address-unknown"),
        ("010.1.2.3", "settings-client-address-unknown"),
    ],
)
def test_client_address_against_profile_networks(
    engine: PolicyEngine, make_situation: Make, client_ip: str | None, policy: str | None
) -> None:
    verdict = engine.evaluate(
        make_situation({**GPU_SECURE, "request": {"profile": "gpu-secure", "client_ip": client_ip}})
    )
    settings = verdict.safes["settings"]
    assert verdict.errors == []
    assert settings.allowed is (policy is None)
    assert settings.policies == ([] if policy is None else [policy])


@pytest.mark.parametrize(
    ("client_ip", "allowed"),
    [
        ("192.168.4.4", True),
        ("10.2.3.4", True),
        ("2001:db8:1::5", True),
        ("2001:db9::1", False),
        ("172.16.0.1", False),
    ],
)
def test_any_of_several_networks_will_do(
    engine: PolicyEngine, make_situation: Make, client_ip: str, allowed: bool
) -> None:
    networks = ["garbage", "192.168.0.0/16", "10.0.0.1/8", "2001:db8::/32"]
    situation = make_situation(
        {**GPU_SECURE, "profiles": {"gpu-secure": {"allowed_networks": networks}},
         "request": {"profile": "gpu-secure", "client_ip": client_ip}}
    )  # fmt: skip
    assert engine.evaluate(situation).safes["settings"].allowed is allowed
