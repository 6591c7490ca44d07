"""Launch decisions at scale: `python bench/decisions.py [--database-url URL] [--skip-seed]`.

On PostgreSQL seeded with `--scale large`, with auditing on, drives 50 concurrent clients at
POST /api/v1/launch-decisions (a mix of allowed and denied questions for real members), and in the same run
at /healthz and GET /api/v1/users/{id} (an indexed single-row read) as the stack's baseline. Prints p50/p99,
decisions/s, and decisions/s as a ratio of the single-row read. Then measures in-process policy evaluation.
"""

from __future__ import annotations

import argparse
import random
import time
from contextlib import ExitStack

import psycopg

from bench.api import measure
from bench.common import HEADER, postgres, run_cli, server

MEMBERS_PER_PROJECT, USERS, PROJECTS, DATASETS = 80, 100_000, 10_000, 50_000


def questions(n: int, seed: int = 7) -> list[dict[str, object]]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        p, k = rng.randrange(PROJECTS), rng.randrange(MEMBERS_PER_PROJECT)
        user = (p * MEMBERS_PER_PROJECT + k) % USERS
        granted = [(p * 5 + g * 2500) % DATASETS for g in range(rng.randint(1, 3))]
        out.append(
            {
                "username": f"u{user + 1:06d}",
                "project": f"project-{p + 1:05d}",
                "profile": "standard",
                "datasets": [f"dataset-{d + 1:05d}" for d in granted],
                "server_name": f"s{rng.randrange(1_000_000)}",
                "client_ip": "10.1.2.3",
                "auth": {"mfa": False, "acr": None, "amr": ["pwd"]},
            }
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url")
    parser.add_argument("--skip-seed", action="store_true")
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--requests", type=int, default=4000)
    args = parser.parse_args()
    n = args.requests
    with ExitStack() as stack:
        url = args.database_url or stack.enter_context(postgres())
        if not args.skip_seed:
            run_cli(url, "db", "upgrade")
            run_cli(url, "demo", "seed", "--scale", "large")
        with psycopg.connect(url) as conn:
            conn.execute("ANALYZE")
            user_ids = [str(r[0]) for r in conn.execute("select id from users order by random() limit 1000")]
        hub = run_cli(url, "token", "create", "--username", "jupyterhub", "--expires-in", "2h").splitlines()[
            -1
        ]
        reader = run_cli(url, "token", "create", "--username", "aud", "--expires-in", "2h").splitlines()[-1]
        hub_h, read_h = {"Authorization": f"Bearer {hub}"}, {"Authorization": f"Bearer {reader}"}
        base = stack.enter_context(server(url, args.port, workers=args.workers))
        asks = questions(n + 500)
        reads = [("GET", f"/api/v1/users/{u}", None) for u in user_ids]
        decides = [("POST", "/api/v1/launch-decisions", a) for a in asks]
        results = [
            measure("GET /healthz (baseline)", base, [("GET", "/healthz", None)], {}, n),
            measure("GET /users/{id} (single-row read)", base, reads, read_h, n),
            measure("POST /launch-decisions", base, decides, hub_h, n),
        ]
        single = [
            measure("GET /users/{id} (single-row read)", base, reads, read_h, n, connections=1),
            measure("POST /launch-decisions", base, decides, hub_h, n, connections=1),
        ]
        with psycopg.connect(url) as conn:
            allowed = conn.execute(
                "select count(*) filter (where allowed), count(*) from launch_decisions"
            ).fetchone()
            audited = conn.execute(
                "select count(*) from audit_events where action = 'launch.decide'"
            ).fetchone()
    print(f"\n50 concurrent connections, {args.workers} server workers, auditing on\n")
    print(HEADER)
    for r in results:
        print(r.row(results[0]))
    print("\none connection (service time without queueing)\n")
    print(HEADER)
    for r in single:
        print(r.row(single[0]))
    print(f"\ndecisions/s as a share of the single-row read: {results[2].rps / results[1].rps:.0%}")
    print(
        f"decisions stored: {allowed[1] if allowed else 0} ({allowed[0] if allowed else 0} allowed); "
        f"audit events for them: {audited[0] if audited else 0}"
    )
    _in_process()


def _in_process() -> None:
    from datetime import UTC, datetime

    from governance.config import REPO_ROOT
    from governance.decisions.engine import PolicyEngine
    from governance.decisions.situation import (
        AccreditationFact,
        AgreementFact,
        AuthContext,
        DatasetFact,
        GrantFact,
        LaunchSituation,
        MembershipFact,
        ProfileFact,
        ProjectFact,
        RequestedResources,
        UserFact,
    )  # fmt: skip

    engine = PolicyEngine.from_directory(REPO_ROOT / "policies")
    now = datetime.now(UTC)
    later = now.replace(year=now.year + 1)
    user = UserFact(
        "u", "alice", "active", (AccreditationFact("safe-researcher", now, later, True),),
        (AgreementFact("1", now, later),),
    )  # fmt: skip
    situation = LaunchSituation(
        now, user, ProjectFact("p", "proj", "active", 2, now.date(), later.date()),
        MembershipFact("lead", "approved", None, None), ("d",),
        {"d": DatasetFact("d", "d", 2, "active", "s3://x", "D")}, {"d": GrantFact("d", later, None)},
        ProfileFact("f", "standard", "img", 2, 8, 0, 2, "none", (), False, 8, True), "10.1.2.3",
        AuthContext(), RequestedResources(),
    )  # fmt: skip
    for _ in range(200):
        engine.evaluate(situation)
    samples = []
    for _ in range(5000):
        began = time.perf_counter()
        engine.evaluate(situation)
        samples.append((time.perf_counter() - began) * 1e6)
    samples.sort()
    print(f"in-process evaluation, one 4-safe batch: p50 {samples[2500]:.0f} µs, p99 {samples[4950]:.0f} µs")


if __name__ == "__main__":
    main()
