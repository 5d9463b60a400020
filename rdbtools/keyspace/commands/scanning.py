"""HSCAN, SSCAN and ZSCAN: one cursor walk over a collection, as Redis's scanGenericCommand answers.

A collection the target keeps compact (listpack, intset) comes back whole in one reply with cursor
0, COUNT ignored, in its stored order. A larger one (a hash table) is walked by cursor: ours is a
position in the order of the members' hashes, so, as in Redis, every member present for the whole
walk is returned, whatever is added or removed meanwhile.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from rdbtools.keyspace.commands import SYNTAX, CommandError, command, g17, integer
from rdbtools.keyspace.encodings import encoding_of

if TYPE_CHECKING:
    from rdbtools.keyspace.engine import Engine

INVALID_CURSOR = "ERR invalid cursor"
_ULONG = 1 << 64
_CURSOR = re.compile(rb"([+-]?)(\d*)")
_HASH_MASK = (1 << 62) - 1
_COMPACT = frozenset(("listpack", "listpackex", "ziplist", "intset"))


def scan_cursor(text: bytes, strict: bool = False) -> int:
    """strtoul as Redis 7.0 reads a cursor: no leading space, nothing after the digits; "" is 0 and a
    minus sign wraps around (unsigned long). ``strict`` (Redis 8, Valkey): no "" and no minus."""
    match = _CURSOR.fullmatch(text)
    if match is None or (match[1] and not match[2]) or (strict and (not match[2] or match[1] == b"-")):
        raise CommandError(INVALID_CURSOR)
    value = int(match[2] or b"0")
    if value >= _ULONG:
        raise CommandError(INVALID_CURSOR)
    return (_ULONG - value) % _ULONG if match[1] == b"-" else value


def _position(member: bytes) -> int:
    """Where a member sits in a hash-table walk: never 0 (cursor 0 ends a walk)."""
    return (hash(member) & _HASH_MASK) + 1


def _walk(members: list[bytes], cursor: int, count: int) -> tuple[int, list[bytes]]:
    """The members from ``cursor`` on in hash order, about ``count`` of them (all those of equal
    position together), and the cursor that follows (0: the walk is done)."""
    ahead = [(p, m) for m in members if (p := _position(m)) >= cursor]
    chosen = heapq.nsmallest(count + 1, ahead)
    if len(chosen) <= count:
        return 0, [m for _, m in chosen]
    following = chosen[count][0]
    return following, [m for p, m in ahead if cursor <= p < following]


def _options(args: list[bytes], start: int, hashes: bool, novalues: bool) -> tuple[int, re.Pattern | None, bool]:
    """COUNT n / MATCH pattern (/ NOVALUES for HSCAN where the target has it), checked as Redis does."""
    from rdbtools.rdb.filters import glob_to_regex

    count, pattern, only_keys, i = 10, None, False, start
    while i < len(args):
        option = args[i].upper()
        if option == b"COUNT" and i + 1 < len(args):
            count = integer(args[i + 1])
            if count < 1:
                raise CommandError(SYNTAX)
            i += 2
        elif option == b"MATCH" and i + 1 < len(args):
            pattern = None if args[i + 1] == b"*" else glob_to_regex(args[i + 1])
            i += 2
        elif option == b"NOVALUES" and novalues:
            if not hashes:
                raise CommandError("ERR NOVALUES option can only be used in HSCAN")
            only_keys = True
            i += 1
        else:
            raise CommandError(SYNTAX)
    return count, pattern, only_keys


def scan(e: Engine, args: list[bytes], kind: str, stored_order: Callable[[dict], list[bytes]],
         pair: Callable[[dict, bytes, bool], bytes] | None) -> list:
    """cursor, then the members found (each followed by ``pair``'s value: a field's, a member's score)."""
    cursor = scan_cursor(args[2], e.target.valkey_server or e.target.version >= (8, 0))
    entry = e.get(args[1], kind)
    if entry is None:
        return [b"0", []]
    count, pattern, only_keys = _options(args, 3, kind == "hash", _has_novalues(e.target))
    compact = _compact(e, entry)
    if compact:
        following, members = 0, stored_order(entry.value)
    else:
        following, members = _walk(list(entry.value), cursor, count)
    if pattern is not None:
        members = [m for m in members if pattern.fullmatch(m)]
    if pair is None or only_keys:
        return [b"%d" % following, members]
    return [b"%d" % following, [x for m in members for x in (m, pair(entry.value, m, compact))]]


def _has_novalues(target) -> bool:
    """HSCAN ... NOVALUES: Redis 7.4+, Valkey 8.0+."""
    return target.version >= ((8, 0) if target.valkey_server else (7, 4))


def _compact(e: Engine, entry) -> bool:
    return encoding_of(entry, e.target) in _COMPACT


def _insertion_order(value) -> list[bytes]:
    return list(value)


def stored_set_order(members) -> list[bytes]:
    """An intset holds its integers sorted; a listpack set (7.2+) as they were added."""
    from rdbtools.formats.numbers import canonical_int64

    numbers = [canonical_int64(m) for m in members]
    if all(n is not None for n in numbers):
        return [b"%d" % n for n in sorted(numbers)]  # type: ignore[type-var, str-format]  # no None among them
    return list(members)


@command("hscan", -3, write=False)
def hscan(e: Engine, args: list[bytes]):
    return scan(e, args, "hash", _insertion_order, lambda value, field, _: value[field])


@command("sscan", -3, write=False)
def sscan(e: Engine, args: list[bytes]):
    return scan(e, args, "set", stored_set_order, None)


@command("zscan", -3, write=False)
def zscan(e: Engine, args: list[bytes]):
    """Scores as the target stores them: a listpack's text (shortest from 7.2, else %.17g), a skiplist's
    double printed as %.17Lg."""
    from rdbtools.keyspace.commands.zsets import score_text

    def by_score(scores: dict) -> list[bytes]:
        return [m for m, _ in sorted(scores.items(), key=lambda pair: (pair[1], pair[0]))]

    def score(scores: dict, member: bytes, compact: bool) -> bytes:
        return score_text(e.target, scores[member]) if compact else g17(scores[member])

    return scan(e, args, "zset", by_score, score)
