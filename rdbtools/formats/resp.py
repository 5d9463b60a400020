"""The AOF command stream (formats.md §8.1–8.2): RESP arrays of bulk strings and annotations.

Grammar::

    stream     := record*
    record     := annotation | command
    annotation := '#' text CRLF                    "#TS:<unix seconds>" is the only kind Redis writes
    command    := '*' argc CRLF  argc x ( '$' length CRLF  length bytes  CRLF )

``RECORD`` is the construct schema of what Redis writes (symmetric: numbers keep their text);
``iter_records`` is the fast path over a memoryview that readers use, with byte offsets and line
numbers (lines count the CRLFs consumed, as redis-check-aof counts them).

``iter_records`` reads what Redis's AOF loader (aof.c, loadSingleAppendOnlyFile; the same in Redis
7.0, 8.2 and Valkey 9.1) loads: each line is what fgets reads into a 1024-byte buffer (up to a
'\\n', a CR before it optional); an argument count is atoi's (leading C spaces, a sign, leading
zeros and trailing text pass: '* 3x' is 3, truncated to a C int), a bulk length strtol's; the two
bytes after an argument are skipped unchecked. redis-check-aof is stricter (aof/check.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, BinaryIO, NamedTuple, NoReturn

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
from rdbtools.formats import Blob, accelerated
from rdbtools.formats.numbers import INT64_MAX, INT64_MIN, strtol

CRLF = b"\r\n"
TIMESTAMP_PREFIX = b"#TS:"
MAX_LINE = 1024  # Redis reads annotation lines into a buffer of this size


class DecimalLine(Construct):
    """Digits (as Redis's strtol reads them) up to CRLF; keeps the exact text so building is exact."""

    def _parse(self, stream: BinaryIO, context: Any, path: str) -> Any:
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
        if not text.removeprefix(b"-").isdigit():  # ASCII digits only, as Redis writes them (int() took more)
            raise FormatError(f"not a number: {bytes(text)!r}")
        return bytes(text)

    def _build(self, obj: Any, stream: BinaryIO, context: Any, path: str) -> Any:
        data = (obj if isinstance(obj, bytes) else b"%d" % obj) + CRLF
        stream_write(stream, data, len(data), path)
        return obj

    def _sizeof(self, context: Any, path: str) -> NoReturn:
        raise SizeofError("a number line has a variable size")


class TextLine(Construct):
    """An annotation's text, up to CRLF."""

    def _parse(self, stream: BinaryIO, context: Any, path: str) -> Any:
        text = bytearray()
        while not text.endswith(CRLF):
            text += stream_read(stream, 1, path)
        return bytes(text[:-2])

    def _build(self, obj: Any, stream: BinaryIO, context: Any, path: str) -> Any:
        stream_write(stream, obj + CRLF, len(obj) + 2, path)
        return obj

    def _sizeof(self, context: Any, path: str) -> NoReturn:
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
        """The unix seconds of a ``#TS:`` annotation, as redis-check-aof reads them (strtol up to the CR,
        no overflow: '#TS: 5', '#TS:+5' and '#TS:' (0) count, '#TS:5 ' and '#TS:0x5' do not)."""
        if self.annotation is None or not self.annotation.startswith(TIMESTAMP_PREFIX[1:]):
            return None
        value, stop = strtol(self.annotation, len(TIMESTAMP_PREFIX) - 1)
        return value if stop == len(self.annotation) and INT64_MIN < value < INT64_MAX else None


def _line(buf: Blob, pos: int, end: int) -> tuple[bytes, bool]:
    """What the loader's fgets reads at pos: up to and with a '\\n', at most MAX_LINE - 1 bytes; and whether
    it stopped at the end of the stream."""
    stop = min(end, pos + MAX_LINE - 1)
    text = bytes(buf[pos:stop])
    newline = text.find(b"\n")
    if newline >= 0:
        return text[: newline + 1], False
    return text, stop == end


def _c_int(value: int) -> int:
    """atoi's result: strtol's long cut to a C int."""
    return (value + (1 << 31)) % (1 << 32) - (1 << 31)


def _annotation(text: bytes) -> bytes:
    """An annotation line's text: after '#', without its CRLF (a lone LF is kept, so that the text is
    not a timestamp redis-check-aof would read)."""
    return text[1:-2] if text.endswith(CRLF) else text[1:]


def iter_records(buf: Blob, start: int = 0, end: int | None = None, first_line: int = 1) -> Iterator[RespRecord]:
    """Records from ``start``; FormatError / TruncatedError at the offset of the record that fails.

    Bulk lengths are checked against the bytes left before anything is read or allocated. Runs of
    clean records go through the compiled scanner when it is built; every other record is read here.
    """
    for batch in iter_record_batches(buf, start, end, first_line):
        yield from batch


def iter_record_batches(buf: Blob, start: int = 0, end: int | None = None,
                        first_line: int = 1) -> Iterator[list[RespRecord]]:
    """The records of ``iter_records`` in lists, as the compiled scanner makes them (for hot loops)."""
    end = len(buf) if end is None else end
    pos, line = start, first_line
    while pos < end:
        if _scan is not None:
            batch, scanned, scanned_line = _scan(buf, pos, end, line, _SCAN_BATCH, RespRecord)
            misread = _first_misread_annotation(batch)
            if misread is None:
                pos, line = scanned, scanned_line
            else:  # read again here, as the loader reads it
                batch, pos, line = batch[:misread], batch[misread].offset, batch[misread].line
            if batch:
                yield batch
                continue
        record, pos, line = read_record(buf, pos, end, line)
        yield [record]


def _first_misread_annotation(batch: list[RespRecord]) -> int | None:
    """The compiled scan ends an annotation at a CRLF within 1024 bytes; the loader's fgets ends it at the
    first LF, after at most 1023 bytes. The index of the first annotation they read differently."""
    for index, record in enumerate(batch):
        text = record.annotation
        if text is not None and (b"\n" in text or len(text) > MAX_LINE - 4):
            return index
    return None


def read_record(buf: Blob, pos: int, end: int, line: int) -> tuple[RespRecord, int, int]:
    """The record at ``pos``, read as the loader reads it: (record, position after it, line after it).
    A TruncatedError's offset is the start of the record cut short (where the loader truncates)."""
    record_start, record_line = pos, line
    text, at_end = _line(buf, pos, end)
    if text[0] == 0x23:  # '#'
        return RespRecord(pos, line, None, _annotation(text)), pos + len(text), line
    try:
        args, pos, line = _command(buf, pos, end, line, text, at_end)
    except (FormatError, TruncatedError) as error:
        if error.offset is None or isinstance(error, TruncatedError):
            error.offset = record_start
        error.message = f"{error.message} (command starting at offset {record_start}, line {record_line})"
        raise
    return RespRecord(record_start, record_line, args), pos, line


def _command(buf: Blob, pos: int, end: int, line: int, text: bytes, at_end: bool) -> tuple[list[bytes], int, int]:
    """A command whose '*' line is ``text``: (args, position after it, line after it)."""
    if text[0] != 0x2A:  # '*'
        raise FormatError(f"expected '*' starting a command, found {text[:1]!r}", offset=pos)
    if len(text) == 1 or text[1] == 0:
        raise (TruncatedError if at_end else FormatError)("a command (*<argc>) without a count", offset=pos)
    argc = _c_int(strtol(text, 1)[0])
    pos, line = pos + len(text), line + 1
    if argc < 1:
        raise FormatError(f"command with {argc} arguments")
    args = []
    for _ in range(argc):
        if pos >= end:
            raise TruncatedError("stream ends where an argument ($<length>) was expected", offset=pos)
        text = _line(buf, pos, end)[0]
        if text[0] != 0x24:  # '$'
            raise FormatError(f"expected '$' starting an argument, found {text[:1]!r}", offset=pos)
        length = strtol(text, 1)[0]
        pos, line = pos + len(text), line + 1
        if length < 0:  # an unsigned long to the loader: it aborts allocating it
            raise FormatError(f"argument length {length}", offset=pos)
        if pos + length + 2 > end:
            raise TruncatedError(f"argument of {length} bytes runs past the end", offset=pos)
        args.append(bytes(buf[pos : pos + length]))
        pos, line = pos + length + 2, line + 1  # the two bytes after it are skipped, whatever they are
    return args, pos, line


_scan = accelerated("resp_scan")
_SCAN_BATCH = 4096  # records a call: bounds the batch in memory and lets readers release pages behind
