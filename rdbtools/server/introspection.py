"""COMMAND and its subcommands, answered from the command table (command_table.py) as the target does:
only the commands serve runs, each with its server's own INFO and DOCS entry. Redis 7.0 and later
(COMMAND a container) find keys with key specs, falling back to the command's own key finder; Redis
6.2 with first/last/step, or the finder of a command with movable keys."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from rdbtools.keyspace.commands import SYNTAX, CommandError, Map, Status
from rdbtools.rdb.filters import glob_to_regex
from rdbtools.server.command_table import CommandSpec, KeySpec
from rdbtools.server.protocol import SetReply

if TYPE_CHECKING:
    from rdbtools.server.core import Server

Keys = list[tuple[int, tuple[str, ...]]]  # (position, key flags) of each key found


def command(server: Server, args: list[bytes]) -> object:
    """COMMAND [COUNT | LIST [FILTERBY ...] | INFO [name ...] | DOCS [name ...] | GETKEYS ... |
    GETKEYSANDFLAGS ...]: dispatch has checked the subcommand and its arity (7.0+)."""
    catalog: dict[bytes, CommandSpec] = server.catalog
    if len(args) == 1:
        return [spec.info for _, spec in sorted(catalog.items())]
    if catalog[b"command"].subcommands is None:
        return _command_62(catalog, args)
    sub = args[1].lower()
    if sub == b"count":
        return len(catalog)
    if sub == b"list":
        return _list(catalog, args[2:])
    if sub == b"info":
        if len(args) == 2:
            return [spec.info for _, spec in sorted(catalog.items())]
        return [None if (spec := lookup(catalog, name)) is None else spec.info for name in args[2:]]
    if sub == b"docs":
        found = _all(catalog) if len(args) == 2 else [lookup(catalog, name) for name in args[2:]]
        return Map((spec.reply_name, spec.docs) for spec in found if spec)
    return _getkeys(catalog, args[2:], with_flags=sub == b"getkeysandflags")


def _all(catalog: dict[bytes, CommandSpec]) -> list[CommandSpec]:
    return [spec for _, spec in sorted(catalog.items())]


def lookup(catalog: dict[bytes, CommandSpec], name: bytes) -> CommandSpec | None:
    """A command by its full name ("config|get"), any case (Redis's lookupCommandBySds)."""
    parts = name.lower().split(b"|")
    spec = catalog.get(parts[0])
    if len(parts) == 1 or spec is None:
        return spec
    if len(parts) > 2 or not spec.subcommands:
        return None
    return spec.subcommands.get(parts[1])


def _with_subcommands(catalog: dict[bytes, CommandSpec]) -> list[CommandSpec]:
    found = []
    for spec in _all(catalog):
        found.append(spec)
        subcommands = spec.subcommands or {}
        found.extend(subcommands[n] for n in sorted(subcommands))
    return found


def _list(catalog: dict[bytes, CommandSpec], options: list[bytes]) -> list[bytes]:
    """COMMAND LIST [FILTERBY MODULE name | ACLCAT category | PATTERN glob] (the last filter wins)."""
    keep: Callable[[CommandSpec], bool] | None = None
    i = 0
    while i < len(options):
        if options[i].lower() != b"filterby" or len(options) - i - 1 != 2:
            raise CommandError(SYNTAX)
        keep = _filter(options[i + 1].lower(), options[i + 2])
        i += 3
    return [spec.reply_name for spec in _with_subcommands(catalog) if keep is None or keep(spec)]


def _filter(kind: bytes, value: bytes) -> Callable[[CommandSpec], bool]:
    text = value.decode("utf-8", "replace")
    if kind == b"module":
        return lambda spec: spec.module == text
    if kind == b"aclcat":
        return lambda spec: text.lower() in spec.acl_categories  # an unknown category lists nothing
    if kind == b"pattern":
        pattern = glob_to_regex(value.lower())  # Redis matches without case
        return lambda spec: bool(pattern.fullmatch(spec.name))
    raise CommandError(SYNTAX)


# --- GETKEYS -------------------------------------------------------------------------------------------

def _getkeys(catalog: dict[bytes, CommandSpec], call: list[bytes], *, with_flags: bool) -> list:
    """COMMAND GETKEYS / GETKEYSANDFLAGS command arg ... (Redis 7.0+)."""
    spec = catalog.get(call[0].lower())
    if spec is not None and spec.subcommands is not None and len(call) > 1:
        spec = spec.subcommands.get(call[1].lower())
    if spec is None:
        raise CommandError("ERR Invalid command specified")
    proc = _FINDERS.get(spec.name)
    if proc is None and not any("not_key" not in ks.flags for ks in spec.key_specs):
        raise CommandError("ERR The command has no key arguments")
    _check_arity(spec, call)
    keys = _keys_7(spec, call, proc)
    if not keys:
        if "no_mandatory_keys" in spec.flags:
            return []
        raise CommandError("ERR Invalid arguments specified for command")
    if with_flags:
        return [[call[pos], SetReply(Status(f) for f in flags)] for pos, flags in keys]
    return [call[pos] for pos, _ in keys]


def _check_arity(spec: CommandSpec, call: list[bytes]) -> None:
    arity = spec.info[1]  # the server's (a module command's -1, not what its handler checks)
    if (arity > 0 and len(call) != arity) or len(call) < -arity:
        raise CommandError("ERR Invalid number of arguments specified for command")


def _keys_7(spec: CommandSpec, call: list[bytes], proc: Finder | None) -> Keys:
    """Key specs when every one is reliable (no variable flags) and they find the keys; else the
    command's own finder (Redis's getKeysFromCommandWithSpecs)."""
    has_keys = any("not_key" not in ks.flags for ks in spec.key_specs)
    variable = any("variable_flags" in ks.flags for ks in spec.key_specs)
    if has_keys and not variable:
        found = _by_key_specs(spec, call)
        if found is not None:
            return found
    if variable and spec.name in _FLAGGED_FINDERS:  # Valkey 9: GEORADIUS's finder tells the flags
        proc = _FLAGGED_FINDERS[spec.name]
    return proc(call) if proc is not None else []


def _by_key_specs(spec: CommandSpec, call: list[bytes]) -> Keys | None:
    """The keys the specs find, None when one of them cannot say (Redis's getKeysUsingKeySpecs)."""
    keys: Keys = []
    for ks in spec.key_specs:
        if "not_key" in ks.flags:
            continue
        first = _begin(ks, call)
        if first is None:
            return None
        if first == 0:
            continue  # the keyword is not there
        span = _span(ks, call, first)
        if span is None:
            return None
        first, last, step = span
        if last >= len(call) or last < first or first >= len(call):
            return None
        keys.extend((i, ks.flags) for i in range(first, last + 1, step))
        if "incomplete" in ks.flags:
            return None
    return keys


def _begin(ks: KeySpec, call: list[bytes]) -> int | None:
    """The first key's position, 0 when its keyword is absent, None for an unknown spec."""
    if ks.begin == "index":
        return ks.index
    if ks.begin != "keyword":
        return None
    argc = len(call)
    start = ks.startfrom if ks.startfrom > 0 else argc + ks.startfrom
    end = argc - 1 if ks.startfrom > 0 else 1
    i = start
    while i != end:
        if i >= argc or i < 1:
            break
        if call[i].lower() == ks.keyword.lower():
            return i + 1
        i = i + 1 if start <= end else i - 1
    return 0


def _span(ks: KeySpec, call: list[bytes], first: int) -> tuple[int, int, int] | None:
    argc = len(call)
    if ks.find == "range":
        if ks.lastkey >= 0:
            last = first + ks.lastkey
        elif not ks.limit:
            last = argc + ks.lastkey
        else:
            last = first + ((argc - first) // ks.limit + ks.lastkey)
        return first, last, ks.keystep
    if ks.find != "keynum" or ks.keynumidx >= argc or first + ks.keynumidx >= argc:
        return None
    from rdbtools.formats.numbers import canonical_int64

    count = canonical_int64(call[first + ks.keynumidx])
    if count is None or count < 0:
        return None
    first += ks.firstkey
    return first, first + count - 1, ks.keystep


# --- the commands' own key finders (Redis's getkeys_proc) -----------------------------------------------

Finder = Callable[[list[bytes]], Keys]
_NONE: tuple[str, ...] = ()


def _atoi(text: bytes) -> int:
    """C's atoi: optional spaces and sign, then digits; 0 when none."""
    digits = text.lstrip(b" \t\n\r\x0b\x0c")
    sign = -1 if digits[:1] == b"-" else 1
    digits = digits[1:] if digits[:1] in (b"-", b"+") else digits
    number = 0
    for byte in digits:
        if not 0x30 <= byte <= 0x39:
            break
        number = number * 10 + byte - 0x30
    return max(-(1 << 31), min(sign * number, (1 << 31) - 1))


def _numkeys(store: int, count: int, first: int) -> Finder:
    """Redis's genericGetKeys: a count of keys at ``count``, the keys from ``first``, and a stored key."""
    def find(call: list[bytes]) -> Keys:
        number = _atoi(call[count])
        if number < 1 or number > len(call) - first:
            return []
        keys = [(first + i, _NONE) for i in range(number)]
        return [*keys, (store, _NONE)] if store else keys
    return find


def _sort(call: list[bytes]) -> Keys:
    keys: Keys = [(1, ("RO", "access"))]
    store = None
    i = 2
    while i < len(call):
        word = call[i].lower()
        if word in (b"limit", b"get", b"by"):
            i += 2 if word == b"limit" else 1
        elif word == b"store" and i + 1 < len(call):
            store = (i + 1, ("OW", "update"))
        i += 1
    return [*keys, store] if store else keys


def _migrate(call: list[bytes]) -> Keys:
    first, count = 3, 1
    i = 6
    while len(call) > 6 and i < len(call):
        word = call[i].lower()
        if word == b"keys":
            first, count = (i + 1, len(call) - i - 1) if not call[3] else (first, 0)
            break
        i += {b"auth": 1, b"auth2": 2}.get(word, 0) + 1
    return [(first + i, ("RW", "access", "delete")) for i in range(count)]


def _georadius(call: list[bytes]) -> Keys:
    stored, i = None, 5
    while i < len(call):
        if call[i].lower() in (b"store", b"storedist") and i + 1 < len(call):
            stored = i + 1
            i += 1
        i += 1
    return [(1, _NONE)] + ([(stored, _NONE)] if stored else [])


def _georadius_flagged(call: list[bytes]) -> Keys:
    found = _georadius(call)
    return [(found[0][0], ("RO", "access")), *[(pos, ("OW", "update")) for pos, _ in found[1:]]]


def _xread(call: list[bytes]) -> Keys:
    streams, i = None, 1
    while i < len(call):
        word = call[i].lower()
        if word in (b"block", b"count"):
            i += 1
        elif word == b"group":
            i += 2
        elif word == b"streams":
            streams = i
            break
        elif word != b"noack":
            break
        i += 1
    count = 0 if streams is None else len(call) - streams - 1
    if streams is None or count == 0 or count % 2:
        return []
    return [(i, _NONE) for i in range(streams + 1, streams + 1 + count // 2)]


def _set(call: list[bytes]) -> Keys:
    read = any(a.lower() == b"get" for a in call[3:])
    return [(1, ("RW", "access", "update") if read else ("OW", "update"))]


def _bitfield(call: list[bytes]) -> Keys:
    readonly, i = True, 2
    while i < len(call):
        word, left = call[i].lower(), len(call) - i - 1
        if word == b"get" and left >= 2:
            i += 3
        elif word in (b"set", b"incrby") and left >= 3:
            readonly = False
            break
        elif word == b"overflow" and left >= 1:
            i += 2
        else:
            readonly = False
            break
    return [(1, ("RO", "access") if readonly else ("RW", "access", "update"))]


_FINDERS: dict[bytes, Finder] = {
    **dict.fromkeys([b"zunionstore", b"zinterstore", b"zdiffstore"], _numkeys(1, 2, 3)),
    **dict.fromkeys([b"zunion", b"zinter", b"zdiff", b"sintercard", b"zintercard", b"lmpop", b"zmpop"],
                    _numkeys(0, 1, 2)),
    **dict.fromkeys([b"eval", b"evalsha", b"eval_ro", b"evalsha_ro", b"fcall", b"fcall_ro", b"blmpop", b"bzmpop"],
                    _numkeys(0, 2, 3)),
    b"sort": _sort, b"sort_ro": lambda call: [(1, ("RO", "access"))], b"migrate": _migrate,
    b"georadius": _georadius, b"georadiusbymember": _georadius, b"xread": _xread, b"xreadgroup": _xread,
    b"set": _set, b"bitfield": _bitfield,
}


_FLAGGED_FINDERS: dict[bytes, Finder] = {b"georadius": _georadius_flagged, b"georadiusbymember": _georadius_flagged}


# --- Redis 6.2 -----------------------------------------------------------------------------------------

def _command_62(catalog: dict[bytes, CommandSpec], args: list[bytes]) -> object:
    """COMMAND of Redis 6.2: INFO, COUNT and GETKEYS, its own errors."""
    sub = args[1].lower()
    if sub == b"info":
        return [None if (spec := catalog.get(name.lower())) is None else spec.info for name in args[2:]]
    if sub == b"count" and len(args) == 2:
        return len(catalog)
    if sub == b"getkeys" and len(args) >= 3:
        return _getkeys_62(catalog, args[2:])
    raise CommandError(f"ERR Unknown subcommand or wrong number of arguments for '{args[1].decode('utf-8', 'replace')}'"
                       f". Try COMMAND HELP.")


def _getkeys_62(catalog: dict[bytes, CommandSpec], call: list[bytes]) -> list[bytes]:
    spec = catalog.get(call[0].lower())
    if spec is None:
        raise CommandError("ERR Invalid command specified")
    movable = "movablekeys" in spec.flags
    first, last, step = spec.info[3:6]
    if not movable and first == 0:
        raise CommandError("ERR The command has no key arguments")
    _check_arity(spec, call)
    if movable:
        keys = [pos for pos, _ in _FINDERS[spec.name](call)] if spec.name in _FINDERS else []
    else:
        last = len(call) + last if last < 0 else last
        keys = list(range(first, last + 1, step))
        if keys and keys[-1] >= len(call):
            keys = []
    if not keys:
        raise CommandError("ERR Invalid arguments specified for command")
    return [call[pos] for pos in keys]


def command_keys(spec: CommandSpec, call: list[bytes]) -> list[bytes]:
    """The keys of a call as Redis's getKeysFromCommand finds them (what client tracking remembers and
    invalidates): the command's own finder, else COMMAND INFO's first, last and step (none when the
    call is too short for them)."""
    finder = _FINDERS.get(spec.name)
    if finder is not None:
        return [call[pos] for pos, _ in finder(call) if pos < len(call)]
    first, last, step = spec.info[3:6]
    if first <= 0:
        return []
    last = len(call) + last if last < 0 else last
    return [] if last >= len(call) else call[first : last + 1 : step]


def written_keys(spec: CommandSpec, call: list[bytes]) -> list[bytes] | None:
    """The keys a write call writes, by its key specs (those not read-only: COPY's destination, not its
    source); None when the specs cannot say (Redis 6.2 has none)."""
    found = _by_key_specs(spec, call) if spec.key_specs else None
    return None if found is None else [call[pos] for pos, flags in found if "RO" not in flags]
