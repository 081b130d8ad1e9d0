"""The `cptbill check` and `cptbill recode` commands: JSON shape, summary, exit codes, one-line errors."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from cptbill.cli import CHECK_SHOWN
from helpers import run

DAY = dt.date(2026, 11, 3)


def workbook(path: Path, sessions: list[list[Any]] | None = None, sheet: str = "Sessions") -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = sheet
    ws.append(["Date", "Client", "Payer", "Minutes", "Code", "Units"])
    for row in sessions if sessions is not None else [[DAY, "Ann", "Aetna", 38], [DAY, "Bo", "Zeta", 7]]:
        ws.append(row)
    payers = wb.create_sheet("Payers")
    payers.append(["Payer", "Accepts", "Rate 97124", "Rate 97140"])
    payers.append(["Aetna", "97124", 30, None])
    payers.append(["Broken", "97124", "lots", None])
    wb.save(path)
    return path


@pytest.mark.parametrize("command", ["check", "recode"])
def test_json_is_exactly_the_summary_object(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    path = workbook(tmp_path / "billing.xlsx")
    status, out, err = run(capsys, command, str(path), "--month", "2026-11", "--json")
    assert (status, err) == (0, "")
    assert out.endswith("\n") and out.count("\n") == 1
    data = json.loads(out)
    assert {key: data.pop(key) for key in ("month", "lines", "changed", "expected_total", "flags")} == {
        "month": "2026-11",
        "lines": 2,
        "changed": 2,
        "expected_total": 90.0,
        "flags": {"UNDER_8_MIN": 1, "UNKNOWN_PAYER": 1},
    }
    if command == "recode":
        assert data == {}
        return
    # A check adds the sheet as it stands and the lines a recode would change.
    assert data["as_it_stands"] == {
        "flags": {"UNDER_8_MIN": 1, "UNKNOWN_PAYER": 1},
        "stale": 0,
        "expected_total": 0.0,
    }
    assert [(r["row"], r["before"], r["after"], r["changes"]) for r in data["rows"]] == [
        (2, "-", "97124 x 3 = $90.00", True),
        (3, "-", "97124 x 0", True),  # a blank Service is massage
    ]
    assert data["rows"][1]["flags"].startswith("UNDER_8_MIN: ")


def test_recode_json_without_month_and_its_effect(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = workbook(tmp_path / "billing.xlsx")
    data = json.loads(run(capsys, "recode", str(path), "--json")[1])
    assert data["month"] is None and set(data) == {"month", "lines", "changed", "expected_total", "flags"}
    rows = list(openpyxl.load_workbook(path)["Sessions"].iter_rows(min_row=2, max_col=6, values_only=True))
    assert [row[4:] for row in rows] == [("97124", 3), ("97124", 0)]  # blank Service: massage


def test_readable_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = workbook(tmp_path / "billing.xlsx")
    status, out, err = run(capsys, "check", str(path))
    assert status == 0 and err == ""
    assert "2 lines in scope (all months), 2 would change, expected total $90.00" in out
    assert "UNDER_8_MIN 1" in out and "UNKNOWN_PAYER 1" in out
    assert re.search(r"Sessions +3 +- +-> +97124 x 0 +UNDER_8_MIN: ", out)  # a blank Service is massage
    assert re.search(r"Sessions +2 +- +-> +97124 x 3 = \$90\.00", out)
    assert "Payers row 3: Rate 97124 is not an amount" in out  # a warning from loading
    assert "Bo" not in out and "Ann" not in out  # no client names
    status, out, _ = run(capsys, "recode", str(path))
    assert "2 changed" in out and "previous version is billing.bak.xlsx" in out
    status, out, _ = run(capsys, "recode", str(path))
    assert "0 changed" in out and "left as it was" in out


def test_check_lists_the_lines_that_would_change_and_all_of_them_with_all(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows: list[list[Any]] = [[DAY, f"C{i}", "Aetna", 30] for i in range(CHECK_SHOWN + 5)]
    rows.append([DAY, "Zed", "Zeta", 30, "97124", 2])  # flagged, but a recode changes nothing on it
    path = workbook(tmp_path / "billing.xlsx", rows)
    run(capsys, "recode", str(path))
    book = openpyxl.load_workbook(path)
    for row in range(2, CHECK_SHOWN + 7):
        book["Sessions"].cell(row, 6).value = 9  # stale units on every line
    book["Sessions"].cell(CHECK_SHOWN + 7, 6).value = 2
    book.save(path)
    out = run(capsys, "check", str(path))[1]
    listed = re.findall(r"^Sessions +(\d+) +97124 x 9 = \$60\.00 +-> +97124 x 2 = \$60\.00", out, re.M)
    assert listed == [str(n) for n in range(2, CHECK_SHOWN + 2)]
    assert f"... and 5 more; cptbill check {path} --all lists every line." in out
    assert f"{CHECK_SHOWN + 5} with a stale Code, Units or Expected" in out
    out = run(capsys, "check", str(path), "--all")[1]
    listed = re.findall(r"^Sessions +(\d+) ", out, re.M)
    assert listed == [str(n) for n in range(2, CHECK_SHOWN + 8)]  # the unchanged flagged line too
    assert re.search(rf"^Sessions +{CHECK_SHOWN + 7} +97124 x 2 += +97124 x 2 +UNKNOWN_PAYER", out, re.M)
    assert "--all lists every line" not in out
    data = json.loads(run(capsys, "check", str(path), "--json")[1])
    assert len(data["rows"]) == CHECK_SHOWN + 5 and all(r["changes"] for r in data["rows"])
    data = json.loads(run(capsys, "check", str(path), "--json", "--all")[1])
    assert len(data["rows"]) == CHECK_SHOWN + 6 and not data["rows"][-1]["changes"]


def test_recode_refreshes_the_summary_and_a_rerun_leaves_the_file_as_it_was(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = workbook(tmp_path / "billing.xlsx")
    assert run(capsys, "recode", str(path), "--json")[0] == 0
    summary = [row for row in openpyxl.load_workbook(path)["Summary"].iter_rows(values_only=True)]
    assert summary[0][:3] == ("Month", "Payer", "Visits") and summary[-1][0] == "TOTAL"
    before = path.read_bytes()
    status, out, _ = run(capsys, "recode", str(path))
    assert status == 0 and "0 changed" in out and "left as it was" in out
    assert path.read_bytes() == before


def missing(tmp: Path) -> list[str]:
    return [str(tmp / "missing.xlsx")]


def csv_named_xlsx(tmp: Path) -> list[str]:
    (tmp / "billing.xlsx").write_text("Date,Client,Payer,Minutes\n2026-11-03,Ann,Aetna,30\n")
    return [str(tmp / "billing.xlsx")]


def csv_file(tmp: Path) -> list[str]:
    (tmp / "billing.csv").write_text("Date,Client,Payer,Minutes\n")
    return [str(tmp / "billing.csv")]


def damaged(tmp: Path) -> list[str]:
    (tmp / "billing.xlsx").write_bytes(b"PK\x03\x04 not really a zip")
    return [str(tmp / "billing.xlsx")]


def empty(tmp: Path) -> list[str]:
    (tmp / "billing.xlsx").write_bytes(b"")  # a save or a sync that did not finish
    return [str(tmp / "billing.xlsx")]


def numbers_file(tmp: Path) -> list[str]:
    (tmp / "billing.numbers").write_bytes(b"PK\x03\x04")
    return [str(tmp / "billing.numbers")]


def xls_file(tmp: Path) -> list[str]:
    (tmp / "billing.xls").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600))
    return [str(tmp / "billing.xls")]


def no_sessions(tmp: Path) -> list[str]:
    wb = openpyxl.Workbook()
    wb.active.append(["Name", "Phone"])
    wb.save(tmp / "contacts.xlsx")
    return [str(tmp / "contacts.xlsx")]


def bad_month(tmp: Path) -> list[str]:
    return [str(workbook(tmp / "billing.xlsx")), "--month", "2026-13"]


def unknown_sheet(tmp: Path) -> list[str]:
    return [str(workbook(tmp / "billing.xlsx")), "--sheet", "Dec"]


ERRORS = [
    (missing, "No such file"),
    (csv_named_xlsx, "billing.xlsx is not an Excel workbook"),
    (csv_file, "billing.csv is a CSV file, not a workbook: open it in Excel and save it as"),
    (damaged, "billing.xlsx is damaged (an incomplete or broken file"),
    (empty, "billing.xlsx is empty (0 bytes)"),
    (numbers_file, "billing.numbers is a Numbers file: export it to Excel"),
    (xls_file, "billing.xls is an old Excel file (.xls): save it in Excel as an Excel Workbook (.xlsx)"),
    (no_sessions, "No session sheet found"),
    (bad_month, "'2026-13' is not a month"),
    (unknown_sheet, "No session sheet named 'Dec'"),
]


@pytest.mark.parametrize("command", ["check", "recode"])
@pytest.mark.parametrize(("args", "message"), ERRORS, ids=[e[0].__name__ for e in ERRORS])
def test_user_errors_are_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str, args: Any, message: str
) -> None:
    arguments = args(tmp_path)
    files = {p: p.read_bytes() for p in tmp_path.iterdir()}
    status, out, err = run(capsys, command, *arguments, "--json")
    assert status == 2 and out == ""
    assert err.startswith("cptbill: ") and err.count("\n") == 1 and message in err, err
    assert "Traceback" not in err
    assert {p: p.read_bytes() for p in tmp_path.iterdir()} == files  # nothing written, nothing changed
