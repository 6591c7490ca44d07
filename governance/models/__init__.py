"""All ORM tables; importing this module registers them on Base.metadata."""

from governance.models.audit import AuditCheckpoint, AuditEvent, AuditSigningKey
from governance.models.base import Base
from governance.models.datasets import AccessRequest, Dataset, Grant
from governance.models.decisions import LaunchDecision
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
from governance.models.outputs import (
    OutputCheckResult,
    OutputFile,
    OutputRelease,
    OutputRequest,
    OutputReview,
)
from governance.models.projects import Membership, Project, ProjectApproval, ProjectEditor
from governance.models.saml import SamlRequest
from governance.models.sessions import WebSession

__all__ = [
    "AccessRequest",
    "Accreditation",
    "Agreement",
    "ApiToken",
    "AuditCheckpoint",
    "AuditEvent",
    "AuditSigningKey",
    "Base",
    "Dataset",
    "EnvironmentProfile",
    "Grant",
    "Group",
    "GroupMember",
    "LaunchDecision",
    "Membership",
    "Organisation",
    "OutputCheckResult",
    "OutputFile",
    "OutputRelease",
    "OutputRequest",
    "OutputReview",
    "ProfileProject",
    "Project",
    "ProjectApproval",
    "ProjectEditor",
    "RoleBinding",
    "SamlRequest",
    "User",
    "WebSession",
]
