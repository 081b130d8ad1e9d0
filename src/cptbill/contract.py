"""The workbook contract in one place: sheet names, column headers, flags, settings."""

from __future__ import annotations

import re
from enum import StrEnum
from functools import lru_cache
from typing import Any

# Sheets
SESSIONS = "Sessions"  # the template's session sheet; any sheet with the session headers is one
PAYERS = "Payers"
CLAIMS = "Claims"
SETTINGS = "Settings"
CHANGES = "Changes"
SUMMARY = "Summary"
RESUBMIT = "Resubmit"  # the Follow-up sheet's old name: still read as program-owned
FOLLOW_UP = "Follow-up"
SHORTFALLS = "Shortfalls"
CLIENTS = "Clients"  # what a claim needs about each client (837P, CMS-1500)
HOW_TO = "How to use"

# Session sheet columns
DATE = "Date"
CLIENT = "Client"
PAYER = "Payer"
MINUTES = "Minutes"
SERVICE = "Service"
VISIT = "Visit"
LOCK = "Lock"
MODIFIERS = "Modifiers"  # session lines (59/XS on 97140 beside 97124) and Claims rows
CODE = "Code"
UNITS = "Units"
EXPECTED = "Expected"
FLAGS = "Flags"

#: Headers people already use, read as the contract's columns when the contract's own header is absent
#: (the first alias found in this order wins).
ALIASES: dict[str, tuple[str, ...]] = {
    DATE: ("DOS", "Date of service", "Service date", "Session date", "Visit date"),
    CLIENT: ("Patient", "Patient name", "Client name"),
    PAYER: ("Insurance", "Insurer", "Insurance company", "Plan", "Payor"),
    MINUTES: ("Duration", "Mins", "Min", "Time"),
    CODE: ("CPT", "CPT code"),
    MODIFIERS: ("Modifier", "Mod", "Mods"),
}

SESSION_REQUIRED = (DATE, CLIENT, PAYER, MINUTES)
SESSION_OPTIONAL = (SERVICE, MODIFIERS, VISIT, LOCK)
#: Columns the program writes, in the order it adds missing ones at the right end.
OWNED = (CODE, UNITS, EXPECTED, FLAGS)
#: The workbook files cptbill edits: workbooks and templates, with or without macros.
WORKBOOK_SUFFIXES = (".xlsx", ".xlsm", ".xltx", ".xltm")

# Payers sheet columns
ACCEPTS = "Accepts"
PREFERRED = "Preferred"
RATE_PREFIX = "Rate "
UNIT_RULE = "Unit rule"
MAX_UNITS = "Max units"
ERA_NAMES = "ERA names"
LEARNED = "Learned"
FILING_LIMIT = "Filing limit (days)"
PAYER_ID = "Payer ID"
ADDRESS = "Address"

# Claims sheet columns
BILLED = "Billed"
PAID = "Paid"
STATUS = "Status"
REASON = "Reason"
CLAIM_ID = "Claim ID"
LINE = "Line"
SOURCE = "Source"
PAYER_CLAIM_ID = "Payer claim ID"
PATIENT_OWES = "Patient owes"
ADJUSTED = "Adjusted"
BILLED_UNITS = "Billed units"
BILLED_CODE = "Billed code"
CLAIMS_COLUMNS = (
    DATE, CLIENT, PAYER, CODE, UNITS, BILLED, PAID, STATUS, REASON, PATIENT_OWES, ADJUSTED,
    CLAIM_ID, PAYER_CLAIM_ID, LINE, SOURCE, MODIFIERS, BILLED_UNITS, BILLED_CODE,
)  # fmt: skip

# Changes sheet columns
CHANGES_COLUMNS = ("When", "Sheet", "Row", "Client", "Date", "Before", "After", "Why")

# Settings sheet
SETTING = "Setting"
VALUE = "Value"
DEFAULT_CODE = "Default code"
BLANK_SERVICE = "Blank service"
DATE_ORDER = "Date order"
MONTH_TO_RECODE = "Month to recode"

#: A Service meaning "the documented techniques meet both massage codes": only then do payer rules choose.
EITHER = "either"


class Flag(StrEnum):
    """Stable flag identifiers written in the Flags column as `ID: explanation`."""

    MIXED_CODES = "MIXED_CODES"
    UNDER_8_MIN = "UNDER_8_MIN"
    NOT_ACCEPTED = "NOT_ACCEPTED"
    UNKNOWN_PAYER = "UNKNOWN_PAYER"
    NO_RATE = "NO_RATE"
    NOT_PAID = "NOT_PAID"
    OVER_CAP = "OVER_CAP"
    BAD_MINUTES = "BAD_MINUTES"
    BAD_DATE = "BAD_DATE"
    BAD_SERVICE = "BAD_SERVICE"
    UNITS_MISMATCH = "UNITS_MISMATCH"
    DENIED_BEFORE = "DENIED_BEFORE"
    DUPLICATE = "DUPLICATE"
    AMBIGUOUS_DATE = "AMBIGUOUS_DATE"
    ODD_DATE = "ODD_DATE"
    LATE = "LATE"
    CLAIM_INCOMPLETE = "CLAIM_INCOMPLETE"


class Status(StrEnum):
    """Claim statuses on the Claims sheet."""

    PAID = "Paid"
    DENIED = "Denied"
    PARTIAL = "Partial"
    PENDING = "Pending"
    REVERSED = "Reversed"
    PATIENT = "Patient"  # paid 0, the client owes it (deductible, coinsurance, copay)
    OTHER_PAYER = "Other payer"  # another payer's payment covers it
    FORWARDED = "Forwarded"  # crossover: processed and sent on to another payer
    PREDETERMINATION = "Predetermination"  # an estimate, not a claim outcome
    SUBMITTED = "Submitted"  # sent by `cptbill claims`, no answer yet


#: Statuses that say how a payer judged a code: only these are learned from.
DECIDED = frozenset({Status.PAID, Status.PARTIAL, Status.DENIED, Status.REVERSED})


def header_key(value: Any) -> str:
    """Header text as compared: case, surrounding spaces and a trailing colon ignored."""
    try:
        return _header_key(value)
    except TypeError:  # unhashable: worked out each time
        return _header_text(value)


def name_key(value: Any) -> str:
    """Payer and client names as compared: case and surrounding or repeated spaces ignored."""
    try:
        return _name_key(value)
    except TypeError:  # unhashable: worked out each time
        return _name_text(value)


@lru_cache(maxsize=8192)
def client_key(value: str) -> str:
    """A client's name as a Claims row and a session line are matched: word order and punctuation ignored.

    Remittances name the patient `ROSA DELGADO` where a therapist may type `Delgado, Rosa`.
    """
    words = re.findall(r"\w+", name_key(value))
    return " ".join(sorted(words))


def _header_text(value: Any) -> str:
    return "" if value is None else str(value).strip().rstrip(":").strip().casefold()


def _name_text(value: Any) -> str:
    return "" if value is None else " ".join(str(value).split()).casefold()


# Both run for every cell looked up and every line grouped; the same few texts come back.
# `typed`: 1 and 1.0 are equal keys but different texts.
_header_key = lru_cache(maxsize=8192, typed=True)(_header_text)
_name_key = lru_cache(maxsize=8192, typed=True)(_name_text)
