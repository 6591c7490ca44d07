"""A streaming multipart/form-data reader: small text fields are collected (bounded), the one file
part is handed to a sink piece by piece as it arrives, so an upload of any size uses constant memory.

The sink does blocking work (encryption, disk) and is called in a worker thread. Any failure — a
malformed body, a limit, a dropped connection — aborts the sink, so nothing half-stored remains.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request

from governance.core.errors import InvalidInput
from governance.outputs import names

FLUSH_BYTES = 1024 * 1024
MAX_FIELD_CHARS = 10_000
MAX_NAME_BYTES = names.MAX_NAME_BYTES
MAX_PARTS = 16
FIELD_OVERHEAD_BYTES = 256 * 1024  # what the text fields and part headers may add to the file's size


class Sink(Protocol):
    def write(self, data: bytes) -> None: ...
    def abort(self) -> None: ...


S = TypeVar("S", bound=Sink)


class UploadRejected(InvalidInput):
    code, title = "invalid-upload", "Invalid upload"


def clean_file_name(raw: str) -> str:
    """The name as given, if it is a plain file name (the rule of `governance.outputs.names`, shared
    with the members of ACRO session ZIPs); a 400 problem otherwise."""
    try:
        return names.clean_file_name(raw)
    except names.UnsafeFileName as exc:
        raise UploadRejected(str(exc)) from None


@dataclass
class _State:
    allowed_fields: frozenset[str]
    file_field: str
    fields: dict[str, str] = field(default_factory=dict)
    filename: str | None = None
    header_field: bytearray = field(default_factory=bytearray)
    header_value: bytearray = field(default_factory=bytearray)
    headers: dict[str, bytes] = field(default_factory=dict)
    part_name: str | None = None
    in_file: bool = False
    file_done: bool = False
    field_bytes: bytearray = field(default_factory=bytearray)
    pending: bytearray = field(default_factory=bytearray)
    parts: int = 0
    ended: bool = False


@dataclass
class Upload(Generic[S]):
    fields: dict[str, str]
    filename: str
    size: int
    sink: S


class _Callbacks:
    def __init__(self, state: _State) -> None:
        self.s = state

    def on_part_begin(self) -> None:
        s = self.s
        s.parts += 1
        if s.parts > MAX_PARTS:
            raise UploadRejected("the upload has too many parts")
        s.headers, s.part_name, s.in_file = {}, None, False
        s.field_bytes.clear()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.s.header_field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.s.header_value += data[start:end]

    def on_header_end(self) -> None:
        s = self.s
        s.headers[bytes(s.header_field).decode("latin-1").lower()] = bytes(s.header_value)
        s.header_field.clear()
        s.header_value.clear()

    def on_headers_finished(self) -> None:
        s = self.s
        disposition, options = parse_options_header(s.headers.get("content-disposition"))
        if disposition != b"form-data" or b"name" not in options:
            raise UploadRejected("every part of the upload needs a Content-Disposition: form-data; name=...")
        name = options[b"name"].decode("utf-8", errors="replace")
        if b"filename" in options:
            if name != s.file_field:
                raise UploadRejected(f"send the file in the form field {s.file_field!r} (got {name[:50]!r})")
            if s.filename is not None:
                raise UploadRejected("send one file per upload")
            s.filename = clean_file_name(options[b"filename"].decode("utf-8", errors="replace"))
            s.in_file = True
        else:
            if name not in s.allowed_fields:
                allowed = ", ".join(sorted(s.allowed_fields | {s.file_field}))
                raise UploadRejected(f"unknown form field {name[:50]!r}; the fields are {allowed}")
            if name in s.fields:
                raise UploadRejected(f"the form field {name!r} was sent twice")
        s.part_name = name

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        s = self.s
        if s.in_file:
            s.pending += data[start:end]
        else:
            s.field_bytes += data[start:end]
            if len(s.field_bytes) > MAX_FIELD_CHARS * 4:
                raise UploadRejected(
                    f"the form field {s.part_name!r} is longer than {MAX_FIELD_CHARS} characters"
                )

    def on_part_end(self) -> None:
        s = self.s
        if s.in_file:
            s.in_file, s.file_done = False, True
            return
        try:
            text = bytes(s.field_bytes).decode("utf-8")
        except UnicodeDecodeError:
            raise UploadRejected(f"the form field {s.part_name!r} is not UTF-8 text") from None
        if len(text) > MAX_FIELD_CHARS:
            raise UploadRejected(
                f"the form field {s.part_name!r} is longer than {MAX_FIELD_CHARS} characters"
            )
        s.fields[s.part_name or ""] = text.strip()

    def on_end(self) -> None:
        self.s.ended = True


def boundary_of(request: Request) -> bytes:
    mime, options = parse_options_header(request.headers.get("content-type", ""))
    if mime != b"multipart/form-data":
        raise UploadRejected("send the upload as multipart/form-data with the file in the field 'file'")
    boundary = options.get(b"boundary")
    if not boundary:
        raise UploadRejected("the multipart/form-data upload has no boundary")
    return boundary


async def receive(
    request: Request,
    open_sink: Callable[[str], S],
    *,
    allowed_fields: frozenset[str],
    file_field: str = "file",
) -> Upload[S]:
    """Read the whole body; the file goes to the sink opened for its (cleaned) name.

    Returns the fields, the number of file bytes written and the sink, which the caller commits or
    aborts. On any error here the sink is aborted before the exception propagates.
    """
    state = _State(allowed_fields=allowed_fields, file_field=file_field)
    callbacks = _Callbacks(state)
    parser = MultipartParser(
        boundary_of(request),
        {  # type: ignore[arg-type]
            name: getattr(callbacks, name)
            for name in (
                "on_part_begin",
                "on_header_field",
                "on_header_value",
                "on_header_end",
                "on_headers_finished",
                "on_part_data",
                "on_part_end",
                "on_end",
            )
        },
    )
    sink: S | None = None
    size = 0

    async def flush() -> None:
        nonlocal sink, size
        if not state.pending:
            return
        if sink is None:
            assert state.filename is not None
            sink = await run_in_threadpool(open_sink, state.filename)
        data = bytes(state.pending)
        state.pending.clear()
        size += len(data)
        await run_in_threadpool(sink.write, data)

    try:
        async for chunk in request.stream():
            if chunk:
                parser.write(chunk)
            if len(state.pending) >= FLUSH_BYTES:
                await flush()
        parser.finalize()
        await flush()
        if not state.ended:
            raise UploadRejected("the upload ended before its closing boundary (was it interrupted?)")
        if state.filename is not None and sink is None:
            sink = await run_in_threadpool(open_sink, state.filename)  # an empty file: the caller decides
    except ClientDisconnect:
        if sink is not None:
            await run_in_threadpool(sink.abort)
        raise UploadRejected("the upload was interrupted") from None
    except FormParserError as exc:
        if sink is not None:
            await run_in_threadpool(sink.abort)
        raise UploadRejected(f"the multipart body is malformed ({exc})") from None
    except BaseException:
        if sink is not None:
            await run_in_threadpool(sink.abort)
        raise
    if state.filename is None or sink is None:
        raise UploadRejected("the upload has no file; send it in the form field 'file'")
    return Upload(state.fields, state.filename, size, sink)
