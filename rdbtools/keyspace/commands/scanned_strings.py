"""String reads that scan the value: BITCOUNT and BITPOS (byte or, from Redis 7.0, bit ranges) and
LCS, with Redis's order of checks (the key looked up before the range is read) and its clamping of
ranges."""

from __future__ import annotations

import re
from array import array
from typing import TYPE_CHECKING

from rdbtools.keyspace.commands import SYNTAX, CommandError, Map, command, integer

if TYPE_CHECKING:
    from rdbtools.keyspace.engine import Engine

_ONES = bytes(bin(i).count("1") for i in range(256))


def _value(e: Engine, key: bytes) -> bytes | None:
    entry = e.get(key, "string")
    return None if entry is None else entry.value


def _unit(e: Engine, word: bytes) -> bool:
    """BIT (True) or BYTE; the unit exists from Redis 7.0 (before, a fifth argument is a syntax error)."""
    upper = word.upper()
    if e.target.version < (7, 0) or upper not in (b"BIT", b"BYTE"):
        raise CommandError(SYNTAX)
    return upper == b"BIT"


def _clamp(start: int, end: int, total: int) -> tuple[int, int]:
    """Negative indexes from the end, then held to [0, total - 1]."""
    if start < 0:
        start += total
    if end < 0:
        end += total
    return max(start, 0), min(max(end, 0), total - 1)


def _checks_first(e: Engine) -> bool:
    """Redis 8 and Valkey read BITCOUNT's / BITPOS's range before the key (7.0: a missing key is
    answered whatever its range says)."""
    return e.target.valkey_server or e.target.version >= (8, 0)


@command("bitcount", -2, write=False)
def bitcount(e: Engine, args: list[bytes]):
    """BITCOUNT key [start [end [BYTE|BIT]]] (start alone: Valkey only)."""
    first = _checks_first(e)
    value = b"" if first else _value(e, args[1])  # read below when the range is checked first
    if value is None:
        return 0
    if (len(args) == 3 and not e.target.valkey_server) or len(args) > 5:
        raise CommandError(SYNTAX)
    start = integer(args[2]) if len(args) > 2 else 0
    end = integer(args[3]) if len(args) > 3 else -1
    bits = _unit(e, args[4]) if len(args) == 5 else False
    if first:
        value = _value(e, args[1])
        if value is None:
            return 0
    if len(args) == 2:
        return sum(value.translate(_ONES))
    if start < 0 and end < 0 and start > end:
        return 0
    start, end = _clamp(start, end, len(value) * (8 if bits else 1))
    if start > end:
        return 0
    if not bits:
        return sum(value[start : end + 1].translate(_ONES))
    return sum(_bit(value, i) for i in range(start, end + 1))


def _bit(value: bytes, position: int) -> int:
    return (value[position >> 3] >> (7 - (position & 7))) & 1


@command("bitpos", -3, write=False)
def bitpos(e: Engine, args: list[bytes]):
    """BITPOS key bit [start [end [BYTE|BIT]]]: the first position holding the bit. A missing key is
    all zeros; with no end given a string is followed by zeros, so a 0 is found just past it."""
    bit = integer(args[2])
    if bit not in (0, 1):
        raise CommandError("ERR The bit argument must be 1 or 0.")
    if _checks_first(e):
        _bitpos_range(e, args, 0)  # refused before the key is looked up
    value = _value(e, args[1])
    if value is None:
        return -1 if bit else 0
    start, end, bits = _bitpos_range(e, args, len(value))
    end_given = len(args) >= 5
    if start > end:
        return -1
    low, high = (start, end) if bits else (start * 8, end * 8 + 7)
    found = _first_bit(value, bit, low, high)
    if found is not None:
        return found
    return -1 if bit or end_given else (high // 8 + 1) * 8


def _bitpos_range(e: Engine, args, size: int) -> tuple[int, int, bool]:
    """BITPOS's start, end (both clamped, in the unit) and whether the unit is BIT."""
    if len(args) > 6:
        raise CommandError(SYNTAX)
    if len(args) < 4:
        return 0, size - 1, False
    start = integer(args[3])
    bits = _unit(e, args[5]) if len(args) == 6 else False
    total = size * (8 if bits else 1)
    end = integer(args[4]) if len(args) >= 5 else total - 1
    start, end = _clamp(start, end, total)
    return start, end, bits


def _first_bit(value: bytes, bit: int, low: int, high: int) -> int | None:
    """The first position in [low, high] holding ``bit``: the whole bytes between scanned in C (a search for
    the first byte that is not all the other bit), so a string of half a gigabyte takes a moment."""
    position = low
    while position <= high and position & 7:
        if _bit(value, position) == bit:
            return position
        position += 1
    if position <= high:
        found = _OTHER_BYTE[bit].search(value, position >> 3, (high + 1) >> 3)
        position = found.start() * 8 if found else (high + 1) >> 3 << 3
    while position <= high:
        if _bit(value, position) == bit:
            return position
        position += 1
    return None


_OTHER_BYTE = {1: re.compile(rb"[^\x00]"), 0: re.compile(rb"[^\xff]")}


# --- LCS -------------------------------------------------------------------------------------------

@command("lcs", -3, write=False)
def lcs(e: Engine, args: list[bytes]):
    """LCS key1 key2 [LEN] [IDX] [MINMATCHLEN n] [WITHMATCHLEN]: missing keys are empty strings; the
    keys are looked up before the options are read."""
    first, second = (e.lookup(key) for key in args[1:3])
    if any(entry is not None and entry.type != "string" for entry in (first, second)):
        raise CommandError("ERR The specified keys must contain string values")
    a = b"" if first is None else first.value
    b = b"" if second is None else second.value
    want_len, want_idx, with_len, min_len = _lcs_options(args)
    table = _lcs_table(a, b)
    length = table[len(a)][len(b)]
    if want_len and not want_idx:
        return length
    common, matches = _lcs_walk(a, b, table, min_len, with_len)
    if want_idx:
        return Map({b"matches": matches, b"len": length})
    return common


def _lcs_options(args) -> tuple[bool, bool, bool, int]:
    want_len = want_idx = with_len = False
    min_len, j = 0, 3
    while j < len(args):
        option = args[j].upper()
        if option == b"IDX":
            want_idx = True
        elif option == b"LEN":
            want_len = True
        elif option == b"WITHMATCHLEN":
            with_len = True
        elif option == b"MINMATCHLEN" and j + 1 < len(args):
            min_len = max(integer(args[j + 1]), 0)
            j += 1
        else:
            raise CommandError(SYNTAX)
        j += 1
    if want_idx and want_len:
        raise CommandError("ERR If you want both the length and indexes, please just use IDX.")
    return want_len, want_idx, with_len, min_len


def _lcs_table(a: bytes, b: bytes) -> list[array]:
    """table[i][j]: the length of the LCS of a[:i] and b[:j]."""
    table = [array("I", bytes(4 * (len(b) + 1)))]
    for i in range(1, len(a) + 1):
        above, row, char = table[i - 1], array("I", [0]), a[i - 1]
        for j in range(1, len(b) + 1):
            row.append(above[j - 1] + 1 if char == b[j - 1] else max(above[j], row[j - 1]))
        table.append(row)
    return table


def _lcs_walk(a: bytes, b: bytes, table: list[array], min_len: int, with_len: bool) -> tuple[bytes, list]:
    """Back from the ends, as Redis walks: the common subsequence, and its runs matched in both
    strings (last first), each [[a from, a to], [b from, b to]] (+ its length)."""
    i, j, common, matches = len(a), len(b), bytearray(), []
    run: list[int] | None = None  # [a start, a end, b start, b end] of the run being followed
    while i > 0 and j > 0:
        emit = False
        if a[i - 1] == b[j - 1]:
            common.append(a[i - 1])
            if run is None:
                run = [i - 1, i - 1, j - 1, j - 1]
            elif run[0] == i and run[2] == j:
                run[0], run[2] = i - 1, j - 1
            else:
                emit = True
            emit = emit or run[0] == 0 or run[2] == 0
            i, j = i - 1, j - 1
        else:
            if table[i - 1][j] > table[i][j - 1]:
                i -= 1
            else:
                j -= 1
            emit = run is not None
        if emit and run is not None:
            size = run[1] - run[0] + 1
            if not min_len or size >= min_len:
                matches.append([[run[0], run[1]], [run[2], run[3]], *([size] if with_len else [])])
            run = None
    return bytes(reversed(common)), matches
