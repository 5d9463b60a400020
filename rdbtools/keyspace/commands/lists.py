"""List commands, with the blocking forms as the non-blocking ones they are propagated as."""

from __future__ import annotations

from collections import deque
from itertools import islice
from typing import TYPE_CHECKING

from rdbtools.keyspace.commands import (
    INT64_MAX,
    INT64_MIN,
    LIST,
    NULL_ARRAY,
    OK,
    SYNTAX,
    CommandError,
    command,
    integer,
    wrong_arity,
)

if TYPE_CHECKING:
    from rdbtools.keyspace.engine import Engine
    from rdbtools.keyspace.model import Entry

NO_SUCH_KEY = "ERR no such key"


def _list(e: Engine, key: bytes) -> Entry | None:
    return e.get(key, "list")


def _push(e: Engine, args: list[bytes], left: bool, only_existing: bool, entry: Entry | None = None) -> int:
    """``entry``: the key's, when the caller looked it up (that was the access). Typed: a hot path, which
    the compiled build reads through native attributes only where it knows the types."""
    if entry is None:
        entry = _list(e, args[1])
    if entry is None:
        if only_existing:
            return 0
        entry = e.get_or_create(args[1], e.target.new_list, deque)
    items: deque[bytes] = entry.value
    if len(args) == 3 and left:
        items.appendleft(args[2])
    elif len(args) == 3:
        items.append(args[2])
    elif left:
        items.extendleft(args[2:])  # each at the head in turn: the last argument ends first
    else:
        items.extend(args[2:])
    e.notify(LIST, b"lpush" if left else b"rpush", args[1])
    return len(items)


@command("rpush", -3)
def rpush(e: Engine, args: list[bytes]):
    return _push(e, args, False, False)


@command("lpush", -3)
def lpush(e: Engine, args: list[bytes]):
    return _push(e, args, True, False)


@command("rpushx", -3)
def rpushx(e: Engine, args: list[bytes]):
    return _push(e, args, False, True)


@command("lpushx", -3)
def lpushx(e: Engine, args: list[bytes]):
    return _push(e, args, True, True)


def _pop(e: Engine, key: bytes, left: bool, count: int | None, entry=None):
    """``entry``: the key's, when the caller looked it up (that was the access)."""
    entry = entry or _list(e, key)
    if entry is None:
        return None if count is None else NULL_ARRAY
    take = min(1 if count is None else count, len(entry.value))
    pop = entry.value.popleft if left else entry.value.pop
    items = [pop() for _ in range(take)]
    if items:
        e.removed(LIST, b"lpop" if left else b"rpop", key, entry)
    return (items[0] if items else None) if count is None else items



def _count(args, at: int) -> int | None:
    if len(args) <= at:
        return None
    count = integer(args[at], "ERR value is out of range, must be positive")
    if count < 0:
        raise CommandError("ERR value is out of range, must be positive")
    return count


@command("lpop", -2)
def lpop(e: Engine, args: list[bytes]):
    if len(args) > 3:
        raise wrong_arity(args[0])
    return _pop(e, args[1], True, _count(args, 2))


@command("rpop", -2)
def rpop(e: Engine, args: list[bytes]):
    if len(args) > 3:
        raise wrong_arity(args[0])
    return _pop(e, args[1], False, _count(args, 2))


def _blocking_pop(e: Engine, args, left: bool):
    """BLPOP/BRPOP key... timeout: the first non-empty list, or nil (an offline engine never waits)."""
    for key in args[1:-1]:
        entry = _list(e, key)
        if entry is not None:
            return [key, _pop(e, key, left, None, entry)]
    return NULL_ARRAY


@command("blpop", -3)
def blpop(e: Engine, args: list[bytes]):
    return _blocking_pop(e, args, True)


@command("brpop", -3)
def brpop(e: Engine, args: list[bytes]):
    return _blocking_pop(e, args, False)


def _mpop(e: Engine, args, first: int):
    """[B]LMPOP [timeout] numkeys key... LEFT|RIGHT [COUNT n]"""
    numkeys = integer(args[first])
    if numkeys <= 0:
        raise CommandError("ERR numkeys should be greater than 0")
    keys, rest = args[first + 1 : first + 1 + numkeys], [a.upper() for a in args[first + 1 + numkeys :]]
    if len(keys) < numkeys or not rest or rest[0] not in (b"LEFT", b"RIGHT"):
        raise CommandError(SYNTAX)
    count = 1
    if len(rest) == 3 and rest[1] == b"COUNT":
        count = integer(args[first + 1 + numkeys + 2])
        if count <= 0:
            raise CommandError("ERR count should be greater than 0")
    elif len(rest) != 1:
        raise CommandError(SYNTAX)
    for key in keys:
        entry = _list(e, key)
        if entry is not None:
            return [key, _pop(e, key, rest[0] == b"LEFT", count, entry)]
    return NULL_ARRAY


@command("lmpop", -4)
def lmpop(e: Engine, args: list[bytes]):
    return _mpop(e, args, 1)


@command("blmpop", -5)
def blmpop(e: Engine, args: list[bytes]):
    return _mpop(e, args, 2)


@command("llen", 2, write=False)
def llen(e: Engine, args: list[bytes]):
    entry = _list(e, args[1])
    return 0 if entry is None else len(entry.value)


def _range(size: int, start: int, stop: int) -> tuple[int, int]:
    start = max(0, start + size if start < 0 else start)
    stop = stop + size if stop < 0 else stop
    return start, min(stop, size - 1)


@command("lrange", 4, write=False)
def lrange(e: Engine, args: list[bytes]):
    entry = _list(e, args[1])
    if entry is None:
        return []
    start, stop = _range(len(entry.value), integer(args[2]), integer(args[3]))
    return list(islice(entry.value, start, stop + 1)) if start <= stop else []


@command("lindex", 3, write=False)
def lindex(e: Engine, args: list[bytes]):
    entry = _list(e, args[1])
    index = integer(args[2])
    if entry is None or not -len(entry.value) <= index < len(entry.value):
        return None
    return entry.value[index]


@command("lset", 4)
def lset(e: Engine, args: list[bytes]):
    entry = _list(e, args[1])
    if entry is None:
        raise CommandError(NO_SUCH_KEY)
    index = integer(args[2])
    if not -len(entry.value) <= index < len(entry.value):
        raise CommandError("ERR index out of range")
    entry.value[index] = args[3]
    e.notify(LIST, b"lset", args[1])
    return OK


@command("linsert", 5)
def linsert(e: Engine, args: list[bytes]):
    where = args[2].upper()
    if where not in (b"BEFORE", b"AFTER"):
        raise CommandError(SYNTAX)
    entry = _list(e, args[1])
    if entry is None:
        return 0
    try:
        at = entry.value.index(args[3])
    except ValueError:
        return -1
    entry.value.insert(at if where == b"BEFORE" else at + 1, args[4])
    e.notify(LIST, b"linsert", args[1])
    return len(entry.value)


@command("ltrim", 4)
def ltrim(e: Engine, args: list[bytes]):
    entry = _list(e, args[1])
    start, stop = integer(args[2]), integer(args[3])
    e.changes = 0  # what it removed: propagated only then (Redis's dirty)
    if entry is None:
        return OK
    length = len(entry.value)
    start, stop = _range(length, start, stop)
    entry.value = deque(islice(entry.value, start, stop + 1)) if start <= stop else deque()
    e.changes = length - len(entry.value)
    e.removed(LIST, b"ltrim", args[1], entry)
    return OK


@command("lrem", 4)
def lrem(e: Engine, args: list[bytes]):
    count = integer(args[2])
    entry = _list(e, args[1])
    if entry is None:
        return 0
    items, removed = entry.value, 0
    order = range(len(items) - 1, -1, -1) if count < 0 else range(len(items))
    doomed = []
    for i in order:
        if items[i] == args[3] and (count == 0 or removed < abs(count)):
            doomed.append(i)
            removed += 1
    for i in sorted(doomed, reverse=True):
        del items[i]
    if removed:
        e.removed(LIST, b"lrem", args[1], entry)
    return removed


def _side(value: bytes) -> bool:
    side = value.upper()
    if side not in (b"LEFT", b"RIGHT"):
        raise CommandError(SYNTAX)
    return side == b"LEFT"


def _move(e: Engine, source: bytes, destination: bytes, from_left: bool, to_left: bool):
    entry = _list(e, source)
    if entry is None:
        return None
    target = _list(e, destination)  # WRONGTYPE before anything moves
    if source == destination:  # a rotation: the key never empties, so it keeps its TTL (as in Redis)
        items = entry.value
        item = items.popleft() if from_left else items.pop()
        (items.appendleft if to_left else items.append)(item)
        e.notify(LIST, b"lpush" if to_left else b"rpush", destination)
        e.notify(LIST, b"lpop" if from_left else b"rpop", source)
        return item
    item = (entry.value.popleft if from_left else entry.value.pop)()
    _push(e, [b"", destination, item], to_left, False, target)  # Redis pushes, then tells the pop
    e.removed(LIST, b"lpop" if from_left else b"rpop", source, entry)
    return item


@command("lmove", 5)
def lmove(e: Engine, args: list[bytes]):
    return _move(e, args[1], args[2], _side(args[3]), _side(args[4]))


@command("blmove", 6)
def blmove(e: Engine, args: list[bytes]):
    if not e.waking:  # the blocking forms look the source up before the move does (two accesses in Redis)
        _list(e, args[1])
    return _move(e, args[1], args[2], _side(args[3]), _side(args[4]))


@command("rpoplpush", 3)
def rpoplpush(e: Engine, args: list[bytes]):
    return _move(e, args[1], args[2], False, True)


@command("brpoplpush", 4)
def brpoplpush(e: Engine, args: list[bytes]):
    if not e.waking:  # (as BLMOVE)
        _list(e, args[1])
    return _move(e, args[1], args[2], False, True)


@command("lpos", -3, write=False)
def lpos(e: Engine, args: list[bytes]):
    """LPOS key element [RANK r] [COUNT n] [MAXLEN m]: options checked before the key; a negative
    RANK searches from the tail (positions are still counted from the head)."""
    rank, count, maxlen = _lpos_options(e, args)
    entry = _list(e, args[1])
    if entry is None:
        return None if count is None else []
    values, size = entry.value, len(entry.value)
    scanned = reversed(values) if rank < 0 else iter(values)
    if maxlen:
        scanned = islice(scanned, maxlen)
    # RANK -2^63 negates to itself in C: every match qualifies and COUNT never stops the search
    wanted, cap = (1, 0) if rank == INT64_MIN else (abs(rank), count)
    found, matches = [], 0
    for index, value in enumerate(scanned):
        if value == args[2]:
            matches += 1
            if matches >= wanted:
                found.append(size - index - 1 if rank < 0 else index)
                if count is None or (cap and len(found) >= cap):
                    break
    if count is None:
        return found[0] if found else None
    return found


def _lpos_options(e: Engine, args) -> tuple[int, int | None, int]:
    rank, count, maxlen, j = 1, None, 0, 3
    while j < len(args):
        option = args[j].upper()
        if j + 1 >= len(args) or option not in (b"RANK", b"COUNT", b"MAXLEN"):
            raise CommandError(SYNTAX)
        if option == b"RANK":
            rank = integer(args[j + 1])
            if rank == INT64_MIN and (e.target.valkey_server or e.target.version >= (8, 0)):
                raise CommandError(f"ERR value is out of range, value must between {-INT64_MAX} and {INT64_MAX}")
            if rank == 0:
                raise CommandError("ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... "
                                   "or use negative to start from the end of the list")
        else:
            error = f"ERR {option.decode()} can't be negative"
            value = integer(args[j + 1], error)
            if value < 0:
                raise CommandError(error)
            if option == b"COUNT":
                count = value
            else:
                maxlen = value
        j += 2
    return rank, count, maxlen
