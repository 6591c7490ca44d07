"""The scope catalogue (verb:resource) and the platform roles, which are bundles of scopes."""

from __future__ import annotations

from enum import StrEnum


class Scope(StrEnum):
    """A permission, named verb:resource. Roles are bundles of scopes; tokens may narrow them."""

    read_me = "read:me"
    write_me = "write:me"
    read_all = "read:all"
    read_organisations = "read:organisations"
    write_organisations = "write:organisations"
    read_users = "read:users"
    write_users = "write:users"
    read_groups = "read:groups"
    write_groups = "write:groups"
    read_role_bindings = "read:role-bindings"
    write_role_bindings = "write:role-bindings"
    read_accreditations = "read:accreditations"
    write_accreditations = "write:accreditations"
    read_projects = "read:projects"
    create_projects = "create:projects"
    approve_projects = "approve:projects"
    manage_projects = "manage:projects"
    write_memberships = "write:memberships"
    approve_memberships = "approve:memberships"
    read_datasets = "read:datasets"
    write_datasets = "write:datasets"
    create_access_requests = "create:access-requests"
    approve_access_requests = "approve:access-requests"
    revoke_grants = "revoke:grants"
    read_profiles = "read:profiles"
    write_profiles = "write:profiles"
    decide_launches = "decide:launches"
    simulate_launches = "simulate:launches"
    read_decisions = "read:decisions"
    create_outputs = "create:outputs"
    review_outputs = "review:outputs"
    release_outputs = "release:outputs"
    read_outputs = "read:outputs"
    read_audit = "read:audit"
    verify_audit = "verify:audit"
    manage_tokens = "manage:tokens"

    @property
    def description(self) -> str:
        return SCOPE_DESCRIPTIONS[self]


SCOPE_DESCRIPTIONS: dict[Scope, str] = {
    Scope.read_me: "See your own profile, roles and scopes; manage your own API tokens",
    Scope.write_me: "Change your own profile, record your accreditations, sign data-use agreements",
    Scope.read_all: "See every record of the kinds your other read scopes cover, not only your projects'",
    Scope.read_organisations: "List and read organisations",
    Scope.write_organisations: "Create and change organisations",
    Scope.read_users: "List and read other users",
    Scope.write_users: "Create users, change them, suspend and reactivate them",
    Scope.read_groups: "List and read groups and their members",
    Scope.write_groups: "Create groups and change their members",
    Scope.read_role_bindings: "List role bindings",
    Scope.write_role_bindings: "Grant and remove platform roles",
    Scope.read_accreditations: "Read other users' accreditations and agreements",
    Scope.write_accreditations: "Record and verify other users' accreditations",
    Scope.read_projects: "List and read projects you can see",
    Scope.create_projects: "Create project applications and manage your own",
    Scope.approve_projects: "Approve, return or reject submitted projects",
    Scope.manage_projects: "Activate, suspend and close projects",
    Scope.write_memberships: "Ask for project membership, or add members to a project you lead",
    Scope.approve_memberships: "Approve or reject membership requests",
    Scope.read_datasets: "Read the dataset catalogue",
    Scope.write_datasets: "Add and change datasets",
    Scope.create_access_requests: "Ask for a project's access to a dataset",
    Scope.approve_access_requests: "Approve or reject dataset access requests",
    Scope.revoke_grants: "Revoke dataset grants",
    Scope.read_profiles: "Read environment profiles",
    Scope.write_profiles: "Create and change environment profiles",
    Scope.decide_launches: "Ask for a launch decision (the hub)",
    Scope.simulate_launches: "Ask what a launch decision would be, without side effects",
    Scope.read_decisions: "Read past launch decisions",
    Scope.create_outputs: "Create and submit output requests for your projects",
    Scope.review_outputs: "Review output requests",
    Scope.release_outputs: "Release approved outputs",
    Scope.read_outputs: "Read the output requests you can see: files' checks, visible votes, release records",
    Scope.read_audit: "Read the audit log",
    Scope.verify_audit: "Verify the audit log",
    Scope.manage_tokens: "Create and revoke API tokens for other users",
}
SCOPES: dict[str, str] = {scope.value: text for scope, text in SCOPE_DESCRIPTIONS.items()}

_READ_ALL = [s for s in SCOPES if s.startswith("read:")]

ROLES: dict[str, frozenset[str]] = {
    "researcher": frozenset(
        {
            "read:me",
            "write:me",
            "read:projects",
            "create:projects",
            "write:memberships",
            "read:datasets",
            "create:access-requests",
            "read:profiles",
            "create:outputs",
            "read:outputs",
            "read:audit",  # the events of their own projects only (governance/audit/repository.py)
        }
    ),
    "data_steward": frozenset(
        {
            "read:me",
            "write:me",
            "read:all",
            "read:organisations",
            "read:users",
            "read:groups",
            "read:role-bindings",
            "read:accreditations",
            "write:accreditations",
            "read:projects",
            "approve:projects",
            "manage:projects",
            "approve:memberships",
            "read:datasets",
            "write:datasets",
            "approve:access-requests",
            "revoke:grants",
            "read:profiles",
            "simulate:launches",
            "read:decisions",
            "read:outputs",
        }
    ),
    "output_checker": frozenset(
        {
            "read:me",
            "write:me",
            "read:datasets",
            "read:profiles",
            "review:outputs",
            "release:outputs",
            "read:outputs",
        }
    ),
    "auditor": frozenset(_READ_ALL) | {"verify:audit"},
    "admin": frozenset(SCOPES) - {"decide:launches"},
    "hub": frozenset({"decide:launches", "read:profiles"}),
}

ROLE_DESCRIPTIONS: dict[str, str] = {
    "researcher": "Applies for projects, asks for data access, launches servers, submits outputs",
    "data_steward": "Approves projects, memberships and dataset access; revokes grants",
    "output_checker": "Reviews and releases outputs; never a member of the projects reviewed",
    "auditor": "Reads everything, changes nothing",
    "admin": "Manages users, roles, organisations, datasets and environment profiles",
    "hub": "Service role for JupyterHub: asks for launch decisions",
}


def scopes_for_roles(roles: set[str] | frozenset[str]) -> frozenset[str]:
    result: set[str] = set()
    for role in roles:
        result |= ROLES.get(role, frozenset())
    return frozenset(result)
