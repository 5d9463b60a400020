"""When Redis stores a string as an integer: its ``string2ll`` rules, shared by every encoding."""

from __future__ import annotations

INT64_MIN = -(1 << 63)
INT64_MAX = (1 << 63) - 1
_FIRST_CHARS = frozenset(b"-0123456789")  # rejects most text before int() raises (raising is slow)


def canonical_int64(value: bytes) -> int | None:
    """The integer this string is the canonical decimal text of, else None.

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
