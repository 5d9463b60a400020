"""String commands: SET and its family, counters, ranges, bits and BITFIELD."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from rdbtools.formats.numbers import int_text
from rdbtools.keyspace.commands import (
    GENERIC,
    INT64_MAX,
    INT64_MIN,
    NEW,
    OK,
    STRING,
    SYNTAX,
    CommandError,
    add_long_doubles,
    alias,
    command,
    expire_time_ms,
    integer,
    invalid_expire_time,
    long_double,
)
from rdbtools.keyspace.encodings import RAW_STRING
from rdbtools.keyspace.model import Entry

if TYPE_CHECKING:
    from rdbtools.keyspace.engine import Engine

_PLAIN: Final = "string"  # the type of a string that is not raw (the literal every module shares, interned)
_TOO_LONG = "ERR string exceeds maximum allowed size (proto-max-bulk-len)"
_BAD_OFFSET = "ERR bit offset is not an integer or out of range"


def _string(e: Engine, key: bytes) -> bytes | None:
    entry = e.get(key, "string")
    return None if entry is None else entry.value


def _read_string(e: Engine, key: bytes) -> bytes | None:
    """A string a write command reads (GETDEL, SET ... GET, BITOP's sources): a miss tells keymiss."""
    entry = e.read(key, "string")
    return None if entry is None else entry.value


def _store(e: Engine, key: bytes, value: bytes, expire_ms: int | None = None, keep_ttl: bool = False,
           event: bytes | None = b"set", past: bool = False, looked: bool = False, raw: bool = False) -> None:
    """Store a string whatever the key held, telling "new" (when it held nothing), the command's event
    and "expire" (when given one), in Redis's order; ``looked``: the command's lookup of the key was its
    access (this one is not); ``raw``: built in place (RAW_STRING)."""
    if past and e.target.past_expiry_told_expired and not e.loading:
        e.expire_now(key)
        return
    old = e.peek(key) if looked else e.lookup(key)
    ttl = old.expire_ms if keep_ttl and old is not None else expire_ms
    e.keys[key] = entry = Entry(RAW_STRING if raw else "string", value, ttl)
    if old is None:
        e.notify(NEW, b"new", key)
    else:
        e.renew(entry, old)
        e.overwritten(key, old.type, "string")
    if event is not None:
        e.notify(STRING, event, key)
    if expire_ms is not None:
        e.notify(GENERIC, b"expire", key)


def _changed(e: Engine, key: bytes, entry: Entry, value: bytes, event: bytes | None, raw: bool = False) -> None:
    """A string changed in place (APPEND, SETRANGE ...: raw) or replaced by a new one (INCRBYFLOAT), told
    as the command's event."""
    entry.value, entry.type = value, RAW_STRING if raw else "string"
    if event is not None:
        e.notify(STRING, event, key)


@command("get", 2, write=False)
def get(e: Engine, args: list[bytes]):
    return _string(e, args[1])


_EXPIRY_UNITS = {b"EX": (1000, False), b"PX": (1, False), b"EXAT": (1000, True), b"PXAT": (1, True)}


def _set_options(e: Engine, args, start: int):
    """[NX|XX] [GET] [EX|PX|EXAT|PXAT n|KEEPTTL] -> (condition, get, expire_ms, keep_ttl): all parsed before
    the expiry is read, as Redis does (a syntax error wins over a bad time)."""
    condition, want_old, expiry, keep_ttl = None, False, None, False
    i = start
    while i < len(args):
        option = args[i].upper()
        if option in (b"NX", b"XX") and condition in (None, option):
            condition = option
        elif option == b"GET":
            want_old = True
        elif option == b"KEEPTTL" and expiry is None:
            keep_ttl = True
        elif option in _EXPIRY_UNITS and not keep_ttl and expiry is None and i + 1 < len(args):
            expiry = (option, args[i + 1])
            i += 1
        else:
            raise CommandError(SYNTAX)
        i += 1
    if condition == b"NX" and want_old and not e.target.valkey_server and e.target.version < (7, 0):
        raise CommandError(SYNTAX)  # (NX GET came with 7.0)
    return condition, want_old, _expire_ms(e, *expiry, b"set") if expiry else (None, False), keep_ttl


def _expire_ms(e: Engine, unit: bytes, text: bytes, command: bytes) -> tuple[int, bool]:
    """A SET/GETEX/SETEX time: positive, as an absolute time in ms, and whether that is past."""
    amount, (unit_ms, absolute) = integer(text), _EXPIRY_UNITS[unit]
    if amount <= 0:
        raise invalid_expire_time(e, command)
    return expire_time_ms(e, amount, unit_ms, absolute, command)


@command("set", -3)
def set_(e: Engine, args: list[bytes]):
    if len(args) == 3:  # the plain form (every SET of an AOF rewrite): replaces whatever was there
        keys = e.keys
        entry = keys.get(args[1])
        if entry is not None:
            stamp = e.stamp  # (the access engine.lookup makes, inline on this hot path)
            if entry.expire_ms is None and stamp is not None and entry.type is _PLAIN:  # (not RAW_STRING)
                entry.value, entry.lru = args[2], stamp  # overwritten in place: no entry to build
            else:
                entry = _set_over(e, keys, args)
        else:
            keys[args[1]] = Entry("string", args[2])
            e.notify(NEW, b"new", args[1])
        if entry is not None and e.events:  # (the guard spares the hot path a call)
            e.overwritten(args[1], entry.type, "string")
        e.notify(STRING, b"set", args[1])
        return OK
    condition, want_old, (expire_ms, past), keep_ttl = _set_options(e, args, 3)
    old = _read_string(e, args[1]) if want_old else None
    exists = e.lookup(args[1]) is not None
    if (condition == b"NX" and exists) or (condition == b"XX" and not exists):
        return old if want_old else None
    _store(e, args[1], args[2], expire_ms, keep_ttl, past=past, looked=True)
    return old if want_old else OK


def _set_over(e: Engine, keys: dict, args: list[bytes]) -> Entry | None:
    """A plain SET over a key with a TTL or another type, or while lookups take the slow way: the entry the
    key held (None when it had expired)."""
    entry = e.lookup(args[1])  # an expired key is deleted first (and that propagated, as Redis does)
    if entry is not None and entry.type == "string":
        e.renew(entry, entry)
        entry.value, entry.expire_ms, entry.type = args[2], None, "string"  # (no longer raw)
        return entry
    keys[args[1]] = new = Entry("string", args[2])
    if entry is None:
        e.notify(NEW, b"new", args[1])
    else:
        e.renew(new, entry)
    return entry


@command("setnx", 3)
def setnx(e: Engine, args: list[bytes]):
    if e.lookup(args[1]) is not None:
        return 0
    _store(e, args[1], args[2])
    return 1


def _setex(e: Engine, args, unit: bytes):
    _store(e, args[1], args[3], _expire_ms(e, unit, args[2], args[0].lower())[0])  # (never past: positive)
    return OK


@command("setex", 4)
def setex(e: Engine, args: list[bytes]):
    return _setex(e, args, b"EX")


@command("psetex", 4)
def psetex(e: Engine, args: list[bytes]):
    return _setex(e, args, b"PX")


@command("mset", -3)
def mset(e: Engine, args: list[bytes]):
    if len(args) % 2 == 0:
        from rdbtools.keyspace.commands import wrong_arity

        raise wrong_arity(args[0])
    for i in range(1, len(args), 2):
        _store(e, args[i], args[i + 1])
    return OK


@command("msetnx", -3)
def msetnx(e: Engine, args: list[bytes]):
    if len(args) % 2 == 0:
        from rdbtools.keyspace.commands import wrong_arity

        raise wrong_arity(args[0])
    if any(e.lookup(args[i]) is not None for i in range(1, len(args), 2)):
        return 0
    mset(e, args)
    return 1


@command("getset", 3)
def getset(e: Engine, args: list[bytes]):
    old = _read_string(e, args[1])
    _store(e, args[1], args[2])
    return old


@command("getdel", 2)
def getdel(e: Engine, args: list[bytes]):
    old = _read_string(e, args[1])
    if old is not None:
        e.delete(args[1])
        e.notify(GENERIC, b"del", args[1])
    return old


@command("getex", -2)
def getex(e: Engine, args: list[bytes]):
    """GETEX key [EX|PX|EXAT|PXAT n|PERSIST]"""
    options = [a.upper() for a in args[2:]]
    persist, expire_ms, past = options == [b"PERSIST"], None, False
    if len(options) == 2 and options[0] in _EXPIRY_UNITS:
        expire_ms, past = _expire_ms(e, options[0], args[3], b"getex")
    elif options and not persist:
        raise CommandError(SYNTAX)
    value = _read_string(e, args[1])
    e.changes = 0  # PERSIST: whether it removed an expiry (propagated only then)
    if value is None:
        return None
    entry = e.peek(args[1])
    assert entry is not None, "its value was just read"
    if past and not e.loading:
        e.expire_now(args[1])
    elif expire_ms is not None:
        entry.expire_ms = expire_ms
        e.notify(GENERIC, b"expire", args[1])
    elif persist and entry.expire_ms is not None:
        entry.expire_ms = None
        e.changes = 1
        e.notify(GENERIC, b"persist", args[1])
    return value


@command("strlen", 2, write=False)
def strlen(e: Engine, args: list[bytes]):
    return len(_string(e, args[1]) or b"")


@command("append", 3)
def append(e: Engine, args: list[bytes]):
    entry = e.get(args[1], "string")
    if entry is None:
        _store(e, args[1], args[2], event=b"append")
        return len(args[2])
    _check_length(e, len(entry.value) + len(args[2]))
    _changed(e, args[1], entry, entry.value + args[2], b"append", raw=True)
    return len(entry.value)


@command("getrange", 4, write=False)
def getrange(e: Engine, args: list[bytes]):
    start, end = integer(args[2]), integer(args[3])
    value = _string(e, args[1]) or b""
    if start < 0 and end < 0 and start > end:
        return b""
    size = len(value)
    start, end = max(0, start + size if start < 0 else start), max(0, end + size if end < 0 else end)
    end = min(end, size - 1)
    return b"" if start > end or size == 0 else value[start : end + 1]


alias("substr", "getrange")


@command("setrange", 4)
def setrange(e: Engine, args: list[bytes]):
    offset = integer(args[2])
    if offset < 0:
        raise CommandError("ERR offset is out of range")
    value = _string(e, args[1])
    if not args[3]:
        return len(value or b"")
    _check_length(e, offset + len(args[3]))
    current = bytearray(value or b"")
    if len(current) < offset + len(args[3]):
        current.extend(bytes(offset + len(args[3]) - len(current)))
    current[offset : offset + len(args[3])] = args[3]
    _replace(e, args[1], bytes(current), b"setrange")
    return len(current)


# --- counters ------------------------------------------------------------------------------------

def _incr(e: Engine, key: bytes, delta: int) -> int:
    entry = e.get(key, "string")
    current = 0 if entry is None else integer(entry.value)
    if not INT64_MIN <= current + delta <= INT64_MAX:
        raise CommandError("ERR increment or decrement would overflow")
    if entry is None:
        _store(e, key, int_text(current + delta), event=b"incrby")
    else:
        entry.value, entry.type = int_text(current + delta), "string"  # (not through _changed: a hot path)
        e.notify(STRING, b"incrby", key)
    return current + delta


@command("incr", 2)
def incr(e: Engine, args: list[bytes]):
    return _incr(e, args[1], 1)


@command("decr", 2)
def decr(e: Engine, args: list[bytes]):
    return _incr(e, args[1], -1)


@command("incrby", 3)
def incrby(e: Engine, args: list[bytes]):
    return _incr(e, args[1], integer(args[2]))


@command("decrby", 3)
def decrby(e: Engine, args: list[bytes]):
    delta = integer(args[2])
    if delta == INT64_MIN:
        raise CommandError("ERR decrement would overflow")
    return _incr(e, args[1], -delta)


@command("incrbyfloat", 3)
def incrbyfloat(e: Engine, args: list[bytes]):
    entry = e.get(args[1], "string")
    current = long_double(b"0" if entry is None else entry.value)
    text = add_long_doubles(current, long_double(args[2]))
    if entry is None:
        _store(e, args[1], text, event=b"incrbyfloat")
    else:
        _changed(e, args[1], entry, text, b"incrbyfloat")
    return text


# --- bits ----------------------------------------------------------------------------------------

def _check_length(e: Engine, size: int) -> None:
    """Redis's checkStringLength: a string grows to proto-max-bulk-len at most (a replayed AOF's to any size)."""
    if size > e.max_string and not e.loading:
        raise CommandError(_TOO_LONG)


def _bit_offset(e: Engine, value: bytes) -> int:
    return _checked_offset(e, integer(value, _BAD_OFFSET))


def _checked_offset(e: Engine, offset: int) -> int:
    """Redis's getBitOffsetFromArgument: a bit within proto-max-bulk-len bytes (any, replaying an AOF)."""
    if offset < 0 or (offset >> 3 >= e.max_string and not e.loading):
        raise CommandError(_BAD_OFFSET)
    return offset


def _grown(e: Engine, key: bytes, size: int) -> tuple[bytearray, bool]:
    """The string padded to ``size`` bytes, and whether it is new or grew (Redis's dirty: a write to it
    is then told even when no bit changes)."""
    value = _string(e, key)
    current = bytearray(value or b"")
    if len(current) < size:
        current.extend(bytes(size - len(current)))
    return current, value is None or len(current) > len(value)


@command("setbit", 4)
def setbit(e: Engine, args: list[bytes]):
    offset = _bit_offset(e, args[2])
    if args[3] not in (b"0", b"1"):
        raise CommandError("ERR bit is not an integer or out of range")
    current, dirty = _grown(e, args[1], offset // 8 + 1)
    mask = 0x80 >> (offset % 8)
    old = 1 if current[offset // 8] & mask else 0
    e.changes = 0  # a bit set to what it was, in a string that did not grow: no change, not propagated
    if dirty or old != int(args[3]) or e.target.unchanged_bits_told:
        current[offset // 8] = current[offset // 8] | mask if args[3] == b"1" else current[offset // 8] & ~mask
        _replace(e, args[1], bytes(current), b"setbit")
        e.changes = 1
    return old


def _replace(e: Engine, key: bytes, value: bytes, event: bytes | None) -> None:
    """A string the command read (that lookup was the access) is built in place: raw."""
    entry = e.peek(key)
    if entry is None:
        _store(e, key, value, event=event, raw=True)
    else:
        _changed(e, key, entry, value, event, raw=True)


@command("getbit", 3, write=False)
def getbit(e: Engine, args: list[bytes]):
    offset = _bit_offset(e, args[2])
    value = _string(e, args[1]) or b""
    return 1 if offset // 8 < len(value) and value[offset // 8] & (0x80 >> (offset % 8)) else 0


@command("bitop", -4)
def bitop(e: Engine, args: list[bytes]):
    operation = args[1].upper()
    if operation not in (b"AND", b"OR", b"XOR", b"NOT"):
        raise CommandError(SYNTAX)
    if operation == b"NOT" and len(args) != 4:
        raise CommandError("ERR BITOP NOT must be called with a single source key.")
    sources = [_read_string(e, key) or b"" for key in args[3:]]
    size = max(len(s) for s in sources)
    if operation == b"NOT":
        result = bytes(~b & 0xFF for b in sources[0])
    else:
        padded = [int.from_bytes(s.ljust(size, b"\0"), "big") for s in sources]
        number = padded[0]
        for other in padded[1:]:
            number = number & other if operation == b"AND" else number | other if operation == b"OR" else number ^ other
        result = number.to_bytes(size, "big") if size else b""
    if not result:
        if e.delete(args[2]):
            e.notify(GENERIC, b"del", args[2])
    else:
        _store(e, args[2], result, raw=True)
    return len(result)


def _field_type(text: bytes) -> tuple[bool, int]:
    error = "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is."
    if len(text) < 2 or text[:1] not in (b"i", b"u", b"I", b"U") or not text[1:].isdigit():
        raise CommandError(error)
    signed, bits = text[:1] in (b"i", b"I"), int(text[1:])
    if not 1 <= bits <= (64 if signed else 63):
        raise CommandError(error)
    return signed, bits


def _field_offset(e: Engine, text: bytes, bits: int) -> int:
    multiply = text.startswith(b"#")
    offset = integer(text[1:] if multiply else text, _BAD_OFFSET)
    return _checked_offset(e, offset * bits if multiply else offset)


def _read_field(data: bytearray, offset: int, bits: int, signed: bool) -> int:
    number = 0
    for i in range(offset, offset + bits):
        byte = data[i // 8] if i // 8 < len(data) else 0
        number = number << 1 | (1 if byte & (0x80 >> (i % 8)) else 0)
    if signed and number >> (bits - 1):
        number -= 1 << bits
    return number


def _write_field(data: bytearray, offset: int, bits: int, number: int) -> None:
    number &= (1 << bits) - 1
    for i in range(bits):
        position = offset + i
        mask = 0x80 >> (position % 8)
        if number >> (bits - 1 - i) & 1:
            data[position // 8] |= mask
        else:
            data[position // 8] &= ~mask


def _overflow(value: int, bits: int, signed: bool, policy: bytes) -> int | None:
    low, high = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    if low <= value <= high:
        return value
    if policy == b"FAIL":
        return None
    if policy == b"SAT":
        return high if value > high else low
    wrapped = value & ((1 << bits) - 1)
    return wrapped - (1 << bits) if signed and wrapped >> (bits - 1) else wrapped


def _bitfield(e: Engine, args, read_only: bool):
    # (op, signed, bits, offset text, value (0 for a GET: unused), overflow policy)
    operations: list[tuple[bytes, bool, int, bytes, int, bytes]] = []
    i, policy = 2, b"WRAP"
    while i < len(args):
        op = args[i].upper()
        if op == b"GET" and i + 2 < len(args):
            operations.append((op, *_field_type(args[i + 1]), args[i + 2], 0, policy))
            i += 3
        elif op in (b"SET", b"INCRBY") and i + 3 < len(args) and not read_only:
            operations.append((op, *_field_type(args[i + 1]), args[i + 2], integer(args[i + 3]), policy))
            i += 4
        elif op == b"OVERFLOW" and i + 1 < len(args) and not read_only:
            policy = args[i + 1].upper()
            if policy not in (b"WRAP", b"SAT", b"FAIL"):
                raise CommandError("ERR Invalid OVERFLOW type specified")
            i += 2
        else:
            raise CommandError(SYNTAX if not read_only or op in (b"GET",) else
                               "ERR BITFIELD_RO only supports the GET subcommand")
    resolved = [(op, signed, bits, _field_offset(e, offset, bits), value, pol)
                for op, signed, bits, offset, value, pol in operations]
    writes = any(op != b"GET" for op, *_ in resolved)
    size = max([(offset + bits + 7) // 8 for op, _, bits, offset, *_ in resolved if op != b"GET"], default=0)
    data, dirty = _grown(e, args[1], size) if writes else (bytearray(_read_string(e, args[1]) or b""), False)
    replies: list[int | None] = []
    changes = 0
    for op, signed, bits, offset, value, pol in resolved:
        old = _read_field(data, offset, bits, signed)
        if op == b"GET":
            replies.append(old)
            continue
        if op == b"SET" and not signed:
            value &= (1 << 64) - 1  # Redis takes an unsigned field's new value as a uint64
        new = _overflow(old + value if op == b"INCRBY" else value, bits, signed, pol)
        if new is None:
            changes += e.target.unchanged_bits_told
            replies.append(None)
            continue
        _write_field(data, offset, bits, new)
        changes += dirty or _read_field(data, offset, bits, signed) != old or e.target.unchanged_bits_told
        replies.append(old if op == b"SET" else new)
    if writes:
        _replace(e, args[1], bytes(data), b"setbit" if changes else None)
    e.changes = changes  # propagated only when a field changed (or the string was made or grew)
    return replies


@command("bitfield", -2)
def bitfield(e: Engine, args: list[bytes]):
    return _bitfield(e, args, read_only=False)


@command("bitfield_ro", -2, write=False)
def bitfield_ro(e: Engine, args: list[bytes]):
    return _bitfield(e, args, read_only=True)


@command("mget", -2, write=False)
def mget(e: Engine, args: list[bytes]):
    return [entry.value if (entry := e.lookup(key)) is not None and entry.type == "string" else None
            for key in args[1:]]
