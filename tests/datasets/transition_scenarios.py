"""Scenarios for the table-walking test (tests/core/test_transition_table.py): every declared move of the
dataset, access-request, grant and environment-profile lifecycles, with a user playing each party its
check refuses.

Registered into ``tests.core.transition_scenarios.SCENARIOS`` when imported (by
test_datasets_transition_table.py beside this file, and by tests/core/transition_scenarios.py once it
imports this module).
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.datasets.schemas import AccessApprove, AccessReject, GrantRevoke
from governance.models import AccessRequest, Dataset, EnvironmentProfile, Grant
from tests.core.transition_scenarios import INVOLVED, named, project, scenario, user


def _get(model: Any) -> Any:
    def load(s: Session, obj_id: uuid.UUID) -> Any:
        row = s.get(model, obj_id)
        assert row is not None
        return row

    return load


# --- datasets -----------------------------------------------------------------------------------


def dataset(s: Session, status: str) -> uuid.UUID:
    slug = f"d-{uuid.uuid4().hex[:8]}"
    row = Dataset(
        id=uuid.uuid4(), slug=slug, title="A dataset", tier=1, storage_uri=f"s3://x/{slug}/", status=status
    )
    s.add(row)
    s.flush()
    return row.id


scenario("dataset.retire", build=lambda s: dataset(s, "active"), load=_get(Dataset), actor="sam")
scenario("dataset.reactivate", build=lambda s: dataset(s, "retired"), load=_get(Dataset), actor="sam")

# --- access requests ----------------------------------------------------------------------------


def access_request(s: Session) -> uuid.UUID:
    """A pending request of a project with stewards in every involved role, asked for by a steward."""
    project_id = project(s, "active", involved=True)
    requester = user(s, "st-requester", "data_steward", "researcher")
    census = s.scalar(select(Dataset.id).where(Dataset.slug == "census-extract"))
    assert census is not None
    row = AccessRequest(
        id=uuid.uuid4(),
        project_id=project_id,
        dataset_id=census,
        justification="Needed for the aims.",
        requested_by_id=requester.id,
        status="pending",
    )
    s.add(row)
    s.flush()
    return row.id


DECIDERS = {"the requester": "st-requester", **INVOLVED}

scenario(
    "access_request.approve",
    build=access_request,
    load=_get(AccessRequest),
    actor="sam",
    parties=DECIDERS,
    body=AccessApprove(note="Within the approved purpose."),
)
scenario(
    "access_request.reject",
    build=access_request,
    load=_get(AccessRequest),
    actor="sam",
    parties=DECIDERS,
    body=AccessReject(note="Not needed for the aims."),
)

# --- grants -------------------------------------------------------------------------------------


def grant(s: Session) -> uuid.UUID:
    census = s.scalar(select(Dataset.id).where(Dataset.slug == "census-extract"))
    assert census is not None
    row = Grant(
        id=uuid.uuid4(),
        project_id=project(s, "active"),
        dataset_id=census,
        conditions="",
        granted_by_id=named(s, "sam"),
    )
    s.add(row)
    s.flush()
    return row.id


scenario(
    "grant.revoke",
    build=grant,
    load=_get(Grant),
    actor="sam",
    body=GrantRevoke(reason="The agreement with the custodian ended."),
)

# --- environment profiles -----------------------------------------------------------------------


def profile(s: Session, status: str) -> uuid.UUID:
    row = EnvironmentProfile(
        id=uuid.uuid4(),
        slug=f"e-{uuid.uuid4().hex[:8]}",
        title="A workspace",
        image="quay.io/jupyter/scipy-notebook:2026-01-05",
        cpu=1.0,
        memory_gb=2.0,
        gpu=0,
        max_tier=1,
        egress="none",
        allowed_networks=[],
        mfa_required=False,
        max_session_hours=1.0,
        all_projects=True,
        status=status,
    )
    s.add(row)
    s.flush()
    return row.id


scenario(
    "environment_profile.retire",
    build=lambda s: profile(s, "active"),
    load=_get(EnvironmentProfile),
    actor="admin",
)
scenario(
    "environment_profile.reactivate",
    build=lambda s: profile(s, "retired"),
    load=_get(EnvironmentProfile),
    actor="admin",
)
