"""Hostile and damaged workbooks: one sentence and exit 2, bounded work, text written as text."""

from __future__ import annotations

import datetime as dt
import re
import struct
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import xlsxwriter

from helpers import PAYER_HEADER, run
from test_safety import make, rewrite

SESSIONS = ["Date", "Client", "Payer", "Minutes", "Code", "Units", "Expected", "Flags"]


def parts_of(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {n: archive.read(n) for n in archive.namelist()}


def refused(capsys: pytest.CaptureFixture[str], path: Path, command: str, *words: str) -> str:
    """Run a command that must refuse: exit 2, one sentence on stderr, the file untouched."""
    before = path.read_bytes()
    status, out, err = run(capsys, command, str(path))
    assert status == 2 and out == "", (status, out, err)
    assert err.count("\n") == 1 and err.startswith("cptbill: "), err
    for word in words:
        assert word in err, err
    assert path.read_bytes() == before
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".~cptbill")]
    return err


# --- Unbounded work -----------------------------------------------------------------------------


def far_value_book(path: Path, owned: bool = True) -> Path:
    wb = xlsxwriter.Workbook(path)
    ws = wb.add_worksheet("Sessions")
    ws.write_row(0, 0, SESSIONS if owned else SESSIONS[:4])
    ws.write_row(1, 0, ["2026-11-03", "Ann", "Aetna", 30])
    ws.write(1048575, 16383, "stray")  # XFD1048576
    payers = wb.add_worksheet("Payers")
    payers.write_row(0, 0, PAYER_HEADER)
    payers.write_row(1, 0, ["Aetna", "97124", None, 30])
    wb.close()
    return path


def test_a_stray_value_at_xfd1048576_is_read_sparsely(tmp_path: Path) -> None:
    """Under a 1.5 GB address-space limit: a grid of 1,048,576 x 16,384 cells would need far more."""
    path = far_value_book(tmp_path / "far.xlsx")
    script = textwrap.dedent(
        f"""
        import resource, sys
        resource.setrlimit(resource.RLIMIT_AS, (1536 * 2**20, 1536 * 2**20))
        from cptbill.cli import main
        for command in ("check", "recode"):
            try:
                main([command, {str(path)!r}, "--json"])
            except SystemExit as exit_:
                assert not exit_.code, (command, exit_.code)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count('"lines": 1') == 2
    rows = list(
        openpyxl.load_workbook(path, read_only=True)["Sessions"].iter_rows(max_row=2, values_only=True)
    )
    assert rows[1][4:7] == ("97124", 2, 60)
    with zipfile.ZipFile(path) as archive:
        assert b'<c r="XFD1048576" t="s">' in archive.read("xl/worksheets/sheet1.xml")


def test_a_stray_value_far_away_leaves_the_owned_columns_next_to_the_header(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = far_value_book(tmp_path / "far.xlsx", owned=False)
    status, _, err = run(capsys, "recode", str(path))
    assert status == 0, err
    rows = list(
        openpyxl.load_workbook(path, read_only=True)["Sessions"].iter_rows(max_row=2, values_only=True)
    )
    assert rows[0][4:8] == ("Code", "Units", "Expected", "Flags")
    assert rows[1][4:7] == ("97124", 2, 60)
    with zipfile.ZipFile(path) as archive:
        assert b'<c r="XFD1048576" t="s">' in archive.read("xl/worksheets/sheet1.xml")


def test_no_free_column_right_of_the_header_is_one_sentence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = far_value_book(tmp_path / "far.xlsx", owned=False)
    rewrite(
        path,
        "xl/worksheets/sheet1.xml",
        lambda xml: re.sub(
            rb"(<c r=\"D1\".*?</c>)", rb'\1<c r="XFD1" t="inlineStr"><is><t>Note</t></is></c>', xml
        ),
    )
    refused(capsys, path, "recode", "no free column", "Sessions")


def with_whitespace(path: Path, size: int) -> None:
    rewrite(
        path,
        "xl/worksheets/sheet1.xml",
        lambda xml: xml.replace(b"<sheetData>", b" " * size + b"<sheetData>"),
    )


def test_whitespace_before_the_cells_is_copied_and_a_huge_run_of_it_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = make(tmp_path / "spaces.xlsx")
    with_whitespace(path, 3 * 2**20)
    status, out, err = run(capsys, "recode", str(path), "--json")
    assert (status, err) == (0, "") and '"changed": 2' in out
    assert b" " * (3 * 2**20) + b"<sheetData>" in parts_of(path)["xl/worksheets/sheet1.xml"]
    bomb = make(tmp_path / "bomb.xlsx")
    with_whitespace(bomb, 64 * 2**20)  # 64 MiB from a file of a few KB: 102 s of quadratic work before
    refused(capsys, bomb, "check", "too large", "xl/worksheets/sheet1.xml")
    refused(capsys, bomb, "recode", "too large")


def test_zip_bombs_are_refused_before_unpacking(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = make(tmp_path / "ratio.xlsx")
    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/media/zeros.bin", bytes(10 * 2**20))  # 10 MiB of zeros: about 1000:1
    refused(capsys, path, "recode", "too large", "xl/media/zeros.bin", "200:1")
    declared = make(tmp_path / "declared.xlsx")
    _patch_central(declared, "docProps/app.xml", size=3 * 2**30)  # claims 3 GiB unpacked
    refused(capsys, declared, "check", "too large", "docProps/app.xml")


def _patch_central(
    path: Path, name: str, *, size: int | None = None, crc: int | None = None, method: int | None = None
) -> None:
    """Change a member's fields in the ZIP's central directory (and local header) in place."""
    data = bytearray(path.read_bytes())
    encoded = name.encode()
    for match in re.finditer(rb"PK\x01\x02", bytes(data)):
        at = match.start()
        name_length = struct.unpack_from("<H", data, at + 28)[0]
        if bytes(data[at + 46 : at + 46 + name_length]) != encoded:
            continue
        local = struct.unpack_from("<I", data, at + 42)[0]
        if size is not None:
            struct.pack_into("<I", data, at + 24, size)
            struct.pack_into("<I", data, local + 22, size)
        if crc is not None:
            struct.pack_into("<I", data, at + 16, crc)
            struct.pack_into("<I", data, local + 14, crc)
        if method is not None:
            struct.pack_into("<H", data, at + 10, method)
            struct.pack_into("<H", data, local + 8, method)
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("command", ["check", "recode"])
def test_a_bad_checksum_is_one_sentence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    path = make(tmp_path / "crc.xlsx")
    _patch_central(path, "xl/worksheets/sheet1.xml", crc=0x12345678)
    refused(capsys, path, command, "checksum")


def test_an_unsupported_compression_is_one_sentence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = make(tmp_path / "deflate64.xlsx")
    _patch_central(path, "xl/worksheets/sheet1.xml", method=9)  # Deflate64
    refused(capsys, path, "check", "compression")


@pytest.mark.parametrize("command", ["check", "recode"])
def test_malformed_sheet_xml_is_one_sentence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    path = make(tmp_path / "malformed.xlsx")
    rewrite(path, "xl/worksheets/sheet1.xml", lambda xml: xml.replace(b"</row>", b"</rw>", 1))
    refused(capsys, path, command, "damaged", "Sessions")


def test_an_xml_comment_after_the_cells_is_kept(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = make(tmp_path / "comment.xlsx")
    rewrite(
        path, "xl/worksheets/sheet1.xml",
        lambda xml: xml.replace(b"</sheetData>", b"</sheetData><!-- kept: </sheetData> <row r='9'> -->"),
    )  # fmt: skip
    status, out, err = run(capsys, "recode", str(path), "--json")
    assert (status, err) == (0, "") and '"changed": 2' in out
    sheet = parts_of(path)["xl/worksheets/sheet1.xml"]
    assert b"</sheetData><!-- kept: </sheetData> <row r='9'> -->" in sheet
    rows = list(openpyxl.load_workbook(path, read_only=True)["Sessions"].iter_rows(values_only=True))
    assert [r[4] for r in rows[1:]] == ["97124", "97124"]


def test_a_listed_payers_sheet_missing_from_the_file_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = make(tmp_path / "missing.xlsx")
    parts = parts_of(path)
    del parts["xl/worksheets/sheet2.xml"]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    refused(capsys, path, "check", "Payers", "missing")
    refused(capsys, path, "recode", "Payers", "missing")


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (lambda good: good[:700], ("is damaged", "incomplete", "backup")),
        (lambda good: good[:-40], ("is damaged", "incomplete", "backup")),
        (lambda good: b"PK\x03\x04" + bytes(range(256)) * 8, ("is damaged",)),
        (lambda good: b"<html>not a workbook</html>", ("not an Excel workbook",)),
        (
            lambda good: (
                b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + "EncryptedPackage".encode("utf-16-le") + bytes(600)
            ),
            ("password", "add-in"),
        ),
        (lambda good: b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600), (".xls",)),
    ],
    ids=["truncated", "no central directory end", "garbage", "not a zip", "encrypted", "old xls"],
)
def test_damaged_and_protected_files_are_one_sentence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: Any, words: tuple[str, ...]
) -> None:
    good = make(tmp_path / "good.xlsx").read_bytes()
    path = tmp_path / "bad.xlsx"
    path.write_bytes(content(good))
    refused(capsys, path, "check", *words)
    refused(capsys, path, "recode", *words)


def test_a_binary_workbook_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "billing.xlsb"
    path.write_bytes(make(tmp_path / "good.xlsx").read_bytes())
    refused(capsys, path, "recode", ".xlsb", "save it in Excel as .xlsx")


@pytest.mark.parametrize(
    ("part", "payload"),
    [
        (
            "xl/sharedStrings.xml",
            b'<?xml version="1.0"?><!DOCTYPE s [<!ENTITY x SYSTEM "file:///etc/passwd">]>',
        ),
        (
            "xl/workbook.xml",
            b'<?xml version="1.0"?><!DOCTYPE w [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">'
            b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>',
        ),
    ],
    ids=["external entity", "billion laughs"],
)
def test_entities_and_dtds_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], part: str, payload: bytes
) -> None:
    path = make(tmp_path / "xxe.xlsx")
    rewrite(path, part, lambda xml: payload + xml[xml.index(b"?>") + 2 :])
    refused(capsys, path, "check", "document type declaration")


def test_a_webp_picture_is_kept_as_it_is(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A picture is copied byte for byte whatever its format (Pillow crashed on .webp before)."""
    from test_fidelity import webp_instead_of_png, with_webp_picture

    path = make(tmp_path / "webp.xlsx", with_webp_picture(tmp_path))
    webp_instead_of_png(path)
    picture = parts_of(path)["xl/media/image1.webp"]
    assert run(capsys, "recode", str(path))[0] == 0
    assert parts_of(path)["xl/media/image1.webp"] == picture


# --- Cells cptbill must not write ------------------------------------------------------------------


def test_an_owned_cell_inside_merged_cells_is_refused_by_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def merged(wb: Any, ws: Any) -> None:
        ws.write_row(0, 4, ["Code", "Units", "Expected", "Flags"])
        ws.merge_range("E3:F3", "typed over two cells")

    path = make(tmp_path / "merged.xlsx", merged)
    refused(capsys, path, "recode", "Sessions!F3", "merged cells E3:F3")


def test_an_owned_cell_in_an_array_formulas_results_is_refused_by_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def spilled(wb: Any, ws: Any) -> None:
        ws.write_row(0, 4, ["Code", "Units", "Expected", "Flags"])
        ws.write_dynamic_array_formula("E2:E3", "=SEQUENCE(2)", None, 1)

    path = make(tmp_path / "spill.xlsx", spilled)
    refused(capsys, path, "recode", "Sessions!E2", "array formula (E2:E3)")


# --- Text is written as text ------------------------------------------------------------------------


FORMULA_LIKE = ['=HYPERLINK("http://x.invalid","click")', "+1+1", "-2+3", "@SUM(A1)"]


def test_text_starting_like_a_formula_is_written_as_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "injection.xlsx"
    wb = xlsxwriter.Workbook(path)
    ws = wb.add_worksheet("Sessions")
    ws.write_row(0, 0, SESSIONS)
    for i, client in enumerate(FORMULA_LIKE, start=1):
        ws.write_row(i, 0, ["2026-11-03", None, "Aetna", 30, "97124", 5])  # Units 5: overwritten and logged
        ws.write_string(i, 1, client)
    payers = wb.add_worksheet("Payers")
    payers.write_row(0, 0, PAYER_HEADER)
    payers.write_row(1, 0, ["Aetna", "97124", None, 30])
    wb.close()
    assert run(capsys, "recode", str(path))[0] == 0
    parts = parts_of(path)
    changes = next(
        data for name, data in parts.items() if name.startswith("xl/worksheets/") and b"When" in data
    )
    assert b"<f>" not in changes and b"<f " not in changes
    logged = [r[3] for r in openpyxl.load_workbook(path)["Changes"].iter_rows(min_row=2, values_only=True)]
    assert logged[: len(FORMULA_LIKE)] == FORMULA_LIKE


def test_text_from_a_remittance_is_written_as_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from importlib.resources import files

    era = (files("cptbill") / "data" / "sample-remittance.835").read_text()
    era = era.replace("NM1*QC*1*DELGADO*ROSA", "NM1*QC*1*-2+3*=1+1")
    remittance = tmp_path / "hostile.835"
    remittance.write_text(era)
    path = make(tmp_path / "billing.xlsx")
    status, _, err = run(capsys, "import-era", str(path), str(remittance))
    assert status == 0, err
    claims = parts_of(path)
    sheet = next(d for n, d in claims.items() if n.startswith("xl/worksheets/") and b"Claim ID" in d)
    assert b"<f>" not in sheet and b"<f " not in sheet
    clients = [r[1] for r in openpyxl.load_workbook(path)["Claims"].iter_rows(min_row=2, values_only=True)]
    assert any(str(c).startswith(("=", "-")) for c in clients), clients


# --- A job that changes nothing does not save ------------------------------------------------------


def test_report_twice_leaves_the_file_as_it_was(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = make(tmp_path / "billing.xlsx")
    assert run(capsys, "recode", str(path))[0] == 0
    assert run(capsys, "report", str(path), "--month", "2026-11")[0] == 0
    first, stat = path.read_bytes(), path.stat()
    backup = (tmp_path / "billing.bak.xlsx").read_bytes()
    status, out, _ = run(capsys, "report", str(path), "--month", "2026-11")
    assert status == 0 and "left as it was" in out
    assert path.read_bytes() == first
    assert path.stat().st_mtime_ns == stat.st_mtime_ns and path.stat().st_ino == stat.st_ino
    assert (tmp_path / "billing.bak.xlsx").read_bytes() == backup


def test_dates_and_money_read_back_as_written(tmp_path: Path) -> None:
    """What the editor writes, both readers give back: the Changes log of a recode."""
    from cptbill.ooxml import _lxml_rows, open_package, read_sheet

    path = make(tmp_path / "billing.xlsx")
    from cptbill.book import recode
    from cptbill.xlsx import update_file

    update_file(path, lambda book: recode(book, now=dt.datetime(2026, 12, 1, 9, 30)))
    package = open_package(path)
    try:
        entry = package.sheet("Changes")
        assert entry is not None
        fast = read_sheet(package, entry)
        slow = _lxml_rows(package, entry, package.read(entry.part))
    finally:
        package.close()
    assert fast == slow
    assert fast[1][0] == dt.datetime(2026, 12, 1, 9, 30)


def test_rows_out_of_order_are_refused_not_duplicated(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = make(tmp_path / "order.xlsx")

    def swap(xml: bytes) -> bytes:
        rows = re.findall(rb"<row .*?</row>", xml)
        return xml.replace(rows[1] + rows[2], rows[2] + rows[1])

    rewrite(path, "xl/worksheets/sheet1.xml", swap)
    refused(capsys, path, "recode", "out of order")
