"""Databases of keys and values, as a server holds them (not as a file stores them).

Values: strings are bytes, lists deques, sets and hashes insertion-ordered dicts, zsets dicts of
member -> score, streams the reader's Stream model. Records go in (``load``) and come out
(``records``) in the reader's KeyRecord form, so the writer can save a keyspace.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

from rdbtools.keyspace.access import Access
from rdbtools.keyspace.encodings import loaded_type
from rdbtools.rdb.model import Function, KeyRecord, ModuleValue
from rdbtools.rdb.targets import Target

_CONVERTIBLE = frozenset({"set", "hash", "zset", "list"})


@dataclass(slots=True)
class Entry:
    type: str
    value: Any
    expire_ms: int | None = None
    field_expires: dict[bytes, int] | None = None
    lru: int = 0  # the last access (keyspace/access.py); a new entry's is the clock of the last tick


def set_birth(field: int) -> None:
    """The ``lru`` new entries get (Redis's createObject reads the clock its timer cached): kept as the
    default of Entry's __init__, so that creating an entry costs nothing more; set on each tick."""
    # a dataclass's __init__ with defaults has them, which typeshed's Optional cannot say
    defaults: tuple[Any, ...] = Entry.__init__.__defaults__  # type: ignore[assignment]
    if defaults[-1] != field:
        Entry.__init__.__defaults__ = (*defaults[:-1], field)


class Keyspace:
    def __init__(self) -> None:
        self.dbs: dict[int, dict[bytes, Entry]] = {}
        self.functions: dict[bytes, bytes] = {}  # library name -> source
        self.access = Access()  # how keys' lru fields read (a server's policy and clock)

    def db(self, index: int) -> dict[bytes, Entry]:
        keys = self.dbs.get(index)
        if keys is None:
            keys = self.dbs[index] = {}
        return keys

    def load(self, record: KeyRecord | Function, *, db: int = 0, key: bytes | None = None,
             expire_ms: int | None = None, idle: int | None = None, freq: int | None = None,
             target: Target | None = None) -> None:
        """Take a record of an RDB (a snapshot, a preamble, a base file); RESTORE gives it the
        database, name, expiry and IDLETIME / FREQ of the command instead of its own. With the server's
        ``target``, a set, hash or zset loaded past its compact form is marked so (encodings.loaded_type)."""
        if isinstance(record, Function):
            self.functions[library_name(record.library_source)] = record.library_source
            return
        if key is not None:
            record = replace(record, db=db, key=key, expire_ms=expire_ms, idle=idle, freq=freq)
        entry = self.db(record.db)[record.key] = loaded_entry(record, target)
        if record.idle is not None or record.freq is not None:
            entry.lru = self.access.restored(entry.lru, record.freq, record.idle)

    def records(self) -> Iterator[KeyRecord | Function]:
        """Functions, then every key, database by database, as the writer takes them."""
        for source in self.functions.values():
            yield Function(source)
        for db in sorted(self.dbs):
            for key, entry in self.dbs[db].items():
                yield self.record(db, key, entry, *self.access.saved(entry.lru))

    def sizes(self) -> dict[int, tuple[int, int]]:
        """Keys and keys with a TTL per non-empty database (what RESIZEDB tells)."""
        return {db: (len(keys), sum(entry.expire_ms is not None for entry in keys.values()))
                for db, keys in sorted(self.dbs.items()) if keys}

    @staticmethod
    def record(db: int, key: bytes, entry: Entry, idle: int | None = None, freq: int | None = None) -> KeyRecord:
        value = entry.value
        if entry.type in ("set", "list"):
            value = list(value)
        elif entry.type == "zset":
            value = list(value.items())
        elif entry.type == "module" and not isinstance(value, ModuleValue):
            value = value.module_value()  # a vector set commands changed, written anew
        return KeyRecord(db, key, entry.type, "", 0, value, entry.expire_ms, idle, freq, entry.field_expires or None)


def loaded_entry(record: KeyRecord, target: Target | None = None) -> Entry:
    """A file's record as a server holds its value (the one conversion serve's loading and ``rdbtool report``
    share); with the ``target``, a set, hash or zset past its compact form is marked so."""
    value = record.value
    if record.type == "set":
        value = dict.fromkeys(value)
    elif record.type == "zset" or record.type == "hash":
        value = dict(value)
    elif record.type == "list":
        value = deque(value)  # pushes and pops at both ends
    ttls = dict(record.field_expires) if record.field_expires else None
    kind = record.type
    if target is not None and kind in _CONVERTIBLE:
        kind = loaded_type(kind, record.encoding, value, target)
    return Entry(kind, value, record.expire_ms, ttls)


def library_name(source: bytes) -> bytes:
    """The name= of a library's shebang line (FUNCTION LOAD requires it)."""
    first_line = source.split(b"\n", 1)[0]
    for word in first_line.split()[1:]:
        if word.startswith(b"name="):
            return word[5:]
    return first_line
