"""`cptbill demo`: the whole story on the shipped sample, and the files it ships with."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import openpyxl
import pytest

from cptbill.cli import main

ROOT = Path(__file__).resolve().parent.parent


def run_demo(folder: Path, capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as done:
        main(["demo", str(folder)])
    out, err = capsys.readouterr()
    assert done.value.code == 0, err
    return out


def test_demo_imports_the_remittance_learns_and_recodes_november(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = run_demo(tmp_path, capsys)
    assert "10 service lines, 10 added to the Claims sheet" in out
    assert "Summit Mutual: 97124 — 97140 denied 3 of 3" in out
    assert "Follow-up: 7 open item(s)" in out and "(3 to bill the client)" in out
    assert "Shortfalls: 1 service(s)" in out
    # Both stories: `either` lines learn 97124 from Summit's claims; a documented massage line at
    # a payer covering only manual therapy keeps 97124, flagged with what to do.
    assert "Service either at Summit Mutual: 12 line(s) billed 97124" in out
    assert (
        "massage was documented, so the code stays 97124; NOT_ACCEPTED says: Evergreen Medicare Advantage "
        "covers only 97140 (manual therapy): bill it only if the session was manual therapy, otherwise "
        "collect from the client"
    ) in " ".join(out.split())

    wb = openpyxl.load_workbook(tmp_path / "massage-billing.xlsx")
    sessions = list(wb["Sessions"].iter_rows(values_only=True))
    header = [str(h) for h in sessions[0]]
    payer, code, lock = header.index("Payer"), header.index("Code"), header.index("Lock")
    summit = {row[code] for row in sessions[1:] if row[payer] == "Summit Mutual" and not row[lock]}
    assert summit == {"97124"}  # learned from the claims: 97140 denied, 97124 paid
    follow_up = (
        [dict(zip(follow_up_rows[0], row, strict=True)) for row in follow_up_rows[1:]]
        if (follow_up_rows := list(wb["Follow-up"].iter_rows(values_only=True)))
        else []
    )
    actions = {(row["Client"], row["Action"].split(" (")[0]) for row in follow_up}
    # a client bill (a deductible), a corrected claim (missing data) and a true denial (bundled)
    assert ("GRACE OKAFOR", "Bill the client") in actions
    assert ("LIAM NOVAK", "Send a corrected claim with the same code") in actions
    assert any(
        row["Reason"] == "CO-97" and row["Action"].startswith("Add modifier 59 or XS only if")
        for row in follow_up
    )
    assert all("GP" not in row["Action"] for row in follow_up)
    claims = list(wb["Claims"].iter_rows(values_only=True))
    answered = [
        row
        for row in claims[1:]
        if row[0] is not None and row[list(claims[0]).index("Status")] != "Submitted"
    ]
    assert len(answered) == 11 + 10
    # payments for dates of service in the demo month: the Summary's Paid
    summary = list(wb["Summary"].iter_rows(values_only=True))
    total = next(row for row in summary if row[0] == "TOTAL")
    assert total[summary[0].index("Paid")] == 204
    assert "Summary" in wb.sheetnames and wb["Changes"].max_row > 1


def test_demo_ends_with_claims_to_send(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from claims_book import pyx12_errors

    out = run_demo(tmp_path, capsys)
    sent = sorted(p.name for p in tmp_path.glob("claims-2026-11-*"))
    assert [name for name in sent if name.endswith(".837")] == [
        "claims-2026-11-evergreen-medicare-advantage.837", "claims-2026-11-harbor-health-ppo.837",
        "claims-2026-11-summit-mutual.837",
    ]  # fmt: skip
    for name in sent:
        if name.endswith(".837"):
            assert pyx12_errors((tmp_path / name).read_text()) == [], name
    assert "claims-2026-11-cascade-workers-comp.pdf" in sent
    assert "claims-2026-11-cascade-workers-comp-preview.pdf" in sent
    assert (tmp_path / "claims-2026-11-cascade-workers-comp.pdf").read_bytes().startswith(b"%PDF")
    assert "CLAIM_INCOMPLETE: no member ID (Clients row 9)" in out
    wb = openpyxl.load_workbook(tmp_path / "massage-billing.xlsx")
    claims = list(wb["Claims"].iter_rows(values_only=True))
    header = list(claims[0])
    status, claim_id = header.index("Status"), header.index("Claim ID")
    submitted = [row for row in claims[1:] if row[status] == "Submitted"]
    assert len(submitted) > 20 and all(str(row[claim_id]).startswith("CB") for row in submitted)


def test_demo_never_overwrites_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mine = tmp_path / "massage-billing.xlsx"
    mine.write_bytes(b"the therapist's own file")
    run_demo(tmp_path, capsys)
    assert mine.read_bytes() == b"the therapist's own file"
    assert (tmp_path / "massage-billing-2.xlsx").exists()


def test_demo_refuses_a_missing_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["demo", str(tmp_path / "nowhere")])
    assert done.value.code == 2 and "does not exist" in capsys.readouterr().err


def test_the_packaged_remittance_is_the_one_in_workbook() -> None:
    packaged = (files("cptbill") / "data" / "sample-remittance.835").read_bytes()
    assert packaged == (ROOT / "workbook" / "sample-remittance.835").read_bytes(), (
        "copy workbook/sample-remittance.835 to src/cptbill/data/"
    )
