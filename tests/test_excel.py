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
            for i, typed in enumerate(action["values"]):
                values = [excel_keeps(v) for v in typed]
                r = action["start_row"] + i
                while len(grid) <= r:
                    grid.append([])
                row = grid[r]
                while len(row) < action["start_column"] + len(values):
                    row.append("")
                for j, value in enumerate(values, start=action["start_column"]):
                    if value is not None:  # Office.js leaves a cell sent as null unchanged
                        row[j] = value
        elif action["func"] in ("sheetClearContents", "rangeClearContents"):
            grids[action["sheet_position"]] = []
    return dict(zip(names, grids, strict=True))


def excel_keeps(value: Any) -> Any:
    """What a cell holds once Excel gets a value: a leading apostrophe only marks text as text."""
    return value[1:] if isinstance(value, str) and value.startswith("'") else value


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
    assert sorted(s["function_name"] for s in scripts) == ["claims", "import_era", "recode", "report"]


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


def test_cptbestcode_maps_remittance_payer_names_through_era_names() -> None:
    """Claims imported from an 835 carry the payer's own name; the Payers table's ERA names map it."""
    claims = [[serial(v) if isinstance(v, dt.datetime) else v for v in row] for row in CLAIMS]
    claims = [claims[0], *[[*row[:2], "AETNA LIFE INS CO", *row[3:]] for row in claims[1:]]]
    payers = [[*PAYERS[0], "ERA names"], *[[*row, None] for row in PAYERS[1:]]]
    payers[1][-1] = "AETNA LIFE INS CO, 60054"
    assert call("cptbestcode", [["Aetna"]], claims) == [[NA_ERROR]]  # no payer names: no evidence
    assert call("cptbestcode", [["Aetna"]], claims, payers) == [["97124"]]


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
    expected = {r.row: r.flags_text for r in plan.standing}
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
        # Flagged lines get a fill; lines without flags keep theirs (none was cptbill's: no line
        # had flags when read).
        results = sorted((*plan.results, *plan.cleared), key=lambda r: r.row)
        assert plan.cleared  # a self-pay line holding an earlier recode's code is cleared
        assert fills(actions, 0) == {r.row: FLAG_FILL for r in results if r.flags}
        assert any(not r.flags for r in results)
        # Learned is refreshed on the Payers sheet because a Claims sheet exists.
        learned = after["Payers"][0].index("Learned")
        assert after["Payers"][1][learned].startswith("97124")


FLAG_FILL = cptbill.excel.FLAG_FILL.lower()


def fills(actions: Sequence[dict[str, Any]], sheet: int) -> dict[int, Any]:
    """The fill each row of a sheet is given (1-based rows; None: cleared), rows kept left out."""
    given: dict[int, Any] = {}
    for action in actions:
        if action["func"] == "setRangeColors" and action["sheet_position"] == sheet:
            for i, row in enumerate(action["args"][0]):
                assert len(set(row)) == 1  # a whole line alike
                if row[0] != "keep":
                    given[action["start_row"] + i + 1] = row[0]
    return given


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
    assert small <= 30  # with Changes, Summary (and its chart), Follow-up and Shortfalls


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
    for name in (c.SUMMARY, c.FOLLOW_UP, c.SHORTFALLS):  # dates travel to Office.js as ISO text
        expected = [
            [v.isoformat() if isinstance(v, dt.date) else v for v in row] for row in memory.sheets[name]
        ]
        assert core.same_rows(after[name], expected), name
    assert any(row and row[0] == "TOTAL" for row in after[c.SUMMARY])
    mistake = run_script(data, month="Nov", script="report")
    assert [a["func"] for a in mistake] == ["alert"] and "YYYY-MM" in mistake[0]["args"][0]


# ---------------------------------------------------------------- the month from Settings


def _two_months() -> dict[str, list[list[Any]]]:
    october = [[*SESSION_HEADER], [dt.datetime(2026, 10, 6), "Ann", "Aetna", 38, *[None] * 5]]
    november = [[*SESSION_HEADER], [dt.datetime(2026, 11, 3), "Ann", "Aetna", 53, *[None] * 5]]
    return {"Sessions": [*october, november[1]], "Payers": PAYERS}


def _with_month(sheets: dict[str, list[list[Any]]], month: Any) -> dict[str, list[list[Any]]]:
    settings = [["Setting", "Value"], ["Default code", "97140"], [c.MONTH_TO_RECODE, month]]
    return {**sheets, c.SETTINGS: settings}


@pytest.mark.parametrize("month", ["2026-10", dt.datetime(2026, 10, 1)])
def test_recode_takes_the_month_from_settings(month: Any) -> None:
    sheets = _with_month(_two_months(), month)
    data = payload(sheets, active="Sessions")
    after = apply(data, run_script(data))
    # Blank Service: massage, 97124 (Aetna pays 28.00 a unit).
    assert owned(after["Sessions"]) == [("97124", 3.0, 84.0, None), (None, None, None, None)]
    # A month given to the script (classic xlwings: recode_caller("2026-11")) wins over Settings.
    after = apply(data, run_script(data, month="2026-11"))
    assert owned(after["Sessions"]) == [(None, None, None, None), ("97124", 4.0, 112.0, None)]
    # Blank: the active sheet's lines, as before.
    blank = payload(_with_month(_two_months(), None), active="Sessions")
    assert [r[0] for r in owned(apply(blank, run_script(blank))["Sessions"])] == ["97124", "97124"]


def test_a_bad_month_in_settings_is_one_sentence_naming_the_row() -> None:
    data = payload(_with_month(_two_months(), "November"), active="Sessions")
    for script in ("recode", "report"):
        actions = run_script(data, script=script)
        assert [a["func"] for a in actions] == ["alert"]
        assert actions[0]["args"][0].startswith("Settings: Month to recode 'November' is not a month")


def test_report_takes_the_month_from_settings() -> None:
    def months(month: Any) -> set[str]:
        data = payload(_with_month(_two_months(), month), active="Sessions")
        summary = apply(data, run_script(data, script="report"))[c.SUMMARY]
        return {
            v for row in summary for v in row[:1] if isinstance(v, str) and v[:4].isdigit() and len(v) == 7
        }

    assert months("2026-10") == {"2026-10"}
    assert months(None) == {"2026-10", "2026-11"}  # blank: every month


# ---------------------------------------------------------------- the import_era script

FIXTURES = ROOT / "tests" / "fixtures"


def comparable(rows: list[list[Any]]) -> list[list[Any]]:
    """Rows as both doors' results compare: dates as ISO days, numbers as floats, blanks as None."""

    def norm(value: Any) -> Any:
        if value in (None, ""):
            return None
        if isinstance(value, dt.datetime | dt.date):
            return value.isoformat()[:10]
        if isinstance(value, str) and len(value) >= 10 and value[4] == "-" and value[7] == "-":
            return value[:10] if value[:4].isdigit() else value
        return float(value) if isinstance(value, int | float) else value

    result = [[norm(v) for v in row] for row in rows]
    for row in result:
        while row and row[-1] is None:
            row.pop()
    while result and not result[-1]:
        result.pop()
    return result


def _drop(folder: Path, *names: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        source = FIXTURES / name if (FIXTURES / name).exists() else ROOT / "src" / "cptbill" / "data" / name
        (folder / name).write_bytes(source.read_bytes())
    return folder


def test_import_era_writes_what_the_file_door_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from cptbill.cli import main
    from cptbill.template import write_template

    path = tmp_path / "book.xlsx"
    write_template(path, sample=True)
    sheets = read_workbook(path)
    data = _drop(tmp_path / "data", "summit-paid-denied.835", "sample-remittance.835")
    _drop(data / "october", "harbor-reversal-plb.835")
    (data / "notes.txt").write_text("not a remittance", encoding="utf-8")
    monkeypatch.setattr(cptbill.excel, "IMPORT_FOLDER", str(data))

    book = payload(sheets, active="Sessions", dates="iso")
    claims_at = list(sheets).index(c.CLAIMS)
    table = openpyxl.load_workbook(path)[c.CLAIMS].tables[c.CLAIMS]
    book["sheets"][claims_at]["tables"] = [
        {"name": c.CLAIMS, "range_address": f"${table.ref.replace(':', ':$')}"}
    ]
    actions = run_script(book, script="import_era")
    after = apply(book, actions)
    alert = [a for a in actions if a["func"] == "alert"]
    assert len(alert) == 1 and alert[0]["args"][3] == "info"

    capsys.readouterr()
    files = ["october/harbor-reversal-plb.835", "sample-remittance.835", "summit-paid-denied.835"]
    copy = tmp_path / "copy.xlsx"
    copy.write_bytes(path.read_bytes())
    with pytest.raises(SystemExit) as done:
        main(["import-era", str(path), *(str(data / f) for f in files), "--json"])
    assert done.value.code == 0
    summary = json.loads(capsys.readouterr().out)
    file_door = read_workbook(path)
    assert comparable(after[c.CLAIMS]) == comparable(file_door[c.CLAIMS])
    # The Claims table takes in the new rows, as it does in the file.
    grown = openpyxl.load_workbook(path)[c.CLAIMS].tables[c.CLAIMS].ref
    assert grown != table.ref
    resized = [a for a in actions if a["func"] == "resizeTable"]
    assert [(a["sheet_position"], a["args"][0], a["args"][1].replace("$", "")) for a in resized] == [
        (claims_at, 0, grown)
    ]
    assert len(after[c.CLAIMS]) > len(sheets[c.CLAIMS])
    # The message box says what the command line says (but for where it saved).
    with pytest.raises(SystemExit):
        main(["import-era", str(copy), *(str(data / f) for f in files)])
    printed = " ".join(capsys.readouterr().out.split())
    assert " Saved " in printed
    text = alert[0]["args"][0]
    assert " ".join(text.split()) == printed[: printed.rindex(" Saved ")]
    assert text.startswith(f"3 files, {summary['lines']} service lines: {summary['added']} added to Claims")

    # Run again on the imported workbook: every line is known, nothing is written.
    again = run_script(payload(after, active="Sessions", dates="iso"), script="import_era")
    assert [a["func"] for a in again] == ["alert"]
    assert f"0 added to Claims, {summary['lines']} duplicates skipped" in again[0]["args"][0]


def test_import_era_refuses_a_broken_file_before_writing_and_says_when_there_is_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = payload({"Sessions": month_lines(2), "Payers": PAYERS, "Claims": CLAIMS}, active="Sessions")
    monkeypatch.setattr(cptbill.excel, "IMPORT_FOLDER", str(tmp_path / "nowhere"))
    actions = run_script(data, script="import_era")
    assert [a["func"] for a in actions] == ["alert"]
    assert actions[0]["args"][0].startswith(
        "No remittance (.835 file) found in xlwings Lite's Import/Export area"
    )
    # Classic xlwings' import_era_caller names its own folder.
    book = xw.Book(json=copy.deepcopy(data))
    assert cptbill.excel.import_era_book(book, tmp_path) is None
    assert [a["args"][0] for a in book.json()["actions"]] == [
        f"No remittance (.835 file) found in the folder {tmp_path}."
    ]
    folder = _drop(tmp_path / "data", "summit-paid-denied.835", "truncated.835")
    (folder / "REMIT.835").write_bytes(b"")  # the suffix is matched whatever its case
    monkeypatch.setattr(cptbill.excel, "IMPORT_FOLDER", str(folder))
    assert [p.name for p in cptbill.excel.remittance_files(folder)] == [
        "REMIT.835",
        "summit-paid-denied.835",
        "truncated.835",
    ]
    actions = run_script(data, script="import_era")
    assert [a["func"] for a in actions] == ["alert"]  # nothing written, one sentence
    assert actions[0]["args"][0] == "REMIT.835 is not a valid 835 remittance: the file is empty."
    assert actions[0]["args"][3] == "critical"


def test_the_import_message_says_what_each_provider_adjustment_is() -> None:
    """The add-in's message box lists a payment's PLB items as the command line does: code, meaning,
    the payer's reference, amount."""
    from cptbill.era import import_remittances

    book = MemoryBook({"Payers": [list(r) for r in PAYERS]})
    result = import_remittances(book, None, [FIXTURES / "two-plb.835"])
    text = cptbill.excel.import_summary(result)
    assert "  two-plb.835 #EFT603: WO (overpayment recovery) HHC0001 $15.00" in text
    assert "  two-plb.835 #EFT603: L6 (interest owed) -$1.00" in text
    assert "Warning" not in text


def test_remittances_downloaded_under_other_names_are_found_by_what_they_hold(tmp_path: Path) -> None:
    """Clearinghouses and portals name 835 downloads .txt, .edi, .era...: such a file is taken when
    it holds an 835 (in any case, with any separators, saved as UTF-16); a 999 acknowledgment, a
    text note or a workbook beside it is not."""
    text = (FIXTURES / "summit-paid-denied.835").read_text()
    folder = tmp_path / "downloads"
    (folder / "2026-11").mkdir(parents=True)
    (folder / "ERA_20261130.txt").write_text(text)
    (folder / "2026-11" / "remit.EDI").write_bytes(text.lower().encode("utf-16"))
    (folder / "pipes.era").write_text(text.replace("*", "|"))
    (folder / "ack-999.txt").write_text(text.replace("ST*835*", "ST*999*"))
    (folder / "readme.txt").write_text("Remittances for November; ST*835* explained in the guide.\n")
    (folder / "billing.dat").write_bytes(b"PK\x03\x04 not text")
    (folder / "remit.835").write_text(text)
    found = [p.relative_to(folder).as_posix() for p in cptbill.excel.remittance_files(folder)]
    assert found == ["2026-11/remit.EDI", "ERA_20261130.txt", "pipes.era", "remit.835"]


# ---------------------------------------------------------------- cells the door does not change


Bounds = tuple[int, int, int, int]


def _within(cell: tuple[int, int], bounds: Bounds) -> bool:
    return bounds[0] <= cell[0] <= bounds[2] and bounds[1] <= cell[1] <= bounds[3]


def address(bounds: Bounds) -> str:
    """As COM's Range.Address gives it: $F$2:$G$9."""

    def cell(row: int, column: int) -> str:
        return f"${chr(64 + column)}${row}"

    first, last = cell(*bounds[:2]), cell(*bounds[2:])
    return first if first == last else f"{first}:{last}"


class ComError(Exception):
    """As pywintypes.com_error carries Excel's refusal: (hresult, text, excepinfo, argerr)."""

    def __init__(self, description: str) -> None:
        super().__init__(
            -2147352567,
            "Exception occurred.",
            (0, "Microsoft Excel", description, None, 0, -2146827284),
            None,
        )


class DesktopRange:
    """A block of a `DesktopSheet` as classic xlwings (Excel over COM) gives it; each use is a call."""

    def __init__(self, sheet: DesktopSheet, top: int, left: int, bottom: int, right: int) -> None:
        self.sheet, self.top, self.left, self.bottom, self.right = sheet, top, left, bottom, right

    def _cells(self) -> list[list[tuple[int, int]]]:
        return [[(r, c) for c in range(self.left, self.right + 1)] for r in range(self.top, self.bottom + 1)]

    def options(self, **_: Any) -> DesktopRange:
        return self

    @property
    def value(self) -> list[list[Any]]:
        self.sheet.calls.append(("value", self.top, self.bottom, self.left))
        return [[self.sheet.values.get(cell) for cell in row] for row in self._cells()]

    @value.setter
    def value(self, block: list[list[Any]]) -> None:
        self.sheet.calls.append(("set value", self.top, self.bottom, self.left))
        self.sheet.refuse(self, block)
        for row, values in zip(self._cells(), block, strict=True):
            for cell, value in zip(row, values, strict=True):
                kept = value[1:] if isinstance(value, str) and value.startswith("'") else value
                self.sheet.values[cell] = kept  # Excel takes the value in place of any formula
                self.sheet.formulas.pop(cell, None)

    @property
    def formula(self) -> Any:
        """As COM gives Range.Formula: a formula's text, a constant as text, "" for blank."""
        self.sheet.calls.append(("formula", self.top, self.bottom, self.left))
        rows = tuple(
            tuple(self.sheet.formulas.get(cell, str(self.sheet.values.get(cell) or "")) for cell in row)
            for row in self._cells()
        )
        return rows[0][0] if len(rows) == 1 and len(rows[0]) == 1 else rows

    @property
    def number_format(self) -> str:
        raise AssertionError("the door never reads a format")

    @number_format.setter
    def number_format(self, code: str) -> None:
        self.sheet.calls.append(("set format", self.top, self.bottom, self.left))
        for row in self._cells():
            for cell in row:
                self.sheet.formats[cell] = code

    @property
    def color(self) -> Any:
        raise AssertionError("the door never reads a fill")

    @color.setter
    def color(self, fill: Any) -> None:
        self.sheet.calls.append(("set color", self.top, self.bottom, self.left))
        for row in self._cells():
            for cell in row:
                self.sheet.fills[cell] = fill

    @property
    def last_cell(self) -> DesktopRange:
        return DesktopRange(self.sheet, self.bottom, self.right, self.bottom, self.right)

    def _answer(self, ranges: list[Bounds]) -> bool | None:
        """As COM answers MergeCells, HasArray, HasSpill: True (all cells), False (none), None (some)."""
        inside = 0
        for top, left, bottom, right in ranges:  # ranges of one kind never overlap
            rows = min(bottom, self.bottom) - max(top, self.top) + 1
            columns = min(right, self.right) - max(left, self.left) + 1
            inside += max(rows, 0) * max(columns, 0)
        cells = (self.bottom - self.top + 1) * (self.right - self.left + 1)
        return True if inside == cells else False if not inside else None

    @property
    def merge_cells(self) -> bool | None:
        self.sheet.calls.append(("merge_cells", self.top, self.bottom, self.left))
        return self._answer(self.sheet.merged)

    @property
    def merge_area(self) -> DesktopRange:
        self.sheet.calls.append(("merge_area", self.top, self.bottom, self.left))
        found = next((b for b in self.sheet.merged if _within((self.top, self.left), b)), None)
        return DesktopRange(self.sheet, *found) if found else self

    def unmerge(self) -> None:
        self.sheet.calls.append(("unmerge", self.top, self.bottom, self.left))
        self.sheet.merged = [b for b in self.sheet.merged if self._answer([b]) is False]

    @property
    def has_array(self) -> bool | None:
        self.sheet.calls.append(("has_array", self.top, self.bottom, self.left))
        return self._answer(self.sheet.arrays)

    @property
    def api(self) -> Any:
        """The COM object: HasSpill, CurrentArray and SpillParent.SpillingToRange, with .Address."""
        outer = self

        class Api:
            @property
            def HasSpill(self) -> bool | None:
                outer.sheet.calls.append(("HasSpill", outer.top, outer.bottom, outer.left))
                return outer._answer(outer.sheet.spills)

            def _address(self, ranges: list[Bounds]) -> Any:
                found = next(b for b in ranges if _within((outer.top, outer.left), b))
                return type("ComRange", (), {"Address": address(found)})()

            @property
            def CurrentArray(self) -> Any:
                return self._address(outer.sheet.arrays)

            @property
            def SpillParent(self) -> Any:
                return type("Parent", (), {"SpillingToRange": self._address(outer.sheet.spills)})()

        return Api()

    @property
    def row(self) -> int:
        return self.top

    @property
    def column(self) -> int:
        return self.left


class DesktopSheet:
    """A sheet of cells with formulas and number formats, counting the calls made to it."""

    def __init__(self, name: str, rows: list[list[Any]]) -> None:
        self.name = name
        self.values = {
            (r, c): v for r, row in enumerate(rows, 1) for c, v in enumerate(row, 1) if v is not None
        }
        self.formulas: dict[tuple[int, int], str] = {}
        self.formats: dict[tuple[int, int], str] = {}
        self.fills: dict[tuple[int, int], Any] = {}
        self.calls: list[tuple[Any, ...]] = []
        self.tables: list[Any] = []
        self.merged: list[Bounds] = []  # top, left, bottom, right
        self.arrays: list[Bounds] = []  # legacy array formulas (Ctrl+Shift+Enter)
        self.spills: list[Bounds] = []  # dynamic arrays' spilled results, the formula's cell first
        self.broken: list[Bounds] = []  # spills a value was typed into: Excel shows #SPILL!
        self.refused: dict[int, str] = {}  # column -> what Excel says when a value goes there

    def refuse(self, area: DesktopRange, block: list[list[Any]]) -> None:
        """What Excel refuses (a COM error, nothing written): a value into part of merged cells or of
        an array formula; a value in a spill's results is taken, but the spill breaks."""
        cells = {cell for row in area._cells() for cell in row}
        for bounds in self.merged + self.arrays:
            inside = {cell for cell in cells if _within(cell, bounds)}
            whole = len(inside) == (bounds[2] - bounds[0] + 1) * (bounds[3] - bounds[1] + 1)
            if inside and not whole and (bounds in self.arrays or inside != {bounds[:2]}):
                raise ComError("Cannot change part of a merged cell or an array.")
        if area.left in self.refused:
            raise ComError(self.refused[area.left])
        self.broken += [b for b in self.spills if any(_within(cell, b) for cell in cells)]

    def range(self, start: tuple[int, int], end: tuple[int, int] | None = None) -> DesktopRange:
        end = end or start
        return DesktopRange(self, start[0], start[1], end[0], end[1])

    @property
    def used_range(self) -> DesktopRange:
        cells = [*self.values, *self.formulas] or [(1, 1)]
        return DesktopRange(self, 1, 1, max(r for r, _ in cells), max(c for _, c in cells))

    @property
    def cells(self) -> DesktopRange:
        return DesktopRange(self, 1, 1, 1_048_576, 16_384)

    def clear_contents(self) -> None:
        self.calls.append(("clear",))
        self.values.clear()
        self.formulas.clear()

    def activate(self) -> None:
        pass

    @property
    def writes(self) -> list[tuple[Any, ...]]:
        """The calls that changed something."""
        return [
            call
            for call in self.calls
            if call[0] in ("set value", "set format", "set color", "clear", "unmerge")
        ]


class DesktopSheets(list[DesktopSheet]):
    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return next(s for s in self if s.name == key)
        return super().__getitem__(key)

    def add(self, name: str, after: DesktopSheet) -> DesktopSheet:
        self.append(DesktopSheet(name, []))
        return self[-1]

    @property
    def active(self) -> DesktopSheet:
        return self[0]


class DesktopBook:
    """Just enough of a classic xlwings Book (desktop Excel) for the door's reads and writes."""

    def __init__(self, sheets: dict[str, list[list[Any]]]) -> None:
        self.sheets = DesktopSheets(DesktopSheet(name, rows) for name, rows in sheets.items())

        class Engine:
            type = "desktop"

        alerts: list[tuple[str, str]] = []

        class App:
            engine = Engine()

            def alert(self, text: str, title: str = "", mode: str = "") -> None:
                alerts.append((text, mode))

        self.app = App()
        self.alerts = alerts
        self.fullname = "book.xlsx"


def _unsorted_sessions(count: int) -> list[list[Any]]:
    """Lines alternating between November (to recode) and October (left alone)."""
    rows: list[list[Any]] = [list(SESSION_HEADER)]
    for i in range(count):
        day = dt.datetime(2026, 11 if i % 2 == 0 else 10, 1 + i % 28)
        rows.append([day, f"C{i}", "Aetna", 38, None, None, None, None, None])
    return rows


def test_desktop_recode_keeps_formulas_and_formats_of_the_cells_it_does_not_write() -> None:
    book = DesktopBook({"Sessions": _unsorted_sessions(6), "Payers": PAYERS})
    sessions = book.sheets["Sessions"]
    units = SESSION_HEADER.index("Units") + 1
    # An October line (row 3) computes its units with a formula in the owned Units column; another
    # (row 5) holds a typed value whose format the user chose.
    sessions.formulas[(3, units)] = "=CPTUNITS(D3)"
    sessions.values[(3, units)] = 3
    sessions.formats[(3, units)] = "General"
    sessions.values[(5, units)] = 3
    sessions.formats[(5, units)] = "0.0"
    door = cptbill.excel.XlwingsBook(book)
    plan, _ = core.recode(door, "2026-11", now=NOW)
    assert {r.row for r in plan.results} == {2, 4, 6}
    assert sessions.formulas == {(3, units): "=CPTUNITS(D3)"}
    assert sessions.formats[(3, units)] == "General"
    assert [sessions.values.get((r, units)) for r in range(2, 8)] == [3, 3, 3, 3, 3, None]
    # Units: one read of the formulas, then rows 2 and 4-6 (row 5 keeps its value but is in the
    # run, so it takes the column's format), each with its format and values.
    unit_calls = [call[:3] for call in sessions.calls if call[3] == units and call[0] != "value"]
    assert unit_calls == [
        ("formula", 2, 6),
        ("set format", 2, 2),
        ("set value", 2, 2),
        ("set format", 4, 6),
        ("set value", 4, 6),
    ]
    assert not any(call[0] == "set value" and call[1] <= 3 <= call[2] for call in unit_calls)
    assert not any(call[0] == "set format" and call[1] <= 3 <= call[2] for call in unit_calls)
    # The door's own record of the sheet stays what Excel holds.
    assert [row[units - 1] for row in door.read("Sessions")[1:]] == [3, 3, 3, 3, 3, None]


def test_desktop_scattered_writes_stay_a_few_calls_without_formulas_in_the_way() -> None:
    book = DesktopBook({"Sessions": _unsorted_sessions(5000), "Payers": PAYERS})
    sessions = book.sheets["Sessions"]
    door = cptbill.excel.XlwingsBook(book)
    door.read("Sessions")
    sessions.calls.clear()
    units = SESSION_HEADER.index("Units") + 1
    door.write_column("Sessions", units, {row: 3 for row in range(2, 5002, 2)}, "0")
    # One formula read, one format and one value block: not one call per line.
    assert [call[0] for call in sessions.calls] == ["formula", "set format", "set value"]
    door.write_column("Sessions", units + 1, {row: 84.0 for row in range(2, 5002)}, "0.00")
    assert [call[0] for call in sessions.calls[3:]] == ["set format", "set value"]  # one run: no read
    # A formula in the way splits the write there, and only there.
    sessions.calls.clear()
    sessions.formulas[(2001, units)] = "=CPTUNITS(D2001)"
    sessions.values[(2001, units)] = 1.0
    sessions.formats[(2001, units)] = "General"
    door.write_column("Sessions", units, {row: 4 for row in range(2, 5002, 2)}, "0")
    assert [call[0] for call in sessions.calls].count("set value") == 2
    assert len(sessions.calls) == 5
    assert sessions.formulas[(2001, units)] == "=CPTUNITS(D2001)"
    assert sessions.values[(2001, units)] == 1.0 and sessions.formats[(2001, units)] == "General"


def test_desktop_write_keeps_error_values_and_text_codes_between_the_written_rows() -> None:
    rows = [list(SESSION_HEADER), *[[None] * 9 for _ in range(4)]]
    rows[2][5] = "#N/A"  # an error typed (or pasted) in the Code column
    rows[3][5] = "97140"  # a code kept as text
    book = DesktopBook({"Sessions": rows})
    sessions = book.sheets["Sessions"]
    sessions.formats[(4, 6)] = "@"
    door = cptbill.excel.XlwingsBook(book)
    door.write_column("Sessions", 6, {2: "97124", 5: "97124"}, "@")
    assert [sessions.values.get((r, 6)) for r in range(2, 6)] == ["97124", "#N/A", "97140", "97124"]
    assert [call[:3] for call in sessions.calls if call[0] == "set value"] == [
        ("set value", 2, 2),
        ("set value", 5, 5),
    ]
    assert sessions.formats[(4, 6)] == "@" and (3, 6) not in sessions.formats


def test_office_js_recode_leaves_the_cells_it_does_not_write_alone() -> None:
    """Office.js keeps a cell sent as null (values, formulas and all): one block, nulls between."""
    sheets = {"Sessions": _unsorted_sessions(7), "Payers": PAYERS}
    data = payload(sheets, active="Sessions")
    actions = run_script(data, month="2026-11")
    units = SESSION_HEADER.index("Units")
    writes = [
        a
        for a in actions
        if a["func"] == "setValues" and a["sheet_position"] == 0 and a["start_column"] == units
    ]
    assert len(writes) == 1 and writes[0]["start_row"] == 1
    assert [row[0] for row in writes[0]["values"]] == [3, None, 3, None, 3, None, 3]
    after = apply(data, actions)
    assert [row[units] for row in after["Sessions"][1:]] == [3, "", 3, "", 3, "", 3]


CLAIMS_LIKE = ["Date", "Client", "Payer", "Code", "Days", "Units"]


def test_desktop_rows_appended_keep_the_formulas_filled_down_ahead_of_the_data() -> None:
    book = DesktopBook({"Claims": [CLAIMS_LIKE, [dt.datetime(2026, 10, 1), "Bo", "Aetna", "97124", 60, 2]]})
    claims = book.sheets["Claims"]
    for row in range(2, 8):  # a column of formulas filled down past the data, showing nothing yet
        claims.formulas[(row, 5)] = f'=IF(A{row}="","",TODAY()-A{row})'
    door = cptbill.excel.XlwingsBook(book)
    assert len(door.read("Claims")) == 2
    claims.calls.clear()
    new = [
        [dt.datetime(2026, 11, 3), "Cy", "Aetna", "97140", None, 1],
        [dt.datetime(2026, 11, 4), "Di", None, "97124", None, 3],
    ]
    door.append_rows("Claims", CLAIMS_LIKE, new)
    assert [claims.formulas.get((r, 5)) for r in (3, 4)] == [
        '=IF(A3="","",TODAY()-A3)',
        '=IF(A4="","",TODAY()-A4)',
    ]
    assert [[claims.values.get((r, c)) for c in (1, 2, 3, 4, 6)] for r in (3, 4)] == [
        [dt.datetime(2026, 11, 3), "Cy", "Aetna", "97140", 1],
        [dt.datetime(2026, 11, 4), "Di", None, "97124", 3],
    ]
    # One read of the formulas, then the columns left and right of the kept ones.
    assert [call[0] for call in claims.calls] == ["formula", "set value", "set value"]
    assert door.read("Claims")[1:] == [[dt.datetime(2026, 10, 1), "Bo", "Aetna", "97124", 60, 2], *new]
    # Without a formula in the way: one block.
    claims.calls.clear()
    door.append_rows("Claims", CLAIMS_LIKE, [[dt.datetime(2026, 11, 5), "Ed", "Aetna", "97124", 1, 2]])
    assert [call[0] for call in claims.calls] == ["formula", "set value"]


def test_office_js_rows_appended_leave_the_cells_under_their_blanks_alone() -> None:
    data = payload(
        {"Claims": [CLAIMS_LIKE, [dt.datetime(2026, 10, 1), "Bo", "Aetna", "97124", 60, 2]]}, "Claims"
    )
    book = xw.Book(json=copy.deepcopy(data))
    door = cptbill.excel.XlwingsBook(book)
    door.append_rows("Claims", CLAIMS_LIKE, [[dt.datetime(2026, 11, 3), "=Cy", None, "97140", None, 1]])
    door.append_rows("New", CLAIMS_LIKE, [[None, "Ann"]])
    writes = [a for a in book.json()["actions"] if a["func"] == "setValues"]
    assert writes[0]["start_row"] == 2
    assert writes[0]["values"] == [["2026-11-03", "'=Cy", None, "'97140", None, 1]]
    # A new sheet has nothing to keep: its blanks are written blank.
    assert writes[1]["values"] == [CLAIMS_LIKE, ["", "Ann", "", "", "", ""]]


def _fill_lines() -> list[list[Any]]:
    nov = dt.datetime(2026, 11, 3)
    return [
        list(SESSION_HEADER),
        [nov, "Ann", "Aetna", 38, None, None, None, None, None],  # the user coloured this line
        [nov, "Bob", "Nowhere", 38, None, None, None, None, None],  # UNKNOWN_PAYER
        [nov, "Cy", "Aetna", 38, None, None, None, None, "UNKNOWN_PAYER: fixed since"],  # flagged before
    ]


def test_desktop_recode_clears_only_the_fill_of_lines_it_unflags() -> None:
    book = DesktopBook({"Sessions": _fill_lines(), "Payers": PAYERS})
    sessions = book.sheets["Sessions"]
    green = "#C6EFCE"
    for column in range(1, 10):
        sessions.fills[(2, column)] = green
        sessions.fills[(4, column)] = cptbill.excel.FLAG_FILL
    core.recode(cptbill.excel.XlwingsBook(book), "2026-11", now=NOW)
    assert {sessions.fills[(2, c)] for c in range(1, 10)} == {green}
    assert {sessions.fills[(3, c)] for c in range(1, 10)} == {cptbill.excel.FLAG_FILL}
    assert {sessions.fills[(4, c)] for c in range(1, 10)} == {None}
    assert sessions.values.get((4, 9)) is None


def test_office_js_recode_clears_only_the_fill_of_lines_it_unflags() -> None:
    data = payload({"Sessions": _fill_lines(), "Payers": PAYERS}, active="Sessions")
    assert fills(run_script(data, month="2026-11"), 0) == {3: FLAG_FILL, 4: None}


# ---------------------------------------------------------------- all or nothing


def _recoded_desktop(**guarded: Bounds) -> DesktopBook:
    """Six lines (November in rows 2, 4, 6) with merged cells, array formulas or spills added."""
    book = DesktopBook({"Sessions": _unsorted_sessions(6), "Payers": PAYERS})
    sessions = book.sheets["Sessions"]
    for kind, bounds in guarded.items():
        getattr(sessions, kind.rstrip("_0123456789")).append(bounds)
        top, left, bottom, right = bounds
        if kind.startswith("arrays"):  # every cell of a legacy array formula shows its formula
            for row in range(top, bottom + 1):
                sessions.formulas[(row, left)] = "=D3:D4*2"
        if kind.startswith("spills"):  # the formula in the first cell, its results below or beside
            sessions.formulas[(top, left)] = "=SEQUENCE(3)"
            for row in range(top, bottom + 1):
                for column in range(left, right + 1):
                    sessions.values[(row, column)] = row
    return book


@pytest.mark.parametrize(
    ("kind", "bounds", "said"),
    [
        ("merged", (3, 7, 4, 7), "Sessions!G4, inside the merged cells G3:G4; unmerge them"),
        ("merged", (4, 5, 4, 6), "Sessions!F4, inside the merged cells E4:F4; unmerge them"),
        ("arrays", (5, 8, 6, 8), "Sessions!H6, in the results of an array formula (H5:H6); move the formula"),
        (
            "spills",
            (5, 7, 7, 7),
            "Sessions!G6, in the spilled results of a formula (G5:G7); move the formula",
        ),
    ],
)
def test_desktop_recode_refuses_a_cell_in_merged_cells_or_an_array_before_writing_anything(
    kind: str, bounds: Bounds, said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    book = _recoded_desktop(**{kind: bounds})
    assert cptbill.excel.recode_book(book, "2026-11") is None
    assert book.alerts == [
        (f"cptbill would write the cell {said}, and try again. Nothing was written.", "critical")
    ]
    assert [s.name for s in book.sheets] == ["Sessions", "Payers"]  # no Changes sheet either
    assert not any(sheet.writes for sheet in book.sheets)
    assert not book.sheets["Sessions"].broken
    assert "Traceback" not in capsys.readouterr().out


def test_desktop_recode_writes_a_first_merged_cell_and_keeps_out_of_spills_between_its_lines() -> None:
    # G2 (a November line) is the first of the merged G2:G3; October's row 5 holds a spill from F5.
    book = _recoded_desktop(merged=(2, 7, 3, 7), spills=(5, 6, 5, 8))
    sessions = book.sheets["Sessions"]
    plan = cptbill.excel.recode_book(book, "2026-11")
    assert plan is not None and {r.row for r in plan.results} == {2, 4, 6}
    assert book.alerts == []
    assert [sessions.values.get((r, 7)) for r in (2, 4, 6)] == [3, 3, 3]
    assert sessions.merged == [(2, 7, 3, 7)] and not sessions.broken
    assert [sessions.values.get((5, c)) for c in (6, 7, 8)] == [5, 5, 5]
    assert sessions.formulas[(5, 6)] == "=SEQUENCE(3)"


def test_desktop_guard_asks_excel_a_few_questions_per_written_column() -> None:
    book = _recoded_desktop()
    book.sheets["Sessions"].values.update(
        {(r, c): v for r, row in enumerate(_unsorted_sessions(3000), 1) for c, v in enumerate(row, 1) if v}
    )
    assert cptbill.excel.recode_book(book, "2026-11") is not None and book.alerts == []
    sessions = book.sheets["Sessions"]
    asked = [call for call in sessions.calls if call[0] in ("merge_cells", "has_array", "HasSpill")]
    columns = {call[3] for call in sessions.calls if call[0] == "set value"}
    assert len(asked) == 3 * len(columns) and len(columns) >= 3
    # Where merged cells lie in a column, halving finds them: not one question per line.
    book = _recoded_desktop(merged=(2999, 7, 3000, 7))
    book.sheets["Sessions"].values.update(
        {(r, c): v for r, row in enumerate(_unsorted_sessions(3000), 1) for c, v in enumerate(row, 1) if v}
    )
    assert cptbill.excel.recode_book(book, "2026-11") is None
    assert book.alerts[0][0].startswith("cptbill would write the cell Sessions!G3000, inside the merged")
    assert len([call for call in book.sheets["Sessions"].calls if call[0] != "value"]) < 60


def test_an_excel_error_while_writing_is_one_sentence_saying_what_was_and_was_not_written(
    capsys: pytest.CaptureFixture[str],
) -> None:
    book = _recoded_desktop()
    sessions = book.sheets["Sessions"]
    sessions.refused[8] = "Excel ran out of resources while attempting to calculate one or more formulas."
    assert cptbill.excel.recode_book(book, "2026-11") is None
    [(text, mode)] = book.alerts
    assert mode == "critical"
    assert text.startswith(
        "Excel refused to write Sessions!H2:H6 (Excel ran out of resources while attempting to calculate "
        "one or more formulas.), so cptbill stopped there: Sessions!F2:F6 and Sessions!G2:G6 were written; "
        "Sessions!H2:H6, the new sheet Changes, "
    )
    assert text.endswith(
        " were not, or only in part; fix what Excel names and run it again (it writes its cells anew)."
    )
    assert "Traceback" not in capsys.readouterr().out
    assert [s.name for s in book.sheets] == ["Sessions", "Payers"]  # it stopped before adding Changes
    assert {call[3] for call in sessions.calls if call[0] == "set value"} == {6, 7, 8}
    # Refused at the first write: nothing before it.
    book = _recoded_desktop()
    book.sheets["Sessions"].refused[6] = "Not enough memory."
    assert cptbill.excel.recode_book(book, "2026-11") is None
    assert book.alerts[0][0].startswith(
        "Excel refused to write Sessions!F2:F6 (Not enough memory.), so cptbill stopped there: nothing before it "
        "was written; Sessions!F2:F6, Sessions!G2:G6, Sessions!H2:H6, the new sheet Changes and "
    )


def test_an_unexpected_error_before_writing_is_one_sentence_without_cell_values(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(*_: Any, **__: Any) -> Any:
        raise KeyError("Ann Client")

    monkeypatch.setattr(cptbill.excel.core, "recode", broken)
    book = _recoded_desktop()
    assert cptbill.excel.recode_book(book, "2026-11") is None
    assert book.alerts == [
        (
            "cptbill stopped on an unexpected error (KeyError) before writing anything: nothing in the "
            "workbook changed. Please report it with the steps that led to it.",
            "critical",
        )
    ]
    assert "Ann" not in capsys.readouterr().out
    # In xlwings Lite too: one alert, no traceback.
    actions = run_script(payload({"Sessions": month_lines(3), "Payers": PAYERS}, active="Sessions"))
    assert [a["func"] for a in actions] == ["alert"] and "KeyError" in actions[0]["args"][0]


def test_desktop_import_era_refuses_merged_cells_where_its_rows_go(tmp_path: Path) -> None:
    folder = _drop(tmp_path / "data", "summit-paid-denied.835")
    book = DesktopBook({"Sessions": month_lines(3), "Payers": PAYERS, "Claims": CLAIMS})
    claims = book.sheets["Claims"]
    claims.merged.append((5, 1, 5, 2))  # a note merged across A5:B5 under the claims
    assert cptbill.excel.import_era_book(book, folder) is None
    assert book.alerts == [
        (
            "cptbill would write the cell Claims!B5, inside the merged cells A5:B5; unmerge them, and try "
            "again. Nothing was written.",
            "critical",
        )
    ]
    assert not any(sheet.writes for sheet in book.sheets)
    claims.merged.clear()
    assert cptbill.excel.import_era_book(book, folder) is not None
    assert book.alerts[-1][1] == "info" and claims.values.get((4, 1)) is not None


def test_desktop_report_unmerges_its_own_sheet_as_the_file_door_rebuilds_it() -> None:
    book = DesktopBook(
        {"Sessions": month_lines(6), "Payers": PAYERS, "Summary": [["Old title", None], ["x", 1], ["y", 2]]}
    )
    summary = book.sheets["Summary"]
    summary.merged.append((2, 1, 3, 1))
    assert cptbill.excel.report_book(book, "2026-11") is not None and book.alerts == []
    assert summary.merged == [] and ("unmerge", 1, 1_048_576, 1) in summary.calls
    assert summary.values[(1, 1)] != "Old title"


def test_desktop_claims_refuse_before_writing_files_or_the_claims_sheet(tmp_path: Path) -> None:
    from claims_book import claims_book

    sheets = claims_book().sheets
    book = DesktopBook(sheets)
    claims = book.sheets["Claims"]
    below = len(sheets["Claims"]) + 1
    claims.merged.append((below, 2, below + 1, 2))  # B: the Client column of the first rows added
    with pytest.raises(cptbill.excel.CptbillError, match=f"Claims!B{below + 1}, inside the merged cells"):
        cptbill.excel.run_claims(book, "2026-11", folder=tmp_path)
    assert list(tmp_path.iterdir()) == []
    assert not any(sheet.writes for sheet in book.sheets)
    claims.merged.clear()
    submission = cptbill.excel.run_claims(book, "2026-11", folder=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(submission.files)
    assert claims.values.get((below, 1)) is not None
