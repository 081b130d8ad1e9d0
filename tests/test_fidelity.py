"""The surgical editor keeps what Excel stores: every part it does not own comes back byte for byte."""

from __future__ import annotations

import re
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from conftest import soffice_convert
from helpers import run
from test_safety import make, png, rewrite, with_part, with_x14_validation

pytestmark = pytest.mark.filterwarnings("ignore:.*extension is not supported:UserWarning")

#: Parts a recode of a workbook without Claims may rewrite; every other part is copied as it is.
OWNED = re.compile(
    r"xl/worksheets/sheet1\.xml|xl/styles\.xml|xl/workbook\.xml|xl/_rels/workbook\.xml\.rels"
    r"|\[Content_Types\]\.xml|xl/calcChain\.xml|xl/tables/table\d+\.xml"
)


def with_mac_view(path: Path) -> None:
    """Mac Excel's page-layout view state (`mx:PLV`) in the session sheet's extLst."""
    ext = (
        b'<extLst><ext uri="{64002731-A6B0-56B0-2670-7721B7C09600}" '
        b'xmlns:mx="http://schemas.microsoft.com/office/mac/excel/2008/main">'
        b'<mx:PLV Mode="0" OnePage="0" WScale="0"/></ext></extLst>'
    )
    rewrite(path, "xl/worksheets/sheet1.xml", lambda xml: xml.replace(b"</worksheet>", ext + b"</worksheet>"))


def with_webp_picture(folder: Path) -> Callable[[Any, Any], None]:
    image = folder / "logo.png"
    image.write_bytes(png())
    return lambda wb, ws: ws.insert_image("G2", str(image))


def webp_instead_of_png(path: Path) -> None:
    """Store the picture as .webp, which openpyxl's Pillow could not keep."""
    with zipfile.ZipFile(path) as archive:
        parts = {n: archive.read(n) for n in archive.namelist()}
    parts["xl/media/image1.webp"] = b"RIFF\x1a\x00\x00\x00WEBPVP8L" + b"\x00" * 18
    del parts["xl/media/image1.png"]
    parts["xl/drawings/_rels/drawing1.xml.rels"] = parts["xl/drawings/_rels/drawing1.xml.rels"].replace(
        b"image1.png", b"image1.webp"
    )
    parts["[Content_Types].xml"] = parts["[Content_Types].xml"].replace(
        b"<Default ", b'<Default Extension="webp" ContentType="image/webp"/><Default ', 1
    )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in parts.items():
            archive.writestr(name, data)


def chart_with_formatting(wb: Any, ws: Any) -> None:
    chart = wb.add_chart({"type": "column"})
    chart.add_series(
        {"values": "=Sessions!$D$2:$D$3", "fill": {"color": "#8E44AD"}, "border": {"color": "black"}}
    )
    chart.set_title({"name": "Minutes", "name_font": {"italic": True, "color": "#C0392B", "size": 14}})
    chart.set_chartarea({"border": {"none": True}, "fill": {"color": "#FDF2E9"}})
    chart.set_plotarea({"gradient": {"colors": ["#FFEFD1", "#F0EBD5"]}})
    ws.insert_chart("G2", chart)


def protected_ranges(wb: Any, ws: Any) -> None:
    ws.protect("", {"insert_rows": True})
    ws.unprotect_range("A2:D99", "sessions")


def rich_text(wb: Any, ws: Any) -> None:
    bold = wb.add_format({"bold": True})
    ws.write_rich_string("H2", "a ", bold, "bold", " note")


FEATURES: list[tuple[str, Any, Callable[[Path], None] | None]] = [
    (
        "data bars",
        lambda wb, ws: ws.conditional_format("D2:D9", {"type": "data_bar", "data_bar_2010": True}),
        None,
    ),
    (
        "icon sets",
        lambda wb, ws: ws.conditional_format("D2:D9", {"type": "icon_set", "icon_style": "3_arrows"}),
        None,
    ),
    ("sparklines", lambda wb, ws: ws.add_sparkline("F2", {"range": "Sessions!D2:D3"}), None),
    ("x14 validation", None, with_x14_validation),
    ("text box", lambda wb, ws: ws.insert_textbox("F2", "Remember", {"fill": {"color": "yellow"}}), None),
    ("form button", lambda wb, ws: ws.insert_button("F2", {"macro": "Go", "caption": "Go"}), None),
    ("threaded comments", None, with_part("xl/threadedComments/threadedComment1.xml", b"<x/>")),
    ("dynamic array", lambda wb, ws: ws.write_dynamic_array_formula("F2", "=SORT(D2:D3)"), None),
    ("rich text", rich_text, None),
    ("chart with custom formatting", chart_with_formatting, None),
    (
        "header and footer",
        lambda wb, ws: ws.set_header("&LBilling&RPage &P of &N") or ws.set_footer("&CPrivate"),
        None,
    ),
    ("protected ranges", protected_ranges, None),
    ("custom XML part", None, with_part("customXml/item1.xml", b'<?xml version="1.0"?><data>x</data>')),
    ("slicers", None, with_part("xl/slicers/slicer1.xml", b"<x/>")),
    ("Mac page layout view", None, with_mac_view),
    ("note", lambda wb, ws: ws.write_comment("A1", "a note"), None),
]


@pytest.fixture(scope="module")
def recoded(
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, tuple[Path, dict[str, bytes], dict[str, bytes]]]:
    """Each feature's workbook, recoded by the command: (path, parts before, parts after)."""
    folder = tmp_path_factory.mktemp("fidelity")
    found = {}
    for name, build, after in [*FEATURES, ("webp picture", with_webp_picture(folder), webp_instead_of_png)]:
        path = make(folder / (re.sub(r"\W+", "-", name) + ".xlsx"), build)
        if after:
            after(path)
        before = _parts(path)
        status = _recode(path)
        assert status == 0, name
        found[name] = (path, before, _parts(path))
    return found


def _recode(path: Path) -> int:
    from cptbill.cli import main

    try:
        main(["recode", str(path), "--json"])
    except SystemExit as exit_:
        return int(exit_.code or 0)
    return 0


def _parts(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {n: archive.read(n) for n in archive.namelist()}


NAMES = [f[0] for f in FEATURES] + ["webp picture"]


@pytest.mark.parametrize("name", NAMES)
def test_every_part_cptbill_does_not_own_is_byte_identical(name: str, recoded: Any) -> None:
    _, before, after = recoded[name]
    kept = [n for n in before if not OWNED.fullmatch(n)]
    assert kept, name
    for part in kept:
        assert after.get(part) == before[part], (name, part)
    # Same order of the parts that are kept.
    order = [n for n in after if n in before]
    assert order == [n for n in before if n in after]
    # In the session sheet, everything after the cells (extensions, controls, page setup) is as it was.
    old_tail = before["xl/worksheets/sheet1.xml"].split(b"</sheetData>")[1]
    new_tail = after["xl/worksheets/sheet1.xml"].split(b"</sheetData>")[1]
    assert new_tail == old_tail


@pytest.mark.parametrize("name", NAMES)
def test_owned_cells_hold_the_recoded_values(name: str, recoded: Any) -> None:
    path, *_ = recoded[name]
    with zipfile.ZipFile(path) as archive:
        assert archive.testzip() is None
    ws = openpyxl.load_workbook(path, read_only=True)["Sessions"]
    rows = [list(r) for r in ws.iter_rows(values_only=True)]
    header = rows[0]
    code, units, expected = header.index("Code"), header.index("Units"), header.index("Expected")
    assert [(r[code], r[units], r[expected]) for r in rows[1:3]] == [("97124", 2, 60), ("97124", 3, 90)]


def test_libreoffice_opens_every_recoded_workbook(recoded: Any) -> None:
    paths = [path for path, _, _ in recoded.values()]
    with tempfile.TemporaryDirectory() as out:
        for path, converted in zip(paths, soffice_convert(paths, "xlsx", Path(out)), strict=True):
            ws = openpyxl.load_workbook(converted)["Sessions"]
            rows = [list(r) for r in ws.iter_rows(values_only=True)]
            header = rows[0]
            assert [r[header.index("Code")] for r in rows[1:3]] == ["97124", "97124"], path.name
            assert [r[header.index("Expected")] for r in rows[1:3]] == [60, 90], path.name


def test_xlsm_macros_and_form_controls_are_byte_identical(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    vba = tmp_path / "vbaProject.bin"
    vba.write_bytes(bytes(range(256)) * 40 + b"cptbill test macro")
    path = tmp_path / "billing.xlsm"

    def extras(wb: Any, ws: Any) -> None:
        wb.add_vba_project(str(vba))
        ws.insert_button("F2", {"macro": "Go", "caption": "Go"})

    make(path, extras)
    before = _parts(path)
    assert run(capsys, "recode", str(path))[0] == 0
    after = _parts(path)
    assert after["xl/vbaProject.bin"] == vba.read_bytes()
    for part in before:
        if part.startswith(("xl/drawings/", "xl/vbaProject")) or part.endswith(".vml"):
            assert after[part] == before[part], part
    assert b"macroEnabled" in after["[Content_Types].xml"]


def test_cached_formula_results_survive_and_minutes_are_read_from_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def formulas(wb: Any, ws: Any) -> None:
        ws.write_row(0, 4, ["Start", "End", "Total"])
        ws.write_formula(1, 3, "=ROUND((F2-E2)*1440,0)", None, 30)  # Minutes from times, saved result 30
        ws.write_row(1, 4, [0.375, 0.39583333])
        ws.write_formula(1, 6, "=D2*2", None, 60)

    path = make(tmp_path / "billing.xlsx", formulas)
    assert run(capsys, "recode", str(path))[0] == 0
    sheet = _parts(path)["xl/worksheets/sheet1.xml"]
    assert b"<f>ROUND((F2-E2)*1440,0)</f><v>30</v>" in sheet and b"<f>D2*2</f><v>60</v>" in sheet
    ws = openpyxl.load_workbook(path)["Sessions"]
    header = [c.value for c in ws[1]]
    assert ws.cell(2, header.index("Units") + 1).value == 2


def strict(path: Path) -> None:
    """Turn an XlsxWriter workbook into Strict Open XML, as Excel's 'Strict Open XML Spreadsheet' saves it."""
    swaps = [
        (
            b"http://schemas.openxmlformats.org/spreadsheetml/2006/main",
            b"http://purl.oclc.org/ooxml/spreadsheetml/main",
        ),
        (
            b"http://schemas.openxmlformats.org/officeDocument/2006/relationships",
            b"http://purl.oclc.org/ooxml/officeDocument/relationships",
        ),
        (
            b"http://schemas.openxmlformats.org/drawingml/2006/main",
            b"http://purl.oclc.org/ooxml/drawingml/main",
        ),
    ]
    with zipfile.ZipFile(path) as archive:
        parts = {n: archive.read(n) for n in archive.namelist()}
    for name, data in parts.items():
        if name.endswith((".xml", ".rels")) and name != "[Content_Types].xml":
            for old, new in swaps:
                data = data.replace(old, new)
            parts[name] = data
    parts["xl/workbook.xml"] = parts["xl/workbook.xml"].replace(
        b"<workbook ", b'<workbook conformance="strict" ', 1
    )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in parts.items():
            archive.writestr(name, data)


def test_a_strict_open_xml_workbook_recodes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], libreoffice: Any
) -> None:
    path = make(tmp_path / "strict.xlsx")
    strict(path)
    status, out, err = run(capsys, "recode", str(path), "--json")
    assert (status, err) == (0, ""), err
    assert '"changed": 2' in out
    from cptbill.xlsx import read_file

    book = read_file(path)
    try:
        rows = book.read("Sessions")
        assert rows[0][4:8] == ["Code", "Units", "Expected", "Flags"]
        assert [r[4:7] for r in rows[1:]] == [["97124", 2, 60], ["97124", 3, 90]]
        assert "Changes" in book.sheet_names()
    finally:
        book.close()
    sheet = _parts(path)["xl/worksheets/sheet1.xml"]
    assert b"http://purl.oclc.org/ooxml/spreadsheetml/main" in sheet
    assert run(capsys, "recode", str(path), "--json")[1].count('"changed": 0') == 1
    ws = openpyxl.load_workbook(libreoffice(path, "xlsx"))["Sessions"]
    assert [c.value for c in ws[2]][4:7] == ["97124", 2, 60]


def test_a_workbook_saved_by_libreoffice_recodes_and_keeps_its_parts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], libreoffice: Any
) -> None:
    """LibreOffice writes its own kind of package (shared strings, row attributes, its styles)."""
    source = make(tmp_path / "source.xlsx", lambda wb, ws: ws.write_formula("F2", "=D2*2", None, 60))
    path = libreoffice(source, "xlsx")
    before = _parts(path)
    status, out, err = run(capsys, "recode", str(path), "--json")
    assert (status, err) == (0, "") and '"changed": 2' in out
    after = _parts(path)
    sheet = next(n for n in before if n.startswith("xl/worksheets/sheet"))
    for part, data in before.items():
        if not OWNED.fullmatch(part) and part != sheet:
            assert after[part] == data, part
    ws = openpyxl.load_workbook(libreoffice(path, "xlsx"), data_only=True)["Sessions"]
    header = [c.value for c in ws[1]]
    assert [ws.cell(2, header.index(n) + 1).value for n in ("Code", "Units", "Expected")] == ["97124", 2, 60]
    assert ws["F2"].value == 60
