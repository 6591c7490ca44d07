"""Read a ZIP's end-of-central-directory record before trusting `zipfile` with it.

`zipfile.ZipFile` loads the whole central directory into Python objects on open; a crafted archive
with a huge directory would cost hundreds of megabytes before any limit could apply. These helpers
read only the last ~64 KiB to learn the declared entry count and directory size.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass
from typing import IO

_EOCD = b"PK\x05\x06"
_ZIP64_LOCATOR = b"PK\x06\x07"
_ZIP64_EOCD = b"PK\x06\x06"
_EOCD_BYTES = 22
_MAX_COMMENT = 65_535

DETECT_MAX_DIRECTORY_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class ZipDirectory:
    entries: int
    directory_bytes: int


def read_zip_directory(handle: IO[bytes]) -> ZipDirectory | None:
    """The declared entry count and central-directory size, or None when no record is found."""
    size = handle.seek(0, io.SEEK_END)
    tail_length = min(size, _EOCD_BYTES + _MAX_COMMENT)
    handle.seek(size - tail_length)
    tail = handle.read(tail_length)
    handle.seek(0)
    position = tail.rfind(_EOCD)
    if position < 0 or position + _EOCD_BYTES > len(tail):
        return None
    entries, directory_bytes = struct.unpack_from("<HI", tail, position + 10)
    if entries != 0xFFFF and directory_bytes != 0xFFFFFFFF:
        return ZipDirectory(entries, directory_bytes)
    locator = position - 20
    if locator < 0 or tail[locator : locator + 4] != _ZIP64_LOCATOR:
        return ZipDirectory(entries, directory_bytes)
    (record_offset,) = struct.unpack_from("<Q", tail, locator + 8)
    if record_offset + 56 > size:
        return None
    handle.seek(record_offset)
    record = handle.read(56)
    handle.seek(0)
    if len(record) < 56 or record[:4] != _ZIP64_EOCD:
        return None
    entries64, directory64 = struct.unpack_from("<QQ", record, 32)
    return ZipDirectory(int(entries64), int(directory64))
