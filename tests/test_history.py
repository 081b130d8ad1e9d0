"""Claim history: outcomes per payer and code, the code it favours, and how the recode uses it."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cptbill.book import MemoryBook, recode
from cptbill.codes import MASSAGE_FAMILY
from cptbill.coding import choose_code
from cptbill.contract import Flag, Status
from cptbill.history import denied_before, favoured_code, learned_text, next_step, outcomes
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


def test_next_step_for_known_denial_reasons() -> None:
    assert next_step("CO-97") == "CO-97 bundled: modifier 59/XS if the notes show a separate region or time"
    assert str(next_step("PR-2; co-50")).startswith("CO-50 not medically necessary: appeal")
    assert next_step("CO-45") is None


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
