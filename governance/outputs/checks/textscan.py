"""One bounded pass over a text file: lines, longest line, header width, encoding.

Reads fixed-size blocks and never holds more than one block plus the header line (itself capped), so a
10 MB single line or a header with a million columns costs constant memory; the scan stops at the first
line over the limit.
"""

from __future__ import annotations

import codecs
import csv
from dataclasses import dataclass
from pathlib import Path

from governance.outputs.checks.base import CheckContext
from governance.outputs.checks.detect import detect
from governance.outputs.checks.memo import memoised

BLOCK_BYTES = 1024 * 1024


@dataclass(frozen=True, slots=True)
class TextStats:
    lines: int  # lines read (a final line without a newline counts)
    longest_line_bytes: int
    longest_line_number: int  # 1-based
    stopped_early: bool  # a line exceeded the limit, so the rest was not read
    header_fields: int | None  # fields in the first line, for delimited text
    invalid_utf8_offset: int | None
    nul_offset: int | None


def text_stats(path: Path, ctx: CheckContext) -> TextStats:
    detection = detect(path, ctx)
    limit = ctx.profile.max_line_bytes
    return memoised(ctx, "text_stats", path, lambda: scan_text(path, limit, detection.delimiter))


def scan_text(path: Path, max_line_bytes: int, delimiter: str | None) -> TextStats:
    lines = 0
    current = 0  # length of the line being read
    longest, longest_at = 0, 0
    header = bytearray()
    header_done = False
    offset = 0
    invalid_at: int | None = None
    nul_at: int | None = None
    decoder = codecs.getincrementaldecoder("utf-8")()
    with path.open("rb") as handle:
        while block := handle.read(BLOCK_BYTES):
            if invalid_at is None:
                try:
                    decoder.decode(block)
                except UnicodeDecodeError as exc:
                    invalid_at = offset + exc.start
            if nul_at is None and (position := block.find(b"\x00")) >= 0:
                nul_at = offset + position
            pieces = block.split(b"\n")
            if not header_done:
                header += pieces[0][: max(0, max_line_bytes + 1 - len(header))]
                header_done = len(pieces) > 1
            # pieces[0] continues the current line; pieces[-1] starts a line that may continue.
            if len(pieces) == 1:
                current += len(pieces[0])
            else:
                first = current + len(pieces[0])
                if first > longest:
                    longest, longest_at = first, lines + 1
                if len(pieces) > 2:
                    lengths = list(map(len, pieces[1:-1]))
                    middle = max(lengths)
                    if middle > longest:
                        longest, longest_at = middle, lines + 2 + lengths.index(middle)
                lines += len(pieces) - 1
                current = len(pieces[-1])
            if current > longest:
                longest, longest_at = current, lines + 1
            offset += len(block)
            if longest > max_line_bytes:
                return TextStats(
                    lines + (1 if current else 0),
                    longest,
                    longest_at,
                    True,
                    _fields(bytes(header), delimiter),
                    invalid_at,
                    nul_at,
                )
        if invalid_at is None:
            try:
                decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                invalid_at = offset
    if current:
        lines += 1
    return TextStats(lines, longest, longest_at, False, _fields(bytes(header), delimiter), invalid_at, nul_at)


def _fields(header: bytes, delimiter: str | None) -> int | None:
    if delimiter is None:
        return None
    line = header.rstrip(b"\r").decode("utf-8", errors="replace")
    rough = line.count(delimiter) + 1
    if '"' not in line:
        return rough
    try:
        return len(next(csv.reader([line], delimiter=delimiter)))
    except (csv.Error, StopIteration):
        return rough
