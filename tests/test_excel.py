"""The xlwings door through xlwings' own dispatcher: formulas and the recode script, no Excel needed."""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import xlwings as xw
import xlwings.server

import cptbill.excel
from cptbill import book as core
from cptbill import contract as c
from cptbill import report
from cptbill.book import MemoryBook
from cptbill.contract import header_key

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "workbook" / "massage-billing.xlsx"
EXCEL_EPOCH = dt.datetime(1899, 12, 30)
NOW = dt.datetime(2026, 12, 1, 9, 30)
VALUE_ERROR = {"type": "Error", "errorType": "Value"}
NA_ERROR = {"type": "Error", "errorType": "NotAvailable"}

PAYERS = [
    ["Payer", "Accepts", "Preferred", "Rate 97124", "Rate 97140", "Rate 97010", "Unit rule", "Max units"],
    ["Aetna", "97124, 97140", None, 28, 31.5, 0, "CMS", None],
    ["Blue Shield", "97124", None, 26, None, 5, None, 3],
    ["Cigna", None, "97140", None, 30, None, "AMA", None],
]
CLAIMS = [
    ["Date", "Client", "Payer", "Code", "Units", "Billed", "Paid", "Status", "Reason"],
    [dt.datetime(2026, 9, 2), "K1", "Aetna", "97140", 2, 80, None, "Denied", "CO-97"],
    [dt.datetime(2026, 9, 9), "K1", "Aetna", "97124", 2, 80, 56, "Paid", None],
]
SESSION_HEADER = ["Date", "Client", "Payer", "Minutes", "Service", "Code", "Units", "Expected", "Flags"]


# ---------------------------------------------------------------- helpers


def call(name: str, *args: Any) -> Any:
    """One formula call the way Excel's Office.js client sends it."""
    data = {
        "func_name": name,
        "args": list(args),
        "version": xw.__version__,
        "runtime": "1.4",
        "client": "Office.js",
    }
    return asyncio.run(xlwings.server.custom_functions_call(data, cptbill.excel))


def column(*values: Any) -> list[list[Any]]:
    return [[v] for v in values]


def serial(value: dt.datetime) -> float:
    return (value - EXCEL_EPOCH).days + (value - EXCEL_EPOCH).seconds / 86400


def office_js_value(value: Any, dates: str) -> Any:
    """A cell as the Office.js client sends it: blank as "", dates as serials or ISO text."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return serial(value) if dates == "serial" else value.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    return value


def payload(sheets: dict[str, list[list[Any]]], active: str, dates: str = "serial") -> dict[str, Any]:
    """What xw.Book(json=...) gets from Excel: every sheet's values from A1, rectangular."""
    entries = []
    for name, rows in sheets.items():
        width = max((len(r) for r in rows), default=0)
        values = [[office_js_value(v, dates) for v in [*r, *[None] * (width - len(r))]] for r in rows]
        entries.append(
            {
                "name": name,
                "values": values or [[]],
                "pictures": [],
                "tables": [],
                "charts": [],
                "shapes": [],
                "notes": [],
            }
        )
    return {
        "client": "Office.js",
        "version": xw.__version__,
        "book": {"name": "book.xlsx", "active_sheet_index": list(sheets).index(active), "selection": "A1"},
        "names": [],
        "sheets": entries,
    }


def run_script(data: dict[str, Any], month: str = "", script: str = "recode") -> list[dict[str, Any]]:
    """Run a script on a payload; return the recorded actions (JSON-ready, as Excel gets them)."""
    book = xw.Book(json=copy.deepcopy(data))  # the book keeps (and changes) the dict it is given
    args = [month] if month else []
    asyncio.run(
        xlwings.server.custom_scripts_call(
            cptbill.excel, script, typehint_to_value={xw.Book: book}, args=args
        )
    )
    actions: list[dict[str, Any]] = json.loads(json.dumps(book.json()))["actions"]
    return actions


def apply(data: dict[str, Any], actions: Sequence[dict[str, Any]]) -> dict[str, list[list[Any]]]:
    """The sheets' values after Excel carries out the recorded writes."""
    names = [s["name"] for s in data["sheets"]]
    grids = [[list(r) for r in s["values"] if r] for s in data["sheets"]]
    for action in actions:
        if action["func"] == "addSheet":
            names.insert(action["args"][0], action["args"][1])
            grids.insert(action["args"][0], [])
        elif action["func"] == "setValues":
            grid = grids[action["sheet_position"]]
            for i, values in enumerate(action["values"]):
                r = action["start_row"] + i
                while len(grid) <= r:
                    grid.append([])
                row = grid[r]
                while len(row) < action["start_column"] + len(values):
                    row.append("")
                row[action["start_column"] : action["start_column"] + len(values)] = values
        elif action["func"] in ("sheetClearContents", "rangeClearContents"):
            grids[action["sheet_position"]] = []
    return dict(zip(names, grids, strict=True))


def owned(rows: list[list[Any]]) -> list[tuple[Any, ...]]:
    """Code, Units, Expected and Flags of each data row, blanks as None and numbers as floats."""
    index = {header_key(v): i for i, v in enumerate(rows[0]) if v not in (None, "")}

    def norm(value: Any) -> Any:
        if value in (None, ""):
            return None
        return float(value) if isinstance(value, int | float) else value

    result = []
    for row in rows[1:]:
        cells = []
        for name in c.OWNED:
            i = index[header_key(name)]
            cells.append(norm(row[i]) if i < len(row) else None)
        result.append(tuple(cells))
    return result


def memory_recode(
    sheets: dict[str, list[list[Any]]], month: str | None, sheet: str | None
) -> tuple[MemoryBook, core.Plan]:
    book = MemoryBook(sheets)
    plan, _ = core.recode(book, month, sheet, now=NOW)
    return book, plan


def month_lines(count: int) -> list[list[Any]]:
    """A sorted month of one-line visits: mixed payers, some too short, some already coded."""
    payers = ["Aetna", "Blue Shield", "Cigna", "Nowhere Health", None]
    rows: list[list[Any]] = [list(SESSION_HEADER)]
    for i in range(count):
        day = dt.datetime(2026, 11, 1 + i * 30 // count)
        minutes = [38, 53, 5, 60, 23, 45][i % 6]
        code = "97124" if i % 7 == 3 else None
        rows.append([day, f"C{i}", payers[i % 5], minutes, None, code, None, None, None])
    return rows


def read_workbook(path: Path) -> dict[str, list[list[Any]]]:
    workbook = openpyxl.load_workbook(path, data_only=True)
    sheets = {}
    for ws in workbook.worksheets:
        rows = [list(r) for r in ws.iter_rows(min_row=1, min_col=1, values_only=True)]
        while rows and all(v is None for v in rows[-1]):
            rows.pop()
        sheets[ws.title] = rows
    return sheets


# ---------------------------------------------------------------- registration


def test_registers_exactly_the_five_formulas_with_descriptions_and_optional_arguments() -> None:
    meta = xlwings.server.custom_functions_meta(cptbill.excel)
    functions = {f["name"]: f for f in meta["functions"]}
    assert set(functions) == {"CPTUNITS", "CPTCODE", "CPTEXPECTED", "CPTFLAGS", "CPTBESTCODE"}
    optional = {
        name: [p["name"] for p in f["parameters"] if p.get("optional")] for name, f in functions.items()
    }
    required = {
        name: [p["name"] for p in f["parameters"] if not p.get("optional")] for name, f in functions.items()
    }
    assert required == {
        "CPTUNITS": ["minutes"],
        "CPTCODE": ["payer", "payers"],
        "CPTEXPECTED": ["code", "units", "payer", "payers"],
        "CPTFLAGS": ["sessions", "payers"],
        "CPTBESTCODE": ["payer", "claims"],
    }
    assert optional == {
        "CPTUNITS": ["rule"],
        "CPTCODE": ["claims", "settings", "service"],
        "CPTEXPECTED": [],
        "CPTFLAGS": ["claims", "settings"],
        "CPTBESTCODE": ["payers"],
    }
    for f in functions.values():
        assert len(f["description"]) > 30 and "Python function" not in f["description"]
        for parameter in f["parameters"]:
            assert not parameter["description"].startswith("Positional argument")
    assert "unit" in functions["CPTUNITS"]["description"].lower()
    scripts = xlwings.server.custom_scripts_meta(cptbill.excel)
    assert [s["function_name"] for s in scripts] == ["recode", "report"]


# ---------------------------------------------------------------- CPTUNITS


def test_cptunits_single_cell_and_column_keep_their_shape() -> None:
    assert call("cptunits", [[38]]) == [[3]]
    assert call("cptunits", [[7]]) == [[0]]
    assert call("cptunits", column(8, 22, 23, 600)) == column(1, 1, 2, 40)
    assert call("cptunits", [[38, 53], [15, 0]]) == [[3, 4], [1, 0]]


def test_cptunits_blank_stays_blank_and_bad_cells_become_errors_in_place() -> None:
    na_cell = {"type": "Error", "basicValue": "#N/A", "errorType": "NotAvailable"}
    result = call("cptunits", column(38, None, "", "forty", -1, 601, na_cell, True, 45.5))
    assert result == column(3, "", "", VALUE_ERROR, VALUE_ERROR, VALUE_ERROR, NA_ERROR, VALUE_ERROR, 3)
    assert call("cptunits", [[None]]) == [[""]]
    assert "NaN" not in json.dumps(result, allow_nan=False)


def test_cptunits_rule_is_optional_and_a_bad_rule_gives_errors() -> None:
    assert call("cptunits", column(38, 52), [["AMA"]]) == column(3, 3)
    assert call("cptunits", column(38), [[None]]) == column(3)
    assert call("cptunits", column(38, 52), [["weekly"]]) == column(VALUE_ERROR, VALUE_ERROR)


# ---------------------------------------------------------------- CPTCODE, CPTEXPECTED, CPTBESTCODE


def test_cptcode_gives_the_documented_services_code() -> None:
    payers = [[v if v is not None else "" for v in row] for row in PAYERS]
    payer_column = column("Aetna", "Blue Shield", "CIGNA", "Unknown Co", "Aetna", "Aetna", None)
    services = column("massage", "manual therapy", "MLD", "hot pack", "97110", "reflexology", "massage")
    result = call("cptcode", payer_column, payers, None, None, services)
    # Whatever the payer takes or prefers (Blue Shield takes only 97124): the service's code.
    assert result == column("97124", "97140", "97140", "97010", "97110", VALUE_ERROR, "")
    # Without a service (or a blank one), the Settings value Blank service applies: massage.
    assert call("cptcode", column("Aetna", "Cigna"), payers) == column("97124", "97124")
    settings = [["Setting", "Value"], ["Blank service", "manual therapy"]]
    assert call("cptcode", column("Aetna", "Cigna"), payers, None, settings, column("", "")) == column(
        "97140", "97140"
    )


def test_cptcode_either_follows_accepts_preferred_history_and_default() -> None:
    payers = [[v if v is not None else "" for v in row] for row in PAYERS]
    either = [["either"]]  # one cell stands for every line
    result = call(
        "cptcode", column("Aetna", "blue shield ", "CIGNA", "Unknown Co", None), payers, None, None, either
    )
    # Aetna takes both and has no preference or history: the default code.
    assert result == column("97140", "97124", "97140", "97140", "")
    claims = [[serial(v) if isinstance(v, dt.datetime) else v for v in row] for row in CLAIMS]
    assert call("cptcode", [["Aetna"]], payers, claims, None, either) == [["97124"]]
    settings = [["Setting", "Value"], ["Default code", "97124"], ["Blank service", "either"]]
    assert call("cptcode", column("Aetna", "Unknown Co"), payers, None, settings) == column("97124", "97124")


def test_cptexpected_is_units_times_rate_and_blank_when_unknown() -> None:
    result = call(
        "cptexpected",
        column("97140", 97124, "97140", "97124", "97010", None, "97140", "abc"),
        column(3, 2, 1, 1, 1, 2, 2, 1),
        column("Aetna", "Blue Shield", "Blue Shield", "Nobody", "Aetna", "Aetna", None, "Aetna"),
        PAYERS,
    )
    assert result == column(94.5, 52.0, "", "", 0.0, "", "", VALUE_ERROR)


def test_cptbestcode_reads_claim_history() -> None:
    claims = [[serial(v) if isinstance(v, dt.datetime) else v for v in row] for row in CLAIMS]
    result = call("cptbestcode", column("Aetna", "Cigna", None), claims)
    assert result == column("97124", NA_ERROR, "")
    # Blue Shield accepts only 97124: its history cannot favour anything else.
    assert call("cptbestcode", [["Aetna"]], claims, PAYERS) == [["97124"]]


# ---------------------------------------------------------------- CPTFLAGS


def test_cptflags_matches_the_check_of_the_same_lines() -> None:
    nov = dt.datetime(2026, 11, 3)
    sessions = [
        [*SESSION_HEADER],
        [nov, "Ann", "Aetna", 30, None, "97124", None, None, None],
        [nov, "Ann", "Aetna", 25, None, "97140", None, None, None],  # same visit: MIXED_CODES
        [nov, "Bob", "Nowhere", 40, None, None, None, None, None],  # UNKNOWN_PAYER
        [None, None, None, None, None, None, None, None, None],  # blank row
        ["2026-11-05", "Cy", "Blue Shield", 5, None, None, None, None, None],  # UNDER_8_MIN
        [nov, "Dee", None, 60, None, None, None, None, None],  # self-pay: nothing
        [nov, "Eve", "Aetna", "lots", None, None, None, None, None],  # BAD_MINUTES
    ]
    sent = [
        [serial(v) if isinstance(v, dt.datetime) else ("" if v is None else v) for v in r] for r in sessions
    ]
    result = call("cptflags", sent, PAYERS)
    assert len(result) == len(sessions) - 1
    flags = [row[0] for row in result]
    assert flags[0].startswith("MIXED_CODES") and flags[1].startswith("MIXED_CODES")
    assert flags[2].startswith("UNKNOWN_PAYER")
    assert flags[3] == "" and flags[5] == ""
    assert flags[4].startswith("UNDER_8_MIN")
    assert flags[6].startswith("BAD_MINUTES")
    # The same text a check of the workbook gives for those lines.
    plan, _ = core.check(MemoryBook({"Sessions": sessions, "Payers": PAYERS}))
    expected = {r.row: r.flags_text for r in plan.results}
    assert flags == [expected.get(row, "") for row in range(2, len(sessions) + 1)]


def test_cptflags_reports_the_service_messages() -> None:
    nov = serial(dt.datetime(2026, 11, 3))
    sessions = [
        ["Date", "Client", "Payer", "Minutes", "Service", "Modifiers"],
        [nov, "Ann", "Blue Shield", 30, "manual therapy", ""],  # Blue Shield covers only 97124
        [nov, "Bob", "Aetna", 30, "massage", ""],
        [nov, "Bob", "Aetna", 15, "manual therapy", "XS"],  # separate regions: not mixed
        [nov, "Cy", "Aetna", 30, "massage", ""],
        [nov, "Cy", "Aetna", 15, "myofascial", ""],
    ]
    flags = [row[0] for row in call("cptflags", sessions, PAYERS)]
    assert flags[0].startswith(
        "NOT_ACCEPTED: Blue Shield covers only 97124 (massage): bill it only if the session was massage"
    )
    assert flags[1:3] == ["", ""]
    assert all(f.startswith("MIXED_CODES") and "59 or XS" in f for f in flags[3:])


def test_cptflags_without_session_headers_is_an_error() -> None:
    assert call("cptflags", [["a", "b"], [1, 2]], PAYERS) == [[VALUE_ERROR]]


# ---------------------------------------------------------------- the recode script


def test_recode_script_writes_what_the_core_writes(tmp_path: Path) -> None:
    workbook = openpyxl.Workbook()
    ws = workbook.active
    ws.title = "Sessions"
    for row in month_lines(30):
        ws.append(row)
    ws.delete_cols(9)  # no Flags column: the door adds it at the right end
    for name, rows in (("Payers", PAYERS), ("Claims", CLAIMS)):
        sheet = workbook.create_sheet(name)
        for row in rows:
            sheet.append(row)
    path = tmp_path / "book.xlsx"
    workbook.save(path)
    sheets = read_workbook(path)

    for dates in ("serial", "iso"):
        data = payload(sheets, active="Payers", dates=dates)
        actions = run_script(data, month="2026-11")
        after = apply(data, actions)
        memory, plan = memory_recode(sheets, "2026-11", None)
        assert owned(after["Sessions"]) == owned(memory.sheets["Sessions"])
        assert after["Sessions"][0][-1] == "Flags"
        # The Changes log: the same rows but for the time of the run.
        assert [r[1:] for r in after["Changes"][1:]] == [
            [v if v is not None else "" for v in r[1:]] for r in _iso(memory.sheets["Changes"][1:])
        ]
        assert plan.changes and plan.filled
        # Flagged lines get a fill; lines without flags have it cleared.
        colors = [a for a in actions if a["func"] == "setRangeColors"]
        matrix = [row[0] for a in colors for row in a["args"][0] if row[0] != "keep"]  # "keep": self-pay
        # A self-pay line holding an earlier recode's code is cleared, and its fill with it.
        results = sorted((*plan.results, *plan.cleared), key=lambda r: r.row)
        assert plan.cleared
        flagged = [bool(r.flags) for r in results]
        assert [color == cptbill.excel.FLAG_FILL.lower() for color in matrix] == flagged
        assert set(matrix) == {None, cptbill.excel.FLAG_FILL.lower()}
        # Learned is refreshed on the Payers sheet because a Claims sheet exists.
        learned = after["Payers"][0].index("Learned")
        assert after["Payers"][1][learned].startswith("97124")


def _iso(rows: list[list[Any]]) -> list[list[Any]]:
    return [[v.isoformat() if isinstance(v, dt.date) else v for v in r] for r in rows]


def test_recode_script_bulk_writes_do_not_grow_with_the_lines() -> None:
    def count(lines: int) -> tuple[int, int]:
        sheets = {"Sessions": month_lines(lines), "Payers": PAYERS}
        actions = run_script(payload(sheets, active="Sessions"), month="2026-11")
        return len(actions), sum(a["sheet_position"] == 0 for a in actions)

    (small, small_sessions), (large, large_sessions) = count(20), count(200)
    assert (small, small_sessions) == (large, large_sessions)
    # Per owned column one number format and one block of values, plus one fill matrix.
    assert small_sessions <= 2 * len(c.OWNED) + 1
    assert small <= 30  # with Changes, Summary (and its chart), Resubmit and Shortfalls


def test_recode_twice_changes_nothing_the_second_time() -> None:
    sheets = {"Sessions": month_lines(40), "Payers": PAYERS}
    data = payload(sheets, active="Sessions")
    first = apply(data, run_script(data))
    assert "Changes" in first
    second = run_script(payload(first, active="Sessions"))
    changes = list(first).index("Changes")
    assert [a["func"] for a in second if a["sheet_position"] in (0, changes)] == ["setRangeColors"]


def test_blank_month_recodes_the_active_session_sheet_only() -> None:
    october = [[*SESSION_HEADER], [dt.datetime(2026, 10, 6), "Ann", "Aetna", 38, *[None] * 5]]
    november = [[*SESSION_HEADER], [dt.datetime(2026, 11, 3), "Ann", "Aetna", 53, *[None] * 5]]
    sheets = {"2026-10": october, "2026-11": november, "Payers": PAYERS}
    after = apply(payload(sheets, active="2026-11"), run_script(payload(sheets, active="2026-11")))
    assert owned(after["2026-11"]) == [("97124", 4.0, 112.0, None)]  # blank Service: massage
    assert owned(after["2026-10"]) == [(None, None, None, None)]
    # From a sheet that is not a session sheet, every session sheet is recoded.
    after = apply(payload(sheets, active="Payers"), run_script(payload(sheets, active="Payers")))
    assert owned(after["2026-10"]) == [("97124", 3.0, 84.0, None)]


def test_user_mistakes_become_one_sentence_not_a_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    actions = run_script(payload({"Notes": [["just", "text"]]}, active="Notes"))
    assert [a["func"] for a in actions] == ["alert"]
    assert actions[0]["args"][0].startswith("No session sheet found")
    actions = run_script(payload({"Sessions": month_lines(3), "Payers": PAYERS}, active="Sessions"), "Nov")
    assert [a["func"] for a in actions] == ["alert"]
    assert "YYYY-MM" in actions[0]["args"][0]
    assert "Traceback" not in capsys.readouterr().out


def test_sample_workbook_recodes_like_the_file_door() -> None:
    if not SAMPLE.exists():
        pytest.skip(f"{SAMPLE.relative_to(ROOT)} not generated yet")
    sheets = read_workbook(SAMPLE)
    loaded = core.load(MemoryBook(sheets))
    month = max(line.date for line in loaded.lines if line.date).strftime("%Y-%m")
    session = next(iter(loaded.session_sheets))
    data = payload(sheets, active=next(n for n in sheets if n not in loaded.session_sheets))
    after = apply(data, run_script(data, month=month))
    memory, _ = memory_recode(sheets, month, None)
    for name in loaded.session_sheets:
        assert owned(after[name]) == owned(memory.sheets[name])
    assert session in after


def test_door_reads_each_sheet_from_a1_even_when_the_used_range_starts_later() -> None:
    data = payload({"Sessions": [[None, None, None], [None, "x", 2], [None, None, None]]}, active="Sessions")
    data["sheets"][0]["used_range_address"] = "B2:C3"
    door = cptbill.excel.XlwingsBook(xw.Book(json=data))
    assert door.sheet_names() == ["Sessions"]
    assert door.read("Sessions") == [[None, None, None], [None, "x", 2]]
    assert door.read("Missing") == []


def test_report_script_writes_the_report_sheets_the_core_writes() -> None:
    if not SAMPLE.exists():
        pytest.skip(f"{SAMPLE.relative_to(ROOT)} not generated yet")
    sheets = read_workbook(SAMPLE)
    data = payload(sheets, active="Sessions")
    after = apply(data, run_script(data, month="2026-11", script="report"))
    memory = MemoryBook(sheets)
    report.write_report(memory, core.load(memory), None, "2026-11")
    for name in (c.SUMMARY, c.RESUBMIT, c.SHORTFALLS):  # dates travel to Office.js as ISO text
        expected = [
            [v.isoformat() if isinstance(v, dt.date) else v for v in row] for row in memory.sheets[name]
        ]
        assert core.same_rows(after[name], expected), name
    assert any(row and row[0] == "TOTAL" for row in after[c.SUMMARY])
    mistake = run_script(data, month="Nov", script="report")
    assert [a["func"] for a in mistake] == ["alert"] and "YYYY-MM" in mistake[0]["args"][0]
