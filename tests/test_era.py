"""Importing X12 835 remittances (ERA) into the Claims sheet: reading, mapping, dedup, CLI safety."""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
from collections import Counter
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import openpyxl
import pytest
import pyx12.params
import pyx12.x12n_document

from cptbill import contract as c
from cptbill.book import MONEY_FORMAT, MemoryBook, check, load, recode
from cptbill.contract import Status, name_key
from cptbill.era import (
    ImportResult,
    decode,
    import_remittances,
    read_remittance,
    read_remittance_text,
    segments,
)
from cptbill.errors import CptbillError
from cptbill.history import follow_ups, shortfalls
from cptbill.report import summary_rows
from cptbill.schema import column_index, parse_payers
from helpers import assert_paid_adds_up, run

FIXTURES = Path(__file__).parent / "fixtures"
REAL = FIXTURES / "real-world"
SAMPLE = Path(__file__).parent.parent / "workbook" / "sample-remittance.835"
#: Built for the cases of DOMAIN.md; pyx12's validator accepts each of them.
BUILT = [
    "summit-paid-denied.835", "harbor-reversal-plb.835", "two-transactions.835", "claim-level.835",
    "statuses.835", "plb-only-transaction.835", "no-charge.835",
]  # fmt: skip
#: The ways real files arrive (the same remittance as summit-paid-denied.835), and a two-PLB file.
FORMATS = [
    "no-a1.835", "control-characters.835", "wrapped-80.835", "bom.835", "latin-1.835", "two-plb.835",
    "huge-units.835",
]  # fmt: skip
#: Public 835s written by others (see real-world/README.md).
REAL_WORLD = [
    "emedny_sample.835", "united_healthcare_legacy_sample.835", "lfh-managed-care.835",
    "lfh-cob-contractural-adjustment.835", "lfh-secondary-payment.835", "lfh-tertiary-payment.835",
    "lfh-medicare-part-a.835",
]  # fmt: skip
#: Built in the shapes public 835s arrive in (second wild pass): a Medicare crossover remittance
#: pasted from a program (tab-indented, after a blank line; two transactions, the first a $0
#: notice) and a clearinghouse's one-line file with `|`, `^` and `}` as separators.
WILD = ["wild-crossover.835", "wild-pipe.835"]
#: Built in the shapes of the third pass (see real-world/README.md): a Medicare-style remittance on
#: one line with `>` components and PLB L6/WO; a clearinghouse's CRLF file with a reversal and its
#: correction, interest, four modifiers and LT/RT lines; workers' comp (CO-P12, SVC06); auto PIP
#: in lower case with LF as the terminator; a Medicaid plan's `|` and `}` file with PLB CS/FB/72;
#: a line the payer split into a denied and a paid part (one REF*6R).
WILD3 = [
    "wild3-mac-one-line.835", "wild3-clearinghouse-crlf.835", "wild3-workers-comp.835",
    "wild3-auto-pip-lower.835", "wild3-medicaid-mco-pipe.835", "wild3-split-line.835",
]  # fmt: skip
#: Third pass: 835s shipped inside registry packages (badx12 on PyPI: X12's own examples).
PACKAGED = ["badx12-multiple-claims-single-check.835", "x12sdk-claim-level.835", "x12sdk-seed007.835"]
IMPORTED = [
    *(FIXTURES / n for n in BUILT + FORMATS + WILD + WILD3), *(REAL / n for n in REAL_WORLD + PACKAGED),
    SAMPLE,
]  # fmt: skip
BROKEN = {
    "empty.835": "the file is empty",
    "sessions.csv": "segment ISA at line 1",
    # segments lost in the middle: the count is wrong and the money does not add up
    "lost-claim.835": "segment SE at line 34: segment count is wrong (SE01 says 33, the transaction has 32), "
    "and its claims do not add up to the payment",
    "truncated.835": "segment SE is missing after line 26",
    "claim.837": "segment GS at line 2",
    # the crash inputs of #12: one sentence, never a traceback
    "no-gs.835": "segment ST at line 2: this segment is outside a functional group",
    "no-st.835": "segment GE at line 3: the functional group holds no transaction",
    "stray-se.835": "segment SE at line 37: an SE with no ST before it",
    "stray-ge.835": "segment GE at line 38: this segment is outside a functional group",
    "stray-iea.835": "segment IEA at line 39: this segment is outside an interchange",
    "huge-amount.835": "segment SVC at line 16: element SVC03 is not an amount",
}

PAYERS = [
    ["Payer", "Accepts", "Preferred", "Rate 97124", "Rate 97140", "ERA names"],
    ["Summit Mutual", "97124, 97140", None, 30, 32, "SUMMIT MUTUAL INSURANCE, SMI77"],
    ["Harbor Health PPO", "97124, 97140", "97140", 31.2, 33.5, "HARBOR HEALTH, HHP01"],
    ["Evergreen Medicare Advantage", "97140", None, None, 27.17, "EVERGREEN MA, EVG22"],
]
SESSIONS = [  # Service `either`: the payer's claim history may choose the massage code
    ["Date", "Client", "Payer", "Minutes", "Service"],
    [dt.date(2026, 11, 3), "Jordan Pike", "Summit Mutual", 38, "either"],
]


def memory_book(claims: list[list[Any]] | None = None) -> MemoryBook:
    sheets = {"Sessions": SESSIONS, "Payers": PAYERS}
    if claims is not None:
        sheets["Claims"] = claims
    return MemoryBook(sheets)


def payers() -> dict[str, Any]:
    return parse_payers(PAYERS)[0]


def claims_records(book: MemoryBook) -> list[dict[str, Any]]:
    rows = book.read("Claims")
    return [dict(zip(rows[0], row, strict=False)) for row in rows[1:]]


def imported(*paths: Path, book: MemoryBook | None = None) -> tuple[MemoryBook, ImportResult]:
    """Import into a book (a new one by default), checking that Paid adds up to CLP04."""
    book = book if book is not None else memory_book()
    result = import_remittances(book, payers(), list(paths))
    assert_paid_adds_up(paths, book, result)
    return book, result


def pyx12_accepts(path: Path) -> bool:
    """The validator's own verdict (logs silenced), independent of cptbill's reading."""
    logger = logging.getLogger("pyx12")
    saved = logger.disabled
    logger.disabled = True
    try:
        return bool(
            pyx12.x12n_document.x12n_document(
                pyx12.params.params(), str(path), None, None, None, io.StringIO()
            )
        )
    finally:
        logger.disabled = saved


@pytest.mark.parametrize(
    "path", [*(FIXTURES / name for name in [*BUILT, "plb-only.835"]), SAMPLE], ids=lambda p: p.name
)
def test_built_fixtures_are_valid_835s_for_pyx12(path: Path) -> None:
    assert pyx12_accepts(path)
    assert read_remittance(path).warnings == ()


def test_a_broken_fixture_is_refused_by_pyx12_itself() -> None:
    assert not pyx12_accepts(FIXTURES / "wrong-count.835")
    assert not pyx12_accepts(FIXTURES / "truncated.835")


@pytest.mark.parametrize("path", IMPORTED, ids=lambda p: p.name)
def test_every_fixture_imports_with_paid_adding_up_to_clp04(path: Path) -> None:
    _, result = imported(path)
    remittance = read_remittance(path)
    assert result.added == len(remittance.lines) > 0
    assert len({line.claim_id + line.payer_claim_id for line in remittance.lines}) <= remittance.claims


def test_paid_denied_patient_responsibility_and_two_line_claim() -> None:
    remittance = read_remittance(FIXTURES / "summit-paid-denied.835")
    assert remittance.file == "summit-paid-denied.835"
    assert (remittance.transactions, remittance.claims, remittance.claims_paid) == (1, 3, Decimal(135))
    assert remittance.provider_adjustments == 0
    rows = [
        (
            line.date, line.client, line.payer, line.payer_id, line.code, line.modifiers, line.units,
            line.billed, line.paid, line.status, line.reason, line.claim_id, line.payer_claim_id,
            line.line, line.source,
        )
        for line in remittance.lines
    ]  # fmt: skip
    source = "summit-paid-denied.835 #EFT501"
    payer = ("SUMMIT MUTUAL INSURANCE", "SMI77")
    assert rows == [
        # paid line with a contractual adjustment; its Line is the REF*6R
        (dt.date(2026, 10, 5), "JORDAN PIKE", *payer, "97124", (), 2.0, Decimal("80.00"),
         Decimal("60.00"), Status.PAID, "CO-45", "PK1005", "SMC0001", "LN1", source),
        # denied line, no DTM*472: the claim's DTM*232; no REF*6R: its position
        (dt.date(2026, 10, 6), "CASEY MORROW", *payer, "97140", (), 2.0, Decimal("70.00"),
         Decimal("0"), Status.DENIED, "CO-97", "MC1006", "SMC0002", "1", source),
        # two service lines and a claim-level CO-253 of 10.00: the first line's own CAS explain all
        # it lost (90 billed, 70 paid, 20 adjusted), so the CO-253 is the second line's (15 - 5)
        (dt.date(2026, 10, 8), "RILEY SHAW", *payer, "97124", ("59",), 2.0, Decimal("90.00"),
         Decimal("70.00"), Status.PAID, "CO-45; PR-2", "RS1007", "SMC0003", "1", source),
        # ... the second without SVC05 (1 unit) and without its own CAS
        (dt.date(2026, 10, 7), "RILEY SHAW", *payer, "97010", (), 1.0, Decimal("15.00"),
         Decimal("5.00"), Status.PAID, "CO-253", "RS1007", "SMC0003", "2", source),
    ]  # fmt: skip
    assert [line.adjusted for line in remittance.lines] == [
        "CO-45 20.00", "CO-97 70.00", "CO-45 5.00; PR-2 15.00", "CO-253 10.00",
    ]  # fmt: skip
    assert [line.patient_owes for line in remittance.lines] == [0, 0, Decimal("15.00"), 0]


def test_rows_written_to_a_new_claims_sheet() -> None:
    book, result = imported(FIXTURES / "summit-paid-denied.835")
    assert book.read("Claims")[0] == list(c.CLAIMS_COLUMNS)
    records = claims_records(book)
    assert len(records) == result.added == 4
    first = records[0]
    assert first == {
        "Date": dt.date(2026, 10, 5),
        "Client": "JORDAN PIKE",
        "Payer": "Summit Mutual",  # SUMMIT MUTUAL INSURANCE through ERA names
        "Code": "97124",
        "Units": 2,
        "Billed": 80.0,
        "Paid": 60.0,
        "Status": "Paid",
        "Reason": "CO-45",
        "Patient owes": None,
        "Adjusted": "CO-45 20.00",
        "Claim ID": "PK1005",
        "Payer claim ID": "SMC0001",
        "Line": "LN1",
        "Source": "summit-paid-denied.835 #EFT501",
        "Modifiers": None,
        "Billed units": None,
        "Billed code": None,
    }
    assert isinstance(first["Date"], dt.date)
    assert [r["Status"] for r in records] == ["Paid", "Denied", "Paid", "Paid"]  # CO-253: sequestration
    assert [r["Line"] for r in records] == ["LN1", 1, 1, 2]
    assert records[2]["Modifiers"] == "59"
    assert records[2]["Patient owes"] == 15.0
    assert result.unmatched_payers == []
    assert book.formats[("Claims", c.CLAIMS_COLUMNS.index(c.PATIENT_OWES) + 1)] == MONEY_FORMAT


def test_claim_level_adjudication_and_claim_level_adjustments() -> None:
    book, _ = imported(FIXTURES / "claim-level.835")
    records = claims_records(book)
    # REF*2U names the payer when N1*PR has no ID
    assert {r["Payer"] for r in records} == {"Evergreen Medicare Advantage"}
    # a claim without service lines: one row from CLP, its claim-level adjustments
    alone = records[0]
    assert (alone["Code"], alone["Units"], alone["Line"]) == (None, None, None)
    assert (alone["Billed"], alone["Paid"], alone["Status"], alone["Adjusted"]) == (
        150.0,
        100.0,
        "Paid",
        "CO-45 50.00",
    )
    assert alone["Date"] == dt.date(2026, 11, 1)
    # a claim-level deductible on a claim with lines: shared by billed, Paid adds up to CLP04 = 150
    lines = [r for r in records if r["Claim ID"] == "CL1102"]
    assert [r["Paid"] for r in lines] == [75.0, 75.0]
    assert [r["Patient owes"] for r in lines] == [5.0, 5.0]
    assert [r["Adjusted"] for r in lines] == ["CO-45 20.00; PR-1 5.00"] * 2
    # SVC06 and SVC07: billed as 97140 x 4, paid as 97124 x 2
    changed = next(r for r in records if r["Claim ID"] == "BC1103")
    assert (changed["Code"], changed["Units"], changed["Billed code"], changed["Billed units"]) == (
        "97124", 2, "97140", 4,
    )  # fmt: skip
    assert changed["Status"] == "Partial"  # CO-151 beyond the contractual CO-45
    # paid 0 with only patient responsibility (and its contractual part): the client owes it
    deductible = next(r for r in records if r["Claim ID"] == "DD1104")
    assert (deductible["Status"], deductible["Patient owes"], deductible["Reason"]) == (
        "Patient",
        67.0,
        "CO-45; PR-1",
    )
    copay = next(r for r in records if r["Claim ID"] == "CP1105")
    assert (copay["Status"], copay["Paid"], copay["Patient owes"]) == ("Paid", 47.0, 20.0)


def test_statuses_from_what_the_payer_said() -> None:
    book, _ = imported(FIXTURES / "statuses.835")
    got = [(r["Claim ID"], r["Line"], r["Status"], r["Paid"]) for r in claims_records(book)]
    assert got == [
        ("SE1201", 1, "Other payer", 0.0),  # CLP02 2, OA-23
        ("FW1202", 1, "Forwarded", 40.0),  # CLP02 19: paid as primary, the rest goes to the next payer
        ("RV1203", 1, "Reversed", -60.0),  # CLP02 22
        ("RV1203", 1, "Paid", 60.0),  # its corrected payment: same claim and line, other amounts
        ("NO1205", 1, "Forwarded", 0.0),  # CLP02 23
        ("PD1206", 1, "Predetermination", 0.0),  # CLP02 25
        ("DN1207", 1, "Denied", 0.0),  # CLP02 4
        ("OP1208", 1, "Other payer", 0.0),  # OA-23 on a primary claim
        ("PT1209", 1, "Partial", 40.0),  # part paid, CO-97 beyond CO-45
        ("PT1209", 2, "Denied", 0.0),  # the bundled 97010 line
    ]


def test_a_line_billed_and_paid_0_is_settled_not_pending_and_real_denials_stay() -> None:
    """A no-charge line (a CPT II reporting code, a service included in another) on a processed
    claim is Paid: nothing was asked, nothing is owed, nothing to chase. A denied claim stays Denied."""
    book, _ = imported(FIXTURES / "no-charge.835")
    got = [
        (r["Claim ID"], r["Line"], r["Code"], r["Billed"], r["Status"], r["Reason"])
        for r in claims_records(book)
    ]
    assert got == [
        ("NC1301", 1, "97124", 80.0, "Paid", "CO-45"),
        ("NC1301", 2, "3051F", 0.0, "Paid", None),  # CPT II, no CAS at all (was Pending)
        ("NC1302", 1, "97140", 80.0, "Paid", "CO-45"),
        ("NC1302", 2, "97010", 0.0, "Paid", "CO-97"),  # billed 0, CO-97 0.00 + N19: included (was Pending)
        ("NC1303", 1, "97124", 80.0, "Paid", "CO-45"),
        ("NC1303", 2, "97010", 40.0, "Denied", "CO-97"),  # billed 40, bundled: a real denial
        ("NC1304", 1, "97124", 80.0, "Other payer", "OA-23"),
        ("NC1304", 2, "3074F", 0.0, "Paid", "CO-246"),  # secondary claim, reporting code (was Other payer)
        ("NC1305", 1, "97124", 80.0, "Denied", "CO-204"),
        ("NC1305", 2, "3051F", 0.0, "Denied", None),  # the claim was denied (CLP02 4): never hidden
        ("NC1306", None, None, 0.0, "Paid", None),  # a $0 claim without lines (was Pending)
    ]
    loaded = load(book)
    items = follow_ups(loaded.claims or [], loaded.payers)
    assert [(i.claim_id, i.code, i.reason) for i in items] == [
        ("NC1303", "97010", "CO-97"),  # NC1304: the primary's payment covers it all (OA-23 80.00)
        ("NC1305", "97124", "CO-204"), ("NC1305", "3051F", "?"),
    ]  # fmt: skip
    # a no-charge line says nothing of what the payer pays for its code
    harbor_97010 = loaded.history[(name_key("Harbor Health PPO"), "97010")]
    assert (harbor_97010.paid, harbor_97010.denied) == (0, 1)


def test_learning_counts_only_true_denials() -> None:
    book, _ = imported(FIXTURES / "statuses.835", FIXTURES / "claim-level.835")
    history = load(book).history
    summit_97124 = history[(name_key("Summit Mutual"), "97124")]
    # OTHER_PAYER x2 and the predetermination are not denials; DN1207 (CO-204) is
    assert summit_97124.denied == 1
    assert history[(name_key("Summit Mutual"), "97140")].denied == 0  # Forwarded and Predetermination
    evergreen_97140 = history[(name_key("Evergreen Medicare Advantage"), "97140")]
    assert evergreen_97140.denied == 0  # the deductible line is Patient, not a denial
    plan, _ = check(book)
    notes = [str(f) for r in plan.results for f in r.flags if f.flag.value == "DENIED_BEFORE"]
    assert notes == ["DENIED_BEFORE: Summit Mutual denied 97124 1 time(s)"]


def test_reversal_and_provider_adjustments() -> None:
    remittance = read_remittance(FIXTURES / "harbor-reversal-plb.835")
    reversal = remittance.lines[0]
    assert (reversal.status, reversal.billed, reversal.paid, reversal.units) == (
        Status.REVERSED, Decimal("-90.00"), Decimal("-67.00"), 2.0,
    )  # fmt: skip
    assert reversal.reason == "CO-45"
    assert [line.line for line in remittance.lines] == ["1", "1", "2"]
    assert remittance.provider_adjustments == Decimal("10.00")  # WO 15.00 and L6 -5.00
    book, result = imported(FIXTURES / "harbor-reversal-plb.835")
    # the payer's name differs from every ERA name; its ID HHP01 matches
    assert {r["Payer"] for r in claims_records(book)} == {"Harbor Health PPO"}
    assert result.summary()["provider_adjustments"] == 10.0
    assert result.lines == 3  # PLB adjustments are not claim lines


def test_two_plbs_are_listed_with_reasons_and_counted_once_per_file() -> None:
    path = FIXTURES / "two-plb.835"
    remittance = read_remittance(path)
    # pyx12 objects to a second PLB ("Loop FOOTER exceeded max count"), though PLB repeats (its own
    # map says so): not passed on to the user as a warning
    assert remittance.warnings == ()
    book, first = imported(path, path)  # the same file twice in one batch
    assert [(a.reason, a.reference, a.amount) for a in first.adjustments] == [
        ("WO", "HHC0001", Decimal("15.00")), ("L6", "", Decimal("-1.00")),
    ]  # fmt: skip
    assert first.summary()["provider_adjustment_items"] == [
        {"source": "two-plb.835 #EFT603", "reason": "WO", "reference": "HHC0001", "amount": 15.0},
        {"source": "two-plb.835 #EFT603", "reason": "L6", "reference": "", "amount": -1.0},
    ]
    again = import_remittances(book, payers(), [path])
    assert (again.added, again.duplicates, again.adjustments) == (0, 1, [])
    assert again.summary()["provider_adjustments"] == 0


def test_a_transaction_with_provider_adjustments_and_no_claim_counts_once_per_file() -> None:
    path = FIXTURES / "plb-only-transaction.835"
    book, first = imported(path)
    assert [(a.source, a.reason, a.amount) for a in first.adjustments] == [
        ("plb-only-transaction.835 #EFT505", "L6", Decimal("-5.00")),
        ("plb-only-transaction.835 #EFT505", "FB", Decimal("-15.00")),
    ]
    found = segments(decode(path.read_bytes()))[0]
    payment = sum((Decimal(s.get(2)) for s in found if s.id == "BPR"), Decimal(0))
    assert Decimal("93.60") - first.provider_adjustments == payment  # 93.60 + 5.00 + 15.00
    again = import_remittances(book, payers(), [path])  # a later import of the same file
    assert (again.added, again.duplicates, again.adjustments) == (0, 1, [])
    assert again.summary()["provider_adjustments"] == 0


PLB_ONLY = FIXTURES / "plb-only.835"


def plb_only(tmp_path: Path, name: str, **changes: str) -> Path:
    """plb-only.835 with some of its text replaced (`EFT701` for another trace, `HHP01` for another payer)."""
    text = PLB_ONLY.read_text()
    for old, new in changes.items():
        text = text.replace(old, new)
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_file_of_provider_adjustments_only_is_recorded_and_counted_once(tmp_path: Path) -> None:
    """A payment with PLB items and no claim: one Claims row records it, so a re-import counts nothing."""
    book, first = imported(PLB_ONLY)
    assert (first.lines, first.added, first.provider_rows) == (0, 0, 1)
    assert [(a.reason, a.reference, a.amount) for a in first.adjustments] == [
        ("L6", "", Decimal("-5.00")), ("FB", "HHC0009", Decimal("-15.00")),
    ]  # fmt: skip
    assert first.summary()["provider_adjustments"] == -20.0
    [row] = claims_records(book)
    assert {k: v for k, v in row.items() if v is not None} == {
        "Date": dt.date(2026, 12, 2),  # BPR16, the day the money moved
        "Payer": "Harbor Health PPO",  # N1*PR N104 HHP01 through ERA names
        "Paid": 20.0,  # what the adjustments added to the payment: BPR02 of a payment without claims
        "Reason": "PLB-L6; PLB-FB",
        "Adjusted": "PLB-L6 -5.00; PLB-FB -15.00",
        "Source": "plb-only.835 #EFT701",
    }
    found = segments(decode(PLB_ONLY.read_bytes()))[0]
    assert Decimal(str(row["Paid"])) == next(Decimal(s.get(2)) for s in found if s.id == "BPR")
    rows = [list(r) for r in book.read("Claims")]

    again = import_remittances(book, payers(), [PLB_ONLY])  # a later import of the same file
    assert (again.adjustments, again.provider_rows, again.summary()["provider_adjustments"]) == ([], 0, 0)
    # the same file saved under another name is the same payment
    renamed = import_remittances(book, payers(), [plb_only(tmp_path, "downloaded-again.835")])
    assert (renamed.adjustments, renamed.provider_rows) == ([], 0)
    assert book.read("Claims") == rows

    # nothing of it is a claim: no history, no follow-up, no shortfall, nothing on the Summary
    loaded = load(book)
    assert dict(loaded.history) == {}
    assert follow_ups(loaded.claims or [], loaded.payers) == []
    assert shortfalls(loaded.claims or [], loaded.payers) == []
    assert all(r.paid == 0 for r in summary_rows(loaded, None, None))


def test_provider_adjustments_saved_again_under_a_name_with_a_hash_are_not_counted_twice(
    tmp_path: Path,
) -> None:
    """The payment's key is its check/EFT number after the last ` #` of Source, as for claim lines:
    a file name holding ` #` (`remit #3.835`) once made the same payment look new under another name."""
    book, first = imported(plb_only(tmp_path, "remit #3.835"))
    assert first.provider_rows == 1
    again = import_remittances(book, payers(), [plb_only(tmp_path, "remit #3 (1).835")])
    assert (again.adjustments, again.provider_rows) == ([], 0)


def test_another_payment_with_the_same_provider_adjustments_is_counted(tmp_path: Path) -> None:
    book, _ = imported(PLB_ONLY)
    # another EFT (TRN02) in another interchange, with the very same amounts: a new payment
    other = plb_only(tmp_path, "next-month.835", EFT701="EFT702", **{"000000701": "000000702"})
    second = import_remittances(book, payers(), [other])
    assert [a.amount for a in second.adjustments] == [Decimal("-5.00"), Decimal("-15.00")]
    assert second.provider_rows == 1
    # the same EFT number from another payer is another payment too
    third = import_remittances(book, payers(), [plb_only(tmp_path, "summit.835", HHP01="SMI77")])
    assert (len(third.adjustments), third.provider_rows) == (2, 1)
    # the same EFT number and payer with other adjustments is another payment
    fourth = import_remittances(book, payers(), [plb_only(tmp_path, "more.835", **{"-15.00": "-16.00"})])
    assert (len(fourth.adjustments), fourth.provider_rows) == (2, 1)
    assert [(r["Payer"], r["Source"], r["Paid"]) for r in claims_records(book)] == [
        ("Harbor Health PPO", "plb-only.835 #EFT701", 20.0),
        ("Harbor Health PPO", "next-month.835 #EFT702", 20.0),
        ("Summit Mutual", "summit.835 #EFT701", 20.0),
        ("Harbor Health PPO", "more.835 #EFT701", 21.0),
    ]
    # and each of them, imported again, counts nothing
    repeat = import_remittances(book, payers(), [PLB_ONLY, other])
    assert (repeat.adjustments, repeat.provider_rows) == ([], 0)


def test_the_same_file_twice_in_one_batch_counts_its_provider_adjustments_once() -> None:
    book = memory_book()
    result = import_remittances(book, payers(), [PLB_ONLY, PLB_ONLY])
    assert (len(result.adjustments), result.provider_rows) == (2, 1)
    assert len(claims_records(book)) == 1


def test_a_provider_adjustment_row_is_recognised_under_an_era_name_added_later() -> None:
    """Imported while the payer was unmatched, the row holds the remittance's name; adding it to
    ERA names later does not make the same payment new."""
    unmatched = [[*row[:5], None] for row in PAYERS]  # no ERA names
    book = MemoryBook({"Sessions": SESSIONS, "Payers": unmatched})
    first = import_remittances(book, None, [PLB_ONLY])
    assert first.unmatched_payers == ["HARBOR HEALTH PLAN OF THE NORTHWEST"]
    assert claims_records(book)[0]["Payer"] == "HARBOR HEALTH PLAN OF THE NORTHWEST"
    again = import_remittances(book, payers(), [PLB_ONLY])  # now HHP01 is Harbor Health PPO's
    assert (again.adjustments, again.provider_rows) == ([], 0)
    # so is a file with claims: its PLB items are not counted again
    with_claims = FIXTURES / "harbor-reversal-plb.835"
    assert import_remittances(book, None, [with_claims]).provider_adjustments == Decimal("10.00")
    assert import_remittances(book, payers(), [with_claims]).adjustments == []


def test_cli_reimporting_a_file_of_provider_adjustments_leaves_the_workbook(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    book = write_workbook(tmp_path / "billing.xlsx")
    status, out, _ = run(capsys, "import-era", str(book), str(PLB_ONLY))
    assert status == 0
    assert "plb-only.835 #EFT701: FB (forwarding balance) HHC0009 -$15.00" in out
    assert "total -$20.00" in out
    assert "1 payment without claims added to Claims (Reason PLB-...)" in out
    saved = book.read_bytes()
    status, out, _ = run(capsys, "import-era", str(book), str(PLB_ONLY), "--json")
    assert status == 0
    summary = json.loads(out)
    assert (summary["provider_adjustments"], summary["provider_adjustment_items"]) == (0.0, [])
    assert book.read_bytes() == saved


def test_a_denial_on_a_secondary_claim_is_a_denial() -> None:
    """CLP02 2 with CO-29 (timely filing) or CO-251 (attachment) is the secondary payer's denial."""
    lines = read_remittance(REAL / "emedny_sample.835").lines
    secondary = [(line.claim_status, line.reason, line.status) for line in lines if line.paid == 0]
    assert secondary == [
        ("2", "CO-29", Status.DENIED), ("2", "CO-29", Status.DENIED),
        ("2", "CO-251", Status.DENIED), ("2", "CO-251", Status.DENIED),
    ]  # fmt: skip
    # OA-23 on a secondary claim: the prior payer's payment covers it
    other = read_remittance(FIXTURES / "statuses.835").lines[0]
    assert (other.claim_status, other.reason, other.status) == ("2", "OA-23", Status.OTHER_PAYER)


def remittance_of(*claims: str) -> bytes:
    """An 835 around the given claim segments (CLP, NM1, SVC, CAS, ...), with a right envelope
    and the payment (BPR02) they add up to."""
    paid = sum((Decimal(s.split("*")[4] or 0) for s in claims if s.startswith("CLP*")), Decimal(0)) - sum(
        (Decimal(p) for s in claims if s.startswith("PLB*") for p in s.split("*")[4::2] if p), Decimal(0)
    )
    bpr = f"BPR*I*{abs(paid):.2f}*{'D' if paid < 0 else 'C'}*NON************20260105"
    body = [
        "ST*835*0001", bpr, "TRN*1*T1*1999999999",
        "N1*PR*SUMMIT MUTUAL INSURANCE*XV*SMI77", "N3*100 INVENTED WAY", "N4*SPRINGFIELD*IL*62701",
        "PER*BL*EDI HELP DESK*TE*5555550100", "N1*PE*TEST MASSAGE STUDIO*XX*1234567893", "LX*1",
        *claims,
    ]  # fmt: skip
    segments_ = [
        "ISA*00*          *00*          *ZZ*SMI77          *ZZ*TESTCLINIC     *260105*0900*^*00501*000000001*0*T*:",
        "GS*HP*SMI77*TESTCLINIC*20260105*0900*1*X*005010X221A1",
        *body, f"SE*{len(body) + 1}*0001", "GE*1*1", "IEA*1*000000001",
    ]  # fmt: skip
    return "~\n".join(segments_).encode() + b"~\n"


CLAIM = ("CLP*CN1*1*80*60**12*P1", "NM1*QC*1*HALE*JUNE****MI*M1", "SVC*HC:97124*80*60**2", "CAS*CO*45*20")


def test_a_claim_reversed_and_paid_again_in_a_later_payment_counts_the_new_payment() -> None:
    """A corrected claim (say, a diagnosis fixed) is reversed and reprocessed in a later payment
    under the same claim numbers and amounts: the new payment is money received, not a line
    already imported. Before, it was skipped as a duplicate, so the reversal left the service
    unpaid (Shortfalls showed it all) and the client's coinsurance bill hung on the reversed row."""
    claim = ("CLP*ACCT55*1*80*60*20*12*ICN100", "NM1*QC*1*HALE*JUNE****MI*M1",
             "SVC*HC:97124*80*60**2", "DTM*472*20261020", "CAS*PR*2*20")  # fmt: skip
    reversal = ("CLP*ACCT55*22*-80*-60*-20*12*ICN100", "NM1*QC*1*HALE*JUNE****MI*M1",
                "SVC*HC:97124*-80*-60**-2", "DTM*472*20261020", "CAS*PR*2*-20")  # fmt: skip
    first = read_remittance_text("oct.835", remittance_of(*claim))
    later = remittance_of(*reversal, *claim).replace(b"TRN*1*T1*", b"TRN*1*T2*")
    book = memory_book()
    import_remittances(book, payers(), [first])
    result = import_remittances(book, payers(), [read_remittance_text("nov.835", later)])
    assert (result.added, result.duplicates) == (2, 0)
    records = claims_records(book)
    assert [(r["Status"], r["Paid"], r["Source"]) for r in records] == [
        ("Paid", 60, "oct.835 #T1"), ("Reversed", -60, "nov.835 #T2"), ("Paid", 60, "nov.835 #T2"),
    ]  # fmt: skip
    loaded = load(book)
    assert [(i.row, i.reason, i.amount) for i in follow_ups(loaded.claims or [], loaded.payers)] == [
        (4, "PR-2", 20)
    ]
    # either file imported again adds nothing; nor does the same payment under another file name
    again = import_remittances(
        book,
        payers(),
        [first, read_remittance_text("nov (1).835", later), read_remittance_text("nov.835", later)],
    )
    assert (again.added, again.duplicates) == (0, 5)


def test_a_payment_saved_again_under_a_name_with_a_hash_is_not_imported_twice() -> None:
    """Source is `file #check`: a file name holding ` #` (Windows allows it: `remit #3.835`) must
    not make the check/EFT number differ when the same payment comes again under another name."""
    data = remittance_of(*CLAIM)
    book = memory_book()
    assert import_remittances(book, payers(), [read_remittance_text("remit #3.835", data)]).added == 1
    again = import_remittances(book, payers(), [read_remittance_text("remit #3 (1).835", data)])
    assert (again.added, again.duplicates) == (0, 1)


def test_prompt_pay_interest_and_claim_reductions_go_to_the_paid_lines_not_a_denied_one() -> None:
    """Interest (AMT*I) paid in CLP04 on a claim with a paid and a denied line: shared by billed
    amount, it made the denied 97140 line `Partial`, paid 1.00, and taught the payer's history
    that 97140 was paid. It belongs to what was paid late: the paid lines."""
    lines = read_remittance_text(
        "interest.835",
        remittance_of(
            "CLP*INT1*1*160*62**12*P1", "NM1*QC*1*HALE*JUNE****MI*M1", "AMT*I*2.00",
            "SVC*HC:97124*80*60**2", "DTM*472*20260105", "CAS*CO*45*20",
            "SVC*HC:97140*80*0**2", "DTM*472*20260105", "CAS*CO*50*80",
        ),
    ).lines  # fmt: skip
    assert [(line.code, line.paid, line.status) for line in lines] == [
        ("97124", 62, Status.PAID), ("97140", 0, Status.DENIED),
    ]  # fmt: skip
    # a claim-level reduction (CO-253 on the claim) likewise comes off the paid line only, as
    # x12sdk's 835 generator (PyPI) balances a claim: CLP04 = the lines' SVC03 less the claim's CAS
    generated = read_remittance(REAL / "x12sdk-claim-level.835").lines
    assert [(line.code, line.paid, line.status) for line in generated] == [
        ("97124", Decimal("58.80"), Status.PAID), ("97140", 0, Status.DENIED),
    ]  # fmt: skip
    lines = read_remittance_text(
        "claim-reduction.835",
        remittance_of(
            "CLP*SQ1*1*160*58.80**12*P2", "CAS*CO*253*1.20", "NM1*QC*1*HALE*JUNE****MI*M1",
            "SVC*HC:97124*80*60**2", "DTM*472*20260105", "CAS*CO*45*20",
            "SVC*HC:97140*80*0**2", "DTM*472*20260105", "CAS*CO*50*80",
        ),
    ).lines  # fmt: skip
    assert [(line.code, line.paid, line.status) for line in lines] == [
        ("97124", Decimal("58.80"), Status.PAID), ("97140", 0, Status.DENIED),
    ]  # fmt: skip


def test_a_claim_level_deductible_goes_to_the_paid_line_not_to_a_line_denied_to_the_provider() -> None:
    """A claim-level PR-1 on a claim with a paid and a denied line: shared by billed amount, it made
    the client owe 15.00 on the 97140 the payer denied to the provider (CO-50, never the client's
    to pay) and only 15.00 of the 30.00 on the paid line. Each row now adds up: billed less paid
    equals its adjustments."""
    lines = read_remittance_text(
        "claim-deductible.835",
        remittance_of(
            "CLP*PR1*1*200*50**12*P3", "CAS*PR*1*30", "NM1*QC*1*HALE*JUNE****MI*M1",
            "SVC*HC:97124*100*80**2", "DTM*472*20260105", "CAS*CO*45*20",
            "SVC*HC:97140*100*0**2", "DTM*472*20260105", "CAS*CO*50*100",
        ),
    ).lines  # fmt: skip
    assert [(line.code, line.paid, line.status, line.adjusted, line.patient_owes) for line in lines] == [
        ("97124", 50, Status.PAID, "CO-45 20.00; PR-1 30.00", 30),
        ("97140", 0, Status.DENIED, "CO-50 100.00", 0),
    ]
    for line in lines:
        assert line.billed - line.paid == sum(a.amount for a in line.adjustments)


def test_a_reversal_takes_back_each_line_what_its_original_gave_it() -> None:
    """A reversal (CLP02 22) negates its original's amounts: its claim-level adjustments and what
    CLP04 differs from its lines must go to the lines the original's went to. Shared by billed
    amount instead, the denied 97140 was "paid" 15.00 by the reversal and the 97124 kept 15.00 of a
    payment the payer took back."""
    original = ("CLP*RV1*1*200*30**12*P9", "CAS*PR*1*30", "NM1*QC*1*HALE*JUNE****MI*M1",
                "SVC*HC:97124*100*60**2", "DTM*472*20260105", "CAS*CO*45*40",
                "SVC*HC:97140*100*0**2", "DTM*472*20260105", "CAS*CO*96*100")  # fmt: skip
    reversal = ("CLP*RV1*22*-200*-30**12*P9", "CAS*PR*1*-30", "NM1*QC*1*HALE*JUNE****MI*M1",
                "SVC*HC:97124*-100*-60**-2", "DTM*472*20260105", "CAS*CO*45*-40",
                "SVC*HC:97140*-100*0**-2", "DTM*472*20260105", "CAS*CO*96*-100")  # fmt: skip
    lines = read_remittance_text("reversal.835", remittance_of(*original, *reversal)).lines
    given, taken = lines[:2], lines[2:]
    assert [(line.paid, line.adjusted) for line in given] == [
        (30, "CO-45 40.00; PR-1 30.00"),
        (0, "CO-96 100.00"),
    ]
    for was, back in zip(given, taken, strict=True):
        assert (back.paid, back.patient_owes) == (-was.paid, -was.patient_owes)
        assert [(a.code, a.amount) for a in back.adjustments] == [
            (a.code, -a.amount) for a in was.adjustments
        ]
        assert back.status is Status.REVERSED


def test_a_control_number_that_differs_in_a_trailer_is_a_warning() -> None:
    """IEA02, GE02 and SE02 other than their headers' lose no data: pyx12's findings, the file read."""
    data = remittance_of(*CLAIM)
    for old, new in (
        (b"IEA*1*000000001", b"IEA*1*000000002"),
        (b"GE*1*1", b"GE*1*7"),
        (b"*0001~\nGE", b"*0009~\nGE"),
    ):
        assert old in data
        data = data.replace(old, new)
    remittance = read_remittance_text("sloppy.835", data)
    assert [line.paid for line in remittance.lines] == [Decimal(60)]
    assert remittance.warnings == (  # each once, at its trailer
        "sloppy.835: segment SE at line 16: the SE control number does not match the ST",
        "sloppy.835: segment GE at line 17: the GE control number does not match the GS",
        "sloppy.835: segment IEA at line 18: the IEA control number does not match the ISA",
    )


def test_an_isa_without_its_padding_is_validated_by_pyx12() -> None:
    """Some senders trim the ISA's fixed-width fields; pyx12 reads only a padded ISA."""
    data = (
        remittance_of(*CLAIM)
        .replace(
            b"ISA*00*          *00*          *ZZ*SMI77          *ZZ*TESTCLINIC     *",
            b"ISA*00* *00* *ZZ*SMI77 *ZZ*TESTCLINIC*",
        )
        .replace(b"*000000001*0*T*", b"*1*0*T*")
        .replace(b"IEA*1*000000001", b"IEA*1*1")
    )
    remittance = read_remittance_text("trimmed.835", data)
    assert remittance.warnings == () and [line.paid for line in remittance.lines] == [Decimal(60)]


def test_a_5010_remittance_in_an_interchange_marked_00401_is_read() -> None:
    """GS08 says what the transactions are; an ISA12 left at 00401 by the sender does not make it 4010."""
    data = remittance_of(*CLAIM).replace(b"*^*00501*", b"*U*00401*")
    remittance = read_remittance_text("old-envelope.835", data)
    assert [line.paid for line in remittance.lines] == [Decimal(60)]
    assert remittance.warnings == ()  # pyx12 checked it (it cannot read an 00401 ISA around 5010)


def test_reason_23_in_any_group_is_the_other_payer() -> None:
    """CO-23 (some Medicaid plans) says what OA-23 says: the prior payer's payment covers it."""
    lines = read_remittance_text(
        "medicaid.835",
        remittance_of(
            "CLP*MC1*2*100*10**MC*P1", "NM1*QC*1*HALE*JUNE****MI*M1",
            "SVC*HC:97124*60*0**1", "CAS*CO*23*40**45*20",  # the prior payer paid it: nothing more
            "SVC*HC:97124*40*10**1", "CAS*CO*23*20**45*10",  # part paid after the prior payer: not a cut
        ),
    ).lines  # fmt: skip
    assert [(line.paid, line.status) for line in lines] == [
        (Decimal(0), Status.OTHER_PAYER), (Decimal(10), Status.PAID),
    ]  # fmt: skip


def test_a_line_below_zero_only_by_its_share_of_the_claim_is_not_a_reversal() -> None:
    lines = read_remittance_text(
        "recoup.835",
        remittance_of(
            "CLP*RC1*1*100*30**12*P2", "CAS*OA*94*10", "NM1*QC*1*HALE*JUNE****MI*M1",
            "SVC*HC:97124*50*40**1", "CAS*CO*45*10",
            "SVC*HC:97140*50*0**1", "CAS*CO*204*50",
        ),
    ).lines  # fmt: skip
    assert sum(line.paid for line in lines) == Decimal(30)  # Paid adds up to CLP04
    # the claim's reduction comes off the paid line; the denied line's Paid stays 0
    assert [(line.paid, line.status) for line in lines] == [(30, Status.PAID), (0, Status.DENIED)]
    lines = read_remittance_text(
        "recoup.835",
        remittance_of(
            "CLP*RC2*1*100*-5**12*P3", "CAS*OA*94*10", "NM1*QC*1*HALE*JUNE****MI*M1",
            "SVC*HC:97124*50*5**1", "CAS*CO*45*45",
            "SVC*HC:97140*50*0**1", "CAS*CO*204*50",
        ),
    ).lines  # fmt: skip
    assert lines[0].paid < 0 and lines[0].status != Status.REVERSED


def test_a_line_denied_on_a_forwarded_claim_is_denied() -> None:
    """CLP02 19 (paid as primary, forwarded to the next payer): the client's share goes on, but a
    line the payer denied with its own reason (CO-B15, paid 0) is this payer's denial to work.

    Found in a Medicare (Novitas) crossover remittance, where it read as Forwarded.
    """
    lines = read_remittance_text(
        "crossover.835",
        remittance_of(
            "CLP*XO1*19*180*40*10*MB*P3", "NM1*QC*1*HALE*JUNE****MI*M1",
            "NM1*TT*2*MEDIGAP PLAN*****PI*30002", "MOA***MA18",
            "SVC*HC:97140*100*0**1", "CAS*CO*B15*100",  # denied by this payer: not forwarded
            "SVC*HC:97124*80*40**1", "CAS*CO*45*28.7**253*1.3", "CAS*PR*2*10",  # the share goes on
            "CLP*XO2*23*80*0**MB*P4", "NM1*QC*1*HALE*JUNE****MI*M1",  # not ours: forwarded
            "SVC*HC:97124*80*0**1", "CAS*CO*109*80",
        ),
    ).lines  # fmt: skip
    assert [(line.code, line.status) for line in lines] == [
        ("97140", Status.DENIED), ("97124", Status.FORWARDED), ("97124", Status.FORWARDED),
    ]  # fmt: skip


def test_lines_are_counted_from_the_top_of_the_file_even_after_blank_lines() -> None:
    """A file that begins with blank lines (an 835 pasted from a program's string, indented):
    a message names the line an editor shows."""
    data = remittance_of(*CLAIM).replace(b"SE*14*0001", b"SE*15*0001")
    assert (
        "flat.835: segment SE at line 16: segment count is wrong (SE01 says 15, the transaction has 14)"
        in (read_remittance_text("flat.835", data).warnings[0])
    )
    indented = b"\n\n" + b"\n".join(b"\t\t" + line for line in data.split(b"\n"))
    assert (
        "segment SE at line 18: segment count is wrong"
        in read_remittance_text("indented.835", indented).warnings[0]
    )


def test_a_payment_that_does_not_add_up_is_a_warning() -> None:
    """A billing office checks the check or EFT against the remittance: the claims paid (CLP04)
    less the provider adjustments (PLB) make the payment (BPR02). A file that does not add up is
    read, with a warning naming its BPR; one that adds up (a debit, BPR03 D, too) has none."""
    assert read_remittance_text("balanced.835", remittance_of(*CLAIM)).warnings == ()
    unbalanced = remittance_of(*CLAIM).replace(b"BPR*I*60.00*", b"BPR*I*75*")
    remittance = read_remittance_text("unbalanced.835", unbalanced)
    assert [line.paid for line in remittance.lines] == [Decimal(60)]
    assert remittance.warnings == (
        "unbalanced.835: segment BPR at line 4: the claims paid (CLP04) less the provider adjustments "
        "(PLB) come to 60.00, not the payment's 75.00; check the payment against the check or EFT",
    )
    debit = remittance_of(
        "CLP*CN1*22*-80*-60**12*P1", "NM1*QC*1*HALE*JUNE****MI*M1", "SVC*HC:97124*-80*-60**2",
        "CAS*CO*45*-20",
    )  # fmt: skip
    assert b"BPR*I*60.00*D*" in debit
    assert read_remittance_text("debit.835", debit).warnings == ()
    wrong_way = debit.replace(b"BPR*I*60.00*D*", b"BPR*I*60.00*C*")
    assert "come to -60.00, not the payment's 60.00" in read_remittance_text("c.835", wrong_way).warnings[0]


def test_claim_adjustments_that_repeat_the_lines_are_counted_once() -> None:
    """An 835 balances each claim: billed less paid (CLP03 - CLP04) is all its adjustments, the
    claim's and its lines'. Some files repeat the lines' CAS at the claim (seen in public samples:
    CO-4 on the claim and on its one line). When the lines alone balance the claim, the claim's
    CAS are the same money: counted once, with a warning; the client owes and the amount at
    stake are not doubled."""
    repeated = remittance_of(
        "CLP*RP1*1*5640*2820**13*P5*11*1", "CAS*CO*4*2820", "NM1*QC*1*HALE*JUNE****MI*M1",
        "SVC*HC:97124*5640*2820**1", "DTM*472*20260105", "CAS*CO*4*2820",
        "CLP*RP2*1*2000*1500.50*499.50*15*P6*11*1", "CAS*PR*2*499.50", "NM1*QC*1*HALE*JUNE****MI*M1",
        "SVC*HC:97124*1200*800**1", "DTM*472*20260105", "CAS*PR*2*400",
        "SVC*HC:97140*800*700.50**1", "DTM*472*20260105", "CAS*CO*45*99.50",
    )  # fmt: skip
    remittance = read_remittance_text("repeated.835", repeated)
    assert [(line.adjusted, line.patient_owes) for line in remittance.lines] == [
        ("CO-4 2820.00", Decimal(0)), ("PR-2 400.00", Decimal(400)), ("CO-45 99.50", Decimal(0)),
    ]  # fmt: skip
    assert remittance.warnings == (
        "repeated.835: segment CAS at line 13: the claim's adjustments repeat its service lines' "
        "(the lines alone make its billed less paid); counted once",
        "repeated.835: segment CAS at line 19: the claim's adjustments repeat its service lines' "
        "(the lines alone make its billed less paid); counted once",
    )
    # prompt-pay interest (AMT*I) included in the claim's payment: it still balances
    interest = remittance_of(
        "CLP*IN1*1*80*61.25**12*P1", "NM1*QC*1*HALE*JUNE****MI*M1", "AMT*I*1.25",
        "SVC*HC:97124*80*60**2", "CAS*CO*45*20",
    )  # fmt: skip
    assert read_remittance_text("interest.835", interest).warnings == ()
    # adjustments that add up to neither: read as they are, with a warning
    short = remittance_of(*CLAIM[:3], "CAS*CO*45*15")
    assert read_remittance_text("short.835", short).warnings == (
        "short.835: segment CLP at line 12: the claim's adjustments (CAS) come to 15.00, "
        "not its billed less paid (20.00)",
    )


def test_an_835_group_with_another_functional_id_is_read() -> None:
    """GS01 other than HP around 835 transactions (GS08 005010X221A1, ST01 835), as in a public
    sample whose group header was copied from an 837's (GS*HC): nothing is lost, it is read, and
    pyx12 names the group. A group of 837s stays refused (tests BROKEN, claim.837)."""
    data = remittance_of(*CLAIM).replace(b"GS*HP*", b"GS*HC*")
    remittance = read_remittance_text("hc-group.835", data)
    assert [line.paid for line in remittance.lines] == [Decimal(60)]
    assert remittance.warnings == (
        "hc-group.835: segment GS at line 2: GS01 is HC, not HP; read as 835 remittances, as its GS08 "
        "and ST say",
    )


def test_lower_case_codes_and_padded_segments_read_as_the_same_remittance() -> None:
    """Hand-edited and re-wrapped files: segment IDs, qualifiers and codes in lower case (`isa`,
    `n1*pr`, `hc:97124:gp`, `ref*6r`), and spaces padding each segment before its terminator
    (also after ISA16). They mean what the upper-case, unpadded file means."""
    plain = remittance_of(
        "CLP*LC1*1*80*60**12*P1", "NM1*QC*1*HALE*JUNE****MI*M1", "SVC*HC:97124:GP*80*60**2",
        "DTM*472*20260105", "CAS*CO*45*20", "REF*6R*7",
    )  # fmt: skip

    def read(name: str, data: bytes) -> list[str]:  # names as written: compared in upper case
        return [
            repr(line.model_dump(exclude={"source"})).upper()
            for line in read_remittance_text(name, data).lines
        ]

    expected = read("a.835", plain)
    assert "'MODIFIERS': ('GP',)" in expected[0] and "'LINE': '7'" in expected[0]
    assert read("lower.835", plain.lower()) == expected
    assert read("padded.835", plain.replace(b"~", b"   ~")) == expected
    # and pyx12 checks the lower-case file as the upper-case one (it knew no `005010x221a1` map:
    # "pyx12 could not check it")
    assert read_remittance_text("a.835", plain.lower()).warnings == ()


def test_wild_shaped_remittances_read_with_their_statuses_and_follow_ups() -> None:
    """The shapes of the second wild pass, read as a billing office would: a crossover claim's
    paid lines are Forwarded with the client's share, its denied line Denied; two lines of one
    code on one day are two follow-up items; PI-16 asks for a corrected claim, CO-197 for a
    retro-authorization; each payment adds up to its BPR02, so no warning."""
    book, result = imported(*(FIXTURES / name for name in WILD))
    assert result.warnings == []
    assert result.provider_adjustments == Decimal("-0.42")  # L6 interest adds to the payment
    got = [
        (r["Claim ID"], r["Line"], r["Code"], r["Modifiers"], r["Status"], r["Paid"])
        for r in claims_records(book)
    ]
    assert got == [
        ("WX2001", 1, "97140", "GP", "Denied", 0.0), ("WX2001", 2, "97140", "GP, 59", "Denied", 0.0),
        ("WX2002", 1, "97124", "GP", "Denied", 0.0),
        ("WX2003", 1, "97140", "GP", "Forwarded", 83.02), ("WX2003", 2, "97124", "GP", "Denied", 0.0),
        ("WX2004", 1, "97140", "GP", "Forwarded", 41.51),
        ("WP3001", 1, "97140", "GP", "Denied", 0.0), ("WP3001", 2, "97140", "GP", "Denied", 0.0),
        ("WP3002", 1, "97124", None, "Denied", 0.0), ("WP3002", 2, "97124", None, "Denied", 0.0),
    ]  # fmt: skip
    loaded = load(book)
    items = follow_ups(loaded.claims or [], loaded.payers)
    assert [(i.claim_id, i.code, i.reason, i.amount, i.action.split(" ")[0]) for i in items] == [
        ("WX2001", "97140", "CO-151", 60, "Appeal"), ("WX2001", "97140", "CO-151", 60, "Appeal"),
        ("WX2002", "97124", "CO-50", 80, "Appeal"),
        ("WX2003", "97140", "CO-45; CO-253; PR-2", Decimal("21.28"), "Wait"),
        ("WX2003", "97124", "CO-204", 80, "Bill"),
        ("WX2004", "97140", "CO-45; CO-253; PR-2", Decimal("10.64"), "Wait"),
        ("WP3001", "97140", "PI-16", 90, "Send"), ("WP3001", "97140", "PI-16", 90, "Send"),
        ("WP3002", "97124", "CO-197", 80, "Ask"), ("WP3002", "97124", "CO-197", 80, "Ask"),
    ]  # fmt: skip


def test_third_pass_shapes_read_with_their_statuses_and_follow_ups() -> None:
    """The third pass's shapes, read as a billing office would: each payment adds up (no
    warning, and pyx12 finds nothing), each line has the status and the next step its reasons
    call for, and importing them again adds nothing."""
    paths = [FIXTURES / name for name in WILD3]
    book, result = imported(*paths)
    assert (result.added, result.warnings) == (23, [])
    assert result.provider_adjustments == Decimal("18.58")  # WO 15.00 + FB 12.00 - L6, CS, 72
    got = [(r["Claim ID"], r["Line"], r["Modifiers"], r["Status"], r["Paid"]) for r in claims_records(book)]
    assert got == [
        ("EVG1001", 1, "GP", "Paid", 53.02), ("EVG1002", 1, "GP", "Paid", 41.52),  # CO-253, CO-59
        ("EVG1002", 2, "GP, 59", "Denied", 0.0), ("EVG1003", 1, "GP", "Forwarded", 53.02),
        ("HHC0101", 1, None, "Reversed", -67.0), ("HHC0101", 1, None, "Paid", 60.0),
        ("HHC0102", 1, None, "Paid", 68.37),  # with its prompt-pay interest (AMT*I)
        ("HHC0103", 1, None, "Patient", 0.0), ("HHC0104", 1, None, "Denied", 0.0),
        ("HHC0105", 1, None, "Denied", 0.0), ("HHC0106", 1, "GP, 59, KX, XS", "Partial", 67.0),
        ("HHC0107", 1, "LT", "Paid", 67.0), ("HHC0107", 2, "RT", "Denied", 0.0),
        ("CWC01", 1, None, "Paid", 91.2), ("CWC02", 1, None, "Denied", 0.0), ("CWC03", 1, None, "Paid", 68.4),
        ("lap01", 1, None, "Paid", 135.0), ("lap02", 1, None, "Denied", 0.0),
        ("SMC0201", 1, None, "Other payer", 0.0), ("SMC0202", 1, None, "Denied", 0.0),
        ("SMC0203", 1, None, "Paid", 52.0),
        ("SPL01", 1, None, "Denied", 0.0), ("SPL01", 1, None, "Paid", 45.0),
    ]  # fmt: skip
    assert [(r["Code"], r["Billed code"]) for r in claims_records(book) if r["Claim ID"] == "CWC03"] == [
        ("97124", "97140")
    ]
    loaded = load(book)
    items = follow_ups(loaded.claims or [], loaded.payers)
    assert [(i.claim_id, i.reason, i.amount, i.action.split(" ")[0]) for i in items] == [
        ("EVG1001", "PR-2", Decimal("13.90"), "Bill"), ("EVG1002", "PR-2", Decimal("12.85"), "Bill"),
        ("EVG1002", "CO-50", 80, "Appeal"), ("EVG1003", "CO-45; CO-253; PR-2", Decimal("13.90"), "Wait"),
        ("HHC0101", "PR-3", 7, "Bill"), ("HHC0103", "PR-1", 67, "Bill"), ("HHC0104", "CO-16", 90, "Send"),
        ("HHC0105", "CO-197", 135, "Ask"), ("HHC0106", "CO-151", 67, "Appeal"),
        ("HHC0107", "CO-151", 90, "Appeal"), ("CWC02", "CO-216", 120, "Look"), ("lap02", "PI-P14", 180, "Look"),
        ("SMC0202", "CO-24", 80, "Nothing"), ("SPL01", "CO-119", 60, "Check"),
    ]  # fmt: skip
    again = import_remittances(book, payers(), paths)
    assert (again.added, again.duplicates, again.adjustments) == (0, 23, [])


def test_provider_adjustment_codes_written_with_another_component_separator() -> None:
    """PLB03 composites written with `>` where ISA16 declares `:` (as SVC01 `HC>97124` in public
    files), whatever the reason code: a letter pair (WO), digits (72) or both (B2)."""
    plbs = ("PLB*1234567893*20261231*72>RA0001*-14", "PLB*1234567893*20261231*WO>RA0001*14*B2>RA0002*5")
    remittance = read_remittance_text("plb.835", remittance_of(*CLAIM, *plbs))
    assert [(a.reason, a.reference, a.amount) for a in remittance.adjustments] == [
        ("72", "RA0001", Decimal(-14)), ("WO", "RA0001", Decimal(14)), ("B2", "RA0002", Decimal(5)),
    ]  # fmt: skip


def test_a_multiple_procedure_reduction_is_routine_not_a_cut() -> None:
    """CO-59 (multiple or concurrent procedure rules) is how Medicare's multiple procedure
    payment reduction for therapy codes (97140, 97124: "always therapy") shows on an 835, as in
    a Novitas remittance: the payer's policy, like the contractual CO-45, so the line is Paid."""
    lines = read_remittance_text(
        "mppr.835",
        remittance_of(
            "CLP*MP1*1*120*70.38**MB*P7*11*1", "NM1*QC*1*HALE*JUNE****MI*M1",
            "SVC*HC:97140:GP*60*41.51**1", "CAS*CO*45*17.66**253*0.83",
            "SVC*HC:97124:GP*60*28.87**1", "CAS*CO*45*17.66**253*0.58**59*12.89",
        ),
    ).lines  # fmt: skip
    assert [(line.code, line.status) for line in lines] == [("97140", Status.PAID), ("97124", Status.PAID)]


def test_a_managed_care_withhold_is_not_a_cut() -> None:
    """CO-104 (a managed-care withhold) is the contract at work, like CO-45: the line is Paid."""
    lines = read_remittance_text(
        "withhold.835",
        remittance_of(
            "CLP*WH1*1*80*54**12*P8", "NM1*QC*1*HALE*JUNE****MI*M1",
            "SVC*HC:97124*80*54**2", "CAS*CO*45*20**104*6",
        ),
    ).lines  # fmt: skip
    assert [(line.code, line.status) for line in lines] == [("97124", Status.PAID)]


def test_fee_schedule_write_downs_of_workers_comp_auto_and_networks_are_not_cuts() -> None:
    """A workers' comp payer (CLP06 WC) writes its state fee schedule down as CO-P12, an auto
    medical (PIP) payer as CO-P23, a repricing network as CO-131 (X12's dental sample in badx12):
    the line is Paid and nothing is to be followed up; a PIP limit reached (PI-P14) is a denial."""
    remittance = read_remittance_text(
        "fee-schedules.835",
        remittance_of(
            "CLP*WC1*1*120*86.40**WC*P9", "NM1*QC*1*HALE*JUNE****MI*M1",
            "SVC*HC:97124*120*86.40**4", "CAS*CO*P12*33.60",
            "CLP*AU1*1*90*64.80**AM*P10", "NM1*QC*1*HALE*JUNE****MI*M1",
            "SVC*HC:97140*90*64.80**3", "CAS*CO*P23*25.20",
            "CLP*NW1*1*80*62**12*P11", "NM1*QC*1*HALE*JUNE****MI*M1",
            "SVC*HC:97124*80*62**2", "CAS*CO*131*18",
            "CLP*AU2*1*90*0**AM*P12", "NM1*QC*1*HALE*JUNE****MI*M1",
            "SVC*HC:97140*90*0**3", "CAS*PI*P14*90",
        ),
    )  # fmt: skip
    assert [(line.claim_id, line.status) for line in remittance.lines] == [
        ("WC1", Status.PAID), ("AU1", Status.PAID), ("NW1", Status.PAID), ("AU2", Status.DENIED),
    ]  # fmt: skip
    book = memory_book()
    import_remittances(book, payers(), [remittance])
    loaded = load(book)
    found = follow_ups(loaded.claims or [], loaded.payers)
    assert [(item.claim_id, item.reason, item.amount) for item in found] == [("AU2", "PI-P14", 90)]


def test_reversals_net_out_in_the_claim_history() -> None:
    original = [
        list(c.CLAIMS_COLUMNS[:13]),
        [dt.date(2026, 9, 15), "Avery Quinn", "Harbor Health PPO", "97140", 2, 90, 67, "Paid", "CO-45",
         None, None, "HHC0001", None],
    ]  # fmt: skip
    book = memory_book(original)
    before = load(book).history[(name_key("Harbor Health PPO"), "97140")]
    assert (before.paid_total, before.paid_units) == (Decimal(67), 2)
    imported(FIXTURES / "harbor-reversal-plb.835", book=book)
    after = load(book).history[(name_key("Harbor Health PPO"), "97140")]
    assert after.paid_total == 0
    assert after.paid_units == 0
    assert after.reversed == 1


def test_two_transactions_and_payer_matching() -> None:
    remittance = read_remittance(FIXTURES / "two-transactions.835")
    assert remittance.transactions == 2
    assert [line.source for line in remittance.lines] == [
        "two-transactions.835 #EFT1001",
        "two-transactions.835 #CHK77001",
    ]
    book, result = imported(FIXTURES / "two-transactions.835")
    # "Evergreen  MA" matches the ERA name "EVERGREEN MA" ignoring case and spaces;
    # Pinecrest is on no Payers row: imported under its remittance name and reported
    assert [r["Payer"] for r in claims_records(book)] == [
        "Evergreen Medicare Advantage",
        "PINECREST HEALTH PLAN",
    ]
    assert result.unmatched_payers == ["PINECREST HEALTH PLAN"]


def test_payers_are_read_from_the_book_when_not_given() -> None:
    book = memory_book()
    import_remittances(book, None, [FIXTURES / "two-transactions.835"])
    assert claims_records(book)[0]["Payer"] == "Evergreen Medicare Advantage"


def test_era_names_added_later_fix_earlier_rows_when_claims_are_read() -> None:
    book, _ = imported(FIXTURES / "two-transactions.835")
    assert claims_records(book)[1]["Payer"] == "PINECREST HEALTH PLAN"
    book.sheets["Payers"] = [*PAYERS, ["Pinecrest", "97124", None, 30, None, "PCH09, Pinecrest Health Plan"]]
    claims = load(book).claims or []
    assert [claim.payer for claim in claims] == ["Evergreen Medicare Advantage", "Pinecrest"]
    # the sheet itself is left as it was
    assert claims_records(book)[1]["Payer"] == "PINECREST HEALTH PLAN"


def test_importing_twice_adds_nothing() -> None:
    files = [FIXTURES / name for name in BUILT]
    book, first = imported(*files)
    assert (first.lines, first.added, first.duplicates) == (37, 37, 0)
    rows = book.read("Claims")
    second = import_remittances(book, payers(), files)
    assert (second.lines, second.added, second.duplicates) == (37, 0, 37)
    assert second.adjustments == []  # provider adjustments counted once
    assert book.read("Claims") == rows


def test_a_file_repeated_in_one_batch_counts_as_duplicates() -> None:
    path = FIXTURES / "summit-paid-denied.835"
    _, result = imported(path, path)
    assert (result.files, result.lines, result.added, result.duplicates) == (2, 8, 4, 4)


def test_other_patients_lines_with_the_same_claim_numbers_are_kept(tmp_path: Path) -> None:
    # one payer reusing a claim number for another patient, line and amounts alike (the file
    # resent with it corrected; in another payment, the lines met again are paid again: see
    # test_a_claim_reversed_and_paid_again_in_a_later_payment_counts_the_new_payment)
    text = (FIXTURES / "summit-paid-denied.835").read_text()
    other = tmp_path / "other-patient.835"
    other.write_text(text.replace("*PIKE*JORDAN*", "*STONE*ADA*"))
    book, _ = imported(FIXTURES / "summit-paid-denied.835")
    _, result = imported(other, book=book)
    assert (result.added, result.duplicates) == (1, 3)
    assert claims_records(book)[-1]["Client"] == "ADA STONE"


def test_an_existing_claims_sheet_keeps_its_layout() -> None:
    header = ["Status", "Date", "Client", "Payer", "Code", "Units", "Billed", "Paid", "Reason", "Notes"]
    typed = ["Paid", dt.date(2026, 9, 1), "Owen Brooks", "Summit Mutual", "97140", 3, 85, 61, None, "typed"]
    book = memory_book([header, typed, [None] * len(header)])
    imported(FIXTURES / "summit-paid-denied.835", book=book)
    rows = book.read("Claims")
    added_columns = [name for name in c.CLAIMS_COLUMNS if name not in header]
    assert rows[0] == [*header, *added_columns]
    assert rows[1] == typed
    assert rows[2] == [None] * len(header)
    index = column_index(rows[0])
    assert book.formats[("Claims", index["billed"] + 1)] == MONEY_FORMAT
    added = rows[3]
    assert (added[index["code"]], added[index["units"]], added[index["billed"]]) == ("97124", 2, 80.0)
    assert added[index["status"]] == "Paid"
    assert added[index["client"]] == "JORDAN PIKE"
    assert added[index["claim id"]] == "PK1005"
    assert added[index["source"]] == "summit-paid-denied.835 #EFT501"
    assert added[index["notes"]] is None
    assert len(rows) == 3 + 4


def test_lines_already_typed_with_their_claim_id_are_not_added_again() -> None:
    # typed with the payer's claim number (CLP07), as earlier versions imported it
    typed = [dt.date(2026, 10, 6), "Casey Morrow", "Summit Mutual", "97140", 2, 70, 0, "Denied", "CO-97",
             None, None, "SMC0002", None, 1, None, None]  # fmt: skip
    book = memory_book([list(c.CLAIMS_COLUMNS[:16]), typed])
    result = import_remittances(book, payers(), [FIXTURES / "summit-paid-denied.835"])
    assert (result.added, result.duplicates) == (3, 1)


def test_import_then_recode_codes_the_payer_by_what_the_era_showed() -> None:
    book = memory_book()
    plan, _ = recode(book)
    assert plan.results[0].code == "97140"  # no history, no Preferred: the default code
    imported(FIXTURES / "summit-paid-denied.835", book=book)  # 97140 denied, 97124 paid
    plan, _ = recode(book)
    assert plan.results[0].code == "97124"
    assert book.read("Sessions")[1][5] == "97124"
    learned = book.read("Payers")
    assert learned[1][-1].startswith("97124")  # the Learned column says why


@pytest.mark.parametrize("name", REAL_WORLD + PACKAGED)
def test_real_world_files_add_up_to_the_payment(name: str) -> None:
    """Paid over the file's rows, less its provider adjustments, is the payment (BPR02)."""
    path = REAL / name
    remittance = read_remittance(path)
    found = segments(decode(path.read_bytes()))[0]
    payment = sum((Decimal(s.get(2)) for s in found if s.id == "BPR"), Decimal(0))
    paid = sum((line.paid for line in remittance.lines), Decimal(0))
    assert paid - remittance.provider_adjustments == payment
    assert all(line.client and line.payer for line in remittance.lines)


def test_real_world_files_import_with_their_details() -> None:
    book, result = imported(*(REAL / name for name in REAL_WORLD))
    assert (result.added, result.duplicates) == (15 + 9, 0)
    records = claims_records(book)
    uhc = [r for r in records if r["Payer"] == "UNITED HEALTHCARE INSURANCE COMPANY"]
    # the ">" component separator; a deductible on a $0 line; CAS with two reasons
    assert [r["Code"] for r in uhc] == ["B4152", "B4152", "B4154", "B4034", "B4154"]
    assert (uhc[1]["Status"], uhc[1]["Patient owes"]) == ("Patient", 105.26)
    assert uhc[4]["Adjusted"] == "PR-2 5.13; PR-1 110.00; CO-45 184.32"
    assert (
        "united_healthcare_legacy_sample.835: segment N4 at line 1: element N402 (Payee State Code) "
        "is not a valid code"
    ) in result.warnings
    # claim-level CAS on claims with lines (LinuxForHealth managed care): Paid equals CLP04
    managed = [r for r in records if r["Payer"] == "RUSHMORE LIFE"]
    assert [(r["Paid"], r["Patient owes"], r["Status"]) for r in managed] == [
        (450.0, 300.0, "Paid"), (495.0, 600.0, "Paid"),
    ]  # fmt: skip
    # claims without service lines (Medicare Part A), the payer by REF*2U
    part_a = [r for r in records if r["Payer"] == "INSURANCE COMPANY OF TIMBUCKTU"]
    assert [(r["Code"], r["Paid"]) for r in part_a] == [(None, 138018.4), (None, 11980.33)]
    assert result.adjustments[-1].reason == "CV" and result.adjustments[-1].amount == Decimal("-1.27")
    with pytest.raises(CptbillError, match="segment ISA at line 1"):  # a bare ST, no envelope
        read_remittance(REAL / "blue_cross_nc_sample.835")


def test_a_real_world_file_of_claims_sharing_one_claim_number_keeps_every_follow_up() -> None:
    """X12's dental sample (in badx12): nine patients' claims under one CLP01 and CLP07, paid
    with CO-131 discounts. Every line is its own row, the discounts are no cut (Paid), the $0
    lines with a copay are the client's (Patient), and every copay is a client bill."""
    book, result = imported(REAL / "badx12-multiple-claims-single-check.835")
    assert (result.added, result.duplicates, result.warnings) == (33, 0, [])
    records = claims_records(book)
    assert Counter(r["Status"] for r in records) == {"Paid": 27, "Patient": 5, "Denied": 1}
    loaded = load(book)
    found = follow_ups(loaded.claims or [], loaded.payers)
    bills = [(i.client, i.code, i.amount) for i in found if i.action == "Bill the client"]
    assert bills == [
        ("SALLY SMITH", "D0220", 14), ("SALLY SMITH", "D0230", 10), ("SAM SMITH", "D2790", 756),
        ("SAM SMITH", "D2950", 146), ("SAM JONES", "D4381", 33), ("SAM JONES", "D2950", Decimal("11.2")),
    ]  # fmt: skip
    # the one line the discount took whole: a denial to look into, named by its reason
    assert [(i.client, i.reason, i.amount) for i in found if i.action != "Bill the client"] == [
        ("SAM JONES", "CO-131", 125)
    ]


def test_a_real_world_file_holding_its_interchange_twice_imports_it_once() -> None:
    """tastypackets/x12-parser: the same eMedNY interchange twice, one per line (a resent batch)."""
    path = REAL / "tastypackets-oneLine-2-ISA.835"
    remittance = read_remittance(path)
    found = segments(decode(path.read_bytes()))[0]
    payment = sum((Decimal(s.get(2)) for s in found if s.id == "BPR"), Decimal(0))
    assert sum(line.paid for line in remittance.lines) == payment == Decimal("2963.98")
    book, result = imported(path)
    assert (result.lines, result.added, result.duplicates) == (4, 2, 2)
    assert [(r["Status"], r["Paid"], r["Patient owes"]) for r in claims_records(book)] == [
        ("Denied", 0.0, None),  # CLP02 3 (tertiary) with CO-39: denied, not left to another payer
        ("Paid", 1481.99, 805.0),  # PR-142: the client's share, claim-level (no service lines)
    ]
    assert result.warnings == [
        "tastypackets-oneLine-2-ISA.835: segment ISA at line 2: the interchange control number is used twice"
    ]


def test_a_real_world_file_with_a_wrong_segment_count_is_read_when_its_payment_adds_up() -> None:
    """LinuxForHealth's demo file has a mistyped `CAS_CO` segment that SE01 does not count: the
    claims still make the payment, so it is read, with the count, the stray segment and the
    claim whose adjustments it held (50.00 short) among the warnings."""
    remittance = read_remittance(REAL / "lfh-demo.835")
    assert (remittance.claims, remittance.claims_paid) == (2, Decimal("945.00"))
    warnings = "\n".join(remittance.warnings)
    assert (
        "segment SE at line 28: segment count is wrong (SE01 says 25, the transaction has 26); the payment adds up"
        in warnings
    )
    assert "segment CAS_CO at line 27: this segment is not expected here" in warnings
    assert (
        "segment CLP at line 20: the claim's adjustments (CAS) come to 655.00, not its billed less paid (705.00)"
        in warnings
    )
    assert (
        sum("segment count is wrong" in w for w in remittance.warnings) == 1
    )  # said once, not by pyx12 again


@pytest.mark.parametrize(
    ("old", "new", "said"),
    [
        (b"GE*2*", b"GE*3*", "segment GE at line 38: the count of transactions (GE01) is wrong (GE01 says 3, the group has 2)"),
        (b"IEA*1*", b"IEA*2*", "segment IEA at line 39: the count of functional groups (IEA01) is wrong (IEA01 says 2, the interchange has 1)"),
    ],
)  # fmt: skip
def test_a_wrong_count_of_transactions_or_groups_reads_what_the_file_holds(
    old: bytes, new: bytes, said: str
) -> None:
    """Every transaction read is whole (its own SE closes it): the payments in the file are
    imported, and the warning says one may be missing rather than refusing them all."""
    data = (FIXTURES / "two-transactions.835").read_bytes()
    assert old in data
    whole = read_remittance_text("two.835", data)
    counted = read_remittance_text("two.835", data.replace(old, new, 1))
    assert counted.lines == whole.lines and counted.transactions == 2
    assert counted.warnings[0] == (
        f"two.835: {said}; the payments read are imported; if one is missing, ask the payer or "
        "clearinghouse for it"
    )


def test_a_group_of_other_transactions_sent_along_is_passed_over() -> None:
    """A clearinghouse download may carry an acknowledgement (999) in the interchange of the 835s:
    the remittances are read, the other group is named in a warning; a file of 837s alone is still
    refused (claim.837)."""
    data = (FIXTURES / "two-transactions.835").read_bytes()
    ack = b"~\n".join([
        b"GS*FA*CLEARHOUSE*TESTCLINIC*20261020*1031*9*X*005010X231A1", b"ST*999*0001*005010X231A1",
        b"AK1*HC*1*005010X222A1", b"AK9*A*1*1*1", b"SE*4*0001", b"GE*1*9",
    ]) + b"~\n"  # fmt: skip
    at = data.rindex(b"IEA*")
    mixed = read_remittance_text("two.835", data[:at] + ack + data[at:].replace(b"IEA*1*", b"IEA*2*"))
    assert mixed.lines == read_remittance_text("two.835", data).lines and mixed.transactions == 2
    assert mixed.warnings[0] == (
        "two.835: segment GS at line 39: the group holds FA 005010X231A1, not 835 remittances: passed over"
    )


def test_a_wrong_segment_count_alone_is_a_warning_and_the_claims_are_imported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Public 835s are often edited by hand: a count that is off while every claim and the
    payment add up loses no data (segments lost in the middle would not add up: lost-claim.835)."""
    book = write_workbook(tmp_path / "billing.xlsx")
    status, out, _ = run(capsys, "import-era", str(book), str(FIXTURES / "wrong-count.835"), "--json")
    assert status == 0
    result = json.loads(out)
    assert result["warnings"] == [
        "wrong-count.835: segment SE at line 36: segment count is wrong (SE01 says 33, the transaction has 34); "
        "the payment adds up (BPR02), so the transaction is read"
    ]
    assert result["added"] == 4


def test_files_as_they_arrive_read_as_the_same_remittance() -> None:
    expected = [
        line.model_dump(exclude={"source"})
        for line in read_remittance(FIXTURES / "summit-paid-denied.835").lines
    ]
    for name in ("no-a1.835", "control-characters.835", "wrapped-80.835"):
        remittance = read_remittance(FIXTURES / name)
        assert [line.model_dump(exclude={"source"}) for line in remittance.lines] == expected, name
        assert remittance.warnings == (), name
    for name in ("bom.835", "latin-1.835"):
        remittance = read_remittance(FIXTURES / name)
        assert remittance.lines[0].client == "JOSÉ MÜLLER"
        # pyx12 finds the accented letters outside its character set: warnings without the name
        assert remittance.warnings and all("MÜLLER" not in w for w in remittance.warnings)


def test_a_file_saved_as_utf_16_reads_as_the_same_remittance() -> None:
    """A remittance passed through Windows PowerShell (`Get-Content era.835 > copy.835`) or saved
    by Notepad as "Unicode" is UTF-16 with a byte order mark: it was refused as "not a text file"."""
    text = (FIXTURES / "summit-paid-denied.835").read_text()
    expected = read_remittance_text("a.835", text.encode()).lines
    for encoding in ("utf-16", "utf-16-be"):
        data = text.encode(encoding)
        data = data if encoding == "utf-16" else b"\xfe\xff" + data
        assert read_remittance_text("a.835", data).lines == expected, encoding
    # UTF-16 without its mark is not guessed: refused with one sentence
    with pytest.raises(CptbillError, match="is not a valid 835 remittance: it is not a text file"):
        read_remittance_text("a.835", text.encode("utf-16-le"))


def test_units_out_of_range_are_a_warning_not_a_crash() -> None:
    remittance = read_remittance(FIXTURES / "huge-units.835")
    assert remittance.lines[0].units == 1
    assert (
        "huge-units.835: segment SVC at line 16: element SVC05 is not a number of units; read as 1"
        in remittance.warnings
    )


def test_a_4010_file_is_refused_as_retired() -> None:
    with pytest.raises(CptbillError) as caught:
        read_remittance(FIXTURES / "retired-4010.835")
    message = str(caught.value)
    assert "4010" in message and "retired" in message and "005010X221A1" in message
    assert message.count("\n") == 0


def test_a_4010_file_without_isa16_is_refused_as_retired_not_as_unreadable() -> None:
    """Some 4010 exports end the ISA after ISA15 and end segments with line breaks."""
    text = (
        "ISA*01*0000000000*01*0000000000*ZZ*SENDER         *ZZ*RECEIVER       *101127*1719*U*00400"
        "*000003438*0*P*\nGS*HP*S*R*20110315*1005*1*X*004010X091A1\nST*835*0001\n"
    )
    with pytest.raises(
        CptbillError, match=r"old\.835 is a 4010 remittance \(segment ISA at line 1: ISA12 00400\)"
    ):
        read_remittance_text("old.835", text.encode())


def test_read_errors_name_the_file_and_the_first_problem() -> None:
    for name, expected in BROKEN.items():
        with pytest.raises(CptbillError) as caught:
            read_remittance(FIXTURES / name)
        message = str(caught.value)
        assert message.startswith(f"{name} is not a valid 835 remittance: "), message
        assert expected in message
        assert str(FIXTURES) not in message  # the file's name only
        assert message.count("\n") == 0


def test_positions_are_file_lines_also_when_the_file_is_one_line(tmp_path: Path) -> None:
    text = (FIXTURES / "lost-claim.835").read_text()
    one_line = tmp_path / "one-line.835"
    one_line.write_text(text.replace("\n", ""))
    with pytest.raises(CptbillError, match="segment SE at line 1: segment count is wrong"):
        read_remittance(one_line)
    crlf = tmp_path / "crlf.835"
    crlf.write_bytes(text.replace("\n", "\r\n").encode())
    with pytest.raises(CptbillError, match="segment SE at line 34: segment count is wrong"):
        read_remittance(crlf)


@pytest.mark.parametrize("end", [b"\n", b"\r", b"\r\n"], ids=["LF", "CR", "CRLF"])
def test_a_line_break_as_the_segment_terminator(end: bytes) -> None:
    """Some translators end each segment with a line break and no `~` (ISA16 followed by LF, CR or
    CR LF). A CR alone was read as one long segment (the file refused as cut short), and with
    LF alone every position said line 1."""
    plain = (FIXTURES / "summit-paid-denied.835").read_bytes()
    assert (
        read_remittance_text("x.835", plain.replace(b"~\n", end)).lines
        == read_remittance_text("x.835", plain).lines
    )
    lost = (FIXTURES / "lost-claim.835").read_bytes().replace(b"~\n", end)
    with pytest.raises(CptbillError, match="segment SE at line 34: segment count is wrong"):
        read_remittance_text("lost.835", lost)


def test_validator_findings_are_warnings_without_client_data(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    long_name = "SHAW" + "X" * 70  # NM103 holds at most 60 characters
    text = (FIXTURES / "summit-paid-denied.835").read_text().replace("*SHAW*RILEY*", f"*{long_name}*RILEY*")
    text = text.replace("PER*BL*EDI HELP DESK*TE*5555550100~\n", "").replace("SE*34*", "SE*33*")  # no PER*BL
    path = tmp_path / "long-name.835"
    path.write_text(text)
    remittance = read_remittance(path)
    assert len(remittance.lines) == 4  # imported all the same
    assert "long-name.835: segment NM1 at line 27: element NM103 (Patient Last Name) is too long" in (
        remittance.warnings
    )
    assert any("PER" in w for w in remittance.warnings)
    assert all("SHAW" not in w and "RILEY" not in w for w in remittance.warnings)
    assert capfd.readouterr().err == ""  # pyx12's own logging stays silent


def test_pyx12_crashing_is_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    def crash(*args: object, **kwargs: object) -> bool:
        raise IndexError("list index out of range")

    monkeypatch.setattr(pyx12.x12n_document, "x12n_document", crash)
    remittance = read_remittance(FIXTURES / "summit-paid-denied.835")
    assert len(remittance.lines) == 4
    assert remittance.warnings == (
        "summit-paid-denied.835: pyx12 could not check it (IndexError); it was read without that check",
    )


def test_a_problem_pyx12_only_logs_is_still_refused(tmp_path: Path) -> None:
    # a segment between GS and ST: pyx12's validator returns True and only logs the problem
    text = (FIXTURES / "two-transactions.835").read_text().replace("ST*835*1001~", "LX*1~\nST*835*1001~", 1)
    path = tmp_path / "stray.835"
    path.write_text(text)
    assert pyx12_accepts(path)
    with pytest.raises(
        CptbillError, match=r"stray\.835 .*segment LX at line 3: this segment is not expected"
    ):
        read_remittance(path)


def test_a_claim_transaction_inside_a_remittance_group_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "mixed.835"
    path.write_text((FIXTURES / "summit-paid-denied.835").read_text().replace("ST*835*0501~", "ST*837*0501~"))
    with pytest.raises(CptbillError, match="segment ST at line 3: transaction 837 is not an 835"):
        read_remittance(path)


def test_missing_and_binary_files(tmp_path: Path) -> None:
    with pytest.raises(CptbillError, match=r"nothing\.835: no such remittance file"):
        read_remittance(tmp_path / "nothing.835")
    binary = tmp_path / "picture.835"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    with pytest.raises(
        CptbillError, match=r"picture\.835 is not a valid 835 remittance: it is not a text file"
    ):
        read_remittance(binary)


def test_a_zip_archive_or_a_folder_is_refused_saying_what_to_do(tmp_path: Path) -> None:
    """Clearinghouses often deliver remittances zipped; a folder may be named by mistake. Each
    is refused with a sentence saying what to do, not "not a text file" or "no such file"."""
    import zipfile

    archive = tmp_path / "era-download.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.write(FIXTURES / "summit-paid-denied.835", "summit.835")
    with pytest.raises(CptbillError, match=r"era-download\.zip is a ZIP archive: unzip it and import the"):
        read_remittance(archive)
    with pytest.raises(CptbillError, match=r"is a folder: name the remittance files in it"):
        read_remittance(tmp_path)


def test_a_workbook_or_a_pdf_given_as_a_remittance_is_refused_saying_what_to_do(tmp_path: Path) -> None:
    """The workbook named where the 835 goes (arguments swapped), or an EOB saved as a PDF: each
    gets a sentence saying what to do, not "unzip it" or "no X12 interchange header"."""
    book = write_workbook(tmp_path / "billing.xlsx")
    renamed = tmp_path / "billing-copy.zip"
    renamed.write_bytes(book.read_bytes())
    for path in (book, renamed):
        with pytest.raises(
            CptbillError, match=rf"{path.name} is a workbook, not a remittance: name the workbook"
        ):
            read_remittance(path)
    pdf = tmp_path / "eob.pdf"
    pdf.write_bytes(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n")
    with pytest.raises(
        CptbillError, match=r"eob\.pdf is a PDF: cptbill reads the electronic remittance \(835"
    ):
        read_remittance(pdf)


# ---------------------------------------------------------------------------------------------
# The command, on a real file


def write_workbook(path: Path) -> Path:
    workbook = openpyxl.Workbook()
    sessions = workbook.active
    sessions.title = "Sessions"
    for row in SESSIONS:
        sessions.append(row)
    payers_sheet = workbook.create_sheet("Payers")
    for row in PAYERS:
        payers_sheet.append(row)
    workbook.save(path)
    return path


def test_cli_imports_the_sample_remittance(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    book = write_workbook(tmp_path / "billing.xlsx")
    status, out, err = run(capsys, "import-era", str(book), str(SAMPLE), "--json")
    assert (status, err) == (0, "")
    summary = json.loads(out)
    assert summary == {
        "files": 1, "lines": 10, "added": 10, "duplicates": 0, "unmatched_payers": [],
        "provider_adjustments": 10.0,
        "provider_adjustment_items": [
            {"source": "sample-remittance.835 #EFT26110602", "reason": "WO", "reference": "HHP2609150001",
             "amount": 10.0},
        ],
        "warnings": [],
    }  # fmt: skip
    sheet = openpyxl.load_workbook(book)["Claims"]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == c.CLAIMS_COLUMNS
    assert len(rows) == 11
    first = dict(zip(rows[0], rows[1], strict=True))
    assert isinstance(first["Date"], dt.datetime) and first["Date"].date() == dt.date(2026, 10, 22)
    assert (first["Payer"], first["Code"], first["Status"], first["Reason"]) == (
        "Summit Mutual", "97140", "Denied", "CO-97",
    )  # fmt: skip
    assert first["Source"] == "sample-remittance.835 #EFT26110601"
    assert sheet["F2"].number_format == MONEY_FORMAT  # Billed
    assert sheet["D2"].number_format == "@"  # Code, as text
    statuses = [dict(zip(rows[0], row, strict=True))["Status"] for row in rows[1:]]
    assert statuses == [
        "Denied", "Paid", "Paid", "Paid", "Patient", "Denied", "Paid", "Reversed", "Paid", "Paid",
    ]  # fmt: skip

    # a second import adds nothing and leaves the file exactly as it was
    saved = book.read_bytes()
    status, out, _ = run(capsys, "import-era", str(book), str(SAMPLE), "--json")
    assert status == 0
    assert json.loads(out) == {
        "files": 1, "lines": 10, "added": 0, "duplicates": 10, "unmatched_payers": [],
        "provider_adjustments": 0.0, "provider_adjustment_items": [], "warnings": [],
    }  # fmt: skip
    assert book.read_bytes() == saved

    status, out, _ = run(capsys, "import-era", str(book), str(FIXTURES / "two-transactions.835"))
    assert status == 0
    assert "2 service lines: 2 added to Claims, 0 duplicates skipped" in out
    assert "PINECREST HEALTH PLAN" in out
    assert "Provider adjustments (PLB): none new." in out

    status, out, _ = run(capsys, "import-era", str(book), str(FIXTURES / "two-plb.835"))
    assert status == 0
    assert "two-plb.835 #EFT603: WO (overpayment recovery) HHC0001 $15.00" in out
    assert "two-plb.835 #EFT603: L6 (interest owed) -$1.00" in out
    assert "total $14.00" in out
    assert "Warning:" not in out  # several PLB segments are the standard's, whatever pyx12 says

    status, out, _ = run(capsys, "import-era", str(book), str(FIXTURES / "wrong-count.835"))
    assert status == 0
    assert "Warning: wrong-count.835: segment SE at line 36: segment count is wrong" in out


def test_cli_imports_every_real_world_file_with_paid_adding_up(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The real command, as a user runs it, on all the public files at once: every claim, the right totals."""
    book = write_workbook(tmp_path / "billing.xlsx")
    paths = [REAL / name for name in REAL_WORLD + PACKAGED]
    status, out, err = run(capsys, "import-era", str(book), *map(str, paths), "--json")
    assert (status, err) == (0, "")
    summary = json.loads(out)
    assert summary["added"] == summary["lines"] == sum(len(read_remittance(p).lines) for p in paths)
    rows = list(openpyxl.load_workbook(book)["Claims"].iter_rows(values_only=True))
    sheet = SimpleNamespace(read=lambda name: rows)
    assert_paid_adds_up(
        paths, sheet, SimpleNamespace(duplicates=summary["duplicates"], added=summary["added"])
    )


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_cli_refuses_a_broken_file_and_leaves_the_workbook(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    book = write_workbook(tmp_path / "billing.xlsx")
    before = book.read_bytes()
    # a good file first: nothing is imported when any file of the batch is bad
    status, out, err = run(capsys, "import-era", str(book), str(SAMPLE), str(FIXTURES / name))
    assert status == 2
    assert out == ""
    assert err.startswith(f"cptbill: {name} is not a valid 835 remittance: ")
    assert BROKEN[name] in err
    assert err.count("\n") == 1
    assert book.read_bytes() == before
    assert not list(tmp_path.glob("*.bak.*"))


def test_check_sees_the_imported_history() -> None:
    book = memory_book()
    assert check(book)[0].results[0].code == "97140"
    import_remittances(book, payers(), [SAMPLE])
    assert check(book)[0].results[0].code == "97124"
