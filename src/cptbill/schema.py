"""The workbook contract as code: find columns by header, read cells into models."""

from __future__ import annotations

import calendar
import contextlib
import datetime as dt
import itertools
import math
import operator
import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from cptbill import contract as c
from cptbill.codes import (
    DESCRIPTIONS,
    HOT_COLD_PACK,
    MANUAL_THERAPY,
    MASSAGE,
    MASSAGE_FAMILY,
    UNTIMED,
    normalize_code,
)
from cptbill.contract import EITHER, Flag, Status, header_key, name_key
from cptbill.errors import CptbillError, UnitsError
from cptbill.models import Claim, FlagNote, Line, Payer, Settings, flag_parts
from cptbill.units import MAX_MINUTES, Rule, parse_rule

Rows = Sequence[Sequence[Any]]
#: Parsed cell values by parser, then by (type, value) of the cell.
_Shared = defaultdict[Callable[[Any], Any], dict[tuple[type, Any], Any]]

_EXCEL_EPOCH = dt.date(1899, 12, 30)
#: Sane ranges: an amount (rate, billed, paid, expected) beyond this many dollars, or a count of
#: units beyond MAX_UNITS, is a mistyped cell, read as not a number (a flag or a warning).
MAX_AMOUNT = Decimal(1_000_000_000)
MAX_UNITS = 9999
_SMALLEST_UNITS = 0.01  # claim units between 0 and this would make a per-unit amount explode
_MAX_SERIAL = 2958465  # 9999-12-31
MDY, DMY = "MDY", "DMY"  # the Settings `Date order` of dates typed as text
_DATE_ORDERS = {
    "mdy": MDY, "monthdayyear": MDY, "mdyyyy": MDY, "mmddyyyy": MDY, "us": MDY,
    "dmy": DMY, "daymonthyear": DMY, "dmyyyy": DMY, "ddmmyyyy": DMY, "uk": DMY, "eu": DMY,
}  # fmt: skip
_ISO_DATE = re.compile(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[T ].*)?")
_NUMERIC_DATE = re.compile(r"(\d{1,2})([-/.])(\d{1,2})\2(\d{4}|\d{2})")
_NAMED_DATES = ("%b %d %Y", "%B %d %Y", "%d %b %Y", "%d %B %Y", "%d-%b-%Y", "%d-%b-%y")
#: A date more than this many months before the rest of its sheet is flagged ODD_DATE.
ODD_GAP_MONTHS = 18
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
#: What a therapist types in Service, by the code it documents (WORKBOOK.md); a CPT code is that code.
_SERVICES = {
    **dict.fromkeys(("massage", "massage therapy", "therapeutic massage"), MASSAGE),
    **dict.fromkeys(
        (
            "manual therapy", "myofascial", "myofascial release", "soft tissue mobilization",
            "mld", "manual lymphatic drainage", "lymphatic drainage", "trigger point",
            "trigger point therapy",
        ),
        MANUAL_THERAPY,
    ),
    **dict.fromkeys(
        (
            "hot/cold pack", "hot/cold packs", "hot pack", "cold pack", "hot packs", "cold packs",
            "hot or cold pack",
        ),
        HOT_COLD_PACK,
    ),
    EITHER: EITHER,
}  # fmt: skip


def column_index(header: Sequence[Any]) -> dict[str, int]:
    """Map each header key to its 0-based column; the first of two equal headers wins.

    A contract column whose own header is absent is found under a common alias (Patient for
    Client, DOS for Date, ...; see `contract.ALIASES`).
    """
    index: dict[str, int] = {}
    for i, value in enumerate(header):
        key = header_key(value)
        if key and key not in index:
            index[key] = i
    for name, aliases in _ALIAS_KEYS:
        if name not in index:
            found = next((index[alias] for alias in aliases if alias in index), None)
            if found is not None:
                index[name] = found
    return index


_ALIAS_KEYS = tuple(
    (header_key(name), tuple(header_key(alias) for alias in aliases)) for name, aliases in c.ALIASES.items()
)


def missing_session_headers(header: Sequence[Any]) -> list[str]:
    """The required session headers (Date, Client, Payer, Minutes) this header row lacks."""
    index = column_index(header)
    return [name for name in c.SESSION_REQUIRED if header_key(name) not in index]


def is_session_header(header: Sequence[Any]) -> bool:
    """A session sheet's header row names at least Date, Client, Payer and Minutes."""
    index = column_index(header)
    return all(header_key(name) in index for name in c.SESSION_REQUIRED)


def is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def row_is_blank(row: Sequence[Any]) -> bool:
    for value in row:  # a loop, not all(...): it runs for every row of every sheet
        if value is not None and not (isinstance(value, str) and not value.strip()):
            return False
    return True


def cell(row: Sequence[Any], index: dict[str, int], name: str) -> Any:
    """The value under header `name`, or None when the column or the cell is absent."""
    i = index.get(header_key(name))
    if i is None or i >= len(row):
        return None
    return row[i]


def parse_date(value: Any, order: str = MDY) -> dt.date:
    """A date from an Excel date, an Excel serial number, or text: ISO, or in the Date order (MDY/DMY)."""
    return read_date(value, order)[0]


def read_date(value: Any, order: str = MDY) -> tuple[dt.date, dt.date | None]:
    """A date and, for a text date that also reads the other way (04/11/2026), that other reading."""
    if isinstance(value, dt.datetime):
        return value.date(), None
    if isinstance(value, dt.date):
        return value, None
    if isinstance(value, int | float) and not isinstance(value, bool):
        if not math.isfinite(value) or not 1 <= value <= _MAX_SERIAL:
            raise ValueError("not a date serial")
        return _EXCEL_EPOCH + dt.timedelta(days=int(value)), None
    if not isinstance(value, str):
        raise ValueError("not a date")
    text = " ".join(value.replace(",", " ").split())
    iso = _ISO_DATE.fullmatch(text)
    if iso:
        return dt.date(*map(int, iso.groups())), None
    numeric = _NUMERIC_DATE.fullmatch(text)
    if numeric:
        first, second, year_text = int(numeric[1]), int(numeric[3]), numeric[4]
        year = int(year_text) + (2000 if len(year_text) == 2 else 0)
        month, day = (second, first) if order == DMY else (first, second)
        date = dt.date(year, month, day)
        other = dt.date(year, day, month) if first != second and first <= 12 and second <= 12 else None
        return date, other
    for pattern in _NAMED_DATES:  # Nov 3 2026, 3 November 2026, 3-Nov-2026
        try:
            return dt.datetime.strptime(text, pattern).date(), None
        except ValueError:
            continue
    raise ValueError("not a date")


def parse_date_order(value: Any) -> str:
    """MDY or DMY from the Settings value (also `M/D/Y`, `day/month/year`, `US`, `UK`)."""
    key = re.sub(r"[^a-z]", "", str(value).casefold())
    order = _DATE_ORDERS.get(key)
    if order is None:
        raise ValueError("not a date order")
    return order


def parse_number(value: Any) -> float:
    """A finite number from a number or numeric text ("45", " 45.0 ", "$31.20")."""
    if isinstance(value, bool):
        raise ValueError("not a number")
    if isinstance(value, (int | float, Decimal)):
        number = float(value)
    elif isinstance(value, str):
        number = float(value.strip().replace("$", "").replace(",", ""))
    else:
        raise ValueError("not a number")
    if not math.isfinite(number):
        raise ValueError("not a finite number")
    return number


def parse_money(value: Any) -> Decimal | None:
    """Money from a number or text; None for blank. Raises ValueError for other text."""
    if is_blank(value):
        return None
    try:
        amount = Decimal(str(parse_number(value))) if not isinstance(value, Decimal) else value
    except InvalidOperation:
        raise ValueError("not an amount") from None
    if not amount.is_finite() or abs(amount) > MAX_AMOUNT:
        raise ValueError("not an amount in the sane range")
    return amount


def parse_units(value: Any) -> int | None:
    """Units as written in the sheet; None for blank or anything that is not a whole number."""
    try:
        number = parse_number(value)
    except ValueError:
        return None
    return int(number) if number.is_integer() and abs(number) <= MAX_UNITS else None


def parse_count(value: Any) -> float:
    """Units of a claim: a number from -MAX_UNITS to MAX_UNITS, 0 or at least a hundredth."""
    number = parse_number(value)
    if abs(number) > MAX_UNITS or 0 < abs(number) < _SMALLEST_UNITS:
        raise ValueError("not a number of units in the sane range")
    return number


def parse_code(value: Any) -> str | None:
    """A code as written in the sheet; None for blank or anything that is not a code."""
    if is_blank(value):
        return None
    try:
        return normalize_code(value)
    except UnitsError:
        return None


def parse_codes(value: Any) -> tuple[str, ...]:
    """Comma- or semicolon-separated codes (Accepts); raises ValueError naming a bad one."""
    if is_blank(value):
        return ()
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(int(value))
    codes = []
    for part in re.split(r"[,;/\s]+", str(value).strip()):
        if part:
            code = parse_code(part)
            if code is None:
                raise ValueError(f"'{part}' is not a code")
            codes.append(code)
    return tuple(dict.fromkeys(codes))


def parse_month(text: str | None) -> str | None:
    """Check a YYYY-MM month argument."""
    if text is None or not str(text).strip():
        return None
    match = _MONTH.match(str(text).strip())
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise CptbillError(f"'{text}' is not a month; write it as YYYY-MM, e.g. 2026-11.")
    return match.group(0)


def parse_service(value: Any) -> str | None:
    """The documented service's code (`massage` -> 97124, a CPT code -> itself), `either`, or None
    for blank (the Settings value `Blank service` then applies); ValueError for anything else."""
    if is_blank(value):
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return parse_code(value) or _bad_service(value)
    text = " ".join(str(value).replace("-", " ").split()).casefold()
    found = _SERVICES.get(text)
    if found is None:
        found = parse_code(text) or _bad_service(text)
    return found


def _bad_service(value: Any) -> str:
    raise ValueError(str(value))


def modifiers_of(value: Any) -> tuple[str, ...]:
    """CPT modifiers as typed (`59`, `XS, GP`, `59 XS`): upper case, in order, each once."""
    if is_blank(value):
        return ()
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    parts = re.split(r"[,;/\s]+", str(value).strip().upper())
    return tuple(dict.fromkeys(part for part in parts if part))


#: Session columns in the order `parse_sessions` takes their values: Date, Client, then the rest.
_SESSION_COLUMNS = (
    c.DATE, c.CLIENT, c.PAYER, c.MINUTES, c.SERVICE, c.VISIT, c.LOCK,
    c.CODE, c.UNITS, c.EXPECTED, c.FLAGS, c.MODIFIERS,
)  # fmt: skip
_BAD_SERVICE = FlagNote(
    flag=Flag.BAD_SERVICE,
    note="service not massage, manual therapy, hot/cold pack, either or a CPT code",
)
#: What a line's Date cell gives: the date, its other reading, its problems and its notes.
_DatePart = tuple[dt.date | None, dt.date | None, tuple[FlagNote, ...], tuple[FlagNote, ...]]
#: What a line's cells after Client give: Line's fields from payer to flags_text, the problems,
#: and the notes its Flags cell carries over (CLAIM_INCOMPLETE).
_Rest = tuple[tuple[Any, ...], tuple[FlagNote, ...], tuple[FlagNote, ...]]


def parse_sessions(
    sheet: str, rows: Rows, *, date_order: str = MDY, today: dt.date | None = None
) -> list[Line]:
    """Session lines of one sheet (rows[0] is the header); blank rows are skipped.

    Text dates are read in `date_order` (MDY or DMY); dates after `today` (default: the clock's)
    or far before the rest of the sheet are flagged ODD_DATE.
    """
    if not rows:
        return []
    index = column_index(rows[0])
    columns = [index.get(header_key(name)) for name in _SESSION_COLUMNS]
    # Each row is cut or padded to `width` cells; an absent column reads the padding's last None.
    width = max((i for i in columns if i is not None), default=-1) + 1
    pick = operator.itemgetter(*(width if i is None else i for i in columns))
    padding = [None] * (width + 1)
    today = today or dt.date.today()
    # A sheet repeats a few dates, and a few combinations of the other cells (payer, minutes,
    # service, ...) over tens of thousands of lines: each distinct one is read once and shared.
    shared: _Shared = defaultdict(dict)
    dates: dict[tuple[Any, type], _DatePart] = {}
    rests: dict[tuple[Any, ...], _Rest] = {}
    lines = []
    for offset, row in enumerate(itertools.islice(rows, 1, None), start=2):
        # A row starting with a date or a number holds a value: only the others are looked through.
        if (not row or row[0] is None or type(row[0]) is str) and row_is_blank(row):
            continue
        values = pick([*row[:width], *padding])
        raw_date, client = values[0], values[1]
        date_key = (raw_date, type(raw_date))
        rest = values[2:]
        key = (*rest, *map(type, rest))  # 1, 1.0 and True are equal keys, not equal cells
        try:
            date_part = dates[date_key]
        except KeyError:
            date_part = dates[date_key] = _date_part(raw_date, date_order, today)
        except TypeError:  # an unhashable cell: read on its own
            date_part = _date_part(raw_date, date_order, today)
        try:
            parsed = rests[key]
        except KeyError:
            parsed = rests[key] = _parse_rest(rest, shared)
        except TypeError:
            parsed = _parse_rest(rest, shared)
        date, other_date, date_problems, notes = date_part
        (
            (payer, minutes, service, visit, locked, modifiers, code, units, expected, flags),
            problems,
            carried,
        ) = parsed
        lines.append(
            Line(
                sheet,
                offset,
                date,
                client.strip() if type(client) is str else _text(client),
                payer,
                minutes,
                service,
                visit,
                locked,
                modifiers,
                code,
                units,
                expected,
                flags,
                date_problems + problems if date_problems else problems,
                notes + carried if carried else notes,
                other_date,
            )
        )
    return _flag_odd_dates(lines, today)


def _date_part(raw_date: Any, date_order: str, today: dt.date) -> _DatePart:
    """A Date cell read; a date after `today` is flagged ODD_DATE here, one far before the others later."""
    try:
        date, other_date = read_date(raw_date, date_order)
    except ValueError:
        return None, None, (FlagNote(flag=Flag.BAD_DATE, note=_bad_date(raw_date, date_order)),), ()
    notes: tuple[FlagNote, ...] = ()
    if other_date is not None:
        notes = (_ambiguous(raw_date, date, other_date, date_order),)
    if date > today:
        notes = (*notes, _future(date))
    return date, other_date, (), notes


def _parse_rest(values: tuple[Any, ...], shared: _Shared) -> _Rest:
    """A line's cells after Date and Client, read into Line's fields from payer to flags_text."""
    payer, raw_minutes, raw_service, visit, lock, code, units, expected, flags, mods = values
    problems: list[FlagNote] = []
    service = _shared(shared, raw_service, parse_service)
    if service is _INVALID:
        problems.append(_BAD_SERVICE)
        service = None
    minutes = _parse_minutes(raw_minutes, untimed=service in UNTIMED, shared=shared)
    if isinstance(minutes, FlagNote):
        problems.append(minutes)
        minutes = None
    fields = (
        _text(payer),
        minutes,
        service,
        _text(visit),
        is_locked(lock),
        () if mods is None else _shared(shared, mods, modifiers_of),
        None if code is None else _shared(shared, code, parse_code),
        None if units is None else _shared(shared, units, parse_units),
        None if expected is None else _shared(shared, expected, _money_or_none),
        "" if is_blank(flags) else str(flags),
    )
    return fields, tuple(problems), carried_notes(fields[-1])


def carried_notes(flags_text: str) -> tuple[FlagNote, ...]:
    """The CLAIM_INCOMPLETE notes of a Flags cell, which a recode keeps: only a claims run, which
    checks what a claim needs, sets or clears them (a recode works out the other flags again)."""
    if Flag.CLAIM_INCOMPLETE not in flags_text:
        return ()
    prefix = f"{Flag.CLAIM_INCOMPLETE}:"
    return tuple(
        FlagNote(flag=Flag.CLAIM_INCOMPLETE, note=part[len(prefix) :].strip())
        for part in flag_parts(flags_text)
        if part.startswith(prefix)
    )


def _bad_date(value: Any, order: str) -> str:
    if is_blank(value):
        return "date missing, type the date of the session (e.g. 2026-11-03)"
    if _unsaved_formula(value):
        return f"date {_UNSAVED}"
    typed = "month/day/year" if order == MDY else "day/month/year"
    other = DMY if order == MDY else MDY
    return (
        f"date not a date: type a date, YYYY-MM-DD, or {typed} (the Date order {order}, "
        f"set {other} on the Settings sheet for the other order)"
    )


@lru_cache(maxsize=256)
def _ambiguous(value: Any, date: dt.date, other: dt.date, order: str) -> FlagNote:
    note = (
        f"'{value}' reads as {date:%Y-%m-%d} (Date order {order}) or as {other:%Y-%m-%d}, "
        f"type it as {date:%Y-%m-%d} or {other:%Y-%m-%d} to be sure"
    )
    return FlagNote(flag=Flag.AMBIGUOUS_DATE, note=note)


def _months_after(date: dt.date, months: int) -> dt.date:
    """The same day `months` later (the month's last day when it is shorter)."""
    month = date.month - 1 + months
    year, month = date.year + month // 12, month % 12 + 1
    return dt.date(year, month, min(date.day, calendar.monthrange(year, month)[1]))


@lru_cache(maxsize=1024)
def _future(date: dt.date) -> FlagNote:
    return FlagNote(flag=Flag.ODD_DATE, note=f"{date:%Y-%m-%d} is in the future, check the year")


def _flag_odd_dates(lines: list[Line], today: dt.date) -> list[Line]:
    """Flag ODD_DATE on the few dates more than 18 months before the rest (not on those after `today`:
    `_parse_line` flags them)."""
    dated = [line.date for line in lines if line.date is not None]
    days = sorted(set(dated))
    cut = None  # the last date before the sheet's last gap of more than 18 months
    for earlier, later in itertools.pairwise(days):
        if later > _months_after(earlier, ODD_GAP_MONTHS):
            cut = earlier
    if cut is not None and 2 * sum(date <= cut for date in dated) >= len(dated):
        cut = None  # most of the sheet is before the gap: nothing odd about it
    if cut is None:
        return lines
    notes: dict[dt.date, FlagNote] = {}  # one note per odd date, shared by its lines
    for i, line in enumerate(lines):
        date = line.date
        if date is None or date > today or date > cut:
            continue
        note = notes.get(date)
        if note is None:
            text = f"{date:%Y-%m-%d} is more than 18 months before the sheet's other dates, check the year"
            note = notes[date] = FlagNote(flag=Flag.ODD_DATE, note=text)
        lines[i] = line._replace(notes=(*line.notes, note))
    return lines


_UNLOCKED = frozenset({"no", "n", "false", "0", "0.0", "-", "unlocked", "off"})


def is_locked(value: Any) -> bool:
    """Whether a Lock cell locks its line: yes/x/true/1 (any case) do; no/false/0/blank do not."""
    if is_blank(value):
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value != 0
    # yes, x, true, 1 and any other mark typed to lock the line lock it
    return str(value).strip().casefold() not in _UNLOCKED


_INVALID = object()  # what `_shared` gives for a value its parser refuses


def _shared(shared: _Shared, value: Any, parse: Callable[[Any], Any]) -> Any:
    """`parse(value)` (`_INVALID` when it raises ValueError), computed once per distinct cell value."""
    known = shared[parse]
    key = (type(value), value)
    try:
        return known[key]
    except KeyError:
        pass
    except TypeError:  # an unhashable value: parsed on its own, each time
        return _parse_or_invalid(value, parse)
    result = known[key] = _parse_or_invalid(value, parse)
    return result


def _parse_or_invalid(value: Any, parse: Callable[[Any], Any]) -> Any:
    try:
        return parse(value)
    except ValueError:
        return _INVALID


_UNSAVED = "a formula with no saved result (open and save the workbook in Excel first)"


def _unsaved_formula(value: Any) -> bool:
    """A formula the file door could not replace by its result: never saved by a spreadsheet app."""
    return isinstance(value, str) and value.startswith("=")


def _parse_minutes(value: Any, untimed: bool, shared: _Shared) -> float | FlagNote | None:
    if is_blank(value):
        # A hot/cold pack is untimed: its minutes may be left blank.
        return (
            None
            if untimed
            else FlagNote(flag=Flag.BAD_MINUTES, note="minutes missing, type the treatment minutes (e.g. 60)")
        )
    minutes = _shared(shared, value, parse_minutes)
    if minutes is _INVALID:
        what = (
            _UNSAVED
            if _unsaved_formula(value)
            else "look like a time of day, not a number: type the minutes, e.g. 60"
            if isinstance(value, dt.time | dt.datetime)
            else _MINUTES_HINT
        )
        return FlagNote(flag=Flag.BAD_MINUTES, note=f"minutes {what}")
    if minutes < 0:
        return FlagNote(flag=Flag.BAD_MINUTES, note="minutes negative")
    if minutes > MAX_MINUTES:
        return FlagNote(flag=Flag.BAD_MINUTES, note=f"over {MAX_MINUTES} minutes")
    return minutes


_MINUTES_HINT = "not a number: type the minutes, e.g. 60 (60 min, 1h, 1:00 and 1.5 h also work)"
_DURATION = re.compile(
    r"(?:(?P<h>\d+(?:\.\d+)?)\s*(?:h|hr|hrs|hour|hours))?\s*"
    r"(?:(?P<m>\d+(?:\.\d+)?)\s*(?:m|min|mins|minute|minutes)?)?"
)
_CLOCK = re.compile(r"(\d{1,2}):([0-5]\d)(?::00)?")
#: A time cell (Excel turns a typed 1:00 into one) is read as a duration only below this; longer ones
#: are more likely a time of day (a Time column holding 10:00 appointments).
MAX_TIME_MINUTES = 300


def parse_minutes(value: Any) -> float:
    """Minutes from a number, numeric text, or a duration: `60 min`, `60m`, `1h`, `1:00`, `1.5 h`, `1h 30m`."""
    if isinstance(value, dt.time | dt.timedelta):
        total = (
            value.total_seconds() / 60
            if isinstance(value, dt.timedelta)
            else value.hour * 60 + value.minute + value.second / 60
        )
        if total > MAX_TIME_MINUTES:
            raise ValueError("a time of day")
        return total
    try:
        return parse_number(value)
    except ValueError:
        if not isinstance(value, str):
            raise
    text = value.strip().casefold()
    clock = _CLOCK.fullmatch(text)
    if clock:
        return float(int(clock[1]) * 60 + int(clock[2]))
    duration = _DURATION.fullmatch(text)
    if not text or not duration or not (duration["h"] or duration["m"]):
        raise ValueError("not minutes")
    if duration["m"] and not duration["h"] and text == duration["m"]:
        raise ValueError("not minutes")  # a bare number: parse_number refused it already
    return float(duration["h"] or 0) * 60 + float(duration["m"] or 0)


def _money_or_none(value: Any) -> Decimal | None:
    try:
        return parse_money(value)
    except ValueError:
        return None


def parse_payers(rows: Rows) -> tuple[dict[str, Payer], list[str]]:
    """Payers by name key, and warnings about cells that could not be read."""
    warnings: list[str] = []
    payers: dict[str, Payer] = {}
    if not rows:
        return payers, warnings
    header = rows[0]
    index = column_index(header)
    rate_columns = {}
    for i, value in enumerate(header):
        key = header_key(value)
        if key.startswith(header_key(c.RATE_PREFIX) + " ") or key.startswith("rate "):
            code = parse_code(key.split(" ", 1)[1])
            if code:
                rate_columns[code] = i
    for row_number, row in enumerate(rows[1:], start=2):
        if row_is_blank(row):
            continue
        name = cell(row, index, c.PAYER)
        if is_blank(name):
            warnings.append(f"{c.PAYERS} row {row_number}: no payer name; row ignored.")
            continue
        where = f"{c.PAYERS} row {row_number}"
        payer = _parse_payer(_text(name), row_number, row, index, rate_columns, where, warnings)
        if payer.key in payers:
            warnings.append(f"{where}: payer '{payer.name}' is listed twice; the first row is used.")
            continue
        payers[payer.key] = payer
    return payers, warnings


def _parse_payer(
    name: str,
    row_number: int,
    row: Sequence[Any],
    index: dict[str, int],
    rate_columns: dict[str, int],
    where: str,
    warnings: list[str],
) -> Payer:
    try:
        accepts = tuple(code for code in parse_codes(cell(row, index, c.ACCEPTS)) if code in MASSAGE_FAMILY)
    except ValueError as error:
        warnings.append(f"{where}: in Accepts, {error}; treated as both massage codes.")
        accepts = ()
    preferred = parse_code(cell(row, index, c.PREFERRED))
    if preferred is not None and (preferred not in MASSAGE_FAMILY or (accepts and preferred not in accepts)):
        warnings.append(f"{where}: Preferred {preferred} is not a massage code it accepts; ignored.")
        preferred = None
    rates: dict[str, Decimal | None] = {}
    for code, i in rate_columns.items():
        value = row[i] if i < len(row) else None
        try:
            rates[code] = parse_money(value)
            if (rates[code] or 0) < 0:
                raise ValueError("negative rate")
        except ValueError:
            warnings.append(f"{where}: Rate {code} is not an amount of 0 or more; treated as unknown.")
            rates[code] = None
    rule = None
    raw_rule = cell(row, index, c.UNIT_RULE)
    if not is_blank(raw_rule):
        try:
            rule = parse_rule(raw_rule)
        except UnitsError:
            warnings.append(f"{where}: Unit rule must be CMS or AMA; the default is used.")
    max_units = None
    raw_max = cell(row, index, c.MAX_UNITS)
    if not is_blank(raw_max):
        try:
            number = parse_number(raw_max)
            if number < 0 or not number.is_integer():
                raise ValueError
            max_units = int(number)
        except ValueError:
            warnings.append(f"{where}: Max units must be a whole number; no cap is used.")
    era = cell(row, index, c.ERA_NAMES)
    era_names = () if is_blank(era) else tuple(p.strip() for p in str(era).split(",") if p.strip())
    filing_limit = None
    raw_limit = cell(row, index, c.FILING_LIMIT)
    if not is_blank(raw_limit):
        try:
            number = parse_number(raw_limit)
            if not 0 < number <= 3650 or not number.is_integer():
                raise ValueError
            filing_limit = int(number)
        except ValueError:
            warnings.append(f"{where}: Filing limit (days) must be a whole number of days; ignored.")
    return Payer(
        name=name,
        row=row_number,
        accepts=accepts,
        preferred=preferred,
        rates=rates,
        unit_rule=rule,
        max_units=max_units,
        era_names=era_names,
        filing_limit=filing_limit,
        payer_id=_text(cell(row, index, c.PAYER_ID)),
        address=_text(cell(row, index, c.ADDRESS)),
    )


def parse_claims(rows: Rows) -> tuple[list[Claim], list[str]]:
    """Claims in sheet order, and warnings about rows that could not be read."""
    warnings: list[str] = []
    claims: list[Claim] = []
    if not rows:
        return claims, warnings
    index = column_index(rows[0])
    statuses = {s.value.casefold(): s for s in Status}
    for row_number, row in enumerate(rows[1:], start=2):
        if row_is_blank(row):
            continue
        where = f"{c.CLAIMS} row {row_number}"
        raw_status = cell(row, index, c.STATUS)
        status = None if is_blank(raw_status) else statuses.get(str(raw_status).strip().casefold())
        if status is None and not is_blank(raw_status):
            known = ", ".join(s.value for s in Status)
            warnings.append(f"{where}: Status is not one of {known}; ignored.")
        try:
            date = parse_date(cell(row, index, c.DATE))
        except ValueError:
            date = None
        try:
            billed = _claim_money(cell(row, index, c.BILLED))
            paid = _claim_money(cell(row, index, c.PAID))
        except ValueError:
            # kept, with no status: the claims job still sees the line as sent and its claim ID taken
            warnings.append(
                f"{where}: Billed or Paid is not an amount; the row is left out of the claim history "
                "and the report (it still counts as a claim sent)."
            )
            billed = paid = status = None
        try:
            owes = _claim_money(cell(row, index, c.PATIENT_OWES))
        except ValueError:
            warnings.append(f"{where}: Patient owes is not an amount; read as blank.")
            owes = None
        try:
            units = parse_count(cell(row, index, c.UNITS)) if not is_blank(cell(row, index, c.UNITS)) else 0.0
            if abs(units) > _MAX_CLAIM_UNITS:
                raise ValueError("too many units")
        except ValueError:
            warnings.append(f"{where}: Units is not a number; counted as 0.")
            units = 0.0
        try:
            raw_units = cell(row, index, c.BILLED_UNITS)
            billed_units = None if is_blank(raw_units) else parse_number(raw_units)
            if billed_units is not None and abs(billed_units) > _MAX_CLAIM_UNITS:
                raise ValueError("too many units")
        except ValueError:
            warnings.append(f"{where}: Billed units is not a number of units; read as blank.")
            billed_units = None
        claims.append(
            Claim(
                row=row_number,
                date=date,
                client=_text(cell(row, index, c.CLIENT)),
                payer=_text(cell(row, index, c.PAYER)),
                code=parse_code(cell(row, index, c.CODE)),
                units=units,
                billed=billed,
                paid=paid,
                status=status,
                reason=_text(cell(row, index, c.REASON)),
                claim_id=_text(cell(row, index, c.CLAIM_ID)),
                line=_text(cell(row, index, c.LINE)),
                source=_text(cell(row, index, c.SOURCE)),
                modifiers=tuple(
                    m.upper() for m in re.split(r"[\s,;]+", _text(cell(row, index, c.MODIFIERS))) if m
                ),
                payer_claim_id=_text(cell(row, index, c.PAYER_CLAIM_ID)),
                patient_owes=owes,
                adjusted=_text(cell(row, index, c.ADJUSTED)),
                billed_units=billed_units,
                billed_code=parse_code(cell(row, index, c.BILLED_CODE)),
            )
        )
    return claims, warnings


#: Amounts and units beyond these are not a massage practice's (a typo, or 1e300 from a hostile file).
_MAX_CLAIM_AMOUNT = Decimal("1e9")
_MAX_CLAIM_UNITS = 9999


def _claim_money(value: Any) -> Decimal | None:
    amount = parse_money(value)
    if amount is not None and abs(amount) >= _MAX_CLAIM_AMOUNT:
        raise ValueError("not an amount")
    return amount


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def setting_values(rows: Rows) -> dict[str, Any]:
    """The Settings sheet's values (two columns, Setting and Value) by setting name key."""
    values: dict[str, Any] = {}
    if rows:
        index = column_index(rows[0])
        for row in rows[1:]:
            name = cell(row, index, c.SETTING)
            if not is_blank(name):
                values[header_key(name)] = cell(row, index, c.VALUE)
    return values


def parse_settings(rows: Rows) -> tuple[Settings, list[str]]:
    """The Settings sheet (two columns, Setting and Value), with defaults for what is missing."""
    warnings: list[str] = []
    values = setting_values(rows)
    settings = Settings()
    code = values.get(header_key(c.DEFAULT_CODE))
    if not is_blank(code):
        parsed = parse_code(code)
        if parsed in MASSAGE_FAMILY:
            settings = settings.model_copy(update={"default_code": parsed})
        else:
            warnings.append(f"{c.SETTINGS}: Default code must be 97124 or 97140; 97140 is used.")
    rule = values.get(header_key(c.UNIT_RULE))
    if not is_blank(rule):
        try:
            settings = settings.model_copy(update={"unit_rule": parse_rule(rule)})
        except UnitsError:
            warnings.append(f"{c.SETTINGS}: Unit rule must be CMS or AMA; CMS is used.")
    blank = values.get(header_key(c.BLANK_SERVICE))
    if not is_blank(blank):
        try:
            service = parse_service(blank)
        except ValueError:
            service = None
        if service in (MASSAGE, MANUAL_THERAPY, EITHER):
            settings = settings.model_copy(update={"blank_service": DESCRIPTIONS.get(service, EITHER)})
        else:
            warnings.append(
                f"{c.SETTINGS}: Blank service must be massage, manual therapy or either; massage is used."
            )
    month = values.get(header_key(c.MONTH_TO_RECODE))
    if not is_blank(month):  # Excel may have turned 2026-11 into a date; a bad month is refused where used
        serial = isinstance(month, int | float) and not isinstance(month, bool) and month >= 36526
        if isinstance(month, dt.date) or serial:  # a date, or its serial number from 2000 on (not 2026)
            with contextlib.suppress(ValueError):
                month = parse_date(month).strftime("%Y-%m")
        settings = settings.model_copy(update={"month_to_recode": str(month).strip()})
    order = values.get(header_key(c.DATE_ORDER))
    if not is_blank(order):
        try:
            settings = settings.model_copy(update={"date_order": parse_date_order(order)})
        except ValueError:
            warnings.append(f"{c.SETTINGS}: Date order must be MDY or DMY; MDY is used.")
    return settings, warnings


def find_payer(payers: dict[str, Payer], name: str) -> Payer | None:
    return payers.get(name_key(name))


__all__ = [
    "Rule",
    "column_index",
    "is_session_header",
    "parse_claims",
    "parse_date",
    "parse_month",
    "parse_payers",
    "parse_sessions",
    "parse_settings",
]
