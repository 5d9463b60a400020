"""One record per command: what the target server says a command is, joined with serve's handler.

The metadata is the servers' own: ``command_table.json`` is written by ``scripts/command_table.py`` from
the real servers' COMMAND and COMMAND DOCS replies (tests/server/test_command_table.py proves it still
equals them). For each command and subcommand ("config|get") it holds each distinct INFO and DOCS
reply once, with the servers that give it. A target whose server runs here (redis-6.2, redis-7.0,
redis-8.2, valkey-8.1, valkey-9.1) has exactly that server's commands and replies; another target has
those of the nearest older server of its family, plus what a newer one has whose "since" (COMMAND DOCS)
is not after the target (redis-7.4: Redis 7.0's commands, and HEXPIRE with Redis 8.2's entry).

Serve runs a command when the target has it and a handler is registered for it: the commands it
dispatches are exactly those COMMAND lists. To add a command, register its handler in one place:

- a data command: ``@command("name", arity, write=...)`` on its function in keyspace/commands/<type>.py
  (a container lists the subcommands it runs: ``subcommands="create setid ..."``);
- a connection or server command: one line in ``table()`` of server/commands.py; a subcommand of a
  container is its own line, named "container|sub" (the container's line handles a bare call, as COMMAND);
  a server container takes over the subcommands the engine registered for it unless it lists them. A
  container listing no subcommand runs all of the target's through its handler (list them to be exact).
  A container's HELP needs no line: it answers the target server's own text (from the data).

Arity, flags (write, noscript, no-multi, no-auth, blocking ...), key specs, ACL categories and the
replies of COMMAND come from here; the registered arity must equal the newest server's (a test checks:
the engine replays an AOF with it, while dispatch checks each target's own). Dispatch reads one record
per command name, cached by spelling; ``Server.resolve(args)`` gives the record of a call (its
subcommand's for a container) for checks made elsewhere, as a script's (``"noscript" in spec.flags``).

To refresh the data after a server is added or upgraded: ``scripts/command_table.py`` (and
``--check`` to compare without writing).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from rdbtools.keyspace.commands import Command, CommandError, Map, Status
from rdbtools.rdb.targets import Target
from rdbtools.server import replies
from rdbtools.server.protocol import SetReply

Version = tuple[int, int]
TABLE = Path(__file__).with_name("command_table.json")
#: Redis 6.2 has no COMMAND DOCS and these left Redis in 7.0, so no server here documents their "since"
_SINCE_UNDOCUMENTED: dict[str, Version] = {"stralgo": (6, 0), "host:": (3, 2), "post": (3, 2)}


@dataclass(frozen=True)
class KeySpec:
    """A key spec (Redis 7.0+): where the keys begin (index or keyword) and how they are found."""

    flags: tuple[str, ...]  # as the server names them, in its order: ("RW", "access", "delete")
    begin: str  # "index", "keyword" or "unknown"
    index: int = 0
    keyword: bytes = b""
    startfrom: int = 0
    find: str = "unknown"  # "range", "keynum" or "unknown"
    lastkey: int = 0
    keystep: int = 1
    limit: int = 0
    keynumidx: int = 0
    firstkey: int = 0


@dataclass(eq=False, slots=True)
class CommandSpec:
    """A command (or subcommand) of the target, as serve runs it."""

    name: bytes  # the full name, lower-case: b"get", b"config|get"
    arity: int
    flags: frozenset[str]
    handler: Callable | None  # a server command: (client, args) -> reply
    command: Command | None  # a data command: the engine's
    info: list  # the COMMAND INFO entry (a container's lists the subcommands serve has)
    docs: Map | None  # the COMMAND DOCS entry (None before Redis 7.0)
    subcommands: dict[bytes, CommandSpec] | None = None  # a container (7.0+): by lower-case name
    key_specs: tuple[KeySpec, ...] = ()
    acl_categories: frozenset[str] = frozenset()  # without "@", lower-case
    module: str | None = None
    no_auth: bool = False
    no_multi: bool = False
    write: bool = False  # the "write" flag: refused while persistence fails (MISCONF)
    shape: Callable | None = None  # (args, reply, resp3) -> the reply as sent, where RESP3 differs (replies.py)
    arity_error: str = ""  # dispatch's, naming the command as the server does ('config|get', 'VADD')
    protected: str | None = None  # the directive this server's clients need to run it (protection.py)
    calls: int = 0  # INFO commandstats (CONFIG RESETSTAT zeroes them)
    failed_calls: int = 0
    rejected_calls: int = 0

    @property
    def reply_name(self) -> bytes:
        """The name as the server spells it in replies (module commands keep their case: VADD)."""
        return self.info[0]


# --- the data --------------------------------------------------------------------------------------

@cache
def _data() -> dict:
    return json.loads(TABLE.read_text())


@cache
def _containers() -> frozenset[bytes]:
    """The commands that have subcommands (from Redis 7.0: before, a command parsed its own)."""
    return frozenset(name.split("|")[0].encode() for name in _data()["commands"] if "|" in name)


def _version(text: str) -> Version:
    major, minor = text.split(".")[:2]
    return int(major), int(minor)


def _family(server: str) -> str:
    return server.split("-")[0]


def _live(target: Target) -> list[str]:
    """The servers of the target's family, the nearest first: the newest at or below its version, then
    newer ones up, then older ones down."""
    family = "valkey" if target.valkey_server else "redis"
    servers = sorted((s for s in _data()["servers"] if _family(s) == family),
                     key=lambda s: _version(_data()["servers"][s]))
    below = [s for s in servers if _version(_data()["servers"][s]) <= target.version]
    above = [s for s in servers if s not in below]
    return below[::-1][:1] + above + below[::-1][1:]


def _variant(variants: list, servers: list[str]) -> Any:
    """The reply of the first server (in preference order) that gives one (JSON: its shape is the data's)."""
    for server in servers:
        for holders, value in variants:
            if server in holders:
                return value
    return None


def _since(name: str, entry: dict, family: str) -> Version | None:
    for holders, docs in reversed(entry["docs"]):
        if any(_family(s) == family for s in holders) and docs.get("since"):
            return _version(docs["since"])
    return _SINCE_UNDOCUMENTED.get(name)


def has(target: Target, name: str) -> bool:
    """Whether the target's server has a command or subcommand (lower-case full name)."""
    entry = _data()["commands"].get(name)
    if entry is None:
        return False
    servers = _live(target)
    holders = {s for held, _ in entry["info"] for s in held}
    base = servers[0]
    if _version(_data()["servers"][base]) == target.version:
        return base in holders
    family = _family(base)
    since = _since(name, entry, family)
    if _version(_data()["servers"][base]) < target.version:
        if base in holders:
            return True
        # added since the base server: a newer server has it, and its "since" is not after the target
        newer = {s for s in servers if _version(_data()["servers"][s]) > target.version}
        return since is not None and since <= target.version and bool(holders & newer)
    return base in holders and (since is None or since <= target.version)  # older than every server here


# --- replies as protocol values ----------------------------------------------------------------------

def _value(data: Any) -> Any:
    """A stored reply (JSON with statuses as {"+": s}, sets as {"~": [...]}) as protocol values (shaped as the
    data is: an INFO entry is a list, a DOCS entry a Map)."""
    if isinstance(data, str):
        return data.encode()
    if isinstance(data, list):
        return [_value(x) for x in data]
    if isinstance(data, dict):
        if len(data) == 1 and "-" in data:
            return CommandError(data["-"])
        if len(data) == 1 and "+" in data:
            return Status(data["+"])
        if len(data) == 1 and "~" in data:
            return SetReply(_value(x) for x in data["~"])
        return Map((k.encode(), _value(v)) for k, v in data.items())
    return data


def _names(values) -> frozenset[str]:
    return frozenset(str(v).lower().lstrip("@").replace("-", "_") for v in values)


def _key_spec(spec: Map) -> KeySpec:
    begin, find = spec[b"begin_search"], spec[b"find_keys"]
    where, how = begin[b"spec"], find[b"spec"]
    return KeySpec(flags=tuple(spec[b"flags"]), begin=begin[b"type"].decode(), index=where.get(b"index", 0),
                   keyword=where.get(b"keyword", b""), startfrom=where.get(b"startfrom", 0),
                   find=find[b"type"].decode(), lastkey=how.get(b"lastkey", 0), keystep=how.get(b"keystep", 1),
                   limit=how.get(b"limit", 0), keynumidx=how.get(b"keynumidx", 0), firstkey=how.get(b"firstkey", 0))


# --- building a target's records ---------------------------------------------------------------------

#: what a registration gives: a server handler or an engine command
Registered = tuple[Callable | None, Command | None]


def build(target: Target, registered: dict[bytes, Registered]) -> dict[bytes, CommandSpec]:
    """The target's commands that serve runs, by lower-case name: those the target has and a handler
    is registered for ("container|sub" for subcommands)."""
    servers = _live(target)
    commands = _data()["commands"]
    specs: dict[bytes, CommandSpec] = {}
    for name, (handler, command) in registered.items():
        text = name.decode()
        if b"|" in name or not has(target, text):
            continue
        spec = _record(name, commands[text], servers, handler, command)
        if spec.subcommands is not None:
            _add_subcommands(spec, target, registered, servers)
        elif handler is not None and commands[text].get("help"):  # before 7.0: the handler parses its own
            spec.handler = _with_help(handler, _value(_variant(commands[text]["help"], servers)))
        specs[name] = spec
    return specs


def _record(name: bytes, entry: dict, servers: list[str], handler, command) -> CommandSpec:
    info = _value(_variant(entry["info"], servers))
    raw_docs = _variant(entry["docs"], servers)
    docs = _value(raw_docs) if raw_docs is not None and len(info) > 7 else None
    flags = _names(info[2])
    container = len(info) > 9 and name in _containers()
    # a module command says -1 and checks its arguments itself: dispatch checks the handler's arity
    arity = command.arity if command is not None and "module" in flags else info[1]
    return CommandSpec(name=name, arity=arity, flags=flags, handler=handler, command=command, info=info,
                       docs=docs, subcommands={} if container else None,
                       key_specs=tuple(_key_spec(s) for s in info[8]) if len(info) > 8 else (),
                       acl_categories=_names(info[6]) if len(info) > 6 else frozenset(),
                       module=docs.get(b"module", b"").decode() or None if docs is not None else None,
                       no_auth="no_auth" in flags or name == b"quit",  # QUIT: before any check in Redis 6.2
                       no_multi="no_multi" in flags, write="write" in flags,
                       shape=None if command is None else replies.shape_of(command.name),
                       arity_error=f"ERR wrong number of arguments for '{info[0].decode()}' command")


def _with_help(handler: Callable, reply: object) -> Callable:
    """A container's handler that answers HELP with the server's own lines (Redis 6.2)."""
    def run(client, args: list[bytes]) -> object:
        if len(args) == 2 and args[1].lower() == b"help":
            return reply
        return handler(client, args)
    return run


def _add_subcommands(container: CommandSpec, target: Target, registered: dict[bytes, Registered],
                     servers: list[str]) -> None:
    commands = _data()["commands"]
    subcommands = container.subcommands
    assert subcommands is not None, "build() adds subcommands to containers only"
    prefix = container.name + b"|"
    listed = [name for name in registered if name.startswith(prefix)]
    if not listed:  # a container listing none runs all the target's through its own handler
        registered = {**registered, **{name.encode(): (container.handler, container.command)
                                       for name in commands if name.startswith(prefix.decode())
                                       and name != (prefix + b"help").decode()}}
    for name, (handler, command) in registered.items():
        if name.startswith(prefix) and has(target, name.decode()):
            sub = _record(name, commands[name.decode()], servers, handler, command)
            subcommands[name[len(prefix):]] = sub
    helps = commands[container.name.decode()].get("help")
    if b"help" not in subcommands and helps and has(target, (prefix + b"help").decode()):
        reply = _value(_variant(helps, servers))  # HELP comes with every container: the server's own text
        subcommands[b"help"] = _record(prefix + b"help", commands[(prefix + b"help").decode()], servers,
                                                 lambda client, args: reply, None)
    subs = [subcommands[n] for n in sorted(subcommands)]
    container.info = [*container.info[:9], [s.info for s in subs]]
    if container.docs is not None:
        container.docs = Map({**container.docs, b"subcommands": Map((s.reply_name, s.docs) for s in subs)})
