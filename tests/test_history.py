"""Claim history: outcomes per payer and code, the code it favours, and how the recode uses it."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cptbill.book import MemoryBook, check, recode
from cptbill.codes import MASSAGE_FAMILY
from cptbill.coding import choose_code
from cptbill.contract import Flag, Status
from cptbill.history import (
    BILL_CLIENT,
    FollowUp,
    denied_before,
    favoured_code,
    follow_ups,
    late_note,
    learned_text,
    outcomes,
    shortfalls,
)
from cptbill.models import Claim, Line, Payer, Settings
from cptbill.plan import make_plan

DAY = dt.date(2026, 10, 1)


def summit(**fields: Any) -> Payer:
    values: dict[str, Any] = {"name": "Summit Mutual", "rates": {"97124": Decimal(30), "97140": Decimal(32)}}
    return Payer(**(values | fields))


def claim(
    code: str,
    status: Status,
    paid: Any = None,
    units: float = 2,
    *,
    payer: str = "Summit Mutual",
    client: str = "Ann",
    date: dt.date = DAY,
    reason: str = "",
) -> Claim:
    return Claim(
        date=date,
        client=client,
        payer=payer,
        code=code,
        units=units,
        paid=None if paid is None else Decimal(str(paid)),
        status=status,
        reason=reason,
    )


def paid(code: str, amount: Any, units: float = 2, times: int = 1, **kw: Any) -> list[Claim]:
    return [claim(code, Status.PAID, amount, units, **kw) for _ in range(times)]


def denied(code: str, times: int = 1, **kw: Any) -> list[Claim]:
    return [claim(code, Status.DENIED, None, 2, reason="CO-97", **kw) for _ in range(times)]


def line(row: int, client: str, **fields: Any) -> Line:
    values = {"sheet": "Sessions", "row": row, "date": dt.date(2026, 11, 3), "client": client}
    return Line(**(values | {"payer": "Summit Mutual", "minutes": 30.0} | fields))


def test_denies_97140_pays_97124_chooses_97124_and_flags_a_locked_97140_line() -> None:
    history = outcomes([*denied("97140", 2), *paid("97124", 60)])
    payer = summit()
    plan = make_plan(
        [line(2, "Ann"), line(3, "Bob", locked=True, code="97140", units=2)],
        {payer.key: payer},
        Settings(),  # default 97140: choosing 97124 is the history's doing
        history,
    )
    free, locked = plan.results
    assert (free.code, free.units, free.expected) == ("97124", 2, Decimal("60.00"))
    assert Flag.DENIED_BEFORE not in {f.flag for f in free.flags}
    assert locked.code == "97140"
    notes = {f.flag: f.note for f in locked.flags}
    assert "denied 97140 2 time(s)" in notes[Flag.DENIED_BEFORE]
    assert denied_before(payer.key, "97140", history) == 2
    assert denied_before(payer.key, "97124", history) == 0


@pytest.mark.parametrize(
    ("denials_140", "favoured", "score_140"),
    [
        (0, "97140", Decimal("32.00")),  # pays more per unit, never denied
        (1, "97124", Decimal("24.00")),  # 32.00 x (1 - 1/4) = 24.00 < 30.00
    ],
)
def test_paying_both_the_higher_expected_value_per_unit_wins(
    denials_140: int, favoured: str, score_140: Decimal
) -> None:
    history = outcomes(
        [*paid("97124", 60, times=3), *paid("97140", 64, times=3), *denied("97140", denials_140)]
    )
    payer = summit()
    assert history[(payer.key, "97124")].per_unit == Decimal("30.00")
    assert history[(payer.key, "97140")].per_unit == Decimal("32.00")
    assert history[(payer.key, "97140")].score == score_140
    assert favoured_code(payer, history)[0] == favoured
    assert choose_code(payer, Settings(default_code="97124"), history)[0] == favoured


def test_a_tie_after_weighting_gives_the_default() -> None:
    # 97124: 30.00/unit x 2/3 = 20.00; 97140: 20.00/unit x 1 = 20.00 -> tie (to the cent).
    history = outcomes([*paid("97124", 60, times=2), *denied("97124"), *paid("97140", 40, times=2)])
    payer = summit()
    code, why = favoured_code(payer, history)
    assert code is None and why.startswith("tie: ")
    for default in MASSAGE_FAMILY:
        assert choose_code(payer, Settings(default_code=default), history)[0] == default


def test_no_history_gives_the_default() -> None:
    payer = summit()
    assert favoured_code(payer, {}) == (None, "no paid or denied claims yet")
    assert choose_code(payer, Settings(default_code="97124"), {}) == ("97124", "default code 97124")


def test_preferred_and_accepts_beat_history() -> None:
    history = outcomes([*denied("97140", 3), *paid("97124", 60, times=3)])
    preferred = summit(preferred="97140")
    assert favoured_code(preferred, history)[0] == "97124"
    assert choose_code(preferred, Settings(), history) == ("97140", "Summit Mutual prefers 97140")
    only = summit(accepts=("97140",))
    assert choose_code(only, Settings(default_code="97124"), history)[0] == "97140"
    # History only weighs the codes a payer takes.
    assert favoured_code(only, history)[0] is None


def test_pending_claims_are_not_denials() -> None:
    history = outcomes([claim("97140", Status.PENDING, units=2) for _ in range(3)])
    payer = summit()
    outcome = history[(payer.key, "97140")]
    assert (outcome.pending, outcome.denied, outcome.paid) == (3, 0, 0)
    assert favoured_code(payer, history)[0] is None
    plan = make_plan(
        [line(2, "Ann", locked=True, code="97140", units=2)], {payer.key: payer}, Settings(), history
    )
    assert Flag.DENIED_BEFORE not in {f.flag for f in plan.results[0].flags}


def test_partial_payments_count_as_paid() -> None:
    history = outcomes([claim("97124", Status.PARTIAL, 40), *paid("97124", 60)])
    outcome = history[(summit().key, "97124")]
    assert (outcome.paid, outcome.partial, outcome.denied) == (2, 1, 0)
    assert outcome.paid_total == Decimal(100)
    assert outcome.per_unit == Decimal("25.00")  # 100 / 4 units


@pytest.mark.parametrize("taken_back", [-67, 67])  # a reversal takes back whatever its sign
def test_reversals_net_out_amount_and_units(taken_back: int) -> None:
    history = outcomes(
        [*paid("97140", 67), claim("97140", Status.REVERSED, taken_back, units=-2), *paid("97140", 55)]
    )
    outcome = history[(summit().key, "97140")]
    assert outcome.paid_total == Decimal(55)
    assert outcome.paid_units == 2
    assert outcome.per_unit == Decimal("27.50")
    assert (outcome.paid, outcome.reversed) == (2, 1)


def test_a_code_denied_and_never_paid_loses_to_an_untried_code_and_to_a_paid_one() -> None:
    payer = summit()
    history = outcomes(denied("97140", 2))
    assert favoured_code(payer, history) == ("97124", "97140 denied 2 of 2; 97124 not tried yet")
    history = outcomes([*denied("97140", 2), *paid("97124", 1, units=2)])  # even a poor payment wins
    assert favoured_code(payer, history)[0] == "97124"
    history = outcomes([*denied("97140", 2), *denied("97124")])
    code, why = favoured_code(payer, history)
    assert code is None and why == "no code paid yet: 97124 denied 1 of 1; 97140 denied 2 of 2"


def test_latest_per_unit_is_by_date_of_service_and_reasons_are_denial_reasons() -> None:
    history = outcomes(
        [
            *paid("97124", 60, date=dt.date(2026, 10, 20)),
            *paid("97124", 50, date=dt.date(2026, 10, 1)),  # typed later, served earlier
            claim("97124", Status.PAID, 40, reason="CO-45"),
            claim("97124", Status.DENIED, reason="CO-97"),
            claim("97124", Status.DENIED, reason="co-16, CO-97"),
        ]
    )
    outcome = history[(summit().key, "97124")]
    assert outcome.latest_per_unit == Decimal("30.00")
    assert outcome.per_unit == Decimal("25.00")  # 150 / 6
    assert outcome.reasons == ("CO-97", "CO-16")


def test_learned_text_is_short_and_names_the_code_once_up_front() -> None:
    history = outcomes([*denied("97140", 3), *paid("97124", "62.40", times=5)])
    assert learned_text(summit(), history) == "97124 — 97140 denied 3 of 3; 97124 paid 5, $31.20/unit"
    assert learned_text(summit(), {}) == "no preference — no paid or denied claims yet"
    assert learned_text(summit(preferred="97140"), history).endswith("(Preferred 97140 is used)")
    assert learned_text(summit(accepts=("97140",)), history) == (
        "no preference — no code paid yet: 97140 denied 3 of 3 (accepts only 97140)"
    )


def test_recode_writes_learned_only_with_a_claims_sheet_and_keeps_preferred() -> None:
    sessions = [["Date", "Client", "Payer", "Minutes"], ["2026-11-03", "Ann", "Summit Mutual", 30]]
    payers = [
        ["Payer", "Preferred", "Rate 97124", "Rate 97140"],
        ["Summit Mutual", None, 30, 32],
        ["Harbor", "97140", 31.2, 33.5],
    ]
    claims = [["Date", "Client", "Payer", "Code", "Units", "Paid", "Status", "Reason"]]
    claims += [["2026-10-01", "Ann", "Summit Mutual", "97140", 2, None, "Denied", "CO-97"]]
    claims += [["2026-10-02", "Ann", "Summit Mutual", "97124", 2, 60, "Paid", ""]]
    book = MemoryBook({"Sessions": sessions, "Payers": payers, "Claims": claims})
    plan, _ = recode(book)
    assert plan.results[0].code == "97124"
    assert book.sheets["Payers"][0][-1] == "Learned"
    assert book.sheets["Payers"][1][-1] == "97124 — 97140 denied 1 of 1; 97124 paid 1, $30.00/unit"
    assert book.sheets["Payers"][2][1] == "97140"  # Preferred untouched
    assert (
        book.sheets["Payers"][2][-1]
        == "no preference — no paid or denied claims yet (Preferred 97140 is used)"
    )

    without = MemoryBook({"Sessions": sessions, "Payers": payers})
    recode(without)
    assert "Learned" not in without.sheets["Payers"][0]


statuses = st.sampled_from(list(Status))
claims_strategy = st.lists(
    st.builds(
        claim,
        code=st.sampled_from(MASSAGE_FAMILY),
        status=statuses,
        paid=st.one_of(st.none(), st.integers(-100, 200)),
        units=st.integers(-2, 4),
    ),
    max_size=12,
)
accepts_strategy = st.sampled_from([(), ("97124",), ("97140",), ("97124", "97140")])


@given(claims=claims_strategy, accepts=accepts_strategy)
def test_the_favoured_code_is_always_one_the_payer_takes_and_scores_best(
    claims: list[Claim], accepts: tuple[str, ...]
) -> None:
    payer = summit(accepts=accepts)
    history = outcomes(claims)
    code, why = favoured_code(payer, history)
    assert why
    if code is None:
        return
    assert payer.takes(code)
    tried = [history[(payer.key, c)] for c in MASSAGE_FAMILY if (payer.key, c) in history and payer.takes(c)]
    best = history.get((payer.key, code))
    assert all((best.score if best else Decimal(0)) >= other.score for other in tried if other.decided)


# ---------------------------------------------------------------------------------------------
# The follow-up list: routed by reason, settled by line


TODAY = dt.date(2026, 11, 30)


def row(
    number: int, status: Status, reason: str = "", *, code: str = "97124", billed: Any = 80, paid: Any = 0,
    owes: Any = None, adjusted: str = "", claim_id: str = "C1", line: str = "1", date: dt.date | None = DAY,
    client: str = "Ann", payer: str = "Summit Mutual", payer_claim_id: str = "P1",
) -> Claim:  # fmt: skip
    return Claim(
        row=number, date=date, client=client, payer=payer, code=code, units=2,
        billed=None if billed is None else Decimal(str(billed)), paid=None if paid is None else Decimal(str(paid)),
        status=status, reason=reason, claim_id=claim_id, line=line, payer_claim_id=payer_claim_id,
        patient_owes=None if owes is None else Decimal(str(owes)), adjusted=adjusted,
    )  # fmt: skip


def items(*claims: Claim, either: bool = False, limit: int | None = None) -> list[FollowUp]:
    payers = {summit().key: summit(filing_limit=limit)}
    return follow_ups(list(claims), payers, lambda claim: either, TODAY)


def only(*claims: Claim, **kw: Any) -> FollowUp:
    found = items(*claims, **kw)
    assert len(found) == 1, found
    return found[0]


@pytest.mark.parametrize(
    ("status", "adjusted", "action", "amount"),
    [
        # PR-1/2/3: bill the client what the client owes, never "write off"
        (Status.PATIENT, "CO-45 20.00; PR-1 60.00", BILL_CLIENT, 60),
        (Status.PAID, "CO-45 20.00; PR-2 15.00", BILL_CLIENT, 15),
        (Status.PAID, "CO-45 20.00; PR-3 20.00", BILL_CLIENT, 20),
        # another payer: bill it or wait for it
        (Status.OTHER_PAYER, "OA-23", "Check the other payer's payment", 80),  # no amounts: all of it
        (Status.FORWARDED, "OA-23 80.00", "Wait for the next payer's answer", 80),
        # information errors: a corrected claim with the same code
        (Status.DENIED, "CO-16 80.00", "Send a corrected claim with the same code (frequency code 7", 80),
        (Status.DENIED, "CO-4 80.00", "Send a corrected claim with the same code", 80),
        (Status.DENIED, "CO-197 80.00", "Ask the payer for a retro-authorization, or appeal", 80),
        (Status.DENIED, "CO-50 80.00", "Appeal with the treatment notes and the prescription", 80),
        (Status.DENIED, "CO-29 80.00", "Appeal only with proof of timely filing", 80),
        (
            Status.DENIED,
            "CO-96 80.00",
            "Bill the client only with a signed waiver on file; else write it off",
            80,
        ),
        (Status.DENIED, "CO-204 80.00", "Bill the client only with a signed waiver on file", 80),
        (Status.DENIED, "CO-B7 80.00", "Bill the client only with a signed waiver on file", 80),
        (Status.DENIED, "CO-170 80.00", "Bill the client only with a signed waiver on file", 80),
        (
            Status.DENIED,
            "CO-97 80.00",
            "Add modifier 59 or XS only if the notes show a separate body region",
            80,
        ),
        (Status.PARTIAL, "CO-45 10.00; CO-236 30.00", "Add modifier 59 or XS only if", 30),
        (Status.DENIED, "CO-119 80.00", "Check the client's visit count and any secondary coverage", 80),
        # reasons seen in the second wild pass of public remittances
        (Status.DENIED, "CO-109 80.00", "Send the claim to the client's right payer", 80),
        (Status.DENIED, "CO-15 80.00", "Send a corrected claim with the same code", 80),
        (Status.DENIED, "CO-252 80.00", "Send the documentation the payer asks for", 80),
        (Status.DENIED, "CO-150 80.00", "Appeal with the treatment notes", 80),
        (Status.DENIED, "CO-167 80.00", "Check the diagnosis code", 80),
        (Status.DENIED, "CO-234 80.00", "Add modifier 59 or XS only if", 80),
        # third pass: a Medicaid plan's capitated service (CO-24): paid by the capitation
        (
            Status.DENIED,
            "CO-24 80.00",
            "Nothing to bill: the plan pays this service under your capitation",
            80,
        ),
        (Status.DENIED, "CO-999 80.00", "Look the reason up", 80),
    ],
)
def test_each_reason_is_routed_to_its_next_step(
    status: Status, adjusted: str, action: str, amount: int
) -> None:
    paid = 40 if status in (Status.PAID, Status.PARTIAL) else 0
    owes = sum(Decimal(p.split()[1]) for p in adjusted.split("; ") if p.startswith("PR-")) or None
    reason = "; ".join(part.split()[0] for part in adjusted.split("; "))
    item = only(row(2, status, reason, paid=paid, owes=owes, adjusted=adjusted))
    assert item.action.startswith(action)
    assert item.amount == amount
    assert item.new_code is None  # never "the other code" for a documented service
    if item.action == BILL_CLIENT:
        assert "write" not in item.action.lower() and "write" not in item.why.lower()
        assert item.deadline is None  # the client, not the payer: no filing limit


def test_nothing_to_do_for_duplicates_paid_lines_and_predeterminations() -> None:
    assert items(row(2, Status.DENIED, "OA-18", adjusted="OA-18 80.00")) == []
    assert items(row(2, Status.PAID, "CO-45", paid=60, adjusted="CO-45 20.00")) == []
    assert items(row(2, Status.PARTIAL, "CO-45; CO-253", paid=58, adjusted="CO-45 20.00; CO-253 2.00")) == []
    assert items(row(2, Status.PREDETERMINATION, "CO-45", adjusted="CO-45 80.00")) == []
    assert items(row(2, Status.REVERSED, "CO-45", paid=-60, adjusted="CO-45 -20.00")) == []


def test_a_denial_with_patient_responsibility_gives_both_items() -> None:
    found = items(row(2, Status.DENIED, "CO-97; PR-1", owes=30, adjusted="CO-97 50.00; PR-1 30.00"))
    assert [(i.action.split(" ")[0], i.amount) for i in found] == [("Bill", 30), ("Add", 50)]
    assert found[0].why.startswith("PR-1 deductible 30.00")


def test_try_the_other_code_only_for_an_either_line_whose_code_is_not_covered() -> None:
    not_covered = row(2, Status.DENIED, "CO-96", adjusted="CO-96 80.00")
    item = only(not_covered, either=True)
    assert item.new_code == "97140"
    assert item.action.startswith("Send a corrected claim with 97140")
    # a documented service (not either): the waiver advice, never another code
    assert only(not_covered, either=False).new_code is None
    # either, but the denial is about something else: no switch
    assert only(row(2, Status.DENIED, "CO-16", adjusted="CO-16 80.00"), either=True).new_code is None
    # settled by a later paid row of the same day, client and payer with the other code
    other_paid = row(3, Status.PAID, "CO-45", code="97140", paid=60, claim_id="C2", adjusted="CO-45 30.00")
    assert items(not_covered, other_paid, either=True) == []


def test_resolution_is_by_service_line_not_by_day() -> None:
    corrected = row(2, Status.DENIED, "CO-16", adjusted="CO-16 80.00")
    # a 97010 line of the same claim and day, paid later: settles nothing
    pack = row(3, Status.PAID, "", code="97010", line="2", billed=15, paid=5)
    assert len(items(corrected, pack)) == 1
    # the same claim ID and line paid later: settled
    assert items(corrected, row(3, Status.PAID, "CO-45", paid=60, adjusted="CO-45 20.00")) == []
    # the same date, client, payer and code under another claim number (a corrected claim sent)
    resent = row(3, Status.SUBMITTED, code="97124", claim_id="C1-7", paid=None)
    assert items(corrected, resent) == []
    # a row above (typed earlier) does not settle it
    assert len(items(row(3, Status.PAID, "CO-45", paid=60), corrected)) == 1
    # denied again later: the later answer is the open item, once
    again = row(3, Status.DENIED, "CO-50", adjusted="CO-50 80.00")
    assert [i.row for i in items(corrected, again)] == [3]


def test_deadlines_come_from_the_payers_filing_limit_and_flag_the_overdue() -> None:
    denial = row(2, Status.DENIED, "CO-16", adjusted="CO-16 80.00", date=dt.date(2026, 9, 1))
    item = only(denial, limit=90)
    assert (item.deadline, item.overdue) == (dt.date(2026, 11, 30), False)
    item = only(denial, limit=60)
    assert (item.deadline, item.overdue) == (dt.date(2026, 10, 31), True)
    assert only(denial).deadline is None  # no filing limit on the Payers sheet


def test_shortfalls_are_payer_shortfalls_net_of_what_the_client_owes() -> None:
    payers = {summit().key: summit()}  # 97124 at 30 a unit: 60 expected for 2 units
    coinsurance = row(2, Status.PAID, "CO-45; PR-2", paid=45, owes=15, adjusted="CO-45 20.00; PR-2 15.00")
    assert shortfalls([coinsurance], payers) == []
    short = row(2, Status.PAID, "CO-45; PR-2", paid=40, owes=15, adjusted="CO-45 25.00; PR-2 15.00")
    (found,) = shortfalls([short], payers)
    assert (found.expected, found.paid, found.patient_owes, found.difference) == (60, 40, 15, 5)
    deductible = row(2, Status.PATIENT, "CO-45; PR-1", owes=60, adjusted="CO-45 20.00; PR-1 60.00")
    assert shortfalls([deductible], payers) == []
    # a reversal takes back its payment and its patient share
    reversed_row = row(3, Status.REVERSED, "CO-45; PR-2", paid=-45, owes=-15)
    (found,) = shortfalls([coinsurance, reversed_row], payers)
    assert (found.paid, found.patient_owes, found.difference) == (0, 0, 60)


def test_late_flags_old_lines_without_a_claims_row() -> None:
    payer = summit(filing_limit=90)
    old = Line(
        sheet="Sessions", row=2, date=dt.date(2026, 8, 1), client="Ann", payer="Summit Mutual", minutes=30
    )
    recent = Line(
        sheet="Sessions", row=3, date=dt.date(2026, 10, 1), client="Ann", payer="Summit Mutual", minutes=30
    )
    history = outcomes([], TODAY)
    note = late_note(old, payer, history)
    assert note is not None and note.flag is Flag.LATE
    assert "90 days" in note.note and "2026-10-30" in note.note
    assert late_note(recent, payer, history) is None
    claimed = outcomes([claim("97124", Status.SUBMITTED, client="ann", date=dt.date(2026, 8, 1))], TODAY)
    assert late_note(old, payer, claimed) is None
    assert late_note(old, summit(), history) is None  # no filing limit
    assert late_note(old, payer, outcomes([])) is None  # no day to check against (the formulas)


def test_check_flags_late_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("cptbill.history.today", lambda: TODAY)
    sessions = [["Date", "Client", "Payer", "Minutes"], ["2026-07-01", "Ann", "Summit Mutual", 30]]
    sessions += [["2026-07-02", "Bo", "Summit Mutual", 30], ["2026-11-20", "Cy", "Summit Mutual", 30]]
    payers = [["Payer", "Rate 97124", "Filing limit (days)"], ["Summit Mutual", 30, 90]]
    claims = [
        ["Date", "Client", "Payer", "Code", "Status"],
        ["2026-07-02", "Bo", "Summit Mutual", "97124", "Paid"],
    ]
    book = MemoryBook({"Sessions": sessions, "Payers": payers, "Claims": claims})
    plan, _ = check(book)
    late = [r.row for r in plan.results if any(f.flag is Flag.LATE for f in r.flags)]
    assert late == [2]


def test_only_true_denials_are_learned() -> None:
    claims = [
        row(2, Status.DENIED, "CO-16", adjusted="CO-16 80.00"),  # missing data: a corrected claim
        row(3, Status.DENIED, "OA-18", adjusted="OA-18 80.00"),  # a duplicate
        row(4, Status.PATIENT, "CO-45; PR-1", owes=60, adjusted="CO-45 20.00; PR-1 60.00"),
        row(5, Status.OTHER_PAYER, "OA-23", adjusted="OA-23 80.00"),
        row(6, Status.FORWARDED, "OA-23"),
        row(7, Status.PREDETERMINATION, "CO-45"),
        row(9, Status.DENIED, "CO-24", adjusted="CO-24 80.00"),  # paid by a capitation, not judged
        # the client's coverage or the claim's handling, which another code would meet alike
        row(10, Status.DENIED, "CO-27", adjusted="CO-27 80.00"),  # after coverage ended
        row(11, Status.DENIED, "CO-31", adjusted="CO-31 80.00"),  # not identified as insured
        row(12, Status.DENIED, "CO-109", adjusted="CO-109 80.00"),  # another payer's
        row(13, Status.DENIED, "CO-197", adjusted="CO-197 80.00"),  # no authorization
        row(14, Status.DENIED, "CO-29", adjusted="CO-29 80.00"),  # filed late
        row(15, Status.DENIED, "CO-119", adjusted="CO-119 80.00"),  # the benefit maximum
        row(16, Status.DENIED, "PI-26", adjusted="PI-26 80.00"),  # before coverage began
    ]
    assert denied_before(summit().key, "97124", outcomes(claims)) == 0
    claims.append(row(8, Status.DENIED, "CO-16; CO-204", adjusted="CO-16 40.00; CO-204 40.00"))
    assert denied_before(summit().key, "97124", outcomes(claims)) == 1


def test_a_primary_payment_on_a_forwarded_claim_is_learned_as_paid() -> None:
    """A crossover claim (CLP02 19) paid by the primary and forwarded to the next payer says what
    the primary pays for the code; one paid nothing (all to the client's share) says nothing yet."""
    history = outcomes([row(2, Status.FORWARDED, "CO-45; PR-2", paid=48, adjusted="CO-45 20.00; PR-2 12.00")])
    found = history[(summit().key, "97124")]
    assert (found.paid, found.denied, found.per_unit) == (1, 0, Decimal("24.00"))
    assert found.describe() == "97124 paid 1, $24.00/unit"
    nothing = outcomes([row(2, Status.FORWARDED, "PR-1", paid=0, adjusted="PR-1 80.00")])
    assert (summit().key, "97124") not in nothing


def test_what_another_payer_covers_is_not_chased_but_what_is_left_is() -> None:
    """DOMAIN.md: another payer's payment already covers it: "none, or bill the next payer"."""
    covered = row(2, Status.OTHER_PAYER, "OA-23", adjusted="OA-23 80.00")
    assert items(covered) == []
    share = only(row(2, Status.OTHER_PAYER, "OA-23; PR-2", adjusted="OA-23 65.00; PR-2 15.00"))
    assert (share.action, share.amount) == (
        "Check the other payer's payment; bill the next payer for what is left",
        15,
    )
    unexplained = only(row(2, Status.OTHER_PAYER, "OA-23", adjusted="OA-23 50.00"))
    assert unexplained.amount == 30  # what no amount explains
    # a crossover the primary paid leaves the next payer only the client's share
    assert items(row(2, Status.FORWARDED, "CO-45", paid=60, adjusted="CO-45 20.00")) == []
    coinsurance = only(row(2, Status.FORWARDED, "CO-45; PR-2", paid=48, adjusted="CO-45 20.00; PR-2 12.00"))
    assert coinsurance.amount == 12
    # forwarded unpaid (not this payer's claim): all of it goes to the next payer
    assert only(row(2, Status.FORWARDED, "OA-23", adjusted="OA-23 80.00")).amount == 80


def test_a_sent_claim_settles_payer_items_but_not_a_client_bill() -> None:
    both = row(2, Status.DENIED, "CO-16; PR-1", owes=30, adjusted="CO-16 50.00; PR-1 30.00")
    resent = row(3, Status.SUBMITTED, paid=None)
    assert [i.action for i in items(both, resent)] == [BILL_CLIENT]


def test_a_client_bill_leaves_the_list_when_patient_owes_is_set_to_0() -> None:
    owed = row(2, Status.PATIENT, "CO-45; PR-1", owes=60, adjusted="CO-45 20.00; PR-1 60.00")
    assert only(owed).action == BILL_CLIENT
    # typed without Patient owes: the PR amounts of Adjusted
    assert only(owed.model_copy(update={"patient_owes": None})).amount == 60
    assert items(owed.model_copy(update={"patient_owes": Decimal(0)})) == []


def test_a_remittance_names_the_client_first_last_where_the_sheet_has_last_first() -> None:
    """ROSA DELGADO on a Claims row (as an 835 writes NM1*QC) is the session's `Delgado, Rosa`."""
    payer = summit(filing_limit=90)
    old = Line(
        sheet="Sessions", row=2, date=dt.date(2026, 8, 1), client="Delgado, Rosa", payer="Summit Mutual"
    )
    claimed = outcomes([claim("97124", Status.PAID, client="ROSA DELGADO", date=dt.date(2026, 8, 1))], TODAY)
    assert late_note(old, payer, claimed) is None
    other = outcomes([claim("97124", Status.PAID, client="ROSA DIAZ", date=dt.date(2026, 8, 1))], TODAY)
    assert late_note(old, payer, other) is not None


def test_two_lines_of_one_claim_with_the_same_code_and_day_are_two_items() -> None:
    """A claim may bill one code twice on a day (LT and RT, or 59): each line is its own item.

    Found in a Medicare (Novitas) remittance: a claim's two 62321 lines, both denied CO-151,
    showed as one follow-up item, the other $4,793 lost from the list.
    """
    left = row(2, Status.DENIED, "CO-151", adjusted="CO-151 80.00", line="1")
    right = row(3, Status.DENIED, "CO-151", adjusted="CO-151 80.00", line="2")
    assert [i.row for i in items(left, right)] == [2, 3]
    # the same line answered again later (same claim ID and line) still replaces the earlier one
    again = row(4, Status.DENIED, "CO-50", adjusted="CO-50 80.00", line="1")
    assert [i.row for i in items(left, right, again)] == [3, 4]


def test_a_client_bill_says_why_the_client_owes_it() -> None:
    """PR-1/2/3 are the client's share of an allowed service; other PR reasons (PR-119 benefit
    maximum, PR-96/PR-204 not covered, seen in a commercial payer's 835) make the client liable
    without the payer allowing anything: the Why must not say the payer allowed it, and a
    benefit maximum first asks about other coverage."""
    share = only(row(2, Status.PATIENT, "CO-45; PR-1", owes=60, adjusted="CO-45 20.00; PR-1 60.00"))
    assert share.why == "PR-1 deductible 60.00: the payer allowed it and the client owes it"
    maximum = only(row(2, Status.PATIENT, "PR-119", owes=80, adjusted="PR-119 80.00"))
    assert maximum.action == BILL_CLIENT
    assert maximum.why == (
        "PR-119 benefit maximum reached 80.00: the payer holds the client responsible; "
        "check any secondary coverage first"
    )
    assert maximum.amount == 80 and maximum.deadline is None
    not_covered = only(row(2, Status.PATIENT, "PR-96", owes=80, adjusted="PR-96 80.00"))
    assert (not_covered.action, not_covered.why) == (
        "Bill the client",
        "PR-96 not covered 80.00: the payer holds the client responsible",
    )


def test_a_multiple_procedure_reduction_needs_no_follow_up() -> None:
    """CO-59 (Medicare's multiple procedure payment reduction on therapy codes) is accepted like
    CO-45 and CO-253; a cut beyond it still asks for a next step."""
    assert items(row(2, Status.PAID, "CO-45; CO-59", paid=50, adjusted="CO-45 20.00; CO-59 10.00")) == []
    cut = only(row(2, Status.PARTIAL, "CO-59; CO-151", paid=40, adjusted="CO-59 10.00; CO-151 30.00"))
    assert (cut.reason, cut.amount) == ("CO-151", 30)


def test_a_managed_care_withhold_needs_no_follow_up_and_a_missing_contract_rate_does() -> None:
    """CO-104 is the contract's share the plan holds back and settles later; OA-147 says the payer
    has no contracted rate on file: the rate must be loaded before the claim is reprocessed."""
    assert items(row(2, Status.PAID, "CO-45; CO-104", paid=54, adjusted="CO-45 20.00; CO-104 6.00")) == []
    rate = only(row(2, Status.DENIED, "OA-147", adjusted="OA-147 80.00"))
    assert (rate.reason, rate.amount) == ("OA-147", 80)
    assert rate.action.startswith("Ask the payer's provider relations to load your contracted rate")


def test_a_claim_for_another_payer_has_no_deadline_of_this_one() -> None:
    """CO-109: the claim belongs to another payer, whose filing limit is not this payer's."""
    assert only(row(2, Status.DENIED, "CO-109", adjusted="CO-109 80.00"), limit=90).deadline is None


def test_a_claim_number_reused_on_other_visits_keeps_each_visits_follow_ups() -> None:
    """CLP01 is the practice's patient control number: many billing programs (and therapists
    typing claims into a clearinghouse portal, box 26) put the client's account number there, the
    same on every visit, and one of X12's own sample remittances (packaged with badx12) gives nine
    patients' claims the same CLP01. Found there: a later visit's line 1 took the place of every
    earlier visit's line 1, and $970.20 of copays to bill the clients vanished from the list."""
    first = row(2, Status.PATIENT, "PR-3", owes=20, adjusted="PR-3 20.00", claim_id="ACCT7")
    later = dt.date(2026, 10, 8)
    second = row(3, Status.PAID, "CO-45", paid=60, adjusted="CO-45 20.00", claim_id="ACCT7", date=later)
    other_client = row(4, Status.DENIED, "CO-16", adjusted="CO-16 80.00", claim_id="ACCT7", client="Bo")
    assert [(i.row, i.reason) for i in items(first, second, other_client)] == [(2, "PR-3"), (4, "CO-16")]
    # the same visit answered again (same claim number, line, day and client) still replaces it
    again = row(5, Status.DENIED, "CO-50", adjusted="CO-50 80.00", claim_id="ACCT7", payer_claim_id="P2")
    assert [i.row for i in items(first, again)] == [5]


def test_a_denial_for_the_client_alone_asks_only_to_bill_the_client() -> None:
    """A claim denied (CLP02 4) with only patient responsibility, e.g. PR-27 (coverage ended), as in
    rdpcrystal's sample 835: the client bill is the item; no "denied without a reason code"
    item for the payer, for 0.00, beside it."""
    found = items(row(2, Status.DENIED, "PR-27", owes=80, adjusted="PR-27 80.00"))
    assert [(i.reason, i.action, i.amount) for i in found] == [("PR-27", BILL_CLIENT, 80)]
    # a denial with no reason at all still asks for a look
    bare = only(row(2, Status.DENIED, ""))
    assert (bare.reason, bare.why, bare.amount) == ("?", "denied without a reason code", 80)
    # and with part of it not explained by the client's share, the payer item stays for that part
    rest = items(row(2, Status.DENIED, "PR-27", owes=50, adjusted="PR-27 50.00"))
    assert [(i.reason, i.amount) for i in rest] == [("PR-27", 50), ("?", 30)]


def test_a_denial_of_only_the_clients_share_and_a_write_down_asks_only_to_bill_the_client() -> None:
    """A claim denied (CLP02 4) whose charge is all the contractual write-down (CO-45) and the
    client's deductible: the payer allowed 60.00 and the client owes it. Before, a second item
    told the therapist to look up or appeal the CO-45 and said the payer allowed nothing."""
    found = items(row(2, Status.DENIED, "CO-45; PR-1", owes=60, adjusted="CO-45 20.00; PR-1 60.00"))
    assert [(i.reason, i.action, i.amount) for i in found] == [("PR-1", BILL_CLIENT, 60)]


@pytest.mark.parametrize(
    "adjusted",
    [
        "CO-131 20.00",  # a claim-specific negotiated discount (a repricing network)
        "CO-P12 20.00",  # the workers' comp jurisdictional fee schedule
        "CO-W1 20.00",  # its older spelling
        "CO-P23 20.00",  # the auto (MPC/PIP) jurisdictional fee schedule
    ],
)
def test_fee_schedule_and_negotiated_discounts_need_no_follow_up(adjusted: str) -> None:
    """Write-downs to an agreed or legislated fee, like CO-45: nothing to correct or appeal
    (Shortfalls still shows a payment below the Payers rate)."""
    reason = adjusted.split()[0]
    assert items(row(2, Status.PAID, reason, paid=60, adjusted=adjusted)) == []
    assert items(row(2, Status.PARTIAL, reason, paid=60, adjusted=adjusted)) == []


def test_a_line_written_down_to_nothing_names_its_reason() -> None:
    """Paid 0 with only a write-down (CO-131 for the whole charge, in X12's dental sample; CO-45
    alone): a denial to look into, named by its reason, not "denied without a reason code"."""
    item = only(row(2, Status.DENIED, "CO-131", adjusted="CO-131 80.00"))
    assert (item.reason, item.amount) == ("CO-131", 80)
    assert item.why.startswith("the payer allowed nothing")
    assert item.action.startswith("Look the reason up")


def test_a_line_the_payer_split_keeps_the_denied_part() -> None:
    """A payer may split a submitted line into two service lines of one answer, both returning its
    line number (REF*6R): 2 units paid, 2 denied (CO-119). The paid part is not a later answer
    for the denied part: its item stays (before, it vanished when the paid part came second)."""
    source = {"claim_id": "SPL01", "line": "1", "payer_claim_id": "SP001"}
    denied = row(2, Status.DENIED, "CO-119", adjusted="CO-119 60.00", billed=60, **source)
    paid = row(3, Status.PAID, "CO-45", adjusted="CO-45 15.00", billed=60, paid=45, **source)
    denied, paid = (c.model_copy(update={"source": "split.835 #EFT4401"}) for c in (denied, paid))
    assert [(i.row, i.reason, i.amount) for i in items(denied, paid)] == [(2, "CO-119", 60)]
    # the same line answered again in a later payment still replaces it
    later = paid.model_copy(update={"row": 4, "source": "dec.835 #EFT5501"})
    assert items(denied, later) == []


_STATUSES = [Status.PAID, Status.PARTIAL, Status.DENIED, Status.PATIENT, Status.SUBMITTED, Status.FORWARDED]
_REASONS = ["CO-16 80.00", "CO-45 20.00; PR-2 20.00", "CO-96 80.00", "PR-1 80.00", "CO-97 80.00"]


@given(
    st.lists(
        st.tuples(
            st.sampled_from(_STATUSES),
            st.sampled_from(_REASONS),
            st.sampled_from(["", "C1", "C2"]),
            st.sampled_from(["", "1", "2"]),
            st.sampled_from([DAY, DAY + dt.timedelta(days=1), None]),
            st.sampled_from(["Ann", "ANN", "Bo"]),
            st.sampled_from(["97124", "97140"]),
            st.sampled_from(["", "era.835 #T1", "era.835 #T2"]),
            st.booleans(),
        ),
        max_size=12,
    )
)
def test_follow_ups_look_up_later_rows_as_a_scan_of_every_later_row_would(rows: list[Any]) -> None:
    """Follow-up finds a row's later rows for the same line through indexes (a Claims sheet of
    thousands of rows took half a minute scanning every later row for each): the same items as
    that scan, whatever the rows."""
    from cptbill.history import _items, _paid, _same_line, _service_key

    claims = [
        row(n, status, adjusted.split()[0], paid=40 if status in (Status.PAID, Status.PARTIAL) else 0,
            adjusted=adjusted, claim_id=claim_id, line=line_, date=date, client=client, code=code,
            payer_claim_id="P1").model_copy(update={"source": source})
        for n, (status, adjusted, claim_id, line_, date, client, code, source, _) in enumerate(rows, start=2)
    ]  # fmt: skip
    either = {c.row for c, r in zip(claims, rows, strict=True) if r[-1]}
    payers = {summit().key: summit(filing_limit=90)}
    expected = []
    for i, claim_ in enumerate(claims):  # the scan of every later row
        later = claims[i + 1 :]
        same = [other for other in later if _same_line(claim_, other)]
        answers = (Status.DENIED, Status.PARTIAL, Status.PATIENT, Status.OTHER_PAYER, Status.FORWARDED)
        if any(_paid(o) or o.status in answers for o in same):
            continue
        sent = any(o.status in (Status.SUBMITTED, Status.PENDING) for o in same)
        for item in _items(claim_, payers[summit().key], claim_.row in either):
            if sent and item.action != BILL_CLIENT:
                continue
            if item.new_code and any(
                _service_key(o, item.new_code) == _service_key(claim_, item.new_code) and _paid(o)
                for o in later
                if o.code == item.new_code
            ):
                continue
            overdue = item.deadline is not None and item.deadline < TODAY
            expected.append(item.model_copy(update={"overdue": overdue}))
    assert follow_ups(claims, payers, lambda c: c.row in either, TODAY) == expected
