"""The sealer: integrates committed events into the chain, and signs a checkpoint now and then.

Appending never waits for the chain: ``record()`` inserts a row with a sequence number only, and the
sealer later gives committed rows their chain fields, in seq order, in its own short transaction.
Exactly one sealer may run at a time (the store implementation takes a lock, e.g. a PostgreSQL
advisory lock or a row lock on a singleton table); a UNIQUE constraint on chain_index turns an
accidental second sealer into a failed transaction instead of a forked chain.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from governance.audit.chain import GENESIS, link
from governance.audit.checkpoints import Checkpoint, key_id_for, should_checkpoint, sign_checkpoint


class SealerStore(Protocol):
    def head(self) -> tuple[int, str]:
        """(chain_index, hash) of the last sealed event; (0, GENESIS) when nothing is sealed."""
        ...

    def unsealed_batch(self, limit: int) -> Sequence[Mapping[str, Any]]:
        """Up to ``limit`` committed events without a chain_index, in seq order."""
        ...

    def write_links(self, links: Sequence[tuple[int, int, str, str]]) -> None:
        """Store (seq, chain_index, prev_hash, hash) for each event."""
        ...

    def last_checkpoint(self) -> Checkpoint | None: ...

    def events_since_checkpoint(self) -> int:
        """Sealed events after the last checkpoint (all sealed events when there is none)."""
        ...

    def write_checkpoint(self, checkpoint: Checkpoint) -> None: ...


def seal_once(
    store: SealerStore,
    signer: Ed25519PrivateKey,
    key_id: str,
    now: datetime,
    every_n: int,
    every_seconds: float,
    batch: int = 1000,
) -> int:
    """Seal one batch of events and sign a checkpoint when the policy says so; returns events sealed."""
    if key_id != key_id_for(signer.public_key()):
        raise ValueError("key_id does not belong to the signing key")
    last_index, last_hash = store.head()
    events = store.unsealed_batch(batch)
    if events:
        links = link(events, last_hash, last_index + 1)
        store.write_links([(event["seq"], *chain) for event, chain in zip(events, links, strict=True)])
        last_index, last_hash = links[-1][0], links[-1][2]
    previous = store.last_checkpoint()
    seconds = math.inf if previous is None else (now - previous.created_at).total_seconds()
    if should_checkpoint(store.events_since_checkpoint(), seconds, every_n, every_seconds):
        store.write_checkpoint(sign_checkpoint(signer, key_id, last_index, last_hash, now))
    return len(events)


@dataclass
class InMemorySealerStore:
    """A SealerStore over plain lists, for tests, benchmarks and examples."""

    rows: list[dict[str, Any]] = field(default_factory=list)  # in seq order
    checkpoints: list[Checkpoint] = field(default_factory=list)
    _sealed: int = 0  # rows[:_sealed] carry chain fields

    def append(self, event: Mapping[str, Any]) -> dict[str, Any]:
        seq = self.rows[-1]["seq"] + 1 if self.rows else 1
        row = {**event, "seq": seq, "chain_index": None, "prev_hash": None, "hash": None}
        self.rows.append(row)
        return row

    def head(self) -> tuple[int, str]:
        if not self._sealed:
            return 0, GENESIS
        row = self.rows[self._sealed - 1]
        return row["chain_index"], row["hash"]

    def unsealed_batch(self, limit: int) -> list[dict[str, Any]]:
        return self.rows[self._sealed : self._sealed + limit]

    def write_links(self, links: Sequence[tuple[int, int, str, str]]) -> None:
        for seq, chain_index, prev_hash, hash_ in links:
            row = self.rows[self._sealed]
            if row["seq"] != seq:
                raise ValueError(f"links must follow seq order: expected seq {row['seq']}, got {seq}")
            row.update(chain_index=chain_index, prev_hash=prev_hash, hash=hash_)
            self._sealed += 1

    def last_checkpoint(self) -> Checkpoint | None:
        return self.checkpoints[-1] if self.checkpoints else None

    def events_since_checkpoint(self) -> int:
        covered = self.checkpoints[-1].chain_index if self.checkpoints else 0
        return self.head()[0] - covered

    def write_checkpoint(self, checkpoint: Checkpoint) -> None:
        self.checkpoints.append(checkpoint)

    def sealed(self) -> list[dict[str, Any]]:
        return self.rows[: self._sealed]
