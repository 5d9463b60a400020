"""The records an RDB file holds, as plain Python values.

These are what `open_rdb` yields and what the exporters and (later) the writer consume. Values keep
the bytes exactly as stored (binary-safe); integers stored in compact encodings are turned back into
the decimal text Redis would return for them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
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
    nacked: list[StreamId] | None = None  # stream v5+: PEL ids released by XNACK (no owner)


@dataclass(slots=True)
class StreamEntry:
    id: StreamId
    fields: list[tuple[bytes, bytes]]


@dataclass(slots=True)
class IdmpProducer:
    """One idempotent producer of a stream: the iids it sent recently and the entries they made."""

    pid: bytes
    entries: list[tuple[bytes, StreamId]]  # (iid, entry id), oldest first


@dataclass(slots=True)
class StreamIdmp:
    """Stream v4+ (Redis 8.6): the idempotent-producer settings, producers and counters."""

    duration: int  # seconds an iid is remembered
    max_entries: int  # iids kept per producer
    producers: list[IdmpProducer]
    iids_added: int
    iids_duplicates: int


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
    idmp: StreamIdmp | None = None  # v4+
    #: serve's copy of where Redis's radix-tree nodes split the entries (keyspace/commands/streams.py's Node);
    #: None where the history is unknown (then as appends with the current settings would build them)
    nodes: list | None = field(default=None, compare=False, repr=False)


@dataclass(slots=True)
class ModuleValue:
    module_id: int
    module_name: str
    encver: int
    payload: bytes  # the opcode stream as stored (or, pre-GA type 6, nothing can be skipped)
    decoded: Any = None  # for modules rdbtool knows (a VectorSet of module vectorset), else None


@dataclass(slots=True)
class SparseArray:
    """RDB 14 (Redis 8.8) array: stored elements by index; the holes between them read as nil."""

    elements: list[tuple[int, int, bytes | int | float]]  # (index, ArrayTag, value) in index order
    insert_index: int | None = None  # the ARINSERT cursor, when set

    @property
    def length(self) -> int:
        """What ARLEN answers: the highest index plus one."""
        return self.elements[-1][0] + 1 if self.elements else 0


@dataclass(slots=True)
class KeyMetaClass:
    """One module metadata class attached to a key (RDB 13 KEY_META): kept as stored."""

    name: str  # four characters
    version: int
    flags: int  # bit 0: the server may skip it when the module is absent
    payload: bytes  # the class's module opcode stream up to and including its EOF
    class_spec: int  # the 32-bit spec the name, version and flags come from


@dataclass(slots=True)
class HashTemplate:
    """RDB 15 opcode 242: field names shared by the hashes that refer to this template by id."""

    id: int
    fields: list[bytes]
    offset: int = 0


#: logical type of each kind of value, as `TYPE` reports it
LOGICAL_TYPES = ("string", "list", "set", "zset", "hash", "stream", "module", "array")


class Marked(str):
    """A value's type that also tells an encoding Redis keeps whatever the value becomes: equal to the
    plain type name everywhere, told apart only by identity (``is``); one object per mark (copies are
    itself), so no entry pays a field for it. The writer and OBJECT ENCODING read it."""

    fill: int  # list_with_fill's marks only (read with getattr): the list-max-listpack-size the list was made under

    def __copy__(self) -> Marked:
        return self

    def __deepcopy__(self, memo: dict) -> Marked:
        return self


#: Redis converts sets, hashes and zsets only upwards (intset -> listpack -> hash table, listpack -> hash
#: table or skiplist): once converted, removing what made it convert does not bring the compact form back
HASHTABLE_SET = Marked("set")
LISTPACK_SET = Marked("set")  # Redis 7.2+: left intset for a listpack (a hash table later still)
HASHTABLE_HASH = Marked("hash")
SKIPLIST_ZSET = Marked("zset")
#: a string Redis keeps "raw" whatever its length, as the commands that build it in place leave it (APPEND
#: to a key, SETRANGE, SETBIT, BITFIELD, BITOP)
RAW_STRING = Marked("string")


@cache
def list_with_fill(fill: int) -> Marked:
    """A list made (a quicklist, before 7.2) while list-max-listpack-size was ``fill``: Redis fixes a quicklist's
    node size when it creates it, so its nodes keep that size after a CONFIG SET. One object per size."""
    mark = Marked("list")
    mark.fill = fill
    return mark


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
    key_meta: list[KeyMetaClass] | None = None  # RDB 13+: module metadata classes stored with the key
    template_id: int | None = None  # RDB 15 hashes stored against a hash template


Record = Aux | SelectDb | ResizeDb | SlotInfo | SlotImport | ModuleAux | Function | HashTemplate | KeyRecord
