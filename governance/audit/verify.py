"""Verify a run of sealed audit events against the hash chain and the signed checkpoints.

Streams: memory stays constant however long the log is. The happy path does the least work per event;
anything unexpected is handed to ``ChainWalk`` which works out what went wrong and says so in a sentence.
"""

from __future__ import annotations

import hashlib
import itertools
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from governance.audit.chain import GENESIS, content_values, encode_values, is_hash
from governance.audit.checkpoints import Checkpoint, checkpoint_problem

_NO_MORE: Final = sys.maxsize
_chain_fields: Final = itemgetter("chain_index", "prev_hash", "hash")


@dataclass(frozen=True, slots=True)
class VerifyReport:
    ok: bool
    checked: int  # events verified before stopping
    first_bad_index: int | None  # the event (or checkpoint) index where verification failed
    problem: str | None  # one sentence naming what is wrong
    last_checkpoint_verified: int | None
    last_index: int | None = None  # last event index verified
    head_hash: str | None = None  # hash of that event
    unsigned_tail: int = 0  # verified events after the last verified checkpoint (chain-protected only)
    keys_trusted: bool = True  # False when the public keys came from the file being verified
    warnings: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checked": self.checked,
            "first_bad_index": self.first_bad_index,
            "problem": self.problem,
            "last_checkpoint_verified": self.last_checkpoint_verified,
            "last_index": self.last_index,
            "head_hash": self.head_hash,
            "unsigned_tail": self.unsigned_tail,
            "keys_trusted": self.keys_trusted,
            "warnings": list(self.warnings),
        }


@dataclass(slots=True)
class ChainWalk:
    """Verification state shared by the database and the export verifiers.

    The hot loops keep ``expected``, ``prev_hex`` and ``prev_raw`` in locals and write them back here
    before calling any method.
    """

    checkpoints: Sequence[Checkpoint]
    public_keys: Mapping[str, Ed25519PublicKey]
    start: int = 1
    end: int | None = None
    prev_hex: str | None = None
    prev_raw: bytes = b""
    before_prev: str | None = None  # prev_hash of the last verified event
    expected: int = 1
    checked: int = 0
    last_cp: int | None = None
    next_cp: int = _NO_MORE
    failed_at: int | None = None
    problem: str | None = None
    keys_trusted: bool = True
    warnings: list[str] = field(default_factory=list)
    _pending: list[Checkpoint] = field(default_factory=list)
    _pos: int = 0

    @property
    def failed(self) -> bool:
        return self.problem is not None

    @property
    def stop(self) -> int:
        return _NO_MORE if self.end is None else self.end

    def fail(self, index: int | None, problem: str) -> bool:
        if self.problem is None:
            self.failed_at, self.problem = index, problem
        return False

    def begin(self, expected_prev_hash: str | None) -> bool:
        """Check the range and anchor its start; False (with the problem recorded) when that fails."""
        start, end = self.start, self.end
        if start < 1:
            return self.fail(None, "invalid range: chain indices start at 1")
        if end is not None and end < start:
            return self.fail(None, f"invalid range {start}-{end}: it ends before it starts")
        if expected_prev_hash is not None and not is_hash(expected_prev_hash):
            return self.fail(None, "the expected previous hash is not 64 lowercase hex digits")
        if start == 1:
            if expected_prev_hash not in (None, GENESIS):
                return self.fail(1, "a log starting at event 1 must follow the genesis hash")
            expected_prev_hash = GENESIS
        self.expected = start
        in_range = [
            c
            for c in self.checkpoints
            if c.chain_index >= start - 1 and (end is None or c.chain_index <= end)
        ]
        in_range.sort(key=lambda c: c.chain_index)
        anchors = [c for c in in_range if c.chain_index == start - 1]
        self._pending = in_range[len(anchors) :]
        for cp in anchors:
            problem = checkpoint_problem(self.public_keys, cp)
            if problem is not None:
                return self.fail(cp.chain_index, problem)
            if expected_prev_hash is None:
                expected_prev_hash = cp.hash
            elif cp.hash != expected_prev_hash:
                return self.fail(
                    cp.chain_index,
                    f"checkpoint at {cp.chain_index} does not match the hash expected before event {start}",
                )
            self.last_cp = cp.chain_index
        if expected_prev_hash is None:
            self.warnings.append(
                f"the range start is not anchored: nothing signed vouches for the hash before event {start}"
            )
        else:
            self.set_prev(expected_prev_hash)
        self._advance()
        return True

    @property
    def signed_until(self) -> int:
        """The highest index a checkpoint claims to cover (start - 1 when none does)."""
        covered = [self.start - 1, *(c.chain_index for c in self._pending)]
        return max(covered) if self.last_cp is None else max(*covered, self.last_cp)

    def set_prev(self, prev_hex: str) -> None:
        self.prev_hex, self.prev_raw = prev_hex, bytes.fromhex(prev_hex)

    def _advance(self) -> None:
        self.next_cp = self._pending[self._pos].chain_index if self._pos < len(self._pending) else _NO_MORE

    def at_checkpoints(self, index: int, head: str) -> bool:
        """Called after event ``index`` verified, when a checkpoint covers exactly that index."""
        pending = self._pending
        while self._pos < len(pending) and pending[self._pos].chain_index == index:
            cp = pending[self._pos]
            self._pos += 1
            problem = checkpoint_problem(self.public_keys, cp)
            if problem is not None:
                return self.fail(index, problem)
            if cp.hash != head:
                since = (self.last_cp if self.last_cp is not None else self.start - 1) + 1
                events = f"event {index} was" if since == index else f"events {since}-{index} were"
                return self.fail(
                    index,
                    f"checkpoint at {index} does not match the log (the signed head differs): "
                    f"{events} rewritten",
                )
            self.last_cp = index
        self._advance()
        return True

    def malformed(self, detail: str) -> bool:
        return self.fail(self.expected, f"event {self.expected} is malformed: {detail}")

    def wrong_place(
        self,
        got: object,
        prev_hash: object,
        stored_hash: object,
        canonical: bytes | None,
        later: Iterator[tuple[object, object]],
    ) -> bool:
        """An event whose chain_index is not the expected one; ``later`` yields (chain_index, prev_hash)
        of the events after it."""
        e = self.expected
        if type(got) is not int or prev_hash == self.prev_hex:
            return self.fail(e, f"event {e} was modified (its chain_index reads {got!r})")
        if got == e - 1:
            if stored_hash == self.prev_hex:
                return self.fail(e, f"event {got} appears twice (a duplicated event)")
            if prev_hash == self.before_prev and _self_consistent(prev_hash, canonical, stored_hash):
                # Two valid-looking versions of one event: the one the log goes on from is the original.
                following = next(later, None)
                if following is None or following[1] == stored_hash:
                    return self.fail(
                        got, f"event {got} appears twice in two versions (the first was inserted)"
                    )
                return self.fail(e, f"event {got} appears twice in two versions (the second was inserted)")
        if got < e:
            return self.fail(e, f"events out of order at {e}: found event {got} again")
        for index, _ in later:
            if index == e:
                return self.fail(e, f"events out of order at {e}: event {got} comes before it")
        if got == e + 1:
            return self.fail(e, f"gap: event {e} is missing")
        return self.fail(e, f"gap: events {e}-{got - 1} are missing")

    def broken_link(
        self, prev_hash: object, stored_hash: object, canonical: bytes, later: Iterator[tuple[object, object]]
    ) -> bool:
        """The event is in place but its prev_hash is not the previous event's hash."""
        e = self.expected
        if not is_hash(prev_hash):
            return self.fail(e, f"event {e} was modified (its prev_hash is not a valid hash)")
        if not _self_consistent(prev_hash, canonical, stored_hash):
            return self.fail(e, f"event {e} was modified (hash mismatch)")
        if e == self.start:
            return self.fail(e, f"event {e} does not follow the hash expected before the range")
        following = next(later, None)
        if following is not None and following[0] == e:
            return self.fail(e, f"event {e} appears twice in two versions (the first was inserted)")
        return self.fail(e - 1, f"event {e - 1} was replaced: event {e} records a different hash for it")

    def check_pending_checkpoints(self) -> bool:
        """At the end of the events: a valid checkpoint beyond the last event means the log was cut."""
        if self.failed or self._pos >= len(self._pending):
            return not self.failed
        last = self.expected - 1
        cp = self._pending[self._pos]
        problem = checkpoint_problem(self.public_keys, cp)
        if problem is not None:
            return self.fail(cp.chain_index, problem)
        if self.checked == 0:
            where = f"no event from {self.start} on is present"
        else:
            where = f"the log ends at {last}"
        return self.fail(last + 1, f"log truncated: checkpoint covers {cp.chain_index} but {where}")

    def finish(self) -> VerifyReport:
        last = self.expected - 1
        self.check_pending_checkpoints()
        if not self.failed and self.end is not None and last < self.end:
            if self.checked == 0:
                self.fail(self.start, f"range {self.start}-{self.end} does not exist")
            else:
                self.fail(last + 1, f"log truncated: the range ends at {self.end} but the log ends at {last}")
        tail = 0
        if not self.failed:
            signed_up_to = self.last_cp if self.last_cp is not None else self.start - 1
            tail = max(0, last - signed_up_to)
            if self.checked == 0:
                self.warnings.append(f"no events from {self.start} on")
            elif tail:
                after = (
                    f"checkpoint {self.last_cp}" if self.last_cp is not None else f"event {self.start - 1}"
                )
                self.warnings.append(
                    f"{tail} event(s) after {after} are not yet covered by a signed checkpoint; "
                    "only the hash chain protects them"
                )
        return VerifyReport(
            ok=not self.failed,
            checked=self.checked,
            first_bad_index=self.failed_at,
            problem=self.problem,
            last_checkpoint_verified=self.last_cp,
            last_index=last if self.checked else None,
            head_hash=self.prev_hex if self.checked else None,
            unsigned_tail=tail,
            keys_trusted=self.keys_trusted,
            warnings=tuple(self.warnings),
        )


def _self_consistent(prev_hash: object, canonical: bytes | None, stored_hash: object) -> bool:
    if canonical is None or not is_hash(prev_hash):
        return False
    return hashlib.sha256(bytes.fromhex(prev_hash) + canonical).hexdigest() == stored_hash


def _later_links(events: Iterator[Mapping[str, Any]]) -> Iterator[tuple[object, object]]:
    for event in events:
        yield (
            (event.get("chain_index"), event.get("prev_hash")) if isinstance(event, Mapping) else (None, None)
        )


def verify_chain(
    events: Iterable[Mapping[str, Any]],
    checkpoints: Sequence[Checkpoint],
    public_keys: Mapping[str, Ed25519PublicKey],
    *,
    start_index: int = 1,
    expected_prev_hash: str | None = None,
    end_index: int | None = None,
) -> VerifyReport:
    """Verify events given in chain_index order (e.g. straight from a database cursor).

    ``expected_prev_hash`` defaults to GENESIS for a log starting at 1; for a later start it defaults
    to the hash signed by a checkpoint at ``start_index - 1`` if one is given, else the range is
    verified unanchored (and the report warns). With ``end_index`` the stream must reach it, and
    nothing after it is read. Never raises for bad data: the report names the problem.
    """
    walk = ChainWalk(checkpoints, public_keys, start=start_index, end=end_index)
    if not walk.begin(expected_prev_hash):
        return walk.finish()
    stream: Iterator[Mapping[str, Any]] = iter(events)
    if walk.prev_hex is None:  # unanchored: trust the first event's link
        first = next(stream, None)
        if first is None:
            return walk.finish()
        prev = first.get("prev_hash") if isinstance(first, Mapping) else None
        if not isinstance(prev, str) or not is_hash(prev):
            walk.malformed("its prev_hash is not a valid hash")
            return walk.finish()
        walk.set_prev(prev)
        stream = itertools.chain((first,), stream)
    _walk_events(walk, stream)
    return walk.finish()


def _canonical_or_none(index: object, values: tuple[Any, ...]) -> bytes | None:
    try:
        return encode_values(index, values)
    except (TypeError, ValueError):
        return None


def _walk_events(walk: ChainWalk, stream: Iterator[Mapping[str, Any]]) -> None:
    expected, prev_hex, prev_raw, prev2 = walk.expected, walk.prev_hex, walk.prev_raw, walk.before_prev
    next_cp, stop, checked = walk.next_cp, walk.stop, 0
    sha256, chain_fields, values_of, encode = hashlib.sha256, _chain_fields, content_values, encode_values
    if expected > stop:
        return
    for event in stream:
        try:
            index, prev_hash, stored = chain_fields(event)
            values = values_of(event)
            canonical = encode(index, values) if index == expected else b""
        except (KeyError, TypeError, ValueError) as exc:
            walk.expected, walk.checked, walk.prev_hex, walk.prev_raw = expected, checked, prev_hex, prev_raw
            walk.malformed(f"missing or unreadable field {exc}" if isinstance(exc, KeyError) else str(exc))
            break
        if index != expected:
            walk.expected, walk.checked, walk.prev_hex, walk.prev_raw = expected, checked, prev_hex, prev_raw
            walk.before_prev = prev2
            walk.wrong_place(
                index, prev_hash, stored, _canonical_or_none(index, values), _later_links(stream)
            )
            break
        if prev_hash != prev_hex:
            walk.expected, walk.checked, walk.prev_hex, walk.prev_raw = expected, checked, prev_hex, prev_raw
            walk.broken_link(prev_hash, stored, canonical, _later_links(stream))
            break
        raw = sha256(prev_raw + canonical).digest()
        if raw.hex() != stored:
            walk.expected, walk.checked, walk.prev_hex, walk.prev_raw = expected, checked, prev_hex, prev_raw
            walk.fail(expected, f"event {expected} was modified (hash mismatch)")
            break
        expected += 1
        checked += 1
        prev2, prev_hex, prev_raw = prev_hash, stored, raw
        if index == next_cp:
            walk.expected, walk.checked, walk.prev_hex, walk.prev_raw = expected, checked, prev_hex, prev_raw
            if not walk.at_checkpoints(index, stored):
                break
            next_cp = walk.next_cp
        if index == stop:
            break
    if not walk.failed:
        walk.expected, walk.checked, walk.prev_hex, walk.prev_raw = expected, checked, prev_hex, prev_raw
