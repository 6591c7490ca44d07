"""The scope catalogue (verb:resource) and the platform roles, which are bundles of scopes."""

from __future__ import annotations

SCOPES: dict[str, str] = {
    "read:me": "See your own profile, roles and scopes; manage your own API tokens",
    "write:me": "Change your own profile, record your accreditations, sign data-use agreements",
    "read:all": "See every record of the kinds your other read scopes cover, not only your projects'",
    "read:organisations": "List and read organisations",
    "write:organisations": "Create and change organisations",
    "read:users": "List and read other users",
    "write:users": "Create users, change them, suspend and reactivate them",
    "read:groups": "List and read groups and their members",
    "write:groups": "Create groups and change their members",
    "read:role-bindings": "List role bindings",
    "write:role-bindings": "Grant and remove platform roles",
    "read:accreditations": "Read other users' accreditations and agreements",
    "write:accreditations": "Record and verify other users' accreditations",
    "read:projects": "List and read projects you can see",
    "create:projects": "Create project applications and manage your own",
    "approve:projects": "Approve, return or reject submitted projects",
    "manage:projects": "Activate, suspend and close projects",
    "write:memberships": "Ask for project membership, or add members to a project you lead",
    "approve:memberships": "Approve or reject membership requests",
    "read:datasets": "Read the dataset catalogue",
    "write:datasets": "Add and change datasets",
    "create:access-requests": "Ask for a project's access to a dataset",
    "approve:access-requests": "Approve or reject dataset access requests",
    "revoke:grants": "Revoke dataset grants",
    "read:profiles": "Read environment profiles",
    "write:profiles": "Create and change environment profiles",
    "decide:launches": "Ask for a launch decision (the hub)",
    "simulate:launches": "Ask what a launch decision would be, without side effects",
    "read:decisions": "Read past launch decisions",
    "create:outputs": "Create and submit output requests for your projects",
    "review:outputs": "Review output requests",
    "release:outputs": "Release approved outputs",
    "read:outputs": "Read the output requests you can see: files' checks, visible votes, release records",
    "read:audit": "Read the audit log",
    "verify:audit": "Verify the audit log",
    "manage:tokens": "Create and revoke API tokens for other users",
}

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
