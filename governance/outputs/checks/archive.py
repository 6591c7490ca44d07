"""Archives: refused unless the profile allows them; when allowed, inspected member by member.

Inspection streams every member through a byte budget (members, total uncompressed bytes, compression
ratio, nesting depth) and stops at the first limit, so a zip bomb costs at most the budget in CPU and a
fixed amount of memory. Nested archives are spooled to a temporary file (counted in the budget) and
inspected in turn. Nothing is extracted to the file system under its own name.
"""

from __future__ import annotations

import gzip
import stat
import tarfile
import tempfile
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any, Protocol

from governance.outputs.checks.base import CheckContext, CheckResult, FindingCollector
from governance.outputs.checks.detect import ARCHIVE_KINDS, describe, detect
from governance.outputs.checks.zipguard import read_zip_directory
from governance.outputs.risk_profile import ArchiveLimits

READ_BYTES = 64 * 1024
SPOOL_MEMORY_BYTES = 1024 * 1024
_RATIO_FLOOR_BYTES = 1024 * 1024  # below this much output, ratios say nothing
_NESTED_MAGIC = ((b"PK\x03\x04", "zip"), (b"\x1f\x8b", "gzip"))


class _Readable(Protocol):
    def read(self, size: int = ..., /) -> bytes: ...


@dataclass(frozen=True, slots=True)
class ArchiveProblem:
    code: str
    message: str
    member: str | None = None


class _LimitExceeded(Exception):
    def __init__(self, problem: ArchiveProblem) -> None:
        super().__init__(problem.message)
        self.problem = problem


@dataclass
class _Budget:
    limits: ArchiveLimits
    check_ratio: bool = True
    members: int = 0
    total: int = 0
    position: Callable[[], int] | None = None  # bytes of the outer file read so far
    problems: list[ArchiveProblem] = field(default_factory=list)

    def count_member(self, name: str) -> None:
        self.members += 1
        if self.members > self.limits.max_members:
            raise _LimitExceeded(
                ArchiveProblem(
                    "too_many_members",
                    f"The archive has more than {self.limits.max_members:,} members.",
                    name,
                )
            )

    def consume(self, n: int, name: str) -> None:
        self.total += n
        if self.total > self.limits.max_total_uncompressed_bytes:
            raise _LimitExceeded(
                ArchiveProblem(
                    "too_much_uncompressed_data",
                    f"The archive expands to more than {self.limits.max_total_uncompressed_bytes:,} bytes "
                    "(a possible zip bomb); inspection stopped.",
                    name,
                )
            )
        if self.position is not None and self.total > _RATIO_FLOOR_BYTES:
            self.check_ratio_of(self.total, self.position(), name)

    def check_ratio_of(self, uncompressed: int, compressed: int, name: str) -> None:
        if (
            self.check_ratio
            and uncompressed > 1024
            and uncompressed > self.limits.max_ratio * max(compressed, 1)
        ):
            raise _LimitExceeded(
                ArchiveProblem(
                    "compression_ratio",
                    f"'{name}' expands more than {self.limits.max_ratio:g} times (a possible zip bomb); "
                    "inspection stopped.",
                    name,
                )
            )


def unsafe_member_name(name: str) -> str | None:
    """Why an archive member name could escape the extraction folder, or None when it is safe."""
    if not name or "\x00" in name:
        return "has an empty or NUL-containing name"
    normalised = name.replace("\\", "/")
    if normalised.startswith("/") or (len(normalised) > 1 and normalised[1] == ":"):
        return "is an absolute path"
    if ".." in PurePosixPath(normalised).parts:
        return "climbs out of the folder with '..'"
    return None


def inspect_archive(
    path: Path, kind: str, limits: ArchiveLimits, *, check_ratio: bool = True
) -> list[ArchiveProblem]:
    """Problems found in a zip/tar/gzip archive (or an XLSX container); empty when it is safe."""
    budget = _Budget(limits, check_ratio=check_ratio)
    try:
        with path.open("rb") as handle:
            if check_ratio:
                budget.position = handle.tell
            _inspect(handle, kind, budget, depth=0, name=path.name)
        compressed = path.stat().st_size
        budget.check_ratio_of(budget.total, compressed, path.name)
    except _LimitExceeded as exc:
        budget.problems.append(exc.problem)
    except (
        zipfile.BadZipFile,
        tarfile.TarError,
        zlib.error,
        EOFError,
        gzip.BadGzipFile,
        ValueError,
        NotImplementedError,
        RuntimeError,
    ) as exc:
        budget.problems.append(
            ArchiveProblem("damaged_archive", f"The archive is damaged or unreadable ({exc}).")
        )
    return budget.problems


def _inspect(handle: IO[bytes], kind: str, budget: _Budget, *, depth: int, name: str) -> None:
    if depth > budget.limits.max_depth:
        raise _LimitExceeded(
            ArchiveProblem(
                "archive_too_deep", f"Archives are nested more than {budget.limits.max_depth} deep.", name
            )
        )
    if kind == "zip":
        _inspect_zip(handle, budget, depth)
    elif kind == "tar":
        _inspect_tar(handle, budget, depth, "r|")
    elif kind == "gzip":
        _inspect_gzip(handle, budget, depth, name)
    else:
        budget.problems.append(
            ArchiveProblem(
                "archive_not_inspectable",
                f"{describe(kind).capitalize()} cannot be inspected; use ZIP.",
                name,
            )
        )


def _inspect_zip(handle: IO[bytes], budget: _Budget, depth: int) -> None:
    directory = read_zip_directory(handle)
    if directory is None:
        raise zipfile.BadZipFile("no end-of-central-directory record")
    limit = budget.limits.max_members
    if directory.entries > limit or directory.directory_bytes > max(1 << 20, limit * 1024):
        raise _LimitExceeded(
            ArchiveProblem(
                "too_many_members",
                f"The archive declares {directory.entries:,} members ({directory.directory_bytes:,} bytes of "
                f"directory), more than the limit of {limit:,} members.",
            )
        )
    with zipfile.ZipFile(handle) as archive:
        infos = archive.infolist()
        if len(infos) > budget.limits.max_members:
            raise _LimitExceeded(
                ArchiveProblem(
                    "too_many_members",
                    f"The archive has {len(infos):,} members, more than {budget.limits.max_members:,}.",
                )
            )
        for info in infos:
            budget.count_member(info.filename)
            _check_name(info.filename, budget)
            if info.flag_bits & 0x1:
                budget.problems.append(
                    ArchiveProblem(
                        "encrypted_member",
                        f"Member '{info.filename}' is encrypted and cannot be inspected.",
                        info.filename,
                    )
                )
                continue
            if stat.S_ISLNK(info.external_attr >> 16):
                budget.problems.append(
                    ArchiveProblem(
                        "link_member",
                        f"Member '{info.filename}' is a symbolic link; links are not allowed in outputs.",
                        info.filename,
                    )
                )
                continue
            if info.is_dir():
                continue
            budget.check_ratio_of(info.file_size, info.compress_size, info.filename)
            with archive.open(info) as member:
                _stream_member(member, budget, depth, info.filename, info.compress_size)


def _inspect_tar(handle: IO[bytes], budget: _Budget, depth: int, mode: str) -> None:
    with tarfile.open(fileobj=handle, mode=mode) as archive:  # type: ignore[call-overload]
        for info in archive:
            budget.count_member(info.name)
            _check_name(info.name, budget)
            if info.issym() or info.islnk():
                budget.problems.append(
                    ArchiveProblem(
                        "link_member",
                        f"Member '{info.name}' is a link (to '{info.linkname}'); links are not "
                        "allowed in outputs.",
                        info.name,
                    )
                )
                continue
            if not (info.isfile() or info.isdir()):
                budget.problems.append(
                    ArchiveProblem(
                        "special_member",
                        f"Member '{info.name}' is a device, pipe or other special file.",
                        info.name,
                    )
                )
                continue
            if info.isdir():
                continue
            if budget.total + info.size > budget.limits.max_total_uncompressed_bytes:
                budget.consume(info.size, info.name)
            member = archive.extractfile(info)
            if member is not None:
                _stream_member(member, budget, depth, info.name, None)


def _inspect_gzip(handle: IO[bytes], budget: _Budget, depth: int, name: str) -> None:
    with gzip.GzipFile(fileobj=handle, mode="rb") as stream:
        head = stream.read(512)
    if len(head) >= 262 and head[257:262] == b"ustar":
        handle.seek(0)
        _inspect_tar(handle, budget, depth, "r|gz")
        return
    handle.seek(0)
    budget.count_member(name)
    with gzip.GzipFile(fileobj=handle, mode="rb") as stream:
        _stream_member(stream, budget, depth, name.removesuffix(".gz"), None)


def _stream_member(member: _Readable, budget: _Budget, depth: int, name: str, compressed: int | None) -> None:
    first = member.read(READ_BYTES)
    nested = next((kind for magic, kind in _NESTED_MAGIC if first.startswith(magic)), None)
    if nested is None and len(first) >= 262 and first[257:262] == b"ustar":
        nested = "tar"
    size = len(first)
    budget.consume(len(first), name)
    spool: IO[bytes] | None = None
    if nested is not None:
        spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY_BYTES)  # noqa: SIM115
        spool.write(first)
    try:
        while chunk := member.read(READ_BYTES):
            size += len(chunk)
            budget.consume(len(chunk), name)
            if compressed is not None:
                budget.check_ratio_of(size, compressed, name)
            if spool is not None:
                spool.write(chunk)
        if spool is not None and nested is not None:
            spool.seek(0)
            _inspect(spool, nested, budget, depth=depth + 1, name=name)
    finally:
        if spool is not None:
            spool.close()


def _check_name(name: str, budget: _Budget) -> None:
    reason = unsafe_member_name(name)
    if reason is not None:
        budget.problems.append(
            ArchiveProblem(
                "path_traversal",
                f"Member '{name[:200]}' {reason}; extracting it could overwrite other files.",
                name,
            )
        )


class ArchiveCheck:
    name = "archive"
    version = "1"

    def run(self, path: Path, ctx: CheckContext) -> CheckResult:
        profile = ctx.profile
        limits = profile.archive
        found = FindingCollector(profile.max_findings)
        parameters: dict[str, Any] = {"archives_allowed": profile.archives_allowed, **limits.model_dump()}
        if path.stat().st_size == 0:
            return found.result(self.name, self.version, parameters)
        detection = detect(path, ctx)
        kind = detection.content_kind
        if kind in ARCHIVE_KINDS:
            parameters["archive_kind"] = kind
            if not profile.archives_allowed:
                found.add(
                    "archive_not_allowed",
                    f"The file is {describe(kind)}; archives are not allowed at this "
                    "tier. Submit the files individually.",
                )
                return found.result(self.name, self.version, parameters)
            problems = inspect_archive(path, kind, limits)
        elif kind == "xlsx":
            # A workbook is a ZIP container: guard the parser against bombs, but XML legitimately
            # compresses very well, so only the size and member limits apply.
            parameters["archive_kind"] = "xlsx container"
            problems = inspect_archive(path, "zip", limits, check_ratio=False)
        else:
            return found.result(self.name, self.version, parameters)
        for problem in problems:
            found.add(problem.code, problem.message, {"member": problem.member} if problem.member else None)
        return found.result(self.name, self.version, parameters)
