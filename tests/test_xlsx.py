"""The file door on real .xlsx files: the contract scenarios, nothing lost, macros kept, recoding twice."""

from __future__ import annotations

import datetime as dt
import json
import zipfile
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import xlsxwriter
from openpyxl.styles import Font, PatternFill
from openpyxl.workbook.defined_name import DefinedName
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.table import Table

from cptbill.book import MONEY_FORMAT, BarChartSpec, recode
from cptbill.xlsx import FileBook, read_file, update_file
from helpers import PAYER_HEADER, SESSION_HEADER, run

DAY = dt.date(2026, 11, 3)
PAYERS = [
    ["Aetna", "97124", None, 30, 32, 5, "CMS", None],  # takes one massage code; pays hot packs
    ["Blue", None, "97124", 25, 30, 0, None, None],  # takes both, prefers 97124; hot packs bundled
    ["Cigna", "97124, 97140", None, 28, 31.2, None, None, 2],  # default code; capped at 2 units
    ["Delta", None, None, 26, None, None, None, None],  # no rate for the default code
]


def write_book(
    path: Path,
    sessions: list[list[Any]],
    payers: list[list[Any]] = PAYERS,
    *,
    header: list[str] = SESSION_HEADER,
    sheets: dict[str, list[list[Any]]] | None = None,
) -> Path:
    """A small billing workbook: session sheets (default one `Sessions`) and a Payers sheet."""
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, rows in (sheets or {"Sessions": sessions}).items():
        ws = wb.create_sheet(name)
        ws.append(header)
        for row in rows:
            ws.append(row)
    payer_sheet = wb.create_sheet("Payers")
    payer_sheet.append(PAYER_HEADER)
    for row in payers:
        payer_sheet.append(row)
    wb.save(path)
    return path


def s(minutes: Any, payer: str = "Aetna", client: str = "Ann", date: Any = DAY, **cells: Any) -> list[Any]:
    """One session row in SESSION_HEADER order."""
    row = [date, client, payer, minutes, None, None, None, None, None, None, None]
    for name, value in cells.items():
        row[SESSION_HEADER.index(name.capitalize())] = value
    return row


def table_of(path: Path, sheet: str = "Sessions") -> list[dict[str, Any]]:
    """A sheet's rows as dicts by header."""
    rows = list(openpyxl.load_workbook(path)[sheet].iter_rows(values_only=True))
    return [dict(zip(rows[0], row, strict=False)) for row in rows[1:] if any(v is not None for v in row)]


def billed(path: Path, sheet: str = "Sessions") -> list[tuple[Any, Any, Any, set[str]]]:
    """(Code, Units, Expected, flag ids) of every line."""
    return [
        (r["Code"], r["Units"], r["Expected"], {f.split(":")[0] for f in (r["Flags"] or "").split("; ") if f})
        for r in table_of(path, sheet)
    ]


SCENARIOS: list[tuple[str, list[list[Any]], list[tuple[Any, Any, Any, set[str]]]]] = [
    ("payer accepting one code", [s(38)], [("97124", 3, 90, set())]),
    ("preferred code", [s(30, "Blue")], [("97124", 2, 50, set())]),
    ("default code", [s(30, "Cigna", service="either")], [("97140", 2, 62.4, set())]),
    (
        "split visit adds up",
        [s(38), s(20)],  # 58 minutes: 4 units, whole blocks first, the leftover to the longer rest
        [("97124", 3, 90, set()), ("97124", 1, 30, set())],
    ),
    (
        "97010 paid",
        [s(30), s(None, service="hot pack")],
        [("97124", 2, 60, set()), ("97010", 1, 5, set())],
    ),
    (
        "97010 bundled",
        [s(30, "Blue"), s(10, "Blue", service="hot/cold pack")],
        [("97124", 2, 50, set()), ("97010", 1, 0, {"NOT_PAID"})],
    ),
    ("too short", [s(7)], [("97124", 0, 0, {"UNDER_8_MIN"})]),
    ("unit cap", [s(60, "Cigna", service="either")], [("97140", 2, 62.4, {"OVER_CAP"})]),
    ("unknown payer", [s(30, "Nobody", service="either")], [("97140", 2, None, {"UNKNOWN_PAYER"})]),
    ("missing rate", [s(30, "Delta", service="either")], [("97140", 2, None, {"NO_RATE"})]),
    (
        "locked line with a code the payer does not accept",
        [s(30, lock="x", code="97140", units=2, service="either"), s(15, service="either")],
        [("97140", 2, 64, {"NOT_ACCEPTED"}), ("97140", 1, 32, {"NOT_ACCEPTED"})],
    ),
    (
        "duplicates",
        [s(30), s(30)],  # one visit of 60 minutes, both lines flagged
        [("97124", 2, 60, {"DUPLICATE"}), ("97124", 2, 60, {"DUPLICATE"})],
    ),
    (
        "bad minutes and dates leave the line as it was",
        [s("abc", code="97140", units=1), s(30, date="someday", code="97140", units=3), s(30, client="Bo")],
        [("97140", 1, None, {"BAD_MINUTES"}), ("97140", 3, None, {"BAD_DATE"}), ("97124", 2, 60, set())],
    ),
]


@pytest.mark.parametrize(("name", "rows", "expected"), SCENARIOS, ids=[case[0] for case in SCENARIOS])
def test_recode_scenario(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    name: str,
    rows: list[list[Any]],
    expected: list[tuple[Any, Any, Any, set[str]]],
) -> None:
    path = write_book(tmp_path / "billing.xlsx", rows)
    status, _, err = run(capsys, "recode", str(path), "--month", "2026-11", "--json")
    assert (status, err) == (0, "")
    assert billed(path) == expected


def test_default_code_from_the_settings_sheet(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_book(tmp_path / "billing.xlsx", [s(30, "Cigna")])
    wb = openpyxl.load_workbook(path)
    settings = wb.create_sheet("Settings")
    settings.append(["Setting", "Value"])
    settings.append(["Default code", "97124"])
    wb.save(path)
    assert run(capsys, "recode", str(path), "--json")[0] == 0
    assert billed(path) == [("97124", 2, 56, set())]


def test_mixed_visit_check_flags_it_and_recode_unifies_and_logs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [s(30, "Blue", code="97140", units=2), s(25, "Blue", code="97124", units=2)]
    path = write_book(tmp_path / "billing.xlsx", rows)
    status, out, _ = run(capsys, "check", str(path), "--json")
    found = json.loads(out)
    assert status == 0 and found["as_it_stands"]["flags"] == {"MIXED_CODES": 2}
    assert found["flags"] == {}  # what the recode writes: one code
    assert [flags for *_, flags in billed(path)] == [set(), set()]  # a check writes nothing
    run(capsys, "recode", str(path))
    assert billed(path) == [("97124", 2, 50, set()), ("97124", 2, 50, set())]
    changes = table_of(path, "Changes")
    logged = [c for c in changes if c["Row"] == 2]
    assert len(logged) == 1
    assert logged[0]["Before"].startswith("97140 x 2") and logged[0]["After"].startswith("97124 x 2")
    assert logged[0]["Sheet"] == "Sessions" and logged[0]["Why"]


def test_lines_outside_the_month_are_untouched(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    october = s(30, date=dt.date(2026, 10, 30), code="97140", units=5, flags="kept as typed")
    path = write_book(tmp_path / "billing.xlsx", [october, s(30)])
    run(capsys, "recode", str(path), "--month", "2026-11")
    rows = table_of(path)
    assert (rows[0]["Code"], rows[0]["Units"], rows[0]["Expected"], rows[0]["Flags"]) == (
        "97140", 5, None, "kept as typed",
    )  # fmt: skip
    assert rows[1]["Code"] == "97124"


def test_sheet_option_on_a_month_sheet(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sheets = {"2026-10": [s(30, date=dt.date(2026, 10, 6))], "2026-11": [s(30)]}
    path = write_book(tmp_path / "billing.xlsx", [], sheets=sheets)
    status, out, _ = run(capsys, "recode", str(path), "--sheet", "2026-11", "--json")
    assert status == 0 and '"lines": 1' in out
    assert billed(path, "2026-11") == [("97124", 2, 60, set())]
    assert billed(path, "2026-10") == [(None, None, None, set())]


def test_recoding_twice_changes_nothing_the_second_time(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_book(tmp_path / "billing.xlsx", [s(30, code="97140", units=1), s(45, "Blue"), s(7)])
    run(capsys, "recode", str(path))
    first = path.read_bytes()
    changes = len(table_of(path, "Changes"))
    status, out, _ = run(capsys, "recode", str(path), "--json")
    assert status == 0 and '"changed": 0' in out
    assert len(table_of(path, "Changes")) == changes
    assert path.read_bytes() == first  # nothing to write: the file is not even saved again


def owned_book(path: Path) -> Path:
    """A workbook whose session data is an Excel table without the program's columns, with extras."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Sessions"
    ws.append(["Date", "Client", "Payer", "Minutes", "Service", "Note", "Double"])
    for i, minutes in enumerate([38, 20, 53], start=2):
        ws.append([DAY + dt.timedelta(days=i), f"C{i}", "Aetna", minutes, None, f"n{i}", f"=D{i}*2"])
        ws.cell(i, 1).number_format = "dd/mm/yyyy"
        ws.cell(i, 4).number_format = "0.0"
    ws["H3"] = "a note without a header"
    ws.add_table(Table(displayName="Visits", ref="A1:G4"))
    for cell in ws[1]:
        cell.font = Font(bold=True, color="FFFFFF")
        cell.fill = PatternFill("solid", fgColor="1F4E78")
    ws.column_dimensions["B"].width = 31
    ws.freeze_panes = "A2"
    service = DataValidation(type="list", formula1='"massage,hot pack"', allow_blank=True)
    ws.add_data_validation(service)
    service.add("E2:E500")
    payers = wb.create_sheet("Payers")
    payers.append(PAYER_HEADER)
    payers.append(PAYERS[0])
    notes = wb.create_sheet("Notes")
    notes["A1"] = "Kept as it is"
    notes["B2"] = "=SUM(Sessions!D2:D4)"
    wb.defined_names["PayerNames"] = DefinedName("PayerNames", attr_text="Payers!$A$2:$A$20")
    wb.save(path)
    return path


def test_nothing_lost_and_owned_columns_added_inside_the_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], libreoffice: Any
) -> None:
    path = owned_book(tmp_path / "billing.xlsx")
    before = openpyxl.load_workbook(path)
    assert run(capsys, "recode", str(path))[0] == 0
    after = openpyxl.load_workbook(path)
    ws = after["Sessions"]
    header = [c.value for c in ws[1]]
    # Code, Units, Expected, Flags come after the last column holding anything (H has a note).
    assert header == ["Date", "Client", "Payer", "Minutes", "Service", "Note", "Double", None, *_OWNED]
    # Every cell the program does not own is as it was, on every sheet.
    for sheet in before.sheetnames:
        old, new = before[sheet], after[sheet]
        for row in old.iter_rows():
            for cell in row:
                assert new[cell.coordinate].value == cell.value, (sheet, cell.coordinate)
                assert new[cell.coordinate].number_format == cell.number_format, (sheet, cell.coordinate)
    assert ws["G2"].value == "=D2*2"
    assert ws["A1"].font.bold and ws["A1"].fill.fgColor.rgb == "001F4E78"
    assert ws.column_dimensions["B"].width == 31 and ws.freeze_panes == "A2"
    assert [(str(dv.sqref), dv.formula1) for dv in ws.data_validations.dataValidation] == [
        ("E2:E500", '"massage,hot pack"')
    ]
    assert after.defined_names["PayerNames"].attr_text == "Payers!$A$2:$A$20"
    assert (
        ws["J2"].number_format == "0" and ws["K2"].number_format == MONEY_FORMAT and ws["I2"].value == "97124"
    )
    # The header was not in the table's last column's neighbour (H is in between): the table stays as it was.
    assert ws.tables["Visits"].ref == "A1:G4"

    # Without a gap, the new columns join the table, and a real spreadsheet program reads the result.
    wb = openpyxl.load_workbook(path)
    wb["Sessions"].delete_cols(8, 5)
    wb.save(path)
    assert run(capsys, "recode", str(path))[0] == 0
    ws = openpyxl.load_workbook(path)["Sessions"]
    table = ws.tables["Visits"]
    assert table.ref == "A1:K4" and table.autoFilter.ref == "A1:K4"
    assert [col.name for col in table.tableColumns][-4:] == list(_OWNED)
    assert [col.id for col in table.tableColumns] == list(range(1, 12))
    expected = [(r["Code"], r["Units"], r["Expected"]) for r in table_of(path)]
    assert expected == [("97124", 3, 90), ("97124", 1, 30), ("97124", 4, 120)]
    converted = libreoffice(path, "xlsx")
    assert [(r["Code"], r["Units"], r["Expected"]) for r in table_of(converted)] == expected
    lo_tables = openpyxl.load_workbook(converted)["Sessions"].tables
    assert [t.ref for t in lo_tables.values()] == ["A1:K4"]


_OWNED = ("Code", "Units", "Expected", "Flags")


def test_xlsm_keeps_its_vba_project_byte_for_byte(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    vba = tmp_path / "vbaProject.bin"
    vba.write_bytes(bytes(range(256)) * 40 + b"cptbill test macro")
    path = tmp_path / "billing.xlsm"
    wb = xlsxwriter.Workbook(path)
    ws = wb.add_worksheet("Sessions")
    ws.write_row(0, 0, ["Date", "Client", "Payer", "Minutes"])
    ws.write_row(1, 0, ["2026-11-03", "Ann", "Aetna", 30])
    payers = wb.add_worksheet("Payers")
    payers.write_row(0, 0, PAYER_HEADER)
    payers.write_row(1, 0, ["Aetna", "97124", None, 30])
    wb.add_vba_project(str(vba))
    wb.close()
    assert run(capsys, "recode", str(path))[0] == 0
    with zipfile.ZipFile(path) as archive:
        assert archive.read("xl/vbaProject.bin") == vba.read_bytes()
        assert b"macroEnabled" in archive.read("[Content_Types].xml")
    assert billed(path) == [("97124", 2, 60, set())]


def test_file_book_writes_through_the_interface(tmp_path: Path) -> None:
    """append_rows, replace_rows and bar_chart on a file: header, formats, owned tables, one chart."""
    path = write_book(tmp_path / "billing.xlsx", [s(30)])
    wb = openpyxl.load_workbook(path)
    summary = wb.create_sheet("Summary")
    summary.append(["Payer", "Billed", "Gone"])
    summary.append(["old", 1, 1])
    summary.append(["older", 2, 2])
    summary.add_table(Table(displayName="SummaryTable", ref="A1:C3"))
    wb.save(path)

    def job(book: FileBook) -> None:
        book.append_rows("Log", ["When", "What"], [[dt.datetime(2026, 12, 1, 9), "first"]])
        book.append_rows("Log", ["When", "What"], [[dt.datetime(2026, 12, 2, 9), "second"]])
        book.replace_rows("Summary", ["Payer", "Billed"], [["Aetna", 60.0]], formats=[None, "#,##0.00"])
        spec = BarChartSpec("Billed", 1, 2, 2, 1, (2,), "D2")
        book.bar_chart("Summary", spec)
        book.bar_chart("Summary", spec)

    done = update_file(path, job)
    assert done.saved == path and done.backup == tmp_path / "billing.bak.xlsx"
    wb = openpyxl.load_workbook(path)
    log = wb["Log"]
    assert [[c.value for c in row] for row in log.iter_rows()] == [
        ["When", "What"], [dt.datetime(2026, 12, 1, 9), "first"], [dt.datetime(2026, 12, 2, 9), "second"],
    ]  # fmt: skip
    assert log["A1"].font.bold
    summary = wb["Summary"]
    assert [[c.value for c in row] for row in summary.iter_rows()] == [["Payer", "Billed"], ["Aetna", 60]]
    assert summary["B2"].number_format == "#,##0.00"
    table = summary.tables["SummaryTable"]
    assert table.ref == "A1:B2" and [c.name for c in table.tableColumns] == ["Payer", "Billed"]
    assert len(summary._charts) == 1


def test_library_read_file_and_recode_on_a_file_book(tmp_path: Path) -> None:
    path = write_book(tmp_path / "billing.xlsx", [s(30), s(30, client="Bo", date=dt.date(2026, 10, 1))])
    book = read_file(path)
    assert book.sheet_names() == ["Sessions", "Payers"]
    assert book.read("Sessions")[1][:4] == [dt.date(2026, 11, 3), "Ann", "Aetna", 30]
    book.close()
    done = update_file(path, lambda b: recode(b, "2026-10", now=dt.datetime(2026, 10, 5))[0])
    assert done.result.lines == 1 and done.result.changed == 1
    assert billed(path) == [(None, None, None, set()), ("97124", 2, 60, set())]


def test_formulas_in_input_columns_use_the_result_excel_saved(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "formulas.xlsx"
    wb = xlsxwriter.Workbook(path)
    ws = wb.add_worksheet("Sessions")
    ws.write_row(0, 0, ["Date", "Client", "Payer", "Start", "End", "Minutes"])
    serial = (dt.date(2026, 11, 3) - dt.date(1899, 12, 30)).days
    ws.write_formula(1, 0, "=DATE(2026,11,3)", None, serial)
    ws.write_row(1, 1, ["Ann", "Aetna", 0.375, 0.40138889])  # 9:00 to 9:38
    ws.write_formula(1, 5, "=ROUND((E2-D2)*1440,0)", None, 38)  # the result Excel saved: 38
    payers = wb.add_worksheet("Payers")
    payers.write_row(0, 0, ["Payer", "Accepts", "Rate 97124"])
    payers.write_row(1, 0, ["Aetna", "97124", 30])
    wb.close()

    status, out, _ = run(capsys, "check", str(path), "--json")  # the read-only path
    assert status == 0 and json.loads(out)["flags"] == {}
    plan, _ = update_file(path, lambda book: recode(book)).result
    assert [(r.code, r.units, r.flags_text) for r in plan.results] == [("97124", 3, "")]
    sessions = openpyxl.load_workbook(path)["Sessions"]
    assert sessions["F2"].value == "=ROUND((E2-D2)*1440,0)" and sessions["A2"].value == "=DATE(2026,11,3)"


def test_a_formula_never_saved_by_excel_is_flagged_with_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "unsaved.xlsx"
    wb = openpyxl.Workbook()  # openpyxl saves formulas without results
    ws = wb.active
    ws.title = "Sessions"
    ws.append(["Date", "Client", "Payer", "Minutes"])
    ws.append([dt.date(2026, 11, 3), "Ann", "Aetna", "=20+18"])
    wb.create_sheet("Payers").append(["Payer"])
    wb.save(path)
    plan, _ = update_file(path, lambda book: recode(book)).result
    (result,) = plan.results
    assert result.flags_text.startswith("BAD_MINUTES: minutes a formula with no saved result")
