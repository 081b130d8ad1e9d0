"""The xlwings door: Excel formulas and the recode, report and import_era scripts, thin over the core.

The same decorators serve classic xlwings on Windows (UDF Modules = ``cptbill.excel``)
and xlwings Lite / Server (Office.js). Formulas take whole columns and return 2-D
results; a cell the rules cannot use becomes an Excel error value in its place.
"""

from __future__ import annotations

import importlib
import itertools
import math
import os
import re
import sys
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import xlwings as xw

from cptbill import book as core
from cptbill import contract as c
from cptbill import report as reports
from cptbill import submit
from cptbill.book import BarChartSpec
from cptbill.checking import usd
from cptbill.coding import choose_code, service_code
from cptbill.contract import EITHER, header_key
from cptbill.errors import CptbillError, UnitsError
from cptbill.history import History, favoured_code, outcomes, with_payer_names
from cptbill.models import Payer, Settings, money
from cptbill.plan import make_plan
from cptbill.schema import (
    find_payer,
    is_blank,
    is_session_header,
    parse_claims,
    parse_code,
    parse_month,
    parse_payers,
    parse_service,
    parse_sessions,
    parse_settings,
    parse_units,
    row_is_blank,
)
from cptbill.submit import Submission
from cptbill.units import check_minutes, parse_rule, table_units

if TYPE_CHECKING:  # the import_era script loads era.py (and pyx12) only when it runs
    from cptbill.era import ImportResult

Matrix = list[list[Any]]
F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")

#: What a cell that the rules cannot use shows (Office.js turns these strings into real errors).
BAD_VALUE = "#VALUE!"
NO_ANSWER = "#N/A"
EXCEL_ERRORS = frozenset({"#DIV/0!", "#N/A", "#NAME?", "#NULL!", "#NUM!", "#REF!", "#VALUE!", "#DATA!"})
#: Fill of flagged session lines (Excel's light yellow "Neutral" fill).
FLAG_FILL = "#FFEB9C"
_FORMULA_SHEET = "Sessions"
#: Where xlwings Lite keeps the files dropped into its Import/Export area.
IMPORT_FOLDER = "/data"


def _office_js_script(function: F) -> F:
    """`xw.script` for xlwings Lite/Server; classic xlwings runs `recode_caller` from a button instead.

    Classic xlwings would register a script as a VBA Sub taking the book as an argument,
    which no button can call, so there the function stays a plain function.
    """
    if getattr(xw.script, "__module__", "") == "xlwings.udfs":
        return function
    return xw.script(function)


# ---------------------------------------------------------------- cell helpers


def _matrix(value: Any) -> Matrix:
    """An argument as a 2-D list: xlwings passes a blank single cell as None."""
    if isinstance(value, list):
        return [row if isinstance(row, list) else [row] for row in value] if value else [[None]]
    return [[value]]


def _error(value: Any) -> str | None:
    """The Excel error a cell holds (read with err_to_str), to pass on in its place."""
    return value if isinstance(value, str) and value in EXCEL_ERRORS else None


def _same_shape(matrix: Matrix, fill: Any) -> Matrix:
    return [[fill for _ in row] for row in matrix]


def _text(value: Any) -> str:
    """A name as text; Excel sends whole numbers as floats (1199.0 -> "1199")."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def _payers(table: Any) -> dict[str, Payer]:
    return parse_payers(_matrix(table))[0] if table is not None else {}


def _settings(table: Any) -> Settings:
    return parse_settings(_matrix(table))[0] if table is not None else Settings()


def _history(table: Any, payers: dict[str, Payer]) -> History:
    """Claim history from a Claims table, remittance payer names mapped through `ERA names`."""
    if table is None:
        return {}
    return outcomes(with_payer_names(parse_claims(_matrix(table))[0], payers))


# ---------------------------------------------------------------- formulas


@xw.func
@xw.arg("minutes", ndim=2, err_to_str=True, doc="Treatment minutes: one cell, a column or a block.")
@xw.arg("rule", doc='Unit rule: "CMS" (default) or "AMA".')
def cptunits(minutes: Any, rule: Any = None) -> list[list[Any]]:
    """Billed 15-minute units for treatment minutes (8-minute rule), in the shape of the minutes."""
    cells = _matrix(minutes)
    try:
        parse_rule("cms" if is_blank(rule) else rule)
    except UnitsError:
        return _same_shape(cells, BAD_VALUE)
    return [[_units_cell(value) for value in row] for row in cells]


def _units_cell(value: Any) -> Any:
    if value is None or value == "":
        return None
    try:
        return table_units(check_minutes(value))
    except UnitsError:
        return _error(value) or BAD_VALUE


@xw.func
@xw.arg("payer", ndim=2, err_to_str=True, doc="Payer name: one cell or a column.")
@xw.arg("payers", ndim=2, doc="The Payers table, header row included.")
@xw.arg("claims", ndim=2, doc="Optional: the Claims table, header row included (claim history).")
@xw.arg("settings", ndim=2, doc="Optional: the Settings table (Setting, Value), header row included.")
@xw.arg(
    "service",
    ndim=2,
    err_to_str=True,
    doc="Optional: the Service of each line (massage, manual therapy, either, ...); blank: Blank service.",
)
def cptcode(
    payer: Any, payers: Any, claims: Any = None, settings: Any = None, service: Any = None
) -> list[list[Any]]:
    """The code of each line's documented service; for `either`, the massage code the payer's rules choose."""
    table = _payers(payers)
    chosen = _settings(settings)
    history = _history(claims, table)
    services = _matrix(service)

    def code(value: Any, kind: Any) -> Any:
        if is_blank(value):
            return None
        if _error(value) or _error(kind):
            return _error(value) or kind
        try:
            documented = service_code(parse_service(kind), chosen)
        except ValueError:
            return BAD_VALUE
        if documented != EITHER:
            return documented
        return choose_code(find_payer(table, _text(value)), chosen, history)[0]

    return [
        [code(value, _cell(services, r, c)) for c, value in enumerate(row)]
        for r, row in enumerate(_matrix(payer))
    ]


def _cell(matrix: Matrix, r: int, c: int) -> Any:
    """A single cell stands for every line; a shorter range is blank past its end."""
    if len(matrix) == 1 and len(matrix[0]) == 1:
        return matrix[0][0]
    return matrix[r][c] if r < len(matrix) and c < len(matrix[r]) else None


@xw.func
@xw.arg("code", ndim=2, err_to_str=True, doc="CPT code of each line.")
@xw.arg("units", ndim=2, err_to_str=True, doc="Billed units of each line.")
@xw.arg("payer", ndim=2, err_to_str=True, doc="Payer of each line.")
@xw.arg("payers", ndim=2, doc="The Payers table, header row included.")
def cptexpected(code: Any, units: Any, payer: Any, payers: Any) -> list[list[Any]]:
    """Expected payment per line: units x the payer's rate for the code; blank when no rate is known."""
    table = _payers(payers)
    codes, counts, names = _matrix(code), _matrix(units), _matrix(payer)
    rows = max(len(codes), len(counts), len(names))
    columns = max(len(codes[0]), len(counts[0]), len(names[0]))

    def at(matrix: Matrix, r: int, c: int) -> Any:
        """A single cell stands for every line; a shorter range is blank past its end."""
        if len(matrix) == 1 and len(matrix[0]) == 1:
            return matrix[0][0]
        return matrix[r][c] if r < len(matrix) and c < len(matrix[r]) else None

    def expected(r: int, c: int) -> Any:
        values = at(codes, r, c), at(counts, r, c), at(names, r, c)
        for value in values:
            if _error(value):
                return value
        if any(is_blank(v) for v in values):
            return None
        line_code, line_units = parse_code(values[0]), parse_units(values[1])
        if line_code is None or line_units is None or line_units < 0:
            return BAD_VALUE
        found = find_payer(table, _text(values[2]))
        rate = found.rate(line_code) if found else None
        return None if rate is None else float(money(rate * line_units))

    return [[expected(r, c) for c in range(columns)] for r in range(rows)]


@xw.func
@xw.arg("sessions", ndim=2, doc="A session table (Date, Client, Payer, Minutes, ...), header row included.")
@xw.arg("payers", ndim=2, doc="The Payers table, header row included.")
@xw.arg("claims", ndim=2, doc="Optional: the Claims table, header row included (DENIED_BEFORE).")
@xw.arg("settings", ndim=2, doc="Optional: the Settings table (Setting, Value), header row included.")
def cptflags(sessions: Any, payers: Any, claims: Any = None, settings: Any = None) -> list[list[Any]]:
    """The flags a check reports for each session line (one per row below the header)."""
    rows = _matrix(sessions)
    if not is_session_header(rows[0]):
        return [[BAD_VALUE]]
    table = _payers(payers)
    history = _history(claims, table)
    chosen = _settings(settings)
    lines = parse_sessions(_FORMULA_SHEET, rows, date_order=chosen.date_order)
    plan = make_plan(lines, table, chosen, history, check=True)
    flags = {result.row: result.flags_text for result in plan.standing}
    return [[flags.get(row) or None] for row in range(2, len(rows) + 1)] or [[None]]


@xw.func
@xw.arg("payer", ndim=2, err_to_str=True, doc="Payer name: one cell or a column.")
@xw.arg("claims", ndim=2, doc="The Claims table, header row included.")
@xw.arg("payers", ndim=2, doc="Optional: the Payers table, so only codes the payer accepts compete.")
def cptbestcode(payer: Any, claims: Any, payers: Any = None) -> list[list[Any]]:
    """The massage code the payer's claim history favours; #N/A without enough evidence."""
    table = _payers(payers)
    history = _history(claims, table)

    def best(value: Any) -> Any:
        if is_blank(value):
            return None
        if _error(value):
            return value
        name = _text(value)
        found = find_payer(table, name) or Payer(name=name)
        return favoured_code(found, history)[0] or NO_ANSWER

    return [[best(value) for value in row] for row in _matrix(payer)]


# ---------------------------------------------------------------- the recode script


#: A block of a sheet: top, left, bottom, right (1-based, inclusive).
Bounds = tuple[int, int, int, int]
Kinds = tuple[str, ...]
#: The ranges whose cells Excel will not take a value into one by one (or only by breaking them):
#: merged cells, an array formula's results, a dynamic array formula's spilled results.
_ALL: Kinds = ("merged", "array", "spill")
#: What each is, after a cell's name, and what the user does about it (the file door's words where it has them).
_GUARDED = {
    "merged": ("inside the merged cells {ref}", "unmerge them"),
    "array": ("in the results of an array formula ({ref})", "move the formula"),
    "spill": ("in the spilled results of a formula ({ref})", "move the formula"),
}


@dataclass(frozen=True)
class _Area:
    """A block a held write covers, which of its cells get a value, and which ranges to look for."""

    sheet: str
    bounds: Bounds
    writes: Callable[[int, int], bool]  # (row, column) -> whether the write gives that cell a value
    kinds: Kinds = _ALL

    @property
    def top(self) -> int:
        return self.bounds[0]

    @property
    def left(self) -> int:
        return self.bounds[1]

    @property
    def bottom(self) -> int:
        return self.bounds[2]

    @property
    def right(self) -> int:
        return self.bounds[3]

    def first_written(self, kind: str, bounds: Bounds) -> tuple[int, int] | None:
        """The first cell (row, column) this write gives a value in a range it must not write into:
        any cell of an array's or a spill's results, any but the first cell of merged cells."""
        top, left = max(bounds[0], self.top), max(bounds[1], self.left)
        bottom, right = min(bounds[2], self.bottom), min(bounds[3], self.right)
        for row in range(top, bottom + 1):
            for column in range(left, right + 1):
                if (row, column) == bounds[:2] and kind == "merged":
                    continue
                if self.writes(row, column):
                    return row, column
        return None


@dataclass(frozen=True)
class _Held:
    """A write kept for `XlwingsBook.commit`: what it writes, in words, and the Excel calls."""

    what: str
    work: Callable[[], None]
    areas: tuple[_Area, ...]


def _said(call: Callable[[], Any]) -> Any:
    """What Excel answers; False where this Excel cannot say (a Mac, an Excel without spills)."""
    try:
        return call()
    except Exception:
        return False


def _kinds(area: Any, wanted: Kinds) -> Kinds:
    """Which of `wanted` some cell of the range has (one Excel call each): True or None (some) counts."""
    asks: dict[str, Callable[[], Any]] = {
        "merged": lambda: area.merge_cells,
        "array": lambda: area.has_array,
        "spill": lambda: area.api.HasSpill,
    }
    return tuple(kind for kind in wanted if _said(asks[kind]) is not False)


def _first_guarded(target: Any, column: int, top: int, bottom: int, kinds: Kinds) -> int | None:
    """The first row from `top` to `bottom` of a column whose cell has one of `kinds` (halving)."""
    if not _kinds(target.range((top, column), (bottom, column)), kinds):
        return None
    while top < bottom:
        middle = (top + bottom) // 2
        if _kinds(target.range((top, column), (middle, column)), kinds):
            bottom = middle
        else:
            top = middle + 1
    return top


def _guarded_at(cell: Any, kinds: Kinds) -> list[tuple[str, Bounds]]:
    """The merged range, array formula and spill one cell lies in, of `kinds`, with their bounds."""
    found = []
    if "merged" in kinds and _said(lambda: cell.merge_cells):
        merged = cell.merge_area
        found.append(("merged", (merged.row, merged.column, merged.last_cell.row, merged.last_cell.column)))
    if "array" in kinds and _said(lambda: cell.has_array):
        found.append(("array", address_bounds(cell.api.CurrentArray.Address)))
    if "spill" in kinds and _said(lambda: cell.api.HasSpill):
        found.append(("spill", address_bounds(cell.api.SpillParent.SpillingToRange.Address)))
    return found


def _lite_client() -> bool:
    """Whether xlwings Lite's client in Excel is there to answer (Pyodide alone has none)."""
    if sys.platform != "emscripten":
        return False
    bridge = importlib.import_module("js")  # Pyodide's own module for the JavaScript around it
    return hasattr(bridge, "xlwings")


async def _merge_area_lite(cell: Any) -> Bounds:
    """The merged range a cell lies in, asked of xlwings Lite (the cell alone when Excel won't say)."""
    try:
        return address_bounds((await cell.get_merge_area()).address)
    except Exception:  # xlwings' Range cannot take Office.js's address with its sheet ("Sheet1!G3:G4")
        pass
    try:
        return address_bounds(await cell.impl._get_range_data("merge_area"))
    except Exception:
        return cell.row, cell.column, cell.row, cell.column


_ADDRESS = re.compile(r"\$?([A-Z]+)\$?(\d+)(?::\$?([A-Z]+)\$?(\d+))?")


def address_bounds(address: str) -> Bounds:
    """Excel's address of a range ("$F$2:$F$9", "$F$2") as bounds."""
    match = _ADDRESS.fullmatch(address.split("!")[-1].strip())
    if match is None:
        raise ValueError(f"not a range address: {address}")
    left, top = _column_number(match.group(1)), int(match.group(2))
    if match.group(3) is None:
        return top, left, top, left
    return top, left, int(match.group(4)), _column_number(match.group(3))


def _column_number(letters: str) -> int:
    number = 0
    for letter in letters:
        number = number * 26 + ord(letter) - 64
    return number


def column_letters(number: int) -> str:
    """1 -> A, 28 -> AB."""
    letters = ""
    while number:
        number, rest = divmod(number - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def cell_name(cell: tuple[int, int]) -> str:
    """(row, column) as F3."""
    return f"{column_letters(cell[1])}{cell[0]}"


def range_name(bounds: Bounds) -> str:
    """Bounds as F2:F9 (F2 for one cell)."""
    first, last = cell_name(bounds[:2]), cell_name((bounds[2], bounds[3]))
    return first if first == last else f"{first}:{last}"


def _reason(error: BaseException) -> str:
    """An error's own words in one line: a COM error's description, else its text."""
    info = getattr(error, "excepinfo", None)
    args: tuple[Any, ...] = tuple(error.args)
    if not info and len(args) > 2 and isinstance(args[2], tuple):  # pywintypes.com_error's args
        info = args[2]
    if isinstance(info, tuple) and len(info) > 2 and info[2]:
        text = str(info[2])
    elif type(error).__module__ == "builtins":  # Python's own words may quote a cell: name it only
        text = type(error).__name__
    else:  # Office.js's or xlwings' words about the write
        text = f"{type(error).__name__}: {error}"
    text = " ".join(text.split()) or type(error).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def _listed(items: Sequence[str], most: int = 4) -> str:
    """Items in words: "a", "a and b", "a, b and c", "a, b, c, d and 3 more"."""
    items = list(dict.fromkeys(items))
    if len(items) > most:
        return f"{', '.join(items[:most])} and {len(items) - most} more"
    return " and ".join(filter(None, [", ".join(items[:-1]), items[-1]])) if items else ""


def stopped(error: BaseException, held: Sequence[_Held], failed: int) -> str:
    """One sentence for a write Excel refused part way: what was written and what was not."""
    done, undone = [w.what for w in held[:failed]], [w.what for w in held[failed:]]
    written = (
        f"{_listed(done)} {'was' if len(done) == 1 else 'were'} written"
        if done
        else "nothing before it was written"
    )
    return (
        f"Excel refused to write {undone[0]} ({_reason(error)}), so cptbill stopped there: {written}; "
        f"{_listed(undone)} {'was' if len(undone) == 1 else 'were'} not, or only in part; "
        "fix what Excel names and run it again (it writes its cells anew)."
    )


class XlwingsBook:
    """The core's `Book` interface over an open xlwings workbook: reads once, writes in blocks."""

    def __init__(self, book: xw.Book, hold: bool = False) -> None:
        self.book = book
        self.remote = getattr(book.app.engine, "type", "") == "remote"
        self._names = [sheet.name for sheet in book.sheets]
        self._values: dict[str, list[list[Any]]] = {}
        self._before: dict[tuple[str, int, int], Any] = {}  # what each cell written held when read
        self.added_sheet = False
        #: With `hold`: the writes, kept until `commit` checks them all and carries them out.
        self._held: list[_Held] | None = [] if hold else None
        self._existing = set(self._names)  # the sheets Excel held when the door opened
        #: Per sheet, the merged and spilled areas found by `commit`: cells a run never writes over.
        self._guarded: dict[str, list[Bounds]] = {}

    def sheet_names(self) -> list[str]:
        return list(self._names)

    def read(self, sheet: str) -> list[list[Any]]:
        return [list(row) for row in self._snapshot(sheet)]

    def _snapshot(self, sheet: str) -> list[list[Any]]:
        """The sheet's values from A1 to its last used cell, read once (later writes kept in it)."""
        if sheet not in self._values:
            if sheet in self._names:
                used = self.book.sheets[sheet].used_range
                last = used.last_cell
                values = (
                    self.book.sheets[sheet]
                    .range((1, 1), (last.row, last.column))
                    .options(ndim=2, err_to_str=True)
                    .value
                )
                while values and row_is_blank(values[-1]):
                    values.pop()
                self._values[sheet] = [_plain_row(row) for row in values]
            else:
                self._values[sheet] = []
        return self._values[sheet]

    def _sheet(self, name: str) -> None:
        """Have a sheet to write: one is added (after the last) when the workbook has none of that name."""
        if name not in self._names:
            self._names.append(name)
            self._values[name] = []
            self.added_sheet = True
            self._do(f"the new sheet {name}", lambda: self._add_sheet(name))

    def _add_sheet(self, name: str) -> None:
        sheets = self.book.sheets
        sheets.add(name=name, after=sheets[len(sheets) - 1])

    def _do(self, what: str, work: Callable[[], None], areas: Sequence[_Area] = ()) -> None:
        """Carry out a write now, or (holding) keep it, with the areas it writes, for `commit`."""
        if self._held is None:
            work()
        else:
            self._held.append(_Held(what, work, tuple(areas)))

    def commit(self) -> None:
        """Carry out the writes held, all or none: first refuse (CptbillError, nothing written) when
        one would write into a merged range or an array formula's or a spill's results; then a
        write Excel refuses stops the rest with one sentence saying what was written and what not.
        """
        held, self._held = self._held or [], None
        if not self.remote:  # Office.js answers such questions only to an async script: commit_lite
            for write in held:
                for area in write.areas:
                    self._refuse_guarded(area)
        for i, write in enumerate(held):
            try:
                write.work()
            except Exception as error:  # Excel's (COM's) own error: say where it stopped
                raise CptbillError(stopped(error, held, i)) from None

    async def commit_lite(self) -> None:
        """`commit` in xlwings Lite (an async script): before the first write, Excel is asked
        whether a cell to write lies in merged cells (one question per written block, where the
        xlwings installed can ask; xlwings' bridge to Office.js cannot tell array formulas or
        spills). Then each write goes to Excel on its own (`Book.flush`), so a write Excel refuses
        stops the rest and the sentence says what was written. Elsewhere (xlwings Server, Pyodide
        without the add-in around it) the writes go back to Excel after the script, as one batch.
        """
        if self._held is None or not self.remote:
            self.commit()
            return
        held, self._held = self._held, None
        lite = _lite_client() and hasattr(self.book, "flush")  # an older xlwings sends all at the end
        for write in held if lite else ():
            for area in write.areas:
                await self._refuse_merged_lite(area)
        for i, write in enumerate(held):
            try:
                write.work()
                if lite:
                    await self.book.flush()
            except Exception as error:  # Office.js's own error: say where it stopped
                raise CptbillError(stopped(error, held, i)) from None

    async def _refuse_merged_lite(self, area: _Area) -> None:
        """`_refuse_guarded` for merged cells, through xlwings Lite's async questions."""
        if area.sheet not in self._existing or "merged" not in area.kinds:
            return
        target = self.book.sheets[area.sheet]

        async def merged(top: int, left: int, bottom: int, right: int) -> bool:
            try:
                return await target.range((top, left), (bottom, right)).get_merge_cells() is not False
            except Exception:  # an xlwings (or Excel) that cannot say: the writes will tell
                return False

        if not await merged(*area.bounds):
            return
        for column in range(area.left, area.right + 1):
            row = area.top
            while row <= area.bottom and await merged(row, column, area.bottom, column):
                top, bottom = row, area.bottom
                while top < bottom:
                    middle = (top + bottom) // 2
                    if await merged(top, column, middle, column):
                        bottom = middle
                    else:
                        top = middle + 1
                bounds = await _merge_area_lite(target.range((top, column)))
                self._guarded.setdefault(area.sheet, []).append(bounds)
                self._refuse_at(area, "merged", bounds)
                row = max(top, bounds[2]) + 1

    def _refuse_at(self, area: _Area, kind: str, bounds: Bounds) -> None:
        """CptbillError naming the first cell `area` writes in a range of `kind` it must not write."""
        cell = area.first_written(kind, bounds)
        if cell is not None:
            what, fix = _GUARDED[kind]
            raise CptbillError(
                f"cptbill would write the cell {area.sheet}!{cell_name(cell)}, "
                f"{what.format(ref=range_name(bounds))}; {fix}, and try again. Nothing was written."
            )

    def _refuse_guarded(self, area: _Area) -> None:
        """CptbillError naming the first cell of `area` to write that lies in a merged range (other
        than its first cell, which holds the value) or in an array formula's or a spill's results.

        A few Excel calls per area; only where one says "some", halving finds the ranges.
        """
        if area.sheet not in self._existing:
            return
        target = self.book.sheets[area.sheet]
        kinds = _kinds(target.range((area.top, area.left), (area.bottom, area.right)), area.kinds)
        for column in range(area.left, area.right + 1) if kinds else ():
            row = area.top
            while row <= area.bottom:
                hit = _first_guarded(target, column, row, area.bottom, kinds)
                if hit is None:
                    break
                found = _guarded_at(target.range((hit, column)), kinds)
                for kind, bounds in found:
                    self._guarded.setdefault(area.sheet, []).append(bounds)
                    self._refuse_at(area, kind, bounds)
                row = max([hit, *(b[2] for _, b in found if b[1] <= column <= b[3])]) + 1

    def _kept_area(self, sheet: str, row: int, column: int) -> bool:
        """Whether a cell lies in a merged range or a spill found by `commit` (a run keeps it)."""
        return any(
            top <= row <= bottom and left <= column <= right
            for top, left, bottom, right in self._guarded.get(sheet, ())
        )

    def _remember(self, sheet: str, row: int, column: int, block: Sequence[Sequence[Any]]) -> None:
        rows = self._snapshot(sheet)
        for r, values in enumerate(block, start=row):
            while len(rows) < r:
                rows.append([])
            target = rows[r - 1]
            while len(target) < column + len(values) - 1:
                target.append(None)
            target[column - 1 : column - 1 + len(values)] = list(values)

    def write_column(
        self, sheet: str, column: int, cells: dict[int, Any], number_format: str | None = None
    ) -> None:
        """Write the cells of one column; no other cell's value, formula or error changes.

        Office.js (xlwings Lite/Server) leaves a cell sent as null unchanged, so there one block
        from the first to the last written row carries None in the rows between. Desktop Excel
        has no such value: the block is split into runs at the rows between that hold a formula
        or an error (read with one call), and the other rows between keep the values read.
        A number format goes to each run, never to a cell kept out of it; Office.js, which cannot
        read formulas while a script runs, gives it to the block.
        """
        if not cells:
            return
        for row in cells:
            self._before.setdefault((sheet, row, column), self._current(sheet, row, column))
        self._sheet(sheet)
        cells = dict(cells)
        first, last = min(cells), max(cells)
        self._do(
            f"{sheet}!{range_name((first, column, last, column))}",
            lambda: self._write_column(sheet, column, cells, number_format),
            [_Area(sheet, (first, column, last, column), lambda r, _: r in cells)],
        )
        for row, value in cells.items():
            self._remember(sheet, row, column, [[value]])

    def _write_column(
        self, sheet: str, column: int, cells: dict[int, Any], number_format: str | None
    ) -> None:
        target = self.book.sheets[sheet]
        if self.remote:
            prepare = self.book.app.engine.impl.prepare_xl_data_element
            typed = _as_typed([[v] for v in cells.values()]) if number_format != "@" else None
            sent = dict(zip(cells, (row[0] for row in typed), strict=True)) if typed else cells
            # One block, split only around the merged cells commit_lite found between the lines.
            for top, bottom in _split(sorted(cells), lambda row: self._kept_area(sheet, row, column)):
                area = target.range((top, column), (bottom, column))
                if number_format:
                    area.number_format = number_format
                area.raw_value = [
                    [prepare(sent[r], {}) if r in sent else None] for r in range(top, bottom + 1)
                ]
        else:
            for top, bottom in self._runs(sheet, column, cells):
                block = [
                    [cells[r] if r in cells else self._current(sheet, r, column)]
                    for r in range(top, bottom + 1)
                ]
                area = target.range((top, column), (bottom, column))
                if number_format:
                    area.number_format = number_format
                area.value = block if number_format == "@" else _as_typed(block)  # text cells keep text

    def _current(self, sheet: str, row: int, column: int) -> Any:
        """A cell's value as read (with the door's own writes since)."""
        snapshot = self._snapshot(sheet)
        values = snapshot[row - 1] if row <= len(snapshot) else []
        return values[column - 1] if column <= len(values) else None

    def _runs(self, sheet: str, column: int, cells: dict[int, Any]) -> list[tuple[int, int]]:
        """The first and last row of each run to write: from a written row to a written row, split
        at the rows between whose cell holds a formula or an error (formulas read in one call), or
        lies in a merged range or a spill that `commit` found."""
        written = sorted(cells)
        first, last = written[0], written[-1]
        if last - first + 1 == len(written):
            return [(first, last)]
        read = self.book.sheets[sheet].range((first, column), (last, column)).formula
        formulas = [read] if not isinstance(read, list | tuple) else [_first(r) for r in read]

        def kept(row: int) -> bool:
            formula = formulas[row - first] if row - first < len(formulas) else None
            if _is_formula(formula) or self._kept_area(sheet, row, column):
                return True
            return _error(self._current(sheet, row, column)) is not None

        return _split(written, kept)

    def append_rows(self, sheet: str, header: Sequence[str], rows: core.Rows) -> None:
        block = [list(r) for r in rows]
        start = len(self._snapshot(sheet)) + 1
        if start == 1:
            block.insert(0, list(header))
        self._write_block(sheet, start, block, keep_blanks=start > 1)
        if start > 1 and block:
            self._do(f"the tables of {sheet} grown", lambda: self._grow_tables(sheet, start - 1, len(block)))

    def _grow_tables(self, sheet: str, last: int, added: int) -> None:
        """A table that ended at the sheet's last row takes in the rows appended below it (as in a file)."""
        target = self.book.sheets[sheet]
        for table in target.tables:
            area = table.range
            if area is not None and area.last_cell.row == last:
                table.resize(target.range((area.row, area.column), (last + added, area.last_cell.column)))

    def replace_rows(
        self, sheet: str, header: Sequence[str], rows: core.Rows, formats: Sequence[str | None] = ()
    ) -> None:
        existed = sheet in self._names
        self._sheet(sheet)
        if existed and self._snapshot(sheet):
            self._do(f"the {sheet} sheet cleared", lambda: self._clear(sheet))
        self._values[sheet] = []
        self._write_block(sheet, 1, [list(header), *[list(r) for r in rows]], kinds=())
        chosen = [(i, f) for i, f in enumerate(formats, start=1) if f and rows]
        if chosen:
            self._do(f"the number formats of {sheet}", lambda: self._formats(sheet, len(rows) + 1, chosen))

    def _clear(self, sheet: str) -> None:
        """Empty one of cptbill's own sheets: its array formulas and spills go with their cells and,
        as in the file door, which builds the sheet anew, its merged cells are unmerged."""
        target = self.book.sheets[sheet]
        target.clear_contents()
        if not self.remote:  # Office.js cannot say while a script runs
            every = target.cells
            if _said(lambda: every.merge_cells) is not False:
                every.unmerge()

    def _formats(self, sheet: str, last: int, chosen: Sequence[tuple[int, str]]) -> None:
        target = self.book.sheets[sheet]
        for column, number_format in chosen:
            target.range((2, column), (last, column)).number_format = number_format

    def _write_block(
        self, sheet: str, row: int, block: list[list[Any]], keep_blanks: bool = False, kinds: Kinds = _ALL
    ) -> None:
        """Write a block of rows from column A; with `keep_blanks`, a blank of the block leaves the
        cell under it as it is (rows appended below the data may hold formulas showing nothing,
        say a column of formulas filled down ahead of the data)."""
        if not block:
            return
        width = max(len(r) for r in block)
        block = [r + [None] * (width - len(r)) for r in block]
        self._sheet(sheet)
        bounds = (row, 1, row + len(block) - 1, width)
        self._do(
            f"{sheet}!{range_name(bounds)}",
            lambda: self._put_block(sheet, row, block, keep_blanks),
            [_Area(sheet, bounds, lambda r, c: not keep_blanks or block[r - row][c - 1] is not None, kinds)],
        )
        self._remember(sheet, row, 1, block)

    def _put_block(self, sheet: str, row: int, block: list[list[Any]], keep_blanks: bool) -> None:
        target = self.book.sheets[sheet]
        width = len(block[0])
        area = target.range((row, 1), (row + len(block) - 1, width))
        if keep_blanks and self.remote:  # Office.js leaves a cell sent as null unchanged
            prepare = self.book.app.engine.impl.prepare_xl_data_element
            area.raw_value = [[None if v is None else prepare(v, {}) for v in r] for r in _as_typed(block)]
        elif keep_blanks:  # desktop Excel: around the formulas under blanks of the block, read in one call
            formulas = self._formulas(area, len(block))
            kept = {
                (r, c)
                for r, (values, cells) in enumerate(zip(block, formulas, strict=False))
                for c, (value, formula) in enumerate(zip(values, cells, strict=False))
                if value is None and (_is_formula(formula) or self._kept_area(sheet, row + r, c + 1))
            }
            for top, left, bottom, right in _around(block, kept):
                piece = [values[left : right + 1] for values in block[top : bottom + 1]]
                target.range((row + top, left + 1), (row + bottom, right + 1)).value = _as_typed(piece)
        else:
            area.value = _as_typed(block)

    def _formulas(self, area: Any, height: int) -> list[list[Any]]:
        """The formulas of a block (a constant as text, "" when blank), read in one call, as rows."""
        read = area.formula
        if not isinstance(read, list | tuple):
            return [[read]]
        rows = list(read)
        if rows and not isinstance(rows[0], list | tuple):  # one row or one column, given flat
            return [rows] if height == 1 else [[v] for v in rows]
        return [list(r) for r in rows]

    def merged_areas(self, sheet: str) -> list[tuple[int, int, int, int]]:
        return []  # this door finds merged cells (and refuses them) as it writes, not before

    def highlight(self, sheet: str, flagged: dict[int, bool]) -> None:
        """Fill flagged lines across the header's width; clear the fill only of the lines this run
        takes the flags of (their Flags cell held text when read): a fill of the user's own on a
        line without flags stays."""
        if not flagged:
            return
        header = self._snapshot(sheet)[0] if self._snapshot(sheet) else []
        width = max((i + 1 for i, v in enumerate(header) if not is_blank(v)), default=1)
        column = next(
            (i + 1 for i, v in enumerate(header) if not is_blank(v) and header_key(v) == header_key(c.FLAGS)),
            None,
        )

        def was_flagged(row: int) -> bool:
            if column is None:
                return False
            return not is_blank(self._before.get((sheet, row, column), self._current(sheet, row, column)))

        fills = {row: FLAG_FILL if on else None for row, on in flagged.items() if on or was_flagged(row)}
        if fills:
            self._sheet(sheet)
            self._do(f"the flag fill of {sheet}", lambda: self._fill(sheet, fills, width))

    def _fill(self, sheet: str, fills: dict[int, str | None], width: int) -> None:
        target = self.book.sheets[sheet]
        first, last = min(fills), max(fills)
        if self.remote and hasattr(xw.Range, "set_colors"):  # xlwings >= 0.37.5
            # One setRangeColors action per block of at most 10,000 cells (xlwings' limit).
            step = max(1, 10_000 // width)
            for top in range(first, last + 1, step):
                bottom = min(last, top + step - 1)
                colors = [[fills.get(r, ...)] * width for r in range(top, bottom + 1)]
                target.range((top, 1), (bottom, width)).set_colors(colors)
            return
        # Desktop Excel (where set_colors goes cell by cell): one fill per run of lines alike.
        rows = sorted(fills)
        start = rows[0]
        for i, row in enumerate(rows):
            following = rows[i + 1] if i + 1 < len(rows) else None
            if following != row + 1 or fills[following] != fills[row]:
                target.range((start, 1), (row, width)).color = fills[row]
                start = following if following is not None else start

    def bar_chart(self, sheet: str, chart: BarChartSpec) -> None:
        """A clustered column chart where the runtime has charts (best effort: skipped elsewhere)."""
        values = sorted(chart.value_columns)
        if values != list(range(values[0], values[-1] + 1)):
            return  # a chart's source is one block of columns
        self._sheet(sheet)
        self._do(f"the chart {chart.title} on {sheet}", lambda: self._chart(sheet, chart, values))

    def _chart(self, sheet: str, chart: BarChartSpec, values: list[int]) -> None:
        target = self.book.sheets[sheet]
        try:
            for existing in list(target.charts):
                if existing.name == chart.title:
                    existing.delete()
            added = target.charts.add(
                chart_type="column_clustered",
                name=chart.title,
                anchor=target.range(chart.anchor),
                source=target.range((chart.header_row, values[0]), (chart.last_row, values[-1])),
                plot_by="columns",
            )
            added.set_x_axis_values(
                target.range(
                    (chart.first_row, chart.category_column), (chart.last_row, chart.category_column)
                )
            )
            added.title = chart.title
        except Exception:  # a chart is a nicety: no runtime's chart gap may stop a recode
            return


#: Text Excel would not keep as typed: a formula (=, +, -, @), a number, date, time, percentage or
#: boolean, or text whose own leading apostrophe Excel would take away.
_NOT_TEXT_AS_TYPED = re.compile(
    r"[=+\-@'].*"
    r"|\s*[($€£¥]?\s*[\d.,]*\d[\d.,/:\s\-]*(?:[eE][+-]?\d+)?\s*%?\s*\)?\s*"
    r"|(?i:\s*\d{1,4}[\s./\-]*(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?"
    r"(?:[\s./,\-]*\d{1,4})?\s*"
    r"|\s*(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?(?:[\s./,\-]*\d{1,4}){1,2}\s*"
    r"|\s*(?:true|false)\s*)",
    re.DOTALL,
)


def _as_typed(block: list[list[Any]]) -> list[list[Any]]:
    """Values as Excel must receive them so that text stays text (one rule in every door).

    Excel reads the values it is sent the way it reads what a user types: text starting with
    =, +, - or @ would become a live formula, "000123" a number, "2026-11" a date. A leading
    apostrophe makes Excel keep the rest as text; the apostrophe is not part of the value.
    """
    return [
        ["'" + v if isinstance(v, str) and _NOT_TEXT_AS_TYPED.fullmatch(v) else v for v in row]
        for row in block
    ]


def _is_formula(cell: Any) -> bool:
    return isinstance(cell, str) and cell.startswith("=")


def _around(block: list[list[Any]], kept: set[tuple[int, int]]) -> list[tuple[int, int, int, int]]:
    """Rectangles (top, left, bottom, right; 0-based) that cover the block but the cells kept:
    whole-height runs of columns without a kept cell, and in a column with one, its runs of values."""
    height, width = len(block), len(block[0])
    columns = {c for _, c in kept}
    pieces: list[tuple[int, int, int, int]] = []
    c = 0
    while c < width:
        if c in columns:
            r = 0
            while r < height:
                if block[r][c] is None:
                    r += 1
                    continue
                bottom = r
                while bottom + 1 < height and block[bottom + 1][c] is not None:
                    bottom += 1
                pieces.append((r, c, bottom, c))
                r = bottom + 1
            c += 1
        else:
            right = c
            while right + 1 < width and right + 1 not in columns:
                right += 1
            pieces.append((0, c, height - 1, right))
            c = right + 1
    return pieces


def _split(written: list[int], kept: Callable[[int], bool]) -> list[tuple[int, int]]:
    """Runs (first, last) from written row to written row (sorted), split at a row between kept."""
    runs = [[written[0], written[0]]]
    for previous, row in itertools.pairwise(written):
        if any(kept(between) for between in range(previous + 1, row)):
            runs.append([row, row])
        else:
            runs[-1][1] = row
    return [(top, bottom) for top, bottom in runs]


def _first(row: Any) -> Any:
    """The first cell of a row Excel gives as a tuple (or a lone value)."""
    return row[0] if isinstance(row, list | tuple) and row else row


def _plain_row(row: list[Any]) -> list[Any]:
    """Cell values as the core reads them: NaN never, whole numbers as they were typed."""
    return [None if isinstance(v, float) and math.isnan(v) else v for v in row]


def settings_month(door: XlwingsBook) -> str | None:
    """The Settings sheet's Month to recode (YYYY-MM); None when blank. CptbillError when not a month."""
    sheet = core.find_sheet(door, c.SETTINGS)
    month = parse_settings(door.read(sheet))[0].month_to_recode if sheet else None
    try:
        return parse_month(month)
    except CptbillError:
        raise CptbillError(
            f"{c.SETTINGS}: {c.MONTH_TO_RECODE} '{month}' is not a month; write it as YYYY-MM "
            "(e.g. 2026-11), or leave it blank for the active sheet."
        ) from None


#: A script's work: it plans (reading, holding the writes), yields its door once to have the writes
#: carried out (`_run`, or `_run_lite` in xlwings Lite), then finishes and returns its result.
Steps = Generator[XlwingsBook, None, T]


def _run(steps: Steps[T]) -> T:
    """Carry out a script's steps in classic xlwings (and xlwings Server): writes all or none."""
    door = next(steps)
    try:
        door.commit()
    except BaseException:
        steps.close()
        raise
    return _finish(steps)


async def _run_lite(steps: Steps[T]) -> T:
    """Carry out a script's steps in xlwings Lite, where Excel answers only to an async script."""
    door = next(steps)
    try:
        await door.commit_lite()
    except BaseException:
        steps.close()
        raise
    return _finish(steps)


def _finish(steps: Steps[T]) -> T:
    try:
        steps.send(None)
    except StopIteration as done:
        return done.value
    raise RuntimeError("a script's steps yield their door once")


def _recode_steps(book: xw.Book, month: str = "") -> Steps[core.Plan]:
    door = XlwingsBook(book, hold=True)
    chosen = "" if month is None else str(month).strip()
    chosen = chosen or settings_month(door) or ""
    active = book.sheets.active
    sheet = None
    if not chosen and active.name in door.sheet_names():
        rows = door.read(active.name)
        if rows and is_session_header(rows[0]):
            sheet = active.name
    # The same steps as `cptbill recode`: the session sheets, Changes, Learned, then the report sheets.
    plan, _ = core.recode(door, chosen or None, sheet=sheet, after=[reports.refresh])
    yield door
    if door.added_sheet:  # adding the Changes sheet made it active: go back
        _back_to(active)
    return plan


def run_recode(book: xw.Book, month: str = "") -> core.Plan:
    """Recode the open workbook: the month given, else Settings > Month to recode, else the active
    session sheet, else every one.

    Raises CptbillError for what the user must fix (no session sheet, a bad month, a cell to
    write inside merged cells, ...), or when Excel refuses a write (saying what was written).
    """
    return _run(_recode_steps(book, month))


def _friendly(book: xw.Book, job: Callable[[], T]) -> T | None:
    """Run a script's job; a user mistake, or any other error, becomes one sentence in a message
    box, not a traceback. The job's door writes only once all is planned (`XlwingsBook.commit`),
    and turns an error of Excel's while writing into a CptbillError saying what it wrote."""
    try:
        return job()
    except Exception as error:
        _tell(book, error)
    return None


async def _friendly_lite(book: xw.Book, steps: Callable[[], Steps[T]]) -> T | None:
    """`_friendly` for xlwings Lite's async scripts."""
    try:
        return await _run_lite(steps())
    except Exception as error:
        _tell(book, error)
    return None


def _tell(book: xw.Book, error: Exception) -> None:
    """An error in a message box, in one sentence."""
    if isinstance(error, CptbillError):
        text = str(error)
    else:  # a fault of cptbill's, met before the door wrote anything
        text = (
            f"cptbill stopped on an unexpected error ({_reason(error)}) before writing anything: "
            "nothing in the workbook changed. Please report it with the steps that led to it."
        )
    print(f"cptbill: {text}")
    book.app.alert(text, title="cptbill", mode="critical")


def _back_to(sheet: Any) -> None:
    """Make a sheet active again (a nicety: a runtime that cannot does not stop the job)."""
    try:
        sheet.activate()
    except Exception:
        return


def recode_book(book: xw.Book, month: str = "") -> core.Plan | None:
    """Recode an open workbook, reporting a user mistake in a message box."""
    return _recoded(_friendly(book, lambda: run_recode(book, month)))


def _recoded(plan: core.Plan | None) -> core.Plan | None:
    if plan is not None:
        flags = ", ".join(f"{flag} {count}" for flag, count in plan.flag_counts().items()) or "none"
        print(
            f"cptbill: {plan.lines} lines, {plan.changed} changed, "
            f"expected {usd(plan.expected_total)}; flags: {flags}"
        )
    return plan


def _report_steps(book: xw.Book, month: str = "") -> Steps[reports.Report]:
    chosen = parse_month(month)
    door = XlwingsBook(book, hold=True)
    chosen = chosen or settings_month(door)
    active = book.sheets.active
    result = reports.write_report(door, core.load(door), None, chosen)
    yield door
    if door.added_sheet:
        _back_to(active)
    return result


def run_report(book: xw.Book, month: str = "") -> reports.Report:
    """Write the Summary, Follow-up and Shortfalls sheets of the open workbook, as `cptbill report` does.

    The month given, else Settings > Month to recode, else every month.
    """
    return _run(_report_steps(book, month))


def report_book(book: xw.Book, month: str = "") -> reports.Report | None:
    """The report on an open workbook, reporting a user mistake in a message box."""
    return _reported(_friendly(book, lambda: run_report(book, month)))


def _reported(result: reports.Report | None) -> reports.Report | None:
    if result is not None:
        print(f"cptbill: report written for {result.month or 'all months'}")
    return result


#: The names clearinghouses and payer portals give 835 downloads besides .835: such a file is
#: taken when it holds an 835 transaction (a 999 or 277 acknowledgment beside it is not).
OTHER_REMITTANCE_SUFFIXES = (".txt", ".edi", ".era", ".x12", ".rmt", ".dat")


def remittance_files(folder: str | os.PathLike[str] = IMPORT_FOLDER) -> list[Path]:
    """Every remittance in the folder and its subfolders, in path order: each .835 file, and each
    .txt, .edi, .era, .x12, .rmt or .dat file that begins with an X12 interchange holding an 835."""
    root = Path(folder)
    if not root.is_dir():
        return []
    found = [
        p
        for p in root.rglob("*")
        if p.is_file()
        and (p.suffix.lower() == ".835" or (p.suffix.lower() in OTHER_REMITTANCE_SUFFIXES and _holds_835(p)))
    ]
    return sorted(found, key=lambda p: p.relative_to(root).as_posix().casefold())


def _holds_835(path: Path) -> bool:
    """Whether a file begins with an X12 interchange with an 835 transaction in its first 64 KB."""
    from cptbill.era import holds_835

    try:
        with open(path, "rb") as stream:
            return holds_835(stream.read(65536))
    except OSError:
        return False


def _import_era_steps(book: xw.Book, folder: str | os.PathLike[str] | None = None) -> Steps[ImportResult]:
    from cptbill.era import import_remittances

    files = remittance_files(IMPORT_FOLDER if folder is None else folder)
    if not files and folder is not None:
        raise CptbillError(f"No remittance (.835 file) found in the folder {folder}.")
    if not files:
        raise CptbillError(
            "No remittance (.835 file) found in xlwings Lite's Import/Export area: drop your remittance files "
            "there (xlwings Lite menu > Files > Import/Export), then run import_era again."
        )
    door = XlwingsBook(book, hold=True)
    active = book.sheets.active
    result = import_remittances(door, None, files)
    yield door
    if door.added_sheet:
        _back_to(active)
    return result


def run_import_era(book: xw.Book, folder: str | os.PathLike[str] | None = None) -> ImportResult:
    """Add the new service lines of every remittance in xlwings Lite's /data to the Claims sheet.

    The same reading, checks and deduplication as `cptbill import-era`: lines already on the
    Claims sheet are skipped, and a broken file stops the import before anything is written.
    """
    return _run(_import_era_steps(book, folder))


def import_summary(result: ImportResult) -> str:
    """What `cptbill import-era` prints about an import, as the message box's text."""
    from cptbill.era import provider_rows_note

    files = f"{result.files} file" + ("s" if result.files != 1 else "")
    lines = [
        f"{files}, {result.lines} service lines: {result.added} added to Claims, "
        f"{result.duplicates} duplicates skipped."
    ]
    if result.unmatched_payers:
        lines.append(
            "Unmatched payers (imported under the remittance's name; add to a payer's ERA names on "
            f"the Payers sheet): {', '.join(result.unmatched_payers)}"
        )
    if result.adjustments:
        lines.append(
            "Provider adjustments (PLB, not claim lines; a positive amount was taken from the payment):"
        )
        for item in result.adjustments:
            lines.append(f"  {item.source}: {item.label} {usd(item.amount)}")
        lines.append(f"  total {usd(result.provider_adjustments)}")
        if result.provider_rows:
            lines.append(f"  {provider_rows_note(result.provider_rows)}")
    else:
        lines.append("Provider adjustments (PLB): none new.")
    lines += [f"Warning: {warning}" for warning in result.warnings]
    return "\n".join(lines)


def import_era_book(book: xw.Book, folder: str | os.PathLike[str] | None = None) -> ImportResult | None:
    """Import the remittances, showing the summary (or a mistake) in a message box."""
    return _imported(book, _friendly(book, lambda: run_import_era(book, folder)))


def _imported(book: xw.Book, result: ImportResult | None) -> ImportResult | None:
    if result is not None:
        text = import_summary(result)
        print(f"cptbill: {text}")
        book.app.alert(text, title="cptbill: remittances imported", mode="info")
    return result


def _claims_steps(
    book: xw.Book, month: str = "", folder: str | os.PathLike[str] | None = None
) -> Steps[Submission]:
    door = XlwingsBook(book, hold=True)
    chosen = str(month or "").strip() or settings_month(door) or ""
    active = book.sheets.active
    submission = submit.run_claims(door, chosen)
    if folder is None:
        folder = IMPORT_FOLDER if door.remote else Path(book.fullname).resolve().parent
    target = Path(folder)
    written: list[Path] = []  # each file whole or not at all, and none unless Claims records them
    try:
        try:
            target.mkdir(parents=True, exist_ok=True)
            for name, data in submission.files.items():
                written.append(target / f".~cptbill-{name}")
                written[-1].write_bytes(data)
        except OSError as error:
            raise CptbillError(
                f"cptbill could not write the claims files in {target} ({error.strerror or 'refused'}): "
                "nothing was written, neither the files nor the Claims sheet."
            ) from None
        yield door
        for temporary, name in zip(written, submission.files, strict=True):
            os.replace(temporary, target / name)
    finally:
        for temporary in written:
            temporary.unlink(missing_ok=True)
    if door.added_sheet:
        _back_to(active)
    return submission


def run_claims(book: xw.Book, month: str = "", folder: str | os.PathLike[str] | None = None) -> Submission:
    """Write the month's claims files as `cptbill claims` does, and record the lines sent on Claims.

    The month is the one given, else the Settings value `Month to recode`. Files go under /data in
    xlwings Lite (Files > Import/Export, to download) and beside the workbook in classic xlwings.
    """
    return _run(_claims_steps(book, month, folder))


def claims_book(book: xw.Book, month: str = "") -> Submission | None:
    """The claims of an open workbook, reporting a user mistake in a message box."""
    return _claimed(_friendly(book, lambda: run_claims(book, month)))


def _claimed(result: Submission | None) -> Submission | None:
    if result is not None:
        summary = result.summary()
        print(
            f"cptbill: {summary['claims']} claims for {summary['month']}, files: "
            f"{', '.join(summary['files']) or 'none'}; held back: {summary['incomplete']} incomplete, "
            f"{summary['blocked']} flagged"
        )
    return result


# xlwings Lite's scripts are async: only an async script can ask Excel about merged cells before
# writing, and learn which write Excel refused (see XlwingsBook.commit_lite).


@_office_js_script
async def recode(book: xw.Book, month: str = "") -> None:
    """Recode the month (YYYY-MM; blank: Settings > Month to recode, else the active session sheet)."""
    _recoded(await _friendly_lite(book, lambda: _recode_steps(book, month)))


@_office_js_script
async def report(book: xw.Book, month: str = "") -> None:
    """Write the Summary, Follow-up and Shortfalls sheets (month blank: Settings > Month to recode)."""
    _reported(await _friendly_lite(book, lambda: _report_steps(book, month)))


@_office_js_script
async def claims(book: xw.Book, month: str = "") -> None:
    """Write the month's 837P files and CMS-1500 PDFs (under /data in xlwings Lite) and record them on Claims."""
    _claimed(await _friendly_lite(book, lambda: _claims_steps(book, month)))


@_office_js_script
async def import_era(book: xw.Book) -> None:
    """Add the service lines of the remittances in Files > Import/Export to the Claims sheet."""
    _imported(book, await _friendly_lite(book, lambda: _import_era_steps(book)))


def claims_caller(month: str = "") -> None:
    """Classic xlwings: write the claims files beside the workbook that called (RunPython macro)."""
    claims_book(xw.Book.caller(), month)


def recode_caller(month: str = "") -> None:
    """Classic xlwings: recode the workbook that called, from a button's RunPython macro."""
    recode_book(xw.Book.caller(), month)


def report_caller(month: str = "") -> None:
    """Classic xlwings: write the report sheets of the workbook that called (RunPython macro)."""
    report_book(xw.Book.caller(), month)


def import_era_caller(folder: str) -> None:
    """Classic xlwings: import the remittances of a folder (and its subfolders) into the calling workbook."""
    import_era_book(xw.Book.caller(), folder)


__all__ = [
    "XlwingsBook",
    "claims",
    "claims_book",
    "claims_caller",
    "cptbestcode",
    "cptcode",
    "cptexpected",
    "cptflags",
    "cptunits",
    "import_era",
    "import_era_book",
    "import_era_caller",
    "import_summary",
    "recode",
    "recode_book",
    "recode_caller",
    "report",
    "report_book",
    "report_caller",
    "run_claims",
    "run_import_era",
    "run_recode",
    "run_report",
    "settings_month",
]
