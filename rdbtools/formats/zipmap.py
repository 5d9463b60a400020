"""Zipmap (formats.md §5.4): small hashes of Redis 2.4.

Grammar::

    zipmap := u8 zmlen (entry count; 254 = unknown)   entry*   0xFF
    entry  := len key   len value   u8 free   value   free x padding
    len    := u8 (0..253)  |  0xFE u32le

``free`` counts unused bytes after a value that shrank in place; they are kept so that building
gives back the same bytes.

Loading checks what Redis's zipmapValidateIntegrity checks (docs/integrity.md): at least one
entry, and a header that holds the real count or 254 (so 255 is refused, whatever the entries);
entries end at the first 0xFF and what follows it up to the last byte is never read.
"""

from __future__ import annotations

import struct
from typing import Any, BinaryIO, NoReturn

from construct import (
    Bytes,
    Const,
    Construct,
    Container,
    GreedyRange,
    Int8ul,
    SizeofError,
    Struct,
    stream_read,
    stream_write,
    this,
)

from rdbtools.errors import FormatError, TruncatedError
from rdbtools.formats import Blob

END = 0xFF
BIG_LENGTH = 0xFE
UNKNOWN_COUNT = 254


class LengthConstruct(Construct):
    """A zipmap length: one byte below 254, else 0xFE and a u32le (kept as read)."""

    def _parse(self, stream: BinaryIO, context: Any, path: str) -> Any:
        first = stream_read(stream, 1, path)[0]
        if first == END:
            raise FormatError("zipmap end marker")  # stops GreedyRange at the terminator
        if first == BIG_LENGTH:
            return Container(value=struct.unpack("<I", stream_read(stream, 4, path))[0], wide=True)
        return Container(value=first, wide=False)

    def _build(self, obj: Any, stream: BinaryIO, context: Any, path: str) -> Any:
        value, wide = (obj["value"], obj.get("wide", False)) if isinstance(obj, dict) else (obj, False)
        data = bytes((value,)) if value < BIG_LENGTH and not wide else b"\xfe" + struct.pack("<I", value)
        stream_write(stream, data, len(data), path)
        return obj

    def _sizeof(self, context: Any, path: str) -> NoReturn:
        raise SizeofError("a zipmap length has a variable size")


Length = LengthConstruct()

ENTRY = Struct(
    "key_length" / Length,
    "key" / Bytes(this.key_length.value),
    "value_length" / Length,
    "free" / Int8ul,  # unused bytes after the value
    "value" / Bytes(this.value_length.value),
    "padding" / Bytes(this.free),
)

ZIPMAP = Struct(
    "zmlen" / Int8ul,  # entry count while below 254
    "entries" / GreedyRange(ENTRY),
    "end" / Const(bytes((END,))),
)


def encode_zipmap(pairs: list[tuple[bytes, bytes]]) -> bytes:
    entries = [Container(key_length=Container(value=len(k)), key=k, value_length=Container(value=len(v)),
                         free=0, value=v, padding=b"") for k, v in pairs]
    return ZIPMAP.build(Container(zmlen=min(len(pairs), UNKNOWN_COUNT), entries=entries))


def _read_length(buf: Blob, pos: int) -> tuple[int, int]:
    first = buf[pos]
    if first < BIG_LENGTH:
        return first, pos + 1
    if first == BIG_LENGTH:
        return struct.unpack_from("<I", buf, pos + 1)[0], pos + 5
    raise FormatError("zipmap ends inside an entry", offset=pos)


def decode_zipmap(buf: Blob, deep: bool = False) -> list[tuple[bytes, bytes]]:
    size = len(buf)
    if size < 2:
        raise TruncatedError("zipmap shorter than its header and terminator", offset=0)
    if buf[size - 1] != END:
        raise FormatError("zipmap does not end with 0xFF", offset=size - 1)
    pairs = []
    pos = 1
    try:
        while buf[pos] != END:
            key_length, pos = _read_length(buf, pos)
            key = bytes(buf[pos : pos + key_length])
            pos += key_length
            value_length, pos = _read_length(buf, pos)
            free = buf[pos]
            value = bytes(buf[pos + 1 : pos + 1 + value_length])
            pos += 1 + value_length + free
            if pos >= size:
                raise IndexError
            pairs.append((key, value))
    except (IndexError, struct.error):
        raise TruncatedError(f"zipmap entry {len(pairs)} runs past the end of the blob", offset=pos) from None
    if not pairs:
        raise FormatError("zipmap holds no entries", offset=0)
    if buf[0] != UNKNOWN_COUNT and buf[0] != len(pairs):
        raise FormatError(f"zipmap header counts {buf[0]} entries, found {len(pairs)} "
                          f"(only {UNKNOWN_COUNT} stands for 'unknown')", offset=0)
    return pairs
