"""The pure recode and check, through MemoryBook: contract scenarios and properties on random sessions."""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cptbill.book import MemoryBook, check, recode
from cptbill.codes import HOT_COLD_PACK, MASSAGE_FAMILY
from cptbill.coding import documented_code
from cptbill.contract import Flag, name_key
from cptbill.models import Line, Payer, Plan, Settings, count_flags, money
from cptbill.plan import is_either, make_plan
from cptbill.schema import column_index, parse_sessions
from cptbill.units import Rule, table_units
from helpers import PAYER_HEADER, SESSION_HEADER

#: The session header with the optional Modifiers column last (the `line` helper's order).
HEADER = [*SESSION_HEADER, "Modifiers"]

NOW = dt.datetime(2026, 12, 1, 9, 30)
DAY = "2026-11-03"


def payer(
    name: str,
    accepts: str = "",
    preferred: str = "",
    r124: Any = 30,
    r140: Any = 32,
    r010: Any = None,
    rule: str = "",
    cap: Any = None,
) -> list[Any]:
    return [name, accepts, preferred, r124, r140, r010, rule, cap]


def line(
    minutes: Any = 30,
    payer: Any = "Aetna",
    client: str = "Ann",
    date: Any = DAY,
    service: Any = None,
    visit: Any = None,
    lock: Any = None,
    code: Any = None,
    units: Any = None,
    expected: Any = None,
    flags: Any = None,
    modifiers: Any = None,
) -> list[Any]:
    return [date, client, payer, minutes, service, visit, lock, code, units, expected, flags, modifiers]


def book_of(
    lines: list[list[Any]],
    payers: list[list[Any]] | None = None,
    defaults: dict[str, Any] | None = None,
    sheet: str = "Sessions",
) -> MemoryBook:
    sheets: dict[str, list[list[Any]]] = {sheet: [HEADER, *lines]}
    sheets["Payers"] = [PAYER_HEADER, *(payers if payers is not None else [payer("Aetna")])]
    if defaults:
        sheets["Settings"] = [["Setting", "Value"], *([k, v] for k, v in defaults.items())]
    return MemoryBook(sheets)


def column(book: MemoryBook, name: str, sheet: str = "Sessions") -> list[Any]:
    rows = book.sheets[sheet]
    i = column_index(rows[0])[name.lower()]
    return [row[i] if i < len(row) else None for row in rows[1:]]


def flag_ids(text: Any) -> set[str]:
    if not text:
        return set()
    return {part.split(":", 1)[0].strip() for part in str(text).split("; ")}


def cents(value: Any) -> str:
    """An Expected cell as text with two decimals; it must hold whole cents, nothing finer."""
    amount = Decimal(str(value))
    assert amount == amount.quantize(Decimal("0.01")), f"Expected {value} is not rounded to cents"
    return f"{amount:.2f}"


def outcome(book: MemoryBook, sheet: str = "Sessions") -> list[tuple[Any, Any, Any, set[str]]]:
    """(Code, Units, Expected as text, flag ids) of each line as the sheet now holds them."""
    money_text = [None if e is None else cents(e) for e in column(book, "Expected", sheet)]
    return list(
        zip(
            column(book, "Code", sheet),
            column(book, "Units", sheet),
            money_text,
            [flag_ids(f) for f in column(book, "Flags", sheet)],
            strict=True,
        )
    )


def changes_rows(book: MemoryBook) -> list[list[Any]]:
    return book.sheets.get("Changes", [])[1:]


# --- `either` scenarios: (id, payers, settings, lines, month, expected outcome per line) ---
# Run with the Settings value `Blank service` = either: blank services are `either`, so payer rules
# choose the massage code, exactly as before the Service column decided the code.

SCENARIOS: list[
    tuple[str, list[list[Any]], dict[str, Any] | None, list[list[Any]], str | None, list[Any]]
] = [
    (
        "payer accepts one code",
        [payer("Aetna", accepts="97124", preferred="97140")],
        None,
        [line(30)],
        None,
        [("97124", 2, "60.00", set())],
    ),
    (
        "payer with a preferred code",
        [payer("Aetna", accepts="97124, 97140", preferred="97124")],
        None,
        [line(38)],
        None,
        [("97124", 3, "90.00", set())],
    ),
    ("default code", [payer("Aetna")], None, [line(38)], None, [("97140", 3, "96.00", set())]),
    (
        "default code from Settings",
        [payer("Aetna")],
        {"Default code": "97124"},
        [line(38)],
        None,
        [("97124", 3, "90.00", set())],
    ),
    (
        "split visit: 40 + 13 minutes = 4 units as 3 + 1",
        [payer("Aetna")],
        None,
        [line(40), line(13)],
        None,
        [("97140", 3, "96.00", set()), ("97140", 1, "32.00", set())],
    ),
    (
        "split visit: 6 + 7 + 7 minutes pool to 1 unit, tie to the earlier line",
        [payer("Aetna")],
        None,
        [line(6), line(7), line(7)],
        None,
        [
            ("97140", 0, "0.00", set()),
            ("97140", 1, "32.00", {"DUPLICATE"}),
            ("97140", 0, "0.00", {"DUPLICATE"}),
        ],
    ),
    (
        "split visit: leftover unit to the line with the most leftover minutes",
        [payer("Aetna")],
        None,
        [line(20), line(24)],
        None,
        [("97140", 1, "32.00", set()), ("97140", 2, "64.00", set())],
    ),
    (
        "97010 paid; its minutes do not count",
        [payer("Aetna", r010=12.5)],
        None,
        [line(30), line(20, service="hot pack")],
        None,
        [("97140", 2, "64.00", set()), ("97010", 1, "12.50", set())],
    ),
    (
        "97010 not paid (rate 0); a second pack line gets 0 units",
        [payer("Aetna", r010=0)],
        None,
        [line(30), line(10, service="hot/cold pack"), line(None, service="cold pack")],
        None,
        [("97140", 2, "64.00", set()), ("97010", 1, "0.00", {"NOT_PAID"}), ("97010", 0, "0.00", set())],
    ),
    (
        "97010 alone with 7 minutes is still one unit and not under 8 minutes",
        [payer("Aetna", r010=5)],
        None,
        [line(7, service="97010")],
        None,
        [("97010", 1, "5.00", set())],
    ),
    (
        "too-short visit",
        [payer("Aetna")],
        None,
        [line(7)],
        None,
        [("97140", 0, "0.00", {"UNDER_8_MIN"})],
    ),
    (
        "too-short visit: 7 minutes of massage plus a hot pack",
        [payer("Aetna", r010=5)],
        None,
        [line(7), line(20, service="hot pack")],
        None,
        [("97140", 0, "0.00", {"UNDER_8_MIN"}), ("97010", 1, "5.00", set())],
    ),
    (
        "unit cap",
        [payer("Aetna", cap=2)],
        None,
        [line(45), line(15)],
        None,
        [("97140", 2, "64.00", {"OVER_CAP"}), ("97140", 0, "0.00", {"OVER_CAP"})],
    ),
    (
        "cap not reached",
        [payer("Aetna", cap=4)],
        None,
        [line(60)],
        None,
        [("97140", 4, "128.00", set())],
    ),
    (
        "unknown payer: default code and rule, no Expected",
        [payer("Aetna", rule="AMA")],
        {"Default code": "97124"},
        [line(38, payer="Nobody Insurance")],
        None,
        [("97124", 3, None, {"UNKNOWN_PAYER"})],
    ),
    (
        "payer names match ignoring case and spaces",
        [payer("Blue Cross", accepts="97124")],
        None,
        [line(30, payer="  blue   CROSS ")],
        None,
        [("97124", 2, "60.00", set())],
    ),
    (
        "missing rate",
        [payer("Aetna", r140=None)],
        None,
        [line(30)],
        None,
        [("97140", 2, None, {"NO_RATE"})],
    ),
    (
        "missing rate for 97010",
        [payer("Aetna", r010=None)],
        None,
        [line(30), line(5, service="hot pack")],
        None,
        [("97140", 2, "64.00", set()), ("97010", 1, None, {"NO_RATE"})],
    ),
    (
        "massage rate 0",
        [payer("Aetna", r140=0)],
        None,
        [line(30)],
        None,
        [("97140", 2, "0.00", {"NOT_PAID"})],
    ),
    (
        "locked line with a code the payer does not accept; units agree with the rule",
        [payer("Aetna", accepts="97140")],
        None,
        [line(30, lock="x", code="97124", units=2), line(15)],
        None,
        [("97124", 2, "60.00", {"NOT_ACCEPTED"}), ("97124", 1, "30.00", {"NOT_ACCEPTED"})],
    ),
    (
        "locked line whose units disagree with the rule",
        [payer("Aetna", accepts="97140")],
        None,
        [line(30, lock="yes", code="97124", units=1), line(31)],
        None,
        [("97124", 1, "30.00", {"NOT_ACCEPTED", "UNITS_MISMATCH"}), ("97124", 3, "90.00", {"NOT_ACCEPTED"})],
    ),
    (
        "locked line keeps its units even over the rule; others share what is left",
        [payer("Aetna")],
        None,
        [line(30, lock="x", code="97140", units=5), line(31)],
        None,
        [("97140", 5, "160.00", {"UNITS_MISMATCH"}), ("97140", 0, "0.00", set())],
    ),
    (
        "AMA payer with two locked lines of different codes: each code counted on its own",
        [payer("Aetna", preferred="97140", rule="AMA")],
        None,
        [
            line(21, lock="x", code="97124", units=1),
            line(8, lock="x", code="97140", units=1),
            line(20),
        ],
        None,
        [
            ("97124", 1, "30.00", {"MIXED_CODES", "UNITS_MISMATCH"}),
            ("97140", 1, "32.00", {"MIXED_CODES"}),
            ("97124", 2, "60.00", {"MIXED_CODES"}),
        ],
    ),
    (
        "CMS payer with the same two locked lines: minutes pooled",
        [payer("Aetna", preferred="97140", rule="CMS")],
        None,
        [
            line(21, lock="x", code="97124", units=1),
            line(8, lock="x", code="97140", units=1),
            line(20),
        ],
        None,
        [
            ("97124", 1, "30.00", {"MIXED_CODES", "UNITS_MISMATCH"}),
            ("97140", 1, "32.00", {"MIXED_CODES", "UNITS_MISMATCH"}),
            ("97124", 1, "30.00", {"MIXED_CODES"}),
        ],
    ),
    (
        "AMA payer with a locked line of another code than its Preferred",
        [payer("Aetna", preferred="97140", rule="AMA")],
        None,
        [line(20, lock="x", code="97124", units=2), line(21)],
        None,
        [("97124", 2, "60.00", {"UNITS_MISMATCH"}), ("97124", 1, "30.00", set())],
    ),
    (
        "duplicate lines are all flagged",
        [payer("Aetna")],
        None,
        [line(30), line(30), line(30), line(30, client="Bob")],
        None,
        [
            ("97140", 2, "64.00", {"DUPLICATE"}),
            ("97140", 2, "64.00", {"DUPLICATE"}),
            ("97140", 2, "64.00", {"DUPLICATE"}),
            ("97140", 2, "64.00", set()),
        ],
    ),
    (
        "bad minutes and bad dates: flagged, Code and Units left as they were",
        [payer("Aetna")],
        None,
        [
            line("abc", code="97124", units=5, expected=150),
            line(None, client="Bob"),
            line(-5, client="Cy", code="97124", units=1),
            line(700, client="Dee"),
            line(30, client="Eve", date="next Tuesday", code="97124", units=2),
            line(30, client="Fay", date=None),
            line(30, client="Gus", service="reflexology", code="97124", units=2),
        ],
        "2026-11",
        [
            ("97124", 5, "150.00", {"BAD_MINUTES"}),
            (None, None, None, {"BAD_MINUTES"}),
            ("97124", 1, None, {"BAD_MINUTES"}),
            (None, None, None, {"BAD_MINUTES"}),
            ("97124", 2, None, {"BAD_DATE"}),
            (None, None, None, {"BAD_DATE"}),
            ("97124", 2, None, {"BAD_SERVICE"}),
        ],
    ),
    (
        "a bad line does not count toward its visit",
        [payer("Aetna")],
        None,
        [line(30), line("x")],
        None,
        [("97140", 2, "64.00", set()), (None, None, None, {"BAD_MINUTES"})],
    ),
    (
        "self-pay lines untouched",
        [payer("Aetna")],
        None,
        [line(30, payer=None, code="old", units="kept", flags="mine"), line(30, payer="  ")],
        None,
        [("old", "kept", None, {"mine"}), (None, None, None, set())],
    ),
    (
        "lines outside the month untouched",
        [payer("Aetna")],
        None,
        [
            line(30, date="2026-10-31", code="97124", units=9, flags="old"),
            line(30, date=dt.date(2026, 11, 30)),
            line(30, date=dt.datetime(2026, 12, 1, 8, 0), units=1),
        ],
        "2026-11",
        [("97124", 9, None, {"old"}), ("97140", 2, "64.00", set()), (None, 1, None, set())],
    ),
    (
        "Visit column splits one day's lines into two appointments",
        [payer("Aetna")],
        None,
        [line(20, visit="AM"), line(21, visit="PM"), line(22, visit="PM"), line(23)],
        None,
        [
            ("97140", 1, "32.00", set()),
            ("97140", 1, "32.00", set()),
            ("97140", 2, "64.00", set()),
            ("97140", 2, "64.00", set()),
        ],
    ),
    (
        "Visit ids reused on other days and by other clients stay separate appointments",
        [payer("Aetna")],
        None,
        [line(20, visit=1), line(20, visit=1, date="2026-11-04"), line(20, visit=1, client="Bob")],
        None,
        [("97140", 1, "32.00", set()), ("97140", 1, "32.00", set()), ("97140", 1, "32.00", set())],
    ),
    (
        "same client and day with two payers: two visits",
        [payer("Aetna"), payer("Blue", accepts="97124")],
        None,
        [line(20), line(20, payer="Blue")],
        None,
        [("97140", 1, "32.00", set()), ("97124", 1, "30.00", set())],
    ),
    (
        "AMA and CMS agree for one code: lines of a visit pool their minutes",
        [payer("Aetna", rule="AMA")],
        None,
        [line(8), line(9)],
        None,
        [("97140", 0, "0.00", set()), ("97140", 1, "32.00", set())],
    ),
    (
        "rounding to cents, halves up",
        [payer("Aetna", r140="29.765")],
        None,
        [line(15)],
        None,
        [("97140", 1, "29.77", set())],
    ),
]


@pytest.mark.parametrize(
    ("payers", "defaults", "lines", "month", "expected"),
    [s[1:] for s in SCENARIOS],
    ids=[s[0] for s in SCENARIOS],
)
def test_scenario(
    payers: list[list[Any]],
    defaults: dict[str, Any] | None,
    lines: list[list[Any]],
    month: str | None,
    expected: list[Any],
) -> None:
    book = book_of(lines, payers, {"Blank service": "either", **(defaults or {})})
    before_check, _ = check(book, month)
    plan, _ = recode(book, month, now=NOW)
    assert outcome(book) == expected
    # A check before the recode counts exactly the lines the recode changed.
    assert before_check.changed == plan.changed
    # Recoding again changes nothing and logs nothing.
    logged = len(changes_rows(book))
    again, _ = recode(book, month, now=NOW)
    assert again.changed == 0 and not again.changes and again.filled == 0
    assert outcome(book) == expected
    assert len(changes_rows(book)) == logged
    # A check after the recode reports the flags the recode wrote, and nothing to change.
    after, _ = check(book, month)
    assert after.changed == 0
    assert [r.flags_text for r in after.results] == [r.flags_text for r in plan.results]


def test_either_mixed_visit_check_flags_it_and_recode_unifies_and_logs() -> None:
    # `either` lines share one code per visit (the old behaviour; documented services never do).
    book = book_of(
        [
            line(30, code="97124", units=2, expected=60),
            line(15, code="97140", units=1, expected=32),
            line(30, client="Bob"),
        ],
        [payer("Aetna", accepts="97140")],
        {"Blank service": "either"},
    )
    before, _ = check(book, "2026-11")
    # As the sheet stands, the typed codes mix; what the recode would write does not.
    assert [flag_ids(r.flags_text) for r in before.standing] == [
        {"MIXED_CODES", "NOT_ACCEPTED"},
        {"MIXED_CODES"},
        set(),
    ]
    assert count_flags(before.standing) == {"MIXED_CODES": 2, "NOT_ACCEPTED": 1}
    assert before.flag_counts() == {}
    assert before.expected_total == Decimal("160.00")
    assert book.sheets["Sessions"][1][7] == "97124"  # a check writes nothing
    assert "Changes" not in book.sheets

    plan, _ = recode(book, "2026-11", now=NOW)
    assert outcome(book) == [
        ("97140", 2, "64.00", set()),
        ("97140", 1, "32.00", set()),
        ("97140", 2, "64.00", set()),
    ]
    assert "MIXED_CODES" not in plan.flag_counts()
    assert plan.changed == before.changed == 2  # the 97140 line already held what the recode gives
    rows = changes_rows(book)
    assert book.sheets["Changes"][0] == ["When", "Sheet", "Row", "Client", "Date", "Before", "After", "Why"]
    assert len(rows) == 2  # one overwritten line, one "filled" row
    when, sheet, row, client, date, before_text, after_text, why = rows[0]
    assert (when, sheet, row, client, date) == (NOW, "Sessions", 2, "Ann", dt.date(2026, 11, 3))
    assert (before_text, after_text) == ("97124 x 2 = 60.00", "97140 x 2 = 64.00")
    assert "97140" in why and "Aetna" in why
    assert rows[1][6] == "filled 1 lines" and "2026-11" in rows[1][7]

    again, _ = recode(book, "2026-11", now=NOW)
    assert again.changed == 0
    assert len(changes_rows(book)) == 2


def test_changes_log_one_row_per_overwritten_line_and_one_filled_row() -> None:
    book = book_of(
        [
            line(30, code="97124", units=2),  # overwritten code
            line(45, client="Bob", code="97140", units=2, expected=64),  # overwritten units and expected
            line(30, client="Cy"),  # filled
            line(30, client="Dee", code="97140"),  # filled (units, expected)
            line(30, client="Eve", code="97140", units=2, expected=64),  # nothing to do
            line(30, client="Fay", flags="stale note"),  # flags only: filled cells, flags replaced
        ],
        [payer("Aetna", accepts="97140")],
        {"Blank service": "either"},
    )
    plan, _ = recode(book, now=NOW)
    rows = changes_rows(book)
    logged = [(r[2], r[5], r[6]) for r in rows[:-1]]
    assert logged == [(2, "97124 x 2", "97140 x 2 = 64.00"), (3, "97140 x 2 = 64.00", "97140 x 3 = 96.00")]
    assert rows[-1][6] == "filled 3 lines" and rows[-1][7] == "recode of all months"
    assert plan.filled == 3 and len(plan.changes) == 2
    assert plan.changed == 5
    assert column(book, "Flags")[5] is None


def test_nothing_to_fill_or_change_adds_no_changes_sheet() -> None:
    book = book_of([line(30, code="97124", units=2, expected=60)])
    plan, _ = recode(book, now=NOW)
    assert plan.changed == 0
    assert "Changes" not in book.sheets


def test_sheet_option_on_a_month_sheet() -> None:
    book = MemoryBook(
        {
            "2026-10": [HEADER, line(30, date="2026-10-02")],
            "2026-11": [HEADER, line(30), line(7, client="Bob")],
            "Payers": [PAYER_HEADER, payer("Aetna")],
        }
    )
    plan, _ = recode(book, sheet="2026-11", now=NOW)
    assert plan.lines == 2
    assert outcome(book, "2026-11") == [("97124", 2, "60.00", set()), ("97124", 0, "0.00", {"UNDER_8_MIN"})]
    assert outcome(book, "2026-10") == [(None, None, None, set())]
    # The sheet name is matched ignoring case and spaces; an unknown one is a user error.
    plan, _ = recode(book, sheet=" 2026-10 ", now=NOW)
    assert outcome(book, "2026-10") == [("97124", 2, "60.00", set())]
    from cptbill.errors import CptbillError

    with pytest.raises(CptbillError, match="No session sheet named"):
        check(book, sheet="Dec")


def test_duplicates_are_per_sheet_and_ignore_self_pay() -> None:
    book = MemoryBook(
        {
            "Oct": [HEADER, line(30), line(30, payer=None), line(30, payer=None)],
            "Nov": [HEADER, line(30)],
            "Payers": [PAYER_HEADER, payer("Aetna")],
        }
    )
    plan, _ = check(book)
    assert "DUPLICATE" not in plan.flag_counts()


def test_json_summary_shape() -> None:
    book = book_of(
        [
            line(30),
            line(30),
            line(7, client="Bob"),
            line(30, payer="Nobody", client="Cy"),
            line(30, payer=None),
        ],
        [payer("Aetna", r124="31.10")],
    )
    plan, _ = recode(book, "2026-11", now=NOW)
    summary = plan.summary()
    assert list(summary) == ["month", "lines", "changed", "expected_total", "flags"]
    assert summary == {
        "month": "2026-11",
        "lines": 4,
        "changed": 4,
        "expected_total": 124.4,  # 4 units x 31.10 (the visit of 60 minutes) + 0 for Bob
        "flags": {"DUPLICATE": 2, "UNDER_8_MIN": 1, "UNKNOWN_PAYER": 1},
    }
    assert json.loads(json.dumps(summary)) == summary
    assert check(book)[0].summary()["month"] is None


def test_check_takes_filled_cells_as_they_stand() -> None:
    # Units typed by hand are kept by a check (Expected follows them); a recode fixes them.
    book = book_of([line(30, code="97124", units=5)])
    plan, _ = check(book)
    assert (plan.standing[0].units, plan.standing[0].expected) == (5, Decimal("150.00"))
    assert (plan.results[0].units, plan.results[0].expected) == (2, Decimal("60.00"))
    assert plan.changed == 1
    recoded, _ = recode(book, now=NOW)
    assert outcome(book) == [("97124", 2, "60.00", set())]
    assert [(r[5], r[6]) for r in changes_rows(book)] == [("97124 x 5", "97124 x 2 = 60.00")]
    assert recoded.changed == plan.changed


def test_owned_columns_are_added_when_missing() -> None:
    book = MemoryBook(
        {
            "Sessions": [["Client", "Notes", "Minutes", "Payer", "Date"], ["Ann", "=A1", 38, "Aetna", DAY]],
            "Payers": [PAYER_HEADER, payer("Aetna")],
        }
    )
    recode(book, now=NOW)
    rows = book.sheets["Sessions"]
    assert rows[0] == ["Client", "Notes", "Minutes", "Payer", "Date", "Code", "Units", "Expected", "Flags"]
    assert rows[1][:8] == ["Ann", "=A1", 38, "Aetna", DAY, "97124", 3, 90.0]  # blank Service: massage


# --- Properties on random sessions ---

CLIENTS = ["Ann", "Bob", "Cy"]
PAYER_NAMES = ["Aetna", "Blue", "Cigna", "Nobody"]  # Nobody is never on the Payers sheet
DATES: list[Any] = [
    DAY,
    dt.date(2026, 11, 4),
    dt.datetime(2026, 11, 5, 10),
    "2026-10-30",
    46329,
    "bad date",
    None,
]
GOOD_MINUTES = st.integers(0, 120) | st.floats(0, 120, allow_nan=False).map(lambda m: round(m, 1))
MINUTES = GOOD_MINUTES | st.sampled_from([None, "", "abc", -5, 601, "45", " 30 "])
SERVICES = st.sampled_from(
    [
        None, None, "massage", "manual therapy", "myofascial", "MLD", "either", "Either",
        "hot pack", "97010", "97110", "97124", "reflexology",
    ]
)  # fmt: skip
MODIFIERS = st.sampled_from([None, None, "59", "XS", "GP", "59, GP"])
RATES = st.sampled_from([None, 0, 25, "30.5", 27.17, "29.765", 12.345, "abc", -3])
CODES = st.sampled_from([None, "97124", "97140", "97010"])
ALL_FLAGS = {flag.value for flag in Flag}


@st.composite
def payer_rows(draw: st.DrawFn) -> list[list[Any]]:
    rows = []
    for name in PAYER_NAMES[:3]:
        if draw(st.booleans()) or name == "Aetna":
            rows.append(
                payer(
                    name,
                    accepts=draw(st.sampled_from(["", "97124", "97140", "97124, 97140", "97124;97140"])),
                    preferred=draw(st.sampled_from(["", "97124", "97140"])),
                    r124=draw(RATES),
                    r140=draw(RATES),
                    r010=draw(RATES),
                    rule=draw(st.sampled_from(["", "CMS", "AMA", "odd"])),
                    cap=draw(st.sampled_from([None, None, 1, 2, 4, "x"])),
                )
            )
    return rows


@st.composite
def session_rows(draw: st.DrawFn) -> list[list[Any]]:
    count = draw(st.integers(1, 12))
    rows = []
    for _ in range(count):
        locked = draw(st.integers(0, 5)) == 0
        rows.append(
            line(
                minutes=draw(MINUTES),
                payer=draw(st.sampled_from([*PAYER_NAMES, None])),
                client=draw(st.sampled_from(CLIENTS)),
                date=draw(st.sampled_from(DATES)),
                service=draw(SERVICES),
                visit=draw(st.sampled_from([None, None, None, "A", "B"])),
                lock="x" if locked else None,
                code=draw(CODES),
                units=draw(st.sampled_from([None, 0, 1, 2, 5])),
                expected=draw(st.sampled_from([None, None, 60])),
                flags=draw(st.sampled_from([None, None, "NO_RATE: no rate", "my own note"])),
                modifiers=draw(MODIFIERS),
            )
        )
    return rows


@st.composite
def workbooks(draw: st.DrawFn) -> tuple[MemoryBook, str | None]:
    defaults = {
        "Default code": draw(st.sampled_from(["97124", "97140", "bad"])),
        "Unit rule": draw(st.sampled_from(["CMS", "AMA"])),
        "Blank service": draw(st.sampled_from(["", "massage", "manual therapy", "either", "bad"])),
    }
    book = book_of(draw(session_rows()), draw(payer_rows()), defaults)
    return book, draw(st.sampled_from([None, "2026-11", "2026-10"]))


def lines_of(book: MemoryBook) -> list[Line]:
    return parse_sessions("Sessions", book.read("Sessions"))


def visits_of(lines: list[Line]) -> dict[tuple[object, ...], list[Line]]:
    """Visits as WORKBOOK.md defines them (here the Visit column only subdivides a client's day)."""
    groups: dict[tuple[object, ...], list[Line]] = defaultdict(list)
    for ln in lines:
        if not ln.unreadable and not ln.self_pay:
            groups[(name_key(ln.payer), ln.date, name_key(ln.client), name_key(ln.visit))].append(ln)
    return groups


def days_of(lines: list[Line]) -> dict[tuple[object, ...], list[Line]]:
    """A client's day with one payer: what CMS pools."""
    groups: dict[tuple[object, ...], list[Line]] = defaultdict(list)
    for key, visit in visits_of(lines).items():
        groups[key[:3]] += visit
    return groups


def held_billing(ln: Line) -> bool:
    return ln.expected is not None or (not ln.locked and (ln.code is not None or ln.units is not None))


PROPERTY_SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY_SETTINGS
@given(case=workbooks())
def test_random_sessions_recode_is_complete_and_idempotent(case: tuple[MemoryBook, str | None]) -> None:
    book, month = case
    before = lines_of(book)
    checked, loaded = check(book, month)
    plan, _ = recode(book, month, now=NOW)
    assert checked.changed == plan.changed
    assert checked.lines == plan.lines
    chosen = loaded.settings
    # A check reports the totals and flags the recode then writes, line for line.
    assert checked.summary() == plan.summary()
    assert [(r.row, r.code, r.units, r.expected, r.flags_text) for r in checked.results] == [
        (r.row, r.code, r.units, r.expected, r.flags_text) for r in plan.results
    ]
    assert [r.row for r in checked.standing] == [r.row for r in plan.results]
    after = {(ln.row): ln for ln in lines_of(book)}
    results = {r.row: r for r in plan.results}
    cleared = {r.row for r in plan.cleared}
    for old in before:
        new = after[old.row]
        in_month = month is None or old.date is None or f"{old.date:%Y-%m}" == month
        if old.row not in results:  # self-pay or another month
            assert old.self_pay or not in_month
            own_flags = bool(flag_ids(old.flags_text) - ALL_FLAGS)
            if old.row in cleared:  # what an earlier recode wrote on a line now self-pay is cleared
                assert old.self_pay and in_month and not own_flags
                assert (new.expected, new.flags_text) == (None, "")
                assert (new.code, new.units) == ((old.code, old.units) if old.locked else (None, None))
            else:
                assert (new.code, new.units, new.expected, new.flags_text) == (
                    old.code, old.units, old.expected, old.flags_text,
                )  # fmt: skip
                assert (
                    not (old.self_pay and in_month) or own_flags or not (held_billing(old) or old.flags_text)
                )
            continue
        flags = flag_ids(new.flags_text)
        assert new.units is None or new.units >= 0
        if old.unreadable:
            assert flags & {"BAD_MINUTES", "BAD_DATE", "BAD_SERVICE"}
            assert (new.code, new.units) == (old.code, old.units)
        elif old.locked:
            assert (new.code, new.units) == (old.code, old.units)
        else:
            assert new.code is not None and new.units is not None
            documented = documented_code(old, chosen)
            assert documented is None or new.code == documented  # the Service decides the code
            assert is_either(old, chosen) == (documented is None)
        # Expected = units x rate, to the cent, whenever both are known.
        payer_obj = loaded.payers.get(name_key(old.payer))
        if not old.unreadable:
            if payer_obj is None:
                assert new.expected is None and "UNKNOWN_PAYER" in flags
            elif new.code is not None and new.units is not None:
                rate = payer_obj.rate(new.code)
                if rate is None:
                    assert new.expected is None and "NO_RATE" in flags
                else:
                    assert new.expected == money(rate * new.units)
                    assert ("NOT_PAID" in flags) == (rate == 0 and new.units > 0)
            if new.code in MASSAGE_FAMILY and payer_obj is not None:
                assert ("NOT_ACCEPTED" in flags) == (not payer_obj.takes(new.code))
    scoped = [ln for ln in after.values() if ln.row in results]
    for visit in visits_of(scoped).values():
        # `either` lines of a visit share one code.
        either = [ln for ln in visit if not ln.locked and documented_code(ln, chosen) is None]
        assert len({ln.code for ln in either}) <= 1
        # MIXED_CODES: both massage codes in a visit, unless every 97140 line carries 59 or XS.
        codes = {ln.code for ln in visit} & set(MASSAGE_FAMILY)
        separate = all({"59", "XS"} & set(ln.modifiers) for ln in visit if ln.code == "97140")
        for ln in visit:
            if ln.code in MASSAGE_FAMILY:
                assert ("MIXED_CODES" in flag_ids(ln.flags_text)) == (len(codes) > 1 and not separate)
        payer_obj = loaded.payers.get(name_key(visit[0].payer))
        cap = payer_obj.max_units if payer_obj else None
        timed = [ln for ln in visit if ln.code != HOT_COLD_PACK]
        if cap is not None and not any(ln.locked for ln in visit):
            assert sum(ln.units or 0 for ln in timed) <= cap
    for day in days_of(scoped).values():
        if any(ln.locked for ln in day):
            continue
        packs = [ln for ln in day if ln.code == HOT_COLD_PACK]  # 97010: one unit per client, payer, day
        assert sorted(ln.units or 0 for ln in packs) == ([0] * (len(packs) - 1) + [1] if packs else [])
        payer_obj = loaded.payers.get(name_key(day[0].payer))
        rule = (payer_obj.unit_rule if payer_obj else None) or chosen.unit_rule
        timed = [ln for ln in day if ln.code != HOT_COLD_PACK]
        if not timed or (payer_obj is not None and payer_obj.max_units is not None):
            continue
        if rule is Rule.CMS:  # the day's timed minutes pooled, whatever the visits
            total = table_units(sum(ln.minutes or 0 for ln in timed))
            assert sum(ln.units or 0 for ln in timed) == total
            assert all(("UNDER_8_MIN" in flag_ids(ln.flags_text)) == (total == 0) for ln in timed)
        else:  # AMA: each code within each visit
            for visit in visits_of(timed).values():
                for code in {ln.code for ln in visit}:
                    of_code = [ln for ln in visit if ln.code == code]
                    billed = sum(ln.units or 0 for ln in of_code)
                    assert billed == table_units(sum(ln.minutes or 0 for ln in of_code))
    # Recoding the result again changes nothing.
    logged = len(changes_rows(book))
    again, _ = recode(book, month, now=NOW)
    assert again.changed == 0 and not again.changes and again.filled == 0 and not again.cleared
    assert len(changes_rows(book)) == logged


def random_line(draw: st.DrawFn, row: int) -> Line:
    minutes = draw(st.none() | st.floats(0, 600, allow_nan=False))
    return Line(
        sheet="S",
        row=row,
        date=draw(st.none() | st.dates(dt.date(2026, 10, 1), dt.date(2026, 12, 31))),
        client=draw(st.sampled_from(CLIENTS)),
        payer=draw(st.sampled_from([*PAYER_NAMES, ""])),
        minutes=minutes,
        service=draw(st.sampled_from([None, None, HOT_COLD_PACK, "either", "97124", "97140", "97110"])),
        visit=draw(st.sampled_from(["", "", "1"])),
        locked=draw(st.booleans()),
        modifiers=draw(st.sampled_from([(), (), ("59",), ("XS",), ("GP",)])),
        code=draw(st.sampled_from([None, *MASSAGE_FAMILY, HOT_COLD_PACK])),
        units=draw(st.none() | st.integers(0, 9)),
        expected=draw(st.none() | st.decimals(0, 500, places=2)),
        flags_text=draw(st.sampled_from(["", "x"])),
    )


@st.composite
def plan_inputs(draw: st.DrawFn) -> tuple[list[Line], dict[str, Payer], Settings, str | None, bool]:
    lines = [random_line(draw, row) for row in range(2, draw(st.integers(0, 15)) + 2)]
    payers = {}
    for name in PAYER_NAMES[:3]:
        if draw(st.booleans()):
            payers[name_key(name)] = Payer(
                name=name,
                accepts=draw(st.sampled_from([(), ("97124",), ("97140",), MASSAGE_FAMILY])),
                preferred=draw(st.sampled_from([None, *MASSAGE_FAMILY])),
                rates={
                    code: draw(st.none() | st.decimals(0, 100, places=2))
                    for code in (*MASSAGE_FAMILY, HOT_COLD_PACK)
                },
                unit_rule=draw(st.sampled_from([None, Rule.CMS, Rule.AMA])),
                max_units=draw(st.none() | st.integers(0, 6)),
            )
    chosen = Settings(
        default_code=draw(st.sampled_from(MASSAGE_FAMILY)),
        unit_rule=draw(st.sampled_from(list(Rule))),
        blank_service=draw(st.sampled_from(["massage", "manual therapy", "either"])),
    )
    return lines, payers, chosen, draw(st.sampled_from([None, "2026-11"])), draw(st.booleans())


@settings(max_examples=200, deadline=None)
@given(case=plan_inputs())
def test_make_plan_never_raises_and_is_consistent(
    case: tuple[list[Line], dict[str, Payer], Settings, str | None, bool],
) -> None:
    lines, payers, chosen, month, as_check = case
    plan = make_plan(lines, payers, chosen, month=month, check=as_check)
    assert isinstance(plan, Plan)
    in_scope = [
        ln
        for ln in lines
        if not ln.self_pay and (month is None or ln.date is None or f"{ln.date:%Y-%m}" == month)
    ]
    assert [r.row for r in plan.results] == [ln.row for ln in in_scope]
    for ln, result in zip(in_scope, plan.results, strict=True):
        assert result.units is None or result.units >= 0
        assert result.code is not None or result.flags or ln.locked
        if result.expected is not None:
            assert result.expected == result.expected.quantize(Decimal("0.01"))
        ids = {f.flag for f in result.flags}
        assert Flag.DENIED_BEFORE not in ids  # no claim history given
        if ln.locked and not as_check:
            assert (result.code, result.units) == (ln.code, ln.units)
    assert plan.changed == sum(r.changed for r in plan.results) + len(plan.cleared)
    assert not as_check or (plan.changes == () and plan.filled == 0)


@settings(max_examples=300, deadline=None)
@given(case=plan_inputs())
def test_random_sessions_never_get_a_code_their_service_contradicts(
    case: tuple[list[Line], dict[str, Payer], Settings, str | None, bool],
) -> None:
    lines, payers, chosen, month, _ = case
    plan = make_plan(lines, payers, chosen, month=month)
    by_row = {ln.row: ln for ln in lines}
    for result in plan.results:
        ln = by_row[result.row]
        if ln.locked or ln.unreadable:
            continue
        documented = {None: {"massage": "97124", "manual therapy": "97140"}.get(chosen.blank_service)}.get(
            ln.service, ln.service
        )
        if documented not in (None, "either"):
            assert result.code == documented, (ln, result)
