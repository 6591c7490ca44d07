"""Directory sync: Keycloak groups, members and realm roles → governance groups and role bindings.

1. Fetch a complete snapshot from Keycloak (keycloak_directory.py); nothing is written meanwhile.
2. Compute a plan: the difference between the snapshot and what earlier syncs wrote here.
3. Apply the plan in one transaction, one audit event per change (source "keycloak-sync").

Rules:
- Every Keycloak group is mirrored as a governance group (source "keycloak", external_id = the Keycloak
  group id, name = its path, e.g. "/stewards"); its members become members (source "keycloak").
- GOVERNANCE_KEYCLOAK_SYNC_MAPPING maps group paths ("/stewards") and realm role names ("data_steward")
  to governance roles. A mapped group gets one role binding (source "keycloak-sync") that its members
  inherit; a mapped realm role gets a binding per user holding it directly. Groups the mapping does not
  name are mirrored but grant nothing, and are reported as "ignored for roles".
- Users not yet here are created (issuer = the realm's issuer URL, subject = the Keycloak user id), so
  their later logins find them by issuer + subject. An account created here before (seeded, or through
  the API) is linked only when it is invited for this realm (issuer set, no subject, the same username);
  otherwise a matching username is a conflict, as is a username that belongs to another identity:
  reported, left alone (provisioning.py has the same rule for logins). Users disabled in Keycloak keep
  their account but get no Keycloak memberships or roles.
- Only rows written by the sync are ever removed (members with source "keycloak", bindings with source
  "keycloak-sync"); bindings made locally are never touched. Whoever loses a membership or binding is
  re-checked by enforcement (access_changed), so servers they may no longer run are stopped.
- Idempotent: a second run with no change in Keycloak plans nothing and writes nothing.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from governance.audit.record import record
from governance.config import Settings, get_settings
from governance.core.context import source_var
from governance.core.db import transaction
from governance.enforcement.triggers import access_changed
from governance.identity.keycloak_directory import DirectorySnapshot, Progress, fetch_snapshot
from governance.identity.keycloak_sync_plan import (
    BINDING_SOURCE,
    GROUP_SOURCE,
    SyncPlan,
    compute_plan,
    synced_display_name,
    validated_mapping,
)
from governance.identity.provisioning import _clean_username
from governance.models.identity import Group, GroupMember, RoleBinding, User

log = logging.getLogger(__name__)

AUDIT_SOURCE = "keycloak-sync"
# Above this many affected users one full re-check is cheaper than one job per user.
PER_USER_RECHECK_LIMIT = 50
SYNC_LOCK_KEY = 0x6B6373796E63  # "kcsync": serialises concurrent syncs on PostgreSQL


class SyncActor:
    user_id: uuid.UUID | None = None
    username: str | None = "keycloak-sync"


ACTOR = SyncActor()


@dataclass(frozen=True)
class SyncReport:
    plan: SyncPlan
    applied: bool
    rechecked_users: int


# Applying -----------------------------------------------------------------------------------------


def apply_plan(session: Session, plan: SyncPlan) -> set[uuid.UUID]:
    """Write the plan; returns the users whose access may have shrunk. The caller commits."""
    user_ids: dict[str, uuid.UUID] = {
        u.subject: u.id for u in session.scalars(select(User).where(User.issuer == plan.issuer)) if u.subject
    }
    for kc in plan.create_users:
        user = User(
            id=uuid.uuid4(),
            username=_clean_username(kc.username),
            issuer=plan.issuer,
            subject=kc.id,
            email=kc.email[:254] if kc.email else None,
            display_name=synced_display_name(kc),
            status="active",
        )
        session.add(user)
        user_ids[kc.id] = user.id
        record(
            session,
            ACTOR,
            "user.create",
            "user",
            user.id,
            source=AUDIT_SOURCE,
            summary={"username": user.username, "keycloak_id": kc.id},
        )
    session.flush()
    for user_id, kc in plan.link_users:
        linked = session.get(User, user_id)
        assert linked is not None
        linked.issuer, linked.subject = plan.issuer, kc.id
        user_ids[kc.id] = user_id
        record(
            session,
            ACTOR,
            "user.link",
            "user",
            user_id,
            source=AUDIT_SOURCE,
            summary={"username": linked.username, "keycloak_id": kc.id},
        )
    for user_id, _name, changes in plan.update_users:
        updated = session.get(User, user_id)
        assert updated is not None
        for attr, value in changes.items():
            setattr(updated, attr, value)
        record(session, ACTOR, "user.update", "user", user_id, source=AUDIT_SOURCE, summary=changes)
    session.flush()

    group_ids = {
        g.external_id: g.id
        for g in session.scalars(select(Group).where(Group.source == GROUP_SOURCE))
        if g.external_id
    }
    for external_id, path in plan.create_groups:
        group = Group(
            id=uuid.uuid4(),
            name=path,
            source=GROUP_SOURCE,
            external_id=external_id,
            description="Mirrored from Keycloak",
        )
        session.add(group)
        group_ids[external_id] = group.id
        record(
            session,
            ACTOR,
            "group.create",
            "group",
            group.id,
            source=AUDIT_SOURCE,
            summary={"name": path, "keycloak_id": external_id},
        )
    for group_id, old, new in plan.rename_groups:
        renamed = session.get(Group, group_id)
        assert renamed is not None
        renamed.name = new
        record(
            session,
            ACTOR,
            "group.rename",
            "group",
            group_id,
            source=AUDIT_SOURCE,
            summary={"before": old, "after": new},
        )
    session.flush()

    names = dict(plan.usernames)
    for external_id, subject in plan.add_members:
        session.add(
            GroupMember(group_id=group_ids[external_id], user_id=user_ids[subject], source=GROUP_SOURCE)
        )
        record(
            session,
            ACTOR,
            "group.member-add",
            "group",
            group_ids[external_id],
            source=AUDIT_SOURCE,
            summary={"user": names.get(subject, subject)},
        )
    for binding in plan.add_bindings:
        row = RoleBinding(
            id=uuid.uuid4(),
            role=binding.role,
            source=BINDING_SOURCE,
            group_id=group_ids[binding.group_external_id] if binding.group_external_id else None,
            user_id=user_ids[binding.user_subject] if binding.user_subject else None,
        )
        session.add(row)
        subject = (
            f"group {plan.group_paths.get(binding.group_external_id, binding.group_external_id)}"
            if binding.group_external_id
            else f"user {names.get(binding.user_subject or '', binding.user_subject)}"
        )
        record(
            session,
            ACTOR,
            "role-binding.create",
            "role_binding",
            row.id,
            source=AUDIT_SOURCE,
            summary={"role": binding.role, "to": subject},
        )
    session.flush()

    affected: set[uuid.UUID] = set()
    for group_id, user_id, group_name, username in plan.remove_members:
        member = session.get(GroupMember, (group_id, user_id))
        if member is not None:
            session.delete(member)
        affected.add(user_id)
        record(
            session,
            ACTOR,
            "group.member-remove",
            "group",
            group_id,
            source=AUDIT_SOURCE,
            summary={"user": username, "group": group_name},
        )
    session.flush()
    for binding_id, role, subject in plan.remove_bindings:
        binding_row = session.get(RoleBinding, binding_id)
        if binding_row is None:
            continue
        if binding_row.user_id is not None:
            affected.add(binding_row.user_id)
        elif binding_row.group_id is not None:
            affected |= set(
                session.scalars(
                    select(GroupMember.user_id).where(GroupMember.group_id == binding_row.group_id)
                )
            )
        session.delete(binding_row)
        record(
            session,
            ACTOR,
            "role-binding.delete",
            "role_binding",
            binding_id,
            source=AUDIT_SOURCE,
            summary={"role": role, "from": subject},
        )
    session.flush()
    for group_id, name in plan.remove_groups:
        _retire_group(session, group_id, name, affected)
    session.flush()
    return affected


def _retire_group(session: Session, group_id: uuid.UUID, name: str, affected: set[uuid.UUID]) -> None:
    """A group deleted in Keycloak: its synced members and bindings go; the group too unless bound locally."""
    for member in list(
        session.scalars(
            select(GroupMember).where(GroupMember.group_id == group_id, GroupMember.source == GROUP_SOURCE)
        )
    ):
        affected.add(member.user_id)
        session.delete(member)
    for binding in list(
        session.scalars(
            select(RoleBinding).where(RoleBinding.group_id == group_id, RoleBinding.source == BINDING_SOURCE)
        )
    ):
        session.delete(binding)
    session.flush()
    still_bound = session.scalar(select(RoleBinding.id).where(RoleBinding.group_id == group_id).limit(1))
    members_left = session.scalar(
        select(GroupMember.user_id).where(GroupMember.group_id == group_id).limit(1)
    )
    group = session.get(Group, group_id)
    if group is None:
        return
    if still_bound is None and members_left is None:
        session.delete(group)
        record(
            session,
            ACTOR,
            "group.delete",
            "group",
            group_id,
            source=AUDIT_SOURCE,
            summary={"name": name, "cause": "deleted in Keycloak"},
        )
    else:
        group.description = "Deleted in Keycloak; kept because local role bindings or members refer to it"
        record(
            session,
            ACTOR,
            "group.retire",
            "group",
            group_id,
            source=AUDIT_SOURCE,
            summary={"name": name, "cause": "deleted in Keycloak"},
        )


def _lock(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("select pg_advisory_xact_lock(:key)"), {"key": SYNC_LOCK_KEY})


def sync_snapshot(
    session: Session, snapshot: DirectorySnapshot, mapping: dict[str, str], *, dry_run: bool = False
) -> SyncReport:
    """Plan against `snapshot`; unless dry_run or nothing differs, apply it in the caller's transaction."""
    _lock(session)
    plan = compute_plan(session, snapshot, mapping)
    if dry_run or plan.change_count == 0:
        return SyncReport(plan, applied=False, rechecked_users=0)
    affected = apply_plan(session, plan)
    record(
        session,
        ACTOR,
        "identity.sync",
        "directory",
        snapshot.issuer,
        source=AUDIT_SOURCE,
        summary=plan.summary(),
    )
    if len(affected) > PER_USER_RECHECK_LIMIT:
        access_changed(session, "keycloak-sync")
    else:
        for user_id in sorted(affected):
            access_changed(session, "keycloak-sync", user_id=user_id)
    return SyncReport(plan, applied=True, rechecked_users=len(affected))


def run_sync(
    *,
    dry_run: bool = False,
    settings: Settings | None = None,
    progress: Progress | None = None,
    workers: int = 4,
) -> SyncReport:
    """Fetch everything from Keycloak first, then plan and (unless dry_run) apply in one transaction."""
    settings = settings or get_settings()
    _groups, realm_roles = validated_mapping(settings.keycloak_sync_mapping)
    snapshot = fetch_snapshot(settings, sorted(realm_roles), progress, workers=workers)
    token = source_var.set(AUDIT_SOURCE)
    try:
        with transaction() as session:
            report = sync_snapshot(session, snapshot, settings.keycloak_sync_mapping, dry_run=dry_run)
            if not report.applied:
                session.rollback()
    finally:
        source_var.reset(token)
    if report.applied:
        log.info(
            "keycloak sync applied %d changes (%d admin API calls)",
            report.plan.change_count,
            report.plan.api_calls,
        )
    return report
