from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from pathlib import Path

from governance.outputs.checks import CheckContext, CheckResult, IdentifiersCheck
from governance.outputs.checks.identifiers import BLOCK_CHARS
from governance.outputs.checks.patterns import nhs_number_is_valid

from .samples import codes, write_parquet, write_text, write_xlsx

Ctx = Callable[..., CheckContext]
VALID_NHS = "9434765919"


def run(path: Path, make_ctx: Ctx) -> CheckResult:
    return IdentifiersCheck().run(path, make_ctx(path.name))


def invalid_ten_digit_numbers(count: int, seed: int = 1) -> list[int]:
    rng = random.Random(seed)
    numbers: list[int] = []
    while len(numbers) < count:
        candidate = rng.randrange(1_000_000_000, 10_000_000_000)
        if not nhs_number_is_valid(str(candidate)):
            numbers.append(candidate)
    return numbers


def test_nhs_check_digit() -> None:
    assert nhs_number_is_valid(VALID_NHS)
    assert not nhs_number_is_valid("9434765918")
    assert not nhs_number_is_valid("123456789")
    # the first nine digits of 100000001x give a check value of 10, which no number may carry
    assert not any(nhs_number_is_valid(f"100000001{last}") for last in range(10))


def test_clean_aggregate_table_passes(tmp_path: Path, make_ctx: Ctx) -> None:
    path = write_text(tmp_path / "t.csv", "region_name,year,n\nNorth East,2020,150\nLondon,2021,200\n")
    result = run(path, make_ctx)
    assert result.status == "pass", result.findings
    assert result.parameters["scanned_as"] == "table"


def test_identifier_values_in_a_table_fail(tmp_path: Path, make_ctx: Ctx) -> None:
    text = (
        "who,contact,where,ref\n"
        f"a,alice.smith@example.org,SW1A 1AA,{VALID_NHS[:3]} {VALID_NHS[3:6]} {VALID_NHS[6:]}\n"
        "b,07700 900123,M1 1AE,none\n"
        "c,+1 415 555 2672,nowhere,none\n"
    )
    path = write_text(tmp_path / "t.csv", text)
    result = run(path, make_ctx)
    assert result.status == "fail"
    assert result.counts["email"] == 1
    assert result.counts["phone"] == 2
    assert result.counts["postcode"] == 2
    assert result.counts["nhs_number"] == 1
    email = next(f for f in result.findings if f.code == "email")
    assert email.location == {"row": 0, "column": "contact"}
    assert "alice.smith@example.org" not in email.message  # values are redacted in the record


def test_nhs_numbers_need_a_valid_check_digit(tmp_path: Path, make_ctx: Ctx) -> None:
    numbers = invalid_ten_digit_numbers(500)
    path = write_text(tmp_path / "ids.csv", "ref,n\n" + "".join(f"{n},20\n" for n in numbers))
    assert "nhs_number" not in codes(run(path, make_ctx))
    as_text = write_text(tmp_path / "ids2.csv", "ref,n\n" + "".join(f"ID {n},20\n" for n in numbers))
    assert "nhs_number" not in codes(run(as_text, make_ctx))
    with_real = write_text(
        tmp_path / "ids3.csv", "ref,n\n" + "".join(f"{n},20\n" for n in numbers[:5]) + f"{VALID_NHS},20\n"
    )
    result = run(with_real, make_ctx)
    assert result.counts.get("nhs_number") == 1
    assert next(f for f in result.findings if f.code == "nhs_number").location == {"row": 5, "column": "ref"}


def test_identifier_column_names_need_review(tmp_path: Path, make_ctx: Ctx) -> None:
    path = write_text(tmp_path / "t.csv", "patient_id,nhs_number,Surname,region_name,n\nx,y,z,North,20\n")
    result = run(path, make_ctx)
    assert result.status == "review"
    flagged = {f.location["column"] for f in result.findings if f.code == "identifier_column" and f.location}
    assert flagged == {"patient_id", "nhs_number", "Surname"}


def test_dates_of_birth(tmp_path: Path, make_ctx: Ctx) -> None:
    rng = random.Random(3)
    births = [dt.date(1940, 1, 1) + dt.timedelta(days=rng.randrange(0, 60 * 365)) for _ in range(50)]
    named = write_text(tmp_path / "a.csv", "dob,n\n" + "".join(f"{d.isoformat()},20\n" for d in births))
    result = run(named, make_ctx)
    assert result.status == "fail"
    assert "date_of_birth" in codes(result)
    unnamed = write_text(tmp_path / "b.csv", "d,n\n" + "".join(f"{d:%d/%m/%Y},20\n" for d in births))
    result = run(unnamed, make_ctx)
    assert codes(result) == {"possible_birth_dates"}
    assert result.status == "review"
    recent = [dt.date.today() - dt.timedelta(days=rng.randrange(0, 5 * 365)) for _ in range(50)]
    events = write_text(tmp_path / "c.csv", "admitted,n\n" + "".join(f"{d.isoformat()},20\n" for d in recent))
    assert run(events, make_ctx).status == "pass"


def test_workbooks_and_parquet_are_scanned(tmp_path: Path, make_ctx: Ctx) -> None:
    book = write_xlsx(tmp_path / "b.xlsx", {"People": [["contact", "n"], ["bob@example.com", 20]]})
    result = run(book, make_ctx)
    assert result.counts["email"] == 1
    assert next(f for f in result.findings if f.code == "email").location == {
        "row": 0,
        "column": "contact",
        "sheet": "People",
    }
    table = write_parquet(tmp_path / "p.parquet", {"ref": [int(VALID_NHS), 1234567890], "n": [20, 30]})
    assert run(table, make_ctx).counts.get("nhs_number") == 1


def test_free_text_is_scanned_with_line_numbers(tmp_path: Path, make_ctx: Ctx) -> None:
    text = (
        "# Notes\n"
        "Contact the analyst at carol@example.ac.uk for details.\n"
        "The participant (DOB: 12/03/1961) lives at EH1 1YZ.\n"
        f"Their number is {VALID_NHS}; call 020 7946 0958.\n"
        "Nothing else here.\n"
    )
    path = write_text(tmp_path / "notes.md", text)
    result = run(path, make_ctx)
    assert result.status == "fail"
    lines = {f.code: f.location["line"] for f in result.findings if f.location}
    assert lines == {"email": 2, "date_of_birth": 3, "postcode": 3, "nhs_number": 4, "phone": 4}


def test_clean_text_passes(tmp_path: Path, make_ctx: Ctx) -> None:
    path = write_text(tmp_path / "notes.txt", "Mean age was 54.2 years (SD 12.1); 1,234 people in 2020-21.\n")
    assert run(path, make_ctx).status == "pass"


def test_match_across_a_block_boundary_is_found_once(tmp_path: Path, make_ctx: Ctx) -> None:
    padding = "x" * (BLOCK_CHARS - 10) + " "
    path = write_text(tmp_path / "long.txt", padding + "someone@example.com is here\n")
    result = run(path, make_ctx)
    assert result.counts == {"email": 1}
    # ... and a match just inside the overlap window is not counted twice
    padding = "y" * (BLOCK_CHARS - 200) + " "
    path = write_text(tmp_path / "long2.txt", padding + "someone@example.com and more\n")
    assert run(path, make_ctx).counts == {"email": 1}


def test_binary_files_are_not_applicable(tmp_path: Path, make_ctx: Ctx) -> None:
    path = tmp_path / "figure.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(40))
    result = run(path, make_ctx)
    assert result.status == "pass"
    assert "not applicable" in result.parameters["scanned_as"]


def test_hostile_text_is_scanned_in_linear_time(tmp_path: Path, make_ctx: Ctx) -> None:
    import time

    path = write_text(tmp_path / "hostile.txt", "a" * 1_000_000 + "@" + "b." * 100_000 + "\n")
    started = time.perf_counter()
    result = run(path, make_ctx)
    assert time.perf_counter() - started < 5
    assert result.status == "pass"
