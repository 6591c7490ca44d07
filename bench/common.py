"""Shared benchmark plumbing: a throwaway PostgreSQL + server, a bounded load driver, reporting."""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


@dataclass
class Result:
    name: str
    requests: int
    errors: int
    seconds: float
    latencies_ms: list[float]
    fixed: tuple[float, float] | None = None  # (p50, p99) when a tool such as wrk measured them

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def pct(self, p: float) -> float:
        if self.fixed is not None and p in (50, 99):
            return self.fixed[0] if p == 50 else self.fixed[1]
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]

    def row(self, baseline: Result | None = None) -> str:
        ratio = f"{self.rps / baseline.rps:6.2f}" if baseline and baseline.rps else "     -"
        return (
            f"| {self.name:<34} | {self.requests:>7} | {self.errors:>4} | {self.pct(50):>8.2f} | "
            f"{self.pct(99):>8.2f} | {self.rps:>9.1f} | {ratio} |"
        )


HEADER = (
    "| endpoint                           | requests | errs | p50 ms   | p99 ms   | req/s     | x base |\n"
    "|------------------------------------|----------|------|----------|----------|-----------|--------|"
)


async def _drive(
    name: str,
    client: httpx.AsyncClient,
    make: Callable[[int], httpx.Request],
    concurrency: int,
    total: int,
    deadline_s: float,
) -> Result:
    latencies: list[float] = []
    errors = 0
    counter = iter(range(total))
    stop_at = time.perf_counter() + deadline_s

    async def worker() -> None:
        nonlocal errors
        for i in counter:
            if time.perf_counter() > stop_at:
                return
            request = make(i)
            began = time.perf_counter()
            try:
                response = await client.send(request)
                if response.status_code >= 400:
                    errors += 1
            except httpx.HTTPError:
                errors += 1
            latencies.append((time.perf_counter() - began) * 1000)

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return Result(name, len(latencies), errors, time.perf_counter() - began, latencies)


def drive(
    name: str,
    base_url: str,
    make: Callable[[httpx.AsyncClient, int], httpx.Request],
    *,
    concurrency: int = 50,
    total: int = 5000,
    deadline_s: float = 60.0,
    warmup: int = 200,
) -> Result:
    async def run() -> Result:
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=30.0) as client:
            await _drive("warmup", client, lambda i: make(client, i), concurrency, warmup, deadline_s)
            return await _drive(name, client, lambda i: make(client, i), concurrency, total, deadline_s)

    return asyncio.run(run())


@contextmanager
def postgres() -> Iterator[str]:
    from tests.harness.postgres import PostgresServer

    server = PostgresServer(database="bench").start()
    try:
        yield server.url
    finally:
        server.stop()


@contextmanager
def server(
    database_url: str, port: int, workers: int = 1, extra_env: dict[str, str] | None = None
) -> Iterator[str]:
    env = {
        **os.environ,
        "GOVERNANCE_DATABASE_URL": database_url,
        "GOVERNANCE_ENV": "test",
        "GOVERNANCE_LOG_LEVEL": "WARNING",
        **(extra_env or {}),
    }
    proc = subprocess.Popen(
        [str(ROOT / ".venv/bin/governance"), "serve", "--port", str(port), "--workers", str(workers)], env=env
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            raise RuntimeError("server did not start")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def run_cli(database_url: str, *args: str) -> str:
    env = {**os.environ, "GOVERNANCE_DATABASE_URL": database_url, "GOVERNANCE_ENV": "test"}
    done = subprocess.run(
        [str(ROOT / ".venv/bin/governance"), *args], env=env, check=True, capture_output=True, text=True
    )
    return done.stdout


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")
