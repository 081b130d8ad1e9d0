"""Helpers shared by the test modules: running the command in-process, the contract's headers."""

from __future__ import annotations

import pytest

from cptbill.cli import main

#: A session sheet's header with every optional column, in the template's order.
SESSION_HEADER = [
    "Date",
    "Client",
    "Payer",
    "Minutes",
    "Service",
    "Visit",
    "Lock",
    "Code",
    "Units",
    "Expected",
    "Flags",
]
PAYER_HEADER = [
    "Payer",
    "Accepts",
    "Preferred",
    "Rate 97124",
    "Rate 97140",
    "Rate 97010",
    "Unit rule",
    "Max units",
]


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run `cptbill ARGS` in-process; return its exit status, stdout and stderr."""
    with pytest.raises(SystemExit) as info:
        main(list(args))
    captured = capsys.readouterr()
    code = info.value.code
    return (code if isinstance(code, int) else 0), captured.out, captured.err
