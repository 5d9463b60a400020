"""A slow reference reader made only of the construct schemas.

It turns what ``rdbtools.formats`` parses into the same values the fast reader yields, so tests can
prove that the fast path decodes exactly what the declared format says — nothing in here shares
code with ``rdbtools.rdb.reader``.
"""

from __future__ import annotations

from typing import Any

from rdbtools.formats import intset, listpack, ziplist, zipmap
from rdbtools.formats.rdb import (
    STREAM_VERSIONS,
    ModuleOpcodes,
    Opcode,
    QuicklistContainer,
    RdbType,
    TemplateFields,
    parse_records,
)


def _text(value: int | bytes) -> bytes:
    return value if isinstance(value, bytes) else b"%d" % value


def _entries(schema, blob: bytes) -> list:
    return [e.value for e in schema.parse(blob).entries]


def _pairs(values: list) -> list[tuple]:
    return [(values[i], values[i + 1]) for i in range(0, len(values), 2)]


def _zset(pairs) -> list[tuple[bytes, float]]:
    return [(_text(m), float(s)) for m, s in pairs]


def _hash(pairs) -> dict[bytes, bytes]:
    return {_text(f): _text(v) for f, v in pairs}


def _list_of_nodes(value, quicklist_2: bool) -> list[bytes]:
    items: list[bytes] = []
    for node in value:
        if not quicklist_2:
            items.extend(map(_text, _entries(ziplist.ZIPLIST, node)))
        elif node.container == QuicklistContainer.PLAIN:
            items.append(bytes(node.data))
        else:
            items.extend(map(_text, _entries(listpack.LISTPACK, node.data)))
    return items


def _stream(value, version: int) -> dict[str, Any]:
    entries = []
    for node in value.nodes:
        master_ms = int.from_bytes(node.master_id[:8], "big")
        master_seq = int.from_bytes(node.master_id[8:], "big")
        lp = _entries(listpack.LISTPACK, node.listpack)
        field_count = lp[2]
        master_fields = [_text(f) for f in lp[3 : 3 + field_count]]
        at = 4 + field_count
        while at < len(lp):
            flags, ms, seq = lp[at : at + 3]
            at += 3
            if flags & 2:
                fields = list(zip(master_fields, map(_text, lp[at : at + field_count]), strict=True))
                at += field_count
            else:
                count = lp[at]
                fields = [(_text(a), _text(b)) for a, b in _pairs(lp[at + 1 : at + 1 + 2 * count])]
                at += 1 + 2 * count
            at += 1  # the entry's back-count
            if not flags & 1:
                entries.append(((master_ms + ms, master_seq + seq), fields))
    groups = []
    for group in value.groups:
        owners = {(c_id.ms, c_id.seq): bytes(c.name) for c in group.consumers for c_id in c.pending}
        groups.append({
            "name": bytes(group.name),
            "last_delivered_id": (group.last_delivered_id.ms, group.last_delivered_id.seq),
            "entries_read": None if group.entries_read in (None, 2**64 - 1) else group.entries_read,
            "pending": [((p.id.ms, p.id.seq), owners.get((p.id.ms, p.id.seq)), p.delivery_time, p.delivery_count)
                        for p in group.pending],
            "consumers": [(bytes(c.name), c.seen_time, c.active_time, [(i.ms, i.seq) for i in c.pending])
                          for c in group.consumers],
            "nacked": None if group.nacked is None else [(i.ms, i.seq) for i in group.nacked],
        })
    idmp = value.idmp
    if idmp is not None:
        idmp = (idmp.duration, idmp.max_entries,
                [(bytes(p.pid), [(bytes(e.iid), (e.id.ms, e.id.seq)) for e in p.entries]) for p in idmp.producers],
                idmp.iids_added, idmp.iids_duplicates)
    return {"length": value.length, "last_id": (value.last_id.ms, value.last_id.seq), "entries": entries,
            "groups": groups, "entries_added": value.entries_added, "idmp": idmp}


def _array(value) -> tuple:
    return value.insert_index, [(e.index, e.tag, bytes(e.value) if isinstance(e.value, bytes) else e.value)
                                for e in value.elements]


def _template_hash(t: int, value, templates: dict[int, list[bytes]]) -> dict[bytes, bytes]:
    """Types 29-32: field names inline or from a HASH_TEMPLATE record, values in template order."""
    if t in (RdbType.HASH_TMPL_LP, RdbType.HASH_TMPL_ARRAY):
        names = value.fields.names
        if value.fields.fields_format == TemplateFields.LISTPACK:
            names = _entries(listpack.LISTPACK, names)
        fields = [_text(n) for n in names]
    else:
        template_id = value.template_id if t == RdbType.HASH_TMPL_ARRAY_REF else _entries(listpack.LISTPACK, value)[0]
        fields = templates[template_id]
    if t in (RdbType.HASH_TMPL_LP, RdbType.HASH_TMPL_LP_REF):
        values = _entries(listpack.LISTPACK, value.values_listpack if t == RdbType.HASH_TMPL_LP else value)[1:]
    else:
        values = value.field_values
    return dict(zip(fields, map(_text, values), strict=True))


def reference_value(type_byte: int, value, valkey: bool,
                    templates: dict[int, list[bytes]] | None = None) -> tuple[Any, dict | None]:
    """(value, field TTLs) of a key entry, from the schema's containers alone."""
    t = type_byte
    if t == RdbType.ARRAY and not valkey:
        return _array(value), None
    if RdbType.HASH_TMPL_LP <= t <= RdbType.HASH_TMPL_ARRAY_REF and not valkey:
        return _template_hash(t, value, templates or {}), None
    if t == RdbType.STRING:
        return bytes(value), None
    if t in (RdbType.LIST, RdbType.SET):
        return [bytes(v) for v in value], None
    if t in (RdbType.ZSET, RdbType.ZSET_2):
        return [(bytes(p.member), float(p.score)) for p in value], None
    if t == RdbType.HASH:
        return {bytes(p.field): bytes(p.value) for p in value}, None
    if t == RdbType.HASH_ZIPMAP:
        return {k: v for k, v in ((e.key, e.value) for e in zipmap.ZIPMAP.parse(value).entries)}, None
    if t == RdbType.LIST_ZIPLIST:
        return [_text(v) for v in _entries(ziplist.ZIPLIST, value)], None
    if t == RdbType.SET_INTSET:
        return [b"%d" % v for v in intset.INTSET.parse(value).elements], None
    if t in (RdbType.ZSET_ZIPLIST, RdbType.ZSET_LISTPACK):
        schema = ziplist.ZIPLIST if t == RdbType.ZSET_ZIPLIST else listpack.LISTPACK
        return _zset(_pairs(_entries(schema, value))), None
    if t in (RdbType.HASH_ZIPLIST, RdbType.HASH_LISTPACK):
        schema = ziplist.ZIPLIST if t == RdbType.HASH_ZIPLIST else listpack.LISTPACK
        return _hash(_pairs(_entries(schema, value))), None
    if t in (RdbType.LIST_QUICKLIST, RdbType.LIST_QUICKLIST_2):
        return _list_of_nodes(value, t == RdbType.LIST_QUICKLIST_2), None
    if t == RdbType.SET_LISTPACK:
        return [_text(v) for v in _entries(listpack.LISTPACK, value)], None
    if t in STREAM_VERSIONS and not (valkey and t > RdbType.STREAM_LISTPACKS_3):
        return _stream(value, STREAM_VERSIONS[t]), None
    if t == RdbType.MODULE_2:
        return value.module_id, None
    return _hash_with_ttls(t, value, valkey)


def _hash_with_ttls(t: int, value, valkey: bool):
    if t == 22 and valkey:
        fields = [(f.field, f.value, None if f.expire_at == -1 else f.expire_at) for f in value]
    elif t == 22:
        fields = [(f.field, f.value, f.expire_at or None) for f in value]
    elif t == RdbType.HASH_METADATA:
        fields = [(f.field, f.value, value.min_expire + f.ttl - 1 if f.ttl else None) for f in value.fields]
    else:
        blob = value if t == RdbType.HASH_LISTPACK_EX_PRE_GA else value.listpack
        lp = _entries(listpack.LISTPACK, blob)
        fields = [(_text(lp[i]), _text(lp[i + 1]), lp[i + 2] or None) for i in range(0, len(lp), 3)]
    return ({bytes(f): bytes(v) for f, v, _ in fields},
            {bytes(f): e for f, _, e in fields if e is not None})


def reference_keys(data: bytes) -> list[dict[str, Any]]:
    """Every key entry of a file: db, key, type byte, value, field TTLs, expire, idle, freq."""
    valkey = data.startswith(b"VALKEY")
    keys, db, meta = [], 0, {}
    templates: dict[int, list[bytes]] = {}
    for _, _, record in parse_records(data):
        body = record.record
        if record.tag == Opcode.HASH_TEMPLATE:
            templates[body.body.id] = [bytes(f) for f in body.body.fields]
        elif record.tag == Opcode.KEY_META and not valkey:
            meta["key_meta"] = [(c.class_spec, ModuleOpcodes.build(c.opcodes)) for c in body.body.classes]
        elif record.tag == Opcode.SELECTDB:
            db = body.body.db
        elif record.tag == Opcode.EXPIRETIME_MS:
            meta["expire_ms"] = body.body.ms
        elif record.tag == Opcode.EXPIRETIME:
            meta["expire_ms"] = body.body.seconds * 1000
        elif record.tag == Opcode.IDLE:
            meta["idle"] = body.body.idle
        elif record.tag == Opcode.FREQ:
            meta["freq"] = body.body.freq
        elif record.tag < Opcode.HASH_TEMPLATE:
            value, ttls = reference_value(body.type, body.value, valkey, templates)
            keys.append({"db": db, "key": bytes(body.key), "type": body.type, "value": value,
                         "field_expires": ttls, **meta})
            meta = {}
    return keys
