"""The workbook contract as code: header matching, sheet discovery and reading cells into models."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from typing import Any

import pytest

from cptbill.book import MemoryBook, load
from cptbill.contract import Flag, Status
from cptbill.errors import CptbillError
from cptbill.models import Line, Settings
from cptbill.schema import (
    column_index,
    find_payer,
    is_session_header,
    parse_claims,
    parse_date,
    parse_month,
    parse_payers,
    parse_service,
    parse_sessions,
    parse_settings,
)
from cptbill.units import Rule

# --- Headers ---


def test_header_matching_ignores_case_spaces_and_a_trailing_colon() -> None:
    index = column_index(["  DATE ", "client:", "Payer :", "minutes", None, "", "My notes"])
    assert index == {"date": 0, "client": 1, "payer": 2, "minutes": 3, "my notes": 6}


def test_the_first_of_two_equal_headers_wins() -> None:
    assert column_index(["Code", "Notes", "code"])["code"] == 0


@pytest.mark.parametrize(
    ("header", "is_session"),
    [
        (["Date", "Client", "Payer", "Minutes"], True),
        (["minutes:", " payer", "CLIENT", "Notes", "date"], True),
        (["Date", "Client", "Payer", "Minutes", "Code", "Units", "Insurance ID"], True),
        (["Date", "Client", "Payer"], False),
        (["Date", "Client", "Insurer", "Minutes"], True),  # Insurer is an alias of Payer
        (["Date", "Client", "Carrier", "Minutes"], False),
        (["Payer", "Accepts", "Rate 97124"], False),
        ([], False),
        ([None, None], False),
    ],
)
def test_session_sheet_detection(header: list[Any], is_session: bool) -> None:
    assert is_session_header(header) is is_session


def test_reordered_columns_and_extra_user_columns() -> None:
    rows = [
        [
            "Notes",
            "Minutes:",
            "Units",
            "payer",
            "Code",
            " client ",
            "Lock",
            "DATE",
            "Visit",
            "Service",
            "Flags",
        ],
        ["=B2*2", " 45 ", "3", "Aetna ", 97140.0, " Ann ", None, "2026-11-03", "AM", "Hot Pack", "old"],
    ]
    (line,) = parse_sessions("Sessions", rows)
    assert line == Line(
        sheet="Sessions",
        row=2,
        date=dt.date(2026, 11, 3),
        client="Ann",
        payer="Aetna",
        minutes=45.0,
        service="97010",
        visit="AM",
        locked=False,
        code="97140",
        units=3,
        expected=None,
        flags_text="old",
    )


def test_rows_are_excel_rows_and_blank_rows_are_skipped() -> None:
    rows: list[list[Any]] = [
        ["Date", "Client", "Payer", "Minutes"],
        ["2026-11-03", "Ann", "Aetna", 30],
        [None, None, None, None],
        ["", "  ", None],
        [],
        ["2026-11-04", "Bob", None, 45],
    ]
    lines = parse_sessions("Nov", rows)
    assert [(ln.row, ln.client, ln.self_pay) for ln in lines] == [(2, "Ann", False), (6, "Bob", True)]
    assert parse_sessions("Nov", []) == []
    assert parse_sessions("Nov", [rows[0]]) == []


def test_numeric_client_ids_visits_and_payers_read_as_whole_numbers() -> None:
    # Some doors (xlwings) hand every number over as a float.
    header = ["Date", "Client", "Payer", "Minutes", "Visit"]
    (line,) = parse_sessions("S", [header, [46329.0, 1234.0, 77.0, 30.0, 2.0]])
    assert (line.client, line.payer, line.visit) == ("1234", "77", "2")
    payers, _ = parse_payers([["Payer"], [77.0]])
    assert find_payer(payers, line.payer) is payers["77"]


def test_short_rows_and_missing_optional_columns() -> None:
    (line,) = parse_sessions(
        "S", [["Date", "Client", "Payer", "Minutes", "Code"], [46329, "Ann", "Aetna", 30]]
    )
    assert (line.date, line.code, line.units, line.service, line.visit, line.locked) == (
        dt.date(2026, 11, 3), None, None, None, "", False,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("value", "locked"),
    [
        ("x", True), ("X", True), ("yes", True), ("YES", True), ("Yes", True), ("true", True),
        ("TRUE", True), (True, True), (1, True), (1.0, True), ("1", True), (" x ", True),
        ("no", False), ("No", False), ("NO", False), ("false", False), ("FALSE", False), (False, False),
        (0, False), (0.0, False), ("0", False), (None, False), ("", False), ("  ", False),
    ],
)  # fmt: skip
def test_yes_x_true_1_lock_and_no_false_0_blank_do_not(value: Any, locked: bool) -> None:
    (line,) = parse_sessions(
        "S", [["Date", "Client", "Payer", "Minutes", "Lock"], [46329, "A", "P", 30, value]]
    )
    assert line.locked is locked


def test_load_finds_session_sheets_by_headers() -> None:
    header = ["Date", "Client", "Payer", "Minutes"]
    book = MemoryBook(
        {
            "How to use": [["Read me"]],
            "2026-10": [header, ["2026-10-01", "Ann", "Aetna", 30]],
            "Nov 2026": [[h.upper() + ":" for h in header], ["2026-11-01", "Bob", "Aetna", 30]],
            "Payers": [["Payer", "Rate 97140"], ["Aetna", 30]],
            "Notes": [],
        }
    )
    loaded = load(book)
    assert list(loaded.session_sheets) == ["2026-10", "Nov 2026"]
    assert [(ln.sheet, ln.client) for ln in loaded.lines] == [("2026-10", "Ann"), ("Nov 2026", "Bob")]
    assert loaded.claims is None
    assert loaded.settings == Settings()


def test_load_without_a_session_sheet_is_a_user_error() -> None:
    book = MemoryBook({"Sheet1": [["Name", "Minutes"]], "Payers": [["Payer"]]})
    with pytest.raises(CptbillError, match="No session sheet") as info:
        load(book)
    assert "\n" not in str(info.value)


def test_load_without_payers_sheet_warns() -> None:
    loaded = load(MemoryBook({"S": [["Date", "Client", "Payer", "Minutes"]]}))
    assert loaded.payers == {}
    assert any("No Payers sheet" in w for w in loaded.warnings)


# --- Dates ---


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (dt.datetime(2026, 11, 3, 14, 30), dt.date(2026, 11, 3)),
        (dt.date(2026, 11, 3), dt.date(2026, 11, 3)),
        ("2026-11-03", dt.date(2026, 11, 3)),
        (" 2026-11-03 ", dt.date(2026, 11, 3)),
        ("2026-11-03T10:15:00Z", dt.date(2026, 11, 3)),
        ("2026-11-03T10:15:00.000+01:00", dt.date(2026, 11, 3)),
        ("2026-11-03 10:15", dt.date(2026, 11, 3)),
        ("11/03/2026", dt.date(2026, 11, 3)),
        ("11/3/2026", dt.date(2026, 11, 3)),
        ("11/3/26", dt.date(2026, 11, 3)),
        (45964, dt.date(2025, 11, 3)),  # Excel serial number
        (45964.0, dt.date(2025, 11, 3)),
        (45964.75, dt.date(2025, 11, 3)),  # a serial with a time of day
        (46329, dt.date(2026, 11, 3)),
        (61, dt.date(1900, 3, 1)),  # after Excel's phantom 29 Feb 1900, serials are exact
    ],
)
def test_parse_date(value: Any, expected: dt.date) -> None:
    assert parse_date(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "next Tuesday",
        "2026-13-01",
        "2026-02-30",
        "31/12/2026",
        "",
        None,
        0,
        -5,
        math.nan,
        math.inf,
        True,
        3e9,
    ],
)
def test_parse_date_rejects(value: Any) -> None:
    with pytest.raises(ValueError):
        parse_date(value)


@pytest.mark.parametrize(
    ("value", "note"), [("soon", "not a date"), (None, "missing"), ("", "missing"), (-1, "not a date")]
)
def test_a_bad_date_is_a_flag_on_its_line(value: Any, note: str) -> None:
    (line,) = parse_sessions("S", [["Date", "Client", "Payer", "Minutes"], [value, "Ann", "Aetna", 30]])
    assert line.date is None
    assert [p.flag for p in line.problems] == [Flag.BAD_DATE]
    assert note in line.problems[0].note
    assert line.unreadable and line.minutes == 30


# --- Minutes ---


def minutes_line(value: Any, service: Any = None) -> Line:
    header = ["Date", "Client", "Payer", "Minutes", "Service"]
    (line,) = parse_sessions("S", [header, ["2026-11-03", "Ann", "Aetna", value, service]])
    return line


@pytest.mark.parametrize(
    ("value", "expected"),
    [(45, 45.0), (0, 0.0), (600, 600.0), (22.5, 22.5), ("45", 45.0), (" 30.0 ", 30.0), (Decimal("15"), 15.0)],
)
def test_minutes_read(value: Any, expected: float) -> None:
    line = minutes_line(value)
    assert line.minutes == expected
    assert line.problems == ()


@pytest.mark.parametrize(
    ("value", "note"),
    [
        (None, "missing"),
        ("", "missing"),
        ("  ", "missing"),
        ("abc", "not a number"),
        ("45 minutes long", "not a number: type the minutes, e.g. 60"),
        ("1:75", "not a number"),
        (dt.time(10, 30), "not a number"),  # a time of day, not a duration
        (True, "not a number"),
        (math.nan, "not a number"),
        ("inf", "not a number"),
        (-1, "negative"),
        ("-0.5", "negative"),
        (601, "over 600"),
        (1e9, "over 600"),
    ],
)
def test_bad_minutes_are_a_flag_on_the_line(value: Any, note: str) -> None:
    line = minutes_line(value)
    assert line.minutes is None
    assert [p.flag for p in line.problems] == [Flag.BAD_MINUTES]
    assert note in line.problems[0].note


@pytest.mark.parametrize("service", ["hot/cold pack", "Hot Pack", "cold pack", "97010"])
def test_blank_minutes_are_fine_on_a_hot_cold_pack_line(service: str) -> None:
    line = minutes_line(None, service)
    assert (line.minutes, line.service, line.problems) == (None, "97010", ())
    # ...but not a bad number.
    assert [p.flag for p in minutes_line("x", service).problems] == [Flag.BAD_MINUTES]
    assert [p.flag for p in minutes_line(-3, service).problems] == [Flag.BAD_MINUTES]


def test_bad_minutes_and_bad_date_together() -> None:
    header = ["Date", "Client", "Payer", "Minutes"]
    (line,) = parse_sessions("S", [header, ["later", "Ann", "Aetna", "lots"]])
    assert {p.flag for p in line.problems} == {Flag.BAD_DATE, Flag.BAD_MINUTES}


def test_equal_cells_of_other_types_are_read_apart() -> None:
    """Lines share what equal cells give, but TRUE, 1 and 1.0 are equal in Python, not in a sheet."""
    header = ["Date", "Client", "Payer", "Minutes", "Lock"]
    rows = [header, *([46329, client, "Aetna", minutes, None] for client, minutes in
                      [("Ann", 1), ("Bo", True), ("Cy", 1.0), ("Di", False), ("Ed", 0)])]  # fmt: skip
    lines = parse_sessions("S", rows)
    assert [line.minutes for line in lines] == [1.0, None, 1.0, None, 0.0]
    assert [[p.flag for p in line.problems] for line in lines] == [
        [],
        [Flag.BAD_MINUTES],
        [],
        [Flag.BAD_MINUTES],
        [],
    ]
    # and the rows after a bad one keep their own dates and clients
    assert [(line.row, line.client) for line in lines] == [
        (2, "Ann"),
        (3, "Bo"),
        (4, "Cy"),
        (5, "Di"),
        (6, "Ed"),
    ]


def test_a_cell_of_no_plain_value_is_a_flag_not_a_crash() -> None:
    """A door may hand over an odd object (a list): it is read on its own, as a bad cell."""
    header = ["Date", "Client", "Payer", "Minutes"]
    lines = parse_sessions("S", [header, [[46329], "Ann", "Aetna", 30], [46329, "Bo", "Aetna", [30]]])
    assert [[p.flag for p in line.problems] for line in lines] == [[Flag.BAD_DATE], [Flag.BAD_MINUTES]]


# --- Services ---


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),  # blank: the Settings value Blank service decides
        ("", None),
        ("massage", "97124"),
        (" Massage ", "97124"),
        ("massage therapy", "97124"),
        ("MANUAL THERAPY", "97140"),
        ("manual   therapy", "97140"),
        ("Myofascial", "97140"),
        ("myofascial release", "97140"),
        ("soft tissue mobilization", "97140"),
        ("Soft-tissue mobilization", "97140"),
        ("MLD", "97140"),
        ("manual lymphatic drainage", "97140"),
        ("trigger point", "97140"),
        ("either", "either"),
        (" Either ", "either"),
        ("97124", "97124"),  # a CPT code typed directly is that code
        (97140, "97140"),
        (97140.0, "97140"),
        ("97035", "97035"),
        ("hot/cold pack", "97010"),
        ("Hot/Cold Packs", "97010"),
        ("hot pack", "97010"),
        ("Cold Pack", "97010"),
        ("hot or cold pack", "97010"),
        ("97010", "97010"),
        (97010, "97010"),
        (97010.0, "97010"),
    ],
)
def test_services(value: Any, expected: str | None) -> None:
    assert parse_service(value) == expected


@pytest.mark.parametrize("value", ["reflexology", "ultrasound", "hot tub", "9712", 12.5, "both"])
def test_unknown_service_is_a_flag_on_the_line(value: Any) -> None:
    with pytest.raises(ValueError):
        parse_service(value)
    line = minutes_line(30, value)
    assert [p.flag for p in line.problems] == [Flag.BAD_SERVICE]
    assert line.unreadable


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, ()),
        ("", ()),
        ("59", ("59",)),
        (59.0, ("59",)),
        ("xs", ("XS",)),
        (" 59, GP ", ("59", "GP")),
        ("59;XS 59", ("59", "XS")),
    ],
)
def test_modifiers_are_read_from_their_column(value: Any, expected: tuple[str, ...]) -> None:
    header = ["Date", "Client", "Payer", "Minutes", "Modifiers"]
    (line,) = parse_sessions("S", [header, ["2026-11-03", "Ann", "Aetna", 30, value]])
    assert line.modifiers == expected
    assert not line.problems


# --- Payers ---

PAYER_HEADER = [
    "Payer", "Accepts", "Preferred", "Rate 97124", "rate 97140:", " RATE 97010", "Unit rule", "Max units",
    "ERA names", "Notes", "Rate per visit",
]  # fmt: skip


def payers_of(*rows: list[Any]) -> tuple[dict[str, Any], list[str]]:
    return parse_payers([PAYER_HEADER, *rows])


def test_payer_row_read_in_full() -> None:
    payers, warnings = payers_of(
        ["Aetna", "97124; 97140", "97124", 30, "$31.50", 0, " ama ", 4, "AETNA, 60054 ,", "call first", 99]
    )
    assert warnings == []
    aetna = payers["aetna"]
    assert aetna.name == "Aetna" and aetna.row == 2
    assert aetna.accepts == ("97124", "97140")
    assert aetna.preferred == "97124"
    assert aetna.rates == {"97124": Decimal(30), "97140": Decimal("31.50"), "97010": Decimal(0)}
    assert aetna.unit_rule is Rule.AMA
    assert aetna.max_units == 4
    assert aetna.era_names == ("AETNA", "60054")


@pytest.mark.parametrize(
    ("accepts", "expected"),
    [
        ("", ()),
        (None, ()),
        ("97124", ("97124",)),
        (97140, ("97140",)),
        (97140.0, ("97140",)),
        (" 97124 , 97140 ", ("97124", "97140")),
        ("97140;97124", ("97140", "97124")),
        ("97124 97140", ("97124", "97140")),
        ("97124, 97124", ("97124",)),
        ("97124, 97110", ("97124",)),  # codes outside the massage family are not massage codes
    ],
)
def test_accepts(accepts: Any, expected: tuple[str, ...]) -> None:
    payers, warnings = payers_of(["P", accepts])
    assert payers["p"].accepts == expected
    assert warnings == []


def test_accepts_with_a_bad_code_warns_and_means_both() -> None:
    payers, warnings = payers_of(["P", "97124, massage"])
    assert payers["p"].accepts == ()
    assert payers["p"].takes("97124") and payers["p"].takes("97140")
    assert warnings == ["Payers row 2: in Accepts, 'massage' is not a code; treated as both massage codes."]


@pytest.mark.parametrize(
    ("accepts", "preferred", "kept"),
    [
        ("97124", "97140", None),  # preferred but not accepted
        ("", "97010", None),  # not a massage code
        ("", "97124", "97124"),
        ("97124, 97140", "97140", "97140"),
        ("", "pref", None),  # not a code at all: ignored silently as blank
    ],
)
def test_preferred(accepts: str, preferred: str, kept: str | None) -> None:
    payers, warnings = payers_of(["P", accepts, preferred])
    assert payers["p"].preferred == kept
    warned = any("Preferred" in w for w in warnings)
    assert warned is (kept is None and preferred != "pref")


@pytest.mark.parametrize(
    ("value", "rate", "warned"),
    [
        (None, None, False),
        ("", None, False),
        ("  ", None, False),
        (0, Decimal(0), False),
        ("0", Decimal(0), False),
        (27.17, Decimal("27.17"), False),
        ("$1,234.50", Decimal("1234.5"), False),
        ("call", None, True),
        (-5, None, True),
    ],
)
def test_rates(value: Any, rate: Decimal | None, warned: bool) -> None:
    payers, warnings = payers_of(["P", "", "", value])
    assert payers["p"].rate("97124") == rate
    assert payers["p"].rate("97999") is None
    assert bool(warnings) is warned
    if warned:
        assert warnings == ["Payers row 2: Rate 97124 is not an amount of 0 or more; treated as unknown."]


@pytest.mark.parametrize(
    ("value", "rule", "warned"),
    [("CMS", Rule.CMS, False), ("ama", Rule.AMA, False), ("", None, False), ("8-minute", None, True)],
)
def test_unit_rule(value: str, rule: Rule | None, warned: bool) -> None:
    payers, warnings = payers_of(["P", "", "", None, None, None, value])
    assert payers["p"].unit_rule == rule
    assert bool(warnings) is warned


@pytest.mark.parametrize(
    ("value", "cap", "warned"),
    [
        (None, None, False),
        (4, 4, False),
        ("3", 3, False),
        (2.0, 2, False),
        (0, 0, False),
        (2.5, None, True),
        (-1, None, True),
        ("four", None, True),
    ],
)
def test_max_units(value: Any, cap: int | None, warned: bool) -> None:
    payers, warnings = payers_of(["P", "", "", None, None, None, "", value])
    assert payers["p"].max_units == cap
    assert bool(warnings) is warned


def test_payer_names_blank_and_twice() -> None:
    payers, warnings = payers_of(
        ["Aetna", "97124"], ["", "97140"], [None] * 5, [" AETNA ", "97140"], ["Blue"]
    )
    assert list(payers) == ["aetna", "blue"]
    assert payers["aetna"].accepts == ("97124",)
    assert warnings == [
        "Payers row 3: no payer name; row ignored.",
        "Payers row 5: payer 'AETNA' is listed twice; the first row is used.",
    ]
    assert find_payer(payers, "  aetna ") is payers["aetna"]
    assert find_payer(payers, "Cigna") is None


def test_payers_without_rate_columns_and_empty_sheet() -> None:
    payers, warnings = parse_payers([["Payer"], ["Aetna"]])
    assert warnings == []
    assert payers["aetna"].rates == {} and payers["aetna"].rate("97140") is None
    assert parse_payers([]) == ({}, [])


# --- Claims ---

CLAIMS_HEADER = [
    "Date",
    "Client",
    "Payer",
    "Code",
    "Units",
    "Billed",
    "Paid",
    "Status",
    "Reason",
    "Claim ID",
    "Line",
]


def test_claims_parsing() -> None:
    rows = [
        CLAIMS_HEADER,
        ["2026-11-03", "Ann", "Aetna", 97140, 2, "$64.00", 60, "paid", "CO-45", 12345.0, 1],
        [46329, " Bob ", "Blue", "97124", "1", 30, None, " DENIED ", "CO-97; PR-2", "A-7", None],
        [None] * 11,
        ["someday", "Cy", "Blue", "97124", "x", 30, None, "Pending", None, None, None],
        ["2026-11-04", "Dee", "Blue", "97124", 1, 30, -30, "Reversed", None, None, None],
        ["2026-11-05", "Eve", "Blue", "97124", 1, 30, None, "maybe", None, None, None],
        ["2026-11-06", "Fay", "Blue", "97124", 1, "lots", None, "Paid", None, None, None],
    ]
    claims, warnings = parse_claims(rows)
    assert [c.row for c in claims] == [2, 3, 5, 6, 7, 8]
    ann, bob, cy, dee, eve, fay = claims
    assert (ann.date, ann.code, ann.units, ann.billed, ann.paid, ann.status) == (
        dt.date(2026, 11, 3), "97140", 2.0, Decimal(64), Decimal(60), Status.PAID,
    )  # fmt: skip
    assert (ann.claim_id, ann.line, ann.reason) == ("12345", "1", "CO-45")
    assert (bob.date, bob.client, bob.status, bob.paid, bob.reason) == (
        dt.date(2026, 11, 3), "Bob", Status.DENIED, None, "CO-97; PR-2",
    )  # fmt: skip
    assert (cy.date, cy.units, cy.status) == (None, 0.0, Status.PENDING)
    assert (dee.paid, dee.status) == (Decimal(-30), Status.REVERSED)
    assert eve.status is None
    # an amount that cannot be read: the row is no outcome, but it is a claim on the sheet
    assert (fay.client, fay.billed, fay.status, fay.code) == ("Fay", None, None, "97124")
    assert warnings == [
        "Claims row 5: Units is not a number; counted as 0.",
        "Claims row 7: Status is not one of Paid, Denied, Partial, Pending, Reversed, Patient, "
        "Other payer, Forwarded, Predetermination, Submitted; ignored.",
        "Claims row 8: Billed or Paid is not an amount; the row is left out of the claim history and the "
        "report (it still counts as a claim sent).",
    ]
    assert parse_claims([]) == ([], [])


# --- Settings ---


def test_settings_defaults() -> None:
    assert parse_settings([]) == (Settings(default_code="97140", unit_rule=Rule.CMS), [])
    assert parse_settings([["Setting", "Value"]]) == (Settings(), [])
    assert parse_settings([["Setting", "Value"], ["Default code", None], ["Unit rule", " "]]) == (
        Settings(),
        [],
    )


def test_settings_read() -> None:
    rows = [["setting:", " VALUE"], ["default CODE", 97124.0], ["Unit Rule", "ama"], ["Colour", "blue"]]
    assert parse_settings(rows) == (Settings(default_code="97124", unit_rule=Rule.AMA), [])


def test_settings_bad_values_warn_and_keep_defaults() -> None:
    settings, warnings = parse_settings(
        [["Setting", "Value"], ["Default code", "97010"], ["Unit rule", "midpoint"]]
    )
    assert settings == Settings()
    assert warnings == [
        "Settings: Default code must be 97124 or 97140; 97140 is used.",
        "Settings: Unit rule must be CMS or AMA; CMS is used.",
    ]
    assert parse_settings([["Setting", "Value"], ["Default code", "massage"]])[0] == Settings()


@pytest.mark.parametrize(
    ("value", "blank_service"),
    [
        ("massage", "massage"),
        (" Manual Therapy ", "manual therapy"),
        ("myofascial", "manual therapy"),
        ("97140", "manual therapy"),
        ("97124", "massage"),
        ("EITHER", "either"),
        (None, "massage"),
    ],
)
def test_settings_blank_service(value: Any, blank_service: str) -> None:
    settings, warnings = parse_settings([["Setting", "Value"], ["Blank service", value]])
    assert (settings.blank_service, warnings) == (blank_service, [])


@pytest.mark.parametrize("value", ["hot pack", "97110", "reflexology"])
def test_settings_bad_blank_service_warns_and_keeps_massage(value: str) -> None:
    settings, warnings = parse_settings([["Setting", "Value"], ["Blank service", value]])
    assert settings.blank_service == "massage"
    assert warnings == ["Settings: Blank service must be massage, manual therapy or either; massage is used."]


@pytest.mark.parametrize(
    ("value", "month"),
    [
        (" 2026-11 ", "2026-11"),  # typed as text (the template's cell is formatted as text)
        (dt.datetime(2026, 11, 1), "2026-11"),  # Excel made a date of it
        (dt.date(2026, 2, 1), "2026-02"),
        (46327.0, "2026-11"),  # the same date as a serial number (Office.js sends those)
        (None, None),
        ("  ", None),
        ("Nov", "Nov"),  # kept as typed: the Excel scripts refuse it with the Settings row named
        (2026, "2026"),  # a year, not a date serial
    ],
)
def test_settings_month_to_recode(value: object, month: str | None) -> None:
    settings, warnings = parse_settings([["Setting", "Value"], ["Month to recode", value]])
    assert (settings.month_to_recode, warnings) == (month, [])


# --- Months ---


@pytest.mark.parametrize(
    ("text", "month"), [("2026-11", "2026-11"), (" 2026-01 ", "2026-01"), (None, None), ("", None)]
)
def test_parse_month(text: str | None, month: str | None) -> None:
    assert parse_month(text) == month


@pytest.mark.parametrize("text", ["2026-13", "2026-00", "2026-1", "Nov 2026", "11/2026", "2026-11-03"])
def test_parse_month_rejects(text: str) -> None:
    with pytest.raises(CptbillError, match="YYYY-MM"):
        parse_month(text)


def test_claims_columns_of_import_era_and_numbers_out_of_range() -> None:
    header = [
        "Date", "Client", "Payer", "Code", "Units", "Billed", "Paid", "Status", "Patient owes", "Adjusted",
        "Claim ID", "Payer claim ID", "Line", "Source", "Modifiers", "Billed units", "Billed code",
    ]  # fmt: skip
    rows: list[list[Any]] = [
        header,
        ["2026-11-04", "Ann", "Summit", "97124", 4, 160, 0, "Patient", 120, "CO-45 40.00; PR-1 120.00",
         "GO1", "SMI5", 1, "x.835 #EFT1", "59, xs", 4, 97140],
        ["2026-11-04", "Bo", "Summit", "97124", 1e300, 160, 1e300, "Paid", None, None, None, None, None, None, None,
         None, None],
        ["2026-11-04", "Cy", "Summit", "97124", 1e300, 160, 60, "Paid", "1e300", None, None, None, None, None, None,
         "lots", None],
    ]  # fmt: skip
    claims, warnings = parse_claims(rows)
    ann, bo, cy = claims
    assert (bo.client, bo.paid, bo.status) == ("Bo", None, None)
    assert (ann.patient_owes, ann.adjusted, ann.payer_claim_id, ann.source) == (
        Decimal(120), "CO-45 40.00; PR-1 120.00", "SMI5", "x.835 #EFT1",
    )  # fmt: skip
    assert (ann.modifiers, ann.billed_units, ann.billed_code, ann.status) == (
        ("59", "XS"),
        4,
        "97140",
        Status.PATIENT,
    )
    assert (cy.units, cy.patient_owes, cy.billed_units, cy.paid) == (0.0, None, None, Decimal(60))
    assert warnings == [
        "Claims row 3: Billed or Paid is not an amount; the row is left out of the claim history and the "
        "report (it still counts as a claim sent).",
        "Claims row 3: Units is not a number; counted as 0.",
        "Claims row 4: Patient owes is not an amount; read as blank.",
        "Claims row 4: Units is not a number; counted as 0.",
        "Claims row 4: Billed units is not a number of units; read as blank.",
    ]


def test_filing_limit_on_the_payers_sheet() -> None:
    rows = [["Payer", "Filing limit (days)"], ["Summit", 90], ["Harbor", "a year"], ["Evergreen", None]]
    payers, warnings = parse_payers(rows)
    assert [p.filing_limit for p in payers.values()] == [90, None, None]
    assert warnings == ["Payers row 3: Filing limit (days) must be a whole number of days; ignored."]
