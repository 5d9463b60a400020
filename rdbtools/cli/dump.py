"""``rdbtool dump``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from rdbtools.aof.reader import looks_like_aof, open_aof
from rdbtools.atomic import atomic_output
from rdbtools.cli.app import EXIT_USAGE, app, fail, reports_errors
from rdbtools.export.aof import AOF_FORMATS, write_aof
from rdbtools.export.dump import FORMATS, write_records
from rdbtools.rdb.filters import KeyFilter
from rdbtools.rdb.model import LOGICAL_TYPES
from rdbtools.rdb.reader import open_rdb


@app.command()
@reports_errors
def dump(
    file: Annotated[
        str,
        typer.Argument(help="RDB file (- reads standard input), or an AOF: a file, a manifest or an appendonly "
                       "directory."),
    ],
    fmt: Annotated[str, typer.Option("--format", "-f", help=f"Output format: {', '.join(FORMATS)}.")] = "jsonl",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here (atomically) instead of stdout.")
    ] = None,
    db: Annotated[list[int] | None, typer.Option("--db", help="Only this database (repeatable).")] = None,
    key: Annotated[str | None, typer.Option("--key", help="Only keys matching this Redis glob.")] = None,
    key_regex: Annotated[
        str | None, typer.Option("--key-regex", help="Only keys matching this regular expression.")
    ] = None,
    type_: Annotated[
        list[str] | None,
        typer.Option("--type", help=f"Only keys of this type (repeatable): {', '.join(LOGICAL_TYPES)}."),
    ] = None,
    expired: Annotated[
        bool | None,
        typer.Option("--expired/--no-expired", help="Only keys already expired / only keys still live."),
    ] = None,
) -> None:
    """Print every key of an RDB file with its type, value, TTL and database (or an AOF's commands)."""
    if fmt not in FORMATS:
        fail(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}", EXIT_USAGE)
    try:
        key_filter = KeyFilter(
            dbs=frozenset(db) if db else None,
            key_glob=key.encode("utf-8", "surrogateescape") if key is not None else None,
            key_regex=key_regex,
            types=frozenset(type_) if type_ else None,
            expired=expired,
        )
    except ValueError as error:
        fail(str(error), EXIT_USAGE)
    if file != "-" and looks_like_aof(file):
        _dump_aof(file, fmt, output, key_filter)
        return
    with open_rdb(file) as rdb:
        records = key_filter.apply(rdb)
        if output is None:
            write_records(rdb.header, records, sys.stdout.buffer, fmt)
            sys.stdout.buffer.flush()
        else:
            with atomic_output(output) as out:
                write_records(rdb.header, records, out, fmt)


def _dump_aof(file: str, fmt: str, output: Path | None, key_filter: KeyFilter) -> None:
    if fmt not in AOF_FORMATS:
        fail(f"format {fmt!r} is not available for an AOF; choose from {', '.join(AOF_FORMATS)}", EXIT_USAGE)
    aof = open_aof(file)
    if output is None:
        write_aof(aof, sys.stdout.buffer, fmt, key_filter)
        sys.stdout.buffer.flush()
    else:
        with atomic_output(output) as out:
            write_aof(aof, out, fmt, key_filter)
