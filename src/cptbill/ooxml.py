"""Reading an .xlsx package: its parts, sheets, shared strings, styles and cell values, within limits."""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path, PurePosixPath
from typing import Any
from xml.parsers import expat

from lxml import etree

from cptbill.errors import CptbillError

# Limits, enforced before any work (stated in the README): a part's size once unpacked, how much
# it may have been compressed (zip bombs), all parts together, and values read from one sheet.
MAX_PART = 256 * 2**20
MAX_TOTAL = 1024 * 2**20
MAX_RATIO = 200  # applies to parts of more than RATIO_FROM bytes
RATIO_FROM = 4 * 2**20
MAX_CELLS = 10_000_000
#: Above this many cells from A1 to the last value, a sheet is read cell by cell, never as a grid.
DENSE_CELLS = 4_000_000
MAX_ROW, MAX_COLUMN = 1_048_576, 16_384

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
STRICT_MAIN = "http://purl.oclc.org/ooxml/spreadsheetml/main"
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
STRICT_REL = "http://purl.oclc.org/ooxml/officeDocument/relationships"
PACKAGE_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
CONTENT_TYPES = "http://schemas.openxmlformats.org/package/2006/content-types"
XML_SPACE = "{http://www.w3.org/XML/1998/namespace}space"
BINARY_WORKBOOK = "application/vnd.ms-excel.sheet.binary.macroEnabled.main"

#: Parses users' XML without entities, DTDs or network access (no XXE, no billion laughs).
PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, remove_blank_text=False, huge_tree=False
)
_DOCTYPE = re.compile(rb"<!DOCTYPE|<!ENTITY", re.I)
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_REF = re.compile(r"\$?([A-Za-z]{1,3})\$?(\d+)")


def damaged(path: Path, what: str) -> CptbillError:
    """The one sentence for a workbook that cannot be read."""
    return CptbillError(f"{path.name} {what}; open it in Excel and save it again as .xlsx.")


def parse_xml(data: bytes, path: Path, part: str) -> etree._Element:
    """A small part's XML tree, refusing DTDs and entities."""
    if b"<!" in data and _DOCTYPE.search(data):
        raise damaged(path, f"holds a document type declaration in {part}, which a workbook never needs")
    try:
        return etree.fromstring(data, PARSER)
    except etree.XMLSyntaxError:
        raise damaged(path, f"is damaged (malformed XML in {part})") from None


def column_number(letters: str) -> int:
    number = 0
    for char in letters.upper():
        number = number * 26 + ord(char) - 64
    return number


_LETTERS: dict[int, str] = {}


def column_letters(number: int) -> str:
    letters = _LETTERS.get(number)
    if letters is None:
        n, text = number, ""
        while n:
            n, rest = divmod(n - 1, 26)
            text = chr(65 + rest) + text
        letters = _LETTERS[number] = text
    return letters


def split_ref(ref: str) -> tuple[int, int]:
    """(row, column) of `B12` (1-based)."""
    match = _REF.fullmatch(ref)
    if match is None:
        raise ValueError(ref)
    return int(match.group(2)), column_number(match.group(1))


def range_bounds(ref: str) -> tuple[int, int, int, int]:
    """(min_row, min_col, max_row, max_col) of `A1:D9` or `C3`."""
    first, _, last = ref.partition(":")
    r1, c1 = split_ref(first)
    r2, c2 = split_ref(last) if last else (r1, c1)
    return min(r1, r2), min(c1, c2), max(r1, r2), max(c1, c2)


def range_ref(min_row: int, min_col: int, max_row: int, max_col: int) -> str:
    first = f"{column_letters(min_col)}{min_row}"
    last = f"{column_letters(max_col)}{max_row}"
    return first if first == last else f"{first}:{last}"


def resolve(base: str, target: str) -> str:
    """A relationship target as a part name (no leading slash), relative to the part `base`."""
    if target.startswith("/"):
        return target.lstrip("/")
    parts: list[str] = list(PurePosixPath(base).parent.parts)
    for piece in target.split("/"):
        if piece == "..":
            if parts:
                parts.pop()
        elif piece not in ("", "."):
            parts.append(piece)
    return "/".join(parts)


def rels_name(part: str) -> str:
    """The relationships part of `part`."""
    path = PurePosixPath(part)
    return (
        str(path.parent / "_rels" / (path.name + ".rels")).lstrip("./")
        if str(path.parent) != "."
        else (f"_rels/{path.name}.rels")
    )


@dataclass
class Relationship:
    id: str
    type: str
    target: str  # as written
    part: str  # resolved part name ("" for external targets)
    external: bool = False


@dataclass
class SheetEntry:
    """One sheet listed in workbook.xml."""

    name: str
    sheet_id: str
    rel_id: str
    part: str
    kind: str  # worksheet, chartsheet, dialogsheet, macrosheet
    index: int  # position in workbook.xml


@dataclass
class Package:
    """An opened workbook file: the ZIP's members, its sheets, shared strings and styles."""

    path: Path
    archive: zipfile.ZipFile
    infos: list[zipfile.ZipInfo]
    workbook_part: str
    strict: bool
    date1904: bool
    sheets: list[SheetEntry]
    content_types: bytes
    cache: dict[str, bytes] = field(default_factory=dict)
    calamine: Any = None  # python-calamine's workbook, opened once when a sheet is read through it
    validate: bool = False  # check each sheet read is well-formed XML (a check; a save always checks)

    @property
    def main_ns(self) -> str:
        return STRICT_MAIN if self.strict else MAIN

    @property
    def rel_ns(self) -> str:
        return STRICT_REL if self.strict else REL

    def has(self, part: str) -> bool:
        return part in self.names

    @cached_property
    def names(self) -> set[str]:
        return {info.filename for info in self.infos}

    def read(self, part: str) -> bytes:
        """A member's bytes (checked: CRC, compression method)."""
        cached = self.cache.get(part)
        if cached is not None:
            return cached
        try:
            return self.archive.read(part)
        except KeyError:
            raise damaged(self.path, f"is damaged ({part} is missing)") from None
        except (zipfile.BadZipFile, NotImplementedError, EOFError, OSError, ValueError) as error:
            raise _zip_error(self.path, error) from None

    def xml(self, part: str) -> etree._Element:
        return parse_xml(self.read(part), self.path, part)

    def rels(self, part: str) -> list[Relationship]:
        """The relationships of `part` (none when it has no rels part)."""
        name = rels_name(part)
        if name not in self.names:
            return []
        found = []
        for element in self.xml(name):
            if not isinstance(element.tag, str) or not element.tag.endswith("Relationship"):
                continue
            target = element.get("Target", "")
            external = element.get("TargetMode") == "External"
            found.append(
                Relationship(
                    id=element.get("Id", ""),
                    type=element.get("Type", ""),
                    target=target,
                    part="" if external else resolve(part, target),
                    external=external,
                )
            )
        return found

    def part_of_type(self, suffix: str) -> str | None:
        for rel in self.rels(self.workbook_part):
            if rel.type.endswith("/" + suffix) and rel.part in self.names:
                return rel.part
        return None

    def sheet(self, name: str) -> SheetEntry | None:
        return next((s for s in self.sheets if s.name == name), None)

    @cached_property
    def shared_strings(self) -> list[str]:
        part = self.part_of_type("sharedStrings")
        if part is None:
            return []
        return list(_shared_strings(self, part))

    @cached_property
    def styles(self) -> StyleInfo:
        part = self.part_of_type("styles")
        return StyleInfo.read(self, part) if part else StyleInfo([], {})

    def close(self) -> None:
        if self.calamine is not None:
            self.calamine.close()
        self.archive.close()


def _zip_error(path: Path, error: Exception) -> CptbillError:
    text = str(error)
    if isinstance(error, NotImplementedError) or "compression" in text.lower():
        return damaged(path, "uses a compression method cptbill cannot read")
    if "CRC" in text or "checksum" in text.lower():
        return damaged(path, "is damaged (a part fails its checksum)")
    return damaged(path, "is damaged (its ZIP structure cannot be read)")


def open_package(path: Path) -> Package:
    """Open and check a workbook file: a ZIP within the limits, with a workbook and its sheets."""
    with open(path, "rb") as stream:
        head = stream.read(8)
    if not head:
        raise CptbillError(
            f"{path.name} is empty (0 bytes): it did not finish saving, copying or syncing; "
            "open the original in Excel and save it again, or use a backup."
        )
    if head == _OLE_MAGIC:
        data = path.read_bytes() if path.stat().st_size < 64 * 2**20 else b""
        if "EncryptedPackage".encode("utf-16-le") in data:
            raise CptbillError(
                f"{path.name} is protected with a password: save it in Excel without a password "
                "(File > Info > Protect Workbook > Encrypt with Password, clear it), or recode it "
                "from Excel with the cptbill add-in."
            )
        raise CptbillError(f"{path.name} is an old Excel file (.xls) renamed: save it in Excel as .xlsx.")
    if path.suffix.lower() == ".xlsb":
        raise CptbillError(f"{path.name} is a binary workbook (.xlsb): save it in Excel as .xlsx.")
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        if head.startswith(b"PK"):  # a ZIP cut short or broken: mostly a copy or sync not finished
            raise CptbillError(
                f"{path.name} is damaged (an incomplete or broken file, often a copy or sync that did not "
                "finish): open it in Excel, which may repair it, or use a backup."
            ) from None
        raise CptbillError(f"{path.name} is not an Excel workbook (.xlsx or .xlsm).") from None
    try:
        return _open(path, archive)
    except BaseException:
        archive.close()
        raise


def _open(path: Path, archive: zipfile.ZipFile) -> Package:
    infos = archive.infolist()
    check_limits(path, infos)
    names = {info.filename for info in infos}
    if "[Content_Types].xml" not in names:
        raise CptbillError(f"{path.name} is not an Excel workbook (.xlsx or .xlsm).")
    package = Package(path, archive, infos, "", False, False, [], b"")
    package.content_types = package.read("[Content_Types].xml")
    types = parse_xml(package.content_types, path, "[Content_Types].xml")
    if BINARY_WORKBOOK.encode() in package.content_types:
        raise CptbillError(f"{path.name} is a binary workbook (.xlsb): save it in Excel as .xlsx.")
    workbook_part = next(
        (r.part for r in package.rels("") if r.type.endswith("/officeDocument") and r.part in names), None
    )
    if workbook_part is None:
        workbook_part = "xl/workbook.xml" if "xl/workbook.xml" in names else None
    if workbook_part is None:
        raise CptbillError(f"{path.name} is not an Excel workbook (.xlsx or .xlsm).")
    del types
    package.workbook_part = workbook_part
    root = package.xml(workbook_part)
    namespace = etree.QName(root).namespace
    if namespace not in (MAIN, STRICT_MAIN):
        raise CptbillError(f"{path.name} is not an Excel workbook (.xlsx or .xlsm).")
    package.strict = namespace == STRICT_MAIN
    properties = root.find(f"{{{namespace}}}workbookPr")
    package.date1904 = properties is not None and properties.get("date1904", "") in ("1", "true")
    targets = {r.id: r for r in package.rels(workbook_part)}
    sheets_element = root.find(f"{{{namespace}}}sheets")
    for index, element in enumerate([] if sheets_element is None else sheets_element):
        if not isinstance(element.tag, str):
            continue
        rel_id = element.get(f"{{{package.rel_ns}}}id") or element.get(f"{{{REL}}}id") or ""
        rel = targets.get(rel_id)
        name = element.get("name", "")
        if rel is None or rel.part not in names:
            raise damaged(path, f"is damaged (the sheet {name} is listed but missing)")
        kind = rel.type.rpartition("/")[2]
        package.sheets.append(SheetEntry(name, element.get("sheetId", ""), rel_id, rel.part, kind, index))
    return package


def check_limits(path: Path, infos: list[zipfile.ZipInfo]) -> None:
    """Refuse a ZIP whose parts are too large or too compressed before unpacking anything."""
    total = 0
    for info in infos:
        if info.flag_bits & 0x1:
            raise CptbillError(
                f"{path.name} is protected with a password: save it in Excel without a password, "
                "or recode it from Excel with the cptbill add-in."
            )
        size = info.file_size
        total += size
        ratio = size / max(info.compress_size, 1)
        if size > MAX_PART or (size > RATIO_FROM and ratio > MAX_RATIO) or total > MAX_TOTAL:
            raise CptbillError(
                f"{path.name} holds a part too large to be a billing workbook ({info.filename}: "
                f"{size / 2**20:,.0f} MiB unpacked); cptbill reads parts up to {MAX_PART // 2**20} MiB, "
                f"compressed at most {MAX_RATIO}:1."
            )


def _shared_strings(package: Package, part: str) -> Iterator[str]:
    data = package.read(part)
    if b"<!" in data and _DOCTYPE.search(data):
        raise damaged(package.path, f"holds a document type declaration in {part}")
    namespace = package.main_ns
    try:
        for _, item in etree.iterparse(
            io.BytesIO(data), events=("end",), tag=f"{{{namespace}}}si",
            resolve_entities=False, no_network=True, load_dtd=False,
        ):  # fmt: skip
            yield unescape(_text_of(item, namespace))
            item.clear(keep_tail=True)
    except etree.XMLSyntaxError:
        raise damaged(package.path, f"is damaged (malformed XML in {part})") from None


def _text_of(item: etree._Element, namespace: str) -> str:
    """The text of a string item or inline string: its `t`, or its runs' `t` (phonetic runs left out)."""
    t_tag, r_tag = f"{{{namespace}}}t", f"{{{namespace}}}r"
    pieces = []
    for child in item:
        if child.tag == t_tag:
            pieces.append(child.text or "")
        elif child.tag == r_tag:
            for run in child:
                if run.tag == t_tag:
                    pieces.append(run.text or "")
    return "".join(pieces)


_ESCAPED = re.compile(r"_x([0-9A-Fa-f]{4})_")


def unescape(text: str) -> str:
    """Excel's `_xHHHH_` escapes in cell text (control characters) as the characters."""
    if "_x" not in text:
        return text
    return _ESCAPED.sub(lambda m: chr(int(m.group(1), 16)), text)


# ---------------------------------------------------------------------------------------------
# Styles: which cell formats show dates


_BUILTIN_DATES = {14, 15, 16, 17, 22, 27, 28, 29, 30, 31, 34, 35, 36, 50, 51, 52, 53, 54, 57, 58}
_BUILTIN_TIMES = {18, 19, 20, 21, 32, 33, 45, 46, 47, 55, 56}
_QUOTED = re.compile(r'"[^"]*"|\\.|\[[^\]]*\]|_.|\*.')


@dataclass
class StyleInfo:
    """For each cell format (xf index): 'date', 'datetime', 'time' or '' (not a date)."""

    kinds: list[str]
    formats: dict[int, str]  # numFmtId -> format code (custom ones)

    @classmethod
    def read(cls, package: Package, part: str) -> StyleInfo:
        root = package.xml(part)
        ns = f"{{{etree.QName(root).namespace}}}"
        formats: dict[int, str] = {}
        num_fmts = root.find(f"{ns}numFmts")
        for element in [] if num_fmts is None else num_fmts:
            try:
                formats[int(element.get("numFmtId", ""))] = element.get("formatCode", "")
            except ValueError:
                continue
        kinds = []
        xfs = root.find(f"{ns}cellXfs")
        for xf in [] if xfs is None else xfs:
            try:
                number = int(xf.get("numFmtId", "0"))
            except ValueError:
                number = 0
            kinds.append(format_kind(number, formats.get(number)))
        return cls(kinds, formats)


def format_kind(number: int, code: str | None) -> str:
    """'date', 'datetime', 'time' or '' for a number format."""
    if code is None:
        if number in _BUILTIN_DATES:
            return "datetime" if number == 22 else "date"
        return "time" if number in _BUILTIN_TIMES else ""
    section = code.split(";")[0]
    bare = _QUOTED.sub("", section).lower()
    if "general" in bare and not re.search(r"[dy]", bare.replace("general", "")):
        return ""
    has_date = bool(re.search(r"[dy]", bare)) or ("m" in bare and not re.search(r"[hs]", bare))
    has_time = bool(re.search(r"[hs]", bare))
    if has_date and has_time:
        return "datetime"
    if has_date:
        return "date"
    if has_time:
        return "time"
    return ""


_EPOCH_1900 = dt.datetime(1899, 12, 30)
_EPOCH_1904 = dt.datetime(1904, 1, 1)


def from_serial(serial: float, kind: str, date1904: bool) -> Any:
    """An Excel serial number as a date, datetime or time (the 1900 system's Feb 29, 1900 bug kept)."""
    if date1904:
        moment = _EPOCH_1904 + dt.timedelta(days=serial)
    elif serial < 60:
        if serial < 1 and kind != "time":
            return serial  # Excel's 1900-01-00: not a day
        moment = _EPOCH_1900 + dt.timedelta(days=serial + 1)  # before Excel's 1900-02-29
        if serial < 1 and kind == "time":
            return _time_of(serial)
    elif 60 <= serial < 61:
        return serial  # Excel's 1900-02-29, a day that did not exist: left as the number
    else:
        if serial > 2958465:  # after 9999-12-31
            return serial
        moment = _EPOCH_1900 + dt.timedelta(days=serial)
    if kind == "time" and serial < 1:
        return _time_of(serial)
    moment = _round_ms(moment)
    if kind == "date" and moment.time() == dt.time():
        return moment.date()
    return moment


def _time_of(serial: float) -> dt.time:
    moment = _round_ms(dt.datetime(2000, 1, 1) + dt.timedelta(days=serial))
    return moment.time()


def _round_ms(moment: dt.datetime) -> dt.datetime:
    micro = round(moment.microsecond / 1000) * 1000
    if micro >= 1_000_000:
        return moment.replace(microsecond=0) + dt.timedelta(seconds=1)
    return moment.replace(microsecond=micro)


def number(text: str) -> int | float:
    value = float(text)
    if value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


# ---------------------------------------------------------------------------------------------
# Cell values of one sheet

Rows = list[list[Any]]
_ROW_NUMBERS = re.compile(rb'<row r="(\d+)"')
_WIDE_REFS = re.compile(rb'r="([A-Z]{2,3})\d')
_FORMULA = re.compile(rb"<f[\s>/]")
_ERROR_OR_ISO_DATE = re.compile(rb't="[ed]"')


def read_sheet(package: Package, entry: SheetEntry) -> Rows:
    """A worksheet's values from A1: row 0 is row 1; rows are as wide as their last value.

    Formulas give the result Excel saved; a formula never saved gives `=` and its text. Dates
    come from the cell's number format. Empty rows far apart share one empty list: a stray
    value at XFD1048576 costs one row of 16,384 cells, never a grid.
    """
    if entry.kind != "worksheet":
        return []
    data = package.read(entry.part)
    if b"<!" in data and _DOCTYPE.search(data):
        raise damaged(package.path, f"holds a document type declaration in the sheet {entry.name}")
    if package.validate:
        well_formed(package, data, f"the sheet {entry.name}")
    if not (package.strict or package.date1904) and _calamine_can_read(data) and _plain_parts(package):
        del data  # the XML is not needed while calamine reads: less memory at the peak
        fast = _calamine_rows(package, entry)
        if fast is not None:
            return fast
        data = package.read(entry.part)
    return _lxml_rows(package, entry, data)


def well_formed(package: Package, data: bytes, what: str) -> None:
    """Refuse XML that is not well formed (python-calamine reads some of it anyway), or declares a DTD."""
    parser = expat.ParserCreate()

    def refuse_dtd(*_: Any) -> None:
        raise damaged(package.path, f"holds a document type declaration in {what}")

    parser.StartDoctypeDeclHandler = refuse_dtd
    parser.EntityDeclHandler = refuse_dtd
    try:
        parser.Parse(data, True)
    except expat.ExpatError:
        raise damaged(package.path, f"is damaged ({what} cannot be read)") from None


def _plain_parts(package: Package) -> bool:
    """The parts python-calamine reads besides the sheet hold no DTD (it would not refuse one)."""
    for kind in ("sharedStrings", "styles"):
        part = package.part_of_type(kind)
        if part is not None:
            data = package.read(part)
            if b"<!" in data and _DOCTYPE.search(data):
                raise damaged(package.path, f"holds a document type declaration in {part}")
    return True


def _calamine_can_read(data: bytes) -> bool:
    """Whether python-calamine gives exactly what the lxml reader would, without building a huge grid.

    Only for the plain form every spreadsheet program writes (unprefixed tags, `r` first on rows,
    double quotes), without formulas (a formula never saved must be told from an empty cell),
    error or ISO-date cells, and with a used area small enough for a grid. Each test is one fast
    scan of the bytes.
    """
    # `'` is rare in a sheet: looking for it first spares most files the slower two-byte scan
    if b"<sheetData" not in data or (b"'" in data and b"='" in data) or b" r =" in data or b"<row>" in data:
        return False
    if _FORMULA.search(data) or _ERROR_OR_ISO_DATE.search(data):
        return False
    rows = _ROW_NUMBERS.findall(data)
    if len(rows) != data.count(b"<row "):
        return False
    last_row = max(map(int, rows), default=0)
    wide = _WIDE_REFS.findall(data)
    last_column = max((column_number(m.decode()) for m in set(wide)), default=26)
    return last_row * max(last_column, 26) <= DENSE_CELLS


def _calamine_rows(package: Package, entry: SheetEntry) -> Rows | None:
    """The sheet through python-calamine, much faster; None when it cannot read it."""
    try:
        import python_calamine
    except ImportError:  # not built for every platform (Pyodide): the lxml reader reads everything
        return None
    try:
        if package.calamine is None:
            package.calamine = python_calamine.CalamineWorkbook.from_path(str(package.path))
        rows: Rows = package.calamine.get_sheet_by_name(entry.name).to_python(skip_empty_area=False)
    except Exception:  # anything odd: the lxml reader reads it, or says what is wrong
        return None
    for i, row in enumerate(rows):  # each row replaced in place: the grid is never held twice
        if "" not in row:  # a full row (the scan is quick): as it is
            continue
        last = len(row)
        while last and row[last - 1] == "":
            last -= 1
        rows[i] = [None if v == "" else v for v in row[:last]] if last else []
    while rows and not rows[-1]:
        rows.pop()
    return rows


def _lxml_rows(package: Package, entry: SheetEntry, data: bytes) -> Rows:
    namespace = package.main_ns
    row_tag, c_tag = f"{{{namespace}}}row", f"{{{namespace}}}c"
    v_tag, f_tag, is_tag = f"{{{namespace}}}v", f"{{{namespace}}}f", f"{{{namespace}}}is"
    strings = package.shared_strings
    kinds = package.styles.kinds
    date1904 = package.date1904
    empty: list[Any] = []
    rows: Rows = []
    cells = 0
    row_number = 0
    try:
        for _, row in etree.iterparse(
            io.BytesIO(data), events=("end",), tag=row_tag,
            resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True,
        ):  # fmt: skip
            r = row.get("r")
            row_number = int(r) if r else row_number + 1
            if not 1 <= row_number <= MAX_ROW:
                raise ValueError("row out of the sheet")
            values: dict[int, Any] = {}
            column = 0
            for cell in row:
                if cell.tag != c_tag:
                    continue
                ref = cell.get("r")
                column = split_ref(ref)[1] if ref else column + 1
                if column > MAX_COLUMN:
                    raise ValueError("column out of the sheet")
                value = _cell_value(cell, strings, kinds, date1904, v_tag, f_tag, is_tag, namespace)
                if value is not None:
                    values[column] = value
            row.clear(keep_tail=False)
            parent = row.getparent()
            if parent is not None:
                while row.getprevious() is not None:
                    del parent[0]
            if not values:
                continue
            cells += len(values)
            if cells > MAX_CELLS:
                raise CptbillError(
                    f"{package.path.name}: the sheet {entry.name} holds more than {MAX_CELLS:,} values, "
                    "more than cptbill reads from one sheet."
                )
            while len(rows) < row_number - 1:
                rows.append(empty)
            line: list[Any] = [None] * max(values)
            for col, value in values.items():
                line[col - 1] = value
            if len(rows) == row_number - 1:
                rows.append(line)
            else:  # a row listed twice or out of order: merge
                merged = list(rows[row_number - 1])
                merged += [None] * (len(line) - len(merged))
                for col, value in values.items():
                    merged[col - 1] = value
                rows[row_number - 1] = merged
    except (etree.XMLSyntaxError, ValueError):
        raise damaged(package.path, f"is damaged (the sheet {entry.name} cannot be read)") from None
    return rows


def _cell_value(
    cell: etree._Element, strings: list[str], kinds: list[str], date1904: bool,
    v_tag: str, f_tag: str, is_tag: str, namespace: str,
) -> Any:  # fmt: skip
    kind = cell.get("t", "n")
    text = None
    formula = None
    inline = None
    for child in cell:
        tag = child.tag
        if tag == v_tag:
            text = child.text or ""
        elif tag == f_tag:
            formula = child
        elif tag == is_tag:
            inline = child
    if kind == "inlineStr":
        if inline is not None:
            return unescape(_text_of(inline, namespace)) or None
        kind = "str"
    if text is None or (not text and formula is not None and kind not in ("str", "s")):
        if formula is not None:
            return "=" + (formula.text or "")  # never saved by a spreadsheet application
        return None
    if kind == "s":
        try:
            return strings[int(text)] or None
        except (ValueError, IndexError):
            raise ValueError("no such shared string") from None
    if kind == "str":
        return unescape(text) or None
    if kind == "b":
        return text.strip() in ("1", "true")
    if kind == "e":
        return text or None
    if kind == "d":
        try:
            moment = dt.datetime.fromisoformat(text.strip().rstrip("Z"))
        except ValueError:
            return text
        return moment.date() if moment.time() == dt.time() else moment
    if not text:
        return None
    value = number(text)
    style = cell.get("s")
    if style:
        try:
            date_kind = kinds[int(style)]
        except (ValueError, IndexError):
            date_kind = ""
        if date_kind:
            return from_serial(value, date_kind, date1904)
    return value
