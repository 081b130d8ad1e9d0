"""Importing X12 835 remittances (ERA) into the Claims sheet: reading, mapping, dedup, CLI safety."""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import pyx12.params
import pyx12.x12n_document

from cptbill import contract as c
from cptbill.book import MONEY_FORMAT, MemoryBook, check, load, recode
from cptbill.contract import Status, name_key
from cptbill.era import import_remittances, read_remittance
from cptbill.errors import CptbillError
from cptbill.schema import column_index, parse_payers
from helpers import run

FIXTURES = Path(__file__).parent / "fixtures"
SAMPLE = Path(__file__).parent.parent / "workbook" / "sample-remittance.835"
VALID = ["summit-paid-denied.835", "harbor-reversal-plb.835", "two-transactions.835"]
BROKEN = {
    "empty.835": "the file is empty",
    "sessions.csv": "segment ISA at line 1",
    "wrong-count.835": "segment SE at line 36: segment count is wrong",
    "truncated.835": "segment SE is missing after line 26",
    "claim.837": "segment GS at line 2",
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


@pytest.mark.parametrize("path", [*(FIXTURES / name for name in VALID), SAMPLE], ids=lambda p: p.name)
def test_fixtures_are_valid_835s_for_pyx12(path: Path) -> None:
    assert pyx12_accepts(path)


def test_a_broken_fixture_is_refused_by_pyx12_itself() -> None:
    assert not pyx12_accepts(FIXTURES / "wrong-count.835")
    assert not pyx12_accepts(FIXTURES / "truncated.835")


def test_paid_denied_patient_responsibility_and_two_line_claim() -> None:
    remittance = read_remittance(FIXTURES / "summit-paid-denied.835")
    assert remittance.file == "summit-paid-denied.835"
    assert remittance.transactions == 1
    assert remittance.provider_adjustments == 0
    rows = [
        (
            line.date, line.client, line.payer, line.payer_id, line.code, line.modifiers, line.units,
            line.billed, line.paid, line.status, line.reason, line.claim_id, line.line, line.source,
        )
        for line in remittance.lines
    ]  # fmt: skip
    source = "summit-paid-denied.835 #EFT501"
    payer = ("SUMMIT MUTUAL INSURANCE", "SMI77")
    assert rows == [
        # paid line with a contractual adjustment; its Line is the REF*6R
        (dt.date(2026, 10, 5), "JORDAN PIKE", *payer, "97124", (), 2.0, Decimal("80.00"),
         Decimal("60.00"), Status.PAID, "CO-45", "SMC0001", "LN1", source),
        # denied line, no DTM*472: the claim's DTM*232; no REF*6R: its position
        (dt.date(2026, 10, 6), "CASEY MORROW", *payer, "97140", (), 2.0, Decimal("70.00"),
         Decimal("0"), Status.DENIED, "CO-97", "SMC0002", "1", source),
        # two service lines: the first with modifier 59 and patient responsibility, its own CAS
        (dt.date(2026, 10, 8), "RILEY SHAW", *payer, "97124", ("59",), 2.0, Decimal("90.00"),
         Decimal("70.00"), Status.PAID, "CO-45; PR-2", "SMC0003", "1", source),
        # ... the second without SVC05 (1 unit) and without CAS: the claim's CAS
        (dt.date(2026, 10, 7), "RILEY SHAW", *payer, "97010", (), 1.0, Decimal("15.00"),
         Decimal("5.00"), Status.PAID, "CO-253", "SMC0003", "2", source),
    ]  # fmt: skip


def test_rows_written_to_a_new_claims_sheet() -> None:
    book = memory_book()
    result = import_remittances(book, payers(), [FIXTURES / "summit-paid-denied.835"])
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
        "Claim ID": "SMC0001",
        "Line": "LN1",
        "Source": "summit-paid-denied.835 #EFT501",
        "Modifiers": None,
    }
    assert isinstance(first["Date"], dt.date)
    assert [r["Status"] for r in records] == ["Paid", "Denied", "Paid", "Paid"]
    assert [r["Line"] for r in records] == ["LN1", 1, 1, 2]
    assert records[2]["Modifiers"] == "59"
    assert result.unmatched_payers == []


def test_reversal_and_provider_adjustments() -> None:
    remittance = read_remittance(FIXTURES / "harbor-reversal-plb.835")
    reversal = remittance.lines[0]
    assert (reversal.status, reversal.billed, reversal.paid, reversal.units) == (
        Status.REVERSED, Decimal("-90.00"), Decimal("-67.00"), 2.0,
    )  # fmt: skip
    assert reversal.reason == "CO-45"
    assert [line.line for line in remittance.lines] == ["1", "1", "2"]
    assert remittance.provider_adjustments == Decimal("10.00")  # WO 15.00 and L6 -5.00
    book = memory_book()
    result = import_remittances(book, payers(), [remittance])
    # the payer's name differs from every ERA name; its ID HHP01 matches
    assert {r["Payer"] for r in claims_records(book)} == {"Harbor Health PPO"}
    assert result.summary()["provider_adjustments"] == 10.0
    assert result.lines == 3  # PLB adjustments are not claim lines


def test_reversals_net_out_in_the_claim_history() -> None:
    original = [
        list(c.CLAIMS_COLUMNS),
        [dt.date(2026, 9, 15), "Avery Quinn", "Harbor Health PPO", "97140", 2, 90, 67, "Paid", "CO-45",
         "HHC0001", 1, None, None],
    ]  # fmt: skip
    book = memory_book(original)
    before = load(book).history[(name_key("Harbor Health PPO"), "97140")]
    assert (before.paid_total, before.paid_units) == (Decimal(67), 2)
    import_remittances(book, payers(), [FIXTURES / "harbor-reversal-plb.835"])
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
    book = memory_book()
    result = import_remittances(book, payers(), [remittance])
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


def test_importing_twice_adds_nothing() -> None:
    book = memory_book()
    files = [FIXTURES / name for name in VALID]
    first = import_remittances(book, payers(), files)
    assert (first.lines, first.added, first.duplicates) == (9, 9, 0)
    rows = book.read("Claims")
    second = import_remittances(book, payers(), files)
    assert (second.lines, second.added, second.duplicates) == (9, 0, 9)
    assert book.read("Claims") == rows


def test_a_file_repeated_in_one_batch_counts_as_duplicates() -> None:
    book = memory_book()
    path = FIXTURES / "summit-paid-denied.835"
    result = import_remittances(book, payers(), [path, path])
    assert (result.files, result.lines, result.added, result.duplicates) == (2, 8, 4, 4)


def test_an_existing_claims_sheet_keeps_its_layout() -> None:
    header = ["Status", "Date", "Client", "Payer", "Code", "Units", "Billed", "Paid", "Reason", "Notes"]
    typed = ["Paid", dt.date(2026, 9, 1), "Owen Brooks", "Summit Mutual", "97140", 3, 85, 61, None, "typed"]
    book = memory_book([header, typed, [None] * len(header)])
    import_remittances(book, payers(), [FIXTURES / "summit-paid-denied.835"])
    rows = book.read("Claims")
    assert rows[0] == [*header, "Claim ID", "Line", "Source", "Modifiers"]
    assert rows[1] == typed
    assert rows[2] == [None] * len(header)
    index = column_index(rows[0])
    assert book.formats[("Claims", index["billed"] + 1)] == MONEY_FORMAT
    added = rows[3]
    assert (added[index["code"]], added[index["units"]], added[index["billed"]]) == ("97124", 2, 80.0)
    assert added[index["status"]] == "Paid"
    assert added[index["client"]] == "JORDAN PIKE"
    assert added[index["claim id"]] == "SMC0001"
    assert added[index["source"]] == "summit-paid-denied.835 #EFT501"
    assert added[index["notes"]] is None
    assert len(rows) == 3 + 4


def test_lines_already_typed_with_their_claim_id_are_not_added_again() -> None:
    typed = [dt.date(2026, 10, 6), "Casey Morrow", "Summit Mutual", "97140", 2, 70, 0, "Denied", "CO-97",
             "SMC0002", 1, None, None]  # fmt: skip
    book = memory_book([list(c.CLAIMS_COLUMNS), typed])
    result = import_remittances(book, payers(), [FIXTURES / "summit-paid-denied.835"])
    assert (result.added, result.duplicates) == (3, 1)


def test_import_then_recode_codes_the_payer_by_what_the_era_showed() -> None:
    book = memory_book()
    plan, _ = recode(book)
    assert plan.results[0].code == "97140"  # no history, no Preferred: the default code
    import_remittances(book, payers(), [FIXTURES / "summit-paid-denied.835"])  # 97140 denied, 97124 paid
    plan, _ = recode(book)
    assert plan.results[0].code == "97124"
    assert book.read("Sessions")[1][5] == "97124"
    learned = book.read("Payers")
    assert learned[1][-1].startswith("97124")  # the Learned column says why


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
    text = (FIXTURES / "wrong-count.835").read_text()
    one_line = tmp_path / "one-line.835"
    one_line.write_text(text.replace("\n", ""))
    with pytest.raises(CptbillError, match="segment SE at line 1: segment count is wrong"):
        read_remittance(one_line)
    crlf = tmp_path / "crlf.835"
    crlf.write_bytes(text.replace("\n", "\r\n").encode())
    with pytest.raises(CptbillError, match="segment SE at line 36: segment count is wrong"):
        read_remittance(crlf)


def test_element_errors_carry_no_client_data(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    long_name = "SHAW" + "X" * 70  # NM103 holds at most 60 characters
    text = (FIXTURES / "summit-paid-denied.835").read_text().replace("*SHAW*RILEY*", f"*{long_name}*RILEY*")
    path = tmp_path / "long-name.835"
    path.write_text(text)
    with pytest.raises(CptbillError) as caught:
        read_remittance(path)
    message = str(caught.value)
    assert "segment NM1 at line 28: element NM103" in message
    assert "too long" in message
    assert "SHAW" not in message and "RILEY" not in message
    assert capfd.readouterr().err == ""  # pyx12's own logging stays silent


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
    assert out == (
        '{"files": 1, "lines": 6, "added": 6, "duplicates": 0, '
        '"unmatched_payers": [], "provider_adjustments": 10.0}\n'
    )
    sheet = openpyxl.load_workbook(book)["Claims"]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == c.CLAIMS_COLUMNS
    assert len(rows) == 7
    first = dict(zip(rows[0], rows[1], strict=True))
    assert isinstance(first["Date"], dt.datetime) and first["Date"].date() == dt.date(2026, 10, 22)
    assert (first["Payer"], first["Code"], first["Status"], first["Reason"]) == (
        "Summit Mutual", "97140", "Denied", "CO-97",
    )  # fmt: skip
    assert first["Source"] == "sample-remittance.835 #EFT26110601"
    assert sheet["F2"].number_format == MONEY_FORMAT  # Billed
    assert sheet["D2"].number_format == "@"  # Code, as text
    statuses = [dict(zip(rows[0], row, strict=True))["Status"] for row in rows[1:]]
    assert statuses == ["Denied", "Paid", "Paid", "Paid", "Reversed", "Paid"]

    # a second import adds nothing and leaves the file exactly as it was
    saved = book.read_bytes()
    status, out, _ = run(capsys, "import-era", str(book), str(SAMPLE), "--json")
    assert status == 0
    assert json.loads(out) == {
        "files": 1, "lines": 6, "added": 0, "duplicates": 6,
        "unmatched_payers": [], "provider_adjustments": 10.0,
    }  # fmt: skip
    assert book.read_bytes() == saved

    status, out, _ = run(capsys, "import-era", str(book), str(FIXTURES / "two-transactions.835"))
    assert status == 0
    assert "2 service lines: 2 added to Claims, 0 duplicates skipped" in out
    assert "PINECREST HEALTH PLAN" in out
    assert "Provider-level adjustments" in out


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
