"""File type by content: refused when not on the allow-list or when the name lies about the content."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from governance.outputs.checks.base import CheckContext, CheckResult, FindingCollector
from governance.outputs.checks.detect import describe, detect
from governance.outputs.checks.textscan import text_stats


class FileTypeCheck:
    name = "filetype"
    version = "1"

    def run(self, path: Path, ctx: CheckContext) -> CheckResult:
        profile = ctx.profile
        found = FindingCollector(profile.max_findings)
        allowed = sorted(profile.allowed_file_types)
        parameters: dict[str, Any] = {"allowed_file_types": allowed}
        if path.stat().st_size == 0:
            found.add("empty_file", "The file is empty, so its type cannot be determined.")
            return found.result(self.name, self.version, parameters)
        detection = detect(path, ctx)
        parameters.update(
            detected_type=detection.kind, content_type=detection.content_kind, extension=detection.extension
        )
        if detection.mismatch:
            found.add(
                "extension_mismatch",
                detection.mismatch,
                {"extension": detection.extension, "content": detection.content_kind},
            )
        if detection.problem:
            found.add("unreadable_content", detection.problem)
        if detection.kind not in profile.allowed_file_types:
            found.add(
                "type_not_allowed",
                f"The file is {describe(detection.kind)}, which is not an allowed "
                f"output type (allowed: {', '.join(allowed)}).",
                {"type": detection.kind},
            )
        if detection.extension_kind is None:
            shown = f".{detection.extension}" if detection.extension else "no extension"
            found.add(
                "unknown_extension",
                f"The file name has {shown}; name it after its content "
                f"(.{_suggested_extension(detection.kind)}).",
                status="review",
            )
        if detection.is_text and path.stat().st_size <= profile.max_file_bytes:
            stats = text_stats(path, ctx)
            if not stats.stopped_early:
                if stats.nul_offset is not None:
                    found.add(
                        "binary_content",
                        f"The text file contains binary data (a NUL byte at offset {stats.nul_offset:,}).",
                        {"offset": stats.nul_offset},
                    )
                if stats.invalid_utf8_offset is not None:
                    found.add(
                        "not_utf8",
                        "The text file is not valid UTF-8 (first bad byte at offset "
                        f"{stats.invalid_utf8_offset:,}); save it as UTF-8.",
                        {"offset": stats.invalid_utf8_offset},
                    )
        return found.result(self.name, self.version, parameters)


def _suggested_extension(kind: str) -> str:
    return {"markdown": "md", "jpeg": "jpg", "gzip": "gz", "binary": "bin"}.get(kind, kind)
