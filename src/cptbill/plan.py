"""The recode, pure: session lines + payers + settings + history -> a plan for every line."""

from __future__ import annotations

import datetime as dt
import difflib
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

from cptbill.codes import HOT_COLD_PACK, MASSAGE_FAMILY
from cptbill.coding import choose_code
from cptbill.contract import Flag, name_key
from cptbill.history import History, denied_before, late_note
from cptbill.models import Change, FlagNote, Line, LineResult, Payer, Plan, Settings, flags_text, money
from cptbill.units import Rule, spread, timed_units

_FLAG_ORDER = {flag: i for i, flag in enumerate(Flag)}
# Flags with a fixed note are shared by every line carrying them.
_MIXED = FlagNote(flag=Flag.MIXED_CODES, note="visit bills both 97124 and 97140")
_DUPLICATE = FlagNote(flag=Flag.DUPLICATE, note="same client, date, payer and minutes on another line")


@dataclass(frozen=True, slots=True)
class Planned:
    """Code and units a recode gives one line, with the visit's findings (one per line: kept small)."""

    code: str | None
    units: int | None
    flags: tuple[FlagNote, ...] = ()
    why: str = ""


def make_plan(
    lines: Sequence[Line],
    payers: Mapping[str, Payer],
    settings: Settings,
    history: History | None = None,
    *,
    month: str | None = None,
    sheet: str | None = None,
    check: bool = False,
) -> Plan:
    """Plan Code, Units, Expected and Flags for the lines in scope.

    A recode's and a check's results are what the recode writes (each result's
    `changed` says whether it differs from the sheet); a check adds `standing`,
    the lines as they stand (filled cells kept, empty ones planned).
    """
    history = history or {}
    months: dict[dt.date, bool] = {}  # a sheet repeats its dates: each is formatted once
    scope = [
        line
        for line in lines
        if (sheet is None or line.sheet == sheet)
        and (
            month is None
            or line.date is None
            or _in(months, line.date, month)
            or (line.other_date is not None and _in(months, line.other_date, month))
        )
        and not line.self_pay
    ]
    names = _Names()
    duplicates = _duplicates(lines, names)
    visits = _visits(scope, names)
    # Per line of the scope, by position: what the recode gives it (None: unreadable, left as is).
    planned: list[Planned | None] = [None] * len(scope)
    codes: dict[str, tuple[str, str]] = {}  # each payer's code is chosen once
    # Visits of the same payer and shape (services, minutes, locked cells) get the same plans.
    shapes: dict[tuple[object, ...], list[Planned]] = {}
    for visit in visits:
        of_visit = [scope[i] for i in visit]
        payer_key = names[of_visit[0].payer]
        shape = (payer_key, *map(_shape, of_visit))
        plans = shapes.get(shape)
        if plans is None:
            if payer_key not in codes:
                codes[payer_key] = choose_code(payers.get(payer_key), settings, history)
            plans = _plan_visit(of_visit, payers.get(payer_key), settings, codes[payer_key])
            shapes[shape] = plans
        for i, plan in zip(visit, plans, strict=True):
            planned[i] = plan
    money = _Money(payers, history)
    recoded = _results(scope, visits, planned, money, duplicates, as_stands=False)
    # A check reports what a recode would write (its totals and flags are the recode's), and
    # beside it the lines as they stand: typed codes that mix, values a recode would replace.
    standing = (
        _results(scope, visits, planned, money, duplicates, as_stands=True, recoded=recoded) if check else []
    )
    changes, filled = ([], 0) if check else _changes(scope, recoded, planned)
    return Plan(
        month=month, results=tuple(recoded), changes=tuple(changes), filled=filled, standing=tuple(standing)
    )


def _in(months: dict[dt.date, bool], date: dt.date, month: str) -> bool:
    """Whether a date is in the month (YYYY-MM); a line without a readable date always is in scope."""
    inside = months.get(date)
    if inside is None:
        inside = months[date] = date.strftime("%Y-%m") == month
    return inside


def visit_key(line: Line) -> tuple[object, ...]:
    """Which visit a line belongs to: same sheet, payer, Date and Client, split further by its Visit.

    A Visit value only subdivides a client's day: therapists number appointments per day
    ("1", "2"), and one appointment never spans two dates or two clients.
    """
    return (line.sheet, name_key(line.payer), line.date, name_key(line.client), name_key(line.visit))


class _Names(dict[str, str]):
    """The name key of each payer, client and visit text, worked out once per text."""

    def __missing__(self, text: str) -> str:
        key = self[text] = name_key(text)
        return key


def _visits(scope: Sequence[Line], names: _Names) -> list[list[int]]:
    """Positions of the billable lines of `scope` grouped into visits (as `visit_key`), in sheet order."""
    groups: dict[tuple[object, ...], list[int]] = defaultdict(list)
    for i, line in enumerate(scope):
        if not line.problems:  # unreadable lines are left as they are
            key = (line.sheet, names[line.payer], line.date, names[line.client], names[line.visit])
            groups[key].append(i)
    return list(groups.values())


def _duplicates(lines: Iterable[Line], names: _Names) -> set[int]:
    """The ids of the lines that share client, date, payer, minutes and service with another."""
    first: dict[tuple[object, ...], Line] = {}
    found: set[int] = set()
    for line in lines:
        if line.self_pay:
            continue
        key = (
            line.sheet, names[line.client], line.date, names[line.payer],
            line.minutes, line.service,
        )  # fmt: skip
        other = first.setdefault(key, line)
        if other is not line:
            found.update((id(other), id(line)))
    return found


def _shape(line: Line) -> tuple[object, ...]:
    """What `_plan_visit` reads of a line: its service and minutes, and its cells when locked."""
    if line.locked:
        return (line.service, line.minutes, True, line.code, line.units)
    return (line.service, line.minutes)


def _plan_visit(
    visit: list[Line], payer: Payer | None, settings: Settings, chosen: tuple[str, str]
) -> list[Planned]:
    """What each line of one visit gets, in the visit's order; `chosen` is the payer's code and why."""
    plans: list[Planned | None] = [None] * len(visit)
    massage = [i for i, line in enumerate(visit) if line.service is None]
    for n, i in enumerate(i for i, line in enumerate(visit) if line.service is not None):
        line = visit[i]
        code = line.code if line.locked else line.service
        units = line.units if line.locked else (1 if n == 0 else 0)
        plans[i] = Planned(code=code, units=units, why=_PACK_WHY[n == 0])
    if not massage:
        return _all(plans)

    locked_codes = [line.code for line in (visit[i] for i in massage) if line.locked and line.code]
    if locked_codes:
        target, code_why = locked_codes[0], f"locked line's code {locked_codes[0]}"
    else:
        target, code_why = chosen
    rule = (payer.unit_rule if payer and payer.unit_rule else None) or settings.unit_rule

    def billed_code(line: Line) -> str:
        return (line.code or target) if line.locked else target

    minutes_by_code: dict[str, float] = {}
    for i in massage:
        code = billed_code(visit[i])
        minutes_by_code[code] = minutes_by_code.get(code, 0.0) + (visit[i].minutes or 0.0)
    by_code = timed_units(minutes_by_code, rule)
    total = sum(by_code.values())
    total_minutes = sum(minutes_by_code.values())
    cap = payer.max_units if payer else None
    visit_flags, units_why = _visit_findings(total, total_minutes, rule, cap)
    if cap is not None and total > cap:
        left = cap
        for code, units in by_code.items():
            by_code[code] = min(units, left)
            left -= by_code[code]
        total = cap

    locked = [i for i in massage if visit[i].locked]
    unlocked = [i for i in massage if not visit[i].locked]
    left = max(0, total - sum(visit[i].units or 0 for i in locked))
    why = _why(code_why, units_why)
    for i, units_of_line in zip(
        unlocked, spread([visit[i].minutes or 0.0 for i in unlocked], left), strict=True
    ):
        plans[i] = Planned(code=target, units=units_of_line, flags=visit_flags, why=why)
    if locked:
        share: dict[int, int] = {}  # the rule's units of each locked line, to compare with its own
        for code, units in by_code.items():
            of_code = [i for i in massage if billed_code(visit[i]) == code]
            share.update(zip(of_code, spread([visit[i].minutes or 0.0 for i in of_code], units), strict=True))
        for i in locked:
            line = visit[i]
            flags = visit_flags
            if line.units != share[i]:
                note = f"locked at {_show(line.units)} units, the rule gives {share[i]}"
                flags = (*flags, FlagNote(flag=Flag.UNITS_MISMATCH, note=note))
            plans[i] = Planned(code=line.code, units=line.units, flags=flags, why="locked line")
    return _all(plans)


_PACK_WHY = {True: "untimed: one unit per visit", False: "untimed: already billed once this visit"}


def _all(plans: list[Planned | None]) -> list[Planned]:
    return [plan for plan in plans if plan is not None]


@lru_cache(maxsize=1024)
def _visit_findings(
    total: int, total_minutes: float, rule: Rule, cap: int | None
) -> tuple[tuple[FlagNote, ...], str]:
    """A visit's flags for its units (too short, over the cap) and the units part of its reason.

    Visits repeat the same few totals: their flags and texts are made once and shared.
    """
    flags = []
    units_why = f"{total} units for {total_minutes:g} visit minutes ({rule.value.upper()} rule)"
    if total == 0:
        flags.append(FlagNote(flag=Flag.UNDER_8_MIN, note=f"{total_minutes:g} timed minutes give 0 units"))
    if cap is not None and total > cap:
        flags.append(FlagNote(flag=Flag.OVER_CAP, note=f"{total} units cut to the cap of {cap}"))
        units_why += f", cut to the cap of {cap}"
    return tuple(flags), units_why


@lru_cache(maxsize=1024)
def _why(code_why: str, units_why: str) -> str:
    return f"{code_why}; {units_why}"


class _Money:
    """Each line's Expected and money flags, worked out once per payer text, code and units.

    Lines repeat the same few combinations: the amounts and flags are shared, not rebuilt.
    """

    def __init__(self, payers: Mapping[str, Payer], history: History) -> None:
        self.payers = payers
        self.history = history
        self.known: dict[tuple[str, str | None, int | None], tuple[Decimal | None, tuple[FlagNote, ...]]] = {}

    def __call__(
        self, line: Line, code: str | None, units: int | None
    ) -> tuple[Decimal | None, tuple[FlagNote, ...]]:
        key = (line.payer, code, units)
        found = self.known.get(key)
        if found is None:
            payer = self.payers.get(name_key(line.payer))
            names = [known.name for known in self.payers.values()] if payer is None else ()
            expected, flags = _expected(line, payer, code, units, self.history, names)
            found = self.known[key] = (expected, tuple(flags))
        return found

    def late(self, line: Line) -> tuple[FlagNote, ...]:
        """LATE, per line (its date and client): not shared like the amounts."""
        note = late_note(line, self.payers.get(name_key(line.payer)), self.history)
        return () if note is None else (note,)


def _results(
    scope: Sequence[Line],
    visits: Sequence[Sequence[int]],
    planned: Sequence[Planned | None],
    money: _Money,
    duplicates: set[int],
    *,
    as_stands: bool,
    recoded: Sequence[LineResult] | None = None,
) -> list[LineResult]:
    """Each line's result; `changed` compares the line with what a recode writes (`recoded`, or this)."""
    state: list[tuple[str | None, int | None]] = []
    for line, plan in zip(scope, planned, strict=True):
        if plan is None:  # unreadable: left as it was
            state.append((line.code, line.units))
        elif as_stands:
            state.append(
                (
                    line.code if line.code is not None else plan.code,
                    line.units if line.units is not None else plan.units,
                )
            )
        else:
            state.append((plan.code, plan.units))

    mixed: set[int] = set()
    for visit in visits:
        if len(visit) > 1:
            codes = {state[i][0] for i in visit} & _MASSAGE_CODES
            if len(codes) > 1:
                mixed.update(i for i in visit if state[i][0] in codes)

    # Equal flags share one tuple and one text (most lines have none, or the same few).
    texts: dict[tuple[FlagNote, ...], tuple[tuple[FlagNote, ...], str]] = {(): ((), "")}
    results = []
    for i, line in enumerate(scope):
        code, units = state[i]
        plan = planned[i]
        flags = line.problems + line.notes
        expected = line.expected
        if plan is not None:
            expected, money_flags = money(line, code, units)
            flags = flags + plan.flags + money_flags + money.late(line)
            if i in mixed:
                flags += (_MIXED,)
        if id(line) in duplicates:
            flags += (_DUPLICATE,)
        if len(flags) > 1:
            flags = tuple(sorted(flags, key=_flag_order))
        found = texts.get(flags)
        if found is None:
            found = texts[flags] = (flags, flags_text(flags))
        flag_tuple, text = found
        written = (code, units, expected, text)
        if recoded is not None:
            new = recoded[i]
            written = (new.code, new.units, new.expected, new.flags_text)
        results.append(
            LineResult(
                sheet=line.sheet,
                row=line.row,
                code=code,
                units=units,
                expected=expected,
                flags=flag_tuple,
                changed=(line.code, line.units, line.expected, line.flags_text.strip()) != written,
            )
        )
    return results


_MASSAGE_CODES = frozenset(MASSAGE_FAMILY)


def _flag_order(note: FlagNote) -> int:
    return _FLAG_ORDER[note.flag]


def _unknown_payer(name: str, known: Sequence[str]) -> str:
    """The UNKNOWN_PAYER note, naming the closest payers on the Payers sheet (a typo, a short name)."""
    by_key = {name_key(payer): payer for payer in known}
    typed = name_key(name)
    close = difflib.get_close_matches(typed, list(by_key), n=2, cutoff=0.75)
    close += [key for key in by_key if typed and key.startswith(typed) and key not in close][: 2 - len(close)]
    note = f"'{name}' is not on the Payers sheet"
    if close:
        return note + f", did you mean {' or '.join(by_key[key] for key in close)}?"
    return note + ", add it there (or leave Payer blank for self-pay)"


def _expected(
    line: Line,
    payer: Payer | None,
    code: str | None,
    units: int | None,
    history: History,
    names: Sequence[str] = (),
) -> tuple[Decimal | None, list[FlagNote]]:
    if payer is None:
        return None, [FlagNote(flag=Flag.UNKNOWN_PAYER, note=_unknown_payer(line.payer, names))]
    flags = []
    if code in MASSAGE_FAMILY and not payer.takes(code):
        flags.append(FlagNote(flag=Flag.NOT_ACCEPTED, note=f"{payer.name} does not take {code}"))
    if code is not None:
        denied = denied_before(payer.key, code, history)
        if denied:
            flags.append(
                FlagNote(flag=Flag.DENIED_BEFORE, note=f"{payer.name} denied {code} {denied} time(s)")
            )
    if code is None or units is None:
        return None, flags
    rate = payer.rate(code)
    if rate is None:
        flags.append(FlagNote(flag=Flag.NO_RATE, note=f"no rate for {code} on the Payers sheet"))
        return None, flags
    if rate == 0 and units > 0:
        why = "bundled, not paid separately" if code == HOT_COLD_PACK else "rate is 0"
        flags.append(FlagNote(flag=Flag.NOT_PAID, note=f"{payer.name} pays nothing for {code} ({why})"))
    return money(rate * units), flags


def _show(value: object) -> str:
    return "?" if value is None else str(value)


def describe(code: str | None, units: int | None, expected: Decimal | None) -> str:
    """A line's billing in the Changes log: `97124 x 2 = 60.00`."""
    text = f"{_show(code)} x {_show(units)}"
    return text if expected is None else f"{text} = {expected:.2f}"


def _changes(
    scope: Sequence[Line], recoded: Sequence[LineResult], planned: Sequence[Planned | None]
) -> tuple[list[Change], int]:
    changes, filled = [], 0
    for line, new, plan in zip(scope, recoded, planned, strict=True):
        if line.code is None and line.units is None and line.expected is None:  # nothing overwritten
            filled += new.code is not None or new.units is not None or new.expected is not None
            continue
        pairs = ((line.code, new.code), (line.units, new.units), (line.expected, new.expected))
        if any(old is not None and old != value for old, value in pairs):
            changes.append(
                Change(
                    sheet=line.sheet,
                    row=line.row,
                    client=line.client,
                    date=line.date,
                    before=describe(line.code, line.units, line.expected),
                    after=describe(new.code, new.units, new.expected),
                    why=plan.why if plan else "",
                )
            )
        elif any(old is None and value is not None for old, value in pairs):
            filled += 1
    return changes, filled


def is_either(line: Line, settings: Settings) -> bool:
    """Whether the line's documented service is `either` (typed, or by the Settings `Blank service`).

    Only such lines let payer rules and claim history choose between 97124 and 97140, and only
    their denials may be followed up with the other code. Placeholder until the service rules
    (issue 9) land: no line is `either`, which never advises switching codes.
    """
    return False
