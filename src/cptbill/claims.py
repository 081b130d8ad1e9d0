"""Claims to send: the month's coded lines grouped per client, payer and day, checked for what a claim needs."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypeVar

from cptbill import contract as c
from cptbill.contract import Flag, Status, client_key, header_key, name_key
from cptbill.history import INFORMATION_ERRORS
from cptbill.models import Claim as ClaimRow
from cptbill.models import FlagNote, Line, LineResult, Payer, flag_parts, money
from cptbill.schema import (
    cell,
    column_index,
    is_blank,
    parse_code,
    parse_date,
    parse_money,
    row_is_blank,
    setting_values,
)

Rows = list[list[Any]]
T = TypeVar("T")

# Clients sheet columns (one row per client; `Client` as on the session sheets)
DATE_OF_BIRTH = "Date of birth"
SEX = "Sex"
ADDRESS = "Address"  # one cell: "12 Elm St, Portland, OR 97201"
PHONE = "Phone"
MEMBER_ID = "Member ID"
GROUP = "Group"
INSURED = "Insured"  # blank: the client is the insured
RELATIONSHIP = "Relationship"  # the client's relationship to the insured
INSURED_BIRTH = "Insured date of birth"
INSURED_SEX = "Insured sex"
INSURED_ADDRESS = "Insured address"
DIAGNOSES = tuple(f"Diagnosis {n}" for n in range(1, 5))
REFERRING = "Referring provider"
REFERRING_NPI = "Referring NPI"
PRIOR_AUTH = "Prior authorization"
ACCIDENT_DATE = "Accident date"
ACCIDENT_STATE = "Accident state"
CARRIER_CLAIM = "Carrier claim number"  # the auto (PIP) or workers' comp carrier's claim number
CLIENT_COLUMNS = (
    c.CLIENT, DATE_OF_BIRTH, SEX, ADDRESS, PHONE, MEMBER_ID, GROUP, INSURED, RELATIONSHIP,
    INSURED_BIRTH, INSURED_SEX, INSURED_ADDRESS, *DIAGNOSES, REFERRING, REFERRING_NPI, PRIOR_AUTH,
    ACCIDENT_DATE, ACCIDENT_STATE, CARRIER_CLAIM,
)  # fmt: skip

# Settings: the billing provider and the 837 envelope
BILLING_PROVIDER = "Billing provider"
BILLING_NPI = "Billing NPI"
TAX_ID = "Tax ID"
TAX_ID_TYPE = "Tax ID type"  # EIN or SSN
TAXONOMY = "Taxonomy"
BILLING_ADDRESS = "Billing address"
BILLING_PHONE = "Billing phone"
SUBMITTER_ID = "Submitter ID"
RECEIVER_ID = "Receiver ID"
RECEIVER_NAME = "Receiver name"
PLACE_OF_SERVICE = "Place of service"  # also an optional session column
TEST_FILE = "Test file"  # yes: the 837 is marked as a test (ISA15 = T)
CHARGE_PREFIX = "Charge "  # `Charge 97124` on Settings (the practice's fee per unit) or Payers
# Settings, optional: the one therapist who treats under a group's NPI (lines with no Therapist)
RENDERING_PROVIDER = "Rendering provider"  # `Last, First`
RENDERING_NPI = "Rendering NPI"
RENDERING_TAXONOMY = "Rendering taxonomy"
# Settings, optional: where the sessions are given when that is not the Billing address
SERVICE_FACILITY = "Service facility"  # its name; blank = the Billing provider's
SERVICE_ADDRESS = "Service address"  # `street, city, ST ZIP+4`
SERVICE_FACILITY_NPI = "Service facility NPI"  # only an organisation other than the billing provider

# Therapists sheet (group practices), optional: one row per therapist treating under the billing provider
THERAPISTS = "Therapists"
THERAPIST = "Therapist"  # the name as on the session sheets' optional `Therapist` column
NAME_ON_CLAIMS = "Name on claims"  # `Last, First`; blank = the Therapist cell
NPI = "NPI"  # the therapist's own (individual, Type 1) NPI
CREDENTIALS = "Credentials"  # e.g. LMT, DC, PT: printed after the name in box 31

# Optional session columns read by claims only
DIAGNOSIS_POINTER = "Diagnosis"  # e.g. 1 or 1,2 or AB; blank = all of the client's diagnoses
# Optional Payers column: what kind of plan it is (claim filing indicator, CMS-1500 box 1)
PLAN_TYPE = "Plan type"

PLAN_TYPES = {  # plan type -> (X12 claim filing indicator SBR09, CMS-1500 box 1 checkbox)
    "commercial": ("CI", "group"),
    "bcbs": ("BL", "group"),
    "medicare": ("MB", "medicare"),
    "medicare advantage": ("16", "other"),
    "medicaid": ("MC", "medicaid"),
    "tricare": ("CH", "tricare"),
    "auto": ("AM", "other"),
    "workers comp": ("WC", "feca"),
    "other": ("ZZ", "other"),
}
_PLAN_ALIASES = {"pip": "auto", "workers' comp": "workers comp", "workers compensation": "workers comp",
                 "wc": "workers comp", "ma": "medicare advantage", "group": "commercial"}  # fmt: skip

RELATIONSHIPS = {"self": "18", "spouse": "01", "child": "19", "other": "G8"}
PLACES = {"office": "11", "home": "12", "11": "11", "12": "12"}
# Sessions at the client's home name no service facility (837P 2310C, box 32): the place of service
# (CLM05-1, 24B) says where; X12 RFI 423 (the facility loop "is not used" for a patient's home) and
# Medicare's item 32 (Pub. 100-04 ch. 26: the service location "for all services other than those
# furnished in place of service home - 12").
HOME = "12"

#: Flags that keep a line off a claim until fixed; the others are information. CLAIM_INCOMPLETE
#: (carried on the line by recodes) is not among them: each claims run works it out again.
BLOCKING = frozenset({
    Flag.BAD_MINUTES, Flag.BAD_DATE, Flag.BAD_SERVICE, Flag.UNKNOWN_PAYER, Flag.MIXED_CODES,
    Flag.UNDER_8_MIN, Flag.DUPLICATE, Flag.AMBIGUOUS_DATE, Flag.ODD_DATE, Flag.NOT_ACCEPTED,
    Flag.UNITS_MISMATCH,
})  # fmt: skip
#: Denial reasons (CARC numbers) that a corrected claim answers: the Follow-up sheet's information errors.
CORRECTABLE = INFORMATION_ERRORS

_ICD10 = re.compile(r"^[A-TV-Z][0-9][0-9A-Z](?:\.?[0-9A-Z]{1,4})?$")
_ADDRESS = re.compile(
    r"^(?P<street>.+?),\s*(?P<city>[^,]+?),?\s+(?P<state>[A-Za-z]{2})\s+(?P<zip>\d{5}(?:-?\d{4})?)$"
)
_MODIFIER = re.compile(r"^[0-9A-Z]{2}$")
_CLAIM_ID = re.compile(r"^CB(\d{6,})$")
_CORRECTED = re.compile(
    r"^corrected claim \(7\) for payer claim (\S+)$"
)  # the Reason of a corrected claim sent


# ------------------------------------------------------------------------------- the pieces


@dataclass(frozen=True)
class Address:
    """A postal address: street, city, two-letter state, ZIP (5 or 9 digits, no hyphen)."""

    street: str
    city: str
    state: str
    zip: str


@dataclass(frozen=True)
class Name:
    """A person's or organisation's name as claims want it: last (or organisation) and first."""

    last: str
    first: str = ""

    @property
    def person(self) -> bool:
        return bool(self.first)

    def form(self) -> str:
        """`LAST, FIRST` as on the CMS-1500."""
        return f"{self.last}, {self.first}" if self.first else self.last


@dataclass(frozen=True)
class Rendering:
    """The therapist who gave a session, when not the billing provider (837P 2310B/2420A, box 24J)."""

    name: Name
    npi: str
    taxonomy: str = ""
    credentials: str = ""

    def signed(self) -> str:
        """`FIRST LAST CREDENTIALS` as box 31 prints the rendering provider."""
        return " ".join(p for p in (self.name.first, self.name.last, self.credentials) if p)


@dataclass(frozen=True)
class Facility:
    """Where the sessions were given when that is not the billing address (837P 2310C, box 32)."""

    name: str
    address: Address
    npi: str = ""  # only a facility outside the billing provider's organisation has its own here


@dataclass(frozen=True)
class TherapistInfo:
    """One row of the Therapists sheet, read; `problems` are its missing or malformed items."""

    row: int
    rendering: Rendering
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class ClientInfo:
    """One row of the Clients sheet, read; `problems` are its missing or malformed items."""

    name: str
    row: int
    person: Name
    birth_date: dt.date | None = None
    sex: str = ""  # M, F or U
    address: Address | None = None
    phone: str = ""
    member_id: str = ""
    group: str = ""
    insured: Name | None = None  # None: the client is the insured
    relationship: str = "18"  # X12 individual relationship code
    insured_birth_date: dt.date | None = None
    insured_sex: str = ""
    insured_address: Address | None = None
    diagnoses: tuple[str, ...] = ()  # ICD-10-CM, without the dot
    referring: Name | None = None
    referring_npi: str = ""
    prior_auth: str = ""
    accident_date: dt.date | None = None
    accident_state: str = ""
    carrier_claim: str = ""
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class Provider:
    """The billing provider and the 837 envelope, from the Settings sheet."""

    name: Name = Name("")
    npi: str = ""
    tax_id: str = ""
    tax_id_type: str = "EIN"  # EIN or SSN
    taxonomy: str = ""
    address: Address | None = None
    phone: str = ""
    submitter_id: str = ""
    receiver_id: str = ""
    receiver_name: str = ""
    place_of_service: str = "11"
    test: bool = False
    charges: Mapping[str, Decimal] = field(default_factory=dict)
    problems: tuple[str, ...] = ()  # what an 837 or a form needs and Settings lacks
    rendering: Rendering | None = None  # Rendering provider/NPI: who treats when a line names no one
    rendering_problems: tuple[str, ...] = ()  # of those settings: flag the lines that use them
    facility: Facility | None = None  # Service address (and facility), when not the billing address
    facility_problems: tuple[str, ...] = ()  # of those settings: flag the claims that need them


@dataclass(frozen=True)
class PayerInfo:
    """What claims need about a payer beyond the Payers sheet's coding columns."""

    payer: Payer
    address: Address | None
    plan_type: str  # a key of PLAN_TYPES
    charges: Mapping[str, Decimal]
    problems: tuple[str, ...] = ()  # about its Address, Plan type or charges


@dataclass(frozen=True)
class ServiceLine:
    """One service line of a claim (LX/SV1, box 24): lines of one code and modifiers added together."""

    number: int  # 1-based within the claim; REF*6R and the Claims sheet's Line
    code: str
    modifiers: tuple[str, ...]
    units: int
    charge: Decimal  # units x the fee per unit
    pointers: tuple[int, ...]  # 1-based into the claim's diagnoses
    place: str
    rows: tuple[tuple[str, int], ...]  # the session lines (sheet, row) it bills
    rendering: Rendering | None = None  # None: the billing provider treated


@dataclass(frozen=True)
class Claim:
    """One claim: a client, a payer and a date of service."""

    claim_id: str
    client: ClientInfo
    payer: PayerInfo
    date: dt.date
    lines: tuple[ServiceLine, ...]
    corrects: str = ""  # the payer's claim number of the claim this one replaces (frequency 7)
    facility: Facility | None = None  # 2310C / box 32: sessions given away from the billing address

    @property
    def rendering(self) -> Rendering | None:
        """The claim's rendering provider (2310B, box 31): its first line's; other lines say their own."""
        return self.lines[0].rendering if self.lines else None

    @property
    def total(self) -> Decimal:
        return money(sum((line.charge for line in self.lines), Decimal(0)))

    @property
    def frequency(self) -> str:
        return "7" if self.corrects else "1"

    @property
    def related_cause(self) -> str:
        """CLM11 / box 10: EM (employment), AA (auto accident) or OA (other accident), else ''."""
        if self.payer.plan_type == "workers comp":
            return "EM"
        if self.client.accident_state or self.payer.plan_type == "auto":
            return "AA"
        return "OA" if self.client.accident_date else ""


# ------------------------------------------------------------------------------- reading the sheets


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return " ".join(str(value).split())


def parse_address(value: Any) -> Address | None:
    """`street, city, ST 12345` (ZIP+4 with or without the hyphen); ValueError for other text."""
    text = _text(value)
    if not text:
        return None
    match = _ADDRESS.match(text)
    if match is None:
        raise ValueError(text)
    return Address(
        street=match["street"].strip(), city=match["city"].strip(),
        state=match["state"].upper(), zip=match["zip"].replace("-", ""),
    )  # fmt: skip


def split_name(text: str) -> Name:
    """`Last, First` or `First Last` (the last word is the last name); a leading `Dr.` is dropped."""
    text = re.sub(r"^(dr\.?|doctor)\s+", "", _text(text), flags=re.IGNORECASE)
    if "," in text:
        last, first = (part.strip() for part in text.split(",", 1))
        return Name(last, first)
    first, _, last = text.rpartition(" ")
    return Name(last, first) if first else Name(text)


def npi_valid(npi: str) -> bool:
    """An NPI: ten digits whose last is the Luhn check digit over 80840 and the first nine."""
    if not re.fullmatch(r"\d{10}", npi):
        return False
    total = 0
    for i, char in enumerate(reversed("80840" + npi[:9])):
        digit = int(char)
        if i % 2 == 0:  # doubled from the rightmost of the payload
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return (10 - total % 10) % 10 == int(npi[9])


def icd10(value: Any) -> str:
    """An ICD-10-CM code as claims carry it (upper case, no dot); ValueError when of the wrong shape."""
    text = _text(value).upper()
    if not _ICD10.match(text):
        raise ValueError(text)
    return text.replace(".", "")


def _sex(value: Any) -> str:
    text = _text(value).casefold()
    return {"m": "M", "male": "M", "f": "F", "female": "F", "u": "U", "unknown": "U"}.get(text, "")


def _date(value: Any) -> dt.date | None:
    if is_blank(value):
        return None
    return parse_date(value)


def _digits(value: Any) -> str:
    return re.sub(r"\D", "", _text(value))


def parse_clients(rows: Rows) -> dict[str, ClientInfo]:
    """Clients by name key; each with the problems of its own row (first row wins for a name)."""
    clients: dict[str, ClientInfo] = {}
    if not rows:
        return clients
    index = column_index(rows[0])
    for row_number, row in enumerate(rows[1:], start=2):
        if row_is_blank(row) or is_blank(cell(row, index, c.CLIENT)):
            continue
        info = _parse_client(row_number, row, index)
        clients.setdefault(name_key(info.name), info)
    return clients


def _parse_client(row_number: int, row: Sequence[Any], index: dict[str, int]) -> ClientInfo:
    where = f"{c.CLIENTS} row {row_number}"
    problems: list[str] = []

    def get(name: str) -> Any:
        return cell(row, index, name)

    def parsed(name: str, parse: Callable[[Any], T | None], shape: str, required: bool) -> T | None:
        """The column's value parsed; a problem noted when it is not `shape`, or missing and required."""
        try:
            value = parse(get(name))
        except ValueError:
            problems.append(f"{name.lower()} is not {shape} ({where})")
            return None
        if value is None and required:
            problems.append(f"no {name.lower()} ({where})")
        return value

    def date(name: str, required: bool) -> dt.date | None:
        return parsed(name, _date, "a date", required)

    def address(name: str, required: bool) -> Address | None:
        return parsed(name, parse_address, "'street, city, ST ZIP'", required)

    name = _text(get(c.CLIENT))
    birth = date(DATE_OF_BIRTH, True)
    sex = _sex(get(SEX))
    if not sex:
        problems.append(f"no sex (M, F or U) ({where})")
    home = address(ADDRESS, True)
    member_id = _text(get(MEMBER_ID)).replace(" ", "")
    if not member_id:
        problems.append(f"no member ID ({where})")
    insured_text = _text(get(INSURED))
    insured = split_name(insured_text) if insured_text and name_key(insured_text) != name_key(name) else None
    relationship = "18"
    if insured is not None:
        relationship = RELATIONSHIPS.get(_text(get(RELATIONSHIP)).casefold(), "")
        if relationship in ("", "18"):
            problems.append(f"relationship to the insured is not spouse, child or other ({where})")
    diagnoses: list[str] = []
    for column in DIAGNOSES:
        value = get(column)
        if is_blank(value):
            continue
        try:
            diagnoses.append(icd10(value))
        except ValueError:
            problems.append(f"{column} is not an ICD-10 code ({where})")
    if not diagnoses and not any(p.startswith("Diagnosis") for p in problems):
        problems.append(f"no diagnosis (ICD-10) ({where})")
    referring_text = _text(get(REFERRING))
    referring_npi = _digits(get(REFERRING_NPI))
    if referring_text and not referring_npi:
        problems.append(f"no referring NPI ({where})")
    elif referring_npi and not npi_valid(referring_npi):
        problems.append(f"referring NPI fails its check digit ({where})")
    accident_state = _text(get(ACCIDENT_STATE)).upper()
    if accident_state and not re.fullmatch(r"[A-Z]{2}", accident_state):
        problems.append(f"accident state is not a two-letter state code ({where})")
    accident = date(ACCIDENT_DATE, bool(accident_state))
    return ClientInfo(
        name=name,
        row=row_number,
        person=split_name(name),
        birth_date=birth,
        sex=sex,
        address=home,
        phone=_digits(get(PHONE)),
        member_id=member_id,
        group=_text(get(GROUP)),
        insured=insured,
        relationship=relationship or "G8",
        insured_birth_date=date(INSURED_BIRTH, False) if insured else None,
        insured_sex=_sex(get(INSURED_SEX)) if insured else "",
        insured_address=address(INSURED_ADDRESS, False) if insured else None,
        diagnoses=tuple(dict.fromkeys(diagnoses)),
        referring=split_name(referring_text) if referring_text else None,
        referring_npi=referring_npi,
        prior_auth=_text(get(PRIOR_AUTH)),
        accident_date=accident,
        accident_state=accident_state,
        carrier_claim=_text(get(CARRIER_CLAIM)),
        problems=tuple(problems),
    )


def _charges(values: Mapping[str, Any], where: str, problems: list[str]) -> dict[str, Decimal]:
    """`Charge <code>` entries (keys are header keys) as code -> fee per unit."""
    charges: dict[str, Decimal] = {}
    prefix = header_key(CHARGE_PREFIX) + " "
    for key, value in values.items():
        if not key.startswith(prefix) or is_blank(value):
            continue
        code = parse_code(key[len(prefix) :].strip())
        try:
            amount = parse_money(value)
        except ValueError:
            amount = None
        if code is None or amount is None or amount <= 0:
            problems.append(f"{CHARGE_PREFIX}{key[len(prefix) :].strip()} is not an amount over 0 ({where})")
            continue
        charges[code] = money(amount)
    return charges


def parse_provider(rows: Rows) -> Provider:
    """The billing provider, envelope IDs, place of service and charges from the Settings sheet."""
    values = setting_values(rows)
    where = c.SETTINGS
    problems: list[str] = []

    def get(name: str) -> str:
        return _text(values.get(header_key(name)))

    kind = get(TAX_ID_TYPE).upper() or "EIN"
    if kind not in ("EIN", "SSN"):
        problems.append(f"{TAX_ID_TYPE} is not EIN or SSN ({where})")
        kind = "EIN"
    name_text = get(BILLING_PROVIDER)
    name = split_name(name_text) if kind == "SSN" or "," in name_text else Name(name_text)
    if not name_text:
        problems.append(f"no {BILLING_PROVIDER} ({where})")
    npi = _digits(values.get(header_key(BILLING_NPI)))
    if not npi:
        problems.append(f"no {BILLING_NPI} ({where})")
    elif not npi_valid(npi):
        problems.append(f"{BILLING_NPI} fails its check digit ({where})")
    tax_id = _digits(values.get(header_key(TAX_ID)))
    if len(tax_id) != 9:
        problems.append(f"{TAX_ID} is not 9 digits ({where})")
    try:
        address = parse_address(values.get(header_key(BILLING_ADDRESS)))
    except ValueError:
        address = None
        problems.append(f"{BILLING_ADDRESS} is not 'street, city, ST ZIP+4' ({where})")
    else:
        if address is None:
            problems.append(f"no {BILLING_ADDRESS} ({where})")
        elif len(address.zip) != 9:
            problems.append(f"{BILLING_ADDRESS} needs the 9-digit ZIP+4 ({where})")
    phone = _digits(values.get(header_key(BILLING_PHONE)))
    if len(phone) != 10:
        problems.append(f"{BILLING_PHONE} is not 10 digits ({where})")
    place = PLACES.get(get(PLACE_OF_SERVICE).casefold() or "11")
    if place is None:
        problems.append(f"{PLACE_OF_SERVICE} is not 11 (office) or 12 (home) ({where})")
    rendering, rendering_problems = _rendering_setting(values)
    facility, facility_problems = _facility_setting(values, name, address)
    return Provider(
        name=name,
        npi=npi,
        tax_id=tax_id,
        tax_id_type=kind,
        taxonomy=get(TAXONOMY).upper(),
        address=address,
        phone=phone,
        submitter_id=get(SUBMITTER_ID),
        receiver_id=get(RECEIVER_ID),
        receiver_name=get(RECEIVER_NAME),
        place_of_service=place or "11",
        test=get(TEST_FILE).casefold() in ("yes", "y", "x", "true", "1"),
        charges=_charges(values, where, problems),
        problems=tuple(problems),
        rendering=rendering,
        rendering_problems=rendering_problems,
        facility=facility,
        facility_problems=facility_problems,
    )


_TAXONOMY = re.compile(r"^[0-9]{3}[0-9A-Z]{6}X$")  # NUCC provider taxonomy: 225700000X (massage therapist)


def _rendering_setting(values: Mapping[str, Any]) -> tuple[Rendering | None, tuple[str, ...]]:
    """Rendering provider, NPI and taxonomy: the therapist treating under a group NPI on every line."""
    name_text = _text(values.get(header_key(RENDERING_PROVIDER)))
    npi = _digits(values.get(header_key(RENDERING_NPI)))
    taxonomy = _text(values.get(header_key(RENDERING_TAXONOMY))).upper()
    if not (name_text or npi):
        return None, ()
    name = split_name(name_text) if name_text else None
    columns = (RENDERING_PROVIDER, RENDERING_NPI, RENDERING_TAXONOMY)
    problems = _person_problems(name, npi, taxonomy, c.SETTINGS, columns)
    return Rendering(split_name(name_text), npi, taxonomy), tuple(problems)


def _person_problems(
    name: Name | None, npi: str, taxonomy: str, where: str, columns: tuple[str, str, str]
) -> list[str]:
    """What a rendering provider's name, NPI and taxonomy lack: both names, a valid NPI."""
    name_column, npi_column, taxonomy_column = columns
    problems = []
    if name is None:
        problems.append(f"no {name_column} ({where})")
    elif not name.person:
        problems.append(f"{name_column} needs a last and first name, 'Last, First' ({where})")
    if not npi:
        problems.append(f"no {npi_column} ({where})")
    elif not npi_valid(npi):
        problems.append(f"{npi_column} fails its check digit ({where})")
    if taxonomy and not _TAXONOMY.match(taxonomy):
        problems.append(f"{taxonomy_column} is not a 10-character taxonomy code like 225700000X ({where})")
    return problems


def _facility_setting(
    values: Mapping[str, Any], billing: Name, billing_address: Address | None
) -> tuple[Facility | None, tuple[str, ...]]:
    """Service facility, address and NPI: where sessions are given, when not at the Billing address.

    X222A1 2310C: "Required when the location of health care service is different than that carried
    in Loop ID-2010AA (Billing Provider)"; the same address is no facility (omitted, as the guide says).
    """
    where = c.SETTINGS
    problems: list[str] = []
    try:
        address = parse_address(values.get(header_key(SERVICE_ADDRESS)))
    except ValueError:
        return None, (f"{SERVICE_ADDRESS} is not 'street, city, ST ZIP+4' ({where})",)
    if address is None:
        return None, ()
    if len(address.zip) != 9:
        problems.append(f"{SERVICE_ADDRESS} needs the 9-digit ZIP+4 ({where})")
    npi = _digits(values.get(header_key(SERVICE_FACILITY_NPI)))
    if npi and not npi_valid(npi):
        problems.append(f"{SERVICE_FACILITY_NPI} fails its check digit ({where})")
    if billing_address is not None and _same_place(address, billing_address):
        return None, ()
    name = _text(values.get(header_key(SERVICE_FACILITY))) or billing.form()
    return Facility(name, address, npi), tuple(problems)


def _same_place(a: Address, b: Address) -> bool:
    def key(x: Address) -> tuple[str, ...]:
        street = re.sub(r"[^a-z0-9]+", " ", x.street.casefold()).strip()
        return (street, x.city.casefold(), x.state, x.zip[:5])

    return key(a) == key(b)


_CREDENTIAL = re.compile(
    r",?\s+(LMT|LMP|LMBT|CMT|RMT|NCMT|DC|PT|DPT|MPT|PTA|OT|OTR|OTR/L|COTA|ATC|MD|DO|NP|PA|PA-C)\.?$",
    re.IGNORECASE,
)


def parse_therapists(rows: Rows) -> dict[str, TherapistInfo]:
    """The Therapists sheet by the name key of its Therapist column (first row wins for a name)."""
    therapists: dict[str, TherapistInfo] = {}
    if not rows:
        return therapists
    index = column_index(rows[0])
    for row_number, row in enumerate(rows[1:], start=2):
        typed = _text(cell(row, index, THERAPIST))
        if row_is_blank(row) or not typed:
            continue
        where = f"{THERAPISTS} row {row_number}"
        written = _text(cell(row, index, NAME_ON_CLAIMS)) or typed
        suffix = _CREDENTIAL.search(written)  # `Jane Smith, LMT`: the credential is no first name
        if suffix and not (suffix[0].startswith(",") or suffix[1].isupper()):
            suffix = None  # `Kim Do` is a last name; `Kim DO` or `Kim, DO` a credential
        name = split_name(written[: suffix.start()] if suffix else written)
        credentials = _text(cell(row, index, CREDENTIALS)).upper() or (suffix[1].upper() if suffix else "")
        npi = _digits(cell(row, index, NPI))
        taxonomy = _text(cell(row, index, TAXONOMY)).upper()
        problems = _person_problems(name, npi, taxonomy, where, (NAME_ON_CLAIMS, NPI, TAXONOMY))
        rendering = Rendering(name, npi, taxonomy, credentials)
        therapists.setdefault(name_key(typed), TherapistInfo(row_number, rendering, tuple(problems)))
    return therapists


def envelope_problems(provider: Provider) -> list[str]:
    """What an 837 file needs beyond what every claim needs."""
    return [
        f"no {name} ({c.SETTINGS})"
        for name, value in ((SUBMITTER_ID, provider.submitter_id), (RECEIVER_ID, provider.receiver_id))
        if not value
    ]


def parse_payer_extras(rows: Rows, payers: Mapping[str, Payer]) -> dict[str, PayerInfo]:
    """Address, Plan type and `Charge <code>` of each payer, by name key."""
    result: dict[str, PayerInfo] = {}
    if not rows:
        return result
    header = rows[0]
    index = column_index(header)
    for payer in payers.values():
        row = rows[payer.row - 1] if 0 < payer.row <= len(rows) else []
        where = f"{c.PAYERS} row {payer.row}"
        problems: list[str] = []
        values = {header_key(h): row[i] if i < len(row) else None for i, h in enumerate(header)}
        try:
            address = parse_address(payer.address)
        except ValueError:
            address = None
            problems.append(f"payer Address is not 'street, city, ST ZIP' ({where})")
        raw_type = _text(cell(row, index, PLAN_TYPE)).casefold()
        plan_type = _PLAN_ALIASES.get(raw_type, raw_type) or "commercial"
        if plan_type not in PLAN_TYPES:
            problems.append(f"{PLAN_TYPE} is not one of {', '.join(PLAN_TYPES)} ({where})")
            plan_type = "commercial"
        result[payer.key] = PayerInfo(
            payer=payer,
            address=address,
            plan_type=plan_type,
            charges=_charges(values, where, problems),
            problems=tuple(problems),
        )
    return result


@dataclass(frozen=True)
class LineExtras:
    """Session columns only claims read: modifiers, diagnosis pointers, place of service."""

    modifiers: tuple[str, ...] = ()
    pointers: tuple[int, ...] = ()  # () = all of the client's diagnoses
    place: str = ""  # "" = the Settings value
    problems: tuple[str, ...] = ()
    therapist: str | None = None  # None: the sheet has no Therapist column; "": the cell is blank


def parse_line_extras(sheet: str, rows: Rows) -> dict[int, LineExtras]:
    """Modifiers, Diagnosis, Place of service and Therapist of each session row (1-based row numbers)."""
    extras: dict[int, LineExtras] = {}
    if not rows:
        return extras
    index = column_index(rows[0])
    columns = (c.MODIFIERS, DIAGNOSIS_POINTER, PLACE_OF_SERVICE, THERAPIST)
    if not any(header_key(n) in index for n in columns):
        return extras
    named = header_key(THERAPIST) in index
    for row_number, row in enumerate(rows[1:], start=2):
        if row_is_blank(row):
            continue
        where = f"{sheet} row {row_number}"
        problems: list[str] = []
        modifiers = tuple(m for m in re.split(r"[\s,;:]+", _text(cell(row, index, c.MODIFIERS)).upper()) if m)
        if any(not _MODIFIER.match(m) for m in modifiers) or len(modifiers) > 4:
            problems.append(f"modifiers are not up to four 2-character codes ({where})")
            modifiers = ()
        pointers = _pointers(cell(row, index, DIAGNOSIS_POINTER))
        if pointers is None:
            problems.append(f"diagnosis pointer is not 1-4 or A-D ({where})")
            pointers = ()
        raw_place = _text(cell(row, index, PLACE_OF_SERVICE)).casefold()
        place = PLACES.get(raw_place, "") if raw_place else ""
        if raw_place and not place:
            problems.append(f"place of service is not 11 (office) or 12 (home) ({where})")
        therapist = _text(cell(row, index, THERAPIST)) if named else None
        extras[row_number] = LineExtras(modifiers, pointers, place, tuple(problems), therapist)
    return extras


def _pointers(value: Any) -> tuple[int, ...] | None:
    """`1,2`, `1 2`, `12`, `A,B` or `AB` -> (1, 2); None when not pointers."""
    text = re.sub(r"[\s,;:]+", "", _text(value).upper())
    if not text:
        return ()
    numbers = [("ABCD".index(ch) + 1) if ch in "ABCD" else int(ch) if ch.isdigit() else 0 for ch in text]
    if any(not 1 <= n <= 4 for n in numbers) or len(numbers) > 4:
        return None
    return tuple(dict.fromkeys(numbers))


# ------------------------------------------------------------------------------- the Claims sheet
# Its rows are read once, by `book.load` (schema.parse_claims, remittance names mapped through the
# Payers sheet's ERA names): a row whose payer is written as the 835 names it counts as sent too.


def needs_correction(rows: Sequence[ClaimRow]) -> ClaimRow | None:
    """The denied row a corrected claim answers, when the service's latest word is such a denial."""
    if not rows:
        return None
    latest = max(rows, key=lambda r: r.row)
    if latest.status is not Status.DENIED:
        return None
    reasons = {part.split("-", 1)[-1].strip() for part in re.split(r"[;,]", latest.reason) if part.strip()}
    return latest if reasons & CORRECTABLE else None


def corrected_in_flight(rows: Sequence[ClaimRow]) -> str:
    """The payer claim number a corrected claim was sent for, when that is the service's latest row."""
    if not rows:
        return ""
    latest = max(rows, key=lambda r: r.row)
    match = _CORRECTED.match(latest.reason)
    return match.group(1) if match and latest.status is Status.SUBMITTED else ""


def next_claim_ids(sent: Iterable[ClaimRow]) -> Iterable[str]:
    """Claim IDs `CB000001`, `CB000002`, ... after the highest the Claims sheet holds."""
    numbers = [int(m.group(1)) for s in sent if (m := _CLAIM_ID.match(s.claim_id))]
    number = max(numbers, default=0)
    while True:
        number += 1
        yield f"CB{number:06d}"


# ------------------------------------------------------------------------------- grouping


@dataclass
class Batch:
    """What `make_claims` found: the claims to send and the lines flagged, not sent or skipped."""

    claims: list[Claim] = field(default_factory=list)
    flags: dict[tuple[str, int], list[FlagNote]] = field(default_factory=dict)  # CLAIM_INCOMPLETE
    blocked: dict[tuple[str, int], list[str]] = field(default_factory=dict)  # other flags, by id
    already_sent: int = 0
    not_coded: int = 0  # lines with no Code or Units yet, or whose recode would change them


def _incomplete(note: str) -> FlagNote:
    return FlagNote(flag=Flag.CLAIM_INCOMPLETE, note=note)


def make_claims(
    lines: Sequence[Line],
    results: Mapping[tuple[str, int], LineResult],
    payers: Mapping[str, PayerInfo],
    clients: Mapping[str, ClientInfo],
    provider: Provider,
    extras: Mapping[tuple[str, int], LineExtras],
    sent: Sequence[ClaimRow],
    *,
    electronic: Mapping[str, bool],
    resend: bool = False,
    therapists: Mapping[str, TherapistInfo] | None = None,
) -> Batch:
    """Group the lines in scope into claims (one per client, payer and date of service).

    `results` are a check's results for the lines in scope (their flags); `electronic` says per
    payer key whether its claims go as an 837 (then its Payer ID and the envelope IDs are needed).
    Each missing item flags the lines of its own claim only. `sent` are the Claims sheet's rows
    (their payers under the Payers sheet's names). `therapists` is the Therapists sheet, by name key.
    """
    batch = Batch()
    sent_by: dict[tuple[Any, ...], list[ClaimRow]] = {}
    for row in sent:
        sent_by.setdefault((row.date, client_key(row.client), name_key(row.payer)), []).append(row)
    groups: dict[tuple[Any, ...], list[Line]] = {}
    for line in lines:
        where = (line.sheet, line.row)
        result = results.get(where)
        if result is None or line.self_pay or line.date is None:
            continue
        blocking = [f.flag.value for f in result.flags if f.flag in BLOCKING]
        if blocking:
            batch.blocked[where] = blocking
            continue
        if line.code is None or line.units is None or (result.code, result.units) != (line.code, line.units):
            batch.not_coded += 1
            continue
        if line.units <= 0:
            continue
        groups.setdefault((line.date, name_key(line.client), name_key(line.payer)), []).append(line)
    ids = iter(next_claim_ids(sent))
    for (date, client_name, payer_key), day in sorted(
        groups.items(), key=lambda kv: (kv[0][0], kv[1][0].row)
    ):
        earlier = [
            r for r in sent_by.get((date, client_key(day[0].client), payer_key), []) if r.code is not None
        ]
        corrected = needs_correction(earlier)
        if earlier and not resend and corrected is None:
            batch.already_sent += len(day)
            continue
        payer = payers[payer_key]
        problems = list(provider.problems) + list(payer.problems)
        if electronic.get(payer_key, False):
            problems += envelope_problems(provider)
            if not payer.payer.payer_id:
                problems.append(f"no Payer ID ({c.PAYERS} row {payer.payer.row})")
        elif payer.address is None and not any("Address" in p for p in payer.problems):
            problems.append(f"no payer Address for the paper form ({c.PAYERS} row {payer.payer.row})")
        client = clients.get(client_name)
        if client is None:
            problems.append(f"client not on the {c.CLIENTS} sheet")
        else:
            problems += client.problems
        if corrected is not None and not corrected.payer_claim_id:
            problems.append(f"a corrected claim needs the Payer claim ID ({c.CLAIMS} row {corrected.row})")
        service_lines, line_problems = _service_lines(day, client, payer, provider, extras, therapists or {})
        facility = None
        if service_lines and service_lines[0].place != HOME:
            facility = provider.facility
            problems += provider.facility_problems
        if problems or any(line_problems.values()):
            for line in day:
                notes = [*problems, *line_problems.get((line.sheet, line.row), [])]
                batch.flags[(line.sheet, line.row)] = [_incomplete(p) for p in dict.fromkeys(notes)]
            continue
        assert client is not None
        batch.claims.append(
            Claim(
                claim_id=next(ids),
                client=client,
                payer=payer,
                date=date,
                lines=service_lines,
                corrects=corrected.payer_claim_id if corrected is not None else corrected_in_flight(earlier),
                facility=facility,
            )
        )
    return batch


def _service_lines(
    day: Sequence[Line],
    client: ClientInfo | None,
    payer: PayerInfo,
    provider: Provider,
    extras: Mapping[tuple[str, int], LineExtras],
    therapists: Mapping[str, TherapistInfo],
) -> tuple[tuple[ServiceLine, ...], dict[tuple[str, int], list[str]]]:
    """The claim's service lines: session lines of one code, modifiers, place and therapist added up.

    Lines of one client, payer and day given by different therapists stay one claim, each service
    line naming its own rendering provider (837P 2420A where it differs from the claim's 2310B; box
    24J): X222A1 has 2420A for exactly this, the day's units were figured for the day (CMS pools its
    timed minutes), and two claims for one client, code and day are what payers' duplicate edits deny.
    """
    problems: dict[tuple[str, int], list[str]] = {}
    merged: dict[tuple[Any, ...], list[Line]] = {}
    renderings = {(line.sheet, line.row): _rendering(line, extras, provider, therapists) for line in day}
    line_pointers: dict[tuple[str, int], tuple[int, ...]] = {}
    diagnoses = len(client.diagnoses) if client else 0
    for line in day:
        where = (line.sheet, line.row)
        extra = extras.get(where, LineExtras(modifiers=line.modifiers))
        own = problems.setdefault(where, list(extra.problems))
        modifiers = extra.modifiers or line.modifiers
        pointers = extra.pointers or tuple(range(1, min(diagnoses, 4) + 1))
        if client is not None and diagnoses and any(p > diagnoses for p in pointers):
            own.append(
                f"diagnosis pointer {max(pointers)} points to no diagnosis ({line.sheet} row {line.row}; "
                f"{c.CLIENTS} row {client.row} has {diagnoses})"
            )
        assert line.code is not None
        if payer.charges.get(line.code, provider.charges.get(line.code)) is None:
            own.append(f"no {CHARGE_PREFIX}{line.code} on {c.SETTINGS} or {c.PAYERS}")
        place = extra.place or provider.place_of_service
        rendering, rendering_problems = renderings[where]
        own += rendering_problems
        key = (line.code, modifiers, place) if rendering is None else (line.code, modifiers, place, rendering)
        merged.setdefault(key, []).append(line)
        line_pointers[where] = pointers
    result = []
    for number, ((code, modifiers, place, *rendering_of), group) in enumerate(merged.items(), start=1):
        units = sum(line.units or 0 for line in group)
        # One code on one day is one line (a payer reads two as a duplicate): its pointers are joined.
        pointers = tuple(dict.fromkeys(p for line in group for p in line_pointers[(line.sheet, line.row)]))[
            :4
        ]
        fee = payer.charges.get(code, provider.charges.get(code, Decimal(0)))
        result.append(
            ServiceLine(
                number=number,
                code=code,
                modifiers=modifiers,
                units=units,
                charge=money(fee * units),
                pointers=pointers,
                place=place,
                rows=tuple((line.sheet, line.row) for line in group),
                rendering=rendering_of[0] if rendering_of else None,
            )
        )
    return tuple(result), problems


#: What a practice's claim lacks when nothing names the therapist who treated.
NO_RENDERING = (
    f"no therapist: a practice's claims name who treated (Rendering provider and Rendering NPI on the "
    f"{c.SETTINGS} sheet, or a {THERAPIST} column and a {THERAPISTS} sheet)"
)


def _rendering(
    line: Line,
    extras: Mapping[tuple[str, int], LineExtras],
    provider: Provider,
    therapists: Mapping[str, TherapistInfo],
) -> tuple[Rendering | None, list[str]]:
    """Who gave the line when not the billing provider (None: the billing provider), and what is missing.

    The line's Therapist (on the Therapists sheet), else the Settings Rendering provider. A group
    (the billing provider an organisation) must name one for each line: an organisation treats no one.
    A rendering provider who is the billing provider (same NPI) is no rendering provider: X222A1
    sends 2310B only "when the Rendering Provider NM1 information is different than that carried in
    Loop ID-2010AA".
    """
    where = f"{line.sheet} row {line.row}"
    typed = extras.get((line.sheet, line.row), LineExtras()).therapist
    if typed:
        found = therapists.get(name_key(typed))
        if found is None:
            return None, [f"{THERAPIST} is not on the {THERAPISTS} sheet ({where})"]
        if found.problems:
            return None, list(found.problems)
        rendering: Rendering | None = found.rendering
    elif provider.rendering is not None or provider.rendering_problems:
        if provider.rendering_problems:
            return None, list(provider.rendering_problems)
        rendering = provider.rendering
    elif (typed is not None or therapists) and not provider.name.person:
        return None, [f"no {THERAPIST} ({where}): a group's claims name the therapist who treated"]
    elif not provider.name.person:
        # A practice (an organisation, a type 2 NPI) did not treat: payers want the therapist's
        # own NPI (2310B, box 24J), as the billing provider alone names no one who treated.
        return None, [NO_RENDERING]
    else:
        return None, []
    return (None if rendering is None or rendering.npi == provider.npi else rendering), []


def claims_rows(claims: Sequence[Claim], source: str, sent_on: dt.date) -> list[dict[str, Any]]:
    """One Claims-sheet row per service line sent: status Submitted, the claim ID and the date sent."""
    rows = []
    for claim in claims:
        reason = f"corrected claim (7) for payer claim {claim.corrects}" if claim.corrects else None
        for line in claim.lines:
            rows.append({
                c.DATE: claim.date,
                c.CLIENT: claim.client.name,
                c.PAYER: claim.payer.payer.name,
                c.CODE: line.code,
                c.UNITS: line.units,
                c.BILLED: float(line.charge),
                c.PAID: None,
                c.STATUS: Status.SUBMITTED.value,
                c.REASON: reason,
                c.CLAIM_ID: claim.claim_id,
                c.LINE: line.number,
                c.SOURCE: f"{source}, sent {sent_on.isoformat()}",
                c.MODIFIERS: ", ".join(line.modifiers) or None,
            })  # fmt: skip
    return rows


def with_flags(text: str, notes: Sequence[FlagNote]) -> str:
    """A Flags cell with its CLAIM_INCOMPLETE parts replaced by `notes` (the other flags kept)."""
    kept = [part for part in flag_parts(text) if not part.startswith(Flag.CLAIM_INCOMPLETE)]
    return "; ".join([*kept, *(str(n) for n in notes)])


def slug(name: str) -> str:
    """A payer's name as it goes into a file name: `Summit Mutual` -> `summit-mutual`."""
    return re.sub(r"[^a-z0-9]+", "-", name.casefold()).strip("-") or "payer"


__all__ = [
    "Claim",
    "ClientInfo",
    "Facility",
    "Provider",
    "Rendering",
    "ServiceLine",
    "make_claims",
    "npi_valid",
    "parse_clients",
    "parse_provider",
    "parse_therapists",
]
