"""Claims of group practices: the rendering provider (837P 2310B/2420A, boxes 24J and 31) and the
service facility (2310C, box 32); a practice that names no therapist sends no claim."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from claims_book import SETTINGS, claims_book, pyx12_errors
from cptbill.book import MemoryBook
from cptbill.claims import NO_RENDERING, parse_therapists
from test_claims import _837, claim_of, claim_segments, run, segments, text_at

FIXTURES = Path(__file__).parent / "fixtures" / "claims-solo"
JANE = ["NM1", "82", "1", "Smith", "Jane", "", "", "", "XX", "1666666668"]
JANE_PRV = ["PRV", "PE", "PXC", "225700000X"]
MARCO = ["NM1", "82", "1", "Diaz", "Marco", "", "", "", "XX", "1777777776"]

THERAPISTS: list[list[Any]] = [
    ["Therapist", "Name on claims", "NPI", "Taxonomy", "Credentials"],
    ["Jane", "Smith, Jane", "1666666668", "225700000X", "LMT"],  # row 2
    ["Marco Diaz", None, "1777 777 776", None, None],  # row 3: no taxonomy, no PRV
    ["Bad Npi", "Npi, Bad", "1888888880", None, None],  # row 4: check digit
    ["Cher", None, "1555555550", None, None],  # row 5: one name only
    ["Owner", "Willow, Ann", "1472583693", None, None],  # row 6: the billing NPI itself
]
#: Sessions rows 2-11 (Jonas, row 12, pays himself)
WHO = {2: "Jane", 3: "Jane", 4: "Marco Diaz", 5: "marco diaz", 6: "Marco Diaz", 7: "Jane", 8: "Jane",
       9: "Jane", 10: "Jane", 11: "Jane"}  # fmt: skip


def sessions(who: dict[int, Any] | None, place: dict[int, str] | None = None) -> list[list[Any]]:
    """The claims book's Sessions with a Therapist column (unless `who` is None) and a Place of service."""
    rows = [list(row) for row in claims_book().read("Sessions")]
    rows[0] = [
        *rows[0],
        *(["Therapist"] if who is not None else []),
        *(["Place of service"] if place else []),
    ]
    for number, row in enumerate(rows[1:], start=2):
        if who is not None:
            row.append(who.get(number))
        if place:
            row.append(place.get(number))
    return rows


#: The claims book's Settings without its Rendering provider: a group names each line's therapist.
GROUP_SETTINGS = [row for row in SETTINGS if not str(row[0]).startswith("Rendering")]


def group_book(who: dict[int, Any] = WHO, **sheets: list[list[Any]]) -> MemoryBook:
    return MemoryBook({
        **claims_book().sheets, "Settings": GROUP_SETTINGS, "Sessions": sessions(who), "Therapists": THERAPISTS,
        **sheets,
    })  # fmt: skip


def settings(*extra: list[Any]) -> list[list[Any]]:
    return [*SETTINGS, *extra]


def texts(book: MemoryBook, **options: Any) -> dict[str, bytes]:
    return run(book, **options).files


# ----------------------------------------------------------------------------- a solo practice


def test_a_practice_with_one_therapist_files_are_as_stored() -> None:
    """No Therapist column, no Therapists sheet, no facility: the claims book's practice names its
    one therapist in Settings (Rendering provider), and its 837s are byte for byte the stored ones."""
    files = texts(claims_book())
    written = sorted(name for name in files if name.endswith(".837"))
    assert written == sorted(p.name for p in FIXTURES.iterdir())
    for name in written:
        assert files[name] == (FIXTURES / name).read_bytes(), name
        assert b"NM1*82*1*Rivera*Maya****XX*1987654328~" in files[name]


def test_a_practice_naming_no_therapist_sends_no_claim() -> None:
    """A practice (an organisation, a type 2 NPI) treats no one: without a Rendering provider or
    a Therapist its claims would bounce, so each line is flagged and nothing is sent."""
    submission = run(MemoryBook({**claims_book().sheets, "Settings": GROUP_SETTINGS}))
    assert submission.claims == [] and submission.batch.flags
    for notes in submission.batch.flags.values():  # beside any other missing item of the claim
        assert f"CLAIM_INCOMPLETE: {NO_RENDERING}" in [str(n) for n in notes]


def test_the_billing_provider_as_rendering_provider_adds_no_loop() -> None:
    """X222A1 2310B: sent only when the rendering provider differs from the billing provider."""
    same = [*GROUP_SETTINGS, ["Rendering provider", "Willow, Ann"], ["Rendering NPI", "1472583693"]]
    solo = texts(MemoryBook({**claims_book().sheets, "Settings": same}))
    assert solo and not any(b"NM1*82*" in text for name, text in solo.items() if name.endswith(".837"))
    everyone_owner = {row: "Owner" for row in WHO}
    assert texts(group_book(everyone_owner)) == solo
    solo_pdf = texts(MemoryBook({**claims_book().sheets, "Settings": same}), fmt="pdf")
    assert texts(group_book(everyone_owner), fmt="pdf") == solo_pdf


# ----------------------------------------------------------------------------- rendering provider


def test_therapists_sheet_read() -> None:
    found = parse_therapists(THERAPISTS)
    assert found["jane"].rendering.npi == "1666666668" and found["jane"].problems == ()
    assert found["marco diaz"].rendering.name.last == "Diaz"
    assert found["bad npi"].problems == ("NPI fails its check digit (Therapists row 4)",)
    assert found["cher"].problems == (
        "Name on claims needs a last and first name, 'Last, First' (Therapists row 5)",
    )


@pytest.mark.parametrize(
    ("typed", "on_claims", "name", "credentials"),
    [
        ("Jane Smith, LMT", None, ("Smith", "Jane"), "LMT"),
        ("JS", "Smith, Jane, DC", ("Smith", "Jane"), "DC"),
        ("Jane Smith PT", None, ("Smith", "Jane"), "PT"),
        ("Jane", "Smith, Jane", ("Smith", "Jane"), ""),
        ("Kim Do", None, ("Do", "Kim"), ""),
    ],
)
def test_a_credential_after_the_name_is_not_a_first_name(
    typed: str, on_claims: str | None, name: tuple[str, str], credentials: str
) -> None:
    (found,) = parse_therapists([THERAPISTS[0], [typed, on_claims, "1666666668", None, None]]).values()
    assert ((found.rendering.name.last, found.rendering.name.first), found.rendering.credentials) == (
        name, credentials,
    )  # fmt: skip
    assert found.problems == ()


def test_group_837_names_the_therapist_in_2310b_and_pyx12_accepts_it() -> None:
    submission = run(group_book())
    written = [name for name in submission.files if name.endswith(".837")]
    assert len(written) == 3
    for name in written:
        assert pyx12_errors(submission.files[name].decode("ascii")) == [], name
    rosa = claim_of(submission, "Rosa Delgado")
    found = claim_segments(_837(submission, rosa), rosa.claim_id)
    first_line = next(i for i, s in enumerate(found) if s[0] == "LX")
    assert found[first_line - 2 : first_line] == [JANE, JANE_PRV]  # claim level, after HI
    assert found.count(JANE) == 1  # no 2420A: the line is the claim's therapist's
    diego = claim_of(submission, "Diego Alvarez")
    found = claim_segments(_837(submission, diego), diego.claim_id)
    assert found.count(MARCO) == 1 and not any(s[:2] == ["PRV", "PE"] for s in found)  # no taxonomy


def test_lines_of_two_therapists_stay_one_claim_each_naming_its_own() -> None:
    """Tom's visit: 30 minutes with Jane, 23 with Marco; one claim, 2310B Jane, 2420A Marco on line 2."""
    submission = run(group_book())
    tom = claim_of(submission, "Tom Becker")
    assert [(line.rows, line.rendering.npi if line.rendering else None) for line in tom.lines] == [
        ((("Sessions", 3),), "1666666668"), ((("Sessions", 4),), "1777777776"),
    ]  # fmt: skip
    text = _837(submission, tom)
    assert pyx12_errors(text) == []
    found = claim_segments(text, tom.claim_id)
    lx2 = found.index(["LX", "2"])
    assert JANE in found[:lx2] and MARCO not in found[:lx2]
    assert found[lx2:][-1] == MARCO and found[lx2:][-2] == ["REF", "6R", "2"]  # 2420A after REF*6R


def test_one_therapist_under_the_group_npi_from_settings() -> None:
    one = settings(["Rendering provider", "Smith, Jane"], ["Rendering NPI", "1666666668"],
                   ["Rendering taxonomy", "225700000X"])  # fmt: skip
    submission = run(MemoryBook({**claims_book().sheets, "Settings": one}))
    assert len(submission.claims) == 5
    for name, data in submission.files.items():
        if name.endswith(".837"):
            text = data.decode("ascii")
            assert pyx12_errors(text) == [], name
            assert segments(text).count(JANE) == text.count("CLM*")
            assert segments(text).count(JANE_PRV) == text.count("CLM*")


GROUP_MISSING = [
    ("Nobody Here", "Therapist is not on the Therapists sheet (Sessions row 2)"),
    ("Bad Npi", "NPI fails its check digit (Therapists row 4)"),
    ("Cher", "Name on claims needs a last and first name, 'Last, First' (Therapists row 5)"),
    (None, "no Therapist (Sessions row 2): a group's claims name the therapist who treated"),
]


@pytest.mark.parametrize(("therapist", "note"), GROUP_MISSING)
def test_each_missing_therapist_item_flags_only_its_claim(therapist: Any, note: str) -> None:
    baseline = {c.client.name for c in run(group_book()).claims}
    book = group_book({**WHO, 2: therapist})
    submission = run(book)
    assert {c.client.name for c in submission.claims} == baseline - {"Rosa Delgado"}
    assert [str(n) for n in submission.batch.flags[("Sessions", 2)]] == [f"CLAIM_INCOMPLETE: {note}"]
    assert book.read("Sessions")[1][10] == f"CLAIM_INCOMPLETE: {note}"


def test_a_bad_rendering_setting_flags_the_lines_that_use_it() -> None:
    bad = settings(["Rendering provider", "Smith, Jane"], ["Rendering NPI", "1666666660"])
    who = {row: therapist for row, therapist in WHO.items() if row != 2}  # only Rosa's line uses Settings
    book = group_book(who, Settings=bad)
    submission = run(book)
    assert "Rosa Delgado" not in {c.client.name for c in submission.claims}
    assert [str(n) for n in submission.batch.flags[("Sessions", 2)]] == [
        "CLAIM_INCOMPLETE: Rendering NPI fails its check digit (Settings)"
    ]
    assert {"Tom Becker", "Diego Alvarez", "Grace Okafor", "Owen Brooks"} <= {
        c.client.name for c in submission.claims
    }


def test_a_person_billing_may_leave_the_therapist_blank() -> None:
    """A therapist billing under their own name: a blank Therapist is the billing provider."""
    person = [
        row if row[0] != "Billing provider" else ["Billing provider", "Willow, Ann"] for row in GROUP_SETTINGS
    ]
    submission = run(group_book({3: "Marco Diaz"}, Settings=person))
    assert {c.client.name for c in submission.claims} == {c.client.name for c in run(claims_book()).claims}
    tom = claim_of(submission, "Tom Becker")
    found = claim_segments(_837(submission, tom), tom.claim_id)
    assert pyx12_errors(_837(submission, tom)) == []
    assert found.count(MARCO) == 1  # 2310B: line 1 (Sessions row 3) is Marco's
    owner = ["NM1", "82", "1", "Willow", "Ann", "", "", "", "XX", "1472583693"]
    assert found[-2:] == [owner, ["PRV", "PE", "PXC", "225700000X"]]  # 2420A: line 2 is the owner's


# ----------------------------------------------------------------------------- service facility

STUDIO = settings(
    ["Service facility", "Willow Studio"], ["Service address", "200 Oak St, Salem, OR 97301-5555"]
)


def test_service_address_in_2310c_except_at_the_clients_home() -> None:
    book = MemoryBook({
        **claims_book().sheets, "Settings": STUDIO, "Sessions": sessions(None, place={2: "home"}),
    })  # fmt: skip
    submission = run(book)
    facility = [["NM1", "77", "2", "Willow Studio"], ["N3", "200 Oak St"], ["N4", "Salem", "OR", "973015555"]]
    for name, data in submission.files.items():
        if name.endswith(".837"):
            assert pyx12_errors(data.decode("ascii")) == [], name
    tom = claim_of(submission, "Tom Becker")
    found = claim_segments(_837(submission, tom), tom.claim_id)
    start = found.index(facility[0])
    assert found[start : start + 3] == facility and start < found.index(["LX", "1"])
    rosa = claim_of(submission, "Rosa Delgado")  # at home (POS 12): no facility
    found = claim_segments(_837(submission, rosa), rosa.claim_id)
    assert found[0][5] == "12:B:1" and not any(s[:2] == ["NM1", "77"] for s in found)


def test_a_service_address_that_is_the_billing_address_is_no_facility() -> None:
    same = settings(["Service address", "100 Main St. Suite 2, Salem, OR 97301"])
    assert texts(MemoryBook({**claims_book().sheets, "Settings": same})) == texts(claims_book())


def test_a_service_address_without_zip4_holds_only_the_claims_that_need_it() -> None:
    short = settings(["Service address", "200 Oak St, Salem, OR 97301"])
    book = MemoryBook(
        {**claims_book().sheets, "Settings": short, "Sessions": sessions(None, place={2: "home"})}
    )
    submission = run(book)
    assert "Rosa Delgado" in {c.client.name for c in submission.claims}  # at home: no facility needed
    assert "Tom Becker" not in {c.client.name for c in submission.claims}
    assert [str(n) for n in submission.batch.flags[("Sessions", 3)]] == [
        "CLAIM_INCOMPLETE: Service address needs the 9-digit ZIP+4 (Settings)"
    ]


# ----------------------------------------------------------------------------- CMS-1500


def test_cms1500_rendering_npi_taxonomy_box_31_and_box_32() -> None:
    book = group_book(Settings=STUDIO)
    submission = run(book, fmt="pdf", payer="Harbor Health PPO")
    tom = claim_of(submission, "Tom Becker")
    page = text_at(submission.files["claims-2026-11-harbor-health-ppo.pdf"])[0]
    assert page[(56, 23)] == tom.claim_id
    assert (page[(44, 68)], page[(46, 68)]) == ("1666666668", "1777777776")  # 24J per line
    assert (page[(43, 65)], page[(43, 68)]) == ("ZZ", "225700000X")  # Jane's taxonomy, shaded
    assert (45, 65) not in page  # Marco has none
    assert (59, 1) not in page and page[(60, 1)] == "SIGNATURE ON FILE"  # two therapists: no one named
    assert (page[(58, 23)], page[(59, 23)], page[(60, 23)]) == (
        "WILLOW STUDIO",
        "200 OAK ST",
        "SALEM OR 973015555",
    )
    assert page[(61, 50)] == "1472583693"  # 33a stays the group's NPI

    submission = run(group_book(Settings=STUDIO), fmt="pdf", payer="Summit Mutual")
    rosa = claim_of(submission, "Rosa Delgado")
    pages = text_at(submission.files["claims-2026-11-summit-mutual.pdf"])
    page = next(p for p in pages if p.get((56, 23)) == rosa.claim_id)
    assert page[(59, 1)] == "JANE SMITH LMT" and page[(44, 68)] == "1666666668"


def test_cms1500_home_visit_leaves_box_32_empty() -> None:
    book = MemoryBook(
        {**claims_book().sheets, "Settings": STUDIO, "Sessions": sessions(None, place={2: "home"})}
    )
    submission = run(book, fmt="pdf", payer="Summit Mutual")
    rosa = claim_of(submission, "Rosa Delgado")
    page = next(
        p
        for p in text_at(submission.files["claims-2026-11-summit-mutual.pdf"])
        if p.get((56, 23)) == rosa.claim_id
    )
    assert page[(44, 19)] == "12" and not any(col == 23 and 58 <= line <= 61 for line, col in page)


# ----------------------------------------------------------------------------- from Excel and from a file


def test_claims_script_in_excel_reads_the_therapists_sheet(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import datetime as dt

    import cptbill.excel
    from test_excel import payload, run_script

    def as_datetime(value: Any) -> Any:
        return dt.datetime.combine(value, dt.time()) if isinstance(value, dt.date) else value

    book = group_book()
    sheets = {name: [[as_datetime(v) for v in row] for row in rows] for name, rows in book.sheets.items()}
    sheets["Settings"] = [*sheets["Settings"], ["Month to recode", "2026-11"]]
    monkeypatch.setattr(cptbill.excel, "IMPORT_FOLDER", str(tmp_path / "data"))
    run_script(payload(sheets, active="Sessions"), script="claims")
    here = texts(group_book())
    for name, data in here.items():
        if name.endswith(".837"):
            there = (tmp_path / "data" / name).read_text(encoding="ascii")
            stable = [s for s in segments(there) if s[0] not in ("ISA", "GS", "BHT", "IEA")]
            assert stable == [s for s in segments(data.decode()) if s[0] not in ("ISA", "GS", "BHT", "IEA")]
            assert any(s[:2] == ["NM1", "82"] for s in stable), name


def test_claims_command_on_a_group_workbook(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The sample workbook made a group's: a Therapist column, a Therapists sheet, a service address."""
    import openpyxl

    from helpers import run as cli

    path = tmp_path / "billing.xlsx"
    assert cli(capsys, "new", str(path), "--sample")[0] == 0
    wb = openpyxl.load_workbook(path)
    ws = wb["Sessions"]
    header = [cell.value for cell in ws[1]]
    column = (
        next(i for i, v in enumerate(header, start=1) if v is None) if None in header else len(header) + 1
    )
    ws.cell(1, column, "Therapist")
    for row in range(2, ws.max_row + 1):
        if ws.cell(row, 1).value is not None:
            ws.cell(row, column, "Jane" if row % 2 else "Marco Diaz")
    therapists = wb.create_sheet("Therapists")
    for row in THERAPISTS[:3]:
        therapists.append(row)
    therapists["C2"] = 1666666668  # typed as a number
    wb["Settings"].append(["Service address", "200 Oak St, Salem, OR 97301-5555"])
    wb.save(path)
    assert cli(capsys, "recode", str(path), "--month", "2026-11")[0] == 0
    status, out, err = cli(capsys, "claims", str(path), "--month", "2026-11", "--json")
    assert (status, err) == (0, "")
    import json

    summary = json.loads(out)
    assert summary["claims"] > 20 and summary["incomplete"] == 2  # only Liam Novak's member ID, as before
    for name in summary["files"]:
        if name.endswith(".837"):
            text = (tmp_path / name).read_text(encoding="ascii")
            assert pyx12_errors(text) == [], name
            assert ["NM1", "82", "1", "Smith", "Jane", "", "", "", "XX", "1666666668"] in segments(text)
            assert any(s[:2] == ["NM1", "77"] for s in segments(text))
