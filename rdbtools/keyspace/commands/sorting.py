"""SORT and SORT_RO, as Redis's sortCommandGeneric: options parsed first, then the key; elements
weighed by themselves or by the keys (and hash fields, ``->``) a BY pattern names, GET patterns
fetched per element, LIMIT applied after sorting, and STORE writing the result as a list.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from rdbtools.formats.numbers import C_SPACE
from rdbtools.keyspace.commands import LIST, SYNTAX, WRONGTYPE, CommandError, command, floating, integer

if TYPE_CHECKING:
    from rdbtools.keyspace.engine import Engine

NOT_DOUBLE = "ERR One or more scores can't be converted into double"


@dataclass
class _Sort:
    desc: bool = False
    alpha: bool = False
    start: int = 0
    count: int = -1
    by: bytes | None = None
    dontsort: bool = False
    store: bytes | None = None
    gets: list[bytes] = field(default_factory=list)


def _parse(args: list[bytes], readonly: bool) -> _Sort:
    """The options, in Redis's order of checks (a bad LIMIT number is the integer error)."""
    sort, j = _Sort(), 2
    while j < len(args):
        option, left = args[j].upper(), len(args) - j - 1
        if option == b"ASC":
            sort.desc = False
        elif option == b"DESC":
            sort.desc = True
        elif option == b"ALPHA":
            sort.alpha = True
        elif option == b"LIMIT" and left >= 2:
            sort.start, sort.count = integer(args[j + 1]), integer(args[j + 2])
            j += 2
        elif option == b"STORE" and not readonly and left >= 1:
            sort.store = args[j + 1]
            j += 1
        elif option == b"BY" and left >= 1:
            sort.by = args[j + 1]
            sort.dontsort = b"*" not in args[j + 1]
            j += 1
        elif option == b"GET" and left >= 1:
            sort.gets.append(args[j + 1])
            j += 1
        else:
            raise CommandError(SYNTAX)
        j += 1
    return sort


def lookup_by_pattern(e: Engine, pattern: bytes, element: bytes) -> bytes | None:
    """What a BY / GET pattern names for an element: ``#`` the element, ``key*`` a string key with
    the element in place of the first ``*``, ``key*->field`` a field of a hash; None otherwise."""
    if pattern == b"#":
        return element
    star = pattern.find(b"*")
    if star < 0:
        return None
    arrow = pattern.find(b"->", star + 1)
    field_name = None
    if arrow >= 0 and arrow + 2 < len(pattern):
        field_name, pattern = pattern[arrow + 2 :], pattern[:arrow]
    entry = e.read(pattern[:star] + element + pattern[star + 1 :])  # a miss tells keymiss
    if entry is None:
        return None
    if field_name is not None:
        return entry.value.get(field_name) if entry.type == "hash" else None
    return entry.value if entry.type == "string" else None


def _elements(entry, sort: _Sort) -> list[bytes]:
    """The elements in the order Redis loads them (a zset by rank; a set in its own order)."""
    if entry is None:
        return []
    if entry.type == "zset":
        return [m for m, _ in sorted(entry.value.items(), key=lambda pair: (pair[1], pair[0]))]
    if entry.type == "set":
        from rdbtools.keyspace.commands.scanning import stored_set_order

        return stored_set_order(entry.value)
    return list(entry.value)


def _strtod(value: bytes, target) -> float | None:
    """A weight as the target reads it; None when it is not a number. Redis 7.0 (and Valkey 8):
    strtod of the whole text, leading spaces skipped, "" is 0, NaN and out of range refused. Redis
    8: no spaces, no hexadecimal, "" is 0, out of range is infinity or 0. Valkey 9: no spaces, no
    hexadecimal, no "", out of range refused."""
    redis_8 = not target.valkey_server and target.version >= (8, 0)
    valkey_9 = target.valkey_server and target.version >= (9, 0)
    if not value:
        return None if valkey_9 else 0.0
    body = value if redis_8 or valkey_9 else value.lstrip(C_SPACE)
    if not body or ((redis_8 or valkey_9) and _HEX.match(body)):
        return None
    try:
        return floating(body)
    except CommandError:
        return _out_of_range(body) if redis_8 else None


_HEX = re.compile(rb"[+-]?0[xX]")
_DECIMAL = re.compile(rb"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def _out_of_range(body: bytes) -> float | None:
    """A decimal number too large (infinity) or too small (zero) for a double; None otherwise."""
    if _DECIMAL.fullmatch(body) is None:
        return None
    return float(body)


def _sorted(e: Engine, elements: list[bytes], sort: _Sort) -> list[bytes]:
    """Sorted by weight (numbers, ties by the element's bytes) or ALPHA by bytes; a weight that is
    missing counts as 0 (numeric) or first (ALPHA). Python's sort is stable, as glibc's qsort is."""
    if sort.by is None:
        weights: list = list(elements)
    else:
        weights = [lookup_by_pattern(e, sort.by, element) for element in elements]
    keys: list[tuple]  # (weight,), (has a weight, weight) or (number, element): compared among their kind
    if sort.alpha:
        keys = [(w,) for w in weights] if sort.by is None else [(0, b"") if w is None else (1, w) for w in weights]
    else:
        numbers = [0.0 if w is None else _strtod(w, e.target) for w in weights]
        if any(n is None for n in numbers):
            raise CommandError(NOT_DOUBLE)
        keys = [(n, element) for n, element in zip(numbers, elements, strict=True)]
    order = sorted(range(len(elements)), key=keys.__getitem__, reverse=sort.desc)  # stable both ways
    return [elements[i] for i in order]


def _window(length: int, sort: _Sort) -> tuple[int, int]:
    """LIMIT start count as Redis clamps it: (start, end) inclusive; end < start when empty."""
    start = max(sort.start, 0)
    end = length - 1 if sort.count < 0 else start + sort.count - 1
    if start >= length:
        start, end = length - 1, length - 2
    return start, min(end, length - 1)


def sort_generic(e: Engine, args: list[bytes], readonly: bool):
    e.changes = 0
    sort = _parse(args, readonly)
    entry = e.read(args[1])
    if entry is not None and entry.type not in ("list", "set", "zset"):
        raise CommandError(WRONGTYPE)
    if sort.dontsort and entry is not None and entry.type == "set" and (sort.store is not None or e.scripted):
        sort.dontsort, sort.alpha, sort.by = False, True, None  # a set's own order is no order to store or script
    elements = _elements(entry, sort)
    if sort.dontsort:
        if sort.desc and entry is not None and entry.type != "set":
            elements.reverse()
    else:
        elements = _sorted(e, elements, sort)
    start, end = _window(len(elements), sort)
    chosen = elements[start : end + 1] if end >= start else []
    output: list[bytes | None] | list[bytes]  # GET's values (None: missing) or the elements
    if sort.gets:
        output = [lookup_by_pattern(e, pattern, element) for element in chosen for pattern in sort.gets]
    else:
        output = chosen
    if sort.store is None:
        return output
    return _store(e, sort.store, output)


def _store(e: Engine, key: bytes, output: list) -> int:
    """STORE: the result as a list (a missing GET value as ""), replacing the key and its TTL; an
    empty result deletes it. ``e.changes`` tells propagation whether anything changed."""
    existed = e.peek(key) is not None  # (the store's own lookup is the access)
    e.store(key, _list_entry(output, e.target) if output else None, LIST, b"sortstore")
    e.changes = len(output) or int(existed)
    return len(output)


def _list_entry(output: list, target):
    """The stored list: before 7.2 a quicklist of the default node size whatever list-max-listpack-size says
    (SORT makes it with quicklistCreate's defaults)."""
    from rdbtools.keyspace.model import Entry
    from rdbtools.rdb.model import list_with_fill

    kind = "list" if target.list_conversions else list_with_fill(-2)
    return Entry(kind, deque(b"" if v is None else v for v in output))


@command("sort", -2)
def sort_(e: Engine, args: list[bytes]):
    return sort_generic(e, args, readonly=False)


@command("sort_ro", -2, write=False)
def sort_ro(e: Engine, args: list[bytes]):
    return sort_generic(e, args, readonly=True)
