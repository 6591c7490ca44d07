"""All ORM tables; importing this module registers them on Base.metadata."""

from governance.models.audit import AuditEvent
from governance.models.base import Base
from governance.models.decisions import LaunchDecision
from governance.models.datasets import AccessRequest, Dataset, Grant
from governance.models.environments import EnvironmentProfile, ProfileProject
from governance.models.identity import (
    Accreditation,
    Agreement,
    ApiToken,
    Group,
    GroupMember,
    Organisation,
    RoleBinding,
    User,
)
from governance.models.projects import Membership, Project, ProjectApproval

__all__ = [
    "AccessRequest",
    "Accreditation",
    "Agreement",
    "ApiToken",
    "AuditEvent",
    "Base",
    "Dataset",
    "EnvironmentProfile",
    "Grant",
    "LaunchDecision",
    "Group",
    "GroupMember",
    "Membership",
    "Organisation",
    "ProfileProject",
    "Project",
    "ProjectApproval",
    "RoleBinding",
    "User",
]
