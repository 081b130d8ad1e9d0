"""Benchmark: `cptbill recode` on a 50,000-line workbook against openpyxl's own load-and-save.

Run: .venv/bin/python benchmarks/recode_50k.py [--lines 50000] [--repeat 3]

Each measurement runs in a fresh Python process (so peak memory is not shared between them) on
its own copy of the same workbook; the figures are medians. Targets: recode at most 1.5x the
time and 1.5x the peak memory of openpyxl's load-and-save.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import xlsxwriter

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

# Each child prints its own timing and peak memory as JSON on its last line.
OPENPYXL_CHILD = """
import json, resource, sys, time
t = time.perf_counter()
import openpyxl
wb = openpyxl.load_workbook(sys.argv[1])
wb.save(sys.argv[1])
seconds = time.perf_counter() - t
print(json.dumps({"seconds": seconds, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""
RECODE_CHILD = """
import json, resource, sys, time
t = time.perf_counter()
from cptbill.cli import main
try:
    main(["recode", sys.argv[1], "--json"])
except SystemExit as exit:
    assert not exit.code, exit.code
seconds = time.perf_counter() - t
print(json.dumps({"seconds": seconds, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


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
    start = dt.date(2022, 1, 3)
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


def measure(child: str, source: Path, folder: Path, name: str) -> dict[str, float]:
    copy = folder / f"{name}.xlsx"
    shutil.copy(source, copy)
    done = subprocess.run(
        [sys.executable, "-c", child, str(copy)], check=True, capture_output=True, text=True
    )
    for stale in folder.glob(f"{name}*"):
        stale.unlink()
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--inline-strings", action="store_true", help="text in the cells, not in a shared-strings table"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder_name:
        folder = Path(folder_name)
        source = folder / "source.xlsx"
        build(source, args.lines, inline_strings=args.inline_strings)
        print(f"workbook: {args.lines:,} lines x {len(HEADER)} columns, {source.stat().st_size / 1e6:.1f} MB")
        runs: dict[str, list[dict[str, float]]] = {"openpyxl": [], "recode": []}
        for i in range(args.repeat):  # interleaved, so drift in the machine hits both alike
            runs["openpyxl"].append(measure(OPENPYXL_CHILD, source, folder, f"openpyxl{i}"))
            runs["recode"].append(measure(RECODE_CHILD, source, folder, f"recode{i}"))
    result = {
        name: {key: statistics.median(r[key] for r in found) for key in ("seconds", "peak_mb")}
        for name, found in runs.items()
    }
    for name, figures in result.items():
        print(f"{name:>9}: {figures['seconds']:6.2f} s  peak {figures['peak_mb']:7.1f} MB")
    time_ratio = result["recode"]["seconds"] / result["openpyxl"]["seconds"]
    memory_ratio = result["recode"]["peak_mb"] / result["openpyxl"]["peak_mb"]
    print(f"ratio recode / openpyxl load+save: time {time_ratio:.2f}x, peak memory {memory_ratio:.2f}x")
    print(f"target <= 1.5x each: {'met' if max(time_ratio, memory_ratio) <= 1.5 else 'NOT met'}")


if __name__ == "__main__":
    main()
