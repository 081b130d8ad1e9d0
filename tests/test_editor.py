"""The part-level reader and editor on the forms real files take: both readers agree, parts edited minimally."""

from __future__ import annotations

import datetime as dt
import re
import zipfile
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import xlsxwriter
from lxml import etree

from cptbill.ooxml import _lxml_rows, open_package, read_sheet
from helpers import PAYER_HEADER, run
from test_safety import make, rewrite

MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"


def parts_of(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {n: archive.read(n) for n in archive.namelist()}


def both_readers(path: Path, sheet: str) -> tuple[list[list[Any]], list[list[Any]]]:
    package = open_package(path)
    try:
        entry = package.sheet(sheet)
        assert entry is not None
        return read_sheet(package, entry), _lxml_rows(package, entry, package.read(entry.part))
    finally:
        package.close()


def varied_book(path: Path, **options: Any) -> Path:
    wb = xlsxwriter.Workbook(path, options)
    ws = wb.add_worksheet("Mixed")
    formats = {
        "date": wb.add_format({"num_format": "yyyy-mm-dd"}),
        "us": wb.add_format({"num_format": "m/d/yyyy"}),
        "long": wb.add_format({"num_format": "[$-409]mmmm d, yyyy;@"}),
        "time": wb.add_format({"num_format": "hh:mm"}),
        "stamp": wb.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"}),
        "money": wb.add_format({"num_format": '"$"#,##0.00'}),
        "bold": wb.add_format({"bold": True}),
    }
    ws.write_row(2, 2, ["Date", "US", "Long", "Time", "Stamp", "Money", "Text", "Flag"])
    ws.write_datetime(3, 2, dt.datetime(2026, 11, 3), formats["date"])
    ws.write_datetime(3, 3, dt.datetime(2026, 2, 28), formats["us"])
    ws.write_datetime(3, 4, dt.datetime(2024, 2, 29), formats["long"])
    ws.write_datetime(3, 5, dt.datetime(1900, 1, 1, 9, 30), formats["time"])
    ws.write_datetime(3, 6, dt.datetime(2026, 11, 3, 14, 5, 9), formats["stamp"])
    ws.write_number(3, 7, 62.4, formats["money"])
    ws.write_rich_string(3, 8, "a ", formats["bold"], "rich", " text")
    ws.write_boolean(3, 9, True)
    ws.write_row(5, 2, [30, 30.5, -2, 1e20, "  spaced  ", "line\nbreak", "tab\there", "ünïcode ✓"])
    ws.write_string(6, 12, "far right")
    wb.close()
    return path


@pytest.mark.parametrize("date_1904", [False, True], ids=["1900 dates", "1904 dates"])
def test_calamine_and_the_lxml_reader_give_the_same_values(tmp_path: Path, date_1904: bool) -> None:
    path = varied_book(tmp_path / "mixed.xlsx", date_1904=date_1904)
    fast, slow = both_readers(path, "Mixed")
    assert fast == slow
    assert slow[3][2:10] == [
        dt.date(2026, 11, 3), dt.date(2026, 2, 28), dt.date(2024, 2, 29), dt.time(9, 30),
        dt.datetime(2026, 11, 3, 14, 5, 9), 62.4, "a rich text", True,
    ]  # fmt: skip
    assert slow[5][2:10] == [30, 30.5, -2, 1e20, "  spaced  ", "line\nbreak", "tab\there", "ünïcode ✓"]
    assert slow[0] == slow[1] == [] and slow[6][12] == "far right"


def test_the_1900_leap_year_bug_is_kept_when_reading(tmp_path: Path) -> None:
    path = tmp_path / "serials.xlsx"
    wb = xlsxwriter.Workbook(path)
    ws = wb.add_worksheet("S")
    date = wb.add_format({"num_format": "yyyy-mm-dd"})
    for column, serial in enumerate([1, 59, 60, 61, 46329]):
        ws.write_number(0, column, serial, date)
    wb.close()
    _, rows = both_readers(path, "S")
    # Excel counts a 29 February 1900 that never was: 59 is 28 Feb, 61 is 1 March, 60 stays a number.
    assert rows[0] == [
        dt.date(1900, 1, 1),
        dt.date(1900, 2, 28),
        60,
        dt.date(1900, 3, 1),
        dt.date(2026, 11, 3),
    ]


def test_escaped_characters_are_read_and_written_as_excel_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = make(tmp_path / "escapes.xlsx")
    rewrite(
        path, "xl/sharedStrings.xml",
        lambda xml: xml.replace(b"<t>Ann</t>", b"<t>Ann_x000D_Lee _x005F_x0041_</t>"),
    )  # fmt: skip
    _, rows = both_readers(path, "Sessions")
    assert rows[1][1] == "Ann\rLee _x0041_"
    from cptbill.editor import cell_xml

    assert cell_xml("", "A1", "a\x01b _x0041_", None) == (
        '<c r="A1" t="inlineStr"><is><t>a_x0001_b _x005F_x0041_</t></is></c>'
    )


def test_a_formula_overwritten_in_an_owned_column_drops_the_calculation_chain(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], libreoffice: Any
) -> None:
    def formulas(wb: Any, ws: Any) -> None:
        ws.write_row(0, 4, ["Code", "Units", "Expected", "Flags"])
        ws.write_formula(1, 6, "=F2*30", None, 0)  # a formula typed into Expected: cptbill owns the cell
        ws.write_formula(1, 8, "=D2+1", None, 31)  # a formula the user owns

    path = make(tmp_path / "chain.xlsx", formulas)
    chain = b'<?xml version="1.0"?><calcChain xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><c r="G2" i="1"/><c r="I2"/></calcChain>'
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("xl/calcChain.xml", chain)
    rewrite(path, "[Content_Types].xml", lambda xml: xml.replace(
        b"</Types>",
        b'<Override PartName="/xl/calcChain.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.calcChain+xml"/></Types>',
    ))  # fmt: skip
    rewrite(path, "xl/_rels/workbook.xml.rels", lambda xml: xml.replace(
        b"</Relationships>",
        b'<Relationship Id="rId99" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/calcChain" Target="calcChain.xml"/></Relationships>',
    ))  # fmt: skip
    assert run(capsys, "recode", str(path))[0] == 0
    parts = parts_of(path)
    assert "xl/calcChain.xml" not in parts
    assert (
        b"calcChain" not in parts["[Content_Types].xml"]
        and b"calcChain" not in parts["xl/_rels/workbook.xml.rels"]
    )
    sheet = parts["xl/worksheets/sheet1.xml"]
    assert b"<f>F2*30</f>" not in sheet and b"<f>D2+1</f><v>31</v>" in sheet
    ws = openpyxl.load_workbook(libreoffice(path, "xlsx"), data_only=True)["Sessions"]
    assert (ws["G2"].value, ws["I2"].value) == (60, 31)


def test_styles_are_appended_never_renumbered(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = make(
        tmp_path / "styles.xlsx", lambda wb, ws: ws.write(1, 7, "note", wb.add_format({"italic": True}))
    )
    before = etree.fromstring(parts_of(path)["xl/styles.xml"])
    assert run(capsys, "recode", str(path))[0] == 0
    after = etree.fromstring(parts_of(path)["xl/styles.xml"])
    for name in ("numFmts", "fonts", "fills", "borders", "cellXfs"):
        old, new = before.find(MAIN + name), after.find(MAIN + name)
        if old is None:
            continue
        assert [etree.tostring(e) for e in new][: len(old)] == [etree.tostring(e) for e in old], name
        assert new.get("count") == str(len(new)), name
    formats = {e.get("formatCode") for e in after.iter(MAIN + "numFmt")}
    assert '"$"#,##0.00' in formats


def test_rows_appended_to_a_formatted_changes_sheet_keep_its_formatting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = make(tmp_path / "changes.xlsx")
    assert run(capsys, "recode", str(path))[0] == 0  # creates Changes
    wb = openpyxl.load_workbook(path)
    wb["Sessions"]["D2"] = 50  # a change for the next recode
    wb["Changes"].column_dimensions["H"].width = 77
    wb["Changes"].conditional_formatting.add(
        "A2:H99", openpyxl.formatting.rule.CellIsRule(operator="equal", formula=['"x"'])
    )
    wb.save(path)
    before = parts_of(path)
    changes_part = next(
        n
        for n, d in before.items()
        if (n.startswith("xl/worksheets/") and b">When<" in d) or b"When</t>" in d
    )
    assert run(capsys, "recode", str(path))[0] == 0
    after = parts_of(path)
    old, new = before[changes_part], after[changes_part]
    assert new.split(b"</sheetData>")[1] == old.split(b"</sheetData>")[1]  # conditional format kept
    assert (
        new.split(b"<sheetData>")[0].split(b"<cols>")[1] == old.split(b"<sheetData>")[0].split(b"<cols>")[1]
    )
    rows = list(openpyxl.load_workbook(path)["Changes"].iter_rows(values_only=True))
    assert (len(rows) == 4 and rows[3][6] == "filled 1 lines") or rows[-1][2] == 2


def _prefixed(xml: bytes) -> bytes:
    """The sheet with its main namespace under the prefix `x:`, as some writers store it."""
    xml = xml.replace(
        b'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"',
        b'xmlns:x="http://schemas.openxmlformats.org/spreadsheetml/2006/main"',
    )
    return re.sub(rb"<(/?)(?!\?)([A-Za-z]+)([\s>/])", rb"<\1x:\2\3", xml)


def _without_refs(xml: bytes) -> bytes:
    """The sheet with no `r` on rows and cells (positions implicit), as some generators write it."""
    return re.sub(rb' r="[A-Z]*\d+"', b"", xml)


@pytest.mark.parametrize("change", [_prefixed, _without_refs], ids=["prefixed tags", "no cell references"])
def test_unusual_but_valid_sheet_xml_recodes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], change: Any, libreoffice: Any
) -> None:
    path = make(tmp_path / "unusual.xlsx")
    rewrite(path, "xl/worksheets/sheet1.xml", change)
    status, out, err = run(capsys, "recode", str(path), "--json")
    assert (status, err) == (0, "") and '"changed": 2' in out
    etree.fromstring(parts_of(path)["xl/worksheets/sheet1.xml"])  # well-formed
    ws = openpyxl.load_workbook(libreoffice(path, "xlsx"))["Sessions"]
    assert [c.value for c in ws[1]][4:8] == ["Code", "Units", "Expected", "Flags"]
    assert [(ws.cell(r, 5).value, ws.cell(r, 6).value) for r in (2, 3)] == [("97124", 2), ("97124", 3)]
    assert run(capsys, "recode", str(path), "--json")[1].count('"changed": 0') == 1


def test_new_header_cells_look_like_the_header_beside_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def styled(wb: Any, ws: Any) -> None:
        header = wb.add_format({"bold": True, "bg_color": "#1F4E78", "font_color": "#FFFFFF"})
        ws.write_row(0, 0, ["Date", "Client", "Payer", "Minutes"], header)

    path = make(tmp_path / "header.xlsx", styled)
    assert run(capsys, "recode", str(path))[0] == 0
    ws = openpyxl.load_workbook(path)["Sessions"]
    assert (
        ws["E1"].value == "Code"
        and ws["E1"].font.bold
        and ws["E1"].fill.fgColor.rgb == ws["D1"].fill.fgColor.rgb
    )


def test_payers_learned_column_and_claims_rows_are_edited_in_place(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "claims.xlsx"
    wb = xlsxwriter.Workbook(path)
    ws = wb.add_worksheet("Sessions")
    ws.write_row(0, 0, ["Date", "Client", "Payer", "Minutes"])
    ws.write_row(1, 0, ["2026-11-03", "Ann", "Aetna", 30])
    payers = wb.add_worksheet("Payers")
    payers.write_row(0, 0, PAYER_HEADER)
    payers.write_row(1, 0, ["Aetna", None, None, 30, 32])
    claims = wb.add_worksheet("Claims")
    claims.write_row(0, 0, ["Date", "Client", "Payer", "Code", "Units", "Billed", "Paid", "Status", "Reason"])
    claims.write_row(1, 0, ["2026-10-01", "Bo", "Aetna", "97124", 2, 80, 60, "Paid"])
    wb.close()
    before = parts_of(path)
    assert run(capsys, "recode", str(path))[0] == 0
    after = parts_of(path)
    assert after["xl/worksheets/sheet3.xml"] == before["xl/worksheets/sheet3.xml"]  # Claims: read only
    learned = openpyxl.load_workbook(path)["Payers"]
    assert learned.cell(1, 9).value == "Learned" and "97124" in learned.cell(2, 9).value


def test_a_sheet_named_in_another_case_is_the_same_sheet(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Excel refuses two sheets whose names differ only in case: rows go to the existing `changes`."""
    path = make(
        tmp_path / "case.xlsx", lambda wb, ws: wb.add_worksheet("changes").write_row(0, 0, ["When", "Sheet"])
    )
    assert run(capsys, "recode", str(path))[0] == 0
    wb = openpyxl.load_workbook(path)
    assert [n.casefold() for n in wb.sheetnames].count("changes") == 1
    assert wb["changes"].max_row == 2


def test_formats_appended_once_are_reused_by_later_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = make(tmp_path / "runs.xlsx")
    assert run(capsys, "recode", str(path))[0] == 0
    row = (
        b'<row r="4"><c r="A4" t="inlineStr"><is><t>2026-11-05</t></is></c><c r="B4" t="inlineStr"><is><t>Cy'
        b'</t></is></c><c r="C4" t="inlineStr"><is><t>Aetna</t></is></c><c r="D4"><v>60</v></c></row>'
    )
    rewrite(path, "xl/worksheets/sheet1.xml", lambda xml: xml.replace(b"</sheetData>", row + b"</sheetData>"))
    styles = parts_of(path)["xl/styles.xml"]
    status, out, _ = run(capsys, "recode", str(path), "--json")
    assert status == 0 and '"changed": 1' in out
    assert parts_of(path)["xl/styles.xml"] == styles  # the formats of the first run are used again
    assert [c.value for c in openpyxl.load_workbook(path)["Sessions"][4]][4:7] == ["97124", 4, 120]


def test_flagged_flags_cells_get_the_flag_fill_and_lose_it_when_fixed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = make(tmp_path / "fill.xlsx")
    rewrite(path, "xl/worksheets/sheet1.xml", lambda xml: xml.replace(b'"D3"><v>45</v>', b'"D3"><v>5</v>'))
    assert run(capsys, "recode", str(path))[0] == 0
    ws = openpyxl.load_workbook(path)["Sessions"]
    flags = [c.value for c in ws[1]].index("Flags") + 1
    assert ws.cell(3, flags).value.startswith("UNDER_8_MIN")
    assert ws.cell(3, flags).fill.fgColor.rgb == "FFFFEB9C"
    assert ws.cell(2, flags).fill.patternType is None and ws.cell(3, 1).fill.patternType is None
    rewrite(path, "xl/worksheets/sheet1.xml", lambda xml: xml.replace(b'"D3"><v>5</v>', b'"D3"><v>45</v>'))
    status, _, err = run(capsys, "recode", str(path))
    assert status == 0, err
    ws = openpyxl.load_workbook(path)["Sessions"]
    assert ws.cell(3, flags).value is None and ws.cell(3, flags).fill.patternType is None


def test_rows_added_to_sheets_that_hide_unused_rows_are_shown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], libreoffice: Any
) -> None:
    """Excel's "hide unused rows" (sheetFormatPr zeroHeight) hides a row without a height of its own."""

    def hide_unused_rows(wb: Any, ws: Any) -> None:
        ws.set_default_row(hide_unused_rows=True)
        changes = wb.add_worksheet("Changes")
        changes.set_default_row(30, hide_unused_rows=True)
        changes.write_row(0, 0, ["When", "Sheet", "Row", "Client", "Date", "Before", "After", "Why"])
        summary = wb.add_worksheet("Summary")  # a sheet the report rewrites whole
        summary.set_default_row(hide_unused_rows=True)
        summary.write_row(0, 0, ["an old summary"])

    path = make(tmp_path / "hidden.xlsx", hide_unused_rows)
    before = parts_of(path)
    assert run(capsys, "recode", str(path))[0] == 0
    assert run(capsys, "report", str(path))[0] == 0
    after = parts_of(path)
    changes = after["xl/worksheets/sheet3.xml"]
    added = re.findall(rb"<row [^>]*>", changes.split(b"</row>", 1)[1])
    assert added == [b'<row r="2" ht="30" customHeight="1">']
    # Every other byte of the sheet is as it was.
    old = before["xl/worksheets/sheet3.xml"]
    old_head, old_rest = old.split(b"</row>", 1)
    assert changes.startswith(old_head.replace(b'ref="A1:H1"', b'ref="A1:H2"') + b"</row>")
    assert changes.split(b"</sheetData>")[1] == old_rest.split(b"</sheetData>")[1]
    summary = after["xl/worksheets/sheet4.xml"]
    assert b'zeroHeight="1"' in summary
    rows = re.findall(rb"<row [^>]*>", summary)
    assert len(rows) > 1 and all(b'ht="15" customHeight="1"' in row for row in rows)
    # A sheet without hidden rows gets rows as before.
    assert b"customHeight" not in after["xl/worksheets/sheet2.xml"]
    shown = openpyxl.load_workbook(libreoffice(path, "xlsx"))
    sheet = shown["Changes"]
    assert sheet.cell(2, 7).value == "filled 2 lines" and not sheet.row_dimensions[2].hidden
    report = shown["Summary"]
    assert report.cell(1, 1).value == "Month"
    assert not any(report.row_dimensions[r].hidden for r in range(1, report.max_row + 1))
