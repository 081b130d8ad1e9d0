"""Workbooks in the shapes Excel, the Open XML SDK and other programs save: read right, edited surgically."""

from __future__ import annotations

import datetime as dt
import json
import re
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from conftest import soffice_convert
from cptbill.ooxml import column_letters
from helpers import run
from wild_book import Shape, build

SHAPES = {
    "Excel 365": Shape(),
    "prefixed x: tags (Open XML SDK)": Shape(prefix="x:"),
    "rows without r": Shape(row_refs=False),
    "cells without r": Shape(cell_refs=False),
    "rows and cells without r, prefixed, no table": Shape(
        prefix="x:", row_refs=False, cell_refs=False, table=False
    ),
    "no dimension": Shape(dimension=False),
    "table with a totals row": Shape(totals_row=True),
    "inline strings, no shared strings part": Shape(inline_strings=True),
    "1904 date system (Mac)": Shape(date1904=True),
    "Mac page layout view": Shape(mac=True),
    "owned columns already there": Shape(owned=True),
    "sheet autoFilter with filterMode": Shape(table=False),
    "a note 5,000 columns out": Shape(wide_sparse=5000),
    "formatted blank cells in E:H": Shape(styled_blanks=True),
    "Google Sheets export": Shape(google=True, table=False, filter_mode=False),
    "every part prefixed, no formulas": Shape(prefix="x:", shared_minutes=False),
}
#: The parts a first recode may change; every other part keeps its bytes.
OWNED = re.compile(
    r"\[Content_Types\]\.xml|xl/workbook\.xml|xl/_rels/workbook\.xml\.rels|xl/worksheets/sheet1\.xml"
    r"|xl/styles\.xml|xl/tables/table1\.xml"
)
LINES = [("97124", 2, 60), ("97124", 3, 90), ("97124", 4, 120)]


def parts_of(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {n: archive.read(n) for n in archive.namelist()}


@pytest.fixture(scope="module")
def recoded(
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, tuple[Path, dict[str, bytes], dict[str, bytes]]]:
    """Each shape's workbook, recoded by the command: (path, parts before, parts after)."""
    from cptbill.cli import main

    folder = tmp_path_factory.mktemp("wild")
    found = {}
    for name, shape in SHAPES.items():
        path = build(folder / (re.sub(r"\W+", "-", name).strip("-") + ".xlsx"), shape)
        before = parts_of(path)
        with pytest.raises(SystemExit) as exit_:
            main(["recode", str(path), "--json"])
        assert not exit_.value.code, name
        found[name] = (path, before, parts_of(path))
    return found


@pytest.mark.parametrize("name", list(SHAPES))
def test_check_reads_the_lines_of_every_shape(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = build(tmp_path / "book.xlsx", SHAPES[name])
    status, out, err = run(capsys, "check", str(path), "--json")
    assert status == 0, err
    result = json.loads(out)
    assert result["lines"] == 3 and result["expected_total"] == 270.0 and result["flags"] == {}, result


@pytest.mark.parametrize("name", list(SHAPES))
def test_every_part_not_owned_is_byte_identical(name: str, recoded: Any) -> None:
    _, before, after = recoded[name]
    for part, data in before.items():
        if not OWNED.fullmatch(part):
            assert after.get(part) == data, (name, part)
    assert [n for n in after if n in before] == list(before)
    sheet_before, sheet_after = before["xl/worksheets/sheet1.xml"], after["xl/worksheets/sheet1.xml"]
    tail = re.compile(rb"</(?:x:)?sheetData>")
    assert tail.split(sheet_after)[1] == tail.split(sheet_before)[1]
    # Cells cptbill does not own keep their bytes: the shared formula and its cached results.
    for kept in re.findall(
        rb"<(?:x:)?c [^>]*>(?:(?!</(?:x:)?c>).)*<(?:x:)?f[^>]*>.*?</(?:x:)?c>", sheet_before
    ):
        assert kept in sheet_after, (name, kept)


@pytest.mark.parametrize("name", list(SHAPES))
def test_owned_cells_go_inside_the_table_next_to_the_lines(name: str, recoded: Any) -> None:
    path, *_ = recoded[name]
    rows = [list(r) for r in openpyxl.load_workbook(path)["Sessions"].iter_rows(values_only=True)]
    assert rows[0][:8] == ["Date", "Client", "Payer", "Minutes", "Code", "Units", "Expected", "Flags"]
    assert [tuple(r[4:7]) for r in rows[1:4]] == LINES
    assert [r[0] for r in rows[1:4]] == [dt.datetime(2026, 11, d) for d in (3, 4, 5)]
    minutes = ["=30*1"] * 3 if SHAPES[name].shared_minutes else [30, 45, 60]
    assert [r[3] for r in rows[1:4]] == minutes  # a shared formula is still there


def test_the_table_takes_the_added_columns_and_keeps_its_totals_row_out_of_the_filter(recoded: Any) -> None:
    for name in ("Excel 365", "table with a totals row", "a note 5,000 columns out"):
        table = recoded[name][2]["xl/tables/table1.xml"]
        bottom = 5 if "totals" in name else 4
        assert f'ref="A1:H{bottom}"'.encode() in table, name
        assert b'<autoFilter ref="A1:H4"' in table, name
        assert table.count(b"<tableColumn ") == 8 and b'name="Flags"' in table


def test_dates_written_into_a_1904_workbook_count_from_1904(recoded: Any) -> None:
    path, *_ = recoded["1904 date system (Mac)"]
    wb = openpyxl.load_workbook(path)
    assert wb.epoch == dt.datetime(1904, 1, 1)
    when = next(wb["Changes"].iter_rows(min_row=2, max_row=2, values_only=True))[0]
    assert isinstance(when, dt.datetime) and abs((dt.datetime.now() - when).days) <= 1, when


def test_a_second_recode_of_every_shape_changes_nothing(
    recoded: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, (path, *_) in recoded.items():
        before = path.read_bytes()
        status, _, err = run(capsys, "recode", str(path))
        assert status == 0, (name, err)
        assert path.read_bytes() == before, name


@pytest.mark.parametrize(
    "name", ["Excel 365", "rows and cells without r, prefixed, no table", "1904 date system (Mac)"]
)
def test_report_and_import_era_save_real_shapes(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = build(tmp_path / "book.xlsx", SHAPES[name])
    before = parts_of(path)
    era = Path(__file__).parent / "fixtures" / "summit-paid-denied.835"
    status, _, err = run(capsys, "import-era", str(path), str(era))
    assert status == 0, err
    status, _, err = run(capsys, "report", str(path))
    assert status == 0, err
    after = parts_of(path)
    for part, data in before.items():
        if not OWNED.fullmatch(part):
            assert after.get(part) == data, (name, part)
    wb = openpyxl.load_workbook(path, read_only=True)  # only Claims: openpyxl needs cells' r
    claims = [r for r in wb["Claims"].iter_rows(min_row=2, values_only=True) if r[0] is not None]
    assert claims and claims[0][0] == dt.datetime(2026, 10, 5), claims[:1]


def test_libreoffice_opens_every_recoded_shape(recoded: Any) -> None:
    paths = [path for path, _, _ in recoded.values()]
    with tempfile.TemporaryDirectory() as out:
        for path, converted in zip(paths, soffice_convert(paths, "xlsx", Path(out)), strict=True):
            rows = [
                list(r) for r in openpyxl.load_workbook(converted)["Sessions"].iter_rows(values_only=True)
            ]
            assert [tuple(r[4:7]) for r in rows[1:4]] == LINES, path.name
            assert [r[3] for r in rows[1:4]] in (["=30*1"] * 3, [30, 45, 60]), path.name


def _with_sheet(path: Path, change: Any) -> Path:
    parts = parts_of(path)
    parts["xl/worksheets/sheet1.xml"] = change(parts["xl/worksheets/sheet1.xml"])
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    return path


def _after_minutes(row: int, cell: bytes) -> Any:
    minutes = {2: b"<v>30</v></c>", 3: b"<v>45</v></c>"}[row]
    return lambda xml: xml.replace(minutes, minutes + cell, 1)


def test_cells_other_programs_type_are_read_as_excel_shows_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A client from a formula (t="str"), an ISO date cell (t="d"), an error in Minutes (t="e")."""
    path = build(tmp_path / "book.xlsx", Shape())
    _with_sheet(
        path,
        lambda xml: (
            xml.replace(
                b'<c r="B2" t="s"><v>4</v></c>', b'<c r="B2" t="str"><f>PROPER("ann")</f><v>Ann</v></c>'
            )
            .replace(b'<c r="A3" s="1"><v>46330</v></c>', b'<c r="A3" t="d"><v>2026-11-04T00:00:00</v></c>')
            .replace(
                b'<c r="D4"><f t="shared" si="0"/><v>60</v>',
                b'<c r="D4" t="e"><f t="shared" si="0"/><v>#N/A</v>',
            )
        ),
    )
    status, out, err = run(capsys, "check", str(path), "--json")
    assert status == 0, err
    result = json.loads(out)
    assert result["lines"] == 3 and result["flags"] == {"BAD_MINUTES": 1}, result
    assert result["expected_total"] == 150.0


def test_a_formula_filled_down_past_the_lines_in_an_owned_column_is_refused_with_its_cell(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = build(tmp_path / "book.xlsx", Shape(owned=True))
    _with_sheet(path, _after_minutes(2, b'<c r="G2"><f t="shared" ref="G2:G7" si="1">F2*25</f><v>50</v></c>'))
    _with_sheet(path, _after_minutes(3, b'<c r="G3"><f t="shared" si="1"/><v>75</v></c>'))
    before = path.read_bytes()
    status, _, err = run(capsys, "recode", str(path))
    assert status == 2 and "Sessions!G2" in err and "G2:G7" in err, err
    assert path.read_bytes() == before


def test_a_formula_in_an_owned_column_covered_by_the_lines_is_replaced_and_calc_chain_dropped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = build(tmp_path / "book.xlsx", Shape(owned=True))
    _with_sheet(path, _after_minutes(2, b'<c r="G2"><f t="shared" ref="G2:G3" si="1">F2*25</f><v>50</v></c>'))
    _with_sheet(path, _after_minutes(3, b'<c r="G3"><f t="shared" si="1"/><v>75</v></c>'))
    status, _, err = run(capsys, "recode", str(path))
    assert status == 0, err
    after = parts_of(path)
    assert b'si="1"' not in after["xl/worksheets/sheet1.xml"]
    assert b'<c r="D3"><f t="shared" si="0"/><v>45</v></c>' in after["xl/worksheets/sheet1.xml"]
    assert "xl/calcChain.xml" not in after and b"calcChain" not in after["[Content_Types].xml"]
    rows = [list(r) for r in openpyxl.load_workbook(path)["Sessions"].iter_rows(values_only=True)]
    assert [tuple(r[4:7]) for r in rows[1:4]] == LINES


def test_a_filled_down_formula_in_cells_without_r_is_refused_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Producers that leave out `r` still write shared formulas; the master is the range's first cell."""
    path = build(tmp_path / "book.xlsx", Shape(owned=True, cell_refs=False))
    _with_sheet(
        path, _after_minutes(2, b'<c t="str"><f t="shared" ref="E2:E7" si="1">"97"&amp;"124"</f><v>x</v></c>')
    )
    before = path.read_bytes()
    status, _, err = run(capsys, "recode", str(path))
    assert status == 2 and "Sessions!E2" in err and "E2:E7" in err, err
    assert path.read_bytes() == before


@pytest.mark.parametrize("totals", [False, True])
def test_claims_rows_appended_under_an_excel_table(
    totals: bool, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The table grows over the new rows; one with a totals row is left as it is (rows go below)."""
    import xlsxwriter

    from cptbill import contract as c

    path = tmp_path / "book.xlsx"
    wb = xlsxwriter.Workbook(path)
    wb.add_worksheet("Sessions").write_row(0, 0, ["Date", "Client", "Payer", "Minutes"])
    payers = wb.add_worksheet("Payers")
    payers.write_row(0, 0, ["Payer", "Accepts", "Rate 97124"])
    payers.write_row(1, 0, ["Summit Mutual Insurance", "97124", 40])
    header = list(c.CLAIMS_COLUMNS)
    old = ["2026-09-01", "Old", "Summit Mutual Insurance", "97124", 1, 40]
    options: dict[str, Any] = {"columns": [{"header": h} for h in header], "data": [old]}
    if totals:
        options["total_row"] = True
        options["columns"][0]["total_string"] = "Total"
    wb.add_worksheet("Claims").add_table(0, 0, 2 if totals else 1, len(header) - 1, options)
    wb.close()
    before = parts_of(path)["xl/tables/table1.xml"]
    era = Path(__file__).parent / "fixtures" / "summit-paid-denied.835"
    status, _, err = run(capsys, "import-era", str(path), str(era))
    assert status == 0, err
    table = parts_of(path)["xl/tables/table1.xml"]
    rows = [r for r in openpyxl.load_workbook(path)["Claims"].iter_rows(values_only=True)]
    first_new = 3 if totals else 2
    assert rows[first_new][1] == "JORDAN PIKE" and len(rows) == first_new + 4
    last = column_letters(len(header))
    if totals:
        assert table == before and rows[2][0] == "Total"
    else:
        assert f'ref="A1:{last}6"'.encode() in table and f'<autoFilter ref="A1:{last}6"'.encode() in table
