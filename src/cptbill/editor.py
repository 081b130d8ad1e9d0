"""Writing an .xlsx surgically: only the cells, sheets and parts cptbill owns change; every other part is copied."""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import io
import itertools
import math
import re
import shutil
import tempfile
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property
from typing import IO, Any

from lxml import etree

from cptbill.book import BarChartSpec
from cptbill.errors import CptbillError
from cptbill.ooxml import (
    CONTENT_TYPES,
    PACKAGE_REL,
    PARSER,
    Package,
    SheetEntry,
    column_letters,
    column_number,
    damaged,
    range_bounds,
    range_ref,
    rels_name,
    split_ref,
    well_formed,
)

DATE_FORMAT = "yyyy-mm-dd"
DATETIME_FORMAT = "yyyy-mm-dd hh:mm"
TIME_FORMAT = "hh:mm"
MAX_WIDTH = 60
DAYS_1900_TO_1904 = 1462  # a date's serial in the 1904 date system is this much smaller
FLAG_FILL = "FFFFEB9C"  # flagged Flags cells, in the colour the add-in gives flagged lines
WORKSHEET_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"
#: Number formats Excel knows by id (ECMA-376 18.8.30).
BUILTIN_FORMATS = {"General": 0, "0": 1, "0.00": 2, "#,##0": 3, "#,##0.00": 4, "0%": 9, "0.00%": 10, "@": 49}


@dataclass(slots=True)
class Edit:
    """A value cptbill writes into one cell, with its number format and header look."""

    value: Any
    number_format: str | None = None
    bold: bool = False
    like_left: bool = False  # a new header cell: styled like the header cell on its left
    flagged: bool | None = None  # a Flags cell: give it the flag fill (True) or take it away (False)


class Cells(Mapping[int, dict[int, Edit]]):
    """The edits of one sheet, row -> {column: edit}, kept by column (a few large dicts, not one per row)."""

    def __init__(self) -> None:
        self.columns: dict[int, dict[int, Edit]] = {}
        self.rows: set[int] = set()
        self._ordered: list[tuple[int, dict[int, Edit]]] = []

    def set(self, row: int, column: int, edit: Edit) -> None:
        cells = self.columns.get(column)
        if cells is None:
            cells = self.columns[column] = {}
            self._ordered = sorted(self.columns.items())
        cells[row] = edit
        self.rows.add(row)

    def __getitem__(self, row: int) -> dict[int, Edit]:
        if row not in self.rows:
            raise KeyError(row)
        return {c: cells[row] for c, cells in self._ordered if row in cells}

    def __iter__(self) -> Iterator[int]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def __contains__(self, row: object) -> bool:
        return row in self.rows


@dataclass
class SheetChanges:
    """What a job changed on one sheet, applied when the workbook is saved."""

    cells: Cells = field(default_factory=Cells)  # row -> column -> edit
    created: bool = False  # a sheet cptbill adds
    replaced: bool = False  # a program-owned sheet whose content is exactly `cells`
    appended: list[tuple[int, int]] = field(default_factory=list)  # (last row before, last row after)
    header_columns: set[int] = field(default_factory=set)  # header cells written in row 1
    chart: BarChartSpec | None = None

    def set(self, row: int, column: int, edit: Edit) -> None:
        self.cells.set(row, column, edit)


# ---------------------------------------------------------------------------------------------
# Cell XML


_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]|_(?=x[0-9A-Fa-f]{4}_)")


def _escape_text(text: str) -> str:
    """Text as XML character data (xml.sax.saxutils.escape, whose import pulls in urllib and http)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _excel_text(text: str) -> str:
    """Text as Excel stores it: characters XML cannot hold as `_xHHHH_`, a literal `_x0041_` kept."""
    if not _ILLEGAL.search(text):
        return text
    return _ILLEGAL.sub(lambda m: "_x005F_" if m.group() == "_" else f"_x{ord(m.group()):04X}_", text)


def _serial(value: dt.date | dt.datetime | dt.time) -> float:
    if isinstance(value, dt.datetime):
        delta = value.replace(tzinfo=None) - dt.datetime(1899, 12, 30)
        return delta.days + delta.seconds / 86400 + delta.microseconds / 86_400_000_000
    if isinstance(value, dt.date):
        return float((value - dt.date(1899, 12, 30)).days)
    return (value.hour * 3600 + value.minute * 60 + value.second + value.microsecond / 1e6) / 86400


def _number_text(value: float | int) -> str:
    if isinstance(value, int):
        return str(value)
    if not math.isfinite(value):
        raise CptbillError("A number to write is not finite; nothing was saved.")
    text = repr(value)
    return text[:-2] if text.endswith(".0") else text


def default_format(value: Any) -> str | None:
    """The number format a value needs to read right (dates), when none is given."""
    if isinstance(value, dt.datetime):
        return DATETIME_FORMAT if value.time() != dt.time() else DATE_FORMAT
    if isinstance(value, dt.date):
        return DATE_FORMAT
    if isinstance(value, dt.time):
        return TIME_FORMAT
    return None


def cell_xml(prefix: str, ref: str, value: Any, style: int | None) -> str:
    """One `<c>` element; text always as an inline string (never a formula, whatever it starts with)."""
    s = f' s="{style}"' if style else ""
    if value is None or value == "":
        return f'<{prefix}c r="{ref}"{s}/>' if style else ""
    if isinstance(value, bool):
        return f'<{prefix}c r="{ref}"{s} t="b"><{prefix}v>{int(value)}</{prefix}v></{prefix}c>'
    if isinstance(value, int | float | Decimal):
        number = float(value) if isinstance(value, Decimal) else value
        return f'<{prefix}c r="{ref}"{s}><{prefix}v>{_number_text(number)}</{prefix}v></{prefix}c>'
    if isinstance(value, dt.date | dt.time):
        return f'<{prefix}c r="{ref}"{s}><{prefix}v>{_number_text(_serial(value))}</{prefix}v></{prefix}c>'
    text = _excel_text(str(value))
    space = ' xml:space="preserve"' if text != text.strip() or "\n" in text else ""
    return (
        f'<{prefix}c r="{ref}"{s} t="inlineStr"><{prefix}is><{prefix}t{space}>'
        f"{_escape_text(text)}</{prefix}t></{prefix}is></{prefix}c>"
    )


# ---------------------------------------------------------------------------------------------
# styles.xml: formats appended, never renumbered


def _xf_key(xf: etree._Element) -> bytes:
    """A cell format compared by its attributes and children, whatever their order."""
    return repr((sorted(xf.attrib.items()), [etree.tostring(child) for child in xf])).encode()


class Styles:
    """The workbook's cell formats; new ones are appended (existing indices never move)."""

    def __init__(self, package: Package) -> None:
        self.package = package
        self.part = package.part_of_type("styles")
        self.root: etree._Element | None = None
        self.changed = False
        self.made: dict[tuple[int, str | None, bool, bool | None], int] = {}
        self.existing: dict[bytes, int] | None = None  # each cell format's XML -> its first index
        # Each shared edit's cell XML after its reference, by (edit, base style, prefix).
        self.tails: dict[tuple[int, int | None, str], tuple[Edit, str]] = {}

    def _tree(self) -> etree._Element:
        if self.root is None:
            if self.part is None:
                raise CptbillError(f"{self.package.path.name} has no styles part; open and save it in Excel.")
            self.root = self.package.xml(self.part)
        return self.root

    def _ns(self) -> str:
        return f"{{{etree.QName(self._tree()).namespace}}}"

    def _list(self, name: str) -> etree._Element:
        root, ns = self._tree(), self._ns()
        found = root.find(ns + name)
        if found is None:
            order = ["numFmts", "fonts", "fills", "borders", "cellStyleXfs", "cellXfs"]
            found = etree.Element(ns + name)
            later = [root.find(ns + n) for n in order[order.index(name) + 1 :]]
            anchor = next((e for e in later if e is not None), None)
            if anchor is not None:
                anchor.addprevious(found)
            else:
                root.insert(0, found)
        return found

    def style(
        self, base: int | None, number_format: str | None, bold: bool = False, flagged: bool | None = None
    ) -> int | None:
        """The index of a format like `base` with `number_format`, bold, and the flag fill on or off
        (`flagged` None: the fill as it is), appended when new."""
        if number_format is None and not bold and flagged is None:
            return base
        key = (base or 0, number_format, bold, flagged)
        if key in self.made:
            return self.made[key]
        ns = self._ns()
        xfs = self._list("cellXfs")
        existing = [x for x in xfs if isinstance(x.tag, str)]
        source = existing[base or 0] if (base or 0) < len(existing) else None
        xf = copy.deepcopy(source) if source is not None else etree.Element(ns + "xf")
        for name in ("numFmtId", "fontId", "fillId", "borderId"):
            xf.set(name, xf.get(name, "0"))
        if source is None:
            xf.set("xfId", "0")
        changed = False
        if number_format is not None:
            number = self._number_format(number_format)
            if xf.get("numFmtId") != str(number):
                xf.set("numFmtId", str(number))
                xf.set("applyNumberFormat", "1")
                changed = True
        if bold:
            font = self._bold_font(int(xf.get("fontId", "0")))
            if font != int(xf.get("fontId", "0")):
                xf.set("fontId", str(font))
                xf.set("applyFont", "1")
                changed = True
        if flagged is not None:
            flag_fill = self._flag_fill(create=flagged)
            if flagged and flag_fill is not None and xf.get("fillId") != str(flag_fill):
                xf.set("fillId", str(flag_fill))
                xf.set("applyFill", "1")
                changed = True
            elif flagged and flag_fill is None:
                pass
            elif not flagged and flag_fill is not None and xf.get("fillId") == str(flag_fill):
                xf.set("fillId", "0")  # the flag fill cptbill put there goes
                changed = True
        if not changed:
            self.made[key] = base or 0
            return base
        # A format an earlier run appended is used again: the file does not grow run after run.
        if self.existing is None:
            self.existing = {_xf_key(e): i for i, e in reversed(list(enumerate(existing)))}
        index = self.existing.get(_xf_key(xf))
        if index is None:
            xfs.append(xf)
            xfs.set("count", str(len(existing) + 1))
            self.changed = True
            index = self.existing[_xf_key(xf)] = len(existing)
        self.made[key] = index
        return index

    def _flag_fill(self, create: bool) -> int | None:
        """The index of the fill of flagged Flags cells (the add-in's colour), appended when missing."""
        fills = self._list("fills")
        ns = self._ns()
        wanted = etree.Element(ns + "fill", nsmap={None: ns[1:-1]})
        pattern = etree.SubElement(wanted, ns + "patternFill", patternType="solid")
        etree.SubElement(pattern, ns + "fgColor", rgb=FLAG_FILL)
        etree.SubElement(pattern, ns + "bgColor", indexed="64")
        existing = [f for f in fills if isinstance(f.tag, str)]
        if len(existing) < 2:  # fills 0 and 1 are Excel's own: a file without them is left alone
            return None
        known = etree.tostring(wanted)
        for i, fill in enumerate(existing):
            if etree.tostring(fill) == known:
                return i
        if not create:
            return None
        fills.append(wanted)
        fills.set("count", str(len(existing) + 1))
        self.changed = True
        return len(existing)

    def _number_format(self, code: str) -> int:
        """The id of a number format: built in, already in the file, or appended."""
        if code in BUILTIN_FORMATS:
            return BUILTIN_FORMATS[code]
        formats = self._list("numFmts")
        used = [200]
        for element in formats:
            if not isinstance(element.tag, str):
                continue
            if element.get("formatCode") == code:
                return int(element.get("numFmtId", "0"))
            used.append(int(element.get("numFmtId", "0")) + 1)
        number = max(164, *used) if used else 164
        element = etree.SubElement(formats, self._ns() + "numFmt")
        element.set("numFmtId", str(number))
        element.set("formatCode", code)
        formats.set("count", str(len([e for e in formats if isinstance(e.tag, str)])))
        self.changed = True
        return number

    def _bold_font(self, font_id: int) -> int:
        fonts = self._list("fonts")
        existing = [f for f in fonts if isinstance(f.tag, str)]
        ns = self._ns()
        if font_id < len(existing) and existing[font_id].find(ns + "b") is not None:
            return font_id
        font = copy.deepcopy(existing[font_id]) if font_id < len(existing) else etree.Element(ns + "font")
        font.insert(0, etree.Element(ns + "b"))
        same = next((i for i, f in enumerate(existing) if etree.tostring(f) == etree.tostring(font)), None)
        if same is not None:
            return same
        fonts.append(font)
        fonts.set("count", str(len(existing) + 1))
        self.changed = True
        return len(existing)

    def serialized(self) -> bytes | None:
        if not self.changed or self.root is None:
            return None
        return serialize(self.root)


# ---------------------------------------------------------------------------------------------
# Splicing a sheet: rows with edits are rewritten, every other byte is copied


_QUOTED_ATTRS = rb"(?:[^>\"']|\"[^\"]*\"|'[^']*')*?"
_SHEET_DATA = re.compile(
    rb"<!--.*?-->|<!\[CDATA\[.*?\]\]>|<\?.*?\?>|<((?:[\w.-]+:)?)sheetData\b" + _QUOTED_ATTRS + rb"(/?)>", re.S
)
_ROW_OR_END = re.compile(
    rb"<!--.*?-->|<!\[CDATA\[.*?\]\]>|<\?.*?\?>"
    rb"|<(?:[\w.-]+:)?row\b(" + _QUOTED_ATTRS + rb")(/?)>"
    rb"|</(?:[\w.-]+:)?sheetData\s*>",
    re.S,
)
_CELL = re.compile(rb"<(?:[\w.-]+:)?c\b(" + _QUOTED_ATTRS + rb")(?:/>|>(.*?)</(?:[\w.-]+:)?c\s*>)", re.S)
_ATTR = re.compile(rb"([\w:.-]+)\s*=\s*(?:\"([^\"]*)\"|'([^']*)')")
_DIMENSION = re.compile(
    rb"<((?:[\w.-]+:)?)dimension\b" + _QUOTED_ATTRS + rb"/?>(?:\s*</(?:[\w.-]+:)?dimension>)?"
)
_MERGE = re.compile(rb"<(?:[\w.-]+:)?mergeCell\b[^>]*?\bref\s*=\s*(?:\"([^\"]+)\"|'([^']+)')")
_FORMULA = re.compile(rb"<(?:[\w.-]+:)?f[\s>/]")
#: A `<col>` element: (prefix, attributes); written `<col/>` or `<col></col>`.
_COLS = re.compile(rb"<((?:[\w.-]+:)?)col\b(" + _QUOTED_ATTRS + rb")(?:/>|>\s*</(?:[\w.-]+:)?col\s*>)")


def _attrs(raw: bytes) -> dict[str, str]:
    return {m.group(1).decode(): (m.group(2) or m.group(3) or b"").decode() for m in _ATTR.finditer(raw)}


_SHEET_FORMAT = re.compile(rb"<(?:[\w.-]+:)?sheetFormatPr\b(" + _QUOTED_ATTRS + rb")/?>")


def shown_row_attributes(zero_height: str | None, default_height: str | None) -> str:
    """The row attributes that keep a new row visible on a sheet saved with Excel's "hide unused
    rows" (`sheetFormatPr zeroHeight`), where a row without a height of its own is hidden."""
    if zero_height not in ("1", "true"):
        return ""
    try:
        height = float(default_height or "15")
    except ValueError:
        height = 15.0
    if not 0 < height <= 409:  # Excel's largest row height
        height = 15.0
    return f' ht="{height:g}" customHeight="1"'


def _new_row_attributes(head: bytes) -> str:
    match = _SHEET_FORMAT.search(head)
    if match is None:
        return ""
    attrs = _attrs(match.group(1))
    return shown_row_attributes(attrs.get("zeroHeight"), attrs.get("defaultRowHeight"))


@dataclass
class Spliced:
    data: IO[bytes]  # a temporary file: a large sheet is not held twice in memory
    formulas_overwritten: bool


class _Sink:
    """Pieces of a part written straight to a temporary file."""

    def __init__(self) -> None:
        self.file: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 - closed once copied into the ZIP

    def append(self, piece: bytes) -> None:
        self.file.write(piece)


def splice_sheet(package: Package, entry: SheetEntry, changes: SheetChanges, styles: Styles) -> Spliced:
    """The sheet's XML with `changes.cells` written; bytes outside the changed rows are copied."""
    data = package.read(entry.part)
    well_formed(package, data, f"the sheet {entry.name}")
    start = _find_sheet_data(data)
    if start is None:
        raise damaged(package.path, f"is damaged (the sheet {entry.name} has no cells part)")
    prefix = start.group(1).decode()
    edits = changes.cells
    _refuse_unsafe_cells(entry, data, edits)
    if not _rows_in_order(data, start.end()):  # Excel itself would have to repair such a sheet
        raise damaged(package.path, f"is damaged (the rows of the sheet {entry.name} are out of order)")
    column_styles = _ColumnStyles(data[: start.start()])
    shown = _new_row_attributes(data[: start.start()])
    out = _Sink()
    pending = sorted(edits)
    next_edit = 0
    formulas = False
    if start.group(2):  # <sheetData/>: no rows at all
        head, body_start, tail = data[: start.start()], None, data[start.end() :]
        rows_out = [_new_row(prefix, r, edits[r], styles, column_styles, shown) for r in pending]
        body = (
            b"<"
            + prefix.encode()
            + b"sheetData>"
            + b"".join(rows_out)
            + b"</"
            + prefix.encode()
            + b"sheetData>"
        )
        out.append(_with_added_columns(_with_dimension(head, edits), changes) + body + tail)
        return Spliced(out.file, False)
    body_start = start.end()
    out_head = _with_added_columns(_with_dimension(data[: start.start()], edits), changes)
    out.append(out_head)
    out.append(data[start.start() : body_start])
    position = body_start
    row_number = 0
    end_of_data = None
    search = _ROW_OR_END.search
    cursor = body_start
    while next_edit < len(pending):
        token = search(data, cursor)
        if token is None:
            break
        cursor = token.end()
        if token.group(1) is None:
            if token.group(0).startswith(b"</"):  # the end of sheetData
                end_of_data = token.start()
                break
            continue  # a comment, CDATA or processing instruction
        row_ref = _attribute(token.group(1), b"r")
        row_number = int(row_ref) if row_ref else row_number + 1
        if pending[next_edit] > row_number and row_ref is not None:
            continue
        while next_edit < len(pending) and pending[next_edit] < row_number:
            out.append(data[position : token.start()])
            position = token.start()
            r = pending[next_edit]
            out.append(_new_row(prefix, r, edits[r], styles, column_styles, shown))
            next_edit += 1
        if next_edit < len(pending) and pending[next_edit] == row_number:
            if token.group(2):  # <row .../>
                row_end = token.end()
                content = b""
            else:
                close = _CLOSE_ROW.search(data, token.end())
                if close is None:
                    raise damaged(package.path, f"is damaged (the sheet {entry.name} cannot be read)")
                row_end = close.end()
                content = data[token.end() : close.start()]
            out.append(data[position : token.start()])
            row_bytes, had_formula = _splice_row(
                prefix, row_number, token.group(0), content, edits[row_number], styles, column_styles, package,
                entry, row_ref is None,
            )  # fmt: skip
            formulas = formulas or had_formula
            out.append(row_bytes)
            position = cursor = row_end
            next_edit += 1
    if end_of_data is None:
        end_match = re.compile(rb"</(?:[\w.-]+:)?sheetData\s*>").search(data, position)
        if end_match is None:
            raise damaged(package.path, f"is damaged (the sheet {entry.name} cannot be read)")
        end_of_data = end_match.start()
    out.append(data[position:end_of_data])
    while next_edit < len(pending):
        r = pending[next_edit]
        out.append(_new_row(prefix, r, edits[r], styles, column_styles, shown))
        next_edit += 1
    out.append(data[end_of_data:])
    return Spliced(out.file, formulas)


_PLAIN_ROW = re.compile(rb'<row r="(\d+)"')


def _rows_in_order(data: bytes, start: int) -> bool:
    """Whether the rows' numbers only grow (one scan of the tags; every row looked at when unusual)."""
    numbers = [int(n) for n in _PLAIN_ROW.findall(data, start)]
    if len(numbers) != data.count(b"<row ", start) or b"<row>" in data or b":row" in data:
        numbers = []
        number = 0
        for token in _ROW_OR_END.finditer(data, start):
            if token.group(1) is None:
                if token.group(0).startswith(b"</"):
                    break
                continue
            ref = _attribute(token.group(1), b"r")
            number = int(ref) if ref else number + 1
            numbers.append(number)
    return all(a < b for a, b in itertools.pairwise(numbers))


def _find_sheet_data(data: bytes) -> re.Match[bytes] | None:
    for match in _SHEET_DATA.finditer(data):
        if match.group(2) is not None:
            return match
    return None


_CLOSE_ROW = re.compile(rb"</(?:[\w.-]+:)?row\s*>")


class _ColumnStyles:
    """The style of each column (`<col style=..>`), which new cells in it take."""

    def __init__(self, head: bytes) -> None:
        self.ranges: list[tuple[int, int, int]] = []
        self.known: dict[int, int | None] = {}
        for match in _COLS.finditer(head):
            attrs = _attrs(match.group(2))
            if "style" in attrs:
                try:
                    self.ranges.append((int(attrs["min"]), int(attrs["max"]), int(attrs["style"])))
                except (KeyError, ValueError):
                    continue

    def __call__(self, column: int) -> int | None:
        if column in self.known:
            return self.known[column]
        found = next((style for low, high, style in self.ranges if low <= column <= high), None)
        self.known[column] = found
        return found


_TAILS: dict[tuple[str, type, Any, int | None], str] = {}


def _edit_xml(prefix: str, row: int, column: int, edit: Edit, base: int | None, styles: Styles) -> str:
    known = styles.tails.get((id(edit), base, prefix))
    if known is not None and known[0] is edit:  # edits are shared by the cells of equal value
        tail = known[1]
        return f'<{prefix}c r="{column_letters(column)}{row}"{tail}' if tail else ""
    tail = _tail(prefix, edit, base, styles)
    styles.tails[(id(edit), base, prefix)] = (edit, tail)
    return f'<{prefix}c r="{column_letters(column)}{row}"{tail}' if tail else ""


def _tail(prefix: str, edit: Edit, base: int | None, styles: Styles) -> str:
    """A cell's XML after its reference."""
    value = edit.value
    number_format = edit.number_format or default_format(value)
    style = styles.style(base, number_format, edit.bold, edit.flagged)
    if styles.package.date1904 and isinstance(value, dt.date):  # a Mac workbook counting from 1904
        value = _serial(value) - DAYS_1900_TO_1904
    key = (prefix, type(value), value, style)
    tail = _TAILS.get(key)
    if tail is None:  # a column repeats a few values: each cell's XML after its reference is made once
        full = cell_xml(prefix, "@", value, style)
        tail = full[len(prefix) + 8 :] if full else ""
        if len(_TAILS) < 100_000:
            _TAILS[key] = tail
    return tail


def _new_row(
    prefix: str,
    row: int,
    edits: dict[int, Edit],
    styles: Styles,
    column_styles: _ColumnStyles,
    shown: str = "",
) -> bytes:
    """A row the sheet did not have; `shown`: the attributes that keep it visible (see shown_row_attributes)."""
    cells = "".join(
        _edit_xml(prefix, row, column, edits[column], column_styles(column), styles)
        for column in sorted(edits)
    )
    if not cells:
        return b""
    return f'<{prefix}row r="{row}"{shown}>{cells}</{prefix}row>'.encode()


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text else None
    except ValueError:
        return None


_COLUMN_OF: dict[bytes, int] = {}


def _attribute(attrs: bytes, name: bytes) -> bytes | None:
    """One attribute's value from a start tag's attributes (the common `name="..."` form, else parsed)."""
    i = attrs.find(b" " + name + b'="')
    if i >= 0:
        start = i + len(name) + 3
        return attrs[start : attrs.find(b'"', start)]
    if name + b"=" not in attrs:
        return None
    value = _attrs(attrs).get(name.decode())
    return None if value is None else value.encode()


def _column(ref: bytes) -> int:
    letters = ref.rstrip(b"0123456789$").lstrip(b"$")
    column = _COLUMN_OF.get(letters)
    if column is None:
        column = _COLUMN_OF[letters] = column_number(letters.decode())
    return column


def _splice_row(
    prefix: str, row: int, open_tag: bytes, content: bytes, edits: dict[int, Edit], styles: Styles,
    column_styles: _ColumnStyles, package: Package, entry: SheetEntry, implicit: bool,
) -> tuple[bytes, bool]:  # fmt: skip
    """One existing row with its edited cells replaced or inserted in column order."""
    if b"<!--" in content or b"<![CDATA[" in content or b"<?" in content:
        content = _normalized(package, entry, content, row)
    appended = _appended_after_cells(prefix, row, open_tag, content, edits, styles, column_styles)
    if appended is not None:
        return appended, False
    cells: list[tuple[int, re.Match[bytes]]] = []
    for match in _CELL.finditer(content):
        ref = _attribute(match.group(1), b"r")
        if ref is None:
            content = _normalized(package, entry, content, row)
            return _splice_row(
                prefix, row, open_tag, content, edits, styles, column_styles, package, entry, implicit
            )
        cells.append((_column(ref), match))
    custom = _attribute(open_tag, b"customFormat")
    row_style = _int((_attribute(open_tag, b"s") or b"").decode()) if custom in (b"1", b"true") else None
    pieces: list[bytes] = []
    position = 0
    formulas = False
    todo = sorted(edits)
    i = 0
    left_style: int | None = None
    for column, match in cells:
        if i == len(todo):
            break
        while i < len(todo) and todo[i] < column:
            base = left_style if edits[todo[i]].like_left else row_style or column_styles(todo[i])
            pieces.append(content[position : match.start()])
            position = match.start()
            pieces.append(_edit_xml(prefix, row, todo[i], edits[todo[i]], base, styles).encode())
            i += 1
        if i < len(todo) and todo[i] == column:
            style = _int((_attribute(match.group(1), b"s") or b"").decode())
            inner = match.group(2) or b""
            formulas = formulas or bool(_FORMULA.search(inner))
            pieces.append(content[position : match.start()])
            pieces.append(_edit_xml(prefix, row, column, edits[column], style, styles).encode())
            position = match.end()
            i += 1
        elif i < len(todo) and edits[todo[i]].like_left:
            left_style = _int((_attribute(match.group(1), b"s") or b"").decode())
    if i < len(todo):
        last_end = cells[-1][1].end() if cells else 0
        if last_end > position:
            pieces.append(content[position:last_end])
            position = last_end
        while i < len(todo):
            base = left_style if edits[todo[i]].like_left else row_style or column_styles(todo[i])
            pieces.append(_edit_xml(prefix, row, todo[i], edits[todo[i]], base, styles).encode())
            i += 1
    pieces.append(content[position:])
    opening = _widen_spans(open_tag, edits)
    if implicit:
        opening = re.sub(
            rb"^<((?:[\w.-]+:)?row)\b", lambda m: b"<" + m.group(1) + f' r="{row}"'.encode(), opening
        )
    if opening.endswith(b"/>"):
        opening = opening[:-2].rstrip() + b">"
    return opening + b"".join(pieces) + f"</{prefix}row>".encode(), formulas


def _appended_after_cells(
    prefix: str, row: int, open_tag: bytes, content: bytes, edits: dict[int, Edit], styles: Styles,
    column_styles: _ColumnStyles,
) -> bytes | None:  # fmt: skip
    """The row with new cells after its last one, when every edit lies right of it (a first recode).

    It runs for every line of a first recode, so it looks only at the last cell's reference.
    """
    if row == 1 or b"extLst" in content or open_tag.endswith(b"/>"):
        return None  # a header row's new cells look like their left neighbour
    tag = b"<" + prefix.encode() + b"c "
    last = content.rfind(tag)
    if last < 0:
        return None
    at = content.find(b' r="', last, last + 64)
    if at < 0 or content.find(b">", last, at) >= 0:
        return None
    ref = content[at + 4 : content.find(b'"', at + 4)]
    if _column(ref) >= min(edits):
        return None
    end = len(content.rstrip())
    if not (content.endswith(b"/>", 0, end) or content.endswith(b"c>", 0, end)):
        return None
    base: int | None = None
    if b"customFormat" in open_tag and _attribute(open_tag, b"customFormat") in (b"1", b"true"):
        base = _int((_attribute(open_tag, b"s") or b"").decode())
    tails = styles.tails
    pieces = []
    for column, edit in edits.items():
        style = base if base is not None else column_styles(column)
        known = tails.get((id(edit), style, prefix))
        if known is not None and known[0] is edit:
            tail = known[1]
        else:
            tail = _tail(prefix, edit, style, styles)
            tails[(id(edit), style, prefix)] = (edit, tail)
        if tail:
            pieces.append(f'<{prefix}c r="{column_letters(column)}{row}"{tail}')
    return b"".join(
        (
            _widen_spans(open_tag, edits),
            content[:end],
            "".join(pieces).encode(),
            content[end:],
            f"</{prefix}row>".encode(),
        )
    )


def _widen_spans(open_tag: bytes, edits: dict[int, Edit]) -> bytes:
    """The row's optional `spans` hint widened to the columns written."""
    at = open_tag.find(b' spans="')
    if at < 0 or not edits:
        return open_tag
    end = open_tag.find(b'"', at + 8)
    low_text, _, high_text = open_tag[at + 8 : end].partition(b":")
    try:
        low, high = int(low_text), int(high_text)
    except ValueError:
        return open_tag
    first, last = min(edits), max(edits)
    if first >= low and last <= high:
        return open_tag
    return open_tag[:at] + f' spans="{min(low, first)}:{max(high, last)}"'.encode() + open_tag[end + 1 :]


_MIN_MAX = re.compile(rb"\b(min|max)(\s*=\s*)([\"'])[^\"']*\3")


def _with_added_columns(head: bytes, changes: SheetChanges) -> bytes:
    """The `<cols>` of a sheet with the columns cptbill adds taken out of a hidden or narrow span.

    A `<col>` span (Excel's "hide every unused column", a spacer's tiny width) covering an added
    column would hide it or squeeze it: the added column gets its own visible `<col>` wide enough
    for its header and values, with the span's style; the rest of the span keeps every attribute.
    """
    added = changes.header_columns
    if not added or b"col" not in head:
        return head
    pieces: list[bytes] = []
    position = 0
    for match in _COLS.finditer(head):
        attrs = _attrs(match.group(2))
        try:
            low, high = int(attrs["min"]), int(attrs["max"])
        except (KeyError, ValueError):
            continue
        covered = [column for column in added if low <= column <= high]
        if not covered:
            continue
        hidden = attrs.get("hidden") in ("1", "true")
        try:
            width = float(attrs["width"]) if "width" in attrs else None
        except ValueError:
            width = None
        wanted = {column: _added_width(changes.cells, column) for column in covered}
        widths = {c: w for c, w in wanted.items() if hidden or (width is not None and width < w)}
        if not widths:
            continue
        pieces.append(head[position : match.start()])
        pieces.append(_split_span(match, low, high, widths, attrs.get("style")))
        position = match.end()
    if not pieces:
        return head
    return b"".join(pieces) + head[position:]


def _split_span(
    match: re.Match[bytes], low: int, high: int, widths: dict[int, float], style: str | None
) -> bytes:
    """A `<col>` span cut around the added columns, which get their own `<col>` each."""
    tag, prefix = match.group(0), match.group(1).decode()

    def span(first: int, last: int) -> bytes:
        """The span's own tag over `first`..`last`: only the values of min and max change."""
        bounds = {b"min": str(first).encode(), b"max": str(last).encode()}

        def bound(m: re.Match[bytes]) -> bytes:
            return m.group(1) + m.group(2) + m.group(3) + bounds[m.group(1)] + m.group(3)

        return _MIN_MAX.sub(bound, tag)

    styled = f' style="{style}"' if style else ""
    out: list[bytes] = []
    start = low
    for column in sorted(widths):
        if column > start:
            out.append(span(start, column - 1))
        out.append(
            f'<{prefix}col min="{column}" max="{column}" width="{widths[column]:g}"{styled} customWidth="1"/>'.encode()
        )
        start = column + 1
    if start <= high:
        out.append(span(start, high))
    return b"".join(out)


def _added_width(cells: Cells, column: int) -> float:
    """A width showing an added column's header and values (each distinct value measured once)."""
    distinct = {id(edit): edit for edit in cells.columns.get(column, {}).values()}
    looks = [
        Edit(edit.value, edit.number_format, bold=True) if edit.like_left else edit
        for edit in distinct.values()
    ]
    measured = column_widths({i: {column: edit} for i, edit in enumerate(looks)})
    return measured.get(column, 8.0)


_ROOT = re.compile(rb"<((?:[\w.-]+:)?worksheet)\b" + _QUOTED_ATTRS + rb">")


def _normalized(package: Package, entry: SheetEntry, content: bytes, row: int) -> bytes:
    """A row's cells without comments, CDATA or processing instructions, each with its `r`."""
    root = _ROOT.search(package.read(entry.part))
    if root is None:
        raise damaged(package.path, f"is damaged (the sheet {entry.name} cannot be read)")
    wrapper = root.group(0) + content + b"</" + root.group(1) + b">"
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, remove_comments=True, remove_pis=True,
        strip_cdata=True,
    )  # fmt: skip
    try:
        element = etree.fromstring(wrapper, parser)
    except etree.XMLSyntaxError:
        raise damaged(
            package.path, f"is damaged (the sheet {entry.name}, row {row}, cannot be read)"
        ) from None
    column = 0
    for cell in element:
        if not isinstance(cell.tag, str) or etree.QName(cell).localname != "c":
            continue
        ref = cell.get("r")
        column = split_ref(ref)[1] if ref else column + 1
        cell.set("r", f"{column_letters(column)}{row}")
    text = etree.tostring(element)
    return text[text.index(b">") + 1 : text.rindex(b"</")]


def _with_dimension(head: bytes, edits: Mapping[int, dict[int, Edit]]) -> bytes:
    match = _DIMENSION.search(head)
    if match is None or not edits:
        return head
    attrs = _attrs(match.group(0))
    columns = (
        list(edits.columns) if isinstance(edits, Cells) else [c for cells in edits.values() for c in cells]
    )
    bounds = [min(edits), min(columns), max(edits), max(columns)]
    try:
        old = range_bounds(attrs.get("ref", ""))
        bounds = [
            min(old[0], bounds[0]),
            min(old[1], bounds[1]),
            max(old[2], bounds[2]),
            max(old[3], bounds[3]),
        ]
    except ValueError:
        pass
    ref = range_ref(*bounds).encode()
    tag = match.group(0)
    new_tag = re.sub(rb'\bref="[^"]*"', b'ref="' + ref + b'"', tag) if b"ref=" in tag else tag
    return head[: match.start()] + new_tag + head[match.end() :]


@dataclass(frozen=True, slots=True)
class Guarded:
    """A range of a sheet whose cells cptbill must not write one by one: merged, or a ranged formula's."""

    kind: str  # "merged", "array" (an array formula's or a spilled dynamic array's results), "shared"
    ref: str  # the range as the sheet writes it
    bounds: tuple[int, int, int, int]  # top, left, bottom, right
    master: tuple[int, int] | None = None  # a shared formula's own cell (row, column)

    @property
    def columns(self) -> range:
        """The columns whose writes this range can refuse."""
        if self.master is not None:
            return range(self.master[1], self.master[1] + 1)
        return range(self.bounds[1], self.bounds[3] + 1)

    def explained(self) -> tuple[str, str]:
        """What the range is, after a cell's name, and what the user does about it.

        Excel itself will not change part of an array formula's results either (and a spilled
        one shows #SPILL!), and the add-in refuses merged cells as this editor does, so the add-in
        is a way around filled-down formulas only.
        """
        if self.kind == "merged":
            return f"inside the merged cells {self.ref}", "unmerge them"
        if self.kind == "array":
            return f"in the results of an array formula ({self.ref})", "move the formula"
        return (
            f"holding a formula filled down over {self.ref}",
            "clear those formulas (or recode from Excel with the add-in)",
        )

    def more(self, number: int) -> str:
        """`number` more ranges of this kind, in words."""
        noun = {"merged": "merged range", "array": "array formula"}.get(self.kind, "filled-down formula")
        return f"{number} more {noun}{'' if number == 1 else 's'}"


_FORMULA_TAG = re.compile(rb"<(?:[\w.-]+:)?f\b([^>]*)>")


def _ranged_formulas(data: bytes, start: int, end: int) -> Iterator[re.Match[bytes]]:
    """The `<f>` start tags with a `ref` between `start` and `end`, found from each `ref=` back.

    A filled-down column holds one `ref` per block but a formula tag in every cell: looking only
    at the `ref=`s spares a test at each of them.
    """
    at = data.find(b"ref=", start, end)
    while at >= 0:
        match = _FORMULA_TAG.match(data, data.rfind(b"<", start, at))
        if match is not None and match.end() > at:
            yield match
        at = data.find(b"ref=", at + 4, end)


def guarded_ranges(data: bytes, *, formulas: bool = True) -> list[Guarded]:
    """The merged ranges and ranged formulas (array, spilled, filled down; not without `formulas`)
    of a sheet's XML.

    Two byte searches come first: a sheet without `mergeCell` after its cells and without `ref=`
    among them (most sheets) costs no parsing at all.
    """
    start, end = data.find(b"sheetData"), data.rfind(b"sheetData")
    merges = end >= 0 and data.find(b"mergeCell", end) >= 0
    formulas = formulas and end > start >= 0 and data.find(b"ref=", start, end) >= 0
    found: list[Guarded] = []
    if merges:
        for match in _MERGE.finditer(data, end):
            ref = (match.group(1) or match.group(2)).decode()
            try:
                found.append(Guarded("merged", ref, range_bounds(ref)))
            except ValueError:
                continue
    if formulas:
        for match in _ranged_formulas(data, start, end):
            attrs = _attrs(match.group(1))
            try:
                bounds = range_bounds(attrs["ref"])
            except (KeyError, ValueError):
                continue
            kind = attrs.get("t", "normal")
            if kind == "array":
                found.append(Guarded("array", attrs["ref"], bounds))
            elif kind == "shared":
                cell_start = data.rfind(b"<", 0, match.start())
                cell_attrs = _attrs(data[cell_start : match.start()])
                try:  # a cell written without its `r`: the master is the range's first cell
                    master = split_ref(cell_attrs["r"]) if "r" in cell_attrs else bounds[:2]
                except ValueError:
                    continue
                found.append(Guarded("shared", attrs["ref"], bounds, master))
    return found


def unsafe_cells(ranges: Sequence[Guarded], edits: Cells) -> Iterator[tuple[Guarded, tuple[int, int]]]:
    """Each range a write of `edits` would break, with the first (row, column) it writes there.

    Writing the first cell of a merged range is safe (it holds the value), so is writing over every
    cell a shared formula fills; any write into an array formula's results is not.
    """
    columns = edits.columns

    def covered(bounds: tuple[int, int, int, int]) -> bool:
        top, left, bottom, right = bounds
        return all(
            all(row in columns.get(column, {}) for row in range(top, bottom + 1))
            for column in range(left, right + 1)
        )

    def touched(bounds: tuple[int, int, int, int]) -> list[tuple[int, int]]:
        top, left, bottom, right = bounds
        return sorted(
            (row, column)
            for column, cells in columns.items()
            if left <= column <= right
            for row in (range(top, bottom + 1) if bottom - top < len(cells) else cells)
            if top <= row <= bottom and row in cells
        )

    for guarded in ranges:
        if guarded.kind == "merged":
            inside = [hit for hit in touched(guarded.bounds) if hit != guarded.bounds[:2]]
            if inside:
                yield guarded, inside[0]
        elif guarded.kind == "array":
            hits = touched(guarded.bounds)
            if hits:
                yield guarded, hits[0]
        elif guarded.master is not None:
            master = guarded.master
            if master[0] in columns.get(master[1], {}) and not covered(guarded.bounds):
                yield guarded, master


def _refuse_unsafe_cells(entry: SheetEntry, data: bytes, edits: Cells) -> None:
    """Refuse to write into a merged range or over an array formula's or a shared formula's cells."""
    if not edits:
        return
    for guarded, cell in unsafe_cells(guarded_ranges(data), edits):
        what, fix = guarded.explained()
        raise CptbillError(
            f"cptbill would write the cell {entry.name}!{cell_name(cell)}, {what}; {fix}, and try again. "
            "Nothing was saved."
        )


def cell_name(cell: tuple[int, int]) -> str:
    """`(row, column)` as `F3`."""
    return f"{column_letters(cell[1])}{cell[0]}"


# ---------------------------------------------------------------------------------------------
# cptbill's own sheets (Changes, Summary, Follow-up, Shortfalls, new Claims): built whole

#: The order of a worksheet's children (ECMA-376 CT_Worksheet).
_WORKSHEET_ORDER = [
    "sheetPr",
    "dimension",
    "sheetViews",
    "sheetFormatPr",
    "cols",
    "sheetData",
    "sheetCalcPr",
    "sheetProtection",
    "protectedRanges",
    "scenarios",
    "autoFilter",
    "sortState",
    "dataConsolidate",
    "customSheetViews",
    "mergeCells",
    "phoneticPr",
    "conditionalFormatting",
    "dataValidations",
    "hyperlinks",
    "printOptions",
    "pageMargins",
    "pageSetup",
    "headerFooter",
    "rowBreaks",
    "colBreaks",
    "customProperties",
    "cellWatches",
    "ignoredErrors",
    "smartTags",
    "drawing",
    "legacyDrawing",
    "legacyDrawingHF",
    "drawingHF",
    "picture",
    "oleObjects",
    "controls",
    "webPublishItems",
    "tableParts",
    "extLst",
]


def _child(root: etree._Element, name: str, order: Sequence[str] = _WORKSHEET_ORDER) -> etree._Element:
    """The child `name` of root, inserted at its place in the schema's order when missing."""
    ns = f"{{{etree.QName(root).namespace}}}"
    found = root.find(ns + name)
    if found is not None:
        return found
    element = etree.Element(ns + name)
    later = set(order[order.index(name) + 1 :])
    for sibling in root:
        if isinstance(sibling.tag, str) and etree.QName(sibling).localname in later:
            sibling.addprevious(element)
            return element
    root.append(element)
    return element


def _display_width(value: Any, number_format: str | None) -> int:
    if value is None:
        return 0
    if isinstance(value, bool):
        return 5
    if isinstance(value, int | float | Decimal):
        number = float(value)
        if number_format and "$" in number_format:
            return len(f"${number:,.2f}") + 1
        if number_format and "%" in number_format:
            return len(f"{number:.0%}")
        if number_format == "0":
            return len(f"{number:.0f}")
        return len(_number_text(number if not float(number).is_integer() else int(number)))
    if isinstance(value, dt.datetime):
        return 16
    if isinstance(value, dt.date):
        return 10
    return max((len(line) for line in str(value).splitlines()), default=0)


def column_widths(cells: Mapping[int, dict[int, Edit]]) -> dict[int, float]:
    """Widths that show every value (money and dates never as ###), capped at MAX_WIDTH."""
    widest: dict[int, float] = {}
    for row in cells.values():
        for column, edit in row.items():
            chars = float(_display_width(edit.value, edit.number_format or default_format(edit.value)))
            if edit.bold:
                chars *= 1.15
            widest[column] = max(widest.get(column, 0), chars)
    return {column: min(MAX_WIDTH, max(8.0, round(chars + 2.5, 1))) for column, chars in widest.items()}


def own_sheet(
    package: Package, existing: bytes | None, changes: SheetChanges, styles: Styles
) -> etree._Element:
    """A program-owned sheet's XML tree: the rows, bold frozen header, widths, landscape one page wide."""
    main, rel = package.main_ns, package.rel_ns
    if existing is None:
        root = etree.fromstring(
            f'<worksheet xmlns="{main}" xmlns:r="{rel}"><sheetData/></worksheet>'.encode()
        )
    else:
        root = etree.fromstring(existing, PARSER)
    ns = f"{{{main}}}"
    sheet_format = root.find(ns + "sheetFormatPr")
    shown = (
        shown_row_attributes(sheet_format.get("zeroHeight"), sheet_format.get("defaultRowHeight"))
        if sheet_format is not None
        else ""
    )
    rows = []
    for row in sorted(changes.cells):
        edits = changes.cells[row]
        cells = "".join(_edit_xml("", row, column, edits[column], None, styles) for column in sorted(edits))
        if cells:
            rows.append(f'<row r="{row}"{shown}>{cells}</row>')
    fresh = etree.fromstring(f'<sheetData xmlns="{main}">{"".join(rows)}</sheetData>'.encode(), PARSER)
    old = root.find(ns + "sheetData")
    if old is not None:
        old.getparent().replace(old, fresh)
    else:
        _child(root, "sheetData").getparent().replace(root.find(ns + "sheetData"), fresh)
    merged = root.find(ns + "mergeCells")
    if merged is not None:
        root.remove(merged)
    last_row = max(changes.cells, default=1)
    last_column = max((c for cells in changes.cells.values() for c in cells), default=1)
    _child(root, "dimension").set("ref", range_ref(1, 1, last_row, last_column))
    views = _child(root, "sheetViews")
    view = views.find(ns + "sheetView")
    if view is None:
        view = etree.SubElement(views, ns + "sheetView", workbookViewId="0")
    for old_pane in view.findall(ns + "pane"):
        view.remove(old_pane)
    for selection in view.findall(ns + "selection"):
        view.remove(selection)
    pane = etree.Element(ns + "pane", ySplit="1", topLeftCell="A2", activePane="bottomLeft", state="frozen")
    view.insert(0, pane)
    etree.SubElement(view, ns + "selection", pane="bottomLeft", activeCell="A2", sqref="A2")
    _child(root, "sheetFormatPr").set(
        "defaultRowHeight", root.find(ns + "sheetFormatPr").get("defaultRowHeight", "15")
    )
    cols = _child(root, "cols")
    for col in list(cols):
        cols.remove(col)
    for column, width in sorted(column_widths(changes.cells).items()):
        etree.SubElement(
            cols, ns + "col", min=str(column), max=str(column), width=str(width), customWidth="1"
        )
    if not len(cols):
        root.remove(cols)
    properties = _child(root, "sheetPr")
    setup_properties = properties.find(ns + "pageSetUpPr")
    if setup_properties is None:
        setup_properties = etree.Element(ns + "pageSetUpPr")
        outline = properties.find(ns + "outlinePr")
        (outline.addnext if outline is not None else lambda e: properties.append(e))(setup_properties)
    setup_properties.set("fitToPage", "1")
    margins = _child(root, "pageMargins")
    for side, inches in (
        ("left", "0.5"),
        ("right", "0.5"),
        ("top", "0.75"),
        ("bottom", "0.75"),
        ("header", "0.3"),
        ("footer", "0.3"),
    ):
        margins.set(side, margins.get(side, inches))
    setup = _child(root, "pageSetup")
    setup.set("orientation", "landscape")
    setup.set("fitToWidth", "1")
    setup.set("fitToHeight", "0")
    return root


def serialize(root: etree._Element) -> bytes:
    # The declaration as Excel writes it (double quotes), then the tree.
    return _DECLARATION + etree.tostring(root, encoding="UTF-8", xml_declaration=False)


_DECLARATION = b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'


# ---------------------------------------------------------------------------------------------
# The package: registering parts, tables, the chart, and writing the ZIP


class _Parts:
    """What a save changes in the package, part by part."""

    def __init__(self, package: Package) -> None:
        self.package = package
        self.changed: dict[str, bytes | IO[bytes]] = {}
        self.added: dict[str, bytes] = {}
        self.removed: set[str] = set()
        self.trees: dict[str, etree._Element] = {}  # parts edited as trees, serialized at the end
        self.new_types: dict[str, str] = {}

    def taken(self, name: str) -> bool:
        return name.casefold() in self._claimed or name in self.added

    @cached_property
    def _claimed(self) -> set[str]:
        """Part names the package holds or refers to, casefolded (part names ignore case).

        Some workbooks refer to parts their ZIP lacks (a relationship or a content type left
        behind): a new part taking such a name would join what they describe.
        """
        package = self.package
        names = {name.casefold() for name in package.names}
        for name in package.names:
            if name.endswith(".rels"):
                folder, _, file = name.rpartition("_rels/")
                source = folder + file[: -len(".rels")]
                names.add(source.casefold())  # a rels part left behind would describe a new part of that name
                with contextlib.suppress(CptbillError):  # a damaged rels part claims nothing more
                    names.update(r.part.casefold() for r in package.rels(source))
        types = etree.fromstring(package.content_types, PARSER)
        names.update(e.get("PartName", "").lstrip("/").casefold() for e in types if isinstance(e.tag, str))
        return names

    def free(self, pattern: str) -> str:
        number = 1
        while self.taken(pattern.format(number)):
            number += 1
        return pattern.format(number)

    def tree(self, part: str) -> etree._Element:
        if part not in self.trees:
            if part in self.added:
                self.trees[part] = etree.fromstring(self.added.pop(part), PARSER)
            elif self.package.has(part) and part not in self.removed:
                self.trees[part] = self.package.xml(part)
            else:
                self.trees[part] = etree.fromstring(f'<Relationships xmlns="{PACKAGE_REL}"/>'.encode())
        return self.trees[part]

    def relate(self, source: str, kind: str, target_part: str) -> str:
        """Add a relationship from `source` to `target_part`; its new id."""
        root = self.tree(rels_name(source))
        ids = {r.get("Id") for r in root}
        number = len(ids) + 1
        while f"rId{number}" in ids:
            number += 1
        target = _relative(source, target_part)
        etree.SubElement(root, f"{{{PACKAGE_REL}}}Relationship", Id=f"rId{number}", Type=kind, Target=target)
        return f"rId{number}"

    def unrelate(self, source: str, rel_id: str) -> None:
        root = self.tree(rels_name(source))
        for element in list(root):
            if element.get("Id") == rel_id:
                root.remove(element)

    def remove(self, part: str) -> None:
        """Drop a part, its rels part and its content type."""
        self.removed.add(part)
        self.changed.pop(part, None)
        self.removed.add(rels_name(part))
        self.trees.pop(rels_name(part), None)
        types = self.tree("[Content_Types].xml")
        for element in list(types):
            if element.get("PartName") == "/" + part:
                types.remove(element)

    def add(self, part: str, data: bytes, content_type: str) -> None:
        self.added[part] = data
        types = self.tree("[Content_Types].xml")
        etree.SubElement(types, f"{{{CONTENT_TYPES}}}Override", PartName="/" + part, ContentType=content_type)

    def finish(self) -> None:
        for part, root in self.trees.items():
            if part.endswith(".rels") and not len(root) and not self.package.has(part):
                continue
            data = serialize(root)
            if self.package.has(part) and part not in self.removed:
                self.changed[part] = data
            else:
                self.removed.discard(part)
                self.added[part] = data


def _relative(source: str, target: str) -> str:
    base = source.rsplit("/", 1)[0].split("/") if "/" in source else []
    parts = target.split("/")
    common = 0
    while common < min(len(base), len(parts) - 1) and base[common] == parts[common]:
        common += 1
    return "/".join([".."] * (len(base) - common) + parts[common:])


def save(package: Package, changes: dict[str, SheetChanges], stream: IO[bytes]) -> None:
    """Write the workbook with `changes` to `stream`: owned parts rewritten, every other part copied."""
    parts = _Parts(package)
    styles = Styles(package)
    drop_calc_chain = False
    workbook = None
    for name, sheet in changes.items():
        entry = package.sheet(name)
        if entry is None:
            if workbook is None:
                workbook = parts.tree(package.workbook_part)
            entry = _register_sheet(package, parts, workbook, name)
            root = own_sheet(package, None, sheet, styles)
            _print_titles(workbook, entry)
            if sheet.chart is not None and not package.strict:  # XlsxWriter's chart parts are transitional
                _add_chart(package, parts, entry, root, sheet)
            parts.added[entry.part] = serialize(root)
            continue
        if entry.kind != "worksheet":
            raise CptbillError(f"{name} is a chart sheet; cptbill cannot write into it. Nothing was saved.")
        if sheet.replaced:
            data = package.read(entry.part)
            well_formed(package, data, f"the sheet {name}")
            drop_calc_chain = drop_calc_chain or bool(_FORMULA.search(data))
            root = own_sheet(package, data, sheet, styles)
            if sheet.chart is not None and not package.strict:  # XlsxWriter's chart parts are transitional
                _add_chart(package, parts, entry, root, sheet)
            parts.changed[entry.part] = serialize(root)
        else:
            spliced = splice_sheet(package, entry, sheet, styles)
            drop_calc_chain = drop_calc_chain or spliced.formulas_overwritten
            parts.changed[entry.part] = spliced.data
            if sheet.chart is not None:
                raise CptbillError(f"cptbill draws charts only on its own sheets, not on {name}.")
        _update_tables(package, parts, entry, sheet)
    if drop_calc_chain:
        calc_chain = package.part_of_type("calcChain")
        if calc_chain is not None:
            for rel in package.rels(package.workbook_part):
                if rel.part == calc_chain:
                    parts.unrelate(package.workbook_part, rel.id)
            parts.remove(calc_chain)
    styled = styles.serialized()
    if styled is not None and styles.part is not None:
        parts.changed[styles.part] = styled
    parts.finish()
    _write_zip(package, parts, stream)


def _register_sheet(package: Package, parts: _Parts, workbook: etree._Element, name: str) -> SheetEntry:
    """A new worksheet part, listed last in workbook.xml, its rels and the content types."""
    part = parts.free("xl/worksheets/sheet{}.xml")
    ns = f"{{{etree.QName(workbook).namespace}}}"
    sheets = _child(workbook, "sheets", _WORKBOOK_ORDER)
    ids = [
        int(s.get("sheetId", "0"))
        for s in sheets
        if isinstance(s.tag, str) and s.get("sheetId", "").isdigit()
    ]
    sheet_id = str(max(ids, default=0) + 1)
    kind = f"{package.rel_ns}/worksheet"
    rel_id = parts.relate(package.workbook_part, kind, part)
    element = etree.SubElement(sheets, ns + "sheet", name=name, sheetId=sheet_id)
    element.set(f"{{{package.rel_ns}}}id", rel_id)
    index = len([s for s in sheets if isinstance(s.tag, str)]) - 1
    types = parts.tree("[Content_Types].xml")
    etree.SubElement(types, f"{{{CONTENT_TYPES}}}Override", PartName="/" + part, ContentType=WORKSHEET_TYPE)
    entry = SheetEntry(name, sheet_id, rel_id, part, "worksheet", index)
    parts.added[part] = b""
    return entry


_WORKBOOK_ORDER = [
    "fileVersion",
    "fileSharing",
    "workbookPr",
    "absPath",
    "workbookProtection",
    "bookViews",
    "sheets",
    "functionGroups",
    "externalReferences",
    "definedNames",
    "calcPr",
    "oleSize",
    "customWorkbookViews",
    "pivotCaches",
    "smartTagPr",
    "smartTagTypes",
    "webPublishing",
    "fileRecoveryPr",
    "webPublishObjects",
    "extLst",
]


def _print_titles(workbook: etree._Element, entry: SheetEntry) -> None:
    """Repeat the header row on every printed page."""
    ns = f"{{{etree.QName(workbook).namespace}}}"
    names = _child(workbook, "definedNames", _WORKBOOK_ORDER)
    quoted = "'" + entry.name.replace("'", "''") + "'"
    element = etree.SubElement(
        names, ns + "definedName", name="_xlnm.Print_Titles", localSheetId=str(entry.index)
    )
    element.text = f"{quoted}!$1:$1"


def _update_tables(package: Package, parts: _Parts, entry: SheetEntry, sheet: SheetChanges) -> None:
    """Tables on the sheet take the owned columns added beside them and the rows appended below."""
    for rel in package.rels(entry.part):
        if not rel.type.endswith("/table") or not package.has(rel.part):
            continue
        root = package.xml(rel.part)
        ns = f"{{{etree.QName(root).namespace}}}"
        try:
            top, left, bottom, right = range_bounds(root.get("ref", ""))
        except ValueError:
            continue
        columns = root.find(ns + "tableColumns")
        if columns is None:
            continue
        changed = False
        header = sheet.cells.get(1, {})
        if sheet.replaced and (top, left) == (1, 1) and header:
            for column in list(columns):
                columns.remove(column)
            for i, column in enumerate(sorted(header), start=1):
                etree.SubElement(columns, ns + "tableColumn", id=str(i), name=str(header[column].value))
            right = max(header)
            bottom = max(2, max(sheet.cells))
            changed = True
        elif top == 1 and root.get("headerRowCount", "1") != "0":
            for column in sorted(sheet.header_columns):
                name = str(header[column].value)
                listed = [c for c in columns if isinstance(c.tag, str)]
                if left <= column <= right and column - left < len(listed):
                    if listed[column - left].get("name") != name:
                        listed[column - left].set("name", name)
                        changed = True
                elif column == right + 1:
                    next_id = max((int(c.get("id", "0")) for c in listed), default=0) + 1
                    etree.SubElement(columns, ns + "tableColumn", id=str(next_id), name=name)
                    right = column
                    changed = True
        totals = _int(root.get("totalsRowCount")) or 0
        for before, after in sheet.appended:
            # Rows appended below a totals row stay out of the table: taken in, the last new row
            # would become its totals row and the old totals row a line in the middle.
            if bottom == before and after > before and not totals:
                bottom = after
                changed = True
        if not changed:
            continue
        columns.set("count", str(len([c for c in columns if isinstance(c.tag, str)])))
        ref = range_ref(top, left, bottom, right)
        root.set("ref", ref)
        auto_filter = root.find(ns + "autoFilter")
        if auto_filter is not None:  # the filter buttons cover the header and data, not a totals row
            auto_filter.set("ref", range_ref(top, left, max(top, bottom - totals), right))
        parts.changed[rel.part] = serialize(root)


def _add_chart(
    package: Package, parts: _Parts, entry: SheetEntry, root: etree._Element, sheet: SheetChanges
) -> None:
    """Graft a column chart built by XlsxWriter (drawing and chart parts, renamed) onto an own sheet."""
    spec = sheet.chart
    assert spec is not None
    ns = f"{{{etree.QName(root).namespace}}}"
    old = root.find(ns + "drawing")
    if old is not None:  # the chart of an earlier run: replaced, its parts dropped
        rel_id = old.get(f"{{{package.rel_ns}}}id")
        for rel in package.rels(entry.part):
            if rel.id == rel_id and package.has(rel.part):
                for inner in package.rels(rel.part):
                    if inner.part and package.has(inner.part):
                        for deeper in package.rels(inner.part):
                            if deeper.part and package.has(deeper.part):
                                parts.remove(deeper.part)
                        parts.remove(inner.part)
                parts.remove(rel.part)
        if rel_id:
            parts.unrelate(entry.part, rel_id)
        root.remove(old)
    scratch = _scratch_chart(entry.name, sheet.cells, spec)
    with zipfile.ZipFile(io.BytesIO(scratch)) as built:
        types = etree.fromstring(built.read("[Content_Types].xml"), PARSER)
        type_of = {e.get("PartName", "").lstrip("/"): e.get("ContentType", "") for e in types}
        drawing = parts.free("xl/drawings/drawing{}.xml")
        chart = parts.free("xl/charts/chart{}.xml")
        chart_xml = built.read("xl/charts/chart1.xml")
        parts.add(chart, chart_xml, type_of["xl/charts/chart1.xml"])
        drawing_rels = etree.fromstring(built.read("xl/drawings/_rels/drawing1.xml.rels"), PARSER)
        for rel_element in drawing_rels:
            if rel_element.get("Target", "").endswith("chart1.xml"):
                rel_element.set("Target", _relative(drawing, chart))
        parts.add(drawing, built.read("xl/drawings/drawing1.xml"), type_of["xl/drawings/drawing1.xml"])
        parts.added[rels_name(drawing)] = serialize(drawing_rels)
    rel_id = parts.relate(entry.part, f"{package.rel_ns}/drawing", drawing)
    _child(root, "drawing").set(f"{{{package.rel_ns}}}id", rel_id)


def _scratch_chart(sheet: str, cells: Mapping[int, dict[int, Edit]], spec: BarChartSpec) -> bytes:
    """A workbook written by XlsxWriter holding the sheet's values and the chart over them."""
    import xlsxwriter

    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    ws = book.add_worksheet(sheet)
    for row, edits in cells.items():
        for column, edit in edits.items():
            value = edit.value
            if value is None:
                continue
            if isinstance(value, dt.date | dt.time):
                value = str(value)
            elif isinstance(value, Decimal):
                value = float(value)
            ws.write(row - 1, column - 1, value)
    chart = book.add_chart({"type": "column"})
    for column in spec.value_columns:
        chart.add_series(
            {
                "name": [sheet, spec.header_row - 1, column - 1],
                "categories": [
                    sheet,
                    spec.first_row - 1,
                    spec.category_column - 1,
                    spec.last_row - 1,
                    spec.category_column - 1,
                ],
                "values": [sheet, spec.first_row - 1, column - 1, spec.last_row - 1, column - 1],
            }
        )
    chart.set_title({"name": spec.title})
    if spec.y_title:
        chart.set_y_axis({"name": spec.y_title})
    chart.set_size({"width": 680, "height": 340})
    row, column = split_ref(spec.anchor)
    ws.insert_chart(row - 1, column - 1, chart)
    book.close()
    return buffer.getvalue()


def _write_zip(package: Package, parts: _Parts, stream: IO[bytes]) -> None:
    with zipfile.ZipFile(stream, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as out:
        for info in package.infos:
            name = info.filename
            if name in parts.removed:
                continue
            data = parts.changed[name] if name in parts.changed else package.read(name)
            if isinstance(data, bytes):
                out.writestr(_info_like(info), data)
            else:  # a spliced sheet, copied from its temporary file
                data.seek(0)
                with out.open(_info_like(info), "w", force_zip64=True) as member:
                    shutil.copyfileobj(data, member, 1 << 20)
                data.close()
        for name, data in parts.added.items():
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            out.writestr(info, data)


def _info_like(info: zipfile.ZipInfo) -> zipfile.ZipInfo:
    copied = zipfile.ZipInfo(info.filename, date_time=max(info.date_time, (1980, 1, 1, 0, 0, 0)))
    copied.compress_type = (
        info.compress_type
        if info.compress_type in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
        else zipfile.ZIP_DEFLATED
    )
    copied.external_attr = info.external_attr
    copied.create_system = info.create_system
    copied.comment = info.comment
    return copied


__all__ = [
    "Edit", "Guarded", "SheetChanges", "Styles", "cell_name", "cell_xml", "guarded_ranges", "save", "unsafe_cells",
]  # fmt: skip
