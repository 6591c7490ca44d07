"""Benchmark the output-checking library.

1. Tabular checks on a 1,000,000-row x 10-column CSV (~60 MB) against the floor of simply reading the
   same file with pyarrow.csv.read_csv, in the same run (goal: checks <= 3x the read).
2. Encrypt + store throughput for a 1 GB file written in 1 MiB pieces (goal: >= 100 MB/s) and the
   process peak RSS (goal: <= 200 MB). Read-back (decrypt + verify) throughput is reported too.
3. The same through the HTTP API (--http): a real `governance serve` (SQLite, demo data) receives a
   1 GB multipart upload on POST /api/v1/output-requests/{id}/files; reported are the end-to-end
   throughput and the server process's peak RSS (VmHWM) before and after the upload.

Run: .venv/bin/python bench/outputs.py [--repeat 5] [--store-mb 1024] [--http] [--skip-tabular]
Prints the p50 of the repetitions.
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from governance.outputs.checks import CheckContext, TabularCheck, run_all  # noqa: E402
from governance.outputs.checks.base import Check  # noqa: E402
from governance.outputs.checks.identifiers import IdentifiersCheck  # noqa: E402
from governance.outputs.checks.size import SizeCheck  # noqa: E402
from governance.outputs.risk_profile import RiskProfile, load_risk_profiles  # noqa: E402
from governance.outputs.storage import EncryptedStore, KeyRing  # noqa: E402

ROWS = 1_000_000


def make_csv(path: Path, rows: int = ROWS) -> None:
    rng = np.random.default_rng(20260101)
    regions = np.array([f"region_{i:03d}" for i in range(200)])
    columns: dict[str, pa.Array] = {
        "region": pa.array(regions[rng.integers(0, len(regions), rows)]),
        "year": pa.array(rng.integers(2000, 2021, rows)),
    }
    for i in range(8):
        # Mostly large counts with a sprinkling of small ones and zeros.
        values = rng.integers(0, 100_000, rows)
        small = rng.random(rows) < 0.01
        values[small] = rng.integers(0, 10, int(small.sum()))
        columns[f"count_{i}"] = pa.array(values)
    table = pa.table(columns)
    pacsv.write_csv(table, path, write_options=pacsv.WriteOptions(quoting_style="none"))


def bench_profile() -> RiskProfile:
    profiles = load_risk_profiles(ROOT / "policies" / "output_checks.toml")
    return profiles.for_tier(2).model_copy(update={"max_rows": 2_000_000, "max_file_bytes": 1 << 30})


def timed(fn: Callable[[], object], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def run_checks(path: Path, profile: RiskProfile, checks: list[Check]) -> None:
    ctx = CheckContext(file_name=path.name, profile=profile)
    for check in checks:
        result = check.run(path, ctx)
        if result.status == "error":
            raise RuntimeError(f"{check.name} errored: {result.findings}")


def bench_tabular(workdir: Path, repeat: int) -> None:
    path = workdir / "table.csv"
    started = time.perf_counter()
    make_csv(path)
    size_mb = path.stat().st_size / 1e6
    print(
        f"generated {path.name}: {ROWS:,} rows x 10 columns, {size_mb:.1f} MB in "
        f"{time.perf_counter() - started:.1f} s"
    )
    profile = bench_profile()
    floor = timed(lambda: pacsv.read_csv(path), repeat)
    tabular = timed(lambda: run_checks(path, profile, [TabularCheck()]), repeat)
    size_tab = timed(lambda: run_checks(path, profile, [SizeCheck(), TabularCheck()]), repeat)
    with_ids = timed(
        lambda: run_checks(path, profile, [SizeCheck(), TabularCheck(), IdentifiersCheck()]), repeat
    )
    everything = timed(lambda: run_all(path, CheckContext(file_name=path.name, profile=profile)), repeat)
    print(f"pyarrow.csv.read_csv (floor)          p50 {floor:6.3f} s")
    print(
        f"tabular check                         p50 {tabular:6.3f} s  "
        f"ratio {tabular / floor:4.2f}x (goal <= 3x)"
    )
    print(f"size + tabular                        p50 {size_tab:6.3f} s  ratio {size_tab / floor:4.2f}x")
    print(f"size + tabular + identifiers          p50 {with_ids:6.3f} s  ratio {with_ids / floor:4.2f}x")
    print(f"run_all (all default checks, no clamd) p50 {everything:6.3f} s  ratio {everything / floor:4.2f}x")
    path.unlink()


def bench_store(workdir: Path, repeat: int, megabytes: int) -> None:
    keyring = KeyRing({"k1": secrets.token_bytes(32)}, current="k1")
    store = EncryptedStore(workdir / "store", keyring)
    piece = os.urandom(1024 * 1024)
    total = megabytes * 1024 * 1024
    write_samples, read_samples = [], []
    for attempt in range(repeat):
        file_id = f"bench-{attempt}"
        start = time.perf_counter()
        writer = store.open_writer(file_id, max_bytes=total)
        for _ in range(megabytes):
            writer.write(piece)
        stored = writer.commit()
        write_samples.append(time.perf_counter() - start)
        start = time.perf_counter()
        size, digest = store.verify(file_id, stored.wrapped_key, stored.kek_version)
        read_samples.append(time.perf_counter() - start)
        assert size == total and digest == stored.sha256
        store.delete(file_id)
    mb = total / 1e6
    write, read = statistics.median(write_samples), statistics.median(read_samples)
    print(
        f"encrypt+store {megabytes} MiB (incl. fsync) p50 {write:6.2f} s  "
        f"{mb / write:7.1f} MB/s (goal >= 100)"
    )
    print(f"decrypt+verify {megabytes} MiB              p50 {read:6.2f} s  {mb / read:7.1f} MB/s")


def bench_http_upload(workdir: Path, megabytes: int) -> None:
    import subprocess

    import httpx

    from tests.harness.ports import free_port
    from tests.harness.process import ServiceProcess

    governance = str(Path(sys.executable).parent / "governance")
    profile = (ROOT / "policies" / "output_checks.toml").read_text()
    limit = (megabytes + 64) * 1024 * 1024
    profile = profile.replace("max_file_bytes = 104_857_600", f"max_file_bytes = {limit}")
    profile = profile.replace("max_request_bytes = 524_288_000", f"max_request_bytes = {limit}")
    (workdir / "profile.toml").write_text(profile)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOVERNANCE_")}
    env.update(
        GOVERNANCE_ENV="test",
        GOVERNANCE_DATABASE_URL=f"sqlite:///{workdir / 'bench.db'}",
        GOVERNANCE_OUTPUT_STORE_DIR=str(workdir / "http-store"),
        GOVERNANCE_RISK_PROFILE_FILE=str(workdir / "profile.toml"),
        GOVERNANCE_LOG_LEVEL="WARNING",
    )
    for args in (["db", "upgrade"], ["demo", "seed"]):
        subprocess.run([governance, *args], env=env, check=True, capture_output=True)
    token = (
        subprocess.run(
            [governance, "token", "create", "--username", "alice"],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    data = workdir / "upload.bin"
    piece = os.urandom(1024 * 1024)
    with data.open("wb") as out:
        for _ in range(megabytes):
            out.write(piece)
    server = ServiceProcess(
        "governance", [governance, "serve", "--port", str(port)], log_path=workdir / "serve.log", env=env
    )
    server.start()
    url = f"http://127.0.0.1:{port}"
    try:
        server.wait_ready(lambda: httpx.get(f"{url}/readyz").status_code == 200, timeout=60, what="readyz")
        assert server.pid is not None
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=url, headers=headers, timeout=600) as client:
            created = client.post(
                "/api/v1/output-requests", json={"project": "diabetes-outcomes", "title": "bench"}
            )
            request_id = created.json()["id"]
            before = _vm_hwm_mb(server.pid)
            with data.open("rb") as handle:
                start = time.perf_counter()
                response = client.post(
                    f"/api/v1/output-requests/{request_id}/files",
                    data={"context": "bench", "controls": "bench"},
                    files={"file": ("upload.bin", handle, "application/octet-stream")},
                )
                elapsed = time.perf_counter() - start
            assert response.status_code == 201, response.text
            assert response.json()["size"] == megabytes * 1024 * 1024
        after = _vm_hwm_mb(server.pid)
    finally:
        server.stop()
        data.unlink(missing_ok=True)
    print(
        f"HTTP upload {megabytes} MiB (multipart -> encrypt -> store) {elapsed:6.2f} s  "
        f"{megabytes * 1.048576 / elapsed:7.1f} MB/s (goal >= 100)"
    )
    print(f"server peak RSS (VmHWM): {before:.0f} MB before the upload, {after:.0f} MB after (goal <= 200)")


def _vm_hwm_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--store-mb", type=int, default=1024)
    parser.add_argument("--skip-tabular", action="store_true")
    parser.add_argument("--http", action="store_true", help="also measure the upload through the HTTP API")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-outputs-") as tmp:
        workdir = Path(tmp)
        # Storage first, so that its peak RSS is not hidden by the table benchmark's.
        bench_store(workdir, max(1, min(args.repeat, 3)), args.store_mb)
        print(f"peak RSS after storage benchmark: {peak_rss_mb():.0f} MB (goal <= 200)")
        if args.http:
            bench_http_upload(workdir, args.store_mb)
        if not args.skip_tabular:
            bench_tabular(workdir, args.repeat)
            print(f"peak RSS after tabular benchmark: {peak_rss_mb():.0f} MB (the table is held in memory)")


if __name__ == "__main__":
    main()
