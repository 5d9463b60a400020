"""``rdbtool verify``: a report for people (rich) or for pipelines (JSON), and an exit code."""

from __future__ import annotations

import sys
from typing import Annotated

import orjson
import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn, TransferSpeedColumn
from rich.table import Table

from rdbtools.aof.check import AofCheck, check_aof
from rdbtools.aof.reader import looks_like_aof
from rdbtools.cli.app import EXIT_BAD_FILE, EXIT_OK, EXIT_USAGE, app, fail, reports_errors
from rdbtools.cli.check_aof import render as render_aof
from rdbtools.rdb.verify import VerifyReport, verify_rdb

_VERDICT_STYLE = {"sound": "bold green", "corrupt": "bold red", "unsupported": "bold yellow",
                  "unreadable": "bold red"}
_MAX_PROBLEMS_SHOWN = 20


@app.command()
@reports_errors
def verify(
    files: Annotated[list[str], typer.Argument(help="RDB files, or AOFs (file, manifest or directory), to check.")],
    fmt: Annotated[str, typer.Option("--format", "-f", help="Report format: human or json.")] = "human",
    strict: Annotated[
        bool, typer.Option("--strict", help="Also fail on warnings (no checksum, trailing bytes, "
                                             "data every server loads but no Redis writes).")
    ] = False,
) -> None:
    """Check that RDB files are sound: checksum, every record, every embedded encoding.

    Exit status: 0 every file sound, 1 a file is corrupt or unsupported, 2 usage error or a file
    could not be read.
    """
    if fmt not in ("human", "json"):
        fail(f"unknown format {fmt!r}; choose human or json", EXIT_USAGE)
    console = Console(stderr=False, highlight=False)
    reports: list[VerifyReport | AofCheck] = []
    for path in files:
        report: VerifyReport | AofCheck
        if path != "-" and looks_like_aof(path):
            report = check_aof(path)  # everything check-aof checks, the RDB preamble or base deeply
            if fmt == "human":
                render_aof(report, console)
        else:
            report = _verify_with_progress(path, show=fmt == "human" and console.is_terminal)
            if fmt == "human":
                render(report, console)
        reports.append(report)
    if fmt == "json":
        document = [_json(r) for r in reports]
        sys.stdout.buffer.write(orjson.dumps(document if len(document) > 1 else document[0],
                                             option=orjson.OPT_INDENT_2) + b"\n")
    raise typer.Exit(exit_code(reports, strict))


def _json(report: VerifyReport | AofCheck) -> dict:
    if isinstance(report, VerifyReport):
        return report.to_json()
    return {**report.to_json(), "kind": "aof", "verdict": "sound" if report.valid else "corrupt",
            "aof_verdict": report.verdict}


def exit_code(reports: list[VerifyReport | AofCheck], strict: bool) -> int:
    rdb_reports = [r for r in reports if isinstance(r, VerifyReport)]
    if any(r.unreadable for r in rdb_reports):
        return EXIT_USAGE
    if any(not r.sound or (strict and r.warnings) for r in rdb_reports):
        return EXIT_BAD_FILE
    if any(isinstance(r, AofCheck) and not r.valid for r in reports):
        return EXIT_BAD_FILE
    return EXIT_OK


def _verify_with_progress(path: str, show: bool) -> VerifyReport:
    if not show:
        return verify_rdb(path)
    columns = ("[progress.description]{task.description}", BarColumn(), DownloadColumn(),
               TransferSpeedColumn(), TimeRemainingColumn())
    with Progress(*columns, transient=True) as bar:
        task = bar.add_task(f"verifying {path}", total=None)
        return verify_rdb(path, progress=lambda done, total: bar.update(task, completed=done, total=total))


def render(report: VerifyReport, console: Console) -> None:
    style = _VERDICT_STYLE[report.verdict]
    console.print(f"[bold]{report.path}[/bold]: [{style}]{report.verdict.upper()}[/{style}]")
    if report.magic:
        console.print(f"  format   {report.magic} version {report.version}, {report.size:,} bytes, "
                      f"checksum {report.checksum or 'not reached'}")
    if report.aux:
        console.print("  aux      " + ", ".join(f"{k}={v}" for k, v in report.aux.items()))
    if report.keys:
        table = Table(box=None, padding=(0, 1), show_edge=False)
        table.add_column("db", justify="right")
        kinds = sorted({kind for types in report.keys.values() for kind in types})
        for kind in kinds:
            table.add_column(kind, justify="right")
        table.add_column("total", justify="right")
        for db, types in sorted(report.keys.items()):
            table.add_row(str(db), *(f"{types.get(k, 0):,}" for k in kinds), f"{sum(types.values()):,}")
        console.print(table)
    console.print(f"  keys     {report.total_keys:,} ({report.expires:,} with a TTL, "
                  f"{report.already_expired:,} already expired); functions {report.functions}")
    if report.unreadable:
        console.print(f"  [red]unreadable[/red]: {report.unreadable}")
    if report.unsupported:
        console.print(f"  [yellow]unsupported[/yellow]: {report.unsupported}")
    for warning in report.warnings:
        console.print(f"  [yellow]warning[/yellow]: {warning}")
    for problem in report.problems[:_MAX_PROBLEMS_SHOWN]:
        console.print(f"  [red]problem[/red]: {problem}", markup=True)
    if len(report.problems) > _MAX_PROBLEMS_SHOWN:
        console.print(f"  … and {len(report.problems) - _MAX_PROBLEMS_SHOWN} more problems (--format json lists all)")
