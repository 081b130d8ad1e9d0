"""X12 835 remittances (ERA): read them tolerantly, validate with pyx12 as warnings, append to Claims."""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from cptbill import contract as c
from cptbill.book import Book, append_claims, find_sheet
from cptbill.contract import Status, name_key
from cptbill.errors import CptbillError
from cptbill.history import payer_matcher, split_reasons
from cptbill.models import Claim, Model, Payer, money
from cptbill.schema import parse_claims, parse_code, parse_payers
from cptbill.submit import settle_submitted

#: The only kind of file `import-era` takes: an 835 remittance in the 5010 version.
FUNCTIONAL_ID = "HP"
VERSION = "005010X221A1"
TRANSACTION = "835"

# CLP02, claim status (X12 element 1029): what the payer said about the whole claim.
DENIED_CLAIM = "4"
REVERSAL = "22"
PREDETERMINATION = "25"
FORWARDED = frozenset({"19", "20", "21", "23"})  # processed and sent on to another payer / not ours
NOT_OURS = "23"  # not our claim, forwarded: the payer did not process it
SECONDARY = frozenset({"2", "3"})  # processed as secondary or tertiary: another payer came first
PRIOR_PAYER = "23"  # CARC 23: the impact of prior payer(s) adjudication, whatever its group

#: Adjustments that do not make a paid line `Partial`: the contractual write-down (CO-45, and
#: CO-42/CO-A2, its older fee-schedule spellings), Medicare sequestration (CO-253), the multiple
#: procedure payment reduction on therapy codes (CO-59), a managed-care withhold (CO-104, the
#: contract's share the plan settles later), a claim-specific negotiated discount (CO-131), the
#: workers' comp and auto PIP jurisdictional fee schedules (CO-P12, its older CO-W1, CO-P23), and
#: what a prior payer paid (OA-23) or what exceeds the charges (OA-94) on a secondary claim.
NOT_A_CUT = frozenset(
    {"CO-45", "CO-42", "CO-A2", "CO-253", "CO-59", "CO-104", "CO-131", "CO-P12", "CO-W1", "CO-P23",
     "OA-23", "OA-94"}
)  # fmt: skip

#: The "group" of a provider adjustment on Claims (`PLB-WO 15.00`), beside CAS's CO, PR, OA, PI.
PLB = "PLB"

#: Most warnings listed per file; the rest are counted.
MAX_WARNINGS = 12
#: Amounts and units beyond these are not money or units a massage practice bills (#12: 1e300).
_AMOUNT = re.compile(r"^-?(\d{1,12}(\.\d*)?|\.\d+)$")
_MAX_UNITS = 9999


class Adjustment(Model):
    """One CAS adjustment: group (CO, PR, OA, PI), reason code (CARC) and amount."""

    group: str
    reason: str
    amount: Decimal

    @property
    def code(self) -> str:
        return f"{self.group}-{self.reason}"


class RemittanceLine(Model):
    """One Claims row from a remittance: a service line (SVC), or a claim (CLP) without lines."""

    date: dt.date | None
    client: str
    payer: str  # the payer's name in the remittance (N1*PR N102)
    payer_ids: tuple[str, ...] = ()  # N1*PR N104 and REF*2U
    code: str | None
    modifiers: tuple[str, ...] = ()
    units: float | None = 1  # paid units (SVC05, 1 when absent); None on a claim without lines
    billed: Decimal
    paid: Decimal  # with its share of claim-level adjustments: a claim's rows add up to CLP04
    status: Status
    adjustments: tuple[Adjustment, ...] = ()  # the line's CAS and its share of the claim's
    claim_id: str  # CLP01, the practice's claim number
    payer_claim_id: str = ""  # CLP07
    claim_status: str = ""  # CLP02
    line: str
    source: str
    billed_units: float | None = None  # SVC07
    billed_code: str | None = None  # SVC06

    @property
    def payer_id(self) -> str:
        return self.payer_ids[0] if self.payer_ids else ""

    @property
    def reason(self) -> str:
        """CAS group and reason codes in file order, e.g. 'CO-45; PR-2'."""
        return "; ".join(dict.fromkeys(a.code for a in self.adjustments if a.amount or a.reason))

    @property
    def patient_owes(self) -> Decimal:
        return sum((a.amount for a in self.adjustments if a.group == "PR"), Decimal(0))

    @property
    def adjusted(self) -> str:
        """Every adjustment with its amount: `CO-45 20.00; PR-1 60.00`."""
        return _adjusted_text((a.code, a.amount) for a in self.adjustments)


def _adjusted_text(adjustments: Iterable[tuple[str, Decimal]]) -> str:
    """An Adjusted cell: each code's total, in file order: `CO-45 20.00; PR-1 60.00`."""
    totals: dict[str, Decimal] = {}
    for code, amount in adjustments:
        totals[code] = totals.get(code, Decimal(0)) + amount
    return "; ".join(f"{code} {money(amount):.2f}" for code, amount in totals.items())


class ProviderAdjustment(Model):
    """One PLB adjustment: money taken from (positive) or added to (negative) the payment."""

    source: str  # file and check/EFT number
    reason: str  # PLB03-1, e.g. WO (overpayment recovery), L6 (interest), FB (forwarding balance)
    reference: str  # PLB03-2
    amount: Decimal
    payer: str = ""  # the payer's name in the remittance (N1*PR N102)
    payer_ids: tuple[str, ...] = ()  # N1*PR N104 and REF*2U
    paid_on: dt.date | None = None  # the payment's date: BPR16, else the production date DTM*405
    claimless: bool = False  # its transaction holds no claim (CLP): nothing else records the payment

    @property
    def code(self) -> str:
        """As written on Claims, like a CAS group and reason: `PLB-WO`."""
        return f"{PLB}-{self.reason}"

    @property
    def label(self) -> str:
        """The reason with what it means and the payer's reference: `WO (overpayment recovery) HHC0001`."""
        meaning = PLB_REASONS.get(self.reason.upper())
        text = f"{self.reason} ({meaning})" if meaning else self.reason
        return f"{text} {self.reference}" if self.reference else text


#: What a provider adjustment's reason code (PLB03-1, X12 element 426) means, for the common ones.
PLB_REASONS = {
    "50": "late charge",
    "51": "interest penalty charge",
    "72": "authorized return",
    "90": "early payment allowance",
    "AP": "acceleration of benefits",
    "B2": "rebate",
    "B3": "recovery allowance",
    "BD": "bad debt adjustment",
    "BN": "bonus",
    "C5": "temporary allowance",
    "CR": "capitation interest",
    "CS": "adjustment",
    "CT": "capitation payment",
    "E3": "withholding",
    "FB": "forwarding balance",
    "FC": "fund allocation",
    "IP": "incentive premium payment",
    "IR": "IRS withholding",
    "IS": "interim settlement",
    "J1": "nonreimbursable",
    "L3": "penalty",
    "L6": "interest owed",
    "LE": "levy",
    "LS": "lump sum",
    "OB": "offset for affiliated providers",
    "PI": "periodic interim payment",
    "PL": "payment final",
    "RA": "retro-activity adjustment",
    "SL": "student loan repayment",
    "TL": "third party liability",
    "WO": "overpayment recovery",
    "WU": "unspecified recovery",
}


class Remittance(Model):
    """One 835 file: its Claims rows, provider-level adjustments (PLB) and the warnings of its reading."""

    file: str  # the file name, without its folder
    transactions: int
    claims: int = 0  # CLP segments
    claims_paid: Decimal = Decimal(0)  # sum of CLP04
    lines: tuple[RemittanceLine, ...]
    adjustments: tuple[ProviderAdjustment, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def provider_adjustments(self) -> Decimal:
        return sum((a.amount for a in self.adjustments), Decimal(0))


@dataclass
class ImportResult:
    """What an import did; `summary()` is the JSON of `import-era --json`."""

    files: int = 0
    lines: int = 0
    added: int = 0
    duplicates: int = 0
    unmatched_payers: list[str] = field(default_factory=list)
    adjustments: list[ProviderAdjustment] = field(default_factory=list)  # new ones, once per file
    provider_rows: int = 0  # Claims rows added for payments with provider adjustments and no claim
    warnings: list[str] = field(default_factory=list)

    @property
    def provider_adjustments(self) -> Decimal:
        return sum((a.amount for a in self.adjustments), Decimal(0))

    def summary(self) -> dict[str, object]:
        return {
            "files": self.files,
            "lines": self.lines,
            "added": self.added,
            "duplicates": self.duplicates,
            "unmatched_payers": self.unmatched_payers,
            "provider_adjustments": float(money(self.provider_adjustments)),
            "provider_adjustment_items": [
                {"source": a.source, "reason": a.reason, "reference": a.reference, "amount": float(a.amount)}
                for a in self.adjustments
            ],
            "warnings": self.warnings,
        }


# ---------------------------------------------------------------------------------------------
# The segment reader: delimiters from ISA, segments with their file lines, the envelope


@dataclass(frozen=True, slots=True)
class Segment:
    """One segment: its elements (0 = the segment ID), its position in the file."""

    elements: tuple[str, ...]
    line: int  # the file line on which it starts
    number: int  # 1-based, as pyx12 counts segments
    component: str  # the component separator (ISA16)

    @property
    def id(self) -> str:
        return self.elements[0]

    def get(self, position: int, part: int = 0) -> str:
        """Element `position` (1-based), or its component `part` (1-based); '' when absent."""
        value = self.elements[position] if position < len(self.elements) else ""
        if part:
            parts = value.split(self._separator(value))
            value = parts[part - 1] if part <= len(parts) else ""
        return value.strip()

    def code(self, position: int, part: int = 0) -> str:
        """A qualifier or code (`PR`, `6R`, `HC`, a modifier), in upper case as some files are not."""
        return self.get(position, part).upper()

    def _separator(self, value: str) -> str:
        """ISA16; or, in a composite that lacks it, the character after its qualifier or code
        (`HC>97124`, `72>REF`)."""
        if self.component in value or len(value) < 4 or not value[:2].isalnum() or value[2].isalnum():
            return self.component
        return value[2]

    def where(self) -> str:
        return f"segment {self.id} at line {self.line}"


@dataclass(frozen=True, slots=True)
class Delimiters:
    element: str
    component: str
    repetition: str
    terminator: str


def decode(data: bytes) -> str:
    """The file's text: UTF-8 (with or without a BOM), UTF-16 with its BOM (as Windows PowerShell
    and Notepad's "Unicode" save it), else Latin-1 (names such as MÜLLER)."""
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            pass
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def delimiters(text: str) -> Delimiters:
    """The separators an ISA declares: its 4th character, ISA11, ISA16 and the character after it.

    The ISA is read across line breaks, so a file wrapped at 80 columns is read too.
    """
    if text[:3].upper() != "ISA" or len(text) < 4:
        raise _Unreadable("segment ISA at line 1: the file does not begin with an X12 interchange header")
    element = text[3]
    if element.isalnum() or element in " \t\r\n":
        raise _Unreadable("segment ISA at line 1: its element separator cannot be read")
    count, position, values = 0, 3, [""]
    while count < 16:
        if position >= len(text):
            raise _Unreadable("segment ISA at line 1: the interchange header is cut short")
        char = text[position]
        if char == element:
            count += 1
            values.append("")
        elif char not in "\r\n":
            values[-1] += char
        position += 1
    while position < len(text) and text[position] in "\r\n":  # a wrap just before ISA16
        position += 1
    end = position + 1
    while end < len(text) - 1 and text[end] == " ":  # segments padded with spaces before their terminator
        end += 1
    if end >= len(text):
        raise _Unreadable("segment ISA at line 1: the interchange header is cut short")
    component, terminator = text[position], text[end]
    if terminator == "\r" and text[end + 1 : end + 2] == "\n":
        terminator = "\n"  # CR LF: split at the LF, the CR stripped from each segment
    repetition = values[11][:1] if len(values) > 11 else ""
    found = {element, component, terminator}
    if len(found) < 3 or any(ch.isalnum() or ch == " " for ch in found):
        if _retired(values[12].strip()):  # some 4010 files lack ISA16
            raise _Retired(f"segment ISA at line 1: ISA12 {values[12].strip()}")
        raise _Unreadable("segment ISA at line 1: its separators cannot be read (ISA16 and the terminator)")
    if repetition.isalnum() or repetition in found:  # 4010's ISA11 is "U", not a separator
        repetition = ""
    return Delimiters(element, component, repetition, terminator)


def segments(text: str) -> tuple[list[Segment], Delimiters, bool]:
    """The file's segments, its delimiters, and whether its last segment lacks a terminator."""
    body = text.lstrip(" \t\r\n\x00")
    line = 1 + text[: len(text) - len(body)].count("\n")  # blank lines before the ISA
    text = body
    marks = delimiters(text)
    wrapped = marks.terminator not in "\r\n"  # else each segment ends a line of its own
    found: list[Segment] = []
    chunks = text.split(marks.terminator)
    unterminated = bool(chunks[-1].strip(" \t\r\n\x1a\x00"))
    for chunk in chunks:
        body = chunk.lstrip(" \t\r\n\x00")
        line += chunk[: len(chunk) - len(body)].count("\n")
        start = line
        line += body.count("\n") + (not wrapped)
        if wrapped:
            body = body.replace("\r", "").replace("\n", "")
        body = body.rstrip("\r\n\x1a\x00")
        if not body.strip():
            continue
        elements = body.split(marks.element)
        seg_id = elements[0].strip().upper()
        found.append(Segment((seg_id, *elements[1:]), start, len(found) + 1, marks.component))
    return found, marks, unterminated


class _Unreadable(Exception):
    """The data cannot be read: the message names the segment and its position."""


@dataclass
class _Transaction:
    segments: list[Segment]
    #: SE01 not counting the segments read: the transaction is read only when its payment adds up
    miscount: str = ""


def _envelope(found: list[Segment], unterminated: bool, warnings: list[str]) -> list[_Transaction]:
    """Check ISA/GS/ST nesting, counts and kinds; the 835 transactions inside.

    A trailer's control number that differs from its header's (IEA02, GE02, SE02) loses no data:
    pyx12 lists it among the warnings, and the file is read. So does a segment count (SE01) that
    is wrong in a transaction whose payment adds up (`_map_transaction` decides), and a count of
    groups (IEA01) or transactions (GE01) that differs from those read (`warnings`): what the
    file holds is read whole, and a payment missing from it is said.
    """
    transactions: list[_Transaction] = []
    isa: Segment | None = None
    gs: Segment | None = None
    st: Segment | None = None
    groups = transactions_in_group = 0
    body: list[Segment] = []
    last = found[-1] if found else None
    skip = False  # inside a group of other transactions (a 999 or 277 sent along): passed over
    foreign = ""  # what the first such group holds: the refusal when the file has no 835 at all
    for segment in found:
        kind = segment.id
        if kind == "ISA":
            if isa is not None:
                raise _Unreadable(f"{segment.where()}: the interchange before it has no IEA")
            isa, groups = segment, 0
        elif isa is None:
            raise _Unreadable(f"{segment.where()}: this segment is outside an interchange (ISA to IEA)")
        elif kind == "IEA":
            if gs is not None:
                raise _Unreadable(f"{segment.where()}: the functional group is not closed by a GE before it")
            warnings += _miscount(segment, "functional groups (IEA01)", "the interchange", groups)
            isa = None
        elif kind == "GS":
            if gs is not None:
                raise _Unreadable(f"{segment.where()}: the functional group before it has no GE")
            version = segment.code(8)
            if version.startswith("004"):
                raise _Retired(f"{segment.where()}: {version}")
            skip = not version.startswith("005010X221")  # 835s under another GS01 (HC) are read
            if skip and _retired(isa.get(12)):  # a 5010 835 in an old ISA is read
                raise _Retired(f"{isa.where()}: ISA12 {isa.get(12)}")
            if skip:
                what = " ".join(v for v in (segment.get(1), version) if v) or "empty"
                said = f"{segment.where()}: the group holds {what}, not 835 remittances"
                foreign = foreign or f"{said} ({FUNCTIONAL_ID} {VERSION})"
                warnings.append(f"{said}: passed over")
            gs, groups, transactions_in_group = segment, groups + 1, 0
        elif gs is None:
            raise _Unreadable(f"{segment.where()}: this segment is outside a functional group (GS to GE)")
        elif skip:
            if kind == "GE":
                gs, skip = None, False
        elif kind == "GE":
            if st is not None:
                raise _Unreadable(f"{segment.where()}: a transaction is not closed by an SE before the GE")
            warnings += _miscount(segment, "transactions (GE01)", "the group", transactions_in_group)
            if transactions_in_group == 0:
                raise _Unreadable(f"{segment.where()}: the functional group holds no transaction (ST)")
            gs = None
        elif kind == "ST":
            if st is not None:
                raise _Unreadable(f"{segment.where()}: the transaction before it has no SE")
            if segment.code(1) != TRANSACTION:
                what = segment.get(1) or "an unnamed transaction"
                raise _Unreadable(f"{segment.where()}: transaction {what} is not an 835")
            st, body = segment, [segment]
            transactions_in_group += 1
        elif st is None:
            phrase = "an SE with no ST before it" if kind == "SE" else "this segment is not expected here"
            raise _Unreadable(f"{segment.where()}: {phrase} (outside a transaction)")
        elif kind == "SE":
            body.append(segment)
            if unterminated and segment is last:
                break  # cut short inside its own SE: reported below as the missing IEA
            miscount = ""
            if segment.get(1) != str(len(body)):
                miscount = (
                    f"{segment.where()}: segment count is wrong "
                    f"(SE01 says {segment.get(1) or 'nothing'}, the transaction has {len(body)})"
                )
            transactions.append(_Transaction(body, miscount))
            st = None
        else:
            body.append(segment)
    end = last.line if last else 1
    for open_segment, trailer in ((st, "SE"), (gs, "GE"), (isa, "IEA")):
        if open_segment is not None or (unterminated and trailer == "IEA"):
            raise _Unreadable(
                f"segment {trailer} is missing after line {end}: the file ends early (truncated?)"
            )
    if not transactions:
        raise _Unreadable(
            foreign or f"segment ST is missing after line {end}: the file holds no 835 transaction"
        )
    return transactions


def _miscount(trailer: Segment, what: str, holder: str, found: int) -> list[str]:
    """The warning of a trailer (IEA, GE) whose count differs from what was read (none when equal):
    the payments read are imported whole, and one that may be missing is said."""
    if trailer.get(1) == str(found):
        return []
    element = f"{trailer.id}01"
    return [
        f"{trailer.where()}: the count of {what} is wrong ({element} says {trailer.get(1) or 'nothing'}, "
        f"{holder} has {found}); the payments read are imported; if one is missing, ask the payer or "
        "clearinghouse for it"
    ]


class _Retired(Exception):
    """A 4010 remittance."""


def _retired(version: str) -> bool:
    """An interchange version (ISA12) before 5010: 00401 (4010) and the older 00200 to 00400."""
    return len(version) == 5 and version.isdigit() and version < "00501"


# ---------------------------------------------------------------------------------------------
# Reading one file


def read_remittance(path: str | os.PathLike[str]) -> Remittance:
    """Read one 835 file; CptbillError (one sentence) when its data cannot be read.

    What pyx12's validator finds beyond that becomes the remittance's warnings.
    """
    path = Path(path)
    name = path.name
    if path.is_dir():
        raise CptbillError(f"{name} is a folder: name the remittance files in it (e.g. {name}/*.835).")
    if not path.is_file():
        raise CptbillError(f"{name}: no such remittance file.")
    try:
        data = path.read_bytes()
    except OSError:
        raise CptbillError(f"{name}: the remittance file cannot be read.") from None
    if data.startswith(b"PK\x03\x04"):
        if path.suffix.lower() in c.WORKBOOK_SUFFIXES or b"[Content_Types].xml" in data:
            raise CptbillError(
                f"{name} is a workbook, not a remittance: name the workbook first, then the 835 files "
                "(cptbill import-era WORKBOOK FILE.835)."
            )
        # clearinghouses often deliver remittances zipped
        raise CptbillError(f"{name} is a ZIP archive: unzip it and import the remittance files inside.")
    if data.lstrip()[:5] == b"%PDF-":  # a remittance advice or EOB printed to PDF
        raise CptbillError(
            f"{name} is a PDF: cptbill reads the electronic remittance (835, ERA) that your "
            "clearinghouse or the payer's portal offers as a download; a paper or PDF EOB's lines "
            "can be typed on the Claims sheet."
        )
    return read_remittance_text(name, data)


def _begins_with_isa(text: str) -> bool:
    return text.lstrip(" \t\r\n\x00")[:3].upper() == "ISA"


_ST_835 = re.compile(r"(?:^|[^A-Za-z0-9])ST\s*(?P<sep>[^A-Za-z0-9\s])\s*835\s*(?P=sep)", re.IGNORECASE)


def holds_835(head: bytes) -> bool:
    """Whether a file's first bytes begin an X12 interchange (ISA) with an 835 transaction (ST*835)
    in them: a remittance downloaded under another name than .835, not a 999 or 277 beside it."""
    text = decode(head)
    return _begins_with_isa(text) and _ST_835.search(text) is not None


def read_remittance_text(name: str, data: bytes) -> Remittance:
    """Read an 835 given as bytes; `name` is the file name shown in messages and in Source."""
    text = decode(data)
    if not text.strip(" \t\r\n\x00"):
        raise _refused(name, "the file is empty")
    if not _begins_with_isa(text) and _binary(text):
        raise _refused(name, "it is not a text file")
    try:
        found, marks, unterminated = segments(text)
        counted: list[str] = []  # counts of the envelope that differ from what it holds
        transactions = _envelope(found, unterminated, counted)
        remittance = _map(name, transactions)
        remittance = remittance.model_copy(update={"warnings": (*counted, *remittance.warnings)})
    except _Retired as retired:
        raise CptbillError(
            f"{name} is a 4010 remittance ({retired}): version 4010 was retired in 2012; "
            f"ask the payer or clearinghouse for the 5010 file ({VERSION})."
        ) from None
    except _Unreadable as problem:
        raise _refused(name, str(problem)) from None
    # pyx12 may find what the reading already says, in fewer words: said once
    found_too = [w for w in validate(found, marks) if not any(o.startswith(w) for o in remittance.warnings)]
    warnings = [*remittance.warnings, *found_too]
    if len(warnings) > MAX_WARNINGS:
        warnings = [*warnings[:MAX_WARNINGS], f"... and {len(warnings) - MAX_WARNINGS} more"]
    return remittance.model_copy(update={"warnings": tuple(f"{name}: {w}" for w in warnings)})


def _binary(text: str) -> bool:
    return any(ord(ch) < 32 and ch not in "\t\r\n\x1c\x1d\x1e\x1f" for ch in text[:512])


def _refused(name: str, problem: str) -> CptbillError:
    return CptbillError(f"{name} is not a valid 835 remittance: {problem}.")


# ---------------------------------------------------------------------------------------------
# Mapping claims to rows (no pyx12: the mapping does not depend on the validator accepting the file)


@dataclass
class _Claim:
    clp: Segment
    adjustments: list[Adjustment] = field(default_factory=list)
    cas: list[Segment] = field(default_factory=list)  # the claim's own CAS segments
    interest: Decimal = Decimal(0)  # AMT*I: prompt-pay interest, which some payers add to CLP04
    client: str = ""
    insured: str = ""
    date: dt.date | None = None
    services: list[_Service] = field(default_factory=list)


@dataclass
class _Service:
    svc: Segment
    adjustments: list[Adjustment] = field(default_factory=list)
    date: dt.date | None = None
    line: str = ""


@dataclass
class _Reading:
    """What the mapping gathers while it walks a file."""

    name: str
    lines: list[RemittanceLine] = field(default_factory=list)
    adjustments: list[ProviderAdjustment] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    claims: int = 0
    claims_paid: Decimal = Decimal(0)


def _map(name: str, transactions: list[_Transaction]) -> Remittance:
    reading = _Reading(name)
    for transaction in transactions:
        _map_transaction(reading, transaction)
    return Remittance(
        file=name,
        transactions=len(transactions),
        claims=reading.claims,
        claims_paid=reading.claims_paid,
        lines=tuple(reading.lines),
        adjustments=tuple(reading.adjustments),
        warnings=tuple(reading.warnings),
    )


def _map_transaction(reading: _Reading, transaction: _Transaction) -> None:
    payer, payer_ids, trace, party = "", [], "", ""
    paid_on: dt.date | None = None
    bpr: Segment | None = None
    claims: list[_Claim] = []
    claim: _Claim | None = None
    service: _Service | None = None
    adjustments: list[ProviderAdjustment] = []
    for segment in transaction.segments:
        kind = segment.id
        if kind == "TRN" and not trace:
            trace = segment.get(2)
        elif kind == "BPR":
            paid_on, bpr = _date(segment.get(16)) or paid_on, bpr or segment
        elif kind == "DTM" and claim is None and segment.code(1) == "405":
            paid_on = paid_on or _date(segment.get(2))
        elif kind == "N1" and claim is None:
            party = segment.code(1)
            if party == "PR":
                payer = segment.get(2)
                payer_ids += [segment.get(4)] if segment.get(4) else []
        elif kind == "REF" and claim is None and party == "PR" and segment.code(1) == "2U":
            payer_ids += [segment.get(2)] if segment.get(2) else []
        elif kind == "CLP":
            claim, service = _Claim(segment), None
            claims.append(claim)
        elif kind == "PLB":
            claim = service = None
            adjustments.extend(_plb(reading, segment, trace))
        elif claim is None:
            continue
        elif kind == "SVC":
            service = _Service(segment)
            claim.services.append(service)
        elif kind == "CAS":
            target = service.adjustments if service else claim.adjustments
            target.extend(_cas(reading, segment))
            if service is None:
                claim.cas.append(segment)
        elif kind == "NM1" and service is None:
            person = " ".join(p for p in (segment.get(4), segment.get(3)) if p)
            if segment.code(1) == "QC":
                claim.client = person
            elif segment.code(1) == "IL":
                claim.insured = person
        elif kind == "DTM":
            date = _date(segment.get(2))
            qualifier = segment.code(1)
            if service is not None and qualifier in ("472", "150") and date and not service.date:
                service.date = date
            elif service is None and qualifier in ("232", "233") and date and not claim.date:
                claim.date = date
        elif kind == "AMT" and service is None and segment.code(1) == "I":
            claim.interest += _money(reading, segment, 2)
        elif kind == "REF" and service is not None and segment.code(1) == "6R":
            service.line = segment.get(2)
    source = f"{reading.name} #{trace}" if trace else reading.name
    payment = {"payer": payer, "payer_ids": tuple(payer_ids), "paid_on": paid_on, "claimless": not claims}
    reading.adjustments.extend(a.model_copy(update=payment) for a in adjustments)
    for claim in claims:
        _balance_claim(reading, claim)
        reading.claims += 1
        reading.claims_paid += _money(reading, claim.clp, 4)
        reading.lines.extend(_claim_rows(reading, claim, payer, tuple(payer_ids), source))
    balanced = bpr is not None and _balance(reading, bpr, claims, adjustments)
    if transaction.miscount:
        # Segments lost or added in the middle would show as money that does not add up: when it
        # does, the count is what is wrong (public files are often edited by hand), not the data.
        if not balanced:
            raise _Unreadable(
                f"{transaction.miscount}, and its claims do not add up to the payment (BPR02): "
                "part of it is missing"
            )
        reading.warnings.append(
            f"{transaction.miscount}; the payment adds up (BPR02), so the transaction is read"
        )


def _balance_claim(reading: _Reading, claim: _Claim) -> None:
    """A claim's adjustments, its own and its lines', make its billed less paid (CLP03 - CLP04).

    When they do not but its lines' alone do, the claim's CAS repeat the lines' (some senders
    write the same adjustment at both levels): they are dropped, so no money is counted twice.
    Otherwise a claim that does not add up is read as it is, with a warning.
    """
    expected = _money(reading, claim.clp, 3) - _money(reading, claim.clp, 4)
    lines = sum((a.amount for s in claim.services for a in s.adjustments), Decimal(0))
    own = sum((a.amount for a in claim.adjustments), Decimal(0))
    if lines + own in (expected, expected + claim.interest):  # interest paid with the claim
        return
    if claim.services and own and lines in (expected, expected + claim.interest):
        claim.adjustments = []
        reading.warnings.append(
            f"{claim.cas[0].where()}: the claim's adjustments repeat its service lines' "
            "(the lines alone make its billed less paid); counted once"
        )
        return
    reading.warnings.append(
        f"{claim.clp.where()}: the claim's adjustments (CAS) come to {lines + own:.2f}, "
        f"not its billed less paid ({expected:.2f})"
    )


def _balance(
    reading: _Reading, bpr: Segment, claims: Sequence[_Claim], adjustments: Sequence[ProviderAdjustment]
) -> bool:
    """Whether the claims paid less the provider adjustments are the payment (BPR02; BPR03 D: a
    debit, the provider pays), as a billing office checks an 835 against its check or EFT; a
    warning when not."""
    payment = _money(reading, bpr, 2) * (-1 if bpr.get(3).upper() == "D" else 1)
    total = sum((_money(reading, c.clp, 4) for c in claims), Decimal(0)) - sum(
        (a.amount for a in adjustments), Decimal(0)
    )
    if total != payment:
        reading.warnings.append(
            f"{bpr.where()}: the claims paid (CLP04) less the provider adjustments (PLB) come to "
            f"{total:.2f}, not the payment's {payment:.2f}; check the payment against the check or EFT"
        )
    return total == payment


def _claim_rows(
    reading: _Reading, claim: _Claim, payer: str, payer_ids: tuple[str, ...], source: str
) -> list[RemittanceLine]:
    """The claim's rows: one per SVC, or one from CLP; claim-level adjustments shared out by billed."""
    clp = claim.clp
    status_code = clp.code(2)
    claim_paid = _money(reading, clp, 4)
    common = {
        "client": claim.client or claim.insured,
        "payer": payer,
        "payer_ids": payer_ids,
        "claim_id": clp.get(1),
        "payer_claim_id": clp.get(7),
        "claim_status": status_code,
        "source": source,
    }
    if not claim.services:
        return [
            RemittanceLine(
                date=claim.date, code=None, units=None, billed=_money(reading, clp, 3), paid=claim_paid,
                status=_status(status_code, claim_paid, claim.adjustments, billed=_money(reading, clp, 3)),
                adjustments=tuple(claim.adjustments),
                line="", **common,
            )
        ]  # fmt: skip
    billed = [_money(reading, s.svc, 2) for s in claim.services]
    paid = [_money(reading, s.svc, 3) for s in claim.services]
    weights = [abs(b) for b in billed]
    # what CLP04 pays beyond the lines (prompt-pay interest, AMT*I) or short of them (a claim-level
    # reduction) belongs to the lines paid: a denied line's Paid stays 0 (by billed amount when none is paid)
    # a reversal (billed below 0) negates its original's amounts: shared as the original's were
    sign = -1 if sum(billed, Decimal(0)) < 0 else 1
    by_paid = [max(sign * p, Decimal(0)) for p in paid] if any(sign * p > 0 for p in paid) else weights
    paid_shares = _share(claim_paid - sum(paid, Decimal(0)), by_paid)
    # The claim's adjustments explain what its lines' own adjustments leave of billed less paid:
    # each goes to the lines so left open (a line the payer denied in full to the provider never
    # takes a share of a claim-level deductible); where no line is, to the lines paid.
    open_amounts = [
        max(sign * (b - p - s - sum((a.amount for a in service.adjustments), Decimal(0))), Decimal(0))
        for b, p, s, service in zip(billed, paid, paid_shares, claim.services, strict=True)
    ]
    claim_weights = open_amounts if any(open_amounts) else by_paid
    claim_shares = [[] for _ in claim.services]  # type: list[list[Adjustment]]
    for adjustment in claim.adjustments:
        for i, amount in enumerate(_share(adjustment.amount, claim_weights)):
            if amount:
                claim_shares[i].append(adjustment.model_copy(update={"amount": amount}))
    rows = []
    for i, service in enumerate(claim.services):
        svc = service.svc
        adjustments = (*service.adjustments, *claim_shares[i])
        line_paid = paid[i] + paid_shares[i]
        billed_code = parse_code(svc.code(6, 2)) if svc.get(6) else None
        rows.append(
            RemittanceLine(
                date=service.date or claim.date,
                code=parse_code(svc.code(1, 2)) or svc.code(1, 2) or None,
                modifiers=tuple(m for m in (svc.code(1, n) for n in range(3, 7)) if m),
                units=_units(reading, svc, 5, 1.0),
                billed=billed[i],
                paid=line_paid,
                status=_status(status_code, line_paid, adjustments, reversal=paid[i] < 0, billed=billed[i]),
                adjustments=adjustments,
                line=service.line or str(i + 1),
                billed_units=_units(reading, svc, 7, None),
                billed_code=billed_code,
                **common,
            )
        )
    return rows


def _share(total: Decimal, weights: Sequence[Decimal]) -> list[Decimal]:
    """`total` split in cents in proportion to `weights` (equal when all are 0), adding up exactly."""
    if not weights:
        return []
    whole = sum(weights, Decimal(0))
    parts = [money(total * w / whole) if whole else money(total / len(weights)) for w in weights[:-1]]
    return [*parts, total - sum(parts, Decimal(0))]


def _status(
    claim_status: str,
    paid: Decimal,
    adjustments: Iterable[Adjustment],
    reversal: bool | None = None,
    billed: Decimal | None = None,
) -> Status:
    """What the payer said (DOMAIN.md, "what a $0 means"), from CLP02, the amounts and the CAS.

    A line paid 0 on a claim processed and forwarded (CLP02 19, 20, 21) with a denial reason of
    its own and nothing for the client is Denied: the next payer gets the client's share only.
    `reversal`: the payer's own amount is negative (SVC03; by default `paid`). A line that goes
    below 0 only by its share of the claim's adjustments is not a reversal. A line billed 0 and
    paid 0 (a no-charge line: a CPT II or other reporting code, a service included in another
    one, CO-97 or CO-246 for 0.00 or no CAS at all) is settled as `Paid` when the claim was
    processed (not denied, reversed, forwarded or an estimate) and the client owes nothing:
    nothing was asked and nothing is left to chase.
    """
    adjustments = tuple(adjustments)
    codes = {a.code for a in adjustments if a.amount}
    groups = {a.group for a in adjustments if a.amount}
    # CARC 23, the prior payer's adjudication, in any group (OA-23; CO-23 from some Medicaid plans)
    prior_payer = {code for code in codes if code.endswith(f"-{PRIOR_PAYER}")}
    beyond_contract = (
        {code for code in codes if code.split("-")[0] in ("CO", "OA", "PI")} - NOT_A_CUT - prior_payer
    )
    if claim_status == REVERSAL or (paid < 0 if reversal is None else reversal):
        return Status.REVERSED
    if claim_status == PREDETERMINATION:
        return Status.PREDETERMINATION
    if claim_status == DENIED_CLAIM:
        return Status.DENIED
    if claim_status in FORWARDED:  # whatever was paid: the claim goes on to the next payer
        if claim_status != NOT_OURS and paid == 0 and beyond_contract and "PR" not in groups:
            return Status.DENIED  # but a line it processed and denied (CO-B15) is its own denial
        return Status.FORWARDED
    if billed == 0 and paid == 0 and sum((a.amount for a in adjustments if a.group == "PR"), Decimal(0)) <= 0:
        return Status.PAID  # a no-charge line, processed: nothing billed, nothing owed
    if paid > 0:
        return Status.PARTIAL if beyond_contract else Status.PAID
    if prior_payer:
        return Status.OTHER_PAYER
    if beyond_contract:  # also on a secondary claim: CO-29 or CO-251 there is the payer's own denial
        return Status.DENIED
    if claim_status in SECONDARY:
        return Status.OTHER_PAYER
    if "PR" in groups:
        return Status.PATIENT
    if codes:  # CO-45 alone: the payer allows nothing
        return Status.DENIED
    return Status.PENDING


def _cas(reading: _Reading, segment: Segment) -> Iterator[Adjustment]:
    """Up to six reason/amount pairs of one CAS."""
    group = segment.code(1)
    for position in (2, 5, 8, 11, 14, 17):
        reason = segment.get(position).upper()
        if reason:
            yield Adjustment(group=group, reason=reason, amount=_money(reading, segment, position + 1))


def _plb(reading: _Reading, segment: Segment, trace: str) -> Iterator[ProviderAdjustment]:
    source = f"{reading.name} #{trace}" if trace else reading.name
    for position in (3, 5, 7, 9, 11, 13):
        if segment.get(position):
            yield ProviderAdjustment(
                source=source,
                reason=segment.code(position, 1),
                reference=segment.get(position, 2),
                amount=_money(reading, segment, position + 1),
            )


def _money(reading: _Reading, segment: Segment, position: int) -> Decimal:
    """An amount element; one that cannot be money refuses the file (money at stake)."""
    text = segment.get(position)
    if not text:
        return Decimal(0)
    if not _AMOUNT.match(text):
        raise _Unreadable(f"{segment.where()}: element {segment.id}{position:02d} is not an amount")
    return money(Decimal(text))


def _units(reading: _Reading, segment: Segment, position: int, default: float | None) -> float | None:
    """A units element; one that cannot be units is a warning and reads as the default."""
    text = segment.get(position)
    if not text:
        return default
    try:
        units = float(Decimal(text))
    except (InvalidOperation, ValueError):
        units = float("nan")
    if not abs(units) <= _MAX_UNITS:
        reading.warnings.append(
            f"{segment.where()}: element {segment.id}{position:02d} is not a number of units; "
            f"read as {'blank' if default is None else f'{default:g}'}"
        )
        return default
    return units


def _date(text: str) -> dt.date | None:
    try:
        return dt.datetime.strptime(text, "%Y%m%d").date() if len(text) == 8 else None
    except ValueError:
        return None


# ---------------------------------------------------------------------------------------------
# Validation by pyx12, as warnings (it refuses or crashes on files posting systems take)

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


def validate(found: Sequence[Segment], marks: Delimiters) -> list[str]:
    """pyx12's findings on the file, as sentences without data values (no client data)."""
    import pyx12.params
    import pyx12.x12n_document

    text = _normalized(found, marks)
    report = io.StringIO()
    with _quiet_pyx12() as logged:
        try:
            pyx12.x12n_document.x12n_document(
                pyx12.params.params(), io.StringIO(text), None, None, None, report
            )
        except Exception as error:  # pyx12 crashes on some inputs: a warning, not a refusal
            return [f"pyx12 could not check it ({type(error).__name__}); it was read without that check"]
    try:
        tree = json.loads(report.getvalue() or "{}")
    except ValueError:
        tree = {}
    lines = [s.line for s in found]
    ids = [s.id for s in found]
    found_in_tree = set(_tree_problems(tree, lines))
    placed = {line for line, _, _ in found_in_tree}
    said = {sentence.partition(": ")[2] for _, _, sentence in found_in_tree}
    # pyx12 logs errors it also reports in its tree (an element on the same line; an envelope's
    # control number at its trailer): the tree's sentence is kept
    logged_only = {
        p
        for p in _logged_problems(logged, lines, ids)
        if p[0] not in placed and p[2].partition(": ")[2] not in said
    }
    groups = {
        (
            s.line,
            0,
            f"{s.where()}: GS01 is {s.get(1) or 'empty'}, not {FUNCTIONAL_ID}; read as 835 remittances, as its GS08 and ST say",
        )
        for s in found
        if s.id == "GS" and s.code(1) != FUNCTIONAL_ID
    }
    plb_lines = {s.line for s in found if s.id == "PLB"}
    return [
        sentence
        for line, _, sentence in sorted(found_in_tree | logged_only | groups)
        # PLB repeats in the 835 (TR3: >1, as pyx12's own map says); pyx12 counts each one as a
        # new footer loop, a false finding on the many payments with several provider adjustments
        if not (line in plb_lines and "Loop FOOTER exceeded max count" in sentence)
    ]


#: The widths of ISA01 to ISA15 (ISA16 is one character).
_ISA_WIDTHS = (2, 10, 2, 10, 2, 15, 2, 15, 6, 4, 1, 5, 9, 1, 1)


def _normalized(found: Sequence[Segment], marks: Delimiters) -> str:
    """The segments with standard separators, one per line, so pyx12's segment numbers are ours."""
    standard = {"*", ":", "^", "~"}

    def clean(value: str) -> str:  # upper case: codes written in lower case mean the same (`hc`, `n1*pr`)
        for char in standard:
            value = value.replace(char, " ")
        return value.upper()

    out = []
    for segment in found:
        parts = [":".join(clean(part) for part in e.split(marks.component)) for e in segment.elements]
        if segment.id == "ISA" and len(parts) > 16:
            parts[11] = "^" if marks.repetition else parts[11]
            parts[16] = ":"
            # pyx12 reads only a fixed-width ISA; some senders trim its padding (`ISA*00* *00* *ZZ*NVMED *`)
            parts[1:16] = [p.ljust(width) for p, width in zip(parts[1:16], _ISA_WIDTHS, strict=True)]
            parts[13] = parts[13].strip().zfill(9)
            if _retired(parts[12].strip()):  # a 5010 835 in an ISA left at 00401: pyx12 reads 00501 only
                parts[11], parts[12] = "^", "00501"
        elif segment.id == "IEA" and len(parts) > 2:
            parts[2] = parts[2].strip().zfill(9)
        elif segment.id == "GS" and len(parts) > 8:
            parts[1] = FUNCTIONAL_ID  # another GS01 around 835s is reported by `validate` itself
            if parts[8].strip() == "005010X221":
                parts[8] = VERSION  # pyx12 knows the A1 map only; the difference touches no claim
        out.append("*".join(parts) + "~\n")
    return "".join(out)


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


def _where(segment: str, number: int, lines: list[int]) -> str:
    if 1 <= number <= len(lines):
        return f"segment {segment} at line {lines[number - 1]}"
    last = lines[-1] if lines else 1
    return f"segment {segment} is missing after line {last}"


Problem = tuple[int, int, str]  # (file line, nesting depth from the inside, sentence)


def _tree_problems(tree: Mapping[str, Any], lines: list[int]) -> Iterator[Problem]:
    """Problems from pyx12's error tree, in sentences without data values."""
    for isa in tree.get("interchanges", []):
        yield from _envelope_problems("ISA", "IEA", _ISA_TRAILER, isa, lines, 2)
        for gs in isa.get("groups", []):
            yield from _envelope_problems("GS", "GE", _GS_TRAILER, gs, lines, 1)
            for st in gs.get("transactions", []):
                yield from _envelope_problems("ST", "SE", _ST_TRAILER, st, lines, 0)
                for seg in st.get("segments", []):
                    yield from _segment_problems(seg, lines)


def _envelope_problems(
    start: str, trailer: str, trailer_codes: set[str], node: Mapping[str, Any], lines: list[int], depth: int
) -> Iterator[Problem]:
    for error in node.get("errors", []):
        code = str(error.get("err_cde"))
        segment = trailer if code in trailer_codes else start
        number = int(node.get("cur_line") or 0)
        phrase = _ENVELOPE_PHRASES.get((start, code), f"the {start} envelope is not valid")
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
            yield (_line_of(len(lines) + 1, lines), 0, "pyx12 reports a problem it does not place")
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


# ---------------------------------------------------------------------------------------------
# Writing the Claims sheet


def import_remittances(
    book: Book,
    loaded_payers: Mapping[str, Payer] | None,
    paths: Sequence[Remittance | str | os.PathLike[str]],
) -> ImportResult:
    """Append the remittances' new rows to the Claims sheet; rows already there are skipped.

    Every file is read before the workbook is touched. `loaded_payers` are the Payers sheet's
    payers by name key; None reads them from the book. Provider adjustments (PLB) are counted
    once per payment (payer and check or EFT number): not again when a file already on Claims is
    imported again. A payment that holds PLB items and no claim gets a Claims row of its own
    (`_provider_cells`), by which a later import of it is recognised: same payer, check or EFT
    number and adjustments.
    """
    remittances = [p if isinstance(p, Remittance) else read_remittance(p) for p in paths]
    if loaded_payers is None:
        payers_sheet = find_sheet(book, c.PAYERS)
        loaded_payers = parse_payers(book.read(payers_sheet) if payers_sheet else [])[0]
    payer_of = payer_matcher(loaded_payers.values())
    unmatched: set[str] = set()

    def matched(name: str, ids: Sequence[str]) -> str | None:
        """The Payers sheet's name, or None with the payer listed as unmatched."""
        found = payer_of(name, ids)
        if found is None:
            unmatched.add(name or (ids[0] if ids else "(no payer name)"))
        return found

    def payers_of(name: str, ids: Sequence[str] = ()) -> set[str]:
        """Every name key a payment's payer may be written under (ERA names may be added later)."""
        return {name_key(n) for n in (payer_of(name, ids), name, *ids) if n}

    sheet = find_sheet(book, c.CLAIMS)
    rows = book.read(sheet) if sheet else []
    seen: dict[tuple[Any, ...], set[str]] = {}  # a line's keys -> the payments (check/EFT) it came in
    known = _Payments()
    for claim in parse_claims(rows)[0]:
        for key in _claim_keys(claim):
            seen.setdefault(key, set()).add(_trace(claim.source))
        if claim.source:
            known.add(
                _payment_of(claim.source, claim.adjusted, _is_provider_row(claim)), payers_of(claim.payer)
            )
    result = ImportResult(files=len(remittances))
    new: list[tuple[RemittanceLine, str]] = []
    recorded: list[dict[str, Any]] = []
    for remittance in remittances:
        result.warnings.extend(remittance.warnings)
        paid = [
            (_payment_of(line.source), payers_of(line.payer, line.payer_ids)) for line in remittance.lines
        ]
        # a file already imported (one of its payments is on Claims) brings no provider adjustment again
        again = any(known.has(*p) for p in paid)
        for items in _by_payment(remittance.adjustments):
            first = items[0]
            payment = _payment_of(
                first.source, _adjusted_text((a.code, a.amount) for a in items), first.claimless
            )
            payers = payers_of(first.payer, first.payer_ids)
            if again or known.has(payment, payers):
                continue
            if first.claimless:  # nothing else records this payment: a row of its own does
                known.add(payment, payers)
                payer = matched(first.payer, first.payer_ids)
                recorded.append(
                    _provider_cells(items, payer or first.payer or next(iter(first.payer_ids), ""))
                )
            result.adjustments.extend(items)
        for line in remittance.lines:
            result.lines += 1
            payer = matched(line.payer, line.payer_ids)
            keys, trace = _line_keys(line), _trace(line.source)
            if any(not trace or not seen[k].isdisjoint({trace, ""}) for k in keys if k in seen):
                result.duplicates += 1
                continue
            seen.setdefault(next(k for k in keys if k[0] != _ONE_ID), set()).add(trace)
            new.append((line, payer or line.payer or line.payer_id))
        for payment, payers in paid:
            known.add(payment, payers)
        for a in remittance.adjustments:
            if not a.claimless:
                known.add(_payment_of(a.source), payers_of(a.payer, a.payer_ids))
    settled = settle_submitted(book, sheet, rows, new, _cells)  # answers to claims sent by `cptbill claims`
    new = settled.rest
    result.duplicates += settled.repeated
    result.added = len(new) + settled.settled
    result.provider_rows = len(recorded)
    result.unmatched_payers = sorted(unmatched, key=lambda n: (n.casefold(), n))
    append_claims(book, sheet, rows, [*(_cells(line, payer) for line, payer in new), *recorded])
    return result


class _Payments:
    """Payments on Claims, by check/EFT number, with the payer names each may be written under."""

    def __init__(self) -> None:
        self._payers: dict[tuple[str, ...], set[str]] = {}

    def add(self, payment: tuple[str, ...], payers: set[str]) -> None:
        self._payers.setdefault(payment, set()).update(payers)

    def has(self, payment: tuple[str, ...], payers: set[str]) -> bool:
        return not self._payers.get(payment, set()).isdisjoint(payers)


def _payment_of(source: str, adjusted: str = "", claimless: bool = False) -> tuple[str, ...]:
    """A payment as recognised: its check/EFT number (else its file); without claims, also its
    adjustments, the only other thing that tells it from another payment with that number."""
    if claimless:
        return (_payment_key(source), *_adjustment_key(adjusted))
    return (_payment_key(source),)


def provider_rows_note(count: int) -> str:
    """What the import summary says about the rows of payments without claims."""
    payments = "1 payment" if count == 1 else f"{count} payments"
    return f"{payments} without claims added to Claims (Reason PLB-...), so importing it again counts nothing"


def _by_payment(adjustments: Iterable[ProviderAdjustment]) -> list[list[ProviderAdjustment]]:
    """A file's provider adjustments by transaction (file, check/EFT number, payer), in file order."""
    found: dict[tuple[Any, ...], list[ProviderAdjustment]] = {}
    for a in adjustments:
        found.setdefault((a.source, a.payer, a.payer_ids, a.claimless), []).append(a)
    return list(found.values())


def _is_provider_row(claim: Claim) -> bool:
    """A Claims row that records a payment's provider adjustments (PLB-...), not a service line."""
    reasons = split_reasons(claim.reason)
    return bool(reasons) and not claim.claim_id and all(r.startswith(f"{PLB}-") for r in reasons)


def _adjustment_key(adjusted: str) -> tuple[str, ...]:
    """An Adjusted cell as compared: `PLB-L6 -5.00; PLB-FB -15.00`, spaces and case aside."""
    return tuple(" ".join(part.split()) for part in split_reasons(adjusted))


def _provider_cells(items: Sequence[ProviderAdjustment], payer: str) -> dict[str, Any]:
    """The Claims row of a payment without claims: its date, payer, what the adjustments paid, each one."""
    return {
        c.DATE: items[0].paid_on,
        c.PAYER: payer,
        c.PAID: float(money(-sum((a.amount for a in items), Decimal(0)))),
        c.REASON: "; ".join(dict.fromkeys(a.code for a in items)),
        c.SOURCE: items[0].source,
        c.ADJUSTED: _adjusted_text((a.code, a.amount) for a in items),
    }


def _trace(source: str) -> str:
    """The check/EFT number (TRN02) in a Source cell; '' when it has none (a typed row).

    A line met again in another payment is money paid again (a claim reversed and reprocessed
    under the same claim numbers and amounts), not a line already imported; a row without a
    check/EFT number cannot tell, so it counts as the same.
    """
    return source.rpartition(" #")[2].strip() if " #" in source else ""


def _payment_key(source: str) -> str:
    """What identifies a payment in a Source cell: its check/EFT number (after the last ` #`, as
    `_trace` reads it), else the file name."""
    trace = _trace(source)
    return f"#{trace}" if trace else (source.rpartition(" #")[0] if " #" in source else source).strip()


def _rest(
    line: str, date: dt.date | None, code: str | None, billed: Decimal | None, paid: Decimal | None,
    units: float | None, status: Status | None, client: str,
) -> tuple[Any, ...]:  # fmt: skip
    """The whole service line but its claim IDs: line, date, code, amounts, units, status, patient."""
    return (
        line.strip(),
        date,
        parse_code(code),
        None if billed is None else money(billed),
        None if paid is None else money(paid),
        float(units or 0),
        status,
        name_key(client),
    )


_ONE_ID = "one claim ID"  # a row that carries only one of the two claim numbers


def _line_keys(line: RemittanceLine) -> set[tuple[Any, ...]]:
    """A remittance row's keys: both claim numbers, and each alone (to meet rows typed with one)."""
    rest = _rest(
        line.line, line.date, line.code, line.billed, line.paid, line.units, line.status, line.client
    )
    ids = (line.claim_id.strip(), line.payer_claim_id.strip())
    return {(*ids, *rest), *((_ONE_ID, claim_id, *rest) for claim_id in ids if claim_id)}


def _claim_keys(claim: Claim) -> set[tuple[Any, ...]]:
    """Keys of a Claims row with a claim ID (rows typed without one are never taken as the same line).

    A row with both claim numbers matches only a row with the same two: a payer may reuse the
    practice's claim number on another claim (a secondary, another patient).
    """
    rest = _rest(
        claim.line, claim.date, claim.code, claim.billed, claim.paid, claim.units, claim.status, claim.client
    )
    if claim.claim_id and claim.payer_claim_id:
        return {(claim.claim_id, claim.payer_claim_id, *rest)}
    return {(_ONE_ID, claim_id, *rest) for claim_id in (claim.claim_id, claim.payer_claim_id) if claim_id}


def _number(value: float | None) -> float | int | None:
    return None if value is None else int(value) if float(value).is_integer() else value


def _line_cell(line: str) -> int | str | None:
    return int(line) if line.isdigit() and not line.startswith("0") else line or None


def _cells(line: RemittanceLine, payer: str) -> dict[str, Any]:
    return {
        c.DATE: line.date,
        c.CLIENT: line.client,
        c.PAYER: payer,
        c.CODE: line.code,
        c.UNITS: _number(line.units),
        c.BILLED: float(money(line.billed)),
        c.PAID: float(money(line.paid)),
        c.STATUS: line.status.value,
        c.REASON: line.reason or None,
        c.CLAIM_ID: line.claim_id,
        c.LINE: _line_cell(line.line),
        c.SOURCE: line.source,
        c.MODIFIERS: ", ".join(line.modifiers) or None,
        c.PAYER_CLAIM_ID: line.payer_claim_id or None,
        c.PATIENT_OWES: float(money(line.patient_owes)) if line.patient_owes else None,
        c.ADJUSTED: line.adjusted or None,
        c.BILLED_UNITS: _number(line.billed_units),
        c.BILLED_CODE: line.billed_code,
    }


__all__ = [
    "Adjustment",
    "ImportResult",
    "ProviderAdjustment",
    "Remittance",
    "RemittanceLine",
    "import_remittances",
    "provider_rows_note",
    "read_remittance",
    "read_remittance_text",
]
