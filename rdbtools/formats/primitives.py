"""RDB primitive encodings (formats.md §3): lengths, strings, doubles.

Grammar::

    len     := 00xxxxxx                     6-bit value
             | 01xxxxxx yyyyyyyy            14-bit value, big-endian
             | 0x80 u32be                   32-bit value
             | 0x81 u64be                   64-bit value (RDB 8+)
    str     := len bytes                    raw
             | 0xC0 i8 | 0xC1 i16le | 0xC2 i32le      an integer, read back as its decimal text
             | 0xC3 len(clen) len(ulen) clen-bytes     LZF-compressed (liblzf format)
    dbl-txt := u8 n text(n)                 n = 253 NaN, 254 +inf, 255 -inf (type 3 scores)
    dbl-bin := f64le                        type 5 scores, module doubles

Each construct here is symmetric: building what it parsed gives back the same bytes, even where
the file used a form Redis would not choose (a non-minimal length, "12" stored raw). The parsed
values are plain ``int``/``bytes``/``float`` subclasses that remember such choices, so callers can
treat them as ordinary values. Beside each schema sits its fast path (``read_length``,
``read_string``) used by the streaming reader; tests/formats/test_primitives.py proves they agree.
"""

from __future__ import annotations

import math
import re
import struct
from enum import IntEnum
from functools import partial
from typing import Any, BinaryIO, NoReturn

import lzf
from construct import Construct, SizeofError, stream_read, stream_write

from rdbtools.errors import FormatError, TruncatedError
from rdbtools.formats import Blob, accelerated
from rdbtools.formats.numbers import canonical_int64

# --- lengths ---------------------------------------------------------------------------------


class LengthForm(IntEnum):
    """The first byte (or its top two bits) of a length."""

    BITS6 = 0x00
    BITS14 = 0x40
    BITS32 = 0x80
    BITS64 = 0x81  # RDB 8+: 64-bit lengths
    ENCODED = 0xC0  # not a length: a special string encoding follows (§3.2)


_FORM_SIZE = {LengthForm.BITS6: 1, LengthForm.BITS14: 2, LengthForm.BITS32: 5, LengthForm.BITS64: 9}


def minimal_length_form(value: int) -> LengthForm:
    """The form Redis's rdbSaveLen picks: the shortest that holds the value."""
    if value < 1 << 6:
        return LengthForm.BITS6
    if value < 1 << 14:
        return LengthForm.BITS14
    if value <= 0xFFFFFFFF:
        return LengthForm.BITS32
    return LengthForm.BITS64


class RdbLength(int):
    """A length read in a form longer than needed; building writes that same form again."""

    form: LengthForm

    def __new__(cls, value: int, form: LengthForm) -> RdbLength:
        obj = super().__new__(cls, value)
        obj.form = form
        return obj


def encode_length(value: int, form: LengthForm | None = None) -> bytes:
    if value < 0 or value > 0xFFFFFFFFFFFFFFFF:
        raise FormatError(f"length {value} does not fit the RDB length encoding")
    form = form if form is not None else minimal_length_form(value)
    if form is LengthForm.BITS6 and value < 64:
        return bytes((value,))
    if form is LengthForm.BITS14 and value < 1 << 14:
        return bytes((0x40 | value >> 8, value & 0xFF))
    if form is LengthForm.BITS32 and value <= 0xFFFFFFFF:
        return b"\x80" + value.to_bytes(4, "big")
    if form is LengthForm.BITS64:
        return b"\x81" + value.to_bytes(8, "big")
    raise FormatError(f"length {value} does not fit form {form.name}")


class LengthConstruct(Construct):
    """`len` (§3.1). Parses to ``int`` (``RdbLength`` when the form was not minimal)."""

    def _parse(self, stream: BinaryIO, context: Any, path: str) -> Any:
        first = stream_read(stream, 1, path)[0]
        kind = first & 0xC0
        if kind == 0x00:
            return first
        if kind == 0x40:
            value = (first & 0x3F) << 8 | stream_read(stream, 1, path)[0]
            form = LengthForm.BITS14
        elif first == 0x80:
            value = int.from_bytes(stream_read(stream, 4, path), "big")
            form = LengthForm.BITS32
        elif first == 0x81:
            value = int.from_bytes(stream_read(stream, 8, path), "big")
            form = LengthForm.BITS64
        else:
            raise FormatError(f"expected a length, found byte 0x{first:02x}")
        if form != minimal_length_form(value):
            return RdbLength(value, form)
        return value

    def _build(self, obj: Any, stream: BinaryIO, context: Any, path: str) -> Any:
        data = encode_length(obj, getattr(obj, "form", None))
        stream_write(stream, data, len(data), path)
        return obj

    def _sizeof(self, context: Any, path: str) -> NoReturn:
        raise SizeofError("a length has a variable size")


Length = LengthConstruct()

# --- strings ---------------------------------------------------------------------------------


class StringEncoding(IntEnum):
    """Low six bits of a ``11xxxxxx`` string head byte."""

    INT8 = 0
    INT16 = 1
    INT32 = 2
    LZF = 3


_INT_STRUCTS = {
    StringEncoding.INT8: struct.Struct("<b"),
    StringEncoding.INT16: struct.Struct("<h"),
    StringEncoding.INT32: struct.Struct("<i"),
}

#: liblzf emits at most 264 bytes per 3-byte back-reference: a larger claim is corrupt, and must
#: be refused before the output buffer is allocated.
LZF_MAX_RATIO = 89


def lzf_as_redis(data: bytes) -> bytes | None:
    """LZF of ``data`` when Redis stores it so (rdbSaveLzfStringObject: it must save 4 bytes): Redis gives
    lzf_compress a buffer of len - 4 bytes; python-lzf gives it one more byte than the max_len it is told."""
    return lzf.compress(data, len(data) - 5)


class RdbBytes(bytes):
    """String bytes that remember how the file stored them, so that building is exact.

    ``encoding`` is ``None`` for raw strings; ``compressed`` holds the LZF payload as stored
    (Redis's LZF output and python-lzf's can differ); ``length_form`` a non-minimal raw length.
    """

    encoding: StringEncoding | None
    compressed: bytes | None
    length_form: LengthForm | None

    def __new__(
        cls,
        value: bytes,
        encoding: StringEncoding | None = None,
        compressed: bytes | None = None,
        length_form: LengthForm | None = None,
    ) -> RdbBytes:
        obj = super().__new__(cls, value)
        obj.encoding = encoding
        obj.compressed = compressed
        obj.length_form = length_form
        return obj


_INT_FIRST = frozenset(b"-0123456789")


def canonical_int32(value: bytes) -> int | None:
    """The integer Redis would int-encode this string as (rdbTryIntegerEncoding), else None."""
    number = canonical_int64(value) if len(value) <= 11 else None
    return number if number is not None and -(1 << 31) <= number < 1 << 31 else None


def _smallest_int_encoding(number: int) -> StringEncoding:
    if -128 <= number <= 127:
        return StringEncoding.INT8
    if -32768 <= number <= 32767:
        return StringEncoding.INT16
    return StringEncoding.INT32


def encode_string(value: bytes, *, compress: bool = False) -> bytes:
    """Redis's rdbSaveRawString choice: integer, then LZF (> 20 bytes), then raw."""
    if type(value) is bytes:  # the common case, without RdbBytes' stored forms
        return encode_plain(value, compress)
    encoding = getattr(value, "encoding", None)
    if encoding is not None:
        return _encode_as(value, encoding)
    if not isinstance(value, RdbBytes) or value.length_form is None:
        number = canonical_int32(value)
        if number is not None:
            return _encode_as(value, _smallest_int_encoding(number))
        if compress and len(value) > 20:
            packed = lzf_as_redis(bytes(value))
            if packed is not None:
                return _lzf_bytes(packed, len(value))
    return encode_length(len(value), getattr(value, "length_form", None)) + bytes(value)


def python_encode_plain(value: bytes, compress: bool) -> bytes:
    """encode_string's choice for plain bytes (the compiled twin is _speedups.encode_plain_string)."""
    size = len(value)
    if size <= 11 and value and value[0] in _INT_FIRST:
        number = canonical_int32(value)
        if number is not None:
            return _encode_as(value, _smallest_int_encoding(number))
    elif compress and size > 20:
        packed = lzf_as_redis(value)
        if packed is not None:
            return _lzf_bytes(packed, size)
    return (bytes((size,)) if size < 64 else encode_length(size)) + value


_compiled_plain = accelerated("encode_plain_string")
#: encode_string for exactly ``bytes`` (the writer's hot path calls it directly)
encode_plain = partial(_compiled_plain, lzf.compress) if _compiled_plain is not None else python_encode_plain


def _lzf_bytes(packed: bytes, ulen: int) -> bytes:
    return b"\xc3" + encode_length(len(packed)) + encode_length(ulen) + packed


def _encode_as(value: bytes, encoding: StringEncoding) -> bytes:
    if encoding is StringEncoding.LZF:
        packed = getattr(value, "compressed", None) or lzf.compress(bytes(value))
        return _lzf_bytes(packed, len(value))
    number = int(value)
    return bytes((0xC0 | encoding,)) + _INT_STRUCTS[encoding].pack(number)


def decompress_lzf(packed: bytes, ulen: int) -> bytes:
    """Decompress exactly ``ulen`` bytes or raise: Redis fails a load on any other size."""
    if ulen > LZF_MAX_RATIO * len(packed) + 64:
        raise FormatError(f"LZF string claims {ulen} bytes from {len(packed)} compressed bytes")
    if ulen == 0:
        raise FormatError("LZF string with an uncompressed length of 0")
    try:
        data = lzf.decompress(packed, ulen)
    except ValueError:
        data = None
    if data is None or len(data) != ulen:
        raise FormatError(f"invalid LZF compressed string (expected {ulen} bytes)")
    return data


class StringConstruct(Construct):
    """`str` (§3.2). Parses to ``bytes`` (``RdbBytes`` whenever the stored form must be kept)."""

    def _parse(self, stream: BinaryIO, context: Any, path: str) -> Any:
        first = stream_read(stream, 1, path)[0]
        if first & 0xC0 != 0xC0:
            stream.seek(-1, 1)
            size = Length._parse(stream, context, path)
            data = stream_read(stream, size, path)
            form = getattr(size, "form", None)
            if form is not None or canonical_int32(data) is not None:
                return RdbBytes(data, length_form=form or LengthForm(minimal_length_form(size)))
            return data
        kind = first & 0x3F
        if kind in _INT_STRUCTS:
            fmt = _INT_STRUCTS[StringEncoding(kind)]
            (number,) = fmt.unpack(stream_read(stream, fmt.size, path))
            return RdbBytes(str(number).encode(), StringEncoding(kind))
        if kind == StringEncoding.LZF:
            clen = Length._parse(stream, context, path)
            ulen = Length._parse(stream, context, path)
            packed = stream_read(stream, clen, path)
            return RdbBytes(decompress_lzf(packed, ulen), StringEncoding.LZF, compressed=packed)
        raise FormatError(f"unknown RDB string encoding 0x{first:02x}")

    def _build(self, obj: Any, stream: BinaryIO, context: Any, path: str) -> Any:
        data = encode_string(obj)
        stream_write(stream, data, len(data), path)
        return obj

    def _sizeof(self, context: Any, path: str) -> NoReturn:
        raise SizeofError("a string has a variable size")


RdbString = StringConstruct()

# --- doubles ---------------------------------------------------------------------------------


class AsciiScore(float):
    """A type-3 zset score: keeps the text it was read from (``%.17g`` or anything strtod takes)."""

    text: bytes | None

    def __new__(cls, value: float, text: bytes | None) -> AsciiScore:
        obj = super().__new__(cls, value)
        obj.text = text
        return obj


_ASCII_SPECIALS = {253: math.nan, 254: math.inf, 255: -math.inf}


def format_ascii_double(value: float) -> bytes:
    """How Redis before 4.0 wrote a score: %.17g, integral values as plain integers."""
    if math.isnan(value):
        return bytes((253,))
    if math.isinf(value):
        return bytes((254 if value > 0 else 255,))
    text = (b"%.17g" % value) if value != int(value) or abs(value) >= 1e17 else b"%d" % int(value)
    return bytes((len(text),)) + text


#: what C's strtod (and sscanf "%lg") reads: spaces, a sign, then a hex or decimal number, inf or nan
_STRTOD = re.compile(rb"""[ \t\n\v\f\r]*([+-]?)(?:
      0x([0-9a-f]+(?:\.[0-9a-f]*)?|\.[0-9a-f]+)(?:p([+-]?[0-9]+))?
    | ((?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:e[+-]?[0-9]+)?)
    | (inf(?:inity)?|nan(?:\([0-9a-z_]*\))?))""", re.X | re.I)


def strtod_prefix(text: bytes, start: int = 0) -> tuple[float, int] | None:
    """The number C's strtod reads at ``start`` of ``text`` (the longest prefix that is one, spaces
    skipped first) and where it ends, None when there is none: how Redis reads a score stored as text
    (docs/integrity.md) and how Lua's cjson reads a number."""
    match = _STRTOD.match(text, start)
    if match is None:
        return None
    sign, mantissa, exponent, decimal, word = match.groups()
    if mantissa is not None:
        try:
            number = float.fromhex(f"0x{mantissa.decode()}p{(exponent or b'0').decode()}")
        except OverflowError:
            number = math.inf
    else:
        number = float(decimal or word.split(b"(")[0])
    return -number if sign == b"-" else number, match.end()


def parse_ascii_double(text: bytes) -> float:
    """A zset v1 score as Redis reads it (sscanf "%lg"): the number the text starts with; refused
    when it starts with none."""
    found = strtod_prefix(text)
    if found is None:
        raise FormatError(f"invalid double value {text!r}")
    return found[0]


def blob_score(text: bytes) -> float:
    """A score stored as text in a ziplist or listpack, as Redis reads it (zzlStrtod): strtod of at
    most 127 bytes, 0 when they do not start with a number. The servers never refuse one."""
    found = strtod_prefix(text[:127])
    return 0.0 if found is None else found[0]


class AsciiDoubleConstruct(Construct):
    """`dbl-txt`: a u8 length then the text; three length values stand for NaN and infinities."""

    def _parse(self, stream: BinaryIO, context: Any, path: str) -> Any:
        size = stream_read(stream, 1, path)[0]
        if size in _ASCII_SPECIALS:
            return AsciiScore(_ASCII_SPECIALS[size], None)
        text = stream_read(stream, size, path)
        return AsciiScore(parse_ascii_double(text), text)

    def _build(self, obj: Any, stream: BinaryIO, context: Any, path: str) -> Any:
        text = getattr(obj, "text", None)
        data = bytes((len(text),)) + text if text is not None else format_ascii_double(obj)
        stream_write(stream, data, len(data), path)
        return obj

    def _sizeof(self, context: Any, path: str) -> NoReturn:
        raise SizeofError("an ASCII double has a variable size")


AsciiDouble = AsciiDoubleConstruct()

# --- fast paths ------------------------------------------------------------------------------
# The streaming reader calls these for every length and string of a file. They take the buffer
# and a position and return (value, next position); they must decode exactly what the schemas
# above decode, and raise FormatError / TruncatedError where those raise.

_unpack_i16 = struct.Struct("<h").unpack_from
_unpack_i32 = struct.Struct("<i").unpack_from


def read_length(buf: Blob, pos: int) -> tuple[int, int]:
    """Fast `len`: no RdbLength wrapper, the reader never needs the form."""
    try:
        first = buf[pos]
        kind = first & 0xC0
        if kind == 0x00:
            return first, pos + 1
        if kind == 0x40:
            return (first & 0x3F) << 8 | buf[pos + 1], pos + 2
        if first == 0x80:
            end = pos + 5
            if end > len(buf):
                raise IndexError
            return int.from_bytes(buf[pos + 1 : end], "big"), end
        if first == 0x81:
            end = pos + 9
            if end > len(buf):
                raise IndexError
            return int.from_bytes(buf[pos + 1 : end], "big"), end
    except IndexError:
        raise TruncatedError("file ends inside a length", offset=pos) from None
    raise FormatError(f"expected a length, found byte 0x{first:02x}", offset=pos)


def read_string(buf: Blob, pos: int) -> tuple[bytes, int]:
    """Fast `str`: plain ``bytes`` out, integers as their decimal text."""
    try:
        first = buf[pos]
    except IndexError:
        raise TruncatedError("file ends where a string was expected", offset=pos) from None
    if first < 0x40:  # the common case: a short raw string
        start = pos + 1
        end = start + first
    elif first < 0xC0:
        size, start = read_length(buf, pos)
        end = start + size
    elif first == 0xC0:
        if pos + 2 > len(buf):
            raise TruncatedError("file ends inside an integer string", offset=pos)
        value = buf[pos + 1]
        return b"%d" % (value - 256 if value > 127 else value), pos + 2
    elif first == 0xC1:
        if pos + 3 > len(buf):
            raise TruncatedError("file ends inside an integer string", offset=pos)
        return b"%d" % _unpack_i16(buf, pos + 1)[0], pos + 3
    elif first == 0xC2:
        if pos + 5 > len(buf):
            raise TruncatedError("file ends inside an integer string", offset=pos)
        return b"%d" % _unpack_i32(buf, pos + 1)[0], pos + 5
    elif first == 0xC3:
        return read_lzf(buf, pos)
    else:
        raise FormatError(f"unknown RDB string encoding 0x{first:02x}", offset=pos)
    if end > len(buf):
        raise TruncatedError(f"string of {end - start} bytes runs past the end of the file", offset=pos)
    return bytes(buf[start:end]), end


def read_lzf(buf: Blob, pos: int) -> tuple[bytes, int]:
    clen, at = read_length(buf, pos + 1)
    ulen, at = read_length(buf, at)
    end = at + clen
    if end > len(buf):
        raise TruncatedError(f"LZF string of {clen} bytes runs past the end of the file", offset=pos)
    try:
        return decompress_lzf(bytes(buf[at:end]), ulen), end
    except FormatError as error:
        raise error.located(base=pos) from None
