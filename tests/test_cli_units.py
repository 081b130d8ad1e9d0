"""The `cptbill units` command: plain and --json output, and one-line errors with exit status 2."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import run


def cptbill_program() -> str:
    """The installed console script: next to this Python first, else on PATH."""
    here = Path(sys.executable).parent / "cptbill"
    if here.exists():
        return str(here)
    found = shutil.which("cptbill")
    assert found, "the cptbill command is not installed (pip install -e .)"
    return found


@pytest.mark.parametrize(
    ("args", "stdout"),
    [
        (["units", "38"], "3\n"),
        (["units", "37"], "2\n"),
        (["units", "7"], "0\n"),
        (["units", "8"], "1\n"),
        (["units", "38", "--rule", "ama"], "3\n"),
        (["units", "38", "--rule", "CMS"], "3\n"),
        (["units", "22.5"], "1\n"),
        (["units", "38", "--json"], "3\n"),
        (["units", "97112=24", "97110=23"], "97112 2\n97110 1\n"),
        (["units", "97112=7", "97110=7"], "97112 1\n97110 0\n"),
        (["units", "97112=7", "97110=7", "--rule", "ama"], "97112 0\n97110 0\n"),
        (["units", "97140=7", "97010=20"], "97140 0\n97010 1\n"),
        (["units", "97140=38"], "97140 3\n"),
    ],
)
def test_units_prints(capsys: pytest.CaptureFixture[str], args: list[str], stdout: str) -> None:
    status, out, err = run(capsys, *args)
    assert (status, out, err) == (0, stdout, "")


def test_units_json_is_exactly_the_allocation(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "units", "97110=33", "97140=7", "--json")
    assert status == 0 and err == ""
    assert out == '{"97110": 2, "97140": 1}\n'
    status, out, _ = run(capsys, "units", "97112=24", "97110=23", "--json")
    assert json.loads(out) == {"97112": 2, "97110": 1}
    assert list(json.loads(out)) == ["97112", "97110"]


BAD = [
    (["units", "abc"], "not a number"),
    (["units", "-5"], "negative"),
    (["units", "601"], "more than 600"),
    (["units", "nan"], "finite"),
    (["units", "97110=x"], "not a number"),
    (["units", "97110=-3"], "negative"),
    (["units", "ABC=10"], "not a CPT code"),
    (["units", "97110=10", "97110=5"], "twice"),
    (["units", "97110=10", "38"], "CODE=MINUTES"),
    (["units", "38", "--rule", "xyz"], "not a unit rule"),
    (["units", "38", "--bogus"], "No such option"),
    (["units", "[x]"], "'[x]'"),  # rich markup must not eat what the user typed
    (["units"], "Missing argument"),
    (["unts", "38"], "No such command"),
]


@pytest.mark.parametrize(("args", "words"), BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_input_is_one_line_and_status_2(
    capsys: pytest.CaptureFixture[str], args: list[str], words: str
) -> None:
    status, out, err = run(capsys, *args)
    assert status == 2
    assert out == ""
    assert err.startswith("cptbill: ")
    assert err.count("\n") == 1 and err.endswith("\n")
    assert words in err
    assert "Traceback" not in err


def test_the_installed_command() -> None:
    """The console script really installed: output, --json, and the errors as a user sees them."""
    program = cptbill_program()

    def call(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([program, *args], capture_output=True, text=True, timeout=60)

    done = call("units", "38")
    assert (done.returncode, done.stdout, done.stderr) == (0, "3\n", "")
    done = call("units", "38", "--rule", "ama")
    assert (done.returncode, done.stdout) == (0, "3\n")
    done = call("units", "97112=24", "97110=23")
    assert done.stdout.splitlines() == ["97112 2", "97110 1"]
    done = call("units", "97110=33", "97140=7", "--json")
    assert (done.returncode, done.stdout) == (0, '{"97110": 2, "97140": 1}\n')
    for args in (["units", "abc"], ["units", "-5"], ["units", "97110=x"], ["units", "38", "--rule", "xyz"]):
        done = call(*args)
        assert done.returncode == 2, args
        assert done.stdout == ""
        assert len(done.stderr.splitlines()) == 1, done.stderr
        assert "Traceback" not in done.stderr
    done = call("unts", "38")
    assert done.returncode == 2
    assert len(done.stderr.splitlines()) == 1 and "unts" in done.stderr
    # A long message is not wrapped onto a second line by a narrow terminal.
    done = subprocess.run(
        [program, "units", "97110=" + "x" * 150],
        capture_output=True,
        text=True,
        timeout=60,
        env={"COLUMNS": "40", "PATH": ""},
    )
    assert done.returncode == 2 and len(done.stderr.splitlines()) == 1


def test_help_shows_an_example(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "units", "--help")
    assert status == 0
    assert "cptbill units 97110=33 97140=7 --json" in " ".join(out.split())
