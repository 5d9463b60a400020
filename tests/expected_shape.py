"""Our records in the shape of the corpus's ``expected/*.json`` (what a real server held after
loading a file, read back with redis-py), and the comparison between the two.

The expected files describe a server's view, which differs from the file in known ways: keys
already expired are dropped on load, stream fields a file version does not store are computed by
the server, module values are shown as the module's read command returns them. ``compare`` checks
everything the file stores and the server shows, and says precisely what differs.
"""

from __future__ import annotations

import base64
import hashlib
import math
from typing import Any

from rdbtools.rdb.model import Function, KeyRecord, ModuleValue, Stream

_BIG = 16384  # longer byte strings are described by length and sha256


def shape_bytes(data: bytes) -> Any:
    if len(data) > _BIG:
        return {"len": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return {"b64": base64.b64encode(data).decode("ascii")}


def shape_key(key: bytes) -> str:
    try:
        return key.decode("utf-8")
    except UnicodeDecodeError:
        return "b64:" + base64.b64encode(key).decode("ascii")


def _stream_shape(stream: Stream) -> dict[str, Any]:
    b = shape_bytes
    shaped: dict[str, Any] = {
        "length": stream.length,
        "last_generated_id": str(stream.last_id),
        "entries": [[str(e.id), [b(x) for pair in e.fields for x in pair]] for e in stream.entries],
        "groups": [
            {
                "name": b(g.name),
                "last_delivered_id": str(g.last_delivered_id),
                "entries_read": g.entries_read,
                "pel": [[str(p.id), b(p.consumer), p.delivery_time, p.delivery_count] for p in g.pending],
                "consumers": [
                    {"name": b(c.name), "seen_time": c.seen_time, "active_time": c.active_time,
                     "pel": [[str(i), *_delivery(g, i)] for i in c.pending]}
                    for c in g.consumers
                ],
            }
            for g in stream.groups
        ],
    }
    if stream.entries_added is not None:
        shaped["entries_added"] = stream.entries_added
        shaped["max_deleted_entry_id"] = str(stream.max_deleted_id)
    return shaped


def _delivery(group, entry_id) -> list[int]:
    for pending in group.pending:
        if pending.id == entry_id:
            return [pending.delivery_time, pending.delivery_count]
    raise AssertionError(f"consumer PEL id {entry_id} missing from the group PEL")


def shape_value(record: KeyRecord) -> Any:
    value = record.value
    if record.type == "string":
        return shape_bytes(value)
    if record.type == "list":
        return [shape_bytes(v) for v in value]
    if record.type == "set":
        return [shape_bytes(v) for v in sorted(value)]
    if record.type == "zset":
        ranked = sorted(value, key=lambda pair: (pair[1], pair[0]))
        return [[shape_bytes(m), s] for m, s in ranked]
    if record.type == "hash":
        return {shape_key(f): shape_bytes(v) for f, v in value.items()}
    if record.type == "stream":
        return _stream_shape(value)
    assert isinstance(value, ModuleValue)
    return None  # only the module itself can render its value


def shape_records(records) -> dict[str, Any]:
    """Records of a file -> {"functions": [...], "dbs": {db: {key: {...}}}} like expected/*.json."""
    dbs: dict[str, dict[str, Any]] = {}
    functions = []
    for record in records:
        if isinstance(record, Function):
            functions.append(record.library_source.decode("utf-8", "replace"))
        elif isinstance(record, KeyRecord):
            entry: dict[str, Any] = {"type": record.type, "expire_ms": record.expire_ms,
                                     "value": shape_value(record)}
            if record.type == "module":
                entry["type"] = record.value.module_name
            if record.field_expires:
                entry["field_expire_ms"] = {shape_key(f): ms for f, ms in record.field_expires.items()}
            dbs.setdefault(str(record.db), {})[shape_key(record.key)] = entry
    return {"functions": functions, "dbs": dbs}


def _same_score(ours: float, theirs: str | float) -> bool:
    theirs_f = float(theirs)
    return ours == theirs_f or (math.isnan(ours) and math.isnan(theirs_f))


def _compare_stream(ours: dict, theirs: dict, where: str, problems: list[str], consumer_times: bool) -> None:
    for name in ("length", "last_generated_id", "entries", "entries_added", "max_deleted_entry_id"):
        if name in ours and name in theirs and ours[name] != theirs[name]:
            problems.append(f"{where}: stream {name} differs: {ours[name]!r} != {theirs[name]!r}")
    if len(ours["groups"]) != len(theirs.get("groups", [])):
        problems.append(f"{where}: {len(ours['groups'])} groups != {len(theirs.get('groups', []))}")
        return
    for mine, other in zip(ours["groups"], theirs["groups"], strict=True):
        for name in ("name", "last_delivered_id", "pel"):
            if mine[name] != other.get(name):
                problems.append(f"{where}: group {mine['name']} {name} differs: {mine[name]!r} != {other.get(name)!r}")
        if mine["entries_read"] is not None and other.get("entries_read") not in (None, mine["entries_read"]):
            problems.append(f"{where}: group {mine['name']} entries_read "
                            f"{mine['entries_read']} != {other['entries_read']}")
        mine_c = {c["name"]: c for c in mine["consumers"]}
        other_c = {c["name"]: c for c in other.get("consumers", [])}
        if set(mine_c) != set(other_c):
            problems.append(f"{where}: group {mine['name']} consumers {sorted(mine_c)} != {sorted(other_c)}")
            continue
        for cname, consumer in mine_c.items():
            theirs_c = other_c[cname]
            if consumer["pel"] != theirs_c.get("pel"):
                problems.append(f"{where}: consumer {cname} PEL differs: {consumer!r} != {theirs_c!r}")
            if not consumer_times:
                continue
            if consumer["seen_time"] != theirs_c.get("seen_time"):
                problems.append(f"{where}: consumer {cname} seen_time differs: {consumer!r} != {theirs_c!r}")
            if consumer["active_time"] is not None and consumer["active_time"] != theirs_c.get("active_time"):
                problems.append(f"{where}: consumer {cname} active_time differs")


def compare(
    ours: dict[str, Any],
    theirs: dict[str, Any],
    *,
    now_ms: int,
    expire_tolerance_ms: int = 0,
    consumer_times: bool = True,
) -> list[str]:
    """Differences between our shaped records and a server's view; empty when they agree.

    ``expire_tolerance_ms`` (key and field TTLs): servers without PEXPIRETIME (< 7.0) only tell a
    TTL, read a moment later; relative TTLs set on two sides read two clocks.
    ``consumer_times=False``: a consumer's seen/active time cannot be set by commands.
    """
    problems: list[str] = []
    if sorted(ours["functions"]) != sorted(theirs.get("functions", [])):
        problems.append(f"functions differ: {ours['functions']!r} != {theirs.get('functions')!r}")
    for db in sorted(set(ours["dbs"]) | set(theirs["dbs"])):
        mine, other = ours["dbs"].get(db, {}), theirs["dbs"].get(db, {})
        for key in sorted(set(mine) | set(other)):
            where = f"db {db} key {key!r}"
            if key not in other:
                expire = mine[key]["expire_ms"]
                if expire is None or expire >= now_ms:
                    problems.append(f"{where}: in the file but not on the server (and not expired)")
                continue
            if key not in mine:
                problems.append(f"{where}: on the server but not read from the file")
                continue
            _compare_entry(mine[key], other[key], where, problems, expire_tolerance_ms, consumer_times)
    return problems


def _same_expire(mine: int | None, other: int | None, tolerance: int) -> bool:
    if mine is None or other is None:
        return mine is other
    return abs(mine - other) <= tolerance


def _same_field_expires(mine: dict | None, other: dict | None, tolerance: int) -> bool:
    if not mine or not other:
        return not mine and not other
    return mine.keys() == other.keys() and all(_same_expire(mine[f], other[f], tolerance) for f in mine)


def _compare_entry(mine: dict, other: dict, where: str, problems: list[str], tolerance: int,
                   consumer_times: bool) -> None:
    if mine["type"] != other["type"]:
        problems.append(f"{where}: type {mine['type']} != {other['type']}")
        return
    if not _same_expire(mine["expire_ms"], other["expire_ms"], tolerance):
        problems.append(f"{where}: expire {mine['expire_ms']} != {other['expire_ms']}")
    if not _same_field_expires(mine.get("field_expire_ms"), other.get("field_expire_ms"), tolerance):
        problems.append(f"{where}: field TTLs {mine.get('field_expire_ms')} != {other.get('field_expire_ms')}")
    if "module_type" in other:
        return
    if mine["type"] == "zset":
        if [m for m, _ in mine["value"]] != [m for m, _ in other["value"]] or not all(
            _same_score(a, b) for (_, a), (_, b) in zip(mine["value"], other["value"], strict=True)
        ):
            problems.append(f"{where}: zset differs")
    elif mine["type"] == "stream":
        _compare_stream(mine["value"], other["value"], where, problems, consumer_times)
    elif mine["value"] != other["value"]:
        problems.append(f"{where}: value differs: {str(mine['value'])[:200]} != {str(other['value'])[:200]}")


def without_delivery_times(shaped: dict) -> dict:
    """PEL delivery times set to "now" by the side that ran the commands: compared apart."""
    for db in shaped["dbs"].values():
        for entry in db.values():
            if entry["type"] == "stream":
                for group in entry["value"]["groups"]:
                    group["pel"] = [[i, c, None, n] for i, c, _, n in group["pel"]]
                    for consumer in group["consumers"]:
                        consumer["pel"] = [[i, None, n] for i, _, n in consumer["pel"]]
    return shaped
