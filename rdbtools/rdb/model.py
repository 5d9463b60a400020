"""The records an RDB file holds, as plain Python values.

These are what `open_rdb` yields and what the exporters and (later) the writer consume. Values keep
the bytes exactly as stored (binary-safe); integers stored in compact encodings are turned back into
the decimal text Redis would return for them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple


class StreamId(NamedTuple):
    """A stream entry id: milliseconds and sequence number."""

    ms: int
    seq: int

    def __str__(self) -> str:
        return f"{self.ms}-{self.seq}"


@dataclass(slots=True)
class Header:
    magic: str  # "REDIS" or "VALKEY"
    version: int

    @property
    def is_valkey(self) -> bool:
        """Types and opcodes 22, 23 and 243 mean other things in a Valkey (>= 80) file."""
        return self.magic == "VALKEY"


@dataclass(slots=True)
class Aux:
    name: bytes
    value: bytes
    offset: int = 0


@dataclass(slots=True)
class SelectDb:
    db: int
    offset: int = 0


@dataclass(slots=True)
class ResizeDb:
    db_size: int
    expires_size: int
    offset: int = 0


@dataclass(slots=True)
class SlotInfo:
    slot_id: int
    slot_size: int
    expires_slot_size: int
    offset: int = 0


@dataclass(slots=True)
class SlotImport:
    """Valkey 9 opcode 243: a slot-migration job name and its slot ranges."""

    job_name: bytes
    ranges: list[tuple[int, int]]
    offset: int = 0


@dataclass(slots=True)
class ModuleAux:
    module_id: int
    module_name: str
    encver: int
    when: int
    payload: bytes  # the module opcode stream up to and including its EOF, as stored
    offset: int = 0


@dataclass(slots=True)
class Function:
    """A function library: FUNCTION2 holds the whole source; the 7.0 pre-GA opcode held parts."""

    code: bytes
    pre_ga: bool = False
    name: bytes | None = None
    engine: bytes | None = None
    description: bytes | None = None
    offset: int = 0

    @property
    def library_source(self) -> bytes:
        """The source FUNCTION LOAD takes; 7.0 converted pre-GA records into exactly this."""
        if not self.pre_ga:
            return self.code
        return b"#!" + (self.engine or b"") + b" name=" + (self.name or b"") + b"\n" + self.code


@dataclass(slots=True)
class PendingEntry:
    id: StreamId
    consumer: bytes | None
    delivery_time: int
    delivery_count: int


@dataclass(slots=True)
class Consumer:
    name: bytes
    seen_time: int
    active_time: int | None  # stream v3+; older files only know seen_time
    pending: list[StreamId] = field(default_factory=list)


@dataclass(slots=True)
class ConsumerGroup:
    name: bytes
    last_delivered_id: StreamId
    entries_read: int | None  # v2+; None when unknown (-1) or not stored
    pending: list[PendingEntry] = field(default_factory=list)
    consumers: list[Consumer] = field(default_factory=list)


@dataclass(slots=True)
class StreamEntry:
    id: StreamId
    fields: list[tuple[bytes, bytes]]


@dataclass(slots=True)
class Stream:
    length: int
    last_id: StreamId
    entries: list[StreamEntry]
    groups: list[ConsumerGroup]
    first_id: StreamId | None = None  # v2+
    max_deleted_id: StreamId | None = None  # v2+
    entries_added: int | None = None  # v2+
    deleted_entries: int = 0  # tombstones kept in the node listpacks


@dataclass(slots=True)
class ModuleValue:
    module_id: int
    module_name: str
    encver: int
    payload: bytes  # the opcode stream as stored (or, pre-GA type 6, nothing can be skipped)
    decoded: Any = None  # for modules rdbtool knows (a VectorSet of module vectorset), else None


#: logical type of each kind of value, as `TYPE` reports it
LOGICAL_TYPES = ("string", "list", "set", "zset", "hash", "stream", "module")


@dataclass(slots=True)
class KeyRecord:
    """One key with its value and metadata, exactly as the file stores it."""

    db: int
    key: bytes
    type: str  # logical type: one of LOGICAL_TYPES
    encoding: str  # the RDB type as stored, e.g. "quicklist-v2", "hash-listpack-ex"
    rdb_type: int  # the raw type byte
    value: Any
    expire_ms: int | None = None
    idle: int | None = None  # LRU idle seconds
    freq: int | None = None  # LFU counter
    field_expires: dict[bytes, int] | None = None  # hash field TTLs, absolute unix ms
    offset: int = 0  # where the record (its first per-key opcode) starts in the file


Record = Aux | SelectDb | ResizeDb | SlotInfo | SlotImport | ModuleAux | Function | KeyRecord
