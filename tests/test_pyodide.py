"""The xlwings Lite add-in in its real runtime: Pyodide under Node.js, with only addin/main.py and the
wheels of addin/requirements.txt (no cptbill wheel anywhere)."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import cptbill.excel
from conftest import REQUIRE_EXTERNAL, need
from test_excel import (
    FIXTURES,
    PAYERS,
    SAMPLE,
    SESSION_HEADER,
    apply,
    call,
    comparable,
    month_lines,
    owned,
    payload,
    read_workbook,
    run_script,
)

ROOT = Path(__file__).resolve().parent.parent
HERE = ROOT / "tests" / "pyodide"
ADDIN = ROOT / "addin"
SETUP = "run tests/pyodide/setup.sh (npm package pyodide and the wheels of addin/requirements.txt)"
#: What micropip evaluates dependency markers against in Pyodide 314.
PYODIDE_MARKERS = {
    "sys_platform": "emscripten",
    "platform_system": "Emscripten",
    "os_name": "posix",
    "platform_machine": "wasm32",
    "python_version": "3.14",
    "python_full_version": "3.14.0",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
    "extra": "",
}
ERA_FILES = {  # where the user dropped them in xlwings Lite's Import/Export area -> fixture
    "summit-paid-denied.835": FIXTURES / "summit-paid-denied.835",
    "october/harbor-reversal-plb.835": FIXTURES / "harbor-reversal-plb.835",
}

DRIVER = r"""
import json, sys
sys.path.insert(0, "/home/pyodide/addin")
import main  # the workbook's main.py, as xlwings Lite imports it
import xlwings as xw
import xlwings.server

job = json.load(open("/home/pyodide/job.json"))
call = {"version": xw.__version__, "runtime": "1.4", "client": "Office.js"}

async def formula(name, *args):
    return await xlwings.server.custom_functions_call({**call, "func_name": name, "args": list(args)}, main)

import re
import js
from pyodide.code import run_js

class Answer(dict):
    def to_py(self):
        return dict(self)

# xlwings Lite's client in Excel, as far as the scripts use it: it carries out the actions sent
# (refusing those `refuse` picks, as Office.js does, with a JavaScript error) and answers
# questions about merged cells.
class Client:

    def __init__(self):
        self.applied, self.merged, self.refuse, self.asked = [], [], None, 0

    async def runActions(self, actions):
        for action in actions.to_py()["actions"]:
            if self.refuse is not None and self.refuse(action):
                run_js("throw new Error('InvalidArgument: The argument is invalid or missing.')")
            self.applied.append(action)

    async def getRangeData(self, sheet, address, keys):
        self.asked += 1
        top, left, bottom, right = bounds(address)
        cells = {(r, c) for r in range(top, bottom + 1) for c in range(left, right + 1)}
        inside = {cell for b in self.merged for cell in cells if b[0] <= cell[0] <= b[2] and b[1] <= cell[1] <= b[3]}
        area = next((b for b in self.merged if b[0] <= top <= b[2] and b[1] <= left <= b[3]), None)
        return Answer({
            "merge_cells": inside == cells if inside in (set(), cells) else None,
            "merge_area": None if area is None else f"{sheet}!{name(area[:2])}:{name(area[2:])}",
        })

def bounds(address):
    found = [(int(row), sum((ord(ch) - 64) * 26**i for i, ch in enumerate(reversed(col))))
             for col, row in re.findall(r"\$?([A-Z]+)\$?(\d+)", address)]
    return (*found[0], *found[-1])

def name(cell):
    return f"{chr(64 + cell[1])}{cell[0]}"

client = js.xlwings = Client()

async def script(name, data, merged=(), refuse=None):
    client.applied, client.merged, client.refuse, client.asked = [], list(merged), refuse, 0
    book = xw.Book(json=data)
    await xlwings.server.custom_scripts_call(main, name, typehint_to_value={xw.Book: book})
    return client.applied + book.json()["actions"]

units = await formula("cptunits", job["minutes"])
codes = await formula("cptcode", job["payer_names"], job["payers"])
flags = await formula("cptflags", job["sessions"], job["payers"])
loaded = sorted(m for m in ("typer", "rich", "click", "openpyxl", "pyx12") if m in sys.modules)
recode = await script("recode", job["book"])
asked = client.asked
import_era = await script("import_era", job["era_book"])
merged = await script("recode", job["book"], merged=[(3, 7, 4, 7)])
refused = await script("recode", job["book"], refuse=lambda a: a["func"] == "setValues" and a["start_column"] == 7)
json.dumps({
    "platform": sys.platform,
    "python": sys.version.split()[0],
    "cptbill": sorted({m.__file__.rsplit("/", 2)[0] for n, m in sys.modules.items() if n.startswith("cptbill")}),
    "functions": sorted(f["name"] for f in xlwings.server.custom_functions_meta(main)["functions"]),
    "scripts": sorted(s["function_name"] for s in xlwings.server.custom_scripts_meta(main)),
    "units": units,
    "codes": codes,
    "flags": flags,
    "loaded_by_formulas": loaded,
    "recode": recode,
    "asked": asked,
    "import_era": import_era,
    "merged": merged,
    "refused": refused,
})
"""


def _missing(message: str) -> None:
    if REQUIRE_EXTERNAL:
        pytest.fail(message + " (CPTBILL_REQUIRE_EXTERNAL=1 forbids skipping)")
    pytest.skip(message)


def requirement_wheels(requirements: Path, wheels: Path) -> list[Path]:
    """The wheels micropip would install for the requirements.txt: each line and its dependencies."""
    found = {canonicalize_name(w.name.split("-")[0]): w for w in wheels.glob("*.whl")}
    lines = [line.split("#")[0].strip() for line in requirements.read_text(encoding="utf-8").splitlines()]
    pending = [Requirement(line) for line in lines if line]
    chosen: dict[str, Path] = {}
    while pending:
        requirement = pending.pop()
        name = canonicalize_name(requirement.name)
        if name in chosen:
            continue
        if name not in found:
            _missing(f"no wheel for {requirement} in {wheels}: {SETUP}")
        chosen[name] = found[name]
        with zipfile.ZipFile(found[name]) as wheel:
            metadata = next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
            text = wheel.read(metadata).decode("utf-8")
        for line in re.findall(r"^Requires-Dist: (.+)$", text, re.M):
            dependency = Requirement(line)
            if dependency.marker is None or Marker(str(dependency.marker)).evaluate(PYODIDE_MARKERS):
                pending.append(dependency)
    return sorted(chosen.values())


def _run_in_pyodide(job: dict[str, Any], files: dict[str, str], tmp: Path) -> dict[str, Any]:
    node = need("node", "Node.js runs Pyodide, xlwings Lite's runtime (apt-get install nodejs)")
    if not (HERE / "node_modules" / "pyodide" / "pyodide.mjs").exists():
        _missing(f"Pyodide is not installed in {HERE / 'node_modules'}: {SETUP}")
    wheels = requirement_wheels(ADDIN / "requirements.txt", HERE / "wheels")
    assert not [w for w in wheels if w.name.startswith("cptbill")]  # cptbill comes only in main.py
    spec = {
        "wheels": [str(w) for w in wheels],
        "env": {"XLWINGS_LICENSE_KEY": "noncommercial", "XLWINGS_ON_SERVER": "true"},
        "files": {
            "/home/pyodide/addin/main.py": (ADDIN / "main.py").read_text(encoding="utf-8"),
            "/home/pyodide/job.json": json.dumps(job),
            **files,
        },
        "code": DRIVER,
    }
    (tmp / "spec.json").write_text(json.dumps(spec), encoding="utf-8")
    run = subprocess.run(
        [node, str(HERE / "run.mjs"), str(tmp / "spec.json")],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NODE_NO_WARNINGS": "1"},
    )
    assert run.returncode == 0, run.stderr[-4000:]
    result: dict[str, Any] = json.loads(run.stdout.split("--- result ---\n", 1)[1])
    return result


def test_lite_addin_runs_from_main_py_alone_in_pyodide(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    minutes = [[38], [None], ["forty"], [7], [601], [53.5]]
    payer_names = [["Aetna"], ["blue shield"], [None], ["Nowhere Health"], ["Cigna"]]
    # Two months on one sheet; Settings > Month to recode picks November.
    october = [[dt.datetime(2026, 10, 5 + i), f"O{i}", "Aetna", 45, *[None] * 5] for i in range(3)]
    sessions = [*month_lines(12), *october]
    assert sessions[0] == SESSION_HEADER
    settings = [["Setting", "Value"], ["Default code", "97140"], ["Month to recode", "2026-11"]]
    book = payload({"Sessions": sessions, "Payers": PAYERS, "Settings": settings}, active="Sessions")
    sessions_sent = book["sheets"][0]["values"]
    era_sheets = read_workbook(SAMPLE)
    era_book = payload(era_sheets, active=next(iter(era_sheets)), dates="iso")
    claims_at = list(era_sheets).index("Claims")
    claims_table = {"name": "Claims", "range_address": f"$A$1:$M${len(era_sheets['Claims'])}"}
    era_book["sheets"][claims_at]["tables"] = [claims_table]
    # The remittances dropped into xlwings Lite's Import/Export area (and a file that is not one).
    data = tmp_path / "data"
    files = {"/data/notes.txt": "not a remittance"}
    for name, fixture in ERA_FILES.items():
        (data / name).parent.mkdir(parents=True, exist_ok=True)
        (data / name).write_bytes(fixture.read_bytes())
        files[f"/data/{name}"] = fixture.read_text(encoding="ascii")
    job = {
        "minutes": minutes,
        "payer_names": payer_names,
        "payers": PAYERS,
        "sessions": sessions_sent,
        "book": book,
        "era_book": era_book,
    }

    result = _run_in_pyodide(job, files, tmp_path)

    assert result["platform"] == "emscripten" and result["python"].startswith("3.14")
    # cptbill came out of main.py's archive (zipimport), nowhere else.
    assert len(result["cptbill"]) == 1 and re.fullmatch(r"/tmp/cptbill-[^/]+\.zip", result["cptbill"][0])
    assert result["functions"] == ["CPTBESTCODE", "CPTCODE", "CPTEXPECTED", "CPTFLAGS", "CPTUNITS"]
    assert result["scripts"] == ["claims", "import_era", "recode", "report"]
    assert result["loaded_by_formulas"] == []  # the formulas need neither the command line nor X12
    # The same answers as xlwings' dispatcher gives under CPython.
    assert result["units"] == call("cptunits", minutes)
    assert result["units"][0] == [3] and result["units"][2][0]["errorType"] == "Value"
    assert result["codes"] == call("cptcode", payer_names, PAYERS)
    assert result["flags"] == call("cptflags", sessions_sent, PAYERS)

    # recode without a month: Settings says 2026-11, so October's lines stay as they were.
    here, there = run_script(book), result["recode"]
    assert [a["func"] for a in there] == [a["func"] for a in here]
    after_there, after_here = apply(book, there), apply(book, here)
    assert owned(after_there["Sessions"]) == owned(after_here["Sessions"])
    assert owned(after_there["Sessions"])[0][0] in ("97124", "97140")
    assert owned(after_there["Sessions"])[-3:] == [(None, None, None, None)] * 3
    assert [r[1:] for r in after_there["Changes"]] == [r[1:] for r in after_here["Changes"]]
    # Before writing, one question about merged cells per block written (Excel answers only there).
    blocks = {(a["sheet_position"], a["start_column"]) for a in here if a["func"] == "setValues"}
    assert 0 < result["asked"] <= len(blocks)

    # A cell to write inside merged cells: one sentence, and nothing at all sent to Excel.
    assert [a["func"] for a in result["merged"]] == ["alert"]
    assert result["merged"][0]["args"][0] == (
        "cptbill would write the cell Sessions!G4, inside the merged cells G3:G4; unmerge them, and try "
        "again. Nothing was written."
    )
    # A write Office.js refuses (here: the Expected column): one sentence saying what was written.
    refused = result["refused"]
    assert refused[-1]["func"] == "alert" and "alert" not in [a["func"] for a in refused[:-1]]
    text = refused[-1]["args"][0]
    assert text.startswith("Excel refused to write Sessions!H2:H")
    assert "(JsException: Error: InvalidArgument: The argument is invalid or missing.)" in text
    assert re.search(
        r"stopped there: Sessions!F2:F\d+ and Sessions!G2:G\d+ were written; Sessions!H2:H", text
    )
    written = [a for a in refused if a["func"] == "setValues"]
    assert {a["start_column"] for a in written} == {5, 6}  # Code and Units: sent before Expected, kept
    assert written == [a for a in here if a["func"] == "setValues"][: len(written)]

    # import_era: the same Claims rows and the same message box as CPython for the same files.
    monkeypatch.setattr(cptbill.excel, "IMPORT_FOLDER", str(data))
    here, there = run_script(era_book, script="import_era"), result["import_era"]
    assert [a["func"] for a in there] == [a["func"] for a in here]
    claims_there = apply(era_book, there)["Claims"]
    assert comparable(claims_there) == comparable(apply(era_book, here)["Claims"])
    assert len(claims_there) > len(era_sheets["Claims"])
    resized = [a["args"] for a in there if a["func"] == "resizeTable"]
    assert resized == [[0, f"$A$1:$M${len(claims_there)}"]]
    alert = next(a for a in there if a["func"] == "alert")
    assert alert["args"] == next(a for a in here if a["func"] == "alert")["args"]
    assert alert["args"][0].startswith("2 files, ")
