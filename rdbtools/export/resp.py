"""Records as the Redis commands that recreate them (``--format resp``), for ``redis-cli --pipe``.

Mirrors what Redis's own AOF rewrite emits (aof.c ``rewrite*Object``): collections in batches of
``ITEMS_PER_COMMAND``, expiries as PEXPIREAT, streams as XADD + XSETID + XGROUP CREATE +
CREATECONSUMER + XCLAIM ... FORCE JUSTID for the pending entries, hash field TTLs as HPEXPIREAT,
functions as FUNCTION LOAD REPLACE, module values as RESTORE of a DUMP payload. What Redis 8.6-8.10
added (docs/formats.md §13) as their commands: XCFGSET and XIDMPRECORD for a stream's idempotent
producers, XNACK ... FORCE for entries released to the group, ARMSET and ARSEEK for arrays.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Iterator
from typing import BinaryIO

import anycrc
import hiredis

from rdbtools.formats.primitives import encode_length
from rdbtools.formats.rdb import ArrayTag
from rdbtools.rdb.model import (
    ConsumerGroup,
    Function,
    KeyRecord,
    ModuleAux,
    ModuleValue,
    Record,
    SparseArray,
    Stream,
    StreamId,
    StreamIdmp,
)
from rdbtools.rdb.targets import Target
from rdbtools.rdb.writer import IDMP_DEFAULTS, PARTIAL_DROPS, unwritable, without_part

ITEMS_PER_COMMAND = 64  # Redis's AOF_REWRITE_ITEMS_PER_CMD
_CRC64 = anycrc.Model("CRC64-REDIS")
_MODULE_2 = 7
_DUMP_RDB_VERSION = 9  # payload version every server since 5.0 restores
_STREAM_COUNTERS_RDB_VERSION = 10  # stream v2 (Redis 7.0): entries added, max deleted id, entries read
_GHOST_FIELDS = [(b"x", b"y")]  # the field of an entry added only to be removed again
#: what Redis 8.6-8.10 added that an older target's commands cannot recreate (key metadata has no command at all)
_NEWER_KINDS = frozenset({"arrays", "stream-idmp", "stream-nacks"})

#: one command as RESP: hiredis's stub types the argument as a 1-tuple (hiredis-py PR #195), it takes any number
pack_command: Callable[[tuple[bytes | str | int | float, ...]], bytes] = hiredis.pack_command  # type: ignore[assignment]


def format_score(score: float) -> bytes:
    if math.isinf(score):
        return b"inf" if score > 0 else b"-inf"
    return repr(score).encode()


def _batches(items: list, size: int = ITEMS_PER_COMMAND) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _collection(command: bytes, key: bytes, items: list, per_item: int = 1) -> Iterator[tuple]:
    """One command per batch; ``per_item`` arguments make one item (2 for field/value pairs)."""
    for batch in _batches(items, ITEMS_PER_COMMAND * per_item):
        yield (command, key, *batch)


def _ghost_ids(stream: Stream) -> list[StreamId]:
    """Pending ids whose entries are gone (deleted or trimmed while unacknowledged): XCLAIM ... FORCE
    only creates a pending entry for an entry that exists, so these are added, claimed and removed again."""
    present = {entry.id for entry in stream.entries}
    claimed = {p.id for g in stream.groups for p in g.pending if p.consumer is not None}
    return sorted(claimed - present)


def _stream_creation(key: bytes, stream: Stream, ghosts: list[StreamId], counters: bool) -> Iterator[tuple]:
    """XADD of the entries and ghosts in id order; an empty stream is created with 0-1 trimmed away
    at once (as aof.c does: XADD refuses 0-0, the last id of a stream that never had an entry)."""
    added = sorted([(e.id, e.fields) for e in stream.entries] + [(g, _GHOST_FIELDS) for g in ghosts],
                   key=lambda item: item[0])
    for entry_id, fields in added:
        yield (b"XADD", key, str(entry_id), *(x for pair in fields for x in pair))
    if not added:
        yield (b"XADD", key, b"MAXLEN", b"0", b"0-1", *_GHOST_FIELDS[0])
    setid: list[bytes | str | int] = [b"XSETID", key, str(stream.last_id)]
    if counters and stream.entries_added is not None:
        setid += [b"ENTRIESADDED", stream.entries_added, b"MAXDELETEDID", str(stream.max_deleted_id)]
    yield tuple(setid)


def _group_commands(key: bytes, group: ConsumerGroup, counters: bool) -> Iterator[tuple]:
    create: list[bytes | str | int] = [b"XGROUP", b"CREATE", key, group.name, str(group.last_delivered_id)]
    if counters and group.entries_read is not None:
        create += [b"ENTRIESREAD", group.entries_read]
    yield tuple(create)
    for consumer in group.consumers:
        yield (b"XGROUP", b"CREATECONSUMER", key, group.name, consumer.name)
    for pending in group.pending:
        if pending.consumer is not None:
            yield (b"XCLAIM", key, group.name, pending.consumer, b"0", str(pending.id),
                   b"TIME", pending.delivery_time, b"RETRYCOUNT", pending.delivery_count, b"FORCE", b"JUSTID")
    released = {p.id: p for p in group.pending if p.consumer is None}
    for entry_id in group.nacked or ():  # FORCE makes the unowned entry; FAIL keeps the count given
        yield (b"XNACK", key, group.name, b"FAIL", b"IDS", b"1", str(entry_id),
               b"RETRYCOUNT", released[entry_id].delivery_count, b"FORCE")


def _idmp_commands(key: bytes, idmp: StreamIdmp) -> Iterator[tuple]:
    """The settings where not a new stream's, then each producer's iids oldest first (the all-time
    counters have no command)."""
    if (idmp.duration, idmp.max_entries) != IDMP_DEFAULTS:
        yield (b"XCFGSET", key, b"IDMP-DURATION", idmp.duration, b"IDMP-MAXSIZE", idmp.max_entries)
    for producer in idmp.producers:
        for iid, entry_id in producer.entries:
            yield (b"XIDMPRECORD", key, producer.pid, iid, str(entry_id))


def _ghost_removal(key: bytes, stream: Stream, ghosts: list[StreamId], counters: bool) -> Iterator[tuple]:
    """XDEL raises the max deleted id, which XSETID cannot lower back to 0-0: ghosts above it were
    trimmed, so they lie below every entry left and a trim to the first entry removes them instead."""
    limit = stream.max_deleted_id if counters else None
    deleted = [g for g in ghosts if limit is None or g <= limit]
    if deleted:
        yield (b"XDEL", key, *map(str, deleted))
    if len(deleted) < len(ghosts):
        yield ((b"XTRIM", key, b"MINID", str(stream.entries[0].id)) if stream.entries
               else (b"XTRIM", key, b"MAXLEN", b"0"))


def _stream_commands(key: bytes, stream: Stream, counters: bool) -> Iterator[tuple]:
    """The stream as aof.c rewrites it (entries, XSETID, groups, consumers, pending entries), and
    also the pending entries whose entries are gone, which Redis's own rewrite loses. ``counters``:
    the server takes XSETID's ENTRIESADDED / MAXDELETEDID and XGROUP's ENTRIESREAD (7.0+)."""
    ghosts = _ghost_ids(stream)
    yield from _stream_creation(key, stream, ghosts, counters)
    for group in stream.groups:
        yield from _group_commands(key, group, counters)
    yield from _ghost_removal(key, stream, ghosts, counters)
    if stream.idmp is not None:
        yield from _idmp_commands(key, stream.idmp)


def _array_text(tag: int, value: bytes | int | float) -> bytes:
    """The value as a client sets it: numbers in the text the server stores them from."""
    if isinstance(value, bytes):  # (a string tag's)
        return value
    return b"%d" % value if tag == ArrayTag.INT else repr(value).encode()


def _array_commands(key: bytes, array: SparseArray) -> Iterator[tuple]:
    """ARMSET in batches, then ARSEEK one past the stored cursor (ARSEEK names the next index)."""
    pairs = [x for index, tag, value in array.elements for x in (index, _array_text(tag, value))]
    yield from _collection(b"ARMSET", key, pairs, per_item=2)
    if array.insert_index is not None:
        yield (b"ARSEEK", key, array.insert_index + 1)


def dump_payload(value: ModuleValue) -> bytes:
    """A DUMP/RESTORE payload: type, value, RDB version (u16 LE), CRC64 (LE) of all before it."""
    body = bytes((_MODULE_2,)) + encode_length(value.module_id) + value.payload
    body += struct.pack("<H", _DUMP_RDB_VERSION)
    return body + struct.pack("<Q", _CRC64.calc(body))


def key_commands(record: KeyRecord, counters: bool = True) -> Iterator[tuple]:
    """``counters``: stream counters are written where the record has them (off for Redis < 7.0)."""
    key, value = record.key, record.value
    kind = record.type
    if kind == "string":
        yield (b"SET", key, value)
    elif kind == "list":
        yield from _collection(b"RPUSH", key, value)
    elif kind == "set":
        yield from _collection(b"SADD", key, value)
    elif kind == "zset":
        pairs = [x for member, score in value for x in (format_score(score), member)]
        yield from _collection(b"ZADD", key, pairs, per_item=2)
    elif kind == "hash":
        pairs = [x for item in value.items() for x in item]
        yield from _collection(b"HSET", key, pairs, per_item=2)
        for field, expire_at in (record.field_expires or {}).items():
            yield (b"HPEXPIREAT", key, expire_at, b"FIELDS", b"1", field)
    elif kind == "stream":
        yield from _stream_commands(key, value, counters)
    elif kind == "array":
        yield from _array_commands(key, value)
    else:
        yield (b"RESTORE", key, b"0", dump_payload(value))
    if record.expire_ms is not None:
        yield (b"PEXPIREAT", key, record.expire_ms)


class RespWriter:
    """Writes records as commands, with a SELECT whenever the database changes; for ``target``'s
    commands where given (Redis < 7.0 refuses the stream counters: its streams have none)."""

    def __init__(self, out: BinaryIO, target: Target | None = None) -> None:
        self.out = out
        self.target = target
        self.counters = target is None or target.rdb_version >= _STREAM_COUNTERS_RDB_VERSION
        self.db: int | None = None
        self.skipped: dict[str, int] = {}

    def write(self, record: Record) -> None:
        write = self.out.write
        if isinstance(record, KeyRecord):
            key = record if self.target is None else self._fit(record, self.target)
            if key is None:
                return
            if key.db != self.db:
                write(pack_command((b"SELECT", key.db)))
                self.db = key.db
            for command in key_commands(key, self.counters):
                write(pack_command(command))
            if key.key_meta:  # a module's per-key metadata travels only inside an RDB or a DUMP
                self.skipped["key metadata"] = self.skipped.get("key metadata", 0) + 1
        elif isinstance(record, Function):
            write(pack_command((b"FUNCTION", b"LOAD", b"REPLACE", record.library_source)))
        elif isinstance(record, ModuleAux):
            # module aux data has no command form: it can only travel inside an RDB
            self.skipped["module aux"] = self.skipped.get("module aux", 0) + 1

    def _fit(self, record: KeyRecord, target: Target) -> KeyRecord | None:
        """Leave out what Redis 8.6-8.10 added when the target has no command for it (counted, never
        silently): arrays whole, a stream's IDMP or NACK parts."""
        while (kind := unwritable(record, target)) is not None and kind in _NEWER_KINDS:
            self.skipped[kind] = self.skipped.get(kind, 0) + 1
            if kind not in PARTIAL_DROPS:
                return None
            record = without_part(record, kind)
        return record
