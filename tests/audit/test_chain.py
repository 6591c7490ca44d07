"""Canonical encoding, hashing, checkpoints, keys and the sealer."""

from __future__ import annotations

import base64
import hashlib
import math
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from governance.audit.chain import GENESIS, canonical_bytes, check_summary, event_hash, link
from governance.audit.checkpoints import (
    Checkpoint,
    generate_private_key_text,
    key_id_for,
    load_private_key,
    parse_public_keys,
    publish_public_key,
    should_checkpoint,
    sign_checkpoint,
    verify_checkpoint,
)
from governance.audit.sealer import InMemorySealerStore, seal_once
from governance.audit.verify import verify_chain
from tests.audit.factories import KEY, KEY_ID, OTHER_KEY, PUBLIC_KEYS, T0, make_event

GOLDEN_EVENT = {
    "chain_index": 1,
    "seq": 7,
    "id": uuid.UUID("6F9619FF-8B86-D011-B42D-00C04FC964FF"),
    "occurred_at": datetime(2024, 5, 1, 11, 30, tzinfo=timezone(timedelta(hours=2))),
    "actor_id": "a1",
    "actor_username": "alice",
    "action": "project.approve",
    "object_type": "project",
    "object_id": None,
    "project_id": "p-1",
    "outcome": "success",
    "summary": {"zeta": [1, True, None], "alpha": 'caf\u00e9 "q"\n', "n": {"b": 2, "a": 1}},
    "request_id": None,
    "source": "api",
}
GOLDEN_BYTES = (
    b'{"chain_index":1,"seq":7,"id":"6f9619ff-8b86-d011-b42d-00c04fc964ff",'
    b'"occurred_at":"2024-05-01T09:30:00.000000Z","actor_id":"a1","actor_username":"alice",'
    b'"action":"project.approve","object_type":"project","object_id":null,"project_id":"p-1",'
    b'"outcome":"success","request_id":null,"source":"api",'
    b'"summary":{"alpha":"caf\\u00e9 \\"q\\"\\n","n":{"a":1,"b":2},"zeta":[1,true,null]}}'
)
GOLDEN_HASH = "838b5ef9801d2bf42193f2e0f5e90908bf8ac184c5909c4f01a3f2c4d35dcef1"


def test_canonical_bytes_match_the_documented_format() -> None:
    assert canonical_bytes(GOLDEN_EVENT) == GOLDEN_BYTES
    assert hashlib.sha256(bytes(32) + GOLDEN_BYTES).hexdigest() == GOLDEN_HASH
    assert event_hash(GENESIS, GOLDEN_EVENT) == GOLDEN_HASH


def test_equal_content_in_other_spellings_encodes_the_same() -> None:
    as_text = {
        **GOLDEN_EVENT,
        "id": "6f9619ff-8b86-d011-b42d-00c04fc964ff",
        "occurred_at": "2024-05-01T09:30:00.000000Z",
        "summary": {"n": {"a": 1, "b": 2}, "alpha": 'caf\u00e9 "q"\n', "zeta": [1, True, None]},
        "hash": "ignored",
        "extra": "not part of the canonical form",
    }
    utc = {**GOLDEN_EVENT, "occurred_at": datetime(2024, 5, 1, 9, 30, tzinfo=UTC)}
    assert canonical_bytes(as_text) == canonical_bytes(utc) == GOLDEN_BYTES


def test_microseconds_are_always_written() -> None:
    event = {**GOLDEN_EVENT, "occurred_at": datetime(2024, 5, 1, 9, 30, 0, 120, tzinfo=UTC)}
    assert b'"occurred_at":"2024-05-01T09:30:00.000120Z"' in canonical_bytes(event)


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("occurred_at", datetime(2024, 5, 1, 9, 30), ValueError),
        ("summary", {"x": math.nan}, ValueError),
        ("summary", {"x": object()}, TypeError),
        ("summary", [1, 2], TypeError),
        ("chain_index", True, TypeError),
        ("seq", "7", TypeError),
        ("action", None, TypeError),
        ("actor_id", 5, TypeError),
        ("id", None, TypeError),
    ],
)
def test_values_the_format_cannot_hold_are_refused(field: str, value: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        canonical_bytes({**GOLDEN_EVENT, field: value})


def test_missing_field_is_a_key_error() -> None:
    event = dict(GOLDEN_EVENT)
    del event["source"]
    with pytest.raises(KeyError):
        canonical_bytes(event)


def test_link_chains_each_event_to_the_previous_hash() -> None:
    events = [{**make_event(i), "seq": 10 + i} for i in range(4)]
    links = link(events, GENESIS, 1)
    assert [index for index, _, _ in links] == [1, 2, 3, 4]
    prev = GENESIS
    for event, (index, prev_hash, hash_) in zip(events, links, strict=True):
        assert prev_hash == prev
        assert hash_ == event_hash(prev, event, index)
        assert hash_ == hashlib.sha256(bytes.fromhex(prev) + canonical_bytes(event, index)).hexdigest()
        prev = hash_
    later = link(events[2:], links[1][2], 3)
    assert later == links[2:]


def test_link_refuses_bad_starting_points() -> None:
    with pytest.raises(ValueError):
        link([], "F" * 64, 1)
    with pytest.raises(ValueError):
        link([], GENESIS, 0)


def test_check_summary_is_strict_for_the_write_path() -> None:
    check_summary({"a": [1, "x", None, True, {"b": {}}]})
    for bad in ({"a": 1.5}, {1: "x"}, {"a": {"b": {1, 2}}}, ["not", "a", "dict"]):
        with pytest.raises(ValueError):
            check_summary(bad)
    deep: dict[str, object] = {}
    node = deep
    for _ in range(40):
        node["d"] = {}
        node = node["d"]  # type: ignore[assignment]
    with pytest.raises(ValueError, match="nested deeper"):
        check_summary(deep)


def test_checkpoint_signature_round_trip_and_tampering() -> None:
    head = hashlib.sha256(b"head").hexdigest()
    cp = sign_checkpoint(KEY, KEY_ID, 42, head, T0)
    assert verify_checkpoint(PUBLIC_KEYS, cp)
    assert Checkpoint.from_json(cp.to_json()) == cp
    for changed in (
        Checkpoint(43, cp.hash, cp.created_at, cp.key_id, cp.signature),
        Checkpoint(42, GENESIS, cp.created_at, cp.key_id, cp.signature),
        Checkpoint(42, cp.hash, cp.created_at + timedelta(microseconds=1), cp.key_id, cp.signature),
    ):
        assert not verify_checkpoint(PUBLIC_KEYS, changed)
    unknown = Checkpoint(42, cp.hash, cp.created_at, "0123456789abcdef", cp.signature)
    assert not verify_checkpoint(PUBLIC_KEYS, unknown)
    forged = sign_checkpoint(OTHER_KEY, KEY_ID, 42, head, T0)  # claims our key id
    assert not verify_checkpoint(PUBLIC_KEYS, forged)


def test_signature_text_must_be_canonical_base64() -> None:
    cp = sign_checkpoint(KEY, KEY_ID, 1, GENESIS, T0)
    raw = base64.b64decode(cp.signature)
    # Same bytes, other spelling: the last character before "==" carries 4 unused bits.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    last = alphabet.index(cp.signature[-3])
    respelled = cp.signature[:-3] + alphabet[last ^ 1] + "=="
    assert base64.b64decode(respelled) == raw
    assert not verify_checkpoint(PUBLIC_KEYS, Checkpoint(1, GENESIS, T0, KEY_ID, respelled))


@pytest.mark.parametrize(
    "data",
    [
        None,
        {"chain_index": 1},
        {
            "chain_index": -1,
            "hash": GENESIS,
            "created_at": "2024-03-01T08:00:00.000000Z",
            "key_id": "k",
            "signature": "",
        },
        {
            "chain_index": 1,
            "hash": "XYZ",
            "created_at": "2024-03-01T08:00:00.000000Z",
            "key_id": "k",
            "signature": "",
        },
        {"chain_index": 1, "hash": GENESIS, "created_at": "2024-03-01 08:00", "key_id": "k", "signature": ""},
        {
            "chain_index": 1,
            "hash": GENESIS,
            "created_at": "2024-03-01T08:00:00+00:00",
            "key_id": "k",
            "signature": "",
        },
    ],
)
def test_malformed_checkpoint_json_is_refused(data: object) -> None:
    with pytest.raises(ValueError):
        Checkpoint.from_json(data)


def test_key_ids_and_published_keys() -> None:
    public = KEY.public_key()
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert key_id_for(public) == hashlib.sha256(raw).hexdigest()[:16]
    published = publish_public_key(public)
    assert published == {
        "key_id": KEY_ID,
        "algorithm": "Ed25519",
        "public_key": base64.b64encode(raw).decode(),
    }
    assert list(parse_public_keys([published])) == [KEY_ID]
    for bad in (
        {**published, "key_id": "0" * 16},
        {**published, "algorithm": "RSA"},
        {**published, "public_key": base64.b64encode(raw[:31]).decode()},
        {**published, "public_key": "not base64!"},
        {"key_id": KEY_ID},
    ):
        with pytest.raises(ValueError):
            parse_public_keys([bad])


def test_private_key_from_settings_text() -> None:
    text = generate_private_key_text()
    key = load_private_key(text)
    assert len(base64.b64decode(text)) == 32
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    assert key_id_for(load_private_key(pem).public_key()) == key_id_for(key.public_key())
    assert key_id_for(load_private_key(f"  {text}\n").public_key()) == key_id_for(key.public_key())
    for bad in ("", "c2hvcnQ=", "-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----", "%%%"):
        with pytest.raises(ValueError):
            load_private_key(bad)


@pytest.mark.parametrize(
    ("since", "seconds", "expected"),
    [
        (0, 1e9, False),
        (1, 10.0, False),
        (1, 60.0, True),
        (100, 0.0, True),
        (99, 59.9, False),
        (3, math.inf, True),
    ],
)
def test_checkpoint_policy(since: int, seconds: float, expected: bool) -> None:
    assert should_checkpoint(since, seconds, every_n=100, every_seconds=60.0) is expected


def test_sealer_links_in_batches_and_checkpoints_by_count_and_time() -> None:
    store = InMemorySealerStore()
    for i in range(12):
        store.append(make_event(i))
    assert seal_once(store, KEY, KEY_ID, T0, every_n=5, every_seconds=60, batch=4) == 4
    assert store.head()[0] == 4
    assert [c.chain_index for c in store.checkpoints] == [4]  # first checkpoint: nothing signed yet
    assert seal_once(store, KEY, KEY_ID, T0 + timedelta(seconds=1), every_n=5, every_seconds=60, batch=4) == 4
    assert [c.chain_index for c in store.checkpoints] == [4]  # 4 since, 1 s: neither threshold
    assert seal_once(store, KEY, KEY_ID, T0 + timedelta(seconds=2), every_n=5, every_seconds=60, batch=4) == 4
    assert [c.chain_index for c in store.checkpoints] == [4, 12]  # 8 since >= 5
    assert seal_once(store, KEY, KEY_ID, T0 + timedelta(hours=1), every_n=5, every_seconds=60) == 0
    assert len(store.checkpoints) == 2  # time passed but nothing new to sign
    store.append(make_event(12))
    assert seal_once(store, KEY, KEY_ID, T0 + timedelta(hours=1), every_n=5, every_seconds=60) == 1
    assert [c.chain_index for c in store.checkpoints] == [4, 12, 13]  # one new event, an hour later
    assert all(verify_checkpoint(PUBLIC_KEYS, c) for c in store.checkpoints)
    rows = store.sealed()
    assert [r["chain_index"] for r in rows] == list(range(1, 14))
    assert store.checkpoints[-1].hash == rows[-1]["hash"]
    assert verify_chain(rows, store.checkpoints, PUBLIC_KEYS).ok


def test_sealer_refuses_a_key_id_that_is_not_its_key() -> None:
    store = InMemorySealerStore()
    store.append(make_event(0))
    with pytest.raises(ValueError):
        seal_once(store, Ed25519PrivateKey.generate(), KEY_ID, T0, every_n=1, every_seconds=1)
    assert store.head() == (0, GENESIS)
