"""Server commands a client may call on any standalone Redis: CLUSTER (and READONLY, READWRITE,
ASKING) refused as a server without cluster support refuses them, REPLICAOF NO ONE, MODULE LIST of no
modules, SLOWLOG fed by real timings, LATENCY with no events, MEMORY USAGE / STATS / DOCTOR with
plausible figures. Texts are Redis 7's."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from rdbtools.keyspace.commands import OK, SYNTAX, CommandError, Double, Map, integer, subcommand_error
from rdbtools.server import latency, memory
from rdbtools.server.attached import attached
from rdbtools.server.clients import Client
from rdbtools.server.memory import table_size
from rdbtools.server.protocol import Verbatim
from rdbtools.server.redaction import redacted

if TYPE_CHECKING:
    from rdbtools.rdb.targets import Target
    from rdbtools.server.core import Server

NO_CLUSTER = "ERR This instance has cluster support disabled"
#: each subcommand's arity (Redis's: n exactly n arguments, -n at least n), by (command, subcommand)
SUBCOMMANDS: dict[bytes, dict[bytes, int]] = {
    b"slowlog": {b"get": -2, b"len": 2, b"reset": 2},
    b"latency": {b"latest": 2, b"history": 3, b"reset": -2, b"graph": 3, b"doctor": 2, b"histogram": -2},
    b"memory": {b"usage": -3, b"stats": 2, b"doctor": 2, b"malloc-stats": 2, b"purge": 2},
    b"module": {b"list": 2, b"load": -3, b"loadex": -3, b"unload": 3},
}
#: those Redis 6.2 has not (tests/server/test_protected_actions.py asks 6.2 for MODULE LOADEX)
_SINCE_7 = frozenset({(b"module", b"loadex")})

def table(server: Server) -> dict[bytes, tuple[Callable, int]]:
    """name -> (handler, Redis's arity), merged into serve's server commands."""
    s = server
    return {
        b"cluster": (_no_cluster, -2), b"readonly": (_no_cluster, 1), b"readwrite": (_no_cluster, 1),
        b"asking": (_no_cluster, 1),
        b"replicaof": (lambda c, a: _replicaof(a), 3), b"slaveof": (lambda c, a: _replicaof(a), 3),
        b"module": (lambda c, a: _subcommand(s, c, a, _module), -2),
        b"slowlog": (lambda c, a: _subcommand(s, c, a, _slowlog), -2),
        b"latency": (lambda c, a: _subcommand(s, c, a, _latency), -2),
        b"memory": (lambda c, a: _subcommand(s, c, a, _memory), -2),
    }


def _no_cluster(client: Client, args: list[bytes]):
    raise CommandError(NO_CLUSTER)


def _subcommand(server: Server, client: Client, args: list[bytes], handler: Callable):
    """Unknown names and wrong arities told as Redis tells them (from 7.0 the command table's dispatch
    tells them first, and answers HELP with the server's own text)."""
    name, sub = args[0].lower(), args[1].lower()
    target = server.config.target
    before_7 = target.version < (7, 0) and not target.valkey_server
    arity = None if before_7 and (name, sub) in _SINCE_7 else SUBCOMMANDS[name].get(sub)
    if arity is None or (arity > 0 and len(args) != arity) or len(args) < -arity:
        if before_7:  # 6.2's commands parse their own
            raise subcommand_error(args, target)
        if arity is None:
            raise CommandError(f"ERR unknown subcommand '{args[1].decode('utf-8', 'replace')[:128]}'. "
                               f"Try {name.decode().upper()} HELP.")
        raise CommandError(f"ERR wrong number of arguments for '{name.decode()}|{sub.decode('utf-8', 'replace')}' "
                           f"command")
    return handler(server, client, args, sub)




# --- replication: serve replicates from nobody (as a master: replication.py) ------------------------

def _replicaof(args: list[bytes]):
    if args[1].lower() == b"no" and args[2].lower() == b"one":
        return OK
    port = integer(args[2], "ERR Invalid master port")
    if not 0 <= port <= 65535:
        raise CommandError("ERR Invalid master port")
    raise CommandError("ERR rdbtool serve does not replicate: REPLICAOF NO ONE is the only form it takes")


def _module(server: Server, client: Client, args: list[bytes], sub: bytes):
    """MODULE LIST: the modules the target has built in; serve loads none (where enable-module-command
    refuses LOAD, dispatch does: protection.py)."""
    if sub == b"list":
        return loaded_modules(server.config.target)
    if sub == b"unload":
        raise CommandError("ERR Error unloading module: no such module with that name")
    raise CommandError("ERR Error loading the extension. Please check the server logs.")


def loaded_modules(target: Target) -> list[Map]:
    """The modules the target has built in (Redis 8: vectorset; Valkey 9: lua), as MODULE LIST and HELLO
    describe them (a map each in RESP3)."""
    if target.valkey_server:
        builtin = [(b"lua", b"lua")] if target.version >= (9, 0) else []
    else:
        builtin = [(b"vectorset", b"")] if target.version >= (8, 0) else []
    return [Map({b"name": name, b"ver": 1, b"path": path, b"args": []}) for name, path in builtin]


# --- SLOWLOG -------------------------------------------------------------------------------------

MAX_ARGS, MAX_STRING = 32, 128
#: the table's flags of commands kept out of the slow log (EXEC: its commands are the ones timed)
_UNLOGGED = frozenset(("skip_slowlog", "skip_commandlog"))


class SlowLog:
    """The newest entries first, as Redis keeps them (up to slowlog-max-len)."""

    def __init__(self) -> None:
        self.entries: deque[list] = deque()
        self.next_id = 0

    def add(self, client: Client, args: list[bytes], micros: int, now: float, max_len: int) -> None:
        shown = [_trimmed(a) for a in redacted(args)[:MAX_ARGS]]
        if len(args) > MAX_ARGS:
            shown[-1] = b"... (%d more arguments)" % (len(args) - MAX_ARGS + 1)
        self.entries.appendleft([self.next_id, int(now), micros, shown, client.address.encode(), client.name])
        self.next_id += 1
        while len(self.entries) > max_len:
            self.entries.pop()


def _trimmed(arg: bytes) -> bytes:
    if len(arg) <= MAX_STRING:
        return arg
    return arg[:MAX_STRING] + b"... (%d more bytes)" % (len(arg) - MAX_STRING)


def record_timing(server: Server, client: Client, args: list[bytes], seconds: float) -> None:
    """A command that took ``seconds``: a latency sample ("command", or "fast-command" for the table's fast
    ones) if that reaches latency-monitor-threshold, into the slow log if it reaches slowlog-log-slower-than."""
    micros, config = int(seconds * 1_000_000), server.config
    latency_ms, slowlog = config["latency-monitor-threshold"], config["slowlog-log-slower-than"]
    sampled, logged = 0 < latency_ms <= micros // 1000, 0 <= slowlog <= micros
    spec = server.resolve(args) if args and (sampled or logged) else None  # (a quick command costs no lookup)
    if spec is None:
        return
    if sampled:
        latency.sample(server, b"fast-command" if "fast" in spec.flags else b"command", micros // 1000)
    if logged and not _UNLOGGED & spec.flags:
        slow_log(server).add(client, args, micros, time.time(), config["slowlog-max-len"])


def slow_log(server: Server) -> SlowLog:
    return attached(server, SlowLog)


def _slowlog(server: Server, client: Client, args: list[bytes], sub: bytes):
    log = slow_log(server)
    if sub == b"len":
        return len(log.entries)
    if sub == b"reset":
        log.entries.clear()
        return OK
    if len(args) > 3:
        raise subcommand_error(args, server.config.target)
    count = 10
    if len(args) == 3:
        count = integer(args[2], "ERR count should be greater than or equal to -1")
        if count < -1:
            raise CommandError("ERR count should be greater than or equal to -1")
        if count == -1:
            count = len(log.entries)
    return [list(entry) for entry in list(log.entries)[:count]]


# --- LATENCY: the events latency.py samples --------------------------------------------------------------

LATENCY_DISABLED = ("I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this Redis instance. You "
                    "may use \"CONFIG SET latency-monitor-threshold <milliseconds>.\" in order to enable it. If we "
                    "weren't in a deep space mission I'd suggest to take a look at {}.\n")
LATENCY_PAGE = "https://redis.io/topics/latency-monitor"
LATENCY_PAGE_8 = "https://redis.io/docs/latest/operate/oss_and_stack/management/optimization/latency-monitor"
LATENCY_CALM = ("Dave, no latency spike was observed during the lifetime of this Redis instance, not in the "
                "slightest bit. I honestly think you ought to sit down calmly, take a stress pill, and think things "
                "over.\n")
VALKEY_LATENCY_DISABLED = ("I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this Valkey instance. "
                           "You may use \"CONFIG SET latency-monitor-threshold <milliseconds>.\" in order to enable "
                           "it.\n")
VALKEY_LATENCY_CALM = ("No latency spike was observed during the lifetime of this Valkey instance, not in the "
                       "slightest bit.\n")


def _latency_doctor(server: Server) -> Verbatim:
    target, monitoring = server.config.target, server.config["latency-monitor-threshold"]
    if latency.monitor(server):
        text = latency.doctor_report(latency.monitor(server), server.config, target, int(time.time()))
    elif target.valkey_server:
        text = VALKEY_LATENCY_CALM if monitoring else VALKEY_LATENCY_DISABLED
    elif monitoring:
        text = LATENCY_CALM
    else:
        text = LATENCY_DISABLED.format(LATENCY_PAGE_8 if target.version >= (8, 0) else LATENCY_PAGE)
    return Verbatim(text.encode(), b"txt")


def _latency(server: Server, client: Client, args: list[bytes], sub: bytes):
    if sub == b"latest":
        return latency.latest(server)
    if sub == b"history":
        return latency.history(server, args[2])
    if sub == b"reset":
        return latency.reset(server, args[2:])
    if sub == b"graph":
        return _latency_graph(server, args[2])
    if sub == b"doctor":
        return _latency_doctor(server)
    return Map()  # HISTOGRAM: serve keeps no per-command latency histograms


def _latency_graph(server: Server, event: bytes) -> Verbatim:
    series = latency.monitor(server).get(event)
    if series is None:
        raise CommandError(f"ERR No samples available for event '{event.decode('utf-8', 'replace')}'")
    return Verbatim(latency.graph(event, series, int(time.time())), b"txt")


# --- MEMORY: figures of the same order as Redis's -----------------------------------------------------

MEMORY_DOCTOR_EMPTY = ("Hi Sam, this instance is empty or is using very little memory, my issues detector can't be "
                       "used in these conditions. Please, leave for your mission on Earth and fill it with some "
                       "data. The new Sam and I will be back to our programming as soon as I finished rebooting.\n")
MEMORY_DOCTOR_HEALTHY = ("Hi Sam, I can't find any memory issue in your instance. I can only account for what "
                         "occurs on this base.\n")
_EMPTY_ENOUGH = 5 * 1024 * 1024  # Redis's doctor has nothing to say below 5 MB of data


def _memory(server: Server, client: Client, args: list[bytes], sub: bytes):
    if sub == b"usage":
        return _memory_usage(server, client, args)
    if sub == b"stats":
        return _memory_stats(server)
    if sub == b"doctor":
        small = _dataset_below(server, _EMPTY_ENOUGH)
        return (MEMORY_DOCTOR_EMPTY if small else MEMORY_DOCTOR_HEALTHY).encode()
    if sub == b"malloc-stats":
        return b"Stats not supported for the current allocator"
    return OK  # PURGE


def _memory_usage(server: Server, client: Client, args: list[bytes]):
    """MEMORY USAGE key [SAMPLES n]: the estimate of Redis's objectComputeSize (server/memory.py); SAMPLES 0
    averages every element."""
    samples, i = memory.SAMPLES, 3
    while i < len(args):
        if args[i].upper() == b"SAMPLES" and i + 1 < len(args):
            samples = integer(args[i + 1])
            if samples < 0:
                raise CommandError(SYNTAX)
            i += 2
        else:
            raise CommandError(SYNTAX)
    entry = server.engine.keyspace.db(client.db).get(args[2])
    if entry is None or (entry.expire_ms is not None and entry.expire_ms <= server.clock() * 1000):
        return None
    return memory.key_usage(args[2], entry, server.config.target, samples)


def _dataset_below(server: Server, limit: int) -> bool:
    """Whether the keys, as Redis would hold them, take less than ``limit`` bytes."""
    return server.engine.memory.dataset(server.engine.keyspace) < limit


def _memory_stats(server: Server) -> Map:
    """MEMORY STATS from the memory model (what INFO memory reads)."""
    model = server.engine.memory
    used = model.used(server.engine.keyspace)
    at_start, startup = model.startup
    keys = sum(len(k) for k in server.engine.keyspace.dbs.values())
    overhead = at_start + model.buckets(server.engine.keyspace)
    dataset = used - overhead
    stats = Map({
        b"peak.allocated": model.peak, b"total.allocated": used, b"startup.allocated": startup,
        b"replication.backlog": 0, b"clients.slaves": 0, b"clients.normal": 0,
        b"cluster.links": 0, b"aof.buffer": 0, b"lua.caches": 0, b"functions.caches": 200,
    })
    for db, found in sorted(server.engine.keyspace.dbs.items()):  # each database's tables, as Redis tells them
        if found:
            expires = sum(e.expire_ms is not None for e in found.values())
            stats[b"db.%d" % db] = Map({b"overhead.hashtable.main": 24 * len(found) + 8 * table_size(len(found)),
                                        b"overhead.hashtable.expires": 24 * expires + 32 * bool(expires)})
    stats.update({
        b"overhead.total": overhead, b"keys.count": keys, b"keys.bytes-per-key": dataset // keys if keys else 0,
        b"dataset.bytes": dataset, b"dataset.percentage": Double(100.0 * dataset / max(used - startup, 1)),
        b"peak.percentage": Double(100.0 * used / model.peak), b"allocator.allocated": used,
        b"allocator.active": used, b"allocator.resident": used, b"allocator-fragmentation.ratio": Double(1.0),
        b"allocator-fragmentation.bytes": 0, b"allocator-rss.ratio": Double(1.0), b"allocator-rss.bytes": 0,
        b"rss-overhead.ratio": Double(1.0), b"rss-overhead.bytes": 0, b"fragmentation": Double(1.0),
        b"fragmentation.bytes": 0,
    })
    return stats
