"""A small billing workbook with everything claims need, for the claims tests."""

from __future__ import annotations

import datetime as dt
import io
import logging
from typing import Any

import pyx12.params
import pyx12.x12n_document

from cptbill.book import MemoryBook, recode

SUMMIT, HARBOR, LAKESIDE = "Summit Mutual", "Harbor Health PPO", "Lakeside Auto PIP"
PAPER = "Cascade Workers Comp"  # no Payer ID: paper forms


def day(n: int) -> dt.date:
    return dt.date(2026, 11, n)


SESSIONS: list[list[Any]] = [
    [
        "Date",
        "Client",
        "Payer",
        "Minutes",
        "Service",
        "Modifiers",
        "Diagnosis",
        "Code",
        "Units",
        "Expected",
        "Flags",
    ],
    [day(2), "Rosa Delgado", SUMMIT, 50, "massage", None, None, None, None, None, None],  # row 2
    [day(2), "Tom Becker", HARBOR, 30, "massage", None, "1,2", None, None, None, None],  # rows 3-4: one visit
    [day(2), "Tom Becker", HARBOR, 23, "massage", None, "2", None, None, None, None],
    [day(3), "Diego Alvarez", LAKESIDE, 45, "massage", None, None, None, None, None, None],  # auto accident
    [day(3), "Diego Alvarez", LAKESIDE, 15, "hot/cold pack", None, "1", None, None, None, None],
    [day(4), "Grace Okafor", SUMMIT, 40, "massage", None, None, None, None, None, None],  # corrected claim
    [day(5), "Owen Brooks", PAPER, 60, "massage", None, None, None, None, None, None],  # paper
    [day(6), "Liam Novak", SUMMIT, 38, "massage", None, None, None, None, None, None],  # no member ID
    [day(6), "Priya Raman", SUMMIT, 38, "massage", None, "3", None, None, None, None],  # pointer to nothing
    [day(6), "Nobody Listed", SUMMIT, 38, "massage", None, None, None, None, None, None],  # not on Clients
    [day(7), "Jonas Berg", None, 60, "massage", None, None, None, None, None, None],  # self-pay
]

PAYERS: list[list[Any]] = [
    ["Payer", "Accepts", "Preferred", "Rate 97124", "Rate 97140", "Rate 97010", "Unit rule", "Payer ID",
     "Address", "Plan type"],
    [SUMMIT, "97124, 97140", None, 30, 32, 5, "CMS", "SMI77", "PO Box 1200, Salem, OR 97301", "commercial"],
    [HARBOR, "97124, 97140", None, 31.2, 33.5, 0, "AMA", "HHP01", "PO Box 55, Portland, OR 97208", None],
    [LAKESIDE, "97124", None, 45, None, 12, "CMS", "LAP01", "PO Box 9, Eugene, OR 97401", "auto"],
    [PAPER, None, "97124", 38, None, None, "CMS", None, "PO Box 77, Bend, OR 97701", "workers comp"],
]  # fmt: skip

CLIENTS: list[list[Any]] = [
    ["Client", "Date of birth", "Sex", "Address", "Phone", "Member ID", "Group", "Insured", "Relationship",
     "Insured date of birth", "Insured sex", "Insured address", "Diagnosis 1", "Diagnosis 2", "Diagnosis 3",
     "Diagnosis 4", "Referring provider", "Referring NPI", "Prior authorization", "Accident date",
     "Accident state", "Carrier claim number"],
    ["Rosa Delgado", dt.date(1980, 4, 12), "F", "12 Elm St, Salem, OR 97301", "503-555-0101", "SMI100200",
     "GRP-77", None, None, None, None, None, "M54.50", None, None, None, None, None, None, None, None, None],
    ["Tom Becker", dt.date(2001, 7, 30), "M", "8 Oak Ave, Portland, OR 97205", None, "HHP5551234", "G900",
     "Ana Becker", "child", dt.date(1975, 2, 3), "F", "8 Oak Ave, Portland, OR 97205", "M62.830", "M54.2",
     None, None, "Dr. Lee Park", "1234567893", "PA-4411", None, None, None],
    ["Diego Alvarez", dt.date(1990, 1, 5), "M", "3 Pine Rd, Eugene, OR 97401", None, "LAP-778899", None,
     None, None, None, None, None, "S13.4XXA", "S16.1XXA", None, None, None, None, None, dt.date(2026, 10, 20),
     "OR", "PIP-2026-0042"],
    ["Grace Okafor", dt.date(1985, 9, 9), "F", "4 Birch Ln, Salem, OR 97302", None, "SMI300400", None,
     None, None, None, None, None, "M79.18", None, None, None, None, None, None, None, None, None],
    ["Owen Brooks", dt.date(1970, 12, 1), "M", "77 Cedar St, Bend, OR 97701", "541-555-0177", "WC-123",
     None, None, None, None, None, None, "S39.012A", None, None, None, None, None, None, dt.date(2026, 10, 2),
     None, "WC-CLAIM-9"],
    ["Liam Novak", dt.date(1992, 3, 3), "M", "5 Fir St, Salem, OR 97301", None, None, None,
     None, None, None, None, None, "M54.50", None, None, None, None, None, None, None, None, None],
    ["Priya Raman", dt.date(1988, 8, 8), "F", "6 Ash St, Salem, OR 97301", None, "SMI500600", None,
     None, None, None, None, None, "M54.50", "M62.830", None, None, None, None, None, None, None, None],
]  # fmt: skip

SETTINGS: list[list[Any]] = [
    ["Setting", "Value"],
    ["Billing provider", "Willow Massage Therapy LLC"],
    ["Billing NPI", "1472583693"],
    ["Tax ID", "93-1234567"],
    ["Tax ID type", "EIN"],
    ["Taxonomy", "225700000X"],
    ["Rendering provider", "Rivera, Maya"],  # the practice's one therapist
    ["Rendering NPI", "1987654328"],
    ["Billing address", "100 Main St Suite 2, Salem, OR 97301-1234"],
    ["Billing phone", "(503) 555-0100"],
    ["Submitter ID", "WILLOW01"],
    ["Receiver ID", "OFFALLY"],
    ["Receiver name", "Example Clearinghouse"],
    ["Charge 97124", 40],
    ["Charge 97140", 45],
    ["Charge 97010", 15],
]

CLAIMS: list[list[Any]] = [
    ["Date", "Client", "Payer", "Code", "Units", "Billed", "Paid", "Status", "Reason", "Claim ID", "Line",
     "Source", "Modifiers", "Payer claim ID"],
    [day(4), "Grace Okafor", SUMMIT, "97124", 3, 120, 0, "Denied", "CO-16", "CB000007", 1, "oct.835", None,
     "SMI-889911"],
]  # fmt: skip


def claims_book(**replace: list[list[Any]]) -> MemoryBook:
    """The workbook, recoded for November 2026 (sheets can be swapped by name)."""
    sheets = {
        "Sessions": SESSIONS, "Payers": PAYERS, "Clients": CLIENTS, "Settings": SETTINGS, "Claims": CLAIMS,
    }  # fmt: skip
    sheets.update(replace)
    book = MemoryBook({name: [list(row) for row in rows] for name, rows in sheets.items()})
    recode(book, "2026-11")
    return book


def pyx12_errors(text: str) -> list[str]:
    """What pyx12's full validation of an X12 text finds: its error report and its error log records."""
    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.levelno >= logging.ERROR:
                records.append(record.getMessage())

    logger = logging.getLogger("pyx12")
    saved = logger.handlers[:], logger.propagate
    logger.handlers, logger.propagate = [Keep()], False
    report = io.StringIO()
    try:
        valid = pyx12.x12n_document.x12n_document(
            pyx12.params.params(), io.StringIO(text), None, None, None, report
        )
    finally:
        logger.handlers, logger.propagate = saved
    if '"errors": [{' in report.getvalue().replace(" ", "").replace('"errors":[{', '"errors": [{'):
        records.append(report.getvalue())
    if not valid and not records:
        records.append("pyx12 reports it invalid")
    return records
