"""CMS-1500 (02/12) paper claims: the data placed for the red pre-printed form, and a preview with the form drawn."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from cptbill.claims import PLAN_TYPES, Claim, Provider, ServiceLine
from cptbill.pdfwrite import Canvas

# The form is laid out for 10 characters per inch and 6 lines per inch (NUCC 1500 instructions):
# a field is placed by its line (1-66) and column (1-85). Courier 12 is exactly 10 characters per inch.
FONT, SIZE = "Courier", 12
CHAR, LINE = 7.2, 12.0  # points per column and per line
LEFT, TOP = 24.0, 20.0  # points from the sheet's left and top edges to column 1 and line 1
PAGE_WIDTH, PAGE_HEIGHT = 612.0, 792.0  # US Letter
LINES_PER_FORM = 6  # service lines in box 24
FORM_RED = (0.85, 0.15, 0.15)

_BOX1 = {"medicare": 1, "medicaid": 8, "tricare": 15, "champva": 24, "group": 31, "feca": 39, "other": 45}
_BOX6 = {"18": 33, "01": 38, "19": 42}  # self, spouse, child; anything else: other (47)


@dataclass(frozen=True)
class Field:
    """One item of data on the form: its box, where it goes and its text (upper case)."""

    box: str  # e.g. "1a", "24D-1" (box 24, column D, service line 1)
    line: int
    column: int
    text: str

    @property
    def x(self) -> float:
        return LEFT + (self.column - 1) * CHAR

    @property
    def y(self) -> float:
        """The baseline, from the bottom of the page (PDF coordinates)."""
        return PAGE_HEIGHT - (TOP + self.line * LINE - 3)


def _put(
    fields: list[Field], box: str, line: int, column: int, width: int, text: object, right: bool = False
) -> None:
    value = " ".join(str(text).upper().split())[:width]
    if value:
        start = column + width - len(value) if right else column
        fields.append(Field(box, line, start, value))


def _date(
    fields: list[Field], box: str, line: int, columns: tuple[int, int, int], day: dt.date, year: int = 4
) -> None:
    month_col, day_col, year_col = columns
    _put(fields, f"{box}-mm", line, month_col, 2, f"{day.month:02d}")
    _put(fields, f"{box}-dd", line, day_col, 2, f"{day.day:02d}")
    _put(fields, f"{box}-yy", line, year_col, year, f"{day.year:04d}"[-year:])


def _money(fields: list[Field], box: str, line: int, dollars_end: int, amount: Decimal) -> None:
    """Dollars right-aligned left of the form's dotted line, cents right of it."""
    whole, cents = f"{amount:.2f}".split(".")
    _put(fields, f"{box}-dollars", line, dollars_end - 4, 5, whole, right=True)
    _put(fields, f"{box}-cents", line, dollars_end + 2, 2, cents)


def _zip(code: str) -> str:
    return f"{code[:5]}-{code[5:]}" if len(code) == 9 else code


def form_fields(
    claim: Claim, provider: Provider, lines: Sequence[ServiceLine], signed: dt.date
) -> list[Field]:
    """Every field of one form page (up to six service lines of `claim`)."""
    f: list[Field] = []
    client, payer = claim.client, claim.payer
    insured = client.insured or client.person
    # Carrier block, top right
    _put(f, "payer", 2, 41, 31, payer.payer.name)
    if payer.address is not None:
        _put(f, "payer-street", 3, 41, 31, payer.address.street)
        _put(
            f,
            "payer-city",
            4,
            41,
            31,
            f"{payer.address.city}, {payer.address.state} {_zip(payer.address.zip)}",
        )
    _put(f, "1", 8, _BOX1[PLAN_TYPES[payer.plan_type][1]], 1, "X")
    _put(f, "1a", 8, 50, 29, client.member_id)
    _put(f, "2", 10, 1, 28, client.person.form())
    if client.birth_date is not None:
        _date(f, "3", 10, (31, 34, 37), client.birth_date)
    if client.sex in ("M", "F"):
        _put(f, "3-sex", 10, 42 if client.sex == "M" else 47, 1, "X")
    _put(f, "4", 10, 50, 28, insured.form())
    if client.address is not None:
        _put(f, "5", 12, 1, 28, client.address.street)
        _put(f, "5-city", 14, 1, 24, client.address.city)
        _put(f, "5-state", 14, 26, 2, client.address.state)
        _put(f, "5-zip", 16, 1, 12, _zip(client.address.zip))
    if len(client.phone) == 10:
        _put(f, "5-area", 16, 15, 3, client.phone[:3])
        _put(f, "5-phone", 16, 19, 8, f"{client.phone[3:6]}-{client.phone[6:]}")
    _put(f, "6", 12, _BOX6.get(client.relationship, 47), 1, "X")
    insured_address = client.address if client.insured is None else client.insured_address
    if insured_address is not None:
        _put(f, "7", 12, 50, 28, insured_address.street)
        _put(f, "7-city", 14, 50, 23, insured_address.city)
        _put(f, "7-state", 14, 74, 2, insured_address.state)
        _put(f, "7-zip", 16, 50, 12, _zip(insured_address.zip))
    cause = claim.related_cause
    _put(f, "10a", 20, 35 if cause == "EM" else 41, 1, "X")
    _put(f, "10b", 22, 35 if cause == "AA" else 41, 1, "X")
    if cause == "AA":
        _put(f, "10b-state", 22, 45, 2, client.accident_state)
    _put(f, "10c", 24, 35 if cause == "OA" else 41, 1, "X")
    _put(f, "11", 18, 50, 29, client.group or "NONE")
    birth, sex = (
        (client.birth_date, client.sex)
        if client.insured is None
        else (client.insured_birth_date, client.insured_sex)
    )
    if birth is not None:
        _date(f, "11a", 20, (53, 56, 59), birth)
    if sex in ("M", "F"):
        _put(f, "11a-sex", 20, 68 if sex == "M" else 75, 1, "X")
    if client.carrier_claim:
        _put(f, "11b-qual", 22, 50, 2, "Y4")
        _put(f, "11b", 22, 54, 25, client.carrier_claim)
    _put(f, "11c", 24, 50, 29, payer.payer.name)
    _put(f, "11d", 26, 57, 1, "X")  # no other health benefit plan is billed
    _put(f, "12", 29, 7, 20, "SIGNATURE ON FILE")
    _put(f, "13", 29, 55, 20, "SIGNATURE ON FILE")
    if client.accident_date is not None and cause:
        _date(f, "14", 32, (2, 5, 8), client.accident_date)
        _put(f, "14-qual", 32, 16, 3, "431")
    if client.referring is not None:
        _put(f, "17-qual", 34, 1, 2, "DN")
        _put(f, "17", 34, 4, 25, client.referring.form())
        _put(f, "17b", 34, 33, 15, client.referring_npi)
    _put(f, "21-ind", 37, 42, 1, "0")
    for i, code in enumerate(client.diagnoses[:12]):
        _put(f, f"21{'ABCDEFGHIJKL'[i]}", 38 + i // 4, 3 + 13 * (i % 4), 8, code)
    if claim.corrects:
        _put(f, "22", 38, 50, 10, claim.frequency)
        _put(f, "22-ref", 38, 62, 17, claim.corrects)
    _put(f, "23", 40, 50, 29, client.prior_auth)
    for n, service in enumerate(lines, start=1):
        row = 42 + 2 * n  # the unshaded half of each of the six lines
        _date(f, f"24A-from-{n}", row, (1, 4, 7), claim.date, year=2)
        _date(f, f"24A-to-{n}", row, (10, 13, 16), claim.date, year=2)
        _put(f, f"24B-{n}", row, 19, 2, service.place)
        _put(f, f"24D-{n}", row, 25, 6, service.code)
        _put(f, f"24D-mod-{n}", row, 33, 11, " ".join(service.modifiers))
        _put(f, f"24E-{n}", row, 45, 4, "".join("ABCD"[p - 1] for p in service.pointers))
        _money(f, f"24F-{n}", row, 54, service.charge)
        _put(f, f"24G-{n}", row, 59, 3, str(service.units), right=True)
        # 24J: the rendering provider's NPI (unshaded); a therapist's taxonomy, qualifier ZZ, shaded (NUCC)
        rendering = service.rendering
        _put(f, f"24J-{n}", row, 68, 10, rendering.npi if rendering is not None else provider.npi)
        if rendering is not None and rendering.taxonomy:
            _put(f, f"24I-{n}", row - 1, 65, 2, "ZZ")
            _put(f, f"24J-tax-{n}", row - 1, 68, 10, rendering.taxonomy)
    _put(f, "25", 56, 1, 15, provider.tax_id)
    _put(f, "25-kind", 56, 17 if provider.tax_id_type == "SSN" else 19, 1, "X")
    _put(f, "26", 56, 23, 14, claim.claim_id)
    _put(f, "27", 56, 38, 1, "X")  # accept assignment: yes
    _money(f, "28", 56, 56, sum((s.charge for s in lines), Decimal(0)))
    if len(provider.phone) == 10:
        _put(f, "33-area", 57, 66, 3, provider.phone[:3])
        _put(f, "33-phone", 57, 70, 8, f"{provider.phone[3:6]}-{provider.phone[6:]}")
    _put(f, "33", 58, 50, 29, provider.name.form())
    if provider.address is not None:
        _put(f, "33-street", 59, 50, 29, provider.address.street)
        # NUCC item 33: a space between town and state, no comma; the ZIP as in box 32
        where = provider.address
        _put(f, "33-city", 60, 50, 29, f"{where.city} {where.state} {where.zip}")
    treated = {service.rendering for service in lines}
    only = treated.pop() if len(treated) == 1 else None
    if only is not None:  # one therapist on every line of the form: named in box 31
        _put(f, "31-name", 59, 1, 21, only.signed())
    if claim.facility is not None:  # box 32 (NUCC: name, street, city state ZIP, no comma; 32a NPI)
        where = claim.facility.address
        _put(f, "32", 58, 23, 26, claim.facility.name)
        _put(f, "32-street", 59, 23, 26, where.street)
        _put(f, "32-city", 60, 23, 26, f"{where.city} {where.state} {where.zip}")
        _put(f, "32a", 61, 23, 10, claim.facility.npi)
    _put(f, "31", 60, 1, 21, "SIGNATURE ON FILE")
    _put(f, "31-date", 61, 6, 10, signed.strftime("%m/%d/%y"))
    _put(f, "33a", 61, 50, 10, provider.npi)
    if provider.taxonomy:
        _put(f, "33b", 61, 63, 16, f"ZZ{provider.taxonomy}")
    return f


def pages(claims: Sequence[Claim]) -> list[tuple[Claim, tuple[ServiceLine, ...]]]:
    """One form per claim, a further form for each six more service lines (each page totals its own)."""
    return [
        (claim, claim.lines[start : start + LINES_PER_FORM])
        for claim in claims
        for start in range(0, len(claim.lines), LINES_PER_FORM)
    ]


# Boxes of the preview: (number, title, first line, first column, last line, last column)
_FORM: tuple[tuple[str, str, int, int, int, int], ...] = (
    ("", "CARRIER", 1, 41, 5, 78),
    ("1", "MEDICARE  MEDICAID  TRICARE  CHAMPVA  GROUP  FECA  OTHER", 7, 1, 8, 48),
    ("1a", "INSURED'S I.D. NUMBER", 7, 49, 8, 79),
    ("2", "PATIENT'S NAME", 9, 1, 10, 29),
    ("3", "PATIENT'S BIRTH DATE / SEX", 9, 30, 10, 48),
    ("4", "INSURED'S NAME", 9, 49, 10, 79),
    ("5", "PATIENT'S ADDRESS", 11, 1, 16, 29),
    ("6", "RELATIONSHIP: SELF SPOUSE CHILD OTHER", 11, 30, 12, 48),
    ("7", "INSURED'S ADDRESS", 11, 49, 16, 79),
    ("8", "RESERVED FOR NUCC USE", 13, 30, 16, 48),
    ("9", "OTHER INSURED'S NAME", 17, 1, 26, 29),
    ("10", "CONDITION RELATED TO:", 17, 30, 26, 48),
    ("11", "INSURED'S POLICY GROUP", 17, 49, 18, 79),
    ("11a", "INSURED'S BIRTH DATE / SEX", 19, 49, 20, 79),
    ("11b", "OTHER CLAIM ID", 21, 49, 22, 79),
    ("11c", "INSURANCE PLAN NAME", 23, 49, 24, 79),
    ("11d", "ANOTHER HEALTH BENEFIT PLAN?", 25, 49, 26, 79),
    ("12", "PATIENT'S SIGNATURE", 27, 1, 29, 48),
    ("13", "INSURED'S SIGNATURE", 27, 49, 29, 79),
    ("14", "DATE OF CURRENT ILLNESS / QUAL", 31, 1, 32, 29),
    ("15", "OTHER DATE", 31, 30, 32, 48),
    ("16", "UNABLE TO WORK", 31, 49, 32, 79),
    ("17", "REFERRING PROVIDER", 33, 1, 34, 31),
    ("17b", "NPI", 33, 32, 34, 48),
    ("18", "HOSPITALIZATION DATES", 33, 49, 34, 79),
    ("19", "ADDITIONAL CLAIM INFORMATION", 35, 1, 36, 48),
    ("20", "OUTSIDE LAB?", 35, 49, 36, 79),
    ("21", "DIAGNOSIS (ICD IND.) A B C D / E F G H / I J K L", 37, 1, 40, 48),
    ("22", "RESUBMISSION CODE / ORIGINAL REF. NO.", 37, 49, 38, 79),
    ("23", "PRIOR AUTHORIZATION NUMBER", 39, 49, 40, 79),
    ("24", "A DATES  B POS  C EMG  D CPT MODIFIER  E PTR  F CHARGES  G UNITS  J NPI", 41, 1, 54, 79),
    ("25", "FEDERAL TAX I.D. SSN EIN", 55, 1, 56, 21),
    ("26", "PATIENT'S ACCOUNT NO.", 55, 22, 56, 36),
    ("27", "ACCEPT ASSIGNMENT?", 55, 37, 56, 48),
    ("28", "TOTAL CHARGE", 55, 49, 56, 60),
    ("29", "AMOUNT PAID", 55, 61, 56, 70),
    ("30", "RSVD", 55, 71, 56, 79),
    ("31", "SIGNATURE OF PHYSICIAN OR SUPPLIER", 57, 1, 61, 21),
    ("32", "SERVICE FACILITY LOCATION", 57, 22, 61, 48),
    ("33", "BILLING PROVIDER INFO & PH #", 57, 49, 61, 79),
)


def _draw_form(c: Canvas) -> None:
    """The form's boxes and titles in red, close to where the printed form has them."""
    c.save_state()
    c.stroke_rgb(*FORM_RED)
    c.fill_rgb(*FORM_RED)
    c.line_width(0.6)
    c.font("Helvetica-Bold", 9)
    c.text(LEFT, PAGE_HEIGHT - TOP - 5.2 * LINE, "HEALTH INSURANCE CLAIM FORM  (CMS-1500 02/12) - PREVIEW")
    c.font("Helvetica", 5)
    for number, title, first_line, first_col, last_line, last_col in _FORM:
        x0 = LEFT + (first_col - 1.3) * CHAR
        x1 = LEFT + (last_col - 0.3) * CHAR
        top = PAGE_HEIGHT - (TOP + (first_line - 1) * LINE)
        bottom = PAGE_HEIGHT - (TOP + last_line * LINE)
        c.rect(x0, bottom, x1 - x0, top - bottom)
        c.text(x0 + 1.5, top - 5.5, f"{number}. {title}" if number else title)
    for n in range(1, LINES_PER_FORM + 1):  # the six service lines, shaded top halves
        top = PAGE_HEIGHT - (TOP + (41 + 2 * n - 1) * LINE)
        c.fill_rgb(1.0, 0.9, 0.9)
        c.rect(LEFT - 1.3 * CHAR, top - LINE, 79 * CHAR, LINE, stroke=False, fill=True)
        c.fill_rgb(*FORM_RED)
        c.text(LEFT - 1.1 * CHAR, top - 2 * LINE + 3, str(n))
    c.restore_state()


def render(claims: Sequence[Claim], provider: Provider, signed: dt.date | None = None) -> tuple[bytes, bytes]:
    """Two PDFs: the data alone, for the red pre-printed form, and a preview with the form drawn."""
    signed = signed or dt.date.today()
    result = []
    for preview in (False, True):
        canvas = Canvas(PAGE_WIDTH, PAGE_HEIGHT, "CMS-1500 claims" + (" (preview)" if preview else ""))
        for claim, lines in pages(claims):
            if preview:
                _draw_form(canvas)
            canvas.font(FONT, SIZE)
            canvas.fill_rgb(0, 0, 0)
            for field in form_fields(claim, provider, lines, signed):
                canvas.text(field.x, field.y, field.text)
            canvas.show_page()
        result.append(canvas.bytes())
    return result[0], result[1]


__all__ = ["Field", "form_fields", "pages", "render"]
