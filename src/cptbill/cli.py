"""The cptbill command: a thin layer over the library's public functions."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from cptbill.checking import usd
from cptbill.errors import CptbillError, UnitsError
from cptbill.units import allocate, parse_rule, units

if TYPE_CHECKING:  # the commands import the core and openpyxl only when they run
    from cptbill.book import Book, Loaded
    from cptbill.checking import CheckReport
    from cptbill.era import ImportResult
    from cptbill.models import Plan
    from cptbill.report import Report
    from cptbill.submit import Submission

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


def _version(value: bool) -> None:
    if value:
        out.print(f"cptbill {_installed_version()}", markup=False)
        raise typer.Exit()


def _installed_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    from cptbill import __version__

    try:
        return version("cptbill")
    except PackageNotFoundError:  # run from a source tree that is not installed
        return __version__


@app.callback()
def root(
    _: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print cptbill's version and exit."),
    ] = False,
) -> None:
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


@app.command("new", epilog="Example: cptbill new massage-billing.xlsx --sample")
def new_command(
    path: Annotated[
        Path, typer.Argument(metavar="PATH", help="The new workbook (.xlsx); must not exist yet.")
    ],
    sample: Annotated[
        bool, typer.Option("--sample", help="Add a sample month (November 2026) with payers and claims.")
    ] = False,
) -> None:
    """Write a new billing workbook from the template: Sessions, Payers, Claims, Settings, How to use."""
    from cptbill.template import write_template  # openpyxl is only loaded by the commands that need it

    write_template(path, sample=sample)
    what = "a sample month, November 2026" if sample else "empty tables to fill in"
    out.print(f"Wrote {escape(str(path))} ({what}).")
    if sample:
        out.print(f"Next: cptbill check {escape(str(path))} --month 2026-11")


OutOption = Annotated[
    Path | None,
    typer.Option("--out", metavar="OUT", help="Write the result to OUT and leave PATH as it was."),
]
ForceOption = Annotated[
    bool,
    typer.Option(
        "--force", help="No longer needed (nothing in the workbook is lost); accepted for old scripts."
    ),
]


@app.command("check", epilog="Example: cptbill check massage-billing.xlsx --month 2026-11")
def check_command(
    path: BookArgument,
    month: MonthOption = None,
    sheet: SheetOption = None,
    every: Annotated[
        bool, typer.Option("--all", help="List every flagged line too, not only the lines that would change.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Show what a recode would change and flag, and what is wrong as the sheet stands; changes nothing."""
    from cptbill.book import check
    from cptbill.checking import check_report
    from cptbill.xlsx import kept_out_of_collection, read_file

    with _progress(as_json, steps=2) as progress, kept_out_of_collection():
        book = read_file(path, progress=progress)
        try:
            _say(progress, "Checking")
            plan, loaded = check(book, month, sheet)
            loaded.warnings += book.unwritable(loaded, plan)  # what would stop a recode of this file
            listing = check_report(
                plan, loaded.lines, every=every, limit=None if as_json or every else CHECK_SHOWN
            )
            findings = Findings.of(plan, loaded)
        finally:
            book.close()
    if as_json:
        print_json({**findings.summary, **listing.to_json(), "warnings": findings.warnings})
        return
    _print_summary(findings, "would change", listed=False, label="After a recode: ")
    _print_check(listing, path, every=every)
    _print_warnings(findings.warnings)


#: Lines a check lists on the terminal before pointing at --all.
CHECK_SHOWN = 40


def _print_check(listing: CheckReport, path: Path, *, every: bool) -> None:
    """The sheet as it stands, then the lines a recode would change (before -> after) as a table."""
    from rich.table import Table

    now = listing.flags_now
    mixed = now.get("MIXED_CODES", 0)
    out.print(
        f"As the sheet stands: [bold]{mixed}[/] line(s) with typed codes that mix (MIXED_CODES), "
        f"[bold]{listing.stale}[/] with a stale Code, Units or Expected that a recode would replace; "
        f"Expected on the sheet now {usd(listing.expected_now)}.",
        soft_wrap=True,
    )
    if now:
        out.print(
            "Flags as it stands (lines): " + ", ".join(f"{f} {n}" for f, n in now.items()), soft_wrap=True
        )
    rows = listing.rows if every else listing.rows[:CHECK_SHOWN]
    if not rows:
        out.print("No line would change." if not every else "No line would change or is flagged.")
        return
    what = "Lines that would change or are flagged" if every else "Lines that would change"
    table = Table(title=f"{what} (before -> after)", title_justify="left", box=None, pad_edge=False)
    table.add_column("Sheet", no_wrap=True)
    table.add_column("Row", justify="right", no_wrap=True)
    table.add_column("Before", no_wrap=True)
    table.add_column("", no_wrap=True)
    table.add_column("After", no_wrap=True)
    table.add_column("Flags after a recode", overflow="fold", min_width=16)
    for row in rows:
        flags = row.flags or "-"
        if row.flags_now and row.flags_now != row.flags:
            flags += f" (now: {_flag_ids(row.flags_now)})"
        table.add_row(
            escape(row.sheet), str(row.row), escape(row.before), "->" if row.changes else "=",
            escape(row.after), escape(flags),
        )  # fmt: skip
    (out if out.is_terminal else Console(highlight=False, width=max(out.width, 160))).print(table)
    hidden = listing.listed - len(rows)
    if hidden:
        out.print(
            f"... and {hidden} more; cptbill check {escape(str(path))} --all lists every line.",
            soft_wrap=True,
        )


def _flag_ids(text: str) -> str:
    """`MIXED_CODES: ...; NO_RATE: ...` -> `MIXED_CODES, NO_RATE`."""
    from cptbill.models import flag_parts

    return ", ".join(part.split(":", 1)[0].strip() for part in flag_parts(text))


@app.command("recode", epilog="Example: cptbill recode massage-billing.xlsx --month 2026-11")
def recode_command(
    path: BookArgument,
    month: MonthOption = None,
    sheet: SheetOption = None,
    out_path: OutOption = None,
    force: ForceOption = False,
    as_json: JsonOption = False,
) -> None:
    """Write Code, Units, Expected and Flags for the lines in scope, and log changes (backup kept)."""
    from cptbill.book import recode
    from cptbill.report import refresh
    from cptbill.xlsx import update_file

    with _progress(as_json, steps=3) as progress:

        def job(book: Book) -> Findings:
            # The same steps as the Excel add-in. Only the findings outlive the job, so the lines and
            # the plan are freed before the save (its peak memory).
            _say(progress, "Recoding")
            return Findings.of(*recode(book, month, sheet, after=[refresh]))

        done = update_file(path, job, out=out_path, force=force, progress=progress)
    findings = done.result
    if as_json:
        print_json(findings.summary)
        return
    _print_summary(findings, "changed")
    if done.saved is None:
        out.print("Nothing to change; the workbook was left as it was.")
    elif done.backup is not None:
        out.print(
            f"Saved {done.saved}; the previous version is {done.backup.name}.", markup=False, soft_wrap=True
        )
    else:
        out.print(f"Saved {done.saved}.", markup=False, soft_wrap=True)


@contextlib.contextmanager
def _progress(quiet: bool, steps: int = 3) -> Iterator[Callable[[str], None] | None]:
    """A progress bar on stderr over the job's steps, when stderr is a terminal and not --json."""
    if quiet or not err.is_terminal:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task("Starting ...", total=steps)
        begun = False

        def step(text: str) -> None:
            nonlocal begun
            if begun:  # the step before this one is done
                bar.advance(task)
            begun = True
            bar.update(task, description=escape(text) + " ...", refresh=True)

        yield step
        bar.update(task, completed=steps)


def _say(progress: Callable[[str], None] | None, text: str) -> None:
    if progress is not None:
        progress(text)


@dataclass(frozen=True)
class Findings:
    """What check and recode print: small, so the lines and the plan are freed before a save."""

    summary: dict[str, Any]  # the --json object
    flagged: list[str]  # `Sheet row N: flags` of the first flagged lines
    flagged_total: int
    warnings: list[str]
    overwritten: int  # lines logged on the Changes sheet
    filled: int

    @classmethod
    def of(cls, plan: Plan, loaded: Loaded, shown: int = 10) -> Findings:
        flagged = [r for r in plan.results if r.flags]
        return cls(
            summary=plan.summary(),
            flagged=[f"{r.sheet} row {r.row}: {r.flags_text}" for r in flagged[:shown]],
            flagged_total=len(flagged),
            warnings=list(loaded.warnings),
            overwritten=len(plan.changes),
            filled=plan.filled,
        )


def _print_summary(findings: Findings, verb: str, *, listed: bool = True, label: str = "") -> None:
    summary = findings.summary
    scope = f"month {summary['month']}" if summary["month"] else "all months"
    out.print(
        f"{label}[bold]{summary['lines']}[/] lines in scope ({scope}), [bold]{summary['changed']}[/] {verb}, "
        f"expected total [bold]{usd(summary['expected_total'])}[/]",
        soft_wrap=True,
    )
    counts = summary["flags"]
    if counts and not listed:
        out.print("Flags (lines): " + ", ".join(f"{flag} {n}" for flag, n in counts.items()), soft_wrap=True)
    elif counts:
        out.print("Flags (lines): " + ", ".join(f"{flag} {n}" for flag, n in counts.items()), soft_wrap=True)
        shown = len(findings.flagged)
        more = f" (first {shown} of {findings.flagged_total})" if findings.flagged_total > shown else ""
        out.print(f"Flagged lines{more}:")
        for line in findings.flagged:
            out.print(f"  {line}", markup=False, soft_wrap=True)
    else:
        out.print("No flags.")
    if listed:
        _print_warnings(findings.warnings)


def _print_warnings(warnings: list[str]) -> None:
    for warning in warnings:
        out.print(f"[yellow]Warning:[/] {escape(warning)}", soft_wrap=True)


@app.command("report", epilog="Example: cptbill report massage-billing.xlsx --month 2026-11")
def report_command(
    path: BookArgument,
    month: MonthOption = None,
    out_path: OutOption = None,
    force: ForceOption = False,
    as_json: JsonOption = False,
) -> None:
    """Write the Summary (with a chart), Follow-up and Shortfalls sheets, and print the summary."""
    from cptbill.book import load
    from cptbill.report import write_report
    from cptbill.schema import parse_month
    from cptbill.xlsx import update_file

    chosen = parse_month(month)  # a bad month is refused before the file is opened

    with _progress(as_json, steps=3) as progress:

        def job(book: Book) -> tuple[Report, Loaded]:
            _say(progress, "Reporting")
            loaded = load(book)
            return write_report(book, loaded, None, chosen), loaded

        done = update_file(path, job, out=out_path, force=force, progress=progress)
    report, loaded = done.result
    if as_json:
        print_json(report.summary())
        return
    _print_report(report, loaded)
    if done.saved is None:
        out.print("Nothing to change; the workbook was left as it was.")
        return
    where = f"; the previous version is {done.backup.name}" if done.backup else ""
    out.print(f"Saved {done.saved}{where}.", markup=False, soft_wrap=True)


def _print_report(report: Report, loaded: Loaded) -> None:
    from rich.table import Table

    from cptbill.report import REPORT_CODES

    scope = f"month {report.month}" if report.month else "all months"
    table = Table(
        title=f"Summary ({scope})", title_justify="left", box=None, pad_edge=False,
        padding=(0, 1, 0, 0),
    )  # fmt: skip
    table.add_column("Month", no_wrap=True)
    table.add_column("Payer", overflow="fold", min_width=10)
    for name in ("Visits", *REPORT_CODES, "Expected", "Paid", "Short", "Denied"):
        table.add_column(name, justify="right", no_wrap=True)
    for row in report.rows:
        rate = "-" if row.denial_rate is None else f"{row.denial_rate:.0%}"
        cells = [
            row.month, row.payer, str(row.visits), *(str(row.units.get(code, 0)) for code in REPORT_CODES),
            usd(row.expected), usd(row.paid), usd(row.shortfall), rate,
        ]  # fmt: skip
        table.add_row(*(escape(cell) for cell in cells), style="bold" if row is report.total else None)
    # A pipe or a file gets the whole table, not one cropped to 80 columns.
    (out if out.is_terminal else Console(highlight=False, width=max(out.width, 120))).print(table)
    if report.follow_up is None:
        out.print(
            "No Claims sheet: nothing to follow up, no shortfalls (add one, or run cptbill import-era).",
            soft_wrap=True,
        )
    else:
        overdue = sum(item.overdue for item in report.follow_up)
        out.print(
            f"Follow-up: [bold]{len(report.follow_up)}[/] open item(s), {usd(report.follow_up_amount)} in all "
            f"({len(report.client_bills)} to bill the client"
            + (f", [bold red]{overdue} overdue[/]" if overdue else "")
            + "); see the Follow-up sheet.",
            soft_wrap=True,
        )
        out.print(
            f"Shortfalls: [bold]{len(report.shortfalls or [])}[/] service(s) the payer paid below units x rate "
            "(less what the client owes), "
            f"[bold]{usd(report.shortfall_total)}[/] in all; see the Shortfalls sheet.",
            soft_wrap=True,
        )
    if report.uncoded:
        out.print(
            f"[yellow]Warning:[/] {report.uncoded} billed line(s) have no Code yet; "
            "run cptbill recode first for a complete Summary.",
            soft_wrap=True,
        )
    for warning in loaded.warnings:
        out.print(f"[yellow]Warning:[/] {escape(warning)}", soft_wrap=True)


@app.command("import-era", epilog="Example: cptbill import-era massage-billing.xlsx october.835 --json")
def import_era_command(
    path: BookArgument,
    files: Annotated[list[Path], typer.Argument(metavar="FILE.835 ...", help="X12 835 remittance files.")],
    as_json: JsonOption = False,
) -> None:
    """Append the service lines of 835 remittances (ERA) to the Claims sheet, skipping known lines."""
    from cptbill.era import import_remittances, read_remittance
    from cptbill.xlsx import update_file

    remittances = [read_remittance(file) for file in files]  # every file is checked before the workbook

    def job(book: Book) -> ImportResult:
        return import_remittances(book, None, remittances)

    with _progress(as_json, steps=2) as progress:
        done = update_file(path, job, progress=progress)
    result = done.result
    if as_json:
        print_json(result.summary())
        return
    files_read = f"{result.files} file" + ("s" if result.files != 1 else "")
    out.print(
        f"{files_read}, [bold]{result.lines}[/] service lines: [bold]{result.added}[/] added to Claims, "
        f"{result.duplicates} duplicates skipped."
    )
    if result.unmatched_payers:
        out.print(
            "[yellow]Unmatched payers[/] (imported under the remittance's name; add to a payer's "
            f"ERA names on the Payers sheet): {escape(', '.join(result.unmatched_payers))}"
        )
    _print_provider_adjustments(result)
    for warning in result.warnings:
        out.print(f"[yellow]Warning:[/] {escape(warning)}", soft_wrap=True)
    if done.saved is None:
        out.print("Nothing new; the workbook was left as it was.")
    elif done.backup is not None:
        out.print(f"Saved {done.saved}; the previous version is {done.backup.name}.", markup=False)
    else:
        out.print(f"Saved {done.saved}.", markup=False)


@app.command("claims", epilog="Example: cptbill claims massage-billing.xlsx --month 2026-11")
def claims_command(
    path: BookArgument,
    month: Annotated[str, typer.Option("--month", metavar="YYYY-MM", help="The month of service to bill.")],
    payer: Annotated[str | None, typer.Option("--payer", metavar="NAME", help="Only this payer.")] = None,
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format",
            metavar="837|pdf",
            help="837 or pdf for every payer (default: 837 for payers with a Payer ID, paper forms for the rest).",
        ),
    ] = None,
    resend: Annotated[
        bool, typer.Option("--resend", help="Send again lines already on the Claims sheet.")
    ] = False,
    folder: Annotated[
        Path | None,
        typer.Option("--dir", metavar="DIR", help="Where to write the files (default: beside PATH)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Write the month's claims: 837P files for a clearinghouse, CMS-1500 PDFs for paper; record them on Claims."""
    from cptbill.submit import run_claims
    from cptbill.xlsx import update_file

    target = folder if folder is not None else path.parent
    if not target.is_dir():
        raise CptbillError(f"The folder {target} does not exist.")
    with _progress(as_json) as progress:
        # The files are written before the workbook is saved: a failed save leaves no Submitted rows.
        done = update_file(
            path, lambda book: _save_files(run_claims(book, month, payer=payer, fmt=fmt, resend=resend), target),
            progress=progress,
        )  # fmt: skip
    submission = done.result
    if as_json:
        print_json(submission.summary())
        return
    _print_claims(submission)
    if done.saved is not None:
        out.print(f"Saved {done.saved}.", markup=False, soft_wrap=True)


def _save_files(submission: Submission, folder: Path) -> Submission:
    """Write the claims files into `folder`, each whole or not at all (an earlier one kept as .bak)."""
    from cptbill.safefile import replace_atomically

    for name, data in submission.files.items():
        replace_atomically(folder / name, lambda stream, data=data: stream.write(data))  # type: ignore[misc]
    return submission


def _print_claims(submission: Submission) -> None:
    summary = submission.summary()
    out.print(
        f"[bold]{summary['claims']}[/] claim(s), {summary['lines']} service line(s), billed "
        f"[bold]{usd(summary['billed'])}[/] for {summary['month']}.",
        soft_wrap=True,
    )
    for name in summary["files"]:
        out.print(f"  wrote {name}", markup=False, soft_wrap=True)
    batch = submission.batch
    if batch.flags:
        out.print(f"[yellow]Not sent, something a claim needs is missing[/] ({len(batch.flags)} line(s)):")
        for (sheet, row), notes in list(batch.flags.items())[:20]:
            out.print(
                f"  {sheet} row {row}: " + "; ".join(str(n) for n in notes), markup=False, soft_wrap=True
            )
    if batch.blocked:
        out.print(f"Not sent, flagged lines to fix first: {len(batch.blocked)} (see the Flags column).")
    if batch.already_sent:
        out.print(
            f"Already on the Claims sheet, not sent again: {batch.already_sent} line(s) (--resend to send)."
        )
    if batch.not_coded:
        out.print(f"[yellow]Not coded yet:[/] {batch.not_coded} line(s); run cptbill recode first.")


def _print_provider_adjustments(result: ImportResult) -> None:
    """The Provider adjustments block: each PLB with its reason and amount, once per payment."""
    from cptbill.era import provider_rows_note

    if not result.adjustments:
        out.print("Provider adjustments (PLB): none new.")
        return
    out.print(
        "Provider adjustments (PLB, not claim lines; a positive amount was taken from the payment):",
        soft_wrap=True,
    )
    for item in result.adjustments:
        out.print(f"  {item.source}: {item.label} {usd(item.amount)}", markup=False, soft_wrap=True)
    out.print(f"  total {usd(result.provider_adjustments)}", markup=False)
    if result.provider_rows:
        out.print(f"  {provider_rows_note(result.provider_rows)}", markup=False, soft_wrap=True)


@app.command("addin", epilog="Example: cptbill addin my-addin")
def addin_command(
    folder: Annotated[
        Path, typer.Argument(metavar="[FOLDER]", help="Where to write the two files (default: here).")
    ] = Path("."),
) -> None:
    """Write the xlwings Lite add-in: main.py and requirements.txt to paste into the xlwings Lite editor."""
    from cptbill.addin import write_addin

    bundle, main, requirements = write_addin(folder)
    out.print(
        f"Wrote {main} ({len(bundle.main_py.encode()) / 1024:,.0f} KB: cptbill's {len(bundle.modules)} "
        f"modules for Excel, {bundle.archive_size / 1024:,.0f} KB compressed) and {requirements} "
        f"({', '.join(bundle.requirements)}).",
        markup=False, soft_wrap=True,
    )  # fmt: skip
    out.print(
        "Paste them into the main.py and requirements.txt tabs of the xlwings Lite editor "
        "(see addin/README.md).",
        soft_wrap=True,
    )


DEMO_MONTH = "2026-11"


@app.command("demo", epilog="Example: cptbill demo")
def demo_command(
    folder: Annotated[
        Path, typer.Argument(metavar="[FOLDER]", help="Where to write the demo files (default: here).")
    ] = Path("."),
) -> None:
    """Write a sample workbook, import a sample remittance, recode November 2026 and report."""
    from importlib.resources import files

    from cptbill.book import recode
    from cptbill.era import import_remittances, read_remittance
    from cptbill.history import learned_text
    from cptbill.report import write_report
    from cptbill.template import write_template
    from cptbill.xlsx import update_file

    if not folder.is_dir():
        raise CptbillError(f"The folder {folder} does not exist.")
    path = _unused(folder / "massage-billing.xlsx")
    era = _unused(folder / "sample-remittance.835")
    era.write_bytes((files("cptbill") / "data" / "sample-remittance.835").read_bytes())
    write_template(path, sample=True)
    out.rule("1. A billing workbook")
    out.print(
        f"Wrote {path.name}: November 2026 sessions for 5 payers, and claims from September and October.",
        markup=False, soft_wrap=True,
    )  # fmt: skip

    out.rule("2. A remittance (ERA) comes in")
    remittance = read_remittance(era)
    imported = update_file(path, lambda book: import_remittances(book, None, [remittance])).result
    out.print(
        f"Imported {era.name}: {imported.lines} service lines, {imported.added} added to the Claims sheet "
        f"(provider-level adjustments {usd(imported.provider_adjustments)}).",
        markup=False, soft_wrap=True,
    )  # fmt: skip

    def job(book: Book) -> tuple[Plan, Loaded, Report]:
        plan, loaded = recode(book, DEMO_MONTH)
        return plan, loaded, write_report(book, loaded, plan, DEMO_MONTH)

    plan, loaded, report = update_file(path, job).result
    out.rule("3. What the claims taught (the Learned column on the Payers sheet)")
    history = loaded.history
    for payer in loaded.payers.values():
        out.print(f"{payer.name}: {learned_text(payer, history)}", markup=False, soft_wrap=True)

    out.rule("4. November 2026 recoded with what was learned")
    findings = Findings.of(plan, loaded)
    _print_summary(findings, "changed")
    _print_services(plan, loaded)
    out.print(
        f"{findings.overwritten} line(s) had a code or units overwritten (logged with the reason on "
        f"the Changes sheet); {findings.filled} empty line(s) filled.",
        markup=False, soft_wrap=True,
    )  # fmt: skip
    out.rule("5. Follow-ups")
    _print_report(report, loaded)

    from cptbill.submit import run_claims

    out.rule("6. Claims to send for November 2026")
    submission = update_file(path, lambda book: run_claims(book, DEMO_MONTH)).result
    for name, data in list(submission.files.items()):
        written = _unused(folder / name)  # the demo never overwrites a file
        written.write_bytes(data)
        submission.files[written.name] = submission.files.pop(name)
    _print_claims(submission)
    out.print(
        f"\nOpen {path.name} in Excel or LibreOffice: Sessions has the codes and flags, Changes what "
        "was changed and why, Summary, Follow-up and Shortfalls what to do next, Claims the lines sent. "
        "Upload the .837 files to your clearinghouse; print the CMS-1500 PDFs on the red forms (the "
        "-preview PDFs show the form drawn, to check).",
        markup=False, soft_wrap=True,
    )  # fmt: skip


def _print_services(plan: Plan, loaded: Loaded) -> None:
    """The demo's two stories: `either` lines coded by the payer's rules, documented codes kept."""
    from cptbill.codes import DESCRIPTIONS
    from cptbill.contract import Flag
    from cptbill.plan import is_either

    lines = {(line.sheet, line.row): line for line in loaded.lines}
    either: dict[tuple[str, str | None], int] = {}
    for result in plan.results:
        line = lines[(result.sheet, result.row)]
        if is_either(line, loaded.settings) and not line.locked:
            either[(line.payer, result.code)] = either.get((line.payer, result.code), 0) + 1
    for (payer, code), count in either.items():
        out.print(
            f"Service either at {payer}: {count} line(s) billed {code}, the code its rules and claims choose.",
            markup=False, soft_wrap=True,
        )  # fmt: skip
    for result in plan.results:
        for flag in result.flags:
            if flag.flag is Flag.NOT_ACCEPTED:
                service = DESCRIPTIONS.get(result.code or "", result.code)
                out.print(
                    f"{result.sheet} row {result.row}: {service} was documented, so the code stays "
                    f"{result.code}; {flag.flag.value} says: {flag.note}.",
                    markup=False, soft_wrap=True,
                )  # fmt: skip


def _unused(path: Path) -> Path:
    """The path, or `name-2.ext`, `name-3.ext`, ... so that the demo never overwrites a file."""
    candidate, number = path, 1
    while candidate.exists():
        number += 1
        candidate = path.with_name(f"{path.stem}-{number}{path.suffix}")
    return candidate


def main(argv: list[str] | None = None) -> None:
    """Run the command; user mistakes end with one sentence on stderr and exit status 2."""
    command = typer.main.get_command(app)
    if not (sys.argv[1:] if argv is None else argv):
        argv = ["--help"]  # bare `cptbill`: the help, and a zero exit status
    try:
        status = command.main(args=argv, prog_name="cptbill", standalone_mode=False)
    except typer.TyperException as error:  # usage mistakes: unknown command or option, bad value
        err.print(f"cptbill: {error.format_message()} (see cptbill --help)", soft_wrap=True, markup=False)
        raise SystemExit(2) from None
    except CptbillError as error:
        err.print(f"cptbill: {error}", soft_wrap=True, markup=False)
        raise SystemExit(2) from None
    except typer.Exit as error:
        raise SystemExit(error.exit_code) from None
    except typer.Abort:
        err.print("cptbill: stopped.")
        raise SystemExit(1) from None
    raise SystemExit(status if isinstance(status, int) else 0)


__all__ = ["app", "main", "usd"]
