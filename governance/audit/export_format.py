"""Audit export: a JSON Lines file an auditor can verify offline, without trusting the server.

Layout (version 1), one JSON value per line, UTF-8 (in fact ASCII):

1. header     ``{"format":"five-safes-audit-export","version":1,"range":{"start":S,"end":E|null},
               "prev_hash":<hash before S>,"exported_at":<RFC 3339>,
               "public_keys":[{key_id,algorithm,public_key}]}``
2. checkpoints, one per line: ``{"checkpoint":{chain_index,hash,created_at,key_id,signature}}``
3. events, one per line: ``{"hash":H,"prev_hash":P,"event":<canonical_bytes(event)>}`` -- the event object
   is the canonical encoding itself, so a verifier hashes the bytes of the line without re-encoding.
4. end line   ``{"end":{"last_index":N|null,"events":count,"head":<hash of N>|null}}``

Events covered by a checkpoint are checked on their bytes; events after the last checkpoint are also
parsed and re-encoded, so every line that counts as verified is exactly what the sealer produced.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from binascii import hexlify
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import IO, Any, Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from governance.audit.chain import GENESIS, canonical_bytes, format_timestamp, is_hash
from governance.audit.checkpoints import (
    Checkpoint,
    parse_public_key,
    parse_timestamp,
    publish_public_key,
)
from governance.audit.verify import ChainWalk, VerifyReport

FORMAT: Final = "five-safes-audit-export"
VERSION: Final = 1
_HEADER_KEYS: Final = frozenset({"format", "version", "range", "prev_hash", "exported_at", "public_keys"})
_esc: Final = json.encoder.encode_basestring_ascii
# Byte layout of an event line whose hashes are well formed: the fast path checks it in place.
_A: Final = b'{"hash":"'  # [0:9], hash at [9:73]
_B: Final = b'","prev_hash":"'  # [73:88], prev_hash at [88:152]
_C: Final = b'","event":{"chain_index":'  # [152:177], the event object starts at 162
_END: Final = b"}\n"


def _dumps(value: object) -> bytes:
    return (
        json.dumps(value, separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode("ascii") + b"\n"
    )


def event_line(hash_: str, prev_hash: str, canonical: bytes) -> bytes:
    return b'{"hash":%s,"prev_hash":%s,"event":%s}\n' % (
        _esc(hash_).encode("ascii"),
        _esc(prev_hash).encode("ascii"),
        canonical,
    )


def write_export(
    events: Iterable[Mapping[str, Any]],
    checkpoints: Sequence[Checkpoint],
    public_keys: Mapping[str, Ed25519PublicKey],
    fp: IO[bytes],
    *,
    start_index: int = 1,
    end_index: int | None = None,
    prev_hash: str | None = None,
    exported_at: datetime | None = None,
) -> int:
    """Write sealed events (chain_index order, from start_index) and the checkpoints in range; returns
    the number of events written. ``prev_hash`` defaults to GENESIS at 1, else the first event's."""
    stream = iter(events)
    first = next(stream, None)
    if prev_hash is None:
        prev_hash = GENESIS if start_index == 1 or first is None else first["prev_hash"]
    if not is_hash(prev_hash):
        raise ValueError("prev_hash must be 64 lowercase hex digits")
    header = {
        "format": FORMAT,
        "version": VERSION,
        "range": {"start": start_index, "end": end_index},
        "prev_hash": prev_hash,
        "exported_at": format_timestamp(exported_at or datetime.now(UTC)),
        "public_keys": [publish_public_key(key) for _, key in sorted(public_keys.items())],
    }
    fp.write(_dumps(header))
    for cp in sorted(checkpoints, key=lambda c: c.chain_index):
        if cp.chain_index >= start_index - 1 and (end_index is None or cp.chain_index <= end_index):
            fp.write(_dumps({"checkpoint": cp.to_json()}))
    count, last_index, head = 0, None, None
    if first is not None:
        for event in itertools.chain((first,), stream):
            stored, prev = event["hash"], event["prev_hash"]
            if not isinstance(stored, str) or not isinstance(prev, str):
                raise ValueError(f"event {event.get('chain_index')!r} is not sealed")
            fp.write(event_line(stored, prev, canonical_bytes(event)))
            count, last_index, head = count + 1, event["chain_index"], stored
    fp.write(_dumps({"end": {"last_index": last_index, "events": count, "head": head}}))
    return count


def _failed(problem: str, *, keys_trusted: bool = True, index: int | None = None) -> VerifyReport:
    return VerifyReport(
        ok=False,
        checked=0,
        first_bad_index=index,
        problem=problem,
        last_checkpoint_verified=None,
        keys_trusted=keys_trusted,
    )


def _as_bytes(lines: Iterable[bytes] | Iterable[str]) -> Iterator[bytes]:
    """Lines as bytes; binary input is passed through untouched (a wrapper would cost more per line
    than the checks do)."""
    stream: Iterator[bytes | str] = iter(lines)
    try:
        first = next(stream, b"")
    except UnicodeDecodeError:
        return iter((b"\xff not UTF-8 text",))
    if isinstance(first, bytes):
        return itertools.chain((first,), stream)  # type: ignore[arg-type]
    return _encoded(first, stream)


def _encoded(first: str, rest: Iterator[bytes | str]) -> Iterator[bytes]:
    try:
        yield first.encode("utf-8", "surrogateescape")
        for line in rest:
            yield line if isinstance(line, bytes) else line.encode("utf-8", "surrogateescape")
    except UnicodeDecodeError:
        yield b"\xff not UTF-8 text"


def parse_header(line: bytes) -> dict[str, Any] | str:
    """The header as a dict, or a sentence saying why it is not one."""
    if not line:
        return "not an audit export: the file is empty"
    try:
        header = json.loads(line)
    except ValueError:
        return "not an audit export: the first line is not a JSON header"
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        return f"not an audit export: the header does not say format {FORMAT!r}"
    if header.get("version") != VERSION:
        return f"unsupported export version {header.get('version')!r} (this verifier reads version {VERSION})"
    if set(header) != _HEADER_KEYS:
        return f"the export header must have exactly the fields {sorted(_HEADER_KEYS)}"
    span = header["range"]
    if (
        not isinstance(span, dict)
        or set(span) != {"start", "end"}
        or type(span["start"]) is not int
        or span["start"] < 1
        or (span["end"] is not None and type(span["end"]) is not int)
    ):
        return "the export header has an invalid range"
    if not is_hash(header["prev_hash"]):
        return "the export header's prev_hash is not a valid hash"
    try:
        parse_timestamp(str(header["exported_at"]))
    except ValueError:
        return "the export header's exported_at is not an RFC 3339 UTC timestamp"
    if not isinstance(header["public_keys"], list):
        return "the export header's public_keys is not a list"
    return header


def _keys(
    header: dict[str, Any], trusted: Sequence[Mapping[str, Any]] | None, warnings: list[str]
) -> dict[str, Ed25519PublicKey] | str:
    in_file: dict[str, Ed25519PublicKey] = {}
    for n, entry in enumerate(header["public_keys"], 1):
        try:
            key_id, key = parse_public_key(entry)
        except ValueError as exc:
            return f"public key {n} in the export header is invalid: {exc}"
        in_file[key_id] = key
    if trusted is None:
        warnings.append(
            "the public keys were taken from the file itself, not independently trusted: "
            "whoever could rewrite the file could also have re-signed it"
        )
        return in_file
    keys: dict[str, Ed25519PublicKey] = {}
    for n, entry in enumerate(trusted, 1):
        try:
            key_id, key = parse_public_key(entry)
        except ValueError as exc:
            return f"trusted public key {n} is invalid: {exc}"
        keys[key_id] = key
    warnings.extend(
        f"the file lists key id {key_id!r}, which is not among the trusted keys"
        for key_id in in_file
        if key_id not in keys
    )
    return keys


def verify_export(
    fp: Iterable[bytes] | Iterable[str],
    trusted_public_keys: Sequence[Mapping[str, Any]] | None = None,
    *,
    extra_checkpoints: Sequence[Checkpoint] = (),
    counted_before: int = 0,
) -> VerifyReport:
    """Verify an export read line by line: best a file opened in binary mode with a large buffer,
    ``open(path, "rb", buffering=1 << 20)`` (line reads from the default 8 KiB buffer cost more than
    the checks do).

    ``trusted_public_keys`` are published keys obtained independently of the file; None trusts the
    keys in the file and says so in the report. ``extra_checkpoints`` (e.g. fetched from the service
    or a witness) extend the file's own. Bad content never raises: the report names the problem.
    ``counted_before`` is for verifying the tail of a file on its own (parallel.py): the end line then
    counts that many events more than the lines read.
    """
    lines = _as_bytes(fp)
    header = parse_header(next(lines, b""))
    keys_trusted = trusted_public_keys is not None
    if isinstance(header, str):
        return _failed(header, keys_trusted=keys_trusted)
    warnings: list[str] = []
    keys = _keys(header, trusted_public_keys, warnings)
    if isinstance(keys, str):
        return _failed(keys, keys_trusted=keys_trusted)

    checkpoints = list(extra_checkpoints)
    lineno, line = 1, next(lines, b"")
    while line.startswith(b'{"checkpoint":'):
        lineno += 1
        try:
            data = json.loads(line)
            if set(data) != {"checkpoint"}:
                raise ValueError("a checkpoint line holds only the checkpoint")
            checkpoints.append(Checkpoint.from_json(data["checkpoint"]))
        except (ValueError, TypeError) as exc:
            return _failed(f"the checkpoint on line {lineno} is malformed: {exc}", keys_trusted=keys_trusted)
        line = next(lines, b"")

    walk = ChainWalk(checkpoints, keys, start=header["range"]["start"], end=header["range"]["end"])
    walk.keys_trusted, walk.warnings = keys_trusted, warnings
    if not walk.begin(header["prev_hash"]):
        return walk.finish()
    if walk.start > 1 and walk.last_cp != walk.start - 1:
        walk.warnings.append(
            "the range start is not anchored: only the file's header vouches for the hash before "
            f"event {walk.start}"
        )
    assert walk.prev_hex is not None
    end_line = _walk_lines(walk, line, lines, lineno + 1)
    if walk.failed:
        return walk.finish()
    last = walk.expected - 1
    if end_line is None:
        if walk.check_pending_checkpoints():
            after = f"after event {last}" if walk.checked else "before any event"
            walk.fail(last + 1, f"export truncated: the file ends {after}, without its end line")
        return walk.finish()
    expected_end = {
        "end": {
            "last_index": last if walk.checked else None,
            "events": walk.checked + counted_before,
            "head": walk.prev_hex if walk.checked else None,
        }
    }
    if not walk.check_pending_checkpoints():
        return walk.finish()
    if end_line not in (_dumps(expected_end), _dumps(expected_end)[:-1]):
        said = end_line[:300].decode("ascii", "replace").strip()
        walk.fail(None, f"the end line does not match the events in the file (it reads {said})")
    else:
        for extra in lines:
            if extra.strip():
                walk.fail(None, "the file continues after its end line")
                break
    return walk.finish()


def _walk_lines(walk: ChainWalk, first: bytes, lines: Iterator[bytes], first_lineno: int) -> bytes | None:
    """Verify event lines (``first`` is the first); returns the end line, or None at the end of the file.

    Up to the last checkpoint the fast path checks the fixed byte layout and the hash link in place.
    It does not look at chain_index: any change to the hashed bytes that keeps the links intact would
    have to reach a signed head, so a checkpoint catches it; the slow path names anything else.
    """
    assert walk.prev_hex is not None
    expected, prev_b, prev_raw = walk.expected, walk.prev_hex.encode("ascii"), walk.prev_raw
    last = b""  # the last verified line
    fast_until = min(walk.signed_until, walk.stop)
    start, watch = walk.start, min(walk.next_cp, fast_until + 1)  # below `watch`: nothing but the fast path
    sha256, a, b, c, end = hashlib.sha256, _A, _B, _C, _END
    for line in itertools.chain((first,) if first else (), lines):  # chain leaves `lines` open
        if (
            expected < watch
            and line.startswith(prev_b, 88)
            and line.startswith(c, 152)
            and line.startswith(a)
            and line.startswith(b, 73)
            and line.endswith(end)
        ):
            raw = sha256(prev_raw + line[162:-2]).digest()
            hex_b = hexlify(raw)
            if line.startswith(hex_b, 9):
                expected += 1
                prev_b = hex_b
                prev_raw = raw
                last = line
                continue
        walk.expected, walk.checked = expected, expected - start
        walk.prev_hex, walk.prev_raw = prev_b.decode("ascii"), prev_raw
        walk.before_prev = last[88:152].decode("ascii") if last else None
        fast = _fast_line(line, prev_b, prev_raw) if expected <= fast_until else None
        outcome = fast or _slow_line(walk, line, lines, first_lineno + expected - start)
        if outcome is None or walk.failed:
            return None
        if not isinstance(outcome, tuple):
            return outcome
        stored, raw = outcome
        if expected == walk.next_cp:
            walk.expected, walk.checked = expected + 1, expected + 1 - start
            walk.prev_hex, walk.prev_raw = stored, raw
            if not walk.at_checkpoints(expected, stored):
                return None
            watch = min(walk.next_cp, fast_until + 1)
        expected += 1
        prev_b = stored.encode("ascii")
        prev_raw = raw
        last = line
    walk.expected, walk.checked = expected, expected - start
    walk.prev_hex, walk.prev_raw = prev_b.decode("ascii"), prev_raw
    return None


def _fast_line(line: bytes, prev_b: bytes, prev_raw: bytes) -> tuple[str, bytes] | None:
    """The fast path's checks for one line (used at checkpoints): (hash, raw digest), or None."""
    if not (
        line.startswith(prev_b, 88)
        and line.startswith(_C, 152)
        and line.startswith(_A)
        and line.startswith(_B, 73)
        and line.endswith(_END)
    ):
        return None
    raw = hashlib.sha256(prev_raw + line[162:-2]).digest()
    hex_b = hexlify(raw)
    return (hex_b.decode("ascii"), raw) if line.startswith(hex_b, 9) else None


def _later_links(lines: Iterator[bytes]) -> Iterator[tuple[object, object]]:
    for line in lines:
        try:
            data = json.loads(line)
        except ValueError:
            continue
        if isinstance(data, dict) and isinstance(data.get("event"), dict):
            yield data["event"].get("chain_index"), data.get("prev_hash")


def _slow_line(
    walk: ChainWalk, line: bytes, lines: Iterator[bytes], lineno: int
) -> tuple[str, bytes] | bytes | None:
    """Fully parse one line at ``walk.expected``: (hash, raw digest) when it is a good event, the bytes
    of the end line, or None once the walk has failed."""
    e = walk.expected
    try:
        data = json.loads(line)
    except ValueError:
        if not line.endswith(b"\n"):
            walk.check_pending_checkpoints()
            walk.fail(e, f"export truncated: the file ends in the middle of line {lineno}")
        else:
            walk.fail(
                e, f"line {lineno} is not valid JSON (garbage or a damaged line) where event {e} belongs"
            )
        return None
    if isinstance(data, dict) and set(data) == {"end"}:
        return line
    if not (
        isinstance(data, dict)
        and set(data) == {"hash", "prev_hash", "event"}
        and isinstance(data["event"], dict)
    ):
        walk.fail(e, f"line {lineno} is not an audit event where event {e} belongs")
        return None
    if e > walk.stop:
        walk.fail(e, f"the file holds events beyond the end of its range ({walk.stop})")
        return None
    event, stored, prev = data["event"], data["hash"], data["prev_hash"]
    index = event.get("chain_index")
    if index != e or type(index) is not int:
        try:
            canonical: bytes | None = canonical_bytes(event)
        except (KeyError, TypeError, ValueError):
            canonical = None
        walk.wrong_place(index, prev, stored, canonical, _later_links(lines))
        return None
    try:
        canonical = canonical_bytes(event)
    except (KeyError, TypeError, ValueError) as exc:
        walk.malformed(f"missing field {exc}" if isinstance(exc, KeyError) else str(exc))
        return None
    if prev != walk.prev_hex:
        walk.broken_link(prev, stored, canonical, _later_links(lines))
        return None
    raw = hashlib.sha256(walk.prev_raw + canonical).digest()
    if raw.hex() != stored:
        walk.fail(e, f"event {e} was modified (hash mismatch)")
        return None
    if line.rstrip(b"\r\n") + b"\n" != event_line(stored, prev, canonical):
        walk.fail(e, f"event {e} on line {lineno} is not in canonical form (the line was edited)")
        return None
    return stored, raw
