"""The audit hash chain: a canonical encoding of each event and the SHA-256 links between events.

Format (version 1), stable because verifiers outside this code base must reproduce it byte for byte:

* ``canonical_bytes(event)`` is a compact JSON object (no whitespace, ASCII only: every non-ASCII
  character is written as a ``\\uXXXX`` escape, lowercase hex, surrogate pairs above U+FFFF) whose
  members appear in the order of ``CANONICAL_FIELDS``. Timestamps are RFC 3339 UTC text with
  microseconds (``2024-05-01T09:30:00.000000Z``); UUIDs are lowercase text; absent values are ``null``.
  ``summary`` is a JSON object with keys sorted at every level. Integers are decimal; a finite float
  is written as its shortest round-trip decimal (Python ``repr``); NaN and infinities are refused.
* ``hash(i) = SHA-256(raw 32 bytes of hash(i-1) || canonical_bytes(event i))``, hex encoded, with
  ``hash(0) = GENESIS``. ``chain_index`` runs 1..N without gaps, so it is part of what is hashed.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from json import encoder as _json_encoder
from operator import itemgetter
from typing import Any, Final, TypeGuard

GENESIS: Final = "0" * 64
CANONICAL_FIELDS: Final = (
    "chain_index",
    "seq",
    "id",
    "occurred_at",
    "actor_id",
    "actor_username",
    "action",
    "object_type",
    "object_id",
    "project_id",
    "outcome",
    "request_id",
    "source",
    "summary",
)

_esc: Final = _json_encoder.encode_basestring_ascii
content_values: Final = itemgetter(*CANONICAL_FIELDS[1:])
_hexdigits: Final = frozenset("0123456789abcdef")


def _no_extra_types(value: object) -> object:
    raise TypeError(f"summary holds a {type(value).__name__}, which is not a JSON type")


def _summary_encoder() -> Callable[[object], str]:
    # The C encoder built once and reused: json.dumps would rebuild it for every event.
    make = getattr(_json_encoder, "c_make_encoder", None)
    if make is not None:
        encode = make(None, _no_extra_types, _esc, None, ":", ",", True, False, False)
        return lambda value: "".join(encode(value, 0))
    fallback = json.JSONEncoder(
        sort_keys=True, separators=(",", ":"), allow_nan=False, default=_no_extra_types, check_circular=False
    )
    return fallback.encode


_encode_summary: Final = _summary_encoder()


def _uuid_text(value: object) -> str:
    if not isinstance(value, uuid.UUID):
        raise TypeError(f"expected text, a UUID or null, got {type(value).__name__}")
    h = value.bytes.hex()  # str(UUID) is several times slower
    return f'"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"'


def _optional_text(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, str):
        return _esc(value)
    return _uuid_text(value)


def format_timestamp(value: datetime) -> str:
    """RFC 3339 UTC with microseconds, the only timestamp form the chain uses."""
    if value.tzinfo is not UTC:
        if value.tzinfo is None:
            raise ValueError("naive datetime: audit timestamps must be timezone-aware")
        value = value.astimezone(UTC)
    text = value.isoformat()  # the fastest formatter; it drops ".000000" and ends in "+00:00"
    return f"{text[:26]}Z" if len(text) == 32 else f"{text[:19]}.000000Z"


def _timestamp(value: object) -> str:
    if isinstance(value, datetime):
        return f'"{format_timestamp(value)}"'
    if isinstance(value, str):  # already text, as read back from an export
        return _esc(value)
    raise TypeError(f"occurred_at must be a datetime, got {type(value).__name__}")


def encode_values(chain_index: object, content: tuple[Any, ...]) -> bytes:
    """canonical_bytes from ``content_values(event)``: the verifiers' hot path.

    The common types are handled inline (str fields, UTC datetimes); the helpers handle the rest
    and raise for what the format cannot hold.
    """
    (seq, id_, at, actor_id, actor_name, action, obj_type, obj_id, project_id, outcome, request_id, source,
     summary) = content  # fmt: skip
    if type(chain_index) is not int or type(seq) is not int:
        raise TypeError("chain_index and seq must be integers")
    if type(summary) is not dict:
        raise TypeError(f"summary must be a JSON object, got {type(summary).__name__}")
    try:
        summary_text = _encode_summary(summary) if summary else "{}"
    except RecursionError:
        raise ValueError("summary is nested too deeply (or refers to itself)") from None
    if type(at) is datetime and at.tzinfo is UTC:
        text = at.isoformat()  # the fastest formatter; it drops ".000000" and ends in "+00:00"
        when = f'"{text[:26]}Z"' if len(text) == 32 else f'"{text[:19]}.000000Z"'
    else:
        when = _timestamp(at)
    esc, opt = _esc, _optional_text
    return (
        f'{{"chain_index":{chain_index},"seq":{seq},'
        f'"id":{esc(id_) if type(id_) is str else _uuid_text(id_)},"occurred_at":{when},'
        f'"actor_id":{esc(actor_id) if type(actor_id) is str else opt(actor_id)},'
        f'"actor_username":{esc(actor_name) if type(actor_name) is str else opt(actor_name)},'
        f'"action":{esc(action)},"object_type":{esc(obj_type)},'
        f'"object_id":{esc(obj_id) if type(obj_id) is str else opt(obj_id)},'
        f'"project_id":{esc(project_id) if type(project_id) is str else opt(project_id)},'
        f'"outcome":{esc(outcome)},'
        f'"request_id":{esc(request_id) if type(request_id) is str else opt(request_id)},'
        f'"source":{esc(source)},"summary":{summary_text}}}'
    ).encode("ascii")


def canonical_bytes(event: Mapping[str, Any], chain_index: int | None = None) -> bytes:
    """The canonical encoding of an event; ``chain_index`` overrides the event's own (used when sealing).

    Raises KeyError for a missing field, TypeError/ValueError for a value the format cannot hold.
    """
    return encode_values(event["chain_index"] if chain_index is None else chain_index, content_values(event))


def is_hash(value: object) -> TypeGuard[str]:
    """True for 64 lowercase hex digits, the only accepted spelling of a hash."""
    return isinstance(value, str) and len(value) == 64 and _hexdigits.issuperset(value)


def event_hash(prev_hash: str, event: Mapping[str, Any], chain_index: int | None = None) -> str:
    if not is_hash(prev_hash):
        raise ValueError("prev_hash must be 64 lowercase hex digits")
    return hashlib.sha256(bytes.fromhex(prev_hash) + canonical_bytes(event, chain_index)).hexdigest()


def link(
    events_in_seq_order: Iterable[Mapping[str, Any]], prev_hash: str, start_index: int
) -> list[tuple[int, str, str]]:
    """Chain fields ``(chain_index, prev_hash, hash)`` for events appended after ``prev_hash``."""
    if not is_hash(prev_hash):
        raise ValueError("prev_hash must be 64 lowercase hex digits")
    if start_index < 1:
        raise ValueError("chain indices start at 1")
    links: list[tuple[int, str, str]] = []
    prev_raw = bytes.fromhex(prev_hash)
    sha256 = hashlib.sha256
    for index, event in enumerate(events_in_seq_order, start_index):
        raw = sha256(prev_raw + encode_values(index, content_values(event))).digest()
        current = raw.hex()
        links.append((index, prev_hash, current))
        prev_hash, prev_raw = current, raw
    return links


def check_summary(summary: object, *, max_depth: int = 32) -> None:
    """Strict check for the write path: plain JSON objects, text keys, no floats (portable across verifiers).

    Floats hash deterministically here, but other languages print some of them differently, so the
    service stores numbers that are not integers as text. Raises ValueError naming the offending path.
    """

    def walk(value: object, path: str, depth: int) -> None:
        if depth > max_depth:
            raise ValueError(f"summary is nested deeper than {max_depth} levels at {path}")
        if value is None or isinstance(value, (str, bool, int)):
            return
        if isinstance(value, float):
            raise ValueError(f"summary{path} is a float; store it as text or an integer")
        if isinstance(value, dict):
            for key, item in value.items():
                if not isinstance(key, str):
                    raise ValueError(f"summary{path} has a non-text key {key!r}")
                walk(item, f"{path}.{key}", depth + 1)
            return
        if isinstance(value, list):
            for i, item in enumerate(value):
                walk(item, f"{path}[{i}]", depth + 1)
            return
        raise ValueError(f"summary{path} holds a {type(value).__name__}, which is not a JSON type")

    if not isinstance(summary, dict):
        raise ValueError("summary must be a JSON object")
    walk(summary, "", 0)
