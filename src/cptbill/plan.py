"""The recode, pure: session lines + payers + settings + history -> a plan for every line."""

from __future__ import annotations

import datetime as dt
import difflib
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

from cptbill.codes import HOT_COLD_PACK, MANUAL_THERAPY, MASSAGE_FAMILY, UNTIMED
from cptbill.coding import (
    choose_code,
    describe_service,
    documented_code,
    not_accepted_note,
    service_code,
)
from cptbill.contract import EITHER, Flag, name_key
from cptbill.history import History, denied_before, late_note
from cptbill.models import (
    Change,
    FlagNote,
    Line,
    LineResult,
    Payer,
    Plan,
    Settings,
    flag_parts,
    flags_text,
    money,
)
from cptbill.units import Rule, spread, table_units, timed_units

_FLAG_ORDER = {flag: i for i, flag in enumerate(Flag)}
# Flags with a fixed note are shared by every line carrying them.
_MIXED = FlagNote(
    flag=Flag.MIXED_CODES,
    note=(
        "visit bills both 97124 and 97140, which NCCI pairs: bill both only as separate 15-minute "
        "blocks on different body regions, with modifier 59 or XS on the 97140 line (Modifiers "
        "column), else payers deny the visit or take one code back"
    ),
)
_DUPLICATE = FlagNote(
    flag=Flag.DUPLICATE, note="same client, date, payer, visit, minutes and service on another line"
)
#: Modifiers that mark 97140 as a separate service beside 97124 in one visit (NCCI).
SEPARATE_SERVICE = frozenset({"59", "XS"})
#: The Changes log's After for a line whose Payer was cleared.
SELF_PAY = "not billed (self-pay)"


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
    the lines as they stand (filled cells kept, empty ones planned). Self-pay
    lines in scope that still hold what an earlier recode wrote are planned
    apart (`Plan.cleared`): they lose it.
    """
    history = history or {}
    names = _Names()
    blank = service_code(None, settings)
    months: dict[dt.date, bool] = {}  # a sheet repeats its dates: each is formatted once
    every = sheet is None and month is None
    scope: list[Line] = []
    self_pay: list[Line] = []
    # One pass over the lines: the scope, its billable lines by visit (`visit_key`), and the
    # duplicates (lines of every month, sharing a visit, minutes and service with another).
    visits_of: defaultdict[tuple[object, ...], list[int]] = defaultdict(list)
    first: dict[tuple[object, ...], Line] = {}
    duplicates: set[int] = set()  # ids of the duplicate lines
    # Per line of the scope, what `_plan_day` reads of it: service (blank: the Blank service) and
    # minutes, and code and units when locked.
    shape_of: list[tuple[object, ...]] = []
    known_shapes: dict[tuple[object, ...], tuple[object, ...]] = {}
    for line in lines:
        inside = every or _in_scope(line, sheet, month, months)
        if not line.payer.strip():  # self-pay
            if inside:
                self_pay.append(line)
            continue
        key = (line.sheet, names[line.payer], line.date, names[line.client], names[line.visit])
        shape: tuple[object, ...] = (line.service or blank, line.minutes)
        shape = known_shapes.setdefault(shape, shape)  # one tuple per distinct shape: less memory
        other = first.setdefault((key, shape), line)
        if other is not line:
            duplicates.update((id(other), id(line)))
        if inside:
            if not line.problems:  # unreadable lines are left as they are
                visits_of[key].append(len(scope))
            scope.append(line)
            shape_of.append((*shape, True, line.code, line.units) if line.locked else shape)
    del first, known_shapes  # a large sheet's keys: let go before planning
    days = _days(visits_of)
    visits = [visit for day in days for visit in day]
    # Per line of the scope, by position: what the recode gives it (None: unreadable, left as is).
    planned: list[Planned | None] = [None] * len(scope)
    codes: dict[str, tuple[str, str]] = {}  # each payer's code for `either` lines is chosen once

    def plan_day(day: list[list[int]], payer_key: str, order: tuple[Position, ...]) -> list[list[Planned]]:
        if payer_key not in codes:
            codes[payer_key] = choose_code(payers.get(payer_key), settings, history)
        of_day = [[scope[i] for i in visit] for visit in day]
        return _plan_day(of_day, order, payers.get(payer_key), settings, codes[payer_key])

    # Days of the same payer and shape (visits, services, minutes, locked cells) get the same plans;
    # a day of one visit (most days) is keyed by its payer and its lines' shapes alone.
    shapes: dict[tuple[object, ...], list[list[Planned]]] = {}
    one_visit: dict[tuple[object, ...], list[Planned]] = {}
    shape_at = shape_of.__getitem__
    for day in days:
        payer_key = names[scope[day[0][0]].payer]
        if len(day) == 1:
            visit = day[0]
            one_key = (payer_key, *map(shape_at, visit))
            visit_plans = one_visit.get(one_key)
            if visit_plans is None:
                visit_plans = one_visit[one_key] = plan_day(day, payer_key, _one_visit(len(visit)))[0]
            for i, plan in zip(visit, visit_plans, strict=True):
                planned[i] = plan
            continue
        order = _order(day)
        day_shape = (payer_key, order, *[tuple(map(shape_at, visit)) for visit in day])
        plans = shapes.get(day_shape)
        if plans is None:
            plans = shapes[day_shape] = plan_day(day, payer_key, order)
        for visit, visit_plans in zip(day, plans, strict=True):
            for i, plan in zip(visit, visit_plans, strict=True):
                planned[i] = plan
    money = _Money(payers, history)
    recoded = _results(scope, visits, planned, money, duplicates, as_stands=False)
    # A check reports what a recode would write (its totals and flags are the recode's), and
    # beside it the lines as they stand: typed codes that mix, values a recode would replace.
    standing: list[LineResult] = []
    if check and any(_typed_other(line, plan) for line, plan in zip(scope, planned, strict=True)):
        standing = _results(scope, visits, planned, money, duplicates, as_stands=True, recoded=recoded)
    elif check:  # no line holds a Code or Units other than the plan's: they stand as a recode leaves them
        standing = recoded
    cleared = [(line, result) for line in self_pay if (result := _cleared(line))]
    changes, filled = ([], 0) if check else _changes(scope, recoded, planned)
    if not check:
        changes += [_self_pay_change(line) for line, _ in cleared if _held_billing(line)]
    return Plan(
        month=month,
        results=tuple(recoded),
        changes=tuple(changes),
        filled=filled,
        standing=tuple(standing),
        cleared=tuple(result for _, result in cleared),
    )


def _typed_other(line: Line, plan: Planned | None) -> bool:
    """Whether a planned line holds a Code or Units other than the plan's (so it stands otherwise)."""
    return plan is not None and (
        (line.code is not None and line.code != plan.code)
        or (line.units is not None and line.units != plan.units)
    )


def _odd_date(line: Line, month: str) -> bool:
    """An ODD_DATE line (future, or far before the sheet's others) in the month of another year: in scope.

    A typo in the year keeps the month and day, so the month's run still shows the line.
    """
    same_month = line.date is not None and f"{line.date.month:02d}" == month[5:7]
    return same_month and any(note.flag is Flag.ODD_DATE for note in line.notes)


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


def is_either(line: Line, settings: Settings) -> bool:
    """Whether the line's documented service is `either` (typed, or by the Settings `Blank service`).

    Only such lines let payer rules and claim history choose between 97124 and 97140, and only
    their denials may be followed up with the other code.
    """
    return service_code(line.service, settings) == EITHER


class _Names(dict[str, str]):
    """The name key of each payer, client and visit text, worked out once per text."""

    def __missing__(self, text: str) -> str:
        key = self[text] = name_key(text)
        return key


def _days(visits_of: Mapping[tuple[object, ...], list[int]]) -> list[list[list[int]]]:
    """The visits (positions of their lines, keyed by `visit_key`) grouped into a client's day with
    one payer (what CMS pools), in sheet order."""
    days: dict[tuple[object, ...], list[list[int]]] = {}
    for key, positions in visits_of.items():
        day = days.get(key[:4])
        if day is None:
            days[key[:4]] = [positions]
        else:
            day.append(positions)
    return list(days.values())


def _in_scope(line: Line, sheet: str | None, month: str | None, months: dict[dt.date, bool]) -> bool:
    """Whether a line is in the run's sheet and month (a line without a readable date always is)."""
    return (sheet is None or line.sheet == sheet) and (
        month is None
        or line.date is None
        or _in(months, line.date, month)
        or (line.other_date is not None and _in(months, line.other_date, month))
        or (bool(line.notes) and _odd_date(line, month))  # a wrong year must not vanish from the run
    )


def _order(day: list[list[int]]) -> tuple[Position, ...]:
    """The day's lines as (visit, line within the visit), in sheet order."""
    where = {i: (v, k) for v, visit in enumerate(day) for k, i in enumerate(visit)}
    return tuple(where[i] for i in sorted(where))


@lru_cache(maxsize=64)
def _one_visit(count: int) -> tuple[Position, ...]:
    return tuple((0, k) for k in range(count))


Position = tuple[int, int]  # (visit, line within the visit) of one line of a day


def _plan_day(
    visits: list[list[Line]],
    order: Sequence[Position],
    payer: Payer | None,
    settings: Settings,
    chosen: tuple[str, str],
) -> list[list[Planned]]:
    """What each line of a client's day with one payer gets, visit by visit in each visit's order.

    `order` lists the day's lines in sheet order; `chosen` is the payer's code for `either` lines.
    """
    if len(visits) == 1:
        simple = _plan_simple_visit(visits[0], payer, settings, chosen)
        if simple is not None:
            return [simple]
    plans: list[list[Planned | None]] = [[None] * len(visit) for visit in visits]
    billed: dict[Position, str] = {}  # the code each line's minutes count under
    code_why: dict[Position, str] = {}
    for v, visit in enumerate(visits):
        target, target_why = _either_code(visit, payer, settings, chosen)
        for k, line in enumerate(visit):
            documented = documented_code(line, settings)
            code = documented or target
            billed[(v, k)] = (line.code or code) if line.locked else code
            code_why[(v, k)] = f"documented service {describe_service(code)}" if documented else target_why

    # Untimed codes (97010): one unit per client, payer and day; its minutes never count.
    seen: set[str] = set()
    for v, k in order:
        code = billed[(v, k)]
        if code in UNTIMED:
            line = visits[v][k]
            first = code not in seen
            seen.add(code)
            plans[v][k] = (
                Planned(code=line.code, units=line.units, why=_PACK_WHY[first])
                if line.locked
                else Planned(code=code, units=int(first), why=_PACK_WHY[first])
            )

    timed = [p for p in order if billed[p] not in UNTIMED]
    if not timed:
        return [_all(visit_plans) for visit_plans in plans]
    rule = (payer.unit_rule if payer and payer.unit_rule else None) or settings.unit_rule
    cap = payer.max_units if payer else None
    minutes = {p: visits[p[0]][p[1]].minutes or 0.0 for p in timed}
    locked = {p: visits[p[0]][p[1]].units or 0 for p in timed if visits[p[0]][p[1]].locked}
    # CMS pools the timed minutes of the whole day; AMA counts each code within a visit.
    groups = (
        [timed]
        if rule is Rule.CMS
        else [g for v in range(len(visits)) if (g := [p for p in timed if p[0] == v])]
    )
    share: dict[Position, int] = {}  # the rule's units of each line (compared with a locked line's own)
    placed: dict[Position, int] = {}  # what an unlocked line gets
    flags: dict[Position, tuple[FlagNote, ...]] = {}
    units_why: dict[Position, str] = {}
    for group in groups:
        by_code = _minutes_by_code(group, billed, minutes)
        units = timed_units(by_code, rule)
        total, total_minutes = sum(units.values()), sum(by_code.values())
        share.update(_spread_codes(group, units, billed, minutes))
        placed.update(_place(group, units, total, billed, minutes, locked))
        several = len({p[0] for p in group}) > 1
        group_flags = (_under(total_minutes),) if total == 0 else ()
        group_why = _units_why(total, total_minutes, rule, several)
        for p in group:
            flags[p], units_why[p] = group_flags, group_why
    if cap is not None:
        for v in range(len(visits)):
            of_visit = [p for p in timed if p[0] == v]
            visit_total = sum(share[p] for p in of_visit)
            if visit_total <= cap:
                continue
            # The visit's units per code, cut to the cap in code order, placed again within the visit.
            capped: dict[str, int] = {}
            for p in of_visit:
                capped[billed[p]] = capped.get(billed[p], 0) + share[p]
            left = cap
            for code, count in capped.items():
                capped[code] = min(count, left)
                left -= capped[code]
            share.update(_spread_codes(of_visit, capped, billed, minutes))
            placed.update(_place(of_visit, capped, cap, billed, minutes, locked))
            for p in of_visit:
                flags[p] += (_over(visit_total, cap),)
                units_why[p] = f"{units_why[p]}, cut to the cap of {cap}"
    for p in timed:
        v, k = p
        line = visits[v][k]
        if line.locked:
            line_flags = flags[p]
            if line.units != share[p]:
                note = f"locked at {_show(line.units)} units, the rule gives {share[p]}"
                line_flags = (*line_flags, FlagNote(flag=Flag.UNITS_MISMATCH, note=note))
            plans[v][k] = Planned(code=line.code, units=line.units, flags=line_flags, why="locked line")
        else:
            why = _why(code_why[p], units_why[p])
            plans[v][k] = Planned(code=billed[p], units=placed[p], flags=flags[p], why=why)
    return [_all(visit_plans) for visit_plans in plans]


def _plan_simple_visit(
    visit: list[Line], payer: Payer | None, settings: Settings, chosen: tuple[str, str]
) -> list[Planned] | None:
    """The common day, planned directly: one visit, no locked line, one timed code (None otherwise).

    It gives what `_plan_day` gives such a day, without its bookkeeping for several visits and codes.
    """
    target, target_why = _either_code(visit, payer, settings, chosen)
    documented = [documented_code(line, settings) for line in visit]
    codes = {code or target for code in documented}
    if len(codes) != 1 or any(line.locked for line in visit):
        return None
    (code,) = codes
    if code in UNTIMED:
        return None
    rule = (payer.unit_rule if payer and payer.unit_rule else None) or settings.unit_rule
    cap = payer.max_units if payer else None
    minutes = [line.minutes or 0.0 for line in visit]
    total_minutes = sum(minutes)
    total = table_units(total_minutes)  # one code: CMS and AMA agree
    flags: tuple[FlagNote, ...] = (_under(total_minutes),) if total == 0 else ()
    units_why = _units_why(total, total_minutes, rule, False)
    placed = total
    if cap is not None and total > cap:
        placed = cap
        flags += (_over(total, cap),)
        units_why = f"{units_why}, cut to the cap of {cap}"
    documented_why = f"documented service {describe_service(code)}"
    return [
        Planned(
            code=code,
            units=units,
            flags=flags,
            why=_why(documented_why if line_code else target_why, units_why),
        )
        for line_code, units in zip(documented, spread(minutes, placed), strict=True)
    ]


def _either_code(
    visit: list[Line], payer: Payer | None, settings: Settings, chosen: tuple[str, str]
) -> tuple[str, str]:
    """The one code a visit's `either` lines share, and why.

    A locked `either` line's code; else the massage code the visit already bills (a documented
    or locked line), when the payer takes it, so the visit stays one service; else the payer's.
    """
    for line in visit:
        if line.locked and line.code and documented_code(line, settings) is None:
            return line.code, f"locked line's code {line.code}"
    for line in visit:
        code = line.code if line.locked else documented_code(line, settings)
        if code in MASSAGE_FAMILY and (payer is None or payer.takes(code)):
            return code, f"the visit's other line bills {code}"
    return chosen


def _minutes_by_code(
    group: Sequence[Position], billed: Mapping[Position, str], minutes: Mapping[Position, float]
) -> dict[str, float]:
    """Timed minutes per code, codes in the order the lines list them."""
    by_code: dict[str, float] = {}
    for p in group:
        by_code[billed[p]] = by_code.get(billed[p], 0.0) + minutes[p]
    return by_code


def _spread_codes(
    group: Sequence[Position],
    units: Mapping[str, int],
    billed: Mapping[Position, str],
    minutes: Mapping[Position, float],
) -> dict[Position, int]:
    """Each code's units spread over the group's lines of that code."""
    result: dict[Position, int] = {}
    for code, count in units.items():
        of_code = [p for p in group if billed[p] == code]
        result.update(zip(of_code, spread([minutes[p] for p in of_code], count), strict=True))
    return result


def _place(
    group: Sequence[Position],
    units: Mapping[str, int],
    total: int,
    billed: Mapping[Position, str],
    minutes: Mapping[Position, float],
    locked: Mapping[Position, int],
) -> dict[Position, int]:
    """The unlocked lines' units: each code's units less its locked lines' own, never more in all
    than `total` less every locked unit of the group (codes in order)."""
    left = max(0, total - sum(locked.get(p, 0) for p in group))
    budgets = {}
    for code, count in units.items():
        held = sum(locked.get(p, 0) for p in group if billed[p] == code and p in locked)
        budgets[code] = min(max(0, count - held), left)
        left -= budgets[code]
    unlocked = [p for p in group if p not in locked]
    return _spread_codes(unlocked, budgets, billed, minutes)


_PACK_WHY = {
    True: "untimed: one unit per client, payer and day",
    False: "untimed: already billed once this day",
}


def _all(plans: list[Planned | None]) -> list[Planned]:
    return [plan for plan in plans if plan is not None]


@lru_cache(maxsize=1024)
def _under(total_minutes: float) -> FlagNote:
    return FlagNote(flag=Flag.UNDER_8_MIN, note=f"{total_minutes:g} timed minutes give 0 units")


@lru_cache(maxsize=1024)
def _over(total: int, cap: int) -> FlagNote:
    return FlagNote(flag=Flag.OVER_CAP, note=f"{total} units cut to the cap of {cap}")


@lru_cache(maxsize=1024)
def _units_why(total: int, total_minutes: float, rule: Rule, several: bool) -> str:
    """The units part of a line's reason; CMS days of several visits say they were pooled."""
    where = "timed minutes of the day's visits" if several else "visit minutes"
    return f"{total} units for {total_minutes:g} {where} ({rule.value.upper()} rule)"


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
        # LATE needs a payer's filing limit: without any, no line is looked up.
        self.limits = any(payer.filing_limit is not None for payer in payers.values())

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
        if not self.limits:
            return ()
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
    state: list[tuple[str | None, int | None]] = [
        (line.code, line.units)  # unreadable: left as it was
        if plan is None
        else (
            line.code if line.code is not None else plan.code,
            line.units if line.units is not None else plan.units,
        )
        if as_stands
        else (plan.code, plan.units)
        for line, plan in zip(scope, planned, strict=True)
    ]

    # A check's lines as they stand mostly hold what a recode writes: where a whole visit does,
    # each line's result is the recode's (flags included), so only the other visits are worked out.
    differs: set[int] = set()
    if recoded is not None:
        for visit in visits:
            if any(state[j] != (recoded[j].code, recoded[j].units) for j in visit):
                differs.update(visit)

    mixed: set[int] = set()
    for visit in visits:
        if len(visit) > 1:
            codes = {state[i][0] for i in visit} & _MASSAGE_CODES
            if len(codes) > 1 and not all(
                SEPARATE_SERVICE.intersection(scope[i].modifiers)
                for i in visit
                if state[i][0] == MANUAL_THERAPY
            ):
                mixed.update(i for i in visit if state[i][0] in codes)

    # Lines repeat a few combinations of payer, code, units, flags and findings: each combination's
    # Expected, flags and Flags text are worked out once. The tuples of flags, problems and notes
    # are mostly shared, and alive for the whole loop, so the key holds their identities (hashing
    # their flags would cost more than the work it saves).
    found: dict[tuple[object, ...], tuple[Decimal | None, tuple[FlagNote, ...], str]] = {}
    texts: dict[tuple[FlagNote, ...], tuple[tuple[FlagNote, ...], str]] = {(): ((), "")}
    results = []
    for i, line in enumerate(scope):
        if recoded is not None and i not in differs:
            results.append(recoded[i])
            continue
        code, units = state[i]
        plan = planned[i]
        late = money.late(line) if plan is not None else ()
        in_mixed, duplicate = i in mixed, id(line) in duplicates
        key = (
            line.payer, code, units, None if plan is None else id(plan.flags), id(line.problems),
            id(line.notes), late, in_mixed, duplicate, line.expected if plan is None else None,
        )  # fmt: skip
        combination = found.get(key)
        if combination is None:
            combination = found[key] = _combination(
                line, code, units, plan, money, late, in_mixed, duplicate, texts
            )
        expected, flag_tuple, text = combination
        new = None if recoded is None else recoded[i]
        written = (
            (code, units, expected, text)
            if new is None
            else (new.code, new.units, new.expected, new.flags_text)
        )
        changed = (line.code, line.units, line.expected, line.flags_text.strip()) != written
        results.append(LineResult(line.sheet, line.row, code, units, expected, flag_tuple, changed, text))
    return results


def _combination(
    line: Line,
    code: str | None,
    units: int | None,
    plan: Planned | None,
    money: _Money,
    late: tuple[FlagNote, ...],
    mixed: bool,
    duplicate: bool,
    texts: dict[tuple[FlagNote, ...], tuple[tuple[FlagNote, ...], str]],
) -> tuple[Decimal | None, tuple[FlagNote, ...], str]:
    """A line's Expected, flags (in flag order) and Flags text; equal flags share one tuple and text."""
    flags = line.problems + line.notes
    expected = line.expected
    if plan is not None:
        expected, money_flags = money(line, code, units)
        flags = flags + plan.flags + money_flags + late
        if mixed:
            flags += (_MIXED,)
    if duplicate:
        flags += (_DUPLICATE,)
    if len(flags) > 1:
        flags = tuple(sorted(flags, key=_flag_order))
    shared = texts.get(flags)
    if shared is None:
        shared = texts[flags] = (flags, flags_text(flags))
    return expected, *shared


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
        flags.append(FlagNote(flag=Flag.NOT_ACCEPTED, note=not_accepted_note(payer, code)))
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
        if (line.code, line.units, line.expected) == (new.code, new.units, new.expected):
            continue  # already holds what the recode writes (an earlier recode's lines)
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


def _program_flags(text: str) -> bool:
    """Whether a Flags cell holds only flags the program writes (`ID: explanation; ...`)."""
    return all(part.split(":", 1)[0].strip() in _FLAG_IDS for part in flag_parts(text))


_FLAG_IDS = frozenset(flag.value for flag in Flag)


def _held_billing(line: Line) -> bool:
    """Whether a self-pay line's Code, Units or Expected still hold billing a recode would clear."""
    if line.locked:  # the program never changes a locked line's Code or Units
        return line.expected is not None
    return line.code is not None or line.units is not None or line.expected is not None


def _cleared(line: Line) -> LineResult | None:
    """A self-pay line without what an earlier recode wrote on it (None: nothing to clear).

    A Flags cell holding the therapist's own text marks the line as theirs: it is left alone.
    """
    if not _program_flags(line.flags_text) or not (_held_billing(line) or line.flags_text.strip()):
        return None
    code, units = (line.code, line.units) if line.locked else (None, None)
    return LineResult(sheet=line.sheet, row=line.row, code=code, units=units, expected=None, changed=True)


def _self_pay_change(line: Line) -> Change:
    return Change(
        sheet=line.sheet,
        row=line.row,
        client=line.client,
        date=line.date,
        before=describe(line.code, line.units, line.expected),
        after=SELF_PAY,
        why="Payer cleared: a self-pay line is not billed",
    )
