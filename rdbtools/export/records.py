"""The one JSON schema for records, shared by ``--format json`` and ``--format jsonl``.

Lossless and binary-safe: a byte string is a JSON string when it is valid UTF-8 (decoding and
re-encoding gives back the same bytes), otherwise ``{"b64": "<base64>"}``. Hash fields, zset members
and stream fields are lists of pairs, never JSON object keys, so non-UTF-8 names survive too.
README.md documents the schema; ``bytes_from_json`` is the inverse used when reading it back.
"""

from __future__ import annotations

import base64
import math
from binascii import b2a_base64
from collections.abc import Callable, Iterable
from itertools import pairwise
from math import isfinite
from operator import itemgetter
from typing import Any, overload

from rdbtools.errors import RdbtoolError
from rdbtools.formats import accelerated
from rdbtools.formats.rdb import ArrayTag, key_meta_spec, module_opcodes
from rdbtools.formats.vectorset import VectorSet
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
    SparseArray,
    Stream,
    StreamEntry,
    StreamId,
    StreamIdmp,
)


def python_bytes_to_json(data: bytes) -> str | dict[str, str]:
    if data.isascii():  # the common case, checked in C without raising
        return data.decode("ascii")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return {"b64": b2a_base64(data, newline=False).decode("ascii")}


def python_texts_to_json(items: Iterable[bytes]) -> list[str | dict[str, str]]:
    return list(map(python_bytes_to_json, items))


# the compiled twins check the UTF-8 first instead of raising and catching for every binary value
bytes_to_json: Callable[[bytes], str | dict[str, str]] = accelerated("bytes_to_json") or python_bytes_to_json
texts_to_json: Callable[[Iterable[bytes]], list[str | dict[str, str]]] = (
    accelerated("texts_to_json") or python_texts_to_json)


def bytes_from_json(value: str | dict[str, str]) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8")
    return base64.b64decode(value["b64"], validate=True)


_MEMBER = itemgetter(0)
_SCORE = itemgetter(1)


def score_to_json(score: float) -> float | str:
    """JSON has no infinities: they are written as the strings Redis prints."""
    if math.isfinite(score):
        return score
    return "nan" if math.isnan(score) else ("inf" if score > 0 else "-inf")


def _id(stream_id: StreamId | None) -> str | None:
    return None if stream_id is None else str(stream_id)


def stream_to_json(stream: Stream) -> dict[str, Any]:
    b = bytes_to_json
    return {
        "length": stream.length,
        "last_id": _id(stream.last_id),
        "first_id": _id(stream.first_id),
        "max_deleted_id": _id(stream.max_deleted_id),
        "entries_added": stream.entries_added,
        "entries": [[str(e.id), [b(x) for pair in e.fields for x in pair]] for e in stream.entries],
        "groups": [
            {
                "name": b(g.name),
                "last_delivered_id": str(g.last_delivered_id),
                "entries_read": g.entries_read,
                "pending": [
                    [str(p.id), None if p.consumer is None else b(p.consumer), p.delivery_time,
                     p.delivery_count]
                    for p in g.pending
                ],
                "consumers": [
                    {"name": b(c.name), "seen_time": c.seen_time, "active_time": c.active_time,
                     "pending": [str(i) for i in c.pending]}
                    for c in g.consumers
                ],
                "nacked": None if g.nacked is None else [str(i) for i in g.nacked],
            }
            for g in stream.groups
        ],
        "idmp": None if stream.idmp is None else _idmp_to_json(stream.idmp),
    }


def _idmp_to_json(idmp: StreamIdmp) -> dict[str, Any]:
    b = bytes_to_json
    return {"duration": idmp.duration, "max_entries": idmp.max_entries,
            "producers": [{"pid": b(p.pid), "entries": [[b(iid), str(i)] for iid, i in p.entries]}
                          for p in idmp.producers],
            "iids_added": idmp.iids_added, "iids_duplicates": idmp.iids_duplicates}


_ARRAY_TAG_NAMES: dict[int, str] = {tag: tag.name.lower() for tag in ArrayTag}  # by the tag byte an element holds
_ARRAY_TAGS = {name: tag for tag, name in _ARRAY_TAG_NAMES.items()}


def array_to_json(array: SparseArray) -> dict[str, Any]:
    """Elements as [index, storage, value]: numbers stay numbers, strings are byte strings."""
    return {"length": array.length, "insert_index": array.insert_index,
            "elements": [[index, _ARRAY_TAG_NAMES[tag], bytes_to_json(v) if v.__class__ is bytes else v]
                         for index, tag, v in array.elements]}


def value_to_json(record: KeyRecord) -> Any:
    value, texts = record.value, texts_to_json
    kind = record.type
    if kind == "string":
        return bytes_to_json(value)
    # zip/map keep the per-item loops in C; orjson writes the tuples as JSON arrays
    if kind in ("list", "set"):
        return texts(value)
    if kind == "zset":
        scores = list(map(_SCORE, value))
        if not all(map(isfinite, scores)):
            scores = list(map(score_to_json, scores))
        return list(zip(texts(map(_MEMBER, value)), scores, strict=True))
    if kind == "hash":
        return list(zip(texts(value), texts(value.values()), strict=True))
    if kind == "stream":
        return stream_to_json(value)
    if kind == "array":
        return array_to_json(value)
    assert isinstance(value, ModuleValue)
    data = {"module": value.module_name, "encver": value.encver, "module_id": value.module_id,
            "payload": {"b64": base64.b64encode(value.payload).decode("ascii")}}
    if isinstance(value.decoded, VectorSet):  # modules rdbtool knows: the payload decoded beside it
        data["value"] = vectorset_to_json(value.decoded)
    return data


def vectorset_to_json(vset: VectorSet) -> dict[str, Any]:
    """Elements with the vectors VEMB returns and the attributes VGETATTR returns; the graph as counts."""
    b = bytes_to_json
    projection = vset.projection
    return {
        "dim": vset.dim,
        "quantization": vset.quantization.name.lower(),
        "m": vset.m,
        "reduce": None if projection is None else {"input_dim": projection.input_dim, "matrix": projection.matrix},
        "elements": [
            {"element": b(e.name), "vector": e.vector, "attributes": None if e.attributes is None else b(e.attributes),
             "level": e.level, "links": e.links}
            for e in vset.elements
        ],
    }


def key_to_json(record: KeyRecord) -> dict[str, Any]:
    data: dict[str, Any] = {
        "kind": "key",
        "db": record.db,
        "key": bytes_to_json(record.key),
        "type": record.type,
        "encoding": record.encoding,
        "expire_ms": record.expire_ms,
        "value": value_to_json(record),
    }
    if record.field_expires:
        data["field_expires"] = [[bytes_to_json(f), ms] for f, ms in record.field_expires.items()]
    if record.idle is not None:
        data["idle"] = record.idle
    if record.freq is not None:
        data["freq"] = record.freq
    if record.template_id is not None:
        data["template_id"] = record.template_id
    if record.key_meta is not None:
        data["key_meta"] = [{"class": c.name, "version": c.version, "flags": c.flags,
                             "payload": {"b64": base64.b64encode(c.payload).decode("ascii")}} for c in record.key_meta]
    return data


def header_to_json(header: Header) -> dict[str, Any]:
    return {"kind": "header", "magic": header.magic, "version": header.version}


def record_to_json(record: Record) -> dict[str, Any] | None:
    """Records that carry data; SELECTDB/RESIZEDB/SLOT_INFO are layout and are left out."""
    if isinstance(record, KeyRecord):
        return key_to_json(record)
    if isinstance(record, Aux):
        return {"kind": "aux", "name": bytes_to_json(record.name), "value": bytes_to_json(record.value)}
    if isinstance(record, Function):
        data: dict[str, Any] = {"kind": "function", "code": bytes_to_json(record.library_source)}
        if record.pre_ga:
            data["pre_ga"] = {"name": bytes_to_json(record.name or b""),
                              "engine": bytes_to_json(record.engine or b""),
                              "description": None if record.description is None
                              else bytes_to_json(record.description),
                              "code": bytes_to_json(record.code)}
        return data
    if isinstance(record, HashTemplate):
        return {"kind": "hash_template", "id": record.id, "fields": [bytes_to_json(f) for f in record.fields]}
    if isinstance(record, ModuleAux):
        return {"kind": "module_aux", "module": record.module_name, "encver": record.encver,
                "module_id": record.module_id, "when": record.when,
                "payload": {"b64": base64.b64encode(record.payload).decode("ascii")}}
    return None


# --- reading the schema back (JSONL -> records), for convert -----------------------------------


@overload
def _id_from_json(text: str) -> StreamId: ...
@overload
def _id_from_json(text: None) -> None: ...
def _id_from_json(text: str | None) -> StreamId | None:
    """An id as ``ms-seq`` text; null where the field is optional (a stream's first id, say)."""
    if text is None:
        return None
    ms, dash, seq = text.partition("-")
    if not (dash and ms.isdigit() and seq.isdigit() and ms.isascii() and seq.isascii()):
        raise ValueError(f"a stream id must be two decimal numbers as ms-seq, not {text!r}")
    return StreamId(_integer(int(ms), "a stream id's ms", _LENGTH), _integer(int(seq), "a stream id's seq", _LENGTH))


def _score_from_json(score: float | str) -> float:
    return float(score)


_INT64 = (-(1 << 63), (1 << 63) - 1)  # what the RDB stores as a signed 64-bit integer (times in ms)
_LENGTH = (0, (1 << 64) - 1)  # what it stores with the length encoding (counts, ids, idle seconds)


def _integer(value: Any, name: str, bounds: tuple[int, int] = _INT64) -> int:
    """A JSON integer the RDB can hold, checked: a float, a numeric string or a boolean would be taken
    (or truncated) by Python further on, and a number out of range fail deep in the writer, with no line
    to point at."""
    if type(value) is not int:
        raise TypeError(f"{name} must be an integer, not {value!r}")
    if not bounds[0] <= value <= bounds[1]:
        raise ValueError(f"{name} must be from {bounds[0]} to {bounds[1]}, not {value}")
    return value


def _optional_integer(value: Any, name: str, bounds: tuple[int, int] = _INT64) -> int | None:
    return None if value is None else _integer(value, name, bounds)


def stream_from_json(data: dict[str, Any]) -> Stream:
    b = bytes_from_json
    entries = [StreamEntry(_id_from_json(entry_id), [(b(flat[i]), b(flat[i + 1])) for i in range(0, len(flat), 2)])
               for entry_id, flat in data["entries"]]
    if any(earlier.id >= later.id for earlier, later in pairwise(entries)):
        raise ValueError("a stream's entry ids must increase")  # as XADD keeps them (RDB nodes hold deltas)
    groups = []
    for g in data["groups"]:
        pending = [PendingEntry(_id_from_json(i), None if c is None else b(c), _integer(t, "a delivery time"),
                                _integer(n, "a delivery count", _LENGTH)) for i, c, t, n in g["pending"]]
        consumers = [Consumer(b(c["name"]), _integer(c["seen_time"], "seen_time"),
                              _optional_integer(c["active_time"], "active_time"),
                              [_id_from_json(i) for i in c["pending"]])
                     for c in g["consumers"]]
        nacked = g.get("nacked")
        groups.append(ConsumerGroup(b(g["name"]), _id_from_json(g["last_delivered_id"]),
                                    _optional_integer(g["entries_read"], "entries_read", _LENGTH),
                                    pending, consumers, None if nacked is None else list(map(_id_from_json, nacked))))
    idmp = data.get("idmp")
    if idmp is not None:
        producers = [IdmpProducer(b(p["pid"]), [(b(iid), _id_from_json(i)) for iid, i in p["entries"]])
                     for p in idmp["producers"]]
        counts = {name: _integer(idmp[name], name, _LENGTH)
                  for name in ("duration", "max_entries", "iids_added", "iids_duplicates")}
        idmp = StreamIdmp(producers=producers, **counts)
    return Stream(_integer(data["length"], "a stream's length", _LENGTH), _id_from_json(data["last_id"]), entries,
                  groups, _id_from_json(data["first_id"]), _id_from_json(data["max_deleted_id"]),
                  _optional_integer(data["entries_added"], "entries_added", _LENGTH), idmp=idmp)


def array_from_json(data: dict[str, Any]) -> SparseArray:
    elements: list[tuple[int, int, bytes | int | float]] = []
    for index, storage, value in data["elements"]:
        tag = _ARRAY_TAGS[storage]
        value = (bytes_from_json(value) if tag in (ArrayTag.SDS, ArrayTag.SMALLSTR)
                 else _integer(value, "an array's integer") if tag == ArrayTag.INT else float(value))
        elements.append((_integer(index, "an array index", _LENGTH), tag, value))
    return SparseArray(elements, _optional_integer(data["insert_index"], "insert_index", _LENGTH))


def _key_meta_from_json(classes: list[dict[str, Any]] | None) -> list[KeyMetaClass] | None:
    if classes is None:
        return None
    result = []
    for c in classes:
        version, flags = _integer(c["version"], "a key meta class's version"), _integer(c["flags"], "its flags")
        spec = key_meta_spec(c["class"], version, flags)
        result.append(KeyMetaClass(c["class"], version, flags, base64.b64decode(c["payload"]["b64"]), spec))
    return result


def value_from_json(kind: str, value: Any) -> Any:
    b = bytes_from_json
    if kind == "string":
        return b(value)
    if kind in ("list", "set"):
        return [b(item) for item in value]
    if kind == "zset":
        return [(b(member), _score_from_json(score)) for member, score in value]
    if kind == "hash":
        return {b(field): b(item) for field, item in value}
    if kind == "stream":
        return stream_from_json(value)
    if kind == "array":
        return array_from_json(value)
    if kind != "module":
        raise ValueError(f"unknown type {kind!r}")
    return ModuleValue(_integer(value["module_id"], "module_id", _LENGTH), value["module"],
                       _integer(value["encver"], "encver"), _module_payload(value["payload"]))


def _module_payload(data: dict[str, str]) -> bytes:
    """The opcode stream as the RDB stores it, refused at its line when the schema cannot read it whole."""
    payload = base64.b64decode(data["b64"])
    try:
        module_opcodes(payload)
    except RdbtoolError as error:
        raise ValueError(f"a module value's payload, at its byte {error.offset}: {error.message}") from None
    return payload


def record_from_json(data: dict[str, Any]) -> Record | Header | None:
    """The inverse of record_to_json/header_to_json (one JSONL line)."""
    kind = data.get("kind")
    b = bytes_from_json
    if kind == "header":
        return Header(data["magic"], _integer(data["version"], "version"))
    if kind == "aux":
        return Aux(b(data["name"]), b(data["value"]))
    if kind == "function":
        return Function(b(data["code"]))
    if kind == "module_aux":
        return ModuleAux(_integer(data["module_id"], "module_id", _LENGTH), data["module"],
                         _integer(data["encver"], "encver"), _integer(data["when"], "when", _LENGTH),
                         base64.b64decode(data["payload"]["b64"]))
    if kind == "hash_template":
        return HashTemplate(_integer(data["id"], "id", _LENGTH), [b(f) for f in data["fields"]])
    if kind == "key":
        ttls = data.get("field_expires")
        return KeyRecord(_integer(data["db"], "db", _LENGTH), b(data["key"]), data["type"], data.get("encoding", ""),
                         0, value_from_json(data["type"], data["value"]),
                         _optional_integer(data["expire_ms"], "expire_ms"),
                         _optional_integer(data.get("idle"), "idle", _LENGTH),
                         _optional_integer(data.get("freq"), "freq", (0, 255)),
                         {b(f): _integer(ms, "a field's expire time") for f, ms in ttls} if ttls else None,
                         key_meta=_key_meta_from_json(data.get("key_meta")),
                         template_id=_optional_integer(data.get("template_id"), "template_id", _LENGTH))
    return None
