"""``rdbtool dump``: records of a file written out in one of the output formats."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import BinaryIO

import orjson

from rdbtools.export.records import header_to_json, record_to_json
from rdbtools.export.resp import RespWriter
from rdbtools.rdb.model import Header, KeyRecord, Record

FORMATS = ("json", "jsonl", "resp", "keys")


@dataclass
class DumpStats:
    keys: int = 0
    skipped: dict[str, int] = field(default_factory=dict)


def write_records(header: Header, records: Iterable[Record], out: BinaryIO, fmt: str) -> DumpStats:
    """Write already filtered records; memory stays at one record whatever the format."""
    stats = DumpStats()
    if fmt == "jsonl":
        write, dumps, line = out.write, orjson.dumps, orjson.OPT_APPEND_NEWLINE
        write(dumps(header_to_json(header), option=line))
        for record in records:
            data = record_to_json(record)
            if data is not None:
                write(dumps(data, option=line))
                stats.keys += record.__class__ is KeyRecord
    elif fmt == "json":
        _write_json_document(header, records, out, stats)
    elif fmt == "resp":
        writer = RespWriter(out)
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


def _write_json_document(header: Header, records: Iterable[Record], out: BinaryIO, stats: DumpStats) -> None:
    """One JSON document, streamed: {"header": ..., "records": [...]}, same objects as jsonl."""
    out.write(b'{"header":' + orjson.dumps(header_to_json(header)) + b',\n"records":[')
    separator = b"\n"
    for record in records:
        data = record_to_json(record)
        if data is not None:
            out.write(separator + orjson.dumps(data))
            separator = b",\n"
            stats.keys += record.__class__ is KeyRecord
    out.write(b"\n]}\n")
