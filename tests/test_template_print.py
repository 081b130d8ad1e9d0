"""The template's sheets print and read well: landscape, one page wide, header row on every page, widths."""

from __future__ import annotations

import io
import re
from pathlib import Path

import openpyxl
import pytest

from conftest import Convert
from cptbill import contract as c
from cptbill.book import recode
from cptbill.template import HEADER_ROOM, build_workbook, workbook_bytes, write_template
from cptbill.xlsx import update_file


@pytest.fixture(scope="module")
def sample() -> openpyxl.Workbook:
    return openpyxl.load_workbook(io.BytesIO(workbook_bytes(build_workbook(sample=True))))


@pytest.mark.parametrize("sheet", [c.SESSIONS, c.PAYERS, c.CLAIMS, c.SETTINGS])
def test_print_setup(sample: openpyxl.Workbook, sheet: str) -> None:
    ws = sample[sheet]
    assert ws.page_setup.orientation == "landscape"
    assert (ws.page_setup.fitToWidth, ws.page_setup.fitToHeight) == (1, 0)
    assert ws.sheet_properties.pageSetUpPr.fitToPage is True
    assert ws.print_title_rows == "$1:$1"
    assert ws.freeze_panes == "A2"


@pytest.mark.parametrize("sheet", [c.SESSIONS, c.PAYERS, c.CLAIMS, c.SETTINGS])
def test_columns_are_wide_enough_for_their_header_and_values(sample: openpyxl.Workbook, sheet: str) -> None:
    ws = sample[sheet]
    for column in ws.iter_cols(min_row=1, max_row=ws.max_row):
        header = column[0].value
        width = ws.column_dimensions[column[0].column_letter].width
        assert width >= len(str(header)) + HEADER_ROOM, (sheet, header)
        for cell in column[1:]:
            if isinstance(cell.value, str) and header != "About":  # About wraps
                assert width >= min(len(cell.value), 60), (sheet, header, cell.value)


def test_each_sheet_prints_one_page_wide_in_libreoffice(tmp_path: Path, libreoffice: Convert) -> None:
    path = write_template(tmp_path / "billing.xlsx", sample=True)
    update_file(path, lambda b: recode(b, "2026-11"))  # Code, Expected and the wide Flags column filled
    wb = openpyxl.load_workbook(path)
    for name in wb.sheetnames:
        if name not in (c.SESSIONS, c.PAYERS, c.CLAIMS, c.SETTINGS):
            del wb[name]
    wb.save(path)
    pdf = libreoffice(path, "pdf").read_bytes()
    # Four sheets, each small enough for one page tall: four pages, none of them a sheet's right part.
    assert len(re.findall(rb"/Type\s*/Page\b", pdf)) == 4
