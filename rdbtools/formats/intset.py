"""Intset (formats.md §5.3): sets of integers.

Grammar::

    intset := u32le encoding (2, 4 or 8 bytes an element)   u32le length (> 0)
              length x int (signed, little-endian, strictly ascending)

Redis writes the smallest width that holds every element; deep validation checks the order.
"""

from __future__ import annotations

import struct

from construct import Array, Container, Int16sl, Int32sl, Int32ul, Int64sl, Struct, Switch, this

from rdbtools.errors import FormatError, TruncatedError
from rdbtools.formats import Blob

_WIDTH_TYPES = {2: Int16sl, 4: Int32sl, 8: Int64sl}
_FORMATS = {2: "h", 4: "i", 8: "q"}

INTSET = Struct(
    "encoding" / Int32ul,  # bytes per element: the width of the largest element
    "length" / Int32ul,
    "elements" / Array(this.length, Switch(this.encoding, _WIDTH_TYPES)),
)


def smallest_width(values: list[int]) -> int:
    for width, limit in ((2, 1 << 15), (4, 1 << 31)):
        if all(-limit <= v < limit for v in values):
            return width
    return 8


def schema_encode_intset(values: list[int]) -> bytes:
    """As Redis writes it (sorted, distinct, smallest width), through the schema: the fast path's reference."""
    elements = sorted(set(values))
    return INTSET.build(Container(encoding=smallest_width(elements), length=len(elements), elements=elements))


def encode_intset(values: list[int]) -> bytes:
    """The same bytes as ``schema_encode_intset``, packed in one call (the writer's hot path)."""
    elements = sorted(set(values))
    width = smallest_width(elements)
    return struct.pack(f"<II{len(elements)}{_FORMATS[width]}", width, len(elements), *elements)


def decode_intset(buf: Blob, deep: bool = False) -> list[int]:
    size = len(buf)
    if size < 8:
        raise TruncatedError(f"intset of {size} bytes is shorter than its header", offset=0)
    width, length = struct.unpack_from("<II", buf, 0)
    if width not in _FORMATS:
        raise FormatError(f"intset encoding must be 2, 4 or 8 bytes, found {width}", offset=0)
    if length == 0:
        raise FormatError("intset holds no elements", offset=4)
    if size != 8 + length * width:
        raise FormatError(f"intset of {length} x {width}-byte elements needs {8 + length * width} bytes, "
                          f"the blob has {size}", offset=4)
    values = list(struct.unpack_from(f"<{length}{_FORMATS[width]}", buf, 8))
    if deep:
        for i in range(1, length):
            if values[i] <= values[i - 1]:
                raise FormatError(f"intset element {i} ({values[i]}) is not above the one before it",
                                  offset=8 + i * width)
    return values
