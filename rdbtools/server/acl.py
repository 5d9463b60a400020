"""ACL: users, their rules, the permission check and the ACL command, as the target's acl.c has them.

A user is a set of flags, passwords and selectors; a selector (the root one, and from Redis 7.0 the
ones in parentheses) holds the commands it allows (a set of full names, "config|get"), the first
arguments allowed of otherwise denied commands ("+select|0"), key patterns (read/write from 7.0)
and channel patterns. Categories and subcommands come from the command table (the target's COMMAND
INFO), keys from the records' key specs, as Redis finds them (COMMAND GETKEYS's code).

The hot path: a client carries ``gated``, false while it needs no AUTH, its user may run
everything on every key and channel (the default user, out of the box) and no maxmemory is set; only
a gated client's requests go through ``Acl.check`` (unless its user is unrestricted) and the maxmemory
check (server/eviction.py).

Describing a user's commands differs by version: Redis 6.2/7.0 rebuild the rules from the bitmap
(categories by best fit, then single commands in the order of the server's command dict, which is
random per process); Redis 7.2+ and Valkey keep the rules as given, each command once.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from rdbtools.formats.numbers import canonical_int64
from rdbtools.keyspace.commands import OK, CommandError, Map, integer, subcommand_error
from rdbtools.rdb.filters import glob_to_regex
from rdbtools.rdb.targets import Target
from rdbtools.server import command_table
from rdbtools.server.protocol import Double, SetReply

if TYPE_CHECKING:
    from rdbtools.server.core import Server

Spec = command_table.CommandSpec

#: ACL CAT's order (ACLCommandCategories), which the best-fit description walks
CATEGORIES = ("keyspace", "read", "write", "set", "sortedset", "list", "hash", "string", "bitmap", "hyperloglog",
              "geo", "stream", "pubsub", "admin", "fast", "slow", "blocking", "dangerous", "connection",
              "transaction", "scripting")
ALLOWED, DENIED_CMD, DENIED_KEY, DENIED_AUTH, DENIED_CHANNEL, DENIED_DB = 0, 1, 2, 3, 4, 5
READ, WRITE = 1, 2
_REASONS = {DENIED_CMD: "command", DENIED_KEY: "key", DENIED_CHANNEL: "channel", DENIED_AUTH: "auth",
            DENIED_DB: "database"}
#: which denial a user's selectors all refusing a call is told as (the highest): Valkey 9.1's database one first
_RANK = {DENIED_DB: 0, DENIED_CMD: 1, DENIED_KEY: 2, DENIED_AUTH: 3, DENIED_CHANNEL: 4}
#: INFO stats' counters of refusals (Redis 7.2+ and Valkey; Valkey 9 adds tls_cert, never counted here, and db)
_COUNTERS = {DENIED_AUTH: "acl_access_denied_auth", DENIED_CMD: "acl_access_denied_cmd",
             DENIED_KEY: "acl_access_denied_key", DENIED_CHANNEL: "acl_access_denied_channel",
             DENIED_DB: "acl_access_denied_db"}
#: the channels a pub/sub command names: (first argument, pattern?) -- Redis's getChannelsFromCommand
_CHANNELS = {b"publish": (1, 1, False), b"spublish": (1, 1, False), b"subscribe": (1, -1, False),
             b"ssubscribe": (1, -1, False), b"psubscribe": (1, -1, True)}
WRONGPASS = "WRONGPASS invalid username-password pair or user is disabled."
LOG_GROUPING_MS = 60_000


class RuleError(Exception):
    """A rule ACL SETUSER (or a user line) refuses, with acl.c's ACLSetUserStringError text."""

    UNKNOWN = "Unknown command or category name in ACL"
    SYNTAX = "Syntax error"
    KEYS_AFTER_ALL = ("Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have "
                      "any effect. Try 'resetkeys' to start with an empty list of patterns")
    CHANNELS_AFTER_ALL = ("Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and does "
                          "not have any effect. Try 'resetchannels' to start with an empty list of channels")
    NO_SUCH_PASSWORD = "The password you are trying to remove from the user does not exist"
    BAD_HASH = "The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters"
    DB_RANGE = "The provided database ID is out of range"
    FIRST_ARG_OF_SUB = "Allowing first-arg of a subcommand is not supported"


@dataclass(frozen=True)
class Flavour:
    """Where the targets differ."""

    selectors: bool  # 7.0+: (...) selectors, %R~/%W~ key permissions, DRYRUN
    kept_rules: bool  # 7.2+ and Valkey: the command rules kept as given (else rebuilt by best fit)
    new_texts: bool  # 7.2+ and Valkey: "User x has no permissions ...", "No permissions to access a key"
    channels_by_default: bool  # 6.2: acl-pubsub-default is allchannels (resetchannels from 7.0)
    sanitize_by_default: bool  # new users carry sanitize-payload (Redis 7.2+, Valkey 8)
    databases: bool  # Valkey 9.1: db= rules (the databases a selector may use), GETUSER's databases field
    log_ids: bool  # 7.2+: ACL LOG's entry-id and timestamps
    sanitize_shown: bool  # Valkey 9 shows no sanitize-payload flags
    server_name: str  # "Redis " in texts, "" in Valkey's

    @classmethod
    def of(cls, target: Target) -> Flavour:
        valkey, version = target.valkey_server, target.version
        newer = valkey or version >= (7, 2)
        return cls(selectors=valkey or version >= (7, 0), kept_rules=newer, new_texts=newer,
                   channels_by_default=not valkey and version < (7, 0),
                   sanitize_by_default=(not valkey and version >= (7, 2)) or (valkey and version < (9, 0)),
                   databases=valkey and version >= (9, 0), log_ids=newer,
                   sanitize_shown=not (valkey and version >= (9, 0)), server_name="" if valkey else "Redis ")


# --- the commands as ACL sees them ------------------------------------------------------------------

class Commands:
    """Every command of the target (not only those serve runs): ACL CAT and the rules name them all."""

    def __init__(self, target: Target) -> None:
        self.top = _records(target)
        self.every: list[Spec] = []
        for spec in self.top.values():
            self.every.append(spec)
            self.every.extend((spec.subcommands or {}).values())
        self.names = frozenset(spec.name for spec in self.every)
        self.in_category = {c: [s for s in self.every if c in s.acl_categories] for c in CATEGORIES}

    def resolve(self, call: list[bytes]) -> Spec | None:
        """lookupCommand: the record of a call (its subcommand's for a container; None for a container's
        unknown subcommand)."""
        spec = self.top.get(call[0].lower())
        if spec is None or spec.subcommands is None or len(call) == 1:
            return spec
        return spec.subcommands.get(call[1].lower())

    def lookup(self, name: bytes) -> Spec | None:
        """ACLLookupCommand: "get", or "config|get" for a container's subcommand."""
        parts = name.lower().split(b"|")
        spec = self.top.get(parts[0])
        if spec is None or len(parts) == 1:
            return spec
        if len(parts) > 2 or spec.subcommands is None:
            return None
        return spec.subcommands.get(parts[1])


@cache
def _records(target: Target) -> dict[bytes, Spec]:
    def unused(client, args):
        raise AssertionError("ACL's records are not run")

    names = command_table._data()["commands"]
    return command_table.build(target, {name.encode(): (unused, None) for name in names})


# --- users ----------------------------------------------------------------------------------------------

@dataclass
class Selector:
    allowed: set[bytes] = field(default_factory=set)  # full names of the commands it may run
    future: bool = False  # +@all's reserved bit: commands added later are allowed too
    allcommands: bool = False  # everything allowed (cleared by any denial)
    firstargs: dict[bytes, list[bytes]] = field(default_factory=dict)
    rules: list[bytes] = field(default_factory=list)  # 7.2+: the command rules as kept
    keys: list[list] = field(default_factory=list)  # [pattern, READ|WRITE]
    allkeys: bool = False
    channels: list[bytes] = field(default_factory=list)
    allchannels: bool = False
    dbs: frozenset[int] | None = None  # Valkey 9.1's db=: the databases it may use (None: alldbs)

    def copy(self) -> Selector:
        return Selector(set(self.allowed), self.future, self.allcommands,
                        {k: list(v) for k, v in self.firstargs.items()}, list(self.rules),
                        [list(k) for k in self.keys], self.allkeys, list(self.channels), self.allchannels, self.dbs)


@dataclass(eq=False)
class User:
    name: bytes
    enabled: bool = False
    nopass: bool = False
    sanitize: str | None = None  # "sanitize-payload" / "skip-sanitize-payload"
    passwords: list[bytes] = field(default_factory=list)  # SHA-256 hex
    selectors: list[Selector] = field(default_factory=lambda: [Selector()])  # the root first

    @property
    def root(self) -> Selector:
        return self.selectors[0]

    @property
    def unrestricted(self) -> bool:
        """May run every command on every key and channel in every database: its clients skip the check."""
        root = self.root
        return root.allcommands and root.allkeys and root.allchannels and root.dbs is None

    def copy(self, name: bytes | None = None) -> User:
        return User(self.name if name is None else name, self.enabled, self.nopass, self.sanitize,
                    list(self.passwords), [s.copy() for s in self.selectors])

    def take(self, other: User) -> None:
        """ACLCopyUser: the other's rules, this name."""
        self.enabled, self.nopass, self.sanitize = other.enabled, other.nopass, other.sanitize
        self.passwords, self.selectors = other.passwords, other.selectors


def hash_password(password: bytes) -> bytes:
    return hashlib.sha256(password).hexdigest().encode()


def _database_ids(text: bytes) -> frozenset[int]:
    """db=0,2,...: ids as strtol reads them (spaces and a sign before the digits taken), each within an int;
    an empty one or trailing text is a syntax error."""
    from rdbtools.formats.numbers import strtol

    ids = set()
    for part in text.split(b","):
        number, end = strtol(part)
        if not part or end != len(part):
            raise RuleError(RuleError.SYNTAX)
        if not 0 <= number <= 2**31 - 1:
            raise RuleError(RuleError.DB_RANGE)
        ids.add(number)
    return frozenset(ids)


def _valid_hash(text: bytes) -> bool:
    return len(text) == 64 and all(c in b"0123456789abcdef" for c in text)


def _has_spaces(text: bytes) -> bool:
    """ACLStringHasSpaces: C isspace or NUL."""
    return any(c in b" \t\n\v\f\r\0" for c in text)


# --- rules ----------------------------------------------------------------------------------------------

class Rules:
    """ACLSetUser / ACLSetSelector for a target (``all_channels``: what acl-pubsub-default says now)."""

    def __init__(self, commands: Commands, flavour: Flavour, all_channels: Callable[[], bool]) -> None:
        self.commands, self.flavour, self.all_channels = commands, flavour, all_channels

    def new_user(self, name: bytes) -> User:
        """ACLCreateUser as ACL SETUSER and a user line find it (all channels with acl-pubsub-default)."""
        user = User(name)
        if self.flavour.sanitize_by_default:
            user.sanitize = "sanitize-payload"
        user.root.allchannels = self.all_channels()
        return user

    def default_user(self) -> User:
        user = User(b"default", sanitize="sanitize-payload" if self.flavour.sanitize_by_default else None)
        for rule in (b"+@all", b"~*", b"&*", b"on", b"nopass"):
            self.apply(user, rule)
        return user

    def apply(self, user: User, op: bytes) -> None:
        if not op:
            return
        lowered = op.lower()
        if lowered in (b"on", b"off"):
            user.enabled = lowered == b"on"
        elif lowered in (b"sanitize-payload", b"skip-sanitize-payload"):
            user.sanitize = lowered.decode()
        elif lowered == b"nopass":
            user.nopass, user.passwords = True, []
        elif lowered == b"resetpass":
            user.nopass, user.passwords = False, []
        elif op[:1] in (b">", b"#"):
            self._add_password(user, op)
        elif op[:1] in (b"<", b"!"):
            self._remove_password(user, op)
        elif self.flavour.selectors and op[:1] == b"(" and op[-1:] == b")":
            user.selectors.append(self.selector(op))
        elif self.flavour.selectors and lowered == b"clearselectors":
            del user.selectors[1:]
        elif lowered == b"reset":
            self._reset(user)
        else:
            self.apply_selector(user.root, op)

    def _add_password(self, user: User, op: bytes) -> None:
        if op[:1] == b">":
            hashed = hash_password(op[1:])
        elif not _valid_hash(op[1:]):
            raise RuleError(RuleError.BAD_HASH)
        else:
            hashed = op[1:]
        if hashed not in user.passwords:
            user.passwords.append(hashed)
        user.nopass = False

    def _remove_password(self, user: User, op: bytes) -> None:
        if op[:1] == b"!" and not _valid_hash(op[1:]):
            raise RuleError(RuleError.BAD_HASH)
        hashed = hash_password(op[1:]) if op[:1] == b"<" else op[1:]
        if hashed not in user.passwords:
            raise RuleError(RuleError.NO_SUCH_PASSWORD)
        user.passwords.remove(hashed)

    def _reset(self, user: User) -> None:
        for rule in (b"resetpass", b"resetkeys", b"resetchannels"):
            self.apply(user, rule)
        if self.all_channels():
            self.apply(user, b"allchannels")
        self.apply(user, b"off")
        self.apply(user, b"sanitize-payload")
        if self.flavour.selectors:
            self.apply(user, b"clearselectors")
        if self.flavour.databases:
            self.apply(user, b"alldbs")
        self.apply(user, b"-@all")

    def selector(self, op: bytes) -> Selector:
        """(rules ...): a selector of its own (split as sdssplitargs splits)."""
        from rdbtools.formats.manifest import split_args

        selector = Selector()
        try:
            words = split_args(op[1:-1].decode("utf-8", "surrogateescape"))
        except ValueError:
            raise RuleError(RuleError.SYNTAX) from None
        for word in words:
            self.apply_selector(selector, word.encode("utf-8", "surrogateescape"))
        return selector

    def apply_selector(self, selector: Selector, op: bytes) -> None:
        lowered = op.lower()
        if lowered in (b"allkeys", b"~*"):
            selector.allkeys, selector.keys = True, []
        elif lowered == b"resetkeys":
            selector.allkeys, selector.keys = False, []
        elif lowered in (b"allchannels", b"&*"):
            selector.allchannels, selector.channels = True, []
        elif lowered == b"resetchannels":
            selector.allchannels, selector.channels = False, []
        elif lowered in (b"allcommands", b"+@all", b"nocommands", b"-@all"):
            allow = lowered in (b"allcommands", b"+@all")
            selector.allowed = set(self.commands.names) if allow else set()
            selector.future = selector.allcommands = allow
            selector.firstargs, selector.rules = {}, []
        elif op[:1] == b"~" or (op[:1] == b"%" and self.flavour.selectors):
            self._add_key_pattern(selector, op)
        elif op[:1] == b"&":
            self._add_channel(selector, op[1:])
        elif self.flavour.databases and lowered in (b"alldbs", b"resetdbs"):
            selector.dbs = None if lowered == b"alldbs" else frozenset()
        elif self.flavour.databases and lowered.startswith(b"db="):
            selector.dbs = _database_ids(op[3:])
        elif op[:1] == b"+" and op[1:2] != b"@":
            self._allow(selector, op[1:])
        elif op[:1] == b"-" and op[1:2] != b"@":
            spec = self._lookup(op[1:])
            self.change(selector, spec, False)
            self._keep(selector, b"-" + spec.name)
        elif op[:1] in (b"+", b"-") and op[1:2] == b"@":
            category = op[2:].lower().decode("utf-8", "replace")
            if category not in CATEGORIES:
                raise RuleError(RuleError.UNKNOWN)
            self._keep(selector, op[:1] + b"@" + category.encode())
            for spec in self.commands.in_category[category]:
                self.change(selector, spec, op[:1] == b"+")
        else:
            raise RuleError(RuleError.SYNTAX)

    def _lookup(self, name: bytes) -> Spec:
        spec = self.commands.lookup(name) if (self.flavour.selectors or b"|" not in name) else None
        if spec is None:
            raise RuleError(RuleError.UNKNOWN)
        return spec

    def _add_key_pattern(self, selector: Selector, op: bytes) -> None:
        if selector.allkeys:
            raise RuleError(RuleError.KEYS_AFTER_ALL)
        flags, offset = READ | WRITE, 1
        if op[:1] == b"%":
            flags = 0
            while offset < len(op):
                char = op[offset:offset + 1]
                if char.upper() == b"R" and not flags & READ:
                    flags |= READ
                elif char.upper() == b"W" and not flags & WRITE:
                    flags |= WRITE
                elif char == b"~":
                    offset += 1
                    break
                else:
                    raise RuleError(RuleError.SYNTAX)
                offset += 1
            if not flags:
                raise RuleError(RuleError.SYNTAX)
        pattern = op[offset:]
        if _has_spaces(pattern):
            raise RuleError(RuleError.SYNTAX)
        for existing in selector.keys:
            if existing[0] == pattern:
                existing[1] |= flags
                return
        selector.keys.append([pattern, flags])

    def _add_channel(self, selector: Selector, pattern: bytes) -> None:
        if selector.allchannels:
            raise RuleError(RuleError.CHANNELS_AFTER_ALL)
        if _has_spaces(pattern):
            raise RuleError(RuleError.SYNTAX)
        if pattern not in selector.channels:
            selector.channels.append(pattern)

    def _allow(self, selector: Selector, name: bytes) -> None:
        if b"|" not in name:
            command = self._lookup(name)
            self.change(selector, command, True)
            self._keep(selector, b"+" + command.name)
            return
        if self.flavour.selectors:
            base, _, first = name.rpartition(b"|")
        else:  # 6.2: the first "|" ends the command ("+config|get|x" allows "get|x")
            base, _, first = name.partition(b"|")
        spec = self.commands.lookup(base) if self.flavour.selectors or b"|" not in base else None
        if spec is None:
            raise RuleError(RuleError.UNKNOWN)
        if b"|" in spec.name:
            raise RuleError(RuleError.FIRST_ARG_OF_SUB)
        if not first:
            raise RuleError(RuleError.SYNTAX)
        if spec.subcommands is not None:
            self.change(selector, self._lookup(name), True)
        else:
            allowed = selector.firstargs.setdefault(spec.name, [])
            if first.lower() not in (a.lower() for a in allowed):
                allowed.append(first)
        self._keep(selector, b"+" + name.lower())

    @staticmethod
    def change(selector: Selector, spec: Spec, allow: bool) -> None:
        """ACLChangeSelectorPerm: a command (a container with its subcommands) allowed or denied."""
        names = [spec.name, *(s.name for s in (spec.subcommands or {}).values())]
        if allow:
            selector.allowed.update(names)
        else:
            selector.allowed.difference_update(names)
            selector.allcommands = False
        selector.firstargs.pop(spec.name, None)

    def _keep(self, selector: Selector, rule: bytes) -> None:
        """ACLUpdateCommandRules (7.2+): the rule replaces earlier ones on the same command (a whole
        command's rule also its subcommands')."""
        if not self.flavour.kept_rules:
            return
        name = rule[1:]
        selector.rules = [r for r in selector.rules if not (r[1:] == name or r[1:].startswith(name + b"|"))]
        selector.rules.append(rule)


# --- describing users -------------------------------------------------------------------------------------

class Describer:
    def __init__(self, rules: Rules) -> None:
        self.rules, self.flavour, self.commands = rules, rules.flavour, rules.commands

    def command_rules(self, selector: Selector) -> bytes:
        start = b"+@all" if selector.future else b"-@all"
        if self.flavour.kept_rules:
            return b" ".join([start, *selector.rules])
        return b" ".join([start, *self._best_fit(selector)])

    def _best_fit(self, selector: Selector) -> list[bytes]:
        """Redis 6.2/7.0's ACLDescribeSelectorCommandRules: categories by best fit, then single commands."""
        additive = not selector.future
        fake = Selector()
        self.rules.apply_selector(fake, b"-@all" if additive else b"+@all")
        temp = Selector(allowed=set(selector.allowed))
        out: list[bytes] = []
        applied: set[str] = set()
        while True:
            best, least, most = None, 1 << 31, 0
            for category in CATEGORIES:
                if category in applied:
                    continue
                on = sum(1 for s in self.commands.in_category[category] if s.name in temp.allowed)
                off = len(self.commands.in_category[category]) - on
                diff, same = (off, on) if additive else (on, off)
                if same > diff and (diff < least or (diff == least and same > most)):
                    best, least, most = category, diff, same
            if best is None:
                break
            for spec in self.commands.in_category[best]:
                self.rules.change(fake, spec, additive)
                self.rules.change(temp, spec, not additive)
            out.append((b"+@" if additive else b"-@") + best.encode())
            applied.add(best)
        return out + self._single_commands(selector, fake)

    def _single_commands(self, selector: Selector, fake: Selector) -> list[bytes]:
        out = []
        for spec in self.commands.every:
            mine, faked = spec.name in selector.allowed, spec.name in fake.allowed
            if mine != faked:
                out.append((b"+" if mine else b"-") + spec.name)
                self.rules.change(fake, spec, mine)
            if not mine:
                out.extend(b"+" + spec.name + b"|" + first for first in selector.firstargs.get(spec.name, ()))
        return out

    @staticmethod
    def key_pattern(pattern: bytes, flags: int) -> bytes:
        prefix = b"~" if flags == READ | WRITE else b"%R~" if flags == READ else b"%W~" if flags == WRITE else b"%~"
        return prefix + pattern

    def selector_text(self, selector: Selector) -> bytes:
        """ACLDescribeSelector: keys, channels, commands (as ACL LIST writes them)."""
        words = [b"~*"] if selector.allkeys else [self.key_pattern(p, f) for p, f in selector.keys]
        if selector.allchannels:
            words.append(b"&*")
        else:
            words += [b"resetchannels", *(b"&" + c for c in selector.channels)]
        if selector.dbs is not None:
            words.append(self.databases(selector) or b"resetdbs")
        words.append(self.command_rules(selector))
        return b" ".join(words)

    def flags(self, user: User) -> list[bytes]:
        names = [b"on" if user.enabled else b"off"]
        if not self.flavour.selectors:  # 6.2 lists its selector flags among the user's
            root = user.root
            names += [flag for flag, on in ((b"allkeys", root.allkeys), (b"allchannels", root.allchannels),
                                            (b"allcommands", root.allcommands)) if on]
        if user.nopass:
            names.append(b"nopass")
        if user.sanitize is not None and self.flavour.sanitize_shown:
            names.append(user.sanitize.encode())
        return names

    def user_text(self, user: User) -> bytes:
        """ACLDescribeUser: "on nopass ~* &* +@all" (ACL LIST and the ACL file)."""
        flags = [f for f in self.flags(user) if f not in (b"allkeys", b"allchannels", b"allcommands")]
        words = [*flags, *(b"#" + p for p in user.passwords), self.selector_text(user.root)]
        return b" ".join(words) + b"".join(b" (" + self.selector_text(s) + b")" for s in user.selectors[1:])

    def getuser(self, user: User) -> Map:
        fields = Map({b"flags": SetReply(self.flags(user)), b"passwords": list(user.passwords)})
        if not self.flavour.selectors:
            root = user.root
            fields[b"commands"] = self.command_rules(root)
            fields[b"keys"] = [b"*"] if root.allkeys else [p for p, _ in root.keys]
            fields[b"channels"] = [b"*"] if root.allchannels else list(root.channels)
            return fields
        fields.update(self._selector_fields(user.root))
        fields[b"selectors"] = [Map(self._selector_fields(s)) for s in user.selectors[1:]]
        return fields

    def _selector_fields(self, selector: Selector) -> dict[bytes, object]:
        keys = b"~*" if selector.allkeys else b" ".join(self.key_pattern(p, f) for p, f in selector.keys)
        channels = b"&*" if selector.allchannels else b" ".join(b"&" + c for c in selector.channels)
        fields: dict[bytes, object] = {b"commands": self.command_rules(selector), b"keys": keys, b"channels": channels}
        if self.flavour.databases:
            fields[b"databases"] = self.databases(selector)
        return fields

    @staticmethod
    def databases(selector: Selector) -> bytes:
        """GETUSER's databases: "alldbs", "db=0,2" in order, or nothing."""
        if selector.dbs is None:
            return b"alldbs"
        return b"db=" + b",".join(b"%d" % db for db in sorted(selector.dbs)) if selector.dbs else b""


# --- the check --------------------------------------------------------------------------------------------

def _keys(spec: Spec, args: list[bytes], old: bool) -> list[tuple[int, int]]:
    """(position, READ|WRITE needed) of each key the call names (Redis's getKeysFromCommandWithSpecs)."""
    from rdbtools.server import introspection

    if old:  # 6.2: first/last/step or the command's finder, no read/write distinction
        first, last, step = spec.info[3:6]
        finder = introspection._FINDERS.get(spec.name)
        if "movablekeys" in spec.flags:
            return [(pos, 0) for pos, _ in finder(args)] if finder is not None else []
        if not first:
            return []
        last = len(args) + last if last < 0 else last
        return [(pos, 0) for pos in range(first, min(last, len(args) - 1) + 1, step)]
    found = introspection._keys_7(spec, args, introspection._FINDERS.get(spec.name))
    return [(pos, _needs(flags)) for pos, flags in found]


def _needs(flags) -> int:
    needed = READ if "access" in flags else 0
    if "insert" in flags or "delete" in flags or "update" in flags:
        needed |= WRITE
    return needed


@cache
def _matcher(pattern: bytes) -> Callable[[bytes], object]:
    return glob_to_regex(pattern).fullmatch


def _has_keys(spec: Spec) -> bool:
    from rdbtools.server import introspection

    return (spec.name in introspection._FINDERS or any("not_key" not in ks.flags for ks in spec.key_specs)
            or bool(spec.info[3]))


#: the commands naming databases (Valkey 9.1 checks those against db=): the positions of the ids
_DB_ARGUMENTS: dict[bytes, Callable[[list[bytes]], list[int]]] = {
    b"select": lambda args: [1], b"swapdb": lambda args: [1, 2], b"move": lambda args: [2],
    b"copy": lambda args: [i + 1 for i in range(3, len(args) - 1) if args[i].lower() == b"db"],
}
#: ... and those that use no current database besides (the others with keys, or read, write or @keyspace do)
_OTHER_DB_ONLY = frozenset({b"select", b"swapdb"})


@dataclass(frozen=True)
class Place:
    """Where a call runs, for Valkey 9.1's db= rules: its database (a transaction's: the last SELECT queued)
    and how many the server has."""

    db: int = 0
    databases: int = 16


_ANYWHERE = Place()


def _check_databases(allowed: frozenset[int], spec: Spec, args: list[bytes], place: Place) -> tuple[int, int]:
    """ACL_DENIED_DB and the argument to tell (0: the command) when a selector's db= (``allowed``) lacks a database
    the call uses: the ids it names (in range; the first refused), then the current one, or every one for
    FLUSHALL."""
    for pos in _DB_ARGUMENTS.get(spec.name, _no_arguments)(args):
        db = canonical_int64(args[pos]) if pos < len(args) else None
        if db is not None and 0 <= db < place.databases and db not in allowed:
            return DENIED_DB, pos
    if spec.name == b"flushall":
        return (ALLOWED, 0) if allowed.issuperset(range(place.databases)) else (DENIED_DB, 0)
    if spec.name not in _OTHER_DB_ONLY and place.db not in allowed and _uses_database(spec):
        return DENIED_DB, 0
    return ALLOWED, 0


def _no_arguments(args: list[bytes]) -> list[int]:
    return []


def _uses_database(spec: Spec) -> bool:
    """Whether a call of the command uses the current database (as Valkey 9.1 tells by what it refuses): it
    has keys, reads or writes, or is of @keyspace (OBJECT HELP, DBSIZE); PING, INFO, SCRIPT LOAD do not."""
    from rdbtools.server import introspection

    return (spec.name in introspection._FINDERS or (spec.key_specs and "not_key" not in spec.key_specs[0].flags)
            or bool(spec.flags & {"write", "readonly"}) or "keyspace" in spec.acl_categories)


def _check_selector(selector: Selector, spec: Spec, args: list[bytes], keys: Callable[[], list],
                    place: Place) -> tuple[int, int]:
    allowed_dbs = selector.dbs
    if allowed_dbs is not None:
        verdict = _check_databases(allowed_dbs, spec, args, place)
        if verdict[0] != ALLOWED:
            return verdict
    if not selector.allcommands and not spec.no_auth and spec.name not in selector.allowed:
        firsts = selector.firstargs.get(spec.name)
        if len(args) < 2 or not firsts:
            return DENIED_CMD, 0
        given = args[2 if b"|" in spec.name else 1].lower()
        if not any(given == first.lower() for first in firsts):
            return DENIED_CMD, 0
    if not selector.allkeys and _has_keys(spec):
        for pos, needed in keys():
            if not any((flags & needed) == needed and _matcher(p)(args[pos]) for p, flags in selector.keys):
                return DENIED_KEY, pos
    channels = _CHANNELS.get(spec.name)
    if not selector.allchannels and channels is not None:
        first, last, pattern = channels
        for pos in range(first, len(args) if last < 0 else last + 1):
            name = args[pos]
            if not any((c == name) if pattern else _matcher(c)(name) for c in selector.channels):
                return DENIED_CHANNEL, pos
    return ALLOWED, 0


def check(user: User, spec: Spec, args: list[bytes], old: bool, place: Place = Place()) -> tuple[int, int]:
    """ACLCheckAllUserCommandPerm: (ALLOWED or why not, the position of the key, channel or database denied)."""
    found: list = []

    def keys() -> list:
        if not found:
            found.append(_keys(spec, args, old))
        return found[0]

    verdict, position = DENIED_DB, 0
    for selector in user.selectors:
        result, pos = _check_selector(selector, spec, args, keys, place)
        if result == ALLOWED:
            return ALLOWED, 0
        if _RANK[result] > _RANK[verdict] or (result == verdict and pos > position):
            verdict, position = result, pos
    return verdict, position


# --- the log ----------------------------------------------------------------------------------------------

@dataclass
class LogEntry:
    reason: int
    context: str
    object: bytes
    username: bytes
    created_ms: int
    updated_ms: int
    client_info: bytes
    entry_id: int
    count: int = 1

    def similar(self, other: LogEntry) -> bool:
        return (self.reason == other.reason and self.context == other.context and self.object == other.object
                and self.username == other.username and abs(self.updated_ms - other.updated_ms) <= LOG_GROUPING_MS)


# --- the server's ACL state ---------------------------------------------------------------------------------

class Acl:
    """The users of a server, its ACL log, and the ACL command."""

    def __init__(self, server: Server) -> None:
        self.server = server
        target = server.config.target
        self.flavour = Flavour.of(target)
        self.old = not self.flavour.selectors
        config = server.config
        if not config["acl-pubsub-default"]:
            config.values["acl-pubsub-default"] = "allchannels" if self.flavour.channels_by_default else "resetchannels"
        self.rules = Rules(Commands(target), self.flavour, lambda: config["acl-pubsub-default"] == "allchannels")
        self.describer = Describer(self.rules)
        self.default = self.rules.default_user()
        self.users: dict[bytes, User] = {b"default": self.default}
        self.log: list[LogEntry] = []
        self.next_entry_id = 0
        #: INFO stats' refusal counts (Redis 7.2+, Valkey), which CONFIG RESETSTAT leaves alone
        self.counters: dict[str, int] = dict.fromkeys(_counter_names(self.flavour), 0)
        password = server.config["requirepass"]
        if password:
            self.set_default_password(password)

    # --- authentication ---

    def auth_required(self, client) -> bool:
        """Redis's authRequired: the default user needs a password (or is off) and the client has not
        authenticated."""
        default = self.default
        return (not default.nopass or not default.enabled) and not client.authenticated

    def refresh(self, client) -> None:
        """The client's gate, after its user, its authentication, the default user, maxmemory or
        min-replicas-to-write changed (while one is set every request is checked: eviction.py, replication.py)."""
        memory = self.server.engine.memory
        limited = bool(memory.limit or memory.clients_limit or self.server.subscribers.replication.min_replicas)
        client.gated = self.auth_required(client) or not client.user.unrestricted or limited

    def refresh_all(self) -> None:
        for client in self.server.clients.values():
            self.refresh(client)

    def new_client(self, client) -> None:
        default = self.default
        client.user = default
        client.authenticated = default.nopass and default.enabled
        self.refresh(client)

    def set_default_password(self, password: str) -> None:
        """requirepass (at start and by CONFIG SET): the default user's only password, or nopass."""
        self.rules.apply(self.default, b"resetpass")
        if password:
            self.rules.apply(self.default, b">" + password.encode("utf-8", "surrogateescape"))
        else:
            self.rules.apply(self.default, b"nopass")
        self.refresh_all()

    def authenticate(self, client, username: bytes, password: bytes, command: bytes) -> None:
        """AUTH / HELLO AUTH (``command`` as the client spelled it: the log's object)."""
        user = self.users.get(username)
        if user is None or not user.enabled or not (user.nopass or hash_password(password) in user.passwords):
            self.record(client, DENIED_AUTH, 0, username=username, object=command)
            raise CommandError(WRONGPASS)
        client.user, client.authenticated = user, True
        self.refresh(client)

    # --- checks ---

    def denial(self, client, spec: Spec, args: list[bytes], context: str) -> CommandError | None:
        """The NOPERM error of a call the client's user may not make (logged), None when allowed."""
        verdict, position = check(client.user, spec, args, self.old, self.place(client))
        if verdict == ALLOWED:
            return None
        self.record(client, verdict, position, spec=spec, args=args, context=context)
        return CommandError("NOPERM " + self.message(verdict, client.user, spec))

    def message(self, verdict: int, user: User, spec: Spec) -> str:
        """The text of a denial (without NOPERM), per version."""
        name = _shown(spec.reply_name)  # a module's command as it registered it (VADD)
        if self.old:
            if verdict == DENIED_CMD:
                return f"this user has no permissions to run the '{name.split('|')[0]}' command or its subcommand"
        elif verdict == DENIED_CMD:
            who = f"User {user.name.decode('utf-8', 'replace')}" if self.flavour.new_texts else "this user"
            return f"{who} has no permissions to run the '{name}' command"
        if verdict == DENIED_DB:
            return "No permissions to access database"
        if self.flavour.new_texts:
            return "No permissions to access a key" if verdict == DENIED_KEY else "No permissions to access a channel"
        what = "keys" if verdict == DENIED_KEY else "channels"
        return f"this user has no permissions to access one of the {what} used as arguments"

    def allows(self, client, spec: Spec, args: list[bytes]) -> bool:
        """redis.acl_check_cmd: whether the (script's) client's user may make the call (nothing logged)."""
        return check(client.user, spec, args, self.old, self.place(client))[0] == ALLOWED

    def place(self, client) -> Place:
        """The database a client's call uses (in a transaction: the last SELECT queued, as Valkey's
        transaction_db_id), for db= rules; nothing to find when the server has none of them."""
        if not self.flavour.databases:
            return _ANYWHERE
        db = client.db
        for queued in reversed(client.multi or ()):
            if queued[0].lower() == b"select" and len(queued) == 2 and canonical_int64(queued[1]) is not None:
                db = int(queued[1])
                break
        return Place(db, self.server.config["databases"])

    def script_denial(self, client, caller, spec: Spec, args: list[bytes]) -> str | None:
        """The error text redis.call raises for a call the script's user may not make (logged as lua)."""
        verdict, position = check(client.user, spec, args, self.old, self.place(client))
        if verdict == ALLOWED:
            return None
        self.record(caller, verdict, position, spec=spec, args=args, context="lua", user=client.user)
        if self.flavour.new_texts:
            return "ERR ACL failure in script: " + self.message(verdict, client.user, spec)
        reason = {DENIED_CMD: "can't run this command or subcommand",
                  DENIED_KEY: "can't access at least one of the keys mentioned in the command arguments",
                  DENIED_CHANNEL: "can't publish to the channel mentioned in the command"}[verdict]
        return "ERR The user executing the script " + reason

    def exec_denial(self, client, spec: Spec, args: list[bytes]) -> CommandError | None:
        """A queued command the user may no longer run when EXEC comes."""
        verdict, position = check(client.user, spec, args, self.old, self.place(client))
        if verdict == ALLOWED:
            return None
        self.record(client, verdict, position, spec=spec, args=args, context="multi")
        reason = {DENIED_CMD: "no permission to execute the command or subcommand",
                  DENIED_KEY: "no permission to touch the specified keys",
                  DENIED_CHANNEL: "no permission to access one of the channels used as arguments",
                  DENIED_DB: "no permission"}[verdict]
        return CommandError("NOPERM ACLs rules changed between the moment the transaction was accumulated and the "
                            f"EXEC call. This command is no longer allowed for the following reason: {reason}")

    # --- the log ---

    def record(self, client, reason: int, position: int, *, spec: Spec | None = None, args=None,
               context: str | None = None, username: bytes | None = None, object: bytes | None = None,
               user: User | None = None) -> None:
        """addACLLogEntry: a similar recent entry (among the 10 newest) counts one more, else a new one."""
        if self.counters:
            self.counters[_COUNTERS[reason]] += 1
        if object is None:
            named = reason == DENIED_CMD or (reason == DENIED_DB and not position)  # (a database the call uses)
            # (a denied command, or a database it uses, is logged with its record)
            object = spec.reply_name if named else args[position]  # type: ignore[union-attr]
        if context is None:
            context = "multi" if client.multi is not None else "toplevel"
        from rdbtools.server.clients import info_line  # (clients imports User from here)

        now = int(self.server.clock() * 1000)
        entry = LogEntry(reason, context, object, username or (user or client.user).name, now, now,
                         info_line(self.server, client).encode(), self.next_entry_id)
        for i, current in enumerate(self.log[:10]):
            if current.similar(entry):
                current.count += 1
                current.updated_ms, current.client_info = now, entry.client_info
                self.log.insert(0, self.log.pop(i))
                return
        self.next_entry_id += 1
        self.log.insert(0, entry)
        del self.log[self.server.config["acllog-max-len"]:]

    def log_reply(self, count: int) -> list:
        now = int(self.server.clock() * 1000)
        entries = []
        for entry in self.log[:max(count, 0)]:
            fields = Map({b"count": entry.count, b"reason": _REASONS[entry.reason].encode(),
                          b"context": entry.context.encode(), b"object": entry.object, b"username": entry.username,
                          b"age-seconds": Double((now - entry.updated_ms) / 1000),
                          b"client-info": entry.client_info})
            if self.flavour.log_ids:
                fields.update({b"entry-id": entry.entry_id, b"timestamp-created": entry.created_ms,
                               b"timestamp-last-updated": entry.updated_ms})
            entries.append(fields)
        return entries

    # --- users ---

    def setuser(self, client, args: list[bytes]) -> None:
        """ACL SETUSER name rule ...: every rule applied to a copy, which replaces the user only when
        all are valid."""
        name, ops = args[2], args[3:]
        if _has_spaces(name):
            raise CommandError("ERR Usernames can't contain spaces or null characters")
        merged = merge_selectors(ops) if self.flavour.selectors else ops
        if isinstance(merged, int):
            raise CommandError(f"ERR Unmatched parenthesis in acl selector starting at "
                               f"'{_shown(ops[merged])}'.")
        existing = self.users.get(name)
        staged = existing.copy() if existing is not None else self.rules.new_user(name)
        for op in merged:
            try:
                self.rules.apply(staged, op)
            except RuleError as error:
                raise CommandError(f"ERR Error in ACL SETUSER modifier '{_shown(op)}': {error}") from None
        if existing is None:
            self.users[name] = staged
            return
        self._kill_pubsub_clients(client, existing, staged)
        existing.take(staged)
        self.refresh_all()

    def _kill_pubsub_clients(self, caller, old: User, new: User) -> None:
        """ACLKillPubsubClientsIfNeeded: subscribers whose channels the new rules no longer allow."""
        if any(s.allchannels for s in new.selectors):
            return
        upcoming = [c for s in new.selectors for c in s.channels]
        revoked_all = any(s.allchannels for s in old.selectors)
        if not revoked_all and all(c in upcoming for s in old.selectors for c in s.channels):
            return
        for client in list(self.server.clients.values()):
            if client.user is not old or not client.subscriptions:
                continue
            patterns = any(p not in upcoming for p in client.patterns)
            channels = any(not any(_matcher(u)(c) for u in upcoming) for c in client.channels)
            if patterns or channels:
                self._drop(client, caller)

    def _drop(self, client, caller) -> None:
        """A client of a deleted (or changed) user goes: after its reply when it is the caller."""
        client.user, client.authenticated = self.default, False
        if client is caller:
            client.closing = True
        else:
            client.close()

    def deluser(self, caller, names: list[bytes]) -> int:
        if b"default" in names:
            raise CommandError("ERR The 'default' user cannot be removed")
        deleted = 0
        for name in names:
            user = self.users.pop(name, None)
            if user is not None:
                deleted += 1
                for client in list(self.server.clients.values()):
                    if client.user is user:
                        self._drop(client, caller)
        return deleted

    def load_config_users(self, lines: list[list[str]]) -> None:
        """The `user` directives of the configuration (ACLLoadConfiguredUsers); aclfile after them."""
        from rdbtools.server.config import ConfigError

        if lines and self.server.config["aclfile"]:
            raise ConfigError("Configuring Redis with users defined in redis.conf and at the same setting an ACL "
                              "file path is invalid. This setup is very likely to lead to configuration errors and "
                              "security holes, please define either an ACL file or declare users directly in your "
                              "redis.conf, but not both.")
        seen: set[bytes] = set()
        for words in lines:
            name = words[0].encode("utf-8", "surrogateescape")
            if name in seen:
                raise ConfigError(f"user {words[0]}: Duplicate user found. A user can only be defined once in "
                                  f"config files")
            seen.add(name)
            user = self.users.get(name)
            if user is None:
                user = self.users[name] = self.rules.new_user(name)
            else:
                self.rules.apply(user, b"reset")
            ops = [w.encode("utf-8", "surrogateescape") for w in words[1:]]
            merged = merge_selectors(ops) if self.flavour.selectors else ops
            if isinstance(merged, int):
                raise ConfigError(f"user {words[0]}: Unmatched parenthesis in selector definition")
            for op in merged:
                try:
                    self.rules.apply(user, op)
                except RuleError as error:
                    raise ConfigError(f"Error loading ACL rule '{_shown(op)}' for the user named "
                                      f"'{words[0]}': {error}") from None
        if self.server.config["aclfile"]:
            errors = self.load_file()
            if errors is not None:
                raise ConfigError(f"Aborting Redis startup because of ACL errors: {errors}")

    def load_file(self, caller=None) -> str | None:
        """ACLLoadFromFile: every line checked; with any error nothing changes (the errors' text)."""
        filename = self.server.config["aclfile"]
        try:
            text = Path(filename).read_bytes()
        except OSError as error:
            return f"Error loading ACLs, opening file '{filename}': {os.strerror(error.errno or 0)}"
        users: dict[bytes, User] = {} if self.flavour.selectors else {b"default": self.rules.default_user()}
        errors = ""
        for number, line in enumerate(text.split(b"\n"), 1):
            line = line.strip(b" \t\r\n")
            if not line:
                continue
            words = line.split(b" ")  # as sdssplitlen: two spaces make an empty word
            if words[0] != b"user" or len(words) < 2:
                errors += f"{filename}:{number} should start with user keyword followed by the username. "
                continue
            if _has_spaces(words[1]):
                errors += f"'{filename}:{number}: username '{_shown(words[1])}' contains invalid characters. "
                continue
            user = users.get(words[1])
            if user is not None and self.flavour.selectors:
                errors += f"WARNING: Duplicate user '{_shown(words[1])}' found on line {number}. "
                continue
            if user is None:
                user = users[words[1]] = self.rules.new_user(words[1])
            else:  # 6.2: a later line (or the default's) redefines the user
                self.rules.apply(user, b"reset")
            merged = merge_selectors(words[2:]) if self.flavour.selectors else words[2:]
            if isinstance(merged, int):  # (the servers here crash on this line)
                errors += f"{filename}:{number}: Unmatched parenthesis in selector definition."
                continue
            errors += self._load_line(user, merged, f"{filename}:{number}")
        if errors:
            return errors + "WARNING: ACL errors detected, no change to the previously active ACL rules was performed"
        self._replace_users(users, caller)
        return None

    def _load_line(self, user: User, ops: list[bytes], where: str) -> str:
        """A user line's rules applied; the errors told (from 7.0: an unknown command with its rule,
        only the first other error of the line)."""
        errors, told = "", False
        for op in ops:
            op = op.strip(b"\t\r\n")
            try:
                self.rules.apply(user, op)
            except RuleError as error:
                if not self.flavour.selectors:
                    errors += f"{where}: {error}. "
                elif str(error) == RuleError.UNKNOWN:
                    errors += f"{where}: Error in applying operation '{_shown(op)}': {error}. "
                elif not told:
                    errors, told = errors + f"{where}: {error}. ", True
        return errors

    def _replace_users(self, users: dict[bytes, User], caller) -> None:
        """A loaded file's users replace all: the default keeps its object (its clients stay), every
        other user's clients are disconnected (as Redis frees the old users)."""
        loaded_default = users.pop(b"default", None)
        self.default.take(loaded_default or self.rules.default_user())
        kept = self.flavour.kept_rules  # 7.2+: a client of a user defined again goes on as that user
        for client in list(self.server.clients.values()):
            if client.user is self.default:
                continue
            if kept and client.user.name in users:
                client.user = users[client.user.name]
            else:
                self._drop(client, caller)
        self.users = {b"default": self.default, **users}
        self.refresh_all()

    def save_file(self) -> None:
        filename = self.server.config["aclfile"]
        text = b"".join(b"user " + name + b" " + self.describer.user_text(self.users[name]) + b"\n"
                        for name in sorted(self.users))
        temporary = f"{filename}.tmp-{os.getpid()}"
        try:
            Path(temporary).write_bytes(text)
            os.replace(temporary, filename)
        except OSError:
            Path(temporary).unlink(missing_ok=True)
            raise CommandError("ERR There was an error trying to save the ACLs. Please check the server logs for "
                               "more information") from None

    # --- the ACL command ---

    def command(self, client, args: list[bytes]) -> object:
        sub = args[1].lower()
        handler = _SUBCOMMANDS.get(sub)
        if handler is None or not handler[1](len(args)) or (sub == b"dryrun" and self.old):
            raise subcommand_error(args, self.server.config.target)
        return handler[0](self, client, args)

    def _setuser(self, client, args):
        self.setuser(client, args)
        return OK

    def _getuser(self, client, args):
        user = self.users.get(args[2])
        return None if user is None else self.describer.getuser(user)

    def _list(self, client, args):
        return [b"user " + name + b" " + self.describer.user_text(self.users[name]) for name in sorted(self.users)]

    def _users(self, client, args):
        return sorted(self.users)

    def _whoami(self, client, args):
        return client.user.name

    def _cat(self, client, args):
        if len(args) == 2:
            return [c.encode() for c in CATEGORIES]
        category = args[2].lower().decode("utf-8", "replace")
        if category not in CATEGORIES:
            raise CommandError(f"ERR Unknown category '{_shown(args[2])[:128]}'")
        return [s.name for s in self.rules.commands.in_category[category]]

    def _genpass(self, client, args):
        bits = 256 if len(args) == 2 else integer(args[2])
        if not 0 < bits <= 4096:
            raise CommandError("ERR ACL GENPASS argument must be the number of bits for the output password, a "
                               "positive number up to 4096")
        return os.urandom(bits // 8 + 1).hex()[: (bits + 3) // 4].encode()

    def _log(self, client, args):
        if len(args) == 3 and args[2].lower() == b"reset":
            self.log.clear()
            return OK
        return self.log_reply(10 if len(args) == 2 else integer(args[2]))

    def _deluser(self, client, args):
        return self.deluser(client, args[2:])

    def _dryrun(self, client, args):
        user = self.users.get(args[2])
        if user is None:
            raise CommandError(f"ERR User '{_shown(args[2])}' not found")
        call = args[3:]
        spec = self.rules.commands.resolve(call)
        if spec is None:
            raise CommandError(f"ERR Command '{_shown(call[0])}' not found")
        if (spec.arity > 0 and len(call) != spec.arity) or len(call) < -spec.arity:
            raise CommandError(f"ERR wrong number of arguments for '{_shown(spec.reply_name)}' command")
        verdict, position = check(user, spec, call, self.old, self.place(client))
        if verdict == ALLOWED:
            return OK
        who = f"User {user.name.decode('utf-8', 'replace')}" if self.flavour.new_texts else "This user"
        if verdict == DENIED_CMD:
            return f"{who} has no permissions to run the '{_shown(spec.reply_name)}' command".encode()
        if verdict == DENIED_DB:
            return f"{who} has no permissions to access database {_shown(call[position])}".encode()
        kind = "key" if verdict == DENIED_KEY else "channel"
        return f"{who} has no permissions to access the '{_shown(call[position])}' {kind}".encode()

    def _file(self, client, args):
        if not self.server.config["aclfile"]:
            name = self.flavour.server_name
            raise CommandError(f"ERR This {name}instance is not configured to use an ACL file. You may want to "
                               f"specify users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming "
                               f"you have a {name}configuration file set) in order to store users in the {name}"
                               f"configuration.")
        if args[1].lower() == b"save":
            self.save_file()
            return OK
        errors = self.load_file(client)
        if errors is not None:
            raise CommandError(f"ERR {errors}")
        return OK


_SUBCOMMANDS: dict[bytes, tuple[Callable, Callable[[int], bool]]] = {
    b"setuser": (Acl._setuser, lambda n: n >= 3), b"getuser": (Acl._getuser, lambda n: n == 3),
    b"list": (Acl._list, lambda n: n == 2), b"users": (Acl._users, lambda n: n == 2),
    b"whoami": (Acl._whoami, lambda n: n == 2), b"cat": (Acl._cat, lambda n: n in (2, 3)),
    b"genpass": (Acl._genpass, lambda n: n in (2, 3)), b"log": (Acl._log, lambda n: n in (2, 3)),
    b"deluser": (Acl._deluser, lambda n: n >= 3), b"dryrun": (Acl._dryrun, lambda n: n >= 4),
    b"load": (Acl._file, lambda n: n == 2), b"save": (Acl._file, lambda n: n == 2),
}


def _counter_names(flavour: Flavour) -> list[str]:
    if not flavour.log_ids:
        return []
    names = [_COUNTERS[reason] for reason in (DENIED_AUTH, DENIED_CMD, DENIED_KEY, DENIED_CHANNEL)]
    return [*names, *(("acl_access_denied_tls_cert", _COUNTERS[DENIED_DB]) if flavour.databases else ())]


def merge_selectors(ops: list[bytes]) -> list[bytes] | int:
    """ACLMergeSelectorArguments: "(+get" "~x)" joined into one selector rule; the index of an
    unclosed one's start instead."""
    merged: list[bytes] = []
    opened: int | None = None
    for i, op in enumerate(ops):
        if opened is None and op[:1] == b"(" and op[-1:] != b")":
            opened, current = i, op
            continue
        if opened is not None:
            current += b" " + op
            if op[-1:] == b")":
                merged.append(current)
                opened = None
            continue
        merged.append(op)
    return opened if opened is not None else merged


def _shown(value: bytes) -> str:
    return value.decode("utf-8", "replace")
