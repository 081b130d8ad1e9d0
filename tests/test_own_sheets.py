"""cptbill's own sheets read well: bold frozen header, widths, money and dates, print setup, no ###."""

from __future__ import annotations

import re
import subprocess
import tempfile
import zipfile
from pathlib import Path

import openpyxl
import pytest
from lxml import etree

from conftest import need
from cptbill.ooxml import resolve
from helpers import run

MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
OWN = ("Changes", "Summary", "Follow-up", "Resubmit", "Shortfalls")


@pytest.fixture(scope="module")
def reported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample workbook after import-era, recode and report, as a therapist's month goes."""
    from importlib.resources import files

    from cptbill.cli import main

    folder = tmp_path_factory.mktemp("own")
    path = folder / "billing.xlsx"
    era = folder / "october.835"
    era.write_bytes((files("cptbill") / "data" / "sample-remittance.835").read_bytes())
    for args in (
        ["new", str(path), "--sample"],
        ["import-era", str(path), str(era)],
        ["recode", str(path), "--month", "2026-11"],
        ["report", str(path)],
    ):
        try:
            main(args)
        except SystemExit as exit_:
            assert not exit_.code, args
    return path


def _sheets(path: Path) -> dict[str, tuple[str, etree._Element]]:
    """Sheet name -> (part, XML tree) of every worksheet."""
    with zipfile.ZipFile(path) as archive:
        workbook = etree.fromstring(archive.read("xl/workbook.xml"))
        rels = etree.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
        targets = {r.get("Id"): resolve("xl/workbook.xml", r.get("Target")) for r in rels}
        found = {}
        for sheet in workbook.iter(f"{MAIN}sheet"):
            part = targets[
                sheet.get("{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id")
            ]
            found[sheet.get("name")] = (part, etree.fromstring(archive.read(part)))
        return found


def test_own_sheets_have_a_bold_frozen_header_widths_and_print_setup(reported: Path) -> None:
    sheets = _sheets(reported)
    own = [name for name in sheets if name in OWN]
    assert {"Changes", "Summary", "Shortfalls"} <= set(own) and ({"Follow-up", "Resubmit"} & set(own))
    with zipfile.ZipFile(reported) as archive:
        workbook = etree.fromstring(archive.read("xl/workbook.xml"))
    titles = {
        int(d.get("localSheetId")): d.text for d in workbook.iter(f"{MAIN}definedName")
        if d.get("name") == "_xlnm.Print_Titles"
    }  # fmt: skip
    names = list(sheets)
    wb = openpyxl.load_workbook(reported)
    for name in own:
        _, xml = sheets[name]
        pane = xml.find(f"{MAIN}sheetViews/{MAIN}sheetView/{MAIN}pane")
        assert pane is not None and pane.get("state") == "frozen" and pane.get("ySplit") == "1", name
        setup = xml.find(f"{MAIN}pageSetup")
        assert setup is not None and setup.get("orientation") == "landscape", name
        assert (setup.get("fitToWidth"), setup.get("fitToHeight")) == ("1", "0"), name
        assert xml.find(f"{MAIN}sheetPr/{MAIN}pageSetUpPr").get("fitToPage") == "1", name
        assert titles.get(names.index(name), "").endswith("!$1:$1"), (name, titles)
        widths = [float(col.get("width")) for col in xml.iter(f"{MAIN}col")]
        assert widths and all(8 <= w <= 60 for w in widths), name
        ws = wb[name]
        assert all(cell.font.bold for cell in ws[1] if cell.value is not None), name
    summary = wb["Summary"]
    header = [c.value for c in summary[1]]
    money = summary.cell(2, header.index("Expected") + 1)
    assert "$" in money.number_format and isinstance(money.value, int | float)
    changes = wb["Changes"]
    when = changes.cell(2, 1)
    assert when.is_date and "yy" in when.number_format


def test_the_summary_chart_is_grafted_from_xlsxwriter_and_libreoffice_reads_it(
    reported: Path, libreoffice: object
) -> None:
    with zipfile.ZipFile(reported) as archive:
        names = archive.namelist()
        charts = [n for n in names if re.fullmatch(r"xl/charts/chart\d+\.xml", n)]
        assert len(charts) == 1
        chart = archive.read(charts[0])
        assert b"<c:barChart>" in chart and b"Summary" in chart
        types = archive.read("[Content_Types].xml")
        assert f'PartName="/{charts[0]}"'.encode() in types
    assert len(openpyxl.load_workbook(reported)["Summary"]._charts) == 1
    converted = libreoffice(reported, "xlsx")  # type: ignore[operator]
    assert len(openpyxl.load_workbook(converted)["Summary"]._charts) == 1


def test_no_cell_of_the_own_sheets_prints_as_hashes(reported: Path) -> None:
    """LibreOffice prints the own sheets (the others hidden) to PDF: no ### anywhere."""
    soffice = need("soffice", "LibreOffice prints the own sheets to PDF")
    from pypdf import PdfReader

    with tempfile.TemporaryDirectory() as folder, tempfile.TemporaryDirectory() as profile:
        copy = Path(folder) / "own-sheets.xlsx"
        with zipfile.ZipFile(reported) as source, zipfile.ZipFile(copy, "w", zipfile.ZIP_DEFLATED) as target:
            for info in source.infolist():
                data = source.read(info.filename)
                if info.filename == "xl/workbook.xml":
                    data = _hide_all_but_own(data)
                target.writestr(info, data)
        subprocess.run(
            [soffice, "--headless", "--norestore", f"-env:UserInstallation=file://{profile}",
             "--convert-to", "pdf", "--outdir", folder, str(copy)],
            check=True, capture_output=True, timeout=300,
        )  # fmt: skip
        pdf = Path(folder) / "own-sheets.pdf"
        assert pdf.exists(), "LibreOffice could not print the workbook"
        text = "\n".join(page.extract_text() or "" for page in PdfReader(pdf).pages)
    assert "TOTAL" in text and "Expected" in text and "$" in text
    assert "###" not in text


def _hide_all_but_own(data: bytes) -> bytes:
    root = etree.fromstring(data)
    first_own = None
    for i, sheet in enumerate(root.iter(f"{MAIN}sheet")):
        if sheet.get("name") not in OWN:
            sheet.set("state", "hidden")
        elif first_own is None:
            first_own = i
    view = root.find(f"{MAIN}bookViews/{MAIN}workbookView")
    if view is not None:
        view.set("activeTab", str(first_own or 0))
        view.set("firstSheet", str(first_own or 0))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", standalone=True)


def test_report_of_a_changed_month_replaces_the_chart_without_leaving_old_parts(
    reported: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "again.xlsx"
    path.write_bytes(reported.read_bytes())
    status, _, err = run(capsys, "report", str(path), "--month", "2026-10")
    assert status == 0, err
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        assert archive.testzip() is None
        types = archive.read("[Content_Types].xml")
    assert len([n for n in names if n.startswith("xl/charts/chart")]) == 1
    assert len([n for n in names if re.fullmatch(r"xl/drawings/drawing\d+\.xml", n)]) == len(
        re.findall(rb"drawing\+xml", types)
    )
    for part in re.findall(rb'PartName="/([^"]+)"', types):
        assert part.decode() in names, part
