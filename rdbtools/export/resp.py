"""Records as the Redis commands that recreate them (``--format resp``), for ``redis-cli --pipe``.

Mirrors what Redis's own AOF rewrite emits (aof.c ``rewrite*Object``): collections in batches of
``ITEMS_PER_COMMAND``, expiries as PEXPIREAT, streams as XADD + XSETID + XGROUP CREATE +
CREATECONSUMER + XCLAIM ... FORCE JUSTID for the pending entries, hash field TTLs as HPEXPIREAT,
functions as FUNCTION LOAD REPLACE, module values as RESTORE of a DUMP payload.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterator
from typing import BinaryIO

import anycrc
from hiredis import pack_command

from rdbtools.formats.primitives import encode_length
from rdbtools.rdb.model import Function, KeyRecord, ModuleAux, ModuleValue, Record, Stream

ITEMS_PER_COMMAND = 64  # Redis's AOF_REWRITE_ITEMS_PER_CMD
_CRC64 = anycrc.Model("CRC64-REDIS")
_MODULE_2 = 7
_DUMP_RDB_VERSION = 9  # payload version every server since 5.0 restores


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


def _stream_commands(key: bytes, stream: Stream) -> Iterator[tuple]:
    for entry in stream.entries:
        yield (b"XADD", key, str(entry.id), *(x for pair in entry.fields for x in pair))
    if not stream.entries:
        # an empty stream still exists with its last id: create it with one entry and trim it away
        yield (b"XADD", key, b"MAXLEN", b"0", str(stream.last_id), b"x", b"y")
    setid = [b"XSETID", key, str(stream.last_id)]
    if stream.entries_added is not None:
        setid += [b"ENTRIESADDED", stream.entries_added, b"MAXDELETEDID", str(stream.max_deleted_id)]
    yield tuple(setid)
    for group in stream.groups:
        create = [b"XGROUP", b"CREATE", key, group.name, str(group.last_delivered_id)]
        if group.entries_read is not None:
            create += [b"ENTRIESREAD", group.entries_read]
        yield tuple(create)
        for consumer in group.consumers:
            yield (b"XGROUP", b"CREATECONSUMER", key, group.name, consumer.name)
        for pending in group.pending:
            if pending.consumer is None:
                continue
            yield (b"XCLAIM", key, group.name, pending.consumer, b"0", str(pending.id),
                   b"TIME", pending.delivery_time, b"RETRYCOUNT", pending.delivery_count,
                   b"FORCE", b"JUSTID")


def dump_payload(value: ModuleValue) -> bytes:
    """A DUMP/RESTORE payload: type, value, RDB version (u16 LE), CRC64 (LE) of all before it."""
    body = bytes((_MODULE_2,)) + encode_length(value.module_id) + value.payload
    body += struct.pack("<H", _DUMP_RDB_VERSION)
    return body + struct.pack("<Q", _CRC64.calc(body))


def key_commands(record: KeyRecord) -> Iterator[tuple]:
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
        yield from _stream_commands(key, value)
    else:
        yield (b"RESTORE", key, b"0", dump_payload(value))
    if record.expire_ms is not None:
        yield (b"PEXPIREAT", key, record.expire_ms)


class RespWriter:
    """Writes records as commands, with a SELECT whenever the database changes."""

    def __init__(self, out: BinaryIO) -> None:
        self.out = out
        self.db: int | None = None
        self.skipped: dict[str, int] = {}

    def write(self, record: Record) -> None:
        write = self.out.write
        if isinstance(record, KeyRecord):
            if record.db != self.db:
                write(pack_command((b"SELECT", record.db)))
                self.db = record.db
            for command in key_commands(record):
                write(pack_command(command))
        elif isinstance(record, Function):
            write(pack_command((b"FUNCTION", b"LOAD", b"REPLACE", record.library_source)))
        elif isinstance(record, ModuleAux):
            # module aux data has no command form: it can only travel inside an RDB
            self.skipped["module aux"] = self.skipped.get("module aux", 0) + 1
