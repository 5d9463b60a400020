"""``rdbtool dump``: records of a file written out in one of the output formats."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import orjson

from rdbtools.export.records import header_to_json, record_to_json
from rdbtools.export.resp import RespWriter
from rdbtools.rdb.model import Header, KeyRecord, Record
from rdbtools.rdb.targets import Target

FORMATS = ("json", "jsonl", "resp", "keys")


@dataclass
class DumpStats:
    keys: int = 0
    skipped: dict[str, int] = field(default_factory=dict)


def write_records(header: Header, records: Iterable[Record], out: BinaryIO, fmt: str,
                  target: Target | None = None) -> DumpStats:
    """Write already filtered records; memory stays at one record whatever the format. ``target``:
    the server RESP is written for (its stream commands)."""
    stats = DumpStats()
    if fmt in ("jsonl", "json"):
        stats.keys = write_json_stream(out, "header", header_to_json(header), records, record_to_json, KeyRecord,
                                       document=fmt == "json")
    elif fmt == "resp":
        writer = RespWriter(out, target)
        for record in records:
            writer.write(record)
            stats.keys += record.__class__ is KeyRecord
        stats.skipped = writer.skipped
    elif fmt == "keys":
        for record in records:
            if record.__class__ is KeyRecord:
                out.write(record.key + b"\n")
                stats.keys += 1
    else:
        raise ValueError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
    return stats


def write_json_stream(out: BinaryIO, name: str, opening: dict[str, Any], items: Iterable[Any],
                      to_json: Callable[[Any], dict[str, Any] | None], counted: type, *, document: bool) -> int:
    """JSONL (the opening object, then one object a line) or one JSON document streamed as
    {"<name>": opening, "records": [...]}: the same objects either way. Returns how many of the
    written items were of class ``counted``."""
    write, dumps = out.write, orjson.dumps
    if document:
        write(b'{"' + name.encode() + b'":' + dumps(opening) + b',\n"records":[')
    else:
        write(dumps(opening, option=orjson.OPT_APPEND_NEWLINE))
    separator, line, count = b"\n", orjson.OPT_APPEND_NEWLINE, 0
    for item in items:
        data = to_json(item)
        if data is None:
            continue
        if document:
            write(separator + dumps(data))
            separator = b",\n"
        else:
            write(dumps(data, option=line))
        count += item.__class__ is counted
    if document:
        write(b"\n]}\n")
    return count
