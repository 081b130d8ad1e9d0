"""Typed models of the workbook's rows and of the plan the core returns."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import NamedTuple

from pydantic import BaseModel, ConfigDict, Field

from cptbill.codes import MANUAL_THERAPY
from cptbill.contract import Flag, Status, name_key
from cptbill.units import Rule

CENT = Decimal("0.01")


def money(value: Decimal) -> Decimal:
    """Round to cents, halves away from zero, as billing does."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


class Model(BaseModel):
    """Frozen base model: rows are values, not objects to mutate."""

    model_config = ConfigDict(frozen=True)


# The per-line values are not pydantic models: a workbook holds tens of thousands of lines and
# every field is already parsed by schema.py. Line and LineResult, built once per line by every
# check and recode, are named tuples (immutable, and built four times faster than a frozen
# dataclass); the others (FlagNote, Change, Plan) are frozen slotted dataclasses.


@dataclass(frozen=True, slots=True)
class FlagNote:
    """One flag on a line: a stable id and a short explanation for people."""

    flag: Flag
    note: str

    def __str__(self) -> str:
        return f"{self.flag.value}: {self.note}"


class Settings(Model):
    """The Settings sheet, with its defaults."""

    default_code: str = MANUAL_THERAPY
    unit_rule: Rule = Rule.CMS
    blank_service: str = "massage"  # what a blank Service means: massage, manual therapy or either
    date_order: str = "MDY"  # text dates: MDY or DMY (ISO always works)
    month_to_recode: str | None = None  # the Excel scripts' month (YYYY-MM); None = the active sheet


class Payer(Model):
    """One row of the Payers sheet."""

    name: str
    row: int = 0
    accepts: tuple[str, ...] = ()  # massage codes; empty = both
    preferred: str | None = None
    rates: dict[str, Decimal | None] = Field(default_factory=dict)
    unit_rule: Rule | None = None
    max_units: int | None = None
    era_names: tuple[str, ...] = ()
    filing_limit: int | None = None  # days from the date of service
    payer_id: str = ""  # for 837P claims
    address: str = ""  # for paper claims

    @property
    def key(self) -> str:
        return name_key(self.name)

    def takes(self, code: str) -> bool:
        """Whether the payer takes this massage code (blank Accepts = both)."""
        return not self.accepts or code in self.accepts

    def rate(self, code: str) -> Decimal | None:
        return self.rates.get(code)


class Line(NamedTuple):
    """One session line as read from a session sheet."""

    sheet: str
    row: int  # the Excel row number (1 = header)
    date: dt.date | None = None
    client: str = ""
    payer: str = ""
    minutes: float | None = None
    service: str | None = None  # the documented code (97124, 97010, ...), `either`, or None: Blank service
    visit: str = ""
    locked: bool = False
    modifiers: tuple[str, ...] = ()
    code: str | None = None  # as it stands in the sheet
    units: int | None = None
    expected: Decimal | None = None
    flags_text: str = ""
    problems: tuple[FlagNote, ...] = ()  # cells that could not be read
    # findings that leave the line billable: AMBIGUOUS_DATE, ODD_DATE, and the CLAIM_INCOMPLETE notes
    # its Flags cell holds (only a claims run sets or clears them)
    notes: tuple[FlagNote, ...] = ()
    other_date: dt.date | None = None  # an ambiguous text date's other reading (day and month swapped)

    @property
    def self_pay(self) -> bool:
        return not self.payer.strip()

    @property
    def unreadable(self) -> bool:
        """Minutes, date or service that cannot be read: code and units stay as they are."""
        return bool(self.problems)


class Claim(Model):
    """One row of the Claims sheet: what a payer did with a billed line."""

    row: int = 0
    date: dt.date | None = None
    client: str = ""
    payer: str = ""
    code: str | None = None
    units: float = 0
    billed: Decimal | None = None
    paid: Decimal | None = None
    status: Status | None = None
    reason: str = ""
    claim_id: str = ""
    line: str = ""
    source: str = ""
    modifiers: tuple[str, ...] = ()
    payer_claim_id: str = ""
    patient_owes: Decimal | None = None
    adjusted: str = ""
    billed_units: float | None = None
    billed_code: str | None = None


class LineResult(NamedTuple):
    """What a line should hold: the plan for its Code, Units, Expected and Flags."""

    sheet: str
    row: int
    code: str | None
    units: int | None
    expected: Decimal | None
    flags: tuple[FlagNote, ...] = ()
    changed: bool = False  # Code, Units, Expected or Flags differ from the sheet
    flags_text: str = ""  # the Flags cell for `flags` (`flags_text(flags)`), made once per set of flags


#: The most text one Excel cell holds (UTF-16 code units); longer Flags end with CUT_ENDING.
CELL_LIMIT = 32767
CUT_ENDING = " ... (cut: a cell holds at most 32,767 characters)"


def flags_text(flags: Iterable[FlagNote]) -> str:
    """The Flags cell for these flags: `ID: explanation; ID: explanation`, cut to fit one cell.

    The cut is always the same, so a recode reading its own cut text back changes nothing.
    """
    text = "; ".join(str(f) for f in flags)
    if len(text) > CELL_LIMIT // 2 and len(text.encode("utf-16-le")) // 2 > CELL_LIMIT:
        room = 2 * (CELL_LIMIT - len(CUT_ENDING))
        text = text.encode("utf-16-le")[:room].decode("utf-16-le", errors="ignore").rstrip() + CUT_ENDING
    return text


def flag_parts(text: str) -> list[str]:
    """The `ID: explanation` parts of a Flags cell, as `flags_text` joins them (blank parts dropped)."""
    return [part for part in (piece.strip() for piece in text.split("; ")) if part]


def count_flags(results: Iterable[LineResult]) -> dict[str, int]:
    """How many of these lines carry each flag, by flag id."""
    # Lines of equal flags mostly share one tuple: each tuple's flags are counted once, times its lines.
    lines_of: dict[int, tuple[tuple[FlagNote, ...], int]] = {}
    for result in results:
        if result.flags:
            known = lines_of.get(id(result.flags))
            lines_of[id(result.flags)] = (result.flags, 1 if known is None else known[1] + 1)
    counts: dict[str, int] = {}
    for flags, lines in lines_of.values():
        for flag in dict.fromkeys(f.flag.value for f in flags):
            counts[flag] = counts.get(flag, 0) + lines
    return dict(sorted(counts.items()))


@dataclass(frozen=True, slots=True)
class Change:
    """One overwrite of a non-empty Code, Units or Expected, for the Changes sheet."""

    sheet: str
    row: int
    client: str
    date: dt.date | None
    before: str
    after: str
    why: str


@dataclass(frozen=True, slots=True)
class Plan:
    """The result of a check or a recode over the lines in scope."""

    month: str | None = None
    results: tuple[LineResult, ...] = ()
    changes: tuple[Change, ...] = ()
    filled: int = 0  # lines whose empty cells were filled, not logged one by one
    #: A check's view of the lines as they stand (filled cells kept, empty ones planned), beside
    #: `results`, which are what a recode would write; empty for a recode.
    standing: tuple[LineResult, ...] = ()
    cleared: tuple[LineResult, ...] = ()  # self-pay lines losing what an earlier recode wrote

    @property
    def lines(self) -> int:
        return len(self.results)

    @property
    def changed(self) -> int:
        return sum(r.changed for r in self.results) + len(self.cleared)

    @property
    def expected_total(self) -> Decimal:
        return sum((r.expected for r in self.results if r.expected is not None), Decimal(0))

    def flag_counts(self) -> dict[str, int]:
        return count_flags(self.results)

    def summary(self) -> dict[str, object]:
        """The JSON object of `check --json` and `recode --json`."""
        return {
            "month": self.month,
            "lines": self.lines,
            "changed": self.changed,
            "expected_total": float(self.expected_total),
            "flags": self.flag_counts(),
        }
