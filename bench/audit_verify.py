"""How fast the audit log verifies, against the floor of hashing the same canonical bytes with hashlib.

    .venv/bin/python -m bench.audit_verify [--events 1000000] [--chunk 50000]

Three numbers, measured in the same run and interleaved chunk by chunk so a busy machine slows all
of them alike:

* floor        -- ``sha256(prev || canonical)`` over canonical bytes already in memory: no checks.
* verify_chain -- the database path: events as mappings (UUID objects, datetimes), re-encoded,
                  hashed, linked, checkpoints checked (one every 1,000 events).
* verify_export-- the offline path: a JSON Lines export read from disk, checked line by line.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402

from governance.audit.chain import GENESIS, canonical_bytes, link  # noqa: E402
from governance.audit.checkpoints import Checkpoint, key_id_for, sign_checkpoint  # noqa: E402
from governance.audit.export_format import verify_export, write_export  # noqa: E402
from governance.audit.verify import verify_chain  # noqa: E402

CHECKPOINT_EVERY = 1000
T0 = datetime(2025, 1, 6, 8, 0, tzinfo=UTC)
ACTIONS: list[tuple[str, str, dict[str, Any]]] = [
    ("project.approve", "project", {"from": "submitted", "to": "approved", "approvals": 2}),
    ("launch.decide", "launch_decision", {"allowed": True, "profile": "standard", "expires_in_s": 28800}),
    ("grant.revoke", "grant", {"reason": "project closed", "dataset": "hospital-episodes"}),
    (
        "output.review",
        "output_request",
        {"file": "table_3.csv", "vote": "approve", "checks": ["threshold", "dof"]},
    ),
    ("user.login", "user", {}),
]
USERS = [
    (str(uuid.UUID(int=7 + i)), name) for i, name in enumerate(["alice", "sam", "stella", "olivia", "aud"])
]
PROJECTS = [str(uuid.UUID(int=900 + i)) for i in range(4)]


def make_event(seq: int) -> dict[str, Any]:
    action, object_type, summary = ACTIONS[seq % len(ACTIONS)]
    actor_id, username = USERS[seq % len(USERS)]
    return {
        "seq": seq,
        "id": uuid.UUID(int=(seq * 2654435761) % (1 << 122) | (1 << 126)),
        "occurred_at": T0 + timedelta(microseconds=seq * 734_281),
        "actor_id": actor_id,
        "actor_username": username,
        "action": action,
        "object_type": object_type,
        "object_id": str(uuid.UUID(int=seq * 31 + 5)),
        "project_id": PROJECTS[seq % len(PROJECTS)] if seq % 3 else None,
        "outcome": "denied" if seq % 17 == 0 else "success",
        "summary": {**summary, "n": seq % 1000},
        "request_id": f"req-{seq:012x}" if seq % 5 else None,
        "source": "api",
    }


def sealed_chunks(total: int, chunk: int) -> Iterator[list[dict[str, Any]]]:
    """The log, sealed, one chunk of events (with chain fields) at a time; deterministic."""
    prev = GENESIS
    for start in range(1, total + 1, chunk):
        events = [make_event(seq) for seq in range(start, min(start + chunk, total + 1))]
        for event, (index, prev_hash, hash_) in zip(events, link(events, prev, start), strict=True):
            event.update(chain_index=index, prev_hash=prev_hash, hash=hash_)
        prev = events[-1]["hash"]
        yield events


def timed(fn: Any, *args: Any, **kwargs: Any) -> tuple[float, Any]:
    gc.collect()
    started = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - started, result


def floor(canonicals: list[bytes], prev_hex: str) -> bytes:
    prev, sha256 = bytes.fromhex(prev_hex), hashlib.sha256
    for canonical in canonicals:
        prev = sha256(prev + canonical).digest()
    return prev


def encode_only(events: list[dict[str, Any]]) -> int:
    return sum(len(canonical_bytes(e)) for e in events)


def verify_file(path: Path) -> Any:
    with path.open("rb", buffering=1 << 20) as fp:
        return verify_export(fp, None)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--chunk", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=2, help="runs per chunk; the best of each is kept")
    args = parser.parse_args()
    total, chunk = args.events, args.chunk
    key = Ed25519PrivateKey.generate()
    key_id = key_id_for(key.public_key())
    keys = {key_id: key.public_key()}
    checkpoints: list[Checkpoint] = []
    best: dict[str, float] = {"floor": 0.0, "encode": 0.0, "chain": 0.0, "export": 0.0}
    export_bytes = 0
    workdir = Path(tempfile.mkdtemp(prefix="audit-bench-"))
    export = workdir / "range.jsonl"
    print(f"{total:,} events in chunks of {chunk:,}, checkpoint every {CHECKPOINT_EVERY:,} ...", flush=True)
    for events in sealed_chunks(total, chunk):
        first, last, prev = events[0]["chain_index"], events[-1]["chain_index"], events[0]["prev_hash"]
        for event in events:
            if event["chain_index"] % CHECKPOINT_EVERY == 0 or event["chain_index"] == total:
                checkpoints.append(sign_checkpoint(key, key_id, event["chain_index"], event["hash"], T0))
        with export.open(
            "wb", buffering=1 << 20
        ) as fp:  # a range export, anchored by the checkpoint before it
            write_export(events, checkpoints, keys, fp, start_index=first, end_index=last)
        export_bytes += export.stat().st_size
        canonicals = [canonical_bytes(e) for e in events]
        runs: dict[str, list[float]] = {name: [] for name in best}
        for _ in range(args.repeat):  # interleaved, so load changes hit every measurement alike
            seconds, head = timed(floor, canonicals, prev)
            assert head.hex() == events[-1]["hash"]
            runs["floor"].append(seconds)
            seconds, report = timed(
                verify_chain,
                events,
                checkpoints,
                keys,
                start_index=first,
                expected_prev_hash=prev,
                end_index=last,
            )
            assert report.ok and report.checked == len(events), report
            runs["chain"].append(seconds)
            seconds, report = timed(verify_file, export)
            assert report.ok and report.checked == len(events) and report.head_hash == events[-1]["hash"], (
                report
            )
            runs["export"].append(seconds)
            runs["encode"].append(timed(encode_only, events)[0])
        for name, values in runs.items():
            best[name] += min(values)
    export.unlink()
    workdir.rmdir()

    def line(label: str, name: str) -> str:
        share = "" if name in ("floor", "encode") else f"   {best['floor'] / best[name]:6.1%} of the floor"
        return f"{label:<42}{total / best[name]:>12,.0f} events/s{share}"

    print(f"{total:,} events, {len(checkpoints):,} checkpoints, Python {sys.version.split()[0]}")
    print(f"export size: {export_bytes / total:,.0f} bytes per event")
    print(line("floor: sha256(prev || canonical) only", "floor"))
    print(line("canonical_bytes only", "encode"))
    print(line("verify_chain (mappings, as from the DB)", "chain"))
    print(line("verify_export (file on disk)", "export"))


if __name__ == "__main__":
    main()
