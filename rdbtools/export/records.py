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
from math import isfinite
from operator import itemgetter
from typing import Any

from rdbtools.formats import accelerated
from rdbtools.formats.vectorset import VectorSet
from rdbtools.rdb.model import (
    Aux,
    Consumer,
    ConsumerGroup,
    Function,
    Header,
    KeyRecord,
    ModuleAux,
    ModuleValue,
    PendingEntry,
    Record,
    Stream,
    StreamEntry,
    StreamId,
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
            }
            for g in stream.groups
        ],
    }


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
        data = {"kind": "function", "code": bytes_to_json(record.library_source)}
        if record.pre_ga:
            data["pre_ga"] = {"name": bytes_to_json(record.name or b""),
                              "engine": bytes_to_json(record.engine or b""),
                              "description": None if record.description is None
                              else bytes_to_json(record.description),
                              "code": bytes_to_json(record.code)}
        return data
    if isinstance(record, ModuleAux):
        return {"kind": "module_aux", "module": record.module_name, "encver": record.encver,
                "module_id": record.module_id, "when": record.when,
                "payload": {"b64": base64.b64encode(record.payload).decode("ascii")}}
    return None


# --- reading the schema back (JSONL -> records), for convert -----------------------------------


def _id_from_json(text: str | None) -> StreamId | None:
    if text is None:
        return None
    ms, _, seq = text.partition("-")
    return StreamId(int(ms), int(seq))


def _score_from_json(score: float | str) -> float:
    return float(score)


def stream_from_json(data: dict[str, Any]) -> Stream:
    b = bytes_from_json
    entries = [StreamEntry(_id_from_json(entry_id), [(b(flat[i]), b(flat[i + 1])) for i in range(0, len(flat), 2)])
               for entry_id, flat in data["entries"]]
    groups = []
    for g in data["groups"]:
        pending = [PendingEntry(_id_from_json(i), None if c is None else b(c), t, n) for i, c, t, n in g["pending"]]
        consumers = [Consumer(b(c["name"]), c["seen_time"], c["active_time"], [_id_from_json(i) for i in c["pending"]])
                     for c in g["consumers"]]
        groups.append(ConsumerGroup(b(g["name"]), _id_from_json(g["last_delivered_id"]), g["entries_read"],
                                    pending, consumers))
    return Stream(data["length"], _id_from_json(data["last_id"]), entries, groups, _id_from_json(data["first_id"]),
                  _id_from_json(data["max_deleted_id"]), data["entries_added"])


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
    return ModuleValue(value["module_id"], value["module"], value["encver"], base64.b64decode(value["payload"]["b64"]))


def record_from_json(data: dict[str, Any]) -> Record | Header | None:
    """The inverse of record_to_json/header_to_json (one JSONL line)."""
    kind = data.get("kind")
    b = bytes_from_json
    if kind == "header":
        return Header(data["magic"], data["version"])
    if kind == "aux":
        return Aux(b(data["name"]), b(data["value"]))
    if kind == "function":
        return Function(b(data["code"]))
    if kind == "module_aux":
        return ModuleAux(data["module_id"], data["module"], data["encver"], data["when"],
                         base64.b64decode(data["payload"]["b64"]))
    if kind == "key":
        ttls = data.get("field_expires")
        return KeyRecord(data["db"], b(data["key"]), data["type"], data.get("encoding", ""), 0,
                         value_from_json(data["type"], data["value"]), data["expire_ms"], data.get("idle"),
                         data.get("freq"), {b(f): ms for f, ms in ttls} if ttls else None)
    return None
