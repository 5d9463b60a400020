"""``rdbtool check-aof``: redis-check-aof's verdict with a report, and a repair that keeps a backup."""

from __future__ import annotations

import sys
from typing import Annotated

import orjson
import typer
from rich.console import Console
from rich.table import Table

from rdbtools.aof.check import AofCheck, FileCheck, check_aof
from rdbtools.aof.repair import truncate_with_backup
from rdbtools.cli.app import EXIT_BAD_FILE, EXIT_OK, EXIT_USAGE, app, fail, reports_errors
from rdbtools.errors import RdbtoolError
from rdbtools.formats.resp import iter_records
from rdbtools.rdb.source import MappedSource


@app.command("check-aof")
@reports_errors
def check_aof_command(
    path: Annotated[str, typer.Argument(help="An AOF file, a manifest, or an appendonly directory.")],
    fix: Annotated[bool, typer.Option("--fix", help="Cut a truncated or broken tail of the last file.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask before --fix changes anything.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Say what --fix would remove; change nothing.")] = False,
    truncate_to_timestamp: Annotated[
        int | None,
        typer.Option("--truncate-to-timestamp", help="Cut the last file at the first #TS: annotation after this "
                     "unix time."),
    ] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="Report format: human or json.")] = "human",
) -> None:
    """Check an AOF as redis-check-aof does. Exit status: 0 valid (or repaired), 1 not valid, 2 usage error.

    --fix and --truncate-to-timestamp save the original as NAME.<time>.bak, then replace the file atomically.
    """
    if fmt not in ("human", "json"):
        fail(f"unknown format {fmt!r}; choose human or json", EXIT_USAGE)
    if fix and truncate_to_timestamp is not None:
        fail("--fix and --truncate-to-timestamp cannot be combined", EXIT_USAGE)
    report = check_aof(path, to_timestamp=truncate_to_timestamp)
    console = Console(highlight=False, stderr=fmt == "json", soft_wrap=True)  # one line a message in logs
    if fmt == "json":
        sys.stdout.buffer.write(orjson.dumps(report.to_json(), option=orjson.OPT_INDENT_2) + b"\n")
    else:
        render(report, console)
    raise typer.Exit(_act(report, fix, yes, dry_run, console))


def _act(report: AofCheck, fix: bool, yes: bool, dry_run: bool, console: Console) -> int:
    cut = next(((f, f.truncate_at) for f in report.files if f.truncate_at is not None), None)
    if cut is not None:
        # like redis-check-aof, cutting to a timestamp does not ask (the backup is kept all the same)
        return _truncate(*cut, True, dry_run, console,
                         f"cut at the first annotation after {report.to_timestamp}")
    if report.valid:
        return EXIT_OK
    problem = report.problem
    if not fix or problem is None or problem.rdb_error or problem.timestamp_error:
        return EXIT_BAD_FILE
    if problem is not report.files[-1] or (report.layout is not None and len(report.files) < len(report.layout.parts)):
        console.print(f"[red]cannot fix[/red]: {problem.name} is not the last file; Redis only cuts the last one")
        return EXIT_BAD_FILE
    return _truncate(problem, problem.ok_up_to, yes, dry_run, console, "cut the broken tail")


def _truncate(result: FileCheck, keep: int, yes: bool, dry_run: bool, console: Console, what: str) -> int:
    last = b" ".join(result.last_command or [])[:80].decode("utf-8", "replace") or "(none)"
    console.print(f"{what}: {result.name} from {result.size:,} to {keep:,} bytes, removing "
                  f"{result.size - keep:,} bytes ({complete_commands_after(result.path, keep)} complete commands); "
                  f"the last command kept: {last}")
    if dry_run:
        console.print("dry run: nothing changed")
        return EXIT_BAD_FILE
    if not yes and not typer.confirm("Continue?", default=False):
        console.print("Aborting...")
        return EXIT_BAD_FILE
    backup = truncate_with_backup(result.path, keep)
    console.print(f"[green]repaired[/green]: {result.name} now {keep:,} bytes; the original is in {backup}")
    return EXIT_OK


def complete_commands_after(path, offset: int) -> int:
    """How many whole commands the cut removes (the broken one at the end is not counted)."""
    count = 0
    with MappedSource(path) as source:
        try:
            for record in iter_records(source.view, offset):
                count += record.args is not None
        except RdbtoolError:
            pass
    return count


def render(report: AofCheck, console: Console) -> None:
    layout = report.layout
    console.print(f"[bold]{report.path}[/bold]: {layout.kind if layout else 'AOF'}"
                  + (f", manifest {layout.manifest_path.name}" if layout and layout.manifest_path else ""))
    if report.files:
        table = Table(box=None, padding=(0, 1), show_edge=False)
        for column in ("file", "role", "format", "bytes", "commands", "first #TS", "last #TS", "status"):
            table.add_column(column, justify="right" if column in ("bytes", "commands") else "left")
        for f in report.files:
            table.add_row(f.name, f.role, f.format, f"{f.size:,}", f"{f.commands:,}", str(f.first_timestamp or "-"),
                          str(f.last_timestamp or "-"), "empty" if f.empty else f.verdict)
        console.print(table)
    problem = report.problem
    if report.manifest_error or report.missing:
        console.print(f"[red]{report.verdict}[/red]: {report.manifest_error or report.missing}")
    elif problem is not None:
        detail = problem.rdb_error or problem.timestamp_error or problem.error or "format error"
        console.print(f"[red]{report.verdict}[/red] in {problem.name}: ok up to offset {problem.ok_up_to} "
                      f"(line {problem.line}), {problem.diff:,} bytes after it; "
                      + (f"at offset {problem.error_offset}: " if problem.error_offset is not None else "") + detail)
    else:
        console.print("[green]valid[/green]")
