"""Sessions typed the way people type them: text dates, Lock words, other headers, minutes, payer typos."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cptbill.book import MemoryBook, check, load, recode
from cptbill.contract import Flag
from cptbill.errors import CptbillError
from cptbill.schema import (
    DMY,
    MDY,
    column_index,
    parse_date,
    parse_minutes,
    parse_sessions,
    parse_settings,
    read_date,
)
from helpers import PAYER_HEADER

NOW = dt.datetime(2026, 11, 30, 9)
TODAY = dt.date(2026, 11, 30)
HEADER = ["Date", "Client", "Payer", "Minutes", "Code", "Units", "Expected", "Flags"]


def sessions(*dates: Any, header: list[str] = HEADER, today: dt.date = TODAY, order: str = MDY) -> list[Any]:
    rows = [header, *([date, f"C{i}", "Aetna", 30] for i, date in enumerate(dates))]
    return parse_sessions("S", rows, date_order=order, today=today)


def flags(line: Any) -> set[Flag]:
    return {note.flag for note in (*line.problems, *line.notes)}


def book(rows: list[list[Any]], order: str | None = None, header: list[str] = HEADER) -> MemoryBook:
    sheets: dict[str, list[list[Any]]] = {
        "Sessions": [header, *rows],
        "Payers": [PAYER_HEADER, ["Aetna", "", "", 30, 32, None, "", None]],
    }
    if order is not None:
        sheets["Settings"] = [["Setting", "Value"], ["Date order", order]]
    return MemoryBook(sheets)


# --- Text dates follow the Date order -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "order", "date", "other"),
    [
        ("11/04/2026", MDY, dt.date(2026, 11, 4), dt.date(2026, 4, 11)),
        ("11/04/2026", DMY, dt.date(2026, 4, 11), dt.date(2026, 11, 4)),
        ("04/11/2026", DMY, dt.date(2026, 11, 4), dt.date(2026, 4, 11)),
        ("4.11.26", DMY, dt.date(2026, 11, 4), dt.date(2026, 4, 11)),
        ("11-04-2026", MDY, dt.date(2026, 11, 4), dt.date(2026, 4, 11)),
        ("11/24/2026", MDY, dt.date(2026, 11, 24), None),  # 24 cannot be a month: one reading
        ("24/11/2026", DMY, dt.date(2026, 11, 24), None),
        ("11/11/2026", MDY, dt.date(2026, 11, 11), None),  # both readings are the same day
        ("2026-04-11", DMY, dt.date(2026, 4, 11), None),  # ISO always works
        ("2026-04-11", MDY, dt.date(2026, 4, 11), None),
        ("2026/4/11", DMY, dt.date(2026, 4, 11), None),
        ("Nov 4, 2026", DMY, dt.date(2026, 11, 4), None),
        ("4 November 2026", MDY, dt.date(2026, 11, 4), None),
    ],
)
def test_text_dates_follow_the_date_order(
    text: str, order: str, date: dt.date, other: dt.date | None
) -> None:
    assert read_date(text, order) == (date, other)
    assert parse_date(text, order) == date


@pytest.mark.parametrize(("text", "order"), [("24/11/2026", MDY), ("11/24/2026", DMY), ("13/13/2026", DMY)])
def test_a_date_impossible_in_the_date_order_is_bad_and_says_what_to_do(text: str, order: str) -> None:
    with pytest.raises(ValueError):
        parse_date(text, order)
    (line,) = sessions(text, order=order)
    assert flags(line) == {Flag.BAD_DATE}
    assert "YYYY-MM-DD" in line.problems[0].note and "Settings" in line.problems[0].note


@pytest.mark.parametrize(
    ("value", "order"),
    [("MDY", MDY), ("dmy", DMY), ("D/M/Y", DMY), ("dd/mm/yyyy", DMY), ("month/day/year", MDY), ("US", MDY)],
)
def test_settings_date_order(value: str, order: str) -> None:
    settings, warnings = parse_settings([["Setting", "Value"], ["Date order", value]])
    assert (settings.date_order, warnings) == (order, [])


def test_a_bad_date_order_warns_and_keeps_mdy() -> None:
    settings, warnings = parse_settings([["Setting", "Value"], ["Date order", "YMD"]])
    assert settings.date_order == MDY and warnings == [
        "Settings: Date order must be MDY or DMY; MDY is used."
    ]


def test_an_ambiguous_text_date_is_flagged_and_in_scope_for_either_month() -> None:
    rows = [["04/11/2026", "Ann", "Aetna", 30], ["11/24/2026", "Bo", "Aetna", 30]]
    for month in ("2026-04", "2026-11"):
        plan, _ = check(book(rows), month)
        by_row = {r.row: r for r in plan.results}
        assert 2 in by_row, month  # April 11 (MDY) or 4 November: either month takes it
        assert by_row[2].flags_text.startswith("AMBIGUOUS_DATE: '04/11/2026' reads as 2026-04-11")
        assert by_row[2].code is not None and by_row[2].units == 2  # still coded
    assert [r.row for r in check(book(rows), "2026-04")[0].results] == [2]
    assert [r.row for r in check(book(rows), "2026-12")[0].results] == []
    # With Date order DMY the same text is 4 November, still flagged; 11/24 is then not a date.
    loaded = load(book(rows, order="DMY"))
    assert [ln.date for ln in loaded.lines] == [dt.date(2026, 11, 4), None]
    assert flags(loaded.lines[0]) == {Flag.AMBIGUOUS_DATE} and flags(loaded.lines[1]) == {Flag.BAD_DATE}


def test_recode_writes_the_ambiguous_flag_and_the_changes_log_keeps_the_date_read() -> None:
    memory = book([["04/11/2026", "Ann", "Aetna", 30]])
    plan, _ = recode(memory, "2026-11", now=NOW)
    assert plan.flag_counts() == {"AMBIGUOUS_DATE": 1}
    assert memory.sheets["Sessions"][1][4:8] == [
        "97124",
        2,
        60.0,
        plan.results[0].flags_text,
    ]  # blank: massage


# --- Dates in the future or far from the others ---------------------------------------------------


def test_a_future_date_is_odd_and_stays_in_scope() -> None:
    lines = sessions(dt.date(2026, 11, 3), dt.date(2027, 11, 3), "2026-12-01", today=TODAY)
    assert [flags(line) for line in lines] == [set(), {Flag.ODD_DATE}, {Flag.ODD_DATE}]
    assert "in the future" in lines[1].notes[0].note
    assert flags(sessions("2026-11-30", today=TODAY)[0]) == set()  # today is not the future


def test_a_date_far_before_the_rest_of_its_sheet_is_odd() -> None:
    november = [dt.date(2026, 11, day) for day in range(1, 20)]
    lines = sessions(*november, dt.date(2016, 11, 5), dt.date(2025, 5, 1), today=TODAY)
    odd = [line.date for line in lines if Flag.ODD_DATE in flags(line)]
    assert odd == [dt.date(2016, 11, 5)]  # 2025-05-01 is 18 months and a day before: not odd
    assert "more than 18 months before" in lines[-2].notes[0].note
    # A long history without a gap has nothing odd, however old.
    monthly = [dt.date(2020 + m // 12, m % 12 + 1, 3) for m in range(80)]
    assert not any(Flag.ODD_DATE in flags(line) for line in sessions(*monthly, today=TODAY))
    # Most lines before the gap: the sheet is simply old, and the few late ones are not "before".
    assert not any(
        Flag.ODD_DATE in flags(line)
        for line in sessions(*[dt.date(2016, 5, d) for d in range(1, 9)], dt.date(2026, 5, 1), today=TODAY)
    )


def test_an_odd_date_line_is_recoded_with_its_flag() -> None:
    rows = [[dt.date(2026, 11, d), f"C{d}", "Aetna", 30] for d in range(1, 6)]
    rows.append([dt.date(2016, 11, 3), "Typo", "Aetna", 30])
    memory = book(rows)
    plan, _ = recode(memory, None, now=NOW)
    last = plan.results[-1]
    assert (last.code, last.units) == ("97124", 2)  # a blank Service is massage
    assert [f.flag for f in last.flags] == [Flag.ODD_DATE]
    assert check(memory, "2016-11")[0].lines == 1
    # The wrong year does not vanish from the month's run: the line is in every month's scope.
    november, _ = check(memory, "2026-11")
    assert [r.row for r in november.results] == [2, 3, 4, 5, 6, 7]
    assert november.flag_counts() == {"ODD_DATE": 1}
    assert check(memory, "2026-10")[0].lines == 0  # another month of the year: not that line's run
    # A future date in another month (next month's appointments) stays out of this month's run.
    today = dt.date.today()  # book() reads with the clock's today
    later = today + dt.timedelta(days=40)
    ahead = book([[today, "A", "Aetna", 30], [later, "B", "Aetna", 30]])
    assert [r.row for r in check(ahead, f"{today:%Y-%m}")[0].results] == [2]
    assert check(ahead, f"{later:%Y-%m}")[0].flag_counts() == {"ODD_DATE": 1}


# --- Lock -------------------------------------------------------------------------------------


def test_lock_no_false_0_are_recoded_and_yes_x_true_1_kept() -> None:
    header = [*HEADER[:4], "Lock", *HEADER[4:]]
    words = ["no", "FALSE", "0", "", "yes", "X", "True", "1"]
    rows = [["2026-11-03", f"C{i}", "Aetna", 30, word, "97124", 5] for i, word in enumerate(words)]
    memory = book(rows, header=header)
    recode(memory, "2026-11", now=NOW)
    kept = [row[5:7] for row in memory.sheets["Sessions"][1:]]
    assert kept == [["97124", 2]] * 4 + [["97124", 5]] * 4  # recoded (blank Service: massage) or kept


# --- Headers people already use -------------------------------------------------------------------


def test_common_headers_are_read_as_the_contract_columns() -> None:
    header = ["DOS", "Patient", "Insurance", "Duration", "CPT", "Modifier", "Notes"]
    index = column_index(header)
    found = [index[k] for k in ("date", "client", "payer", "minutes", "code", "modifiers")]
    assert found == [0, 1, 2, 3, 4, 5]
    # The contract's own header wins over an alias, wherever it is.
    assert column_index(["Time", "Client", "Minutes"])["minutes"] == 2
    assert column_index(["Date of service", "Insurer", "Mins"])["payer"] == 1
    assert column_index(["Plan", "Time"]) == {"plan": 0, "time": 1, "payer": 0, "minutes": 1}


def test_a_sheet_with_common_headers_is_recoded_into_its_cpt_column() -> None:
    header = ["Date of service", "Patient", "Insurer", "Mins", "CPT", "Notes"]
    memory = book([["2026-11-03", "Ann", "Aetna", "45 min", None, "note"]], header=header)
    recode(memory, "2026-11", now=NOW)
    rows = memory.sheets["Sessions"]
    assert rows[0][:6] == header and rows[0][6:] == ["Units", "Expected", "Flags"]
    assert rows[1][4:8] == ["97124", "note", 3, 90.0]  # a blank Service is massage


def test_no_session_sheet_lists_the_headers_found_and_missing() -> None:
    memory = MemoryBook(
        {"Visits": [["Date", "Client name", "Carrier", "Notes"], ["2026-11-03", "Ann", "A", ""]]}
    )
    with pytest.raises(CptbillError) as info:
        load(memory)
    message = str(info.value)
    assert "The sheet 'Visits' has Date, Client name, Carrier, Notes; it lacks Payer and Minutes" in message
    assert "Ann" not in message
    # A sheet whose row 1 matches nothing may hold data in row 1: not quoted.
    with pytest.raises(CptbillError) as info:
        load(MemoryBook({"Sheet1": [["Ann Smith", "x"]]}))
    assert "Ann" not in str(info.value) and "Date, Client, Payer and Minutes" in str(info.value)


# --- Minutes --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "minutes"),
    [
        ("60 min", 60), ("60m", 60), ("60 mins", 60), ("90 minutes", 90), ("1h", 60), ("1 hr", 60),
        ("1:00", 60), ("0:45", 45), ("1.5 h", 90), ("1h30", 90), ("1h 30m", 90), (" 45 MIN ", 45),
        (dt.time(1, 15), 75), (dt.timedelta(minutes=50), 50), ("45", 45), (30, 30),
    ],
)  # fmt: skip
def test_minutes_as_people_type_them(typed: Any, minutes: float) -> None:
    assert parse_minutes(typed) == minutes
    (line,) = parse_sessions("S", [HEADER[:4], ["2026-11-03", "A", "P", typed]], today=TODAY)
    assert (line.minutes, line.problems) == (minutes, ())


@pytest.mark.parametrize("typed", ["an hour", "1:75", "h", "min", "60 min 1h", dt.time(9, 30)])
def test_unreadable_minutes_say_what_to_type(typed: Any) -> None:
    (line,) = parse_sessions("S", [HEADER[:4], ["2026-11-03", "A", "P", typed]], today=TODAY)
    assert [p.flag for p in line.problems] == [Flag.BAD_MINUTES]
    assert "type the minutes, e.g. 60" in line.problems[0].note


@given(st.integers(0, 600))
def test_minutes_with_units_read_as_the_number(minutes: int) -> None:
    assert parse_minutes(f"{minutes} min") == parse_minutes(f"{minutes}m") == parse_minutes(str(minutes))
    assert parse_minutes(f"{minutes // 60}:{minutes % 60:02d}") == minutes


# --- Unknown payers ---------------------------------------------------------------------------------


def test_an_unknown_payer_names_the_closest_payers() -> None:
    memory = MemoryBook(
        {
            "Sessions": [
                HEADER,
                ["2026-11-03", "A", "Blue Cros PPO", 30],
                ["2026-11-03", "B", "Pinecrest", 30],
            ],
            "Payers": [PAYER_HEADER, ["Blue Cross PPO"], ["Aetna"], ["Harbor Health PPO"]],
        }
    )
    plan, _ = check(memory)
    notes = [r.flags_text for r in plan.results]
    assert (
        notes[0] == "UNKNOWN_PAYER: 'Blue Cros PPO' is not on the Payers sheet, did you mean Blue Cross PPO?"
    )
    assert notes[1] == (
        "UNKNOWN_PAYER: 'Pinecrest' is not on the Payers sheet, add it there (or leave Payer blank for self-pay)"
    )


@pytest.mark.parametrize("cell", [None, "", "  "])
def test_missing_date_and_minutes_say_what_to_type(cell: Any) -> None:
    (line,) = parse_sessions("S", [HEADER[:4], [cell, "A", "P", cell]], today=TODAY)
    notes = {p.flag: p.note for p in line.problems}
    assert notes[Flag.BAD_DATE] == "date missing, type the date of the session (e.g. 2026-11-03)"
    assert notes[Flag.BAD_MINUTES] == "minutes missing, type the treatment minutes (e.g. 60)"


# --- Random books typed the way people type: a check reports what the recode then writes ----------

TEXT_DATES = st.sampled_from(
    ["11/04/2026", "04/11/2026", "11/24/2026", "24/11/2026", "2026-11-05", "Nov 6, 2026", "11/05/2016", "x"]
)
TYPED_MINUTES = st.sampled_from([30, "45 min", "1h", "1:00", "1.5 h", "60m", "an hour", None, 7])
LOCKS = st.sampled_from([None, "", "no", "FALSE", "0", "yes", "X", "true", "1"])


@st.composite
def typed_books(draw: st.DrawFn) -> tuple[MemoryBook, str, str | None]:
    header = ["DOS", "Patient", "Insurance", "Duration", "Lock", "CPT", "Units", "Expected", "Flags"]
    rows = [
        [
            draw(TEXT_DATES | st.dates(dt.date(2026, 10, 1), dt.date(2026, 11, 30))),
            draw(st.sampled_from(["Ann", "Bo", "Cy"])),
            draw(st.sampled_from(["Aetna", "aetna ", "Aetan", None])),
            draw(TYPED_MINUTES),
            draw(LOCKS),
            draw(st.sampled_from([None, "97124", "97140"])),
            draw(st.sampled_from([None, 1, 3])),
            None,
            None,
        ]
        for _ in range(draw(st.integers(1, 10)))
    ]
    order = draw(st.sampled_from(["MDY", "DMY"]))
    return book(rows, order=order, header=header), order, draw(st.sampled_from([None, "2026-11", "2026-04"]))


@settings(max_examples=120, deadline=None)
@given(case=typed_books())
def test_random_typed_books_check_equals_recode(case: tuple[MemoryBook, str, str | None]) -> None:
    memory, order, month = case
    loaded = load(memory)
    assert loaded.settings.date_order == order
    checked, _ = check(memory, month)
    plan, _ = recode(memory, month, now=NOW)
    assert checked.summary() == plan.summary()
    assert [(r.row, r.code, r.units, r.expected, r.flags_text) for r in checked.results] == [
        (r.row, r.code, r.units, r.expected, r.flags_text) for r in plan.results
    ]
    # In scope: billed lines whose date (either reading of an ambiguous one) is in the month, lines
    # without a readable date, and odd dates in that month of another year.
    for line in loaded.lines:
        readings = [d for d in (line.date, line.other_date) if d is not None]
        odd = any(n.flag is Flag.ODD_DATE for n in line.notes)
        wanted = not line.self_pay and (
            month is None
            or not readings
            or any(f"{d:%Y-%m}" == month for d in readings)
            or (odd and f"{line.date:%m}" == month[5:])
        )
        assert (line.row in {r.row for r in plan.results}) == wanted, line
        assert (line.other_date is not None) == any(n.flag is Flag.AMBIGUOUS_DATE for n in line.notes)
    again, _ = recode(memory, month, now=NOW)
    assert again.changed == 0 and not again.changes
