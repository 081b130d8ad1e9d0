"""The recode, pure: session lines + payers + settings + history -> a plan for every line."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from cptbill.codes import HOT_COLD_PACK, MASSAGE_FAMILY
from cptbill.coding import choose_code
from cptbill.contract import Flag, name_key
from cptbill.history import History, denied_before
from cptbill.models import Change, FlagNote, Line, LineResult, Payer, Plan, Settings, money
from cptbill.units import spread, timed_units

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


def in_month(line: Line, month: str | None) -> bool:
    """A line is in the month when its date is; a line without a readable date always is."""
    return month is None or line.date is None or line.date.strftime("%Y-%m") == month


def make_plan(
    lines: Sequence[Line],
    payers: Mapping[str, Payer],
    settings: Settings,
    history: History | None = None,
    *,
    month: str | None = None,
    sheet: str | None = None,
    check: bool = False,
    now: dt.datetime | None = None,
) -> Plan:
    """Plan Code, Units, Expected and Flags for the lines in scope.

    A recode's results are what it writes; a check's results are the lines as
    they stand (filled cells kept, empty ones planned), and each result's
    `changed` says whether a recode would change that line either way.
    """
    history = history or {}
    scope = [
        line
        for line in lines
        if (sheet is None or line.sheet == sheet) and in_month(line, month) and not line.self_pay
    ]
    duplicates = _duplicates(lines)
    planned: dict[tuple[str, int], Planned] = {}
    for visit in _visits(scope):
        payer = payers.get(name_key(visit[0].payer))
        planned.update(_plan_visit(visit, payer, settings, history))
    recoded = _results(scope, planned, payers, history, duplicates, as_stands=False)
    results = (
        _results(scope, planned, payers, history, duplicates, as_stands=True, recoded=recoded)
        if check
        else recoded
    )
    changes, filled = ([], 0) if check else _changes(scope, recoded, planned)
    return Plan(month=month, results=tuple(results), changes=tuple(changes), filled=filled)


def visit_key(line: Line) -> tuple[object, ...]:
    """Which visit a line belongs to: same sheet, payer, Date and Client, split further by its Visit.

    A Visit value only subdivides a client's day: therapists number appointments per day
    ("1", "2"), and one appointment never spans two dates or two clients.
    """
    return (line.sheet, name_key(line.payer), line.date, name_key(line.client), name_key(line.visit))


def _visits(lines: Iterable[Line]) -> list[list[Line]]:
    """Billable lines grouped into visits, in sheet order."""
    groups: dict[tuple[object, ...], list[Line]] = defaultdict(list)
    for line in lines:
        if not line.unreadable:
            groups[visit_key(line)].append(line)
    return list(groups.values())


def _duplicates(lines: Iterable[Line]) -> set[tuple[str, int]]:
    seen: dict[tuple[object, ...], list[Line]] = defaultdict(list)
    for line in lines:
        if line.self_pay:
            continue
        key = (
            line.sheet, name_key(line.client), line.date, name_key(line.payer),
            line.minutes, line.service,
        )  # fmt: skip
        seen[key].append(line)
    return {(ln.sheet, ln.row) for group in seen.values() if len(group) > 1 for ln in group}


def _plan_visit(
    visit: list[Line], payer: Payer | None, settings: Settings, history: History
) -> dict[tuple[str, int], Planned]:
    plans: dict[tuple[str, int], Planned] = {}
    massage = [line for line in visit if line.service is None]
    packs = [line for line in visit if line.service is not None]
    for i, line in enumerate(packs):
        code = line.code if line.locked else line.service
        units = line.units if line.locked else (1 if i == 0 else 0)
        why = "untimed: one unit per visit" if i == 0 else "untimed: already billed once this visit"
        plans[(line.sheet, line.row)] = Planned(code=code, units=units, why=why)
    if not massage:
        return plans

    locked_codes = [line.code for line in massage if line.locked and line.code]
    if locked_codes:
        target, code_why = locked_codes[0], f"locked line's code {locked_codes[0]}"
    else:
        target, code_why = choose_code(payer, settings, history)
    rule = (payer.unit_rule if payer and payer.unit_rule else None) or settings.unit_rule

    def billed_code(line: Line) -> str:
        return (line.code or target) if line.locked else target

    minutes_by_code: dict[str, float] = {}
    for line in massage:
        code = billed_code(line)
        minutes_by_code[code] = minutes_by_code.get(code, 0.0) + (line.minutes or 0.0)
    by_code = timed_units(minutes_by_code, rule)
    total = sum(by_code.values())
    visit_flags: list[FlagNote] = []
    total_minutes = sum(minutes_by_code.values())
    units_why = f"{total} units for {total_minutes:g} visit minutes ({rule.value.upper()} rule)"
    if total == 0:
        visit_flags.append(
            FlagNote(flag=Flag.UNDER_8_MIN, note=f"{total_minutes:g} timed minutes give 0 units")
        )
    cap = payer.max_units if payer else None
    if cap is not None and total > cap:
        visit_flags.append(FlagNote(flag=Flag.OVER_CAP, note=f"{total} units cut to the cap of {cap}"))
        units_why += f", cut to the cap of {cap}"
        left = cap
        for code, units in by_code.items():
            by_code[code] = min(units, left)
            left -= by_code[code]
        total = cap

    share: dict[tuple[str, int], int] = {}
    for code, units in by_code.items():
        lines_of_code = [line for line in massage if billed_code(line) == code]
        for line, units_of_line in zip(
            lines_of_code, spread([ln.minutes or 0.0 for ln in lines_of_code], units), strict=True
        ):
            share[(line.sheet, line.row)] = units_of_line

    locked = [line for line in massage if line.locked]
    unlocked = [line for line in massage if not line.locked]
    left = max(0, total - sum(line.units or 0 for line in locked))
    for line, units_of_line in zip(
        unlocked, spread([ln.minutes or 0.0 for ln in unlocked], left), strict=True
    ):
        plans[(line.sheet, line.row)] = Planned(
            code=target,
            units=units_of_line,
            flags=tuple(visit_flags),
            why=f"{code_why}; {units_why}",
        )
    for line in locked:
        flags = list(visit_flags)
        rule_units = share[(line.sheet, line.row)]
        if line.units != rule_units:
            flags.append(
                FlagNote(
                    flag=Flag.UNITS_MISMATCH,
                    note=f"locked at {_show(line.units)} units, the rule gives {rule_units}",
                )
            )
        plans[(line.sheet, line.row)] = Planned(
            code=line.code, units=line.units, flags=tuple(flags), why="locked line"
        )
    return plans


def _results(
    scope: Sequence[Line],
    planned: Mapping[tuple[str, int], Planned],
    payers: Mapping[str, Payer],
    history: History,
    duplicates: set[tuple[str, int]],
    *,
    as_stands: bool,
    recoded: Sequence[LineResult] | None = None,
) -> list[LineResult]:
    """Each line's result; `changed` compares the line with what a recode writes (`recoded`, or this)."""
    state: dict[tuple[str, int], tuple[str | None, int | None]] = {}
    for line in scope:
        plan = planned.get((line.sheet, line.row))
        if plan is None:  # unreadable: left as it was
            state[(line.sheet, line.row)] = (line.code, line.units)
        elif as_stands:
            state[(line.sheet, line.row)] = (
                line.code if line.code is not None else plan.code,
                line.units if line.units is not None else plan.units,
            )
        else:
            state[(line.sheet, line.row)] = (plan.code, plan.units)

    mixed: set[tuple[str, int]] = set()
    for visit in _visits(scope):
        codes = {state[(ln.sheet, ln.row)][0] for ln in visit} & set(MASSAGE_FAMILY)
        if len(codes) > 1:
            mixed.update((ln.sheet, ln.row) for ln in visit if state[(ln.sheet, ln.row)][0] in codes)

    results = []
    for i, line in enumerate(scope):
        key = (line.sheet, line.row)
        code, units = state[key]
        plan = planned.get(key)
        flags = list(line.problems)
        expected = line.expected
        if plan is not None:
            flags.extend(plan.flags)
            payer = payers.get(name_key(line.payer))
            expected, money_flags = _expected(line, payer, code, units, history)
            flags.extend(money_flags)
            if key in mixed:
                flags.append(_MIXED)
        if key in duplicates:
            flags.append(_DUPLICATE)
        flags.sort(key=lambda f: _FLAG_ORDER[f.flag])
        written = (code, units, expected, "; ".join(str(f) for f in flags))
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
                flags=tuple(flags),
                changed=(line.code, line.units, line.expected, line.flags_text.strip()) != written,
            )
        )
    return results


def _expected(
    line: Line, payer: Payer | None, code: str | None, units: int | None, history: History
) -> tuple[Decimal | None, list[FlagNote]]:
    if payer is None:
        return None, [FlagNote(flag=Flag.UNKNOWN_PAYER, note=f"'{line.payer}' is not on the Payers sheet")]
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
    scope: Sequence[Line], recoded: Sequence[LineResult], planned: Mapping[tuple[str, int], Planned]
) -> tuple[list[Change], int]:
    changes, filled = [], 0
    for line, new in zip(scope, recoded, strict=True):
        pairs = ((line.code, new.code), (line.units, new.units), (line.expected, new.expected))
        if any(old is not None and old != value for old, value in pairs):
            plan = planned.get((line.sheet, line.row))
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
