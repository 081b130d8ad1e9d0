"""The Service decides the code: documented services at every kind of payer, `either`, CMS days,
mixed visits and modifiers, duplicates by visit, self-pay lines cleared."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from cptbill.book import MemoryBook, check, recode
from cptbill.models import Line, Settings
from cptbill.plan import is_either
from helpers import run
from test_plan import NOW, book_of, changes_rows, column, flag_ids, line, outcome, payer

CLAIMS_HEADER = ["Date", "Client", "Payer", "Code", "Units", "Billed", "Paid", "Status", "Reason"]


def claim(code: str, status: str, paid: float = 0) -> list[Any]:
    return [dt.date(2026, 10, 1), "Zed", "Aetna", code, 2, 80, paid, status, "CO-97" if paid == 0 else None]


#: Every kind of payer: (Payers rows, Claims rows or None, the session lines' payer, the code
#: its rules would choose for an `either` line).
PAYER_KINDS: dict[str, tuple[list[list[Any]], list[list[Any]] | None, str, str]] = {
    "accepts only 97124": ([payer("Aetna", accepts="97124", r010=5)], None, "Aetna", "97124"),
    "accepts only 97140": ([payer("Aetna", accepts="97140", r010=5)], None, "Aetna", "97140"),
    "prefers 97124": ([payer("Aetna", preferred="97124", r010=5)], None, "Aetna", "97124"),
    "prefers 97140": ([payer("Aetna", preferred="97140", r010=5)], None, "Aetna", "97140"),
    "history favours 97124": (
        [payer("Aetna", r010=5)],
        [claim("97140", "Denied"), claim("97140", "Denied"), claim("97124", "Paid", 60)],
        "Aetna",
        "97124",
    ),
    "history favours 97140": (
        [payer("Aetna", r010=5)],
        [claim("97124", "Denied"), claim("97140", "Paid", 64)],
        "Aetna",
        "97140",
    ),
    "unknown payer": ([payer("Aetna", r010=5)], None, "Nobody Insurance", "97140"),  # the default code
}

#: Documented services and the code each one is billed as, whatever the payer.
SERVICES: dict[str, str] = {
    "massage": "97124",
    "manual therapy": "97140",
    "myofascial release": "97140",
    "MLD": "97140",
    "trigger point": "97140",
    "soft tissue mobilization": "97140",
    "hot/cold pack": "97010",
    "97124": "97124",
    "97140": "97140",
    "97110": "97110",
}


def expected_flags(kind: str, code: str) -> set[str]:
    """The flags a documented line of this code gets at this kind of payer (one line per visit)."""
    if kind == "unknown payer":
        return {"UNKNOWN_PAYER"}
    flags = set()
    if (kind, code) in (("accepts only 97124", "97140"), ("accepts only 97140", "97124")):
        flags.add("NOT_ACCEPTED")
    if (kind, code) in (("history favours 97124", "97140"), ("history favours 97140", "97124")):
        flags.add("DENIED_BEFORE")
    if code == "97110":  # no Rate 97110 column on the Payers sheet
        flags.add("NO_RATE")
    return flags


def kind_book(kind: str, lines: list[list[Any]], defaults: dict[str, Any] | None = None) -> MemoryBook:
    payers, claims, _, _ = PAYER_KINDS[kind]
    book = book_of(lines, payers, defaults)
    if claims is not None:
        book.sheets["Claims"] = [CLAIMS_HEADER, *claims]
    return book


@pytest.mark.parametrize("kind", sorted(PAYER_KINDS))
@pytest.mark.parametrize("service", sorted(SERVICES))
def test_a_documented_service_keeps_its_code_at_every_kind_of_payer(kind: str, service: str) -> None:
    code = SERVICES[service]
    who = PAYER_KINDS[kind][2]
    # Typed wrongly before (the other massage code, or none): the Service still decides.
    typed = {"97124": "97140", "97140": "97124"}.get(code)
    book = kind_book(kind, [line(38, payer=who, service=service, code=typed)])
    before, _ = check(book, "2026-11")
    recode(book, "2026-11", now=NOW)
    ((written, units, _, flags),) = outcome(book)
    assert written == code
    assert units == (1 if code == "97010" else 3)
    assert flags == expected_flags(kind, code)
    assert {f.flag.value for f in before.results[0].flags} - {"NOT_ACCEPTED", "DENIED_BEFORE"} == flags - {
        "NOT_ACCEPTED",
        "DENIED_BEFORE",
    }
    if typed:  # the wrong code was overwritten, and the Changes log says why
        ((*_, before_text, after_text, why),) = changes_rows(book)
        assert before_text.startswith(typed) and after_text.startswith(code)
        assert f"documented service {code}" in why
    assert recode(book, "2026-11", now=NOW)[0].changed == 0


@pytest.mark.parametrize("kind", sorted(PAYER_KINDS))
def test_either_lines_follow_the_payer_rules_at_every_kind_of_payer(kind: str) -> None:
    _, _, who, chosen = PAYER_KINDS[kind]
    for service, defaults in (("either", None), (None, {"Blank service": "either"})):
        book = kind_book(kind, [line(38, payer=who, service=service)], defaults)
        recode(book, "2026-11", now=NOW)
        assert column(book, "Code") == [chosen], (kind, service)


@pytest.mark.parametrize(
    ("blank", "code"), [(None, "97124"), ("massage", "97124"), ("manual therapy", "97140"), ("MLD", "97140")]
)
def test_a_blank_service_is_the_blank_service_setting(blank: str | None, code: str) -> None:
    for kind in ("prefers 97124", "prefers 97140", "accepts only 97124"):
        book = kind_book(kind, [line(30)], {"Blank service": blank} if blank else None)
        recode(book, now=NOW)
        assert column(book, "Code") == [code], kind


def test_not_accepted_says_what_the_payer_covers_and_what_to_do() -> None:
    book = book_of(
        [
            line(45, service="manual therapy", payer="Lakeside Auto PIP"),
            line(45, client="Bob", service="massage", payer="Evergreen"),
        ],
        [payer("Lakeside Auto PIP", accepts="97124"), payer("Evergreen", accepts="97140", r124=None)],
    )
    recode(book, now=NOW)
    lakeside, evergreen = column(book, "Flags")
    assert column(book, "Code") == ["97140", "97124"]  # the documented services' codes stay
    assert lakeside == (
        "NOT_ACCEPTED: Lakeside Auto PIP covers only 97124 (massage): bill it only if the session was "
        "massage, otherwise collect from the client (with a signed waiver on file)"
    )
    assert evergreen.startswith(
        "NOT_ACCEPTED: Evergreen covers only 97140 (manual therapy): bill it only if the session was "
        "manual therapy, otherwise collect from the client"
    )
    assert flag_ids(evergreen) == {"NOT_ACCEPTED", "NO_RATE"}


# --- CMS pools the day; AMA counts each code within a visit ----------------------------------------


def day(*entries: tuple[Any, str, str], rule: str = "CMS", cap: Any = None, r010: Any = 5) -> MemoryBook:
    """Lines (minutes, service, visit) of one client's day with one payer."""
    lines = [line(m, service=service, visit=visit) for m, service, visit in entries]
    return book_of(lines, [payer("Aetna", rule=rule, cap=cap, r010=r010)])


def units_after_recode(book: MemoryBook) -> list[tuple[Any, Any]]:
    recode(book, now=NOW)
    assert recode(book, now=NOW)[0].changed == 0  # a second recode changes nothing
    return list(zip(column(book, "Code"), column(book, "Units"), strict=True))


@pytest.mark.parametrize(
    ("entries", "cms", "ama"),
    [
        # Two visits of 10 minutes: 20 minutes of the day are 1 unit under CMS (not 2); AMA 1 + 1.
        ([(10, "massage", "1"), (10, "massage", "2")], [1, 0], [1, 1]),
        # 20 + 20: 40 minutes are 3 units under CMS (not 2); AMA 1 + 1.
        ([(20, "massage", "1"), (20, "massage", "2")], [2, 1], [1, 1]),
        # 33 minutes of massage in one visit, 7 of manual therapy in another: 40 minutes = 3 units,
        # 2 to 97124 (its full 30 minutes) and 1 to 97140 (7 leftover minutes beat 3). AMA: 2 + 0.
        ([(33, "massage", "1"), (7, "manual therapy", "2")], [2, 1], [2, 0]),
        # The same in one visit: the visit is mixed, the units the same.
        ([(33, "massage", ""), (7, "manual therapy", "")], [2, 1], [2, 0]),
        # Three visits of 5 minutes: 15 minutes, 1 unit to the first line (ties to the earlier line).
        ([(5, "massage", "1"), (5, "massage", "2"), (5, "massage", "3")], [1, 0, 0], [0, 0, 0]),
    ],
)
def test_cms_pools_the_timed_minutes_of_the_day_and_ama_each_visit(
    entries: list[tuple[Any, str, str]], cms: list[int], ama: list[int]
) -> None:
    codes = [{"massage": "97124", "manual therapy": "97140"}[service] for _, service, _ in entries]
    assert units_after_recode(day(*entries, rule="CMS")) == list(zip(codes, cms, strict=True))
    assert units_after_recode(day(*entries, rule="AMA")) == list(zip(codes, ama, strict=True))


def test_cms_pooling_is_per_client_payer_and_day() -> None:
    lines = [
        line(10, visit="1"),
        line(10, visit="2"),
        line(10, visit="1", date="2026-11-04"),  # another day
        line(10, visit="1", client="Bob"),  # another client
        line(10, visit="2", payer="Blue"),  # another payer
    ]
    book = book_of(lines, [payer("Aetna"), payer("Blue")])
    recode(book, now=NOW)
    assert column(book, "Units") == [1, 0, 1, 1, 1]
    flags = [flag_ids(f) for f in column(book, "Flags")]
    assert flags == [set()] * 5  # the day's 20 minutes give a unit: no visit is under 8 minutes
    # The Changes-log reason says the day's visits were pooled.
    plan, _ = check(book)
    assert plan.changed == 0


def test_under_8_minutes_is_the_day_under_cms_and_the_visit_under_ama() -> None:
    for rule, flagged in (("CMS", [{"UNDER_8_MIN"}, {"UNDER_8_MIN"}]), ("AMA", [{"UNDER_8_MIN"}] * 2)):
        book = day((3, "massage", "1"), (4, "massage", "2"), rule=rule)
        recode(book, now=NOW)
        assert [flag_ids(f) for f in column(book, "Flags")] == flagged
    book = day((3, "massage", "1"), (5, "massage", "2"), rule="AMA")  # CMS: 8 minutes, 1 unit
    recode(book, now=NOW)
    assert column(book, "Units") == [0, 0]
    book = day((3, "massage", "1"), (5, "massage", "2"), rule="CMS")
    recode(book, now=NOW)
    assert column(book, "Units") == [0, 1] and column(book, "Flags") == [None, None]


@pytest.mark.parametrize("rule", ["CMS", "AMA"])
def test_a_hot_cold_pack_is_one_unit_per_client_payer_and_day(rule: str) -> None:
    book = day(
        (30, "massage", "1"), (10, "hot pack", "1"), (30, "massage", "2"), (10, "cold pack", "2"), rule=rule
    )
    book.sheets["Sessions"].append(line(10, service="hot pack", date="2026-11-04"))
    recode(book, now=NOW)
    assert list(zip(column(book, "Code"), column(book, "Units"), strict=True)) == [
        ("97124", 2),
        ("97010", 1),
        ("97124", 2),
        ("97010", 0),  # already billed once this day
        ("97010", 1),  # another day
    ]


def test_max_units_caps_each_visit_not_the_day() -> None:
    book = day((30, "massage", "1"), (30, "massage", "2"), cap=2)  # the day's 60 minutes: 4 units
    assert units_after_recode(book) == [("97124", 2), ("97124", 2)]
    assert column(book, "Flags") == [None, None]
    book = day((45, "massage", "1"), (30, "massage", "2"), cap=2)  # 75 minutes: 5 units, 3 + 2
    assert units_after_recode(book) == [("97124", 2), ("97124", 2)]
    flags = [flag_ids(f) for f in column(book, "Flags")]
    assert flags == [{"OVER_CAP"}, set()]


# --- Two services in one visit ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("modifiers", "mixed"),
    [
        (None, True),
        ("GP", True),
        ("59", False),
        ("xs", False),
        ("59, GP", False),
    ],
)
def test_a_visit_of_massage_and_manual_therapy_bills_both(modifiers: str | None, mixed: bool) -> None:
    book = book_of(
        [line(30, service="massage"), line(15, service="manual therapy", modifiers=modifiers)],
        [payer("Aetna")],
    )
    before, _ = check(book)
    recode(book, now=NOW)
    flags = [flag_ids(f) for f in column(book, "Flags")]
    assert outcome(book)[0][:3] == ("97124", 2, "60.00")
    assert outcome(book)[1][:3] == ("97140", 1, "32.00")
    assert flags == ([{"MIXED_CODES"}] * 2 if mixed else [set(), set()])
    assert [flag_ids(r.flags_text) for r in before.results] == flags
    if mixed:
        note = column(book, "Flags")[0]
        assert "NCCI" in note and "59 or XS on the 97140 line" in note and "different body regions" in note


def test_a_modifier_on_the_massage_line_does_not_separate_the_visit() -> None:
    book = book_of([line(30, service="massage", modifiers="59"), line(15, service="manual therapy")])
    recode(book, now=NOW)
    assert [flag_ids(f) for f in column(book, "Flags")] == [{"MIXED_CODES"}] * 2


def test_either_lines_of_a_visit_share_one_code_beside_a_documented_one() -> None:
    book = book_of(
        [
            line(30, service="massage"),
            line(15, service="either"),
            line(20, service="either", client="Bob"),
            line(25, service="either", client="Bob"),
        ],
        [payer("Aetna", preferred="97140")],
    )
    recode(book, now=NOW)
    # Ann's either line joins the visit's massage code; Bob's either lines take the Preferred code.
    assert column(book, "Code") == ["97124", "97124", "97140", "97140"]
    assert column(book, "Flags") == [None] * 4


# --- Duplicates ------------------------------------------------------------------------------------


def test_duplicates_consider_visit_and_service() -> None:
    book = book_of(
        [
            line(30, visit="AM"),
            line(30, visit="PM"),  # another visit the same day: not a duplicate
            line(45, visit="1"),
            line(45, visit="1"),  # the same visit typed twice
            line(20, visit="2", service="massage"),
            line(20, visit="2", service="manual therapy", modifiers="XS"),  # two services
            line(50, client="Bob"),
            line(50, client="Bob", service="massage"),  # blank Service is massage: the same
        ]
    )
    plan, _ = check(book)
    assert [("DUPLICATE" in flag_ids(r.flags_text)) for r in plan.results] == [
        False, False, True, True, False, False, True, True,
    ]  # fmt: skip


# --- Lines that become self-pay --------------------------------------------------------------------


def test_a_line_made_self_pay_loses_its_billing_and_fill_and_the_change_is_logged() -> None:
    book = book_of([line(30, client="Ann"), line(7, client="Bob"), line(30, client="Cy")])
    recode(book, now=NOW)
    assert book.highlighted["Sessions"] == {2: False, 3: True, 4: False}
    rows = book.sheets["Sessions"]
    rows[1][2] = None  # Ann pays herself after all
    rows[2][2] = "  "  # so does Bob, whose line was flagged
    before, _ = check(book)
    plan, _ = recode(book, now=NOW)
    assert before.changed == plan.changed == 2
    assert plan.lines == 1 and [r.row for r in plan.cleared] == [2, 3]
    assert outcome(book) == [
        (None, None, None, set()),
        (None, None, None, set()),
        ("97124", 2, "60.00", set()),
    ]
    assert book.highlighted["Sessions"][2] is False and book.highlighted["Sessions"][3] is False
    logged = [(r[2], r[3], r[5], r[6], r[7]) for r in changes_rows(book)[1:]]
    assert logged == [
        (
            2,
            "Ann",
            "97124 x 2 = 60.00",
            "not billed (self-pay)",
            "Payer cleared: a self-pay line is not billed",
        ),
        (
            3,
            "Bob",
            "97124 x 0 = 0.00",
            "not billed (self-pay)",
            "Payer cleared: a self-pay line is not billed",
        ),
    ]
    count = len(changes_rows(book))
    again, _ = recode(book, now=NOW)
    assert (again.changed, again.cleared, len(changes_rows(book))) == (0, (), count)


def test_self_pay_lines_keep_what_the_program_did_not_write() -> None:
    book = book_of(
        [
            line(30, payer=None, code="97124", units=2, flags="cash, receipt sent"),  # the therapist's own
            line(30, payer=None, lock="x", code="97124", units=2, expected=60, flags="NO_RATE: old"),
            line(30, payer=None, date="2026-10-02", code="97124", units=2),  # outside the month
        ]
    )
    plan, _ = recode(book, "2026-11", now=NOW)
    assert outcome(book) == [
        ("97124", 2, None, {"cash, receipt sent"}),
        ("97124", 2, None, set()),  # locked: Code and Units kept, Expected and Flags cleared
        ("97124", 2, None, set()),
    ]
    assert [r.row for r in plan.cleared] == [3]
    assert [r[5] for r in changes_rows(book)] == ["97124 x 2 = 60.00"]


# --- The rule the era helper asks --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("service", "blank", "either"),
    [
        ("either", "massage", True),
        (None, "either", True),
        (None, "massage", False),
        (None, "manual therapy", False),
        ("97124", "either", False),
        ("97140", "either", False),
        ("97010", "either", False),
    ],
)
def test_is_either(service: str | None, blank: str, either: bool) -> None:
    line_ = Line(sheet="S", row=2, payer="Aetna", minutes=30, service=service)
    assert is_either(line_, Settings(blank_service=blank)) is either


def test_the_file_door_clears_a_line_made_self_pay(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "billing.xlsx"
    assert run(capsys, "new", str(path), "--sample")[0] == 0
    assert run(capsys, "recode", str(path), "--month", "2026-11", "--json")[0] == 0
    wb = openpyxl.load_workbook(path)
    sessions = wb["Sessions"]
    header = [cell.value for cell in sessions[1]]
    owned = [header.index(name) for name in ("Code", "Units", "Expected", "Flags")]
    flagged = next(  # a shaded line: Pinecrest Health is not on the Payers sheet
        row for row in sessions.iter_rows(min_row=2) if str(row[owned[3]].value).startswith("UNKNOWN_PAYER")
    )
    flagged[header.index("Payer")].value = None
    row = flagged[0].row
    wb.save(path)
    status, out, _ = run(capsys, "recode", str(path), "--month", "2026-11", "--json")
    assert status == 0 and json.loads(out)["changed"] == 1
    wb = openpyxl.load_workbook(path)
    assert [wb["Sessions"].cell(row, i + 1).value for i in owned] == [None] * 4
    last = [cell.value for cell in list(wb["Changes"].iter_rows())[-1]]
    assert (last[2], last[6]) == (row, "not billed (self-pay)")
    status, out, _ = run(capsys, "recode", str(path), "--month", "2026-11", "--json")
    assert json.loads(out)["changed"] == 0
