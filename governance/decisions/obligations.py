"""What the hub must apply to a server it launches: image, limits, read-only mounts, egress, expiry.

Computed from the situation alone (the verdict is not consulted): the caller asks for obligations of an
allowed launch, or of a simulated one. Only datasets the governance service knows are mounted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from governance.decisions.situation import (
    LaunchSituation,
    as_utc,
    project_is_visible,
    select_accreditation,
    select_agreement,
)

DATA_ROOT = "/data"
_UNSAFE_PATH_CHARS = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True, slots=True)
class Mount:
    dataset_slug: str
    storage_uri: str
    mount_path: str
    read_only: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset_slug": self.dataset_slug,
            "storage_uri": self.storage_uri,
            "mount_path": self.mount_path,
            "read_only": self.read_only,
        }


@dataclass(frozen=True, slots=True)
class Obligations:
    image: str
    cpu_limit: float
    memory_limit_gb: float
    gpu_limit: int
    mounts: list[Mount]
    egress: str
    environment: dict[str, str]
    expires_at: datetime
    # what set expires_at: accreditation, agreement, membership, grant:<slug>, project_end or session
    expires_because: str = "session"

    def to_dict(self) -> dict[str, Any]:
        return {
            "image": self.image,
            "cpu_limit": self.cpu_limit,
            "memory_limit_gb": self.memory_limit_gb,
            "gpu_limit": self.gpu_limit,
            "mounts": [m.to_dict() for m in self.mounts],
            "egress": self.egress,
            "environment": dict(self.environment),
            "expires_at": self.expires_at.isoformat(),
            "expires_because": self.expires_because,
        }


def mount_path(slug: str) -> str:
    """``/data/<slug>``; anything that could escape the data root is replaced."""
    safe = _UNSAFE_PATH_CHARS.sub("-", slug).strip(".-") or "dataset"
    return f"{DATA_ROOT}/{safe}"


def _limit(requested: float | None, ceiling: float) -> float:
    if requested is None or not requested > 0:  # absent, invalid or NaN: the profile's value
        return ceiling
    return min(requested, ceiling)


def _gpu_limit(requested: int | None, ceiling: int) -> int:
    return ceiling if requested is None or requested < 0 else min(requested, ceiling)


def _end_of_day(day: date) -> datetime:
    return datetime.combine(day + timedelta(days=1), time.min, tzinfo=UTC)


def compute_obligations(situation: LaunchSituation) -> Obligations:
    """Obligations for the situation's profile; raises ValueError when the profile is unknown."""
    profile = situation.profile
    if profile is None:
        raise ValueError("obligations need a known environment profile")
    now = as_utc(situation.now)
    deadlines: list[tuple[datetime, str]] = [(now + timedelta(hours=profile.max_session_hours), "session")]
    user = situation.user
    if user is not None:
        accreditation = select_accreditation(user, situation.required_accreditation_kind, now)
        if accreditation is not None and accreditation.expires_at is not None:
            deadlines.append((as_utc(accreditation.expires_at), "accreditation"))
        agreement = select_agreement(user, now)
        if agreement is not None and agreement.expires_at is not None:
            deadlines.append((as_utc(agreement.expires_at), "agreement"))
    membership = situation.membership
    if membership is not None:
        for moment in (membership.expires_at, membership.removed_at):
            if moment is not None:
                deadlines.append((as_utc(moment), "membership"))
    project = situation.project
    if project is not None and project.ends_on is not None:
        deadlines.append((_end_of_day(project.ends_on), "project_end"))

    mounts: list[Mount] = []
    seen: set[str] = set()
    visible = project_is_visible(situation)
    for key in situation.requested_datasets:
        dataset = situation.datasets.get(key)
        if dataset is None or dataset.id in seen:
            continue
        seen.add(dataset.id)
        mounts.append(Mount(dataset.slug, dataset.storage_uri, mount_path(dataset.slug)))
        grant = situation.grants.get(dataset.id) if visible else None
        if grant is not None:
            for moment in (grant.expires_at, grant.revoked_at):
                if moment is not None:
                    deadlines.append((as_utc(moment), f"grant:{dataset.slug}"))

    expires_at, because = min(deadlines, key=lambda item: item[0])
    wanted = situation.requested
    environment = {
        "GOVERNANCE_PROFILE": profile.slug,
        "GOVERNANCE_DATASETS": ",".join(m.dataset_slug for m in mounts),
        "GOVERNANCE_DATA_ROOT": DATA_ROOT,
        "GOVERNANCE_EGRESS": profile.egress,
        "GOVERNANCE_EXPIRES_AT": expires_at.isoformat(),
    }
    if project is not None:
        environment["GOVERNANCE_PROJECT"] = project.slug
        environment["GOVERNANCE_PROJECT_TIER"] = str(project.tier)
    if user is not None:
        environment["GOVERNANCE_USER"] = user.username
    return Obligations(
        image=profile.image,
        cpu_limit=_limit(wanted.cpu, profile.cpu),
        memory_limit_gb=_limit(wanted.memory_gb, profile.memory_gb),
        gpu_limit=_gpu_limit(wanted.gpu, profile.gpu),
        mounts=mounts,
        egress=profile.egress,
        environment=environment,
        expires_at=expires_at,
        expires_because=because,
    )
