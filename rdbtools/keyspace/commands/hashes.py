"""Hash commands, with hash-field expiration (Redis 7.4+ / Valkey 9: HEXPIRE family, HSETEX, HGETEX)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rdbtools.keyspace.commands import (
    HASH,
    INT64_MAX,
    INT64_MIN,
    OK,
    SYNTAX,
    CommandError,
    add_long_doubles,
    command,
    integer,
    long_double,
    wrong_arity,
)
from rdbtools.keyspace.encodings import HASHTABLE_HASH

if TYPE_CHECKING:
    from rdbtools.keyspace.engine import Engine
    from rdbtools.keyspace.model import Entry
    from rdbtools.rdb.targets import Target


def _hash(e: Engine, key: bytes):
    """The hash at ``key`` with its passed fields gone; looked up once (a second lookup would count a second
    access under an LFU policy)."""
    entry = e.get(key, "hash")
    if entry is not None and entry.field_expires and not e.loading:
        expire_fields(e, key, entry)
        return entry if e.keys.get(key) is entry else None  # None when its last field went
    return entry


def expire_fields(e: Engine, key: bytes, entry) -> None:
    """Delete a hash's fields whose TTL has passed (on access, or by a server's active expiry): HDEL for
    the AOF, "hexpired" told, then "del" when the hash is empty."""
    now = e.now_ms()
    expired = [field for field, at in entry.field_expires.items() if at <= now]
    for field in expired:
        del entry.field_expires[field]
        entry.value.pop(field, None)
    if expired:
        if e.on_expired is not None:
            e.on_expired(e.db, [b"HDEL", key, *expired])
        e.notify(HASH, b"hexpired", key)
    e.drop_if_empty(key, entry)


def _set_field(entry: Entry, field: bytes, value: bytes) -> bool:
    """Store a field (dropping its TTL, as a write does); True when it is new."""
    values: dict[bytes, bytes] = entry.value
    new = field not in values
    values[field] = value
    if entry.field_expires:
        entry.field_expires.pop(field, None)
    return new


def converted(target: Target, entry: Entry, written: list[bytes]) -> None:
    """Fields and values were written: a hash past the listpack's limits is a hash table for good (Redis
    never converts one back), marked HASHTABLE_HASH (model.py)."""
    entries = target.hash_max_listpack_entries
    if entry.type is not HASHTABLE_HASH and (len(entry.value) > entries or (
            written and max(map(len, written)) > target.hash_max_listpack_value) or (
            target.size_hints and len(written) // 2 > entries)):  # (7.2+: pairs counted, duplicates too)
        entry.type = HASHTABLE_HASH


@command("hset", -4)
def hset(e: Engine, args: list[bytes]):
    if len(args) % 2:
        raise wrong_arity(args[0])
    entry = _hash(e, args[1]) or e.get_or_create(args[1], "hash", dict)
    if len(args) == 4:
        added = int(_set_field(entry, args[2], args[3]))
        if entry.type is not HASHTABLE_HASH:  # (converted() inline: one field is the common case)
            limit = e.target.hash_max_listpack_value
            if len(args[2]) > limit or len(args[3]) > limit or len(entry.value) > e.target.hash_max_listpack_entries:
                entry.type = HASHTABLE_HASH
    else:
        added = sum(_set_field(entry, args[i], args[i + 1]) for i in range(2, len(args), 2))
        converted(e.target, entry, args[2:])
    e.notify(HASH, b"hset", args[1])
    return added


@command("hmset", -4)
def hmset(e: Engine, args: list[bytes]):
    hset(e, args)
    return OK


@command("hsetnx", 4)
def hsetnx(e: Engine, args: list[bytes]):
    entry = _hash(e, args[1]) or e.get_or_create(args[1], "hash", dict)
    if e.target.version < (7, 0):
        converted(e.target, entry, args[2:])  # (6.2 converts by the arguments, even when the field exists)
    if args[2] in entry.value:
        return 0
    entry.value[args[2]] = args[3]
    converted(e.target, entry, args[2:])
    e.notify(HASH, b"hset", args[1])
    return 1


@command("hdel", -3)
def hdel(e: Engine, args: list[bytes]):
    entry = _hash(e, args[1])
    if entry is None:
        return 0
    removed = sum(_delete_field(entry, field) for field in args[2:])
    _deleted(e, args[1], entry, removed)
    return removed


def _delete_field(entry, field: bytes) -> bool:
    if entry.value.pop(field, None) is None:
        return False
    if entry.field_expires:
        entry.field_expires.pop(field, None)
    return True


def _deleted(e: Engine, key: bytes, entry, removed: int) -> None:
    """Fields were deleted: "hdel" (once), then "del" when the hash is empty."""
    if removed:
        e.removed(HASH, b"hdel", key, entry)


@command("hget", 3, write=False)
def hget(e: Engine, args: list[bytes]):
    entry = _hash(e, args[1])
    return None if entry is None else entry.value.get(args[2])


@command("hgetall", 2, write=False)
def hgetall(e: Engine, args: list[bytes]):
    entry = _hash(e, args[1])
    return [] if entry is None else [x for pair in entry.value.items() for x in pair]


@command("hlen", 2, write=False)
def hlen(e: Engine, args: list[bytes]):
    entry = _hash(e, args[1])
    return 0 if entry is None else len(entry.value)


@command("hincrby", 4)
def hincrby(e: Engine, args: list[bytes]):
    delta = integer(args[3])
    entry = _hash(e, args[1]) or e.get_or_create(args[1], "hash", dict)
    old = entry.value.get(args[2])
    current = 0 if old is None else integer(old, "ERR hash value is not an integer")
    if not INT64_MIN <= current + delta <= INT64_MAX:
        e.drop_if_empty(args[1], entry)
        raise CommandError("ERR increment or decrement would overflow")
    entry.value[args[2]] = b"%d" % (current + delta)
    converted(e.target, entry, args[2:3])
    e.notify(HASH, b"hincrby", args[1])
    return current + delta


@command("hincrbyfloat", 4)
def hincrbyfloat(e: Engine, args: list[bytes]):
    increment = long_double(args[3], infinite="ERR value is NaN or Infinity")
    entry = _hash(e, args[1]) or e.get_or_create(args[1], "hash", dict)
    old = entry.value.get(args[2], b"0")
    try:
        entry.value[args[2]] = add_long_doubles(long_double(old, "ERR hash value is not a float"), increment)
    except CommandError:
        e.drop_if_empty(args[1], entry)
        raise
    converted(e.target, entry, [args[2], entry.value[args[2]]])
    e.notify(HASH, b"hincrbyfloat", args[1])
    return entry.value[args[2]]


# --- field expiration ---------------------------------------------------------------------------

def _fields(args, at: int) -> list[bytes]:
    """FIELDS numfields field... starting at args[at]."""
    if at + 1 >= len(args) or args[at].upper() != b"FIELDS":
        raise CommandError("ERR Mandatory argument FIELDS is missing or not at the right position")
    count = integer(args[at + 1], "ERR Number of fields must be a positive integer")
    fields = args[at + 2 :]
    if count <= 0:
        raise CommandError("ERR Number of fields must be a positive integer")
    if count != len(fields):
        raise CommandError("ERR The `numfields` parameter must match the number of arguments")
    return fields


def _hexpire(e: Engine, args, unit_ms: int, absolute: bool):
    """HEXPIRE/HPEXPIRE/HEXPIREAT/HPEXPIREAT key n [NX|XX|GT|LT] FIELDS count field..."""
    entry = _hash(e, args[1])
    amount = integer(args[2])
    condition, at = None, 3
    if at < len(args) and args[at].upper() in (b"NX", b"XX", b"GT", b"LT"):
        condition, at = args[at].upper(), at + 1
    fields = _fields(args, at)
    if amount < 0:
        raise CommandError("ERR invalid expire time, must be >= 0")
    if entry is None:
        return [-2] * len(fields)
    when, past = e.expiry(amount, unit_ms, absolute)
    ttls = entry.field_expires = entry.field_expires or {}
    replies = []
    for field in fields:
        current = ttls.get(field)
        if field not in entry.value:
            replies.append(-2)
        elif ((condition == b"NX" and current is not None) or (condition == b"XX" and current is None)
              or (condition == b"GT" and (current is None or when <= current))
              or (condition == b"LT" and current is not None and when >= current)):
            replies.append(0)
        elif past and not e.loading:
            del entry.value[field]
            ttls.pop(field, None)
            replies.append(2)
        else:
            ttls[field] = when
            replies.append(1)
    if not ttls:
        entry.field_expires = None
    if 1 in replies or 2 in replies:  # one event: "hdel" when a field went, else "hexpire" (then "del")
        e.removed(HASH, b"hdel" if 2 in replies else b"hexpire", args[1], entry)
    return replies


@command("hexpire", -6)
def hexpire(e: Engine, args: list[bytes]):
    return _hexpire(e, args, 1000, False)


@command("hpexpire", -6)
def hpexpire(e: Engine, args: list[bytes]):
    return _hexpire(e, args, 1, False)


@command("hexpireat", -6)
def hexpireat(e: Engine, args: list[bytes]):
    return _hexpire(e, args, 1000, True)


@command("hpexpireat", -6)
def hpexpireat(e: Engine, args: list[bytes]):
    return _hexpire(e, args, 1, True)


@command("hpersist", -5)
def hpersist(e: Engine, args: list[bytes]):
    fields = _fields(args, 2)
    entry = _hash(e, args[1])
    if entry is None:
        return [-2] * len(fields)
    ttls = entry.field_expires or {}
    replies = [-2 if f not in entry.value else 1 if ttls.pop(f, None) is not None else -1 for f in fields]
    entry.field_expires = ttls or None
    if 1 in replies:
        e.notify(HASH, b"hpersist", args[1])
    return replies


_UNITS = {b"EX": (1000, False), b"PX": (1, False), b"EXAT": (1000, True), b"PXAT": (1, True)}


@command("hsetex", -6)
def hsetex(e: Engine, args: list[bytes]):
    """HSETEX key [FNX|FXX] [EX s|PX ms|EXAT s|PXAT ms|KEEPTTL] FIELDS n field value ... (Redis 8, Valkey 9)."""
    i, condition, expire_at, keep_ttl = 2, None, None, False
    while i < len(args) and args[i].upper() != b"FIELDS":
        option = args[i].upper()
        if option in (b"FNX", b"FXX", b"NX", b"XX") and condition is None:
            condition = option.lstrip(b"F")
        elif option == b"KEEPTTL" and expire_at is None:
            keep_ttl = True
        elif option in _UNITS and expire_at is None and not keep_ttl and i + 1 < len(args):
            expire_at = e.expiry(integer(args[i + 1]), *_UNITS[option])[0]
            i += 1
        else:
            raise CommandError(SYNTAX)
        i += 1
    if i + 1 >= len(args):
        raise CommandError("ERR Mandatory argument FIELDS is missing or not at the right position")
    count, pairs = integer(args[i + 1]), args[i + 2 :]
    if count <= 0 or len(pairs) != 2 * count:
        raise wrong_arity(args[0])
    entry = _hash(e, args[1])
    present = [] if entry is None else [pairs[j] in entry.value for j in range(0, len(pairs), 2)]
    if (condition == b"NX" and any(present)) or (condition == b"XX" and (entry is None or not all(present))):
        return 0
    entry = entry or e.get_or_create(args[1], "hash", dict)
    ttls = entry.field_expires or {}
    for j in range(0, len(pairs), 2):
        kept = ttls.get(pairs[j]) if keep_ttl else None
        entry.value[pairs[j]] = pairs[j + 1]
        ttls.pop(pairs[j], None)
        if expire_at is not None:
            ttls[pairs[j]] = expire_at
        elif kept is not None:
            ttls[pairs[j]] = kept
    entry.field_expires = ttls or None
    converted(e.target, entry, pairs)
    e.notify(HASH, b"hset", args[1])
    if expire_at is not None:
        e.notify(HASH, b"hexpire", args[1])
    return 1


@command("hgetdel", -5)
def hgetdel(e: Engine, args: list[bytes]):
    """HGETDEL key FIELDS n field... (Redis 8): the values, then the fields are gone."""
    fields = _fields(args, 2)
    entry = _hash(e, args[1])
    if entry is None:
        return [None] * len(fields)
    values, removed = [], 0
    for field in fields:
        values.append(entry.value.get(field))
        removed += _delete_field(entry, field)
    _deleted(e, args[1], entry, removed)
    return values


@command("hgetex", -5)
def hgetex(e: Engine, args: list[bytes]):
    """HGETEX key [EX s|PX ms|EXAT s|PXAT ms|PERSIST] FIELDS n field... (Redis 8)."""
    i, expire_at, persist = 2, None, False
    option = args[i].upper()
    if option == b"PERSIST":
        persist, i = True, i + 1
    elif option in _UNITS:
        amount = integer(args[i + 1])
        (expire_at, past), i = e.expiry(amount, *_UNITS[option]), i + 2
    fields = _fields(args, i)
    entry = _hash(e, args[1])
    if entry is None:
        return [None] * len(fields)
    values = [entry.value.get(f) for f in fields]
    ttls = entry.field_expires or {}
    event = None
    for field in fields:
        if field not in entry.value:
            continue
        if persist:
            if ttls.pop(field, None) is not None:
                event = b"hpersist"
        elif expire_at is not None and past and not e.loading:
            del entry.value[field]
            ttls.pop(field, None)
            event = b"hdel"
        elif expire_at is not None:
            ttls[field] = expire_at
            event = b"hexpire"
    entry.field_expires = ttls or None
    if event is not None:
        e.removed(HASH, event, args[1], entry)
    return values


@command("hkeys", 2, write=False)
def hkeys(e: Engine, args: list[bytes]):
    entry = _hash(e, args[1])
    return [] if entry is None else list(entry.value)


@command("hvals", 2, write=False)
def hvals(e: Engine, args: list[bytes]):
    entry = _hash(e, args[1])
    return [] if entry is None else list(entry.value.values())


@command("hexists", 3, write=False)
def hexists(e: Engine, args: list[bytes]):
    entry = _hash(e, args[1])
    return int(entry is not None and args[2] in entry.value)


@command("hstrlen", 3, write=False)
def hstrlen(e: Engine, args: list[bytes]):
    entry = _hash(e, args[1])
    return len(entry.value.get(args[2], b"")) if entry is not None else 0


@command("hmget", -3, write=False)
def hmget(e: Engine, args: list[bytes]):
    entry = _hash(e, args[1])
    return [None if entry is None else entry.value.get(f) for f in args[2:]]


def _field_ttl(e: Engine, args, unit_ms: int, absolute: bool):
    fields = _fields(args, 2)
    entry = _hash(e, args[1])
    if entry is None:
        return [-2] * len(fields)
    ttls, now = entry.field_expires or {}, e.now_ms()
    replies = []
    for field in fields:
        at = ttls.get(field)
        if field not in entry.value:
            replies.append(-2)
        elif at is None:
            replies.append(-1)
        elif absolute:
            replies.append(at // unit_ms)
        else:
            left = max(0, at - now)
            replies.append((left + 500) // 1000 if unit_ms == 1000 else left)
    return replies


@command("httl", -5, write=False)
def httl(e: Engine, args: list[bytes]):
    return _field_ttl(e, args, 1000, False)


@command("hpttl", -5, write=False)
def hpttl(e: Engine, args: list[bytes]):
    return _field_ttl(e, args, 1, False)


@command("hexpiretime", -5, write=False)
def hexpiretime(e: Engine, args: list[bytes]):
    return _field_ttl(e, args, 1000, True)


@command("hpexpiretime", -5, write=False)
def hpexpiretime(e: Engine, args: list[bytes]):
    return _field_ttl(e, args, 1, True)
