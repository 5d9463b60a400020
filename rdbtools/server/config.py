"""redis-server's configuration: a redis.conf file and ``--directive value`` arguments, CONFIG GET/SET.

Directives serve acts on are declared in ``DIRECTIVES`` with Redis's value syntax; the encoding
thresholds (``hash-max-listpack-entries`` ...) go to the RDB target, so snapshots use them. Any other
name Redis knows is accepted and reported as ignored; an unknown name is an error, as in Redis.
Every other parameter the target's server lists in ``CONFIG GET *`` (``config_table.json``, written by
scripts/config_table.py from the real servers) is kept with that server's default and checked as that
server checks it (yes/no, integer bounds, memory, one of some words), so CONFIG GET/SET answer as it does.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from rdbtools.errors import RdbtoolError
from rdbtools.formats.manifest import split_args
from rdbtools.formats.numbers import MEMORY_UNITS, canonical_int64, strtol
from rdbtools.rdb.targets import NEWEST, THRESHOLD_DIRECTIVES, Target, target_for
from rdbtools.server import protection
from rdbtools.server.command_table import _live
from rdbtools.server.directives import KNOWN_DIRECTIVES
from rdbtools.server.failpoints import Failpoints

CONFIG_TABLE = Path(__file__).with_name("config_table.json")


class ConfigError(RdbtoolError):
    """A directive serve cannot take: unknown, malformed, or not supported."""

    hint = "see redis.conf's documentation of that directive"


def _bool(args: list[str]) -> bool:
    value = _one(args).lower()
    if value not in ("yes", "no"):
        raise ValueError("argument must be 'yes' or 'no'")
    return value == "yes"


def _one(args: list[str]) -> str:
    if len(args) != 1:
        raise ValueError("wrong number of arguments")
    return args[0]


def _integer(low: int, high: int) -> Callable[[list[str]], int]:
    def parse(args: list[str]) -> int:
        value = canonical_int64(_one(args).encode("utf-8", "surrogateescape"))  # string2ll: no spaces, '+', '_'
        if value is None:
            raise ValueError("argument couldn't be parsed into an integer")
        if not low <= value <= high:
            raise ValueError(f"argument must be between {low} and {high} inclusive")
        return value

    return parse


def memory(args: list[str]) -> int:
    """Redis's memtoull: a number with an optional unit (k, kb, m, mb, g, gb)."""
    text = _one(args).lower()
    if not text:  # nothing to read is 0 to memtoull
        return 0
    digits = text.rstrip("kmgb")
    if not (digits.isascii() and digits.isdigit()) or text[len(digits):] not in MEMORY_UNITS:
        raise ValueError("argument must be a memory value")
    return int(digits) * MEMORY_UNITS[text[len(digits):]]


def _save_words(args: list[str], *, config_set: bool) -> list[str]:
    """The words of a save value as Redis gets them: CONFIG SET cuts its one value at every single space
    (performInterfaceSet); a config line (or command-line option) with one non-empty word splits it
    again as a line is split (`save "60 1 30 2"`), unbalanced quotes giving no words."""
    if config_set:
        value = _one(args)
        return value.split(" ") if value else []
    if len(args) == 1 and args[0]:
        try:
            return split_args(args[0])
        except ValueError:
            return []
    return args


def _strtoll_whole(word: str) -> int | None:
    """C's strtoll(word, &end, 10) that must reach the end of the word (setConfigSaveOption's check):
    leading C spaces, a sign and leading zeros pass, an empty word is 0, overflow clamps to 64 bits;
    the word ends at a NUL as a C string does."""
    raw = word.encode("utf-8", "surrogateescape").split(b"\0", 1)[0]
    value, end = strtol(raw)
    return value if end == len(raw) else None


def _c_int(value: int) -> int:
    """The int a 64-bit value becomes in C (Redis keeps a save point's changes in an int)."""
    return (value + (1 << 31)) % (1 << 32) - (1 << 31)


def _save(words: list[str]) -> tuple[tuple[int, int], ...]:
    """Redis's setConfigSaveOption: `<seconds> <changes> ...` with seconds >= 1 and changes >= 0;
    a lone "" is no save point."""
    if words == [""]:
        return ()
    numbers = [_strtoll_whole(word) for word in words]
    valid = [n for i, n in enumerate(numbers) if n is not None and n >= (0 if i % 2 else 1)]
    if len(words) % 2 or len(valid) < len(numbers):
        raise ValueError("Invalid save parameters")
    return tuple((valid[i], _c_int(valid[i + 1])) for i in range(0, len(valid), 2))


def _choice(*options: str) -> Callable[[list[str]], str]:
    def parse(args: list[str]) -> str:
        value = _one(args).lower()
        if value not in options:
            raise ValueError(f"argument(s) must be one of the following: {', '.join(options)}")
        return value

    return parse


def _target(args: list[str]) -> Target:
    try:
        return target_for(_one(args))
    except RdbtoolError as error:
        raise ValueError(error.message) from None


def _memory_or_percent(args: list[str]) -> str:
    """maxmemory-clients: a memory value (kept as bytes) or a percentage of maxmemory (kept as "n%")."""
    text = _one(args)
    if text.endswith("%"):
        percent = canonical_int64(text[:-1].encode("utf-8", "surrogateescape"))
        if percent is None or percent < 0:
            raise ValueError("argument must be a memory or percent value")
        if percent > 100:
            raise ValueError("percentage argument must be less or equal to 100")
        return f"{percent}%"
    try:
        return str(memory(args))
    except ValueError:
        raise ValueError("argument must be a memory or percent value") from None


def _clamped(low: int, high: int) -> Callable[[list[str]], int]:
    """An integer Redis takes in [0, INT_MAX] and then holds to [low, high] (hz)."""
    parse = _integer(0, (1 << 31) - 1)
    return lambda args: min(max(parse(args), low), high)


_EVENT_CLASSES = "g$lshzxetdnoc"  # in the order CONFIG GET spells them, before K, E and m
#: Redis's NOTIFY_* flag of each class character (A: what it stands for, not n, m, o, c)
EVENT_FLAGS = {char: 1 << bit for bit, char in enumerate("KEg$lshzxetm")} | {"d": 1 << 13, "n": 1 << 14,
                                                                             "o": 1 << 15, "c": 1 << 16}
EVENT_FLAGS["A"] = sum(EVENT_FLAGS[c] for c in "g$lshzxetd")


class EventClasses(str):
    """notify-keyspace-events as CONFIG GET shows it, with the flags it set (the text can lose some:
    Redis spells A alone, without the n, o or c given with it)."""

    flags: int = 0


def _keyspace_events(args: list[str]) -> EventClasses:
    """notify-keyspace-events as Redis keeps it: the classes in its own order, A for all of A's."""
    flags = 0
    for char in _one(args):
        if char not in EVENT_FLAGS:
            raise ValueError("Invalid event class character. Use 'Ag$lshzxeKEtmdn'.")
        flags |= EVENT_FLAGS[char]
    all_ = EVENT_FLAGS["A"]
    text = "A" if flags & all_ == all_ else "".join(c for c in _EVENT_CLASSES if flags & EVENT_FLAGS[c])
    classes = EventClasses(text + "".join(c for c in "KEm" if flags & EVENT_FLAGS[c]))
    classes.flags = flags
    return classes


def event_classes_of(target: Target) -> str:
    """The class characters a server takes: n since 7.0, o and c (overwritten, type_changed) in Redis 8.2."""
    known = "Ag$lshzxeKEtmd"
    if target.valkey_server or target.version >= (7, 0):
        known += "n"
    if not target.valkey_server and target.version >= (8, 2):
        known += "oc"
    return known


_LLONG_MAX = (1 << 63) - 1
_INT_MAX = (1 << 31) - 1


def _text(args: list[str]) -> str:
    return _one(args)


def _addresses(args: list[str]) -> tuple[str, ...]:
    return tuple(a for arg in args for a in arg.split())


@dataclass(frozen=True)
class Directive:
    parse: Callable[[list[str]], Any]
    default: Any
    mutable: bool = True
    used: bool = True  # False: kept for CONFIG GET/SET only, and logged as ignored at start


DIRECTIVES: dict[str, Directive] = {
    "port": Directive(_integer(0, 65535), 6379),
    "bind": Directive(_addresses, ("127.0.0.1",), False),
    "unixsocket": Directive(_text, "", False),
    "unixsocketperm": Directive(lambda a: int(_one(a), 8), 0, False),
    "dir": Directive(_text, "."),
    "dbfilename": Directive(_text, "dump.rdb"),
    "save": Directive(lambda args: _save(_save_words(args, config_set=True)), ((3600, 1), (300, 100), (60, 10000))),
    "rdbcompression": Directive(_bool, True),
    "rdbchecksum": Directive(_bool, True),
    "stop-writes-on-bgsave-error": Directive(_bool, True),
    "requirepass": Directive(_text, ""),
    "aclfile": Directive(_text, "", False),
    "acllog-max-len": Directive(_integer(0, _LLONG_MAX), 128),
    "acl-pubsub-default": Directive(_choice("allchannels", "resetchannels"), ""),  # "": the target's (acl.py)
    "protected-mode": Directive(_bool, True),
    "maxclients": Directive(_integer(1, 1 << 31), 10000),
    "databases": Directive(_integer(1, 1 << 31), 16, False),
    "timeout": Directive(_integer(0, 1 << 31), 0),
    "proto-max-bulk-len": Directive(memory, 512 * 1024**2),
    "client-query-buffer-limit": Directive(memory, 1024**3),
    "loglevel": Directive(_choice("debug", "verbose", "notice", "warning", "nothing"), "notice"),
    "logfile": Directive(_text, "", False),
    "pidfile": Directive(_text, "", False),
    "daemonize": Directive(_bool, False, False),  # only "no" can start (checked once every source is read)
    "appendonly": Directive(_bool, False),
    "appendfsync": Directive(_choice("everysec", "always", "no"), "everysec"),
    "appenddirname": Directive(_text, "appendonlydir", False),
    "appendfilename": Directive(_text, "appendonly.aof", False),
    "aof-use-rdb-preamble": Directive(_bool, True),
    "aof-timestamp-enabled": Directive(_bool, False),
    "aof-load-truncated": Directive(_bool, True),
    "aof-disable-auto-gc": Directive(_bool, False),  # history files kept after a rewrite and at start
    "no-appendfsync-on-rewrite": Directive(_bool, False),
    "auto-aof-rewrite-percentage": Directive(_integer(0, 1 << 31), 100),
    "auto-aof-rewrite-min-size": Directive(memory, 64 * 1024**2),
    "rdb-key-save-delay": Directive(_integer(0, 1 << 31), 0),  # Redis's test knob (microseconds)
    "target": Directive(_target, NEWEST, False),  # rdbtool's own: which server's formats to write
    # maxmemory and its policy: serve evicts as Redis does (server/eviction.py); the policy also says what
    # keys' access fields keep: LRU clock or LFU counter (keyspace/access.py)
    "maxmemory": Directive(memory, 0),
    "maxmemory-policy": Directive(_choice("volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl",
                                          "allkeys-lru", "allkeys-lfu", "allkeys-random", "noeviction"), "noeviction"),
    "lfu-log-factor": Directive(_integer(0, _INT_MAX), 10),
    "lfu-decay-time": Directive(_integer(0, _INT_MAX), 1),
    "maxmemory-samples": Directive(_integer(1, _INT_MAX), 5),
    # kept for CONFIG: serve evicts what is needed at once, with no time limit
    "maxmemory-eviction-tenacity": Directive(_integer(0, 100), 10),
    "maxmemory-clients": Directive(_memory_or_percent, "0"),
    "notify-keyspace-events": Directive(_keyspace_events, EventClasses("")),
    "hz": Directive(_clamped(1, 500), 10, used=False),
    "tcp-keepalive": Directive(_integer(0, _INT_MAX), 300, used=False),
    "busy-reply-threshold": Directive(_integer(0, _LLONG_MAX), 5000),  # ms; "lua-time-limit" is its old name
    "tracking-table-max-keys": Directive(_integer(0, _LLONG_MAX), 1_000_000),  # keys client tracking remembers
    # SLOWLOG and LATENCY read these
    "slowlog-log-slower-than": Directive(_integer(-1, _LLONG_MAX), 10000),
    "slowlog-max-len": Directive(_integer(0, _LLONG_MAX), 128),
    "latency-monitor-threshold": Directive(_integer(0, _LLONG_MAX), 0),
    # what DEBUG, MODULE LOAD and CONFIG SET dir/dbfilename need (protection.py): set at start only
    **{setting: Directive(_choice(*protection.VALUES), "no", False) for setting in protection.SETTINGS},
}


@cache
def _config_data() -> dict:
    return json.loads(CONFIG_TABLE.read_text())


@dataclass(frozen=True)
class ServerParameters:
    """What one real server's CONFIG GET * lists: defaults, the kind of each value, aliases."""

    defaults: dict[str, str]
    kinds: dict[str, dict]
    aliases: dict[str, str]  # alias -> the name it stands for

    def group(self, name: str) -> tuple[str, ...]:
        """The name and its aliases (the names one setting changes)."""
        canonical = self.aliases.get(name, name)
        return (canonical, *(a for a, c in self.aliases.items() if c == canonical))

    def parse(self, name: str, args: list[str]) -> str:
        """The value as the server keeps and answers it; ValueError with its reason when refused."""
        kind = self.kinds.get(name, {"kind": "special"})
        parse = _KIND_PARSERS.get(kind["kind"])
        return " ".join(args) if parse is None else parse(kind, args)  # its own syntax: kept as given


_KIND_PARSERS: dict[str, Callable[[dict, list[str]], str]] = {
    "bool": lambda kind, args: _format(_bool(args)),
    "int": lambda kind, args: str(_integer(kind["low"], kind["high"])(args)),
    "memory": lambda kind, args: str(_bounded(memory(args), kind)),
    "enum": lambda kind, args: _choice(*kind["options"])(args),
}


def _bounded(value: int, kind: dict) -> int:
    """A memory value within the parameter's bounds (memtoull saturates at 2**64 - 1 first)."""
    value = min(value, (1 << 64) - 1)
    if "low" in kind and not kind["low"] <= value <= kind["high"]:
        raise ValueError(f"argument must be between {kind['low']} and {kind['high']} inclusive")
    return value


@cache
def parameters_of(target: Target) -> ServerParameters:
    """The parameters of the real server nearest the target (its family's)."""
    data = _config_data()
    server = next(s for s in _live(target) if s in data)
    return ServerParameters(**data[server])


def _format(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Target):
        return value.name
    if isinstance(value, tuple):
        return " ".join(" ".join(map(str, v)) if isinstance(v, tuple) else str(v) for v in value)
    return str(value)


class ServerConfig:
    def __init__(self) -> None:
        self.values: dict[str, Any] = {name: d.default for name, d in DIRECTIVES.items()}
        self.thresholds: dict[str, str] = {}
        self.ignored: list[str] = []  # known to Redis, not acted on here (logged at start)
        self.config_file: Path | None = None
        self.saves_read = False  # a save line was read at start: the next ones add to it, not to the defaults
        self.users: list[list[str]] = []  # `user name rule ...` lines, for the ACL (config order)
        self.kept: dict[str, str] = {}  # parameters serve does not act on, as set (by the name they stand for)
        self.failpoints = Failpoints()  # DEBUG FAILPOINT's faults: here, where every persistence object looks
        #: the edge's: move the TCP listeners to the port CONFIG SET gave, False when it cannot be bound
        #: (an in-process server has no listeners: None)
        self.relisten: Callable[[int], bool] | None = None

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    @property
    def parameters(self) -> ServerParameters:
        """The target server's list of parameters (what CONFIG GET * names besides serve's own)."""
        return parameters_of(self.values["target"])

    @property
    def target(self) -> Target:
        """The RDB target, with the encoding thresholds this configuration sets."""
        return self.values["target"].with_config(self.thresholds)

    @classmethod
    def load(cls, config_file: str | Path | None = None, arguments: Iterable[str] = ()) -> ServerConfig:
        """A config file, then ``--name value ...`` arguments (later ones win; save points add up)."""
        config = cls()
        if config_file is not None:
            config.config_file = Path(config_file).resolve()
            config._read_file(config.config_file)
        for name, args in _argument_directives(list(arguments)):
            if name.lower() == "save" and not args:  # redis-server reads a bare --save as --save ""
                args = [""]
            config.apply(name, args, where="the command line", startup=True)
        if config["daemonize"]:
            raise ConfigError("daemonize yes is not supported: run serve in the foreground (under a supervisor), "
                              "or give --daemonize no")
        return config

    def _read_file(self, path: Path) -> None:
        try:
            text = path.read_text(encoding="utf-8", errors="surrogateescape")
        except OSError as error:
            raise ConfigError(f"cannot read the configuration file: {error.strerror}", path=str(path)) from None
        for number, line in enumerate(text.split("\n"), 1):  # as Redis: '\n' ends a line, not \v or \x85
            line = line.strip(" \t\r\n")
            if not line or line.startswith("#"):
                continue
            try:
                name, *args = split_args(line)
            except ValueError as error:
                raise ConfigError(f"line {number}: {error}", path=str(path)) from None
            self.apply(name, args, where=f"line {number}", startup=True, path=path)

    def apply(self, name: str, args: list[str], *, where: str, startup: bool, path: Path | None = None) -> None:
        """Set a directive; ConfigError says what is wrong, and where."""
        directive = name.lower()
        directive = "busy-reply-threshold" if directive == "lua-time-limit" else directive
        location = f"{where}: " if where else ""
        if directive == "user" and startup:
            if not args:
                raise ConfigError(f"{location}user: wrong number of arguments", path=str(path) if path else None)
            self.users.append(args)
            return
        if directive in THRESHOLD_DIRECTIVES:
            self._threshold(directive, args, startup, f"{location}{name}", path)
            return
        directive = self._directive_name(directive)
        spec = DIRECTIVES.get(directive)
        if spec is None:
            if directive in self.parameters.defaults:
                self._keep(directive, args, startup, location, path)
                return
            if directive in KNOWN_DIRECTIVES and startup:
                self.ignored.append(directive)
                return
            raise ConfigError(f"{location}unknown directive {name!r}", path=str(path) if path else None)
        if not startup and not spec.mutable:
            raise ConfigError("can't set immutable config")
        if startup and not spec.used:
            self.ignored.append(directive)
        try:
            if directive == "notify-keyspace-events" and set(_one(args)) - set(event_classes_of(self["target"])):
                raise ValueError("Invalid event class character. Use 'Ag$lshzxeKEtmdn'.")
            self.values[directive] = self._save_points(args, startup) if directive == "save" else spec.parse(args)
        except ValueError as error:
            if not startup:  # CONFIG SET names the directive itself
                raise ConfigError(str(error)) from None
            raise ConfigError(f"{location}{name}: {error}", path=str(path) if path else None) from None

    def _threshold(self, directive: str, args: list[str], startup: bool, where: str, path: Path | None) -> None:
        """An encoding threshold: checked as the server checks its kind of value (its own error texts),
        then as the RDB target can take it."""
        try:
            value = self.parameters.parse(directive, args) if directive in self.parameters.kinds else _one(args)
            NEWEST.with_config({directive: value})
        except ValueError as error:
            if not startup:  # CONFIG SET names the directive itself
                raise ConfigError(str(error)) from None
            raise ConfigError(f"{where}: {error}", path=str(path) if path else None) from None
        except RdbtoolError as error:
            raise ConfigError(f"{where}: {error.message}", path=str(path) if path else None) from None
        for alias in self.parameters.group(directive):  # one setting under one name, the last one given
            self.thresholds.pop(alias, None)
        self.thresholds[directive] = value

    def _directive_name(self, name: str) -> str:
        """The name serve keeps a parameter under: its own directive's among the aliases, else the one
        the aliases stand for."""
        if name in DIRECTIVES:
            return name
        group = self.parameters.group(name)
        return next((n for n in group if n in DIRECTIVES), group[0])

    def _keep(self, name: str, args: list[str], startup: bool, location: str, path: Path | None) -> None:
        """A parameter serve does not act on: checked as the server checks it, kept for CONFIG GET."""
        kind = self.parameters.kinds.get(name, {}).get("kind")
        if kind == "immutable" and not startup:
            raise ConfigError("can't set immutable config")
        if startup:
            self.ignored.append(name)
        try:
            self.kept[name] = self.parameters.parse(name, args)
        except ValueError as error:
            if not startup:
                raise ConfigError(str(error)) from None
            raise ConfigError(f"{location}{name}: {error}", path=str(path) if path else None) from None

    def _save_points(self, args: list[str], startup: bool) -> tuple[tuple[int, int], ...]:
        """At start the first save line (file, then command line) replaces the default points and later
        lines add theirs, `save ""` empties the list; CONFIG SET replaces it (as Redis's save_loaded)."""
        words = _save_words(args, config_set=not startup)
        points = _save(words)
        if not startup or not self.saves_read or words == [""]:
            self.saves_read = self.saves_read or startup
            return points
        return self.values["save"] + points

    def get(self, patterns: list[str]) -> list[tuple[str, str]]:
        """CONFIG GET: each directive a name (any case, answered as asked) or a glob pattern names,
        once, with its value as text."""
        values = self._all_values()
        found: dict[str, tuple[str, str]] = {}
        for pattern in patterns:
            lowered = pattern.lower()
            if not any(c in pattern for c in "[*?"):
                if lowered in values and lowered not in found:
                    found[lowered] = (pattern, values[lowered])
                continue
            for name, value in values.items():
                if name not in found and fnmatch.fnmatchcase(name, lowered):
                    found[name] = (name, value)
        return list(found.values())

    def _all_values(self) -> dict[str, str]:
        """Every parameter's value as text: the server's defaults, then what serve keeps, each under
        all its names."""
        parameters = self.parameters
        values = dict(parameters.defaults)
        own = {**self.kept, **{n: _format(v) for n, v in self.values.items()}, **self.thresholds}
        if not protection.protects(self.values["target"]):  # Redis 6.2 has no such directives
            for setting in protection.SETTINGS:
                del own[setting]
        for name, value in own.items():
            for alias in parameters.group(name) if name in parameters.defaults else (name,):
                values[alias] = value
        return values

    def known(self, name: str) -> bool:
        """Whether CONFIG SET can set this directive at all."""
        lowered = name.lower()
        return lowered in DIRECTIVES or lowered in THRESHOLD_DIRECTIVES or lowered in self.parameters.defaults

    def mutable(self, name: str) -> bool:
        lowered = name.lower()
        spec = DIRECTIVES.get(self._directive_name(lowered))
        if spec is not None:
            return spec.mutable
        return self.parameters.kinds.get(lowered, {}).get("kind") != "immutable"

    def backup(self) -> tuple[dict, dict, dict]:
        return dict(self.values), dict(self.thresholds), dict(self.kept)

    def restore(self, backup: tuple[dict, dict, dict]) -> None:
        self.values, self.thresholds, self.kept = dict(backup[0]), dict(backup[1]), dict(backup[2])


def _argument_directives(arguments: list[str]) -> Iterable[tuple[str, list[str]]]:
    """``--port 7000 --save 60 1 --save ""``: each directive with its values, in order."""
    name: str | None = None
    values: list[str] = []
    for argument in arguments:
        if argument.startswith("--") and len(argument) > 2:
            if name is not None:
                yield name, values
            name, values = argument[2:], []
        elif name is None:
            raise ConfigError(f"expected a --directive before {argument!r}")
        else:
            values.append(argument)
    if name is not None:
        yield name, values
