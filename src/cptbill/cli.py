"""The cptbill command: a thin layer over the library's public functions."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from cptbill.errors import CptbillError, UnitsError
from cptbill.units import allocate, parse_rule, units

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Code massage-therapy sessions (97124, 97140, 97010) in an Excel billing workbook.",
    context_settings={"help_option_names": ["-h", "--help"]},
)
out = Console(highlight=False)
err = Console(stderr=True, highlight=False)

# Options shared by several commands.
RuleOption = Annotated[
    str, typer.Option("--rule", help="Unit rule: cms (8-minute rule, pooled) or ama (per code).")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object and nothing else.")]
MonthOption = Annotated[
    str | None, typer.Option("--month", metavar="YYYY-MM", help="Only the lines of this month.")
]
SheetOption = Annotated[str | None, typer.Option("--sheet", metavar="NAME", help="Only this session sheet.")]
BookArgument = Annotated[Path, typer.Argument(metavar="PATH", help="The billing workbook (.xlsx or .xlsm).")]


def print_json(data: Any) -> None:
    """JSON on standard output, for --json."""
    sys.stdout.write(json.dumps(data) + "\n")


@app.callback()
def root() -> None:
    """Code massage-therapy sessions (97124, 97140, 97010) in an Excel billing workbook."""


@app.command(
    "units",
    context_settings={"ignore_unknown_options": True},
    epilog="Example: cptbill units 97110=33 97140=7 --json",
)
def units_command(
    minutes: Annotated[list[str], typer.Argument(metavar="MINUTES | CODE=MINUTES ...")],
    rule: RuleOption = "cms",
    as_json: JsonOption = False,
) -> None:
    """Units for minutes (one timed code), or per code for CODE=MINUTES pairs."""
    chosen = parse_rule(rule)
    for item in minutes:
        if item.startswith("-") and not _is_number(item):
            raise CptbillError(f"No such option: {item} (see cptbill units --help).")
    if len(minutes) == 1 and "=" not in minutes[0]:
        result: Any = units(_number(minutes[0]), chosen)
        print_json(result) if as_json else out.print(result)
        return
    pairs = {}
    for item in minutes:
        code, sep, value = item.partition("=")
        if not sep:
            raise UnitsError(f"'{item}' is not CODE=MINUTES; write e.g. 97110=33.")
        if code.strip() in pairs:
            raise UnitsError(f"Code {code.strip()} is given twice; add its minutes together.")
        pairs[code.strip()] = _number(value, code.strip())
    result = allocate(pairs, chosen)
    if as_json:
        print_json(result)
    else:
        for code, count in result.items():
            out.print(f"{code} {count}")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _number(text: str, code: str | None = None) -> float:
    try:
        value = float(text)
    except ValueError:
        where = f" for {code}" if code else ""
        raise UnitsError(f"'{text}'{where} is not a number of minutes.") from None
    return int(value) if value.is_integer() else value


def main(argv: list[str] | None = None) -> None:
    """Run the command; user mistakes end with one sentence on stderr and exit status 2."""
    command = typer.main.get_command(app)
    try:
        status = command.main(args=argv, prog_name="cptbill", standalone_mode=False)
    except typer.TyperException as error:  # usage mistakes: unknown command or option, bad value
        err.print(f"cptbill: {error.format_message()} (see cptbill --help)", soft_wrap=True)
        raise SystemExit(2) from None
    except CptbillError as error:
        err.print(f"cptbill: {error}", soft_wrap=True)
        raise SystemExit(2) from None
    except typer.Exit as error:
        raise SystemExit(error.exit_code) from None
    except typer.Abort:
        err.print("cptbill: stopped.")
        raise SystemExit(1) from None
    raise SystemExit(status if isinstance(status, int) else 0)


__all__ = ["app", "main"]
