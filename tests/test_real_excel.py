"""Workbooks saved by Excel itself (Windows and Mac, 2007 to 365): read as openpyxl reads them, edited surgically.

The files come from the public test data of other spreadsheet libraries (tests/fixtures/real-excel,
its README says where each comes from and under which licence). Each is read sheet by sheet and
compared with openpyxl; then a Sessions and a Payers sheet are added to it (tests/real_book.py,
nothing else touched) and the whole month's story runs on it: check, recode, import-era, recode,
report. Every part cptbill does not own must come back byte for byte.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import math
import re
import warnings
import zipfile
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from lxml import etree

from conftest import soffice_convert
from cptbill import ooxml
from cptbill.cli import main
from cptbill.errors import CptbillError
from cptbill.xlsx import read_file
from helpers import run
from real_book import (
    CODED,
    SESSIONS,
    billing_book,
    session_header_on_real_rows,
    sessions_in_a_table,
    sessions_on_first_sheet,
)

FOLDER = Path(__file__).parent / "fixtures" / "real-excel"
# openpyxl, which reads the results back here, warns that it drops what it does not know in these
# real files (extensions, odd print areas): that is openpyxl's loss on reading, not cptbill's
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning:openpyxl")
BOOKS = sorted(
    p.name for p in FOLDER.iterdir() if p.suffix in (".xlsx", ".xlsm") and "password" not in p.name
)
ERA = Path(__file__).parent / "fixtures" / "summit-paid-denied.835"
#: Parts a job may rewrite in these workbooks; the new sheets' own parts are new, never in the input.
OWNED = {"[Content_Types].xml", "xl/workbook.xml", "xl/_rels/workbook.xml.rels", "xl/styles.xml"}
#: Recoded workbooks LibreOffice opens in the test (one LibreOffice run): Windows and Mac, macros,
#: pivot table, tables, a chart sheet, 1904 dates, Excel 2007.
IN_LIBREOFFICE = [
    "xlwings__udf_tests.xlsm",
    "xlwings__pivot_table.xlsx",
    "xlwings__integration_write.xlsm",
    "python_calamine__any_sheets.xlsx",
    "csvkit__test.xlsx",
    "xlrd__reveng1.xlsx",
]


def parts_of(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {n: archive.read(n) for n in archive.namelist()}


def test_every_fixture_was_saved_by_excel_and_is_listed_in_the_readme() -> None:
    readme = (FOLDER / "README.md").read_text()
    total = 0
    for path in FOLDER.iterdir():
        if path.name == "README.md":
            continue
        assert f"`{path.name}`" in readme, path.name
        total += path.stat().st_size
        if path.name in BOOKS:
            app = zipfile.ZipFile(path).read("docProps/app.xml").decode()
            assert re.search(r"<Application>Microsoft (Macintosh )?Excel</Application>", app), path.name
    assert total < 2 * 2**20
    assert len(BOOKS) >= 25


# ---------------------------------------------------------------------------------------------
# Reading


def _unescaped(text: str) -> str:
    """ECMA-376's `_xHHHH_` escapes decoded (`_x005F_` is an underscore), left to right."""
    return re.sub(r"_x([0-9A-Fa-f]{4})_", lambda m: chr(int(m.group(1), 16)), text)


def _normal(value: Any) -> Any:
    """A value as both readers should agree on it (documented differences folded)."""
    if isinstance(value, str):
        return value or None
    if isinstance(value, dt.datetime) and value.time() == dt.time():
        return value.date()  # cptbill: a date format gives a date
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _same(ours: Any, theirs: Any) -> bool:
    a, b = _normal(ours), _normal(theirs)
    if a == b and type(a) is type(b):
        return True
    if isinstance(a, str) and isinstance(b, str) and "_x" in b:
        return a == _unescaped(b)  # openpyxl decodes `_xHHHH_` in some cells, not in others
    if isinstance(a, float) and isinstance(b, (int, float)) and not isinstance(b, bool):
        return math.isclose(a, b, rel_tol=1e-12)
    if isinstance(a, dt.datetime) and isinstance(b, dt.datetime):
        return abs((a - b).total_seconds()) < 0.002  # both round to the millisecond, differently
    return False


def _differences(path: Path) -> list[str]:
    """Cells where cptbill's reading of `path` differs from openpyxl's (data_only: the cached results)."""
    book = read_file(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # openpyxl warns about features it does not read
        reference = openpyxl.load_workbook(path, data_only=True)
    found = []
    try:
        assert book.sheet_names() == reference.sheetnames
        for name in book.sheet_names():
            ours = book.read(name)
            sheet = reference[name]
            if not hasattr(sheet, "iter_rows"):  # a chart sheet: no cells
                assert ours == [], name
                continue
            theirs = [list(row) for row in sheet.iter_rows(values_only=True)]
            while theirs and all(v is None for v in theirs[-1]):
                theirs.pop()
            for r in range(max(len(ours), len(theirs))):
                a = ours[r] if r < len(ours) else []
                b = theirs[r] if r < len(theirs) else []
                for c in range(max(len(a), len(b))):
                    x = a[c] if c < len(a) else None
                    y = b[c] if c < len(b) else None
                    if not _same(x, y):
                        found.append(f"{name}!R{r + 1}C{c + 1}: cptbill {x!r}, openpyxl {y!r}")
            assert not ours or ours[-1], f"{name}: trailing empty rows are trimmed"
    finally:
        book.close()
    return found


@pytest.mark.parametrize("reader", ["as cptbill chooses", "lxml only"])
@pytest.mark.parametrize("name", BOOKS)
def test_every_sheet_reads_as_openpyxl_reads_it(
    name: str, reader: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if reader == "lxml only":  # the reader for formulas, errors, 1904 and Strict files, on every sheet
        monkeypatch.setattr(ooxml, "_calamine_can_read", lambda data: False)
    assert _differences(FOLDER / name) == []


def test_documented_differences_from_openpyxl_hold_on_real_files() -> None:
    """What the comparison folds, checked where real files show it."""
    book = read_file(FOLDER / "xlrd__reveng1.xlsx")
    control = book.read("ControlChars")
    assert control[0][1:3] == ["\x01", "\x01"]  # `_x0001_` decoded: openpyxl leaves the escape
    book = read_file(FOLDER / "csvkit__test.xlsx")  # Mac, 1904 date system
    rows = book.read(book.sheet_names()[0])
    assert rows[0][:2] == ["text", "date"]
    # 24472 days from 1904-01-01 in a date format (1971-01-01 in the 1900 system would be 26_299)
    assert rows[1][1] == dt.date(1971, 1, 1), rows[1]
    assert rows[1][3] is True and rows[1][5] == dt.datetime(1971, 1, 1, 4, 14), rows[1]  # =TRUE()'s result


def test_a_password_protected_workbook_saved_by_excel_is_refused_in_one_sentence(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(CptbillError, match="protected with a password"):
        read_file(FOLDER / "python_calamine__password.xlsx")
    status, _, err = run(capsys, "recode", str(FOLDER / "python_calamine__password.xlsx"))
    assert status == 2 and err.count("\n") == 1 and "password" in err


# ---------------------------------------------------------------------------------------------
# Editing


def _styles_appended_only(before: bytes, after: bytes) -> None:
    """styles.xml: every list keeps its entries in place (appends only) and counts what it holds."""
    old, new = etree.fromstring(before), etree.fromstring(after)
    for element in old:
        if not isinstance(element.tag, str):
            continue
        twin = new.find(element.tag)
        assert twin is not None, element.tag
        kept = [etree.tostring(e, method="c14n") for e in element if isinstance(e.tag, str)]
        now = [etree.tostring(e, method="c14n") for e in twin if isinstance(e.tag, str)]
        assert now[: len(kept)] == kept, f"{element.tag}: an entry changed or moved"
        if twin.get("count") is not None:
            assert int(twin.get("count", "")) == len(now), element.tag


def _coded(path: Path, sheet: str) -> list[tuple[Any, ...]]:
    """Code, Units, Expected and the first flag of the four session lines, as openpyxl reads them."""
    rows = [list(r) for r in openpyxl.load_workbook(path, data_only=True)[sheet].iter_rows(values_only=True)]
    assert rows[0][:9] == [*SESSIONS[0], "Code", "Units", "Expected", "Flags"]
    return [(r[5], r[6], r[7], str(r[8]).split(":")[0] if r[8] else None) for r in rows[1:5]]


def _run(*args: str) -> tuple[int, str, str]:
    """`cptbill ARGS` in-process, its output captured (module fixtures have no capsys)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), pytest.raises(SystemExit) as info:
        main(list(args))
    code = info.value.code
    return (code if isinstance(code, int) else 0), out.getvalue(), err.getvalue()


def _story(path: Path) -> dict[str, Any]:
    """A month on the workbook: check, recode, import a remittance, recode again, report."""
    status, out, err = _run("check", str(path), "--json")
    assert status == 0, err
    checked: dict[str, Any] = json.loads(out)
    for args in (["recode", "--json"], ["import-era", str(ERA)], ["recode"], ["report"]):
        status, _, err = _run(args[0], str(path), *args[1:])
        assert status == 0, (args, err)
    return checked


@pytest.fixture(scope="module")
def recoded(
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, tuple[Path, dict[str, bytes], dict[str, Any]]]:
    """Each real workbook with sessions added, after the month's story: (path, parts before, check's JSON)."""
    folder = tmp_path_factory.mktemp("real")
    done = {}
    for name in BOOKS:
        path = billing_book(FOLDER / name, folder / name)
        before = parts_of(path)
        done[name] = (path, before, _story(path))
    return done


@pytest.mark.parametrize("name", BOOKS)
def test_recode_and_report_change_only_what_cptbill_owns(name: str, recoded: Any) -> None:
    path, before, checked = recoded[name]
    assert checked["lines"] == 4 and checked["changed"] == 4, checked
    after = parts_of(path)
    added = set(parts_of(FOLDER / name)) ^ set(before)  # the Sessions and Payers sheets the test added
    assert len(added) == 2
    for part, data in before.items():
        if part not in OWNED and part not in added:
            assert after.get(part) == data, part
    assert [p for p in after if p in before] == list(before), "the parts keep their order"
    _styles_appended_only(before["xl/styles.xml"], after["xl/styles.xml"])
    assert _coded(path, "Sessions")[:2] == [c for c in CODED[:2]]
    assert [c[3] for c in _coded(path, "Sessions")] == [c[3] for c in CODED]
    names = openpyxl.load_workbook(path).sheetnames
    assert {"Changes", "Claims", "Summary", "Follow-up"} <= set(names), names
    assert names[: len(sheet_names(before))] == sheet_names(before), "the workbook's own sheets stay first"


def sheet_names(parts: dict[str, bytes]) -> list[str]:
    """The sheets workbook.xml lists, in order."""
    root = etree.fromstring(parts["xl/workbook.xml"])
    return [s.get("name", "") for s in root.iter(f"{{{ooxml.MAIN}}}sheet")]


@pytest.mark.parametrize("name", BOOKS)
def test_a_second_recode_of_a_real_workbook_changes_nothing(
    name: str, recoded: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    path, *_ = recoded[name]
    data = path.read_bytes()
    status, out, err = run(capsys, "recode", str(path), "--json")
    assert status == 0, err
    assert json.loads(out)["changed"] == 0 and path.read_bytes() == data


def test_libreoffice_opens_recoded_real_workbooks_and_reads_the_owned_cells(
    recoded: Any, tmp_path: Path
) -> None:
    paths = [recoded[name][0] for name in IN_LIBREOFFICE]
    for result in soffice_convert(paths, "xlsx", tmp_path):
        coded = _coded(result, "Sessions")
        assert coded[:2] == list(CODED[:2]), result.name
        assert [c[3] for c in coded] == [c[3] for c in CODED], result.name


#: Real sheets (views, columns, conditional formats, drawings, page setup as Excel wrote them) whose
#: rows become the session lines: the recode splices its cells into a sheet Excel wrote.
ON_REAL_SHEETS = [
    "xlwings__udf_tests.xlsm",
    "xlwings__integration_write.xlsm",
    "csvkit__test.xlsx",
    "agate_excel__test.xlsx",
    "xlrd__test_comments_excel_sheet2.xlsx",
    "xlsx-populate__template.xlsx",
    "xlcalculator__use_case_01.xlsm",
    "xlsx2csv__hyperlinks.xlsm",
]


@pytest.mark.parametrize("name", ON_REAL_SHEETS)
def test_sessions_on_a_sheet_excel_wrote_are_spliced_in_place(name: str, tmp_path: Path) -> None:
    made = sessions_on_first_sheet(FOLDER / name, tmp_path / name)
    assert made is not None
    path, sheet, part = made
    before = parts_of(path)
    added = set(before) - set(parts_of(FOLDER / name))
    _story(path)
    after = parts_of(path)
    for kept, data in before.items():
        if kept not in OWNED | added | {part}:
            assert after.get(kept) == data, kept
    close = re.compile(rb"</(?:\w+:)?sheetData>")
    assert close.split(after[part])[1] == close.split(before[part])[1], "what follows the rows is kept"
    head = re.compile(rb"<(?:\w+:)?dimension\b[^>]*>|<(?:\w+:)?cols>.*?</(?:\w+:)?cols>", re.S)
    opening = re.compile(rb"<(?:\w+:)?sheetData\b")
    assert head.sub(b"", opening.split(after[part])[0]) == head.sub(b"", opening.split(before[part])[0])
    _styles_appended_only(before["xl/styles.xml"], after["xl/styles.xml"])
    coded = _coded(path, sheet)
    assert coded[:2] == list(CODED[:2]) and [c[3] for c in coded] == [c[3] for c in CODED]


def test_new_parts_never_take_a_name_the_workbook_already_refers_to(tmp_path: Path) -> None:
    """Seen on a workbook saved by Excel (agate-excel's covid_19-iss.xlsx, README): its sheets' rels name
    drawings the ZIP lacks. The Summary chart's drawing took one of those names, so that sheet showed
    it too. Content types listing a missing part (in another case: part names ignore case) and a rels
    part left behind by a deleted sheet likewise."""
    path = billing_book(FOLDER / "csvkit__test.xlsx", tmp_path / "book.xlsx")
    parts = parts_of(path)
    rels = "xl/worksheets/_rels/sheet1.xml.rels"
    parts[rels] = (
        b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\r\n'
        b'<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        b'<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
        b'drawing" Target="../drawings/drawing1.xml"/></Relationships>'
    )
    stale = "xl/worksheets/_rels/sheet4.xml.rels"  # the relationships of a sheet no longer there
    parts[stale] = parts[rels]
    parts["[Content_Types].xml"] = parts["[Content_Types].xml"].replace(
        b"</Types>",
        b'<Override PartName="/xl/charts/Chart1.xml" '
        b'ContentType="application/vnd.openxmlformats-officedocument.drawingml.chart+xml"/></Types>',
    )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    status, _, err = _run("report", str(path))
    assert status == 0, err
    after = parts_of(path)
    new = {name.casefold() for name in set(after) - set(parts)}
    assert any(name.startswith("xl/drawings/") for name in new) and any(
        name.startswith("xl/charts/") for name in new
    )
    assert not new & {"xl/drawings/drawing1.xml", "xl/charts/chart1.xml", "xl/worksheets/sheet4.xml"}, new
    assert after[rels] == parts[rels]
    overrides = re.findall(rb'PartName="([^"]+)"', after["[Content_Types].xml"])
    assert len({o.lower() for o in overrides}) == len(overrides), "one content type per part"


@pytest.mark.parametrize("name", ["python_calamine__table-multiple.xlsx", "xlwings__template1.xlsx"])
def test_sessions_in_a_table_excel_wrote_take_the_owned_columns_into_it(name: str, tmp_path: Path) -> None:
    made = sessions_in_a_table(FOLDER / name, tmp_path / name)
    assert made is not None
    path, sheet, table = made
    before = parts_of(path)
    _story(path)
    after = parts_of(path)
    for kept, data in before.items():
        if (
            kept not in OWNED | {table}
            and kept in parts_of(FOLDER / name)
            and not kept.startswith("xl/worksheets/")
        ):
            assert after.get(kept) == data, kept
    old, new = etree.fromstring(before[table]), etree.fromstring(after[table])
    assert new.get("ref") == "A1:I5" and new.find(f"{{{ooxml.MAIN}}}autoFilter").get("ref") == "A1:I5"  # type: ignore[union-attr]
    columns = new.find(f"{{{ooxml.MAIN}}}tableColumns")
    assert columns is not None and columns.get("count") == "9"
    assert [c.get("name") for c in columns] == [*SESSIONS[0], "Code", "Units", "Expected", "Flags"]
    assert len({c.get("id") for c in columns}) == 9
    for element in (old, new):  # the rest of the table as Excel wrote it: name, style, revision ids
        element.set("ref", "")
        element.find(f"{{{ooxml.MAIN}}}autoFilter").set("ref", "")  # type: ignore[union-attr]
        element.remove(element.find(f"{{{ooxml.MAIN}}}tableColumns"))  # type: ignore[arg-type]
    assert etree.tostring(old, method="c14n") == etree.tostring(new, method="c14n")
    coded = _coded(path, sheet)
    assert coded[:2] == list(CODED[:2]) and [c[3] for c in coded] == [c[3] for c in CODED]
    (result,) = soffice_convert([path], "xlsx", tmp_path / "lo") if "calamine" in name else [path]
    assert _coded(result, sheet)[:2] == list(CODED[:2])


@pytest.mark.parametrize(
    "name",
    ["csvkit__test.xlsx", "csvkit__sheets.xlsx", "agate_excel__test.xlsx", "xlwings__pivot_table.xlsx"],
)
def test_owned_cells_are_spliced_into_rows_excel_wrote(name: str, tmp_path: Path) -> None:
    """Excel's own rows (spans, styles, shared strings, formulas with cached results) under a session header."""
    made = session_header_on_real_rows(FOLDER / name, tmp_path / name)
    assert made is not None
    path, sheet, part = made
    before = parts_of(path)
    checked = _story(path)
    assert checked["lines"] >= 2 and checked["changed"] == checked["lines"], checked
    after = parts_of(path)
    for kept, data in before.items():
        if kept not in OWNED | {part} and kept in parts_of(FOLDER / name):
            assert after.get(kept) == data, kept
    book = read_file(path)
    header = book.read(sheet)[0]
    book.close()
    owned = {i + 1 for i, value in enumerate(header) if value in ("Code", "Units", "Expected", "Flags")}
    assert len(owned) == 4 and min(owned) > 5, header
    rows = before[part].split(b"sheetData", 1)[1]
    cells = re.compile(rb"<((?:\w+:)?)c\b([^>]*?)(?:/>|>(.*?)</\1c>)", re.S)
    kept_cells = 0
    for cell in cells.finditer(rows):
        ref = re.search(rb'\br="([A-Z]+)\d+"', cell.group(2))
        if ref and ooxml.column_number(ref.group(1).decode()) not in owned:
            assert cell.group(0) in after[part], cell.group(0)
            kept_cells += 1
    assert kept_cells > 10


def test_a_merged_block_where_the_owned_columns_would_go_is_passed_over(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Excel's merged cells I1:J6 beside the session columns: the owned columns once started in J,
    inside them, and the recode was refused; they now go past the merged block, which stays."""
    name = "pyexcel_xlsx__complex-merged-cells-sheet.xlsx"
    with zipfile.ZipFile(FOLDER / name) as archive:
        assert b'<mergeCell ref="I1:J6"/>' in archive.read("xl/worksheets/sheet1.xml")
    made = session_header_on_real_rows(FOLDER / name, tmp_path / name, merged=True)
    assert made is not None
    path, sheet, _ = made
    status, out, err = run(capsys, "check", str(path), "--json")
    assert status == 0, err
    assert not [w for w in json.loads(out)["warnings"] if "recode would refuse" in w]
    status, _, err = run(capsys, "recode", str(path))
    assert status == 0, err
    with zipfile.ZipFile(path) as archive:
        part = archive.read("xl/worksheets/sheet1.xml")
    assert b'<mergeCell ref="I1:J6"/>' in part
    header = openpyxl.load_workbook(path)[sheet][1]
    assert [cell.value for cell in header[10:14]] == ["Code", "Units", "Expected", "Flags"]
