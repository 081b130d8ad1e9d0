"""Owned cells a recode cannot write are named by check first; owned columns it adds are never hidden."""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import xlsxwriter
from openpyxl.worksheet.formula import ArrayFormula

from conftest import Convert
from cptbill import editor, xlsx
from helpers import run
from test_safety import make
from test_wild_workbooks import _after_minutes, _with_sheet
from wild_book import Shape, build

OWNED = ["Code", "Units", "Expected", "Flags"]


def sheet_xml(path: Path, part: str = "xl/worksheets/sheet1.xml") -> bytes:
    with zipfile.ZipFile(path) as archive:
        return archive.read(part)


def check_json(capsys: pytest.CaptureFixture[str], path: Path, *more: str) -> dict[str, Any]:
    before = path.read_bytes()
    status, out, err = run(capsys, "check", str(path), "--json", *more)
    assert status == 0, err
    assert path.read_bytes() == before  # a check changes nothing, whatever it found
    result: dict[str, Any] = json.loads(out)
    return result


# --- check names what a recode would refuse --------------------------------------------------------


def merged_in_owned(wb: Any, ws: Any) -> None:
    ws.write_row(0, 4, OWNED)
    ws.merge_range("E3:F3", "typed over two cells")


def two_merges_in_owned(wb: Any, ws: Any) -> None:
    ws.write_row(0, 4, OWNED)
    ws.merge_range("E2:F2", "typed")
    ws.merge_range("E3:F3", "typed")


def spilled_into_code(wb: Any, ws: Any) -> None:
    ws.write_row(0, 4, OWNED)
    ws.write_dynamic_array_formula("E2:E3", "=SEQUENCE(2)", None, 1)


def legacy_array_in_units(wb: Any, ws: Any) -> None:
    ws.write_row(0, 4, OWNED)
    ws.write_array_formula("F2:F3", "{=ROW(A2:A3)}", None, 2)


def merged_header_cell(wb: Any, ws: Any) -> None:
    """A merged title right of the header: the added Code column's header cell (F1) falls inside it."""
    ws.merge_range("E1:F1", "Billing")


REFUSED = {
    "merged cells": (merged_in_owned, "Sessions!F3", "merged cells E3:F3", "unmerge them"),
    "two merged ranges": (two_merges_in_owned, "Sessions!F2", "1 more merged range", "unmerge them"),
    "a spilled dynamic array": (
        spilled_into_code,
        "Sessions!E2",
        "array formula (E2:E3)",
        "move the formula",
    ),
    # F2 already holds the 2 units its line takes: the recode writes F3 only.
    "a legacy array formula": (
        legacy_array_in_units,
        "Sessions!F3",
        "array formula (F2:F3)",
        "move the formula",
    ),
}


@pytest.mark.parametrize("case", REFUSED)
def test_check_warns_in_one_sentence_where_a_recode_refuses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    build_extra, cell, what, fix = REFUSED[case]
    path = make(tmp_path / "book.xlsx", build_extra)
    result = check_json(capsys, path)
    warned = [w for w in result["warnings"] if "recode would refuse" in w]
    assert len(warned) == 1, result["warnings"]
    for word in (cell, what, fix):
        assert word in warned[0], warned[0]
    assert warned[0].count(". ") == 0 and warned[0].endswith(".")  # one sentence
    # Excel will not change part of an array either, and the add-in refuses merged cells too:
    # it is offered for filled-down formulas only.
    assert ("add-in" in warned[0]) == ("formula filled down" in what), warned[0]
    status, out, err = run(capsys, "check", str(path))  # the terminal says it too
    assert status == 0 and f"Warning: {warned[0]}\n" in out, out
    status, _, err = run(capsys, "recode", str(path))
    assert status == 2 and cell in err and fix in err, err  # the recode refuses that very cell


def test_owned_columns_to_add_go_past_merged_cells_beside_the_header(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A merged title right of the header (E1:F1, "Billing"): Code once went to F, inside it, and
    the recode was refused. The added columns now go past the merged cells, which stay as they were."""
    path = make(tmp_path / "book.xlsx", merged_header_cell)
    assert not [w for w in check_json(capsys, path)["warnings"] if "recode would refuse" in w]
    before = sheet_xml(path)
    status, _, err = run(capsys, "recode", str(path))
    assert status == 0, err
    after = sheet_xml(path)
    merges = re.compile(rb"<mergeCells\b.*?</mergeCells>", re.S)
    kept, again = merges.search(before), merges.search(after)
    assert kept is not None and again is not None and again.group(0) == kept.group(0)
    sheet = openpyxl.load_workbook(path)["Sessions"]
    header = [cell.value for cell in sheet[1]]
    assert header[4:] == ["Billing", None, *OWNED], header
    assert sheet["G2"].value in ("97124", "97140") and sheet["E2"].value is None


def test_the_core_adds_owned_columns_past_the_merged_cells_a_door_knows() -> None:
    """The same in the core, through `merged_areas`: a merged block in the rows of the lines pushes
    the added columns past it; one below the last line does not."""
    import datetime as dt

    from cptbill.book import MemoryBook, recode

    rows = [["Date", "Client", "Payer", "Minutes"], [dt.date(2026, 11, 2), "Ann", "Summit", 30]]
    for merged, code_column in (([(1, 5, 2, 6)], 7), ([(5, 5, 5, 9)], 5), ([], 5)):
        book = MemoryBook({"Sessions": [list(r) for r in rows]})
        book.merged["Sessions"] = merged
        recode(book)
        header = book.sheets["Sessions"][0]
        assert header.index("Code") + 1 == code_column, (merged, header)


def test_the_warning_names_every_kind_of_trouble_on_a_sheet(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def both(wb: Any, ws: Any) -> None:
        merged_in_owned(wb, ws)
        ws.write_dynamic_array_formula("G2:G3", "=SEQUENCE(2)", None, 1)

    result = check_json(capsys, make(tmp_path / "book.xlsx", both))
    warned = [w for w in result["warnings"] if "recode would refuse" in w]
    assert len(warned) == 2, warned
    assert "Sessions!F3" in warned[0] and "Sessions!G2" in warned[1], warned


def test_a_filled_down_formula_over_more_than_the_lines_is_warned_about(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = build(tmp_path / "book.xlsx", Shape(owned=True))
    _with_sheet(path, _after_minutes(2, b'<c r="G2"><f t="shared" ref="G2:G7" si="1">F2*25</f><v>50</v></c>'))
    _with_sheet(path, _after_minutes(3, b'<c r="G3"><f t="shared" si="1"/><v>75</v></c>'))
    warned = [w for w in check_json(capsys, path)["warnings"] if "recode would refuse" in w]
    assert len(warned) == 1 and "Sessions!G2" in warned[0] and "G2:G7" in warned[0], warned
    assert "clear those formulas (or recode from Excel with the add-in)" in warned[0]
    status, _, err = run(capsys, "recode", str(path))
    assert status == 2 and "Sessions!G2" in err


def merged_first_cell_owned(wb: Any, ws: Any) -> None:
    """Flags in H; the merge H3:I3 holds the value in H3, which a recode may write."""
    ws.write_row(0, 4, OWNED)
    ws.write_string(0, 9, "Notes")  # I is not free: the merge's other cell is no owned column's
    ws.merge_range("H3:I3", "old note")


def merged_elsewhere(wb: Any, ws: Any) -> None:
    ws.write_row(0, 4, OWNED)
    ws.merge_range("A6:D6", "a note under the lines")


@pytest.mark.parametrize(
    ("name", "extra"), [("first cell", merged_first_cell_owned), ("elsewhere", merged_elsewhere)]
)
def test_no_warning_where_a_recode_writes_safely(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, extra: Any
) -> None:
    path = make(tmp_path / "book.xlsx", extra)
    result = check_json(capsys, path)
    assert not [w for w in result["warnings"] if "recode would refuse" in w], result["warnings"]
    status, _, err = run(capsys, "recode", str(path))
    assert status == 0, err


def test_no_warning_for_lines_out_of_the_month(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The merged cell sits on a November line: a December check writes nothing there."""
    path = make(tmp_path / "book.xlsx", merged_in_owned)
    assert [w for w in check_json(capsys, path, "--month", "2026-11")["warnings"] if "refuse" in w]
    assert not [w for w in check_json(capsys, path, "--month", "2026-12")["warnings"] if "refuse" in w]


def test_a_wild_workbook_costs_no_planned_write(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Excel's shape with a merged note and a shared formula in Minutes, neither in an owned column:
    check does not work out the recode's cells (the refusal test would find nothing there)."""

    def never(*_: Any, **__: Any) -> None:
        raise AssertionError("write_plan ran for a sheet without trouble in its owned columns")

    monkeypatch.setattr(xlsx, "write_plan", never)
    path = build(tmp_path / "book.xlsx", Shape())
    assert check_json(capsys, path)["warnings"] == []


def test_a_plain_sheet_is_never_parsed_for_ranges(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two byte searches decide: no mergeCell and no ranged formula, no regular expression runs."""

    class Refusing:
        def finditer(self, *_: Any) -> Any:
            raise AssertionError("a sheet without merged cells or ranged formulas was parsed")

        match = finditer

    monkeypatch.setattr(editor, "_MERGE", Refusing())
    monkeypatch.setattr(editor, "_FORMULA_TAG", Refusing())
    path = make(tmp_path / "book.xlsx", lambda wb, ws: ws.write_formula("F2", "=1+1", None, 2))
    assert check_json(capsys, path)["warnings"] == []
    assert run(capsys, "recode", str(path))[0] == 0


def test_guarded_ranges_are_read_in_each_form() -> None:
    """Prefixed tags, single quotes, a shared formula's cell without `r`; nothing found without them."""
    xml = (
        b"<x:worksheet><x:sheetData><x:row r='2'><x:c r='E2'><x:f t='array' ref='E2:E3'>A</x:f></x:c>"
        b'<x:c><x:f t="shared" ref="G2:G4" si="0">B</x:f></x:c></x:row></x:sheetData>'
        b"<x:mergeCells count='2'><x:mergeCell ref=\"H2:I2\"/><x:mergeCell ref='J2:J3'/></x:mergeCells>"
        b"</x:worksheet>"
    )
    found = editor.guarded_ranges(xml)
    assert [(g.kind, g.ref, g.master) for g in found] == [
        ("merged", "H2:I2", None),
        ("merged", "J2:J3", None),
        ("array", "E2:E3", None),
        ("shared", "G2:G4", (2, 7)),
    ]
    assert editor.guarded_ranges(xml.replace(b"mergeCell", b"x").replace(b"ref=", b"sq=")) == []


# --- added owned columns are visible ---------------------------------------------------------------


def cols_of(xml: bytes) -> list[bytes]:
    return re.findall(rb"<(?:x:)?col\b[^>]*?(?:/>|>\s*</(?:x:)?col>)", xml)


def column_props(xml: bytes, last: int = 20) -> dict[int, tuple[bool, float | None]]:
    """Each column's (hidden, width) as the sheet's `<col>` elements give them."""
    props: dict[int, tuple[bool, float | None]] = {}
    for tag in cols_of(xml):
        attrs = dict(re.findall(rb'(\w+)="([^"]*)"', tag))
        hidden = attrs.get(b"hidden") in (b"1", b"true")
        width = float(attrs[b"width"]) if b"width" in attrs else None
        for column in range(int(attrs[b"min"]), min(int(attrs[b"max"]), last) + 1):
            props[column] = (hidden, width)
    return props


def hidden_unused_columns(wb: Any, ws: Any) -> None:
    """Excel's "hide every unused column" (E to XFD, narrow and bold), and a hidden column B."""
    ws.set_column("B:B", 3, None, {"hidden": True})
    ws.set_column("E:XFD", 2, wb.add_format({"bold": True}), {"hidden": True})


def test_added_owned_columns_come_out_of_a_hidden_span(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], libreoffice: Convert
) -> None:
    path = make(tmp_path / "book.xlsx", hidden_unused_columns)
    before = sheet_xml(path)
    old_b, old_span = cols_of(before)
    assert run(capsys, "recode", str(path))[0] == 0
    after = sheet_xml(path)
    cols = cols_of(after)
    assert cols[0] == old_b  # column B keeps its very bytes
    assert cols[-1] == old_span.replace(b'min="5"', b'min="9"')  # the span goes on after Flags, as it was
    props = column_props(after)
    for column in (5, 6, 7, 8):  # Code, Units, Expected, Flags
        hidden, width = props[column]
        assert not hidden and width is not None and width >= 8, (column, props[column])
        assert b'style="1"' in cols[column - 4]  # the span's look (bold) is kept
    assert props[9][0] and props[2][0] and props[20][0]
    # Outside <cols>, the head of the sheet is as it was.
    head = before[: before.index(b"<sheetData")]
    new_head = after[: after.index(b"<sheetData")]
    assert re.sub(rb"<cols>.*</cols>|<dimension[^>]*>", b"", head) == re.sub(
        rb"<cols>.*</cols>|<dimension[^>]*>", b"", new_head
    )
    # LibreOffice reads the columns so: the added ones shown, B and the rest of the span hidden.
    opened = column_props(sheet_xml(libreoffice(path, "xlsx")))
    assert [opened[c][0] for c in (2, 5, 6, 7, 8, 9)] == [True, False, False, False, False, True], opened
    rows = list(openpyxl.load_workbook(path)["Sessions"].iter_rows(values_only=True))
    assert rows[0][4:8] == tuple(OWNED) and rows[1][4:7] == ("97124", 2, 60)
    # A second recode finds the columns there and leaves <cols> alone.
    run(capsys, "recode", str(path))
    assert cols_of(sheet_xml(path)) == cols


def test_a_narrow_span_is_split_and_a_wide_one_left_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "narrow.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Sessions"
    ws.append(["Date", "Client", "Payer", "Minutes"])
    ws.append(["2026-11-03", "Ann", "Aetna", 30])
    ws.column_dimensions.group("E", "J", hidden=False)
    ws.column_dimensions["E"].width = 0.5
    payers = wb.create_sheet("Payers")
    payers.append(["Payer", "Accepts", "Rate 97124"])
    payers.append(["Aetna", "97124", 30])
    wb.save(path)
    assert run(capsys, "recode", str(path))[0] == 0
    props = column_props(sheet_xml(path))
    assert all(props[c][1] >= 8 and not props[c][0] for c in (5, 6, 7, 8)), props  # type: ignore[operator]
    assert props[9][1] == props[10][1] == 0.5  # I and J keep the span's width

    wide = make(tmp_path / "wide.xlsx", lambda wb, ws: ws.set_column("E:Z", 30))
    before = cols_of(sheet_xml(wide))
    assert run(capsys, "recode", str(wide))[0] == 0
    assert cols_of(sheet_xml(wide)) == before


def test_a_span_in_other_forms_is_split_too(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Prefixed tags (Open XML SDK), single quotes and a `<col>` with an end tag."""
    path = build(tmp_path / "book.xlsx", Shape(prefix="x:"))
    span = b"<x:col min='5' max='9' width='1.5' hidden='1' outlineLevel='1'></x:col>"
    _with_sheet(path, lambda xml: xml.replace(b"</x:cols>", span + b"</x:cols>"))
    assert run(capsys, "recode", str(path))[0] == 0
    xml = sheet_xml(path)
    assert xml.count(b"</x:col>") == 1 and span.replace(b"'5'", b"'9'") in xml
    props = column_props(xml.replace(b"'", b'"'))
    assert [props[c][0] for c in (5, 6, 7, 8, 9)] == [False, False, False, False, True]
    assert openpyxl.load_workbook(path)["Sessions"]["E1"].value == "Code"


def test_an_added_learned_column_on_payers_is_shown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every column a recode adds is treated alike: the Payers sheet's Learned column too."""
    path = tmp_path / "book.xlsx"
    wb = xlsxwriter.Workbook(path)
    ws = wb.add_worksheet("Sessions")
    ws.write_row(0, 0, ["Date", "Client", "Payer", "Minutes"])
    ws.write_row(1, 0, ["2026-11-03", "Ann", "Aetna", 30])
    payers = wb.add_worksheet("Payers")
    payers.write_row(0, 0, ["Payer", "Accepts", "Rate 97124"])
    payers.write_row(1, 0, ["Aetna", "97124", 30])
    payers.set_column("D:XFD", None, None, {"hidden": True})
    claims = wb.add_worksheet("Claims")
    claims.write_row(0, 0, ["Date", "Client", "Payer", "Code", "Billed", "Paid", "Status", "Reason"])
    claims.write_row(1, 0, ["2026-10-01", "Ann", "Aetna", "97124", 60, 0, "Denied", "CO-96"])
    wb.close()
    assert run(capsys, "recode", str(path))[0] == 0
    learned = openpyxl.load_workbook(path)["Payers"]["D1"].value
    assert learned == "Learned"
    assert column_props(sheet_xml(path, "xl/worksheets/sheet2.xml"))[4][0] is False


def test_an_array_formula_cell_written_by_openpyxl_is_refused_and_warned(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "array.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Sessions"
    ws.append(["Date", "Client", "Payer", "Minutes", *OWNED])
    ws.append(["2026-11-03", "Ann", "Aetna", 30])
    ws.append(["2026-11-04", "Bo", "Aetna", 45])
    ws["G2"] = ArrayFormula("G2:G3", "=D2:D3*2")
    payers = wb.create_sheet("Payers")
    payers.append(["Payer", "Accepts", "Rate 97124"])
    payers.append(["Aetna", "97124", 30])
    wb.save(path)
    warned = [w for w in check_json(capsys, path)["warnings"] if "refuse" in w]
    assert len(warned) == 1 and "Sessions!G2" in warned[0], warned
    status, _, err = run(capsys, "recode", str(path))
    assert status == 2 and "Sessions!G2" in err
