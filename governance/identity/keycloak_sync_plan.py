"""The directory sync's plan: what differs between a Keycloak snapshot and what earlier syncs wrote here.

Pure reading: computing a plan changes nothing (`governance identity sync --dry-run` prints it). The rules
are described in keycloak_sync.py, which applies plans.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.auth.scopes import ROLES
from governance.identity.keycloak_directory import DirectorySnapshot, KeycloakUser
from governance.identity.provisioning import _clean_username, invited_to_link
from governance.identity.schemas import strip_unsafe_chars
from governance.identity.sync_errors import KeycloakSyncError
from governance.models.identity import Group, GroupMember, RoleBinding, User

GROUP_SOURCE = "keycloak"
BINDING_SOURCE = "keycloak-sync"
NOT_SYNCABLE_ROLES = {"hub"}


@dataclass(frozen=True)
class BindingKey:
    role: str
    group_external_id: str | None = None
    user_subject: str | None = None


@dataclass
class SyncPlan:
    issuer: str
    create_users: list[KeycloakUser] = field(default_factory=list)
    link_users: list[tuple[uuid.UUID, KeycloakUser]] = field(default_factory=list)
    update_users: list[tuple[uuid.UUID, str, dict[str, str]]] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    create_groups: list[tuple[str, str]] = field(default_factory=list)  # (external id, path)
    rename_groups: list[tuple[uuid.UUID, str, str]] = field(default_factory=list)
    remove_groups: list[tuple[uuid.UUID, str]] = field(default_factory=list)
    add_members: list[tuple[str, str]] = field(default_factory=list)  # (group external id, user subject)
    remove_members: list[tuple[uuid.UUID, uuid.UUID, str, str]] = field(default_factory=list)
    add_bindings: list[BindingKey] = field(default_factory=list)
    remove_bindings: list[tuple[uuid.UUID, str, str]] = field(default_factory=list)  # (id, role, subject)
    ignored_groups: list[str] = field(default_factory=list)
    missing_roles: list[str] = field(default_factory=list)
    api_calls: int = 0
    usernames: dict[str, str] = field(default_factory=dict)  # Keycloak user id -> username, for messages
    group_paths: dict[str, str] = field(default_factory=dict)  # Keycloak group id -> path, for messages

    @property
    def change_count(self) -> int:
        return sum(
            len(x)
            for x in (
                self.create_users,
                self.link_users,
                self.update_users,
                self.create_groups,
                self.rename_groups,
                self.remove_groups,
                self.add_members,
                self.remove_members,
                self.add_bindings,
                self.remove_bindings,
            )
        )

    def lines(self) -> list[str]:
        """The plan in words, one change per line (what --dry-run prints)."""
        name = self.usernames.get
        out: list[str] = []
        out += [f"+ user {u.username} (Keycloak id {u.id})" for u in self.create_users]
        out += [f"~ link user {u.username} to Keycloak id {u.id}" for _, u in self.link_users]
        out += [
            f"~ user {n}: {', '.join(f'{k}={v!r}' for k, v in c.items())}" for _, n, c in self.update_users
        ]
        out += [f"+ group {path}" for _, path in self.create_groups]
        out += [f"~ group {old} renamed {new}" for _, old, new in self.rename_groups]
        out += [f"- group {path} (gone from Keycloak)" for _, path in self.remove_groups]
        paths = self.group_paths.get
        out += sorted(f"+ member {name(s, s)} of {paths(g, g)}" for g, s in self.add_members)
        out += [f"- member {u} of {g}" for _, _, g, u in self.remove_members]
        for b in self.add_bindings:
            subject = (
                f"group {paths(b.group_external_id or '', b.group_external_id)}"
                if b.group_external_id
                else f"user {name(b.user_subject or '', b.user_subject)}"
            )
            out.append(f"+ role {b.role} to {subject}")
        out += [f"- role {role} from {subject}" for _, role, subject in self.remove_bindings]
        out += [f"! conflict: {c}" for c in self.conflicts]
        out += [f"? group {p} ignored for roles (not in the mapping)" for p in self.ignored_groups]
        out += [
            f"? realm role {r} named in the mapping does not exist in Keycloak" for r in self.missing_roles
        ]
        return out

    def summary(self) -> dict[str, Any]:
        return {
            "users_created": len(self.create_users),
            "users_linked": len(self.link_users),
            "users_updated": len(self.update_users),
            "groups_created": len(self.create_groups),
            "groups_renamed": len(self.rename_groups),
            "groups_removed": len(self.remove_groups),
            "members_added": len(self.add_members),
            "members_removed": len(self.remove_members),
            "bindings_added": len(self.add_bindings),
            "bindings_removed": len(self.remove_bindings),
            "conflicts": self.conflicts[:50],
            "ignored_groups": self.ignored_groups[:100],
            "missing_roles": self.missing_roles,
            "admin_api_calls": self.api_calls,
        }


def validated_mapping(mapping: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """(group path -> role, realm role -> role); KeycloakSyncError naming what is wrong."""
    groups: dict[str, str] = {}
    realm_roles: dict[str, str] = {}
    for key, role in mapping.items():
        if role not in ROLES or role in NOT_SYNCABLE_ROLES:
            allowed = ", ".join(sorted(set(ROLES) - NOT_SYNCABLE_ROLES))
            raise KeycloakSyncError(
                f"GOVERNANCE_KEYCLOAK_SYNC_MAPPING maps {key!r} to {role!r}, "
                f"which is not a role here ({allowed})"
            )
        if key.startswith("/"):
            groups["/" + key.strip("/")] = role
        elif key:
            realm_roles[key] = role
    return groups, realm_roles


def compute_plan(session: Session, snap: DirectorySnapshot, mapping: dict[str, str]) -> SyncPlan:
    group_roles, realm_role_roles = validated_mapping(mapping)
    plan = SyncPlan(issuer=snap.issuer, missing_roles=sorted(snap.missing_roles), api_calls=snap.api_calls)
    plan.group_paths = {g.id: g.path for g in snap.groups.values()}
    eligible = _plan_users(session, snap, plan)  # subjects that may hold Keycloak memberships and roles
    existing_groups = {
        g.external_id: g
        for g in session.scalars(select(Group).where(Group.source == GROUP_SOURCE))
        if g.external_id
    }
    taken_names = set(session.scalars(select(Group.name)))
    for kc in sorted(snap.groups.values(), key=lambda g: g.path):
        current = existing_groups.get(kc.id)
        if current is None:
            plan.create_groups.append((kc.id, _free_name(kc.path, taken_names)))
        elif current.name != kc.path and kc.path not in taken_names:
            plan.rename_groups.append((current.id, current.name, kc.path))
            taken_names.add(kc.path)
        if "/" + kc.path.strip("/") not in group_roles:
            plan.ignored_groups.append(kc.path)
    gone = {ext: g for ext, g in existing_groups.items() if ext not in snap.groups}
    plan.remove_groups = [(g.id, g.name) for g in sorted(gone.values(), key=lambda g: g.name)]

    users_by_subject = {
        u.subject: u for u in session.scalars(select(User).where(User.issuer == snap.issuer)) if u.subject
    }
    subject_of = {u.id: s for s, u in users_by_subject.items()}
    names = {u.id: u.username for u in users_by_subject.values()}
    _plan_members(session, snap, plan, eligible, existing_groups, subject_of, names)
    _plan_bindings(
        session, snap, plan, eligible, group_roles, realm_role_roles, existing_groups, subject_of, names
    )
    return plan


def _free_name(path: str, taken: set[str]) -> str:
    name = path[:200]
    if name in taken:
        name = f"{path[:190]}-{uuid.uuid4().hex[:8]}"  # a local group already uses the path as its name
    taken.add(name)
    return name


def synced_display_name(kc: KeycloakUser) -> str:
    """Keycloak's name for the user as stored here: no control or bidirectional characters."""
    return strip_unsafe_chars(kc.display_name).strip()[:200]


def _plan_users(session: Session, snap: DirectorySnapshot, plan: SyncPlan) -> set[str]:
    by_subject = {
        u.subject: u for u in session.scalars(select(User).where(User.issuer == snap.issuer)) if u.subject
    }
    by_name = {u.username: u for u in session.scalars(select(User))}
    eligible: set[str] = set()
    planned_names: set[str] = set()
    for kc in sorted(snap.users.values(), key=lambda u: u.username):
        plan.usernames[kc.id] = kc.username
        try:
            username = _clean_username(kc.username)
        except Exception:
            plan.conflicts.append(f"Keycloak user {kc.id} has no usable username")
            continue
        user = by_subject.get(kc.id)
        if user is None:
            other = by_name.get(username)
            if other is not None and invited_to_link(other, snap.issuer, kc.username):
                plan.link_users.append((other.id, kc))  # an account invited for this realm's user
                user = other
            elif other is not None and other.subject is None:
                # Pre-created here and never linked: a matching name is not proof it is the same person.
                plan.conflicts.append(
                    f"an account named {username} exists here and is not linked to Keycloak user {kc.id}; "
                    f"link it (PATCH /api/v1/users/{username} with issuer and subject) or invite it "
                    "(issuer only)"
                )
                continue
            elif other is not None or username in planned_names:
                plan.conflicts.append(
                    f"username {username} belongs to another identity here; Keycloak user {kc.id}"
                )
                continue
            else:
                plan.create_users.append(kc)
                planned_names.add(username)
        if user is not None:
            changes: dict[str, str] = {}
            if kc.email and kc.email[:254] != user.email:
                changes["email"] = kc.email[:254]
            name = synced_display_name(kc)
            if name and name != user.display_name:
                changes["display_name"] = name
            if changes:
                plan.update_users.append((user.id, user.username, changes))
        if kc.enabled:
            eligible.add(kc.id)
    return eligible


def _plan_members(
    session: Session,
    snap: DirectorySnapshot,
    plan: SyncPlan,
    eligible: set[str],
    existing_groups: dict[str, Group],
    subject_of: dict[uuid.UUID, str],
    names: dict[uuid.UUID, str],
) -> None:
    group_ids = [g.id for g in existing_groups.values()]
    current: set[tuple[str, str]] = set()
    rows: dict[tuple[str, str], GroupMember] = {}
    external_of = {g.id: ext for ext, g in existing_groups.items()}
    for member in _members_of(session, group_ids):
        subject = subject_of.get(member.user_id)
        key = (external_of[member.group_id], subject or f"local:{member.user_id}")
        current.add(key)
        rows[key] = member
    wanted = {(gid, uid) for gid, uids in snap.members.items() for uid in uids if uid in eligible}
    plan.add_members = sorted(wanted - current)
    for key in sorted(current - wanted):
        member = rows[key]
        group = existing_groups[key[0]]
        plan.remove_members.append((group.id, member.user_id, group.name, names.get(member.user_id, key[1])))


def _members_of(session: Session, group_ids: list[uuid.UUID]) -> Iterable[GroupMember]:
    for start in range(0, len(group_ids), 500):
        chunk = group_ids[start : start + 500]
        yield from session.scalars(
            select(GroupMember).where(GroupMember.group_id.in_(chunk), GroupMember.source == GROUP_SOURCE)
        )


def _plan_bindings(
    session: Session,
    snap: DirectorySnapshot,
    plan: SyncPlan,
    eligible: set[str],
    group_roles: dict[str, str],
    realm_role_roles: dict[str, str],
    existing_groups: dict[str, Group],
    subject_of: dict[uuid.UUID, str],
    names: dict[uuid.UUID, str],
) -> None:
    wanted: set[BindingKey] = set()
    for kc in snap.groups.values():
        role = group_roles.get("/" + kc.path.strip("/"))
        if role:
            wanted.add(BindingKey(role, group_external_id=kc.id))
    for realm_role, role in realm_role_roles.items():
        for subject in snap.role_members.get(realm_role, set()):
            if subject in eligible:
                wanted.add(BindingKey(role, user_subject=subject))
    external_of = {g.id: ext for ext, g in existing_groups.items()}
    synced: dict[BindingKey, RoleBinding] = {}
    others: set[BindingKey] = set()
    for binding in session.scalars(select(RoleBinding)):
        if binding.group_id is not None:
            key = BindingKey(
                binding.role, group_external_id=external_of.get(binding.group_id, f"local:{binding.group_id}")
            )
        else:
            user_key = subject_of.get(binding.user_id) if binding.user_id else None
            key = BindingKey(binding.role, user_subject=user_key or f"local:{binding.user_id}")
        if binding.source == BINDING_SOURCE:
            synced[key] = binding
        else:
            others.add(key)
    plan.add_bindings = sorted(
        wanted - set(synced) - others, key=lambda b: (b.role, str(b.group_external_id), str(b.user_subject))
    )
    for key, binding in sorted(synced.items(), key=lambda kv: (kv[0].role, str(kv[1].id))):
        if key in wanted:
            continue
        if binding.group_id is not None:
            group = next((g for g in existing_groups.values() if g.id == binding.group_id), None)
            subject = f"group {group.name if group else binding.group_id}"
        else:
            subject = f"user {names.get(binding.user_id, str(binding.user_id)) if binding.user_id else '?'}"
        plan.remove_bindings.append((binding.id, binding.role, subject))
