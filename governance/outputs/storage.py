"""Encrypted file storage for output files (encrypted at rest, streaming, constant memory).

Each file gets a random 256-bit data key (DEK). The DEK is wrapped with the current key-encryption key
(KEK) of a versioned KeyRing using AES-256-GCM (the KEK version is authenticated), and the caller keeps
the wrapped key and KEK version next to the file's database row. Rotating a KEK means re-wrapping DEKs
(`rewrap`), never re-encrypting data.

On disk: a 16-byte header (magic, format version, chunk size) followed by the plaintext cut into
fixed-size chunks, each sealed with AES-256-GCM under the DEK. The nonce is the chunk index (a DEK
encrypts exactly one file, so nonces never repeat under a key). The associated data binds every chunk
to the header, the file id, its index and whether it is the last chunk, so reordering, swapping chunks
between files, truncation at any chunk boundary, dropping the last chunk and appending data are all
detected. An empty file still has one (empty, final) chunk.

Writers write to a temporary file in the same directory tree, fsync, and link it into place on commit;
abort or any failure leaves nothing behind. A file id is written once.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
import struct
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAGIC = b"FSGOUT"
FORMAT_VERSION = 1
HEADER = struct.Struct(">6sBxI4x")  # magic, format version, pad, chunk size, pad (16 bytes)
TAG_BYTES = 16
DEFAULT_CHUNK_BYTES = 64 * 1024
MAX_CHUNK_BYTES = 16 * 1024 * 1024
KEY_BYTES = 32
_WRAP_FORMAT = 1
_WRAP_NONCE_BYTES = 12
_WRAP_AAD = b"five-safes-governance/output-dek/v1|"
_FILE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")


class StorageError(Exception):
    """Base class of storage errors."""


class FileTooLarge(StorageError):
    """More bytes were written than the writer's max_bytes."""


class IntegrityError(StorageError):
    """The stored file or wrapped key was modified, truncated, reordered or is under another key."""


class UnknownKeyVersion(StorageError):
    """The KeyRing has no KEK of that version."""


class StoredFileMissing(StorageError, FileNotFoundError):
    """No stored file has that id."""


@dataclass(frozen=True)
class KeyRing:
    """Key-encryption keys by version; `current` wraps new data keys."""

    keys: Mapping[str, bytes]
    current: str

    def __post_init__(self) -> None:
        if not self.keys:
            raise ValueError("a KeyRing needs at least one key")
        for version, key in self.keys.items():
            if not version or not isinstance(key, bytes | bytearray) or len(key) != KEY_BYTES:
                raise ValueError(f"KEK {version!r} must be {KEY_BYTES} bytes")
        if self.current not in self.keys:
            raise ValueError(f"current KEK version {self.current!r} is not in the key ring")

    def key(self, version: str) -> bytes:
        try:
            return bytes(self.keys[version])
        except KeyError:
            raise UnknownKeyVersion(f"no key-encryption key of version {version!r}") from None

    def __repr__(self) -> str:  # never print key material
        return f"KeyRing(versions={sorted(self.keys)}, current={self.current!r})"


@dataclass(frozen=True, slots=True)
class StoredFile:
    file_id: str
    size: int
    sha256: str  # of the plaintext, hex
    wrapped_key: bytes
    kek_version: str


def _chunk_aad(header: bytes, file_id: str, index: int, last: bool) -> bytes:
    return header + file_id.encode() + b"\x00" + struct.pack(">QB", index, 1 if last else 0)


def _nonce(index: int) -> bytes:
    return struct.pack(">4xQ", index)


class EncryptedStore:
    def __init__(self, root: Path, keyring: KeyRing, chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> None:
        if not 1024 <= chunk_bytes <= MAX_CHUNK_BYTES:
            raise ValueError(f"chunk_bytes must be between 1 KiB and {MAX_CHUNK_BYTES} bytes")
        self.root = Path(root)
        self.keyring = keyring
        self.chunk_bytes = chunk_bytes
        self._tmp = self.root / ".tmp"
        self._tmp.mkdir(parents=True, exist_ok=True, mode=0o700)

    # -- keys -------------------------------------------------------------------------------------------

    def _wrap(self, dek: bytes, version: str) -> bytes:
        nonce = secrets.token_bytes(_WRAP_NONCE_BYTES)
        sealed = AESGCM(self.keyring.key(version)).encrypt(nonce, dek, _WRAP_AAD + version.encode())
        return bytes([_WRAP_FORMAT]) + nonce + sealed

    def _unwrap(self, wrapped: bytes, version: str) -> bytes:
        if len(wrapped) != 1 + _WRAP_NONCE_BYTES + KEY_BYTES + TAG_BYTES or wrapped[0] != _WRAP_FORMAT:
            raise IntegrityError("the wrapped data key is malformed")
        nonce, sealed = wrapped[1 : 1 + _WRAP_NONCE_BYTES], wrapped[1 + _WRAP_NONCE_BYTES :]
        try:
            return AESGCM(self.keyring.key(version)).decrypt(nonce, sealed, _WRAP_AAD + version.encode())
        except InvalidTag:
            raise IntegrityError("the data key cannot be unwrapped with this key-encryption key") from None

    def rewrap(self, wrapped_key: bytes, from_version: str, to_version: str) -> bytes:
        """Re-wrap a data key under another KEK (key rotation without re-encrypting the file)."""
        return self._wrap(self._unwrap(wrapped_key, from_version), to_version)

    # -- files ------------------------------------------------------------------------------------------

    def path_for(self, file_id: str) -> Path:
        if not _FILE_ID.match(file_id):
            raise ValueError("file_id must be 1-128 characters of letters, digits, '-' and '_'")
        return self.root / file_id[:2] / f"{file_id}.enc"

    def exists(self, file_id: str) -> bool:
        return self.path_for(file_id).is_file()

    def open_writer(self, file_id: str, max_bytes: int) -> EncryptedWriter:
        final = self.path_for(file_id)
        if final.exists():
            raise FileExistsError(f"a stored file with id {file_id!r} already exists")
        return EncryptedWriter(self, file_id, final, max_bytes)

    def open_reader(self, file_id: str, wrapped_key: bytes, kek_version: str) -> Iterator[bytes]:
        """Decrypt a stored file chunk by chunk; raises IntegrityError on any tampering.

        Chunks are verified before they are yielded, but a damaged later chunk is only found when it is
        reached: treat the whole stream as failed if IntegrityError is raised part-way.
        """
        path = self.path_for(file_id)
        dek = self._unwrap(wrapped_key, kek_version)
        try:
            handle = path.open("rb")
        except FileNotFoundError:
            raise StoredFileMissing(f"no stored file with id {file_id!r}") from None
        return self._decrypt(handle, file_id, dek)

    def verify(self, file_id: str, wrapped_key: bytes, kek_version: str) -> tuple[int, str]:
        """Decrypt the whole file without keeping it; (size, sha256 hex) or IntegrityError."""
        digest = hashlib.sha256()
        size = 0
        for chunk in self.open_reader(file_id, wrapped_key, kek_version):
            digest.update(chunk)
            size += len(chunk)
        return size, digest.hexdigest()

    def delete(self, file_id: str) -> bool:
        """Remove a stored file; False when there was none."""
        try:
            self.path_for(file_id).unlink()
        except FileNotFoundError:
            return False
        return True

    def sweep_temporary(self, older_than_seconds: float = 24 * 3600) -> int:
        """Remove temporary files left by writers that died before commit/abort; returns how many."""
        cutoff = time.time() - older_than_seconds
        removed = 0
        for leftover in self._tmp.glob("*.part"):
            with contextlib.suppress(FileNotFoundError):
                if leftover.stat().st_mtime < cutoff:
                    leftover.unlink()
                    removed += 1
        return removed

    def _decrypt(self, handle: BinaryIO, file_id: str, dek: bytes) -> Iterator[bytes]:
        with handle:
            header = handle.read(HEADER.size)
            if len(header) != HEADER.size:
                raise IntegrityError("the stored file is truncated (no header)")
            magic, version, chunk_bytes = HEADER.unpack(header)
            if magic != MAGIC or version != FORMAT_VERSION or not 1024 <= chunk_bytes <= MAX_CHUNK_BYTES:
                raise IntegrityError("the stored file has an unknown or damaged header")
            sealed_size = chunk_bytes + TAG_BYTES
            aead = AESGCM(dek)
            index = 0
            current = handle.read(sealed_size)
            while True:
                following = handle.read(sealed_size) if len(current) == sealed_size else b""
                last = not following
                if len(current) < TAG_BYTES:
                    raise IntegrityError("the stored file is truncated")
                try:
                    plain = aead.decrypt(_nonce(index), current, _chunk_aad(header, file_id, index, last))
                except InvalidTag:
                    raise IntegrityError(
                        f"chunk {index} of the stored file failed authentication "
                        "(modified, reordered, truncated or under another key)"
                    ) from None
                yield plain
                if last:
                    return
                index += 1
                current = following


class EncryptedWriter:
    """Streams plaintext into an encrypted temporary file; `commit` publishes it, `abort` removes it."""

    def __init__(self, store: EncryptedStore, file_id: str, final: Path, max_bytes: int) -> None:
        self._store = store
        self.file_id = file_id
        self._final = final
        self._max_bytes = max_bytes
        self._dek = secrets.token_bytes(KEY_BYTES)
        self._aead = AESGCM(self._dek)
        self._header = HEADER.pack(MAGIC, FORMAT_VERSION, store.chunk_bytes)
        self._pending = bytearray()
        self._index = 0
        self._size = 0
        self._digest = hashlib.sha256()
        self._closed = False
        fd, name = _temp_file(store._tmp, file_id)
        self._temp = Path(name)
        self._out = os.fdopen(fd, "wb", buffering=1024 * 1024)
        self._out.write(self._header)

    @property
    def size(self) -> int:
        return self._size

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._closed:
            raise StorageError("the writer is closed")
        if self._size + len(data) > self._max_bytes:
            self.abort()
            raise FileTooLarge(f"the file is larger than the limit of {self._max_bytes:,} bytes")
        try:
            self._size += len(data)
            self._digest.update(data)
            chunk = self._store.chunk_bytes
            view = memoryview(data)
            # A full chunk is sealed only when more data follows it: the last chunk must be marked last.
            while len(self._pending) + len(view) > chunk:
                take = chunk - len(self._pending)
                if take:
                    self._pending += view[:take]
                    view = view[take:]
                self._seal(bytes(self._pending), last=False)
                self._pending.clear()
            self._pending += view
        except BaseException:
            self.abort()
            raise

    def _seal(self, plain: bytes, *, last: bool) -> None:
        aad = _chunk_aad(self._header, self.file_id, self._index, last)
        self._out.write(self._aead.encrypt(_nonce(self._index), plain, aad))
        self._index += 1

    def commit(self) -> StoredFile:
        if self._closed:
            raise StorageError("the writer is closed")
        try:
            self._seal(bytes(self._pending), last=True)
            self._pending.clear()
            self._out.flush()
            os.fsync(self._out.fileno())
            self._out.close()
            store = self._store
            version = store.keyring.current
            wrapped = store._wrap(self._dek, version)
            self._final.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.link(self._temp, self._final)  # fails if the id was taken meanwhile: files are write-once
            self._temp.unlink()
            _fsync_dir(self._final.parent)
        except BaseException:
            self.abort()
            raise
        self._closed = True
        return StoredFile(self.file_id, self._size, self._digest.hexdigest(), wrapped, version)

    def abort(self) -> None:
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(OSError):
            self._out.close()
        with contextlib.suppress(FileNotFoundError):
            self._temp.unlink()

    def __enter__(self) -> EncryptedWriter:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if not self._closed:
            self.abort()


def _temp_file(directory: Path, file_id: str) -> tuple[int, str]:
    name = directory / f"{file_id}.{secrets.token_hex(8)}.part"
    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    return fd, str(name)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
