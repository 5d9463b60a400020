"""Records -> an RDB file for a target server, built with the same construct schemas the reader uses.

The writer makes the encoding choices the target makes (formats.md §10.1): listpack, ziplist, intset
or hashtable by its thresholds, quicklist nodes of its size with PLAIN nodes where it writes them,
integer and LZF strings, hash field TTLs in the target's type. It streams: one key at a time, the
CRC64 computed as bytes go out. Data a target cannot hold is refused with the key and the reason.
"""

from __future__ import annotations

import math
import struct
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import BinaryIO, TypeAlias

import anycrc
from construct import Container, ListContainer

from rdbtools.errors import TargetError
from rdbtools.formats.intset import encode_intset
from rdbtools.formats.listpack import encode_listpack, entry_size
from rdbtools.formats.numbers import canonical_int64
from rdbtools.formats.primitives import (
    RdbBytes,
    StringEncoding,
    encode_length,
    encode_plain,
    encode_string,
    lzf_as_redis,
)
from rdbtools.formats.rdb import (
    ArrayTag,
    Opcode,
    QuicklistContainer,
    RdbType,
    ValkeyType,
    module_opcodes,
    value_schema,
)
from rdbtools.formats.stream_nodes import build, id_delta
from rdbtools.formats.ziplist import encode_ziplist
from rdbtools.rdb.model import (
    HASHTABLE_HASH,
    HASHTABLE_SET,
    LISTPACK_SET,
    SKIPLIST_ZSET,
    ConsumerGroup,
    Function,
    KeyMetaClass,
    KeyRecord,
    ModuleValue,
    SparseArray,
    Stream,
    StreamEntry,
    StreamId,
    StreamIdmp,
)
from rdbtools.rdb.targets import Target

_CRC64 = anycrc.Model("CRC64-REDIS")
_FLUSH_BYTES = 256 * 1024
#: a value as an RDB stores it: its type byte, then its bytes
Encoded: TypeAlias = tuple[int, bytes]

_LISTPACK_OVERHEAD = 8  # Redis's SIZE_ESTIMATE_OVERHEAD when deciding whether a node takes one more entry
_MAX_INT_SCORE = 1 << 62


def stored_string(value: bytes, compress: bool = True) -> bytes:
    """A string as Redis saves it (integer, LZF over 20 bytes when that saves 4, raw), in its minimal
    forms; an LZF payload read from the source file is reused rather than compressed again."""
    if type(value) is bytes:
        return encode_plain(value, compress)
    if compress and getattr(value, "encoding", None) is StringEncoding.LZF:
        return encode_string(value)
    return encode_plain(bytes(value), compress)


def compressed(data: bytes, compress: bool) -> bytes:
    """The same choice as ``stored_string``, as a value the schema builds (for schema-built layouts)."""
    if compress and len(data) > 20 and canonical_int64(data) is None:
        packed = lzf_as_redis(data)
        if packed is not None:
            return RdbBytes(data, StringEncoding.LZF, compressed=packed)
    return data


def _strings(items: Sequence[bytes], compress: bool) -> bytes:
    """A counted run of strings (linked lists, hashtable sets)."""
    return encode_length(len(items)) + b"".join([stored_string(i, compress) for i in items])


class RdbWriter:
    """Write records for ``target`` to ``out``: header and aux at once, then keys, then ``close()``."""

    def __init__(self, out: BinaryIO, target: Target, *, compress: bool = True,
                 aux: dict[bytes, bytes] | None = None, size_hints: dict[int, tuple[int, int]] | None = None,
                 checksum: bool = True) -> None:
        """``size_hints``: keys and keys with a TTL per database, written as RESIZEDB (RDB 7+);
        ``checksum=False`` writes a zero CRC, as Redis does with ``rdbchecksum no``."""
        self.out, self.target, self.compress, self.checksum = out, target, compress, checksum
        self.size_hints = size_hints if size_hints is not None else {}  # the caller may fill it as it goes
        self._crc = 0
        self._pending: list[bytes] = []
        self._pending_size = 0
        self._db: int | None = None
        self._emit(target.signature)
        ver_name = b"valkey-ver" if target.valkey else b"redis-ver"
        defaults = {ver_name: target.server_version.encode(), b"redis-bits": b"64",
                    b"ctime": b"%d" % int(time.time()), b"used-mem": b"0"}
        if target.rdb_version >= 10:
            defaults[b"aof-base"] = b"0"
        for name, value in (defaults | (aux or {})).items():
            self._emit(bytes((Opcode.AUX,)) + encode_string(name) + encode_string(value))

    def _emit(self, data: bytes) -> None:
        """Buffered: the CRC and the write run once per 256 KB, not once per key."""
        self._pending.append(data)
        self._pending_size += len(data)
        if self._pending_size >= _FLUSH_BYTES:
            self._flush()

    def _flush(self) -> None:
        chunk = b"".join(self._pending)
        self._crc = _CRC64.calc(chunk, self._crc)
        self.out.write(chunk)
        self._pending, self._pending_size = [], 0

    def select_db(self, db: int, keys: int | None = None, expires: int | None = None) -> None:
        self._emit(bytes((Opcode.SELECTDB,)) + encode_length(db))
        if keys is not None and self.target.rdb_version >= 7:
            self._emit(bytes((Opcode.RESIZEDB,)) + encode_length(keys) + encode_length(expires or 0))
        self._db = db

    def write_function(self, function: Function) -> None:
        if not self.target.functions:
            raise TargetError(f"functions need RDB 10 (Redis 7.0+); {self.target.name} writes RDB "
                              f"{self.target.rdb_version}")
        self._emit(bytes((Opcode.FUNCTION2,)) + encode_string(function.library_source))

    def write_key(self, record: KeyRecord) -> None:
        if record.db != self._db:
            self.select_db(record.db, *self.size_hints.get(record.db, (None, None)))
        prefix = b""
        if record.expire_ms is not None:
            prefix = bytes((Opcode.EXPIRETIME_MS,)) + struct.pack("<q", record.expire_ms)
        if self.target.rdb_version >= 9:  # RDB 9 (Redis 5) added the LRU / LFU opcodes, after the expiry
            if record.idle is not None:
                prefix += bytes((Opcode.IDLE,)) + encode_length(record.idle)
            if record.freq is not None:
                prefix += bytes((Opcode.FREQ, record.freq))
        if record.key_meta:  # right before the type byte (RDB 13+; unwritable() stops older targets)
            prefix += _key_meta(record.key_meta)
        self._emit(prefix + encode_key(record, self.target, self.compress))

    def close(self) -> None:
        """The EOF opcode and the CRC64 of everything before it (RDB 5+)."""
        self._emit(bytes((Opcode.EOF,)))
        self._flush()
        self.out.write(struct.pack("<Q", self._crc if self.checksum else 0))


#: what a target may be unable to hold, by the name the convert options use (--drop NAME)
DROPPABLE = ("field-ttls", "functions", "streams", "modules", "vector-sets", "arrays", "stream-idmp",
             "stream-nacks", "key-metadata")
#: modules some server has built in, by the DROPPABLE kind their values are: a server without them refuses
#: the file ("no matching module type"); values of other modules need the module the user loads
BUILTIN_MODULE_KINDS = {"vectorset": "vector-sets"}
#: the kinds whose drop keeps the key, without the part the target cannot hold
PARTIAL_DROPS = frozenset({"field-ttls", "stream-idmp", "stream-nacks", "key-metadata"})


def unwritable(record: KeyRecord | Function, target: Target) -> str | None:
    """Which DROPPABLE kind of data this record is that ``target`` cannot hold, if any: the whole
    record's kind first, then the parts of it that a partial drop removes."""
    if isinstance(record, Function):
        return None if target.functions else "functions"
    if record.type == "stream" and target.rdb_version < 9:
        return "streams"
    if record.type == "module" and (kind := _unwritable_module(record.value, target)) is not None:
        return kind
    if record.type == "array" and not target.arrays:
        return "arrays"
    if record.field_expires and not target.field_ttls:
        return "field-ttls"
    if record.key_meta and not target.stream_idmp:
        return "key-metadata"
    if record.type == "stream":
        return _stream_part_unwritable(record.value, target)
    return None


def _stream_part_unwritable(stream: Stream, target: Target) -> str | None:
    """IDMP producers and counters (RDB 13) and NACK zones (RDB 14) are lost in older stream types;
    IDMP settings alone at their defaults with nothing recorded are no loss."""
    idmp = stream.idmp
    if idmp is not None and not target.stream_idmp and (
            idmp.producers or idmp.iids_added or idmp.iids_duplicates
            or (idmp.duration, idmp.max_entries) != IDMP_DEFAULTS):
        return "stream-idmp"
    if not target.arrays and any(g.nacked for g in stream.groups):
        return "stream-nacks"
    return None


def _unwritable_module(value: ModuleValue, target: Target) -> str | None:
    if not target.binary_scores:
        return "modules"
    kind = BUILTIN_MODULE_KINDS.get(value.module_name)
    return kind if kind is not None and value.module_name not in target.builtin_modules else None


def without_part(record: KeyRecord, kind: str) -> KeyRecord:
    """The record without the part a PARTIAL_DROPS kind names: what an older target can hold of it."""
    if kind == "field-ttls":  # the fields stay, their TTLs go
        return replace(record, field_expires=None)
    if kind == "key-metadata":
        return replace(record, key_meta=None)
    if kind == "stream-idmp":
        return replace(record, value=replace(record.value, idmp=None))
    if kind == "stream-nacks":  # the released entries leave the PEL: no older stream has unowned ones
        return replace(record, value=replace(record.value, groups=[_without_nacks(g) for g in record.value.groups]))
    raise ValueError(f"{kind!r} drops the whole record, not a part of it")


def _without_nacks(group: ConsumerGroup) -> ConsumerGroup:
    released = set(group.nacked or ())
    return replace(group, pending=[p for p in group.pending if p.id not in released], nacked=None)


#: XCFGSET's defaults (IDMP-DURATION seconds, IDMP-MAXSIZE), what a Redis 8.6 stream starts with
IDMP_DEFAULTS = (100, 100)


def encode_key(record: KeyRecord, target: Target, compress: bool = True) -> bytes:
    """One key entry (type, key, value) as ``target`` writes it; tests prove the schema rebuilds
    these exact bytes from what it parses of them."""
    type_byte, value = _VALUE_ENCODERS[record.type](record, target, compress)
    return bytes((type_byte,)) + stored_string(record.key, compress) + value


def encode_value(record: KeyRecord, target: Target, compress: bool = True) -> tuple[int, bytes]:
    """The type byte and value bytes of a key as ``target`` writes them (a key entry, a DUMP payload)."""
    return _VALUE_ENCODERS[record.type](record, target, compress)


def _schema_value(type_byte: int, value: Container, target: Target) -> Encoded:
    """The rare value layouts (streams, modules, TTL hashes, text scores) built by the schema itself."""
    return type_byte, value_schema(type_byte, target.valkey).build(value)


def _blob(type_byte: int, blob: bytes, compress: bool) -> tuple[int, bytes]:
    return type_byte, stored_string(blob, compress)


def _string(record: KeyRecord, target: Target, compress: bool) -> Encoded:
    return RdbType.STRING, stored_string(record.value, compress)


def _small(items: list[bytes], max_entries: int, max_value: int) -> bool:
    return len(items) <= max_entries and (not items or max(map(len, items)) <= max_value)


def _list(record: KeyRecord, target: Target, compress: bool) -> Encoded:
    items = record.value
    fill = getattr(record.type, "fill", None)  # (a list made under another list-max-listpack-size)
    if fill is not None:
        target = target.with_list_fill(fill)
    if not target.quicklists:
        if _small(items, target.list_max_ziplist_entries, target.list_max_ziplist_value):
            return _blob(RdbType.LIST_ZIPLIST, encode_ziplist(items), compress)
        return RdbType.LIST, _strings(items, compress)
    nodes = quicklist_nodes(items, target)
    if not target.listpacks:
        return RdbType.LIST_QUICKLIST, _strings([encode_ziplist(n) for _, n in nodes], compress)
    return RdbType.LIST_QUICKLIST_2, encode_length(len(nodes)) + b"".join([
        _PLAIN_NODE + stored_string(n[0], compress) if plain else _PACKED_NODE + stored_string(encode_listpack(n),
                                                                                             compress)
        for plain, n in nodes])


_PLAIN_NODE = encode_length(QuicklistContainer.PLAIN)
_PACKED_NODE = encode_length(QuicklistContainer.PACKED)


def quicklist_nodes(items: list[bytes], target: Target) -> list[tuple[bool, list[bytes]]]:
    """Split a list into nodes as Redis fills them pushing to the tail (_quicklistNodeAllowInsert): an
    element joins the tail node while the node's bytes, the element's length and 8 stay within the node
    size (and, for an entry count, the node holds fewer entries); large elements alone (7.4+). A list
    within one node is what 7.2+ keeps as a listpack (``one_listpack``)."""
    limit, count = target.list_max_listpack_bytes, target.list_max_listpack_count or len(items)
    # an entry takes at most its length + 7 bytes (5 of header, 2 of backlen below 16 KB): a list
    # within the node size by that bound is one node, without sizing each entry
    if len(items) <= count and 7 + sum(map(len, items)) + 7 * len(items) + _LISTPACK_OVERHEAD <= limit:
        return [(False, items)] if items else []
    nodes: list[tuple[bool, list[bytes]]] = []
    current: list[bytes] = []
    size = 7  # an empty listpack: header and terminator
    for item in items:
        if target.plain_nodes_for_large_elements and len(item) > limit:
            if current:
                nodes.append((False, current))
                current, size = [], 7
            nodes.append((True, [item]))
            continue
        # (7.2+ first holds the list as one listpack, which becomes the first node once a push would take it
        # past the node size: that node is filled without the estimate's overhead)
        overhead = 0 if target.list_conversions and not nodes else _LISTPACK_OVERHEAD
        if current and (size + len(item) + overhead > limit or len(current) >= count):
            nodes.append((False, current))
            current, size = [], 7
        current.append(item)
        size += entry_size(item)
    if current:
        nodes.append((False, current))
    return nodes


def one_listpack(items: list[bytes], target: Target) -> bool:
    """Whether Redis 7.2+ keeps a list pushed to the tail as one listpack (OBJECT ENCODING listpack): each
    push keeps the listpack's bytes plus the element's length within the node size (listTypeTryConversion),
    and its entries within a positive list-max-listpack-size."""
    count = target.list_max_listpack_count
    if count and len(items) > count:
        return False
    if not items:
        return True
    last = items[-1]
    return 7 + sum(map(entry_size, items)) - entry_size(last) + len(last) <= target.list_max_listpack_bytes


def _set(record: KeyRecord, target: Target, compress: bool) -> Encoded:
    members = record.value
    if record.type is HASHTABLE_SET:  # (a hash table however small it became: saved as one)
        return RdbType.SET, _strings(members, compress)
    if record.type is not LISTPACK_SET and len(members) <= target.set_max_intset_entries:
        numbers = [canonical_int64(m) for m in members]
        if None not in numbers:
            return _blob(RdbType.SET_INTSET, encode_intset(numbers), compress)  # type: ignore[arg-type]  # no None
    if target.set_listpacks and _small(members, target.set_max_listpack_entries, target.set_max_listpack_value):
        return _blob(RdbType.SET_LISTPACK, encode_listpack(members), compress)
    return RdbType.SET, _strings(members, compress)


def score_entry(score: float, target: Target) -> int | bytes:
    """A zset score inside a listpack/ziplist: an integer entry when integral, else its text."""
    if score.is_integer() and abs(score) <= _MAX_INT_SCORE:
        return int(score)
    if math.isinf(score):
        return b"inf" if score > 0 else b"-inf"
    return repr(score).encode() if target.shortest_scores else b"%.17g" % score


def _zset(record: KeyRecord, target: Target, compress: bool) -> Encoded:
    pairs = sorted(record.value, key=lambda pair: (pair[1], pair[0]))  # by score, then member
    members = [m for m, _ in pairs]
    if record.type is not SKIPLIST_ZSET and _small(members, target.zset_max_listpack_entries,
                                                   target.zset_max_listpack_value):
        flat = [x for m, s in pairs for x in (m, score_entry(s, target))]
        if target.listpacks:
            return _blob(RdbType.ZSET_LISTPACK, encode_listpack(flat), compress)
        return _blob(RdbType.ZSET_ZIPLIST, encode_ziplist(flat), compress)
    if target.binary_scores:
        return RdbType.ZSET_2, encode_length(len(pairs)) + b"".join([
            stored_string(m, compress) + _DOUBLE.pack(s) for m, s in pairs])
    return _schema_value(RdbType.ZSET, ListContainer(Container(member=compressed(m, compress), score=s)
                                                     for m, s in pairs), target)


_DOUBLE = struct.Struct("<d")


def _small_hash(fields: list[tuple[bytes, bytes]], target: Target) -> bool:
    return _small([x for pair in fields for x in pair], 2 * target.hash_max_listpack_entries,
                  target.hash_max_listpack_value)


def _hash(record: KeyRecord, target: Target, compress: bool) -> Encoded:
    if record.field_expires:
        return _hash_with_ttls(record, target, compress)
    fields = list(record.value.items())
    if record.type is not HASHTABLE_HASH and _small_hash(fields, target):
        flat = [x for pair in fields for x in pair]
        if target.listpacks:
            return _blob(RdbType.HASH_LISTPACK, encode_listpack(flat), compress)
        return _blob(RdbType.HASH_ZIPLIST, encode_ziplist(flat), compress)
    return RdbType.HASH, encode_length(len(fields)) + b"".join([
        stored_string(f, compress) + stored_string(v, compress) for f, v in fields])


def _hash_with_ttls(record: KeyRecord, target: Target, compress: bool) -> Encoded:
    if not target.field_ttls:
        raise TargetError(f"hash field TTLs need Redis 7.4+ or Valkey 9+; {target.name} cannot hold them",
                          key=record.key)
    ttls = record.field_expires or {}
    if any(not 0 <= at <= _MAX_FIELD_TTL for at in ttls.values()):
        raise TargetError(f"a hash field TTL beyond {_MAX_FIELD_TTL} ms (2^48 - 1), which Redis refuses to load",
                          key=record.key)
    fields = list(record.value.items())
    if target.valkey:
        return _schema_value(ValkeyType.HASH_2, ListContainer(
            Container(field=compressed(f, compress), value=compressed(v, compress),
                      expire_at=ttls.get(f, -1)) for f, v in fields), target)
    min_expire = min(ttls.values())
    if record.type is not HASHTABLE_HASH and _small_hash(fields, target):
        # Redis orders a listpack-ex hash: fields with a TTL first (soonest first), then the others
        ordered = sorted(fields, key=lambda pair: (pair[0] not in ttls, ttls.get(pair[0], 0)))
        flat = [x for f, v in ordered for x in (f, v, ttls.get(f, 0))]
        return RdbType.HASH_LISTPACK_EX, _INT64.pack(min_expire) + stored_string(encode_listpack(flat), compress)
    return _schema_value(RdbType.HASH_METADATA, Container(min_expire=min_expire, fields=ListContainer(
        Container(ttl=(ttls[f] - min_expire + 1) if f in ttls else 0, field=compressed(f, compress),
                  value=compressed(v, compress)) for f, v in fields)), target)


_INT64 = struct.Struct("<Q")
_MAX_FIELD_TTL = (1 << 48) - 1  # EB_EXPIRE_TIME_MAX


def _module(record: KeyRecord, target: Target, compress: bool) -> Encoded:
    """Module values travel as stored: their opcode stream, parsed and rebuilt by the schema."""
    value: ModuleValue = record.value
    if not target.binary_scores:  # module values arrived with RDB 8
        raise TargetError(f"module values need RDB 8 (Redis 4.0+); {target.name} writes RDB {target.rdb_version}",
                          key=record.key)
    return _schema_value(RdbType.MODULE_2, Container(module_id=value.module_id,
                                                     opcodes=module_opcodes(value.payload)), target)


_SAMEFIELDS = 2
_UNKNOWN_ENTRIES_READ = (1 << 64) - 1  # -1: Redis works it out when the group is read


def _stream_version(target: Target) -> tuple[int, int]:
    if target.rdb_version < 9:
        raise TargetError(f"streams need RDB 9 (Redis 5.0+); {target.name} writes RDB {target.rdb_version}")
    return _STREAM_TYPES[min(target.rdb_version, 14) if not target.valkey else 11]


#: the stream type each RDB version writes (Valkey 80 keeps Redis 7.2's)
_STREAM_TYPES = {9: (RdbType.STREAM_LISTPACKS, 1), 10: (RdbType.STREAM_LISTPACKS_2, 2),
                 11: (RdbType.STREAM_LISTPACKS_3, 3), 12: (RdbType.STREAM_LISTPACKS_3, 3),
                 13: (RdbType.STREAM_LISTPACKS_4, 4), 14: (RdbType.STREAM_LISTPACKS_5, 5)}


def _node_listpack(entries: list[StreamEntry], master: StreamId) -> bytes:
    """A node (formats.md §6.4): the master entry, then each entry as deltas from the node's id."""
    master_fields = [f for f, _ in entries[0].fields]
    values: list = [len(entries), 0, len(master_fields), *master_fields, 0]
    for entry in entries:
        ms_delta, seq_delta = id_delta(entry.id.ms, master.ms), id_delta(entry.id.seq, master.seq)
        names = [f for f, _ in entry.fields]
        if names == master_fields:
            values += [_SAMEFIELDS, ms_delta, seq_delta, *(v for _, v in entry.fields), len(names) + 3]
        else:
            values += [0, ms_delta, seq_delta, len(names), *(x for pair in entry.fields for x in pair),
                       2 * len(names) + 4]
    return encode_listpack(values)


def _stream_nodes(stream: Stream, compress: bool, target: Target) -> ListContainer:
    """The stream's entries split where Redis's radix-tree nodes split them: the nodes serve kept, or
    those appending the entries under the target's stream-node-max-entries/-bytes would make."""
    kept = stream.nodes if stream.nodes is not None else build(stream.entries, target.stream_node_max_entries,
                                                               target.stream_node_max_bytes)
    nodes, at = [], 0
    for node in kept:
        if node.live:
            nodes.append(stream.entries[at:at + node.live])
            at += node.live
    if at < len(stream.entries):  # entries the nodes do not account for (none where serve kept them)
        nodes.append(stream.entries[at:])
    return ListContainer(
        Container(master_id=struct.pack(">QQ", *node[0].id), listpack=compressed(_node_listpack(node, node[0].id),
                                                                                 compress))
        for node in nodes)


def _id(stream_id: StreamId) -> Container:
    return Container(ms=stream_id.ms, seq=stream_id.seq)


def _stream(record: KeyRecord, target: Target, compress: bool) -> Encoded:
    try:
        type_byte, version = _stream_version(target)
    except TargetError as error:
        raise error.located(key=record.key) from None
    stream = record.value
    first = stream.first_id or (stream.entries[0].id if stream.entries else StreamId(0, 0))
    groups = ListContainer(
        Container(
            name=compressed(g.name, compress),
            last_delivered_id=_id(g.last_delivered_id),
            entries_read=_UNKNOWN_ENTRIES_READ if g.entries_read is None else g.entries_read,
            pending=ListContainer(Container(id=_id(p.id), delivery_time=p.delivery_time,
                                            delivery_count=p.delivery_count) for p in g.pending),
            consumers=ListContainer(
                Container(name=compressed(c.name, compress), seen_time=c.seen_time,
                          active_time=c.seen_time if c.active_time is None else c.active_time,
                          pending=ListContainer(_id(i) for i in c.pending))
                for c in g.consumers),
            nacked=ListContainer(_id(i) for i in g.nacked or ()) if version >= 5 else None,
        )
        for g in stream.groups)
    return _schema_value(type_byte, Container(
        nodes=_stream_nodes(stream, compress, target),
        length=stream.length,
        last_id=_id(stream.last_id),
        first_id=_id(first) if version >= 2 else None,
        max_deleted_id=_id(stream.max_deleted_id or StreamId(0, 0)) if version >= 2 else None,
        entries_added=(stream.length if stream.entries_added is None else stream.entries_added)
        if version >= 2 else None,
        groups=groups,
        idmp=_idmp(stream.idmp, compress) if version >= 4 else None,
    ), target)


def _key_meta(classes: list[KeyMetaClass]) -> bytes:
    """KEY_META: each class's opcode stream is written back as it was read."""
    body = b"".join(struct.pack("<I", c.class_spec) + c.payload for c in classes)
    return bytes((Opcode.KEY_META,)) + encode_length(len(classes)) + body


def _idmp(idmp: StreamIdmp | None, compress: bool) -> Container:
    """Stream v4+ always carries the IDMP section: a stream that never had one gets the defaults."""
    if idmp is None:
        idmp = StreamIdmp(*IDMP_DEFAULTS, [], 0, 0)
    return Container(duration=idmp.duration, max_entries=idmp.max_entries, iids_added=idmp.iids_added,
                     iids_duplicates=idmp.iids_duplicates, producers=ListContainer(
                         Container(pid=compressed(p.pid, compress), entries=ListContainer(
                             Container(iid=compressed(iid, compress), id=_id(i)) for iid, i in p.entries))
                         for p in idmp.producers))


def _array(record: KeyRecord, target: Target, compress: bool) -> Encoded:
    array: SparseArray = record.value
    return _schema_value(RdbType.ARRAY, Container(
        count=len(array.elements), has_insert_index=int(array.insert_index is not None),
        insert_index=array.insert_index,
        elements=ListContainer(Container(index=index, tag=tag, value=compressed(v, compress)  # type: ignore[arg-type]
                                         if tag in _STRING_TAGS else v)  # (a string tag's value is bytes)
                               for index, tag, v in array.elements)), target)


_STRING_TAGS = frozenset({ArrayTag.SDS, ArrayTag.SMALLSTR})


_VALUE_ENCODERS = {"string": _string, "list": _list, "set": _set, "zset": _zset, "hash": _hash,
                   "module": _module, "stream": _stream, "array": _array}
