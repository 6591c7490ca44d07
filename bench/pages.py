"""Page latency: `python -m bench.pages [--scale large|demo] [--database-url URL] [--requests N]`.

Starts a throwaway PostgreSQL (unless given one), migrates, seeds the demo cast and (by default) the large
data set (100k users, 10k projects of which 1k submitted, 800k memberships, 200k grants; timed), serves in
GOVERNANCE_ENV=dev with one worker, signs in as the steward sam through /dev/sign-in (the session cookie a
real login sets) and asks, one request at a time: /healthz (the stack's floor), My tasks (/), the
project queue (/queues/projects, first page and tier 2) and /me. Prints p50/p99 of the time each request
takes, seen from the client on the same machine. Goal: every page at most 100 ms p99 at one client.
"""

from __future__ import annotations

import argparse
import time
from contextlib import ExitStack

import httpx
import psycopg

from bench.common import HEADER, Result, postgres, run_cli, server

PAGES = (
    ("GET /healthz (floor)", "/healthz"),
    ("GET / (My tasks, sam)", "/"),
    ("GET /queues/projects (sam)", "/queues/projects"),
    ("GET /queues/projects?tier=2 (sam)", "/queues/projects?tier=2"),
    ("GET /me (sam)", "/me"),
)


def measure(client: httpx.Client, name: str, path: str, n: int, warmup: int = 20) -> Result:
    for _ in range(warmup):
        client.get(path)
    latencies: list[float] = []
    errors = 0
    began = time.perf_counter()
    for _ in range(n):
        t0 = time.perf_counter()
        response = client.get(path)
        latencies.append((time.perf_counter() - t0) * 1000)
        errors += response.status_code >= 400
    return Result(name, n, errors, time.perf_counter() - began, latencies)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url")
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--scale", choices=["large", "demo"], default="large")
    args = parser.parse_args()
    with ExitStack() as stack:
        url = args.database_url or stack.enter_context(postgres())
        run_cli(url, "db", "upgrade")
        began = time.perf_counter()
        run_cli(url, "demo", "seed", "--scale", args.scale)
        seed_s = time.perf_counter() - began
        with psycopg.connect(url) as conn:
            conn.execute("ANALYZE")
            counts = {
                t: conn.execute(f"select count(*) from {t}").fetchone()[0]  # type: ignore[index]  # noqa: S608
                for t in ("users", "projects", "memberships", "grants")
            }
            reviewable = conn.execute(
                "select count(*) from projects where status in ('submitted', 'in_review')"
            ).fetchone()[0]  # type: ignore[index]
        base_url = f"http://127.0.0.1:{args.port}"
        env = {
            "GOVERNANCE_ENV": "dev",
            "GOVERNANCE_BASE_URL": base_url,
            "GOVERNANCE_SESSION_COOKIE_SECURE": "false",
        }
        base = stack.enter_context(server(url, args.port, workers=1, extra_env=env))
        with httpx.Client(base_url=base, timeout=60, follow_redirects=False) as client:
            signed = client.post("/dev/sign-in", data={"username": "sam", "next": "/"})
            assert signed.status_code == 303 and client.cookies, signed.text
            results = [measure(client, name, path, args.requests) for name, path in PAGES]
    print(f"\nseed ({args.scale}): {seed_s:.1f} s; rows: {counts}; reviewable projects: {reviewable}")
    print(f"one client, {args.requests} sequential requests each, after 20 warm-up requests\n")
    print(HEADER)
    for r in results:
        print(r.row(results[0]))


if __name__ == "__main__":
    main()
