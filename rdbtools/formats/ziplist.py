"""Ziplist (formats.md §5.1): lists, hashes and zsets of Redis 2.4–6.2 and quicklist-v1 nodes.

Grammar::

    ziplist  := u32le zlbytes   u32le zltail (offset of the last entry)   u16le zllen (65535 = unknown)
                entry*   0xFF
    entry    := prevlen encoding [data]
    prevlen  := u8 (< 254)  |  0xFE u32le          size of the previous entry (0 for the first)
    encoding := 00pppppp data | 01pppppp qqqqqqqq data (14-bit BE) | 10xxxxxx u32be data  strings
              | 0xC0 i16le | 0xD0 i32le | 0xE0 i64le | 0xF0 i24le | 0xFE i8              integers
              | 0xF1..0xFD                           immediate 0..12 = (byte & 0x0F) - 1

A 5-byte prevlen holding a small value is legal (cascading updates leave them), so entries keep
the form they were read in. Redis validates ziplists fully on every load (it converts them), so the
fast path always checks prevlens and the tail offset, with Redis's ziplistValidateIntegrity rules
(docs/integrity.md): Redis writes 0x80 for a 32-bit string but reads any 10xxxxxx tag as one, and
an empty ziplist's tail only has to stay inside the blob.
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
    SizeofError,
    Struct,
    stream_read,
    stream_write,
)

from rdbtools.errors import FormatError, TruncatedError
from rdbtools.formats import Blob, accelerated
from rdbtools.formats.numbers import canonical_int64

END = 0xFF
HEADER_SIZE = 10
UNKNOWN_COUNT = 65535
BIG_PREVLEN = 0xFE


class Encoding(IntEnum):
    STR6 = 0x00
    STR14 = 0x40
    STR32 = 0x80
    INT16 = 0xC0
    INT32 = 0xD0
    INT64 = 0xE0
    INT24 = 0xF0
    INT8 = 0xFE
    IMMEDIATE = 0xF1  # 0xF1..0xFD, the value is in the low four bits


_FIXED_INTS = {
    Encoding.INT8: (1, -(1 << 7), (1 << 7) - 1),
    Encoding.INT16: (2, -(1 << 15), (1 << 15) - 1),
    Encoding.INT24: (3, -(1 << 23), (1 << 23) - 1),
    Encoding.INT32: (4, -(1 << 31), (1 << 31) - 1),
    Encoding.INT64: (8, -(1 << 63), (1 << 63) - 1),
}
_INT_ORDER = (Encoding.INT8, Encoding.INT16, Encoding.INT24, Encoding.INT32, Encoding.INT64)


def _encode_int(value: int, encoding: Encoding | None = None) -> bytes:
    """zipTryEncoding's integer forms: immediates 0..12, then the smallest integer, unless ``encoding`` names one."""
    if encoding is None:
        if 0 <= value <= 12:
            return bytes((0xF1 + value,))
        encoding = next((e for e in _INT_ORDER if _FIXED_INTS[e][1] <= value <= _FIXED_INTS[e][2]), None)
        if encoding is None:
            raise OverflowError(f"{value} does not fit a 64-bit integer entry")
    if encoding is Encoding.IMMEDIATE:
        return bytes((0xF1 + value,))
    return bytes((encoding,)) + value.to_bytes(_FIXED_INTS[encoding][0], "little", signed=True)


def _encode_str(value: bytes, encoding: Encoding | None = None) -> bytes:
    """A string entry's tag, length and data: the shortest length form unless ``encoding`` names one."""
    size = len(value)
    if encoding is None:
        encoding = Encoding.STR6 if size < 64 else Encoding.STR14 if size < 16384 else Encoding.STR32
    if encoding is Encoding.STR6:
        return bytes((size,)) + value
    if encoding is Encoding.STR14:
        return bytes((0x40 | size >> 8, size & 0xFF)) + value
    return b"\x80" + struct.pack(">I", size) + value


def _encode_body(value: int | bytes, encoding: Encoding | None = None) -> bytes:
    """An entry without its prevlen; split by the value's type, which fixes the encodings it can take."""
    if isinstance(value, int):
        return _encode_int(value, encoding)
    return _encode_str(value, encoding)


def encode_prevlen(size: int, wide: bool = False) -> bytes:
    return bytes((size,)) if size < BIG_PREVLEN and not wide else b"\xfe" + struct.pack("<I", size)


class EntryConstruct(Construct):
    """One entry: Container(prevlen, prevlen_wide, encoding, value)."""

    def _parse(self, stream: BinaryIO, context: Any, path: str) -> Any:
        first = stream_read(stream, 1, path)[0]
        if first == END:
            raise FormatError("ziplist end marker")  # stops GreedyRange at the terminator
        wide = first == BIG_PREVLEN
        prevlen = struct.unpack("<I", stream_read(stream, 4, path))[0] if wide else first
        tag = stream_read(stream, 1, path)[0]
        kind = tag & 0xC0
        if kind == 0x00:
            encoding, value = Encoding.STR6, stream_read(stream, tag & 0x3F, path)
        elif kind == 0x40:
            size = (tag & 0x3F) << 8 | stream_read(stream, 1, path)[0]
            encoding, value = Encoding.STR14, stream_read(stream, size, path)
        elif kind == 0x80:
            size = struct.unpack(">I", stream_read(stream, 4, path))[0]
            encoding, value = Encoding.STR32, stream_read(stream, size, path)
        elif tag in _FIXED_INTS:
            encoding = Encoding(tag)
            value = int.from_bytes(stream_read(stream, _FIXED_INTS[encoding][0], path), "little", signed=True)
        elif 0xF1 <= tag <= 0xFD:
            encoding, value = Encoding.IMMEDIATE, (tag & 0x0F) - 1
        else:
            raise FormatError(f"invalid ziplist entry encoding 0x{tag:02x}")
        return Container(prevlen=prevlen, prevlen_wide=wide, encoding=encoding, value=value)

    def _build(self, obj: Any, stream: BinaryIO, context: Any, path: str) -> Any:
        value = _entry_value(obj["value"])
        encoding = obj.get("encoding")
        body = _encode_body(value, Encoding(encoding) if encoding is not None else None)
        data = encode_prevlen(obj.get("prevlen", 0), obj.get("prevlen_wide", False)) + body
        stream_write(stream, data, len(data), path)
        return obj

    def _sizeof(self, context: Any, path: str) -> NoReturn:
        raise SizeofError("a ziplist entry has a variable size")


Entry = EntryConstruct()

ZIPLIST = Struct(
    "zlbytes" / Int32ul,  # the whole blob, header and terminator included
    "zltail" / Int32ul,  # offset of the last entry; 10 (the terminator) when empty
    "zllen" / Int16ul,  # 65535: too many to count here, walk the entries
    "entries" / GreedyRange(Entry),
    "end" / Const(bytes((END,))),
)


def _entry_value(value: int | bytes) -> int | bytes:
    """zipTryEncoding: a string under 32 bytes that is a canonical integer is stored as one."""
    if isinstance(value, bytes) and len(value) < 32:
        number = canonical_int64(value)
        return number if number is not None else value
    return value


def schema_encode_ziplist(values: Sequence[int | bytes]) -> bytes:
    """Build a ziplist through the schema, prevlens and header computed: the reference for the fast path."""
    entries, prev_size, offset, tail = [], 0, HEADER_SIZE, HEADER_SIZE
    for value in values:
        entry = Container(prevlen=prev_size, prevlen_wide=False, value=value)
        size = len(Entry.build(entry))
        entries.append(entry)
        tail, prev_size, offset = offset, size, offset + size
    return ZIPLIST.build(Container(zlbytes=offset + 1, zltail=tail, zllen=min(len(values), UNKNOWN_COUNT),
                                   entries=entries))


def encode_ziplist(values: Sequence[int | bytes]) -> bytes:
    """The same bytes as ``schema_encode_ziplist``, joined directly (the writer's hot path)."""
    parts, prev_size, offset, tail = [], 0, HEADER_SIZE, HEADER_SIZE
    for value in values:
        value = _entry_value(value)
        entry = encode_prevlen(prev_size) + _encode_body(value)
        parts.append(entry)
        tail, prev_size, offset = offset, len(entry), offset + len(entry)
    header = struct.pack("<IIH", offset + 1, tail, min(len(values), UNKNOWN_COUNT))
    return header + b"".join(parts) + b"\xff"


# --- fast path -------------------------------------------------------------------------------

#: integer entry tags: (data bytes, signed little-endian)
_INT_DATA = {0xFE: 1, 0xC0: 2, 0xF0: 3, 0xD0: 4, 0xE0: 8}


def python_decode_ziplist(buf: Blob, deep: bool = False) -> list[int | bytes]:
    """Entries of a ziplist blob as ints and bytes, fully validated (as Redis does on every load).

    Each entry's extent is checked against the blob before its data is read, so an error always
    names the entry and where it starts; ``_speedups.c`` mirrors this step by step.
    """
    size = len(buf)
    if size < HEADER_SIZE + 1:
        raise TruncatedError(f"ziplist of {size} bytes is shorter than its header", offset=0)
    zlbytes, zltail, zllen = struct.unpack_from("<IIH", buf, 0)
    if zlbytes != size:
        raise FormatError(f"ziplist header says {zlbytes} bytes, the blob has {size}", offset=0)
    if buf[size - 1] != END:
        raise FormatError("ziplist does not end with 0xFF", offset=size - 1)
    out: list[int | bytes] = []
    append = out.append
    pos, prev_size, last = HEADER_SIZE, 0, HEADER_SIZE
    end = size - 1
    while pos < end:
        start = pos
        first = buf[pos]
        if first < BIG_PREVLEN:
            prevlen, header = first, pos + 1
        elif first == BIG_PREVLEN:
            if pos + 5 > end:
                raise TruncatedError(f"ziplist entry {len(out)} runs past the end of the blob", offset=start)
            prevlen, header = int.from_bytes(buf[pos + 1 : pos + 5], "little"), pos + 5
        else:
            raise FormatError(f"ziplist entry {len(out)}: end marker inside the entries", offset=pos)
        if prevlen != prev_size:
            raise FormatError(f"ziplist entry {len(out)}: prevlen says {prevlen}, previous entry is "
                              f"{prev_size} bytes", offset=start)
        if header >= end:
            raise TruncatedError(f"ziplist entry {len(out)} runs past the end of the blob", offset=start)
        tag = buf[header]
        if tag < 0x40:
            data, length = header + 1, tag
        elif tag < 0x80:
            data = header + 2
            length = (tag & 0x3F) << 8 | buf[header + 1] if data <= end else end
        elif tag < 0xC0:  # 10pppppp: Redis ignores the low bits of a 32-bit string's tag
            data = header + 5
            length = int.from_bytes(buf[header + 1 : data], "big") if data <= end else end
        elif 0xF1 <= tag <= 0xFD:
            data, length = header + 1, 0
        elif tag in _INT_DATA:
            data, length = header + 1, _INT_DATA[tag]
        else:
            raise FormatError(f"ziplist entry {len(out)}: invalid encoding byte 0x{tag:02x}", offset=header)
        pos = data + length
        if pos > end:
            raise TruncatedError(f"ziplist entry {len(out)} runs past the end of the blob", offset=start)
        if tag < 0xC0:
            append(bytes(buf[data:pos]))
        elif 0xF1 <= tag <= 0xFD:
            append((tag & 0x0F) - 1)
        else:
            append(int.from_bytes(buf[data:pos], "little", signed=True))
        prev_size, last = pos - start, start
    if out and zltail != last:
        raise FormatError(f"ziplist tail offset {zltail} does not point at the last entry ({last})", offset=4)
    if zltail > end:  # an empty ziplist's tail is only checked to be inside the blob, as Redis does
        raise FormatError(f"ziplist tail offset {zltail} is past the end marker ({end})", offset=4)
    if zllen != UNKNOWN_COUNT and zllen != len(out):
        raise FormatError(f"ziplist header counts {zllen} entries, found {len(out)}", offset=8)
    return out


#: the compiled twin when built (identical results and errors, tests/formats/test_speedups.py)
decode_ziplist = accelerated("decode_ziplist") or python_decode_ziplist
