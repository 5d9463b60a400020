"""Reading the files: each in one pass, in this process or (``jobs``) in worker processes, their summaries
merged into one report in the order the files were named. Per-key rows go to the caller's writer in that
order too: a worker spools its rows to a temporary file, read back batch by batch (memory stays flat)."""

from __future__ import annotations

import os
import pickle
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import BinaryIO

from rdbtools.keyspace.memory import overhead
from rdbtools.rdb.model import Aux, KeyRecord
from rdbtools.rdb.reader import RdbFile, open_rdb
from rdbtools.rdb.targets import Target, writer_target
from rdbtools.report.measure import KeyFacts, accelerated_model, measure
from rdbtools.report.rows import Row, RowWriter
from rdbtools.report.summary import Options, Summary

BATCH = 10_000  # rows handed to the writer at once

RowSink = Callable[[list[Row]], None]


@dataclass
class FileReport:
    """One file's line of the report."""

    path: str
    target: str  # the server whose memory the bytes are
    summary: Summary
    overhead: dict[str, int]  # what no key holds: the keyspace's tables, by line (the memory model's names)

    @property
    def total(self) -> int:
        return self.summary.bytes + sum(self.overhead.values())


@dataclass
class Report:
    options: Options
    files: list[FileReport] = field(default_factory=list)
    summary: Summary = field(init=False)

    def __post_init__(self) -> None:
        self.summary = Summary(self.options)

    def add(self, file: FileReport) -> None:
        self.files.append(file)
        self.summary.merge(file.summary)

    @property
    def overhead(self) -> dict[str, int]:
        """Each line summed over the files (each file a server of its own)."""
        lines: dict[str, int] = {}
        for file in self.files:
            for name, size in file.overhead.items():
                lines[name] = lines.get(name, 0) + size
        return lines

    @property
    def total(self) -> int:
        return sum(file.total for file in self.files)


def report_file(path: str, options: Options, target: Target | None = None, rows: RowSink | None = None) -> FileReport:
    """One file's summary, each key measured for ``target`` (by default the server that wrote the file)."""
    summary = Summary(options)
    aux: dict[bytes, bytes] = {}
    batch: list[Row] = []
    measured_for: tuple[Target, Target | None] | None = None  # (the target, the writer when another)
    with open_rdb(path) as rdb:
        for record in rdb:
            if record.__class__ is KeyFacts:  # measured by the compiled scan
                facts = record
            elif record.__class__ is KeyRecord:
                if measured_for is None:
                    measured_for = _measuring(rdb, target, aux, summary, path if rows is None else None)
                facts = measure(record, *measured_for)
            else:
                if record.__class__ is Aux:
                    aux[record.name] = record.value
                if not summary.keys:  # (the aux fields before the first key name the writer)
                    measured_for = _measuring(rdb, target, aux, summary, path if rows is None else None)
                continue
            summary.add(facts, path)
            if rows is not None:
                batch.append((path, facts))
                if len(batch) >= BATCH:
                    rows(batch)
                    batch = []
        if measured_for is None:
            measured_for = _measuring(rdb, target, aux, summary, path if rows is None else None)
    if rows is not None and batch:
        rows(batch)
    chosen = measured_for[0]
    dbs, expires = summary.dbs, summary.expires
    lines = overhead([dbs[db][0] for db in sorted(dbs)], [expires.get(db, 0) for db in sorted(dbs)], chosen)
    return FileReport(path, chosen.name, summary, lines)


def _measuring(rdb: RdbFile, target: Target | None, aux: dict[bytes, bytes], summary: Summary,
               fold_as: str | None) -> tuple[Target, Target | None]:
    """The server the keys are measured for and the writer when another, as the aux fields read so far name it;
    the compiled scan told to measure the keys it can itself and, given the file's name (no rows asked: no key's
    facts are needed after it is added), to add them to the summary there and then."""
    writer = writer_target(rdb.header.magic, rdb.header.version, aux)
    measured_for = (writer, None) if target is None or target == writer else (target, writer)
    rdb.reader.measure_with = accelerated_model(*measured_for)
    rdb.reader.fold_with = None if fold_as is None else summary.fold_state(fold_as)
    return measured_for


def report_files(paths: list[str], options: Options, target: Target | None = None, rows: RowWriter | None = None,
                 jobs: int = 1) -> Report:
    """Every file's summary and the whole's, the rows written in file order; ``jobs`` processes at once."""
    report = Report(options)
    if jobs <= 1 or len(paths) <= 1 or "-" in paths:  # (a worker process's standard input is /dev/null)
        for path in paths:
            report.add(report_file(path, options, target, rows.write if rows else None))
        return report
    with tempfile.TemporaryDirectory(prefix="rdbtool-report-") as spools, \
            ProcessPoolExecutor(max_workers=min(jobs, len(paths))) as pool:
        spooled = [os.path.join(spools, f"{n}.rows") if rows else None for n in range(len(paths))]
        for file, spool in zip(pool.map(_report_in_worker, paths, [options] * len(paths),
                                        [target] * len(paths), spooled), spooled, strict=True):
            report.add(file)
            if rows is not None and spool is not None:
                for batch in _read_spool(spool):
                    rows.write(batch)
                os.unlink(spool)
    return report


def _report_in_worker(path: str, options: Options, target: Target | None, spool: str | None) -> FileReport:
    if spool is None:
        return report_file(path, options, target)
    with open(spool, "wb") as out:
        return report_file(path, options, target, lambda batch: _spool(out, batch))


def _spool(out: BinaryIO, batch: list[Row]) -> None:
    pickle.dump(batch, out, protocol=pickle.HIGHEST_PROTOCOL)


def _read_spool(path: str) -> Iterator[list[Row]]:
    with open(path, "rb") as spool:
        while True:
            try:
                yield pickle.load(spool)
            except EOFError:
                return
