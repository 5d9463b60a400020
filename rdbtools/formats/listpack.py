"""Listpack (formats.md §5.2): hashes, zsets and sets of Redis 7+, quicklist-v2 nodes, stream nodes.

Grammar::

    listpack := u32le total-bytes   u16le count (65535 = unknown)   entry*   0xFF
    entry    := encoding [data] backlen
    encoding := 0xxxxxxx                 7-bit unsigned integer
              | 10pppppp data            string, length 0..63
              | 110xxxxx yyyyyyyy        13-bit signed integer (high bits first)
              | 1110pppp pppppppp data   string, 12-bit length (high bits first)
              | 0xF0 u32le data          string, 32-bit length
              | 0xF1 i16le | 0xF2 i24le | 0xF3 i32le | 0xF4 i64le
    backlen  := the size of encoding+data in 1..5 bytes, 7 bits a byte, read from the end: the first
                byte has bit 7 clear, the others set; the width follows fixed thresholds (BACKLEN_LIMITS).
                Redis's sanitizer reads it backwards until a byte with bit 7 clear and compares the
                value only (docs/integrity.md)

``LISTPACK`` is the construct schema; ``decode_listpack`` the fast path the reader uses.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from enum import IntEnum
from typing import Any, BinaryIO, NoReturn

from construct import (
    Const,
    Construct,
    Container,
    GreedyRange,
    Int16ul,
    Int32ul,
    ListContainer,
    SizeofError,
    Struct,
    stream_read,
    stream_write,
)

from rdbtools.errors import FormatError, TruncatedError
from rdbtools.formats import Blob, accelerated
from rdbtools.formats.numbers import canonical_int64

END = 0xFF
HEADER_SIZE = 6
UNKNOWN_COUNT = 65535  # the count field saturates; readers walk the entries instead


class Encoding(IntEnum):
    """Entry encodings, named by the tag bits of their first byte."""

    UINT7 = 0x00
    STR6 = 0x80
    INT13 = 0xC0
    STR12 = 0xE0
    STR32 = 0xF0
    INT16 = 0xF1
    INT24 = 0xF2
    INT32 = 0xF3
    INT64 = 0xF4


#: backlen widths by entry size: Redis's lpEncodeBacklen thresholds (deep validation insists on them)
BACKLEN_LIMITS = (127, 16382, 2097150, 268435454)

_FIXED_INTS = {
    Encoding.INT16: (2, -(1 << 15), (1 << 15) - 1),
    Encoding.INT24: (3, -(1 << 23), (1 << 23) - 1),
    Encoding.INT32: (4, -(1 << 31), (1 << 31) - 1),
    Encoding.INT64: (8, -(1 << 63), (1 << 63) - 1),
}


def backlen_width(size: int) -> int:
    for width, limit in enumerate(BACKLEN_LIMITS, 1):
        if size <= limit:
            return width
    return 5


def encode_backlen(size: int) -> bytes:
    if size <= 127:
        return bytes((size,))
    width = backlen_width(size)
    groups = [(size >> (7 * shift)) & 0x7F for shift in range(width - 1, -1, -1)]
    return bytes([groups[0]] + [g | 0x80 for g in groups[1:]])


def _encode_int(value: int, encoding: Encoding | None = None) -> bytes:
    """An integer entry's tag and data: lpAppend's smallest encoding unless ``encoding`` names one."""
    if encoding is None:
        if 0 <= value <= 127:
            return bytes((value,))
        if -4096 <= value <= 4095:
            encoding = Encoding.INT13
        else:
            encoding = next((e for e, (_, low, high) in _FIXED_INTS.items() if low <= value <= high), None)
            if encoding is None:
                raise OverflowError(f"{value} does not fit a 64-bit integer entry")
    if encoding is Encoding.UINT7:
        return bytes((value,))
    if encoding is Encoding.INT13:
        raw = value & 0x1FFF
        return bytes((0xC0 | raw >> 8, raw & 0xFF))
    return bytes((encoding,)) + value.to_bytes(_FIXED_INTS[encoding][0], "little", signed=True)


def _encode_str(value: bytes, encoding: Encoding | None = None) -> bytes:
    """A string entry's tag, length and data: the shortest length form unless ``encoding`` names one."""
    size = len(value)
    if encoding is None:
        encoding = Encoding.STR6 if size < 64 else Encoding.STR12 if size < 4096 else Encoding.STR32
    if encoding is Encoding.STR6:
        return bytes((0x80 | size,)) + value
    if encoding is Encoding.STR12:
        return bytes((0xE0 | size >> 8, size & 0xFF)) + value
    return b"\xf0" + struct.pack("<I", size) + value


def _encode_body(value: int | bytes, encoding: Encoding | None = None) -> bytes:
    """An entry without its backlen; split by the value's type, which fixes the encodings it can take."""
    if isinstance(value, int):
        return _encode_int(value, encoding)
    return _encode_str(value, encoding)


class EntryConstruct(Construct):
    """One listpack entry: Container(encoding, value, backlen). Without ``encoding`` (building from a
    value) it chooses as Redis does; a string value that is a canonical integer becomes an integer."""

    def _parse(self, stream: BinaryIO, context: Any, path: str) -> Any:
        first = stream_read(stream, 1, path)[0]
        if first == END:
            raise FormatError("listpack end marker")  # stops GreedyRange at the terminator
        if first < 0x80:
            encoding, value, body = Encoding.UINT7, first, bytes((first,))
        elif first < 0xC0:
            data = stream_read(stream, first & 0x3F, path)
            encoding, value, body = Encoding.STR6, data, bytes((first,)) + data
        elif first < 0xE0:
            low = stream_read(stream, 1, path)
            raw = (first & 0x1F) << 8 | low[0]
            encoding, value, body = Encoding.INT13, raw - 8192 if raw >= 4096 else raw, bytes((first,)) + low
        elif first < 0xF0:
            low = stream_read(stream, 1, path)
            data = stream_read(stream, (first & 0x0F) << 8 | low[0], path)
            encoding, value, body = Encoding.STR12, data, bytes((first,)) + low + data
        elif first == Encoding.STR32:
            size = stream_read(stream, 4, path)
            data = stream_read(stream, struct.unpack("<I", size)[0], path)
            encoding, value, body = Encoding.STR32, data, b"\xf0" + size + data
        elif first in _FIXED_INTS:
            encoding = Encoding(first)
            raw = stream_read(stream, _FIXED_INTS[encoding][0], path)
            value, body = int.from_bytes(raw, "little", signed=True), bytes((first,)) + raw
        else:
            raise FormatError(f"invalid listpack entry encoding 0x{first:02x}")
        backlen = stream_read(stream, backlen_width(len(body)), path)
        return Container(encoding=encoding, value=value, backlen=backlen)

    def _build(self, obj: Any, stream: BinaryIO, context: Any, path: str) -> Any:
        value = _entry_value(obj["value"] if isinstance(obj, dict) else obj)
        encoding = obj.get("encoding") if isinstance(obj, dict) else None
        body = _encode_body(value, Encoding(encoding) if encoding is not None else None)
        backlen = obj.get("backlen") if isinstance(obj, dict) else None
        data = body + (backlen if backlen is not None else encode_backlen(len(body)))
        stream_write(stream, data, len(data), path)
        return obj

    def _sizeof(self, context: Any, path: str) -> NoReturn:
        raise SizeofError("a listpack entry has a variable size")


Entry = EntryConstruct()

LISTPACK = Struct(
    "total_bytes" / Int32ul,  # includes the header and the terminator
    "count" / Int16ul,  # 65535: too many to count here, walk the entries
    "entries" / GreedyRange(Entry),
    "end" / Const(bytes((END,))),
)


def _entry_value(value: int | bytes) -> int | bytes:
    """What lpAppend stores: a string that is a canonical integer becomes an integer entry."""
    if isinstance(value, bytes):
        number = canonical_int64(value)
        return number if number is not None else value
    return value


def entry_size(value: int | bytes) -> int:
    """The bytes an entry takes as encode_listpack writes it (how full a quicklist node is)."""
    value = _entry_value(value)
    body = len(_encode_body(value))
    return body + backlen_width(body)


def schema_encode_listpack(values: Sequence[int | bytes]) -> bytes:
    """Build a listpack through the schema, header fields computed: the reference for the fast paths."""
    entries = ListContainer(Container(value=v) for v in values)
    body = sum(len(Entry.build(entry)) for entry in entries)
    return LISTPACK.build(Container(total_bytes=HEADER_SIZE + body + 1, count=min(len(values), UNKNOWN_COUNT),
                                    entries=entries))


def entry_bytes(value: int | bytes) -> bytes:
    """One entry with the encoding lpAppend chooses and its backlen."""
    value = _entry_value(value)
    body = _encode_body(value)
    return body + encode_backlen(len(body))


def python_encode_listpack(values: Sequence[int | bytes]) -> bytes:
    """The same bytes as ``schema_encode_listpack``, joined directly (the writer's hot path)."""
    body = b"".join(map(entry_bytes, values))
    return struct.pack("<IH", HEADER_SIZE + len(body) + 1, min(len(values), UNKNOWN_COUNT)) + body + b"\xff"


encode_listpack = accelerated("encode_listpack") or python_encode_listpack


# --- fast path -------------------------------------------------------------------------------

def python_decode_listpack(buf: Blob, deep: bool = False) -> list[int | bytes]:
    """Entries of a listpack blob as ints and bytes, with the checks Redis always does on load;
    ``deep`` adds the entry-level checks of its sanitizer (backlen values and widths).

    Each entry's extent is checked against the blob before anything in it is read, so an error
    always names the entry and where it starts; ``_speedups.c`` mirrors this step by step.
    """
    size = len(buf)
    if size < HEADER_SIZE + 1:
        raise TruncatedError(f"listpack of {size} bytes is shorter than its header", offset=0)
    total = buf[0] | buf[1] << 8 | buf[2] << 16 | buf[3] << 24
    if total != size:
        raise FormatError(f"listpack header says {total} bytes, the blob has {size}", offset=0)
    if buf[size - 1] != END:
        raise FormatError("listpack does not end with 0xFF", offset=size - 1)
    count = buf[4] | buf[5] << 8
    end = size - 1
    out: list[int | bytes] = []
    append = out.append
    pos = HEADER_SIZE
    while pos < end:
        first = buf[pos]
        if first < 0x80:
            body = 1
        elif first < 0xC0:
            body = 1 + (first & 0x3F)
        elif first < 0xE0:
            body = 2
        elif first < 0xF0:
            body = 2 + ((first & 0x0F) << 8 | buf[pos + 1]) if pos + 1 < end else end
        elif first == 0xF0:
            body = 5 + int.from_bytes(buf[pos + 1 : pos + 5], "little") if pos + 5 <= end else end
        elif first <= 0xF4:
            body = _INT_BODY[first]
        else:
            raise FormatError(f"listpack entry {len(out)}: invalid encoding byte 0x{first:02x}", offset=pos)
        width = 1 if body <= 127 else 2 if body < 16383 else 3 if body < 2097151 else 4 if body < 268435455 else 5
        if pos + body + width > end:
            raise TruncatedError(f"listpack entry {len(out)} runs past the end of the blob", offset=pos)
        if first < 0x80:
            append(first)
        elif first < 0xC0:
            append(bytes(buf[pos + 1 : pos + body]))
        elif first < 0xE0:
            raw = (first & 0x1F) << 8 | buf[pos + 1]
            append(raw - 8192 if raw >= 4096 else raw)
        elif first < 0xF0:
            append(bytes(buf[pos + 2 : pos + body]))
        elif first == 0xF0:
            append(bytes(buf[pos + 5 : pos + body]))
        else:
            append(int.from_bytes(buf[pos + 1 : pos + body], "little", signed=True))
        if deep and (width != 1 or buf[pos + body] != body):
            _check_backlen(buf, pos + body + width, body, len(out) - 1)
        pos += body + width
    if count != UNKNOWN_COUNT and count != len(out):
        raise FormatError(f"listpack header counts {count} entries, found {len(out)}", offset=4)
    return out


_INT_BODY = {0xF1: 3, 0xF2: 4, 0xF3: 5, 0xF4: 9}


def _check_backlen(buf: Blob, entry_end: int, body: int, index: int) -> None:
    """Redis's lpValidateNext: the back-length read backwards from the entry's last byte, 7 bits a byte
    until a byte with bit 7 clear (at most 5 bytes), must equal the entry's size. Only the value is
    checked: the bytes it spans may reach into the entry's data, as Redis reads them."""
    value, shift, at = 0, 0, entry_end - 1
    while True:
        byte = buf[at]
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            break
        shift, at = shift + 7, at - 1
        if shift > 28:
            raise FormatError(f"listpack entry {index}: back-length runs over 5 bytes", offset=entry_end - 1)
    if value != body:
        raise FormatError(f"listpack entry {index}: back-length says {value} bytes, entry is {body}",
                          offset=entry_end - 1)


#: the compiled twin when built (identical results and errors, tests/formats/test_speedups.py)
decode_listpack = accelerated("decode_listpack") or python_decode_listpack
