"""The template and sample billing workbooks: Excel tables, formats, drop-downs and a How to use sheet."""

from __future__ import annotations

import datetime as dt
import io
import sys
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.formatting.rule import FormulaRule
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter, quote_sheetname
from openpyxl.workbook.defined_name import DefinedName
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.table import Table, TableStyleInfo
from openpyxl.worksheet.worksheet import Worksheet
from openpyxl.xml.functions import tostring

from cptbill import contract as c
from cptbill.book import MONEY_FORMAT
from cptbill.claims import CLIENT_COLUMNS, PLAN_TYPE
from cptbill.claims import PLAN_TYPES as CLAIM_PLAN_TYPES
from cptbill.codes import DESCRIPTIONS, HOT_COLD_PACK, MANUAL_THERAPY, MASSAGE, MASSAGE_FAMILY
from cptbill.contract import Flag, Status
from cptbill.errors import CptbillError
from cptbill.safefile import replace_atomically
from cptbill.schema import DMY, MDY
from cptbill.units import Rule

#: Where the committed sample lives; `python -m cptbill.template` regenerates it.
SAMPLE_PATH = Path("workbook/massage-billing.xlsx")
REGENERATE = f"python -m cptbill.template {SAMPLE_PATH.as_posix()}"

#: Fixed document and zip times, so that a workbook is the same bytes every time it is built.
FIXED_TIME = dt.datetime(2026, 12, 1, 9, 0, 0)

RATE_CODES = (MASSAGE, MANUAL_THERAPY, HOT_COLD_PACK)
CLAIM_PAYER_COLUMNS = (c.PAYER_ID, c.ADDRESS, PLAN_TYPE)  # what claims need about a payer
SESSION_COLUMNS = (c.DATE, c.CLIENT, c.PAYER, c.MINUTES, c.SERVICE, c.MODIFIERS, c.VISIT, c.LOCK, *c.OWNED)
PAYER_COLUMNS = (
    c.PAYER, c.ACCEPTS, c.PREFERRED, *(c.RATE_PREFIX + code for code in RATE_CODES),
    c.UNIT_RULE, c.MAX_UNITS, c.ERA_NAMES,
    *CLAIM_PAYER_COLUMNS,
)  # fmt: skip
ABOUT = "About"
SETTINGS_COLUMNS = (c.SETTING, c.VALUE, ABOUT)

#: Rows covered by the drop-down lists and the flag highlighting (they go past the data).
SESSION_ROWS = 5000
PAYER_ROWS = 200
#: The defined name behind the Payer drop-down on session sheets.
PAYER_LIST = "PayerNames"
CLAIM_ROWS = 5000

DATE_FORMAT = "yyyy-mm-dd"
TEXT_FORMAT = "@"
WHOLE_FORMAT = "0"
#: Column width and number format by header; headers not listed get a plain 14-wide column.
LOOK: dict[str, tuple[float, str | None]] = {
    c.DATE: (12, DATE_FORMAT),
    c.CLIENT: (20, None),
    c.PAYER: (30, None),
    c.MINUTES: (10, WHOLE_FORMAT),
    c.SERVICE: (16, None),
    c.VISIT: (9, None),
    c.LOCK: (8, None),
    c.CODE: (9, TEXT_FORMAT),
    c.UNITS: (8, WHOLE_FORMAT),
    c.EXPECTED: (12, MONEY_FORMAT),
    c.FLAGS: (70, None),
    c.ACCEPTS: (15, TEXT_FORMAT),
    c.PREFERRED: (12, TEXT_FORMAT),
    **{c.RATE_PREFIX + code: (12, MONEY_FORMAT) for code in RATE_CODES},
    c.UNIT_RULE: (11, None),
    c.MAX_UNITS: (11, WHOLE_FORMAT),
    c.ERA_NAMES: (34, None),
    c.BILLED: (12, MONEY_FORMAT),
    c.PAID: (12, MONEY_FORMAT),
    c.STATUS: (11, None),
    c.REASON: (16, None),
    c.CLAIM_ID: (16, TEXT_FORMAT),
    c.LINE: (8, TEXT_FORMAT),
    c.SOURCE: (30, None),
    c.MODIFIERS: (11, None),
    c.SETTING: (16, None),
    c.VALUE: (12, TEXT_FORMAT),
    ABOUT: (80, None),
    c.PAYER_ID: (10, TEXT_FORMAT),
    c.ADDRESS: (36, None),
    PLAN_TYPE: (18, None),
    "Date of birth": (12, DATE_FORMAT),
    "Insured date of birth": (12, DATE_FORMAT),
    "Accident date": (12, DATE_FORMAT),
    "Member ID": (14, TEXT_FORMAT),
    "Group": (10, TEXT_FORMAT),
    "Referring NPI": (12, TEXT_FORMAT),
}

FLAGGED_FILL = PatternFill(fill_type="solid", start_color="FFFCE4D6", end_color="FFFCE4D6")

#: What each flag means, in the words of the How to use sheet.
FLAG_MEANINGS: dict[Flag, str] = {
    Flag.MIXED_CODES: (
        "The visit bills both 97124 and 97140 without modifier 59 or XS on the 97140 line. NCCI pairs the two: "
        "bill both only as separate 15-minute blocks on different body regions, with 59 or XS in the "
        "Modifiers column; otherwise payers deny the visit or take one code back."
    ),
    Flag.UNDER_8_MIN: (
        "Too few timed minutes for a unit (under 8; CMS counts the client's day with the payer, AMA "
        "the visit): nothing to bill."
    ),
    Flag.NOT_ACCEPTED: (
        "The payer does not cover the code of the service you documented. The code stays: bill it only "
        "if that is what you did, otherwise collect from the client (with a signed waiver on file)."
    ),
    Flag.UNKNOWN_PAYER: "The payer is not on the Payers sheet: add it there (check the spelling).",
    Flag.NO_RATE: "No rate for this payer and code on the Payers sheet, so no Expected amount.",
    Flag.NOT_PAID: "The payer's rate for this code is 0 (e.g. hot/cold packs bundled into the visit).",
    Flag.OVER_CAP: "The visit's units were cut to the payer's Max units.",
    Flag.BAD_MINUTES: "Minutes missing, not a number, negative or over 600: the line is left as it was.",
    Flag.BAD_DATE: "The date cannot be read: the line is left as it was.",
    Flag.BAD_SERVICE: (
        "The Service is not massage, manual therapy, hot/cold pack, either or a CPT code: the line is "
        "left as it was."
    ),
    Flag.UNITS_MISMATCH: "A locked line's units differ from what the unit rule gives.",
    Flag.DENIED_BEFORE: "This payer has denied this code before (see the Claims sheet).",
    Flag.DUPLICATE: "The same client, date, payer, visit, minutes and service appear on more than one line.",
    Flag.AMBIGUOUS_DATE: "A date typed as text reads both as month/day and day/month: type it as 2026-11-04.",
    Flag.ODD_DATE: "A date in the future, or far before the sheet's other dates: check the year.",
    Flag.LATE: "The payer's filing limit for this date has passed and no claim is on the Claims sheet.",
    Flag.CLAIM_INCOMPLETE: "Something a claim needs is missing (Clients, Settings or Payers sheet).",
}


# --- The sample month: November 2026 (see the project's sample story) ---------------------------

HARBOR = "Harbor Health PPO"
SUMMIT = "Summit Mutual"
EVERGREEN = "Evergreen Medicare Advantage"
LAKESIDE = "Lakeside Auto PIP"
CASCADE = "Cascade Workers Comp"
PINECREST = "Pinecrest Health"  # used on a session line but not on the Payers sheet

BOTH = f"{MASSAGE}, {MANUAL_THERAPY}"
CMS, AMA = Rule.CMS.value.upper(), Rule.AMA.value.upper()

# Payer, Accepts, Preferred, Rate 97124, Rate 97140, Rate 97010, Unit rule, Max units, ERA names
SAMPLE_PAYERS: tuple[tuple[Any, ...], ...] = (
    (HARBOR, BOTH, MANUAL_THERAPY, 31.20, 33.50, 0, AMA, 4, "HARBOR HEALTH, HHP01"),
    (SUMMIT, BOTH, None, 30.00, 32.00, 5.00, CMS, None, "SUMMIT MUTUAL INSURANCE, SMI77"),
    (EVERGREEN, MANUAL_THERAPY, None, None, 27.17, 0, CMS, 4, "EVERGREEN MA, EVG22"),
    (LAKESIDE, MASSAGE, None, 45.00, None, 12.00, CMS, 6, None),
    (CASCADE, None, MASSAGE, 38.00, None, None, CMS, None, None),
)

# Payer ID, Address, Plan type (claims): payers with a Payer ID get 837 files, the others paper forms.
SAMPLE_PAYER_CLAIMS: dict[str, tuple[Any, ...]] = {
    HARBOR: ("HHP01", "PO Box 5500, Portland, OR 97208", "commercial"),
    SUMMIT: ("SMI77", "PO Box 1200, Salem, OR 97301", "commercial"),
    EVERGREEN: ("EVG22", "PO Box 2200, Eugene, OR 97401", "medicare advantage"),
    LAKESIDE: (None, "PO Box 900, Bend, OR 97701", "auto"),
    CASCADE: (None, "PO Box 77, Medford, OR 97501", "workers comp"),
}

MASSAGE_SERVICE = DESCRIPTIONS[MASSAGE]
MANUAL = DESCRIPTIONS[MANUAL_THERAPY]
PACK = DESCRIPTIONS[HOT_COLD_PACK]
EITHER = c.EITHER


def _day(day: int) -> dt.date:
    return dt.date(2026, 11, day)


# Day of November, Client, Payer, Minutes, Service, Modifiers, Visit, Lock, Code, Units. Lines with
# the same date, client and payer are one visit unless Visit says otherwise. The story: every
# service is typed; Summit Mutual's sessions are `either` (the notes meet both codes), so its claims
# teach 97124; Sam Whitaker's massage on the 12th is at a payer that covers only manual therapy.
SAMPLE_SESSIONS: tuple[tuple[Any, ...], ...] = (
    (2, "Rosa Delgado", SUMMIT, 50, EITHER, None, None, None, None, None),
    (2, "Tom Becker", HARBOR, 30, MASSAGE_SERVICE, None, None, None, None, None),  # one visit, two lines
    (2, "Tom Becker", HARBOR, 23, MASSAGE_SERVICE, None, None, None, None, None),
    (3, "Diego Alvarez", LAKESIDE, 45, MASSAGE_SERVICE, None, None, None, None, None),
    (3, "Diego Alvarez", LAKESIDE, 15, PACK, None, None, None, None, None),  # Lakeside pays 97010
    (3, "Sam Whitaker", EVERGREEN, 40, MANUAL, None, None, None, None, None),
    (4, "Grace Okafor", SUMMIT, 30, EITHER, None, None, None, None, None),
    (4, "Grace Okafor", SUMMIT, 25, EITHER, None, None, None, None, None),
    (4, "Owen Brooks", CASCADE, 60, MASSAGE_SERVICE, None, None, None, None, None),
    # Two services in one visit without 59/XS: both billed, flagged with the NCCI rule.
    (5, "Hannah Cole", HARBOR, 45, MASSAGE_SERVICE, None, None, None, MASSAGE, None),
    (5, "Hannah Cole", HARBOR, 20, MANUAL, None, None, None, MANUAL_THERAPY, None),
    (5, "Jonas Berg", None, 60, MASSAGE_SERVICE, None, None, None, None, None),  # self-pay
    (6, "Liam Novak", SUMMIT, 38, EITHER, None, None, None, None, None),
    (6, "Fatima Haddad", PINECREST, 45, MASSAGE_SERVICE, None, None, None, None, None),  # unknown payer
    (9, "Priya Raman", SUMMIT, 53, EITHER, None, None, None, None, None),
    (9, "Nora Fitzgerald", HARBOR, 45, MASSAGE_SERVICE, None, None, None, None, None),  # 75 min: over the cap
    (9, "Nora Fitzgerald", HARBOR, 30, MASSAGE_SERVICE, None, None, None, None, None),
    (10, "Elena Petrova", EVERGREEN, 5, MANUAL, None, None, None, None, None),  # too short
    (10, "Aiko Tanaka", CASCADE, 45, MASSAGE_SERVICE, None, None, None, None, None),
    (10, "Aiko Tanaka", CASCADE, 15, PACK, None, None, None, None, None),  # Cascade has no 97010 rate
    (11, "Marcus Reed", SUMMIT, 45, EITHER, None, None, "yes", MANUAL_THERAPY, 3),  # already billed
    (11, "Diego Alvarez", LAKESIDE, 60, MASSAGE_SERVICE, None, None, None, None, None),
    (12, "Rosa Delgado", SUMMIT, 30, EITHER, None, None, None, None, None),
    (12, "Rosa Delgado", SUMMIT, 22, EITHER, None, None, None, None, None),
    # Massage at a payer that covers only manual therapy: the code stays 97124, flagged with advice.
    (12, "Sam Whitaker", EVERGREEN, 55, MASSAGE_SERVICE, None, None, None, None, None),
    (13, "Tom Becker", HARBOR, 45, MANUAL, None, None, None, None, None),
    (16, "Grace Okafor", SUMMIT, 40, EITHER, None, None, None, None, None),
    (16, "Owen Brooks", CASCADE, 30, MASSAGE_SERVICE, None, None, None, None, None),
    (16, "Owen Brooks", CASCADE, 25, MASSAGE_SERVICE, None, None, None, None, None),
    (17, "Hannah Cole", HARBOR, 50, "myofascial release", None, None, None, None, None),
    (17, "Liam Novak", SUMMIT, 45, EITHER, None, None, None, None, None),
    (18, "Diego Alvarez", LAKESIDE, 50, MASSAGE_SERVICE, None, None, None, None, None),
    (18, "Elena Petrova", EVERGREEN, 45, "MLD", None, None, None, None, None),
    (19, "Priya Raman", SUMMIT, 60, EITHER, None, None, None, None, None),
    (19, "Aiko Tanaka", CASCADE, 53, MASSAGE_SERVICE, None, None, None, None, None),
    (20, "Nora Fitzgerald", HARBOR, 40, MANUAL, None, None, None, None, None),
    (23, "Marcus Reed", SUMMIT, 50, EITHER, None, None, None, None, None),
    # Two visits on one day: CMS counts the day's 40 minutes, 3 units (not 1 + 1).
    (23, "Sam Whitaker", EVERGREEN, 20, MANUAL, None, "AM", None, None, None),
    (23, "Sam Whitaker", EVERGREEN, 20, MANUAL, None, "PM", None, None, None),
    # Separate body regions, documented: 97140 carries XS, so the visit is not flagged.
    (24, "Tom Becker", HARBOR, 30, MASSAGE_SERVICE, None, None, None, None, None),
    (24, "Tom Becker", HARBOR, 25, MANUAL, "XS", None, None, None, None),
    (24, "Rosa Delgado", SUMMIT, 45, EITHER, None, None, None, None, None),
    (30, "Diego Alvarez", LAKESIDE, 45, MASSAGE_SERVICE, None, None, None, None, None),
)

# The therapist's Claims sheet for September and October 2026, in the order it was typed.
# Date, Client, Payer, Code, Units, Billed, Paid, Status, Reason
SAMPLE_CLAIMS: tuple[tuple[Any, ...], ...] = (
    (dt.date(2026, 9, 10), "Marcus Reed", SUMMIT, MANUAL_THERAPY, 2, 90.00, 0.00, Status.DENIED, "CO-97"),
    (dt.date(2026, 9, 15), "Tom Becker", HARBOR, MANUAL_THERAPY, 2, 90.00, 67.00, Status.PAID, "CO-45"),
    (dt.date(2026, 9, 17), "Liam Novak", SUMMIT, MASSAGE, 2, 80.00, 60.00, Status.PAID, "CO-45"),
    (dt.date(2026, 9, 10), "Marcus Reed", SUMMIT, MASSAGE, 2, 80.00, 60.00, Status.PAID, "CO-45"),
    (dt.date(2026, 9, 24), "Grace Okafor", SUMMIT, MANUAL_THERAPY, 2, 90.00, 0.00, Status.DENIED, "CO-97"),
    (dt.date(2026, 10, 1), "Priya Raman", SUMMIT, MASSAGE, 2, 80.00, 60.00, Status.PAID, "CO-45"),
    (dt.date(2026, 10, 6), "Hannah Cole", HARBOR, MANUAL_THERAPY, 2, 90.00, 67.00, Status.PAID, "CO-45"),
    (dt.date(2026, 10, 8), "Nora Fitzgerald", HARBOR, MANUAL_THERAPY, 2, 90.00, 55.00, Status.PAID, "CO-45"),
    (
        dt.date(2026, 10, 13),
        "Sam Whitaker",
        EVERGREEN,
        MANUAL_THERAPY,
        3,
        135.00,
        81.51,
        Status.PAID,
        "CO-45",
    ),
    (dt.date(2026, 10, 20), "Diego Alvarez", LAKESIDE, MASSAGE, 4, 180.00, 180.00, Status.PAID, None),
    (dt.date(2026, 10, 30), "Owen Brooks", CASCADE, MASSAGE, 3, 120.00, None, Status.PENDING, None),
)


_CLIENT_COLUMN = {column.casefold(): column for column in CLIENT_COLUMNS}


def _client(
    name: str, born: dt.date, sex: str, address: str, member: str | None, group: str | None,
    diagnoses: tuple[str, ...], **more: Any,
) -> tuple[Any, ...]:  # fmt: skip
    """A Clients row in CLIENT_COLUMNS order (`more` by column name, spaces as underscores)."""
    values = {
        c.CLIENT: name, "Date of birth": born, "Sex": sex, "Address": address, "Member ID": member,
        "Group": group, **{f"Diagnosis {i}": code for i, code in enumerate(diagnoses, start=1)},
        **{_CLIENT_COLUMN[key.replace("_", " ")]: value for key, value in more.items()},
    }  # fmt: skip
    return tuple(values.get(column) for column in CLIENT_COLUMNS)


_BACK = ("M54.50",)  # low back pain
_NECK = ("M54.2", "M62.830")  # neck pain, muscle spasm of back
# What claims need about each billed client of the sample month. Liam Novak's member ID is not
# typed yet: his lines are flagged CLAIM_INCOMPLETE and held back, the others are sent.
SAMPLE_CLIENTS: tuple[tuple[Any, ...], ...] = (
    _client(
        "Rosa Delgado", dt.date(1980, 4, 12), "F", "12 Elm St, Salem, OR 97301", "SMI100200", "GRP-77", _BACK
    ),
    _client(
        "Tom Becker",
        dt.date(2001, 7, 30),
        "M",
        "8 Oak Ave, Portland, OR 97205",
        "HHP5551234",
        "G900",
        _NECK,
        insured="Ana Becker",
        relationship="child",
        insured_date_of_birth=dt.date(1975, 2, 3),
        insured_sex="F",
        insured_address="8 Oak Ave, Portland, OR 97205",
        referring_provider="Lee Park",
        referring_npi="1234567893",
        prior_authorization="PA-4411",
    ),
    _client(
        "Diego Alvarez",
        dt.date(1990, 1, 5),
        "M",
        "3 Pine Rd, Bend, OR 97701",
        "LAP-778899",
        None,
        ("S13.4XXA", "S16.1XXA"),
        accident_date=dt.date(2026, 10, 20),
        accident_state="OR",
        carrier_claim_number="PIP-2026-0042",
    ),
    _client(
        "Sam Whitaker", dt.date(1951, 6, 14), "M", "40 Lake Dr, Eugene, OR 97401", "EVG1234567", None, _BACK
    ),
    _client(
        "Grace Okafor",
        dt.date(1985, 9, 9),
        "F",
        "4 Birch Ln, Salem, OR 97302",
        "SMI300400",
        "GRP-77",
        ("M79.18",),
    ),
    _client(
        "Owen Brooks",
        dt.date(1970, 12, 1),
        "M",
        "77 Cedar St, Medford, OR 97501",
        "WC-55120",
        None,
        ("S39.012A",),
        accident_date=dt.date(2026, 10, 2),
        carrier_claim_number="WC-2026-9183",
    ),
    _client(
        "Hannah Cole",
        dt.date(1993, 11, 21),
        "F",
        "9 Maple Ct, Portland, OR 97214",
        "HHP7770001",
        "G900",
        _NECK,
    ),
    _client("Liam Novak", dt.date(1992, 3, 3), "M", "5 Fir St, Salem, OR 97301", None, "GRP-77", _BACK),
    _client(
        "Priya Raman", dt.date(1988, 8, 8), "F", "6 Ash St, Salem, OR 97301", "SMI500600", "GRP-77", _BACK
    ),
    _client(
        "Nora Fitzgerald",
        dt.date(1979, 5, 2),
        "F",
        "21 Spruce Way, Portland, OR 97219",
        "HHP3332222",
        "G900",
        ("M62.830",),
    ),
    _client(
        "Elena Petrova", dt.date(1948, 2, 9), "F", "15 Alder St, Eugene, OR 97402", "EVG7654321", None, _BACK
    ),
    _client(
        "Aiko Tanaka",
        dt.date(1983, 7, 7),
        "F",
        "3 Willow St, Medford, OR 97504",
        "WC-55188",
        None,
        ("S46.011A",),
        accident_date=dt.date(2026, 9, 28),
        carrier_claim_number="WC-2026-9240",
    ),
    _client(
        "Marcus Reed",
        dt.date(1975, 10, 30),
        "M",
        "2 Poplar Ave, Salem, OR 97304",
        "SMI900800",
        "GRP-77",
        _BACK,
    ),
)

# The billing provider and the 837 envelope (Settings): a made-up practice; its NPI passes the check digit.
SETTINGS_CLAIMS_ROWS: tuple[tuple[str, Any, str], ...] = (
    (
        "Billing provider",
        "Willow Massage Therapy LLC",
        "Your practice's name as the payers know it (Last, First for a person).",
    ),
    ("Billing NPI", "1472583693", "Your 10-digit NPI (type 2 for a practice, type 1 for a sole proprietor)."),
    ("Tax ID", "93-1234567", "Your EIN, or your SSN when you bill as a person."),
    ("Tax ID type", "EIN", "EIN or SSN."),
    ("Taxonomy", "225700000X", "Your provider taxonomy code (225700000X: massage therapist)."),
    (
        "Rendering provider",
        "Rivera, Maya",
        "Billing as a practice: the therapist who treats (Last, First); a Therapist column names each line's.",
    ),
    ("Rendering NPI", "1987654328", "That therapist's own 10-digit NPI (type 1)."),
    (
        "Billing address",
        "100 Main St Suite 2, Salem, OR 97301-1234",
        "Street, city, state and ZIP+4 (claims need the 9-digit ZIP here).",
    ),
    ("Billing phone", "503-555-0100", "Your phone number, 10 digits."),
    ("Submitter ID", "WILLOW01", "The ID your clearinghouse gave you for 837 files."),
    ("Receiver ID", "CLEARHOUSE", "Your clearinghouse's ID for 837 files."),
    ("Receiver name", "Example Clearinghouse", "Your clearinghouse's name."),
    ("Place of service", "11", "11 (office) or 12 (home); a session line's own Place of service wins."),
    (
        "Charge 97124",
        40,
        "Your fee per unit of 97124 on claims (a Payers column Charge 97124 wins for that payer).",
    ),
    ("Charge 97140", 45, "Your fee per unit of 97140 on claims."),
    ("Charge 97010", 15, "Your fee for a hot/cold pack on claims."),
)

SETTINGS_ROWS: tuple[tuple[str, str, str], ...] = (
    (
        c.DEFAULT_CODE,
        MANUAL_THERAPY,
        f"{MASSAGE} or {MANUAL_THERAPY}: the massage code for lines whose Service is {EITHER} when "
        "neither the payer's Accepts, its Preferred nor its claim history decides.",
    ),
    (
        c.UNIT_RULE,
        CMS,
        f"{CMS} (8-minute rule on the day's total timed minutes) or {AMA} (midpoint rule per code "
        "and visit), for payers whose own Unit rule is blank.",
    ),
    (
        c.BLANK_SERVICE,
        MASSAGE_SERVICE,
        f"What a blank Service means: {MASSAGE_SERVICE} ({MASSAGE}), {MANUAL} ({MANUAL_THERAPY}) or "
        f"{EITHER} (your notes always meet both codes, so the payer's rules choose).",
    ),
    (
        c.MONTH_TO_RECODE,
        "",
        "The month (YYYY-MM, e.g. 2026-11) that the recode and report scripts in Excel work on. "
        "Blank: recode works on the active sheet's lines (every session sheet from another sheet) "
        "and report on every month.",
    ),
    (
        c.DATE_ORDER,
        MDY,
        f"{MDY} (month/day/year, 11/04/2026 is 4 November) or {DMY} (day/month/year) for dates typed "
        "as text; real Excel dates and 2026-11-04 always work.",
    ),
)
#: The choices of the Settings value Blank service.
BLANK_SERVICES = (MASSAGE_SERVICE, MANUAL, EITHER)


# --- How to use ----------------------------------------------------------------------------------

#: What `either` asserts and why a blank Service is massage (the README says the same).
EITHER_PARAGRAPH = (
    "Type either only when your notes for the session describe techniques that meet both codes: "
    "97124 massage (effleurage, petrissage, tapotement) and 97140 manual therapy (mobilization, "
    "myofascial release, manual lymphatic drainage, manual traction). Only then do the payer's "
    "Accepts, Preferred and claim history choose between them. The code must match the service "
    "performed, not the one that pays better: billing by payment is miscoding, and re-billing a "
    "denied 97124 as 97140 is what auditors call code shopping. That is why a blank Service means "
    "massage, unless you set Blank service on the Settings sheet to manual therapy or either."
)

_HOW_TO_INTRO = (
    "Type your sessions on the Sessions sheet, one line per service. cptbill fills in each line's "
    "CPT code, units, expected payment and flags, following each payer's rules on the Payers sheet "
    "and what payers actually paid on the Claims sheet. Columns are found by their header, so you "
    "may add your own columns, reorder them or keep one sheet per month (named e.g. 2026-11)."
)


def _how_to_sections() -> list[tuple[str, list[tuple[str, str]]]]:
    flags = [(flag.value, FLAG_MEANINGS[flag]) for flag in Flag]
    return [
        (
            "What you type on the Sessions sheet",
            [
                (
                    c.DATE,
                    "The date of the session, e.g. 2026-11-03. A date typed as text such as 11/03/2026 "
                    "is read in the Date order on the Settings sheet (MDY or DMY).",
                ),
                (c.CLIENT, "The client's name or ID."),
                (
                    c.PAYER,
                    "Pick the payer from the list (it comes from the Payers sheet). "
                    "Leave it blank for self-pay: the line is not billed.",
                ),
                (c.MINUTES, "Treatment minutes of this line: 60, or 60 min, 1h, 1:00, 1.5 h."),
                (
                    c.SERVICE,
                    f"The service you performed and documented; it decides the code. {MASSAGE_SERVICE} "
                    f"is {MASSAGE}; {MANUAL} (also myofascial release, MLD, manual lymphatic drainage, "
                    f"trigger point, soft tissue mobilization) is {MANUAL_THERAPY}; {PACK} is "
                    f"{HOT_COLD_PACK} (one unit per client, payer and day; its minutes do not count); a "
                    f"CPT code you type is that code; {EITHER} is explained below. Blank means the "
                    "Settings value Blank service (massage unless you change it).",
                ),
                (EITHER, EITHER_PARAGRAPH),
                (
                    c.MODIFIERS,
                    "Optional. CPT modifiers of the line, e.g. XS (or 59) on a 97140 line billed beside "
                    "97124 in one visit, when your notes show separate 15-minute blocks on different "
                    "body regions.",
                ),
                (
                    c.VISIT,
                    "Optional. Lines with the same date, client and payer are one visit. Type the same "
                    "label on lines to group them yourself (e.g. two visits on one day).",
                ),
                (
                    c.LOCK,
                    "Type yes, x, true or 1 to keep the line's Code and Units as they are, e.g. a "
                    "line you have already billed (no, false, 0 or blank do not lock). Expected and "
                    "Flags are still filled in.",
                ),
            ],
        ),
        (
            "What the program fills in",
            [
                (
                    c.CODE,
                    "The CPT code of the documented service; the program never replaces it, and a "
                    "payer's rules about it become flags. Lines whose Service is either share one "
                    "massage code per visit: the only one the payer accepts, else the payer's "
                    "Preferred, else the one its claim history pays best, else the Default code.",
                ),
                (
                    c.UNITS,
                    "Billed units by the payer's unit rule: CMS (8-minute rule) adds up the timed "
                    "minutes of the client's day with that payer, all visits; AMA counts each code "
                    "within a visit. Cut to the payer's Max units per visit and shared over the lines.",
                ),
                (c.EXPECTED, "Units x the payer's rate for the code; empty when the rate is unknown."),
                (c.FLAGS, "Things to look at, explained below. Lines with flags are shaded."),
                (
                    c.CHANGES,
                    "Each time the program overwrites a code, units or amount you could see, it adds a "
                    "line to the Changes sheet: before, after and why.",
                ),
            ],
        ),
        (
            "The other sheets",
            [
                (
                    c.PAYERS,
                    "One row per payer: the codes it accepts, the massage code it prefers, its rate per "
                    "unit for each code (0 = it does not pay that code, blank = not known), its unit rule, "
                    "its cap on units per visit, the names its electronic remittances (ERA) use, and "
                    "optionally its Filing limit (days) after the date of service (the Follow-up "
                    "deadlines; check flags LATE the lines past it with no claim on the Claims sheet).",
                ),
                (
                    c.CLAIMS,
                    "What payers actually did: one row per billed line with Status (Paid, Partial, "
                    "Denied, Pending, Reversed, Patient = the client owes it, Other payer, Forwarded, "
                    "Predetermination, Submitted) and Reason (e.g. CO-45, PR-1). The program learns "
                    "from true denials which code each payer pays best, lists what to do next on the "
                    "Follow-up sheet (bill the client, a corrected claim, an appeal) and what the payer "
                    "paid short on the Shortfalls sheet. cptbill import-era fills it from 835 files, "
                    "with Patient owes and every adjustment's amount (a payment of provider "
                    "adjustments only gets a row of its own, Reason PLB-...).",
                ),
                (
                    c.SETTINGS,
                    "What a blank Service means (Blank service), the massage code for either lines "
                    "that nothing else decides (Default code), the unit rule, and the Month to recode "
                    "that the recode and report scripts in Excel work on.",
                ),
            ],
        ),
        (
            "Sending claims",
            [
                (
                    c.CLIENTS,
                    "One row per client you bill: date of birth, sex, address (street, city, ST ZIP in one "
                    "cell), member ID and group from the insurance card, the insured's name and your "
                    "client's relationship to them when the client is not the insured, up to four ICD-10 "
                    "diagnosis codes from the referral, the referring provider and NPI, a prior "
                    "authorization number, and for auto or work injuries the accident date, state and "
                    "the carrier's claim number.",
                ),
                (
                    "Settings",
                    "Your practice as the payers know it (Billing provider, Billing NPI, Tax ID, Taxonomy, "
                    "Billing address, Billing phone), your clearinghouse's Submitter and Receiver IDs, "
                    "and your fee per unit of each code (Charge 97124, ...).",
                ),
                (
                    "Payers",
                    "Payer ID (from your clearinghouse's payer list: such payers get 837 files), Address "
                    "(for paper forms) and Plan type (commercial, medicare, auto, workers comp, ...).",
                ),
                (
                    "Claims",
                    "cptbill claims massage-billing.xlsx --month 2026-11 writes one 837 file per payer with "
                    "a Payer ID and CMS-1500 forms (a PDF to print on the red form and a preview) for the "
                    "others, and adds each line sent to the Claims sheet as Submitted. Lines missing "
                    "something are flagged CLAIM_INCOMPLETE and held back. Optional session columns: "
                    "Modifiers, Diagnosis (pointers such as 1,2) and Place of service (11 office, 12 home).",
                ),
                (
                    "Group practices",
                    "Billing under the group's NPI: add a Therapist column to the sessions and a sheet "
                    "named Therapists (Therapist as you write it, Name on claims as Last, First, the "
                    "therapist's own NPI, Taxonomy, Credentials); with one therapist, Rendering provider "
                    "and Rendering NPI in Settings instead. Sessions given away from the Billing address: "
                    "Service address (and Service facility) in Settings; home visits leave it out.",
                ),
            ],
        ),
        ("What the flags mean", flags),
        (
            "Running it from the command line",
            [
                (
                    "Check",
                    "cptbill check massage-billing.xlsx --month 2026-11   (shows what would change, changes nothing)",
                ),
                (
                    "Recode",
                    "cptbill recode massage-billing.xlsx --month 2026-11   (fills Code, Units, Expected, "
                    "Flags; close the workbook in Excel first; the previous version is kept as a backup)",
                ),
                (
                    "Report",
                    "cptbill report massage-billing.xlsx --month 2026-11   (Summary, Follow-up, Shortfalls)",
                ),
                ("Remittances", "cptbill import-era massage-billing.xlsx remittance.835   (adds to Claims)"),
            ],
        ),
        (
            "Running it in Excel (the cptbill add-in)",
            [
                (
                    "Recode",
                    "Run the recode script from the add-in's task pane (xlwings Lite) or the xlwings "
                    "ribbon; it works on the open workbook. It recodes the month typed as Month to recode "
                    "on the Settings sheet (e.g. 2026-11); left blank, the lines of the active sheet.",
                ),
                (
                    "Report",
                    "The report script writes the Summary, Follow-up and Shortfalls sheets for the Month "
                    "to recode (blank: every month). Setting up the add-in is described in cptbill's "
                    "addin/README.md.",
                ),
                (
                    "Remittances",
                    "In xlwings Lite, drop your 835 files (.835, or the .txt, .edi or .era your "
                    "clearinghouse gives) into Files > Import/Export, then run the import_era "
                    "script: it adds their new service lines to the Claims sheet.",
                ),
                (
                    "Formulas",
                    "=CPTUNITS(D2:D100) gives the units of each line's minutes; "
                    "=CPTCODE(C2:C100, Payers[#All], Claims[#All], Settings[#All], E2:E100) each line's "
                    "code from its Service; "
                    "=CPTFLAGS(Sessions[#All], Payers[#All]) shows the flags of the lines as they stand.",
                ),
            ],
        ),
    ]


# --- Building --------------------------------------------------------------------------------------


def build_workbook(sample: bool) -> Workbook:
    """The template workbook, empty or (`sample`) with the November 2026 sample month."""
    wb = Workbook()
    sessions = wb.active
    assert isinstance(sessions, Worksheet)
    sessions.title = c.SESSIONS
    session_rows = [_session_row(line) for line in SAMPLE_SESSIONS] if sample else []
    _fill_table(sessions, SESSION_COLUMNS, session_rows, "TableStyleMedium2")
    payer_column = get_column_letter(PAYER_COLUMNS.index(c.PAYER) + 1)
    # Through a defined name: Excel 2010+ stores a list that points straight at another sheet as
    # an x14 extension, which openpyxl (that builds this template) could not read back.
    wb.defined_names[PAYER_LIST] = DefinedName(
        PAYER_LIST, attr_text=f"{quote_sheetname(c.PAYERS)}!${payer_column}$2:${payer_column}${PAYER_ROWS}"
    )
    _drop_down(
        sessions, c.PAYER, SESSION_COLUMNS, PAYER_LIST, SESSION_ROWS,
        error="This payer is not on the Payers sheet yet: add it there, or leave blank for self-pay.",
        stop=False,
    )  # fmt: skip
    services = ",".join([*(DESCRIPTIONS[code] for code in (MASSAGE, MANUAL_THERAPY, HOT_COLD_PACK)), EITHER])
    _drop_down(
        sessions, c.SERVICE, SESSION_COLUMNS, f'"{services}"', SESSION_ROWS,
        error=f"Use {services.replace(',', ', ')}.", stop=False,
    )  # fmt: skip
    flags = get_column_letter(SESSION_COLUMNS.index(c.FLAGS) + 1)
    sessions.conditional_formatting.add(
        f"A2:{get_column_letter(len(SESSION_COLUMNS))}{SESSION_ROWS}",
        FormulaRule(formula=[f"LEN(TRIM(${flags}2))>0"], fill=FLAGGED_FILL),
    )

    payers = wb.create_sheet(c.PAYERS)
    payer_rows = [[*p, *SAMPLE_PAYER_CLAIMS.get(p[0], (None,) * 3)] for p in SAMPLE_PAYERS]
    _fill_table(payers, PAYER_COLUMNS, payer_rows if sample else [], "TableStyleMedium4")
    _drop_down(payers, c.UNIT_RULE, PAYER_COLUMNS, f'"{CMS},{AMA}"', PAYER_ROWS, error=f"Use {CMS} or {AMA}.")
    _drop_down(
        payers, c.PREFERRED, PAYER_COLUMNS, f'"{",".join(MASSAGE_FAMILY)}"', PAYER_ROWS,
        error=f"Use {MASSAGE} or {MANUAL_THERAPY}, or leave blank.",
    )  # fmt: skip

    clients = wb.create_sheet(c.CLIENTS)
    _fill_table(
        clients, CLIENT_COLUMNS, [list(r) for r in SAMPLE_CLIENTS] if sample else [], "TableStyleMedium6"
    )
    _drop_down(clients, "Sex", CLIENT_COLUMNS, '"F,M,U"', PAYER_ROWS, error="Use F, M or U.")
    _drop_down(
        clients, "Relationship", CLIENT_COLUMNS, '"spouse,child,other"', PAYER_ROWS,
        error="The client's relationship to the insured: spouse, child or other (blank: the client is the insured).",
    )  # fmt: skip
    _drop_down(
        payers, PLAN_TYPE, PAYER_COLUMNS, f'"{",".join(CLAIM_PLAN_TYPES)}"', PAYER_ROWS,
        error=f"Use {', '.join(CLAIM_PLAN_TYPES)} (blank: commercial).",
    )  # fmt: skip

    claims = wb.create_sheet(c.CLAIMS)
    claim_rows = (
        [[*row] + [None] * (len(c.CLAIMS_COLUMNS) - len(row)) for row in SAMPLE_CLAIMS] if sample else []
    )
    _fill_table(claims, c.CLAIMS_COLUMNS, claim_rows, "TableStyleMedium7")
    statuses = ",".join(s.value for s in Status)
    _drop_down(
        claims, c.STATUS, c.CLAIMS_COLUMNS, f'"{statuses}"', CLAIM_ROWS,
        error=f"Use {statuses.replace(',', ', ')}.",
    )  # fmt: skip

    settings = wb.create_sheet(c.SETTINGS)
    setting_rows = [list(row) for row in SETTINGS_ROWS] + [
        list(row) for row in SETTINGS_CLAIMS_ROWS if sample
    ]
    _fill_table(settings, SETTINGS_COLUMNS, setting_rows, "TableStyleLight9")
    value = get_column_letter(SETTINGS_COLUMNS.index(c.VALUE) + 1)
    _validate(settings, f'"{",".join(MASSAGE_FAMILY)}"', f"{value}2", f"Use {MASSAGE} or {MANUAL_THERAPY}.")
    _validate(settings, f'"{CMS},{AMA}"', f"{value}3", f"Use {CMS} or {AMA}.")
    blank_row = next(i for i, row in enumerate(SETTINGS_ROWS, start=2) if row[0] == c.BLANK_SERVICE)
    _validate(
        settings, f'"{",".join(BLANK_SERVICES)}"', f"{value}{blank_row}", f"Use {', '.join(BLANK_SERVICES)}."
    )
    month_row = next(i for i, row in enumerate(SETTINGS_ROWS, start=2) if row[0] == c.MONTH_TO_RECODE)
    month = settings[f"{value}{month_row}"]
    month.value = None  # blank until the user picks a month
    month.number_format = "@"  # text, so that Excel keeps 2026-11 as typed instead of making it a date
    order_row = next(i for i, row in enumerate(SETTINGS_ROWS, start=2) if row[0] == c.DATE_ORDER)
    _validate(settings, f'"{MDY},{DMY}"', f"{value}{order_row}", f"Use {MDY} or {DMY}.")
    for cell in settings[get_column_letter(len(SETTINGS_COLUMNS))][1:]:
        cell.alignment = Alignment(wrap_text=True, vertical="top")

    _how_to(wb.create_sheet(c.HOW_TO))
    wb.active = 0
    wb.properties.creator = "cptbill"
    wb.properties.title = "Massage therapy billing" + (": sample month" if sample else "")
    wb.properties.created = FIXED_TIME
    wb.properties.modified = FIXED_TIME
    return wb


def _session_row(line: tuple[Any, ...]) -> list[Any]:
    day, client, payer, minutes, service, modifiers, visit, lock, code, units = line
    return [_day(day), client, payer, minutes, service, modifiers, visit, lock, code, units, None, None]


def _fill_table(ws: Worksheet, header: Sequence[str], rows: list[list[Any]], style: str) -> None:
    """Header, rows (or one blank row, since a table needs one) as an Excel table, formatted."""
    ws.append(list(header))
    for row in rows or [[None] * len(header)]:
        ws.append(row)
    last_row = ws.max_row
    ref = f"A1:{get_column_letter(len(header))}{last_row}"
    table = Table(displayName=ws.title.replace(" ", ""), ref=ref)
    table.tableStyleInfo = TableStyleInfo(name=style, showRowStripes=True)
    ws.add_table(table)
    for index, name in enumerate(header, start=1):
        letter = get_column_letter(index)
        width, number_format = LOOK.get(name, (14, None))
        # Wide enough for the header and its filter button, and for the values up to a cap.
        longest = max((len(_shown(row[index - 1])) for row in rows if index <= len(row)), default=0)
        ws.column_dimensions[letter].width = max(width, len(name) + HEADER_ROOM, min(longest + 2, MAX_WIDTH))
        if number_format:
            # The column's own format covers rows typed later; the cells get it now.
            ws.column_dimensions[letter].number_format = number_format
            for (cell,) in ws.iter_rows(min_row=2, max_row=last_row, min_col=index, max_col=index):
                cell.number_format = number_format
    ws.freeze_panes = "A2"
    print_setup(ws)


#: Characters a table header needs beside its text for the filter button; the widest a value makes a column.
HEADER_ROOM = 3
MAX_WIDTH = 60


def _shown(value: Any) -> str:
    """About how many characters a value shows as: dates as yyyy-mm-dd, amounts with cents."""
    if isinstance(value, dt.date):
        return "2026-11-03"
    if isinstance(value, float):
        return f"{value:,.2f}"
    return "" if value is None else str(value)


def print_setup(ws: Worksheet) -> None:
    """Print landscape, one page wide (as many pages tall as it takes), the header row on every page."""
    ws.page_setup.orientation = "landscape"
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_title_rows = "1:1"
    ws.print_options.gridLines = False


def _drop_down(
    ws: Worksheet,
    column: str,
    header: Sequence[str],
    formula: str,
    last_row: int,
    *,
    error: str,
    stop: bool = True,
) -> None:
    letter = get_column_letter(list(header).index(column) + 1)
    _validate(ws, formula, f"{letter}2:{letter}{last_row}", error, stop=stop)


def _validate(ws: Worksheet, formula: str, cells: str, error: str, *, stop: bool = True) -> None:
    """A plain list validation (openpyxl writes the non-x14 form, which it can also read back)."""
    validation = DataValidation(
        type="list",
        formula1=formula,
        allow_blank=True,
        showErrorMessage=True,
        errorStyle="stop" if stop else "warning",
        error=error,
    )
    validation.add(cells)
    ws.add_data_validation(validation)


def _how_to(ws: Worksheet) -> None:
    ws.column_dimensions["A"].width = 18
    ws.column_dimensions["B"].width = 110
    wrap = Alignment(wrap_text=True, vertical="top")
    ws.append(["Massage therapy billing: how to use this workbook"])
    ws["A1"].font = Font(bold=True, size=14)
    ws.append([_HOW_TO_INTRO])
    ws.merge_cells("A2:B2")
    ws["A2"].alignment = wrap
    ws.row_dimensions[2].height = 48
    for title, items in _how_to_sections():
        ws.append([])
        ws.append([title])
        ws.cell(ws.max_row, 1).font = Font(bold=True, size=12)
        for term, text in items:
            ws.append([term, text])
            ws.cell(ws.max_row, 1).font = Font(bold=True)
            ws.cell(ws.max_row, 1).alignment = wrap
            ws.cell(ws.max_row, 2).alignment = wrap
    for row in ws.iter_rows():  # help text such as "=CPTUNITS(...) gives ..." is text, not a formula
        for cell in row:
            if cell.data_type == "f":
                cell.data_type = "s"
    ws.sheet_view.showGridLines = False
    print_setup(ws)
    ws.page_setup.orientation = "portrait"  # text, not a table: no header row to repeat
    ws.print_title_rows = None


# --- Saving ----------------------------------------------------------------------------------------


def workbook_bytes(wb: Workbook) -> bytes:
    """The saved workbook, the same bytes each time: fixed zip times and document dates."""
    raw = io.BytesIO()
    wb.save(raw)  # openpyxl stamps "modified" and the zip entries with the current time
    wb.properties.modified = FIXED_TIME
    stamp = FIXED_TIME.timetuple()[:6]
    result = io.BytesIO()
    with zipfile.ZipFile(raw) as source, zipfile.ZipFile(result, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "docProps/core.xml":
                data = tostring(wb.properties.to_tree())
            target.writestr(zipfile.ZipInfo(item.filename, date_time=stamp), data, zipfile.ZIP_DEFLATED)
    return result.getvalue()


def save_bytes(data: bytes, path: Path) -> None:
    """Write a file atomically (a temporary file beside it, then a rename), with the user's permissions."""
    replace_atomically(path, lambda stream: stream.write(data), backup=False)


def write_template(path: str | Path, sample: bool = False) -> Path:
    """Write a new workbook from the template (with the sample month when `sample`); never overwrites."""
    path = Path(path)
    if path.exists():
        raise CptbillError(f"{path.name} already exists; choose a new file name or move the old file.")
    if not path.parent.is_dir():
        raise CptbillError(f"The folder {path.parent} does not exist.")
    if path.suffix.lower() != ".xlsx":
        raise CptbillError("The new workbook's name must end in .xlsx.")
    save_bytes(workbook_bytes(build_workbook(sample)), path)
    return path


def main(argv: Sequence[str]) -> None:
    """Regenerate the committed sample workbook (overwriting it): `python -m cptbill.template [PATH]`."""
    path = Path(argv[0]) if argv else SAMPLE_PATH
    save_bytes(workbook_bytes(build_workbook(sample=True)), path)
    print(f"wrote {path}")


if __name__ == "__main__":
    main(sys.argv[1:])
