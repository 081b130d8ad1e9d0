"""The command line's first impression: bare `cptbill`, --version, money with $, the progress bar."""

from __future__ import annotations

import io
import json
import re
import subprocess
from pathlib import Path

import pytest
from rich.console import Console

from cptbill import __version__, cli
from cptbill.template import write_template
from helpers import run
from test_cli_units import cptbill_program


def test_bare_cptbill_shows_the_help_and_succeeds(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys)
    assert (status, err) == (0, "")
    for command in ("check", "recode", "report", "import-era", "demo", "new"):
        assert re.search(rf"\b{command}\b", out), command
    assert "Usage: cptbill" in " ".join(out.split())
    done = subprocess.run([cptbill_program()], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "Usage: cptbill" in done.stdout and done.stderr == ""


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "--version")
    assert (status, out, err) == (0, f"cptbill {__version__}\n", "")


def test_money_in_the_console_has_a_dollar_sign(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_template(tmp_path / "billing.xlsx", sample=True)
    status, out, _ = run(capsys, "recode", str(path), "--month", "2026-11")
    assert status == 0
    total = json.loads(run(capsys, "check", str(path), "--month", "2026-11", "--json")[1])["expected_total"]
    assert f"expected total ${total:,.2f}" in out
    status, out, _ = run(capsys, "report", str(path), "--month", "2026-11")
    assert status == 0
    assert re.search(r"TOTAL +\d+ .*\$[\d,]+\.\d\d +\$[\d,]+\.\d\d +-?\$[\d,]+\.\d\d", out)
    assert not re.search(r"(?<![$\d,.])\d{1,3}(,\d{3})*\.\d\d\b(?!%)", out.split("TOTAL")[1].splitlines()[0])


@pytest.mark.parametrize(("amount", "text"), [(0, "$0.00"), (1234.5, "$1,234.50"), (-12, "-$12.00")])
def test_usd(amount: float, text: str) -> None:
    assert cli.usd(amount) == text


def test_a_progress_bar_on_a_terminal_and_nothing_on_a_pipe_or_with_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_template(tmp_path / "billing.xlsx", sample=True)
    # On a pipe (as under pytest): nothing on stderr.
    status, _, err = run(capsys, "recode", str(write_template(tmp_path / "piped.xlsx", sample=True)))
    assert (status, err) == (0, "")
    terminal = io.StringIO()
    monkeypatch.setattr(cli, "err", Console(file=terminal, force_terminal=True, width=100))
    status, _, _ = run(capsys, "recode", str(path), "--month", "2026-11")
    shown = terminal.getvalue()
    assert status == 0
    for step in ("Reading", "Recoding", "Saving"):
        assert step in shown, step
    assert "━" in shown and "1/3" in shown and "3/3" in shown  # a bar counting the job's steps
    terminal.truncate(0)
    run(capsys, "check", str(path), "--json")
    run(capsys, "recode", str(path), "--json")
    assert terminal.getvalue() == ""
