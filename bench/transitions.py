"""What the declared transitions cost: per-caller actions on a list page, and one move through perform().

    .venv/bin/python -m bench.transitions [iterations]

A throwaway SQLite database with the demo data and 50 extra projects. Baselines measured in the same run:
serialising a page of 50 projects without actions, and a hand-written status update with its audit event
(what a move cost before the table). Reports p50/p99 in ms and the ratio of p50s.
"""

from __future__ import annotations

import gc
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def measure(call: Callable[[], object], iterations: int) -> list[float]:
    for _ in range(min(20, iterations)):
        call()
    samples: list[float] = []
    gc.disable()
    try:
        for _ in range(iterations):
            start = time.perf_counter_ns()
            call()
            samples.append((time.perf_counter_ns() - start) / 1e6)
    finally:
        gc.enable()
    return samples


def pct(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def main(iterations: int) -> None:
    workdir = tempfile.mkdtemp(prefix="bench-transitions-")
    os.environ.update(
        GOVERNANCE_ENV="test",
        GOVERNANCE_DATABASE_URL=f"sqlite:///{workdir}/bench.db",
        GOVERNANCE_JOBS_INLINE="true",
    )
    from alembic import command
    from sqlalchemy import select

    from governance.audit.record import record
    from governance.auth.principal import principal_for_user
    from governance.core.db import new_session, transaction
    from governance.core.migrations import alembic_config
    from governance.core.transitions import perform
    from governance.demo.seed import seed_demo
    from governance.models import Project, User
    from governance.projects.endpoints import _out
    from governance.projects.lifecycle import PROJECT_LIFECYCLE
    from governance.projects.schemas import ProjectOut

    command.upgrade(alembic_config(os.environ["GOVERNANCE_DATABASE_URL"]), "head")
    with transaction() as s:
        seed_demo(s)
        carol = s.scalar(select(User).where(User.username == "carol"))
        assert carol is not None
        for i in range(50):
            s.add(
                Project(
                    id=uuid.uuid4(),
                    slug=f"bench-{i}",
                    title="A study",
                    tier=2,
                    status="active",
                    lead_id=carol.id,
                    created_by_id=carol.id,
                    lay_summary="x",
                    purpose="y",
                    public_benefit="z",
                    ends_on=date.today() + timedelta(days=90),
                    review_round=1,
                    approvals_required=2,
                )
            )
    session = new_session()
    users = {u.username: u for u in session.scalars(select(User))}
    steward = principal_for_user(session, users["sam"], "api-token")
    lead = principal_for_user(session, users["carol"], "api-token")
    page = list(session.scalars(select(Project).where(Project.slug.like("bench-%")).limit(50)))

    rows = []
    base = measure(lambda: [ProjectOut.model_validate(p) for p in page], iterations)
    rows.append(("page of 50, no actions (baseline)", base))
    for name, principal in (("steward", steward), ("lead", lead)):

        def page_with_actions(principal=principal) -> object:  # type: ignore[no-untyped-def]
            session.info.pop("involvement", None)  # a new request each time: nothing memoised
            return [_out(session, principal, p) for p in page]

        rows.append((f"page of 50 with actions, {name}", measure(page_with_actions, iterations)))

    target = page[0]

    def hand_written() -> None:
        target.status = "suspended" if target.status == "active" else "active"
        session.flush()
        record(session, steward, "project.suspend", "project", target.id, project_id=target.id)
        session.flush()

    rows.append(("hand-written move + audit (baseline)", measure(hand_written, iterations)))
    session.rollback()

    def declared() -> None:
        action = "suspend" if target.status == "active" else "activate"
        if action == "activate":  # activate needs an independent steward: stella, who is not involved
            perform(
                session, principal_for_user(session, users["stella"], "x"), PROJECT_LIFECYCLE, target, action
            )
        else:
            perform(session, steward, PROJECT_LIFECYCLE, target, action)

    rows.append(("perform(): lock, check, move, audit, effects", measure(declared, iterations)))
    session.rollback()
    session.close()

    print(f"iterations: {iterations}")
    print("| what | p50 ms | p99 ms | mean ms | x baseline p50 |")
    print("|---|---|---|---|---|")
    baselines = {0: rows[0][1], 3: rows[3][1], 4: rows[3][1]}
    for i, (name, samples) in enumerate(rows):
        baseline = baselines.get(i, rows[0][1])
        ratio = pct(samples, 50) / pct(baseline, 50)
        print(
            f"| {name} | {pct(samples, 50):.3f} | {pct(samples, 99):.3f} | "
            f"{statistics.fmean(samples):.3f} | {ratio:.2f} |"
        )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 300)
