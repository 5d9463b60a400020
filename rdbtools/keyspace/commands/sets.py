"""Set commands. Sets are insertion-ordered dicts of member -> None."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from rdbtools.formats.numbers import canonical_int64
from rdbtools.keyspace.commands import INT64_MAX, INT64_MIN, SET, SYNTAX, WRONGTYPE, CommandError, command, integer
from rdbtools.keyspace.encodings import HASHTABLE_SET, LISTPACK_SET, loaded_type
from rdbtools.keyspace.model import Entry

if TYPE_CHECKING:
    from rdbtools.keyspace.engine import Engine
    from rdbtools.rdb.targets import Target

_ABSENT = object()


def _set(e: Engine, key: bytes):
    return e.get(key, "set")


def _members(e: Engine, key: bytes) -> dict:
    entry = e.read(key, "set")  # (a STORE's sources too: read, a miss telling keymiss)
    return {} if entry is None else entry.value


@command("sadd", -3)
def sadd(e: Engine, args: list[bytes]):
    entry = e.get_or_create(args[1], "set", dict)
    members: dict[bytes, None] = entry.value
    before = len(members)
    if len(args) == 3:  # (one member, the common case: no dict made to update from)
        members[args[2]] = None
    else:
        members.update(dict.fromkeys(args[2:]))
    kind = entry.type
    if kind is not HASHTABLE_SET:  # (one small unsigned integer added to an intset, the common case, inline)
        m = args[2]
        if (kind is LISTPACK_SET or len(args) > 3 or not m.isdigit() or len(m) > 18 or (m[0] == 48 and len(m) > 1)
                or len(entry.value) > e.target.set_max_intset_entries):
            converted(e.target, entry, args[2:], not before)
    if len(entry.value) != before:
        e.notify(SET, b"sadd", args[1])
    return len(entry.value) - before


def converted(target: Target, entry: Entry, members: list[bytes], created: bool = False) -> None:
    """``members`` were added: mark the set with the encoding Redis converted it to on the way up (model.py's
    HASHTABLE_SET, LISTPACK_SET), which it keeps when members go. Before 7.2 any text makes an intset a hash
    table; from 7.2 a listpack while the set stays within the listpack's limits, and SADD converts by its
    argument count first (setTypeMaybeConvert; one SADD creates begins as a listpack only when the count is
    within it, setTypeCreate). A set not marked is encoded by what it holds."""
    if entry.type is HASHTABLE_SET:
        return
    size, limit, ints = len(entry.value), target.set_max_listpack_entries, target.set_max_intset_entries
    if entry.type is LISTPACK_SET:
        if size > limit or len(members) > limit or any(len(m) > target.set_max_listpack_value for m in members):
            entry.type = HASHTABLE_SET
    elif not _integers(members):
        hint = limit if created and canonical_int64(members[0]) is None else ints
        small = target.size_hints and size <= limit and len(members) <= hint and all(
            len(m) <= target.set_max_listpack_value for m in members)
        entry.type = LISTPACK_SET if small else HASHTABLE_SET
    elif size > ints or (target.size_hints and len(members) > ints):
        entry.type = HASHTABLE_SET


def _integers(members: list[bytes]) -> bool:
    """Whether every member is an integer an intset takes (most are short unsigned digits, checked in C)."""
    for m in members:
        if not (m.isdigit() and len(m) < 19 and (m[0] != 48 or len(m) == 1)) and canonical_int64(m) is None:
            return False
    return True


@command("srem", -3)
def srem(e: Engine, args: list[bytes]):
    entry = _set(e, args[1])
    if entry is None:
        return 0
    removed = sum(entry.value.pop(m, _ABSENT) is not _ABSENT for m in args[2:])
    if removed:
        e.removed(SET, b"srem", args[1], entry)
    return removed



@command("smove", 4)
def smove(e: Engine, args: list[bytes]):
    """Both keys are looked up (accessed) first, as Redis does, then checked."""
    source, destination = e.lookup(args[1]), e.lookup(args[2])
    if source is None:
        return 0
    if source.type != "set" or (destination is not None and destination.type != "set"):
        raise CommandError(WRONGTYPE)  # before anything moves
    if args[3] not in source.value:
        return 0
    if args[1] == args[2]:
        return 1
    del source.value[args[3]]
    e.removed(SET, b"srem", args[1], source)
    if destination is None:
        destination = Entry("set", {})
        e.add(args[2], destination)
    if args[3] not in destination.value:
        destination.value[args[3]] = None
        converted(e.target, destination, args[3:])
        e.notify(SET, b"sadd", args[2])
    return 1


@command("spop", -2)
def spop(e: Engine, args: list[bytes]):
    if len(args) > 3:
        raise CommandError("ERR syntax error")
    entry = _set(e, args[1])
    count = None if len(args) == 2 else integer(args[2], "ERR value is out of range, must be positive")
    if count is not None and count < 0:
        raise CommandError("ERR value is out of range, must be positive")
    if entry is None:
        return None if count is None else []
    size = len(entry.value)
    chosen = random.sample(list(entry.value), min(1 if count is None else count, size))
    for member in chosen:
        del entry.value[member]
    if count is not None and count < size and (size - count) * _SPOP_MOVE_STRATEGY_MUL <= count:
        entry.type = _rebuilt(entry, e.target)
    if chosen:
        e.removed(SET, b"spop", args[1], entry)
    return chosen[0] if count is None else chosen


#: SPOP with a count leaving fewer than a fifth of that many members builds a new set of what remains
_SPOP_MOVE_STRATEGY_MUL = 5


def _rebuilt(entry, target) -> str:
    """The type of the new set SPOP builds of the members it leaves: before 7.2 one encoded by what it holds;
    from 7.2 a hash table's remainder starts as a listpack (an intset or a listpack stays what it was)."""
    if not target.set_listpacks:
        return "set"
    if entry.type is HASHTABLE_SET and len(entry.value) <= target.set_max_listpack_entries and all(
            len(m) <= target.set_max_listpack_value for m in entry.value):
        return LISTPACK_SET
    return entry.type


@command("scard", 2, write=False)
def scard(e: Engine, args: list[bytes]):
    return len(_members(e, args[1]))


@command("sismember", 3, write=False)
def sismember(e: Engine, args: list[bytes]):
    return int(args[2] in _members(e, args[1]))


@command("smembers", 2, write=False)
def smembers(e: Engine, args: list[bytes]):
    return list(_members(e, args[1]))


def _combine(e: Engine, keys: list[bytes], operation: str) -> dict:
    sets = [_members(e, key) for key in keys]
    result = dict(sets[0])
    for other in sets[1:]:
        if operation == "inter":
            result = {m: None for m in result if m in other}
        elif operation == "union":
            result.update(other)
        else:
            result = {m: None for m in result if m not in other}
    return result


def _store(e: Engine, args, operation: str) -> int:
    result = _combine(e, args[2:], operation)
    entry = Entry(loaded_type("set", "", result, e.target), result) if result else None  # (built by adds)
    e.store(args[1], entry, SET, b"s%sstore" % operation.encode())
    return len(result)


@command("sinterstore", -3)
def sinterstore(e: Engine, args: list[bytes]):
    return _store(e, args, "inter")


@command("sunionstore", -3)
def sunionstore(e: Engine, args: list[bytes]):
    return _store(e, args, "union")


@command("sdiffstore", -3)
def sdiffstore(e: Engine, args: list[bytes]):
    return _store(e, args, "diff")


@command("sinter", -2, write=False)
def sinter(e: Engine, args: list[bytes]):
    return list(_combine(e, args[1:], "inter"))


@command("sunion", -2, write=False)
def sunion(e: Engine, args: list[bytes]):
    return list(_combine(e, args[1:], "union"))


@command("sdiff", -2, write=False)
def sdiff(e: Engine, args: list[bytes]):
    return list(_combine(e, args[1:], "diff"))


@command("smismember", -3, write=False)
def smismember(e: Engine, args: list[bytes]):
    members = _members(e, args[1])
    return [int(m in members) for m in args[2:]]


@command("srandmember", -2, write=False)
def srandmember(e: Engine, args: list[bytes]):
    if len(args) == 2:
        members = list(_members(e, args[1]))
        return random.choice(members) if members else None
    if len(args) > 3:
        raise CommandError(SYNTAX)
    count = integer(args[2])  # read before the key is looked up, in -LONG_MAX..LONG_MAX
    if count == INT64_MIN:
        raise CommandError(f"ERR value is out of range, value must between {-INT64_MAX} and {INT64_MAX}")
    members = list(_members(e, args[1]))
    if count >= 0:
        return random.sample(members, min(count, len(members)))
    return [random.choice(members) for _ in range(-count)] if members else []


@command("sintercard", -3, write=False)
def sintercard(e: Engine, args: list[bytes]):
    """SINTERCARD numkeys key... [LIMIT n]: options are checked before the keys."""
    from rdbtools.keyspace.commands.zsets import intercard_limit, intersection_size

    numkeys = integer(args[1], NUMKEYS)
    if numkeys <= 0:
        raise CommandError(NUMKEYS)
    if numkeys > len(args) - 2:
        raise CommandError("ERR Number of keys can't be greater than number of args")
    limit = intercard_limit(args, 2 + numkeys)
    sources = sorted((_members(e, key) for key in args[2 : 2 + numkeys]), key=len)
    return intersection_size(sources, limit)


NUMKEYS = "ERR numkeys should be greater than 0"
