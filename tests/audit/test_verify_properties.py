"""Property tests: every kind of tampering is found, at the right index, in the database form and in
an export; untouched logs and sub-ranges verify."""

from __future__ import annotations

import io
import json
import os
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from governance.audit.chain import CANONICAL_FIELDS, GENESIS, canonical_bytes, event_hash
from governance.audit.checkpoints import Checkpoint, sign_checkpoint
from governance.audit.export_format import event_line, verify_export, write_export
from governance.audit.verify import VerifyReport, verify_chain
from tests.audit.factories import (
    KEY,
    KEY_ID,
    OTHER_KEY,
    OTHER_PUBLIC_KEYS,
    PUBLIC_KEYS,
    PUBLISHED,
    any_values,
    event_lists,
    events,
    export_bytes,
    hex64,
    plain_logs,
    seal_log,
)

settings.register_profile(
    "audit",
    max_examples=int(os.environ.get("AUDIT_MAX_EXAMPLES", "100")),  # raise it for a deeper search
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
audit = settings.get_profile("audit")
Row = dict[str, Any]


def sealed(data: st.DataObject, log_events: list[Row]) -> tuple[list[Row], list[Checkpoint]]:
    store = seal_log(log_events, batch=data.draw(st.integers(1, 8)), every_n=data.draw(st.integers(1, 8)))
    return [dict(row) for row in store.sealed()], list(store.checkpoints)


def reads_differently(row: Row, field: str, new: object) -> bool:
    if field in ("prev_hash", "hash"):
        return new != row[field] or type(new) is not type(row[field])
    try:
        return canonical_bytes({**row, field: new}) != canonical_bytes(row)
    except (KeyError, TypeError, ValueError):
        return True


def forged_between(data: st.DataObject, rows: list[Row], k: int) -> Row:
    """An event slipped in just before event k, the ways an intruder might make it: a copy of its
    predecessor, or new content whose chain_index, prev_hash and hash are each right, near or wrong."""
    if k > 1 and data.draw(st.booleans()):
        event("insert: a copy of the previous event")
        return dict(rows[k - 2])
    hashes = [GENESIS] + [r["hash"] for r in rows]
    forged: Row = {**data.draw(events), "seq": data.draw(st.integers(1, 10**6))}
    forged["chain_index"] = data.draw(st.sampled_from([k, k - 1, k + 1]) | st.integers(-2, len(rows) + 3))
    forged["prev_hash"] = data.draw(
        st.sampled_from([hashes[k - 1], hashes[max(k - 2, 0)]]) | st.sampled_from(hashes) | hex64
    )
    consistent = data.draw(st.booleans())
    forged["hash"] = event_hash(forged["prev_hash"], forged) if consistent else data.draw(hex64)
    index = forged["chain_index"]
    offset = f"{index - k:+d}" if index in (k - 1, k, k + 1) else "other"
    linked = forged["prev_hash"] == hashes[k - 1]
    event(f"insert: index {offset}, linked {linked}, self-consistent {consistent}")
    return forged


def near(old: object) -> st.SearchStrategy[Any]:
    """Values one small step away from ``old``: what a careful forger would write."""
    if isinstance(old, bool) or old is None:
        return st.just("x")
    if isinstance(old, int):
        return st.sampled_from([old + 1, old - 1, old * 10])
    if isinstance(old, str) and len(old) == 64:  # a hash: change one hex digit
        return st.integers(0, 63).map(lambda i: old[:i] + ("1" if old[i] == "0" else "0") + old[i + 1 :])
    if isinstance(old, str):
        return st.sampled_from([old + "x", old.upper() + "!", old[:-1]])
    if isinstance(old, datetime):
        return st.sampled_from([old + timedelta(microseconds=1), old - timedelta(days=1)])
    if isinstance(old, dict):
        return st.sampled_from([{**old, "forged": True}, {}])
    return st.just(str(old))


ACTIONS = ["modify", "delete", "insert", "swap", "truncate"]


def tamper(data: st.DataObject, rows: list[Row], action: str) -> tuple[str, int]:
    """Apply one random change of the kind ``action`` in place; returns (what was done, index where it
    must be reported)."""
    n = len(rows)
    k = data.draw(st.integers(1, n))
    if action == "modify":
        field = data.draw(st.sampled_from((*CANONICAL_FIELDS, "prev_hash", "hash")))
        new = data.draw(near(rows[k - 1][field]) | any_values)
        assume(reads_differently(rows[k - 1], field, new))
        rows[k - 1][field] = new
        action = f"modify {field}"
    elif action == "delete":
        del rows[k - 1]
    elif action == "insert":
        rows.insert(k - 1, forged_between(data, rows, k))
    elif action == "swap":
        k, j = sorted(data.draw(st.lists(st.integers(1, n), min_size=2, max_size=2, unique=True)))
        rows[k - 1], rows[j - 1] = rows[j - 1], rows[k - 1]
    else:
        del rows[k - 1 :]
    return f"{action} at {k}", k


def assert_found(report: VerifyReport, what: str, k: int) -> None:
    event(what.split(" at ")[0])
    event(f"problem: {(report.problem or '').split(' ')[0]} ... {(report.problem or '')[-25:]}")
    assert not report.ok, what
    assert report.first_bad_index == k, (what, report)
    assert report.problem


@audit
@given(log_events=event_lists, data=st.data())
def test_untouched_log_verifies(log_events: list[Row], data: st.DataObject) -> None:
    rows, checkpoints = sealed(data, log_events)
    report = verify_chain(rows, checkpoints, PUBLIC_KEYS)
    assert report.ok, report
    assert (report.checked, report.last_index, report.head_hash) == (len(rows), len(rows), rows[-1]["hash"])
    assert report.last_checkpoint_verified == len(rows)
    assert report.unsigned_tail == 0 and report.warnings == ()


@pytest.mark.parametrize("action", ACTIONS)
@audit
@given(log_events=plain_logs, data=st.data())
def test_any_single_tampering_is_found_at_its_index(
    action: str, log_events: list[Row], data: st.DataObject
) -> None:
    rows, checkpoints = sealed(data, log_events)
    what, k = tamper(data, rows, action)
    assert_found(verify_chain(rows, checkpoints, PUBLIC_KEYS), what, k)


@audit
@given(log_events=event_lists, data=st.data())
def test_sub_ranges_verify_and_tampering_inside_them_is_found(
    log_events: list[Row], data: st.DataObject
) -> None:
    rows, checkpoints = sealed(data, log_events)
    a, b = sorted(data.draw(st.lists(st.integers(1, len(rows)), min_size=2, max_size=2)))
    prev = rows[a - 2]["hash"] if a > 1 else None
    part = rows[a - 1 : b]
    report = verify_chain(part, checkpoints, PUBLIC_KEYS, start_index=a, expected_prev_hash=prev, end_index=b)
    assert report.ok and report.checked == b - a + 1, report
    tail = verify_chain(rows[a - 1 :], checkpoints, PUBLIC_KEYS, start_index=a, end_index=b)
    assert tail.ok and tail.last_index == b, tail  # stops at end_index; unanchored start is only a warning
    assert any("not anchored" in w for w in tail.warnings) == (
        a > 1 and all(c.chain_index != a - 1 for c in checkpoints)
    )
    k = data.draw(st.integers(a, b))
    field = data.draw(st.sampled_from(CANONICAL_FIELDS[2:]))
    new = data.draw(any_values)
    assume(reads_differently(part[k - a], field, new))
    part[k - a] = {**part[k - a], field: new}
    report = verify_chain(part, checkpoints, PUBLIC_KEYS, start_index=a, expected_prev_hash=prev, end_index=b)
    assert_found(report, f"modify {field} at {k} in {a}-{b}", k)


@audit
@given(log_events=event_lists, data=st.data())
def test_a_range_beyond_the_log_does_not_exist(log_events: list[Row], data: st.DataObject) -> None:
    rows, checkpoints = sealed(data, log_events)
    start = len(rows) + data.draw(st.integers(1, 5))
    report = verify_chain([], checkpoints, PUBLIC_KEYS, start_index=start, end_index=start + 10)
    assert not report.ok and report.problem == f"range {start}-{start + 10} does not exist"
    short = verify_chain(rows, checkpoints, PUBLIC_KEYS, end_index=len(rows) + 3)
    assert_found(short, "range past the end", len(rows) + 1)
    assert short.problem is not None and "log truncated" in short.problem


@audit
@given(log_events=event_lists, data=st.data())
def test_bad_checkpoints_are_named(log_events: list[Row], data: st.DataObject) -> None:
    rows, checkpoints = sealed(data, log_events)
    i = data.draw(st.integers(0, len(checkpoints) - 1))
    cp = checkpoints[i]
    change = data.draw(st.sampled_from(["signature", "hash", "time", "index", "other signer", "head"]))
    if change == "signature":
        sig = bytearray(cp.signature.encode())
        sig[data.draw(st.integers(0, 84))] ^= 1
        bad = replace(cp, signature=sig.decode())
    elif change == "hash":
        bad = replace(cp, hash=rows[0]["hash"] if cp.chain_index != 1 else GENESIS)
    elif change == "time":
        bad = replace(cp, created_at=cp.created_at.replace(year=2030))
    elif change == "index":
        bad = replace(cp, chain_index=cp.chain_index - 1)
        assume(bad.chain_index >= 1)
    elif change == "other signer":
        bad = sign_checkpoint(OTHER_KEY, KEY_ID, cp.chain_index, cp.hash, cp.created_at)
    else:  # validly signed, but for a head that is not in the log
        bad = sign_checkpoint_for_other_head(cp)
    checkpoints[i] = bad
    report = verify_chain(rows, checkpoints, PUBLIC_KEYS)
    assert_found(report, change, bad.chain_index)
    expected = "does not match the log" if change == "head" else "has a bad signature"
    assert report.problem is not None and expected in report.problem, report


def sign_checkpoint_for_other_head(cp: Checkpoint) -> Checkpoint:
    return sign_checkpoint(KEY, KEY_ID, cp.chain_index, "f" * 64, cp.created_at)


@audit
@given(log_events=event_lists, data=st.data())
def test_an_unknown_key_is_named(log_events: list[Row], data: st.DataObject) -> None:
    rows, checkpoints = sealed(data, log_events)
    report = verify_chain(rows, checkpoints, OTHER_PUBLIC_KEYS)
    assert_found(report, "wrong key", checkpoints[0].chain_index)
    assert (
        report.problem == f"checkpoint at {checkpoints[0].chain_index} is signed by unknown key id {KEY_ID!r}"
    )


@audit
@given(log_events=event_lists, data=st.data())
def test_an_appended_tail_is_reported_as_unsigned(log_events: list[Row], data: st.DataObject) -> None:
    """Events after the last checkpoint are protected by the chain alone; the report says how many."""
    rows, checkpoints = sealed(data, log_events)
    rows.append(forged_after(data, rows))
    report = verify_chain(rows, checkpoints, PUBLIC_KEYS)
    assert report.ok and report.unsigned_tail == 1 and report.last_checkpoint_verified == len(rows) - 1
    assert any("not yet covered by a signed checkpoint" in w for w in report.warnings)


def forged_after(data: st.DataObject, rows: list[Row]) -> Row:
    forged: Row = {
        **data.draw(events),
        "seq": 10**6,
        "chain_index": len(rows) + 1,
        "prev_hash": rows[-1]["hash"],
    }
    forged["hash"] = event_hash(rows[-1]["hash"], forged)
    return forged


# --- the same, through an export file ----------------------------------------------------------------


def export_lines(data: st.DataObject, log_events: list[Row]) -> tuple[list[bytes], list[Row], int]:
    """The export's lines, the sealed rows, and the index of the first event line."""
    store = seal_log(log_events, batch=data.draw(st.integers(1, 8)), every_n=data.draw(st.integers(1, 8)))
    lines = io.BytesIO(export_bytes(store)).readlines()
    first = 1 + len(store.checkpoints)
    return lines, [dict(r) for r in store.sealed()], first


def as_line(row: Row) -> bytes:
    """How a tampered row would be written into the file (plain JSON when it no longer encodes)."""
    try:
        return event_line(row["hash"], row["prev_hash"], canonical_bytes(row))
    except (KeyError, TypeError, ValueError):
        event = {
            k: (str(v) if not isinstance(v, (str, int, dict, list, type(None))) else v)
            for k, v in row.items()
        }
        chain = {"hash": event.pop("hash", None), "prev_hash": event.pop("prev_hash", None)}
        return json.dumps({**chain, "event": event}, separators=(",", ":")).encode() + b"\n"


def verify_bytes(data: bytes, trusted: list[dict[str, str]] | None = PUBLISHED) -> VerifyReport:
    return verify_export(io.BytesIO(data), trusted)


@audit
@given(log_events=event_lists, data=st.data())
def test_untouched_export_verifies(log_events: list[Row], data: st.DataObject) -> None:
    lines, rows, _ = export_lines(data, log_events)
    report = verify_bytes(b"".join(lines))
    assert report.ok and report.keys_trusted, report
    assert (report.checked, report.head_hash, report.last_checkpoint_verified) == (
        len(rows),
        rows[-1]["hash"],
        len(rows),
    )
    untrusted = verify_bytes(b"".join(lines), None)
    assert untrusted.ok and not untrusted.keys_trusted
    assert any("not independently trusted" in w for w in untrusted.warnings)
    as_text = verify_export(io.StringIO(b"".join(lines).decode()), PUBLISHED)
    assert as_text.ok and as_text.checked == len(rows)


@pytest.mark.parametrize("action", ACTIONS)
@audit
@given(log_events=plain_logs, data=st.data())
def test_any_single_tampering_of_an_export_is_found_at_its_index(
    action: str, log_events: list[Row], data: st.DataObject
) -> None:
    lines, rows, first = export_lines(data, log_events)
    what, k = tamper(data, rows, action)
    tampered = [*lines[:first], *(as_line(r) for r in rows), lines[-1]]
    assume(tampered != lines)
    assert_found(verify_bytes(b"".join(tampered)), what, k)


@audit
@given(log_events=event_lists, data=st.data())
def test_a_flipped_byte_anywhere_is_found_and_never_raises(
    log_events: list[Row], data: st.DataObject
) -> None:
    lines, _, _ = export_lines(data, log_events)
    n = data.draw(st.integers(0, len(lines) - 1))
    column = data.draw(st.integers(0, len(lines[n]) - 1))
    at = sum(len(line) for line in lines[:n]) + column
    blob = bytearray(b"".join(lines))
    blob[at] ^= data.draw(st.sampled_from([1, 0x20, 0x80]) | st.integers(1, 255))
    report = verify_bytes(bytes(blob), data.draw(st.sampled_from([PUBLISHED, None])))
    stamp = lines[0].index(b'"exported_at":"') + len(b'"exported_at":"')
    if not (n == 0 and stamp <= column < stamp + 27):  # the export time is the one thing nothing vouches for
        assert not report.ok, (at, bytes(blob[max(0, at - 20) : at + 20]))
        assert report.problem


@audit
@given(log_events=event_lists, data=st.data())
def test_a_cut_file_is_found(log_events: list[Row], data: st.DataObject) -> None:
    lines, _, _ = export_lines(data, log_events)
    blob = b"".join(lines)
    cut = data.draw(st.integers(0, len(blob) - 2))  # only the final newline may go
    report = verify_bytes(blob[:cut])
    assert not report.ok and report.problem, cut
    assert verify_bytes(blob[:-1]).ok


@audit
@given(log_events=event_lists, data=st.data())
def test_garbage_lines_are_named(log_events: list[Row], data: st.DataObject) -> None:
    lines, rows, first = export_lines(data, log_events)
    k = data.draw(st.integers(1, len(rows) + 1))
    junk = data.draw(
        st.sampled_from([b"\n", b"garbage\n", b"{}\n", b"[1,2]\n", b'{"checkpoint":{}}\n', b"\xff\xfe\n"])
    )
    at = first + k - 1
    report = verify_bytes(b"".join([*lines[:at], junk, *lines[at:]]))
    assert not report.ok and report.problem
    if junk != b'{"checkpoint":{}}\n' or k > 1:
        assert report.first_bad_index == k, report


@audit
@given(log_events=event_lists, data=st.data())
def test_exported_sub_ranges_verify(log_events: list[Row], data: st.DataObject) -> None:
    store = seal_log(log_events, batch=data.draw(st.integers(1, 8)), every_n=data.draw(st.integers(1, 8)))
    rows = store.sealed()
    a, b = sorted(data.draw(st.lists(st.integers(1, len(rows)), min_size=2, max_size=2)))
    buffer = io.BytesIO()
    assert (
        write_export(rows[a - 1 : b], store.checkpoints, PUBLIC_KEYS, buffer, start_index=a, end_index=b)
        == b - a + 1
    )
    report = verify_bytes(buffer.getvalue())
    assert report.ok and report.checked == b - a + 1 and report.last_index == b, report
    anchored = a == 1 or any(c.chain_index == a - 1 for c in store.checkpoints)
    assert anchored == (not any("not anchored" in w for w in report.warnings)), report
