"""Verify long stretches of the log in several processes, cut at signed checkpoints.

A checkpoint signs the chain head at its index, so the events after it can be verified without the
events before it: each process verifies one stretch anchored at the checkpoint that starts it and
ending at the checkpoint that ends it; the last stretch runs to the end of the log or file.

This is only an accelerator. When a stretch fails, or the file cannot be cut cleanly, the callers
verify everything again in one pass, so the verdict (the first bad event and the sentence naming the
problem) is always exactly that of the sequential verifiers.
"""

from __future__ import annotations

import itertools
import json
import multiprocessing
import os
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any, Final

from governance.audit.checkpoints import Checkpoint, parse_public_keys
from governance.audit.verify import VerifyReport

_EVENT_PREFIX: Final = b'{"hash":"'
_INDEX_AT: Final = 177  # byte offset of the chain_index digits in an event line (see export_format.py)
_READ_BUFFER: Final = 1 << 20

Stretch = tuple[int, int | None]  # first and last event index (None: to the end)


def split_at_checkpoints(low: int, high: int, checkpoints: Sequence[Checkpoint], parts: int) -> list[int]:
    """Up to ``parts - 1`` checkpoint indices in [low, high) that cut low..high into even stretches."""
    candidates = sorted({c.chain_index for c in checkpoints if low <= c.chain_index < high})
    cuts: list[int] = []
    for k in range(1, parts):
        target = low - 1 + (high - low + 1) * k // parts
        later = [c for c in candidates if c >= target and (not cuts or c > cuts[-1])]
        if later:
            cuts.append(later[0])
    return cuts


def stretches(low: int, high: int | None, cuts: Sequence[int]) -> list[Stretch]:
    bounds = [low - 1, *cuts]
    return [(a + 1, b) for a, b in zip(bounds, [*cuts, high], strict=True)]


def _in(checkpoints: Sequence[Checkpoint], stretch: Stretch) -> list[Checkpoint]:
    first, last = stretch
    return [c for c in checkpoints if c.chain_index >= first - 1 and (last is None or c.chain_index <= last)]


def report_from_json(data: Mapping[str, Any]) -> VerifyReport:
    return VerifyReport(**{**data, "warnings": tuple(data["warnings"])})


def combine(reports: Sequence[VerifyReport]) -> VerifyReport | None:
    """One report for consecutive stretches that all verified; None when any failed."""
    if not reports or not all(r.ok for r in reports):
        return None
    warnings: list[str] = []
    for report in reports:
        warnings.extend(w for w in report.warnings if w not in warnings)
    last = reports[-1]
    return VerifyReport(
        ok=True,
        checked=sum(r.checked for r in reports),
        first_bad_index=None,
        problem=None,
        last_checkpoint_verified=next(
            (r.last_checkpoint_verified for r in reversed(reports) if r.last_checkpoint_verified is not None),
            None,
        ),
        last_index=last.last_index,
        head_hash=last.head_hash,
        unsigned_tail=last.unsigned_tail,
        keys_trusted=all(r.keys_trusted for r in reports),
        warnings=tuple(warnings),
    )


def _pool(workers: int, *, may_fork: bool = False) -> ProcessPoolExecutor:
    """Processes started by fork (instant) only when asked and this process runs no other thread;
    otherwise by spawn (a web server's threads and pooled connections must not be copied)."""
    fork = may_fork and threading.active_count() == 1 and "fork" in multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if fork else "spawn")
    return ProcessPoolExecutor(max_workers=workers, mp_context=context)


# -- the database ----------------------------------------------------------------------------------------


def _db_stretch(
    database_url: str, keys: list[dict[str, str]], stretch: Stretch, cps: list[dict[str, Any]]
) -> dict[str, Any]:
    from sqlalchemy.orm import Session

    from governance.audit.db_verify import verify_stretch
    from governance.core.db import engine_for

    checkpoints = [Checkpoint.from_json(c) for c in cps]
    with Session(engine_for(database_url)) as session:
        report = verify_stretch(session, stretch[0], stretch[1], checkpoints, parse_public_keys(keys))
    return report.to_json()


def verify_database_parallel(
    database_url: str,
    keys: list[dict[str, str]],
    low: int,
    high: int | None,
    checkpoints: Sequence[Checkpoint],
    workers: int,
) -> VerifyReport | None:
    """Verify low..high in ``workers`` processes (this one included); None when any stretch failed."""
    top = high if high is not None else max((c.chain_index for c in checkpoints), default=low)
    cuts = split_at_checkpoints(low, top, checkpoints, workers)
    if not cuts:
        return None
    parts = stretches(low, high, cuts)
    with _pool(len(parts) - 1) as pool:
        futures: list[Future[dict[str, Any]]] = [
            pool.submit(_db_stretch, database_url, keys, part, [c.to_json() for c in _in(checkpoints, part)])
            for part in parts[1:]
        ]
        first = _db_stretch(database_url, keys, parts[0], [c.to_json() for c in _in(checkpoints, parts[0])])
        reports = [report_from_json(first), *(report_from_json(f.result()) for f in futures)]
    return combine(reports)


# -- an export file ------------------------------------------------------------------------------------


def _dumps(value: object) -> bytes:
    return (
        json.dumps(value, separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode("ascii") + b"\n"
    )


_PAST_THE_EVENTS: Final = 1 << 62  # the end line and the end of the file sort after every event


def _index_of_line(line: bytes) -> int | None:
    if not line or line.startswith(b'{"end":'):
        return _PAST_THE_EVENTS
    if not line.startswith(_EVENT_PREFIX):
        return None
    end = line.find(b",", _INDEX_AT)
    digits = line[_INDEX_AT:end]
    return int(digits) if end > 0 and digits.isdigit() else None


def _line_at(fp: Any, offset: int, floor: int) -> tuple[int, int | None]:
    """(start offset, chain index) of the first line starting at or after ``offset``."""
    if offset <= floor:
        fp.seek(floor)
    else:
        fp.seek(offset - 1)
        fp.readline()  # the rest of the line ``offset`` falls in
    start = fp.tell()
    return start, _index_of_line(fp.readline())


def find_line(path: Path, floor: int, target: int) -> int | None:
    """Byte offset of the event line with chain_index ``target`` (binary search), None if not found."""
    with path.open("rb") as fp:
        lo, hi = floor, path.stat().st_size
        while lo < hi:
            mid = (lo + hi) // 2
            _, index = _line_at(fp, mid, floor)
            if index is None:
                return None  # not an event line: leave it to the sequential verifier
            if index < target:
                lo = mid + 1
            else:
                hi = mid
        start, index = _line_at(fp, lo, floor)
        return start if index == target else None


def _head_of_file(path: Path) -> tuple[dict[str, Any], list[bytes], list[Checkpoint], int] | None:
    """Header, checkpoint lines, parsed checkpoints and the offset of the first event line."""
    from governance.audit.export_format import parse_header

    with path.open("rb") as fp:
        header = parse_header(fp.readline())
        if isinstance(header, str):  # a header the sequential verifier refuses: let it say why
            return None
        lines: list[bytes] = []
        checkpoints: list[Checkpoint] = []
        while True:
            offset = fp.tell()
            line = fp.readline()
            if not line.startswith(b'{"checkpoint":'):
                return header, lines, checkpoints, offset
            try:
                checkpoints.append(Checkpoint.from_json(json.loads(line)["checkpoint"]))
            except (ValueError, KeyError, TypeError):
                return None
            lines.append(line)


def _export_stretch(
    path: str,
    trusted: list[dict[str, str]] | None,
    header: dict[str, Any],
    checkpoint_lines: list[bytes],
    stretch: Stretch,
    offset: int,
    last_stretch: bool,
) -> tuple[dict[str, Any], int]:
    """Verify one stretch as a self-contained export: a header anchored at the stretch's first
    checkpoint, the checkpoints in the stretch, the file's event lines, and an end line that the
    closing checkpoint vouches for (the last stretch reads the file to its end instead). Returns the
    report and the bytes of the file it read (the stretches must tile the file)."""
    from governance.audit.export_format import verify_export

    first, last = stretch
    checkpoints = [Checkpoint.from_json(json.loads(line)["checkpoint"]) for line in checkpoint_lines]
    file_start = header["range"]["start"]
    prev_hash = (
        header["prev_hash"]
        if first == file_start
        else next(c.hash for c in checkpoints if c.chain_index == first - 1)
    )
    end = header["range"]["end"] if last_stretch else last
    own = [
        line
        for cp, line in zip(checkpoints, checkpoint_lines, strict=True)
        if cp.chain_index >= first - 1 and (last is None or cp.chain_index <= last)
    ]
    head = [_dumps({**header, "range": {"start": first, "end": end}, "prev_hash": prev_hash}), *own]
    with Path(path).open("rb", buffering=_READ_BUFFER) as fp:
        fp.seek(offset)
        if last_stretch:  # the file's own end line, whose count includes the events before the stretch
            report = verify_export(itertools.chain(head, fp), trusted, counted_before=first - file_start)
        else:
            assert last is not None
            closing = next(c for c in checkpoints if c.chain_index == last)
            tail = _dumps({"end": {"last_index": last, "events": last - first + 1, "head": closing.hash}})
            lines = itertools.chain(head, itertools.islice(fp, last - first + 1), (tail,))
            report = verify_export(lines, trusted)
        consumed = fp.tell() - offset
    return report.to_json(), consumed


def verify_export_parallel(
    path: Path, trusted: list[dict[str, str]] | None, workers: int
) -> VerifyReport | None:
    """Verify an export file in ``workers`` processes (this one included); None when that is not possible
    (too few checkpoints, a file that cannot be cut cleanly) or when any stretch failed."""
    head = _head_of_file(path)
    if head is None:
        return None
    header, checkpoint_lines, checkpoints, events_offset = head
    span = header["range"]
    low = span.get("start")
    if type(low) is not int:
        return None
    top = max((c.chain_index for c in checkpoints), default=low)
    cuts = split_at_checkpoints(low, top, checkpoints, workers)
    parts = stretches(low, span.get("end"), cuts)
    offsets = [events_offset]
    for part in parts[1:]:
        found = find_line(path, events_offset, part[0])
        if found is None:
            return None
        offsets.append(found)
    if len(parts) < 2:
        return None
    args = [
        (str(path), trusted, header, checkpoint_lines, part, offset, n == len(parts) - 1)
        for n, (part, offset) in enumerate(zip(parts, offsets, strict=True))
    ]
    with _pool(len(parts) - 1, may_fork=True) as pool:  # reads files only: nothing to share by mistake
        futures = [pool.submit(_export_stretch, *a) for a in args[1:]]
        results = [_export_stretch(*args[0]), *(f.result() for f in futures)]
    # The stretches must tile the file: each ends exactly where the next begins.
    for (_, consumed), begin, following in zip(results, offsets, [*offsets[1:], None], strict=True):
        if following is not None and begin + consumed != following:
            return None
    return combine([report_from_json(r) for r, _ in results])


def default_workers() -> int:
    return max(1, min(os.cpu_count() or 1, 8))
