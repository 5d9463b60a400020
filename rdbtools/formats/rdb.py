"""The RDB file (formats.md §1–§7), declared once.

Grammar::

    file      := header record* EOF checksum? trailing-bytes
    header    := "REDIS" 4 digits | "VALKEY" 3 digits             version 1..15, or 80 for Valkey 9
    record    := AUX str str | SELECTDB len | RESIZEDB len len | MODULE_AUX module-aux
               | FUNCTION2 str | FUNCTION_PRE_GA str str len [str] str | SLOT_INFO len len len
               | SLOT_IMPORT str len (len len)*                     (Valkey files only)
               | HASH_TEMPLATE len len str*                         (RDB 15: id, field names)
               | EXPIRETIME_MS i64le | EXPIRETIME i32le | IDLE len | FREQ u8    (apply to the next key)
               | KEY_META len (u32 module-opcodes)*                 (RDB 13, Redis files: the next key)
               | type key-str value                                 a key entry, value by type (§4)
    checksum  := u64le CRC64 (Jones, reflected) of every byte before it; only when version >= 5

Per-key opcodes are records of their own here, exactly as Redis's loader reads them. Values that
hold an embedded structure keep it as its ``str`` at this level; ``listpack``, ``ziplist``,
``intset`` and ``zipmap`` declare what is inside. Types 22, 23 and 243 mean other things in Valkey
files: the schema asks the context whether it is reading one (``valkey=True`` or the header).
RDB 13-15 (Redis 8.6-8.10) are described in docs/formats.md §13.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import IntEnum
from io import BytesIO
from typing import Any, BinaryIO, NoReturn

from construct import (
    Array,
    Byte,
    Bytes,
    Computed,
    Const,
    Construct,
    ConstructError,
    Container,
    Error,
    Float32l,
    Float64l,
    GreedyBytes,
    If,
    Int32sl,
    Int32ul,
    Int64sl,
    Int64ub,
    Int64ul,
    ListContainer,
    Peek,
    RepeatUntil,
    SizeofError,
    StreamError,
    Struct,
    Switch,
    this,
)

from rdbtools.errors import FormatError, RdbtoolError, TruncatedError, UnsupportedError
from rdbtools.formats.listpack import decode_listpack
from rdbtools.formats.primitives import AsciiDouble, Length, RdbLength, RdbString

MAX_REDIS_VERSION = 15
VALKEY_VERSIONS = frozenset({80})
FIRST_CHECKSUM_VERSION = 5


class Opcode(IntEnum):
    EOF = 0xFF
    SELECTDB = 0xFE
    EXPIRETIME = 0xFD  # seconds; never written since RDB 3
    EXPIRETIME_MS = 0xFC  # RDB 3+
    RESIZEDB = 0xFB  # RDB 7+: sizing hints
    AUX = 0xFA  # RDB 7+
    FREQ = 0xF9  # RDB 9+: LFU counter
    IDLE = 0xF8  # RDB 9+: LRU idle seconds
    MODULE_AUX = 0xF7  # RDB 9+
    FUNCTION_PRE_GA = 0xF6  # 7.0-rc1/rc2 only
    FUNCTION2 = 0xF5  # RDB 10+
    SLOT_INFO = 0xF4  # RDB 12, Redis cluster mode
    SLOT_IMPORT = 0xF3  # Valkey 80; in Redis files (RDB 13+) the same byte is KEY_META
    KEY_META = 0xF3  # RDB 13, Redis files: module metadata classes of the key that follows
    HASH_TEMPLATE = 0xF2  # RDB 15: one hash template (id, field names) before the keys using it


class RdbType(IntEnum):
    STRING = 0
    LIST = 1
    SET = 2
    ZSET = 3
    HASH = 4
    ZSET_2 = 5  # RDB 8+: binary double scores
    MODULE_PRE_GA = 6  # 4.0 RCs: cannot be skipped without the module
    MODULE_2 = 7
    HASH_ZIPMAP = 9
    LIST_ZIPLIST = 10
    SET_INTSET = 11
    ZSET_ZIPLIST = 12
    HASH_ZIPLIST = 13
    LIST_QUICKLIST = 14
    STREAM_LISTPACKS = 15
    HASH_LISTPACK = 16
    ZSET_LISTPACK = 17
    LIST_QUICKLIST_2 = 18
    STREAM_LISTPACKS_2 = 19
    SET_LISTPACK = 20
    STREAM_LISTPACKS_3 = 21
    HASH_METADATA_PRE_GA = 22  # 7.4 RCs
    HASH_LISTPACK_EX_PRE_GA = 23  # 7.4 RCs
    HASH_METADATA = 24  # 7.4+: hashtable hash with field TTLs
    HASH_LISTPACK_EX = 25  # 7.4+: listpack hash with field TTLs
    STREAM_LISTPACKS_4 = 26  # RDB 13 (8.6): stream v3 + idempotent-producer (IDMP) section
    STREAM_LISTPACKS_5 = 27  # RDB 14 (8.8): + a NACK zone per consumer group
    ARRAY = 28  # RDB 14 (8.8): sparse array of tagged values
    HASH_TMPL_LP = 29  # RDB 15 (8.10): self-contained template hash, values in a listpack
    HASH_TMPL_LP_REF = 30  # RDB 15: values listpack, field names from a HASH_TEMPLATE record
    HASH_TMPL_ARRAY = 31  # RDB 15: self-contained template hash, values as strings
    HASH_TMPL_ARRAY_REF = 32  # RDB 15: values as strings, field names from a HASH_TEMPLATE record


class ValkeyType(IntEnum):
    HASH_2 = 22  # Valkey 9 (RDB 80): hashtable hash with field TTLs


class ModuleOpcode(IntEnum):
    EOF = 0
    SINT = 1
    UINT = 2
    FLOAT = 3
    DOUBLE = 4
    STRING = 5


class ArrayTag(IntEnum):
    """How a sparse array element's value is stored (docs/formats.md §13.3)."""

    SDS = 0  # a str
    INT = 1  # i64 LE
    FLOAT = 2  # f64 LE
    SMALLSTR = 3  # a str of at most 7 bytes


class TemplateFields(IntEnum):
    """How a self-contained template hash stores its field names (docs/formats.md §13.4)."""

    LISTPACK = 0
    RAW = 1


class QuicklistContainer(IntEnum):
    PLAIN = 1  # one large element, stored raw
    PACKED = 2  # a listpack of elements


@dataclass(frozen=True)
class TypeInfo:
    logical: str  # what TYPE reports
    encoding: str  # redis-check-rdb's name for the stored type
    since: int  # first RDB version that has it


TYPE_INFO: dict[int, TypeInfo] = {
    RdbType.STRING: TypeInfo("string", "string", 1),
    RdbType.LIST: TypeInfo("list", "list-linked", 1),
    RdbType.SET: TypeInfo("set", "set-hashtable", 1),
    RdbType.ZSET: TypeInfo("zset", "zset-v1", 1),
    RdbType.HASH: TypeInfo("hash", "hash-hashtable", 1),
    RdbType.ZSET_2: TypeInfo("zset", "zset-v2", 8),
    RdbType.MODULE_PRE_GA: TypeInfo("module", "module-pre-release", 8),
    RdbType.MODULE_2: TypeInfo("module", "module-value", 8),
    RdbType.HASH_ZIPMAP: TypeInfo("hash", "hash-zipmap", 2),
    RdbType.LIST_ZIPLIST: TypeInfo("list", "list-ziplist", 2),
    RdbType.SET_INTSET: TypeInfo("set", "set-intset", 2),
    RdbType.ZSET_ZIPLIST: TypeInfo("zset", "zset-ziplist", 2),
    RdbType.HASH_ZIPLIST: TypeInfo("hash", "hash-ziplist", 4),
    RdbType.LIST_QUICKLIST: TypeInfo("list", "quicklist", 7),
    RdbType.STREAM_LISTPACKS: TypeInfo("stream", "stream", 9),
    RdbType.HASH_LISTPACK: TypeInfo("hash", "hash-listpack", 10),
    RdbType.ZSET_LISTPACK: TypeInfo("zset", "zset-listpack", 10),
    RdbType.LIST_QUICKLIST_2: TypeInfo("list", "quicklist-v2", 10),
    RdbType.STREAM_LISTPACKS_2: TypeInfo("stream", "stream-v2", 10),
    RdbType.SET_LISTPACK: TypeInfo("set", "set-listpack", 11),
    RdbType.STREAM_LISTPACKS_3: TypeInfo("stream", "stream-v3", 11),
    RdbType.HASH_METADATA_PRE_GA: TypeInfo("hash", "hash-hashtable-md-pre-release", 12),
    RdbType.HASH_LISTPACK_EX_PRE_GA: TypeInfo("hash", "hash-listpack-md-pre-release", 12),
    RdbType.HASH_METADATA: TypeInfo("hash", "hash-hashtable-md", 12),
    RdbType.HASH_LISTPACK_EX: TypeInfo("hash", "hash-listpack-md", 12),
    RdbType.STREAM_LISTPACKS_4: TypeInfo("stream", "stream-v4", 13),
    RdbType.STREAM_LISTPACKS_5: TypeInfo("stream", "stream-v5", 14),
    RdbType.ARRAY: TypeInfo("array", "array", 14),
    RdbType.HASH_TMPL_LP: TypeInfo("hash", "hash-template-listpack", 15),
    RdbType.HASH_TMPL_LP_REF: TypeInfo("hash", "hash-template-listpack-ref", 15),
    RdbType.HASH_TMPL_ARRAY: TypeInfo("hash", "hash-template-array", 15),
    RdbType.HASH_TMPL_ARRAY_REF: TypeInfo("hash", "hash-template-array-ref", 15),
}
VALKEY_TYPE_INFO: dict[int, TypeInfo] = {
    **{t: info for t, info in TYPE_INFO.items() if t < 22},  # 22+ are Redis's own
    ValkeyType.HASH_2: TypeInfo("hash", "hash-2", 80),
}
STREAM_VERSIONS = {RdbType.STREAM_LISTPACKS: 1, RdbType.STREAM_LISTPACKS_2: 2, RdbType.STREAM_LISTPACKS_3: 3,
                   RdbType.STREAM_LISTPACKS_4: 4, RdbType.STREAM_LISTPACKS_5: 5}


def type_info(type_byte: int, valkey: bool = False) -> TypeInfo:
    return (VALKEY_TYPE_INFO if valkey else TYPE_INFO)[type_byte]


def check_version(magic: str, version: int) -> None:
    """Refuse what we cannot read: newer versions by name, impossible ones as corrupt."""
    if magic == "REDIS":
        if version > MAX_REDIS_VERSION:
            raise UnsupportedError(
                f"RDB format version {version} (Redis 8.12 or newer) is newer than the versions rdbtool "
                f"reads (1-{MAX_REDIS_VERSION})")
        if version < 1:
            raise FormatError(f"can't handle RDB format version {version}")
    elif version not in VALKEY_VERSIONS:
        if version > max(VALKEY_VERSIONS):
            raise UnsupportedError(f"Valkey RDB format version {version} (Valkey 9.2 or newer) is newer than "
                                   "the versions rdbtool reads (80)")
        raise FormatError(f"can't handle Valkey RDB format version {version}")


_MODULE_CHARSET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def module_name(module_id: int) -> tuple[str, int]:
    """A module type id: nine 6-bit characters, then a 10-bit encoding version (§6.6)."""
    name = "".join(_MODULE_CHARSET[(module_id >> (64 - 6 * (i + 1))) & 0x3F] for i in range(9))
    return name, module_id & 0x3FF


def module_type_id(name: str, encver: int) -> int:
    """The inverse of ``module_name``: the id a module type with this name writes."""
    return sum(_MODULE_CHARSET.index(c) << (64 - 6 * (i + 1)) for i, c in enumerate(name)) | encver


#: keymeta.c's own table ends "_-", the reverse of the module type names' (docs/formats.md §13.1)
_KEY_META_CHARSET = _MODULE_CHARSET[:62] + "_-"


def key_meta_class(class_spec: int) -> tuple[str, int, int]:
    """A KEY_META class spec: four 6-bit characters, a 5-bit version and 3 flag bits."""
    name = "".join(_KEY_META_CHARSET[(class_spec >> (32 - 6 * (i + 1))) & 0x3F] for i in range(4))
    return name, (class_spec >> 3) & 0x1F, class_spec & 0x7


def key_meta_spec(name: str, version: int, flags: int) -> int:
    """The inverse of key_meta_class."""
    spec = 0
    for char in name:
        spec = spec << 6 | _KEY_META_CHARSET.index(char)
    return spec << 8 | (version & 0x1F) << 3 | (flags & 0x7)


# --- schemas ---------------------------------------------------------------------------------


def _is_valkey(ctx: Container) -> bool:
    """Whether the file being read is a Valkey (>= 80) one: from the header, or passed in."""
    root = ctx._root
    return bool(root.get("valkey")) if "valkey" in root else bool(ctx._params.get("valkey", False))


Header = Struct(
    "signature" / Bytes(9),
    "magic" / Computed(lambda c: "VALKEY" if c.signature.startswith(b"VALKEY") else "REDIS"),
    "version" / Computed(lambda c: int(c.signature[len(c.magic):]) if c.signature[len(c.magic):].isdigit()
                         else -1),
)

#: a module's opcode stream: (opcode, value) pairs ending with opcode 0 (§6.6)
ModuleOpcodes = RepeatUntil(
    lambda item, items, ctx: item.opcode == ModuleOpcode.EOF,
    Struct(
        "opcode" / Length,
        "value" / Switch(this.opcode, {
            ModuleOpcode.EOF: Computed(None),
            ModuleOpcode.SINT: Length,  # the two's-complement u64 of an i64
            ModuleOpcode.UINT: Length,
            ModuleOpcode.FLOAT: Float32l,
            ModuleOpcode.DOUBLE: Float64l,
            ModuleOpcode.STRING: RdbString,
        }, default=Error),
    ),
)

StreamIdLengths = Struct("ms" / Length, "seq" / Length)
StreamIdRaw = Struct("ms" / Int64ub, "seq" / Int64ub)  # 128-bit big-endian, not a str

PendingEntry = Struct(
    "id" / StreamIdRaw,
    "delivery_time" / Int64sl,  # unix ms, signed like every Redis mstime_t
    "delivery_count" / Length,
)


def Consumer(version: int) -> Construct:
    return Struct(
        "name" / RdbString,
        "seen_time" / Int64sl,
        "active_time" / If(version >= 3, Int64sl),  # stream v3 (7.2+); -1: never active
        "pending" / Counted(StreamIdRaw),  # each id must be in the group PEL
    )


def ConsumerGroup(version: int) -> Construct:
    return Struct(
        "name" / RdbString,
        "last_delivered_id" / StreamIdLengths,
        "entries_read" / If(version >= 2, Length),  # v2+; -1 (unknown) is 0x81 and eight 0xFF
        "pending" / Counted(PendingEntry),
        "consumers" / Counted(Consumer(version)),
        "nacked" / If(version >= 5, Counted(StreamIdRaw)),  # v5 (8.8): PEL ids released by XNACK, no owner
    )


def StreamIdmp() -> Construct:
    """v4+ (8.6): idempotent producers, after the groups (docs/formats.md §13.2)."""
    return Struct(
        "duration" / Length,  # seconds an iid is remembered: 1..86400
        "max_entries" / Length,  # iids kept per producer: 1..10000
        "producers" / Counted(Struct(
            "pid" / RdbString,
            "entries" / Counted(Struct("iid" / RdbString, "id" / StreamIdLengths)),  # oldest first
        )),
        "iids_added" / Length,
        "iids_duplicates" / Length,
    )


def Stream(version: int) -> Construct:
    return Struct(
        "nodes" / Counted(Struct(
            "master_id" / RdbString,  # 16 bytes: the node's master entry id, big-endian
            "listpack" / RdbString,  # §6.4 stream node listpack
        )),
        "length" / Length,
        "last_id" / StreamIdLengths,
        "first_id" / If(version >= 2, StreamIdLengths),
        "max_deleted_id" / If(version >= 2, StreamIdLengths),
        "entries_added" / If(version >= 2, Length),
        "groups" / Counted(ConsumerGroup(version)),
        "idmp" / If(version >= 4, StreamIdmp()),
    )


class Counted(Construct):
    """``len`` count, then that many items; the count keeps its stored form when it was not minimal."""

    def __init__(self, subcon: Construct) -> None:
        super().__init__()
        self.subcon = subcon

    def _parse(self, stream: BinaryIO, context: Any, path: str) -> Any:
        count = Length._parse(stream, context, path)
        items = ListContainer(self.subcon._parsereport(stream, context, path) for _ in range(count))
        if getattr(count, "form", None) is not None:
            items.count_form = count.form
        return items

    def _build(self, obj: Any, stream: BinaryIO, context: Any, path: str) -> Any:
        form = getattr(obj, "count_form", None)
        Length._build(RdbLength(len(obj), form) if form is not None else len(obj), stream, context, path)
        for item in obj:
            self.subcon._build(item, stream, context, path)
        return obj

    def _sizeof(self, context: Any, path: str) -> NoReturn:
        raise SizeofError("a counted array has a variable size")


class Refuse(Construct):
    """A part of the format that is well-formed but cannot be read (it has no self-describing layout)."""

    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason

    def _parse(self, stream: BinaryIO, context: Any, path: str) -> Any:
        raise UnsupportedError(self.reason)

    def _build(self, obj: Any, stream: BinaryIO, context: Any, path: str) -> Any:
        raise UnsupportedError(self.reason)


HashFieldWithTtl = Struct("ttl" / Length, "field" / RdbString, "value" / RdbString)

#: type 28 (8.8): elements in ascending index order, each a tagged value (docs/formats.md §13.3)
SparseArray = Struct(
    "count" / Length,  # stored elements, > 0
    "has_insert_index" / Length,  # 0 or 1
    "insert_index" / If(this.has_insert_index == 1, Length),  # the ARINSERT cursor
    "elements" / Array(this.count, Struct(
        "index" / Length,
        "tag" / Length,
        "value" / Switch(this.tag, {
            ArrayTag.SDS: RdbString,
            ArrayTag.INT: Int64sl,
            ArrayTag.FLOAT: Float64l,
            ArrayTag.SMALLSTR: RdbString,
        }, default=Error),
    )),
)

#: types 29 and 31: the field names carried inline, as a listpack or as strings
TemplateFieldNames = Struct(
    "fields_format" / Length,
    "names" / Switch(this.fields_format, {
        TemplateFields.LISTPACK: RdbString,
        TemplateFields.RAW: Counted(RdbString),
    }, default=Error),
)


def _templates(ctx: Container) -> dict[int, int]:
    """Template id -> field count of the HASH_TEMPLATE records read so far, as the loader keeps them.

    A whole file keeps them in its root context; a record parsed alone gets them as ``templates=``.
    """
    root = ctx._root
    if "templates" in root:
        return root.templates
    return ctx._params.get("templates", {})


def _register_template(ctx: Container) -> None:
    _templates(ctx)[ctx.id] = len(ctx.fields)


def _template_field_count(ctx: Container) -> int:
    """Type 32 stores no count: the referenced template's field count says how many values follow."""
    templates = _templates(ctx)
    if ctx.template_id not in templates:
        raise FormatError(f"invalid hash template id {ctx.template_id}: no HASH_TEMPLATE record defines it")
    return templates[ctx.template_id]


def _inline_field_count(ctx: Container) -> int:
    """Type 31: as many values as the inline field names (a listpack's entries, or a counted list)."""
    names = ctx.fields.names
    return len(decode_listpack(names)) if ctx.fields.fields_format == TemplateFields.LISTPACK else len(names)


#: opcode 242 (RDB 15): one template's field names, sorted by length then bytes
HashTemplate = Struct(
    "id" / Length,
    "fields" / Counted(RdbString),  # at least one
    "registered" / Computed(_register_template),
)

VALUES: dict[int, Construct] = {  # by type byte
    RdbType.STRING: RdbString,
    RdbType.LIST: Counted(RdbString),
    RdbType.SET: Counted(RdbString),
    RdbType.ZSET: Counted(Struct("member" / RdbString, "score" / AsciiDouble)),
    RdbType.HASH: Counted(Struct("field" / RdbString, "value" / RdbString)),
    RdbType.ZSET_2: Counted(Struct("member" / RdbString, "score" / Float64l)),
    RdbType.MODULE_PRE_GA: Refuse("a pre-release module value (RDB type 6) cannot be read without its module; "
                                  "Redis 7.2+ refuses it too"),
    RdbType.MODULE_2: Struct("module_id" / Length, "opcodes" / ModuleOpcodes),
    RdbType.HASH_ZIPMAP: RdbString,
    RdbType.LIST_ZIPLIST: RdbString,
    RdbType.SET_INTSET: RdbString,
    RdbType.ZSET_ZIPLIST: RdbString,
    RdbType.HASH_ZIPLIST: RdbString,
    RdbType.LIST_QUICKLIST: Counted(RdbString),  # ziplist nodes
    RdbType.STREAM_LISTPACKS: Stream(1),
    RdbType.HASH_LISTPACK: RdbString,
    RdbType.ZSET_LISTPACK: RdbString,
    RdbType.LIST_QUICKLIST_2: Counted(Struct("container" / Length, "data" / RdbString)),
    RdbType.STREAM_LISTPACKS_2: Stream(2),
    RdbType.SET_LISTPACK: RdbString,
    RdbType.STREAM_LISTPACKS_3: Stream(3),
    RdbType.HASH_LISTPACK_EX_PRE_GA: RdbString,  # listpack of field, value, expireAt triples
    RdbType.HASH_METADATA: Struct("min_expire" / Int64ul, "fields" / Counted(HashFieldWithTtl)),
    RdbType.HASH_LISTPACK_EX: Struct("min_expire" / Int64ul, "listpack" / RdbString),
    RdbType.STREAM_LISTPACKS_4: Stream(4),
    RdbType.STREAM_LISTPACKS_5: Stream(5),
    RdbType.ARRAY: SparseArray,
    RdbType.HASH_TMPL_LP: Struct("fields" / TemplateFieldNames, "values_listpack" / RdbString),  # id, values
    RdbType.HASH_TMPL_LP_REF: RdbString,  # listpack: template id, then one value per template field
    RdbType.HASH_TMPL_ARRAY: Struct("fields" / TemplateFieldNames,
                                    "field_values" / Array(_inline_field_count, RdbString)),
    RdbType.HASH_TMPL_ARRAY_REF: Struct("template_id" / Length,
                                        "field_values" / Array(_template_field_count, RdbString)),
}

#: type 22: Redis 7.4-rc hashes with absolute field TTLs, or Valkey 9's HASH_2
HASH_22 = {
    False: Counted(Struct("expire_at" / Length, "field" / RdbString, "value" / RdbString)),
    True: Counted(Struct("field" / RdbString, "value" / RdbString, "expire_at" / Int64sl)),
}



def value_schema(type_byte: int, valkey: bool = False) -> Construct:
    """The schema of a key's value for this type byte (22 depends on the kind of file)."""
    return HASH_22[valkey] if type_byte == 22 else VALUES[type_byte]


#: the value schemas by type byte, and by (22, valkey) for the byte the two kinds of file disagree on
_KEY_VALUES: dict[int | tuple[int, bool], Construct] = dict(VALUES.items())  # (items: a dict's keys are invariant)
_KEY_VALUES.update({(22, False): HASH_22[False], (22, True): HASH_22[True]})

KeyEntry = Struct(
    "type" / Byte,
    "key" / RdbString,
    "value" / Switch(lambda c: (c.type, _is_valkey(c)) if c.type == 22 else c.type, _KEY_VALUES, default=Error),
)

ModuleAux = Struct(
    "module_id" / Length,
    "when_opcode" / Const(ModuleOpcode.UINT, Length),
    "when" / Length,  # 1: before the keys, 2: after them
    "opcodes" / ModuleOpcodes,
)

FunctionPreGa = Struct(
    "name" / RdbString,
    "engine" / RdbString,
    "has_description" / Length,
    "description" / If(this.has_description != 0, RdbString),
    "code" / RdbString,
)

OPCODE_BODIES: dict[int, Construct] = {  # by opcode byte
    Opcode.EOF: Struct(),
    Opcode.SELECTDB: Struct("db" / Length),
    Opcode.EXPIRETIME: Struct("seconds" / Int32sl),
    Opcode.EXPIRETIME_MS: Struct("ms" / Int64sl),
    Opcode.RESIZEDB: Struct("db_size" / Length, "expires_size" / Length),
    Opcode.AUX: Struct("name" / RdbString, "value" / RdbString),
    Opcode.FREQ: Struct("freq" / Byte),
    Opcode.IDLE: Struct("idle" / Length),
    Opcode.MODULE_AUX: ModuleAux,
    Opcode.FUNCTION_PRE_GA: FunctionPreGa,
    Opcode.FUNCTION2: Struct("code" / RdbString),
    Opcode.SLOT_INFO: Struct("slot_id" / Length, "slot_size" / Length, "expires_slot_size" / Length),
}
SlotImport = Struct("job_name" / RdbString, "ranges" / Counted(Struct("first" / Length,
                                                                                       "last" / Length)))

#: opcode 243 in Redis files (RDB 13): module metadata of the next key, one opcode stream per class
KeyMeta = Struct("classes" / Counted(Struct(
    "class_spec" / Int32ul,  # name, version, flags (key_meta_class); the writer's byte order, LE in practice
    "opcodes" / ModuleOpcodes,  # as a MODULE_2 value's, ending with EOF
)))

#: the opcode bodies, and by (opcode, valkey) for the bytes the two kinds of file disagree on
_OPCODE_RECORDS: dict[int | tuple[int, bool], Construct] = dict(OPCODE_BODIES.items())
_OPCODE_RECORDS.update({(Opcode.SLOT_IMPORT, True): SlotImport, (Opcode.KEY_META, False): KeyMeta,
                        Opcode.HASH_TEMPLATE: HashTemplate})

OpcodeRecord = Struct(
    "opcode" / Byte,
    "body" / Switch(lambda c: (c.opcode, _is_valkey(c)) if c.opcode == Opcode.SLOT_IMPORT else c.opcode,
                    _OPCODE_RECORDS, default=Error),
)

#: one record: an opcode (0xF2..0xFF) or a key entry (anything else is a type byte)
Record = Struct(
    "tag" / Peek(Byte),
    "record" / Switch(lambda c: c.tag >= Opcode.HASH_TEMPLATE, {True: OpcodeRecord, False: KeyEntry}),
)

RdbFile = Struct(
    "header" / Header,
    "valkey" / Computed(this.header.magic == "VALKEY"),
    "templates" / Computed(lambda c: {}),  # HASH_TEMPLATE id -> field count, filled as records are read
    "records" / RepeatUntil(lambda rec, recs, ctx: rec.tag == Opcode.EOF, Record),
    "checksum" / If(this.header.version >= FIRST_CHECKSUM_VERSION, Bytes(8)),  # CRC64 LE, 0 = disabled
    "trailing" / GreedyBytes,  # Redis reads nothing after the checksum
)


def module_opcodes(payload: bytes) -> ListContainer:
    """A module value's opcode stream, read whole: a payload that does not end at its EOF opcode (one
    from JSON may hold anything) is refused rather than cut short when it is written."""
    stream = BytesIO(payload)
    try:
        opcodes = ModuleOpcodes.parse_stream(stream)
    except StreamError:
        raise TruncatedError("module value ends before its EOF opcode", offset=stream.tell()) from None
    except ConstructError:  # the Switch's default: an opcode no module writes
        raise FormatError("an opcode that is none of EOF, SINT, UINT, FLOAT, DOUBLE and STRING",
                          offset=stream.tell()) from None
    if stream.tell() != len(payload):
        raise FormatError(f"the module value goes on past its EOF opcode ({len(payload) - stream.tell()} more bytes)",
                          offset=stream.tell())
    return opcodes


# --- record by record ------------------------------------------------------------------------


def parse_records(data: bytes) -> Iterator[tuple[int, int, object]]:
    """Parse a whole file with the schema, one record at a time: (offset, size, container).

    The slow reference the fast reader is tested against; the checksum and trailing bytes are not
    records and are not yielded.
    """
    stream = BytesIO(data)
    try:
        header = Header.parse_stream(stream)
        if header.version < 0:
            raise FormatError(f"not an RDB file: {bytes(header.signature)!r}", offset=0)
        check_version(header.magic, header.version)
    except StreamError:
        raise TruncatedError("file too short for an RDB header", offset=0) from None
    valkey = header.magic == "VALKEY"
    templates: dict[int, int] = {}
    while True:
        start = stream.tell()
        try:
            record = Record.parse_stream(stream, valkey=valkey, templates=templates)
        except StreamError as error:
            raise TruncatedError(f"file ends inside a record: {error}", offset=start) from None
        except RdbtoolError as error:
            raise error.located(base=start) from None
        except ConstructError as error:
            raise FormatError(f"invalid record: {error}", offset=start) from None
        yield start, stream.tell() - start, record
        if record.tag == Opcode.EOF:
            return


def build_record(record: Container, *, valkey: bool = False, templates: dict[int, int] | None = None) -> bytes:
    return Record.build(record, valkey=valkey, templates={} if templates is None else templates)
