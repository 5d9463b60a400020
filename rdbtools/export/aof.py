"""``rdbtool dump`` of an AOF: its commands (and the records of an RDB preamble or base) as JSONL,
one JSON document, or RESP."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, BinaryIO

from rdbtools.aof.reader import AofCommand, AofFile, AofSnapshotRecord
from rdbtools.export.dump import DumpStats, write_json_stream
from rdbtools.export.records import bytes_to_json, record_to_json
from rdbtools.export.resp import RespWriter, pack_command
from rdbtools.rdb.filters import KeyFilter
from rdbtools.rdb.model import KeyRecord

AOF_FORMATS = ("jsonl", "json", "resp")


def layout_to_json(aof: AofFile) -> dict[str, Any]:
    layout = aof.layout
    return {"kind": "aof", "layout": layout.kind,
            "manifest": None if layout.manifest_path is None else layout.manifest_path.name,
            "files": [{"name": p.name, "type": None if p.type is None else p.type.name.lower()}
                      for p in layout.parts]}


def command_to_json(command: AofCommand) -> dict[str, Any]:
    return {"kind": "command", "file": command.file, "offset": command.offset, "line": command.line,
            "timestamp": command.timestamp, "args": list(map(bytes_to_json, command.args))}


def _selected(aof: AofFile, key_filter: KeyFilter) -> Iterable[AofCommand | AofSnapshotRecord]:
    """Filters apply to the keys of snapshots; commands are kept as they are."""
    for item in aof:
        if not (isinstance(item, AofSnapshotRecord) and isinstance(item.record, KeyRecord)) \
                or key_filter.matches(item.record):
            yield item


def _to_json(item: AofCommand | AofSnapshotRecord) -> dict[str, Any] | None:
    if isinstance(item, AofCommand):
        return command_to_json(item)
    data = record_to_json(item.record)
    if data is not None:
        data["file"] = item.file
    return data


def write_aof(aof: AofFile, out: BinaryIO, fmt: str, key_filter: KeyFilter) -> DumpStats:
    stats = DumpStats()
    items = _selected(aof, key_filter)
    if fmt in ("jsonl", "json"):
        stats.keys = write_json_stream(out, "aof", layout_to_json(aof), items, _to_json, AofCommand,
                                       document=fmt == "json")
    elif fmt == "resp":
        writer = RespWriter(out)
        for item in items:
            if isinstance(item, AofCommand):
                out.write(pack_command(tuple(item.args)))
                writer.db = None  # the stream's own SELECTs: snapshot keys after it select again
            else:
                writer.write(item.record)
        stats.skipped = writer.skipped
    else:
        raise ValueError(f"format {fmt!r} is not available for an AOF; choose from {', '.join(AOF_FORMATS)}")
    return stats
