"""Benchmark: CPTUNITS on a 10,000-cell column vs xlwings' own conversion, and the recode script.

Run: python benchmarks/formulas.py   (target: CPTUNITS at most 2x an identity formula)
"""

from __future__ import annotations

import os

# xlwings' Office.js dispatcher, as in the tests (must be set before xlwings is imported).
os.environ.setdefault("XLWINGS_LICENSE_KEY", "noncommercial")
os.environ.setdefault("XLWINGS_ON_SERVER", "true")

import asyncio
import datetime as dt
import statistics
import sys
import time
import types
from collections.abc import Callable
from typing import Any

import xlwings as xw
import xlwings.server

import cptbill.excel

CELLS = 10_000
LINES = 10_000
REPEAT = 7


@xw.func
@xw.arg("minutes", ndim=2, err_to_str=True)
def identity(minutes: Any, rule: Any = None) -> list[list[Any]]:
    """The same decorators and argument as CPTUNITS, no rules: xlwings' own cost."""
    return minutes  # type: ignore[no-any-return, unused-ignore]


baseline = types.ModuleType("baseline")
baseline.identity = identity  # type: ignore[attr-defined]


def formula_call(module: Any, name: str, column: list[list[Any]]) -> Callable[[], Any]:
    data = {
        "func_name": name,
        "args": [column],
        "version": xw.__version__,
        "runtime": "1.4",
        "client": "Office.js",
    }
    return lambda: asyncio.run(xlwings.server.custom_functions_call(data, module))


def median_seconds(job: Callable[[], Any], repeat: int = REPEAT) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        job()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def recode_payload(lines: int) -> dict[str, Any]:
    payers = ["Aetna", "Blue Shield", "Cigna", None]
    header = ["Date", "Client", "Payer", "Minutes", "Service", "Code", "Units", "Expected", "Flags"]
    rows: list[list[Any]] = [header]
    for i in range(lines):
        serial = (dt.date(2026, 11, 1 + i * 30 // lines) - dt.date(1899, 12, 30)).days
        rows.append(
            [serial, f"C{i // 2}", payers[i % 4] or "", [38, 53, 5, 60, 23][i % 5], "", "", "", "", ""]
        )
    table = [
        ["Payer", "Accepts", "Preferred", "Rate 97124", "Rate 97140", "Unit rule", "Max units"],
        ["Aetna", "97124, 97140", "", 28, 31.5, "CMS", ""],
        ["Blue Shield", "97124", "", 26, "", "", 3],
        ["Cigna", "", "97140", "", 30, "AMA", ""],
    ]
    sheets = [("Sessions", rows), ("Payers", table)]
    return {
        "client": "Office.js",
        "version": xw.__version__,
        "book": {"name": "bench.xlsx", "active_sheet_index": 0, "selection": "A1"},
        "names": [],
        "sheets": [
            {"name": n, "values": v, "pictures": [], "tables": [], "charts": [], "shapes": [], "notes": []}
            for n, v in sheets
        ],
    }


def run_recode(lines: int) -> int:
    book = xw.Book(json=recode_payload(lines))
    asyncio.run(
        xlwings.server.custom_scripts_call(cptbill.excel, "recode", typehint_to_value={xw.Book: book})
    )
    return len(book.json()["actions"])


def main() -> None:
    column = [[[38, 53, 7, 22, 600, None][i % 6]] for i in range(CELLS)]
    units = median_seconds(formula_call(cptbill.excel, "cptunits", column))
    same = median_seconds(formula_call(baseline, "identity", column))
    print(f"CPTUNITS, {CELLS:,} cells: {units * 1000:.1f} ms; identity formula: {same * 1000:.1f} ms")
    print(f"ratio CPTUNITS / identity: {units / same:.2f}x (target <= 2x)")

    stdout = sys.stdout
    with open(os.devnull, "w") as quiet:
        sys.stdout = quiet  # the script prints its one-line summary each run
        try:
            actions = run_recode(LINES)
            seconds = median_seconds(lambda: run_recode(LINES), repeat=3)
        finally:
            sys.stdout = stdout
    print(f"recode script, {LINES:,} lines: {seconds:.2f} s, {actions} actions sent to Excel")


if __name__ == "__main__":
    main()
