"""Units from minutes: the CMS 8-minute rule with its allocation, and the AMA midpoint rule."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any

from cptbill.codes import is_timed, normalize_code
from cptbill.errors import UnitsError

MAX_MINUTES = 600


class Rule(StrEnum):
    """How minutes become units: CMS pools timed minutes, AMA counts each code alone."""

    CMS = "cms"
    AMA = "ama"


def parse_rule(value: Any) -> Rule:
    """Read a unit rule name ("CMS", "ama", ...)."""
    if isinstance(value, Rule):
        return value
    text = str(value).strip().lower()
    try:
        return Rule(text)
    except ValueError:
        raise UnitsError(f"'{value}' is not a unit rule; use CMS or AMA.") from None


def check_minutes(minutes: Any) -> float:
    """Return minutes as a number, or raise UnitsError saying what is wrong with them."""
    if isinstance(minutes, bool) or not isinstance(minutes, int | float):
        raise UnitsError(f"{minutes!r} is not a number of minutes.")
    if math.isnan(minutes) or math.isinf(minutes):
        raise UnitsError("Minutes must be a finite number.")
    if minutes < 0:
        raise UnitsError(f"Minutes cannot be negative ({minutes:g}).")
    if minutes > MAX_MINUTES:
        raise UnitsError(f"{minutes:g} minutes is more than {MAX_MINUTES}; check the entry.")
    return float(minutes)


def table_units(minutes: float) -> int:
    """The 15-minute table: 0-7 -> 0, 8-22 -> 1, 23-37 -> 2, ... (no validation)."""
    return math.floor((minutes + 7) / 15)


def units(minutes: float, rule: Rule | str = Rule.CMS) -> int:
    """Units for one timed code from its minutes (both rules agree for a single code)."""
    parse_rule(rule)
    return table_units(check_minutes(minutes))


def spread(minutes: Sequence[float], total: int) -> list[int]:
    """Place `total` units over items with these minutes, the CMS way.

    Whole 15-minute blocks first, in order; then one unit each to the items with
    the most leftover minutes (ties to the earlier item); stop once `total` is
    placed. An item never gets more than its blocks plus one.
    """
    placed = [0] * len(minutes)
    left = total
    for i, m in enumerate(minutes):
        take = min(int(m // 15), left)
        placed[i] = take
        left -= take
    by_leftover = sorted(range(len(minutes)), key=lambda i: (-(minutes[i] % 15), i))
    for i in by_leftover:
        if left <= 0:
            break
        if minutes[i] % 15 > 0 and placed[i] == int(minutes[i] // 15):
            placed[i] += 1
            left -= 1
    return placed


def allocate(minutes_by_code: Mapping[str, float], rule: Rule | str = Rule.CMS) -> dict[str, int]:
    """Units per code for one day's (or visit's) codes.

    CMS: the timed minutes are pooled, the table gives the total units, and
    `spread` places them (ties go to the code listed first). AMA: the table is
    applied to each code on its own. Untimed codes get 1 unit and add no minutes.
    """
    chosen = parse_rule(rule)
    checked = {normalize_code(code): check_minutes(m) for code, m in minutes_by_code.items()}
    if len(checked) != len(minutes_by_code):
        raise UnitsError("The same code is listed twice; add its minutes together.")
    result = {code: 1 for code in checked if not is_timed(code)}
    result.update(timed_units({c: m for c, m in checked.items() if is_timed(c)}, chosen))
    return {code: result[code] for code in checked}


def timed_units(minutes_by_code: Mapping[str, float], rule: Rule) -> dict[str, int]:
    """Units per timed code under a rule, for minutes already checked."""
    if rule is Rule.AMA:
        return {code: table_units(m) for code, m in minutes_by_code.items()}
    total = table_units(sum(minutes_by_code.values()))
    return dict(zip(minutes_by_code, spread(list(minutes_by_code.values()), total), strict=True))
