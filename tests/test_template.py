"""The template and sample workbooks: tables, formats, drop-downs, the sample's story, freshness."""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from cptbill import contract as c
from cptbill.book import MemoryBook, check, recode
from cptbill.cli import main
from cptbill.contract import Flag
from cptbill.errors import CptbillError
from cptbill.models import Claim, count_flags
from cptbill.schema import parse_claims, parse_payers, parse_sessions, parse_settings
from cptbill.template import REGENERATE, build_workbook, workbook_bytes, write_template
from cptbill.units import Rule

COMMITTED = Path(__file__).resolve().parents[1] / "workbook" / "massage-billing.xlsx"
SHEETS = [c.SESSIONS, c.PAYERS, c.CLIENTS, c.CLAIMS, c.SETTINGS, c.HOW_TO]
TABLE_SHEETS = SHEETS[:4]
NOVEMBER = "2026-11"

# The Payers sheet of the sample story, as the story gives it.
STORY_PAYERS = [
    ["Harbor Health PPO", "97124, 97140", "97140", 31.20, 33.50, 0, "AMA", 4, "HARBOR HEALTH, HHP01"],
    [
        "Summit Mutual",
        "97124, 97140",
        None,
        30.00,
        32.00,
        5.00,
        "CMS",
        None,
        "SUMMIT MUTUAL INSURANCE, SMI77",
    ],
    ["Evergreen Medicare Advantage", "97140", None, None, 27.17, 0, "CMS", 4, "EVERGREEN MA, EVG22"],
    ["Lakeside Auto PIP", "97124", None, 45.00, None, 12.00, "CMS", 6, None],
    ["Cascade Workers Comp", None, "97124", 38.00, None, None, "CMS", None, None],
]
STORY_CLIENTS = {
    "Rosa Delgado", "Tom Becker", "Grace Okafor", "Liam Novak", "Priya Raman", "Hannah Cole",
    "Marcus Reed", "Elena Petrova", "Sam Whitaker", "Aiko Tanaka", "Diego Alvarez",
    "Nora Fitzgerald", "Owen Brooks", "Fatima Haddad", "Jonas Berg",
}  # fmt: skip


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The template and the sample, written once through write_template."""
    folder = tmp_path_factory.mktemp("template")
    return {
        "template": write_template(folder / "template.xlsx"),
        "sample": write_template(folder / "sample.xlsx", sample=True),
    }


def values(ws: Worksheet) -> list[list[Any]]:
    return [list(row) for row in ws.iter_rows(values_only=True)]


def memory_book(path: Path) -> MemoryBook:
    wb = openpyxl.load_workbook(path)
    return MemoryBook({ws.title: values(ws) for ws in wb.worksheets})


def members(data: bytes | Path) -> dict[str, bytes]:
    source = data if isinstance(data, Path) else io.BytesIO(data)
    with zipfile.ZipFile(source) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


# --- Structure -------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["template", "sample"])
def test_every_sheet_is_a_formatted_table(files: dict[str, Path], kind: str) -> None:
    wb = openpyxl.load_workbook(files[kind])
    assert wb.sheetnames == SHEETS
    assert wb.active is not None and wb.active.title == c.SESSIONS
    for name in TABLE_SHEETS:
        ws = wb[name]
        assert len(ws.tables) == 1, name
        table = next(iter(ws.tables.values()))
        assert table.ref == f"A1:{ws.cell(1, ws.max_column).column_letter}{max(ws.max_row, 2)}"
        assert table.tableStyleInfo is not None and table.tableStyleInfo.name
        header = [cell.value for cell in ws[1]]
        assert [col.name for col in table.tableColumns] == header
        assert ws.freeze_panes == "A2"
        assert all(ws.column_dimensions[cell.column_letter].width > 5 for cell in ws[1])
    assert [cell.value for cell in wb[c.SESSIONS][1]] == [
        "Date", "Client", "Payer", "Minutes", "Service", "Modifiers", "Visit", "Lock", "Code", "Units",
        "Expected", "Flags",
    ]  # fmt: skip
    assert [cell.value for cell in wb[c.PAYERS][1]] == [
        "Payer", "Accepts", "Preferred", "Rate 97124", "Rate 97140", "Rate 97010", "Unit rule",
        "Max units", "ERA names", "Payer ID", "Address", "Plan type",
    ]  # fmt: skip
    assert tuple(cell.value for cell in wb[c.CLAIMS][1]) == c.CLAIMS_COLUMNS
    sessions = wb[c.SESSIONS]
    formats = {
        cell.value: sessions.column_dimensions[cell.column_letter].number_format for cell in sessions[1]
    }
    assert formats["Date"] == "yyyy-mm-dd"
    assert formats["Code"] == "@"
    assert "0.00" in formats["Expected"] and "$" in formats["Expected"]
    payers = wb[c.PAYERS]
    assert all(
        "$" in payers.column_dimensions[cell.column_letter].number_format
        for cell in payers[1]
        if str(cell.value).startswith(c.RATE_PREFIX)
    )
    if kind == "sample":
        assert sessions["A2"].number_format == "yyyy-mm-dd"
        assert sessions["I2"].number_format == "@"
        assert wb[c.CLAIMS]["F2"].number_format == formats["Expected"]


def test_template_is_empty_but_has_settings(files: dict[str, Path]) -> None:
    wb = openpyxl.load_workbook(files["template"])
    for name in (c.SESSIONS, c.PAYERS, c.CLAIMS):
        assert all(value is None for row in values(wb[name])[1:] for value in row), name
    assert parse_sessions(c.SESSIONS, values(wb[c.SESSIONS])) == []
    assert parse_payers(values(wb[c.PAYERS])) == ({}, [])
    assert parse_claims(values(wb[c.CLAIMS])) == ([], [])
    settings, warnings = parse_settings(values(wb[c.SETTINGS]))
    assert warnings == []
    assert (settings.default_code, settings.unit_rule, settings.blank_service) == (
        "97140",
        Rule.CMS,
        "massage",
    )
    assert [row[:2] for row in values(wb[c.SETTINGS])[1:]] == [
        ["Default code", "97140"],
        ["Unit rule", "CMS"],
        ["Blank service", "massage"],
        ["Month to recode", None],
        ["Date order", "MDY"],
    ]
    assert settings.month_to_recode is None
    assert settings.date_order == "MDY"
    # Text, so that Excel keeps a typed 2026-11 as it is instead of turning it into a date.
    month = next(row for row in wb[c.SETTINGS].iter_rows() if row[0].value == c.MONTH_TO_RECODE)
    assert month[1].number_format == "@"


def test_how_to_explains_columns_flags_and_commands(files: dict[str, Path]) -> None:
    wb = openpyxl.load_workbook(files["template"])
    text = "\n".join(str(v) for row in values(wb[c.HOW_TO]) for v in row if v is not None)
    terms = {row[0] for row in values(wb[c.HOW_TO])}
    for flag in Flag:
        assert flag.value in terms
    for column in (c.DATE, c.CLIENT, c.PAYER, c.MINUTES, c.SERVICE, c.MODIFIERS, c.VISIT, c.LOCK, *c.OWNED):
        assert column in terms
    # One plain paragraph on what `either` asserts and why a blank Service is massage.
    (either,) = [row[1] for row in values(wb[c.HOW_TO]) if row[0] == c.EITHER]
    assert (
        "meet both codes" in either and "code shopping" in either and "blank Service means massage" in either
    )
    for command in ("cptbill check", "cptbill recode", "cptbill import-era", "add-in", "import_era"):
        assert command in text
    # The Excel scripts' month: the How to use sheet points to the Settings row.
    recode = next(row[1] for row in values(wb[c.HOW_TO]) if row[0] == "Recode" and "script" in str(row[1]))
    assert c.MONTH_TO_RECODE in recode and c.SETTINGS in recode


def test_drop_downs_and_highlighting_are_plain_and_saved(files: dict[str, Path]) -> None:
    wb = openpyxl.load_workbook(files["sample"])
    lists = {
        name: {str(dv.sqref).split(":")[0][0]: dv for dv in wb[name].data_validations.dataValidation}
        for name in TABLE_SHEETS
    }
    payer, service = lists[c.SESSIONS]["C"], lists[c.SESSIONS]["E"]
    # Through a defined name, never straight at another sheet (Excel would store that as x14).
    assert payer.type == "list" and payer.formula1 == "PayerNames"
    assert wb.defined_names["PayerNames"].attr_text.replace("'", "") == "Payers!$A$2:$A$200"
    assert str(payer.sqref).startswith("C2:C")
    assert service.formula1 == '"massage,manual therapy,hot/cold pack,either"'
    assert (
        lists[c.CLAIMS]["H"].formula1
        == '"Paid,Denied,Partial,Pending,Reversed,Patient,Other payer,Forwarded,Predetermination,Submitted"'
    )
    assert lists[c.PAYERS]["G"].formula1 == '"CMS,AMA"'
    rules = [
        (str(cf.sqref), rule) for cf in wb[c.SESSIONS].conditional_formatting for rule in cf.rules
    ]  # fmt: skip
    assert len(rules) == 1
    sqref, rule = rules[0]
    assert sqref.startswith("A2:L") and rule.type == "expression" and "$L2" in rule.formula[0]
    assert rule.dxf is not None and rule.dxf.fill is not None
    # The XML holds the plain forms only: nothing openpyxl (or the fidelity guard) would drop.
    parts = members(files["sample"])
    sheets = [data.decode() for name, data in parts.items() if name.startswith("xl/worksheets/sheet")]
    assert all("extLst" not in xml and "x14" not in xml for xml in sheets)
    assert sum(xml.count("<dataValidation ") for xml in sheets) == 12  # 9, and Sex, Relationship, Plan type
    assert sum('<cfRule type="expression"' in xml for xml in sheets) == 1


# --- The sample month ------------------------------------------------------------------------------


def test_sample_payers_are_the_story(files: dict[str, Path]) -> None:
    wb = openpyxl.load_workbook(files["sample"])
    assert [row[:9] for row in values(wb[c.PAYERS])[1:]] == STORY_PAYERS
    # What claims need: payers with a Payer ID get 837 files, the others paper forms.
    assert [row[9] for row in values(wb[c.PAYERS])[1:]] == ["HHP01", "SMI77", "EVG22", None, None]
    payers, warnings = parse_payers(values(wb[c.PAYERS]))
    assert warnings == []
    assert payers["harbor health ppo"].rate("97140") == Decimal("33.5")
    assert payers["evergreen medicare advantage"].accepts == ("97140",)


def test_sample_sessions_are_november_and_typed_only(files: dict[str, Path]) -> None:
    wb = openpyxl.load_workbook(files["sample"])
    rows = values(wb[c.SESSIONS])
    header, data = rows[0], rows[1:]
    lines = parse_sessions(c.SESSIONS, rows)
    assert 35 <= len(lines) <= 45
    assert all(isinstance(row[0], dt.datetime) for row in data)  # real Excel dates
    assert {line.date.strftime("%Y-%m") for line in lines if line.date} == {NOVEMBER}
    assert {line.client for line in lines} <= STORY_CLIENTS
    assert not any(line.problems for line in lines)
    payers = Counter(line.payer for line in lines)
    assert payers["Pinecrest Health"] == 1 and payers[""] == 1
    assert sum(line.locked for line in lines) == 1
    assert sum(line.service == "97010" for line in lines) >= 1
    assert [line.minutes for line in lines if line.minutes is not None and line.minutes < 8] == [5]
    typed = [line for line in lines if line.code or line.units or line.expected or line.flags_text]
    assert len(typed) == 3  # the mixed visit's two lines and the locked line
    mixed = [line for line in typed if not line.locked]
    assert {line.code for line in mixed} == {"97124", "97140"}
    assert len({(line.date, line.client) for line in mixed}) == 1
    assert header.index("Code") == 8 and all(isinstance(line.code, str) for line in typed)
    # Services are typed: every line documents one; Summit Mutual's notes meet both codes (either).
    assert all(line.service for line in lines)
    assert {line.service for line in lines if line.payer == "Summit Mutual"} == {c.EITHER}
    assert {line.service for line in lines if line.payer != "Summit Mutual"} >= {"97124", "97140", "97010"}


def test_sample_claims_tell_the_story(files: dict[str, Path]) -> None:
    wb = openpyxl.load_workbook(files["sample"])
    claims, warnings = parse_claims(values(wb[c.CLAIMS]))
    assert warnings == []
    assert all(claim.date and dt.date(2026, 9, 1) <= claim.date <= dt.date(2026, 10, 31) for claim in claims)
    statuses = Counter(claim.status for claim in claims)
    assert statuses[c.Status.PENDING] == 1 and statuses[c.Status.DENIED] == 2
    assert all(claim.reason == "CO-97" for claim in claims if claim.status is c.Status.DENIED)
    payers, _ = parse_payers(values(wb[c.PAYERS]))

    def rate_x_units(claim: Claim) -> Decimal:
        rate = payers[c.name_key(claim.payer)].rate(claim.code or "")
        assert rate is not None
        return rate * Decimal(str(claim.units))

    # Paid amounts are the payer's rate x units, except the one underpayment.
    short = [claim for claim in claims if claim.status is c.Status.PAID and claim.paid != rate_x_units(claim)]
    assert [(s.client, s.paid) for s in short] == [("Nora Fitzgerald", Decimal("55.0"))]


def test_recoding_the_sample_tells_the_story(files: dict[str, Path]) -> None:
    book = memory_book(files["sample"])
    before, _ = check(book, NOVEMBER)
    flags_before = {r.row: {f.flag for f in r.flags} for r in before.standing}
    plan, _ = recode(book, NOVEMBER, now=dt.datetime(2026, 12, 1, 9))
    # The check's totals and flags are the recode's; the typed mixed visit is two documented
    # services, so it stays two codes and stays flagged.
    assert before.summary() == plan.summary()
    assert before.expected_total == plan.expected_total > 0
    assert count_flags(before.standing)["MIXED_CODES"] == 2 and plan.flag_counts()["MIXED_CODES"] == 2
    rows = book.sheets[c.SESSIONS]
    index = {name: i for i, name in enumerate(rows[0])}
    flags = {r.row: {f.flag for f in r.flags} for r in plan.results}

    def lines(**where: Any) -> list[int]:
        return [
            n for n, row in enumerate(rows[1:], start=2)
            if all(row[index[k.title()]] == v for k, v in where.items())
        ]  # fmt: skip

    def get(row: int, column: str) -> Any:
        return rows[row - 1][index[column]]

    summit = [n for n in lines(payer="Summit Mutual") if not get(n, "Lock")]
    assert len(summit) >= 5 and {get(n, "Code") for n in summit} == {"97124"}  # either: learned from history
    # Every documented service keeps its code, whatever the payer takes or prefers.
    codes = {"massage": "97124", "manual therapy": "97140", "myofascial release": "97140", "MLD": "97140"}
    documented = [n for n in lines() if get(n, "Service") in codes and get(n, "Payer")]
    assert len(documented) >= 20
    assert all(get(n, "Code") == codes[get(n, "Service")] for n in documented)
    # Massage at a payer that covers only manual therapy: 97124 stays, flagged with the advice.
    (massage_at_evergreen,) = lines(payer="Evergreen Medicare Advantage", service="massage")
    assert get(massage_at_evergreen, "Code") == "97124"
    assert (
        "NOT_ACCEPTED: Evergreen Medicare Advantage covers only 97140 (manual therapy): bill it only if "
        in (get(massage_at_evergreen, "Flags"))
    )
    assert {get(n, "Code") for n in lines(payer="Lakeside Auto PIP", service="massage")} == {"97124"}
    assert {get(n, "Code") for n in lines(payer="Cascade Workers Comp", service="massage")} == {"97124"}

    harbor_long = lines(client="Nora Fitzgerald", date=dt.datetime(2026, 11, 9))
    assert len(harbor_long) == 2 and sum(get(n, "Units") for n in harbor_long) == 4
    assert all(Flag.OVER_CAP in flags[n] for n in harbor_long)

    # Two services in one visit: both billed; flagged without XS, not flagged with it.
    mixed = lines(client="Hannah Cole", date=dt.datetime(2026, 11, 5))
    assert all(Flag.MIXED_CODES in flags_before[n] and Flag.MIXED_CODES in flags[n] for n in mixed)
    assert [get(n, "Code") for n in mixed] == ["97124", "97140"]
    separate = lines(client="Tom Becker", date=dt.datetime(2026, 11, 24))
    assert [get(n, "Code") for n in separate] == ["97124", "97140"]
    assert get(separate[1], "Modifiers") == "XS" and not any(Flag.MIXED_CODES in flags[n] for n in separate)
    # Two visits on one day at a CMS payer: the day's 40 minutes are 3 units.
    two_visits = lines(client="Sam Whitaker", date=dt.datetime(2026, 11, 23))
    assert [get(n, "Units") for n in two_visits] == [2, 1]
    assert plan.changes == ()  # nothing typed was overwritten

    (unknown,) = lines(payer="Pinecrest Health")
    assert Flag.UNKNOWN_PAYER in flags[unknown] and get(unknown, "Expected") is None
    (short,) = lines(minutes=5)
    assert Flag.UNDER_8_MIN in flags[short] and get(short, "Units") == 0
    (cascade_pack,) = lines(payer="Cascade Workers Comp", service="hot/cold pack")
    assert Flag.NO_RATE in flags[cascade_pack]
    (lakeside_pack,) = lines(payer="Lakeside Auto PIP", service="hot/cold pack")
    assert (get(lakeside_pack, "Code"), get(lakeside_pack, "Expected")) == ("97010", 12.0)
    (locked,) = [n for n in lines(payer="Summit Mutual") if get(n, "Lock")]
    assert (get(locked, "Code"), get(locked, "Units")) == ("97140", 3)
    assert Flag.DENIED_BEFORE in flags[locked]
    (self_pay,) = lines(payer=None)
    assert get(self_pay, "Code") is None and self_pay not in flags

    again, _ = recode(book, NOVEMBER, now=dt.datetime(2026, 12, 1, 10))
    assert not any(r.changed for r in again.results) and again.changes == ()


def test_the_file_door_recodes_the_sample_and_keeps_its_features(
    files: dict[str, Path], tmp_path: Path
) -> None:
    from cptbill.xlsx import update_file

    path = tmp_path / "billing.xlsx"
    path.write_bytes(files["sample"].read_bytes())
    done = update_file(path, partial(recode, month=NOVEMBER, now=dt.datetime(2026, 12, 1, 9)))
    assert done.saved == path
    before, after = openpyxl.load_workbook(files["sample"]), openpyxl.load_workbook(path)
    assert after.sheetnames == [*SHEETS, c.CHANGES]
    for name in TABLE_SHEETS:
        refs = {t.name: t.ref for t in before[name].tables.values()}
        if name == c.PAYERS:  # the recode adds the Learned column, and the table grows with it
            last, learned = (get_column_letter(before[name].max_column + i) for i in (0, 1))
            refs = {t: ref.replace(last, learned) for t, ref in refs.items()}
            assert after[name][f"{learned}1"].value == c.LEARNED
        assert {t.name: t.ref for t in after[name].tables.values()} == refs
        assert len(after[name].data_validations.dataValidation) == len(
            before[name].data_validations.dataValidation
        )
    assert len(list(after[c.SESSIONS].conditional_formatting)) == 1
    sessions = after[c.SESSIONS]
    assert (sessions["I2"].value, sessions["K2"].value) == ("97124", 90)  # Summit: 50 minutes, 3 x 30.00
    assert sessions["K2"].number_format == sessions.column_dimensions["K"].number_format


# --- Writing, freshness, the command ---------------------------------------------------------------


def test_building_is_reproducible_and_the_committed_sample_is_fresh() -> None:
    first, second = workbook_bytes(build_workbook(True)), workbook_bytes(build_workbook(True))
    assert first == second
    assert first != workbook_bytes(build_workbook(False))
    assert COMMITTED.exists(), f"workbook/massage-billing.xlsx is missing; run: {REGENERATE}"
    # Compare the parts, not the zip bytes: another zlib may compress the same parts differently.
    assert members(COMMITTED) == members(first), (
        f"workbook/massage-billing.xlsx is out of date; regenerate it with: {REGENERATE}"
    )


def test_write_template_refuses_to_overwrite(tmp_path: Path) -> None:
    target = tmp_path / "book.xlsx"
    target.write_bytes(b"mine")
    with pytest.raises(CptbillError, match="already exists"):
        write_template(target)
    assert target.read_bytes() == b"mine"
    with pytest.raises(CptbillError, match="folder"):
        write_template(tmp_path / "missing" / "book.xlsx")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["book.xlsx"]  # no temporary file left


def test_new_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "billing.xlsx"
    with pytest.raises(SystemExit) as done:
        main(["new", str(target), "--sample"])
    assert done.value.code == 0
    assert members(target) == members(workbook_bytes(build_workbook(True)))
    assert "billing.xlsx" in capsys.readouterr().out
    for path in (target, tmp_path / "nowhere" / "b.xlsx"):
        with pytest.raises(SystemExit) as done:
            main(["new", str(path)])
        assert done.value.code == 2
        error = capsys.readouterr().err
        assert error.startswith("cptbill: ") and error.count("\n") == 1 and "Traceback" not in error


# --- A real spreadsheet application ----------------------------------------------------------------


@pytest.mark.external
def test_libreoffice_opens_template_and_sample(
    files: dict[str, Path], libreoffice: Callable[[Path, str], Path]
) -> None:
    for kind, path in files.items():
        ours = openpyxl.load_workbook(path)
        theirs = openpyxl.load_workbook(libreoffice(path, "xlsx"))
        assert theirs.sheetnames == SHEETS, kind
        for name in TABLE_SHEETS:
            assert len(theirs[name].tables) == 1, (kind, name)
            mine = [row for row in values(ours[name]) if any(v is not None for v in row)]
            read = [row[: len(mine[0])] for row in values(theirs[name]) if any(v is not None for v in row)]
            assert read == mine, (kind, name)
        assert theirs[c.SESSIONS].data_validations.dataValidation, kind
        assert theirs[c.SESSIONS].conditional_formatting, kind


def test_a_new_workbook_gets_the_permissions_of_the_users_umask(tmp_path: Path) -> None:
    """A workbook is shared like any document the user saves: not a private 0600 temp file."""
    import os

    old = os.umask(0o022)
    try:
        path = write_template(tmp_path / "new.xlsx")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["new.xlsx"]  # no temp file or backup left
