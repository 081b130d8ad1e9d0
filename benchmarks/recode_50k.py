"""Benchmark: cptbill's file door on a 50,000-line workbook against openpyxl and python-calamine.

Run: .venv/bin/python benchmarks/recode_50k.py [--lines 50000] [--rounds 5]

Each case runs in a fresh Python process on its own copy of the same workbook; the parent takes
the child's CPU time (user + system) and peak memory from the operating system (wait4), so other
programs sharing the CPU do not count. The cases run round by round in a rotating order, and each
verdict is the median over the rounds of a ratio between two cases of the same round. The children
find cptbill's modules compiled, as pip compiles them when it installs a package (a source tree
run with PYTHONDONTWRITEBYTECODE would compile them in every child, and openpyxl's are compiled).

Cases: openpyxl's own load + save; a first `cptbill recode`; a recode that changes nothing (of the
recoded workbook); `cptbill check` as a therapist runs it (a summary and the first lines that would
change) and `cptbill check --json` (every such line, tens of thousands); python-calamine reading every
sheet; and, to show what a check costs before any work on the lines, `cptbill check` with its
session parser stubbed to give no line (start, imports, reading and checking the file).
Targets: recode at most 0.5x openpyxl's load + save in time and 0.75x in peak memory; a recode
changing nothing at most 0.3x; check at most 4x calamine's read. Recode, check --json and the
check's floor against calamine's read are printed too.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import xlsxwriter

import cptbill

HEADER = [
    "Date",
    "Client",
    "Payer",
    "Minutes",
    "Service",
    "Visit",
    "Lock",
    "Notes",
    "Code",
    "Units",
    "Expected",
    "Flags",
]
PAYERS = [
    ["Payer", "Accepts", "Preferred", "Rate 97124", "Rate 97140", "Rate 97010", "Unit rule", "Max units"],
    ["Aetna", "97124", None, 30, 32, 5, "CMS", None],
    ["Blue Cross", None, "97140", 25, 30, 0, None, 4],
    ["Cigna", "97124, 97140", None, 28, 31.2, None, "AMA", None],
    ["United", None, None, 26, 33, 4, None, 6],
    ["Auto PIP", "97140", None, None, 45, 10, None, None],
]

CHILDREN = {
    "openpyxl": "import openpyxl, sys; wb = openpyxl.load_workbook(sys.argv[1]); wb.save(sys.argv[1])",
    "recode": "import sys; from cptbill.cli import main; main(['recode', sys.argv[1], '--json'])",
    "recode-again": "import sys; from cptbill.cli import main; main(['recode', sys.argv[1], '--json'])",
    "check": "import sys; from cptbill.cli import main; main(['check', sys.argv[1]])",
    "check-json": "import sys; from cptbill.cli import main; main(['check', sys.argv[1], '--json'])",
    # check as above with no line read into the core (parse_sessions gives none): what a check
    # costs before its own work on the lines (start, imports, reading, checks of the file, output)
    "check-floor": (
        "import sys; import cptbill.book as b; b.parse_sessions = lambda *a, **k: []; "
        "from cptbill.cli import main; main(['check', sys.argv[1]])"
    ),
    "calamine": (
        "import sys, python_calamine as c; wb = c.CalamineWorkbook.from_path(sys.argv[1]); "
        "[wb.get_sheet_by_name(n).to_python() for n in wb.sheet_names]"
    ),
}
#: Which workbook each case starts from: the built one, or the built one recoded once.
RECODED_FIRST = {"recode-again"}


def build(path: Path, lines: int, seed: int = 7, inline_strings: bool = False) -> None:
    """A realistic billing workbook: one Sessions sheet of `lines` rows and a Payers sheet.

    Text goes to a shared-strings table, as Excel, LibreOffice and openpyxl save it;
    `inline_strings` writes it in the cells instead (XlsxWriter's constant-memory mode), a form
    that makes openpyxl's own load slower and the ratios look better than a real file gives.
    """
    rng = random.Random(seed)
    wb = xlsxwriter.Workbook(path, {"constant_memory": inline_strings})
    date_format = wb.add_format({"num_format": "yyyy-mm-dd"})
    ws = wb.add_worksheet("Sessions")
    ws.write_row(0, 0, HEADER)
    payers = [row[0] for row in PAYERS[1:]] + [None]  # None: self-pay
    # Fixed dates, all in the past: a workbook whose last weeks fell after today would be
    # checked differently (ODD_DATE on each future date) as the calendar moves.
    start = dt.date(2019, 1, 7)
    row = 1
    visit = 0
    while row <= lines:
        visit += 1
        day = start + dt.timedelta(days=visit // 12)
        client = f"Client {rng.randrange(1500):04d}"
        payer = rng.choice(payers)
        for part in range(rng.choice([1, 1, 1, 2, 2, 3])):
            if row > lines:
                break
            service = "hot pack" if part == 2 else rng.choice([None, None, "massage", "manual therapy"])
            minutes = 10 if service == "hot pack" else rng.choice([7, 15, 23, 30, 38, 45, 53, 60, 75, 90])
            ws.write_datetime(row, 0, dt.datetime.combine(day, dt.time()), date_format)
            ws.write_string(row, 1, client)
            if payer:
                ws.write_string(row, 2, payer)
            ws.write_number(row, 3, minutes)
            if service:
                ws.write_string(row, 4, service)
            if rng.random() < 0.1:
                ws.write_string(row, 7, rng.choice(["neck", "lower back", "follow-up", "new client"]))
            row += 1
    sheet = wb.add_worksheet("Payers")
    for r, values in enumerate(PAYERS):
        for c, value in enumerate(values):
            if value is not None:
                sheet.write(r, c, value)
    wb.close()


def child_environment(folder: Path) -> dict[str, str]:
    """The children's environment: cptbill's modules compiled once into `folder`, as an install has them."""
    environment = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    environment["PYTHONPYCACHEPREFIX"] = str(folder / "bytecode")
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(Path(cptbill.__file__).parent)],
        check=True,
        env=environment,
    )
    return environment


def measure(case: str, source: Path, folder: Path, environment: dict[str, str]) -> tuple[float, float]:
    """(CPU seconds, peak MB) of one child process running `case` on a copy of `source`."""
    copy = folder / f"run-{case}.xlsx"
    shutil.copy(source, copy)
    child = subprocess.Popen(
        [sys.executable, "-c", CHILDREN[case], str(copy)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=environment,
    )
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode not in (0,):
        raise SystemExit(f"{case} failed: {child.stderr.read().decode() if child.stderr else ''}")
    for stale in folder.glob(f"run-{case}*"):
        stale.unlink()
    return usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


RATIOS = [
    # (label, case, baseline, figure, target)
    ("recode / openpyxl load+save, time", "recode", "openpyxl", 0, 0.5),
    ("recode / openpyxl load+save, peak memory", "recode", "openpyxl", 1, 0.75),
    ("recode changing nothing / openpyxl load+save, time", "recode-again", "openpyxl", 0, 0.3),
    ("check / calamine's read, time", "check", "calamine", 0, 4.0),
    (
        "check --json (every line that would change) / calamine's read, time",
        "check-json",
        "calamine",
        0,
        None,
    ),
    (
        "check with no line parsed or planned (its floor) / calamine's read, time",
        "check-floor",
        "calamine",
        0,
        None,
    ),
    ("recode / calamine's read, time", "recode", "calamine", 0, None),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--inline-strings", action="store_true", help="text in the cells, not in a shared-strings table"
    )
    args = parser.parse_args()
    cases = list(CHILDREN)
    with tempfile.TemporaryDirectory() as folder_name:
        folder = Path(folder_name)
        source = folder / "source.xlsx"
        build(source, args.lines, inline_strings=args.inline_strings)
        environment = child_environment(folder)
        recoded = folder / "recoded.xlsx"
        shutil.copy(source, recoded)
        subprocess.run(
            [sys.executable, "-c", CHILDREN["recode"], str(recoded)],
            check=True,
            capture_output=True,
            env=environment,
        )
        print(f"workbook: {args.lines:,} lines x {len(HEADER)} columns, {source.stat().st_size / 1e6:.1f} MB")
        rounds: list[dict[str, tuple[float, float]]] = []
        for number in range(args.rounds):
            order = cases[number % len(cases) :] + cases[: number % len(cases)]
            found = {}
            for case in order:
                found[case] = measure(case, recoded if case in RECODED_FIRST else source, folder, environment)
            rounds.append(found)
    for case in cases:
        seconds = statistics.median(r[case][0] for r in rounds)
        peak = statistics.median(r[case][1] for r in rounds)
        print(f"{case:>13}: {seconds:6.2f} s CPU  peak {peak:7.1f} MB  (medians of {len(rounds)} rounds)")
    for label, case, baseline, figure, target in RATIOS:
        ratio = statistics.median(r[case][figure] / r[baseline][figure] for r in rounds)
        verdict = (
            "" if target is None else f"  target <= {target}x: {'met' if ratio <= target else 'NOT met'}"
        )
        print(f"{label}: {ratio:.2f}x{verdict}")


if __name__ == "__main__":
    main()
