"""X12 835 remittances (ERA): read and validate them with pyx12, append their service lines to Claims."""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import pyx12.error_handler
import pyx12.errors
import pyx12.params
import pyx12.x12context
import pyx12.x12file
import pyx12.x12n_document

from cptbill import contract as c
from cptbill.book import MONEY_FORMAT, Book, Rows, find_sheet, owned_columns
from cptbill.contract import Status
from cptbill.errors import CptbillError
from cptbill.models import Claim, Model, Payer, money
from cptbill.schema import parse_claims, parse_code, parse_payers
from cptbill.submit import settle_submitted

#: The only kind of file `import-era` takes: an 835 remittance in the 5010 version.
FUNCTIONAL_ID = "HP"
VERSION = "005010X221A1"
TRANSACTION = "835"
REVERSAL = "22"  # CLP02: reversal of a previous payment

# Where pyx12 files a problem on an envelope level, and which trailer it concerns.
_ISA_TRAILER = {"001", "021", "023", "024"}
_GS_TRAILER = {"3", "4", "5"}
_ST_TRAILER = {"2", "3", "4"}
_ENVELOPE_PHRASES = {
    ("ISA", "001"): "the IEA control number does not match the ISA",
    ("ISA", "021"): "the count of functional groups (IEA01) is wrong",
    ("ISA", "024"): "a functional group is not closed before the IEA",
    ("ISA", "025"): "the interchange control number is used twice",
    ("GS", "3"): "a transaction is not closed before the GE",
    ("GS", "4"): "the GE control number does not match the GS",
    ("GS", "5"): "the count of transactions (GE01) is wrong",
    ("GS", "6"): "the group control number is used twice",
    ("ST", "3"): "the SE control number does not match the ST",
    ("ST", "4"): "segment count is wrong",
    ("ST", "23"): "the transaction control number is used twice",
}
_SEGMENT_PHRASES = {
    "1": "this segment is not expected here",
    "2": "this segment is not used in an 835 here",
    "6": "this segment does not belong to an 835",
    "7": "this segment is out of order",
    "8": "this segment's elements do not fit together",
    "SEG1": "the segment ends with extra element separators",
}
_ELEMENT_PHRASES = {
    "1": "is missing",
    "2": "is missing (required with the elements given)",
    "3": "is one element too many",
    "4": "is too short",
    "5": "is too long",
    "6": "has a character that is not allowed",
    "7": "is not a valid code",
    "8": "is not a valid date",
    "9": "is not a valid time",
    "10": "must be empty",
    "12": "repeats too often",
    "13": "has too many parts",
}
_LOGGED = re.compile(r"Line:(\d+) (ISA|GS|ST|SEG|ELE):(\w+) - ")
_SE_COUNT = re.compile(r"SE count of (\S+) for SE02=\S* is wrong\. I count (\d+)")


class RemittanceLine(Model):
    """One service line (SVC, loop 2110) of a remittance, as it goes to the Claims sheet."""

    date: dt.date | None
    client: str
    payer: str  # the payer's name in the remittance (N1*PR)
    payer_id: str  # its identifier (N104), may be empty
    code: str
    modifiers: tuple[str, ...] = ()
    units: float = 1
    billed: Decimal
    paid: Decimal
    status: Status
    reason: str = ""
    claim_id: str
    line: str
    source: str

    @property
    def key(self) -> tuple[Any, ...]:
        """What identifies a remittance line: claim ID, line, status and amounts."""
        return _key(self.claim_id, self.line, self.status, self.billed, self.paid, self.units, self.code)


class Remittance(Model):
    """One 835 file: its service lines and the total of its provider-level adjustments (PLB)."""

    file: str  # the file name, without its folder
    transactions: int
    lines: tuple[RemittanceLine, ...]
    provider_adjustments: Decimal = Decimal(0)


@dataclass
class ImportResult:
    """What an import did; `summary()` is the JSON of `import-era --json`."""

    files: int = 0
    lines: int = 0
    added: int = 0
    duplicates: int = 0
    unmatched_payers: list[str] = field(default_factory=list)
    provider_adjustments: Decimal = Decimal(0)

    def summary(self) -> dict[str, object]:
        return {
            "files": self.files,
            "lines": self.lines,
            "added": self.added,
            "duplicates": self.duplicates,
            "unmatched_payers": self.unmatched_payers,
            "provider_adjustments": float(money(self.provider_adjustments)),
        }


# ---------------------------------------------------------------------------------------------
# Reading one file


def read_remittance(path: str | os.PathLike[str]) -> Remittance:
    """Validate one 835 file with pyx12 and read its service lines; CptbillError when it is not valid."""
    path = Path(path)
    name = path.name
    if not path.is_file():
        raise CptbillError(f"{name}: no such remittance file.")
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _refused(name, "it is not a text file") from None
    except OSError:
        raise CptbillError(f"{name}: the remittance file cannot be read.") from None
    if not text.strip():
        raise _refused(name, "the file is empty")
    with _quiet_pyx12() as logged:
        lines, ids = _check_envelope(name, text)
        _validate(name, text, lines, ids, logged)
        try:
            return _read(name, text)
        except Exception as error:  # pyx12 validated it, so this is unexpected: still one sentence
            raise _refused(name, f"pyx12 could not read it ({type(error).__name__})") from None


def _refused(name: str, problem: str) -> CptbillError:
    return CptbillError(f"{name} is not a valid 835 remittance: {problem}.")


@contextmanager
def _quiet_pyx12() -> Iterator[list[logging.LogRecord]]:
    """Keep pyx12's log records (some problems are only logged) and keep them off stderr."""
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = logging.getLogger("pyx12")
    saved = (logger.handlers[:], logger.propagate, logger.level)
    logger.handlers = [Keep(logging.WARNING)]
    logger.propagate = False
    logger.setLevel(logging.WARNING)
    try:
        yield records
    finally:
        logger.handlers, logger.propagate = saved[0], saved[1]
        logger.setLevel(saved[2])


def _physical_lines(text: str, segment_end: str) -> list[int]:
    """The file line on which each segment starts (pyx12 counts segments, not lines)."""
    starts: list[int] = []
    line = 1
    for chunk in text.split(segment_end):
        body = chunk.lstrip("\r\n")
        line += chunk[: len(chunk) - len(body)].count("\n")
        if not body:
            break
        starts.append(line)
        line += body.count("\n")
    return starts


def _where(segment: str, number: int, lines: list[int]) -> str:
    """'segment SE at line 24' from pyx12's segment number; past the end: the file is cut short."""
    if 1 <= number <= len(lines):
        return f"segment {segment} at line {lines[number - 1]}"
    last = lines[-1] if lines else 1
    return f"segment {segment} is missing after line {last}"


def _check_envelope(name: str, text: str) -> tuple[list[int], list[str]]:
    """Refuse files that are not X12, and X12 that is not an 835 5010.

    Returns each segment's file line and segment ID, by pyx12's segment number.
    """
    try:
        reader = pyx12.x12file.X12Reader(io.StringIO(text))
    except pyx12.errors.X12Error:
        raise _refused(
            name, "segment ISA at line 1: the file does not begin with an X12 interchange header"
        ) from None
    lines = _physical_lines(text, reader.seg_term or "~")
    ids: list[str] = []
    try:
        for segment in reader:
            number = reader.get_cur_line()
            seg_id = segment.get_seg_id()
            ids.append(seg_id)
            if seg_id == "GS":
                kind = (segment.get_value("GS01") or "", segment.get_value("GS08") or "")
                if kind != (FUNCTIONAL_ID, VERSION):
                    what = " ".join(k for k in kind if k) or "empty"
                    raise _refused(
                        name,
                        f"{_where('GS', number, lines)}: the group holds {what}, "
                        f"not 835 remittances ({FUNCTIONAL_ID} {VERSION})",
                    )
            elif seg_id == "ST" and segment.get_value("ST01") != TRANSACTION:
                what = segment.get_value("ST01") or "an unnamed transaction"
                raise _refused(name, f"{_where('ST', number, lines)}: transaction {what} is not an 835")
    except pyx12.errors.X12Error:
        raise _refused(name, "segment ISA at line 1: the interchange header is malformed") from None
    return lines, ids


def _validate(
    name: str, text: str, lines: list[int], ids: list[str], logged: list[logging.LogRecord]
) -> None:
    """Full validation by pyx12 (structure, counts, codes); the first problem becomes the error."""
    report = io.StringIO()
    try:
        valid = pyx12.x12n_document.x12n_document(
            pyx12.params.params(), io.StringIO(text), None, None, None, report
        )
    except Exception as error:  # pyx12 raises on some malformed input: one sentence, not a traceback
        raise _refused(name, f"pyx12 cannot validate it ({type(error).__name__})") from None
    try:
        tree = json.loads(report.getvalue() or "{}")
    except ValueError:
        tree = {}
    problems = sorted(_tree_problems(tree, lines)) or sorted(_logged_problems(logged, lines, ids))
    if problems:
        raise _refused(name, problems[0][2])
    if not valid:
        raise _refused(name, "pyx12 reports it invalid")


Problem = tuple[int, int, str]  # (file line, nesting depth from the inside, sentence)


def _tree_problems(tree: Mapping[str, Any], lines: list[int]) -> Iterator[Problem]:
    """Problems from pyx12's error tree, in sentences without data values (no client data)."""
    for isa in tree.get("interchanges", []):
        yield from _envelope("ISA", "IEA", _ISA_TRAILER, isa, lines, 2)
        for gs in isa.get("groups", []):
            yield from _envelope("GS", "GE", _GS_TRAILER, gs, lines, 1)
            for st in gs.get("transactions", []):
                yield from _envelope("ST", "SE", _ST_TRAILER, st, lines, 0)
                for seg in st.get("segments", []):
                    yield from _segment_problems(seg, lines)


def _envelope(
    start: str, trailer: str, trailer_codes: set[str], node: Mapping[str, Any], lines: list[int], depth: int
) -> Iterator[Problem]:
    for error in node.get("errors", []):
        code, text = str(error.get("err_cde")), str(error.get("err_str", ""))
        segment = trailer if code in trailer_codes else start
        number = int(node.get("cur_line") or 0)
        if "missing" in text:  # a trailer that never came: the file ends early
            number = len(lines) + 1
            phrase = "the file ends early (truncated?)"
        else:
            phrase = _ENVELOPE_PHRASES.get((start, code), f"the {start} envelope is not valid")
            counted = _SE_COUNT.search(text)
            if counted and (start, code) == ("ST", "4"):
                phrase += f" (SE01 says {counted.group(1)}, the transaction has {counted.group(2)})"
        yield (_line_of(number, lines), depth, f"{_where(segment, number, lines)}: {phrase}")


def _segment_problems(seg: Mapping[str, Any], lines: list[int]) -> Iterator[Problem]:
    seg_id = str(seg.get("seg_id") or "?")
    number = int(seg.get("cur_line") or 0)
    where = _where(seg_id, number, lines)
    for error in seg.get("errors", []):
        code = str(error.get("err_cde"))
        if code in ("3", "4", "5"):  # missing or repeated segments and loops: map names, no data
            phrase = str(error.get("err_str", "")).replace("  ", " ").rstrip(". ")
        else:
            phrase = _SEGMENT_PHRASES.get(code, "this segment is not valid here")
        yield (_line_of(number, lines), 0, f"{where}: {phrase}")
    for element in seg.get("elements", []):
        ref = f"{seg_id}{int(element.get('ele_pos') or 0):02d}"
        if element.get("subele_pos"):
            ref += f"-{element['subele_pos']}"
        label = f"element {ref}" + (f" ({element['name']})" if element.get("name") else "")
        for error in element.get("errors", []):
            phrase = _ELEMENT_PHRASES.get(str(error.get("err_cde")), "is not valid")
            yield (_line_of(number, lines), 0, f"{where}: {label} {phrase}")


def _logged_problems(
    records: Iterable[logging.LogRecord], lines: list[int], ids: list[str]
) -> Iterator[Problem]:
    """Problems pyx12 only logged (e.g. a segment outside any transaction), without their values."""
    for record in records:
        if record.levelno < logging.ERROR:
            continue
        match = _LOGGED.search(record.getMessage())
        if match is None:
            yield (_line_of(len(lines) + 1, lines), 0, "pyx12 reports it invalid")
            continue
        number, level, code = int(match.group(1)), match.group(2), match.group(3)
        segment = ids[number - 1] if 1 <= number <= len(ids) else level
        if level == "SEG":
            phrase = _SEGMENT_PHRASES.get(code, "this segment is not valid here")
        elif level == "ELE":
            phrase = "an element is not valid"
        else:
            phrase = _ENVELOPE_PHRASES.get((level, code), f"the {level} envelope is not valid")
        yield (_line_of(number, lines), 0, f"{_where(segment, number, lines)}: {phrase}")


def _line_of(number: int, lines: list[int]) -> int:
    if 1 <= number <= len(lines):
        return lines[number - 1]
    return (lines[-1] if lines else 0) + 1


def _read(name: str, text: str) -> Remittance:
    """The service lines of every transaction, with their payer and check or EFT number."""
    reader = pyx12.x12context.X12ContextReader(
        pyx12.params.params(), pyx12.error_handler.errh_null(), io.StringIO(text)
    )
    result: list[RemittanceLine] = []
    transactions = 0
    payer, payer_id, trace = "", "", ""
    adjustments = Decimal(0)
    with reader:
        for node in reader.iter_segments("2100"):
            if node.id == "ST":
                transactions += 1
                payer, payer_id, trace = "", "", ""
            elif node.id == "TRN":
                trace = _value(node, "TRN02")
            elif node.id == "N1" and _value(node, "N101") == "PR":
                payer, payer_id = _value(node, "N102"), _value(node, "N104")
            elif node.id == "PLB":
                for element in ("PLB04", "PLB06", "PLB08", "PLB10", "PLB12", "PLB14"):
                    adjustments += _amount(node, element, Decimal(0))
            elif node.id == "2100":
                source = f"{name} #{trace}" if trace else name
                result.extend(_claim_lines(node, payer, payer_id, source))
    return Remittance(
        file=name, transactions=transactions, lines=tuple(result), provider_adjustments=adjustments
    )


def _claim_lines(claim: Any, payer: str, payer_id: str, source: str) -> Iterator[RemittanceLine]:
    """One RemittanceLine per SVC of a claim (loop 2100)."""
    reversal = _value(claim, "CLP02") == REVERSAL
    first, last = _value(claim, "NM1[QC]04"), _value(claim, "NM1[QC]03")
    client = " ".join(part for part in (first, last) if part)
    claim_date = _date(_value(claim, "DTM[232]02"))
    claim_reason = _reasons(claim.select("CAS"))
    for position, service in enumerate(claim.select("2110"), start=1):
        paid = _amount(service, "SVC03", Decimal(0))
        if reversal:
            status = Status.REVERSED
        elif paid > 0:
            status = Status.PAID
        else:
            status = Status.DENIED
        units = _amount(service, "SVC05", Decimal(1))
        modifiers = (_value(service, f"SVC01-{i}") for i in range(3, 7))
        yield RemittanceLine(
            date=_date(_value(service, "DTM[472]02") or _value(service, "DTM[150]02")) or claim_date,
            client=client,
            payer=payer,
            payer_id=payer_id,
            code=_value(service, "SVC01-2").upper(),
            modifiers=tuple(m for m in modifiers if m),
            units=float(units),
            billed=_amount(service, "SVC02", Decimal(0)),
            paid=paid,
            status=status,
            reason=_reasons(service.select("CAS")) or claim_reason,
            claim_id=_value(claim, "CLP01"),
            line=_value(service, "REF[6R]02") or str(position),
            source=source,
        )


def _value(node: Any, path: str) -> str:
    value = node.get_value(path)
    return "" if value is None else str(value).strip()


def _amount(node: Any, path: str, default: Decimal) -> Decimal:
    text = _value(node, path)
    if not text:
        return default
    try:
        return Decimal(text)
    except InvalidOperation:
        return default


def _date(text: str) -> dt.date | None:
    try:
        return dt.datetime.strptime(text, "%Y%m%d").date() if text else None
    except ValueError:
        return None


def _reasons(adjustments: Iterable[Any]) -> str:
    """CAS group and reason codes in file order, e.g. 'CO-45; PR-2' (up to six reasons per CAS)."""
    found: list[str] = []
    for cas in adjustments:
        group = _value(cas, "CAS01")
        for element in ("CAS02", "CAS05", "CAS08", "CAS11", "CAS14", "CAS17"):
            reason = _value(cas, element)
            if reason:
                found.append(f"{group}-{reason}")
    return "; ".join(dict.fromkeys(found))


# ---------------------------------------------------------------------------------------------
# Writing the Claims sheet


def import_remittances(
    book: Book,
    loaded_payers: Mapping[str, Payer] | None,
    paths: Sequence[Remittance | str | os.PathLike[str]],
) -> ImportResult:
    """Append the remittances' new service lines to the Claims sheet; lines already there are skipped.

    Every file is read (and validated) before the workbook is touched. `loaded_payers` are the
    Payers sheet's payers by name key; None reads them from the book.
    """
    remittances = [p if isinstance(p, Remittance) else read_remittance(p) for p in paths]
    if loaded_payers is None:
        payers_sheet = find_sheet(book, c.PAYERS)
        loaded_payers = parse_payers(book.read(payers_sheet) if payers_sheet else [])[0]
    payer_of = _payer_matcher(loaded_payers.values())
    sheet = find_sheet(book, c.CLAIMS)
    rows = book.read(sheet) if sheet else []
    seen = {_claim_key(claim) for claim in parse_claims(rows)[0] if claim.claim_id}
    result = ImportResult(files=len(remittances))
    unmatched: set[str] = set()
    new: list[tuple[RemittanceLine, str]] = []
    for remittance in remittances:
        result.provider_adjustments += remittance.provider_adjustments
        for line in remittance.lines:
            result.lines += 1
            payer = payer_of(line.payer, line.payer_id)
            if payer is None:
                unmatched.add(line.payer)
            if line.key in seen:
                result.duplicates += 1
                continue
            seen.add(line.key)
            new.append((line, payer or line.payer))
    result.added = len(new)
    new = settle_submitted(book, sheet, rows, new, _cells)  # answers to claims sent by `cptbill claims`
    result.unmatched_payers = sorted(unmatched, key=lambda n: (n.casefold(), n))
    if new:
        _append(book, sheet, rows, new)
    return result


def _compact(text: str) -> str:
    """Names and payer IDs as compared: case and all spaces ignored."""
    return "".join(text.split()).casefold()


def _payer_matcher(payers: Iterable[Payer]) -> Callable[[str, str], str | None]:
    """payer_of(name, id) -> the Payers-sheet name whose name or ERA names match the ID, else the name."""
    known: dict[str, str] = {}
    for payer in payers:
        for alias in (payer.name, *payer.era_names):
            if _compact(alias):
                known.setdefault(_compact(alias), payer.name)

    def payer_of(name: str, payer_id: str) -> str | None:
        return known.get(_compact(payer_id)) if _compact(payer_id) in known else known.get(_compact(name))

    return payer_of


def _key(
    claim_id: str, line: str, status: Status | None, billed: Decimal | None, paid: Decimal | None,
    units: float, code: str | None,
) -> tuple[Any, ...]:  # fmt: skip
    return (
        claim_id.strip(),
        line.strip(),
        status,
        None if billed is None else money(billed),
        None if paid is None else money(paid),
        float(units),
        parse_code(code),
    )


def _claim_key(claim: Claim) -> tuple[Any, ...]:
    return _key(claim.claim_id, claim.line, claim.status, claim.billed, claim.paid, claim.units, claim.code)


def _append(book: Book, sheet: str | None, rows: Rows, new: list[tuple[RemittanceLine, str]]) -> None:
    """Write under the sheet's own headers (adding missing Claims columns at the right end)."""
    if sheet is None:
        name = c.CLAIMS
        columns = {column: i for i, column in enumerate(c.CLAIMS_COLUMNS, start=1)}
    else:
        name = sheet
        columns = owned_columns(book, sheet, rows[0] if rows else [], c.CLAIMS_COLUMNS)
    first = max(len(rows), 1) + 1  # the row of the first new line: below the last used row
    width = max(columns.values())
    values = [_cells(line, payer) for line, payer in new]
    table: Rows = []
    for line_cells in values:
        row: list[Any] = [None] * width
        for column, value in line_cells.items():
            row[columns[column] - 1] = value
        table.append(row)
    book.append_rows(name, c.CLAIMS_COLUMNS, table)
    for column, number_format in _FORMATS.items():  # the new lines look like typed ones
        cells = {first + i: v[column] for i, v in enumerate(values) if v[column] is not None}
        book.write_column(name, columns[column], cells, number_format)


_FORMATS = {c.CODE: "@", c.UNITS: "0", c.BILLED: MONEY_FORMAT, c.PAID: MONEY_FORMAT}


def _cells(line: RemittanceLine, payer: str) -> dict[str, Any]:
    return {
        c.DATE: line.date,
        c.CLIENT: line.client,
        c.PAYER: payer,
        c.CODE: line.code,
        c.UNITS: int(line.units) if float(line.units).is_integer() else line.units,
        c.BILLED: float(money(line.billed)),
        c.PAID: float(money(line.paid)),
        c.STATUS: line.status.value,
        c.REASON: line.reason or None,
        c.CLAIM_ID: line.claim_id,
        c.LINE: int(line.line) if line.line.isdigit() and not line.line.startswith("0") else line.line,
        c.SOURCE: line.source,
        c.MODIFIERS: ", ".join(line.modifiers) or None,
    }


__all__ = ["ImportResult", "Remittance", "RemittanceLine", "import_remittances", "read_remittance"]
