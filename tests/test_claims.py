"""Claims: grouping and checks, the 837P files pyx12 validates, answers landing on the rows sent, CMS-1500 PDFs."""

from __future__ import annotations

import datetime as dt
import io
import re
import subprocess
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from claims_book import CLAIMS, CLIENTS, PAYERS, SETTINGS, SUMMIT, claims_book, day, pyx12_errors
from conftest import need
from cptbill import cms1500
from cptbill.book import MemoryBook
from cptbill.claims import icd10, npi_valid, parse_address, parse_provider
from cptbill.era import import_remittances, read_remittance
from cptbill.errors import CptbillError
from cptbill.submit import Submission, run_claims

NOW = dt.datetime(2026, 12, 1, 9, 30)


def run(book: MemoryBook, **options: Any) -> Submission:
    return run_claims(book, "2026-11", now=NOW, **options)


def records(book: MemoryBook, sheet: str) -> list[dict[str, Any]]:
    rows = book.read(sheet)
    return [dict(zip(rows[0], row, strict=False)) for row in rows[1:]]


def segments(text: str) -> list[list[str]]:
    return [segment.split("*") for segment in text.split("~\n") if segment]


def claim_segments(text: str, claim_id: str) -> list[list[str]]:
    """The segments from a claim's CLM to the next HL (its service lines included)."""
    found: list[list[str]] = []
    inside = False
    for segment in segments(text):
        if segment[0] == "CLM":
            inside = segment[1] == claim_id
        elif segment[0] in ("HL", "SE"):
            inside = False
        if inside:
            found.append(segment)
    return found


def claim_of(submission: Submission, client: str) -> Any:
    return next(claim for claim in submission.claims if claim.client.name == client)


# ----------------------------------------------------------------------------- checks


def test_npi_check_digit() -> None:
    assert npi_valid("1234567893")  # the CMS example NPI
    assert not npi_valid("1234567890")
    assert not npi_valid("123456789")
    assert not npi_valid("12345678AB")


@pytest.mark.parametrize(
    ("text", "code"),
    [("M54.50", "M5450"), ("m62.830", "M62830"), ("S13.4XXA", "S134XXA"), ("M545", "M545"), ("Z00", "Z00")],
)
def test_icd10_shape(text: str, code: str) -> None:
    assert icd10(text) == code


@pytest.mark.parametrize("text", ["545", "U07.1", "M5", "M54.50000", "97124"])
def test_icd10_wrong_shape(text: str) -> None:
    with pytest.raises(ValueError):
        icd10(text)


def test_address_in_one_cell() -> None:
    address = parse_address("100 Main St Suite 2, Salem, OR 97301-1234")
    assert address is not None
    assert (address.street, address.city, address.state, address.zip) == (
        "100 Main St Suite 2", "Salem", "OR", "973011234",
    )  # fmt: skip
    with pytest.raises(ValueError):
        parse_address("100 Main St Salem")


# ----------------------------------------------------------------------------- grouping


def test_claims_per_client_payer_and_day() -> None:
    book = claims_book()
    submission = run(book)
    names = sorted(claim.client.name for claim in submission.claims)
    assert names == ["Diego Alvarez", "Grace Okafor", "Owen Brooks", "Rosa Delgado", "Tom Becker"]
    tom = claim_of(submission, "Tom Becker")
    # Two session lines of one code on one day are one service line, their units and pointers joined.
    assert [(line.units, line.pointers, line.rows) for line in tom.lines] == [
        (4, (1, 2), (("Sessions", 3), ("Sessions", 4)))
    ]
    diego = claim_of(submission, "Diego Alvarez")
    assert [(line.code, line.units, line.charge) for line in diego.lines] == [
        ("97124", 3, Decimal("120.00")), ("97010", 1, Decimal("15.00")),
    ]  # fmt: skip
    assert diego.total == Decimal("135.00")
    assert sorted(submission.files) == [
        "claims-2026-11-cascade-workers-comp-preview.pdf",
        "claims-2026-11-cascade-workers-comp.pdf",
        "claims-2026-11-harbor-health-ppo.837",
        "claims-2026-11-lakeside-auto-pip.837",
        "claims-2026-11-summit-mutual.837",
    ]


def test_lines_sent_are_recorded_and_not_sent_twice() -> None:
    book = claims_book()
    before = len(book.read("Claims"))
    first = run(book)
    added = records(book, "Claims")[before - 1 :]
    assert len(added) == sum(len(claim.lines) for claim in first.claims) == 6
    assert {row["Status"] for row in added} == {"Submitted"}
    tom = claim_of(first, "Tom Becker")
    row = next(r for r in added if r["Claim ID"] == tom.claim_id)
    assert (row["Date"], row["Client"], row["Payer"], row["Units"], row["Line"]) == (
        day(2), "Tom Becker", "Harbor Health PPO", 4, 1,
    )  # fmt: skip
    assert row["Billed"] == float(tom.total)
    assert row["Source"] == "claims-2026-11-harbor-health-ppo.837, sent 2026-12-01"
    assert len({r["Claim ID"] for r in added}) == len(first.claims)  # one ID per claim, all new

    second = run(book)
    assert second.claims == [] and second.files == {}
    assert second.batch.already_sent == 7  # the session lines behind the six service lines
    assert len(book.read("Claims")) == before + 6

    again = run(book, resend=True)
    assert len(again.claims) == len(first.claims)
    assert {c.claim_id for c in again.claims}.isdisjoint({c.claim_id for c in first.claims})
    # A resend is sent as it was first sent: the corrected claim stays a corrected claim.
    assert {c.client.name: c.frequency for c in again.claims}["Grace Okafor"] == "7"
    assert {c.client.name: c.frequency for c in again.claims}["Rosa Delgado"] == "1"


def test_payer_and_format_options() -> None:
    book = claims_book()
    submission = run(book, payer="summit mutual", fmt="pdf")
    assert sorted(c.client.name for c in submission.claims) == ["Grace Okafor", "Rosa Delgado"]
    assert sorted(submission.files) == [
        "claims-2026-11-summit-mutual-preview.pdf", "claims-2026-11-summit-mutual.pdf",
    ]  # fmt: skip
    with pytest.raises(CptbillError, match="No payer named"):
        run(claims_book(), payer="Nobody Health")
    with pytest.raises(CptbillError, match="--format"):
        run(claims_book(), fmt="csv")


def test_format_837_needs_a_payer_id() -> None:
    book = claims_book()
    submission = run(book, fmt="837")
    assert "Owen Brooks" not in {c.client.name for c in submission.claims}
    assert [str(n) for n in submission.batch.flags[("Sessions", 8)]] == [
        "CLAIM_INCOMPLETE: no Payer ID (Payers row 5)"
    ]


# ----------------------------------------------------------------------------- missing items


def _client_row(name: str) -> int:
    return next(i for i, row in enumerate(CLIENTS) if row[0] == name)


def _with(rows: list[list[Any]], row: int, column: str, value: Any) -> list[list[Any]]:
    changed = [list(r) for r in rows]
    changed[row][rows[0].index(column)] = value
    return changed


MISSING = [
    ("Rosa Delgado", "Member ID", None, "no member ID (Clients row 2)"),
    ("Rosa Delgado", "Date of birth", None, "no date of birth (Clients row 2)"),
    ("Rosa Delgado", "Sex", "x", "no sex (M, F or U) (Clients row 2)"),
    ("Rosa Delgado", "Address", "12 Elm St Salem", "address is not 'street, city, ST ZIP' (Clients row 2)"),
    ("Rosa Delgado", "Diagnosis 1", "545", "Diagnosis 1 is not an ICD-10 code (Clients row 2)"),
    ("Rosa Delgado", "Diagnosis 1", None, "no diagnosis (ICD-10) (Clients row 2)"),
    ("Tom Becker", "Referring NPI", "1234567890", "referring NPI fails its check digit (Clients row 3)"),
    ("Tom Becker", "Relationship", None,
     "relationship to the insured is not spouse, child or other (Clients row 3)"),
    ("Diego Alvarez", "Accident date", None, "no accident date (Clients row 4)"),
]  # fmt: skip


@pytest.mark.parametrize(("client", "column", "value", "note"), MISSING)
def test_each_missing_item_flags_and_blocks_only_its_claim(
    client: str, column: str, value: Any, note: str
) -> None:
    baseline = run(claims_book())
    book = claims_book(Clients=_with(CLIENTS, _client_row(client), column, value))
    submission = run(book)
    sent = {c.client.name for c in submission.claims}
    assert sent == {c.client.name for c in baseline.claims} - {client}
    own_rows = [row for row, line in enumerate(book.read("Sessions")[1:], start=2) if line[1] == client]
    for row in own_rows:
        assert [str(n) for n in submission.batch.flags[("Sessions", row)]] == [f"CLAIM_INCOMPLETE: {note}"]
        flags = book.read("Sessions")[row - 1][10]
        assert f"CLAIM_INCOMPLETE: {note}" in flags
    assert not any(n.client.name == client for n in submission.claims)


def test_settings_and_payer_items_block_the_claims_that_need_them() -> None:
    settings = [row for row in SETTINGS if row[0] != "Billing NPI"] + [["Billing NPI", "1472583690"]]
    submission = run(claims_book(Settings=settings))
    assert submission.claims == []
    assert all(
        "CLAIM_INCOMPLETE: Billing NPI fails its check digit (Settings)" in [str(n) for n in notes]
        for notes in submission.batch.flags.values()
    )
    payers = _with(PAYERS, 3, "Payer ID", None)  # Lakeside: no 837 without its Payer ID...
    submission = run(claims_book(Payers=payers), fmt="837")
    assert "Diego Alvarez" not in {c.client.name for c in submission.claims}
    assert "Rosa Delgado" in {c.client.name for c in submission.claims}


def test_flags_already_in_the_sheet_block_and_are_kept() -> None:
    book = claims_book()
    sessions = book.sheets["Sessions"]
    sessions.append(
        [day(9), "Rosa Delgado", "Summit Mutual", 5, "massage", None, None, None, None, None, None]
    )
    from cptbill.book import recode

    recode(book, "2026-11")
    submission = run(book)
    assert submission.batch.blocked[("Sessions", 13)] == ["UNDER_8_MIN"]
    assert book.read("Sessions")[12][10].startswith("UNDER_8_MIN")


def test_a_fixed_line_loses_its_claim_incomplete_flag() -> None:
    book = claims_book(Clients=_with(CLIENTS, 1, "Member ID", None))
    run(book)
    assert "CLAIM_INCOMPLETE" in book.read("Sessions")[1][10]
    book.sheets["Clients"][1][CLIENTS[0].index("Member ID")] = "SMI100200"
    submission = run(book)
    assert "Rosa Delgado" in {c.client.name for c in submission.claims}
    assert not book.read("Sessions")[1][10]


def test_a_recode_keeps_claim_incomplete_until_a_claims_run_clears_it() -> None:
    """Only a claims run knows what a claim needs: a recode in between neither drops the flag
    (the claim is still incomplete) nor lets it block the line once the item is typed."""
    from cptbill.book import recode

    book = claims_book(Clients=_with(CLIENTS, 1, "Member ID", None))
    run(book)
    flagged = book.read("Sessions")[1][10]
    assert flagged.startswith("CLAIM_INCOMPLETE: no member ID")
    plan, _ = recode(book, "2026-11")
    assert book.read("Sessions")[1][10] == flagged
    assert plan.flag_counts()["CLAIM_INCOMPLETE"] == sum(
        "CLAIM_INCOMPLETE" in (r[10] or "") for r in book.read("Sessions")
    )
    again, _ = recode(book, "2026-11")
    assert again.changed == 0  # a second recode writes the same Flags
    book.sheets["Clients"][1][CLIENTS[0].index("Member ID")] = "SMI100200"
    recode(book, "2026-11")
    assert book.read("Sessions")[1][10] == flagged  # still there until the claims run looks again
    submission = run(book)
    assert "Rosa Delgado" in {c.client.name for c in submission.claims}
    assert not book.read("Sessions")[1][10]


def test_no_client_names_in_flags_of_other_lines() -> None:
    submission = run(claims_book())
    for (_sheet, _row), notes in submission.batch.flags.items():
        for note in notes:
            assert not any(row[0].split()[-1] in str(note) for row in CLIENTS[1:])


# ----------------------------------------------------------------------------- 837P


def test_every_837_validates_with_pyx12() -> None:
    submission = run(claims_book())
    written = [name for name in submission.files if name.endswith(".837")]
    assert len(written) == 3
    for name in written:
        assert pyx12_errors(submission.files[name].decode("ascii")) == [], name


def _837(submission: Submission, claim: Any) -> str:
    name = f"claims-2026-11-{re.sub(r'[^a-z0-9]+', '-', claim.payer.payer.name.lower())}.837"
    return submission.files[name].decode("ascii")


def test_837_one_line_one_diagnosis() -> None:
    submission = run(claims_book())
    rosa = claim_of(submission, "Rosa Delgado")
    found = claim_segments(_837(submission, rosa), rosa.claim_id)
    clm = found[0]
    assert clm[:2] == ["CLM", rosa.claim_id] and clm[5] == "11:B:1"
    assert ["HI", "ABK:M5450"] in found
    assert [s for s in found if s[0] == "LX"] == [["LX", "1"]]
    sv1 = next(s for s in found if s[0] == "SV1")
    assert sv1[1:5] == [f"HC:{rosa.lines[0].code}", str(int(rosa.lines[0].charge)), "UN", "3"]
    assert ["REF", "6R", "1"] in found and ["DTP", "472", "D8", "20261102"] in found


def test_837_insured_other_than_the_client_several_diagnoses_referral_and_authorization() -> None:
    submission = run(claims_book())
    tom = claim_of(submission, "Tom Becker")
    text = _837(submission, tom)
    assert pyx12_errors(text) == []
    all_segments = segments(text)
    assert ["SBR", "P", "", "G900", "", "", "", "", "", "CI"] in all_segments  # not self: SBR02 empty
    assert ["NM1", "IL", "1", "Becker", "Ana", "", "", "", "MI", "HHP5551234"] in all_segments
    assert ["PAT", "19"] in all_segments and ["NM1", "QC", "1", "Becker", "Tom"] in all_segments
    found = claim_segments(text, tom.claim_id)
    assert ["HI", "ABK:M62830", "ABF:M542"] in found
    assert ["REF", "G1", "PA-4411"] in found
    assert ["NM1", "DN", "1", "Park", "Lee", "", "", "", "XX", "1234567893"] in found
    assert next(s for s in found if s[0] == "SV1")[-1] == "1:2"


def test_837_auto_accident() -> None:
    submission = run(claims_book())
    diego = claim_of(submission, "Diego Alvarez")
    text = _837(submission, diego)
    assert pyx12_errors(text) == []
    assert ["SBR", "P", "18", "", "", "", "", "", "", "AM"] in segments(text)
    assert ["REF", "Y4", "PIP-2026-0042"] in segments(text)
    found = claim_segments(text, diego.claim_id)
    assert found[0][-1] == "AA:::OR"
    assert ["DTP", "439", "D8", "20261020"] in found
    assert [s[1] for s in found if s[0] == "LX"] == ["1", "2"]


def test_837_corrected_claim() -> None:
    submission = run(claims_book())
    grace = claim_of(submission, "Grace Okafor")
    assert grace.corrects == "SMI-889911"
    text = _837(submission, grace)
    assert pyx12_errors(text) == []
    found = claim_segments(text, grace.claim_id)
    assert found[0][5] == "11:B:7"
    assert ["REF", "F8", "SMI-889911"] in found


def test_corrected_claim_recorded_with_its_reason_and_not_sent_again() -> None:
    book = claims_book()
    first = run(book)
    grace = claim_of(first, "Grace Okafor")
    row = next(r for r in records(book, "Claims") if r["Claim ID"] == grace.claim_id)
    assert row["Reason"] == "corrected claim (7) for payer claim SMI-889911"
    assert "Grace Okafor" not in {c.client.name for c in run(book).claims}


def test_a_denial_for_another_reason_gets_no_corrected_claim() -> None:
    claims = _with(CLAIMS, 1, "Reason", "CO-97")
    submission = run(claims_book(Claims=claims))
    assert "Grace Okafor" not in {c.client.name for c in submission.claims}
    assert submission.batch.already_sent >= 1


def test_claims_rows_written_with_the_remittances_payer_name_count_through_era_names() -> None:
    """The Claims rows are read as everywhere else: a payer written as an 835 names it (an ERA name
    on the Payers sheet) is that payer, for "already sent" and for corrected claims."""
    payers = [
        [*PAYERS[0], "ERA names"],
        [*PAYERS[1], "SUMMIT MUTUAL INSURANCE, SMI77"],
        *([*row, None] for row in PAYERS[2:]),
    ]
    era_name = "SUMMIT MUTUAL INSURANCE"
    claims = [
        *_with(CLAIMS, 1, "Payer", era_name),  # Grace's CO-16 denial, under the remittance's name
        [day(2), "DELGADO, ROSA", era_name, "97124", 3, 120, None, "Submitted", None, "CB000003", 1,
         "claims-2026-11-summit-mutual.837, sent 2026-11-20", None, None],
    ]  # fmt: skip
    submission = run(claims_book(Payers=payers, Claims=claims))
    assert "Rosa Delgado" not in {c.client.name for c in submission.claims}  # already sent
    assert submission.batch.already_sent == 1
    assert claim_of(submission, "Grace Okafor").corrects == "SMI-889911"  # the denial is Summit's
    # without the ERA name the rows are another payer's: Rosa is sent, Grace's claim is not corrected
    unknown = run(claims_book(Claims=claims))
    assert "Rosa Delgado" in {c.client.name for c in unknown.claims}
    assert claim_of(unknown, "Grace Okafor").corrects == ""


def test_a_sent_row_with_an_amount_typed_as_text_still_counts_as_sent() -> None:
    """`tbd` in Paid keeps a row out of the history, not out of what was sent: no second claim, no
    claim ID used twice."""
    claims = [
        *CLAIMS,
        [day(2), "Rosa Delgado", SUMMIT, "97124", 3, 120, "tbd", "Submitted", None, "CB000009", 1,
         "claims-2026-11-summit-mutual.837, sent 2026-11-20", None, None],
    ]  # fmt: skip
    submission = run(claims_book(Claims=claims))
    assert "Rosa Delgado" not in {c.client.name for c in submission.claims}
    assert min(c.claim_id for c in submission.claims) == "CB000010"


def test_modifiers_and_home_visits_on_the_service_line() -> None:
    sessions = [list(row) for row in claims_book().read("Sessions")]
    header = sessions[0]
    sessions[0] = [*header, "Place of service"]
    for row in sessions[1:]:
        row.append(None)
    sessions[1][header.index("Modifiers")] = "GP"
    sessions[1][-1] = "home"
    book = MemoryBook({**claims_book().sheets, "Sessions": sessions})
    submission = run(book)
    rosa = claim_of(submission, "Rosa Delgado")
    assert (rosa.lines[0].modifiers, rosa.lines[0].place) == (("GP",), "12")
    text = _837(submission, rosa)
    assert pyx12_errors(text) == []
    found = claim_segments(text, rosa.claim_id)
    assert found[0][5] == "12:B:1"
    assert next(s for s in found if s[0] == "SV1")[1] == f"HC:{rosa.lines[0].code}:GP"


# ----------------------------------------------------------------------------- round trip with an 835


def remittance_for(text_837: str, deny: set[str]) -> str:
    """An 835 answering an 837: CLP01 = CLM01, each SVC with its REF*6R; claims in `deny` are denied."""
    body: list[str] = []
    total = Decimal(0)
    claim_id = ""
    claim_lines: list[tuple[str, Decimal, str, str]] = []
    claims: list[tuple[str, list[tuple[str, Decimal, str, str]]]] = []
    for segment in segments(text_837):
        if segment[0] == "CLM":
            claim_id, claim_lines = segment[1], []
            claims.append((claim_id, claim_lines))
        elif segment[0] == "SV1":
            claim_lines.append((segment[1], Decimal(segment[2]), segment[4], ""))
        elif segment[0] == "REF" and segment[1] == "6R":
            code, charge, units, _ = claim_lines[-1]
            claim_lines[-1] = (code, charge, units, segment[2])
    for number, (claim_id, lines) in enumerate(claims, start=1):
        billed = sum((line[1] for line in lines), Decimal(0))
        paid = Decimal(0) if claim_id in deny else billed * Decimal("0.75")
        total += paid
        status = "4" if claim_id in deny else "1"
        body += [
            f"LX*{number}",
            f"CLP*{claim_id}*{status}*{billed:.2f}*{paid:.2f}**12*PAYER{number:04d}",
            f"NM1*QC*1*SOMEONE*ELSE****MI*X{number}",  # not the client's name: matching is by claim ID
        ]
        for code, charge, units, control in lines:
            line_paid = Decimal(0) if claim_id in deny else charge * Decimal("0.75")
            reason = f"CAS*CO*97*{charge:.2f}" if claim_id in deny else f"CAS*CO*45*{charge - line_paid:.2f}"
            body += [
                f"SVC*{code}*{charge:.2f}*{line_paid:.2f}**{units}", "DTM*472*20261130", reason,
                f"REF*6R*{control}",
            ]  # fmt: skip
    head = [
        "ST*835*0001",
        f"BPR*I*{total:.2f}*C*ACH*CCP*01*999999992*DA*1234567*1999999999**01*999999993*DA*7654321*20261215",
        "TRN*1*EFT9001*1999999999", "DTM*405*20261215",
        "N1*PR*SUMMIT MUTUAL INSURANCE*XV*SMI77", "N3*100 INVENTED WAY", "N4*SPRINGFIELD*IL*62701",
        "PER*BL*EDI HELP DESK*TE*5555550100", "N1*PE*WILLOW MASSAGE*XX*1472583693",
    ]  # fmt: skip
    transaction = [*head, *body]
    transaction.append(f"SE*{len(transaction) + 1}*0001")
    envelope = [
        "ISA*00*          *00*          *ZZ*SMI77          *ZZ*WILLOW01       *261215*1030*^*00501*000009001*0*P*:",
        "GS*HP*SMI77*WILLOW01*20261215*1030*9001*X*005010X221A1",
        *transaction, "GE*1*9001", "IEA*1*000009001",
    ]  # fmt: skip
    return "~\n".join(envelope) + "~\n"


def test_round_trip_answers_land_on_the_rows_sent(tmp_path: Path) -> None:
    book = claims_book()
    submission = run(book)
    rosa, grace = claim_of(submission, "Rosa Delgado"), claim_of(submission, "Grace Okafor")
    era = tmp_path / "summit.835"
    era.write_text(
        remittance_for(submission.files["claims-2026-11-summit-mutual.837"].decode(), {grace.claim_id})
    )
    before = records(book, "Claims")
    result = import_remittances(book, None, [read_remittance(era)])
    after = records(book, "Claims")
    assert len(after) == len(before)  # nothing appended: every answer went onto its Submitted row
    assert result.lines == 2
    changed = [(b, a) for b, a in zip(before, after, strict=True) if b != a]
    assert sorted(a["Claim ID"] for _, a in changed) == sorted([rosa.claim_id, grace.claim_id])
    for old, new in changed:
        assert (new["Date"], new["Client"], new["Payer"]) == (old["Date"], old["Client"], old["Payer"])
        assert new["Line"] == old["Line"] == 1
        if new["Claim ID"] == rosa.claim_id:
            assert (new["Status"], new["Paid"]) == ("Paid", round(float(rosa.total) * 0.75, 2))
        else:
            assert (new["Status"], new["Paid"], new["Reason"]) == ("Denied", 0.0, "CO-97")
    # The other payers' claims are still waiting.
    waiting = {r["Claim ID"] for r in after if r["Status"] == "Submitted"}
    assert waiting == {c.claim_id for c in submission.claims} - {rosa.claim_id, grace.claim_id}
    again = import_remittances(book, None, [read_remittance(era)])
    assert (again.added, again.duplicates) == (0, 2) and len(records(book, "Claims")) == len(before)


# ----------------------------------------------------------------------------- CMS-1500


def text_at(pdf: bytes) -> list[dict[tuple[int, int], str]]:
    """Each page's text by the form's (line, column) where it starts."""
    pages = []
    for page in PdfReader(io.BytesIO(pdf)).pages:
        found: dict[tuple[int, int], str] = {}

        def visit(
            text: str, cm: Any, tm: Any, font: Any, size: Any, found: dict[tuple[int, int], str] = found
        ) -> None:
            if text.strip():
                x, y = tm[4], tm[5]
                column = round((x - cms1500.LEFT) / cms1500.CHAR) + 1
                line = round((cms1500.PAGE_HEIGHT - y - cms1500.TOP + 3) / cms1500.LINE)
                found[(line, column)] = text.strip()

        page.extract_text(visitor_text=visit)
        pages.append(found)
    return pages


def _money(amount: Decimal) -> tuple[str, str]:
    whole, cents = f"{amount:.2f}".split(".")
    return whole, cents


def test_cms1500_boxes_hold_the_claims_data() -> None:
    book = claims_book()
    submission = run(book, fmt="pdf", payer="Harbor Health PPO")
    tom = claim_of(submission, "Tom Becker")
    page = text_at(submission.files["claims-2026-11-harbor-health-ppo.pdf"])[0]
    code, units = tom.lines[0].code, tom.lines[0].units
    dollars, cents = _money(tom.total)
    expected = {
        (2, 41): "HARBOR HEALTH PPO", (3, 41): "PO BOX 55", (4, 41): "PORTLAND, OR 97208",
        (8, 31): "X",  # box 1: group health plan
        (8, 50): "HHP5551234", (10, 1): "BECKER, TOM", (10, 31): "07", (10, 34): "30", (10, 37): "2001",
        (10, 42): "X", (10, 50): "BECKER, ANA", (12, 1): "8 OAK AVE", (12, 42): "X",  # 6: child
        (14, 1): "PORTLAND", (14, 26): "OR", (16, 1): "97205", (18, 50): "G900",
        (20, 53): "02", (20, 56): "03", (20, 59): "1975", (20, 75): "X",  # 11a: insured's birth, F
        (20, 41): "X", (22, 41): "X", (24, 41): "X",  # 10a-c: no
        (34, 1): "DN", (34, 4): "PARK, LEE", (34, 33): "1234567893",
        (37, 42): "0", (38, 3): "M62830", (38, 16): "M542", (40, 50): "PA-4411",
        (44, 1): "11", (44, 4): "02", (44, 7): "26", (44, 19): "11", (44, 25): code, (44, 45): "AB",
        (44, 55 - len(dollars)): dollars, (44, 56): cents, (44, 62 - len(str(units))): str(units),
        (44, 68): "1987654328", (56, 1): "931234567",  # 24J: the therapist's NPI (Settings Rendering NPI) (56, 19): "X", (56, 23): tom.claim_id,
        (56, 38): "X", (56, 57 - len(dollars)): dollars, (56, 58): cents,
        (58, 50): "WILLOW MASSAGE THERAPY LLC", (61, 50): "1472583693", (61, 63): "ZZ225700000X",
        (60, 50): "SALEM OR 973011234",  # box 33: no comma between town and state (NUCC)
    }  # fmt: skip
    for where, text in expected.items():
        assert page.get(where) == text, (where, page.get(where), text)


def test_cms1500_workers_comp_and_corrected_claim_boxes() -> None:
    book = claims_book()
    submission = run(book, fmt="pdf")
    owen_page = text_at(submission.files["claims-2026-11-cascade-workers-comp.pdf"])[0]
    assert owen_page[(8, 39)] == "X"  # box 1: FECA (workers' comp)
    assert owen_page[(20, 35)] == "X"  # 10a employment: yes
    assert (owen_page[(22, 50)], owen_page[(22, 54)]) == ("Y4", "WC-CLAIM-9")  # 11b other claim ID
    assert (owen_page[(32, 2)], owen_page[(32, 5)], owen_page[(32, 8)], owen_page[(32, 16)]) == (
        "10", "02", "2026", "431",
    )  # fmt: skip
    summit = text_at(submission.files["claims-2026-11-summit-mutual.pdf"])
    grace = claim_of(submission, "Grace Okafor")
    page = next(p for p in summit if p.get((56, 23)) == grace.claim_id)
    assert (page[(38, 50)], page[(38, 62)]) == ("7", "SMI-889911")  # box 22


def test_cms1500_more_than_six_lines_continue_on_another_form() -> None:
    submission = run(claims_book())
    tom = claim_of(submission, "Tom Becker")
    many = type(tom)(**{**tom.__dict__, "lines": tuple(
        type(tom.lines[0])(**{**tom.lines[0].__dict__, "number": n}) for n in range(1, 9)
    )})  # fmt: skip
    printed, _ = cms1500.render([many], parse_provider(SETTINGS), dt.date(2026, 12, 1))
    pages = text_at(printed)
    assert len(pages) == 2
    assert sum(1 for (line, col) in pages[0] if col == 25 and 44 <= line <= 54) == 6
    assert sum(1 for (line, col) in pages[1] if col == 25 and 44 <= line <= 54) == 2


def test_cms1500_preview_renders_the_form(tmp_path: Path) -> None:
    pdftoppm = need("pdftoppm", "renders the CMS-1500 preview in tests (apt-get install poppler-utils)")
    submission = run(claims_book(), fmt="pdf", payer="Harbor Health PPO")
    for name, red_expected in (("claims-2026-11-harbor-health-ppo-preview.pdf", True),
                               ("claims-2026-11-harbor-health-ppo.pdf", False)):  # fmt: skip
        pdf = tmp_path / name
        pdf.write_bytes(submission.files[name])
        subprocess.run(
            [pdftoppm, "-r", "50", "-f", "1", "-l", "1", str(pdf), str(tmp_path / "page")], check=True
        )
        image = next(tmp_path.glob("page*.ppm"))
        width, height, pixels = _ppm(image.read_bytes())
        image.unlink()
        assert (width, height) == (425, 550)  # US Letter at 50 dpi
        colours = [pixels[i : i + 3] for i in range(0, len(pixels), 3)]
        dark = sum(1 for r, g, b in colours if r < 128 and g < 128 and b < 128)
        red = sum(1 for r, g, b in colours if r > 150 and g < 120 and b < 120)
        assert dark > 100  # the data, in black
        assert (red > 500) is red_expected  # the form, drawn in red only on the preview


def _ppm(data: bytes) -> tuple[int, int, bytes]:
    parts = data.split(maxsplit=4)
    assert parts[0] == b"P6"
    return int(parts[1]), int(parts[2]), parts[4]


# ----------------------------------------------------------------------------- from Excel


def test_claims_script_in_xlwings_lite_writes_under_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import cptbill.excel
    from test_excel import apply, payload, run_script

    def as_datetime(value: Any) -> Any:
        return dt.datetime.combine(value, dt.time()) if isinstance(value, dt.date) else value

    book = claims_book()
    sheets = {name: [[as_datetime(v) for v in row] for row in rows] for name, rows in book.sheets.items()}
    sheets["Settings"] = [*sheets["Settings"], ["Month to recode", "2026-11"]]
    monkeypatch.setattr(cptbill.excel, "IMPORT_FOLDER", str(tmp_path / "data"))
    data = payload(sheets, active="Sessions")
    actions = run_script(data, script="claims")  # no month given: the Settings value
    after = apply(data, actions)
    written = sorted(p.name for p in (tmp_path / "data").iterdir())
    assert written == sorted(run(claims_book()).files)
    header = after["Claims"][0]
    submitted = [row for row in after["Claims"][1:] if row[header.index("Status")] == "Submitted"]
    assert len(submitted) == 6
    flags = after["Sessions"][0].index("Flags")
    assert after["Sessions"][8][flags] == "CLAIM_INCOMPLETE: no member ID (Clients row 7)"


CLAIMS_DRIVER = """
import base64, json, os, sys
sys.path.insert(0, "/home/pyodide/addin")
import main  # the workbook's main.py, as xlwings Lite imports it
import xlwings as xw
import xlwings.server

book = xw.Book(json=json.load(open("/home/pyodide/job.json")))
await xlwings.server.custom_scripts_call(main, "claims", typehint_to_value={xw.Book: book})
files = {name: base64.b64encode(open(f"/data/{name}", "rb").read()).decode() for name in os.listdir("/data")}
json.dumps({"actions": book.json()["actions"], "files": files})
"""


def test_claims_script_runs_in_pyodide_as_in_cpython(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import base64
    import json
    import os

    import cptbill.excel
    from test_excel import payload, run_script
    from test_pyodide import ADDIN, HERE, _missing, requirement_wheels

    node = need("node", "Node.js runs Pyodide, xlwings Lite's runtime (apt-get install nodejs)")
    if not (HERE / "node_modules" / "pyodide" / "pyodide.mjs").exists():
        _missing(f"Pyodide is not installed in {HERE / 'node_modules'}: run tests/pyodide/setup.sh")

    def as_datetime(value: Any) -> Any:
        return dt.datetime.combine(value, dt.time()) if isinstance(value, dt.date) else value

    sheets = {
        name: [[as_datetime(v) for v in row] for row in rows] for name, rows in claims_book().sheets.items()
    }
    sheets["Settings"] = [*sheets["Settings"], ["Month to recode", "2026-11"]]
    data = payload(sheets, active="Sessions")
    spec = {
        "wheels": [str(w) for w in requirement_wheels(ADDIN / "requirements.txt", HERE / "wheels")],
        "env": {"XLWINGS_LICENSE_KEY": "noncommercial", "XLWINGS_ON_SERVER": "true"},
        "files": {
            "/home/pyodide/addin/main.py": (ADDIN / "main.py").read_text(encoding="utf-8"),
            "/home/pyodide/job.json": json.dumps(data),
        },
        "code": CLAIMS_DRIVER,
    }
    (tmp_path / "spec.json").write_text(json.dumps(spec), encoding="utf-8")
    done = subprocess.run(
        [node, str(HERE / "run.mjs"), str(tmp_path / "spec.json")],
        capture_output=True, text=True, timeout=300, env={**os.environ, "NODE_NO_WARNINGS": "1"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-4000:]
    there = json.loads(done.stdout.split("--- result ---\n", 1)[1])
    monkeypatch.setattr(cptbill.excel, "IMPORT_FOLDER", str(tmp_path / "data"))
    here = run_script(data, script="claims")
    assert [a["func"] for a in there["actions"]] == [a["func"] for a in here]
    files_there = {name: base64.b64decode(text) for name, text in there["files"].items()}
    files_here = {p.name: p.read_bytes() for p in (tmp_path / "data").iterdir()}
    assert sorted(files_there) == sorted(files_here) and len(files_there) == 5

    def stable(text: str) -> list[list[str]]:  # the envelope's time and control numbers differ by run
        return [s for s in segments(text) if s[0] not in ("ISA", "GS", "BHT", "IEA")]

    for name, content in files_there.items():
        if name.endswith(".837"):
            assert pyx12_errors(content.decode("ascii")) == [], name
            assert stable(content.decode("ascii")) == stable(files_here[name].decode("ascii"))
        else:
            pages_there, pages_here = text_at(content), text_at(files_here[name])
            assert len(pages_there) == len(pages_here)
            for a, b in zip(pages_there, pages_here, strict=True):
                assert {k: v for k, v in a.items() if a.get(k) != b.get(k)} == {}, name


# ----------------------------------------------------------------------------- the command


def test_claims_command_on_the_sample_workbook(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    import openpyxl

    from helpers import run as cli

    path = tmp_path / "billing.xlsx"
    assert cli(capsys, "new", str(path), "--sample")[0] == 0
    assert cli(capsys, "recode", str(path), "--month", "2026-11")[0] == 0
    status, out, err = cli(capsys, "claims", str(path), "--month", "2026-11", "--json")
    assert (status, err) == (0, "")
    summary = json.loads(out)
    assert summary["claims"] > 20 and summary["incomplete"] == 2
    assert "Liam" not in out and "Novak" not in out  # counts and file names only
    written = sorted(p.name for p in tmp_path.glob("claims-2026-11-*"))
    assert written == summary["files"]
    for name in written:
        if name.endswith(".837"):
            assert pyx12_errors((tmp_path / name).read_text(encoding="ascii")) == [], name
    wb = openpyxl.load_workbook(path)
    rows = list(wb["Claims"].iter_rows(values_only=True))
    status_column = list(rows[0]).index("Status")
    assert sum(1 for row in rows[1:] if row[status_column] == "Submitted") == summary["lines"]
    sessions = list(wb["Sessions"].iter_rows(values_only=True))
    flags = list(sessions[0]).index("Flags")
    assert (
        sum("CLAIM_INCOMPLETE: no member ID (Clients row 9)" in (row[flags] or "") for row in sessions) == 2
    )
    # A second run sends nothing again and leaves the files as they were.
    again = cli(capsys, "claims", str(path), "--month", "2026-11")
    assert again[0] == 0 and "not sent again" in again[1]
    assert sorted(p.name for p in tmp_path.glob("claims-2026-11-*")) == written


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--month", "2026-13"], "is not a month"),
        (["--month", "2026-11", "--format", "csv"], "--format must be 837 or pdf"),
        (["--month", "2026-11", "--dir", "nowhere"], "does not exist"),
        (["--month", "2026-11", "--payer", "Nobody Health"], "No payer named"),
    ],
)
def test_claims_command_refuses_with_one_sentence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    from helpers import run as cli

    path = tmp_path / "billing.xlsx"
    cli(capsys, "new", str(path), "--sample")
    before = path.read_bytes()
    status, _, err = cli(
        capsys, "claims", str(path), *[a if a != "nowhere" else str(tmp_path / a) for a in args]
    )
    assert status == 2 and message in err and "Traceback" not in err
    assert path.read_bytes() == before and not list(tmp_path.glob("claims-*"))
