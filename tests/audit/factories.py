"""Audit chain test data: fixed keys, event factories, a sealed in-memory log, hypothesis strategies."""

from __future__ import annotations

import hashlib
import io
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import strategies as st

from governance.audit.checkpoints import key_id_for, publish_public_key
from governance.audit.export_format import write_export
from governance.audit.sealer import InMemorySealerStore, seal_once

KEY = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"audit test key").digest())
KEY_ID = key_id_for(KEY.public_key())
PUBLIC_KEYS = {KEY_ID: KEY.public_key()}
PUBLISHED = [publish_public_key(KEY.public_key())]
OTHER_KEY = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"someone else's key").digest())
OTHER_KEY_ID = key_id_for(OTHER_KEY.public_key())
OTHER_PUBLIC_KEYS = {OTHER_KEY_ID: OTHER_KEY.public_key()}
T0 = datetime(2024, 3, 1, 8, 0, tzinfo=UTC)


def make_event(i: int, **overrides: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "id": uuid.UUID(int=i + 1),
        "occurred_at": T0 + timedelta(seconds=i, microseconds=i),
        "actor_id": str(uuid.UUID(int=1000 + i % 3)),
        "actor_username": ["alice", "sam", "stella"][i % 3],
        "action": "project.approve",
        "object_type": "project",
        "object_id": f"project-{i}",
        "project_id": None,
        "outcome": "success",
        "summary": {"step": i, "note": "ok"},
        "request_id": f"req-{i}",
        "source": "api",
    }
    event.update(overrides)
    return event


def seal_log(
    events: Iterable[Mapping[str, Any]], *, batch: int = 7, every_n: int = 5, final_checkpoint: bool = True
) -> InMemorySealerStore:
    """Append, then seal in batches; with final_checkpoint the head is always signed."""
    store = InMemorySealerStore()
    for event in events:
        store.append(event)
    now = T0
    while seal_once(store, KEY, KEY_ID, now, every_n=every_n, every_seconds=3600, batch=batch):
        now += timedelta(seconds=1)
    if final_checkpoint:
        seal_once(store, KEY, KEY_ID, now + timedelta(hours=2), every_n=every_n, every_seconds=3600)
    return store


def export_bytes(store: InMemorySealerStore, **options: Any) -> bytes:
    buffer = io.BytesIO()
    write_export(store.sealed(), store.checkpoints, PUBLIC_KEYS, buffer, exported_at=T0, **options)
    return buffer.getvalue()


short_text = st.text(max_size=8)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | short_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=6,
)
summaries = st.dictionaries(st.text(max_size=6), json_values, max_size=4)
zones = st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8))])
timestamps = st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2200, 1, 1), timezones=zones)
hex64 = st.text(alphabet="0123456789abcdef", min_size=64, max_size=64)

events = st.fixed_dictionaries(
    {
        "id": st.uuids() | st.uuids().map(str),
        "occurred_at": timestamps,
        "actor_id": st.none() | st.uuids().map(str),
        "actor_username": st.none() | short_text,
        "action": short_text,
        "object_type": st.sampled_from(["project", "dataset", "user", "output_request"]),
        "object_id": st.none() | short_text,
        "project_id": st.none() | st.uuids().map(str),
        "outcome": st.sampled_from(["success", "denied", "failure"]),
        "summary": summaries,
        "request_id": st.none() | short_text,
        "source": st.sampled_from(["api", "cli", "keycloak-sync"]),
    }
)
event_lists = st.lists(events, min_size=1, max_size=16)
plain_logs = st.builds(
    lambda n, note: [make_event(i, summary={"step": i, "note": note}) for i in range(n)],
    st.integers(2, 14),
    short_text,
)  # cheap to draw: for tests where the content matters less than the shape of the log
any_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 30),
    short_text,
    hex64,
    st.uuids(),
    timestamps,
    summaries,
    st.floats(),
)
