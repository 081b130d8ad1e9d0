"""File door: a workbook on disk through openpyxl, with a fidelity guard, a backup and an atomic save."""

from __future__ import annotations

import contextlib
import gc
import re
import warnings
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import openpyxl
from openpyxl.cell import Cell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.chart import BarChart, Reference
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter, range_boundaries
from openpyxl.utils.exceptions import IllegalCharacterError
from openpyxl.worksheet.formula import ArrayFormula
from openpyxl.worksheet.table import Table, TableColumn
from openpyxl.xml.functions import fromstring  # defusedxml when installed

from cptbill.book import BarChartSpec, Rows
from cptbill.errors import CptbillError
from cptbill.safefile import backup_path, readable, replace_atomically, updating

T = TypeVar("T")
Progress = Callable[[str], None]

SUFFIXES = (".xlsx", ".xlsm", ".xltx", ".xltm")
MACRO_SUFFIXES = (".xlsm", ".xltm")
WAY_OUT = "run the recode from Excel (the cptbill add-in), or write a copy with --out NEW.xlsx --force"


class FileBook:
    """The `Book` interface over an openpyxl workbook; `dirty` says whether anything was written."""

    def __init__(self, workbook: Any, path: Path | None = None) -> None:
        self.workbook = workbook
        self.path = path  # where the results Excel saved for formulas are read from
        self.dirty = False

    def sheet_names(self) -> list[str]:
        return list(self.workbook.sheetnames)

    def read(self, sheet: str) -> Rows:
        if sheet not in self.workbook.sheetnames:
            return []
        ws = self.workbook[sheet]
        if not hasattr(ws, "iter_rows"):  # a chart sheet holds no cells
            return []
        if self.workbook.read_only:
            rows = _streamed(ws)
            formulas = any(_is_formula(v) for row in rows for v in row)
        else:
            rows, formulas = _values(ws)
        if formulas and self.path is not None:
            _use_saved_results(rows, self.path, sheet)
        return rows

    def write_column(
        self, sheet: str, column: int, cells: dict[int, Any], number_format: str | None = None
    ) -> None:
        ws = self._sheet(sheet)
        # Cells that had the same style get the same new one: one style array each would cost
        # ~60 bytes a cell. Safe because nothing restyles these cells before the save.
        restyled: dict[tuple[int, ...] | None, Any] = {}
        if cells and not (column >= 1 and min(cells) >= 1 and max(cells) <= 1048576):
            raise ValueError(f"cells out of the sheet: column {column}, rows {min(cells)}-{max(cells)}")
        existing = ws._cells  # what ws.cell() looks in, without its checks on every call
        # openpyxl checks each value it is given (type, text, formula); a column repeats a few
        # codes, units, amounts and flag texts, so each distinct one is checked once.
        bound: dict[tuple[type, Any], tuple[str, Any]] = {}
        for row, value in cells.items():
            cell = existing.get((row, column))
            if cell is None:
                cell = existing[(row, column)] = Cell(ws, row=row, column=column)
            kind = type(value)
            if kind is str or kind is int or kind is float:
                known = bound.get((kind, value))
                if known is None:
                    _set(cell, value)
                    bound[(kind, value)] = (cell.data_type, cell._value)
                else:
                    cell.data_type, cell._value = known
            else:
                _set(cell, value)
            if number_format and row > 1:
                before = None if cell._style is None else tuple(cell._style)
                style = restyled.get(before)
                if style is None:
                    if cell.number_format != number_format:
                        cell.number_format = number_format
                    restyled[before] = cell._style
                else:
                    cell._style = style
        if cells:
            ws._current_row = max(ws._current_row, max(cells))
        header = cells.get(1)
        if header is not None and str(header).strip():
            _name_table_column(ws, column, str(header))
        self.dirty = True

    def append_rows(self, sheet: str, header: Sequence[str], rows: Rows) -> None:
        if sheet not in self.workbook.sheetnames:
            ws = self.workbook.create_sheet(sheet)
            _write_header(ws, header)
            last = 1
        else:
            ws = self.workbook[sheet]
            last = _last_used_row(ws)
            if last == 0:
                _write_header(ws, header)
                last = 1
        for offset, values in enumerate(rows, start=1):
            for column, value in enumerate(values, start=1):
                if value is not None:
                    _set(ws.cell(row=last + offset, column=column), value)
        for table in ws.tables.values():  # a table ending at the old last row grows with it
            min_col, min_row, max_col, max_row = range_boundaries(table.ref)
            if max_row == last and rows:
                _set_table_ref(table, min_col, min_row, max_col, last + len(rows))
        self.dirty = True

    def replace_rows(
        self, sheet: str, header: Sequence[str], rows: Rows, formats: Sequence[str | None] = ()
    ) -> None:
        if sheet in self.workbook.sheetnames:
            ws = self.workbook[sheet]
            for merged in list(ws.merged_cells.ranges):
                ws.unmerge_cells(str(merged))
            ws.delete_rows(1, ws.max_row)
        else:
            ws = self.workbook.create_sheet(sheet)
            for column, name in enumerate(header, start=1):
                ws.column_dimensions[get_column_letter(column)].width = max(10, len(str(name)) + 4)
        _write_header(ws, header)
        for row, values in enumerate(rows, start=2):
            for column, value in enumerate(values, start=1):
                cell = ws.cell(row=row, column=column)
                _set(cell, value)
                number_format = formats[column - 1] if column - 1 < len(formats) else None
                if number_format:
                    cell.number_format = number_format
        for table in ws.tables.values():  # a program-owned table covers exactly the new content
            min_col, min_row, _, _ = range_boundaries(table.ref)
            if (min_col, min_row) == (1, 1) and header:
                table.tableColumns = [TableColumn(id=i, name=str(h)) for i, h in enumerate(header, start=1)]
                _set_table_ref(table, 1, 1, len(header), max(2, len(rows) + 1))
        self.dirty = True

    def highlight(self, sheet: str, flagged: dict[int, bool]) -> None:
        """Files show flags through the template's conditional formatting; nothing to do."""

    def bar_chart(self, sheet: str, chart: BarChartSpec) -> None:
        ws = self._sheet(sheet)
        bar = BarChart()
        bar.type = "col"
        bar.grouping = "clustered"
        bar.title = chart.title
        bar.y_axis.title = chart.y_title or None
        bar.x_axis.delete = False  # openpyxl 3.1 hides both axes unless told otherwise
        bar.y_axis.delete = False
        bar.width, bar.height = 18, 9
        for column in chart.value_columns:
            data = Reference(ws, min_col=column, min_row=chart.header_row, max_row=chart.last_row)
            bar.add_data(data, titles_from_data=True)
        categories = Reference(
            ws, min_col=chart.category_column, min_row=chart.first_row, max_row=chart.last_row
        )
        bar.set_categories(categories)
        ws._charts = []  # the newer chart replaces the older one
        ws.add_chart(bar, chart.anchor)
        self.dirty = True

    def _sheet(self, sheet: str) -> Any:
        if sheet not in self.workbook.sheetnames:
            return self.workbook.create_sheet(sheet)
        return self.workbook[sheet]


def _set(cell: Any, value: Any) -> None:
    """Put a value in a cell: text is stored as text, never as a formula, even when it starts with =."""
    try:
        cell.value = value
    except IllegalCharacterError:  # control characters, which XML cannot hold
        cell.value = ILLEGAL_CHARACTERS_RE.sub("", value)
    if cell.data_type == "f" and isinstance(value, str):
        cell.data_type = "s"


def _values(ws: Any) -> tuple[Rows, bool]:
    """A loaded sheet's values from A1, straight from its cells, and whether any is a formula.

    `iter_rows` would create an empty cell object for every gap of the range (memory, and
    empty cells written back on save), so the cells are read from where openpyxl keeps them.
    """
    height = width = 0
    for (row, column), cell in ws._cells.items():
        if cell._value is not None:
            if row > height:
                height = row
            if column > width:
                width = column
    rows: Rows = [[None] * width for _ in range(height)]
    formulas = False
    for (row, column), cell in ws._cells.items():
        if cell._value is not None:
            rows[row - 1][column - 1] = cell._value
            if cell.data_type == "f":
                formulas = True
    return rows, formulas


def _streamed(ws: Any) -> Rows:
    """A read-only sheet's values from A1."""
    ws.reset_dimensions()  # trust the cells, not a writer's stated dimensions
    with warnings.catch_warnings():  # read-only sheets parse here; update_file judges what is lost
        warnings.simplefilter("ignore")
        rows = [list(row) for row in ws.iter_rows(min_row=1, min_col=1, values_only=True)]
    while rows and all(v is None for v in rows[-1]):
        rows.pop()
    return rows


def _is_formula(value: Any) -> bool:
    return isinstance(value, ArrayFormula) or (isinstance(value, str) and value.startswith("="))


def _use_saved_results(rows: Rows, path: Path, sheet: str) -> None:
    """Put the result Excel last saved in place of each formula (minutes worked out from times...).

    A formula with no saved result (the file was never opened and saved by a spreadsheet
    application) stays as it is, and the line gets a flag saying so.
    """
    computed = _load(path, read_only=True, data_only=True)
    try:
        saved = _streamed(computed[sheet])
    finally:
        _close(computed)
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            if _is_formula(value) and r < len(saved) and c < len(saved[r]) and saved[r][c] is not None:
                row[c] = saved[r][c]


def _write_header(ws: Any, header: Sequence[str]) -> None:
    bold = Font(bold=True)
    for column, name in enumerate(header, start=1):
        cell = ws.cell(row=1, column=column)
        _set(cell, name)
        cell.font = bold
    ws.freeze_panes = ws.freeze_panes or "A2"


def _last_used_row(ws: Any) -> int:
    return max((row for (row, _), cell in ws._cells.items() if cell.value is not None), default=0)


def _set_table_ref(table: Table, min_col: int, min_row: int, max_col: int, max_row: int) -> None:
    table.ref = f"{get_column_letter(min_col)}{min_row}:{get_column_letter(max_col)}{max_row}"
    if table.autoFilter is not None:
        table.autoFilter.ref = table.ref


def _name_table_column(ws: Any, column: int, name: str) -> None:
    """Keep a table whose header row is row 1 valid when a header cell in or beside it is written."""
    for table in ws.tables.values():
        min_col, min_row, max_col, max_row = range_boundaries(table.ref)
        if min_row != 1 or table.headerRowCount == 0:
            continue
        if min_col <= column <= max_col and column - min_col < len(table.tableColumns):
            table.tableColumns[column - min_col].name = name
        elif column == max_col + 1:
            next_id = max((col.id for col in table.tableColumns), default=0) + 1
            table.tableColumns.append(TableColumn(id=next_id, name=name))
            _set_table_ref(table, min_col, min_row, column, max_row)


# ---------------------------------------------------------------------------------------------
# Opening, guarding and saving


@dataclass
class Updated(Generic[T]):
    """What `update_file` did: the job's result, where it saved (None: nothing to save) and the backup."""

    result: T
    saved: Path | None
    backup: Path | None


def read_file(path: Path | str, progress: Progress | None = None) -> FileBook:
    """Open a workbook for reading only (a check): nothing is ever saved."""
    path = _check_workbook(readable(path))
    _say(progress, f"Reading {path.name}")
    return FileBook(_load(path, read_only=True), path)


def update_file(
    path: Path | str,
    job: Callable[[FileBook], T],
    out: Path | str | None = None,
    force: bool = False,
    progress: Progress | None = None,
) -> Updated[T]:
    """Run `job` on the workbook and save the result over it (or to `out`), safely.

    Refuses, leaving every file as it was, when the workbook cannot be read, is open in
    Excel, or holds features an openpyxl save would lose (unless `out` and `force`).
    The save goes to a temporary file that replaces the target only when complete; the
    target's previous version is kept as `name.bak.xlsx`.
    """
    path = Path(path)
    target = path if out is None else Path(out)
    if force and out is None:
        raise CptbillError(
            "--force only works with --out NEW.xlsx: the original is never overwritten by force."
        )
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
    forced = out is not None and force
    # Checks, the lock against a second run, and the re-check before the replace (safefile).
    with updating(path, out) as update:
        path = _check_workbook(update.source)
        _say(progress, f"Inspecting {path.name}")
        features = at_risk_features(path)
        if features and not forced:
            raise _fidelity_error(path, features)
        _say(progress, f"Reading {path.name}")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            workbook = _load(path, read_only=False)
        try:
            features = _lost_on_load(path, workbook, caught)
            if features and not forced:
                raise _fidelity_error(path, features)
            book = FileBook(workbook, path)
            with _kept_out_of_collection():
                result = job(book)
                if not book.dirty and out is None:
                    return Updated(result=result, saved=None, backup=None)
                _say(progress, f"Saving {target.name}")
                backup = update.save(workbook.save)
        finally:
            _close(workbook)
    return Updated(result=result, saved=target, backup=backup)


@contextlib.contextmanager
def _kept_out_of_collection() -> Iterator[None]:
    """Keep the objects alive now, the loaded workbook above all, out of garbage collection.

    A loaded workbook is hundreds of thousands of objects that all live until the save. Each
    full collection that the job's and the save's allocations trigger would walk every one of
    them again, for nothing: on a 50,000-line workbook that is seconds. `gc.freeze` takes them
    out of the collector's view until `gc.unfreeze` gives them back.
    """
    if gc.get_freeze_count():  # the program froze objects itself: leave its choice alone
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def save_atomically(workbook: Any, target: Path) -> Path | None:
    """Save to a temporary file beside `target`, then replace it; return the backup of the old one."""
    return replace_atomically(target, workbook.save)


def _say(progress: Progress | None, text: str) -> None:
    if progress is not None:
        progress(text)


def _check_workbook(path: Path) -> Path:
    if not path.exists():
        raise CptbillError(f"No such file: {path}.")
    if path.is_dir():
        raise CptbillError(f"{path} is a folder, not a workbook.")
    if path.suffix.lower() not in SUFFIXES or not zipfile.is_zipfile(path):
        raise CptbillError(f"{path.name} is not an Excel workbook (.xlsx or .xlsm).")
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
    except (OSError, zipfile.BadZipFile):
        raise CptbillError(f"{path.name} is not an Excel workbook (.xlsx or .xlsm).") from None
    if "[Content_Types].xml" not in names or not any(n.startswith("xl/") for n in names):
        raise CptbillError(f"{path.name} is not an Excel workbook (.xlsx or .xlsm).")
    return path


def _load(path: Path, read_only: bool, data_only: bool = False) -> Any:
    keep_vba = path.suffix.lower() in MACRO_SUFFIXES and not read_only
    try:
        with warnings.catch_warnings():
            if read_only:
                warnings.simplefilter("ignore")
            return openpyxl.load_workbook(
                path, read_only=read_only, keep_vba=keep_vba, rich_text=False, data_only=data_only
            )
    except Exception as error:
        raise CptbillError(
            f"{path.name} could not be read as a workbook ({type(error).__name__}); "
            "open it in Excel and save it again as .xlsx."
        ) from None


def _close(workbook: Any) -> None:
    with contextlib.suppress(Exception):
        if getattr(workbook, "vba_archive", None) is not None:
            workbook.vba_archive.close()
        workbook.close()


def _fidelity_error(path: Path, features: Sequence[str]) -> CptbillError:
    named = list(dict.fromkeys(features))
    listed = named[0] if len(named) == 1 else ", ".join(named[:-1]) + " and " + named[-1]
    return CptbillError(f"{path.name} holds {listed}, which saving it here would lose; {WAY_OUT}.")


# ---------------------------------------------------------------------------------------------
# The fidelity guard: parts of a workbook that an openpyxl load-and-save loses or damages

X14 = "http://schemas.microsoft.com/office/spreadsheetml/2009/9/main"
X15 = "http://schemas.microsoft.com/office/spreadsheetml/2010/11/main"
MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
XDR = "http://schemas.openxmlformats.org/drawingml/2006/spreadsheetDrawing"
CHART_URI = "http://schemas.openxmlformats.org/drawingml/2006/chart"

_PARTS = (
    ("xl/metadata.xml", "dynamic-array formulas"),
    ("xl/richData/", "pictures in cells or linked data types"),
    ("xl/threadedComments/", "threaded comments"),
    ("xl/slicers/", "slicers"),
    ("xl/slicerCaches/", "slicers"),
    ("xl/timelines/", "timelines"),
    ("xl/timelineCaches/", "timelines"),
    ("xl/ctrlProps/", "form controls"),
    ("xl/activeX/", "ActiveX controls"),
    ("xl/embeddings/", "embedded objects"),
    ("xl/connections.xml", "data connections"),
    ("xl/queryTables/", "query tables"),
    ("xl/model/", "a data model"),
)
#: Worksheet extensions (children of the sheet's extLst), by element name.
_SHEET_EXTENSIONS = {
    f"{{{X14}}}conditionalFormattings": "conditional formatting of Excel 2010 or later (data bars, icon sets)",
    f"{{{X14}}}dataValidations": "data validation lists stored as an Excel 2010 extension",
    f"{{{X14}}}sparklineGroups": "sparklines",
    f"{{{X14}}}slicerList": "slicers",
    f"{{{X15}}}slicerList": "slicers",
    f"{{{X15}}}timelineRefs": "timelines",
    f"{{{X14}}}protectedRanges": "protected ranges",
}
_SHEET_ELEMENTS = {
    f"{{{MAIN}}}controls": "form controls",
    f"{{{MAIN}}}oleObjects": "embedded objects",
    f"{{{MAIN}}}picture": "a sheet background picture",
    f"{{{MAIN}}}legacyDrawingHF": "pictures in page headers or footers",
}
_SHEET_START = re.compile(rb"<(?:\w+:)?worksheet\b[^>]*>")
_SHEET_DATA_END = re.compile(rb"</(?:\w+:)?sheetData>|<(?:\w+:)?sheetData\s*/>")
_VML_OBJECT = re.compile(rb'ObjectType\s*=\s*"(\w+)"')


@dataclass
class _Drawings:
    charts: int = 0
    pictures: int = 0


def at_risk_features(path: Path | str) -> list[str]:
    """Names of the workbook's features that an openpyxl load-and-save would lose (read from the zip)."""
    features: list[str] = []
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        for prefix, feature in _PARTS:
            if any(n == prefix or (prefix.endswith("/") and n.startswith(prefix)) for n in names):
                features.append(feature)
        for name in names:
            if re.fullmatch(r"xl/worksheets/[^/]+\.xml", name):
                features += _sheet_features(_outside_cells(archive, name))
            elif re.fullmatch(r"xl/drawings/[^/]+\.xml", name):
                features += _drawing_features(archive.read(name), _Drawings())
            elif name.startswith("xl/drawings/") and name.endswith(".vml"):
                kinds = {m.decode() for m in _VML_OBJECT.findall(archive.read(name))}
                if kinds - {"Note"}:
                    features.append("form controls")
    return list(dict.fromkeys(features))


_SHEET_DATA_START = re.compile(rb"<(?:\w+:)?sheetData\b[^>]*>")
_CHUNK = 1 << 16  # below the allocator's mmap threshold, so reading leaves no high-water mark
_OVERLAP = 256  # longer than any closing sheetData tag split between two chunks


def _outside_cells(archive: zipfile.ZipFile, name: str) -> bytes:
    """A worksheet's XML without the rows inside its sheetData, read in small pieces.

    The guard only looks around the cells; reading a large sheet whole would cost its full
    size in memory, which the allocator then keeps for the rest of the run.
    """
    with archive.open(name) as stream:
        head = b""
        opening = None
        while opening is None:
            chunk = stream.read(_CHUNK)
            if not chunk:
                return head
            head += chunk
            opening = _SHEET_DATA_START.search(head)
        if opening.group(0).endswith(b"/>"):
            return head + stream.read()
        kept, window = head[: opening.end()], head[opening.end() :]
        while True:
            # A plain search first: the regular expression is slow over megabytes of cells.
            closing = _SHEET_DATA_END.search(window) if b"sheetData" in window else None
            if closing:
                return kept + window[closing.start() :] + stream.read()
            chunk = stream.read(_CHUNK)
            if not chunk:
                break
            window = window[-_OVERLAP:] + chunk
    return archive.read(name)  # cells without an end: the guard judges the sheet as it is


def _sheet_features(xml: bytes) -> list[str]:
    """Features found after the cells of one worksheet (its extensions and controls)."""
    start = _SHEET_START.search(xml)
    end = _SHEET_DATA_END.search(xml)
    if start is None:
        return []
    tail = xml[end.end() :] if end else xml[start.end() :]
    prefix = re.match(rb"<(\w+:)?", start.group(0))
    closing = b"</" + ((prefix.group(1) or b"") if prefix else b"") + b"worksheet>"
    try:
        root = fromstring(start.group(0) + tail[: tail.rfind(b"</")] + closing)
    except Exception:  # malformed, or refused by defusedxml
        return ["parts cptbill cannot read safely"]
    features = []
    for element in root:
        if element.tag in _SHEET_ELEMENTS:
            features.append(_SHEET_ELEMENTS[element.tag])
        elif element.tag.endswith("}AlternateContent"):
            features += [_SHEET_ELEMENTS[e.tag] for e in element.iter() if e.tag in _SHEET_ELEMENTS]
        elif element.tag == f"{{{MAIN}}}extLst":
            for ext in element:
                kinds = [_SHEET_EXTENSIONS.get(child.tag) for child in ext]
                features += [k for k in kinds if k] or ["Excel extension data"]
    return features


def _drawing_features(xml: bytes, found: _Drawings) -> list[str]:
    """Shapes and other drawing objects openpyxl drops; counts the charts and pictures it keeps."""
    try:
        root = fromstring(xml)
    except Exception:  # malformed, or refused by defusedxml
        return ["drawings cptbill cannot read safely"]
    features = []
    for anchor in root:
        for item in anchor:
            tag = item.tag.rpartition("}")[2]
            if tag in ("from", "to", "pos", "ext", "clientData"):
                continue
            if tag == "pic":
                found.pictures += 1
            elif tag == "graphicFrame" and any(
                e.tag.endswith("}graphicData") and e.get("uri") == CHART_URI for e in item.iter()
            ):
                found.charts += 1
            elif tag in ("sp", "grpSp", "cxnSp"):
                features.append("text boxes or shapes")
            elif tag == "AlternateContent":
                features.append("drawing objects of newer Excel versions (e.g. new chart types)")
            else:
                features.append("drawing objects such as SmartArt or ink")
    return features


def _lost_on_load(path: Path, workbook: Any, caught: Sequence[warnings.WarningMessage]) -> list[str]:
    """What the loaded workbook lacks compared with the file: charts, pictures, openpyxl's own warnings."""
    found = _Drawings()
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            if re.fullmatch(r"xl/drawings/[^/]+\.xml", name):
                _drawing_features(archive.read(name), found)
    kept_charts = sum(len(getattr(ws, "_charts", ())) for ws in workbook._sheets)
    kept_pictures = sum(len(getattr(ws, "_images", ())) for ws in workbook._sheets)
    features = []
    if kept_charts < found.charts:
        features.append("charts that cptbill cannot read")
    if kept_pictures < found.pictures:
        features.append(_pictures_lost())
    for warning in caught:
        text = str(warning.message)
        if re.search(r"will be (removed|lost|discarded)|dropped|discarded|ignored", text):
            features.append(f"parts cptbill cannot keep ({text.rstrip('.')})")
    return features


def _pictures_lost() -> str:
    try:
        import PIL  # noqa: F401
    except ImportError:
        return "pictures (install Pillow to keep them)"
    return "pictures in a format cptbill cannot keep"


__all__ = [
    "FileBook",
    "Updated",
    "at_risk_features",
    "backup_path",
    "read_file",
    "save_atomically",
    "update_file",
]
