"""The AOF command stream (formats.md §8.1–8.2): RESP arrays of bulk strings and annotations.

Grammar::

    stream     := record*
    record     := annotation | command
    annotation := '#' text CRLF                    "#TS:<unix seconds>" is the only kind Redis writes
    command    := '*' argc CRLF  argc x ( '$' length CRLF  length bytes  CRLF )

``RECORD`` is the construct schema (symmetric: numbers keep their text); ``iter_records`` is the
fast path over a memoryview that readers use, with byte offsets and line numbers (lines count the
CRLFs consumed, as redis-check-aof counts them).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

from construct import (
    Array,
    Bytes,
    Computed,
    Const,
    Construct,
    Peek,
    SizeofError,
    Struct,
    Switch,
    stream_read,
    stream_write,
    this,
)

from rdbtools.errors import FormatError, TruncatedError
from rdbtools.formats import accelerated

CRLF = b"\r\n"
TIMESTAMP_PREFIX = b"#TS:"
MAX_LINE = 1024  # Redis reads annotation lines into a buffer of this size


class DecimalLine(Construct):
    """Digits (as Redis's strtol reads them) up to CRLF; keeps the exact text so building is exact."""

    def _parse(self, stream, context, path):
        text = bytearray()
        while True:
            char = stream_read(stream, 1, path)
            if char == b"\r":
                if stream_read(stream, 1, path) != b"\n":
                    raise FormatError("expected \\r\\n after a number")
                break
            text += char
            if len(text) > 32:
                raise FormatError("number line too long")
        try:
            int(text)
        except ValueError:
            raise FormatError(f"not a number: {bytes(text)!r}") from None
        return bytes(text)

    def _build(self, obj, stream, context, path):
        data = (obj if isinstance(obj, bytes) else b"%d" % obj) + CRLF
        stream_write(stream, data, len(data), path)
        return obj

    def _sizeof(self, context, path):
        raise SizeofError("a number line has a variable size")


class TextLine(Construct):
    """An annotation's text, up to CRLF."""

    def _parse(self, stream, context, path):
        text = bytearray()
        while not text.endswith(CRLF):
            text += stream_read(stream, 1, path)
        return bytes(text[:-2])

    def _build(self, obj, stream, context, path):
        stream_write(stream, obj + CRLF, len(obj) + 2, path)
        return obj

    def _sizeof(self, context, path):
        raise SizeofError("a text line has a variable size")


BulkString = Struct(
    Const(b"$"),
    "length" / DecimalLine(),
    "data" / Bytes(lambda c: int(c.length)),
    Const(CRLF),  # Redis's loader skips these two bytes unchecked; redis-check-aof requires CRLF
)

Command = Struct(
    Const(b"*"),
    "argc" / DecimalLine(),
    "args" / Array(lambda c: int(c.argc), BulkString),
)

Annotation = Struct(Const(b"#"), "text" / TextLine())

RECORD = Struct(
    "tag" / Peek(Bytes(1)),
    "kind" / Computed(lambda c: "annotation" if c.tag == b"#" else "command"),
    "record" / Switch(this.kind, {"annotation": Annotation, "command": Command}),
)


# --- fast path -------------------------------------------------------------------------------


class RespRecord(NamedTuple):
    """One record of the stream: a command (args) or an annotation (text), with where it starts.
    (A tuple, so that the compiled scanner builds one without running Python code.)"""

    offset: int
    line: int  # 1-based line of its first byte
    args: list[bytes] | None
    annotation: bytes | None = None

    @property
    def timestamp(self) -> int | None:
        """The unix seconds of a ``#TS:`` annotation."""
        if self.annotation is None or not self.annotation.startswith(TIMESTAMP_PREFIX[1:]):
            return None
        text = self.annotation[len(TIMESTAMP_PREFIX) - 1 :]
        return int(text) if text.isdigit() else None


def _number(buf, pos: int, end: int, prefix: int, what: str) -> tuple[int, int]:
    """``<prefix><digits>\\r\\n`` at pos: (value, position after the CRLF)."""
    if pos >= end:
        raise TruncatedError(f"stream ends where {what} was expected", offset=pos)
    if buf[pos] != prefix:
        raise FormatError(f"expected {chr(prefix)!r} starting {what}, found {bytes(buf[pos:pos + 1])!r}",
                          offset=pos)
    newline = bytes(buf[pos : min(end, pos + 32)]).find(CRLF)
    if newline < 0:
        if end - pos < 32:
            raise TruncatedError(f"stream ends inside {what}", offset=pos)
        raise FormatError(f"{what} is not a number followed by \\r\\n", offset=pos)
    text = bytes(buf[pos + 1 : pos + newline])
    if not text.lstrip(b"-").isdigit():
        raise FormatError(f"{what} is not a number: {text!r}", offset=pos)
    return int(text), pos + newline + 2


def iter_records(buf, start: int = 0, end: int | None = None, first_line: int = 1) -> Iterator[RespRecord]:
    """Records from ``start``; FormatError / TruncatedError at the offset of the record that fails.

    Bulk lengths are checked against the bytes left before anything is read or allocated. Runs of
    clean records go through the compiled scanner when it is built; every other record is read here.
    """
    for batch in iter_record_batches(buf, start, end, first_line):
        yield from batch


def iter_record_batches(buf, start: int = 0, end: int | None = None,
                        first_line: int = 1) -> Iterator[list[RespRecord]]:
    """The records of ``iter_records`` in lists, as the compiled scanner makes them (for hot loops)."""
    end = len(buf) if end is None else end
    pos, line = start, first_line
    while pos < end:
        if _scan is not None:
            batch, pos, line = _scan(buf, pos, end, line, _SCAN_BATCH, RespRecord)
            if batch:
                yield batch
                continue
        record, pos, line = read_record(buf, pos, end, line)
        yield [record]


def read_record(buf, pos: int, end: int, line: int) -> tuple[RespRecord, int, int]:
    """The record at ``pos``: (record, position after it, line after it)."""
    record_start, record_line = pos, line
    if buf[pos] == 0x23:  # '#'
        newline = bytes(buf[pos : min(end, pos + MAX_LINE)]).find(CRLF)
        if newline < 0:
            raise (TruncatedError if end - pos < MAX_LINE else FormatError)(
                "annotation line without \\r\\n", offset=pos)
        return RespRecord(pos, line, None, bytes(buf[pos + 1 : pos + newline])), pos + newline + 2, line
    try:
        argc, pos = _number(buf, pos, end, 0x2A, "a command (*<argc>)")
        line += 1
        if argc < 1:
            raise FormatError(f"command with {argc} arguments", offset=record_start)
        args = []
        for _ in range(argc):
            length, pos = _number(buf, pos, end, 0x24, "an argument ($<length>)")
            line += 1
            if length < 0:
                raise FormatError(f"argument length {length}", offset=pos)
            if pos + length + 2 > end:
                raise TruncatedError(f"argument of {length} bytes runs past the end", offset=pos)
            args.append(bytes(buf[pos : pos + length]))
            if buf[pos + length : pos + length + 2] != CRLF:
                raise FormatError("argument not followed by \\r\\n", offset=pos + length)
            pos += length + 2
            line += 1
    except (FormatError, TruncatedError) as error:
        if error.offset is None:
            error.offset = record_start
        error.message = f"{error.message} (command starting at offset {record_start}, line {record_line})"
        raise
    return RespRecord(record_start, record_line, args), pos, line


_scan = accelerated("resp_scan")
_SCAN_BATCH = 4096  # records a call: bounds the batch in memory and lets readers release pages behind
