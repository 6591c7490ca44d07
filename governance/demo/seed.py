"""The demo cast of DESIGN.md: the same names in the docs, the tests and `make run`."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.audit.record import record
from governance.core.clock import utcnow
from governance.models import (
    AccessRequest,
    Accreditation,
    Agreement,
    Dataset,
    EnvironmentProfile,
    Grant,
    Membership,
    Organisation,
    Project,
    ProjectApproval,
    RoleBinding,
    User,
)

CAST: list[tuple[str, str, str]] = [
    ("admin", "Ada Admin", "admin"),
    ("sam", "Sam Steward", "data_steward"),
    ("stella", "Stella Steward", "data_steward"),
    ("olivia", "Olivia Checker", "output_checker"),
    ("oscar", "Oscar Checker", "output_checker"),
    ("aud", "Audrey Auditor", "auditor"),
    ("alice", "Alice Researcher", "researcher"),
    ("bob", "Bob Researcher", "researcher"),
    ("carol", "Carol Researcher", "researcher"),
    ("jupyterhub", "JupyterHub service", "hub"),
]
ACCREDITATION_KIND = "safe-researcher"


def is_seeded(session: Session) -> bool:
    return session.scalar(select(User.id).where(User.username == "admin")) is not None


def invite_demo_cast(session: Session, issuer: str) -> int:
    """Invite the demo cast to be linked to `issuer`'s accounts of the same names (deploy/keycloak's realm).

    An account is never claimed by a login just because the username matches (identity/provisioning.py);
    an invitation (issuer set, no subject yet) lets the first login from that issuer under exactly that
    username link it. Accounts already linked are left alone. Returns how many were invited.
    """
    people = [name for name, _, role in CAST if role != "hub"]
    invited = 0
    for user in session.scalars(select(User).where(User.username.in_(people), User.subject.is_(None))):
        user.issuer = issuer.rstrip("/")
        invited += 1
    session.flush()
    return invited


def seed_demo(
    session: Session,
    now: datetime | None = None,
    *,
    invite_issuer: str | None = None,
    showcase: bool = False,
) -> dict[str, uuid.UUID]:
    """Create the demo cast once; returns the ids by name. Does nothing when already seeded.

    The cast is invited to be linked to `invite_issuer` (default GOVERNANCE_OIDC_ISSUER, when set), so the
    demo realm's alice, sam, … log in to their seeded accounts; without an issuer nobody can claim them.
    """
    if is_seeded(session):
        return {}
    if invite_issuer is None:
        from governance.config import get_settings

        invite_issuer = get_settings().oidc_issuer
    now = now or utcnow()
    today = now.date()
    ids: dict[str, uuid.UUID] = {}
    org = Organisation(id=uuid.uuid4(), slug="demo-university", name="Demo University")
    session.add(org)
    for username, name, role in CAST:
        user = User(
            id=uuid.uuid4(),
            username=username,
            display_name=name,
            email=f"{username}@example.org",
            organisation_id=org.id,
            kind="service" if role == "hub" else "person",
        )
        session.add(user)
        session.flush()
        session.add(RoleBinding(id=uuid.uuid4(), role=role, user_id=user.id, source="demo"))
        ids[username] = user.id
    next_year = now + timedelta(days=365)
    for username, expires in (("alice", next_year), ("bob", now - timedelta(days=30)), ("carol", next_year)):
        session.add(
            Accreditation(
                id=uuid.uuid4(),
                user_id=ids[username],
                kind=ACCREDITATION_KIND,
                issuer="Office for National Statistics",
                awarded_at=expires - timedelta(days=3 * 365),
                expires_at=expires,
                evidence_ref=f"SRS-{username.upper()}",
                verified_by_id=ids["sam"],
                verified_at=now - timedelta(days=60),
            )
        )
        session.add(
            Agreement(
                id=uuid.uuid4(),
                user_id=ids[username],
                version=get_settings().agreement_version,
                signed_at=now - timedelta(days=90),
                expires_at=next_year,
            )
        )
    diabetes = Project(
        id=uuid.uuid4(),
        slug="diabetes-outcomes",
        title="Diabetes outcomes after hospital discharge",
        lay_summary="How care after leaving hospital changes outcomes for people with diabetes.",
        purpose="Cohort study of readmissions within a year of discharge.",
        public_benefit="Better discharge planning for people with diabetes.",
        ethics_ref="REC 26/NE/0042",
        organisation_id=org.id,
        lead_id=ids["alice"],
        created_by_id=ids["alice"],
        tier=2,
        starts_on=today - timedelta(days=90),
        ends_on=date(today.year + 2, 12, 31),
        status="active",
        review_round=1,
        approvals_required=2,
    )
    school = Project(
        id=uuid.uuid4(),
        slug="school-attainment",
        title="School attainment and local services",
        lay_summary="Whether local services are linked to how well children do at school.",
        purpose="Area-level analysis of attainment.",
        public_benefit="Evidence for local planning.",
        organisation_id=org.id,
        lead_id=ids["alice"],
        created_by_id=ids["alice"],
        tier=1,
        starts_on=today,
        ends_on=date(today.year + 1, 12, 31),
        status="submitted",
        review_round=1,
        approvals_required=1,
    )
    session.add_all([diabetes, school])
    session.flush()
    for steward in ("sam", "stella"):
        session.add(
            ProjectApproval(id=uuid.uuid4(), project_id=diabetes.id, steward_id=ids[steward], review_round=1)
        )
    for project, username, role in (
        (diabetes, "alice", "lead"),
        (diabetes, "bob", "researcher"),
        (school, "alice", "lead"),
    ):
        session.add(
            Membership(
                id=uuid.uuid4(),
                project_id=project.id,
                user_id=ids[username],
                role=role,
                status="approved",
                requested_by_id=ids["alice"],
                decided_by_id=ids["sam"],
                decided_at=now - timedelta(days=80),
            )
        )
    datasets = {}
    for slug, title, tier in (
        ("hospital-episodes", "Hospital episode statistics", 2),
        ("census-extract", "Census 2021 microdata extract", 1),
        ("gp-prescribing", "GP prescribing records", 3),
    ):
        ds = Dataset(
            id=uuid.uuid4(),
            slug=slug,
            title=title,
            description=f"{title} (demo data)",
            tier=tier,
            custodian_id=ids["sam"],
            storage_uri=f"s3://tre-data/{slug}/v1/",
            use_conditions="No attempt to re-identify individuals.",
        )
        session.add(ds)
        datasets[slug] = ds
    session.flush()
    request = AccessRequest(
        id=uuid.uuid4(),
        project_id=diabetes.id,
        dataset_id=datasets["hospital-episodes"].id,
        justification="Admissions and readmissions of the cohort.",
        requested_by_id=ids["alice"],
        status="approved",
        decided_by_id=ids["sam"],
        decided_at=now - timedelta(days=70),
    )
    session.add(request)
    session.flush()
    session.add(
        Grant(
            id=uuid.uuid4(),
            project_id=diabetes.id,
            dataset_id=datasets["hospital-episodes"].id,
            access_request_id=request.id,
            granted_by_id=ids["sam"],
            conditions="Aggregate outputs only.",
            expires_at=datetime.combine(diabetes.ends_on or today, datetime.min.time(), tzinfo=now.tzinfo),
        )
    )
    session.add_all(
        [
            EnvironmentProfile(
                id=uuid.uuid4(),
                slug="standard",
                title="Standard analysis workspace",
                image="quay.io/jupyter/scipy-notebook:2026-01-05",
                cpu=2.0,
                memory_gb=8.0,
                gpu=0,
                max_tier=2,
                egress="none",
                allowed_networks=[],
                mfa_required=False,
                max_session_hours=8.0,
                all_projects=True,
            ),
            EnvironmentProfile(
                id=uuid.uuid4(),
                slug="gpu-secure",
                title="Secure GPU workspace",
                image="quay.io/jupyter/pytorch-notebook:cuda12-2026-01-05",
                cpu=8.0,
                memory_gb=32.0,
                gpu=1,
                max_tier=3,
                egress="none",
                allowed_networks=["10.0.0.0/8"],
                mfa_required=True,
                max_session_hours=4.0,
                all_projects=True,
            ),
        ]
    )
    session.flush()
    if showcase:
        ids.update(seed_showcase(session, ids, org.id, diabetes.id, datasets, now))
    invited = invite_demo_cast(session, invite_issuer) if invite_issuer else 0
    record(
        session,
        None,
        "demo.seed",
        "system",
        None,
        summary={"users": len(CAST), "invited_for": invite_issuer if invited else None},
        source="cli",
    )
    ids.update({"diabetes-outcomes": diabetes.id, "school-attainment": school.id, "demo-university": org.id})
    ids.update({slug: ds.id for slug, ds in datasets.items()})
    return ids


@dataclass(frozen=True)
class _Actor:
    user_id: uuid.UUID | None
    username: str | None


def seed_showcase(
    session: Session,
    ids: dict[str, uuid.UUID],
    org_id: uuid.UUID,
    diabetes_id: uuid.UUID,
    datasets: dict[str, Dataset],
    now: datetime,
) -> dict[str, uuid.UUID]:
    """What the pages need so none is empty on first run (`governance demo seed`; the unit tests' seed
    leaves it out): a returned application with a steward's comment, a tier-2 application with one of two
    approvals, a pending access request, an accreditation awaiting verification, a grant ending within 30
    days and a pending membership request. Only new rows: the base cast is untouched."""
    today = now.date()
    mental = Project(
        id=uuid.uuid4(),
        slug="mental-health-services",
        title="Access to mental health services",
        lay_summary="Who waits longest for mental health care, and why.",
        purpose="Waiting times by area and age.",
        public_benefit="Fairer allocation of services.",
        organisation_id=org_id,
        lead_id=ids["bob"],
        created_by_id=ids["bob"],
        tier=1,
        starts_on=today + timedelta(days=30),
        ends_on=date(today.year + 2, 6, 30),
        status="returned",
        review_round=1,
        approvals_required=1,
    )
    heart = Project(
        id=uuid.uuid4(),
        slug="heart-failure-care",
        title="Heart failure care pathways",
        lay_summary="How people with heart failure move between hospital and community care.",
        purpose="Linked pathway analysis of admissions.",
        public_benefit="Fewer emergency readmissions for heart failure.",
        ethics_ref="REC 26/LO/0117",
        organisation_id=org_id,
        lead_id=ids["carol"],
        created_by_id=ids["carol"],
        tier=2,
        starts_on=today + timedelta(days=14),
        ends_on=date(today.year + 2, 3, 31),
        status="in_review",
        review_round=1,
        approvals_required=2,
    )
    session.add_all([mental, heart])
    session.flush()
    for project, username in ((mental, "bob"), (heart, "carol")):
        session.add(
            Membership(
                id=uuid.uuid4(),
                project_id=project.id,
                user_id=ids[username],
                role="lead",
                status="approved",
                requested_by_id=ids[username],
                decided_by_id=ids["sam"],
                decided_at=now - timedelta(days=20),
            )
        )
    stella = _Actor(ids["stella"], "stella")
    record(session, _Actor(ids["bob"], "bob"), "project.submit", "project", mental.id, project_id=mental.id,
           summary={"from": "draft", "to": "submitted"}, source="cli")  # fmt: skip
    record(
        session, stella, "project.return", "project", mental.id, project_id=mental.id,
        summary={"from": "submitted", "to": "returned",
                 "note": "Please say which ethics committee reviewed this and add its reference."},
        source="cli",
    )  # fmt: skip
    approval = ProjectApproval(id=uuid.uuid4(), project_id=heart.id, steward_id=ids["stella"], review_round=1)
    session.add(approval)
    record(session, stella, "project.approve", "project", heart.id, project_id=heart.id,
           summary={"from": "submitted", "to": "in_review"}, source="cli")  # fmt: skip
    # bob asks to join carol's application (a membership request waiting for a steward)
    session.add(
        Membership(
            id=uuid.uuid4(),
            project_id=heart.id,
            user_id=ids["bob"],
            role="researcher",
            status="requested",
            requested_by_id=ids["bob"],
        )
    )
    # carol's early renewal, recorded by her and waiting for a steward to verify it (bob's accreditation
    # stays simply expired, as the demo cast says: the launch refusals name that)
    session.add(
        Accreditation(
            id=uuid.uuid4(),
            user_id=ids["carol"],
            kind=ACCREDITATION_KIND,
            issuer="Office for National Statistics",
            awarded_at=now - timedelta(days=2),
            expires_at=now + timedelta(days=3 * 365),
            evidence_ref="SRS-CAROL-2026",
        )
    )
    # a pending access request on the active project, asked by its researcher bob
    session.add(
        AccessRequest(
            id=uuid.uuid4(),
            project_id=diabetes_id,
            dataset_id=datasets["gp-prescribing"].id,
            justification="Prescribing before and after discharge, to compare medication changes.",
            requested_by_id=ids["bob"],
            status="pending",
        )
    )
    # a grant that ends within 30 days, on a fourth dataset
    air = Dataset(
        id=uuid.uuid4(),
        slug="air-quality",
        title="Air quality by postcode district",
        description="Annual mean pollutant concentrations (demo data)",
        tier=1,
        custodian_id=ids["stella"],
        storage_uri="s3://tre-data/air-quality/v1/",
        use_conditions="Cite the source in every output.",
    )
    session.add(air)
    session.flush()
    session.add(
        Grant(
            id=uuid.uuid4(),
            project_id=diabetes_id,
            dataset_id=air.id,
            granted_by_id=ids["stella"],
            conditions="Cite the source in every output.",
            expires_at=now + timedelta(days=20),
        )
    )
    session.flush()
    return {"mental-health-services": mental.id, "heart-failure-care": heart.id, "air-quality": air.id}
