"""``rdbtool convert``."""

from __future__ import annotations

import gc
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TaskProgressColumn, TextColumn, TimeRemainingColumn

from rdbtools.cli.app import EXIT_USAGE, app, fail, reports_errors
from rdbtools.conversion import OUTPUT_FORMATS, convert
from rdbtools.rdb.filters import KeyFilter
from rdbtools.rdb.model import LOGICAL_TYPES
from rdbtools.rdb.targets import target_for, target_for_version


@app.command("convert")
@reports_errors
def convert_command(
    source: Annotated[str, typer.Argument(help="An RDB file, an AOF (file, manifest or directory), or a JSONL "
                                          "file written by rdbtool dump.")],
    destination: Annotated[Path, typer.Argument(help="Where to write (atomically).")],
    to: Annotated[str | None, typer.Option("--to", help=f"Output format: {', '.join(OUTPUT_FORMATS)} "
                                           "(default: from the destination's extension).")] = None,
    target: Annotated[str | None, typer.Option("--target", help="The server the RDB is for, e.g. redis-7.0, "
                                               "valkey-9.1 (default: the source's version).")] = None,
    rdb_version: Annotated[int | None, typer.Option("--rdb-version", help="The RDB version instead of a server "
                                                    "name.")] = None,
    no_compress: Annotated[bool, typer.Option("--no-compress", help="Do not LZF-compress strings.")] = False,
    db: Annotated[list[int] | None, typer.Option("--db", help="Only this database (repeatable).")] = None,
    key: Annotated[str | None, typer.Option("--key", help="Only keys matching this Redis glob.")] = None,
    key_regex: Annotated[str | None, typer.Option("--key-regex", help="Only keys matching this regex.")] = None,
    type_: Annotated[
        list[str] | None, typer.Option("--type", help=f"Only these types: {', '.join(LOGICAL_TYPES)}.")
    ] = None,
    skip_unknown: Annotated[bool, typer.Option("--skip-unknown", help="AOF: leave out commands the engine does "
                                               "not know (counted in the report).")] = False,
    until: Annotated[int | None, typer.Option("--until", help="AOF: stop at the first command stamped (#TS:) "
                                              "after this unix time.")] = None,
    drop: Annotated[list[str] | None, typer.Option("--drop", help="What the target cannot hold, to leave out "
                                                   "(repeatable): field-ttls (keeps the fields), functions, streams, "
                                                   "modules, vector-sets.")] = None,
    config: Annotated[list[str] | None, typer.Option("--config", help="An encoding threshold of the target, as in "
                                                     "redis.conf: NAME=VALUE, e.g. hash-max-listpack-entries=1024 "
                                                     "(repeatable).")] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="Report format: human or json.")] = "human",
) -> None:
    """Convert an AOF to an RDB, an RDB for another server version (up or down, Redis or Valkey), to JSONL or
    RESP, or a JSONL dump back to an RDB. Exit status: 0 done, 1 bad or unsupported input, 2 usage error."""
    # writing builds construct contexts that refer to each other: the cyclic collector must run
    # (the CLI turns it off for the read-only commands)
    gc.enable()
    if fmt not in ("human", "json"):
        fail(f"unknown format {fmt!r}; choose human or json", EXIT_USAGE)
    if target is not None and rdb_version is not None:
        fail("give --target or --rdb-version, not both", EXIT_USAGE)
    chosen = target_for(target) if target else (target_for_version(rdb_version) if rdb_version else None)
    pairs = [item.partition("=") for item in config or ()]
    if any(not sep for _, sep, _ in pairs):
        fail("--config takes NAME=VALUE, e.g. hash-max-listpack-entries=1024", EXIT_USAGE)
    try:
        key_filter = KeyFilter(dbs=frozenset(db) if db else None,
                               key_glob=key.encode("utf-8", "surrogateescape") if key is not None else None,
                               key_regex=key_regex, types=frozenset(type_) if type_ else None)
    except ValueError as error:
        fail(str(error), EXIT_USAGE)
    with _progress_bar() as progress:
        report = convert(source, destination, to=to, target=chosen, key_filter=key_filter, compress=not no_compress,
                         skip_unknown=skip_unknown, until=until, drop=frozenset(drop or ()),
                         config={name: value for name, _, value in pairs}, progress=progress)
    if fmt == "json":
        sys.stdout.buffer.write(orjson.dumps(report.to_json(), option=orjson.OPT_INDENT_2) + b"\n")
        return
    console = Console(highlight=False, soft_wrap=True)
    kinds = ", ".join(f"{count:,} {kind}" for kind, count in sorted(report.keys.items())) or "no keys"
    console.print(f"[green]wrote[/green] {report.destination} ({report.output_format}"
                  + (f" for {report.target}" if report.target else "") + f"): {kinds}; "
                  f"{report.functions} function libraries")
    for reason, count in report.skipped.items():
        console.print(f"  [yellow]skipped[/yellow] {count:,} {reason}")
    for kind, count in report.changed.items():
        console.print(f"  [yellow]dropped for {report.target}[/yellow] {count:,} {kind}")



@contextmanager
def _progress_bar() -> Iterator[Callable[[str, int, int], None] | None]:
    """A rich progress bar on standard error when it is a terminal (phases: replaying, writing)."""
    if not sys.stderr.isatty():
        yield None
        return
    columns = (TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        tasks: dict[str, TaskID] = {}

        def update(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                tasks[phase] = bar.add_task(phase, total=total)
            bar.update(tasks[phase], completed=done, total=total)

        yield update
