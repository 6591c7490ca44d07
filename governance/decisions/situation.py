"""The facts a launch decision is made from: plain frozen data, filled by the database loader.

Nothing here touches the database or Cedar. ``None`` for the user, project or profile means the hub named
something the governance service does not know; the policies turn that into a denial.

Cedar has no quantifiers over sets, so "the user holds *some* valid accreditation" cannot be written as a
policy over the whole list. The selectors below pick the single best *candidate* (a valid one when any
exists, otherwise the one closest to valid, so the denial names something useful); the policies then make
the decision about that candidate. A wrong pick can only produce a denial, never an allow.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache

SAFES: tuple[str, ...] = ("people", "projects", "data", "settings")

DEFAULT_MFA_AMR: frozenset[str] = frozenset({"otp", "mfa", "hwk", "totp"})
DEFAULT_MFA_ACR: frozenset[str] = frozenset({"2", "mfa", "gold"})
UNKNOWN_TEXT = "(unknown)"


@dataclass(frozen=True, slots=True)
class AccreditationFact:
    kind: str
    awarded_at: datetime
    expires_at: datetime | None
    verified: bool


@dataclass(frozen=True, slots=True)
class AgreementFact:
    version: str
    signed_at: datetime
    expires_at: datetime | None


@dataclass(frozen=True, slots=True)
class UserFact:
    id: str
    username: str
    status: str  # "active" | "suspended" | "deactivated"
    accreditations: tuple[AccreditationFact, ...] = ()
    agreements: tuple[AgreementFact, ...] = ()


@dataclass(frozen=True, slots=True)
class ProjectFact:
    id: str
    slug: str
    status: str  # draft, submitted, in_review, approved, returned, rejected, active, suspended, closed
    tier: int
    starts_on: date | None
    ends_on: date | None


@dataclass(frozen=True, slots=True)
class MembershipFact:
    role: str  # "lead" | "researcher" | "viewer"
    status: str  # "requested" | "approved" | "rejected"
    expires_at: datetime | None
    removed_at: datetime | None


@dataclass(frozen=True, slots=True)
class DatasetFact:
    id: str
    slug: str
    tier: int
    status: str
    storage_uri: str
    title: str


@dataclass(frozen=True, slots=True)
class GrantFact:
    dataset_id: str
    expires_at: datetime | None
    revoked_at: datetime | None
    conditions: str = ""


@dataclass(frozen=True, slots=True)
class ProfileFact:
    id: str
    slug: str
    image: str
    cpu: float
    memory_gb: float
    gpu: int
    max_tier: int
    egress: str  # "none" | "proxy" | "open"
    allowed_networks: tuple[str, ...]  # CIDRs; empty = any network
    mfa_required: bool
    max_session_hours: float
    allowed_for_project: bool


@dataclass(frozen=True, slots=True)
class RequestedResources:
    cpu: float | None = None
    memory_gb: float | None = None
    gpu: int | None = None


@dataclass(frozen=True, slots=True)
class AuthContext:
    mfa: bool = False
    acr: str | None = None
    amr: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class LaunchSituation:
    now: datetime
    user: UserFact | None
    project: ProjectFact | None
    membership: MembershipFact | None
    requested_datasets: tuple[str, ...]
    datasets: dict[str, DatasetFact]  # keyed by the requested string; a missing key = unknown dataset
    grants: dict[str, GrantFact]  # keyed by dataset id
    profile: ProfileFact | None
    client_ip: str | None
    auth: AuthContext
    requested: RequestedResources
    required_accreditation_kind: str = "safe-researcher"
    mfa_tier: int = 3
    # What the hub asked for, used only to word denials about unknown things (never looked up).
    requested_user: str | None = None
    requested_project: str | None = None
    requested_profile: str | None = None


def as_utc(moment: datetime) -> datetime:
    """Timezone-aware UTC; a naive value (SQLite hands those back) is taken to be UTC already."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def accreditation_is_valid(item: AccreditationFact, kind: str, now: datetime) -> bool:
    return (
        item.kind == kind
        and item.verified
        and as_utc(item.awarded_at) <= now
        and (item.expires_at is None or now < as_utc(item.expires_at))
    )


def agreement_is_valid(item: AgreementFact, now: datetime) -> bool:
    return as_utc(item.signed_at) <= now and (item.expires_at is None or now < as_utc(item.expires_at))


def _expiry_rank(expires_at: datetime | None) -> float:
    return float("inf") if expires_at is None else as_utc(expires_at).timestamp()


def select_accreditation(user: UserFact, kind: str, now: datetime) -> AccreditationFact | None:
    """The accreditation of ``kind`` the policies should judge (see the module docstring)."""
    now = as_utc(now)
    candidates = [a for a in user.accreditations if a.kind == kind]
    if not candidates:
        return None
    valid = [a for a in candidates if accreditation_is_valid(a, kind, now)]
    if valid:
        return max(valid, key=lambda a: _expiry_rank(a.expires_at))

    def closeness(a: AccreditationFact) -> tuple[int, float]:
        started = as_utc(a.awarded_at) <= now
        if started and (a.expires_at is None or now < as_utc(a.expires_at)):  # only verification missing
            return (3, _expiry_rank(a.expires_at))
        if a.verified and not started:  # starts later: the soonest start is closest
            return (2, -as_utc(a.awarded_at).timestamp())
        if a.verified:  # expired: the latest expiry is closest
            return (1, _expiry_rank(a.expires_at))
        return (0, _expiry_rank(a.expires_at))

    return max(candidates, key=closeness)


def select_agreement(user: UserFact, now: datetime) -> AgreementFact | None:
    """The data-use agreement the policies should judge (see the module docstring)."""
    now = as_utc(now)
    if not user.agreements:
        return None
    valid = [a for a in user.agreements if agreement_is_valid(a, now)]
    if valid:
        return max(valid, key=lambda a: _expiry_rank(a.expires_at))
    future = [a for a in user.agreements if as_utc(a.signed_at) > now]
    if future:
        return min(future, key=lambda a: as_utc(a.signed_at))
    return max(user.agreements, key=lambda a: _expiry_rank(a.expires_at))


def project_is_visible(situation: LaunchSituation) -> bool:
    """A project the user has no membership record for is treated exactly like an unknown one.

    This is what keeps denials from revealing whether a project exists (or its tier, status or grants)
    to someone who is not part of it.
    """
    return situation.project is not None and situation.membership is not None


def mfa_present(
    auth: AuthContext,
    amr_values: frozenset[str] = DEFAULT_MFA_AMR,
    acr_values: frozenset[str] = DEFAULT_MFA_ACR,
) -> bool:
    """Python mirror of the policy's MFA test, for callers that want to show it (the policy decides)."""
    return (
        auth.mfa
        or bool(amr_values.intersection(auth.amr))
        or (auth.acr is not None and auth.acr in acr_values)
    )


Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_client_ip(raw: str | None) -> Address | None:
    """A single IP address, or None for anything else (ranges, zone ids, names, garbage)."""
    if raw is None:
        return None
    text = raw.strip()
    if not text or "/" in text or "%" in text:
        return None
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


@lru_cache(maxsize=512)
def parse_networks(cidrs: tuple[str, ...]) -> tuple[Network, ...]:
    """The readable networks of a profile; unreadable entries are dropped (and so can never match)."""
    networks: list[Network] = []
    for cidr in cidrs:
        try:
            networks.append(ipaddress.ip_network(cidr.strip(), strict=False))
        except ValueError:
            continue
    return tuple(networks)


# --------------------------------------------------------------------------- words for denials


def _on(moment: datetime | date | None) -> str:
    if moment is None:
        return UNKNOWN_TEXT
    if isinstance(moment, datetime):
        return as_utc(moment).date().isoformat()
    return moment.isoformat()


def _number(value: float | int | None) -> str:
    return UNKNOWN_TEXT if value is None else f"{value:g}"


def situation_facts(situation: LaunchSituation) -> dict[str, str]:
    """Values for the @reason placeholders that do not depend on a dataset.

    A project the user may not see is named only as the caller wrote it, never by its real slug.
    """
    now = as_utc(situation.now)
    facts = {"mfa_tier": str(situation.mfa_tier), "accreditation_kind": situation.required_accreditation_kind}
    user = situation.user
    facts["user"] = user.username if user is not None else (situation.requested_user or "your account")
    if user is not None:
        facts["user_status"] = user.status
        accreditation = select_accreditation(user, situation.required_accreditation_kind, now)
        if accreditation is not None:
            facts["accreditation_awarded_on"] = _on(accreditation.awarded_at)
            facts["accreditation_expires_on"] = _on(accreditation.expires_at)
        agreement = select_agreement(user, now)
        if agreement is not None:
            facts["agreement_version"] = agreement.version
            facts["agreement_signed_on"] = _on(agreement.signed_at)
            facts["agreement_expires_on"] = _on(agreement.expires_at)
    project, membership = situation.project, situation.membership
    if project_is_visible(situation) and project is not None and membership is not None:
        facts["project"] = project.slug
        facts["project_status"] = project.status
        facts["project_tier"] = str(project.tier)
        facts["project_starts_on"] = _on(project.starts_on)
        facts["project_ends_on"] = _on(project.ends_on)
        facts["membership_status"] = membership.status
        facts["membership_expires_on"] = _on(membership.expires_at)
        facts["membership_removed_on"] = _on(membership.removed_at)
    else:
        facts["project"] = situation.requested_project or "(not named)"
    profile = situation.profile
    if profile is not None:
        facts["profile"] = profile.slug
        facts["profile_max_tier"] = str(profile.max_tier)
        facts["profile_cpu"] = _number(profile.cpu)
        facts["profile_memory_gb"] = _number(profile.memory_gb)
        facts["profile_gpu"] = str(profile.gpu)
    else:
        facts["profile"] = situation.requested_profile or "(not named)"
    facts["client_ip"] = situation.client_ip if situation.client_ip else "(none)"
    facts["requested_cpu"] = _number(situation.requested.cpu)
    facts["requested_memory_gb"] = _number(situation.requested.memory_gb)
    facts["requested_gpu"] = _number(situation.requested.gpu)
    return facts


def dataset_facts(key: str, dataset: DatasetFact | None, grant: GrantFact | None) -> dict[str, str]:
    """Dataset placeholders; a dataset without a grant is named only as the caller wrote it."""
    if dataset is None or grant is None:
        return {"dataset": key}
    return {
        "dataset": dataset.slug,
        "dataset_status": dataset.status,
        "dataset_tier": str(dataset.tier),
        "grant_expires_on": _on(grant.expires_at),
        "grant_revoked_on": _on(grant.revoked_at),
    }
