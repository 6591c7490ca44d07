"""API latency at scale: `python bench/api.py [--database-url URL] [--skip-seed]`.

Starts a throwaway PostgreSQL (unless given one), migrates, seeds `--scale large` (timed), serves the API
and drives 50 concurrent clients at: /healthz (the stack's baseline), the first page and a page 5,000
rows deep of GET /api/v1/projects, and GET /api/v1/users/{id}. Prints p50/p99 and requests/s.
"""

from __future__ import annotations

import argparse
import time
from contextlib import ExitStack
from typing import Any

import httpx
import psycopg

from bench import wrk
from bench.common import HEADER, Result, drive, postgres, run_cli, server


def measure(
    name: str,
    base: str,
    reqs: list[tuple[str, str, Any]],
    headers: dict[str, str],
    n: int,
    connections: int = 50,
) -> Result:
    """wrk when installed (the load generator then costs little CPU), else the httpx driver."""
    if wrk.available():
        return wrk.run_wrk(
            name, base, reqs, headers, connections=connections, seconds=12 if connections > 1 else 5
        )
    return drive(
        name,
        base,
        lambda c, i: c.build_request(
            reqs[i % len(reqs)][0], reqs[i % len(reqs)][1], json=reqs[i % len(reqs)][2], headers=headers
        ),
        total=n if connections > 1 else n // 10,
        concurrency=connections,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--requests", type=int, default=4000)
    args = parser.parse_args()
    with ExitStack() as stack:
        url = args.database_url or stack.enter_context(postgres())
        run_cli(url, "db", "upgrade")
        began = time.perf_counter()
        run_cli(url, "demo", "seed", "--scale", "large")
        seed_s = time.perf_counter() - began
        with psycopg.connect(url) as conn:
            conn.execute("ANALYZE")
            counts = {
                t: conn.execute(f"select count(*) from {t}").fetchone()[0]  # type: ignore[index]  # noqa: S608
                for t in ("users", "projects", "datasets", "memberships", "grants")
            }
            user_ids = [str(r[0]) for r in conn.execute("select id from users order by random() limit 1000")]
        token = (
            run_cli(url, "token", "create", "--username", "aud", "--expires-in", "2h")
            .strip()
            .splitlines()[-1]
        )
        headers = {"Authorization": f"Bearer {token}"}
        base = stack.enter_context(server(url, args.port, workers=args.workers))
        deep_cursor = None
        with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
            cursor = None
            for _ in range(25):  # 25 pages of 200 = 5,000 rows deep
                page = client.get(
                    "/api/v1/projects", params={"limit": 200, **({"cursor": cursor} if cursor else {})}
                )
                page.raise_for_status()
                cursor = page.json()["next_cursor"]
            deep_cursor = cursor
        n = args.requests
        plans: list[tuple[str, list[tuple[str, str, Any]], dict[str, str]]] = [
            ("GET /healthz (baseline)", [("GET", "/healthz", None)], {}),
            ("GET /projects first page", [("GET", "/api/v1/projects", None)], headers),
            (
                "GET /projects 5,000 rows deep",
                [("GET", f"/api/v1/projects?cursor={deep_cursor}", None)],
                headers,
            ),
            ("GET /users/{id}", [("GET", f"/api/v1/users/{u}", None) for u in user_ids], headers),
        ]
        results = [measure(name, base, reqs, hdrs, n) for name, reqs, hdrs in plans]
        single = [measure(name, base, reqs, hdrs, n, connections=1) for name, reqs, hdrs in plans]
    print(f"\nseed --scale large: {seed_s:.1f} s for {counts}")
    tool = "wrk" if wrk.available() else "httpx"
    print(f"\n50 concurrent connections ({tool}), {args.workers} server workers\n")
    print(HEADER)
    for r in results:
        print(r.row(results[0]))
    print("\none connection (service time without queueing)\n")
    print(HEADER)
    for r in single:
        print(r.row(single[0]))


if __name__ == "__main__":
    main()
