from __future__ import annotations

import hashlib
import os
import secrets
import tracemalloc
from pathlib import Path

import pytest

from governance.outputs.storage import (
    HEADER,
    TAG_BYTES,
    EncryptedStore,
    FileTooLarge,
    IntegrityError,
    KeyRing,
    StoredFile,
    StoredFileMissing,
    UnknownKeyVersion,
)

CHUNK = 1024  # small chunks so that a few KiB make many chunks


@pytest.fixture
def keyring() -> KeyRing:
    return KeyRing({"v1": secrets.token_bytes(32), "v2": secrets.token_bytes(32)}, current="v1")


@pytest.fixture
def store(tmp_path: Path, keyring: KeyRing) -> EncryptedStore:
    return EncryptedStore(tmp_path / "store", keyring, chunk_bytes=CHUNK)


def put(store: EncryptedStore, file_id: str, data: bytes, piece: int = 700) -> StoredFile:
    writer = store.open_writer(file_id, max_bytes=len(data) + 1)
    for start in range(0, len(data), piece):
        writer.write(data[start : start + piece])
    return writer.commit()


def read(store: EncryptedStore, stored: StoredFile, file_id: str | None = None) -> bytes:
    return b"".join(store.open_reader(file_id or stored.file_id, stored.wrapped_key, stored.kek_version))


def sealed_chunks(store: EncryptedStore, file_id: str) -> tuple[bytes, list[bytes]]:
    raw = store.path_for(file_id).read_bytes()
    header, body = raw[: HEADER.size], raw[HEADER.size :]
    size = CHUNK + TAG_BYTES
    return header, [body[i : i + size] for i in range(0, len(body), size)]


def rewrite(store: EncryptedStore, file_id: str, header: bytes, chunks: list[bytes]) -> None:
    store.path_for(file_id).write_bytes(header + b"".join(chunks))


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 3 * CHUNK + 17])
def test_round_trip(store: EncryptedStore, size: int) -> None:
    data = os.urandom(size)
    stored = put(store, "file-a", data)
    assert stored.size == size
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    assert stored.kek_version == "v1"
    assert read(store, stored) == data
    assert store.verify("file-a", stored.wrapped_key, "v1") == (size, stored.sha256)
    if size >= 16:  # a few random bytes may occur in any ciphertext by chance; a 16-byte run will not
        assert data not in store.path_for("file-a").read_bytes()


def test_ciphertext_reveals_nothing_obvious(store: EncryptedStore) -> None:
    data = b"patient_id,count\n" * 500
    put(store, "plain", data)
    raw = store.path_for("plain").read_bytes()
    assert b"patient_id" not in raw
    assert len(raw) == HEADER.size + len(data) + TAG_BYTES * -(-len(data) // CHUNK)


def test_flipped_byte_is_detected(store: EncryptedStore) -> None:
    stored = put(store, "f", os.urandom(3 * CHUNK))
    path = store.path_for("f")
    raw = bytearray(path.read_bytes())
    raw[HEADER.size + (CHUNK + TAG_BYTES) + 5] ^= 0x01  # inside chunk 1
    path.write_bytes(bytes(raw))
    with pytest.raises(IntegrityError, match="chunk 1"):
        read(store, stored)


def test_swapped_chunks_are_detected(store: EncryptedStore) -> None:
    stored = put(store, "f", os.urandom(3 * CHUNK))
    header, chunks = sealed_chunks(store, "f")
    rewrite(store, "f", header, [chunks[1], chunks[0], chunks[2]])
    with pytest.raises(IntegrityError):
        read(store, stored)


def test_truncation_at_a_chunk_boundary_is_detected(store: EncryptedStore) -> None:
    stored = put(store, "f", os.urandom(3 * CHUNK + 100))
    header, chunks = sealed_chunks(store, "f")
    rewrite(store, "f", header, chunks[:2])  # both remaining chunks are full and were sealed "not last"
    with pytest.raises(IntegrityError):
        read(store, stored)


def test_dropped_last_chunk_is_detected(store: EncryptedStore) -> None:
    stored = put(store, "f", os.urandom(2 * CHUNK + 10))
    header, chunks = sealed_chunks(store, "f")
    rewrite(store, "f", header, chunks[:-1])
    with pytest.raises(IntegrityError):
        read(store, stored)


def test_truncation_inside_a_chunk_and_appended_data_are_detected(store: EncryptedStore) -> None:
    stored = put(store, "f", os.urandom(2 * CHUNK + 10))
    path = store.path_for("f")
    raw = path.read_bytes()
    path.write_bytes(raw[:-7])
    with pytest.raises(IntegrityError):
        read(store, stored)
    path.write_bytes(raw + os.urandom(CHUNK + TAG_BYTES))
    with pytest.raises(IntegrityError):
        read(store, stored)


def test_chunks_cannot_move_between_files(store: EncryptedStore) -> None:
    first = put(store, "first", os.urandom(2 * CHUNK + 1))
    put(store, "second", os.urandom(2 * CHUNK + 1))
    header, mine = sealed_chunks(store, "first")
    _, theirs = sealed_chunks(store, "second")
    rewrite(store, "first", header, [mine[0], theirs[1], mine[2]])
    with pytest.raises(IntegrityError):
        read(store, first)


def test_file_is_bound_to_its_id(store: EncryptedStore) -> None:
    stored = put(store, "original", os.urandom(100))
    target = store.path_for("imposter")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(store.path_for("original").read_bytes())
    with pytest.raises(IntegrityError):
        read(store, stored, file_id="imposter")


def test_header_tampering_is_detected(store: EncryptedStore) -> None:
    stored = put(store, "f", os.urandom(100))
    path = store.path_for("f")
    raw = bytearray(path.read_bytes())
    raw[0] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(IntegrityError, match="header"):
        read(store, stored)


def test_wrong_key_is_refused(tmp_path: Path, store: EncryptedStore) -> None:
    stored = put(store, "f", b"secret table")
    with pytest.raises(IntegrityError):
        read(store, StoredFile("f", stored.size, stored.sha256, stored.wrapped_key, "v2"))
    other = EncryptedStore(
        store.root, KeyRing({"v1": secrets.token_bytes(32)}, current="v1"), chunk_bytes=CHUNK
    )
    with pytest.raises(IntegrityError):
        read(other, stored)
    damaged = bytearray(stored.wrapped_key)
    damaged[-1] ^= 1
    with pytest.raises(IntegrityError):
        read(store, StoredFile("f", stored.size, stored.sha256, bytes(damaged), "v1"))
    with pytest.raises(UnknownKeyVersion):
        read(store, StoredFile("f", stored.size, stored.sha256, stored.wrapped_key, "v9"))


def test_another_files_key_does_not_open_a_file(store: EncryptedStore) -> None:
    first = put(store, "first", os.urandom(50))
    second = put(store, "second", os.urandom(50))
    with pytest.raises(IntegrityError):
        read(store, StoredFile("first", first.size, first.sha256, second.wrapped_key, "v1"))


def test_rewrap_rotates_the_key_encryption_key(
    tmp_path: Path, store: EncryptedStore, keyring: KeyRing
) -> None:
    data = os.urandom(2 * CHUNK)
    stored = put(store, "f", data)
    before = store.path_for("f").read_bytes()
    rewrapped = store.rewrap(stored.wrapped_key, "v1", "v2")
    assert rewrapped != stored.wrapped_key
    assert store.path_for("f").read_bytes() == before  # data untouched
    assert b"".join(store.open_reader("f", rewrapped, "v2")) == data
    # once v1 is retired, only the rewrapped key works
    retired = EncryptedStore(store.root, KeyRing({"v2": keyring.key("v2")}, current="v2"), chunk_bytes=CHUNK)
    assert b"".join(retired.open_reader("f", rewrapped, "v2")) == data
    with pytest.raises(UnknownKeyVersion):
        retired.rewrap(stored.wrapped_key, "v1", "v2")
    with pytest.raises(IntegrityError):
        store.rewrap(stored.wrapped_key, "v2", "v1")  # wrong source version


def test_new_files_use_the_current_kek(tmp_path: Path, keyring: KeyRing) -> None:
    rotated = EncryptedStore(tmp_path / "s", KeyRing(dict(keyring.keys), current="v2"), chunk_bytes=CHUNK)
    stored = put(rotated, "f", b"x")
    assert stored.kek_version == "v2"
    assert read(rotated, stored) == b"x"


def test_over_the_limit_raises_and_leaves_nothing(store: EncryptedStore) -> None:
    writer = store.open_writer("big", max_bytes=2 * CHUNK)
    writer.write(os.urandom(CHUNK))
    with pytest.raises(FileTooLarge):
        writer.write(os.urandom(CHUNK + 1))
    assert not store.exists("big")
    assert list((store.root / ".tmp").iterdir()) == []


def test_abort_and_context_manager_leave_nothing(store: EncryptedStore) -> None:
    writer = store.open_writer("gone", max_bytes=10_000)
    writer.write(b"half written")
    writer.abort()
    with pytest.raises(RuntimeError), store.open_writer("gone2", max_bytes=10_000) as second:
        second.write(b"x")
        raise RuntimeError("upload interrupted")
    assert not store.exists("gone") and not store.exists("gone2")
    assert list((store.root / ".tmp").iterdir()) == []


def test_ids_are_write_once_and_validated(store: EncryptedStore) -> None:
    put(store, "once", b"1")
    with pytest.raises(FileExistsError):
        store.open_writer("once", max_bytes=10)
    for bad in ("../escape", "a/b", "", ".hidden", "x" * 129):
        with pytest.raises(ValueError):
            store.open_writer(bad, max_bytes=10)


def test_delete(store: EncryptedStore) -> None:
    stored = put(store, "f", b"data")
    assert store.delete("f") is True
    assert store.delete("f") is False
    with pytest.raises(StoredFileMissing):
        read(store, stored)


def test_keyring_validation() -> None:
    with pytest.raises(ValueError):
        KeyRing({"v1": b"short"}, current="v1")
    with pytest.raises(ValueError):
        KeyRing({"v1": secrets.token_bytes(32)}, current="v2")
    ring = KeyRing({"v1": secrets.token_bytes(32)}, current="v1")
    assert "v1" in repr(ring) and str(ring.keys["v1"]) not in repr(ring)


def test_memory_stays_constant_while_streaming(tmp_path: Path, keyring: KeyRing) -> None:
    store = EncryptedStore(tmp_path / "s", keyring)  # default 64 KiB chunks
    piece = os.urandom(256 * 1024)
    tracemalloc.start()
    try:
        writer = store.open_writer("large", max_bytes=64 * 1024 * 1024)
        for _ in range(128):  # 32 MiB
            writer.write(piece)
        stored = writer.commit()
        _, write_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        total = sum(
            len(chunk) for chunk in store.open_reader("large", stored.wrapped_key, stored.kek_version)
        )
        _, read_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == 32 * 1024 * 1024
    assert write_peak < 4 * 1024 * 1024
    assert read_peak < 4 * 1024 * 1024


def test_sweep_removes_only_stale_leftovers(store: EncryptedStore) -> None:
    stale = store.open_writer("crashed", max_bytes=100)
    stale.write(b"partial")
    leftover = next((store.root / ".tmp").iterdir())
    os.utime(leftover, (1, 1))  # as if written long ago by a worker that died
    fresh = store.open_writer("in-progress", max_bytes=100)
    fresh.write(b"partial")
    assert store.sweep_temporary(older_than_seconds=3600) == 1
    assert not leftover.exists()
    assert fresh.commit().size == 7  # the live writer was not disturbed
