"""The sync's plan and its application, from directory snapshots written out by hand.

A snapshot is plain data (what keycloak_directory.py reads from Keycloak); the real Keycloak round trip
is in test_keycloak_integration.py. These tests pin the rules down on both databases.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from governance.auth.principal import roles_of
from governance.config import DEFAULT_KEYCLOAK_SYNC_MAPPING
from governance.core.db import transaction
from governance.demo.seed import invite_demo_cast
from governance.identity.keycloak_directory import DirectorySnapshot, KeycloakGroup, KeycloakUser
from governance.identity.keycloak_sync import SyncReport, sync_snapshot
from governance.identity.keycloak_sync_plan import compute_plan
from governance.identity.sync_errors import KeycloakSyncError
from governance.models import AuditEvent, Group, GroupMember, RoleBinding, User

ISSUER = "https://idp.example/realms/five-safes"
CAST = ["admin", "sam", "stella", "olivia", "oscar", "aud", "alice", "bob", "carol"]
GROUPS = {"g-stewards": "/stewards", "g-researchers": "/researchers", "g-admins": "/admins"}


def snapshot(**changes: Any) -> DirectorySnapshot:
    users = {f"kc-{n}": KeycloakUser(f"kc-{n}", n, f"{n}@example.org", n.title(), True) for n in CAST}
    users["kc-erin"] = KeycloakUser("kc-erin", "erin", "erin@example.org", "Erin New", True)
    snap = DirectorySnapshot(
        issuer=ISSUER,
        users=users,
        groups={gid: KeycloakGroup(gid, path.strip("/"), path) for gid, path in GROUPS.items()},
        members={
            "g-stewards": {"kc-sam", "kc-stella"},
            "g-researchers": {"kc-alice", "kc-bob", "kc-carol", "kc-erin"},
            "g-admins": {"kc-admin"},
        },
        role_members={"auditor": {"kc-aud"}},
        api_calls=7,
    )
    for key, value in changes.items():
        setattr(snap, key, value)
    return snap


@pytest.fixture(autouse=True)
def _cast_invited(db_url: str) -> None:
    """The seeded cast is invited for this realm (as the demo seed does): the first sync links it."""
    with transaction() as s:
        invite_demo_cast(s, ISSUER)


def sync(snap: DirectorySnapshot, mapping: dict[str, str] | None = None, dry_run: bool = False) -> SyncReport:
    with transaction() as s:
        report = sync_snapshot(s, snap, mapping or DEFAULT_KEYCLOAK_SYNC_MAPPING, dry_run=dry_run)
        if not report.applied:
            s.rollback()
    return report


def roles(username: str) -> set[str]:
    with transaction() as s:
        user = s.scalar(select(User).where(User.username == username))
        assert user is not None
        return set(roles_of(s, user.id))


def counts() -> dict[str, int]:
    with transaction() as s:
        return {
            m.__name__: int(s.scalar(select(func.count()).select_from(m)) or 0)
            for m in (User, Group, GroupMember, RoleBinding, AuditEvent)
        }


def test_first_sync_links_creates_mirrors_and_binds_then_plans_nothing(db_url: str) -> None:
    before = counts()
    report = sync(snapshot())
    plan = report.plan
    assert report.applied
    assert {u.username for _, u in plan.link_users} == set(CAST)
    assert [u.username for u in plan.create_users] == ["erin"]
    assert {path for _, path in plan.create_groups} == set(GROUPS.values())
    assert {(b.role, b.group_external_id, b.user_subject) for b in plan.add_bindings} == {
        ("data_steward", "g-stewards", None),
        ("researcher", "g-researchers", None),
        ("admin", "g-admins", None),
        ("auditor", None, "kc-aud"),
    }
    assert "+ member erin of /researchers" in plan.lines() and "+ role auditor to user aud" in plan.lines()
    with transaction() as s:
        erin = s.scalar(select(User).where(User.username == "erin"))
        assert erin is not None and (erin.issuer, erin.subject, erin.display_name) == (
            ISSUER,
            "kc-erin",
            "Erin New",
        )
        sam = s.scalar(select(User).where(User.username == "sam"))
        assert sam is not None and (sam.issuer, sam.subject) == (ISSUER, "kc-sam")
        group = s.scalar(select(Group).where(Group.external_id == "g-stewards"))
        assert group is not None and (group.name, group.source) == ("/stewards", "keycloak")
        synced = s.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.source == "keycloak-sync")
        )
    assert synced == plan.change_count + 1  # one event per change plus the run's summary
    assert roles("erin") == {"researcher"}
    after_first = counts()
    assert after_first["User"] == before["User"] + 1
    again = sync(snapshot())
    assert not again.applied and again.plan.change_count == 0 and again.plan.lines() == []
    assert counts() == after_first


def test_leaving_a_group_or_realm_role_removes_only_what_the_sync_granted(
    db_url: str, rechecks: list[dict[str, Any]]
) -> None:
    sync(snapshot())
    rechecks.clear()
    members = snapshot().members
    members["g-stewards"] = {"kc-stella"}
    members["g-researchers"] = {"kc-alice", "kc-bob", "kc-carol"}
    report = sync(snapshot(members=members, role_members={"auditor": set()}))
    lines = report.plan.lines()
    assert "- member sam of /stewards" in lines and "- member erin of /researchers" in lines
    assert "- role auditor from user aud" in lines
    assert roles("erin") == set()
    assert roles("sam") == {"data_steward"}, "sam keeps the role bound here by the demo seed"
    assert roles("aud") == {"auditor"}
    with transaction() as s:
        sam_bindings = s.scalars(
            select(RoleBinding.source)
            .join(User, User.id == RoleBinding.user_id)
            .where(User.username == "sam")
        ).all()
        ids = {
            u.username: str(u.id)
            for u in s.scalars(select(User).where(User.username.in_(["sam", "erin", "aud"])))
        }
    assert sam_bindings == ["demo"]
    assert {r["user_id"] for r in rechecks} == {ids["sam"], ids["erin"], ids["aud"]}
    assert all(r["cause"] == "keycloak-sync" for r in rechecks)


def test_a_group_the_mapping_does_not_know_is_mirrored_but_grants_nothing(db_url: str) -> None:
    snap = snapshot()
    snap.groups["g-visitors"] = KeycloakGroup("g-visitors", "visitors", "/visitors")
    snap.members["g-visitors"] = {"kc-carol"}
    report = sync(snap)
    assert report.plan.ignored_groups == ["/visitors"]
    assert "? group /visitors ignored for roles (not in the mapping)" in report.plan.lines()
    with transaction() as s:
        visitors = s.scalar(select(Group).where(Group.name == "/visitors"))
        assert visitors is not None
        assert (
            s.scalar(select(func.count()).select_from(RoleBinding).where(RoleBinding.group_id == visitors.id))
            == 0
        )
        assert (
            s.scalar(select(func.count()).select_from(GroupMember).where(GroupMember.group_id == visitors.id))
            == 1
        )


def test_disabled_users_and_username_clashes_get_nothing_and_are_reported(db_url: str) -> None:
    with transaction() as s:
        carol = s.scalar(select(User).where(User.username == "carol"))
        assert carol is not None
        carol.issuer, carol.subject = "https://another-idp.example", "carol-elsewhere"
    snap = snapshot()
    snap.users["kc-bob"] = KeycloakUser("kc-bob", "bob", "bob@example.org", "Bob", enabled=False)
    report = sync(snap)
    assert any("username carol belongs to another identity" in c for c in report.plan.conflicts)
    with transaction() as s:
        researchers = s.scalar(select(Group).where(Group.name == "/researchers"))
        assert researchers is not None
        members = set(
            s.scalars(
                select(User.username)
                .join(GroupMember, GroupMember.user_id == User.id)
                .where(GroupMember.group_id == researchers.id)
            )
        )
    assert members == {"alice", "erin"}


def test_a_group_deleted_in_keycloak_is_retired_unless_bound_here(
    db_url: str, rechecks: list[dict[str, Any]]
) -> None:
    sync(snapshot())
    with transaction() as s:
        admins = s.scalar(select(Group).where(Group.name == "/admins"))
        assert admins is not None
        admin_id = admins.id
    groups = {k: v for k, v in snapshot().groups.items() if k != "g-researchers"}
    members = {k: v for k, v in snapshot().members.items() if k != "g-researchers"}
    report = sync(snapshot(groups=groups, members=members))
    assert "- group /researchers (gone from Keycloak)" in report.plan.lines()
    with transaction() as s:
        assert s.scalar(select(Group).where(Group.name == "/researchers")) is None
        s.add(RoleBinding(role="auditor", group_id=admin_id, source="local"))
    rechecks.clear()
    groups.pop("g-admins")
    members.pop("g-admins")
    sync(snapshot(groups=groups, members=members))
    with transaction() as s:
        kept = s.get(Group, admin_id)
        assert kept is not None and "Deleted in Keycloak" in kept.description
        assert s.scalars(select(RoleBinding.source).where(RoleBinding.group_id == admin_id)).all() == [
            "local"
        ]
        assert (
            s.scalar(select(func.count()).select_from(GroupMember).where(GroupMember.group_id == admin_id))
            == 0
        )
        admin_user = s.scalar(select(User.id).where(User.username == "admin"))
    assert {r["user_id"] for r in rechecks} == {str(admin_user)}


def test_a_renamed_group_keeps_its_identity(db_url: str) -> None:
    sync(snapshot())
    groups = dict(snapshot().groups)
    groups["g-stewards"] = KeycloakGroup("g-stewards", "data-stewards", "/data-stewards")
    report = sync(
        snapshot(groups=groups), {**DEFAULT_KEYCLOAK_SYNC_MAPPING, "/data-stewards": "data_steward"}
    )
    assert "~ group /stewards renamed /data-stewards" in report.plan.lines()
    assert not report.plan.add_bindings and not report.plan.remove_bindings
    with transaction() as s:
        group = s.scalar(select(Group).where(Group.external_id == "g-stewards"))
        assert group is not None and group.name == "/data-stewards"


def test_dry_run_writes_nothing(db_url: str) -> None:
    before = counts()
    report = sync(snapshot(), dry_run=True)
    assert report.plan.change_count > 0 and not report.applied
    assert counts() == before


@pytest.mark.parametrize("mapping", [{"/stewards": "superuser"}, {"/x": "hub"}])
def test_a_mapping_to_an_unknown_or_service_role_is_refused(db_url: str, mapping: dict[str, str]) -> None:
    with transaction() as s, pytest.raises(KeycloakSyncError, match="which is not a role here"):
        compute_plan(s, snapshot(), mapping)


def test_realm_roles_the_mapping_names_but_keycloak_lacks_are_reported(db_url: str) -> None:
    report = sync(snapshot(missing_roles=["output_checker"]))
    assert (
        "? realm role output_checker named in the mapping does not exist in Keycloak" in report.plan.lines()
    )
