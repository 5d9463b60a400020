"""Commands on keys whatever they hold: deletion, expiry, renaming, copying, databases, functions."""

from __future__ import annotations

import copy
import re
from typing import TYPE_CHECKING

from rdbtools.keyspace.commands import (
    GENERIC,
    NEW,
    OK,
    SYNTAX,
    CommandError,
    Status,
    command,
    expire_time_ms,
    integer,
)
from rdbtools.keyspace.engine import NO_TOUCH
from rdbtools.keyspace.model import library_name

if TYPE_CHECKING:
    from rdbtools.keyspace.engine import Engine

NO_SUCH_KEY = "ERR no such key"
DB_RANGE = "ERR DB index is out of range"


@command("select", 2, write=False)
def select(e: Engine, args: list[bytes]):
    e.db = _db_index(e, args[1])
    return OK


def _db_index(e: Engine, value: bytes, error: str = "ERR value is not an integer or out of range") -> int:
    index = integer(value, error)
    if not 0 <= index < e.databases:
        raise CommandError(DB_RANGE)
    return index


@command("del", -2)
def delete(e: Engine, args: list[bytes]):
    deleted = 0
    for key in args[1:]:  # (not through _delete: DEL is a hot path)
        if e.delete(key):
            deleted += 1
            e.notify(GENERIC, b"del", key)
    return deleted


def _delete(e: Engine, key: bytes) -> bool:
    """Delete a key a command names, telling "del" when it existed."""
    if e.delete(key):
        e.notify(GENERIC, b"del", key)
        return True
    return False


@command("unlink", -2)
def unlink(e: Engine, args: list[bytes]):
    return delete(e, args)


@command("exists", -2, write=False)
def exists(e: Engine, args: list[bytes]):
    return sum(e.peek(key) is not None for key in args[1:])


@command("touch", -2, write=False)
def touch(e: Engine, args: list[bytes]):
    """The keys that exist, each accessed (its LRU clock or LFU counter updated), also by a NO-TOUCH client."""
    no_touch = e.untouched & NO_TOUCH
    e.leave_untouched(NO_TOUCH, False)
    try:
        return sum(e.lookup(key) is not None for key in args[1:])
    finally:
        e.leave_untouched(NO_TOUCH, bool(no_touch))


@command("type", 2, write=False)
def type_(e: Engine, args: list[bytes]):
    entry = e.peek(args[1])
    return Status("none" if entry is None else entry.type)


# --- expiry --------------------------------------------------------------------------------------

def _expire(e: Engine, args, unit_ms: int, absolute: bool):
    """EXPIRE/PEXPIRE/EXPIREAT/PEXPIREAT key amount [NX|XX|GT|LT] (Redis 7.0)."""
    flags = {a.upper() for a in args[3:]}
    for option in args[3:]:
        if option.upper() not in (b"NX", b"XX", b"GT", b"LT"):
            raise CommandError(f"ERR Unsupported option {option.decode('utf-8', 'replace')}")
    if b"NX" in flags and flags & {b"XX", b"GT", b"LT"}:
        raise CommandError("ERR NX and XX, GT or LT options at the same time are not compatible")
    if {b"GT", b"LT"} <= flags:
        raise CommandError("ERR GT and LT options at the same time are not compatible")
    when, past = expire_time_ms(e, integer(args[2]), unit_ms, absolute, args[0].lower())
    entry = e.lookup(args[1])
    if entry is None:
        return 0
    current = entry.expire_ms
    if (b"NX" in flags and current is not None) or (b"XX" in flags and current is None):
        return 0
    if b"GT" in flags and (current is None or when <= current):
        return 0
    if b"LT" in flags and current is not None and when >= current:
        return 0
    if past and not e.loading:
        e.expire_now(args[1])
        return 1
    entry.expire_ms = when
    e.notify(GENERIC, b"expire", args[1])
    return 1


@command("expire", -3)
def expire(e: Engine, args: list[bytes]):
    return _expire(e, args, 1000, False)


@command("pexpire", -3)
def pexpire(e: Engine, args: list[bytes]):
    return _expire(e, args, 1, False)


@command("expireat", -3)
def expireat(e: Engine, args: list[bytes]):
    return _expire(e, args, 1000, True)


@command("pexpireat", -3)
def pexpireat(e: Engine, args: list[bytes]):
    return _expire(e, args, 1, True)


@command("persist", 2)
def persist(e: Engine, args: list[bytes]):
    entry = e.lookup(args[1])
    if entry is None or entry.expire_ms is None:
        return 0
    entry.expire_ms = None
    e.notify(GENERIC, b"persist", args[1])
    return 1


def _ttl(e: Engine, key: bytes, unit_ms: int) -> int:
    entry = e.peek(key)
    if entry is None:
        return -2
    if entry.expire_ms is None:
        return -1
    left = max(0, entry.expire_ms - e.now_ms())
    return (left + 500) // 1000 if unit_ms == 1000 else left


@command("ttl", 2, write=False)
def ttl(e: Engine, args: list[bytes]):
    return _ttl(e, args[1], 1000)


@command("pttl", 2, write=False)
def pttl(e: Engine, args: list[bytes]):
    return _ttl(e, args[1], 1)


# --- renaming, copying, moving -------------------------------------------------------------------

@command("rename", 3)
def rename(e: Engine, args: list[bytes]):
    entry = e.lookup(args[1])
    if entry is None:
        raise CommandError(NO_SUCH_KEY)
    if args[1] != args[2]:
        old = e.lookup(args[2])
        e.delete(args[2])
        _rename(e, args[1], args[2], entry)
        if old is not None:
            e.overwritten(args[2], old.type, entry.type)
    return OK


def _rename(e: Engine, source: bytes, destination: bytes, entry) -> None:
    _new_name(e, entry)
    e.add(destination, entry)
    del e.keys[source]
    e.notify(GENERIC, b"rename_from", source)
    e.notify(GENERIC, b"rename_to", destination)


def _new_name(e: Engine, entry) -> None:
    """A key renamed or moved keeps its value object, and so its access, but where the object holds the key's
    name (Redis 8, Valkey 8) a new one is made."""
    if e.target.embedded_keys:
        entry.lru = e.access.birth()


@command("renamenx", 3)
def renamenx(e: Engine, args: list[bytes]):
    entry = e.lookup(args[1])
    if entry is None:
        raise CommandError(NO_SUCH_KEY)
    if args[1] == args[2] or e.lookup(args[2]) is not None:
        return 0
    _rename(e, args[1], args[2], entry)
    return 1


@command("copy", -3)
def copy_(e: Engine, args: list[bytes]):
    """COPY source destination [DB index] [REPLACE]"""
    target_db, replace, rest = e.db, False, [a.upper() for a in args[3:]]
    i = 0
    while i < len(rest):
        if rest[i] == b"REPLACE":
            replace = True
        elif rest[i] == b"DB" and i + 1 < len(rest):
            target_db = _db_index(e, args[3 + i + 1])
            i += 1
        else:
            raise CommandError(SYNTAX)
        i += 1
    if target_db == e.db and args[1] == args[2]:
        raise CommandError("ERR source and destination objects are the same")
    entry = e.read(args[1])
    if entry is None:
        return 0
    old = e.lookup(args[2], target_db)
    if old is not None:
        if not replace:
            return 0
        del e.keyspace.dbs[target_db][args[2]]
    clone = copy.deepcopy(entry)
    clone.lru = e.access.birth()  # a new value (Redis duplicates the object)
    e.add(args[2], clone, target_db)
    e.notify(GENERIC, b"copy_to", args[2], target_db)
    if old is not None:
        e.overwritten(args[2], old.type, entry.type, target_db)
    return 1


@command("move", 3)
def move(e: Engine, args: list[bytes]):
    target_db = _db_index(e, args[2])
    if target_db == e.db:
        raise CommandError("ERR source and destination objects are the same")
    entry = e.lookup(args[1])
    if entry is None or e.lookup(args[1], target_db) is not None:
        return 0
    _new_name(e, entry)
    e.add(args[1], entry, target_db)
    del e.keys[args[1]]
    e.notify(GENERIC, b"move_from", args[1])
    e.notify(GENERIC, b"move_to", args[1], target_db)
    return 1


@command("swapdb", 3)
def swapdb(e: Engine, args: list[bytes]):
    first = _db_index(e, args[1], "ERR invalid first DB index")
    second = _db_index(e, args[2], "ERR invalid second DB index")
    dbs = e.keyspace.dbs
    dbs[first], dbs[second] = dbs.get(second, {}), dbs.get(first, {})
    return OK


@command("flushdb", -1)
def flushdb(e: Engine, args: list[bytes]):
    _flush_mode(args)
    e.keys.clear()
    return OK


@command("flushall", -1)
def flushall(e: Engine, args: list[bytes]):
    _flush_mode(args)
    e.keyspace.dbs.clear()
    return OK


def _flush_mode(args) -> None:
    if len(args) > 2 or (len(args) == 2 and args[1].upper() not in (b"ASYNC", b"SYNC")):
        raise CommandError(SYNTAX)


@command("dbsize", 1, write=False)
def dbsize(e: Engine, args: list[bytes]):
    return len(e.keys)


# --- functions (stored, not run) -----------------------------------------------------------------

@command("function", -2, subcommands="load delete flush list dump restore")
def function(e: Engine, args: list[bytes]):
    sub = args[1].upper()
    libraries = e.keyspace.functions
    if sub == b"LOAD":
        replace = len(args) > 3 and args[2].upper() == b"REPLACE"
        source = args[-1]
        name = library_name(source)
        if name in libraries and not replace:
            raise CommandError(f"ERR Library '{name.decode('utf-8', 'replace')}' already exists")
        libraries[name] = source
        return name
    if sub == b"DELETE" and len(args) == 3:
        if libraries.pop(args[2], None) is None:
            raise CommandError("ERR Library not found")
        return OK
    if sub == b"FLUSH":
        libraries.clear()
        return OK
    if sub == b"LIST":
        return _function_list(libraries, [a.upper() for a in args[2:]], args)
    if sub == b"DUMP" and len(args) == 2:
        from rdbtools.rdb.payload import dump_functions

        return dump_functions(list(libraries.values()), e.target)
    if sub == b"RESTORE" and len(args) in (3, 4):
        return _function_restore(e, args)
    from rdbtools.keyspace.engine import UnknownCommand

    raise UnknownCommand(f"unknown command 'FUNCTION {args[1].decode('utf-8', 'replace')}'")


# --- DUMP / RESTORE ------------------------------------------------------------------------------

@command("dump", 2, write=False)
def dump(e: Engine, args: list[bytes]):
    from rdbtools.rdb.payload import dump_payload

    entry = e.lookup(args[1])
    if entry is None:
        return None
    return dump_payload(e.keyspace.record(e.db, args[1], entry), e.target)


@command("restore", -4)
def restore(e: Engine, args: list[bytes]):
    """RESTORE key ttl payload [REPLACE] [ABSTTL] [IDLETIME s] [FREQ f]"""
    from rdbtools.errors import FormatError
    from rdbtools.rdb.payload import load_payload

    replace = absolute = False
    access: dict[bytes, int] = {}  # IDLETIME or FREQ (given both, the second is a syntax error)
    i = 4
    while i < len(args):
        option = args[i].upper()
        if option == b"REPLACE":
            replace = True
        elif option == b"ABSTTL":
            absolute = True
        elif option in (b"IDLETIME", b"FREQ") and i + 1 < len(args) and access.keys() <= {option}:
            amount = access[option] = integer(args[i + 1])
            if amount < 0 or (option == b"FREQ" and amount > 255):
                raise CommandError("ERR Invalid IDLETIME value, must be >= 0" if option == b"IDLETIME"
                                   else "ERR Invalid FREQ value, must be >= 0 and <= 255")
            i += 1
        else:
            raise CommandError(SYNTAX)
        i += 1
    ttl = integer(args[2])
    if ttl < 0:
        raise CommandError("ERR Invalid TTL value, must be >= 0")
    if not replace and e.lookup(args[1]) is not None:
        raise CommandError("BUSYKEY Target key name already exists.")
    try:
        record = load_payload(args[3], args[1])
    except FormatError as error:
        raise CommandError(f"ERR {error.message}") from None
    expire_ms, past = (None, False) if ttl == 0 else e.expiry(ttl, 1, absolute)
    if past and not e.loading:
        _delete(e, args[1])
        return OK
    old = e.lookup(args[1])
    e.delete(args[1])
    e.keyspace.load(record, db=e.db, key=args[1], expire_ms=expire_ms, idle=access.get(b"IDLETIME"),
                    freq=access.get(b"FREQ"), target=e.target)
    e.notify(NEW, b"new", args[1])
    e.notify(GENERIC, b"restore", args[1])
    if old is not None:
        e.overwritten(args[1], old.type, e.keys[args[1]].type)
    return OK


def _expiretime(e: Engine, key: bytes, unit_ms: int) -> int:
    entry = e.peek(key)
    if entry is None:
        return -2
    return -1 if entry.expire_ms is None else entry.expire_ms // unit_ms


@command("expiretime", 2, write=False)
def expiretime(e: Engine, args: list[bytes]):
    return _expiretime(e, args[1], 1000)


@command("pexpiretime", 2, write=False)
def pexpiretime(e: Engine, args: list[bytes]):
    return _expiretime(e, args[1], 1)


_FUNCTION_NAME = re.compile(rb"register_function\s*(?:\(\s*['\"]([^'\"]+)['\"]"
                            rb"|\(?\s*\{[^}]*?function_name\s*=\s*['\"]([^'\"]+)['\"])")


def _function_list(libraries: dict[bytes, bytes], options: list[bytes], args: list[bytes]):
    """FUNCTION LIST [WITHCODE] [LIBRARYNAME pattern]: what each stored library registers."""
    from rdbtools.keyspace.commands import Map
    from rdbtools.rdb.filters import glob_to_regex

    pattern = glob_to_regex(args[2 + options.index(b"LIBRARYNAME") + 1]) if b"LIBRARYNAME" in options else None
    replies = []
    for name, source in sorted(libraries.items()):
        if pattern is not None and not pattern.fullmatch(name):
            continue
        functions = [Map({b"name": a or b, b"description": None, b"flags": []})
                     for a, b in _FUNCTION_NAME.findall(source)]
        engine = source.split(b"\n", 1)[0][2:].split(b" ", 1)[0].upper()
        library = Map({b"library_name": name, b"engine": engine, b"functions": functions})
        if b"WITHCODE" in options:
            library[b"library_code"] = source
        replies.append(library)
    return replies


def _function_restore(e: Engine, args: list[bytes]):
    """FUNCTION RESTORE payload [FLUSH|APPEND|REPLACE]"""
    from rdbtools.errors import FormatError
    from rdbtools.rdb.payload import load_functions

    policy = args[3].upper() if len(args) == 4 else b"APPEND"
    if policy not in (b"FLUSH", b"APPEND", b"REPLACE"):
        raise CommandError("ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.")
    try:
        sources = load_functions(args[2])
    except FormatError as error:
        raise CommandError(f"ERR {error.message}") from None
    libraries = e.keyspace.functions
    incoming = {library_name(source): source for source in sources}
    if policy == b"APPEND":
        clash = next((name for name in incoming if name in libraries), None)
        if clash is not None:
            raise CommandError(f"ERR Library {clash.decode('utf-8', 'replace')} already exists")
    if policy == b"FLUSH":
        libraries.clear()
    libraries.update(incoming)
    return OK
