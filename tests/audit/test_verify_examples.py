"""Worked examples: the exact verdicts an operator or auditor reads, for the database form and exports."""

from __future__ import annotations

import hashlib
import io
import json
import uuid
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest

from governance.audit.chain import CANONICAL_FIELDS, GENESIS, canonical_bytes, event_hash, link
from governance.audit.checkpoints import publish_public_key
from governance.audit.export_format import event_line, verify_export, write_export
from governance.audit.sealer import InMemorySealerStore
from governance.audit.verify import VerifyReport, verify_chain
from tests.audit.factories import OTHER_KEY, PUBLIC_KEYS, PUBLISHED, T0, export_bytes, make_event, seal_log

Row = dict[str, Any]


@pytest.fixture(scope="module")
def store() -> InMemorySealerStore:
    """200 events, a checkpoint every 50."""
    return seal_log([make_event(i) for i in range(200)], batch=50, every_n=50)


def rows_of(store: InMemorySealerStore) -> list[Row]:
    return [dict(row) for row in store.sealed()]


def check(rows: list[Row], store: InMemorySealerStore, **options: Any) -> VerifyReport:
    return verify_chain(rows, store.checkpoints, PUBLIC_KEYS, **options)


def nudge(old: object) -> object:
    if isinstance(old, bool) or old is None:
        return "x"
    if isinstance(old, int):
        return old + 1
    if isinstance(old, str):
        return ("1" if old[0] == "0" else "0") + old[1:] if len(old) == 64 else old + "x"
    if isinstance(old, datetime):
        return old + timedelta(microseconds=1)
    if isinstance(old, uuid.UUID):
        return uuid.UUID(int=old.int + 1)
    assert isinstance(old, dict)
    return {**old, "forged": True}


def test_the_verdicts_read_as_sentences(store: InMemorySealerStore) -> None:
    assert [c.chain_index for c in store.checkpoints] == [50, 100, 150, 200]
    rows = rows_of(store)
    assert check(rows, store).ok

    modified = rows_of(store)
    modified[56]["summary"] = {"step": 56, "note": "nothing to see"}
    assert check(modified, store).problem == "event 57 was modified (hash mismatch)"

    renumbered = rows_of(store)
    renumbered[2]["chain_index"] = 4
    assert check(renumbered, store).problem == "event 3 was modified (its chain_index reads 4)"

    gap = rows[:11] + rows[12:]
    assert check(gap, store).problem == "gap: event 12 is missing"

    swapped = list(rows)
    swapped[39], swapped[44] = swapped[44], swapped[39]
    report = check(swapped, store)
    assert (report.first_bad_index, report.problem) == (
        40,
        "events out of order at 40: event 45 comes before it",
    )

    bad_signature = list(store.checkpoints)
    bad_signature[1] = replace(
        bad_signature[1], created_at=bad_signature[1].created_at + timedelta(seconds=1)
    )
    report = verify_chain(rows, bad_signature, PUBLIC_KEYS)
    assert (report.first_bad_index, report.problem) == (100, "checkpoint at 100 has a bad signature")
    assert report.last_checkpoint_verified == 50

    report = check(rows[:150], store)
    assert report.problem == "log truncated: checkpoint covers 200 but the log ends at 150"
    assert (report.first_bad_index, report.last_checkpoint_verified) == (151, 150)

    report = verify_chain(rows, store.checkpoints, {})
    assert report.problem is not None and report.problem.startswith(
        "checkpoint at 50 is signed by unknown key id"
    )

    report = verify_chain([], store.checkpoints, PUBLIC_KEYS, start_index=5000, end_index=6000)
    assert report.problem == "range 5000-6000 does not exist"


@pytest.mark.parametrize("field", [*CANONICAL_FIELDS, "prev_hash", "hash"])
def test_every_field_of_every_event_is_protected(field: str) -> None:
    store = seal_log([make_event(i) for i in range(6)], every_n=4)
    blob = export_bytes(store)
    lines = io.BytesIO(blob).readlines()
    first_event_line = 1 + len(store.checkpoints)
    for k in range(1, 7):
        rows = rows_of(store)
        rows[k - 1][field] = nudge(rows[k - 1][field])
        report = check(rows, store)
        assert (report.ok, report.first_bad_index) == (False, k), (field, k, report)
        changed = list(lines)
        row = rows[k - 1]
        changed[first_event_line + k - 1] = event_line(row["hash"], row["prev_hash"], canonical_bytes(row))
        report = verify_export(io.BytesIO(b"".join(changed)), PUBLISHED)
        assert (report.ok, report.first_bad_index) == (False, k), (field, k, report)


@pytest.mark.parametrize("k", [1, 2, 4, 6])
def test_every_kind_of_inserted_event_is_found_where_it_was_inserted(k: int) -> None:
    store = seal_log([make_event(i) for i in range(6)], every_n=100)  # one checkpoint, at the head
    rows = rows_of(store)
    lines = io.BytesIO(export_bytes(store)).readlines()
    hashes = [GENESIS] + [r["hash"] for r in rows]
    forgeries = [dict(rows[k - 2])] if k > 1 else []
    for index in (k, k - 1, k + 1, k - 3, 99):
        for prev in (hashes[k - 1], hashes[max(k - 2, 0)], "ab" * 32):
            for consistent in (True, False):
                forged = {**make_event(50), "seq": 50, "chain_index": index, "prev_hash": prev}
                forged["hash"] = event_hash(prev, forged) if consistent else "cd" * 32
                forgeries.append(forged)
    for forged in forgeries:
        report = check([*rows[: k - 1], forged, *rows[k - 1 :]], store)
        assert (report.ok, report.first_bad_index) == (False, k), (forged, report)
        line = event_line(forged["hash"], forged["prev_hash"], canonical_bytes(forged))
        at = 1 + len(store.checkpoints) + k - 1
        report = verify_export(io.BytesIO(b"".join([*lines[:at], line, *lines[at:]])), PUBLISHED)
        assert (report.ok, report.first_bad_index) == (False, k), (forged, report)


def test_a_verified_range_reads_nothing_beyond_its_end(store: InMemorySealerStore) -> None:
    rows = rows_of(store)
    consumed: list[int] = []

    def stream() -> Any:
        for row in rows[100:]:
            consumed.append(row["chain_index"])
            yield row

    report = verify_chain(stream(), store.checkpoints, PUBLIC_KEYS, start_index=101, end_index=120)
    assert report.ok and report.checked == 20 and consumed[-1] == 120
    assert (
        report.last_checkpoint_verified == 100 and report.unsigned_tail == 20
    )  # anchored by the checkpoint at 100


def test_a_wrong_expected_start_hash_is_named(store: InMemorySealerStore) -> None:
    rows = rows_of(store)
    report = check(rows[100:120], store, start_index=101, end_index=120, expected_prev_hash=rows[50]["hash"])
    assert report.problem == "checkpoint at 100 does not match the hash expected before event 101"
    report = check(rows[120:130], store, start_index=121, end_index=130, expected_prev_hash=rows[50]["hash"])
    assert report.problem == "event 121 does not follow the hash expected before the range"


def test_a_rewritten_history_with_valid_links_is_caught_by_the_next_checkpoint(
    store: InMemorySealerStore,
) -> None:
    """An intruder who rewrites an event and re-links everything after it cannot re-sign the head."""
    rows = rows_of(store)
    rows[59]["summary"] = {"rewritten": True}
    for row, (index, prev, hash_) in zip(rows[59:], link(rows[59:], rows[58]["hash"], 60), strict=True):
        row.update(chain_index=index, prev_hash=prev, hash=hash_)
    report = check(rows, store)
    assert report.first_bad_index == 100 and report.last_checkpoint_verified == 50
    assert (
        report.problem
        == "checkpoint at 100 does not match the log (the signed head differs): events 51-100 were rewritten"
    )


def test_malformed_rows_are_named_not_raised(store: InMemorySealerStore) -> None:
    rows = rows_of(store)[:10]
    del rows[4]["summary"]
    assert (
        check(rows, store, end_index=10).problem
        == "event 5 is malformed: missing or unreadable field 'summary'"
    )
    rows = rows_of(store)[:10]
    rows[4]["occurred_at"] = datetime(2024, 1, 1)
    assert check(rows, store, end_index=10).problem == (
        "event 5 is malformed: naive datetime: audit timestamps must be timezone-aware"
    )
    assert check([{"chain_index": 1}], store, end_index=1).problem is not None
    assert not check([None], store, end_index=1).ok  # type: ignore[list-item]


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "not an audit export: the file is empty"),
        (b"PK\x03\x04 zip?", "not an audit export: the first line is not a JSON header"),
        (
            b'{"format":"other"}\n',
            "not an audit export: the header does not say format 'five-safes-audit-export'",
        ),
        (
            b'{"format":"five-safes-audit-export","version":2}\n',
            "unsupported export version 2 (this verifier reads version 1)",
        ),
    ],
)
def test_files_that_are_not_exports(content: bytes, problem: str) -> None:
    report = verify_export(io.BytesIO(content), PUBLISHED)
    assert (report.ok, report.problem) == (False, problem)


def test_export_verdicts(store: InMemorySealerStore) -> None:
    blob = export_bytes(store)
    lines = io.BytesIO(blob).readlines()
    assert verify_export(io.BytesIO(blob), PUBLISHED).ok
    first = 1 + len(store.checkpoints)

    report = verify_export(io.BytesIO(blob), [publish_public_key(OTHER_KEY.public_key())])
    assert report.problem is not None and "unknown key id" in report.problem
    assert any("not among the trusted keys" in w for w in report.warnings)

    report = verify_export(io.BytesIO(b"".join([*lines[: first + 150], lines[-1]])), PUBLISHED)
    assert report.problem == "log truncated: checkpoint covers 200 but the log ends at 150"

    report = verify_export(io.BytesIO(b"".join(lines[: first + 200])), PUBLISHED)
    assert report.problem == "export truncated: the file ends after event 200, without its end line"

    report = verify_export(io.BytesIO(blob[: len(blob) // 2]), PUBLISHED)
    assert report.problem is not None and report.problem.startswith("log truncated: checkpoint covers")

    garbage = b"".join([*lines[: first + 9], b"\x00garbage\n", *lines[first + 9 :]])
    report = verify_export(io.BytesIO(garbage), PUBLISHED)
    assert (report.first_bad_index, report.problem) == (
        10,
        f"line {first + 10} is not valid JSON (garbage or a damaged line) where event 10 belongs",
    )

    reformatted = json.dumps(json.loads(lines[first + 3]), indent=None).encode() + b"\n"  # ", " and ": "
    report = verify_export(
        io.BytesIO(b"".join([*lines[: first + 3], reformatted, *lines[first + 4 :]])), PUBLISHED
    )
    assert report.problem == f"event 4 on line {first + 4} is not in canonical form (the line was edited)"

    report = verify_export(io.BytesIO(blob + b'{"more":1}\n'), PUBLISHED)
    assert report.problem == "the file continues after its end line"


def test_unsigned_events_of_an_export_must_be_canonical() -> None:
    """After the last checkpoint only the chain protects events, so their lines are fully re-encoded:
    a self-consistent line with a duplicated key (readers disagree on which value counts) is refused."""
    store = seal_log([make_event(i) for i in range(3)], every_n=100)
    lines = io.BytesIO(export_bytes(store)).readlines()
    head = store.head()[1]
    row = {**make_event(3), "seq": 4, "chain_index": 4}
    ambiguous = canonical_bytes(row).replace(b'"source":"api"', b'"source":"api","source":"cli"')
    forged_hash = hashlib.sha256(bytes.fromhex(head) + ambiguous).hexdigest()
    line = b'{"hash":"%s","prev_hash":"%s","event":%s}\n' % (forged_hash.encode(), head.encode(), ambiguous)
    end = json.dumps({"end": {"last_index": 4, "events": 4, "head": forged_hash}}, separators=(",", ":"))
    report = verify_export(io.BytesIO(b"".join([*lines[:-1], line, end.encode() + b"\n"])), PUBLISHED)
    assert (report.ok, report.first_bad_index) == (False, 4), report
    assert report.problem == "event 4 was modified (hash mismatch)"


def test_a_bad_key_in_the_header_is_named(store: InMemorySealerStore) -> None:
    lines = io.BytesIO(export_bytes(store)).readlines()
    header = json.loads(lines[0])
    header["public_keys"][0]["key_id"] = "0123456789abcdef"
    lines[0] = json.dumps(header, separators=(",", ":")).encode() + b"\n"
    report = verify_export(io.BytesIO(b"".join(lines)))
    assert report.problem == (
        "public key 1 in the export header is invalid: "
        "key id '0123456789abcdef' does not match its public key"
    )
    assert not report.keys_trusted


def test_every_single_byte_of_an_export_is_protected() -> None:
    """Flip each byte of a small export in two ways; only the export time may change unnoticed."""
    store = seal_log([make_event(i) for i in range(4)], every_n=2)
    blob = export_bytes(store)
    stamp = blob.index(b'"exported_at":"') + len(b'"exported_at":"')
    unnoticed = []
    for at in range(len(blob)):
        for mask in (0x01, 0x20):
            changed = bytearray(blob)
            changed[at] ^= mask
            report = verify_export(io.BytesIO(bytes(changed)), PUBLISHED if mask == 0x01 else None)
            if report.ok or not report.problem:
                unnoticed.append(at)
    assert unnoticed and all(stamp <= at < stamp + 27 for at in unnoticed), unnoticed


def test_an_empty_log_exports_and_verifies() -> None:
    buffer = io.BytesIO()
    assert write_export([], [], PUBLIC_KEYS, buffer, exported_at=T0) == 0
    report = verify_export(io.BytesIO(buffer.getvalue()), PUBLISHED)
    assert report.ok and report.checked == 0 and report.last_index is None


def test_an_export_of_unsealed_events_is_refused() -> None:
    store = InMemorySealerStore()
    store.append(make_event(0))
    with pytest.raises(ValueError, match="not sealed"):
        write_export(store.rows, [], PUBLIC_KEYS, io.BytesIO(), exported_at=T0)
