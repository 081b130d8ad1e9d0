"""The xlwings Lite add-in in its real runtime: Pyodide under Node.js, with cptbill's own wheel."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import REQUIRE_EXTERNAL, need
from test_excel import PAYERS, apply, call, month_lines, owned, payload, run_script

ROOT = Path(__file__).resolve().parent.parent
HERE = ROOT / "tests" / "pyodide"
SETUP = "run tests/pyodide/setup.sh (npm package pyodide and the wheels it loads)"

DRIVER = """
import asyncio, json, sys
sys.path.insert(0, "/home/pyodide/addin")
import main  # the workbook's main.py, as xlwings Lite imports it
import xlwings as xw
import xlwings.server

job = json.load(open("/home/pyodide/job.json"))
call = {"version": xw.__version__, "runtime": "1.4", "client": "Office.js"}
units = await xlwings.server.custom_functions_call({**call, "func_name": "cptunits", "args": [job["minutes"]]}, main)
flags = await xlwings.server.custom_functions_call(
    {**call, "func_name": "cptflags", "args": [job["sessions"], job["payers"]]}, main
)
book = xw.Book(json=job["book"])
await xlwings.server.custom_scripts_call(main, "recode", typehint_to_value={xw.Book: book}, args=["2026-11"])
json.dumps({
    "platform": sys.platform,
    "python": sys.version.split()[0],
    "functions": sorted(f["name"] for f in xlwings.server.custom_functions_meta(main)["functions"]),
    "scripts": [s["function_name"] for s in xlwings.server.custom_scripts_meta(main)],
    "units": units,
    "flags": flags,
    "actions": book.json()["actions"],
    "loaded": sorted(m for m in ("typer", "rich", "pyx12", "click") if m in sys.modules),
})
"""


def _missing(message: str) -> None:
    if REQUIRE_EXTERNAL:
        pytest.fail(message + " (CPTBILL_REQUIRE_EXTERNAL=1 forbids skipping)")
    pytest.skip(message)


def _wheels() -> list[Path]:
    if not (HERE / "node_modules" / "pyodide" / "pyodide.mjs").exists():
        _missing(f"Pyodide is not installed in {HERE / 'node_modules'}: {SETUP}")
    wheels = sorted((HERE / "wheels").glob("*.whl"))
    names = {w.name.split("-")[0].lower() for w in wheels}
    wanted = {"pydantic", "pydantic_core", "annotated_types", "typing_extensions", "typing_inspection"}
    wanted |= {"openpyxl", "et_xmlfile", "xlwings"}
    if not wanted <= names:
        _missing(f"wheels missing in {HERE / 'wheels'}: {sorted(wanted - names)}: {SETUP}")
    return wheels


def _build_wheel(tmp: Path) -> Path:
    """Build cptbill's own wheel from the working tree (a copy, so no build/ folder is left behind)."""
    source = tmp / "source"
    shutil.copytree(ROOT / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (ROOT / name).exists():
            shutil.copy(ROOT / name, source / name)
    out = tmp / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", str(source), "-w", str(out)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = out.glob("cptbill-*.whl")
    return wheel


def test_lite_addin_runs_formulas_and_recode_in_pyodide(tmp_path: Path) -> None:
    node = need("node", "Node.js runs Pyodide, xlwings Lite's runtime (apt-get install nodejs)")
    wheels = [*_wheels(), _build_wheel(tmp_path)]
    minutes = [[38], [None], ["forty"], [7], [601], [53.5]]
    sessions = month_lines(12)
    sheets = {"Sessions": sessions, "Payers": PAYERS}
    book = payload(sheets, active="Sessions")
    sessions_sent = book["sheets"][0]["values"]
    job = {"minutes": minutes, "sessions": sessions_sent, "payers": PAYERS, "book": book}
    spec = {
        "wheels": [str(w) for w in wheels],
        "env": {"XLWINGS_LICENSE_KEY": "noncommercial", "XLWINGS_ON_SERVER": "true"},
        "files": {
            "/home/pyodide/addin/main.py": (ROOT / "addin" / "main.py").read_text(encoding="utf-8"),
            "/home/pyodide/job.json": json.dumps(job),
        },
        "code": DRIVER,
    }
    (tmp_path / "job.json").write_text(json.dumps(spec), encoding="utf-8")
    run = subprocess.run(
        [node, str(HERE / "run.mjs"), str(tmp_path / "job.json")],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NODE_NO_WARNINGS": "1"},
    )
    assert run.returncode == 0, run.stderr[-4000:]
    result: dict[str, Any] = json.loads(run.stdout.split("--- result ---\n", 1)[1])

    assert result["platform"] == "emscripten" and result["python"].startswith("3.14")
    assert result["functions"] == ["CPTBESTCODE", "CPTCODE", "CPTEXPECTED", "CPTFLAGS", "CPTUNITS"]
    assert result["scripts"] == ["recode", "report"]
    assert result["loaded"] == []  # the Lite door needs neither the command line nor X12
    # The same answers as xlwings' dispatcher gives under CPython.
    assert result["units"] == call("cptunits", minutes)
    assert result["units"][0] == [3] and result["units"][2][0]["errorType"] == "Value"
    assert result["flags"] == call("cptflags", sessions_sent, PAYERS)
    here = run_script(book, month="2026-11")
    there = result["actions"]
    assert [a["func"] for a in there] == [a["func"] for a in here]
    after_there, after_here = apply(book, there), apply(book, here)
    assert owned(after_there["Sessions"]) == owned(after_here["Sessions"])
    assert owned(after_there["Sessions"])[0][0] in ("97124", "97140")
    assert [r[1:] for r in after_there["Changes"]] == [r[1:] for r in after_here["Changes"]]
