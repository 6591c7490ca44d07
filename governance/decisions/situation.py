"""The facts a launch decision is made from: plain frozen data, filled by the database loader.

Nothing here touches the database or cedarpy. ``None`` for the user, project or profile means the hub named
something the governance service does not know; the policies turn that into a denial. ``cedar_batch`` gives
a situation's Cedar form (entities and one request per safe, see ``policies/schema.cedarschema``) and
``situation_facts``/``dataset_facts`` the words that fill the policies' ``@reason`` placeholders.

Cedar has no quantifiers over sets, so "the user holds *some* valid accreditation" cannot be written as a
policy over the whole list. The selectors below pick the single best *candidate* (a valid one when any
exists, otherwise the one closest to valid, so the denial names something useful); the policies then make
the decision about that candidate. A wrong pick can only produce a denial, never an allow.
"""

from __future__ import annotations

import ipaddress
import json
import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any

SAFES: tuple[str, ...] = ("people", "projects", "data", "settings")
ACTIONS: dict[str, str] = {safe: f"launch:{safe}" for safe in SAFES}  # one Cedar action per safe

DEFAULT_MFA_AMR: frozenset[str] = frozenset({"otp", "mfa", "hwk", "totp"})
DEFAULT_MFA_ACR: frozenset[str] = frozenset({"2", "mfa", "gold"})
UNKNOWN_TEXT = "(unknown)"
_MILLI = 1000  # cpu in millicores
_MIB_PER_GB = 1024  # memory in MiB
_LONG_LIMIT = 2**63 - 1


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


# --------------------------------------------------------------------------- the situation in Cedar's terms


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _when(moment: datetime) -> int:
    """Milliseconds since the epoch (see the schema header for why times are Longs)."""
    return (as_utc(moment) - _EPOCH) // timedelta(milliseconds=1)


def _day(day: date) -> int:
    return _when(datetime(day.year, day.month, day.day, tzinfo=UTC))


def _scaled(value: float, factor: int) -> int:
    """A float amount as a whole number of smaller units; not-a-number becomes -1 (an invalid amount)."""
    if math.isnan(value):
        return -1
    if math.isinf(value):
        return _LONG_LIMIT if value > 0 else -_LONG_LIMIT
    return _long(round(value * factor))


def _long(value: int) -> int:
    return max(-_LONG_LIMIT, min(_LONG_LIMIT, int(value)))


def _ip(text: str) -> dict[str, Any]:
    return {"__extn": {"fn": "ip", "arg": text}}


_to_json = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode


def _uid(kind: str, uid: str) -> dict[str, str]:
    return {"type": kind, "id": uid}


@dataclass(slots=True)
class CedarBatch:
    """The requests of one launch (one per safe, one per requested dataset) and the entities they share.

    The entities come in two JSON documents: ``shared_entities`` (the project, profile and datasets) is the
    same text for every launch of that project with that profile and those datasets, so its parsed form
    can be reused; ``launch_entities`` (the user and the launch) is new every time.
    """

    requests: list[dict[str, Any]]
    safes: list[str]  # safe of each request
    dataset_keys: list[str | None]  # requested dataset string of each launch:data request
    shared_entities: str = "[]"
    launch_entities: str = "[]"

    @property
    def entities(self) -> str:
        """All the entities as one JSON document."""
        parts = [doc[1:-1] for doc in (self.shared_entities, self.launch_entities) if doc != "[]"]
        return "[" + ",".join(parts) + "]"


def _accreditation_record(item: AccreditationFact) -> dict[str, Any]:
    record: dict[str, Any] = {
        "kind": item.kind,
        "verified": item.verified,
        "awardedAt": _when(item.awarded_at),
    }
    if item.expires_at is not None:
        record["expiresAt"] = _when(item.expires_at)
    return record


def _agreement_record(item: AgreementFact) -> dict[str, Any]:
    record: dict[str, Any] = {"version": item.version, "signedAt": _when(item.signed_at)}
    if item.expires_at is not None:
        record["expiresAt"] = _when(item.expires_at)
    return record


def _grant_record(grant: GrantFact) -> dict[str, Any]:
    record: dict[str, Any] = {"conditions": grant.conditions}
    if grant.expires_at is not None:
        record["expiresAt"] = _when(grant.expires_at)
    if grant.revoked_at is not None:
        record["revokedAt"] = _when(grant.revoked_at)
    return record


def _user_entity(user: UserFact, kind: str, now: datetime) -> dict[str, Any]:
    attrs: dict[str, Any] = {"username": user.username, "status": user.status}
    accreditation = select_accreditation(user, kind, now)
    if accreditation is not None:
        attrs["accreditation"] = _accreditation_record(accreditation)
    agreement = select_agreement(user, now)
    if agreement is not None:
        attrs["agreement"] = _agreement_record(agreement)
    return {"uid": _uid("User", user.id), "attrs": attrs, "parents": []}


_LAUNCH_UID = {"type": "Launch", "id": "launch"}  # policies name it as the literal Launch::"launch"


def _launch_attrs(situation: LaunchSituation, now: datetime) -> dict[str, Any]:
    auth = situation.auth
    auth_record: dict[str, Any] = {"mfa": auth.mfa, "amr": list(auth.amr)}
    if auth.acr is not None:
        auth_record["acr"] = auth.acr
    wanted = situation.requested
    requested: dict[str, Any] = {}
    if wanted.cpu is not None:
        requested["cpuMillis"] = _scaled(wanted.cpu, _MILLI)
    if wanted.memory_gb is not None:
        requested["memoryMib"] = _scaled(wanted.memory_gb, _MIB_PER_GB)
    if wanted.gpu is not None:
        requested["gpu"] = _long(wanted.gpu)
    return {
        "now": _when(now),
        "today": _day(now.date()),
        "requiredAccreditationKind": situation.required_accreditation_kind,
        "mfaTier": _long(situation.mfa_tier),
        "auth": auth_record,
        "requested": requested,
    }


def _add_project(situation: LaunchSituation, launch: dict[str, Any], entities: list[dict[str, Any]]) -> Any:
    project, membership = situation.project, situation.membership
    if project is None or membership is None:  # unknown, or not visible to this user
        return _uid("Unknown", "project")
    uid = _uid("Project", project.id)
    attrs: dict[str, Any] = {"slug": project.slug, "status": project.status, "tier": _long(project.tier)}
    if project.starts_on is not None:
        attrs["startsOn"] = _day(project.starts_on)
    if project.ends_on is not None:
        attrs["endsOn"] = _day(project.ends_on)
    entities.append({"uid": uid, "attrs": attrs, "parents": []})
    launch["project"] = {"__entity": uid}
    member: dict[str, Any] = {"role": membership.role, "status": membership.status}
    if membership.expires_at is not None:
        member["expiresAt"] = _when(membership.expires_at)
    if membership.removed_at is not None:
        member["removedAt"] = _when(membership.removed_at)
    launch["membership"] = member
    return uid


def _add_profile(situation: LaunchSituation, launch: dict[str, Any], entities: list[dict[str, Any]]) -> Any:
    client_ip = parse_client_ip(situation.client_ip)
    if client_ip is not None:
        launch["clientIp"] = _ip(str(client_ip))
    profile: ProfileFact | None = situation.profile
    if profile is None:
        return _uid("Unknown", "profile")
    uid = _uid("Profile", profile.id)
    networks = parse_networks(profile.allowed_networks)
    matched = next((n for n in networks if client_ip is not None and client_ip in n), None)
    if matched is not None:
        launch["matchedNetwork"] = _ip(str(matched))
    attrs = {
        "slug": profile.slug,
        "maxTier": _long(profile.max_tier),
        "egress": profile.egress,
        "mfaRequired": profile.mfa_required,
        # a profile cannot be available for a project the user may not see
        "allowedForProject": profile.allowed_for_project and project_is_visible(situation),
        "cpuMillis": _scaled(profile.cpu, _MILLI),
        "memoryMib": _scaled(profile.memory_gb, _MIB_PER_GB),
        "gpu": _long(profile.gpu),
        "restrictsNetworks": bool(profile.allowed_networks),
        "allowedNetworks": [_ip(str(n)) for n in networks],
    }
    entities.append({"uid": uid, "attrs": attrs, "parents": []})
    launch["profile"] = {"__entity": uid}
    return uid


def _request(principal: Any, safe: str, resource: Any, context: str | None = None) -> dict[str, Any]:
    """A request; no context at all (rather than an empty one) saves Cedar a parse."""
    request = {"principal": principal, "action": _uid("Action", ACTIONS[safe]), "resource": resource}
    if context is not None:
        request["context"] = context
    return request


def cedar_batch(situation: LaunchSituation) -> CedarBatch:
    """Entities and requests for a situation, following the layout in ``policies/schema.cedarschema``."""
    now = as_utc(situation.now)
    shared: list[dict[str, Any]] = []
    per_launch: list[dict[str, Any]] = []
    user = situation.user
    principal = _uid("Unknown", "user") if user is None else _uid("User", user.id)
    if user is not None:
        per_launch.append(_user_entity(user, situation.required_accreditation_kind, now))
    launch = _launch_attrs(situation, now)
    project_uid = _add_project(situation, launch, shared)
    profile_uid = _add_profile(situation, launch, shared)
    per_launch.append({"uid": _LAUNCH_UID, "attrs": launch, "parents": []})
    prepared = CedarBatch(
        requests=[
            _request(principal, "people", project_uid),
            _request(principal, "projects", project_uid),
            _request(principal, "settings", profile_uid),
        ],
        safes=["people", "projects", "settings"],
        dataset_keys=[None, None, None],
    )
    visible = project_is_visible(situation)
    seen: set[str] = set()
    for key in dict.fromkeys(situation.requested_datasets):
        dataset = situation.datasets.get(key)
        context = None
        if dataset is None:
            resource = _uid("Unknown", f"dataset:{key}")
        else:
            resource = _uid("Dataset", dataset.id)
            if dataset.id not in seen:
                seen.add(dataset.id)
                attrs = {"slug": dataset.slug, "tier": _long(dataset.tier), "status": dataset.status}
                shared.append({"uid": resource, "attrs": attrs, "parents": []})
            grant = situation.grants.get(dataset.id) if visible else None
            if grant is not None:
                context = _to_json({"grant": _grant_record(grant)})
        prepared.requests.append(_request(principal, "data", resource, context))
        prepared.safes.append("data")
        prepared.dataset_keys.append(key)
    prepared.shared_entities = _to_json(shared)
    prepared.launch_entities = _to_json(per_launch)
    return prepared
