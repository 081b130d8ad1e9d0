"""What a check shows: the lines a recode would change (before -> after), and the sheet as it stands."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:  # the command line imports `usd` from here without the models
    from cptbill.models import Line, LineResult, Plan


class CheckRow(NamedTuple):
    """One line of a check's listing: what it holds now and what a recode would write."""

    sheet: str
    row: int
    before: str  # `97124 x 2 = $60.00`, or `-` for empty cells
    after: str
    changes: bool  # a recode would change its Code, Units, Expected or Flags
    flags: str  # the Flags text a recode would write
    flags_now: str  # the flags of the line as it stands


@dataclass(frozen=True)
class CheckReport:
    """A check's findings beyond the recode's totals: listed lines and the sheet as it stands."""

    rows: list[CheckRow]  # lines a recode would change (and, with `every`, every flagged line)
    flags_now: dict[str, int]  # lines carrying each flag as the sheet stands (typed codes that mix, ...)
    stale: int  # lines holding a Code, Units or Expected that a recode would replace
    expected_now: Decimal  # the Expected cells of the lines in scope, as typed
    listed: int = 0  # how many lines the listing holds, counting those beyond a `limit`

    def to_json(self) -> dict[str, Any]:
        """The keys `check --json` adds to the recode's summary."""
        return {
            "as_it_stands": {
                "flags": self.flags_now,
                "stale": self.stale,
                "expected_total": float(self.expected_now),
            },
            "rows": [dict(zip(CheckRow._fields, row, strict=True)) for row in self.rows],
        }


def usd(amount: Decimal | float) -> str:
    """Money for people: `$1,234.50`, `-$12.00`."""
    sign = "-" if amount < 0 else ""
    return f"{sign}${abs(amount):,.2f}"


@lru_cache(maxsize=4096)  # lines repeat a few codes, units and amounts
def billing(code: str | None, units: int | None, expected: Decimal | None) -> str:
    """A line's Code, Units and Expected in a few characters: `97124 x 2 = $60.00`; `-` when empty."""
    if code is None and units is None and expected is None:
        return "-"
    text = f"{code or '?'} x {'?' if units is None else units}"
    return text if expected is None else f"{text} = {usd(expected)}"


def check_report(
    plan: Plan, lines: Iterable[Line], *, every: bool = False, limit: int | None = None
) -> CheckReport:
    """Pair each planned line with the line as read: what changes, what is stale, what is flagged now.

    `rows` holds the first `limit` lines of the listing (all of them without a limit); `listed`
    counts them all.
    """
    from cptbill.models import count_flags

    read = {(line.sheet, line.row): line for line in lines}
    # A check's plan lists the lines as they stand in the order of its results.
    standing: Iterable[LineResult | None] = (
        plan.standing if len(plan.standing) == len(plan.results) else [None] * len(plan.results)
    )
    rows: list[CheckRow] = []
    listed = 0
    stale = 0
    expected_now = Decimal(0)
    for result, now in zip(plan.results, standing, strict=True):
        line = read[(result.sheet, result.row)]
        flags_now = now.flags_text if now is not None else line.flags_text
        if line.expected is not None:
            expected_now += line.expected
        # stale: a filled Code, Units or Expected that a recode would write otherwise
        stale += (
            (line.code is not None and line.code != result.code)
            or (line.units is not None and line.units != result.units)
            or (line.expected is not None and line.expected != result.expected)
        )
        if not (result.changed or (every and (result.flags or flags_now))):
            continue
        listed += 1
        if limit is None or listed <= limit:
            rows.append(
                CheckRow(
                    result.sheet,
                    result.row,
                    billing(line.code, line.units, line.expected),
                    billing(result.code, result.units, result.expected),
                    result.changed,
                    result.flags_text,
                    flags_now,
                )
            )
    return CheckReport(
        rows=rows, flags_now=count_flags(plan.standing), stale=stale, expected_now=expected_now, listed=listed
    )
