"""Iterate the commands of an AOF in any layout, in the order Redis replays them.

Layouts (formats.md §8.3–8.4): a single RESP file (Redis <= 6.2), the same with an RDB preamble
("hybrid"), and the Redis 7+ multi-part directory: a manifest naming a base file (RDB or RESP) and
incr files (RESP). A base RDB or a preamble is read with the RDB reader; its records come out as
``AofSnapshotRecord``. Every command carries its file, byte offset, line and the last ``#TS:``
timestamp before it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from rdbtools.errors import InputError, RdbtoolError
from rdbtools.formats.manifest import FileType, Manifest, parse_manifest
from rdbtools.formats.resp import RespRecord, iter_record_batches
from rdbtools.rdb.model import Header, Record
from rdbtools.rdb.reader import RdbReader
from rdbtools.rdb.source import MappedSource

RDB_MAGICS = (b"REDIS", b"VALKEY")


@dataclass(slots=True)
class AofCommand:
    file: str
    offset: int
    line: int
    args: list[bytes]
    timestamp: int | None  # unix seconds of the last #TS: annotation before it, in any earlier file


@dataclass(slots=True)
class AofSnapshotRecord:
    """A record of an RDB preamble or RDB base file."""

    file: str
    record: Record


@dataclass(frozen=True)
class AofPart:
    path: Path
    type: FileType | None  # None for a single-file AOF

    @property
    def name(self) -> str:
        return self.path.name


@dataclass(frozen=True)
class AofLayout:
    kind: str  # "single" or "multi-part"
    parts: tuple[AofPart, ...]  # what is loaded, in order
    manifest: Manifest | None = None
    manifest_path: Path | None = None


def is_manifest(data: bytes) -> bool:
    """Like redis-check-aof: skipping comment lines, the first line starts with 'file'."""
    for line in data.split(b"\n", 64):
        if not line.startswith(b"#"):
            return line.startswith(b"file")
    return False


def find_layout(path: str | os.PathLike[str]) -> AofLayout:
    """A single AOF file, a manifest, or an appendonly directory (holding exactly one manifest)."""
    path = Path(path)
    if path.is_dir():  # temp-*.manifest: written, not yet renamed over the manifest (Redis ignores it)
        manifests = sorted(m for m in path.glob("*.manifest") if not m.name.startswith("temp-"))
        if len(manifests) != 1:
            raise InputError(f"expected one *.manifest in the directory, found {len(manifests)}", path=str(path))
        return _multi_part(manifests[0])
    try:
        head = path.open("rb").read(4096)
    except OSError as error:
        raise InputError(f"cannot open: {error.strerror}", path=str(path)) from None
    if path.suffix == ".manifest" or is_manifest(head):  # the server knows its manifest by the name
        return _multi_part(path)
    return AofLayout("single", (AofPart(path, None),))


def _multi_part(manifest_path: Path) -> AofLayout:
    try:
        manifest = parse_manifest(manifest_path.read_bytes())
    except RdbtoolError as error:
        raise error.located(path=str(manifest_path)) from None
    directory = manifest_path.parent
    parts = tuple(AofPart(directory / entry.name, entry.type) for entry in manifest.loaded)
    for part in parts:
        if not part.path.is_file():
            what = "is not a regular file" if part.path.exists() else "does not exist"
            raise MissingPartError(f"the manifest lists {part.name!r}, which {what}", path=str(manifest_path))
    return AofLayout("multi-part", parts, manifest, manifest_path)


class MissingPartError(InputError):
    """A base or incr file the manifest lists cannot be read: the server refuses to start."""


class AofFile:
    """An opened AOF: ``layout`` at once, records (commands and snapshot records) by iterating."""

    def __init__(self, path: str | os.PathLike[str], *, deep: bool = False) -> None:
        self.path = str(path)
        self.layout = find_layout(path)
        self.deep = deep
        self.timestamp: int | None = None
        self.snapshot_header: Header | None = None  # the RDB preamble's or base's, once read

    def __iter__(self) -> Iterator[AofCommand | AofSnapshotRecord]:
        for part, batch in self.batches():
            if batch and batch[0].__class__ is AofSnapshotRecord:
                yield from batch
                continue
            for record in cast("list[RespRecord]", batch):  # (a RESP part: mypy cannot narrow a list by its first item)
                if record.args is None:
                    self.timestamp = record.timestamp if record.timestamp is not None else self.timestamp
                    continue
                yield AofCommand(part, record.offset, record.line, record.args, self.timestamp)

    def commands(self) -> Iterator[AofCommand]:
        return (r for r in self if isinstance(r, AofCommand))

    def batches(self) -> Iterator[tuple[str, list[AofSnapshotRecord] | list[RespRecord]]]:
        """What iterating gives, in lists per file: snapshot records, or RESP records as they are
        (commands and #TS: annotations) — for consumers that must go fast (the AOF replay)."""
        for part in self.layout.parts:
            with MappedSource(part.path) as source:
                buf, start = source.view, 0
                if bytes(buf[:6]).startswith(RDB_MAGICS):
                    reader = RdbReader(source, deep=self.deep, embedded=True)
                    self.snapshot_header = reader.header
                    for _, records in reader.iter_batches():
                        yield part.name, [AofSnapshotRecord(part.name, record) for record in records]
                    start = reader.end_offset or 0  # (set once the records are read)
                try:
                    for batch in iter_record_batches(buf, start):
                        yield part.name, batch
                        source.release_before(batch[-1].offset)
                except RdbtoolError as error:
                    raise error.located(path=str(part.path)) from None

    def __enter__(self) -> AofFile:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def open_aof(path: str | os.PathLike[str], *, deep: bool = False) -> AofFile:
    """Open an AOF file, manifest or appendonly directory for iterating its records.

    >>> with open_aof("appendonlydir") as aof:      # doctest: +SKIP
    ...     for command in aof.commands():
    ...         print(command.file, command.offset, command.args)
    """
    return AofFile(path, deep=deep)


#: the AUX field Redis writes into an AOF's RDB preamble (<= 6.2) or base (7.0+), value 1 int-encoded
_AOF_MARKS = (b"\xfa\x0caof-preamble\xc0\x01", b"\xfa\x08aof-base\xc0\x01")


def looks_like_aof(path: str | os.PathLike[str]) -> bool:
    """A directory, a manifest, a RESP stream, an RDB that Redis marked as an AOF preamble or base,
    or a file named *.aof."""
    path = Path(path)
    if path.is_dir():
        return True
    try:
        head = path.open("rb").read(4096)
    except OSError:
        return False
    if is_manifest(head) or head[:1] in (b"*", b"#"):
        return True
    return bool(head) and (path.suffix == ".aof" or any(mark in head for mark in _AOF_MARKS))

