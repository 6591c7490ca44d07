"""Issue 9, "every Five Safes promise kept on every path": the side doors of the automated output checks.

Each test is named after the promise it protects. Files are real (Parquet and workbooks built byte by
byte where a library would refuse to write a hostile one), ACRO sessions come from the real `acro`
package, and the child process is a real process with real limits.
"""

from __future__ import annotations

import io
import json
import os
import random
import re
import resource
import signal
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from governance.outputs import acro_upload, names
from governance.outputs.acro_check import acro_result
from governance.outputs.check_process import ProcessLimits, _child_env, _spec, run_in_child
from governance.outputs.checks import CheckContext, CheckResult, default_checks, run_all
from governance.outputs.checks.acro_ingest import check_acro_session
from governance.outputs.checks.patterns import nhs_number_is_valid
from governance.outputs.checks.registry import run_check
from governance.outputs.risk_profile import RiskProfile, RiskProfiles
from governance.outputs.suite import CONTENT_CHECKS

from .conftest import with_changes
from .samples import codes, write_text, write_xlsx

Ctx = Callable[..., CheckContext]
GiB = 1 << 30


def result_of(results: list[CheckResult], name: str) -> CheckResult:
    return next(r for r in results if r.name == name)


def with_tables(profile: RiskProfile, **changes: Any) -> RiskProfile:
    return with_changes(profile, tables={**profile.tables.model_dump(), **changes})


def valid_nhs_numbers(count: int, seed: int = 9) -> list[str]:
    """Ten-digit numbers whose last digit is the modulus-11 check digit of the first nine."""
    rng = random.Random(seed)
    found: list[str] = []
    while len(found) < count:
        stem = f"{rng.randrange(100_000_000, 1_000_000_000)}"
        check = 11 - sum(int(d) * w for d, w in zip(stem, range(10, 1, -1), strict=True)) % 11
        check = 0 if check == 11 else check
        if check != 10:
            found.append(stem + str(check))
    assert all(nhs_number_is_valid(n) for n in found)
    return found


# ---- 1. decompression bombs are bounded before decoding -------------------------------------------------


def dictionary_bomb(path: Path, rows: int = 100_000, value_bytes: int = 1 << 20) -> Path:
    """One 1 MiB string in the dictionary page, referenced by every row: < 1 KB on disk, 100 GB decoded."""
    column = pa.DictionaryArray.from_arrays(pa.array([0] * rows, pa.int32()), pa.array(["x" * value_bytes]))
    pq.write_table(pa.table({"label": column}), path, compression="zstd", use_dictionary=True)
    assert path.stat().st_size < 10_000
    return path


def test_promise_decompression_bomb_bounded_before_decoding_parquet_dictionary_page(
    tmp_path: Path, make_ctx: Ctx
) -> None:
    path = dictionary_bomb(tmp_path / "labels.parquet")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    results = run_all(path, make_ctx(path.name, tier=1))
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    tabular = result_of(results, "tabular")
    assert tabular.status == "fail" and codes(tabular) == {"too_much_decoded_data"}
    assert "decompression bomb" in tabular.findings[0].message
    identifiers = result_of(results, "identifiers")
    assert identifiers.status == "fail" and codes(identifiers) == {"not_checked"}
    assert "decompression bomb" in identifiers.findings[0].message
    assert grown_mib < 200, f"reading the bomb grew this process by {grown_mib:.0f} MiB"


def test_promise_decompression_bomb_bounded_before_decoding_parquet_data_pages(
    tmp_path: Path, make_ctx: Ctx, profiles: RiskProfiles
) -> None:
    path = tmp_path / "zeros.parquet"
    pages = pa.array([bytes(4000)] * 5000, pa.binary())  # 20 MB of zeros in zstd data pages
    pq.write_table(pa.table({"blob": pages}), path, compression="zstd", use_dictionary=False)
    assert path.stat().st_size < 200_000
    profile = with_tables(profiles.for_tier(1), max_decoded_bytes=4 * 1024 * 1024)
    results = run_all(path, make_ctx(path.name, profile=profile))
    tabular = result_of(results, "tabular")
    assert tabular.status == "fail" and codes(tabular) == {"too_much_decoded_data"}
    assert "declares more than 4,194,304 bytes" in tabular.findings[0].message  # from the footer
    # within the limit the same file is read
    roomy = with_tables(profiles.for_tier(1), max_decoded_bytes=64 * 1024 * 1024)
    assert result_of(run_all(path, make_ctx(path.name, profile=roomy)), "tabular").status == "pass"


def test_promise_decompression_bomb_bounded_before_decoding_parquet_cells_and_nesting(
    tmp_path: Path, make_ctx: Ctx, profiles: RiskProfiles
) -> None:
    wide = tmp_path / "wide.parquet"
    pq.write_table(pa.table({f"c{i}": pa.array([0] * 2000, pa.int8()) for i in range(20)}), wide)
    profile = with_tables(profiles.for_tier(1), max_cells=10_000)
    tabular = result_of(run_all(wide, make_ctx(wide.name, profile=profile)), "tabular")
    assert codes(tabular) == {"too_many_cells"} and tabular.status == "fail"
    nested = tmp_path / "lists.parquet"
    pq.write_table(pa.table({"values": pa.array([[0] * 100_000] * 3)}), nested)
    tabular = result_of(run_all(nested, make_ctx(nested.name, tier=1)), "tabular")
    assert codes(tabular) == {"nested_columns"} and tabular.status == "fail"


# Workbooks built part by part: openpyxl will not write a hostile one.
_CONTENT_TYPES = (
    b'<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/'
    b'2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
    b'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/'
    b'workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"'
    b'/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-'
    b'officedocument.spreadsheetml.worksheet+xml"/><Override PartName="/xl/sharedStrings.xml" ContentType='
    b'"application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>'
)
_RELS = (
    b'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/'
    b'2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/'
    b'2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>'
)
_WORKBOOK = (
    b'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/'
    b'spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/'
    b'relationships"><sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
_WORKBOOK_RELS = (
    b'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/'
    b'2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/'
    b'2006/relationships/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="http://'
    b'schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"'
    b"/></Relationships>"
)
_MAIN = b'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
_TWO_ROWS = b'<row r="1"><c r="A1" t="s"><v>0</v></c></row><row r="2"><c r="A2"><v>20</v></c></row>'


def workbook(
    path: Path, *, strings: bytes = b"<si><t>n</t></si>", rows: bytes = _TWO_ROWS, prolog: bytes = b""
) -> Path:
    sheet = b'<?xml version="1.0" encoding="UTF-8"?><worksheet ' + _MAIN + b"><sheetData>" + rows
    sst = b'<?xml version="1.0" encoding="UTF-8"?>' + prolog + b"<sst " + _MAIN + b">" + strings + b"</sst>"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("[Content_Types].xml", _CONTENT_TYPES)
        archive.writestr("_rels/.rels", _RELS)
        archive.writestr("xl/workbook.xml", _WORKBOOK)
        archive.writestr("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS)
        archive.writestr("xl/worksheets/sheet1.xml", sheet + b"</sheetData></worksheet>")
        archive.writestr("xl/sharedStrings.xml", sst)
    return path


def test_promise_decompression_bomb_bounded_before_decoding_xlsx_shared_strings(
    tmp_path: Path, make_ctx: Ctx, profiles: RiskProfiles
) -> None:
    fine = workbook(tmp_path / "fine.xlsx")
    assert result_of(run_all(fine, make_ctx(fine.name, tier=1)), "tabular").status == "pass"
    # three million entries compress to ~125 KB; openpyxl would hold every one as a Python string
    many = workbook(tmp_path / "many.xlsx", strings=b"<si><t>a</t></si>" * 3_000_000)
    assert many.stat().st_size < 200_000
    tabular = result_of(run_all(many, make_ctx(many.name, tier=1)), "tabular")
    assert tabular.status == "fail" and codes(tabular) == {"too_many_shared_strings"}
    # and the table's size is bounded too, however few entries it has
    letters = bytes(random.Random(1).choices(range(97, 123), k=3_000_000))  # compresses < 2x
    big = workbook(tmp_path / "big.xlsx", strings=b"<si><t>" + letters + b"</t></si>")
    profile = with_tables(profiles.for_tier(1), max_shared_strings_bytes=1024 * 1024)
    tabular = result_of(run_all(big, make_ctx(big.name, profile=profile)), "tabular")
    assert tabular.status == "fail" and codes(tabular) == {"too_much_decoded_data"}
    assert "shared-strings table" in tabular.findings[0].message


def test_promise_decompression_bomb_bounded_before_decoding_xlsx_sheet_xml(
    tmp_path: Path, make_ctx: Ctx, profiles: RiskProfiles
) -> None:
    padded = workbook(tmp_path / "padded.xlsx", rows=_TWO_ROWS + b"<!--" + b" " * 20_000_000 + b"-->")
    assert padded.stat().st_size < 100_000
    profile = with_tables(profiles.for_tier(1), max_decoded_bytes=8 * 1024 * 1024)
    tabular = result_of(run_all(padded, make_ctx(padded.name, profile=profile)), "tabular")
    assert tabular.status == "fail" and codes(tabular) == {"too_much_decoded_data"}
    assert "declare 20,00" in tabular.findings[0].message  # the ZIP directory's figure, before parsing
    # a part that expands more than the XML ratio allows is refused even within the size limit
    tabular = result_of(run_all(padded, make_ctx(padded.name, tier=1)), "tabular")
    assert tabular.status == "fail" and codes(tabular) == {"compression_ratio"}


def test_promise_decompression_bomb_bounded_before_decoding_xlsx_row_numbers_and_entities(
    tmp_path: Path, make_ctx: Ctx
) -> None:
    # a 2 KB sheet that names row 1,048,576: openpyxl would make a million blank rows for it
    far = workbook(
        tmp_path / "far.xlsx", rows=_TWO_ROWS + b'<row r="1048576"><c r="A1048576"><v>1</v></c></row>'
    )
    results = run_all(far, make_ctx(far.name, tier=1))
    assert codes(result_of(results, "tabular")) == {"too_many_rows"}
    assert result_of(results, "tabular").status == "fail"
    laughs = b'<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
    entities = workbook(tmp_path / "entities.xlsx", strings=b"<si><t>&b;</t></si>", prolog=laughs)
    tabular = result_of(run_all(entities, make_ctx(entities.name, tier=1)), "tabular")
    assert tabular.status == "fail" and codes(tabular) == {"xml_doctype"}


def test_promise_decompression_bomb_bounded_csv_reader_never_decompresses_by_file_name(
    tmp_path: Path, make_ctx: Ctx, profiles: RiskProfiles
) -> None:
    # Given a path, Arrow decompresses by the extension: a plain CSV named .gz was read as gzip (and a
    # compressed stream that passes as text would have expanded unchecked). Now the bytes are read as is.
    path = write_text(tmp_path / "table.csv.gz", "region,n\nNorth,20\nSouth,7\n")
    tabular = result_of(run_all(path, make_ctx(path.name, tier=1)), "tabular")
    assert codes(tabular) == {"threshold"}, tabular.findings
    text = "region," + ",".join(f"c{i}" for i in range(50)) + "\n"
    many = write_text(tmp_path / "many.csv", text + ("x" + ",1" * 50 + "\n") * 400)
    profile = with_tables(profiles.for_tier(1), max_cells=10_000)
    tabular = result_of(run_all(many, make_ctx(many.name, profile=profile)), "tabular")
    assert tabular.status == "fail" and codes(tabular) == {"too_many_cells"}


def test_promise_decompression_bomb_bounded_acro_record_parsed_in_the_api_process(acro_copy: Path) -> None:
    # results.json is parsed where the session is uploaded: nesting that exhausts the parser is a
    # refusal in plain words, not an exception escaping as a 500
    (acro_copy / "results.json").write_text("[" * 200_000)
    session, verdict = check_acro_session(acro_copy)
    assert session is None and verdict.status == "fail"
    assert codes(verdict) == {"not_an_acro_session"} and "nested too deeply" in verdict.findings[0].message


# ---- 2. checks run in a child process with memory and time limits ------------------------------------


def test_promise_file_checks_run_in_a_limited_child_memory_exhaustion_is_an_error_result(
    tmp_path: Path, make_ctx: Ctx, profiles: RiskProfiles
) -> None:
    path = dictionary_bomb(tmp_path / "labels.parquet")
    # the bound of the tables check is lifted, so only the process's memory limit stands in the way
    profile = with_tables(profiles.for_tier(1), max_decoded_bytes=10**15, max_cells=10**12)
    stored: list[tuple[CheckResult, int]] = []
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    run_in_child(
        path,
        make_ctx(path.name, profile=profile),
        list(CONTENT_CHECKS),
        ProcessLimits(memory_bytes=GiB, timeout_seconds=120),
        lambda result, ms: stored.append((result, ms)),
    )
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert [(r.name, r.version) for r, _ in stored] == list(CONTENT_CHECKS)  # each exactly once
    tabular = next(r for r, _ in stored if r.name == "tabular")
    assert tabular.status == "error" and codes(tabular) == {"out_of_memory"}
    assert "ran out of memory (limit 1 GiB)" in tabular.findings[0].message
    assert next(r for r, _ in stored if r.name == "filetype").status == "pass"
    assert grown_mib < 100, "the bomb was decoded in this process, not in the child"


def test_promise_file_checks_run_in_a_limited_child_time_limit_is_an_error_result(
    tmp_path: Path, make_ctx: Ctx
) -> None:
    path = write_text(tmp_path / "t.csv", "region,n\nNorth,20\n")
    stored: list[CheckResult] = []
    keys = [("filetype", "1"), ("size", "1")]
    run_in_child(
        path,
        make_ctx(path.name),
        keys,
        ProcessLimits(memory_bytes=2 * GiB, timeout_seconds=1.0),
        lambda result, ms: stored.append(result),
        delay_seconds=30,  # the test-only setting that makes every check slow
    )
    assert [(r.name, r.status) for r in stored] == [("filetype", "error"), ("size", "error")]
    assert all(codes(r) == {"timed_out"} for r in stored)
    assert "timed out after 1 s" in stored[0].findings[0].message
    assert _check_children() == []  # the killed children are gone, not left running


def _check_children() -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if int(stat[1]) == os.getpid() and b"governance.outputs.check_process" in cmdline:
                found.append(int(entry.name))
    return found


def _resident_mib(pid: int) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    line = next((ln for ln in status.splitlines() if ln.startswith("VmRSS:")), "VmRSS: 0 kB")
    return int(line.split()[1]) // 1024


def test_promise_file_checks_run_in_a_limited_child_crash_is_an_error_result_and_the_rest_still_run(
    tmp_path: Path, make_ctx: Ctx
) -> None:
    path = write_text(tmp_path / "t.csv", "region,n\nNorth,20\n")
    killed: list[int] = []

    def crash_the_first_child() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not killed:
            for pid in _check_children():
                if _resident_mib(pid) > 60:  # Arrow is loaded: it is in the first check's delay
                    time.sleep(0.3)
                    os.kill(pid, signal.SIGSEGV)
                    killed.append(pid)
                    return
            time.sleep(0.05)

    killer = threading.Thread(target=crash_the_first_child)
    killer.start()
    stored: list[CheckResult] = []
    run_in_child(
        path,
        make_ctx(path.name),
        [("filetype", "1"), ("size", "1")],
        ProcessLimits(memory_bytes=2 * GiB, timeout_seconds=60),
        lambda result, ms: stored.append(result),
        delay_seconds=2,
    )
    killer.join()
    assert killed, "the child was never seen"
    assert [(r.name, r.status) for r in stored] == [("filetype", "error"), ("size", "pass")]
    assert codes(stored[0]) == {"check_process_died"}
    assert "crashed (signal SIGSEGV)" in stored[0].findings[0].message


def test_promise_file_checks_run_in_a_limited_child_same_results_as_in_process(
    tmp_path: Path, make_ctx: Ctx
) -> None:
    path = write_text(tmp_path / "t.csv", "region,n\nNorth,20\nSouth,7\n")
    in_process = [r.to_dict() for r in run_all(path, make_ctx(path.name))]
    stored: list[dict[str, Any]] = []
    run_in_child(
        path,
        make_ctx(path.name),
        list(CONTENT_CHECKS),
        ProcessLimits(memory_bytes=2 * GiB, timeout_seconds=120),
        lambda result, ms: stored.append(result.to_dict()),
    )
    assert stored == json.loads(json.dumps(in_process))


def test_promise_file_checks_child_gets_no_secrets_and_no_file_bytes(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, make_ctx: Ctx
) -> None:
    monkeypatch.setenv("GOVERNANCE_KEK_KEYS", '{"1": "c2VjcmV0"}')
    monkeypatch.setenv("GOVERNANCE_SECRET_KEY", "not-for-the-child")
    env = _child_env()
    assert not [k for k in env if k.startswith("GOVERNANCE_")]
    assert env["ARROW_DEFAULT_MEMORY_POOL"] == "system"
    # what the child is sent names the private file; the decrypted bytes are not in it
    path = write_text(tmp_path / "t.csv", "region,n\nNorth,20\nSecretville,7\n")
    request = json.dumps(_spec(path, make_ctx(path.name), list(CONTENT_CHECKS), ProcessLimits(GiB, 1), 0))
    assert str(path) in request and "Secretville" not in request


# ---- 3. identifier patterns do not fire on numeric measures ---------------------------------------------

_ACRO_MEASURES = """
import sys
import numpy as np
import pandas as pd
from acro import ACRO

folder = sys.argv[1]
rng = np.random.default_rng(11)
n = 600
year = rng.choice([2010, 2011, 2012], n)
grant = rng.choice(["A", "B"], n)
survivor = rng.choice(["Dead", "Alive"], n)
# one constant per cell, so that ACRO's means are exactly these many-decimal figures
per_year = {2010: 3 / 1024, 2011: 9434765919.5, 2012: 12.3456789012}
income = np.array([per_year[y] for y in year]) * np.where(grant == "A", 1.0, 0.5)
df = pd.DataFrame({
    "year": year, "grant_type": grant, "survivor": survivor, "inc_grants": income,
    "x": rng.normal(size=n), "p": rng.uniform(size=n) * 1e-10,
})
acro = ACRO(suppress=False)
acro.crosstab(df.year, [df.grant_type, df.survivor], values=df.inc_grants, aggfunc="mean")
acro.crosstab(df.year, df.grant_type, values=df.inc_grants, aggfunc=["mean", "std"])
acro.ols(df["inc_grants"], df[["x", "p"]])
acro.finalise(folder, "json")
"""


@pytest.fixture(scope="module")
def acro_measures(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("acro_measures")
    script = base / "make.py"
    script.write_text(_ACRO_MEASURES)
    done = subprocess.run(
        [sys.executable, str(script), str(base / "session")],
        cwd=base,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return base / "session"


def test_promise_identifier_patterns_do_not_fire_on_numeric_measures_in_real_acro_outputs(
    acro_measures: Path, tmp_path: Path, profiles: RiskProfiles
) -> None:
    zip_path = tmp_path / "acro.zip"
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(acro_measures.rglob("*")):
            if file.is_file():
                archive.write(file, f"session/{file.relative_to(acro_measures).as_posix()}")
    folder = tmp_path / "unpacked"
    profile = profiles.for_tier(1)
    acro_upload.unpack(zip_path, folder, profile)  # the upload's own unpacking, with its limits
    session, verdict = check_acro_session(folder)
    assert session is not None and not session.problems, verdict.findings
    tables = [p for p in session.release_files if p.suffix == ".csv"]
    text = "".join(p.read_text() for p in tables)
    # the figures that used to read as phone and NHS numbers are really in ACRO's tables, as text cells
    for figure in ("0.0029296875", "9434765919.5", "4717382959.75", "12.3456789012", "6.1728394506"):
        assert figure in text, figure
    assert re.search(r"\de-\d\d", text)  # p-values in exponent form
    assert len(tables) >= 5
    for path in session.release_files:
        results = run_all(path, CheckContext(file_name=path.name, profile=profile))
        identifiers = result_of(results, "identifiers")
        assert identifiers.status == "pass", (path.name, identifiers.findings)
        assert not {"phone", "nhs_number"} & set(identifiers.counts)


def test_promise_identifier_patterns_do_not_fire_on_numeric_measures_in_text_and_cells(
    tmp_path: Path, make_ctx: Ctx
) -> None:
    measures = ["0.4857142857", "12.3456789012", "1.23e-10", "+12.3456789012", "0.0009765625", "9434765919.5"]
    table = write_text(
        tmp_path / "m.csv", "label,estimate\n" + "".join(f"row {i},{m}\n" for i, m in enumerate(measures))
    )
    notes = write_text(tmp_path / "notes.txt", "Estimates: " + "; ".join(measures) + ".\n")
    for path in (table, notes):
        identifiers = identifiers_of(path, make_ctx)
        assert identifiers.status == "pass", (path.name, identifiers.findings)


def identifiers_of(path: Path, make_ctx: Ctx) -> CheckResult:
    check = next(c for c in default_checks() if c.name == "identifiers")
    return run_check(check, path, make_ctx(path.name))


def test_promise_identifier_patterns_still_catch_valid_nhs_numbers_in_whole_number_columns(
    tmp_path: Path, make_ctx: Ctx
) -> None:
    numbers = valid_nhs_numbers(25)
    as_integers = write_text(tmp_path / "ids.csv", "ref,n\n" + "".join(f"{n},20\n" for n in numbers))
    result = identifiers_of(as_integers, make_ctx)
    assert result.status == "fail" and result.counts["nhs_number"] == 25
    # pandas writes an integer column with a gap as floats: 9434765919.0 is still a whole number
    as_floats = write_text(
        tmp_path / "floats.csv", "ref,n\n" + "".join(f"{n}.0,20\n" for n in numbers) + ",20\n"
    )
    result = identifiers_of(as_floats, make_ctx)
    assert result.status == "fail" and result.counts["nhs_number"] == 25
    spaced = write_text(
        tmp_path / "spaced.csv", "ref,n\n" + "".join(f"{n[:3]} {n[3:6]} {n[6:]},20\n" for n in numbers)
    )
    assert identifiers_of(spaced, make_ctx).counts["nhs_number"] == 25
    notes = write_text(tmp_path / "notes.txt", "".join(f"Patient {n} was seen.\n" for n in numbers))
    assert identifiers_of(notes, make_ctx).counts["nhs_number"] == 25


# ---- 4. findings give coordinates and the rule broken, never values -------------------------------------

NHS = valid_nhs_numbers(3, seed=4)
PHONES = ["07700 900123", "+44 20 7946 0958"]
EMAILS = ["qzxw.vbkt@wqjz.io", "plorf@zzyzx.qqv.net"]
POSTCODES = ["SW1A 1AA", "M1 1AE"]
IDENTIFIERS = [*NHS, *PHONES, *EMAILS, *POSTCODES]
SMALL_COUNTS = ["7", "9"]
OTHER_VALUES = ["35", "38", "123457", "777", "888", "Quorn", "Tiverton"]  # counts and labels


def leaks(serialised: str) -> list[str]:
    found = []
    for identifier in IDENTIFIERS:
        for size in range(4, len(identifier) + 1):
            for start in range(len(identifier) - size + 1):
                piece = identifier[start : start + size]
                if piece.strip() and piece in serialised:
                    found.append(f"{piece!r} of {identifier!r}")
    for value in SMALL_COUNTS + OTHER_VALUES:
        if re.search(rf"(?<![\w.]){re.escape(value)}(?![\w.])", serialised):
            found.append(repr(value))
    return found


ALLOWED_LOCATION_KEYS = {
    "row", "first_row", "column", "sheet", "line", "offset", "member", "output", "previous", "margin",
    "extension", "content", "type", "signature", "acro_check",
}  # fmt: skip


def test_promise_findings_shown_beyond_checkers_give_coordinates_never_values(
    tmp_path: Path, make_ctx: Ctx
) -> None:
    rows = [
        ["Quorn", "7", NHS[0], PHONES[0], EMAILS[0], POSTCODES[0]],
        ["Tiverton", "9", NHS[1], PHONES[1], EMAILS[1], POSTCODES[1]],
        ["Leeds", "35", f"{NHS[2][:3]} {NHS[2][3:6]} {NHS[2][6:]}", "none", "none", "none"],
    ]
    header = ["town", "n", "ref", "phone_no", "contact", "where"]
    csv_text = "\n".join(",".join(r) for r in [header, *rows]) + "\n"
    files = {
        "table.csv": csv_text.encode(),
        "table.tsv": csv_text.replace(",", "\t").encode(),
        "notes.txt": ("Seen: " + "; ".join(IDENTIFIERS) + ". Only 7 and 9 people.\n").encode(),
        # a row that breaks the CSV: Arrow's error message quotes it
        "broken.csv": (csv_text + f"{NHS[0]},{PHONES[0]},{EMAILS[0]},{POSTCODES[0]},x,y\n").encode(),
    }
    paths = [write_text(tmp_path / name, data.decode()) for name, data in files.items()]
    paths.append(write_xlsx(tmp_path / "book.xlsx", {"People": [header, *rows]}))
    parquet = tmp_path / "table.parquet"
    pq.write_table(pa.table({h: [r[i] for r in rows] for i, h in enumerate(header)}), parquet)
    paths.append(parquet)
    previous = write_text(tmp_path / "released.csv", "town,n\nQuorn,35\nTiverton,38\n")
    current = write_text(tmp_path / "again.csv", "town,n\nQuorn,38\nTiverton,38\n")
    contributions = write_text(
        tmp_path / "contributions.csv",
        "town,income\nQuorn,123457\nQuorn,777\nQuorn,888\nTiverton,777\nTiverton,888\n",
    )
    serialised: list[str] = []
    for path in [*paths, current]:
        ctx = make_ctx(path.name, tier=2, previous_release_tables=[previous])
        for result in run_all(path, ctx):
            serialised.append(json.dumps([asdict(f) for f in result.findings]))
    for result in run_all(contributions, make_ctx(contributions.name, tier=2, contributions_column="income")):
        serialised.append(json.dumps([asdict(f) for f in result.findings]))
    everything = "\n".join(serialised)
    # the checks did find what there is to find ...
    for code in ("threshold", "nhs_number", "phone", "email", "postcode", "differencing", "nk_rule"):
        assert f'"code": "{code}"' in everything, code
    # ... and say where and which rule, never what
    assert leaks(everything) == []
    for chunk in serialised:
        for finding in json.loads(chunk):
            assert set(finding["location"] or {}) <= ALLOWED_LOCATION_KEYS, finding


def test_promise_findings_never_carry_values_from_crashes_or_acro_records(
    tmp_path: Path, make_ctx: Ctx
) -> None:
    class Quoting:  # a check whose parser quotes the data it chokes on, as Arrow's do
        name, version = "quoting", "1"

        def run(self, path: Path, ctx: CheckContext) -> CheckResult:
            raise ValueError(f"could not parse {NHS[0]!r} near {EMAILS[0]}")

    path = write_text(tmp_path / "t.csv", "a,b\n1,2\n")
    crashed = run_check(Quoting(), path, make_ctx(path.name))
    assert crashed.status == "error" and codes(crashed) == {"check_crashed"}
    assert "ValueError" in crashed.findings[0].message
    meta = {
        "uid": "output_0",
        "status": "review",
        "type": "table",
        "exception": f"The cell for {POSTCODES[0]} ({NHS[1]}) is 7 but structural.",
        "expected_sha256": "0" * 64,
        "sdc": {"summary": {"threshold": 1}, "cells": {"threshold": [[0, 1]]}},
    }
    record = acro_result(meta, "0" * 64)
    assert "exception_requested" in codes(record)
    assert leaks(json.dumps([asdict(f) for f in [*crashed.findings, *record.findings]])) == []


# ---- 5. ACRO member names go through the same cleaning as direct uploads --------------------------------

HOSTILE_NAMES = [
    ("../../etc/x.csv", "climbs out"),  # refused by the archive inspection first, as a traversal
    ("session/a\\b.csv", "contains a path"),
    ("session/evil\u202ecsv.exe", "control or invisible formatting characters"),
    ("session/bell\x07.csv", "control or invisible formatting characters"),
    ("session/.hidden.csv", "hidden or special"),
    ("session/" + "x" * 300 + ".csv", "longer than 255 bytes"),
]


@pytest.mark.parametrize(("member", "reason"), HOSTILE_NAMES)
def test_promise_acro_member_names_are_cleaned_like_direct_uploads(
    acro_copy: Path, tmp_path: Path, profiles: RiskProfiles, member: str, reason: str
) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(acro_copy.rglob("*")):
            if file.is_file():
                archive.writestr(f"session/{file.relative_to(acro_copy).as_posix()}", file.read_bytes())
        archive.writestr(member, "a,b\n1,2\n")
    zip_path = tmp_path / "session.zip"
    zip_path.write_bytes(buffer.getvalue())
    with pytest.raises(acro_upload.SessionRejected) as refused:
        acro_upload.unpack(zip_path, tmp_path / "out", profiles.for_tier(1))
    assert reason in str(refused.value)
    if reason != "climbs out":  # the very sentence a direct upload of that name gets
        with pytest.raises(names.UnsafeFileName) as direct:
            names.clean_file_name(member.removeprefix("session/"))
        assert str(direct.value) in str(refused.value)


def test_promise_acro_output_names_in_results_json_are_cleaned_like_direct_uploads(acro_copy: Path) -> None:
    results = json.loads((acro_copy / "results.json").read_text())
    first = next(iter(results["results"].values()))
    original = first["files"][0]["name"]
    first["files"][0]["name"] = original.replace(".csv", "\u202e.csv")
    (acro_copy / "results.json").write_text(json.dumps(results))
    (acro_copy / "checksums" / "results.json.txt").unlink(missing_ok=True)
    session, verdict = check_acro_session(acro_copy)
    assert session is not None
    assert "unsafe_file_name" in codes(verdict)
    assert "control or invisible formatting characters" in " ".join(f.message for f in verdict.findings)
    assert all("\u202e" not in p.name for p in session.release_files)
