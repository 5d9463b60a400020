"""Is this backup sound? Everything Redis's loader, its deep sanitizer and redis-check-rdb check.

The reader in deep mode checks every record and embedded encoding; this module adds what needs the
whole file: duplicate keys within a database (Redis panics on them while loading), the checksum
verdict, trailing bytes, and the counts an operator wants to see in a report. A file is corrupt when
the servers' integrity checks would refuse it; the rules, checked against the real servers, and the
few values verify refuses although some server loads them, are in docs/integrity.md.

Duplicate keys are found in memory that does not grow with key sizes: each key is remembered as a
64-bit hash in an array (8 bytes a key, no Python object each), the array is sorted in place, and
only if two hashes collide is the file read a second time to name the real duplicates.
"""

from __future__ import annotations

import itertools
import os
import time
from array import array
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import groupby
from operator import attrgetter
from typing import Any

from rdbtools.errors import ChecksumError, InputError, Irregularity, RdbtoolError, UnsupportedError, format_key
from rdbtools.formats import accelerated
from rdbtools.formats.rdb import RdbType
from rdbtools.rdb.model import Aux, Function, HashTemplate, KeyRecord, ModuleAux, SparseArray, Stream
from rdbtools.rdb.reader import RdbFile

_PROGRESS_STEP = 1 << 20  # bytes between progress callbacks
_HASH_BUCKETS = 256  # sorting one bucket at a time keeps the temporary list small


@dataclass
class Problem:
    message: str
    offset: int | None = None
    key: bytes | None = None
    db: int | None = None

    @classmethod
    def from_error(cls, error: RdbtoolError, db: int | None = None) -> Problem:
        return cls(error.message, error.offset, error.key, db)

    def __str__(self) -> str:
        where = [f"offset {self.offset}"] if self.offset is not None else []
        if self.db is not None:
            where.append(f"db {self.db}")
        if self.key is not None:
            where.append(f"key {format_key(self.key)}")
        return f"{', '.join(where)}: {self.message}" if where else self.message

    def to_json(self) -> dict[str, Any]:
        return {"message": self.message, "offset": self.offset, "db": self.db,
                "key": None if self.key is None else format_key(self.key)[1:-1]}


@dataclass
class VerifyReport:
    path: str
    size: int = 0
    magic: str | None = None
    version: int | None = None
    aux: dict[str, str] = field(default_factory=dict)
    functions: int = 0
    module_aux: int = 0
    keys: dict[int, Counter] = field(default_factory=lambda: defaultdict(Counter))
    expires: int = 0
    already_expired: int = 0
    field_ttls: int = 0
    newer: Counter = field(default_factory=Counter)  # what RDB 13-15 added: templates, IDMP, NACKs, ...
    checksum: str | None = None  # ok | disabled | absent | mismatch, None when not reached
    trailing_bytes: int = 0
    problems: list[Problem] = field(default_factory=list)
    irregularities: list[Problem] = field(default_factory=list)  # what no Redis writes but every server loads
    unsupported: str | None = None
    unreadable: str | None = None
    seconds: float = 0.0

    @property
    def verdict(self) -> str:
        if self.unreadable:
            return "unreadable"
        if self.unsupported:
            return "unsupported"
        return "corrupt" if self.problems else "sound"

    @property
    def sound(self) -> bool:
        return self.verdict == "sound"

    @property
    def warnings(self) -> list[str]:
        notes = []
        if self.checksum == "disabled":
            notes.append("saved with rdbchecksum no: the content is not protected by a checksum")
        if self.checksum == "absent":
            notes.append(f"RDB version {self.version} has no checksum (added in version 5)")
        if self.trailing_bytes:
            notes.append(f"{self.trailing_bytes} bytes after the checksum (Redis ignores them)")
        notes.extend(f"{p} (every server loads it as stored)" for p in self.irregularities)
        return notes

    @property
    def total_keys(self) -> int:
        return sum(sum(types.values()) for types in self.keys.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "verdict": self.verdict,
            "size": self.size,
            "magic": self.magic,
            "version": self.version,
            "checksum": self.checksum,
            "aux": self.aux,
            "functions": self.functions,
            "module_aux": self.module_aux,
            "keys": self.total_keys,
            "keys_per_db": {str(db): dict(sorted(types.items())) for db, types in sorted(self.keys.items())},
            "expires": self.expires,
            "already_expired": self.already_expired,
            "hash_field_ttls": self.field_ttls,
            **{name: self.newer[name] for name in NEWER_COUNTS},
            "trailing_bytes": self.trailing_bytes,
            "problems": [p.to_json() for p in self.problems],
            "unsupported": self.unsupported,
            "unreadable": self.unreadable,
            "warnings": self.warnings,
            "seconds": round(self.seconds, 3),
        }


def verify_rdb(
    path: str | os.PathLike[str],
    *,
    progress: Callable[[int, int], None] | None = None,
    now_ms: int | None = None,
) -> VerifyReport:
    """Check a whole RDB file deeply; never raises for problems in the file, only reports them."""
    started = time.perf_counter()
    report = VerifyReport(path=os.fspath(path))
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    key_hashes = KeyHashes()
    try:
        with RdbFile(path, deep=True, keep_values=False) as rdb:  # verify looks at keys, not values
            report.path, report.size = rdb.path, rdb.size
            report.magic, report.version = rdb.header.magic, rdb.header.version
            _walk(rdb, report, key_hashes, now_ms, progress)
            for problem in rdb.reader.problems:
                found = Problem.from_error(problem)
                (report.irregularities if isinstance(problem, Irregularity) else report.problems).append(found)
            checksum = rdb.checksum
            report.checksum = checksum.status if checksum else None
            report.trailing_bytes = rdb.reader.trailing_bytes
    except InputError as error:
        report.unreadable = str(error)
    except UnsupportedError as error:
        report.unsupported = str(error.message)
    except ChecksumError as error:
        report.checksum = "mismatch"
        report.problems.append(Problem.from_error(error))
    except RdbtoolError as error:
        report.problems.append(Problem.from_error(error))
    else:
        report.problems.extend(_duplicate_keys(path, key_hashes))
    report.problems.sort(key=lambda p: (p.offset is None, p.offset or 0))
    report.seconds = time.perf_counter() - started
    return report


_DB = attrgetter("db")
_KEY = attrgetter("key")
_TYPE = attrgetter("type")
_EXPIRE = attrgetter("expire_ms")
_FIELD_EXPIRES = attrgetter("field_expires")


def _walk(rdb: RdbFile, report: VerifyReport, key_hashes: KeyHashes, now_ms: int, progress) -> None:
    """Count and remember keys a batch at a time: map/Counter loops run in C, not per key in Python.

    Nothing is kept past its batch: memory stays at one batch whatever the file holds.
    """
    next_report = 0
    for db, records in rdb.iter_batches():
        if db is None:
            _count_mixed(records, report, key_hashes, now_ms)
        else:
            _count_keys(db, records, report, key_hashes, now_ms)
        if progress is not None and records[-1].offset >= next_report:
            progress(records[-1].offset, rdb.size)
            next_report = records[-1].offset + _PROGRESS_STEP


def _count_mixed(records: list, report: VerifyReport, key_hashes: KeyHashes, now_ms: int) -> None:
    keys = [r for r in records if r.__class__ is KeyRecord]
    if len(keys) != len(records):
        _note_other_records(records, report)
    for key in keys:  # the compiled scan hands every RDB 13+ record to this path
        if key.rdb_type >= _FIRST_RDB13_TYPE or key.key_meta is not None:
            _count_newer(key, report.newer)
    for db, group in groupby(keys, _DB):
        _count_keys(db, list(group), report, key_hashes, now_ms)


def _count_keys(db: int, keys: list, report: VerifyReport, key_hashes: KeyHashes, now_ms: int) -> None:
    """Keys of one database."""
    report.keys[db].update(map(_TYPE, keys))
    key_hashes.extend(db, map(hash, map(_KEY, keys)))
    expiring = [e for e in map(_EXPIRE, keys) if e is not None]
    if expiring:
        report.expires += len(expiring)
        report.already_expired += sum(e < now_ms for e in expiring)
    report.field_ttls += sum(map(len, filter(None, map(_FIELD_EXPIRES, keys))))


#: what the JSON report counts of RDB 13-15's additions
NEWER_COUNTS = ("hash_templates", "template_hashes", "keys_with_metadata", "idmp_producers", "idmp_entries",
                "nacked_entries", "array_elements")
_FIRST_RDB13_TYPE = int(RdbType.STREAM_LISTPACKS_4)


def _count_newer(key: KeyRecord, counts: Counter) -> None:
    value = key.value
    if key.key_meta is not None:
        counts["keys_with_metadata"] += 1
    if isinstance(value, Stream):
        counts["nacked_entries"] += sum(len(g.nacked or ()) for g in value.groups)
        if value.idmp is not None:
            counts["idmp_producers"] += len(value.idmp.producers)
            counts["idmp_entries"] += sum(len(p.entries) for p in value.idmp.producers)
    elif isinstance(value, SparseArray):
        counts["array_elements"] += len(value.elements)
    elif key.type == "hash":
        counts["template_hashes"] += 1


def _note_other_records(chunk: list, report: VerifyReport) -> None:
    for record in chunk:
        if isinstance(record, Aux):
            report.aux[record.name.decode("utf-8", "replace")] = record.value.decode("utf-8", "replace")
        elif isinstance(record, Function):
            report.functions += 1
        elif isinstance(record, ModuleAux):
            report.module_aux += 1
        elif isinstance(record, HashTemplate):
            report.newer["hash_templates"] += 1


class KeyHashes:
    """64-bit hashes of the keys of each database, 8 bytes a key; repeats are found without a
    Python int per key."""

    def __init__(self) -> None:
        self._by_db: dict[int, array] = {}

    def extend(self, db: int, hashes) -> None:
        self._by_db.setdefault(db, array("q")).extend(hashes)

    def repeated(self) -> set[tuple[int, int]]:
        """(db, hash) pairs seen more than once."""
        find = accelerated("repeated_int64") or _repeated_in_buckets
        return {(db, digest) for db, hashes in self._by_db.items() for digest in find(hashes)}


def _repeated_in_buckets(hashes: array) -> set[int]:
    """Pure-Python twin of repeated_int64: sort one of 256 buckets at a time to bound memory."""
    buckets = [array("q") for _ in range(_HASH_BUCKETS)]
    for digest in hashes:
        buckets[digest & (_HASH_BUCKETS - 1)].append(digest)
    repeats: set[int] = set()
    for bucket in buckets:
        ordered = sorted(bucket)
        repeats.update(a for a, b in itertools.pairwise(ordered) if a == b)
    return repeats


def _duplicate_keys(path, key_hashes: KeyHashes) -> list[Problem]:
    suspects = key_hashes.repeated()
    if not suspects:
        return []
    first_seen: dict[tuple[int, bytes], int] = {}
    problems = []
    with RdbFile(path) as rdb:
        for record in rdb.key_records():
            if (record.db, hash(record.key)) not in suspects:
                continue
            earlier = first_seen.setdefault((record.db, record.key), record.offset)
            if earlier != record.offset:
                problems.append(Problem(
                    f"RDB has duplicated key in DB {record.db} (first stored at offset {earlier}); "
                    "Redis aborts loading: 'Duplicated key found in RDB file'",
                    record.offset, record.key, record.db))
    return problems
