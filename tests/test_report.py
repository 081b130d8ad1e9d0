"""The report: Summary figures checked by hand, Follow-up and Shortfalls lists, the chart, `cptbill report`."""

from __future__ import annotations

import datetime as dt
import json
import zipfile
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from cptbill.book import MONEY_FORMAT, MemoryBook, load, recode
from cptbill.contract import Status
from cptbill.history import follow_ups, shortfalls
from cptbill.models import Claim, Payer
from cptbill.report import RESUBMIT_REPLACED, TOTAL, build_report, refresh, summary_rows, write_report
from helpers import run

D = dt.date
Convert = Callable[[Path, str], Path]  # the `libreoffice` fixture
SESSIONS = [
    ["Date", "Client", "Payer", "Minutes", "Service", "Code", "Units", "Expected"],
    [D(2026, 11, 2), "Rosa", "Summit Mutual", 30, None, "97124", 2, 60],
    [D(2026, 11, 2), "Rosa", "Summit Mutual", 10, "hot pack", "97010", 1, 5],
    [D(2026, 11, 3), "Tom", "Summit Mutual", 45, None, "97124", 3, 90],
    [D(2026, 11, 4), "Nora", "Harbor Health PPO", 30, None, "97140", 2, 67],
    [D(2026, 11, 5), "Grace", "Evergreen MA", 60, None, "97140", 4, 108.68],
    [D(2026, 11, 6), "Sam", None, 60, None, None, None, None],  # self-pay: not in the Summary
    [D(2026, 10, 30), "Liam", "summit mutual ", 30, None, "97124", 2, 60],
]
PAYERS = [
    ["Payer", "Accepts", "Preferred", "Rate 97124", "Rate 97140", "Rate 97010", "Unit rule"],
    ["Summit Mutual", "97124, 97140", None, 30, 32, 5, "CMS"],
    ["Harbor Health PPO", "97124, 97140", "97140", 31.2, 33.5, 0, "AMA"],
    ["Evergreen MA", "97140", None, None, 27.17, 0, "CMS"],
]
CLAIMS = [
    ["Date", "Client", "Payer", "Code", "Units", "Billed", "Paid", "Status", "Reason"],
    [
        D(2026, 11, 2),
        "Rosa",
        "Summit Mutual",
        "97140",
        2,
        80,
        None,
        "Denied",
        "CO-97",
    ],  # 2: 3 is another line
    [D(2026, 11, 2), "Rosa", "Summit Mutual", "97124", 2, 80, 60, "Paid", None],  # 3
    [D(2026, 11, 3), "Tom", "Summit Mutual", "97140", 3, 120, None, "Denied", "CO-97"],  # 4: bundled
    [D(2026, 11, 4), "Nora", "Harbor Health PPO", "97140", 2, 90, 55, "Paid", "CO-45"],  # 5: short 12
    [D(2026, 11, 5), "Grace", "Evergreen MA", "97140", 4, 160, None, "Denied", "CO-50"],  # 6: only 97140
    [D(2026, 10, 15), "Liam", "Summit Mutual", "97124", 2, 80, 60, "Paid", "CO-45"],  # 7
    [D(2026, 10, 20), "Hannah", "Harbor Health PPO", "97140", 2, 90, 67, "Paid", None],  # 8
    [D(2026, 10, 20), "Hannah", "Harbor Health PPO", "97140", -2, -90, -67, "Reversed", "CO-50"],  # 9
    [D(2026, 11, 6), "Owen", "Summit Mutual", "97124", 2, 80, None, "Pending", None],  # 10
]


def sample_book(claims: bool = True) -> MemoryBook:
    sheets = {"Sessions": SESSIONS, "Payers": PAYERS}
    return MemoryBook(sheets | ({"Claims": CLAIMS} if claims else {}))


def figures(row: Any) -> tuple[Any, ...]:
    units = tuple(row.units.get(code, 0) for code in ("97124", "97140", "97010"))
    return (row.month, row.payer, row.visits, units, row.expected, row.paid, row.shortfall, row.denial_rate)


def test_summary_for_a_month_against_hand_computed_figures() -> None:
    rows = summary_rows(load(sample_book()), None, "2026-11")
    assert [figures(r) for r in rows] == [
        # Summit: visits Rosa 11-02 (massage + pack) and Tom 11-03; paid row 3; denied rows 2 and 4 of 3.
        ("2026-11", "Summit Mutual", 2, (5, 0, 1), Decimal("155"), Decimal("60"), Decimal(0), 2 / 3),
        ("2026-11", "Harbor Health PPO", 1, (0, 2, 0), Decimal("67"), Decimal("55"), Decimal("12.00"), 0.0),
        ("2026-11", "Evergreen MA", 1, (0, 4, 0), Decimal("108.68"), Decimal(0), Decimal(0), 1.0),
        (TOTAL, "", 4, (5, 6, 1), Decimal("330.68"), Decimal("115"), Decimal("12.00"), 3 / 5),
    ]


def test_a_line_billed_and_paid_0_is_no_paid_claim_in_the_denial_rate() -> None:
    """A CPT II reporting line (billed 0, paid 0, settled Paid by import-era) is not a claim paid."""
    claims = [*CLAIMS, [D(2026, 11, 2), "Rosa", "Summit Mutual", "3051F", 1, 0, 0, "Paid", None]]
    book = MemoryBook({"Sessions": SESSIONS, "Payers": PAYERS, "Claims": claims})
    summit = summary_rows(load(book), None, "2026-11")[0]
    assert (summit.payer, summit.denied, summit.decided, summit.denial_rate) == ("Summit Mutual", 2, 3, 2 / 3)


def test_summary_over_all_months_nets_the_take_back() -> None:
    rows = summary_rows(load(sample_book()), None, None)
    october = [figures(r) for r in rows if r.month == "2026-10"]
    assert october == [
        ("2026-10", "Summit Mutual", 1, (2, 0, 0), Decimal("60"), Decimal("60"), Decimal(0), 0.0),
        # Hannah: paid 67 then reversed: paid 0, the whole 67.00 is short; the reversal is no decision.
        ("2026-10", "Harbor Health PPO", 0, (0, 0, 0), Decimal(0), Decimal(0), Decimal("67.00"), 0.0),
    ]
    total = rows[-1]
    assert (total.visits, total.expected, total.paid, total.shortfall) == (
        5, Decimal("390.68"), Decimal("175"), Decimal("79.00"),
    )  # fmt: skip


def test_follow_up_lists_open_items_by_reason_and_line() -> None:
    loaded = load(sample_book())
    found = follow_ups(loaded.claims or [], loaded.payers, when=D(2026, 11, 30))
    assert [(i.row, i.client, i.code, i.reason, i.amount) for i in found] == [
        # Rosa's 97124 paid later is another service line: the bundled 97140 stays open
        (2, "Rosa", "97140", "CO-97", Decimal(80)),
        (4, "Tom", "97140", "CO-97", Decimal(120)),
        (6, "Grace", "97140", "CO-50", Decimal(160)),
    ]
    assert found[0].action.startswith("Add modifier 59 or XS only if the notes show")
    assert found[2].action == "Appeal with the treatment notes and the prescription"
    assert all(i.new_code is None for i in found)  # no line is `either` yet: never another code
    assert all("GP" not in i.action + i.why for i in found)


def test_a_later_row_settles_only_further_down_the_claims_sheet() -> None:
    payers = {"summit": Payer(name="Summit", rates={"97124": Decimal(30)})}
    paid = Claim(
        row=2, date=D(2026, 9, 1), client="Ann", payer="Summit", code="97124", units=2, status=Status.PAID,
        paid=Decimal(60),
    )  # fmt: skip
    denial = Claim(
        row=3, date=D(2026, 9, 1), client="ann", payer="SUMMIT", code="97124", units=2, status=Status.DENIED,
        reason="CO-16",
    )  # fmt: skip
    assert [i.row for i in follow_ups([paid, denial], payers)] == [3]
    assert follow_ups([denial, paid.model_copy(update={"row": 4})], payers) == []
    stranger = denial.model_copy(update={"payer": "Nobody"})
    (unknown,) = follow_ups([stranger], payers)
    assert unknown.payer == "Nobody" and unknown.deadline is None


def test_shortfalls_against_hand_computed_figures() -> None:
    loaded = load(sample_book())
    found = shortfalls(loaded.claims or [], loaded.payers)
    assert [
        (s.row, s.client, s.code, s.units, s.expected, s.paid, s.difference, s.reason) for s in found
    ] == [
        (5, "Nora", "97140", 2, Decimal("67.00"), Decimal(55), Decimal("12.00"), "CO-45"),
        (8, "Hannah", "97140", 2, Decimal("67.00"), Decimal(0), Decimal("67.00"), "CO-50"),
    ]


def test_shortfall_edges_a_cent_and_a_corrected_payment() -> None:
    payers = {"harbor": Payer(name="Harbor", rates={"97140": Decimal("33.50")})}

    def c(row: int, status: Status, paid: str, units: int = 2) -> Claim:
        return Claim(
            row=row, date=D(2026, 10, 6), client="Hannah", payer="Harbor", code="97140",
            units=units, paid=Decimal(paid), status=status,
        )  # fmt: skip

    assert shortfalls([c(2, Status.PAID, "66.99")], payers) == []  # a cent short is not listed
    assert [s.difference for s in shortfalls([c(2, Status.PARTIAL, "66.98")], payers)] == [Decimal("0.02")]
    corrected = [c(2, Status.PAID, "67"), c(3, Status.REVERSED, "-67", -2), c(4, Status.PAID, "55")]
    assert [(s.row, s.paid, s.difference) for s in shortfalls(corrected, payers)] == [
        (4, Decimal(55), Decimal("12.00"))
    ]


def test_write_report_fills_the_three_sheets_and_the_chart() -> None:
    book = sample_book()
    report = write_report(book, load(book), None, "2026-11")
    summary = book.sheets["Summary"]
    assert summary[0][:3] == ["Month", "Payer", "Visits"]
    assert summary[-1] == [TOTAL, "", 4, 5, 6, 1, 330.68, 115.0, 12.0, 0.6]
    chart = book.charts["Summary"]
    assert (chart.header_row, chart.first_row, chart.last_row) == (1, 2, 4)  # three payers, TOTAL left out
    assert [summary[0][i - 1] for i in chart.value_columns] == ["Expected", "Paid"]
    assert summary[0][chart.category_column - 1] == "Payer"
    follow_up = book.sheets["Follow-up"]
    assert follow_up[0][:11] == [
        "Date", "Client", "Payer", "Code", "Units", "Reason", "Action", "Why", "Amount", "Deadline", "Overdue",
    ]  # fmt: skip
    assert follow_up[2][:6] == [D(2026, 11, 3), "Tom", "Summit Mutual", "97140", 3, "CO-97"]
    assert follow_up[2][8] == 120.0 and follow_up[2][-1] == 4
    assert "Resubmit" not in book.sheets
    assert report.summary()["follow_up"] == 3
    short = book.sheets["Shortfalls"]
    assert len(short) == 4  # header, two services, TOTAL
    assert short[-1][:9] == [TOTAL, None, None, None, None, 134.0, 55.0, 0.0, 79.0]
    assert report.summary()["shortfall_total"] == 79.0


def test_an_old_resubmit_sheet_is_replaced_by_a_note() -> None:
    book = sample_book()
    book.sheets["Resubmit"] = [["Date", "Note"], [D(2026, 9, 1), "resubmit as 97124; modifier missing: GP"]]
    write_report(book, load(book), None, "2026-11")
    assert book.sheets["Resubmit"] == [["Note"], [RESUBMIT_REPLACED]]
    assert "Follow-up" in book.sheets


def test_several_months_chart_each_payer_over_them() -> None:
    book = sample_book()
    report = write_report(book, load(book))
    summary = book.sheets["Summary"]
    chart = book.charts["Summary"]
    assert summary[chart.header_row - 1] == summary[0]  # the block has its own header row
    block = summary[chart.first_row - 1 : chart.last_row]
    assert [(r[0], r[1], r[6], r[7]) for r in block] == [
        ("2026-10 to 2026-11", "Summit Mutual", 215.0, 120.0),
        ("2026-10 to 2026-11", "Harbor Health PPO", 67.0, 55.0),
        ("2026-10 to 2026-11", "Evergreen MA", 108.68, 0.0),
    ]
    assert len(report.by_payer) == 3


def test_without_claims_only_the_summary_is_written() -> None:
    book = sample_book(claims=False)
    report = write_report(book, load(book), None, "2026-11")
    assert "Follow-up" not in book.sheets and "Shortfalls" not in book.sheets
    assert report.total.paid == 0 and report.total.denial_rate is None
    assert report.summary()["claims_sheet"] is False


def test_recode_refreshes_the_summary_with_the_recoded_values() -> None:
    sessions = [["Date", "Client", "Payer", "Minutes"], ["2026-11-03", "Ann", "Summit Mutual", 38]]
    book = MemoryBook({"Sessions": sessions, "Payers": PAYERS})
    before = build_report(load(book), None, "2026-11")
    assert before.uncoded == 1 and before.total.expected == 0
    recode(book, "2026-11", after=[refresh])
    # 38 minutes -> 3 units of 97124 (a blank Service is massage) at 30.00 = 90.00
    assert book.sheets["Summary"][1][:7] == ["2026-11", "Summit Mutual", 1, 3, 0, 0, 90.0]
    assert build_report(load(book), None, "2026-11").uncoded == 0


# --- the file and the command -------------------------------------------------------------------


def write_xlsx(path: Path, claims: bool = True) -> Path:
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, rows in {"Sessions": SESSIONS, "Payers": PAYERS, "Claims": CLAIMS}.items():
        if name == "Claims" and not claims:
            continue
        ws = wb.create_sheet(name)
        for row in rows:
            ws.append(row)
    wb.save(path)
    return path


def sheet_values(path: Path, sheet: str) -> list[list[Any]]:
    wb = openpyxl.load_workbook(path, data_only=True)
    try:
        return [list(r) for r in wb[sheet].iter_rows(values_only=True)]
    finally:
        wb.close()


def charts_in(path: Path) -> list[str]:
    with zipfile.ZipFile(path) as archive:
        return [n for n in archive.namelist() if n.startswith("xl/charts/chart") and n.endswith(".xml")]


def test_report_command_writes_the_file_that_libreoffice_opens(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], libreoffice: Convert
) -> None:
    path = write_xlsx(tmp_path / "billing.xlsx")
    status, out, err = run(capsys, "report", str(path), "--month", "2026-11")
    assert (status, err) == (0, "")
    total = next(line for line in out.splitlines() if line.startswith("TOTAL"))
    assert total.split() == ["TOTAL", "4", "5", "6", "1", "$330.68", "$115.00", "$12.00", "60%"]
    assert "Follow-up: 3 open item(s), $360.00 in all (0 to bill the client)" in out
    assert "Shortfalls: 2 service(s)" in out and "$79.00 in all" in out
    summary = sheet_values(path, "Summary")
    assert summary[-1] == [TOTAL, None, 4, 5, 6, 1, 330.68, 115, 12, 0.6]
    wb = openpyxl.load_workbook(path)
    assert len(wb["Summary"]._charts) == 1
    assert wb["Summary"]["G2"].number_format == MONEY_FORMAT and wb["Summary"]["J2"].number_format == "0%"
    assert wb["Shortfalls"]["A2"].is_date
    wb.close()

    # A second run replaces the chart instead of adding one.
    assert run(capsys, "report", str(path), "--month", "2026-11")[0] == 0
    assert len(charts_in(path)) == 1

    opened = libreoffice(path, "xlsx")
    assert [pytest.approx(row) for row in sheet_values(opened, "Summary")] == summary  # 15 digits
    assert charts_in(opened)
    assert sheet_values(opened, "Shortfalls")[-1][5:9] == [134, 55, 0, 79]
    assert sheet_values(opened, "Follow-up")[1][:4] == [
        dt.datetime(2026, 11, 2),
        "Rosa",
        "Summit Mutual",
        "97140",
    ]


def test_report_command_json_and_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_xlsx(tmp_path / "billing.xlsx")
    status, out, _ = run(capsys, "report", str(path), "--json")
    data = json.loads(out)
    assert status == 0
    assert data["month"] is None and data["total"]["expected"] == 390.68 and data["total"]["paid"] == 175.0
    assert (data["follow_up"], data["follow_up_amount"], data["bill_client"]) == (3, 360.0, 0)
    assert (data["shortfalls"], data["shortfall_total"]) == (2, 79.0)
    assert [(r["month"], r["payer"]) for r in data["rows"]][:2] == [
        ("2026-10", "Summit Mutual"),
        ("2026-10", "Harbor Health PPO"),
    ]

    before = path.read_bytes()
    status, out, err = run(capsys, "report", str(path), "--month", "2026-13")
    assert status == 2 and "not a month" in err and out == ""
    assert path.read_bytes() == before
    status, _, err = run(capsys, "report", str(tmp_path / "missing.xlsx"))
    assert status == 2 and "No such file" in err and "Traceback" not in err

    bare = write_xlsx(tmp_path / "bare.xlsx", claims=False)
    status, out, _ = run(capsys, "report", str(bare))
    assert status == 0 and "No Claims sheet" in out
    assert "Follow-up" not in openpyxl.load_workbook(bare, read_only=True).sheetnames
