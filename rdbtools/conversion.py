"""``rdbtool convert``: AOF -> RDB, RDB -> RDB for another target, RDB <-> JSONL, RDB -> RESP.

Built from the readers, the keyspace engine, the writer and the exporters; writes into a temporary
file that replaces the destination only when complete. An RDB source streams one record at a time;
an AOF is replayed into a keyspace first (as Redis loads it), which then is written.
"""

from __future__ import annotations

import gc
import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from rdbtools.aof.reader import AofSnapshotRecord, looks_like_aof, open_aof
from rdbtools.atomic import atomic_output, fsync_directory
from rdbtools.errors import FormatError, InputError, TargetError, UnsupportedError, format_key
from rdbtools.export.dump import write_records
from rdbtools.export.records import record_from_json
from rdbtools.formats.manifest import FileType, Manifest, ManifestEntry, format_manifest
from rdbtools.keyspace.engine import CommandError, Engine, UnknownCommand
from rdbtools.keyspace.model import Keyspace
from rdbtools.rdb.filters import KeyFilter
from rdbtools.rdb.model import (
    Function,
    HashTemplate,
    Header,
    KeyRecord,
    ModuleAux,
    Record,
    ResizeDb,
    SelectDb,
)
from rdbtools.rdb.reader import RdbFile, open_rdb
from rdbtools.rdb.targets import NEWEST, Target, target_for_version
from rdbtools.rdb.targets import TARGETS as TARGETS_BY_NAME
from rdbtools.rdb.verify import verify_rdb
from rdbtools.rdb.writer import DROPPABLE, PARTIAL_DROPS, RdbWriter, unwritable, without_part

OUTPUT_FORMATS = ("rdb", "jsonl", "resp", "aof-dir")
AOF_NAME = "appendonly.aof"  # Redis's default appendfilename
_BY_SUFFIX = {".rdb": "rdb", ".jsonl": "jsonl", ".resp": "resp", ".aof": "resp"}


@dataclass
class ConvertReport:
    source: str
    destination: str
    source_kind: str
    output_format: str
    target: str | None = None
    keys: Counter = field(default_factory=Counter)  # type -> keys written
    functions: int = 0
    skipped: Counter = field(default_factory=Counter)  # reason -> count
    changed: Counter = field(default_factory=Counter)  # what --drop removed for the target -> count

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "destination": self.destination, "source_kind": self.source_kind,
                "format": self.output_format, "target": self.target, "keys": dict(self.keys),
                "total_keys": sum(self.keys.values()), "functions": self.functions, "skipped": dict(self.skipped),
                "changed": dict(self.changed)}


#: progress(phase, done, total): "replaying" counts AOF bytes, "writing" counts keys
Progress = Callable[[str, int, int], None]
_PROGRESS_STEP = 4096  # records between two progress calls


@dataclass(frozen=True)
class RdbOptions:
    """How to write an RDB destination (see ``convert``)."""

    target: Target | None = None
    compress: bool = True
    drop: frozenset[str] = frozenset()
    aux: dict[bytes, bytes] | None = None
    config: dict[str, str] | None = None

    def target_for(self, header: Header) -> Target:
        return (self.target or _default_target(header)).with_config(self.config or {})


def output_format(destination: str | os.PathLike[str], to: str | None) -> str:
    if to is not None:
        if to not in OUTPUT_FORMATS:
            raise InputError(f"unknown output format {to!r}; choose from {', '.join(OUTPUT_FORMATS)}")
        return to
    suffix = Path(destination).suffix.lower()
    if suffix not in _BY_SUFFIX:
        raise InputError(f"cannot tell the output format from {suffix or 'no extension'!r}: give --to "
                         f"({', '.join(OUTPUT_FORMATS)})", path=os.fspath(destination))
    return _BY_SUFFIX[suffix]


def source_kind(source: str | os.PathLike[str]) -> str:
    if looks_like_aof(source):
        return "aof"
    with open(source, "rb") as handle:
        return "jsonl" if handle.read(1) == b"{" else "rdb"


def _jsonl_records(path: str | os.PathLike[str]) -> tuple[Header, Iterator[Record]]:
    handle = open(path, "rb")  # noqa: SIM115 - closed when the iterator ends
    first = handle.readline()
    try:
        header = _jsonl_record(first, 0, path) if first.strip() else None
        if not isinstance(header, Header):
            raise FormatError("a JSONL dump starts with its header line (kind: header)", offset=0,
                              path=os.fspath(path))
    except FormatError:
        handle.close()
        raise

    def records() -> Iterator[Record]:
        offset = len(first)
        with handle:
            for line in handle:
                record = _jsonl_record(line, offset, path)
                offset += len(line)
                if record is not None and not isinstance(record, Header):  # (a header is the first line's)
                    yield record

    return header, records()


def _jsonl_record(line: bytes, offset: int, path: str | os.PathLike[str]) -> Record | Header | None:
    try:
        return record_from_json(orjson.loads(line))
    except (LookupError, TypeError, ValueError, AttributeError) as error:  # (JSON of another shape than a record's)
        raise FormatError(f"not a record of rdbtool's JSONL schema: {error}", offset=offset,
                          path=os.fspath(path)) from None


def convert(
    source: str | os.PathLike[str],
    destination: str | os.PathLike[str],
    *,
    to: str | None = None,
    target: Target | None = None,
    key_filter: KeyFilter | None = None,
    compress: bool = True,
    skip_unknown: bool = False,
    until: int | None = None,
    drop: frozenset[str] = frozenset(),
    aux: dict[bytes, bytes] | None = None,
    config: dict[str, str] | None = None,
    progress: Progress | None = None,
) -> ConvertReport:
    """Convert ``source`` into ``destination``; the report says what was written, skipped and changed.

    Data the RDB target cannot hold stops the conversion with every key concerned listed, unless its
    kind is in ``drop`` (see writer.DROPPABLE): then field TTLs are removed (the fields kept), and
    functions, streams or module values are left out, each counted in ``report.changed``. ``aux``
    adds or replaces AUX fields of an RDB destination; ``config`` sets encoding thresholds of the
    target by their redis.conf names (``{"hash-max-listpack-entries": "1024"}``); ``progress`` is
    called now and then (see ``Progress``).
    """
    unknown = set(drop) - set(DROPPABLE)
    if unknown:
        raise InputError(f"cannot drop {sorted(unknown)[0]!r}; choose from {', '.join(DROPPABLE)}")
    NEWEST.with_config(config or {})  # unknown names and bad values fail before any work
    fmt = output_format(destination, to)
    kind = source_kind(source)
    report = ConvertReport(os.fspath(source), os.fspath(destination), kind, fmt)
    key_filter = key_filter or KeyFilter()
    options = RdbOptions(target, compress, frozenset(drop), aux, config)
    if fmt == "aof-dir":
        return _convert_to_aof_dir(source, destination, dict(
            target=target, key_filter=key_filter, compress=compress, skip_unknown=skip_unknown, until=until, drop=drop,
            config=config, progress=progress))
    if kind == "aof":
        with _keyspace_outside_the_collector():
            keyspace, header = replay_aof(source, report, skip_unknown=skip_unknown, until=until,
                                          progress=progress)
        with _frozen():  # the writer's schema builds may form cycles: collected, the keyspace not rescanned
            _write(header, key_filter.apply(keyspace.records()), destination, fmt, options, report,
                   recount=lambda: key_filter.apply(keyspace.records()), progress=progress,
                   hints=keyspace.sizes() if key_filter.is_trivial and not drop else None)
    elif kind == "jsonl":
        header, records = _jsonl_records(source)
        _write(header, key_filter.apply(records), destination, fmt, options, report,
               recount=lambda: key_filter.apply(_jsonl_records(source)[1]), progress=progress,
               check=_loads_as_written if fmt == "rdb" else None)
    else:
        with open_rdb(source) as rdb:
            _write(rdb.header, key_filter.apply(rdb), destination, fmt, options, report,
                   recount=lambda: _recount(source, key_filter), progress=progress,
                   hints=FROM_SOURCE if key_filter.is_trivial and not drop else None)
    return report


@contextmanager
def _keyspace_outside_the_collector() -> Iterator[None]:
    """Replaying builds a keyspace of millions of objects that never form cycles; with the cyclic
    collector on, each of its full passes walks all of them (profiled: most of a 9M-command replay)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@contextmanager
def _frozen() -> Iterator[None]:
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def replay_aof(source, report: ConvertReport, *, skip_unknown: bool = False, until: int | None = None,
               progress: Progress | None = None, engine: Engine | None = None) -> tuple[Keyspace, Header]:
    """Load an AOF's snapshot and replay its commands into a keyspace, as Redis loads it.

    MULTI ... EXEC blocks run when their EXEC is read (one left open at the end is dropped, as
    Redis reverts it); error replies do not stop the replay; ``until`` stops at the first command
    stamped (#TS:) later than that unix time. Records are taken a batch at a time (the hot loop).
    ``engine``: replay into this one (a server loading its AOF) instead of a new one.
    """
    engine = engine or Engine()
    aof = open_aof(source)
    replay = _Replay(engine, report, skip_unknown, until)
    sizes = [part.path.stat().st_size for part in aof.layout.parts]
    before = {part.name: sum(sizes[:i]) for i, part in enumerate(aof.layout.parts)}
    for file, batch in aof.batches():
        if batch[0].__class__ is AofSnapshotRecord:
            for item in batch:
                if isinstance(item.record, KeyRecord | Function):
                    engine.keyspace.load(item.record, target=engine.target)
        elif not replay.feed(batch, file):
            break
        elif progress is not None:  # (a RESP part's batch)
            progress("replaying", before[file] + batch[-1].offset, sum(sizes))  # type: ignore[union-attr]
    if progress is not None:
        progress("replaying", sum(sizes), sum(sizes))
    # by default an AOF becomes an RDB of its base's version, or of the newest Redis
    return engine.keyspace, aof.snapshot_header or Header(NEWEST.magic, NEWEST.rdb_version)


_TRANSACTION = (b"multi", b"exec")


class _Replay:
    """Commands applied as Redis loads an AOF: MULTI ... EXEC queued and run at EXEC."""

    def __init__(self, engine: Engine, report: ConvertReport, skip_unknown: bool, until: int | None) -> None:
        self.execute, self.report, self.skip_unknown, self.until = engine.execute, report, skip_unknown, until
        self.queued: list | None = None
        self.timestamp: int | None = None  # of the last #TS: annotation, in any file

    def feed(self, batch: list, file: str) -> bool:
        """Apply a batch of RESP records; False once a command is stamped after ``until``."""
        execute, until = self.execute, self.until
        for record in batch:
            args = record.args
            if args is None:
                self.timestamp = record.timestamp if record.timestamp is not None else self.timestamp
                continue
            if until is not None and self.timestamp is not None and self.timestamp > until:
                return False
            first = args[0]
            if self.queued is not None or (len(first) in (4, 5) and first.lower() in _TRANSACTION):
                self.transaction(args, record.offset, file)
                continue
            try:  # the common case, inline: a command outside MULTI
                execute(args)
            except (CommandError, UnknownCommand) as error:
                self.failed(error, args, record.offset, file)
        return True

    def transaction(self, args: list[bytes], offset: int, file: str) -> None:
        name = args[0].lower()
        if name == b"multi":
            self.queued = []
        elif name == b"exec" and self.queued is not None:
            queued, self.queued = self.queued, None
            for queued_args, queued_offset, where in queued:
                try:
                    self.execute(queued_args)
                except (CommandError, UnknownCommand) as error:
                    self.failed(error, queued_args, queued_offset, where)
        elif self.queued is not None:
            self.queued.append((args, offset, file))
        else:  # a stray EXEC: Redis answers it with an error
            self.failed(CommandError("ERR EXEC without MULTI"), args, offset, file)

    def failed(self, error: CommandError | UnknownCommand, args: list[bytes], offset: int, file: str) -> None:
        if isinstance(error, CommandError):
            self.report.skipped["commands answered with an error (as Redis logs them)"] += 1
        elif not self.skip_unknown:
            raise error.located(base=offset, path=file) from None
        else:
            self.report.skipped[f"unknown {args[0].decode('utf-8', 'replace').upper()} commands"] += 1


def _convert_to_aof_dir(source, destination, options: dict[str, Any]) -> ConvertReport:
    """A directory Redis 7+ starts from with appendonly yes: manifest, RDB base, empty incr file.

    Built in a temporary directory beside the destination and renamed into place when complete.
    """
    destination = Path(destination)
    if destination.exists():
        raise InputError("the destination exists; give a new directory name", path=os.fspath(destination))
    base = f"{AOF_NAME}.1.base.rdb"
    incr = f"{AOF_NAME}.1.incr.aof"
    work = Path(tempfile.mkdtemp(prefix=f".{destination.name}.", dir=destination.parent))
    try:
        inner = convert(source, work / base, to="rdb", aux={b"aof-base": b"1"}, **options)
        assert inner.target is not None  # (an RDB's conversion names its target)
        if TARGETS_BY_NAME[inner.target].rdb_version < 10:
            raise TargetError(f"{inner.target} has no multi-part AOF (Redis 7.0+ does)")
        (work / incr).write_bytes(b"")
        manifest = Manifest((ManifestEntry(base, 1, FileType.BASE), ManifestEntry(incr, 1, FileType.INCR)))
        (work / f"{AOF_NAME}.manifest").write_bytes(format_manifest(manifest))
        for path in work.iterdir():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
        os.rename(work, destination)
        fsync_directory(os.fspath(destination.parent))
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    inner.destination, inner.output_format = os.fspath(destination), "aof-dir"
    return inner


def _recount(source, key_filter: KeyFilter) -> Iterator[Record]:
    if os.fspath(source) == "-":  # standard input cannot be read twice
        return
    with RdbFile(source, keep_values=False) as rdb:
        yield from key_filter.apply(rdb)


def size_hints(records: Iterable[Record], target: Target, drop: frozenset[str]) -> dict[int, tuple[int, int]]:
    """Keys and keys with a TTL per database, as RESIZEDB tells them: what will be written."""
    sizes: dict[int, list[int]] = {}
    for record in records:
        if record.__class__ is KeyRecord and (unwritable(record, target) or "field-ttls") in PARTIAL_DROPS:
            counts = sizes.setdefault(record.db, [0, 0])
            counts[0] += 1
            counts[1] += record.expire_ms is not None
    return {db: (keys, expires) for db, (keys, expires) in sizes.items()}


#: the RESIZEDB counts of an unfiltered RDB source hold for what is written: take them as they come
FROM_SOURCE: Any = object()


def _write(header: Header, records: Iterable[Record], destination, fmt: str, options: RdbOptions,
           report: ConvertReport, *, recount: Callable[[], Iterable[Record]], progress: Progress | None,
           hints: dict[int, tuple[int, int]] | None = None, check: Callable[[str], None] | None = None) -> None:
    """Write the records. RESIZEDB gives each database's counts before its keys: from ``hints``, from
    the source's own RESIZEDB records (FROM_SOURCE), else by reading the source twice (``recount()``).
    ``check`` may refuse the written file before it replaces the destination."""
    with atomic_output(destination, check) as out:
        if fmt != "rdb":
            stats = write_records(header, _counted(records, report), out, fmt, options.target)
            report.skipped.update(stats.skipped)
            return
        target = options.target_for(header)
        report.target = target.name
        from_source = hints is FROM_SOURCE
        sizes = {} if from_source else hints if hints is not None else size_hints(recount(), target, options.drop)
        writer = RdbWriter(out, target, compress=options.compress, aux=options.aux, size_hints=sizes)
        blocked: list[tuple[str, str]] = []  # (what, kind) the target cannot hold and may not be dropped
        total, db = sum(keys for keys, _ in sizes.values()), 0
        for record in _counted(records, report, progress, total):
            if record.__class__ is not KeyRecord and not isinstance(record, Function):
                if from_source and record.__class__ is SelectDb:
                    db = record.db
                elif from_source and record.__class__ is ResizeDb:  # read before the keys of its database
                    sizes[db] = (record.db_size, record.expires_size)
                elif isinstance(record, ModuleAux):
                    report.skipped["module aux data (the module rewrites it)"] += 1
                elif isinstance(record, HashTemplate):
                    report.skipped["hash templates (their hashes are written as plain hashes)"] += 1
                continue
            kind = unwritable(record, target)
            while kind is not None:  # a record may hold several parts the target lacks
                record = _adapt(record, kind, options.drop, blocked, report)
                kind = None if record is None else unwritable(record, target)
            if record is None:
                continue
            if not blocked:  # once something is blocked, only look for the rest of it
                if isinstance(record, KeyRecord):
                    writer.write_key(record)
                else:
                    writer.write_function(record)
        if blocked:
            listed = "; ".join(f"{what} ({kind})" for what, kind in blocked[:10])
            more = f" and {len(blocked) - 10} more" if len(blocked) > 10 else ""
            kinds = sorted({kind for _, kind in blocked})
            raise TargetError(f"{target.name} cannot hold {len(blocked)} item(s): {listed}{more}; "
                              f"--drop {' --drop '.join(kinds)} would remove them", path=os.fspath(destination))
        writer.close()


def _loads_as_written(path: str) -> None:
    """JSONL is text a user may have edited, not values a server held: the RDB written from it must pass the
    deep reader's checks (what Redis checks on load: a PEL's owners, duplicates, ...), else nothing is written."""
    problems = verify_rdb(path).problems
    if problems:
        raise FormatError(f"the JSONL holds a value Redis would not load: {problems[0].message}",
                          key=problems[0].key)


def _adapt(record, kind: str, drop: frozenset[str], blocked: list, report: ConvertReport):
    """What to write instead of a record the target cannot hold: None to leave it out."""
    if kind not in drop:
        what = "a function library" if isinstance(record, Function) else f"key {format_key(record.key)}"
        blocked.append((what, kind))
        return None
    report.changed[kind] += len(record.field_expires) if kind == "field-ttls" else 1
    return without_part(record, kind) if kind in PARTIAL_DROPS else None


def _counted(records, report: ConvertReport, progress: Progress | None = None, total: int = 0) -> Iterator[Record]:
    written, keys = 0, report.keys
    for record in records:
        if record.__class__ is KeyRecord:
            keys[record.type] += 1
            written += 1
            if progress is not None and written % _PROGRESS_STEP == 0:
                progress("writing", written, total)
        elif record.__class__ is Function:
            report.functions += 1
        yield record
    if progress is not None:
        progress("writing", written, max(total, written))


def _default_target(header: Header) -> Target:
    """The same version as the source when rdbtool writes it, else the newest Redis."""
    try:
        return target_for_version(80 if header.magic == "VALKEY" else header.version)
    except UnsupportedError:
        return NEWEST
