from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from governance.outputs.risk_profile import RiskProfileError, RiskProfiles, load_risk_profiles

from .conftest import PROFILES_FILE


def test_shipped_profile_follows_acro_defaults(profiles: RiskProfiles) -> None:
    profile = profiles.for_tier(1)
    assert profiles.version == "2026.1"
    assert profile.version == "2026.1"
    assert (profile.safe_threshold, profile.safe_dof_threshold) == (10, 10)
    assert (profile.safe_nk_n, profile.safe_nk_k, profile.safe_pratio_p) == (2, 0.9, 0.1)
    assert profile.zeros_are_disclosive is True
    assert profile.rounding.base == 5
    assert profile.archives_allowed is False
    assert profile.allowed_file_types == {
        "csv",
        "tsv",
        "xlsx",
        "parquet",
        "json",
        "txt",
        "markdown",
        "png",
        "jpeg",
        "pdf",
    }


def test_tier_overrides_cascade_upwards(profiles: RiskProfiles) -> None:
    assert [profiles.for_tier(t).rounding.require_rounding for t in range(5)] == [
        False,
        False,
        True,
        True,
        True,
    ]
    assert [profiles.for_tier(t).reviewers_required for t in range(5)] == [1, 1, 2, 2, 2]
    # tier 3 tightens the size limits; tier 2 keeps the defaults
    assert profiles.for_tier(2).max_rows == 100_000
    assert profiles.for_tier(3).max_rows == 5_000
    assert profiles.for_tier(4).max_rows == 5_000
    # nested tables merge key by key: overriding require_rounding keeps the base
    assert profiles.for_tier(2).rounding.base == 5


def test_profiles_are_frozen_and_carry_their_tier(profiles: RiskProfiles) -> None:
    profile = profiles.for_tier(2)
    assert profile.tier == 2
    with pytest.raises(ValidationError):
        profile.safe_threshold = 3  # type: ignore[misc]
    assert profile.thresholds()["require_rounding"] is True
    assert profile.thresholds()["profile_version"] == "2026.1"


def test_for_tier_rejects_nonsense(profiles: RiskProfiles) -> None:
    for bad in (-1, 10, True):
        with pytest.raises(ValueError, match="tier must be"):
            profiles.for_tier(bad)


def _variant(tmp_path: Path, old: str, new: str) -> Path:
    text = PROFILES_FILE.read_text()
    assert old in text
    path = tmp_path / "profiles.toml"
    path.write_text(text.replace(old, new, 1))
    return path


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("safe_threshold = 10", 'safe_threshold = "ten"', "safe_threshold"),
        ("safe_nk_k = 0.9", "safe_nk_k = 1.5", "safe_nk_k"),
        ('"pdf"]', '"pdf", "exe"]', "allowed_file_types"),
        (
            "[tiers.2.rounding]\nrequire_rounding = true",
            "[tiers.2.rounding]\nrequire_rouding = true",
            "tiers.2",
        ),
        ("max_depth = 2", "max_depth = -1", "archive.max_depth"),
        ('version = "2026.1"', 'version = ""', "version"),
        ("[tiers.3]", "[tiers.high]", "tiers.high"),
        ("reviewers_required = 1\n", "", "reviewers_required"),
    ],
)
def test_bad_file_names_the_key(tmp_path: Path, old: str, new: str, expected: str) -> None:
    with pytest.raises(RiskProfileError) as caught:
        load_risk_profiles(_variant(tmp_path, old, new))
    assert expected in str(caught.value)
    assert "profiles.toml" in str(caught.value)


def test_unknown_key_in_a_tier_is_reported_with_the_tier(tmp_path: Path) -> None:
    path = _variant(tmp_path, "[tiers.3]\n", "[tiers.3]\nsafe_treshold = 20\n")
    with pytest.raises(RiskProfileError, match=r"safe_treshold.*tiers\.3.*not a known setting"):
        load_risk_profiles(path)


def test_missing_and_broken_files(tmp_path: Path) -> None:
    with pytest.raises(RiskProfileError, match="not found"):
        load_risk_profiles(tmp_path / "absent.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("version = \n")
    with pytest.raises(RiskProfileError, match="not valid TOML"):
        load_risk_profiles(broken)
