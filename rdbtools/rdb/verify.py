"""Is this backup sound? Everything Redis's loader, its deep sanitizer and redis-check-rdb check.

The reader in deep mode checks every record and embedded encoding; this module adds what needs the
whole file: duplicate keys within a database (Redis panics on them while loading), the checksum
verdict, trailing bytes, and the counts an operator wants to see in a report.

Duplicate keys are found in memory that does not grow with key sizes: each key is remembered as a
64-bit hash in one of 256 arrays (8 bytes a key, no Python object each), one array is sorted at a
time, and only if two hashes collide is the file read a second time to name the real duplicates.
"""

from __future__ import annotations

import itertools
import os
import time
from array import array
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rdbtools.errors import ChecksumError, InputError, RdbtoolError, UnsupportedError, format_key
from rdbtools.rdb.model import Aux, Function, KeyRecord, ModuleAux
from rdbtools.rdb.reader import RdbFile

_PROGRESS_EVERY = 4096  # records between progress callbacks
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
    checksum: str | None = None  # ok | disabled | absent | mismatch, None when not reached
    trailing_bytes: int = 0
    problems: list[Problem] = field(default_factory=list)
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
        with RdbFile(path, deep=True) as rdb:
            report.path, report.size = rdb.path, rdb.size
            report.magic, report.version = rdb.header.magic, rdb.header.version
            _walk(rdb, report, key_hashes, now_ms, progress)
            report.problems.extend(Problem.from_error(p) for p in rdb.reader.problems)
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


def _walk(rdb: RdbFile, report: VerifyReport, key_hashes: KeyHashes, now_ms: int, progress) -> None:
    tally: dict[tuple[int, str], int] = {}  # (db, type) -> keys: one dict lookup a key
    remember = key_hashes.add
    for count, record in enumerate(rdb, 1):
        if record.__class__ is KeyRecord:
            db = record.db
            slot = (db, record.type)
            tally[slot] = tally.get(slot, 0) + 1
            remember(db, record.key)
            if record.expire_ms is not None:
                report.expires += 1
                report.already_expired += record.expire_ms < now_ms
            if record.field_expires:
                report.field_ttls += len(record.field_expires)
        elif isinstance(record, Aux):
            report.aux[record.name.decode("utf-8", "replace")] = record.value.decode("utf-8", "replace")
        elif isinstance(record, Function):
            report.functions += 1
        elif isinstance(record, ModuleAux):
            report.module_aux += 1
        if progress is not None and count % _PROGRESS_EVERY == 0:
            progress(record.offset, rdb.size)
    for (db, kind), keys in tally.items():
        report.keys[db][kind] += keys


class KeyHashes:
    """64-bit hashes of (db, key), bucketed so that finding repeats never sorts them all at once."""

    def __init__(self) -> None:
        self._buckets = [array("q") for _ in range(_HASH_BUCKETS)]
        self._appends = [bucket.append for bucket in self._buckets]

    def add(self, db: int, key: bytes) -> None:
        digest = hash((db, key))
        self._appends[digest & (_HASH_BUCKETS - 1)](digest)

    def repeated(self) -> set[int]:
        repeats: set[int] = set()
        for bucket in self._buckets:
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
            if hash((record.db, record.key)) not in suspects:
                continue
            earlier = first_seen.setdefault((record.db, record.key), record.offset)
            if earlier != record.offset:
                problems.append(Problem(
                    f"RDB has duplicated key in DB {record.db} (first stored at offset {earlier}); "
                    "Redis aborts loading: 'Duplicated key found in RDB file'",
                    record.offset, record.key, record.db))
    return problems
