"""One small interface every door offers, and the check and recode jobs written against it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property
from typing import Any, Protocol, TypeVar

from cptbill import contract as c
from cptbill.contract import header_key
from cptbill.errors import CptbillError
from cptbill.history import History, learned_text, outcomes, today, with_payer_names
from cptbill.models import Claim, Line, LineResult, Payer, Plan, Settings
from cptbill.plan import make_plan
from cptbill.schema import (
    column_index,
    is_session_header,
    missing_session_headers,
    parse_claims,
    parse_month,
    parse_payers,
    parse_sessions,
    parse_settings,
)

Rows = list[list[Any]]


class Book(Protocol):
    """A workbook as the core sees it: sheets of values, written back in bulk."""

    def sheet_names(self) -> list[str]:
        """Sheet names in workbook order."""
        ...

    def read(self, sheet: str) -> Rows:
        """The sheet's values from A1 (row 0 is the header row); [] for an empty sheet."""
        ...

    def write_column(
        self, sheet: str, column: int, cells: dict[int, Any], number_format: str | None = None
    ) -> None:
        """Write values into one column (1-based) at the given 1-based rows, in one go."""
        ...

    def append_rows(self, sheet: str, header: Sequence[str], rows: Rows) -> None:
        """Append rows below the last used row, creating the sheet with `header` when missing."""
        ...

    def replace_rows(
        self, sheet: str, header: Sequence[str], rows: Rows, formats: Sequence[str | None] = ()
    ) -> None:
        """Replace a program-owned sheet's content with header + rows, creating it when missing."""
        ...

    def highlight(self, sheet: str, flagged: dict[int, bool]) -> None:
        """Mark (True) or unmark (False) flagged lines, where the door shows flags by colour."""
        ...

    def merged_areas(self, sheet: str) -> list[tuple[int, int, int, int]]:
        """The merged ranges of a sheet read (top, left, bottom, right; 1-based) that the door knows
        before writing; [] where it learns of them only as it writes (and refuses them then)."""
        ...

    def bar_chart(self, sheet: str, chart: BarChartSpec) -> None:
        """Add (or replace) a native clustered bar chart on a sheet, where the door can."""
        ...


@dataclass(frozen=True)
class BarChartSpec:
    """A clustered column chart over a block of a sheet (1-based rows and columns)."""

    title: str
    header_row: int  # row holding the series names
    first_row: int  # first data row
    last_row: int
    category_column: int  # labels along the x axis
    value_columns: tuple[int, ...]  # one series each
    anchor: str  # top-left cell of the chart, e.g. "L2"
    y_title: str = ""


@dataclass(frozen=True)
class SessionSheet:
    """What a recode keeps of a session sheet once its lines are read: the header and its width."""

    header: list[Any]
    width: int  # columns holding a value in any row
    #: 0-based columns right of the last header holding a value in some row: a missing owned
    #: column goes in the first free columns after the header, never over such a value.
    taken: frozenset[int] | None = None


@dataclass
class Loaded:
    """Everything the core needs from a workbook, read once."""

    session_sheets: dict[str, SessionSheet]
    lines: list[Line]
    payers: dict[str, Payer]
    payers_rows: Rows
    claims: list[Claim] | None
    settings: Settings
    warnings: list[str] = field(default_factory=list)

    @cached_property
    def history(self) -> History:
        """Outcomes per payer and code from the Claims sheet (read once, so worked out once)."""
        return outcomes(self.claims or [], today())


def find_sheet(book: Book, name: str) -> str | None:
    """The workbook's own spelling of a sheet name, matched ignoring case and spaces."""
    wanted = header_key(name)
    return next((s for s in book.sheet_names() if header_key(s) == wanted), None)


def load(book: Book) -> Loaded:
    """Read the session sheets, Payers, Claims and Settings once."""
    warnings: list[str] = []
    sessions: dict[str, SessionSheet] = {}
    lines: list[Line] = []
    settings_name = find_sheet(book, c.SETTINGS)  # first: its Date order reads the session dates
    settings, setting_warnings = parse_settings(book.read(settings_name) if settings_name else [])
    likeliest: tuple[int, str, list[Any]] | None = None  # the sheet nearest to a session sheet
    for name in book.sheet_names():
        if name in (
            c.CHANGES,
            c.SUMMARY,
            c.RESUBMIT,
            c.FOLLOW_UP,
            c.SHORTFALLS,
            c.CLAIMS,
            c.PAYERS,
            c.CLIENTS,
        ):
            continue
        rows = book.read(name)
        if rows and not sessions and not is_session_header(rows[0]):
            found = 4 - len(missing_session_headers(rows[0]))
            if likeliest is None or found > likeliest[0]:
                likeliest = (found, name, list(rows[0]))
        if rows and is_session_header(rows[0]):
            # The rows themselves are let go once parsed: a large sheet's values cost more
            # memory than its lines.
            header = list(rows[0])
            start = last_header(header) + 1
            taken = taken_columns(rows, start)
            if missing_owned(header):  # owned columns to add: they go past merged cells too
                taken |= merged_columns(book.merged_areas(name), start, len(rows))
            sessions[name] = SessionSheet(header=header, width=used_width(rows), taken=taken)
            lines += parse_sessions(name, rows, date_order=settings.date_order)
        del rows
    if not sessions:
        raise CptbillError(no_session_sheet(likeliest))
    payers_name = find_sheet(book, c.PAYERS)
    payers_rows = book.read(payers_name) if payers_name else []
    payers, payer_warnings = parse_payers(payers_rows)
    if payers_name is None:
        warnings.append("No Payers sheet: every payer is unknown.")
    claims_name = find_sheet(book, c.CLAIMS)
    claims, claim_warnings = parse_claims(book.read(claims_name)) if claims_name else (None, [])
    if claims is not None:  # remittance payer names through the Payers sheet's ERA names
        claims = with_payer_names(claims, payers)
    return Loaded(
        session_sheets=sessions,
        lines=lines,
        payers=payers,
        payers_rows=payers_rows,
        claims=claims,
        settings=settings,
        warnings=warnings + payer_warnings + claim_warnings + setting_warnings,
    )


def no_session_sheet(likeliest: tuple[int, str, list[Any]] | None) -> str:
    """The refusal when no sheet has the session headers: what the likeliest sheet has and lacks."""
    needed = "a sheet needs the headers Date, Client, Payer and Minutes in row 1"
    if likeliest is None or likeliest[0] == 0:
        # Row 1 of such a sheet may hold data (client names), so it is not quoted.
        return f"No session sheet found: {needed} (Patient, Insurance, DOS or Duration also work)."
    _, name, header = likeliest
    shown = [str(v).strip() for v in header if v is not None and str(v).strip()]
    more = f", ... ({len(shown)} in all)" if len(shown) > 12 else ""
    missing = missing_session_headers(header)
    return (
        f"No session sheet found: {needed}. The sheet '{name}' has {', '.join(shown[:12])}{more}; "
        f"it lacks {' and '.join(missing)}: add {'that header' if len(missing) == 1 else 'those headers'} "
        "in row 1 (or rename a column)."
    )


def _scope_sheet(loaded: Loaded, sheet: str | None) -> str | None:
    if sheet is None:
        return None
    for name in loaded.session_sheets:
        if header_key(name) == header_key(sheet):
            return name
    known = ", ".join(loaded.session_sheets)
    raise CptbillError(f"No session sheet named '{sheet}'; the session sheets are: {known}.")


def check(book: Book, month: str | None = None, sheet: str | None = None) -> tuple[Plan, Loaded]:
    """What a recode would write (totals, flags, lines changed), with the lines as they stand beside it."""
    month = parse_month(month)
    loaded = load(book)
    plan = make_plan(
        loaded.lines, loaded.payers, loaded.settings, loaded.history,
        month=month, sheet=_scope_sheet(loaded, sheet), check=True,
    )  # fmt: skip
    return plan, loaded


#: Extra work a recode does after writing the session sheets (the report adds its sheets here).
AfterRecode = Callable[[Book, Loaded, Plan], None]


def recode(
    book: Book,
    month: str | None = None,
    sheet: str | None = None,
    *,
    now: dt.datetime | None = None,
    after: Sequence[AfterRecode] = (),
) -> tuple[Plan, Loaded]:
    """Plan the lines in scope and write Code, Units, Expected, Flags and the Changes log."""
    month = parse_month(month)
    loaded = load(book)
    plan = make_plan(
        loaded.lines, loaded.payers, loaded.settings, loaded.history,
        month=month, sheet=_scope_sheet(loaded, sheet),
    )  # fmt: skip
    write_plan(book, loaded, plan)
    log_changes(book, plan, month, now or dt.datetime.now().replace(microsecond=0))
    if loaded.claims is not None:
        write_learned(book, loaded)
    for step in after:
        step(book, loaded, plan)
    return plan, loaded


def used_width(rows: Sequence[Sequence[Any]]) -> int:
    """How many columns, from A, it takes to hold every value of `rows`."""
    width = 0
    for row in rows:
        for i in range(len(row) - 1, width - 1, -1):  # only the cells right of the widest so far
            if row[i] is not None:
                width = i + 1
                break
    return width


def last_header(header: Sequence[Any]) -> int:
    """The 0-based column of the last header cell that holds text (-1 when none does)."""
    return max((i for i, v in enumerate(header) if v is not None and str(v).strip()), default=-1)


def taken_columns(rows: Sequence[Sequence[Any]], start: int) -> frozenset[int]:
    """The 0-based columns from `start` on that hold a value in some row (a note far away is one)."""
    taken: set[int] = set()
    for row in rows:
        if len(row) > start:
            taken.update(i for i in range(start, len(row)) if row[i] is not None)
    return frozenset(taken)


def missing_owned(header: Sequence[Any]) -> bool:
    """Whether a session header lacks an owned column (Code, Units, Expected, Flags) a recode adds."""
    index = column_index(header)
    return any(header_key(name) not in index for name in c.OWNED)


def merged_columns(areas: Sequence[tuple[int, int, int, int]], start: int, last_row: int) -> frozenset[int]:
    """The 0-based columns from `start` on that a merged range covers in rows 1 to `last_row` (an
    owned column added there could not be written: it goes past them)."""
    return frozenset(
        column - 1
        for top, left, _, right in areas
        if top <= last_row
        for column in range(max(left, start + 1), right + 1)
    )


def owned_columns(
    book: Book,
    sheet: str,
    header: Sequence[Any],
    names: Sequence[str] = c.OWNED,
    *,
    rows: Sequence[Sequence[Any]] = (),
    width: int = 0,
    taken: frozenset[int] | None = None,
) -> dict[str, int]:
    """1-based columns of `names` (Code, Units, Expected, Flags), adding missing ones at the right end.

    The right end is past the last header and past every value in `rows` (or the first `width`
    columns), so that a column of data without a header is never written over. When `taken`
    says which columns right of the header hold values, missing columns go in the first run of
    free columns right after the header instead: a note far to the side (or a stray value in
    column XFD) does not push Code and Units out of the table, away from the lines.
    """
    index = column_index(header)
    last = last_header(header)
    missing = sum(header_key(name) not in index for name in names)
    if missing and taken is None and rows:
        taken = taken_columns(rows, last + 1)
    if missing and taken is not None:
        while any(last + k in taken for k in range(1, missing + 1)):
            last += 1
    elif missing:
        last = max(last, width - 1)
    columns = {}
    for name in names:
        if header_key(name) in index:
            columns[name] = index[header_key(name)] + 1
        else:
            last += 1
            columns[name] = last + 1
            book.write_column(sheet, columns[name], {1: name})
    return columns


MONEY_FORMAT = '"$"#,##0.00'  # currency, as the template formats rates and amounts
DATE_FORMAT = "yyyy-mm-dd"

#: How rows added to the Claims sheet are formatted, so they look like typed ones.
CLAIMS_FORMATS = {
    c.DATE: DATE_FORMAT, c.CODE: "@", c.UNITS: "0", c.BILLED: MONEY_FORMAT, c.PAID: MONEY_FORMAT,
    c.PATIENT_OWES: MONEY_FORMAT, c.BILLED_CODE: "@", c.CLAIM_ID: "@",
}  # fmt: skip


def append_claims(book: Book, sheet: str | None, rows: Rows, new: Sequence[dict[str, Any]]) -> None:
    """Append Claims rows (column name -> value) under the sheet's own headers.

    `sheet` is the Claims sheet's name as the workbook spells it and `rows` what it holds (None
    and [] when there is none yet); missing Claims columns are added at the right end.
    """
    if not new:
        return
    if sheet is None:
        name = c.CLAIMS
        columns = {column: i for i, column in enumerate(c.CLAIMS_COLUMNS, start=1)}
    else:
        name = sheet
        columns = owned_columns(book, sheet, rows[0] if rows else [], c.CLAIMS_COLUMNS)
    first = max(len(rows), 1) + 1  # the row of the first new line: below the last used row
    width = max(columns.values())
    table: Rows = []
    for values in new:
        row: list[Any] = [None] * width
        for column, value in values.items():
            row[columns[column] - 1] = value
        table.append(row)
    book.append_rows(name, c.CLAIMS_COLUMNS, table)
    for column, number_format in CLAIMS_FORMATS.items():
        cells = {first + i: v[column] for i, v in enumerate(new) if v.get(column) is not None}
        if cells:
            book.write_column(name, columns[column], cells, number_format)


def write_plan(book: Book, loaded: Loaded, plan: Plan) -> None:
    """Write each owned column of each session sheet once, only the cells that change."""
    lines = {(line.sheet, line.row): line for line in loaded.lines}
    # Cells of equal value share one object: a column repeats a few amounts (and the plan's
    # lines of equal flags share one Flags text).
    amounts: dict[Decimal | None, float | None] = {}
    by_sheet: dict[str, list[LineResult]] = {}
    for result in (*plan.results, *plan.cleared):  # cleared: self-pay lines losing their billing
        by_sheet.setdefault(result.sheet, []).append(result)
    for sheet, results in by_sheet.items():
        session = loaded.session_sheets[sheet]
        columns = owned_columns(book, sheet, session.header, width=session.width, taken=session.taken)
        cells: dict[str, dict[int, Any]] = {name: {} for name in c.OWNED}
        codes, units, expected, flags = (cells[name] for name in (c.CODE, c.UNITS, c.EXPECTED, c.FLAGS))
        for result in results:
            line = lines[(sheet, result.row)]
            if result.code != line.code:
                codes[result.row] = result.code
            if result.units != line.units:
                units[result.row] = result.units
            if result.expected != line.expected:
                expected[result.row] = _shared(amounts, result.expected, _amount)
            text = result.flags_text
            if text != line.flags_text.strip():
                flags[result.row] = text or None
        formats = {c.EXPECTED: MONEY_FORMAT, c.UNITS: "0", c.CODE: "@"}
        for name, values in cells.items():
            if values:
                book.write_column(sheet, columns[name], values, formats.get(name))
        book.highlight(sheet, {r.row: bool(r.flags) for r in results})


K = TypeVar("K")
V = TypeVar("V")


def _shared(known: dict[K, V], key: K, make: Callable[[K], V]) -> V:
    """`make(key)`, made once per distinct key."""
    if key in known:
        return known[key]
    value = known[key] = make(key)
    return value


def _amount(expected: Decimal | None) -> float | None:
    return None if expected is None else float(expected)


def log_changes(book: Book, plan: Plan, month: str | None, now: dt.datetime) -> None:
    """Append one Changes row per overwritten line, and one row counting the filled lines."""
    rows: Rows = [
        [now, ch.sheet, ch.row, ch.client, ch.date, ch.before, ch.after, ch.why] for ch in plan.changes
    ]
    if plan.filled:
        scope = f"month {month}" if month else "all months"
        rows.append([now, None, None, None, None, None, f"filled {plan.filled} lines", f"recode of {scope}"])
    if rows:
        book.append_rows(c.CHANGES, c.CHANGES_COLUMNS, rows)


def write_learned(book: Book, loaded: Loaded) -> None:
    """Refresh the Payers sheet's Learned column from claim history (never touching Preferred)."""
    sheet = find_sheet(book, c.PAYERS)
    if sheet is None or not loaded.payers:
        return
    header = loaded.payers_rows[0]
    index = column_index(header)
    column = index.get(header_key(c.LEARNED))
    if column is None:
        last = max((i for i, v in enumerate(header) if v is not None and str(v).strip()), default=-1)
        column = last + 1
        book.write_column(sheet, column + 1, {1: c.LEARNED})
    history = loaded.history
    cells: dict[int, Any] = {}
    for payer in loaded.payers.values():
        text = learned_text(payer, history)
        row = loaded.payers_rows[payer.row - 1]
        current = row[column] if column < len(row) else None
        if current != text:
            cells[payer.row] = text
    if cells:
        book.write_column(sheet, column + 1, cells)


def _comparable(value: Any) -> Any:
    """A cell value as a door reads it back: whole datetimes are dates, numbers are floats."""
    if isinstance(value, dt.datetime) and value.time() == dt.time():
        return value.date()
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str) and not value:
        return None
    return value


def same_rows(current: Rows, new: Rows) -> bool:
    """Whether a sheet already holds these rows (trailing blanks ignored)."""

    def trimmed(rows: Rows) -> list[list[Any]]:
        result = [[_comparable(v) for v in row] for row in rows]
        for row in result:
            while row and row[-1] is None:
                row.pop()
        while result and not result[-1]:
            result.pop()
        return result

    return trimmed(current) == trimmed(new)


class MemoryBook:
    """A workbook held in lists, for tests and for callers that already have the values."""

    def __init__(self, sheets: dict[str, Rows]) -> None:
        self.sheets = {name: [list(r) for r in rows] for name, rows in sheets.items()}
        self.formats: dict[tuple[str, int], str] = {}
        self.highlighted: dict[str, dict[int, bool]] = {}
        self.charts: dict[str, BarChartSpec] = {}
        self.merged: dict[str, list[tuple[int, int, int, int]]] = {}  # as a file's mergeCells would say

    def sheet_names(self) -> list[str]:
        return list(self.sheets)

    def read(self, sheet: str) -> Rows:
        return [list(r) for r in self.sheets.get(sheet, [])]

    def merged_areas(self, sheet: str) -> list[tuple[int, int, int, int]]:
        return list(self.merged.get(sheet, ()))

    def write_column(
        self, sheet: str, column: int, cells: dict[int, Any], number_format: str | None = None
    ) -> None:
        rows = self.sheets.setdefault(sheet, [])
        for row, value in cells.items():
            while len(rows) < row:
                rows.append([])
            target = rows[row - 1]
            while len(target) < column:
                target.append(None)
            target[column - 1] = value
        if number_format:
            self.formats[(sheet, column)] = number_format

    def append_rows(self, sheet: str, header: Sequence[str], rows: Rows) -> None:
        existing = self.sheets.setdefault(sheet, [])
        if not existing:
            existing.append(list(header))
        existing.extend(list(r) for r in rows)

    def replace_rows(
        self, sheet: str, header: Sequence[str], rows: Rows, formats: Sequence[str | None] = ()
    ) -> None:
        self.sheets[sheet] = [list(header), *[list(r) for r in rows]]

    def highlight(self, sheet: str, flagged: dict[int, bool]) -> None:
        self.highlighted.setdefault(sheet, {}).update(flagged)

    def bar_chart(self, sheet: str, chart: BarChartSpec) -> None:
        self.charts[sheet] = chart
