"""File door: a workbook on disk, read part by part and edited surgically, with a backup and an atomic save."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from cptbill import contract as c
from cptbill.book import BarChartSpec, Rows, owned_columns, write_plan
from cptbill.contract import header_key
from cptbill.editor import Edit, Guarded, SheetChanges, cell_name, guarded_ranges, save, unsafe_cells
from cptbill.errors import CptbillError
from cptbill.ooxml import MAX_COLUMN, MAX_ROW, Package, SheetEntry, column_letters, open_package, read_sheet
from cptbill.safefile import backup_path, readable, updating

if TYPE_CHECKING:
    from cptbill.book import Loaded
    from cptbill.models import Plan

T = TypeVar("T")
Progress = Callable[[str], None]

SUFFIXES = c.WORKBOOK_SUFFIXES
MACRO_SUFFIXES = (".xlsm", ".xltm")


class FileBook:
    """The `Book` interface over a workbook file: reads its sheets, collects what the job writes."""

    def __init__(self, package: Package, watch: bool = False) -> None:
        self.package = package
        self.changes: dict[str, SheetChanges] = {}
        self.headers: dict[str, list[Any]] = {}  # row 1 of each sheet read, to find its Flags column
        #: With `watch` (a check): each sheet read's merged ranges and ranged formulas, for `unwritable`.
        self.guarded: dict[str, list[Guarded]] | None = {} if watch else None

    @property
    def dirty(self) -> bool:
        """Whether the job wrote anything."""
        return any(c.cells or c.chart or c.replaced or c.created for c in self.changes.values())

    def close(self) -> None:
        self.package.close()

    def sheet_names(self) -> list[str]:
        listed = [s.name for s in self.package.sheets]
        return listed + [name for name, c in self.changes.items() if c.created and name not in listed]

    def _name(self, sheet: str) -> str:
        """The workbook's own spelling of a sheet: Excel tells sheet names apart ignoring case."""
        if self.package.sheet(sheet) is not None or sheet in self.changes:
            return sheet
        wanted = sheet.casefold()
        known = [s.name for s in self.package.sheets] + list(self.changes)
        return next((name for name in known if name.casefold() == wanted), sheet)

    def read(self, sheet: str) -> Rows:
        sheet = self._name(sheet)
        entry = self.package.sheet(sheet)
        changes = self.changes.get(sheet)
        if entry is None and changes is None:
            return []
        rows: Rows = [] if entry is None or (changes and changes.replaced) else self._read_sheet(entry)
        if rows:
            self.headers.setdefault(sheet, list(rows[0]))
        if changes and changes.cells:
            rows = [list(row) for row in rows]  # empty rows may be one shared list
            for row, edits in changes.cells.items():
                while len(rows) < row:
                    rows.append([])
                line = rows[row - 1]
                for column, edit in edits.items():
                    line.extend([None] * (column - len(line)))
                    line[column - 1] = edit.value
            while rows and all(v is None for v in rows[-1]):
                rows.pop()
        return rows

    def merged_areas(self, sheet: str) -> list[tuple[int, int, int, int]]:
        entry = self.package.sheet(self._name(sheet))
        if entry is None or entry.kind != "worksheet":
            return []
        guarded = (self.guarded or {}).get(entry.name)
        if guarded is None:  # read again, only when asked (an owned column to add): byte searches mostly
            guarded = guarded_ranges(self.package.read(entry.part), formulas=False)
        return [g.bounds for g in guarded if g.kind == "merged"]

    def _read_sheet(self, entry: SheetEntry) -> Rows:
        if self.guarded is None or entry.kind != "worksheet":
            return read_sheet(self.package, entry)
        data = self.package.read(entry.part)
        self.guarded[entry.name] = guarded_ranges(data)  # byte searches only, for most sheets
        self.package.cache[entry.part] = data  # read_sheet takes it from here, not from the ZIP again
        del data
        try:
            return read_sheet(self.package, entry)
        finally:
            self.package.cache.pop(entry.part, None)

    def unwritable(self, loaded: Loaded, plan: Plan) -> list[str]:
        """Sentences naming the owned cells a recode of `plan` would refuse to write (a check's warnings).

        The recode's own test (`editor.unsafe_cells`) on the cells it would write; it costs nothing
        more on sheets without merged ranges or ranged formulas in their owned columns.
        """
        risky: dict[str, list[Guarded]] = {}
        dry = FileBook(self.package)  # collects what a recode would write; never saved
        for sheet, session in loaded.session_sheets.items():
            ranges = (self.guarded or {}).get(sheet)
            if ranges:
                owned = owned_columns(dry, sheet, session.header, width=session.width, taken=session.taken)
                columns = set(owned.values())
                if ranges := [g for g in ranges if not columns.isdisjoint(g.columns)]:
                    risky[sheet] = ranges
        if not risky:
            return []
        dry = FileBook(self.package)
        dry.headers = self.headers
        write_plan(dry, loaded, plan)
        warnings = []
        for sheet, ranges in risky.items():
            changes = dry.changes.get(sheet)
            found: dict[str, list[tuple[Guarded, tuple[int, int]]]] = {}
            for guarded, cell in unsafe_cells(ranges, changes.cells) if changes else ():
                found.setdefault(guarded.kind, []).append((guarded, cell))
            for same in found.values():
                guarded, cell = same[0]
                what, fix = guarded.explained()
                more = f" (and {guarded.more(len(same) - 1)})" if len(same) > 1 else ""
                warnings.append(
                    f"A recode would refuse to write the cell {sheet}!{cell_name(cell)}, {what}{more}: "
                    f"{fix} before recoding."
                )
        return warnings

    def _changes(self, sheet: str) -> SheetChanges:
        sheet = self._name(sheet)
        changes = self.changes.get(sheet)
        if changes is None:
            changes = self.changes[sheet] = SheetChanges(created=self.package.sheet(sheet) is None)
        return changes

    def write_column(
        self, sheet: str, column: int, cells: dict[int, Any], number_format: str | None = None
    ) -> None:
        if not cells:
            return
        if column > MAX_COLUMN:
            raise CptbillError(
                f"The sheet {sheet} has no free column for {cells.get(1) or 'its results'}: a value sits in "
                f"its last column ({column_letters(MAX_COLUMN)}); delete it and try again."
            )
        if not (column >= 1 and min(cells) >= 1 and max(cells) <= MAX_ROW):
            raise ValueError(f"cells out of the sheet: column {column}, rows {min(cells)}-{max(cells)}")
        changes = self._changes(sheet)
        own = changes.created or changes.replaced
        shared: dict[tuple[type, Any], Edit] = {}  # a column repeats a few values: one edit each
        for row, value in cells.items():
            if row == 1:
                header = isinstance(value, str) and bool(value.strip())
                changes.set(row, column, Edit(value, None, bold=own and header, like_left=header))
                if header:
                    changes.header_columns.add(column)
                continue
            try:
                edit = shared.get((type(value), value))
            except TypeError:  # unhashable: its own edit
                edit = None
            if edit is None:
                edit = Edit(value, number_format)
                with contextlib.suppress(TypeError):
                    shared[(type(value), value)] = edit
            changes.set(row, column, edit)

    def append_rows(self, sheet: str, header: Sequence[str], rows: Rows) -> None:
        current = self.read(sheet)
        last = len(current)
        changes = self._changes(sheet)
        if last == 0:
            for column, name in enumerate(header, start=1):
                changes.set(1, column, Edit(name, None, bold=True, like_left=True))
            last = 1
        for offset, values in enumerate(rows, start=1):
            for column, value in enumerate(values, start=1):
                if value is not None:
                    changes.set(last + offset, column, Edit(value))
        if rows:
            changes.appended.append((last, last + len(rows)))

    def replace_rows(
        self, sheet: str, header: Sequence[str], rows: Rows, formats: Sequence[str | None] = ()
    ) -> None:
        sheet = self._name(sheet)
        exists = self.package.sheet(sheet) is not None
        changes = self.changes[sheet] = SheetChanges(created=not exists, replaced=exists)
        for column, name in enumerate(header, start=1):
            changes.set(1, column, Edit(name, None, bold=True))
        for row, values in enumerate(rows, start=2):
            for column, value in enumerate(values, start=1):
                if value is not None:
                    number_format = formats[column - 1] if column - 1 < len(formats) else None
                    changes.set(row, column, Edit(value, number_format))

    def highlight(self, sheet: str, flagged: dict[int, bool]) -> None:
        """The Flags cells written now get the flag fill, or lose it when no longer flagged.

        Only the Flags cell, which cptbill owns: the other cells of a line keep their look (the
        template's conditional formatting colours whole lines).
        """
        changes = self.changes.get(self._name(sheet))
        if changes is None:
            return
        header = [*self.headers.get(self._name(sheet), [])]
        column = next((i + 1 for i, v in enumerate(header) if header_key(v) == header_key(c.FLAGS)), None)
        if column is None:
            column = next(
                (col for col, cells in changes.cells.columns.items()
                 if 1 in cells and header_key(cells[1].value) == header_key(c.FLAGS)),
                None,
            )  # fmt: skip
        cells = changes.cells.columns.get(column or 0)
        if not cells:
            return
        variants: dict[tuple[int, bool], Edit] = {}
        for row, edit in cells.items():
            if row == 1 or row not in flagged:
                continue
            on = flagged[row] and edit.value is not None
            variant = variants.get((id(edit), on))
            if variant is None:
                variant = variants[(id(edit), on)] = Edit(
                    edit.value, edit.number_format, edit.bold, edit.like_left, on
                )
            cells[row] = variant

    def bar_chart(self, sheet: str, chart: BarChartSpec) -> None:
        self._changes(sheet).chart = chart


@dataclass
class Updated(Generic[T]):
    """What `update_file` did: the job's result, where it saved (None: nothing to save) and the backup."""

    result: T
    saved: Path | None
    backup: Path | None


def read_file(path: Path | str, progress: Progress | None = None) -> FileBook:
    """Open a workbook for reading only (a check): nothing is ever saved. Close it with `close()`."""
    path = _check_workbook(readable(path))
    _say(progress, f"Reading {path.name}")
    package = open_package(path)
    package.validate = True  # nothing is saved to check it then
    return FileBook(package, watch=True)


def update_file(
    path: Path | str,
    job: Callable[[FileBook], T],
    out: Path | str | None = None,
    force: bool = False,
    progress: Progress | None = None,
) -> Updated[T]:
    """Run `job` on the workbook and save what it wrote over it (or to `out`), safely.

    Only the cells and sheets the job writes change; every other part of the file is copied as
    it is, so nothing Excel stores is lost. `force` is accepted for older scripts and no longer
    needed. Refuses, leaving every file as it was, when the workbook cannot be read or edited
    safely, or is open in Excel. The save goes to a temporary file that replaces the target
    only when complete; the target's previous version is kept as `name.bak.xlsx`.
    """
    del force  # nothing a save loses any more: there is nothing to force
    given = Path(path)
    path = _check_workbook(readable(given))
    target = path if out is None else Path(out)
    if out is not None:
        if target.suffix.lower() not in SUFFIXES:
            raise CptbillError(f"--out {target.name} must end in .xlsx or .xlsm.")
        if target.suffix.lower() in MACRO_SUFFIXES and path.suffix.lower() not in MACRO_SUFFIXES:
            raise CptbillError(f"--out {target.name}: a workbook without macros must be saved as .xlsx.")
        if target.suffix.lower() not in MACRO_SUFFIXES and path.suffix.lower() in MACRO_SUFFIXES:
            raise CptbillError(f"--out {target.name}: a workbook with macros must be saved as .xlsm.")
        if target.exists() and target.resolve() == path.resolve():
            raise CptbillError("--out names the workbook itself; leave --out away to update it in place.")
        if not target.parent.is_dir():
            raise CptbillError(f"--out {target}: the folder {target.parent} does not exist.")
    # Checks, the lock against a second run, and the re-check before the replace (safefile).
    with updating(given, out) as update:
        _say(progress, f"Reading {path.name}")
        package = open_package(update.source)
        try:
            book = FileBook(package)
            with kept_out_of_collection():
                result = job(book)
                if not book.dirty and out is None:
                    return Updated(result=result, saved=None, backup=None)
                _say(progress, f"Saving {target.name}")
                backup = update.save(lambda stream: save(package, book.changes, stream))
        finally:
            package.close()
    return Updated(result=result, saved=target, backup=backup)


@contextlib.contextmanager
def kept_out_of_collection() -> Iterator[None]:
    """Spare the garbage collector's work while a job reads and plans (hundreds of thousands of objects).

    The objects alive now are frozen out of its view, and a collection waits for many more new
    objects than usual: each full collection would walk every cell and line again, for nothing
    (the job's objects hold no cycles worth collecting early).
    """
    if gc.get_freeze_count():  # the program froze objects itself: leave its choice alone
        yield
        return
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(max(thresholds[0], 100_000), *thresholds[1:])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


def _say(progress: Progress | None, text: str) -> None:
    if progress is not None:
        progress(text)


def _check_workbook(path: Path) -> Path:
    if not path.exists():
        raise CptbillError(f"No such file: {path}.")
    if path.is_dir():
        raise CptbillError(f"{path} is a folder, not a workbook.")
    if path.suffix.lower() == ".xlsb":
        raise CptbillError(f"{path.name} is a binary workbook (.xlsb): save it in Excel as .xlsx.")
    if path.suffix.lower() in OTHER_FORMATS:
        raise CptbillError(f"{path.name} {OTHER_FORMATS[path.suffix.lower()]}")
    if path.suffix.lower() not in SUFFIXES:
        raise CptbillError(f"{path.name} is not an Excel workbook (.xlsx or .xlsm).")
    return path


#: What to do with a spreadsheet of another format, by its extension.
OTHER_FORMATS = {
    ".xls": "is an old Excel file (.xls): save it in Excel as an Excel Workbook (.xlsx).",
    ".csv": "is a CSV file, not a workbook: open it in Excel and save it as an Excel Workbook (.xlsx).",
    ".ods": "is an OpenDocument spreadsheet: save it as Excel 2007-365 (.xlsx) in LibreOffice.",
    ".numbers": "is a Numbers file: export it to Excel (.xlsx) in Numbers (File > Export To > Excel).",
}


__all__ = ["FileBook", "Updated", "backup_path", "kept_out_of_collection", "read_file", "update_file"]
