"""Identity benchmarks against a real Keycloak: `python bench/identity.py [--users N] [--groups N]`.

1. Bearer-token validation cost with a warm JWKS cache: OIDCVerifier.verify on a real Keycloak access
   token, in-process, N times (p50/p99/mean in µs), against a bare PyJWT decode with the key already
   loaded (the floor: signature + claim checks and nothing else), interleaved in the same run.
2. Directory sync of N users in M groups seeded through Keycloak's Admin REST API (partial import in
   chunks, a few requests at a time; seeding timed separately): fetch (admin API calls counted twice:
   by the sync itself and at the HTTP adapter), then plan + apply in one transaction, on PostgreSQL and
   on SQLite; then a second, no-op run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import jwt
import requests.adapters

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import postgres, run_cli  # noqa: E402
from governance.auth.oidc import OIDCVerifier  # noqa: E402
from tests.harness.keycloak import KeycloakServer  # noqa: E402

ALGORITHMS = ["RS256", "RS384", "RS512", "ES256", "ES384", "PS256"]


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def token_validation(kc: KeycloakServer, n: int) -> None:
    token = kc.password_token("governance-tests", "alice", "demo-alice")["access_token"]
    verifier = OIDCVerifier(kc.issuer, "governance-api", list(ALGORITHMS))
    verifier.verify(token)  # warm: discovery + JWKS fetched once
    kid = jwt.get_unverified_header(token)["kid"]
    key = verifier.key_for(kid)

    def floor() -> None:
        jwt.decode(
            token,
            key=key,
            algorithms=["RS256"],
            audience="governance-api",
            issuer=kc.issuer,
            leeway=30,
            options={"require": ["exp", "iat", "sub", "iss"]},
        )

    def ours() -> None:
        verifier.verify(token)

    samples: dict[str, list[float]] = {"OIDCVerifier.verify (warm JWKS)": [], "jwt.decode, key preloaded": []}
    for _ in range(200):
        ours()
        floor()
    batch = 500
    for _ in range(max(1, n // batch)):
        for name, fn in (("OIDCVerifier.verify (warm JWKS)", ours), ("jwt.decode, key preloaded", floor)):
            out = samples[name]
            for _ in range(batch):
                began = time.perf_counter_ns()
                fn()
                out.append((time.perf_counter_ns() - began) / 1000)
    each = len(samples["jwt.decode, key preloaded"])
    print(f"\n## Token validation ({each} each, RS256 2048-bit, in-process)\n")
    print("| path                              | p50 µs | p99 µs | mean µs |")
    print("|-----------------------------------|--------|--------|---------|")
    for name, values in samples.items():
        p50, p99, mean = _pct(values, 50), _pct(values, 99), statistics.mean(values)
        print(f"| {name:<33} | {p50:6.1f} | {p99:6.1f} | {mean:7.1f} |")


# Seeding Keycloak --------------------------------------------------------------------------------


class Admin:
    def __init__(self, kc: KeycloakServer) -> None:
        self.kc = kc
        self.base = f"{kc.base_url}/admin/realms/{kc.realm}"
        self._token, self._at = "", 0.0
        self._lock = threading.Lock()
        self.http = httpx.Client(timeout=600.0)

    def headers(self) -> dict[str, str]:
        with self._lock:
            if time.monotonic() - self._at > 30:
                self._token, self._at = self.kc.admin_token(), time.monotonic()
            return {"Authorization": f"Bearer {self._token}"}

    def post(self, path: str, body: Any) -> httpx.Response:
        r = self.http.post(f"{self.base}{path}", json=body, headers=self.headers())
        if r.status_code >= 400:
            raise RuntimeError(f"POST {path}: {r.status_code} {r.text[:300]}")
        return r

    def count(self, path: str) -> int:
        return int(self.http.get(f"{self.base}{path}", headers=self.headers()).json())


def seed(kc: KeycloakServer, users: int, groups: int, chunk: int, concurrency: int) -> float:
    admin = Admin(kc)
    began = time.perf_counter()
    admin.post(
        "/partialImport",
        {
            "ifResourceExists": "SKIP",
            "groups": [{"name": f"team-{g:03d}", "path": f"/team-{g:03d}"} for g in range(groups)],
        },
    )

    def user(i: int) -> dict[str, Any]:
        member_of = sorted({f"/team-{i % groups:03d}", f"/team-{(i * 7 + 3) % groups:03d}"})
        if i % 10 == 0:
            member_of.append("/researchers")
        return {
            "username": f"user{i:05d}",
            "enabled": True,
            "email": f"user{i:05d}@example.org",
            "emailVerified": True,
            "firstName": "User",
            "lastName": f"{i:05d}",
            "groups": member_of,
        }

    def post_chunk(start: int) -> None:
        admin.post(
            "/partialImport",
            {"ifResourceExists": "SKIP", "users": [user(i) for i in range(start, min(users, start + chunk))]},
        )

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(post_chunk, range(0, users, chunk)))
    seconds = time.perf_counter() - began
    total = admin.count("/users/count")
    print("\n## Seeding Keycloak through the Admin REST API\n")
    print(
        f"{users} users in {groups} groups (2 groups each, 10% also in /researchers): {seconds:.1f} s with "
        f"partial imports of {chunk} users, {concurrency} at a time; Keycloak now holds {total} users."
    )
    return seconds


# Sync ----------------------------------------------------------------------------------------------


@contextmanager
def counting_http() -> Iterator[list[int]]:
    """Count HTTP requests at requests' adapter (what python-keycloak uses underneath)."""
    calls = [0]
    original: Callable[..., Any] = requests.adapters.HTTPAdapter.send

    def send(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        return original(self, *args, **kwargs)

    requests.adapters.HTTPAdapter.send = send  # type: ignore[method-assign]
    try:
        yield calls
    finally:
        requests.adapters.HTTPAdapter.send = original  # type: ignore[method-assign]


def sync_once(label: str, workers: int) -> dict[str, Any]:
    from governance.config import get_settings
    from governance.core.db import dispose_engines, transaction
    from governance.identity.keycloak_directory import fetch_snapshot
    from governance.identity.keycloak_sync import sync_snapshot
    from governance.identity.keycloak_sync_plan import validated_mapping

    get_settings.cache_clear()
    dispose_engines()
    settings = get_settings()
    _groups, realm_roles = validated_mapping(settings.keycloak_sync_mapping)
    with counting_http() as calls:
        began = time.perf_counter()
        snapshot = fetch_snapshot(settings, sorted(realm_roles), workers=workers)
        fetched = time.perf_counter()
    with transaction() as session:
        report = sync_snapshot(session, snapshot, settings.keycloak_sync_mapping)
    applied = time.perf_counter()
    return {
        "label": label,
        "fetch_s": fetched - began,
        "apply_s": applied - fetched,
        "calls": snapshot.api_calls,
        "http": calls[0],
        "changes": report.plan.change_count,
        "users": len(snapshot.users),
        "groups": len(snapshot.groups),
        "members": sum(len(m) for m in snapshot.members.values()),
    }


def sync_runs(kc: KeycloakServer, database_url: str, label: str, workers: int) -> list[dict[str, Any]]:
    os.environ.update(
        {
            "GOVERNANCE_DATABASE_URL": database_url,
            "GOVERNANCE_ENV": "test",
            "GOVERNANCE_JOBS_INLINE": "true",
            "GOVERNANCE_KEYCLOAK_URL": kc.base_url,
            "GOVERNANCE_KEYCLOAK_REALM": kc.realm,
            "GOVERNANCE_KEYCLOAK_SYNC_CLIENT_SECRET": "governance-sync-secret",
            "GOVERNANCE_KEYCLOAK_SYNC_PAGE_SIZE": "500",
            "GOVERNANCE_LOG_LEVEL": "WARNING",
        }
    )
    run_cli(database_url, "db", "upgrade")
    run_cli(database_url, "demo", "seed")
    from governance.tasks import register

    register()
    return [sync_once(f"{label}, first run", workers), sync_once(f"{label}, second run (no change)", workers)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--validations", type=int, default=10_000)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--groups", type=int, default=500)
    parser.add_argument("--chunk", type=int, default=250)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--workers", type=int, default=4, help="concurrent member fetches during the sync")
    parser.add_argument("--skip-sqlite", action="store_true")
    args = parser.parse_args()
    with KeycloakServer(heap="-Xms256m -Xmx1024m") as kc:
        print(f"Keycloak {kc.version} started in {kc.startup_seconds:.1f} s")
        token_validation(kc, args.validations)
        seed(kc, args.users, args.groups, args.chunk, args.concurrency)
        rows: list[dict[str, Any]] = []
        with postgres() as pg_url:
            rows += sync_runs(kc, pg_url, "PostgreSQL", args.workers)
        if not args.skip_sqlite:
            with tempfile.TemporaryDirectory() as tmp:
                rows += sync_runs(kc, f"sqlite:///{tmp}/bench.db", "SQLite", args.workers)
        print(f"\n## Directory sync ({args.workers} concurrent member fetches, page size 500)\n")
        print("| run | users | groups | members | admin calls (sync/HTTP) | fetch s | apply s | changes |")
        print("|-----|-------|--------|---------|-------------------------|---------|---------|---------|")
        for r in rows:
            counts = f"{r['users']} | {r['groups']} | {r['members']} | {r['calls']} / {r['http']}"
            print(f"| {r['label']} | {counts} | {r['fetch_s']:.2f} | {r['apply_s']:.2f} | {r['changes']} |")


if __name__ == "__main__":
    main()
