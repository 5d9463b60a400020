"""Numbers as Redis reads them: integers by its ``string2ll`` rules (shared by every encoding) and C's strtol,
doubles by C's strtod."""

from __future__ import annotations

import math
import re
from typing import Final

from rdbtools.formats import accelerated

#: the units of Redis's memtoull (redis.conf's sizes): k, m, g are powers of 1000, kb, mb, gb powers of 1024
MEMORY_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1024, "m": 1000**2, "mb": 1024**2, "g": 1000**3, "gb": 1024**3}
INT64_MIN: Final = -(1 << 63)
INT64_MAX: Final = (1 << 63) - 1
_FIRST_CHARS: Final = frozenset(b"-0123456789")  # rejects most text before int() raises (raising is slow)


def python_canonical_int64(value: bytes) -> int | None:
    """The integer this string is the canonical decimal text of, else None (_speedups.canonical_int64 is the
    compiled twin: INCR, list indexes and intsets read integers on every call).

    Canonical: an optional '-', then '0' alone or a non-zero digit followed by digits; no '+', no
    spaces, no leading zeros, no '-0'; within int64; at most 20 characters.
    """
    if not 0 < len(value) <= 20 or value[0] not in _FIRST_CHARS:
        return None
    try:
        number = int(value)
    except ValueError:
        return None
    if not INT64_MIN <= number <= INT64_MAX or b"%d" % number != value:
        return None
    return number


canonical_int64: Final = accelerated("canonical_int64") or python_canonical_int64



def python_int_text(number: int) -> bytes:
    """An integer's decimal text (_speedups.int_text is the compiled twin: INCR writes one on every call)."""
    return b"%d" % number


int_text: Final = accelerated("int_text") or python_int_text

C_SPACE: Final = b" \t\n\v\f\r"  # isspace() in the C locale, which Redis runs in


def strtol(text: bytes | bytearray | memoryview, start: int = 0) -> tuple[int, int]:
    """C strtol/strtoll (base 10) from ``start``: (value clamped to 64 bits, end index).

    Leading spaces and one sign are skipped, digits read up to the first non-digit; with no digit the
    value is 0 and the end is ``start`` (no conversion), as C leaves its end pointer.
    """
    i = start
    while i < len(text) and text[i] in C_SPACE:
        i += 1
    sign = 1
    if i < len(text) and text[i] in b"+-":
        sign = -1 if text[i] == ord("-") else 1
        i += 1
    digits_start = i
    while i < len(text) and 0x30 <= text[i] <= 0x39:
        i += 1
    if i == digits_start:
        return 0, start
    value = sign * int(bytes(text[digits_start:i]))
    return max(INT64_MIN, min(INT64_MAX, value)), i


_PLAIN_ZEROS: Final = frozenset((b"0", b"-0", b"+0", b"0.0"))  # no underflow to look for
_NONZERO: Final = re.compile(rb"[+-]?(0[xX][0-9a-fA-F.]*[1-9a-fA-F]|[0-9.]*[1-9])")  # a mantissa that is not zero
_HEX_PREFIX: Final = re.compile(rb"[+-]?0[xX]")


def python_read_double(value: bytes, hexadecimal: bool) -> float | None:
    """The double Redis reads from an argument, else None: C's strtod over the whole of it, no leading space,
    NaN refused, and a result out of range (overflow to infinity, underflow to zero) refused as its ERANGE
    is; hexadecimal only where the server reads doubles with strtod, not fast_float (``Target.hex_doubles``).
    _speedups.read_double is the compiled twin (ZADD's scores, GEOADD's coordinates ...)."""
    try:
        number = float(value)  # (which also takes what strtod does not: surrounding spaces, digit underscores)
    except ValueError:
        if not hexadecimal or _HEX_PREFIX.match(value) is None:
            return None
        try:
            number = float.fromhex(value.decode("latin-1"))
        except (ValueError, OverflowError):  # (overflow: ERANGE to strtod)
            return None
    if value[0] in C_SPACE or value[-1] in C_SPACE or 0x5F in value or number != number or (
            math.isinf(number) and b"inf" not in value.lower()) or (
            not number and value not in _PLAIN_ZEROS and _NONZERO.match(value)):
        return None
    return number


read_double: Final = accelerated("read_double") or python_read_double
