"""Stream the records of an RDB file, fast.

This is the fast path of the schema in ``rdbtools.formats.rdb``: the same grammar decoded with
direct indexing into a memoryview instead of construct's per-field machinery (tests prove both give
the same records). One record is decoded at a time and nothing but the current value is kept, so
memory does not depend on the file's size.

``deep=True`` adds the checks of Redis's deep sanitizer and redis-check-rdb (entry-level listpack
checks, sorted intsets, stream consistency, empty collections); the cheap checks Redis always does
are always on.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeAlias

import anycrc

from rdbtools.errors import (
    ChecksumError,
    FormatError,
    Irregularity,
    RdbtoolError,
    TruncatedError,
    UnsupportedError,
)
from rdbtools.formats import accelerated, vectorset
from rdbtools.formats.intset import decode_intset
from rdbtools.formats.listpack import decode_listpack
from rdbtools.formats.primitives import blob_score, parse_ascii_double, read_length, read_string
from rdbtools.formats.rdb import (
    ArrayTag,
    Opcode,
    QuicklistContainer,
    RdbType,
    TemplateFields,
    ValkeyType,
    check_version,
    key_meta_class,
    module_name,
    type_info,
)
from rdbtools.formats.stream_nodes import Node, id_part, int_size, value_size
from rdbtools.formats.ziplist import decode_ziplist
from rdbtools.formats.zipmap import decode_zipmap
from rdbtools.rdb.model import (
    Aux,
    Consumer,
    ConsumerGroup,
    Function,
    HashTemplate,
    Header,
    IdmpProducer,
    KeyMetaClass,
    KeyRecord,
    ModuleAux,
    ModuleValue,
    PendingEntry,
    Record,
    ResizeDb,
    SelectDb,
    SlotImport,
    SlotInfo,
    SparseArray,
    Stream,
    StreamEntry,
    StreamId,
    StreamIdmp,
)
from rdbtools.rdb.source import MappedSource, Source

_CRC64 = anycrc.Model("CRC64-REDIS")
_CRC_STEP = 16 << 20  # checksum and release the mapping in steps of this many bytes

_unpack_i64 = struct.Struct("<q").unpack_from
_unpack_u64 = struct.Struct("<Q").unpack_from
_unpack_i32 = struct.Struct("<i").unpack_from
_unpack_f64 = struct.Struct("<d").unpack_from
_unpack_f32 = struct.Struct("<f").unpack_from
_unpack_id = struct.Struct(">QQ").unpack_from

_STREAM_DELETED = 1  # stream entry flag: a tombstone kept in the node
_STREAM_SAMEFIELDS = 2  # stream entry flag: fields equal the node's master fields
#: what a value decoder returns: the value, its fields' expire times (a hash with field TTLs), the position after it
Decoded: TypeAlias = tuple[Any, dict[bytes, int] | None, int]
#: one field of a hash with field TTLs: name, value, expire time (None: none), the position after it
_Field: TypeAlias = tuple[bytes, bytes, int | None, int]
_HFE_MAX = (1 << 48) - 1  # hash field expire times are at most 48 bits (Redis EB_EXPIRE_TIME_MAX)
_VALKEY_HFE_MAX = (1 << 63) - 1  # Valkey 9 loads any time that is not negative


def as_bytes(value: int | bytes) -> bytes:
    """A listpack/ziplist entry as the bytes Redis returns for it."""
    return value if value.__class__ is bytes else b"%d" % value  # type: ignore[str-format]  # (an int: no bytes subclass)


def as_score(value: int | bytes) -> float:
    if value.__class__ is bytes:
        return blob_score(value)
    return float(value)


class Checksum:
    """What the trailer said and what the content hashes to."""

    __slots__ = ("computed", "stored")

    def __init__(self, stored: int | None, computed: int | None) -> None:
        self.stored = stored
        self.computed = computed

    @property
    def status(self) -> str:
        """'absent' (RDB < 5), 'disabled' (saved with rdbchecksum no), 'unchecked' (check_crc=False),
        'ok' or 'mismatch'."""
        if self.stored is None:
            return "absent"
        if self.stored == 0:
            return "disabled"
        if self.computed is None:
            return "unchecked"
        return "ok" if self.stored == self.computed else "mismatch"


class RdbReader:
    """Iterate the records of one RDB file (or of the RDB preamble of an AOF).

    After iteration, ``checksum``, ``end_offset`` (just past the trailer) and ``trailing_bytes``
    describe the end of the file.
    """

    def __init__(
        self,
        source: Source,
        *,
        start: int = 0,
        deep: bool = False,
        check_crc: bool = True,
        embedded: bool = False,
        accelerate: bool = True,
        keep_values: bool = True,
    ) -> None:
        self.source = source
        self.path = source.name
        self.deep = deep
        self.check_crc = check_crc
        self.embedded = embedded  # an AOF preamble: bytes after the trailer belong to the AOF
        self._buf = source.view
        self._start = start
        self.header = self._read_header()
        self._valkey = self.header.is_valkey
        self.checksum: Checksum | None = None
        self.problems: list[FormatError] = []  # deep mode: what is wrong but did not stop decoding
        self.end_offset: int | None = None
        self.trailing_bytes = 0
        self._crc = 0
        self._crc_pos = start
        self._templates: dict[int, list[bytes]] = {}  # RDB 15 HASH_TEMPLATE records read so far
        self._decoders = self._value_decoders()
        # the compiled scan decodes runs of clean, common key entries and leaves the rest to _records
        self._scan = accelerated("scan_keys") if accelerate else None
        # keep_values=False: records the compiled scan checks come without their value (None), for
        # consumers that need only keys and metadata (verify); the checks are the same
        self._keep_values = keep_values
        # report's model for the compiled scan (report.measure.accelerated_model): the keys it measures come
        # as their KeyFacts instead of a record; set once the file's writer is known (after its aux fields)
        self.measure_with: tuple | None = None
        # ... and with report's summary (report.summary.Summary.fold_state), the keys it measures are added to
        # it there and then, and only the records it leaves to Python come back
        self.fold_with: tuple | None = None
        self._type_names = tuple(
            self._decoders[t][1:] if t in self._decoders else None for t in range(max(self._decoders) + 1)
        )

    # --- header and records -------------------------------------------------------------------

    def _read_header(self) -> Header:
        buf, at = self._buf, self._start
        if len(buf) - at < 9:
            if len(buf) == at:
                raise FormatError("empty file: not an RDB file", offset=at, path=self.path)
            raise TruncatedError("file too short for an RDB header", offset=at, path=self.path)
        magic = bytes(buf[at : at + 9])
        if magic.startswith(b"REDIS") and magic[5:].isdigit():
            header = Header("REDIS", int(magic[5:]))
        elif magic.startswith(b"VALKEY") and magic[6:].isdigit():
            header = Header("VALKEY", int(magic[6:]))
        else:
            raise FormatError(
                f"not an RDB file: expected 'REDIS' or 'VALKEY' and a version, found {magic!r}",
                offset=at,
                path=self.path,
            )
        try:
            check_version(header.magic, header.version)
        except RdbtoolError as error:  # located at the version digits, after the magic
            raise error.located(base=at + len(header.magic), path=self.path) from None
        return header

    def __iter__(self) -> Iterator[Record]:
        for _, records in self.iter_batches():
            yield from records

    def iter_batches(self) -> Iterator[tuple[int | None, list[Record]]]:
        """Records in file order, in lists: ``(db, keys)`` for a run of key records of database
        ``db`` (what the compiled scan decodes at once), ``(None, [record])`` for any other."""
        try:
            yield from self._batches()
        except RdbtoolError as error:
            raise error.located(path=self.path) from None

    def _batches(self) -> Iterator[tuple[int | None, list[Record]]]:
        buf, size = self._buf, len(self._buf)
        pos = self._start + 9
        db = 0
        decoders, problems = self._decoders, self.problems
        per_key_opcodes = _PER_KEY_OPCODES if self._valkey else _PER_KEY_OPCODES | {_KEY_META}
        scan, type_names, deep, keep = self._scan, self._type_names, self.deep, self._keep_values
        next_crc_step = pos + _CRC_STEP
        while True:
            if scan is not None:
                batch, pos = scan(buf, pos, next_crc_step, db, deep, type_names, KeyRecord, keep, self.measure_with,
                                  self.fold_with)
                if batch:
                    yield db, batch
                if pos >= next_crc_step:
                    self._advance_crc(pos)
                    next_crc_step = pos + _CRC_STEP
            record_start = pos
            expire_ms = idle = freq = key_meta = None
            if pos >= size:
                raise TruncatedError("file ends before the EOF opcode (0xFF)", offset=pos)
            op = buf[pos]
            # per-key opcodes apply to the key entry that follows them
            while op in per_key_opcodes:
                if op == _KEY_META:  # the last of them: the type byte must follow at once
                    key_meta, pos = self._key_meta(pos + 1)
                    op = buf[pos] if pos < size else _EOF
                    if op not in decoders:
                        raise FormatError(f"expected a value type right after key metadata, found 0x{op:02x}",
                                          offset=pos)
                    break
                expire_ms, idle, freq, pos = self._per_key_opcode(op, pos + 1, expire_ms, idle, freq)
                if pos >= size:
                    raise TruncatedError("file ends after a per-key opcode", offset=pos)
                op = buf[pos]
            entry = decoders.get(op)
            if entry is not None:
                decoder, logical, encoding = entry
                pos += 1
                length = buf[pos] if pos < size else 0xFF
                if length < 0x40 and pos + 1 + length <= size:  # most keys: a short raw string
                    pos += 1 + length
                    key = bytes(buf[pos - length : pos])
                else:
                    key, pos = read_string(buf, pos)
                flagged = len(problems)
                try:
                    value, field_expires, pos = decoder(pos)
                except RdbtoolError as error:
                    raise error.located(key=key) from None
                if len(problems) != flagged:
                    for problem in problems[flagged:]:
                        problem.key = key
                record = KeyRecord(db, key, logical, encoding, op, value, expire_ms, idle, freq, field_expires,
                                   record_start, key_meta)
                if op in _TEMPLATE_HASHES:
                    record.value, record.template_id = value
                yield None, [record]
            elif expire_ms is not None or idle is not None or freq is not None:
                raise FormatError(
                    f"expected a value type after a per-key opcode, found 0x{op:02x}", offset=pos
                )
            elif op == _EOF:
                self._finish(pos)
                return
            else:
                opcode_record, pos = self._opcode_record(op, pos)
                if opcode_record.__class__ is SelectDb:
                    db = opcode_record.db
                yield None, [opcode_record]
            if pos >= next_crc_step:
                self._advance_crc(pos)
                next_crc_step = pos + _CRC_STEP

    def _per_key_opcode(self, op: int, pos: int, expire_ms: int | None, idle: int | None,
                        freq: int | None) -> tuple[int | None, int | None, int | None, int]:
        """EXPIRETIME_MS, EXPIRETIME, IDLE or FREQ: metadata for the key entry that follows."""
        buf = self._buf
        if op == Opcode.EXPIRETIME_MS:
            self._need(pos, 8, "an expire time")
            return _unpack_i64(buf, pos)[0], idle, freq, pos + 8
        if op == Opcode.EXPIRETIME:
            self._need(pos, 4, "an expire time")
            return _unpack_i32(buf, pos)[0] * 1000, idle, freq, pos + 4
        if op == Opcode.IDLE:
            idle, pos = read_length(buf, pos)
            return expire_ms, idle, freq, pos
        self._need(pos, 1, "an LFU frequency")
        return expire_ms, idle, buf[pos], pos + 1

    def _opcode_record(self, op: int, pos: int) -> tuple[Record, int]:
        buf, start = self._buf, pos
        pos += 1
        if op == Opcode.AUX:
            name, pos = read_string(buf, pos)
            value, pos = read_string(buf, pos)
            return Aux(name, value, start), pos
        if op == Opcode.SELECTDB:
            db, pos = read_length(buf, pos)
            return SelectDb(db, start), pos
        if op == Opcode.RESIZEDB:
            keys, pos = read_length(buf, pos)
            expires, pos = read_length(buf, pos)
            return ResizeDb(keys, expires, start), pos
        if op == Opcode.MODULE_AUX:
            return self._module_aux(pos, start)
        if op == Opcode.FUNCTION2:
            code, pos = read_string(buf, pos)
            return Function(code, offset=start), pos
        if op == Opcode.FUNCTION_PRE_GA:
            return self._function_pre_ga(pos, start)
        if op == Opcode.SLOT_INFO and not self._valkey:
            slot, pos = read_length(buf, pos)
            keys, pos = read_length(buf, pos)
            expires, pos = read_length(buf, pos)
            return SlotInfo(slot, keys, expires, start), pos
        if op == Opcode.SLOT_IMPORT and self._valkey:
            return self._slot_import(pos, start)
        if op == Opcode.HASH_TEMPLATE and not self._valkey:
            return self._hash_template(pos, start)
        raise FormatError(f"unknown RDB type or opcode {op} (0x{op:02x})", offset=start)

    def _finish(self, eof_pos: int) -> None:
        """Read the trailer: the CRC64 of everything up to and including the EOF opcode."""
        buf, end = self._buf, eof_pos + 1
        if self.header.version >= 5:
            self._need(end, 8, "the CRC64 checksum after the EOF opcode")
            stored = int.from_bytes(buf[end : end + 8], "little")
            computed = None
            if self.check_crc and stored:
                self._advance_crc(end)
                computed = self._crc
            self.checksum = Checksum(stored, computed)
            end += 8
        else:
            self.checksum = Checksum(None, None)
        self.end_offset = end
        if not self.embedded:
            self.trailing_bytes = len(buf) - end
        if self.checksum.status == "mismatch":
            raise ChecksumError(
                f"wrong RDB checksum: stored {stored:016x}, content hashes to {computed:016x}",
                offset=eof_pos + 1,
            )

    def _advance_crc(self, pos: int) -> None:
        if self.check_crc:
            self._crc = _CRC64.calc(self._buf[self._crc_pos : pos], self._crc)
        self._crc_pos = pos
        self.source.release_before(pos)

    def _need(self, pos: int, count: int, what: str) -> None:
        if pos + count > len(self._buf):
            raise TruncatedError(f"file ends inside {what}", offset=pos)

    # --- opcodes with structure ---------------------------------------------------------------

    def _module_aux(self, pos: int, start: int) -> tuple[ModuleAux, int]:
        buf = self._buf
        module_id, pos = read_length(buf, pos)
        when_opcode, pos = read_length(buf, pos)
        if when_opcode != _MODULE_UINT:
            raise FormatError(f"module aux 'when' must be a UINT opcode (2), found {when_opcode}",
                              offset=pos)
        when, pos = read_length(buf, pos)
        payload_start = pos
        pos = self._skip_module_opcodes(pos)
        name, encver = module_name(module_id)
        return ModuleAux(module_id, name, encver, when, bytes(buf[payload_start:pos]), start), pos

    def _function_pre_ga(self, pos: int, start: int) -> tuple[Function, int]:
        buf = self._buf
        name, pos = read_string(buf, pos)
        engine, pos = read_string(buf, pos)
        has_description, pos = read_length(buf, pos)
        description = None
        if has_description:
            description, pos = read_string(buf, pos)
        code, pos = read_string(buf, pos)
        return Function(code, True, name, engine, description, start), pos

    def _slot_import(self, pos: int, start: int) -> tuple[SlotImport, int]:
        buf = self._buf
        job, pos = read_string(buf, pos)
        count, pos = read_length(buf, pos)
        ranges = []
        for _ in range(count):
            first, pos = read_length(buf, pos)
            last, pos = read_length(buf, pos)
            ranges.append((first, last))
        return SlotImport(job, ranges, start), pos

    def _key_meta(self, pos: int) -> tuple[list[KeyMetaClass], int]:
        """KEY_META (RDB 13): each class's opcode stream is kept as stored; only its module can read it."""
        buf, at = self._buf, pos
        count, pos = read_length(buf, pos)
        if not 1 <= count <= _KEY_META_MAX_CLASSES:
            raise FormatError(f"key metadata holds {count} classes, Redis accepts 1 to {_KEY_META_MAX_CLASSES}",
                              offset=at)
        classes = []
        for _ in range(count):
            self._need(pos, 4, "a key metadata class")
            spec = int.from_bytes(buf[pos : pos + 4], "little")
            start = pos = pos + 4
            pos = self._skip_module_opcodes(pos)
            classes.append(KeyMetaClass(*key_meta_class(spec), bytes(buf[start:pos]), spec))
        return classes, pos

    def _hash_template(self, pos: int, start: int) -> tuple[HashTemplate, int]:
        """HASH_TEMPLATE (RDB 15): kept by id for the hashes that refer to it, checked as the loader does."""
        buf = self._buf
        template_id, pos = read_length(buf, pos)
        count, pos = read_length(buf, pos)
        if count == 0:
            raise FormatError(f"hash template {template_id} has zero fields", offset=start)
        if template_id in self._templates:
            raise FormatError(f"duplicate hash template id {template_id}", offset=start)
        fields: list[bytes] = []
        for _ in range(count):
            name_at = pos
            name, pos = read_string(buf, pos)
            if fields and _template_order(fields[-1]) >= _template_order(name):
                raise FormatError(f"hash template {template_id} field names are not strictly sorted "
                                  "(by length, then bytes)", offset=name_at)
            fields.append(name)
        self._templates[template_id] = fields
        return HashTemplate(template_id, fields, start), pos

    def _skip_module_opcodes(self, pos: int) -> int:
        """Walk a module's opcode stream (§6.6) to its EOF: values are kept as raw bytes."""
        buf = self._buf
        while True:
            opcode_at = pos
            opcode, pos = read_length(buf, pos)
            if opcode == 0:
                return pos
            if opcode in (1, 2):  # SINT, UINT
                _, pos = read_length(buf, pos)
            elif opcode == 3:  # FLOAT
                self._need(pos, 4, "a module float")
                pos += 4
            elif opcode == 4:  # DOUBLE
                self._need(pos, 8, "a module double")
                pos += 8
            elif opcode == 5:  # STRING
                _, pos = read_string(buf, pos)
            else:
                raise FormatError(f"unknown module opcode {opcode}", offset=opcode_at)

    # --- values -------------------------------------------------------------------------------

    def _value_decoders(self) -> dict[int, tuple[Callable[[int], Decoded], str, str]]:
        """Type byte -> (decoder, logical type, encoding name), looked up once per key."""
        decoders: dict[int, Callable[[int], Any]] = {  # by type byte (an RdbType, or a ValkeyType in Valkey files)
            RdbType.STRING: self._string,
            RdbType.LIST: self._plain_list,
            RdbType.SET: self._plain_set,
            RdbType.ZSET: self._zset_ascii,
            RdbType.HASH: self._hash,
            RdbType.ZSET_2: self._zset_binary,
            RdbType.MODULE_PRE_GA: self._module_pre_ga,
            RdbType.MODULE_2: self._module,
            RdbType.HASH_ZIPMAP: self._hash_zipmap,
            RdbType.LIST_ZIPLIST: self._list_ziplist,
            RdbType.SET_INTSET: self._set_intset,
            RdbType.ZSET_ZIPLIST: self._zset_ziplist,
            RdbType.HASH_ZIPLIST: self._hash_ziplist,
            RdbType.LIST_QUICKLIST: self._quicklist,
            RdbType.STREAM_LISTPACKS: lambda pos: self._stream(pos, 1),
            RdbType.HASH_LISTPACK: self._hash_listpack,
            RdbType.ZSET_LISTPACK: self._zset_listpack,
            RdbType.LIST_QUICKLIST_2: self._quicklist_2,
            RdbType.STREAM_LISTPACKS_2: lambda pos: self._stream(pos, 2),
            RdbType.SET_LISTPACK: self._set_listpack,
            RdbType.STREAM_LISTPACKS_3: lambda pos: self._stream(pos, 3),
        }
        # types 22-25 mean other things in Valkey files (formats.md §4): dispatch on the magic
        if self._valkey:
            decoders[ValkeyType.HASH_2] = self._valkey_hash_2
        else:
            decoders[RdbType.HASH_METADATA_PRE_GA] = self._hash_metadata_pre_ga
            decoders[RdbType.HASH_LISTPACK_EX_PRE_GA] = self._hash_listpack_ex_pre_ga
            decoders[RdbType.HASH_METADATA] = self._hash_metadata
            decoders[RdbType.HASH_LISTPACK_EX] = self._hash_listpack_ex
            decoders[RdbType.STREAM_LISTPACKS_4] = lambda pos: self._stream(pos, 4)
            decoders[RdbType.STREAM_LISTPACKS_5] = lambda pos: self._stream(pos, 5)
            decoders[RdbType.ARRAY] = self._array
            decoders[RdbType.HASH_TMPL_LP] = self._hash_template_listpack
            decoders[RdbType.HASH_TMPL_LP_REF] = self._hash_template_listpack_ref
            decoders[RdbType.HASH_TMPL_ARRAY] = self._hash_template_array
            decoders[RdbType.HASH_TMPL_ARRAY_REF] = self._hash_template_array_ref
        infos = {t: type_info(t, self._valkey) for t in decoders}
        return {t: (decoder, infos[t].logical, infos[t].encoding) for t, decoder in decoders.items()}

    def _blob(self, pos: int, decode: Callable, what: str) -> tuple[Any, int]:
        """Read a string holding an embedded structure and decode it, errors placed in the file.

        A blob that ends too early is corrupt, not a truncated file: its error becomes a FormatError.
        """
        blob, end = read_string(self._buf, pos)
        try:
            return decode(blob, self.deep), end
        except RdbtoolError as error:
            raise FormatError(f"{what} stored at offset {pos}: {error.message} (at byte {error.offset} of it)",
                              offset=pos) from None

    def _flag(self, message: str, pos: int, kind: type[FormatError] = FormatError) -> None:
        """Note a problem that does not stop decoding (deep mode only): verify reports them all."""
        self.problems.append(kind(message, offset=pos, path=self.path))

    def _nonempty(self, count: int, what: str, pos: int) -> None:
        if count == 0 and self.deep:
            self._flag(f"empty {what}: Redis skips such keys on load ('rdbLoadObject skipping empty key'), "
                       "redis-check-rdb rejects them", pos)

    def _string(self, pos: int) -> Decoded:
        value, pos = read_string(self._buf, pos)
        return value, None, pos

    def _counted(self, pos: int, what: str, read_item: Callable[[int], tuple[Any, int]]) -> tuple[list, int]:
        """A length, then that many items: the shape of every type stored without a blob."""
        count, pos = read_length(self._buf, pos)
        self._nonempty(count, what, pos)
        items = []
        for _ in range(count):
            item, pos = read_item(pos)
            items.append(item)
        return items, pos

    def _plain_list(self, pos: int) -> Decoded:
        items, pos = self._counted(pos, "collection", lambda at: read_string(self._buf, at))
        return items, None, pos

    def _plain_set(self, pos: int) -> Decoded:
        """Redis refuses a set that repeats a member ('Duplicate set members detected')."""
        members, _, pos = self._plain_list(pos)
        if self.deep:
            self._unique(len(set(members)), len(members), "set members", pos)
        return members, None, pos

    def _zset_ascii(self, pos: int) -> Decoded:
        items, pos = self._counted(pos, "sorted set", self._member_and_ascii_score)
        self._distinct_members(items, pos)
        return items, None, pos

    def _distinct_members(self, items: list[tuple[bytes, float]], pos: int) -> None:
        """Redis refuses a sorted set that repeats a member, in every encoding ('Duplicate zset fields
        detected', or the listpack/ziplist integrity check)."""
        if self.deep:
            self._unique(len({member for member, _ in items}), len(items), "sorted set members", pos)

    def _member_and_ascii_score(self, pos: int) -> tuple[tuple[bytes, float], int]:
        buf = self._buf
        member, pos = read_string(buf, pos)
        self._need(pos, 1, "a score")
        size = buf[pos]
        if size >= 253:  # 253 NaN, 254 +inf, 255 -inf
            return (member, self._score((float("nan"), float("inf"), float("-inf"))[size - 253], pos)), pos + 1
        self._need(pos + 1, size, "a score")
        try:
            score = parse_ascii_double(bytes(buf[pos + 1 : pos + 1 + size]))
        except FormatError as error:
            raise error.located(base=pos) from None
        return (member, self._score(score, pos)), pos + 1 + size

    def _score(self, score: float, pos: int) -> float:
        if score != score:  # NaN: Redis refuses to load it
            raise FormatError("zset score is NaN", offset=pos)
        return score

    def _zset_binary(self, pos: int) -> Decoded:
        items, pos = self._counted(pos, "sorted set", self._member_and_binary_score)
        self._distinct_members(items, pos)
        return items, None, pos

    def _member_and_binary_score(self, pos: int) -> tuple[tuple[bytes, float], int]:
        member, pos = read_string(self._buf, pos)
        self._need(pos, 8, "a score")
        return (member, self._score(_unpack_f64(self._buf, pos)[0], pos)), pos + 8

    def _hash(self, pos: int) -> Decoded:
        pairs, pos = self._counted(pos, "hash", self._field_and_value)
        fields = dict(pairs)
        self._unique(len(fields), len(pairs), "hash fields", pos)
        return fields, None, pos

    def _field_and_value(self, pos: int) -> tuple[tuple[bytes, bytes], int]:
        field, pos = read_string(self._buf, pos)
        value, pos = read_string(self._buf, pos)
        return (field, value), pos

    def _unique(self, distinct: int, total: int, what: str, pos: int) -> None:
        if distinct != total and self.deep:
            self._flag(f"duplicate {what}: {total} stored, {distinct} distinct", pos)

    def _module_pre_ga(self, pos: int) -> Decoded:
        module_id, _ = read_length(self._buf, pos)
        name, _ = module_name(module_id)
        raise UnsupportedError(
            f"pre-release module value (RDB type 6) of module '{name}' cannot be read without the "
            "module; Redis 7.2+ refuses it too", offset=pos)

    def _module(self, pos: int) -> Decoded:
        module_id, pos = read_length(self._buf, pos)
        start = pos
        pos = self._skip_module_opcodes(pos)
        name, encver = module_name(module_id)
        payload = bytes(self._buf[start:pos])
        return ModuleValue(module_id, name, encver, payload, _decode_module(name, encver, payload, start)), None, pos

    def _hash_zipmap(self, pos: int) -> Decoded:
        pairs, pos = self._blob(pos, decode_zipmap, "zipmap")
        fields = dict(pairs)
        self._unique(len(fields), len(pairs), "hash fields", pos)
        return fields, None, pos

    def _list_ziplist(self, pos: int) -> Decoded:
        entries, pos = self._blob(pos, decode_ziplist, "ziplist")
        self._nonempty(len(entries), "list", pos)
        return [as_bytes(e) for e in entries], None, pos

    def _set_intset(self, pos: int) -> Decoded:
        members, pos = self._blob(pos, decode_intset, "intset")
        return [b"%d" % m for m in members], None, pos

    def _pairs(self, pos: int, decode: Callable, what: str, kind: str) -> tuple[list[int | bytes], int]:
        entries, pos = self._blob(pos, decode, what)
        if len(entries) % 2:
            raise FormatError(f"{what} of a {kind} holds an odd number of entries ({len(entries)})",
                              offset=pos)
        self._nonempty(len(entries), kind, pos)
        return entries, pos

    def _zset_ziplist(self, pos: int) -> Decoded:
        return self._zset_pairs(pos, decode_ziplist, "ziplist")

    def _zset_listpack(self, pos: int) -> Decoded:
        return self._zset_pairs(pos, decode_listpack, "listpack")

    def _zset_pairs(self, pos: int, decode: Callable, what: str) -> Decoded:
        entries, pos = self._pairs(pos, decode, what, "sorted set")
        items = [(as_bytes(entries[i]), self._score(as_score(entries[i + 1]), pos))
                 for i in range(0, len(entries), 2)]
        self._distinct_members(items, pos)
        return items, None, pos

    def _hash_ziplist(self, pos: int) -> Decoded:
        return self._hash_pairs(pos, decode_ziplist, "ziplist")

    def _hash_listpack(self, pos: int) -> Decoded:
        return self._hash_pairs(pos, decode_listpack, "listpack")

    def _hash_pairs(self, pos: int, decode: Callable, what: str) -> Decoded:
        entries, pos = self._pairs(pos, decode, what, "hash")
        fields = {as_bytes(entries[i]): as_bytes(entries[i + 1]) for i in range(0, len(entries), 2)}
        self._unique(len(fields), len(entries) // 2, "hash fields", pos)
        return fields, None, pos

    def _set_listpack(self, pos: int) -> Decoded:
        entries, pos = self._blob(pos, decode_listpack, "listpack")
        self._nonempty(len(entries), "set", pos)
        members = [as_bytes(e) for e in entries]
        self._unique(len(set(members)), len(members), "set members", pos)
        return members, None, pos

    def _quicklist(self, pos: int) -> Decoded:
        count, pos = read_length(self._buf, pos)
        self._nonempty(count, "list", pos)
        items: list[bytes] = []
        for _ in range(count):
            entries, pos = self._blob(pos, decode_ziplist, "quicklist node ziplist")
            items.extend(as_bytes(e) for e in entries)
        self._nonempty(len(items), "list", pos)
        return items, None, pos

    def _quicklist_2(self, pos: int) -> Decoded:
        buf = self._buf
        count, pos = read_length(buf, pos)
        self._nonempty(count, "list", pos)
        items: list[bytes] = []
        for _ in range(count):
            container_at = pos
            container, pos = read_length(buf, pos)
            if container == QuicklistContainer.PLAIN:
                item, pos = read_string(buf, pos)
                if not item:  # Redis refuses any empty node string, whatever the sanitizer setting
                    raise FormatError("quicklist PLAIN node holds an empty string", offset=container_at)
                items.append(item)
            elif container == QuicklistContainer.PACKED:
                entries, pos = self._blob(pos, decode_listpack, "quicklist node listpack")
                items.extend(as_bytes(e) for e in entries)
            else:
                raise FormatError(f"quicklist node container must be 1 (plain) or 2 (packed), "
                                  f"found {container}", offset=container_at)
        self._nonempty(len(items), "list", pos)
        return items, None, pos

    # --- hashes with field expiration (Redis 7.4+, Valkey 9+) ---------------------------------

    def _hash_with_ttls(self, pos: int, count: int, read_field: Callable[[int], _Field],
                        max_expire: int = _HFE_MAX) -> Decoded:
        fields: dict[bytes, bytes] = {}
        expires: dict[bytes, int] = {}
        for _ in range(count):
            name, value, expire_at, pos = read_field(pos)
            fields[name] = value
            if expire_at is not None:
                if self.deep and not 0 <= expire_at <= max_expire:
                    self._flag(f"hash field expire time {expire_at} out of range", pos)
                expires[name] = expire_at
        self._nonempty(count, "hash", pos)
        self._unique(len(fields), count, "hash fields", pos)
        return fields, expires, pos

    def _hash_metadata(self, pos: int) -> Decoded:
        self._need(pos, 8, "a hash's minimum field expire time")
        min_expire = _unpack_u64(self._buf, pos)[0]
        if min_expire > _HFE_MAX + 1:  # 2^48 stands for 'none'; Redis refuses anything above on every load
            raise FormatError(f"hash minimum field expire time {min_expire} out of range", offset=pos)
        count, pos = read_length(self._buf, pos + 8)

        def read_field(at: int) -> _Field:
            ttl, at = read_length(self._buf, at)
            name, at = read_string(self._buf, at)
            value, at = read_string(self._buf, at)
            return name, value, (min_expire + ttl - 1 if ttl else None), at

        return self._hash_with_ttls(pos, count, read_field)

    def _hash_metadata_pre_ga(self, pos: int) -> Decoded:
        count, pos = read_length(self._buf, pos)

        def read_field(at: int) -> _Field:
            expire_at, at = read_length(self._buf, at)
            name, at = read_string(self._buf, at)
            value, at = read_string(self._buf, at)
            return name, value, (expire_at or None), at

        return self._hash_with_ttls(pos, count, read_field)

    def _valkey_hash_2(self, pos: int) -> Decoded:
        count, pos = read_length(self._buf, pos)

        def read_field(at: int) -> _Field:
            name, at = read_string(self._buf, at)
            value, at = read_string(self._buf, at)
            self._need(at, 8, "a field expire time")
            expire_at = _unpack_i64(self._buf, at)[0]
            return name, value, (None if expire_at == -1 else expire_at), at + 8

        return self._hash_with_ttls(pos, count, read_field, _VALKEY_HFE_MAX)

    def _hash_listpack_ex(self, pos: int) -> Decoded:
        self._need(pos, 8, "a hash's minimum field expire time")
        return self._hash_listpack_ex_pre_ga(pos + 8)

    def _hash_listpack_ex_pre_ga(self, pos: int) -> Decoded:
        entries, end = self._blob(pos, decode_listpack, "listpack")
        if len(entries) % 3:
            raise FormatError(f"listpack of a hash with field TTLs holds {len(entries)} entries, "
                              "not a multiple of 3", offset=pos)
        triples = iter(range(0, len(entries), 3))

        def read_field(at: int) -> _Field:
            i = next(triples)
            expire_at = entries[i + 2]
            if expire_at.__class__ is not int:
                raise FormatError("hash field expire time is not an integer entry", offset=pos)
            return as_bytes(entries[i]), as_bytes(entries[i + 1]), (expire_at or None), at

        fields, expires, _ = self._hash_with_ttls(end, len(entries) // 3, read_field)
        self._ttls_first_soonest_first(entries[2::3], end)
        return fields, expires, end

    def _ttls_first_soonest_first(self, ttls: list[int], pos: int) -> None:
        """A listpack hash keeps its fields with a TTL first, soonest first, then those without (0);
        Redis 7.4+'s sanitizer refuses any other order (deep mode only, as there)."""
        if not self.deep:
            return
        for index in range(1, len(ttls)):
            before, after = ttls[index - 1], ttls[index]
            if after and (not before or after < before):
                self._flag(f"hash field {index} has a TTL ({after}) after a field with "
                           f"{'a later one' if before else 'none'}: TTLs must come first, soonest first", pos)
                return

    # --- streams ------------------------------------------------------------------------------

    def _stream(self, pos: int, version: int) -> Decoded:
        buf = self._buf
        node_count, pos = read_length(buf, pos)
        nodes: dict[bytes, list[StreamEntry]] = {}
        shapes: dict[bytes, Node] = {}  # where the file splits the stream: serve keeps Redis's nodes
        deleted = 0
        for _ in range(node_count):
            key_at = pos
            node_key, pos = read_string(buf, pos)
            if len(node_key) != 16:
                raise FormatError(f"stream node key must be 16 bytes, found {len(node_key)}",
                                  offset=key_at)
            if node_key in nodes:
                raise FormatError("stream node key stored twice (Redis: 'Listpack re-added with existing key')",
                                  offset=key_at)
            node_at = pos
            (values, size), pos = self._blob(pos, _listpack_and_size, "stream node listpack")
            nodes[node_key] = []
            try:
                shapes[node_key] = self._stream_node(StreamId(*_unpack_id(node_key)), values, nodes[node_key],
                                                     node_at, size)
                deleted += shapes[node_key].deleted
            except (IndexError, TypeError, ValueError):
                raise FormatError("stream node listpack is inconsistent", offset=node_at) from None
            except FormatError as error:
                raise error.located(base=node_at) from None
        # the servers keep nodes in a radix tree by key: the order they are stored in does not matter
        entries = [entry for key in sorted(nodes) for entry in nodes[key]]
        length, pos = read_length(buf, pos)
        last_ms, pos = read_length(buf, pos)
        last_seq, pos = read_length(buf, pos)
        stream = Stream(length, StreamId(last_ms, last_seq), entries, [], deleted_entries=deleted,
                        nodes=[shapes[key] for key in sorted(shapes)])
        if version >= 2:
            first_ms, pos = read_length(buf, pos)
            first_seq, pos = read_length(buf, pos)
            deleted_ms, pos = read_length(buf, pos)
            deleted_seq, pos = read_length(buf, pos)
            stream.first_id = StreamId(first_ms, first_seq)
            stream.max_deleted_id = StreamId(deleted_ms, deleted_seq)
            stream.entries_added, pos = read_length(buf, pos)
        if self.deep:
            self._check_stream(stream, pos)
        group_count, pos = read_length(buf, pos)
        for _ in range(group_count):
            group, pos = self._stream_group(pos, version)
            stream.groups.append(group)
        if version >= 4:
            stream.idmp, pos = self._stream_idmp(pos)
        return stream, None, pos

    def _stream_idmp(self, pos: int) -> tuple[StreamIdmp, int]:
        """Stream v4+: the idempotent producers, with the ranges and uniqueness the loader enforces."""
        buf, at = self._buf, pos
        duration, pos = read_length(buf, pos)
        max_entries, pos = read_length(buf, pos)
        if not 1 <= duration <= _IDMP_MAX_DURATION or not 1 <= max_entries <= _IDMP_MAX_ENTRIES:
            raise FormatError(f"stream IDMP duration {duration} s or max entries {max_entries} out of range "
                              f"(1-{_IDMP_MAX_DURATION}, 1-{_IDMP_MAX_ENTRIES})", offset=at)
        producer_count, pos = read_length(buf, pos)
        producers: list[IdmpProducer] = []
        seen: set[bytes] = set()
        for _ in range(producer_count):
            pid_at = pos
            pid, pos = read_string(buf, pos)
            if pid in seen:
                raise FormatError(f"stream IDMP producer {pid!r} stored twice", offset=pid_at)
            seen.add(pid)
            entry_count, pos = read_length(buf, pos)
            entries = []
            for _ in range(entry_count):
                iid, pos = read_string(buf, pos)
                ms, pos = read_length(buf, pos)
                seq, pos = read_length(buf, pos)
                entries.append((iid, StreamId(ms, seq)))
            producers.append(IdmpProducer(pid, entries))
        added, pos = read_length(buf, pos)
        duplicates, pos = read_length(buf, pos)
        return StreamIdmp(duration, max_entries, producers, added, duplicates), pos

    def _stream_node(self, master: StreamId, values: list, entries: list[StreamEntry], node_at: int,
                     size: int) -> Node:
        """Decode one node listpack (§6.4) of ``size`` bytes; return its shape (live and deleted entries,
        the last one's id, the bytes besides the two counters)."""
        count, deleted, field_count = values[0], values[1], values[2]
        master_fields = [as_bytes(v) for v in values[3 : 3 + field_count]]
        at = 3 + field_count
        if values[at] != 0:
            raise FormatError("stream node master entry is not terminated by 0")
        at += 1
        live = dead = ms_delta = seq_delta = 0
        end = len(values)
        while at < end:
            flags, ms_delta, seq_delta = values[at], values[at + 1], values[at + 2]
            at += 3
            if flags & _STREAM_SAMEFIELDS:
                fields = list(zip(master_fields, map(as_bytes, values[at : at + field_count]), strict=True))
                at += field_count
                expected_lp_count = field_count + 3
            else:
                pair_count = values[at]
                flat = values[at + 1 : at + 1 + 2 * pair_count]
                if len(flat) != 2 * pair_count:
                    raise FormatError("stream entry runs past its node")
                fields = [(as_bytes(flat[i]), as_bytes(flat[i + 1])) for i in range(0, len(flat), 2)]
                at += 1 + 2 * pair_count
                expected_lp_count = 2 * pair_count + 4
            if self.deep and values[at] != expected_lp_count:
                raise FormatError(f"stream entry back-count is {values[at]}, expected {expected_lp_count}")
            at += 1
            if flags & _STREAM_DELETED:
                dead += 1
            else:
                live += 1
                entries.append(StreamEntry(StreamId(id_part(master.ms, ms_delta), id_part(master.seq, seq_delta)),
                                           fields))
        if self.deep and (live != count or dead != deleted):
            self._flag(f"stream node header says {count} live and {deleted} deleted entries, "
                       f"found {live} and {dead}", node_at)
        counters = sum(int_size(v) if isinstance(v, int) else value_size(v) for v in (count, deleted))
        return Node(master, master_fields, size - counters, live, dead,
                    StreamId(id_part(master.ms, ms_delta), id_part(master.seq, seq_delta)))

    def _check_stream(self, stream: Stream, pos: int) -> None:
        if stream.length != len(stream.entries):
            self._flag(f"stream length {stream.length} inconsistent with the "
                       f"{len(stream.entries)} valid entries it holds", pos)
        if stream.entries and stream.entries[-1].id > stream.last_id:  # Redis 6.2-8.2, Valkey 8.1-9.1 load it
            self._flag(f"stream last id {stream.last_id} is lower than its last entry "
                       f"{stream.entries[-1].id}", pos, Irregularity)

    def _stream_group(self, pos: int, version: int) -> tuple[ConsumerGroup, int]:
        buf = self._buf
        name, pos = read_string(buf, pos)
        last_ms, pos = read_length(buf, pos)
        last_seq, pos = read_length(buf, pos)
        entries_read = None
        if version >= 2:
            entries_read, pos = read_length(buf, pos)
            if entries_read == 0xFFFFFFFFFFFFFFFF:  # -1: unknown, Redis computes it lazily
                entries_read = None
        group = ConsumerGroup(name, StreamId(last_ms, last_seq), entries_read)
        pel_count, pos = read_length(buf, pos)
        by_id: dict[StreamId, PendingEntry] = {}
        for _ in range(pel_count):
            self._need(pos, 24, "a pending entry")
            entry_id = StreamId(*_unpack_id(buf, pos))
            delivery_time = _unpack_i64(buf, pos + 16)[0]
            delivery_count, pos = read_length(buf, pos + 24)
            pending = PendingEntry(entry_id, None, delivery_time, delivery_count)
            if entry_id in by_id:
                raise FormatError(f"duplicate id {entry_id} in the PEL of group {name!r}", offset=pos)
            by_id[entry_id] = pending
            group.pending.append(pending)
        consumer_count, pos = read_length(buf, pos)
        for _ in range(consumer_count):
            consumer, pos = self._stream_consumer(pos, version, by_id, name)
            group.consumers.append(consumer)
        if version >= 5:
            group.nacked, pos = self._stream_nacked(pos, by_id, name)
        if self.deep:
            released = set(group.nacked or ())
            orphans = [p.id for p in group.pending if p.consumer is None and p.id not in released]
            if orphans:
                self._flag(f"group {name!r}: pending entry {orphans[0]} has no consumer", pos)
        return group, pos

    def _stream_nacked(self, pos: int, by_id: dict, group: bytes) -> tuple[list[StreamId], int]:
        """Stream v5: ids released by XNACK; each must be in the group's PEL and owned by no consumer."""
        buf = self._buf
        count, pos = read_length(buf, pos)
        self._need(pos, 16 * count, "a group's NACK zone")
        nacked = []
        for _ in range(count):
            entry_id = StreamId(*_unpack_id(buf, pos))
            pending = by_id.get(entry_id)
            if pending is None:
                raise FormatError(f"NACK zone id {entry_id} of group {group!r} is not in the group's PEL", offset=pos)
            if pending.consumer is not None:
                raise FormatError(f"NACK zone id {entry_id} of group {group!r} is owned by consumer "
                                  f"{pending.consumer!r}", offset=pos)
            nacked.append(entry_id)
            pos += 16
        return nacked, pos

    # --- RDB 14 arrays and RDB 15 template hashes (docs/formats.md §13) -------------------------

    def _array(self, pos: int) -> Decoded:
        buf, at = self._buf, pos
        count, pos = read_length(buf, pos)
        if count == 0:
            raise FormatError("empty array (count 0): Redis refuses it", offset=at)
        has_cursor, pos = read_length(buf, pos)
        if has_cursor > 1:
            raise FormatError(f"array insert-cursor flag must be 0 or 1, found {has_cursor}", offset=pos)
        insert_index = None
        if has_cursor:
            insert_index, pos = read_length(buf, pos)
        elements: list[tuple[int, int, bytes | int | float]] = []
        for _ in range(count):
            index_at = pos
            index, pos = read_length(buf, pos)
            if index == _ARRAY_NO_INDEX:
                raise FormatError("array element index 2^64-1 is reserved", offset=index_at)
            tag, pos = read_length(buf, pos)
            value, pos = self._array_value(tag, pos)
            elements.append((index, tag, value))
        return SparseArray(elements, insert_index), None, pos

    def _array_value(self, tag: int, pos: int) -> tuple[bytes | int | float, int]:
        if tag == ArrayTag.INT:
            self._need(pos, 8, "an array integer")
            return _unpack_i64(self._buf, pos)[0], pos + 8
        if tag == ArrayTag.FLOAT:
            self._need(pos, 8, "an array double")
            return _unpack_f64(self._buf, pos)[0], pos + 8
        if tag not in (ArrayTag.SDS, ArrayTag.SMALLSTR):
            raise FormatError(f"unknown array element tag {tag}", offset=pos)
        value, end = read_string(self._buf, pos)
        if tag == ArrayTag.SMALLSTR and len(value) > _ARRAY_SMALLSTR_MAX:
            raise FormatError(f"array short string of {len(value)} bytes (at most {_ARRAY_SMALLSTR_MAX})",
                              offset=pos)
        return value, end

    def _template_fields(self, template_id: int, at: int) -> list[bytes]:
        fields = self._templates.get(template_id)
        if fields is None:
            raise FormatError(f"invalid hash template id {template_id}: no HASH_TEMPLATE record defines it",
                              offset=at)
        return fields

    def _inline_template_fields(self, pos: int) -> tuple[list[bytes], int]:
        """Types 29 and 31 carry their field names: a listpack of them, or a count and strings."""
        buf, at = self._buf, pos
        fields_format, pos = read_length(buf, pos)
        if fields_format == TemplateFields.LISTPACK:
            entries, pos = self._blob(pos, decode_listpack, "template field listpack")
            fields = [as_bytes(e) for e in entries]
        elif fields_format == TemplateFields.RAW:
            fields, pos = self._counted(pos, "template field list", lambda p: read_string(buf, p))
        else:
            raise FormatError(f"unknown template field format {fields_format} (0: listpack, 1: raw)", offset=at)
        if not fields:
            raise FormatError("hash template has zero fields", offset=at)
        return fields, pos

    def _template_values_listpack(self, fields: list[bytes] | None, pos: int) -> Decoded:
        """A values listpack: the template id, then one value per field (types 29 and 30)."""
        at = pos
        entries, pos = self._blob(pos, decode_listpack, "template values listpack")
        if not entries or entries[0].__class__ is not int:
            raise FormatError("template values listpack: first entry is not an integer template id", offset=at)
        template_id = entries[0]
        if fields is None:
            fields = self._template_fields(template_id, at)
        if len(entries) != len(fields) + 1:
            raise FormatError(f"template values listpack entry count {len(entries)} does not match the "
                              f"template's {len(fields)} fields plus its id", offset=at)
        return self._template_hash(fields, map(as_bytes, entries[1:]), template_id, pos)

    def _template_hash(self, fields: list[bytes], values: Iterable[bytes], template_id: int | None,
                       pos: int) -> Decoded:
        return (dict(zip(fields, values, strict=True)), template_id), None, pos

    def _hash_template_listpack(self, pos: int) -> Decoded:
        fields, pos = self._inline_template_fields(pos)
        (value, _), _, pos = self._template_values_listpack(fields, pos)
        return (value, None), None, pos  # self-contained: the id it names is not a reference

    def _hash_template_listpack_ref(self, pos: int) -> Decoded:
        return self._template_values_listpack(None, pos)

    def _hash_template_array(self, pos: int) -> Decoded:
        fields, pos = self._inline_template_fields(pos)
        values, pos = self._strings(len(fields), pos)
        return self._template_hash(fields, values, None, pos)

    def _hash_template_array_ref(self, pos: int) -> Decoded:
        at = pos
        template_id, pos = read_length(self._buf, pos)
        fields = self._template_fields(template_id, at)
        values, pos = self._strings(len(fields), pos)
        return self._template_hash(fields, values, template_id, pos)

    def _strings(self, count: int, pos: int) -> tuple[list[bytes], int]:
        values = []
        for _ in range(count):
            value, pos = read_string(self._buf, pos)
            values.append(value)
        return values, pos

    def _stream_consumer(self, pos: int, version: int, by_id: dict[StreamId, PendingEntry],
                         group: bytes) -> tuple[Consumer, int]:
        buf = self._buf
        name, pos = read_string(buf, pos)
        self._need(pos, 8, "a consumer's seen time")
        seen_time = _unpack_i64(buf, pos)[0]
        pos += 8
        active_time = None
        if version >= 3:
            self._need(pos, 8, "a consumer's active time")
            active_time = _unpack_i64(buf, pos)[0]  # -1: created but never active
            pos += 8
        consumer = Consumer(name, seen_time, active_time)
        pending_count, pos = read_length(buf, pos)
        self._need(pos, 16 * pending_count, "a consumer's pending ids")
        for _ in range(pending_count):
            entry_id = StreamId(*_unpack_id(buf, pos))
            owned = by_id.get(entry_id)
            if owned is None:
                raise FormatError(f"consumer {name!r} of group {group!r} owns {entry_id}, which is not "
                                  "in the group's PEL", offset=pos)
            owned.consumer = name
            consumer.pending.append(entry_id)
            pos += 16
        return consumer, pos


_PER_KEY_OPCODES = frozenset(int(op) for op in (Opcode.EXPIRETIME_MS, Opcode.EXPIRETIME, Opcode.IDLE, Opcode.FREQ))
_EOF = int(Opcode.EOF)
_KEY_META = int(Opcode.KEY_META)
_KEY_META_MAX_CLASSES = 7  # Redis refuses more module metadata classes on one key
_TEMPLATE_HASHES = frozenset(int(t) for t in (RdbType.HASH_TMPL_LP, RdbType.HASH_TMPL_LP_REF,
                                               RdbType.HASH_TMPL_ARRAY, RdbType.HASH_TMPL_ARRAY_REF))
_IDMP_MAX_DURATION = 86400  # seconds (Redis CONFIG_STREAM_IDMP_MAX_DURATION)
_IDMP_MAX_ENTRIES = 10000  # iids per producer (Redis CONFIG_STREAM_IDMP_MAX_MAXSIZE)
_ARRAY_NO_INDEX = (1 << 64) - 1  # "no index": never a stored element's
_ARRAY_SMALLSTR_MAX = 7  # bytes, on 64-bit builds


def _template_order(name: bytes) -> tuple[int, bytes]:
    """Template field names are sorted by length first, then bytewise."""
    return len(name), name
_MODULE_UINT = 2
#: modules whose values rdbtool decodes (their layout in docs/formats.md); others stay opaque
_MODULE_DECODERS: dict[str, Callable[[bytes, int], Any]] = {vectorset.MODULE_NAME: vectorset.decode_vectorset}


def _decode_module(name: str, encver: int, payload: bytes, start: int) -> Any:
    """The decoded value of a known module, its errors placed in the file; None for other modules."""
    decode = _MODULE_DECODERS.get(name)
    if decode is None:
        return None
    try:
        return decode(payload, encver)
    except RdbtoolError as error:
        raise error.located(base=start) from None


def open_rdb(path: str | os.PathLike[str], *, deep: bool = False, check_crc: bool = True) -> RdbFile:
    """Open an RDB file (``"-"`` for standard input) for streaming its records.

    >>> with open_rdb("dump.rdb") as rdb:          # doctest: +SKIP
    ...     for record in rdb:
    ...         print(record)
    """
    return RdbFile(path, deep=deep, check_crc=check_crc)


class RdbFile:
    """An open RDB file: ``header`` at once, records by iterating, ``checksum`` at the end."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        deep: bool = False,
        check_crc: bool = True,
        keep_values: bool = True,
    ) -> None:
        self.source = MappedSource(path)
        try:
            self.reader = RdbReader(self.source, deep=deep, check_crc=check_crc, keep_values=keep_values)
        except RdbtoolError as error:
            self.source.close()
            raise error.located(path=self.source.name) from None
        self.header = self.reader.header
        self.path = self.source.name

    def __iter__(self) -> Iterator[Record]:
        return iter(self.reader)

    def iter_batches(self) -> Iterator[tuple[int | None, list[Record]]]:
        return self.reader.iter_batches()

    def key_records(self) -> Iterator[KeyRecord]:
        return (r for r in self.reader if r.__class__ is KeyRecord)

    @property
    def checksum(self) -> Checksum | None:
        return self.reader.checksum

    @property
    def size(self) -> int:
        return self.source.size

    def close(self) -> None:
        self.source.close()

    def __enter__(self) -> RdbFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _listpack_and_size(blob: bytes, deep: bool) -> tuple[list, int]:
    """A stream node's listpack: its values, and its bytes (what stream-node-max-bytes holds it to)."""
    return decode_listpack(blob, deep), len(blob)
