"""The claims job: the month's claims from a workbook, as 837P and CMS-1500 files, recorded on Claims."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cptbill import contract as c
from cptbill.book import Book, append_claims, check, find_sheet, owned_columns
from cptbill.claims import (
    THERAPISTS,
    Batch,
    Claim,
    claims_rows,
    make_claims,
    parse_clients,
    parse_line_extras,
    parse_payer_extras,
    parse_provider,
    parse_therapists,
    slug,
    with_flags,
)
from cptbill.cms1500 import render
from cptbill.contract import header_key, name_key
from cptbill.errors import CptbillError
from cptbill.schema import column_index, parse_month
from cptbill.x12_837 import Control, write_837

FORMATS = ("837", "pdf")


@dataclass
class Submission:
    """What a claims run made: files by name (bytes), the claims, and what kept lines back."""

    month: str
    files: dict[str, bytes] = field(default_factory=dict)
    claims: list[Claim] = field(default_factory=list)
    batch: Batch = field(default_factory=Batch)

    def summary(self) -> dict[str, Any]:
        """The JSON of `claims --json`: counts only, no client data."""
        return {
            "month": self.month,
            "claims": len(self.claims),
            "lines": sum(len(claim.lines) for claim in self.claims),
            "billed": float(sum((claim.total for claim in self.claims), 0)),
            "files": sorted(self.files),
            "incomplete": len(self.batch.flags),
            "blocked": len(self.batch.blocked),
            "already_sent": self.batch.already_sent,
            "not_coded": self.batch.not_coded,
        }


def run_claims(
    book: Book,
    month: str,
    *,
    payer: str | None = None,
    fmt: str | None = None,
    resend: bool = False,
    now: dt.datetime | None = None,
) -> Submission:
    """Make the month's claims, write their files (as bytes) and record the lines sent on Claims.

    `fmt` None: an 837 for payers with a Payer ID, CMS-1500 forms for the others; "837" or "pdf":
    that format for every payer. CLAIM_INCOMPLETE flags are written on the lines they keep back.
    """
    chosen = parse_month(month)
    if chosen is None:
        raise CptbillError("Claims need a month: --month YYYY-MM, e.g. 2026-11.")
    if fmt is not None and fmt not in FORMATS:
        raise CptbillError(f"--format must be 837 or pdf, not '{fmt}'.")
    now = (now or dt.datetime.now()).replace(microsecond=0)
    plan, loaded = check(book, chosen)
    payers = loaded.payers
    if payer is not None and name_key(payer) not in payers:
        raise CptbillError(f"No payer named '{payer}' on the Payers sheet.")
    results = {(r.sheet, r.row): r for r in plan.results}
    lines = [
        line for line in loaded.lines
        if (line.sheet, line.row) in results and (payer is None or name_key(line.payer) == name_key(payer))
    ]  # fmt: skip
    extras = {}
    for sheet in {line.sheet for line in lines}:
        for row, extra in parse_line_extras(sheet, book.read(sheet)).items():
            extras[(sheet, row)] = extra
    clients_sheet = find_sheet(book, c.CLIENTS)
    settings_sheet = find_sheet(book, c.SETTINGS)
    claims_sheet = find_sheet(book, c.CLAIMS)
    claims_rows_read = book.read(claims_sheet) if claims_sheet else []
    payer_info = parse_payer_extras(loaded.payers_rows, payers)
    electronic = {key: fmt == "837" or (fmt is None and bool(p.payer_id)) for key, p in payers.items()}
    provider = parse_provider(book.read(settings_sheet) if settings_sheet else [])
    therapists_sheet = find_sheet(book, THERAPISTS)
    batch = make_claims(
        lines, results, payer_info, parse_clients(book.read(clients_sheet) if clients_sheet else []),
        provider, extras, loaded.claims or [], electronic=electronic, resend=resend,
        therapists=parse_therapists(book.read(therapists_sheet) if therapists_sheet else []),
    )  # fmt: skip
    submission = Submission(month=chosen, claims=batch.claims, batch=batch)
    by_payer: dict[str, list[Claim]] = {}
    for claim in batch.claims:
        by_payer.setdefault(claim.payer.payer.key, []).append(claim)
    interchange = int(now.strftime("%j%H%M%S")) % 1_000_000_000
    sources: dict[str, str] = {}
    for key, claims in by_payer.items():
        stem = f"claims-{chosen}-{slug(claims[0].payer.payer.name)}"
        if electronic[key]:
            interchange += 1
            name = f"{stem}.837"
            text = write_837(claims, provider, Control(interchange=interchange, when=now))
            submission.files[name] = text.encode("ascii", "replace")
        else:
            name = f"{stem}.pdf"
            printed, preview = render(claims, provider)
            submission.files[name] = printed
            submission.files[f"{stem}-preview.pdf"] = preview
        for claim in claims:
            sources[claim.claim_id] = name
    _record(book, claims_sheet, claims_rows_read, batch.claims, sources, now.date())
    _write_flags(book, loaded, lines, batch)
    return submission


def _record(
    book: Book, sheet: str | None, rows: list[list[Any]], claims: list[Claim], sources: dict[str, str],
    sent_on: dt.date,
) -> None:  # fmt: skip
    """Append one Submitted row per service line sent, under the Claims sheet's own headers."""
    new = [row for claim in claims for row in claims_rows([claim], sources[claim.claim_id], sent_on)]
    append_claims(book, sheet, rows, new)


def _write_flags(book: Book, loaded: Any, lines: list[Any], batch: Batch) -> None:
    """CLAIM_INCOMPLETE on the lines it keeps back; cleared from lines in scope that are now complete."""
    by_sheet: dict[str, dict[int, str | None]] = {}
    for line in lines:
        notes = batch.flags.get((line.sheet, line.row), [])
        text = with_flags(line.flags_text, notes)
        if text != line.flags_text.strip():
            by_sheet.setdefault(line.sheet, {})[line.row] = text or None
    for sheet, cells in by_sheet.items():
        session = loaded.session_sheets[sheet]
        index = column_index(session.header)
        column = index.get(header_key(c.FLAGS))
        if column is None:
            column = (
                owned_columns(book, sheet, session.header, width=session.width, taken=session.taken)[c.FLAGS]
                - 1
            )
        book.write_column(sheet, column + 1, cells)
        book.highlight(sheet, {row: bool(text) for row, text in cells.items()})


@dataclass
class Settled:
    """What `settle_submitted` did: the lines left to append, and how many it put on sent rows."""

    rest: list[tuple[Any, str]]
    settled: int = 0  # answers written onto their Submitted rows
    repeated: int = 0  # answers already on a row sent (the same file imported again)


def settle_submitted(
    book: Book,
    sheet: str | None,
    rows: list[list[Any]],
    new: list[tuple[Any, str]],
    cells_of: Callable[[Any, str], dict[str, Any]],
) -> Settled:
    """Put remittance lines answering claims cptbill sent onto their Submitted rows.

    A line answers a sent claim when its claim ID (CLP01, which is the CLM01 sent) and line
    (REF*6R) are those of a Submitted row: matched by claim ID, never by date and client. The row
    keeps its Date, Client and Payer as the therapist typed them; the rest comes from the remittance.
    A line whose claim ID, line and source (file and check/EFT number) a row already holds was
    imported before and is left out.
    """
    if sheet is None or len(rows) < 2:
        return Settled(rest=new)
    index = column_index(rows[0])
    id_column, line_column, status_column, source_column = (
        index.get(header_key(n)) for n in (c.CLAIM_ID, c.LINE, c.STATUS, c.SOURCE)
    )
    if id_column is None or status_column is None:
        return Settled(rest=new)

    def at(row: list[Any], column: int | None) -> str:
        value = row[column] if column is not None and column < len(row) else None
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        return "" if value is None else str(value).strip()

    submitted: dict[tuple[str, str], int] = {}
    known: set[tuple[str, str, str]] = set()
    for number, row in enumerate(rows[1:], start=2):
        key = (at(row, id_column), at(row, line_column))
        if not key[0]:
            continue
        if at(row, status_column).casefold() == c.Status.SUBMITTED.value.casefold():
            submitted.setdefault(key, number)
        known.add((*key, at(row, source_column)))
    result = Settled(rest=[])
    updates: dict[str, dict[int, Any]] = {}
    for line, payer in new:
        key = (str(line.claim_id).strip(), str(line.line).strip())
        if (*key, str(line.source).strip()) in known:
            result.repeated += 1
            continue
        number = submitted.pop(key, 0)
        if not number:
            result.rest.append((line, payer))
            continue
        result.settled += 1
        for column, value in cells_of(line, payer).items():
            if column not in (c.DATE, c.CLIENT, c.PAYER, c.CLAIM_ID, c.LINE):
                updates.setdefault(column, {})[number] = value
    if updates:
        columns = owned_columns(book, sheet, rows[0], list(updates))
        for column, values in updates.items():
            book.write_column(sheet, columns[column], values)
    return result


__all__ = ["FORMATS", "Settled", "Submission", "run_claims", "settle_submitted"]
