"""The report: a Summary per month and payer, the Follow-up list by reason, payer shortfalls.

What each Summary column counts (so a user can check it by hand):
- Visits, `<code> units`, Expected come from the session sheets: the billed lines (a Payer
  filled in) whose date of service falls in the month, with the recode's results where a
  plan is given and the sheet's own Code, Units and Expected otherwise. A visit is counted
  as the recode groups it (same Visit, else same Date and Client; always one payer).
  Lines without a readable date cannot be placed in a month and are left out.
- Paid, Shortfall, Denial rate come from the Claims sheet, by date of service in the month:
  Paid = the Paid column of the rows that received money (Paid, Partial, Forwarded, Other
  payer, Patient) and of Reversed rows (a reversal counts negative);
  Shortfall = the differences of the month's services on the Shortfalls list;
  Denial rate = denied claims / (paid + partial + denied claims), any code (a line billed 0
  and paid 0, a reporting code, is no paid claim).
- Expected and Paid are not about the same lines: they compare what the month's sessions
  should bring with what the payers paid for that month so far.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from pydantic import Field

from cptbill import contract as c
from cptbill.book import DATE_FORMAT, MONEY_FORMAT, BarChartSpec, Book, Loaded, find_sheet, same_rows
from cptbill.codes import HOT_COLD_PACK, MANUAL_THERAPY, MASSAGE
from cptbill.contract import Status, client_key, name_key
from cptbill.history import (
    BILL_CLIENT,
    PAID,
    FollowUp,
    Shortfall,
    follow_ups,
    net_paid,
    no_charge,
    shortfalls,
)
from cptbill.models import Claim, Line, Model, Plan, Settings
from cptbill.plan import is_either, visit_key
from cptbill.schema import parse_month

REPORT_CODES = (MASSAGE, MANUAL_THERAPY, HOT_COLD_PACK)
TOTAL = "TOTAL"

SUMMARY_COLUMNS = (
    "Month", "Payer", "Visits", *(f"{code} units" for code in REPORT_CODES),
    "Expected", "Paid", "Shortfall", "Denial rate",
)  # fmt: skip
SUMMARY_FORMATS = ("@", None, "0", "0", "0", "0", MONEY_FORMAT, MONEY_FORMAT, MONEY_FORMAT, "0%")
FOLLOW_UP_COLUMNS = (
    "Date", "Client", "Payer", "Code", "Units", "Reason", "Action", "Why", "Amount", "Deadline",
    "Overdue", "Claim ID", "Payer claim ID", "Claims row",
)  # fmt: skip
FOLLOW_UP_FORMATS = (
    DATE_FORMAT, None, None, "@", "0", None, None, None, MONEY_FORMAT, DATE_FORMAT, None, "@", "@", "0",
)  # fmt: skip
OVERDUE = "OVERDUE"
#: What an old workbook's Resubmit sheet holds once the Follow-up sheet replaces it.
RESUBMIT_REPLACED = "This sheet is replaced by the Follow-up sheet; you may delete it."
SHORTFALL_COLUMNS = (
    "Date", "Client", "Payer", "Code", "Units", "Expected", "Paid", "Patient owes", "Difference",
    "Reason", "Claims row",
)  # fmt: skip
SHORTFALL_FORMATS = (
    DATE_FORMAT, None, None, "@", "0", MONEY_FORMAT, MONEY_FORMAT, MONEY_FORMAT, MONEY_FORMAT, None, "0",
)  # fmt: skip
#: 1-based Summary columns the chart plots.
_PAYER_COLUMN = SUMMARY_COLUMNS.index("Payer") + 1
_CHART_VALUES = (SUMMARY_COLUMNS.index("Expected") + 1, SUMMARY_COLUMNS.index("Paid") + 1)


class SummaryRow(Model):
    """One Summary line: a payer's month (or the TOTAL, or a payer over all months shown)."""

    month: str
    payer: str
    visits: int = 0
    units: dict[str, int] = Field(default_factory=dict)
    expected: Decimal = Decimal(0)
    paid: Decimal = Decimal(0)
    shortfall: Decimal = Decimal(0)
    denied: int = 0
    decided: int = 0  # paid, partial and denied claims

    @property
    def denial_rate(self) -> float | None:
        return self.denied / self.decided if self.decided else None

    def cells(self) -> list[Any]:
        return [
            self.month, self.payer, self.visits, *(self.units.get(code, 0) for code in REPORT_CODES),
            float(self.expected), float(self.paid), float(self.shortfall), self.denial_rate,
        ]  # fmt: skip

    def as_json(self) -> dict[str, Any]:
        return {
            "month": self.month,
            "payer": self.payer,
            "visits": self.visits,
            "units": {code: self.units.get(code, 0) for code in REPORT_CODES},
            "expected": float(self.expected),
            "paid": float(self.paid),
            "shortfall": float(self.shortfall),
            "denial_rate": None if self.denial_rate is None else round(self.denial_rate, 4),
        }


@dataclass
class _Tally:
    visits: set[tuple[object, ...]] = field(default_factory=set)
    units: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    expected: Decimal = Decimal(0)
    paid: Decimal = Decimal(0)
    shortfall: Decimal = Decimal(0)
    denied: int = 0
    decided: int = 0


def _month(date: dt.date | None, month: str | None) -> str | None:
    """The month of a date, or None when it has no date or is outside the chosen month."""
    if date is None:
        return None
    text = f"{date.year:04d}-{date.month:02d}"  # not strftime: this runs for every line
    return text if month is None or text == month else None


def billed(
    loaded: Loaded, plan: Plan | None
) -> Iterator[tuple[Line, str | None, int | None, Decimal | None]]:
    """Each session line with its Code, Units and Expected: the plan's where it has them, else the sheet's.

    The plan's results follow the order of the lines they cover, so both are walked together.
    """
    results = iter(plan.results if plan is not None else ())
    result = next(results, None)
    for line in loaded.lines:
        if result is not None and result.row == line.row and result.sheet == line.sheet:
            yield line, result.code, result.units, result.expected
            result = next(results, None)
        else:
            yield line, line.code, line.units, line.expected


def summary_rows(loaded: Loaded, plan: Plan | None, month: str | None) -> list[SummaryRow]:
    """Per month and payer (months in order, payers in Payers-sheet order), then the TOTAL row."""
    return _summary(loaded, plan, month)[0]


def _summary(loaded: Loaded, plan: Plan | None, month: str | None) -> tuple[list[SummaryRow], int]:
    """The summary rows, and how many billable lines of the month have no Code (one pass over the lines)."""
    uncoded = 0
    names = {key: payer.name for key, payer in loaded.payers.items()}
    tallies: dict[tuple[str, str], _Tally] = {}

    def tally(when: str, payer: str) -> _Tally:
        key = (when, name_key(payer))
        found = tallies.get(key)
        if found is None:
            names.setdefault(key[1], payer.strip())
            found = tallies[key] = _Tally()
        return found

    months: dict[dt.date | None, str | None] = {}  # a sheet repeats its dates: each is formatted once
    for line, code, units, expected in billed(loaded, plan):
        if line.date in months:
            when = months[line.date]
        else:
            when = months[line.date] = _month(line.date, month)
        if when is None or line.self_pay:
            continue
        uncoded += code is None
        t = tally(when, line.payer)
        t.visits.add(visit_key(line))
        if code in REPORT_CODES and units:
            t.units[code] += units
        if expected is not None:
            t.expected += expected
    claims = loaded.claims or []
    for claim in claims:
        when = _month(claim.date, month)
        if when is None or not claim.payer.strip():
            continue
        t = tally(when, claim.payer)
        t.paid += net_paid(claim)
        t.denied += claim.status is Status.DENIED
        t.decided += claim.status in (*PAID, Status.DENIED) and not no_charge(claim)  # $0 lines: no claim
    for short in shortfalls(claims, loaded.payers):
        when = _month(short.date, month)
        if when is not None:
            tally(when, short.payer).shortfall += short.difference

    order = {key: i for i, key in enumerate(names)}  # Payers sheet first, then as met
    rows = [
        SummaryRow(
            month=when,
            payer=names[key],
            visits=len(t.visits),
            units=dict(t.units),
            expected=t.expected,
            paid=t.paid,
            shortfall=t.shortfall,
            denied=t.denied,
            decided=t.decided,
        )
        for (when, key), t in sorted(tallies.items(), key=lambda item: (item[0][0], order[item[0][1]]))
    ]
    return [*rows, _add_up(rows, TOTAL, "")], uncoded


def _add_up(rows: Sequence[SummaryRow], month: str, payer: str) -> SummaryRow:
    units: dict[str, int] = defaultdict(int)
    for row in rows:
        for code, count in row.units.items():
            units[code] += count
    return SummaryRow(
        month=month,
        payer=payer,
        visits=sum(r.visits for r in rows),
        units=dict(units),
        expected=sum((r.expected for r in rows), Decimal(0)),
        paid=sum((r.paid for r in rows), Decimal(0)),
        shortfall=sum((r.shortfall for r in rows), Decimal(0)),
        denied=sum(r.denied for r in rows),
        decided=sum(r.decided for r in rows),
    )


def payer_totals(rows: Sequence[SummaryRow]) -> list[SummaryRow]:
    """Each payer over all the months of `rows` (TOTAL left out), labelled `first to last` month."""
    months = sorted({r.month for r in rows if r.month != TOTAL})
    label = months[0] if len(months) == 1 else f"{months[0]} to {months[-1]}" if months else ""
    by_payer: dict[str, list[SummaryRow]] = {}
    for row in rows:
        if row.month != TOTAL:
            by_payer.setdefault(row.payer, []).append(row)
    return [_add_up(group, label, payer) for payer, group in by_payer.items()]


@dataclass
class Report:
    """What `write_report` wrote, for the command line to show."""

    month: str | None
    rows: list[SummaryRow]  # months and payers, then TOTAL
    by_payer: list[SummaryRow]  # each payer over the months shown, when there are several
    follow_up: list[FollowUp] | None  # None: no Claims sheet
    shortfalls: list[Shortfall] | None
    uncoded: int  # billed lines of the months shown with no Code yet

    @property
    def total(self) -> SummaryRow:
        return self.rows[-1]

    @property
    def shortfall_total(self) -> Decimal:
        return sum((s.difference for s in self.shortfalls or []), Decimal(0))

    @property
    def follow_up_amount(self) -> Decimal:
        return sum((item.amount or Decimal(0) for item in self.follow_up or []), Decimal(0))

    @property
    def client_bills(self) -> list[FollowUp]:
        return [item for item in self.follow_up or [] if item.action == BILL_CLIENT]

    def summary(self) -> dict[str, Any]:
        """The JSON object of `report --json`."""
        items = self.follow_up or []
        return {
            "month": self.month,
            "rows": [row.as_json() for row in self.rows[:-1]],
            "total": self.total.as_json(),
            "claims_sheet": self.follow_up is not None,
            "follow_up": len(items),
            "follow_up_amount": float(self.follow_up_amount),
            "follow_up_overdue": sum(item.overdue for item in items),
            "bill_client": len(self.client_bills),
            "shortfalls": len(self.shortfalls or []),
            "shortfall_total": float(self.shortfall_total),
            "uncoded": self.uncoded,
        }


def either_of(lines: Sequence[Line], settings: Settings) -> Callable[[Claim], bool]:
    """either(claim): whether the session line of the claim (same date, client, payer) is `either`.

    Lines of the claim's code are looked at first, then any of that day, client and payer.
    """
    by_day: dict[tuple[object, ...], list[Line]] = defaultdict(list)
    for line in lines:
        if line.date is not None:
            by_day[(line.date, client_key(line.client), name_key(line.payer))].append(line)

    def either(claim: Claim) -> bool:
        day = by_day.get((claim.date, client_key(claim.client), name_key(claim.payer)), [])
        same_code = [line for line in day if line.code == claim.code] or day
        return any(is_either(line, settings) for line in same_code)

    return either


def build_report(
    loaded: Loaded, plan: Plan | None = None, month: str | None = None, when: dt.date | None = None
) -> Report:
    """The report's content, pure. Follow-up and Shortfalls cover the whole Claims sheet.

    `when` is the day follow-up deadlines are checked against (default: today).
    """
    month = parse_month(month)
    rows, uncoded = _summary(loaded, plan, month)
    months = {r.month for r in rows[:-1]}
    claims = loaded.claims
    return Report(
        month=month,
        rows=rows,
        by_payer=payer_totals(rows) if len(months) > 1 else [],
        follow_up=None
        if claims is None
        else follow_ups(claims, loaded.payers, either_of(loaded.lines, loaded.settings), when),
        shortfalls=None if claims is None else shortfalls(claims, loaded.payers),
        uncoded=uncoded,
    )


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value


def _money(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def follow_up_cells(items: Sequence[FollowUp]) -> list[list[Any]]:
    """The Follow-up sheet's rows, in FOLLOW_UP_COLUMNS order."""
    return [
        [i.date, i.client, i.payer, i.code, _number(i.units), i.reason, i.action, i.why, _money(i.amount),
         i.deadline, OVERDUE if i.overdue else None, i.claim_id or None, i.payer_claim_id or None, i.row]
        for i in items
    ]  # fmt: skip


def shortfall_cells(found: Sequence[Shortfall]) -> list[list[Any]]:
    """The Shortfalls sheet's rows, in SHORTFALL_COLUMNS order, and a TOTAL row when any."""
    rows: list[list[Any]] = [
        [s.date, s.client, s.payer, s.code, _number(s.units), float(s.expected), float(s.paid),
         float(s.patient_owes), float(s.difference), s.reason, s.row]
        for s in found
    ]  # fmt: skip
    if found:
        expected, paid, owes, difference = (
            float(sum((getattr(s, name) for s in found), Decimal(0)))
            for name in ("expected", "paid", "patient_owes", "difference")
        )
        rows.append([TOTAL, None, None, None, None, expected, paid, owes, difference, None, None])
    return rows


def write_report(book: Book, loaded: Loaded, plan: Plan | None = None, month: str | None = None) -> Report:
    """Replace the Summary (with its chart), and the Follow-up and Shortfalls sheets when Claims exist."""
    report = build_report(loaded, plan, month)
    rows = [row.cells() for row in report.rows]
    # The chart plots a block right under a header row: the month rows (one month shown)
    # or, with several months, a block of each payer over them, below TOTAL with its own header.
    header_row, chart_last = 1, len(report.rows)  # TOTAL left out
    if report.by_payer:
        rows += [[None] * len(SUMMARY_COLUMNS), list(SUMMARY_COLUMNS)]
        header_row = len(rows) + 1
        rows.extend(row.cells() for row in report.by_payer)
        chart_last = len(rows) + 1
    if not _replace(book, c.SUMMARY, SUMMARY_COLUMNS, rows, SUMMARY_FORMATS):
        return report  # unchanged figures: the sheets and the chart stay as they are
    if chart_last > header_row:
        months = "all months" if report.month is None else report.month
        book.bar_chart(
            c.SUMMARY,
            BarChartSpec(
                title=f"Expected vs paid per payer ({months})",
                header_row=header_row,
                first_row=header_row + 1,
                last_row=chart_last,
                category_column=_PAYER_COLUMN,
                value_columns=_CHART_VALUES,
                anchor="L2",
                y_title="Dollars",
            ),
        )
    if report.follow_up is not None:
        _replace(book, c.FOLLOW_UP, FOLLOW_UP_COLUMNS, follow_up_cells(report.follow_up), FOLLOW_UP_FORMATS)
        if find_sheet(book, c.RESUBMIT) is not None:  # an older version's advice: not to be followed
            _replace(book, c.RESUBMIT, ["Note"], [[RESUBMIT_REPLACED]], [None])
    if report.shortfalls is not None:
        _replace(book, c.SHORTFALLS, SHORTFALL_COLUMNS, shortfall_cells(report.shortfalls), SHORTFALL_FORMATS)
    return report


def _replace(
    book: Book, sheet: str, header: Sequence[str], rows: list[list[Any]], formats: Sequence[str | None]
) -> bool:
    """Rewrite a report sheet unless it already holds these values (so a rerun changes nothing)."""
    name = find_sheet(book, sheet)
    if name is not None and same_rows(book.read(name), [list(header), *rows]):
        return False
    book.replace_rows(sheet, header, rows, formats)
    return True


def refresh(book: Book, loaded: Loaded, plan: Plan) -> None:
    """A recode's after-step (`book.recode(..., after=[refresh])`): rewrite the report for its month."""
    write_report(book, loaded, plan, plan.month)
