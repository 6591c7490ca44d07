from __future__ import annotations

import json
import zipfile
from collections.abc import Callable
from pathlib import Path

from governance.outputs.checks import CheckContext, CheckResult, FileTypeCheck
from governance.outputs.checks.detect import detect_file_type

from .samples import PNG, codes, write_parquet, write_text, write_xlsx

Ctx = Callable[..., CheckContext]


def run(path: Path, make_ctx: Ctx, name: str | None = None, tier: int = 2) -> CheckResult:
    return FileTypeCheck().run(path, make_ctx(name or path.name, tier))


def test_allowed_types_pass(tmp_path: Path, make_ctx: Ctx) -> None:
    files = [
        write_text(tmp_path / "table.csv", "region,n\nNorth,15\nSouth,20\n"),
        write_text(tmp_path / "table.tsv", "region\tn\nNorth\t15\nSouth\t20\n"),
        write_text(tmp_path / "notes.txt", "We found no difference between the groups.\n"),
        write_text(tmp_path / "README.md", "# Results\n\nSee the table.\n"),
        write_text(tmp_path / "model.json", json.dumps({"coef": [0.1, 0.2]})),
        write_xlsx(tmp_path / "book.xlsx", {"Sheet": [["a", "n"], ["x", 10]]}),
        write_parquet(tmp_path / "t.parquet", {"n": [10, 20]}),
    ]
    (tmp_path / "figure.png").write_bytes(PNG)
    (tmp_path / "photo.jpg").write_bytes(b"\xff\xd8\xff\xe0" + bytes(32))
    (tmp_path / "report.pdf").write_bytes(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    files += [tmp_path / "figure.png", tmp_path / "photo.jpg", tmp_path / "report.pdf"]
    for path in files:
        result = run(path, make_ctx)
        assert result.status == "pass", (path.name, result.findings)
        assert result.parameters["detected_type"] in result.parameters["allowed_file_types"]


def test_detected_types(tmp_path: Path) -> None:
    expectations = {
        "a.csv": ("region,n\nNorth,15\nSouth,20\n", "csv"),
        "a.tsv": ("region\tn\nNorth\t15\n", "tsv"),
        "a.json": ('{"a": 1}', "json"),
        "a.md": ("# Title\n", "markdown"),
        "a.txt": ("hello\n", "txt"),
    }
    for name, (text, kind) in expectations.items():
        detection = detect_file_type(write_text(tmp_path / name, text), name)
        assert detection.kind == kind, name
    book = write_xlsx(tmp_path / "b.xlsx", {"S": [["a"]]})
    assert detect_file_type(book, "b.xlsx").kind == "xlsx"
    assert detect_file_type(write_parquet(tmp_path / "p.parquet", {"n": [1]}), "p.parquet").kind == "parquet"
    # a .txt holding CSV keeps its type but is recognised as a table
    disguised = detect_file_type(write_text(tmp_path / "t.txt", "a,b\n1,2\n3,4\n"), "t.txt")
    assert (disguised.kind, disguised.content_kind, disguised.is_table) == ("txt", "csv", True)


def test_extension_that_lies_fails_and_names_both(tmp_path: Path, make_ctx: Ctx) -> None:
    path = tmp_path / "counts.csv"
    path.write_bytes(PNG)
    result = run(path, make_ctx)
    assert result.status == "fail"
    lie = next(f for f in result.findings if f.code == "extension_mismatch")
    assert ".csv" in lie.message and "PNG" in lie.message
    assert lie.location == {"extension": "csv", "content": "png"}


def test_xlsx_that_is_a_plain_zip_is_a_lie_and_an_archive(tmp_path: Path, make_ctx: Ctx) -> None:
    path = tmp_path / "book.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("data.csv", "a,b\n1,2\n")
    result = run(path, make_ctx)
    assert result.status == "fail"
    assert {"extension_mismatch", "type_not_allowed"} <= codes(result)


def test_html_posing_as_text_and_invalid_json(tmp_path: Path, make_ctx: Ctx) -> None:
    page = write_text(tmp_path / "notes.txt", "<!DOCTYPE html><html><script>alert(1)</script></html>")
    result = run(page, make_ctx)
    assert result.status == "fail"
    assert {"extension_mismatch", "type_not_allowed"} <= codes(result)
    broken = write_text(tmp_path / "model.json", '{"coef": [0.1, ')
    assert "extension_mismatch" in codes(run(broken, make_ctx))


def test_types_outside_the_allow_list_fail(tmp_path: Path, make_ctx: Ctx) -> None:
    executable = tmp_path / "tool.exe"
    executable.write_bytes(b"MZ\x90\x00" + bytes(100))
    result = run(executable, make_ctx)
    assert result.status == "fail"
    assert "type_not_allowed" in codes(result)
    svg = write_text(tmp_path / "plot.svg", '<svg xmlns="http://www.w3.org/2000/svg"></svg>')
    assert run(svg, make_ctx).parameters["detected_type"] == "svg"
    assert run(svg, make_ctx).status == "fail"


def test_unknown_extension_needs_review(tmp_path: Path, make_ctx: Ctx) -> None:
    path = write_text(tmp_path / "results.dat", "some words\n")
    result = run(path, make_ctx)
    assert result.status == "review"
    assert codes(result) == {"unknown_extension"}


def test_bad_bytes_after_the_head_are_found(tmp_path: Path, make_ctx: Ctx) -> None:
    path = tmp_path / "long.txt"
    path.write_bytes(b"fine text\n" * 10_000 + b"caf\xe9\n")  # Latin-1 byte past the sniffed head
    result = run(path, make_ctx)
    assert result.status == "fail"
    assert "not_utf8" in codes(result)
    nul = tmp_path / "nul.txt"
    nul.write_bytes(b"fine text\n" * 10_000 + b"\x00\n")
    assert "binary_content" in codes(run(nul, make_ctx))


def test_empty_file_fails(tmp_path: Path, make_ctx: Ctx) -> None:
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    assert run(path, make_ctx).status == "fail"
