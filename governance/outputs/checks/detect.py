"""What a file really is, judged by its content, and what its name claims it is."""

from __future__ import annotations

import codecs
import csv
import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from governance.outputs.checks.base import CheckContext
from governance.outputs.checks.memo import memoised
from governance.outputs.checks.zipguard import DETECT_MAX_DIRECTORY_BYTES, read_zip_directory

HEAD_BYTES = 64 * 1024
JSON_PARSE_LIMIT = 8 * 1024 * 1024  # larger JSON-looking files are presumed JSON, not parsed
SNIFF_LINES = 50
DELIMITERS = ("\t", ",", ";", "|")

TEXT_KINDS = frozenset({"csv", "tsv", "json", "txt", "markdown", "svg", "html", "xml"})
TABLE_KINDS = frozenset({"csv", "tsv", "xlsx", "parquet"})
ARCHIVE_KINDS = frozenset({"zip", "gzip", "tar", "7z", "rar"})

EXTENSION_KINDS: dict[str, str] = {
    "csv": "csv",
    "tsv": "tsv",
    "tab": "tsv",
    "xlsx": "xlsx",
    "parquet": "parquet",
    "pq": "parquet",
    "json": "json",
    "txt": "txt",
    "text": "txt",
    "log": "txt",
    "md": "markdown",
    "markdown": "markdown",
    "png": "png",
    "jpg": "jpeg",
    "jpeg": "jpeg",
    "pdf": "pdf",
    "svg": "svg",
    "html": "html",
    "htm": "html",
    "xml": "xml",
    "zip": "zip",
    "gz": "gzip",
    "tgz": "gzip",
    "tar": "tar",
    "7z": "7z",
    "rar": "rar",
}

_MAGIC: tuple[tuple[bytes, int, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", 0, "png"),
    (b"\xff\xd8\xff", 0, "jpeg"),
    (b"%PDF-", 0, "pdf"),
    (b"PAR1", 0, "parquet"),
    (b"\x1f\x8b", 0, "gzip"),
    (b"7z\xbc\xaf\x27\x1c", 0, "7z"),
    (b"Rar!\x1a\x07", 0, "rar"),
    (b"ustar", 257, "tar"),
)
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
_OTHER_BINARY = (
    b"\x7fELF",
    b"MZ\x90\x00",
    b"GIF87a",
    b"GIF89a",
    b"\xfd7zXZ\x00",
    b"\xd0\xcf\x11\xe0",
    b"\xca\xfe\xba\xbe",
)


@dataclass(frozen=True, slots=True)
class Detection:
    kind: str  # the type checked against the allow-list
    content_kind: str  # what the bytes are
    extension: str  # lower case, without the dot; "" when none
    extension_kind: str | None  # what the name claims; None for an unrecognised extension
    delimiter: str | None  # for delimited text
    mismatch: str | None  # a sentence when the name lies about the content
    problem: str | None  # a sentence when the content is damaged or undecodable

    @property
    def is_text(self) -> bool:
        return self.content_kind in TEXT_KINDS

    @property
    def is_table(self) -> bool:
        """Tabular checks apply: a table format, or text that is delimited whatever its name says."""
        return self.kind in TABLE_KINDS or self.content_kind in ("csv", "tsv")

    @property
    def table_kind(self) -> str | None:
        if not self.is_table:
            return None
        if self.content_kind in ("xlsx", "parquet"):
            return self.content_kind
        return "tsv" if self.delimiter == "\t" else "csv"


def extension_of(file_name: str) -> str:
    name = PurePosixPath(file_name.replace("\\", "/")).name.lower()
    if name.endswith(".tar.gz"):
        return "tgz"
    return name.rsplit(".", 1)[1] if "." in name.strip(".") else ""


def detect(path: Path, ctx: CheckContext) -> Detection:
    return memoised(ctx, "detect", path, lambda: detect_file_type(path, ctx.file_name))


def detect_file_type(path: Path, file_name: str) -> Detection:
    extension = extension_of(file_name)
    extension_kind = EXTENSION_KINDS.get(extension)
    with path.open("rb") as handle:
        head = handle.read(HEAD_BYTES)
        size = handle.seek(0, io.SEEK_END)
    content_kind, delimiter, problem = _content_kind(path, head, size)
    kind, mismatch = _reconcile(content_kind, extension, extension_kind)
    if delimiter is None and kind in ("csv", "tsv") and content_kind in TEXT_KINDS:
        delimiter = "\t" if kind == "tsv" else ","
    return Detection(kind, content_kind, extension, extension_kind, delimiter, mismatch, problem)


def _content_kind(path: Path, head: bytes, size: int) -> tuple[str, str | None, str | None]:
    for magic, offset, kind in _MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return kind, None, None
    if head.startswith(_ZIP_MAGIC):
        return _zip_kind(path)
    if head.startswith(_OTHER_BINARY) or b"\x00" in head:
        return "binary", None, None
    text = _decode_head(head, complete=size <= len(head))
    if text is None:
        return "binary", None, "The file is neither a recognised binary format nor valid UTF-8 text."
    return _text_kind(path, text, size, complete=size <= len(head))


def _zip_kind(path: Path) -> tuple[str, str | None, str | None]:
    try:
        with path.open("rb") as handle:
            directory = read_zip_directory(handle)
            if directory is None:
                return "zip", None, "The ZIP container is damaged and cannot be opened."
            if directory.directory_bytes > DETECT_MAX_DIRECTORY_BYTES:
                return "zip", None, "The ZIP container's directory is too large to inspect."
            with zipfile.ZipFile(handle) as archive:
                names = archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return "zip", None, "The ZIP container is damaged and cannot be opened."
    if "[Content_Types].xml" in names and any(name.startswith("xl/") for name in names):
        return "xlsx", None, None
    return "zip", None, None


def _decode_head(head: bytes, *, complete: bool) -> str | None:
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        text = decoder.decode(head, final=complete)
    except UnicodeDecodeError:
        return None
    return text.removeprefix("\ufeff")


def _text_kind(path: Path, text: str, size: int, *, complete: bool) -> tuple[str, str | None, str | None]:
    stripped = text.lstrip()
    lowered = stripped[:512].lower()
    if stripped[:1] in ("{", "[") and (size > JSON_PARSE_LIMIT or _parses_as_json(path)):
        return "json", None, None
    if lowered.startswith("<svg") or ("<svg" in lowered and lowered.startswith("<?xml")):
        return "svg", None, None
    if lowered.startswith(("<!doctype html", "<html")):
        return "html", None, None
    if lowered.startswith("<?xml"):
        return "xml", None, None
    delimiter = sniff_delimiter(text, complete=complete)
    if delimiter is not None:
        return ("tsv" if delimiter == "\t" else "csv"), delimiter, None
    return "txt", None, None


def _parses_as_json(path: Path) -> bool:
    try:
        json.loads(path.read_bytes())
    except (ValueError, RecursionError):
        return False
    return True


def sniff_delimiter(text: str, *, complete: bool) -> str | None:
    """The delimiter giving every sniffed line the same number (>= 2) of fields, if any."""
    lines = text.splitlines()
    if not complete and lines and not text.endswith(("\n", "\r")):
        lines = lines[:-1]  # the last line was cut by the head limit
    lines = [line for line in lines[:SNIFF_LINES] if line.strip()]
    if len(lines) < 2:
        return None
    best: tuple[int, str] | None = None
    for delimiter in DELIMITERS:
        if delimiter not in lines[0]:
            continue
        try:
            widths = {len(row) for row in csv.reader(lines, delimiter=delimiter)}
        except csv.Error:
            continue
        if len(widths) == 1:
            width = widths.pop()
            if width >= 2 and (best is None or width > best[0]):
                best = (width, delimiter)
    return best[1] if best else None


_COMPATIBLE_TEXT = {
    "csv": {"csv", "tsv", "txt"},
    "tsv": {"csv", "tsv", "txt"},
    "json": {"json"},
    "txt": {"csv", "tsv", "json", "txt"},
    "markdown": {"csv", "tsv", "json", "txt"},
    "svg": {"svg", "xml", "txt"},
    "html": {"html", "xml", "txt"},
    "xml": {"xml", "svg", "txt"},
}
_DESCRIPTIONS = {
    "csv": "CSV text",
    "tsv": "tab-separated text",
    "json": "JSON",
    "txt": "plain text",
    "markdown": "Markdown text",
    "svg": "an SVG image",
    "html": "an HTML page",
    "xml": "XML",
    "xlsx": "an Excel workbook",
    "parquet": "a Parquet file",
    "png": "a PNG image",
    "jpeg": "a JPEG image",
    "pdf": "a PDF document",
    "zip": "a ZIP archive",
    "gzip": "a gzip-compressed file",
    "tar": "a tar archive",
    "7z": "a 7-Zip archive",
    "rar": "a RAR archive",
    "binary": "binary data of an unrecognised kind",
}


def describe(kind: str) -> str:
    return _DESCRIPTIONS.get(kind, kind)


def _reconcile(content_kind: str, extension: str, extension_kind: str | None) -> tuple[str, str | None]:
    if extension_kind is None:
        return content_kind, None
    if content_kind in TEXT_KINDS and extension_kind in TEXT_KINDS:
        if content_kind in _COMPATIBLE_TEXT[extension_kind]:
            return extension_kind, None
        return content_kind, _lie(extension, content_kind)
    if content_kind == extension_kind:
        return content_kind, None
    if extension == "tgz" and content_kind == "gzip":
        return content_kind, None
    return content_kind, _lie(extension, content_kind)


def _lie(extension: str, content_kind: str) -> str:
    return f"The file name ends in .{extension} but the content is {describe(content_kind)}."
