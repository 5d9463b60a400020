"""One key of a file as the report sees it: its bytes in the target server (the memory model's MEMORY USAGE
SAMPLES 0), OBJECT ENCODING, element count, largest element and the threshold that made it leave its compact
encoding."""

from __future__ import annotations

from dataclasses import dataclass

from rdbtools.formats.numbers import canonical_int64
from rdbtools.keyspace.encodings import encoding_of
from rdbtools.keyspace.memory import allocation, fine_allocation, key_usage, layout, libc_allocation
from rdbtools.keyspace.model import Entry, loaded_entry
from rdbtools.rdb.model import KeyRecord, ModuleValue, SparseArray, Stream
from rdbtools.rdb.targets import Target


@dataclass(slots=True)
class KeyFacts:
    """What the report keeps of a key (its value is dropped once measured)."""

    db: int
    key: bytes
    type: str
    encoding: str  # OBJECT ENCODING as the target answers it
    bytes: int  # MEMORY USAGE key SAMPLES 0
    elements: int  # a string and a module value count 1
    largest_element: int  # bytes of its largest element: a string's length, a hash's field and value, ...
    expire_ms: int | None
    past_threshold: str | None  # the configuration directive whose limit the value exceeds, if one does


def measure(record: KeyRecord, target: Target, written_by: Target | None = None) -> KeyFacts:
    """``written_by``: the server that wrote the file, when the bytes are another's (``--target``): what it wrote
    is what the target loads as it is (a sorted set's listpack keeps its scores' text)."""
    entry = loaded_entry(record, target)
    encoding = encoding_of(entry, target, record.key)
    size = key_usage(record.key, entry, target, 0, written_by=written_by)
    if record.type == "string":  # most keys: one element, no threshold
        return KeyFacts(record.db, record.key, "string", encoding, size, 1, len(entry.value), record.expire_ms, None)
    elements, largest = _elements(entry.value)
    return KeyFacts(record.db, record.key, record.type, encoding, size, elements, largest, record.expire_ms,
                    past_threshold(entry, encoding, target))


#: the allocators the compiled scan knows (its ALLOC_* numbers)
_ALLOCATORS = {allocation: 0, fine_allocation: 1, libc_allocation: 2}


def accelerated_model(target: Target, written_by: Target | None = None) -> tuple | None:
    """What the compiled scan needs to measure the common keys itself (rdb/reader.py's ``measure_with``; the
    measuring walk in formats/_speedups.c, ``measure``'s twin): Redis 6.2's, 7.x's or 8.x's layout, a sorted
    set's scores as the file's writer wrote them; None for Valkey's (every key measured here)."""
    shape = layout(target)
    if target.valkey_server or shape.alloc not in _ALLOCATORS or (target.embedded_keys
                                                                  and shape.alloc is not fine_allocation):
        return None
    return (KeyFacts, shape.entry, shape.quicklist_node, shape.dict, target.hash_max_listpack_entries,
            target.hash_max_listpack_value, target.zset_max_listpack_entries, target.zset_max_listpack_value,
            target.set_max_intset_entries, target.set_max_listpack_entries, target.set_max_listpack_value,
            target.list_max_listpack_bytes, target.list_max_listpack_count, target.set_listpacks,
            target.list_conversions, (written_by or target).shortest_scores, _ALLOCATORS[shape.alloc],
            shape.allocated_blobs, shape.ziplists, target.embedded_keys)


def _elements(value: object) -> tuple[int, int]:
    """(count, the largest's bytes) of a value as the keyspace holds it."""
    if isinstance(value, dict):  # hash: field and value; zset: the member; set: the member
        if not value:
            return 0, 0
        first = next(iter(value.values()))
        if isinstance(first, bytes):
            return len(value), max(len(f) + len(v) for f, v in value.items())
        return len(value), max(map(len, value))
    if isinstance(value, Stream):
        return value.length, max((sum(len(f) + len(v) for f, v in e.fields) for e in value.entries), default=0)
    if isinstance(value, ModuleValue):
        return 1, len(value.payload)
    if isinstance(value, SparseArray):
        return len(value.elements), max((len(v) if isinstance(v, bytes) else 8 for _, _, v in value.elements),
                                        default=0)
    return len(value), max(map(len, value), default=0)  # type: ignore[call-overload, arg-type]  # a list (deque)


def past_threshold(entry: Entry, encoding: str, target: Target) -> str | None:
    """The directive (as the target's redis.conf names it) whose limit put the value in its full encoding: a
    value converted by the commands that built it, then shrunk, names none."""
    value, kind = entry.value, entry.type
    form = "listpack" if target.listpacks else "ziplist"
    if kind == "list":
        return "list-max-listpack-size" if target.list_conversions and encoding == "quicklist" else None
    if kind == "set":
        return _set_threshold(value, encoding, target)
    if kind == "hash" and encoding == "hashtable":
        limit = target.hash_max_listpack_value
        longest = max((max(len(f), len(v)) for f, v in value.items()), default=0)
        return _first_past(f"hash-max-{form}", len(value), target.hash_max_listpack_entries, longest, limit)
    if kind == "zset" and encoding == "skiplist":
        longest = max(map(len, value), default=0)
        return _first_past(f"zset-max-{form}", len(value), target.zset_max_listpack_entries, longest,
                           target.zset_max_listpack_value)
    return None


def _first_past(directive: str, count: int, most: int, longest: int, limit: int) -> str | None:
    if count > most:
        return f"{directive}-entries"
    return f"{directive}-value" if longest > limit else None


def _set_threshold(members: dict, encoding: str, target: Target) -> str | None:
    numbers = all(len(m) <= 20 and canonical_int64(m) is not None for m in members)
    if encoding == "intset":
        return None
    if numbers and len(members) > target.set_max_intset_entries and (encoding == "listpack"
                                                                       or not target.set_listpacks):
        return "set-max-intset-entries"
    if encoding != "hashtable" or not target.set_listpacks:
        return None
    longest = max(map(len, members), default=0)
    return _first_past("set-max-listpack", len(members), target.set_max_listpack_entries, longest,
                       target.set_max_listpack_value)
