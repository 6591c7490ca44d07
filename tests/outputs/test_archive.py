from __future__ import annotations

import gzip
import io
import tarfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from governance.outputs.checks import ArchiveCheck, CheckContext, CheckResult
from governance.outputs.checks.archive import unsafe_member_name
from governance.outputs.risk_profile import RiskProfile, RiskProfiles

from .conftest import with_changes
from .samples import codes, write_xlsx

Ctx = Callable[..., CheckContext]


@pytest.fixture
def allowing(profiles: RiskProfiles) -> RiskProfile:
    """Archives allowed, with limits small enough for fast tests."""
    return with_changes(
        profiles.for_tier(1),
        archives_allowed=True,
        archive={
            "max_members": 50,
            "max_total_uncompressed_bytes": 8 * 1024 * 1024,
            "max_ratio": 100.0,
            "max_depth": 1,
        },
    )


def zip_of(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def check(path: Path, make_ctx: Ctx, profile: RiskProfile | None = None) -> CheckResult:
    return ArchiveCheck().run(path, make_ctx(path.name, tier=1, profile=profile))


def test_archives_are_refused_by_default(tmp_path: Path, make_ctx: Ctx) -> None:
    path = zip_of(tmp_path / "outputs.zip", {"table.csv": b"a,n\nx,10\n"})
    result = check(path, make_ctx)
    assert result.status == "fail"
    assert codes(result) == {"archive_not_allowed"}


def test_non_archives_pass(tmp_path: Path, make_ctx: Ctx) -> None:
    path = tmp_path / "t.csv"
    path.write_text("a,n\nx,10\n")
    assert check(path, make_ctx).status == "pass"


def test_a_safe_archive_passes_when_allowed(tmp_path: Path, make_ctx: Ctx, allowing: RiskProfile) -> None:
    path = zip_of(tmp_path / "outputs.zip", {"tables/a.csv": b"a,n\nx,10\n", "notes.txt": b"fine\n"})
    assert check(path, make_ctx, allowing).status == "pass"


def test_zip_bomb_is_stopped_quickly(tmp_path: Path, make_ctx: Ctx, allowing: RiskProfile) -> None:
    path = zip_of(tmp_path / "bomb.zip", {"zeros.bin": bytes(64 * 1024 * 1024)})
    assert path.stat().st_size < 200_000
    started = time.perf_counter()
    result = check(path, make_ctx, allowing)
    assert time.perf_counter() - started < 2
    assert result.status == "fail"
    assert codes(result) & {"compression_ratio", "too_much_uncompressed_data"}


def test_streaming_budget_stops_even_when_the_ratio_is_tolerated(
    tmp_path: Path, make_ctx: Ctx, allowing: RiskProfile
) -> None:
    lenient = with_changes(allowing, archive={**allowing.archive.model_dump(), "max_ratio": 1e9})
    path = zip_of(tmp_path / "bomb.zip", {f"z{i}.bin": bytes(4 * 1024 * 1024) for i in range(4)})
    result = check(path, make_ctx, lenient)
    assert codes(result) == {"too_much_uncompressed_data"}


def test_nested_archives_are_inspected_up_to_the_depth_limit(
    tmp_path: Path, make_ctx: Ctx, allowing: RiskProfile
) -> None:
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as archive:
        archive.writestr("../../etc/cron.d/evil", b"* * * * * root sh\n")
    one_deep = zip_of(tmp_path / "one.zip", {"inner.zip": inner.getvalue()})
    result = check(one_deep, make_ctx, allowing)
    assert "path_traversal" in codes(result)  # found inside the nested archive
    middle = io.BytesIO()
    with zipfile.ZipFile(middle, "w") as archive:
        archive.writestr("inner.zip", inner.getvalue())
    two_deep = zip_of(tmp_path / "two.zip", {"middle.zip": middle.getvalue()})
    assert "archive_too_deep" in codes(check(two_deep, make_ctx, allowing))


def test_path_traversal_names_are_flagged(tmp_path: Path, make_ctx: Ctx, allowing: RiskProfile) -> None:
    path = zip_of(tmp_path / "t.zip", {"../escape.txt": b"x", "/etc/passwd": b"x", "ok/file.txt": b"x"})
    result = check(path, make_ctx, allowing)
    flagged = {f.location["member"] for f in result.findings if f.code == "path_traversal" and f.location}
    assert flagged == {"../escape.txt", "/etc/passwd"}
    assert result.status == "fail"
    assert unsafe_member_name("..\\..\\windows\\system32") is not None
    assert unsafe_member_name("C:/temp/x") is not None
    assert unsafe_member_name("a/b..c/d.txt") is None


def test_symlinks_in_zip_are_flagged(tmp_path: Path, make_ctx: Ctx, allowing: RiskProfile) -> None:
    path = tmp_path / "links.zip"
    with zipfile.ZipFile(path, "w") as archive:
        link = zipfile.ZipInfo("passwd")
        link.external_attr = 0o120777 << 16
        archive.writestr(link, "/etc/passwd")
        archive.writestr("ok.txt", "fine")
    result = check(path, make_ctx, allowing)
    assert codes(result) == {"link_member"}
    assert result.findings[0].location == {"member": "passwd"}


def test_tar_links_traversal_and_gzip(tmp_path: Path, make_ctx: Ctx, allowing: RiskProfile) -> None:
    path = tmp_path / "t.tar.gz"
    with tarfile.open(path, "w:gz") as archive:
        data = b"a,n\nx,10\n"
        info = tarfile.TarInfo("../../outside.csv")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("shadow")
        link.type = tarfile.SYMTYPE
        link.linkname = "/etc/shadow"
        archive.addfile(link)
    result = check(path, make_ctx, allowing)
    assert {"path_traversal", "link_member"} <= codes(result)
    assert result.parameters["archive_kind"] == "gzip"


def test_gzip_bomb(tmp_path: Path, make_ctx: Ctx, allowing: RiskProfile) -> None:
    path = tmp_path / "zeros.gz"
    with gzip.open(path, "wb") as handle:
        for _ in range(32):
            handle.write(bytes(1024 * 1024))
    result = check(path, make_ctx, allowing)
    assert result.status == "fail"
    assert codes(result) & {"compression_ratio", "too_much_uncompressed_data"}


def test_too_many_members(tmp_path: Path, make_ctx: Ctx, allowing: RiskProfile) -> None:
    path = zip_of(tmp_path / "many.zip", {f"f{i}.txt": b"x" for i in range(60)})
    assert codes(check(path, make_ctx, allowing)) == {"too_many_members"}


def test_uninspectable_formats_fail(tmp_path: Path, make_ctx: Ctx, allowing: RiskProfile) -> None:
    path = tmp_path / "x.7z"
    path.write_bytes(b"7z\xbc\xaf\x27\x1c" + bytes(100))
    assert codes(check(path, make_ctx, allowing)) == {"archive_not_inspectable"}


def test_damaged_zip_fails(tmp_path: Path, make_ctx: Ctx, allowing: RiskProfile) -> None:
    path = tmp_path / "broken.zip"
    path.write_bytes(b"PK\x03\x04" + bytes(100))
    assert check(path, make_ctx, allowing).status == "fail"


def test_workbooks_are_guarded_even_when_archives_are_refused(
    tmp_path: Path, make_ctx: Ctx, profiles: RiskProfiles
) -> None:
    book = write_xlsx(tmp_path / "b.xlsx", {"S": [["a", "n"], ["x", 10]]})
    assert check(book, make_ctx).status == "pass"
    tight = with_changes(
        profiles.for_tier(1),
        archive={**profiles.for_tier(1).archive.model_dump(), "max_total_uncompressed_bytes": 100},
    )
    result = check(book, make_ctx, tight)
    assert codes(result) == {"too_much_uncompressed_data"}


def test_zip_directory_is_read_before_trusting_zipfile(tmp_path: Path) -> None:
    from governance.outputs.checks.zipguard import read_zip_directory

    path = zip_of(tmp_path / "t.zip", {f"f{i}.txt": b"x" for i in range(7)})
    with path.open("rb") as handle:
        directory = read_zip_directory(handle)
    assert directory is not None and directory.entries == 7
    truncated = tmp_path / "cut.zip"
    truncated.write_bytes(path.read_bytes()[:-10])
    with truncated.open("rb") as handle:
        assert read_zip_directory(handle) is None
