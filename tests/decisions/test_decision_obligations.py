"""Obligations: limits, read-only mounts, environment, and the earliest expiry."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from governance.decisions.obligations import compute_obligations, mount_path
from governance.decisions.scenarios import merge
from governance.decisions.situation import LaunchSituation

Make = Callable[..., LaunchSituation]
# every deadline far away, so that one override at a time becomes the earliest
FAR = {
    "user": {
        "accreditations": [
            {"kind": "safe-researcher", "awarded_at": "2024-01-01", "expires_at": "2030-01-01"}
        ],
        "agreements": [{"version": "1", "signed_at": "2024-01-01", "expires_at": "2030-01-02"}],
    },
    "membership": {"expires_at": "2030-01-03", "removed_at": "2030-01-04"},
    "project": {"ends_on": "2030-01-05"},
    "grants": {"hospital-episodes": {"expires_at": "2030-01-06", "revoked_at": "2030-01-07"}},
    "profiles": {"standard": {"max_session_hours": 100000}},
}


def test_earliest_is_the_session_limit_by_default(make_situation: Make) -> None:
    obligations = compute_obligations(make_situation())
    assert obligations.expires_at == datetime(2025, 6, 1, 20, tzinfo=UTC)
    assert obligations.expires_because == "session"


@pytest.mark.parametrize(
    ("override", "expected", "because"),
    [
        ({"user": {"accreditations": [{"awarded_at": "2024-01-01", "expires_at": "2025-06-03"}]}},
         datetime(2025, 6, 3, tzinfo=UTC), "accreditation"),
        ({"user": {"agreements": [{"signed_at": "2024-01-01", "expires_at": "2025-06-04T08:00:00Z"}]}},
         datetime(2025, 6, 4, 8, tzinfo=UTC), "agreement"),
        ({"membership": {"expires_at": "2025-06-05"}}, datetime(2025, 6, 5, tzinfo=UTC), "membership"),
        ({"membership": {"removed_at": "2025-06-06"}}, datetime(2025, 6, 6, tzinfo=UTC), "membership"),
        ({"project": {"ends_on": "2025-06-07"}}, datetime(2025, 6, 8, tzinfo=UTC), "project_end"),
        ({"grants": {"hospital-episodes": {"expires_at": "2025-06-09"}}},
         datetime(2025, 6, 9, tzinfo=UTC), "grant:hospital-episodes"),
        ({"grants": {"hospital-episodes": {"revoked_at": "2025-06-10"}}},
         datetime(2025, 6, 10, tzinfo=UTC), "grant:hospital-episodes"),
        ({"profiles": {"standard": {"max_session_hours": 1.5}}},
         datetime(2025, 6, 1, 13, 30, tzinfo=UTC), "session"),
    ],
)  # fmt: skip
def test_expiry_is_the_earliest_deadline(
    make_situation: Make, override: dict[str, object], expected: datetime, because: str
) -> None:
    far = compute_obligations(make_situation(FAR))
    assert far.expires_at == datetime(2030, 1, 1, tzinfo=UTC) and far.expires_because == "accreditation"
    far_without_accreditation = merge(FAR, {"user": {"accreditations": [{"expires_at": None}]}})
    obligations = compute_obligations(make_situation(merge(far_without_accreditation, override)))
    assert obligations.expires_at == expected
    assert obligations.expires_because == because


def test_the_valid_accreditation_is_the_one_whose_expiry_counts(make_situation: Make) -> None:
    situation = make_situation(
        {"user": {"accreditations": [
            {"awarded_at": "2023-01-01", "expires_at": "2025-05-01"},
            {"awarded_at": "2025-05-01", "expires_at": "2025-06-01T14:00:00Z"},
            {"awarded_at": "2025-05-01", "expires_at": "2025-06-01T13:00:00Z", "verified": False},
        ]}}
    )  # fmt: skip
    assert compute_obligations(situation).expires_at == datetime(2025, 6, 1, 14, tzinfo=UTC)


def test_limits_take_the_smaller_of_request_and_profile(make_situation: Make) -> None:
    asked = compute_obligations(make_situation({"request": {"cpu": 1.5, "memory_gb": 32, "gpu": 0}}))
    assert (asked.cpu_limit, asked.memory_limit_gb, asked.gpu_limit) == (1.5, 16.0, 0)
    unspecified = compute_obligations(
        make_situation({"request": {"cpu": None, "memory_gb": None, "gpu": None}})
    )
    assert (unspecified.cpu_limit, unspecified.memory_limit_gb, unspecified.gpu_limit) == (4.0, 16.0, 0)
    gpu = compute_obligations(make_situation({"request": {"profile": "gpu-secure", "gpu": 0, "cpu": -3}}))
    assert (gpu.gpu_limit, gpu.cpu_limit, gpu.image) == (0, 8.0, "registry.example/tre/gpu:1")


def test_mounts_are_read_only_known_and_not_repeated(make_situation: Make) -> None:
    situation = make_situation(
        {"request": {"datasets": ["hospital-episodes", "d-he", "unknown-one", "census-extract"]}}
    )
    obligations = compute_obligations(situation)
    assert [(m.dataset_slug, m.mount_path, m.read_only) for m in obligations.mounts] == [
        ("hospital-episodes", "/data/hospital-episodes", True),
        ("census-extract", "/data/census-extract", True),
    ]
    assert obligations.mounts[0].storage_uri == "s3://tre-data/hospital-episodes"
    assert obligations.environment["GOVERNANCE_DATASETS"] == "hospital-episodes,census-extract"


@pytest.mark.parametrize(
    ("slug", "path"),
    [
        ("hospital-episodes", "/data/hospital-episodes"),
        ("../../etc", "/data/etc"),
        ("a/b c", "/data/a-b-c"),
        ("..", "/data/dataset"),
    ],
)
def test_mount_paths_cannot_escape_the_data_root(slug: str, path: str) -> None:
    assert mount_path(slug) == path


def test_environment_and_json_form(make_situation: Make) -> None:
    obligations = compute_obligations(make_situation())
    assert obligations.environment == {
        "GOVERNANCE_PROFILE": "standard",
        "GOVERNANCE_DATASETS": "hospital-episodes",
        "GOVERNANCE_DATA_ROOT": "/data",
        "GOVERNANCE_EGRESS": "none",
        "GOVERNANCE_EXPIRES_AT": "2025-06-01T20:00:00+00:00",
        "GOVERNANCE_PROJECT": "diabetes-outcomes",
        "GOVERNANCE_PROJECT_TIER": "2",
        "GOVERNANCE_USER": "alice",
    }
    as_json = json.loads(json.dumps(obligations.to_dict()))
    assert as_json["expires_at"] == "2025-06-01T20:00:00+00:00"
    assert as_json["mounts"][0] == {
        "dataset_slug": "hospital-episodes",
        "storage_uri": "s3://tre-data/hospital-episodes",
        "mount_path": "/data/hospital-episodes",
        "read_only": True,
    }
    assert datetime.fromisoformat(as_json["expires_at"]) == obligations.expires_at


def test_an_unknown_profile_has_no_obligations(make_situation: Make) -> None:
    with pytest.raises(ValueError, match="known environment profile"):
        compute_obligations(make_situation({"request": {"profile": "nope"}}))
