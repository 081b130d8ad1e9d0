"""The file door's safety: locks, backups, interrupted saves, --out and --force."""

from __future__ import annotations

import shutil
import struct
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import xlsxwriter

import cptbill.book
import cptbill.editor
from cptbill.cli import main
from helpers import run

Build = Callable[[Any, Any], None]


def make(path: Path, extra: Build | None = None) -> Path:
    """A small billing workbook written by XlsxWriter, with `extra` adding one feature."""
    wb = xlsxwriter.Workbook(path)
    ws = wb.add_worksheet("Sessions")
    ws.write_row(0, 0, ["Date", "Client", "Payer", "Minutes"])
    ws.write_row(1, 0, ["2026-11-03", "Ann", "Aetna", 30])
    ws.write_row(2, 0, ["2026-11-04", "Bo", "Aetna", 45])
    payers = wb.add_worksheet("Payers")
    payers.write_row(0, 0, ["Payer", "Accepts", "Rate 97124"])
    payers.write_row(1, 0, ["Aetna", "97124", 30])
    if extra:
        extra(wb, ws)
    wb.close()
    return path


def png(width: int = 2, height: int = 2) -> bytes:
    """A tiny valid PNG, for a picture in the workbook."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def with_part(name: str, content: bytes) -> Callable[[Path], None]:
    """Add a part to the finished zip (features XlsxWriter cannot write, as Excel stores them)."""

    def add(path: Path) -> None:
        with zipfile.ZipFile(path, "a") as archive:
            archive.writestr(name, content)

    return add


def with_x14_validation(path: Path) -> None:
    """Put an Excel 2010 data validation (a list from another sheet) into the first sheet's extLst."""
    ext = (
        b'<extLst><ext uri="{CCE6A557-97BC-4b89-ADB6-D9C93CAAB3DF}" '
        b'xmlns:x14="http://schemas.microsoft.com/office/spreadsheetml/2009/9/main">'
        b'<x14:dataValidations count="1" xmlns:xm="http://schemas.microsoft.com/office/excel/2006/main">'
        b'<x14:dataValidation type="list" allowBlank="1"><x14:formula1><xm:f>Payers!$A$2:$A$9</xm:f>'
        b"</x14:formula1><xm:sqref>C2:C99</xm:sqref></x14:dataValidation></x14:dataValidations></ext></extLst>"
    )
    rewrite(path, "xl/worksheets/sheet1.xml", lambda xml: xml.replace(b"</worksheet>", ext + b"</worksheet>"))


def rewrite(path: Path, name: str, change: Callable[[bytes], bytes]) -> None:
    with zipfile.ZipFile(path) as archive:
        parts = {n: archive.read(n) for n in archive.namelist()}
    parts[name] = change(parts[name])
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for part, data in parts.items():
            archive.writestr(part, data)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--out", "{path}"], "--out names the workbook itself"),
        (["--out", "{dir}/copy.csv"], "must end in .xlsx"),
    ],
)
def test_out_and_force_mistakes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    path = make(tmp_path / "billing.xlsx")
    original = path.read_bytes()
    args = [a.format(path=path, dir=tmp_path) for a in args]
    status, _, err = run(capsys, "recode", str(path), *args)
    assert status == 2 and message in err
    assert path.read_bytes() == original and len(list(tmp_path.iterdir())) == 1


def test_force_is_accepted_and_changes_nothing_any_more(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Nothing is lost by a save now, so --force (once: accept the losses) is accepted and not needed."""
    path = make(tmp_path / "billing.xlsx", lambda wb, ws: ws.add_sparkline("F2", {"range": "Sessions!D2:D3"}))
    original = path.read_bytes()
    copy = tmp_path / "copy.xlsx"
    status, out, _ = run(capsys, "recode", str(path), "--out", str(copy), "--force")
    assert status == 0 and "copy.xlsx" in out
    assert path.read_bytes() == original
    with zipfile.ZipFile(copy) as archive:
        assert b"sparklineGroups" in archive.read("xl/worksheets/sheet1.xml")
    assert run(capsys, "recode", str(path), "--force")[0] == 0


@pytest.mark.parametrize("lock", ["~$billing.xlsx", ".~lock.billing.xlsx#"])
def test_lock_file_blocks_the_save(tmp_path: Path, capsys: pytest.CaptureFixture[str], lock: str) -> None:
    path = make(tmp_path / "billing.xlsx")
    (tmp_path / lock).write_text("owner")
    original = path.read_bytes()
    status, _, err = run(capsys, "recode", str(path))
    assert status == 2 and "is open" in err and lock in err
    assert path.read_bytes() == original
    assert run(capsys, "check", str(path))[0] == 0  # reading is fine


def test_success_keeps_a_backup_of_the_previous_version(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = make(tmp_path / "billing.xlsx")
    path.chmod(0o640)
    original = path.read_bytes()
    status, out, _ = run(capsys, "recode", str(path))
    assert status == 0 and "billing.bak.xlsx" in out
    assert (tmp_path / "billing.bak.xlsx").read_bytes() == original
    assert path.read_bytes() != original
    assert path.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["billing.bak.xlsx", "billing.xlsx"]


def test_an_error_in_the_job_leaves_the_original_intact(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = make(tmp_path / "billing.xlsx")
    original = path.read_bytes()

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("power cut")

    monkeypatch.setattr(cptbill.book, "log_changes", broken)
    with pytest.raises(RuntimeError, match="power cut"):
        main(["recode", str(path)])
    assert path.read_bytes() == original
    assert sorted(p.name for p in tmp_path.iterdir()) == ["billing.xlsx"]


def test_an_error_during_the_save_leaves_the_original_intact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = make(tmp_path / "billing.xlsx")
    shutil.copy(path, tmp_path / "billing.bak.xlsx")  # an older backup is not touched either
    original = path.read_bytes()
    real_write = cptbill.editor._write_zip

    def half_save(package: Any, parts: Any, stream: Any) -> None:
        real_write(package, parts, stream)
        stream.truncate(100)
        raise OSError("disk full")

    monkeypatch.setattr(cptbill.editor, "_write_zip", half_save)
    with pytest.raises(OSError, match="disk full"):
        main(["recode", str(path)])
    assert path.read_bytes() == original
    assert (tmp_path / "billing.bak.xlsx").read_bytes() == original
    assert sorted(p.name for p in tmp_path.iterdir()) == ["billing.bak.xlsx", "billing.xlsx"]
