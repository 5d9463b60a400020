"""``rdbtool report``: where a file's memory goes, for people (rich), pipelines (JSON, gates) and tables."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, BinaryIO

import orjson
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from rdbtools.atomic import atomic_output
from rdbtools.cli.app import EXIT_BAD_FILE, EXIT_USAGE, app, fail, reports_errors
from rdbtools.errors import format_key
from rdbtools.export.records import bytes_from_json
from rdbtools.rdb.targets import target_for
from rdbtools.report.document import document
from rdbtools.report.gates import exceeded
from rdbtools.report.rows import FORMATS as ROW_FORMATS
from rdbtools.report.rows import WRITERS, RowWriter
from rdbtools.report.run import Report, report_files
from rdbtools.report.sizes import human_size, parse_size
from rdbtools.report.summary import Options

SUMMARY_FORMATS = ("human", "json")


@app.command()
@reports_errors
def report(
    files: Annotated[list[str], typer.Argument(help="RDB files (- reads standard input): one report for all.")],
    fmt: Annotated[str | None, typer.Option(
        "--format", "-f", help="human or json (the summary), or parquet (the per-key table, into --output).")] = None,
    per_key: Annotated[str | None, typer.Option(
        "--per-key", help="A row per key (file, db, key, type, encoding, bytes, elements, largest_element, "
                          "expire_ms): csv, jsonl or parquet; into --output, else on stdout instead of the summary.")
    ] = None,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Write the per-key table (or else the summary) here, atomically.")] = None,
    target: Annotated[str | None, typer.Option(
        "--target", help="Count bytes as this server would (redis-7.0, valkey-9.1, ...); default: the server "
                         "that wrote each file.")] = None,
    top: Annotated[int, typer.Option("--top", "-n", min=0, help="How many keys, elements and prefixes to list.")] = 20,
    separator: Annotated[list[str] | None, typer.Option(
        "--separator", help="What ends a key prefix (repeatable); default ':'.")] = None,
    depth: Annotated[int, typer.Option("--depth", min=0, help="Prefix levels counted.")] = 3,
    max_prefixes: Annotated[int, typer.Option(
        "--max-prefixes", min=1, help="Prefixes kept at most; the rest are counted as their parent's 'other'.")
    ] = 10_000,
    now_ms: Annotated[int | None, typer.Option(
        "--now-ms", help="Measure TTLs from this unix time in ms instead of now.")] = None,
    fail_key_over: Annotated[str | None, typer.Option(
        "--fail-key-over", help="Exit 1 when a key uses more than SIZE (10mb, 1.5GB, ...).")] = None,
    fail_total_over: Annotated[str | None, typer.Option(
        "--fail-total-over", help="Exit 1 when the total (the keys and the keyspace's tables) exceeds SIZE.")] = None,
    html: Annotated[Path | None, typer.Option(
        "--html", help="Also write one self-contained HTML page (prefix treemap and tables).")] = None,
    jobs: Annotated[int, typer.Option("--jobs", "-j", min=1, help="Files read at once, each in a process.")] = 1,
) -> None:
    """Where the memory goes: every key's bytes as the target server's MEMORY USAGE counts them, in totals per
    database, type and encoding, the top keys and prefixes, TTLs, the largest elements.

    Exit status: 0 done, 1 a gate exceeded or a file corrupt or unsupported, 2 usage error or a file could not
    be read.
    """
    rows_format, summary_format = _formats(fmt, per_key, output)
    limits = _sizes(fail_key_over, fail_total_over)
    if separator is not None and not all(separator):
        fail("a --separator cannot be empty", EXIT_USAGE)
    options = Options(top=top, separators=tuple(separator or (":",)), depth=depth, max_prefixes=max_prefixes,
                      now_ms=int(time.time() * 1000) if now_ms is None else now_ms)
    chosen = target_for(target) if target else None
    with _rows(rows_format, output) as rows:
        result = report_files(files, options, chosen, rows, jobs)
    if summary_format == "json":
        _write(orjson.dumps(document(result, top), option=orjson.OPT_INDENT_2) + b"\n",
               None if rows_format else output)
    elif summary_format == "human":
        render(result, Console(highlight=False))
    if html is not None:
        from rdbtools.report.html import page

        with atomic_output(html) as out:
            out.write(page(result).encode())
    failures = exceeded(result, *limits)
    for failure in failures:
        typer.echo(f"rdbtool: {failure}", err=True)
    raise typer.Exit(EXIT_BAD_FILE if failures else 0)


def _formats(fmt: str | None, per_key: str | None, output: Path | None) -> tuple[str | None, str | None]:
    """(the per-key table's format, the summary's): the summary is left out when the table takes stdout."""
    if fmt is not None and fmt not in (*SUMMARY_FORMATS, "parquet"):
        fail(f"unknown format {fmt!r}; choose human, json or parquet", EXIT_USAGE)
    if per_key is not None and per_key not in ROW_FORMATS:
        fail(f"unknown per-key format {per_key!r}; choose {', '.join(ROW_FORMATS)}", EXIT_USAGE)
    if fmt == "parquet":
        if per_key not in (None, "parquet"):
            fail("--format parquet is the per-key table: it takes no other --per-key format", EXIT_USAGE)
        fmt, per_key = None, "parquet"
    if per_key is None:
        return None, fmt or "human"
    if output is None:
        if per_key == "parquet":
            fail("the parquet table needs --output FILE", EXIT_USAGE)
        if fmt is not None:
            fail("the per-key table and the summary cannot both go to stdout: give --output FILE", EXIT_USAGE)
        return per_key, None
    return per_key, fmt or "human"


def _sizes(*texts: str | None) -> list[int | None]:
    try:
        return [None if text is None else parse_size(text) for text in texts]
    except ValueError as error:
        fail(str(error), EXIT_USAGE)
        raise


@contextlib.contextmanager
def _rows(fmt: str | None, output: Path | None) -> Iterator[RowWriter | None]:
    if fmt is None:
        yield None
        return
    with _destination(output) as out:
        writer = WRITERS[fmt](out)
        yield writer
        writer.close()


@contextlib.contextmanager
def _destination(output: Path | None) -> Iterator[BinaryIO]:
    if output is None:
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    with atomic_output(output) as out:
        yield out


def _write(data: bytes, output: Path | None) -> None:
    with _destination(output) as out:
        out.write(data)


# --- the terminal -------------------------------------------------------------------------------------------

def render(result: Report, console: Console) -> None:
    doc = document(result, result.options.top)
    for file in doc["files"]:
        console.print(f"[bold]{escape(file['path'])}[/bold]: {_totals(file)} as {file['target']} counts them")
    if len(doc["files"]) > 1:
        console.print(f"[bold]all {len(doc['files'])} files[/bold]: {_totals(doc)}")
    _table(console, "databases", doc["dbs"], ["db"])
    _table(console, "types", doc["types"], ["type"])
    _table(console, "encodings", doc["encodings"], ["type", "encoding"])
    _table(console, "TTL", doc["ttl"], ["bucket"])
    _table(console, "past their compact encoding's limit", doc["past_thresholds"], ["directive"])
    _keys(console, "top keys", doc["top_keys"], many_files=len(doc["files"]) > 1)
    _keys(console, "largest elements", doc["largest_elements"], many_files=len(doc["files"]) > 1)
    _table(console, f"top prefixes (separators {' '.join(map(repr, result.options.separators))})",
           [{**row, "prefix": _shown(row["prefix"]) + (" (other)" if row["other"] else "")}
            for row in doc["prefixes"]], ["prefix", "depth"])


def _totals(line: dict[str, Any]) -> str:
    lines = ", ".join(f"{name} {human_size(size)}" for name, size in line["overhead"].items())
    return f"{line['keys']:,} keys using {human_size(line['bytes'])}, with {lines}: {human_size(line['total'])}"


def _table(console: Console, title: str, rows: list[dict[str, Any]], labels: list[str]) -> None:
    if not rows:
        return
    table = Table(title=title, title_justify="left", title_style="bold", box=None, padding=(0, 1))
    for label in labels:
        table.add_column(label)
    for heading in ("keys", "bytes", "share"):
        table.add_column(heading, justify="right")
    for row in rows:
        table.add_row(*(str(row[label]) for label in labels), f"{row['keys']:,}", human_size(row["bytes"]),
                      f"{row['share']:.1%}")
    console.print(table)


def _keys(console: Console, title: str, rows: list[dict[str, Any]], many_files: bool) -> None:
    if not rows:
        return
    table = Table(title=title, title_justify="left", title_style="bold", box=None, padding=(0, 1))
    columns = ["db", "key", "type", "encoding", "bytes", "elements", "largest element", "file"]
    for column in columns[:None if many_files else -1]:
        table.add_column(column, justify="right" if column in ("bytes", "elements", "largest element") else "left")
    for row in rows:
        cells = [str(row["db"]), _shown(row["key"]), row["type"], row["encoding"], human_size(row["bytes"]),
                 f"{row['elements']:,}", human_size(row["largest_element"]), escape(row["file"])]
        table.add_row(*cells[:None if many_files else -1])
    console.print(table)


def _shown(text: Any) -> str:
    """A key or prefix of the document, escaped as error messages show keys."""
    return escape(format_key(bytes_from_json(text)))
