"""The encodings a server keeps a set, hash or zset in (OBJECT ENCODING, and what DUMP and SAVE write): the
compact form (intset, listpack) while the value is within the target's thresholds, the full one after. Redis
converts only upwards, so a value marked as converted (rdb/model.py's Marked types) stays converted."""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, Any, Final

from rdbtools.formats.numbers import canonical_int64
from rdbtools.rdb import model as rdb_model
from rdbtools.rdb.targets import Target
from rdbtools.rdb.writer import one_listpack

if TYPE_CHECKING:
    from rdbtools.keyspace.model import Entry

#: rdb/model.py's marks (a module mypyc does not compile) as constants of this compiled one: the commands
#: compare an entry's type with them on every write, read from C statics rather than by name
HASHTABLE_HASH: Final = rdb_model.HASHTABLE_HASH
HASHTABLE_SET: Final = rdb_model.HASHTABLE_SET
LISTPACK_SET: Final = rdb_model.LISTPACK_SET
RAW_STRING: Final = rdb_model.RAW_STRING
SKIPLIST_ZSET: Final = rdb_model.SKIPLIST_ZSET


def set_encoding(kind: str, members: Collection[bytes], target: Target) -> str:
    """intset, listpack (Redis 7.2+, Valkey) or hashtable."""
    if kind is HASHTABLE_SET:
        return "hashtable"
    if kind is not LISTPACK_SET and len(members) <= target.set_max_intset_entries and all(
            canonical_int64(m) is not None for m in members):
        return "intset"
    small = len(members) <= target.set_max_listpack_entries and all(
        len(m) <= target.set_max_listpack_value for m in members)
    return "listpack" if target.set_listpacks and small else "hashtable"


def small_zset(kind: str, scores: dict, target: Target) -> bool:
    """Whether a zset is a listpack (ziplist before 7.0) rather than a skiplist."""
    return kind is not SKIPLIST_ZSET and len(scores) <= target.zset_max_listpack_entries and all(
        len(m) <= target.zset_max_listpack_value for m in scores)


def small_hash(kind: str, fields: dict, target: Target) -> bool:
    """Whether a hash is a listpack (ziplist before 7.0) rather than a hash table."""
    limit = target.hash_max_listpack_value
    return kind is not HASHTABLE_HASH and len(fields) <= target.hash_max_listpack_entries and all(
        len(f) <= limit and len(v) <= limit for f, v in fields.items())


def loaded_type(kind: str, stored_as: str, value: Any, target: Target) -> str:
    """The type a value loaded from an RDB file or a RESTORE payload gets: Redis loads it in the encoding
    its size and members ask for (a set stored as a listpack stays one, integers or not) and converts only
    upwards from there, so the full forms are marked."""
    if kind == "set":
        encoding = set_encoding(LISTPACK_SET if stored_as == "set-listpack" else kind, value, target)
        return {"hashtable": HASHTABLE_SET, "listpack": LISTPACK_SET}.get(encoding, kind)
    if kind == "hash" and not small_hash(kind, value, target):
        return HASHTABLE_HASH
    if kind == "zset" and not small_zset(kind, value, target):
        return SKIPLIST_ZSET
    if kind == "list":
        return target.new_list
    return kind


def encoding_of(entry: Entry, target: Target, key: bytes | None = None) -> str:
    """OBJECT ENCODING as the target server would answer for this value (a keyspace entry's; of this key: from
    Redis 8 and Valkey 8 a string is embedded by the key's length too)."""
    value = entry.value
    if entry.type == "string":
        if entry.type is RAW_STRING:
            return "raw"
        if canonical_int64(value) is not None:
            return "int"
        if target.embedded_keys and key is not None:
            from rdbtools.keyspace.memory import embedded_string  # (the memory model imports this module)

            return "embstr" if embedded_string(key, value, entry.expire_ms is not None, target) else "raw"
        return "embstr" if len(value) <= 44 else "raw"
    if entry.type == "list":
        return "listpack" if target.list_conversions and one_listpack(value, target) else "quicklist"
    if entry.type == "set":
        return set_encoding(entry.type, value, target)
    if entry.type == "zset":
        return ("listpack" if target.listpacks else "ziplist") if small_zset(entry.type, value, target) else "skiplist"
    if entry.type == "hash":
        small = small_hash(entry.type, value, target)
        if not small:
            return "hashtable"
        return ("listpackex" if entry.field_expires else "listpack") if target.listpacks else "ziplist"
    return entry.type
