"""Helpers shared by the test modules: running the command in-process, the contract's headers."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

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


def assert_paid_adds_up(paths: Sequence[Path], book: Any, result: Any) -> None:
    """The one check every ERA test makes: Paid over an import equals the sum of CLP04 (reversals negative).

    CLP04 is summed from the files' segments, apart from the mapping of claims to rows; the
    Claims rows the import added are summed from the sheet. With duplicates skipped, each file's
    read rows are summed instead of the sheet's new rows.
    """
    from cptbill.era import decode, read_remittance, segments

    clp04 = Decimal(0)
    for path in paths:
        found = segments(decode(Path(path).read_bytes()))[0]
        clp04 += sum((Decimal(s.get(4) or "0") for s in found if s.id == "CLP"), Decimal(0))
    read = sum((line.paid for p in paths for line in read_remittance(p).lines), Decimal(0))
    assert read == clp04, f"rows read {read} != CLP04 {clp04}"
    if result.duplicates == 0:
        rows = book.read("Claims")
        paid = rows[0].index("Paid")
        # the rows of payments without claims (their provider adjustments) come after the lines
        extra = getattr(result, "provider_rows", 0)
        added = rows[len(rows) - result.added - extra :][: result.added]
        assert sum(Decimal(str(row[paid])) for row in added) == clp04, "Paid on Claims != CLP04"
