"""Connection and server commands (the data commands are the keyspace engine's): PING, AUTH, HELLO,
CLIENT, SELECT, MULTI/EXEC/WATCH, pub/sub, SCAN/KEYS, INFO, CONFIG, SAVE/BGSAVE, SHUTDOWN, DEBUG ..."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rdbtools.formats.listpack import entry_size
from rdbtools.formats.ziplist import encode_ziplist
from rdbtools.keyspace.commands import (
    NULL_ARRAY,
    OK,
    SYNTAX,
    CommandError,
    Double,
    Status,
    integer,
    subcommand_error,
)
from rdbtools.keyspace.commands.scanning import scan_cursor
from rdbtools.keyspace.encodings import encoding_of
from rdbtools.keyspace.model import Entry
from rdbtools.rdb.filters import glob_to_regex
from rdbtools.rdb.targets import Target
from rdbtools.rdb.writer import encode_value, quicklist_nodes
from rdbtools.server import admin, digest, eviction, migrate, protection, replication
from rdbtools.server.attached import attached
from rdbtools.server.clients import NO_REPLY, Client, client_command, dirty_cas, stored_state, watched_key_expired
from rdbtools.server.config import ConfigError, ServerConfig
from rdbtools.server.failpoints import FailpointError, debug_failpoint
from rdbtools.server.info import command_specs
from rdbtools.server.protocol import Attributed, BigNumber, Map, Push, SetReply, Verbatim
from rdbtools.server.timing import Timing

if TYPE_CHECKING:
    from rdbtools.server.command_table import CommandSpec
    from rdbtools.server.core import Server

log = logging.getLogger("rdbtool.serve")

Handler = Callable[[Client, list[bytes]], object]


def table(server: Server) -> dict[bytes, tuple[Handler, int]]:
    """name -> (handler, Redis's arity): the connection and server commands serve runs. A container's
    subcommands are lines of their own, "container|sub" (command_table.py says how commands are added)."""
    s = server
    client, config, pubsub = (lambda c, a: client_command(s, c, a)), (lambda c, a: _config(s, c, a)), \
        (lambda c, a: _pubsub(s, a))
    objects, commands = (lambda c, a: _object(s, c, a)), (lambda c, a: _command(s, c, a))
    functions, scripts = (lambda c, a: _function(s, c, a)), (lambda c, a: s.scripting.script(c, a))
    return {
        b"ping": (lambda c, a: _ping(s, c, a), -1),
        b"echo": (lambda c, a: a[1], 2),
        b"select": (lambda c, a: _select(s, c, a), 2),
        b"auth": (lambda c, a: _auth(s, c, a), -2),
        b"acl": (lambda c, a: s.acl.command(c, a), -2),
        b"hello": (lambda c, a: _hello(s, c, a), -1),
        b"client": (client, -2),
        b"client|setname": (client, 3),
        b"client|getname": (client, 2),
        b"client|id": (client, 2),
        b"client|info": (client, 2),
        b"client|list": (client, -2),
        b"client|setinfo": (client, 4),
        b"client|kill": (client, -3),
        b"client|reply": (client, 3),
        b"client|no-evict": (client, 3),
        b"client|no-touch": (client, 3),
        b"client|unblock": (client, -3),
        b"client|pause": (client, -3),
        b"client|unpause": (client, 2),
        b"client|tracking": (client, -3),
        b"client|caching": (client, 3),
        b"client|getredir": (client, 2),
        b"client|trackinginfo": (client, 2),
        b"quit": (lambda c, a: _quit(c), -1),
        b"reset": (lambda c, a: _reset(s, c), 1),
        b"monitor": (lambda c, a: _monitor(s, c), 1),
        b"migrate": (lambda c, a: migrate.migrate(s, c, a), -6),
        b"multi": (lambda c, a: _multi(c), 1),
        b"exec": (lambda c, a: _exec(s, c), 1),
        b"discard": (lambda c, a: _discard(c), 1),
        b"watch": (lambda c, a: _watch(s, c, a), -2),
        b"unwatch": (lambda c, a: _unwatch(c), 1),
        b"subscribe": (lambda c, a: _subscribe(s, c, a[1:], _CHANNELS), -2),
        b"psubscribe": (lambda c, a: _subscribe(s, c, a[1:], _PATTERNS), -2),
        b"ssubscribe": (lambda c, a: _ssubscribe(s, c, a[1:]), -2),
        b"unsubscribe": (lambda c, a: _unsubscribe(s, c, a[1:], _CHANNELS), -1),
        b"punsubscribe": (lambda c, a: _unsubscribe(s, c, a[1:], _PATTERNS), -1),
        b"sunsubscribe": (lambda c, a: _unsubscribe(s, c, a[1:], _SHARD), -1),
        b"publish": (lambda c, a: replication.published(s, c, a, s.publish(a[1], a[2])), 3),
        b"spublish": (lambda c, a: replication.published(s, c, a, s.spublish(a[1], a[2])), 3),
        b"pubsub": (pubsub, -2),
        b"pubsub|channels": (pubsub, -2),
        b"pubsub|numsub": (pubsub, -2),
        b"pubsub|numpat": (pubsub, 2),
        b"pubsub|shardchannels": (pubsub, -2),
        b"pubsub|shardnumsub": (pubsub, -2),
        b"keys": (lambda c, a: _keys(s, c, a), 2),
        b"scan": (lambda c, a: _scan(s, c, a), -2),
        b"randomkey": (lambda c, a: _randomkey(s, c), 1),
        b"object": (objects, -2),
        b"object|encoding": (objects, 3),
        b"object|freq": (objects, 3),
        b"object|idletime": (objects, 3),
        b"object|refcount": (objects, 3),
        b"info": (lambda c, a: s.info([x.lower() for x in a[1:]]), -1),
        b"config": (config, -2),
        b"config|get": (config, -3),
        b"config|set": (config, -4),
        b"config|resetstat": (config, 2),
        b"config|rewrite": (config, 2),
        b"time": (lambda c, a: _time(s), 1),
        b"lastsave": (lambda c, a: s.persistence.lastsave, 1),
        b"save": (lambda c, a: _save(s), 1),
        b"bgsave": (lambda c, a: _bgsave(s, a), -1),
        b"bgrewriteaof": (lambda c, a: _bgrewriteaof(s), 1),
        b"shutdown": (lambda c, a: _shutdown(s, a), -1),
        b"debug": (lambda c, a: _debug(s, c, a), -2),
        b"command": (commands, -1),
        b"command|count": (commands, 2),
        b"command|list": (commands, -2),
        b"command|info": (commands, -2),
        b"command|docs": (commands, -2),
        b"command|getkeys": (commands, -3),
        b"command|getkeysandflags": (commands, -3),
        b"eval": (lambda c, a: s.scripting.eval(c, a, by_sha=False, read_only=False), -3),
        b"evalsha": (lambda c, a: s.scripting.eval(c, a, by_sha=True, read_only=False), -3),
        b"eval_ro": (lambda c, a: s.scripting.eval(c, a, by_sha=False, read_only=True), -3),
        b"evalsha_ro": (lambda c, a: s.scripting.eval(c, a, by_sha=True, read_only=True), -3),
        b"script": (scripts, -2),
        b"fcall": (lambda c, a: s.scripting.fcall(c, a, read_only=False), -3),
        b"fcall_ro": (lambda c, a: s.scripting.fcall(c, a, read_only=True), -3),
        b"function": (functions, -2),
        b"function|load": (functions, -3),
        b"function|delete": (functions, 3),
        b"function|flush": (functions, -2),
        b"function|list": (functions, -2),
        b"function|dump": (functions, 2),
        b"function|restore": (functions, -3),
        b"function|stats": (functions, 2),
        b"function|kill": (functions, 2),
        **admin.table(server),
        **replication.table(server),
    }


def _ping(server: Server, client: Client, args: list[bytes]) -> object:
    if len(args) > 2:
        raise CommandError("ERR wrong number of arguments for 'ping' command")
    if server.disk_failed():
        error = server.disk_error()  # Redis refuses PING too
        if error is not None:
            raise error
    if client.subscribed and client.resp == 2:
        return [b"pong", args[1] if len(args) == 2 else b""]
    return args[1] if len(args) == 2 else Status("PONG")


def _select(server: Server, client: Client, args: list[bytes]) -> object:
    index = integer(args[1], "ERR value is not an integer or out of range")
    if not 0 <= index < server.config["databases"]:
        raise CommandError("ERR DB index is out of range")
    client.db = index
    return OK


def _auth(server: Server, client: Client, args: list[bytes]) -> object:
    if len(args) > 3:
        raise CommandError(SYNTAX)
    if len(args) == 2 and server.acl.default.nopass:
        raise CommandError("ERR AUTH <password> called without any password configured for the default user. "
                           "Are you sure your configuration is correct?")
    user, given = (b"default", args[1]) if len(args) == 2 else (args[1], args[2])
    server.acl.authenticate(client, user, given, args[0])
    return OK


def _hello(server: Server, client: Client, args: list[bytes]) -> object:
    version, i = client.resp, 1
    if len(args) > 1:
        try:
            version = int(args[1])
        except ValueError:
            raise CommandError("ERR Protocol version is not an integer or out of range") from None
        if version not in (2, 3):
            raise CommandError("NOPROTO unsupported protocol version")
        i = 2
    while i < len(args):
        option = args[i].upper()
        if option == b"AUTH" and i + 2 < len(args):
            server.acl.authenticate(client, args[i + 1], args[i + 2], args[0])
            i += 3
        elif option == b"SETNAME" and i + 1 < len(args):
            client.name = args[i + 1]
            i += 2
        else:
            raise CommandError(f"ERR Syntax error in HELLO option '{args[i].decode('utf-8', 'replace')}'")
    if server.acl.auth_required(client):
        target = server.config.target
        proto = "<proto> " if target.valkey_server or target.version >= (7, 2) else ""  # 6.2 and 7.0: none
        raise CommandError(f"NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO "
                           f"{proto}AUTH <user> <pass> option can be used to authenticate the client and select the "
                           f"RESP protocol version at the same time")
    client.resp = version
    target = server.config.target
    return Map({b"server": b"valkey" if target.valkey_server else b"redis",
                b"version": target.server_version.encode(), b"proto": version, b"id": client.id,
                b"mode": b"standalone", b"role": b"master", b"modules": admin.loaded_modules(target)})


def _quit(client: Client) -> object:
    client.closing = True
    return OK


def _reset(server: Server, client: Client) -> object:
    client.multi, client.multi_failed, client.watched = None, False, {}
    server.tracking.disable(client)
    client.reply_mode = None
    server._unsubscribe_all(client)
    if client.monitoring:
        server.stop_monitoring(client)
    client.db, client.resp, client.name = 0, 2, b""
    if client.no_touch:
        client.no_touch = False
        server.no_touch_changed(False)
    server.acl.new_client(client)
    return Status("RESET")


def _monitor(server: Server, client: Client) -> object:
    """MONITOR: the client is sent each command run from now on (again: ignored, no reply)."""
    if server.in_transaction:  # from EXEC: Redis's CLIENT_DENY_BLOCKING
        raise CommandError("ERR MONITOR isn't allowed for DENY BLOCKING client")
    if client.monitoring:
        return NO_REPLY
    client.monitoring = True
    server.subscribers.monitors.append(client)
    server.refresh()
    return OK


# --- transactions --------------------------------------------------------------------------------

def _multi(client: Client) -> object:
    if client.multi is not None:
        raise CommandError("ERR MULTI calls can not be nested")
    client.multi, client.multi_failed = [], False
    return OK


def _exec(server: Server, client: Client) -> object:
    if client.multi is None:
        raise CommandError("ERR EXEC without MULTI")
    queued, failed = client.multi, client.multi_failed
    client.multi, client.multi_failed = None, False
    touched = dirty_cas(server, client) or watched_key_expired(server, client)
    client.watched = {}
    _forget_watches(server)
    if failed:
        raise CommandError("EXECABORT Transaction discarded because of previous errors.")
    if touched:  # Redis answers the null array (*-1 in RESP2), not the null bulk string
        return NULL_ARRAY
    return server.run_transaction(client, queued)


def _discard(client: Client) -> object:
    if client.multi is None:
        raise CommandError("ERR DISCARD without MULTI")
    client.multi, client.multi_failed, client.watched = None, False, {}
    return OK


def _watch(server: Server, client: Client, args: list[bytes]) -> object:
    if client.multi is not None:
        raise CommandError("ERR WATCH inside MULTI is not allowed")
    target = server.config.target
    notes_expired = target.valkey_server or target.version >= (7, 0)  # (6.2 treats such a key as any other)
    for key in args[1:]:
        where = (client.db, key)
        if where not in client.watched:
            expired = notes_expired and stored_state(server, where) == "expired"
            client.watched[where] = (server.versions.setdefault(where, 0), expired)
    server.refresh()
    return OK


def _unwatch(client: Client) -> object:
    client.watched = {}
    return OK


def _forget_watches(server: Server) -> None:
    """Drop version counters no client watches any more (they only matter while watched)."""
    watched = {where for c in server.clients.values() for where in c.watched}
    for where in list(server.versions):
        if where not in watched:
            del server.versions[where]
    server.refresh()


# --- pub/sub ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Subscriptions:
    """One kind of subscription: the attribute naming it on the server and on the client, and the word of
    its replies (the unsubscribe word is "un" before it, after the s or p)."""

    attribute: str
    word: bytes
    shard: bool = False

    def registry(self, server: Server) -> dict[bytes, set[Client]] | None:
        """The server's subscribers by name (shard channels have none: they are found on the clients)."""
        return None if self.shard else getattr(server.subscribers, self.attribute)

    def count(self, client: Client) -> int:
        """What a reply counts: SSUBSCRIBE's its shard channels, the others channels and patterns."""
        return len(client.shard_channels) if self.shard else client.subscriptions


_CHANNELS = _Subscriptions("channels", b"subscribe")
_PATTERNS = _Subscriptions("patterns", b"psubscribe")
_SHARD = _Subscriptions("shard_channels", b"ssubscribe", shard=True)


def _subscribe(server: Server, client: Client, names: list[bytes], kind: _Subscriptions) -> object:
    registry, mine = kind.registry(server), getattr(client, kind.attribute)
    for name in names:
        if registry is not None:
            registry.setdefault(name, set()).add(client)
        mine.add(name)
        client.subscribed = True
        client.send(Push([kind.word, name, kind.count(client)]))
    return NO_REPLY


def _ssubscribe(server: Server, client: Client, names: list[bytes]) -> object:
    """SSUBSCRIBE: refused inside EXEC, unlike SUBSCRIBE (Redis denies it to a client that cannot block)."""
    if server.in_transaction:
        raise CommandError("ERR SSUBSCRIBE isn't allowed for a DENY BLOCKING client")
    return _subscribe(server, client, names, _SHARD)


def _unsubscribe(server: Server, client: Client, names: list[bytes], kind: _Subscriptions) -> object:
    registry, mine = kind.registry(server), getattr(client, kind.attribute)
    word = kind.word[:-9] + b"unsubscribe"
    targets = names or sorted(mine)
    if not targets:
        client.send(Push([word, None, kind.count(client)]))
    for name in targets:
        mine.discard(name)
        if registry is not None and (subscribers := registry.get(name)) is not None:
            subscribers.discard(client)
            if not subscribers:
                del registry[name]
        client.refresh_subscribed()
        client.send(Push([word, name, kind.count(client)]))
    return NO_REPLY


def _pubsub(server: Server, args: list[bytes]) -> object:
    sub = args[1].upper()
    target = server.config.target
    if sub.startswith(b"SHARD") and not target.valkey_server and target.version < (7, 0):
        raise subcommand_error(args, target)  # sharded pub/sub came with 7.0
    if sub in (b"CHANNELS", b"SHARDCHANNELS"):
        registry = server.subscribers.channels if sub == b"CHANNELS" else server.shard_channels
        pattern = glob_to_regex(args[2]) if len(args) > 2 else None
        return [c for c, subs in registry.items() if subs and (pattern is None or pattern.fullmatch(c))]
    if sub in (b"NUMSUB", b"SHARDNUMSUB"):
        registry = server.subscribers.channels if sub == b"NUMSUB" else server.shard_channels
        return [x for c in args[2:] for x in (c, len(registry.get(c, ())))]
    if sub == b"NUMPAT" and len(args) == 2:
        return sum(1 for subs in server.subscribers.patterns.values() if subs)
    raise subcommand_error(args, server.config.target)


# --- keys ------------------------------------------------------------------------------------------

def _live_keys(server: Server, db: int) -> dict:
    keys = server.engine.keyspace.db(db)
    now = int(server.clock() * 1000)
    for key in [k for k, e in keys.items() if e.expire_ms is not None and e.expire_ms <= now]:
        server.engine.expire(db, key)  # propagated and told "expired", as Redis's expireIfNeeded
        server.stats["expired_keys"] += 1
    return keys


def _keys(server: Server, client: Client, args: list[bytes]) -> object:
    """KEYS leaves the expired keys it passes over where they are (Redis's keyIsExpired), unlike SCAN."""
    pattern = glob_to_regex(args[1])
    now = int(server.clock() * 1000)
    return [k for k, e in server.engine.keyspace.db(client.db).items()
            if (e.expire_ms is None or e.expire_ms > now) and pattern.fullmatch(k)]


def _scan(server: Server, client: Client, args: list[bytes]) -> object:
    """SCAN cursor [MATCH p] [COUNT n] [TYPE t]: the cursor indexes a snapshot of the key names taken
    when a scan starts at 0, so every key present throughout is returned."""
    target = server.config.target
    cursor = scan_cursor(args[1], target.valkey_server or target.version >= (8, 0))
    pattern, count, kind, i = None, 10, None, 2
    while i < len(args):
        option = args[i].upper()
        if option == b"MATCH" and i + 1 < len(args):
            pattern = glob_to_regex(args[i + 1])
        elif option == b"COUNT" and i + 1 < len(args):
            count = integer(args[i + 1])
            if count < 1:
                raise CommandError(SYNTAX)
        elif option == b"TYPE" and i + 1 < len(args):
            kind = args[i + 1].decode("utf-8", "replace").lower()
        else:
            raise CommandError(SYNTAX)
        i += 2
    keys = _live_keys(server, client.db)
    if cursor == 0 or client.db not in client.scan_snapshots:
        client.scan_snapshots[client.db] = list(keys)
    snapshot = client.scan_snapshots[client.db]
    chosen = snapshot[cursor : cursor + count]
    following = cursor + count if cursor + count < len(snapshot) else 0
    found = [k for k in chosen if k in keys and (pattern is None or pattern.fullmatch(k))
             and (kind is None or keys[k].type == kind)]
    if following == 0:
        client.scan_snapshots.pop(client.db, None)
    return [b"%d" % following, found]


def _randomkey(server: Server, client: Client) -> object:
    keys = _live_keys(server, client.db)
    return random.choice(list(keys)) if keys else None


def _object(server: Server, client: Client, args: list[bytes]) -> object:
    sub = args[1].upper()
    if sub in (b"ENCODING", b"FREQ", b"IDLETIME", b"REFCOUNT") and len(args) == 3:
        entry = server.engine.peek(args[2], client.db)  # OBJECT is no access (Redis's LOOKUP_NOTOUCH)
        if entry is None:
            return None
        if sub == b"ENCODING":
            return encoding_of(entry, server.config.target, args[2]).encode()
        access = server.engine.access
        if sub == b"FREQ":
            if not access.lfu:
                raise CommandError(f"ERR An LFU maxmemory policy is not selected, access frequency not tracked. "
                                   f"{_POLICY_SWITCH}")
            return access.frequency(entry.lru)
        if sub == b"IDLETIME":
            if access.lfu:
                raise CommandError(f"ERR An LFU maxmemory policy is selected, idle time not tracked. {_POLICY_SWITCH}")
            return access.idle_ms(entry.lru) // 1000
        return _refcount(server, entry)
    raise subcommand_error(args, server.config.target)


SHARED_INTEGERS = 10000  # Redis's OBJ_SHARED_INTEGERS: strings 0..9999 are shared objects
SHARED_REFCOUNT = 2147483647  # what OBJECT REFCOUNT says of a shared object (OBJ_SHARED_REFCOUNT)


def _refcount(server: Server, entry: Entry) -> int:
    """OBJECT REFCOUNT: Redis before 8.0 stores a string holding 0..9999 as one shared object, unless a
    maxmemory with an LRU or LFU policy needs each key's own access field. Serve decides by the value and
    the policy now; Redis by those when the value was stored, and not for values APPEND or SETRANGE built."""
    from rdbtools.formats.numbers import canonical_int64

    if entry.type != "string" or len(entry.value) > 4 or server.config.target.embedded_keys:
        return 1
    number = canonical_int64(entry.value)
    if number is None or not 0 <= number < SHARED_INTEGERS:
        return 1
    access = server.engine.access
    return 1 if server.config["maxmemory"] and (access.lru or access.lfu) else SHARED_REFCOUNT


_POLICY_SWITCH = ("Please note that when switching between policies at runtime LRU and LFU data will take some time "
                  "to adjust.")


# --- server ----------------------------------------------------------------------------------------

def _config(server: Server, client: Client, args: list[bytes]) -> object:
    sub = args[1].upper()
    if server.config.target.version < (7, 0) and sub in (b"GET", b"SET") and len(args) != (3 if sub == b"GET" else 4):
        raise subcommand_error(args, server.config.target)  # one parameter each before 7.0
    if sub == b"GET" and len(args) >= 3:
        pairs = server.config.get([a.decode("utf-8", "replace") for a in args[2:]])
        return Map((name.encode(), value.encode()) for name, value in pairs)
    if sub == b"SET" and len(args) >= 4:
        before = server.config.backup()
        _config_set(server, client, args)
        _move_listeners(server, args, before)
        if not server.set_appendonly(server.config["appendonly"]):  # turning AOF on could not fork
            server.config.restore(before)
            log.warning("Failed applying new configuration. Possibly related to new appendonly setting. Restoring "
                        "previous settings.")
            raise CommandError("ERR CONFIG SET failed (possibly related to argument 'appendonly') - Unable to turn "
                               "on AOF. Check server logs.")
        if any(a.lower() == b"requirepass" for a in args[2::2]):
            server.acl.set_default_password(server.config["requirepass"])
        server.engine.target = server.config.target
        server.engine.max_string = server.config["proto-max-bulk-len"]
        server.configure_events()
        server.configure_access()
        attached(server, Timing).configure(server.config)
        eviction.configure(server, evict=any(a.lower() == b"maxmemory" for a in args[2::2]))
        server.subscribers.replication.configure(server)
        if server.aof is not None:
            server.aof.appender.configure(server.config)
            if any(a.lower() == b"aof-disable-auto-gc" for a in args[2::2]):
                server.aof.collect_history()  # turned off: the history files go now, as Redis deletes them
        return OK
    if sub == b"RESETSTAT" and len(args) == 2:
        for name in server.stats:
            server.stats[name] = 0
        server.error_replies.clear()
        for spec in command_specs(server):
            spec.calls = spec.failed_calls = spec.rejected_calls = 0
        return OK
    if sub == b"REWRITE" and len(args) == 2:
        raise CommandError("ERR CONFIG REWRITE is not supported by rdbtool serve")
    raise subcommand_error(args, server.config.target)


def _config_set(server: Server, client: Client, args: list[bytes]) -> None:
    """CONFIG SET name value [name value ...] as Redis 7 does it: every name checked first (the first
    problem told), then all set, or none when one value is refused."""
    if len(args) % 2:
        raise CommandError(SYNTAX)
    config = server.config
    names = [a.decode("utf-8", "replace") for a in args[2::2]]
    before_7 = config.target.version < (7, 0)
    if before_7 and (not config.known(names[0]) or not config.mutable(names[0])):
        raise CommandError(f"ERR Unsupported CONFIG parameter: {names[0]}")
    _config_set_names(config, client, names)
    saved = config.backup()
    for name, value in zip(names, args[3::2], strict=True):
        try:
            config.apply(name, [value.decode("utf-8", "surrogateescape")], where="", startup=False)
        except ConfigError as error:
            config.restore(saved)
            if before_7:
                raise CommandError(_refused_before_7(name, value, error.message)) from None
            raise CommandError(f"ERR CONFIG SET failed (possibly related to argument '{name.lower()}') - "
                               f"{error.message}") from None


def _move_listeners(server: Server, args: list[bytes], before: tuple[dict, dict, dict]) -> None:
    """CONFIG SET port, once every parameter is set (Redis's apply step): the listeners move, or the whole
    CONFIG SET is undone."""
    config, names = server.config, [a.lower() for a in args[2::2]]
    if b"port" not in names or config["port"] == before[0]["port"] or config.relisten is None:
        return
    if not config.relisten(config["port"]):
        config.restore(before)
        message = "Unable to listen on this port. Check server logs."
        if config.target.version < (7, 0):
            raise CommandError(_refused_before_7("port", args[3 + 2 * names.index(b"port")], message))
        raise CommandError(f"ERR CONFIG SET failed (possibly related to argument 'port') - {message}")


def _refused_before_7(name: str, value: bytes, message: str) -> str:
    """Redis 6.2's text for a refused value (its enums say "argument", its event classes nothing more)."""
    text = f"ERR Invalid argument '{value.decode('utf-8', 'replace')}' for CONFIG SET '{name}'"
    if name.lower() == "notify-keyspace-events":
        return text
    return f"{text} - {message.replace('argument(s) must', 'argument must')}"


def _config_set_names(config: ServerConfig, client: Client, names: list[str]) -> None:
    seen: set[str] = set()
    for name in names:
        if not config.known(name):
            raise CommandError(f"ERR Unknown option or number of arguments for CONFIG SET - '{name}'")
        problem = ("can't set immutable config" if not config.mutable(name)
                   else "can't set protected config" if protection.config_refused(config, client, name)
                   else "duplicate parameter" if name.lower() in seen else None)
        if problem is not None:
            raise CommandError(f"ERR CONFIG SET failed (possibly related to argument '{name}') - {problem}")
        seen.add(name.lower())


def _time(server: Server) -> object:
    now = server.clock()
    return [b"%d" % int(now), b"%d" % int((now % 1) * 1_000_000)]


def _save(server: Server) -> object:
    if server.persistence.child is not None:
        raise CommandError("ERR Background save already in progress")
    if not server.persistence.save():
        raise CommandError("ERR")
    return OK


def _bgsave(server: Server, args: list[bytes]) -> object:
    schedule = len(args) == 2 and args[1].upper() == b"SCHEDULE"
    if len(args) > 2 or (len(args) == 2 and not schedule):
        raise CommandError(SYNTAX)
    if server.persistence.child is not None and not schedule:
        raise CommandError("ERR Background save already in progress")
    if server.child_active():
        if schedule:
            server.persistence.scheduled = True
            return Status("Background saving scheduled")
        raise CommandError("ERR Another child process is active (AOF?): can't BGSAVE right now. "
                           "Use BGSAVE SCHEDULE in order to schedule a BGSAVE whenever possible.")
    if not server.persistence.bgsave():
        raise CommandError("ERR")  # the fork failed (Redis's shared.err; the log says why)
    server.children_changed()
    return Status("Background saving started")


def _bgrewriteaof(server: Server) -> object:
    """BGREWRITEAOF, with appendonly yes or no (Redis 7 writes a new base either way); scheduled while
    another child runs, or (7.0+) inside MULTI/EXEC."""
    aof, persistence = server.aof, server.persistence
    if (aof.child if aof is not None else persistence.aof_rewrite) is not None:
        raise CommandError("ERR Background append only file rewriting already in progress")
    since_7 = server.config.target.version >= (7, 0)
    if server.child_active() or (server.in_transaction and since_7):
        persistence.rewrite_stats.scheduled = True
        if since_7:
            persistence.rewrite_stats.failures_in_a_row = 0  # asked for: it may run at once
        return Status("Background append only file rewriting scheduled")
    if not (persistence.rewrite_off(server.engine) if aof is None else aof.start_rewrite(server.engine)):
        raise CommandError("ERR Can't execute an AOF background rewriting. Please check the server logs for more "
                           "information.")
    server.children_changed()
    return Status("Background append only file rewriting started")


def _shutdown(server: Server, args: list[bytes]) -> object:
    from rdbtools.server.core import Shutdown

    options = {a.upper() for a in args[1:]}
    if not options <= {b"NOSAVE", b"SAVE", b"NOW", b"FORCE", b"ABORT"} or {b"SAVE", b"NOSAVE"} <= options:
        raise CommandError(SYNTAX)
    save = b"SAVE" in options or (b"NOSAVE" not in options and bool(server.config["save"]))
    log.warning("User requested shutdown...")
    if server.aof is not None and server.aof.refuses_shutdown(b"FORCE" in options):
        raise CommandError("ERR Errors trying to SHUTDOWN. Check logs.")
    server.persistence.kill_child()
    if server.aof is not None:
        server.aof.kill_rewrite()
    if save:
        log.info("Saving the final RDB snapshot before exiting.")
        if not server.persistence.save():
            if b"FORCE" not in options:  # Redis's finishShutdown: the server keeps running
                log.warning("Error trying to save the DB, can't exit.")
                log.warning("Errors trying to shut down the server. Check the logs for more information.")
                raise CommandError("ERR Errors trying to SHUTDOWN. Check logs.")
            log.warning("Error trying to save the DB. Exit anyway.")
    log.warning("Redis is now ready to exit, bye bye...")
    raise Shutdown()


def _debug(server: Server, client: Client, args: list[bytes]) -> object:
    sub = args[1].upper()
    if sub == b"SLEEP" and len(args) == 3:
        time.sleep(float(args[2]))
        return OK
    if sub == b"SET-ACTIVE-EXPIRE" and len(args) == 3:
        server.active_expire = args[2] == b"1"
        return OK
    if sub == b"PAUSE-CRON" and len(args) == 3:  # the timer does nothing while paused (Redis's tests use it)
        server.pause.cron = args[2] != b"0"
        return OK
    if sub == b"RELOAD":
        if not server.persistence.save():
            raise CommandError("ERR Error trying to save the DB")
        server.engine.keyspace.dbs.clear()
        server.engine.keyspace.functions.clear()
        server.persistence.load(int(server.clock() * 1000))
        return OK
    if sub == b"FAILPOINT":
        try:
            listing = debug_failpoint(server.config.failpoints, args)
        except FailpointError as error:
            raise CommandError(f"ERR {error.message}") from None
        return OK if listing is None else listing
    if sub == b"LOADAOF" and len(args) == 2:
        server.load_aof()
        return OK
    if sub == b"POPULATE" and 3 <= len(args) <= 5:
        return _populate(server, client, args)
    if sub == b"DIGEST" and len(args) == 2:
        return Status(digest.dataset_digest(server.engine.keyspace.dbs, server.config.target).hex())
    if sub == b"DIGEST-VALUE":
        keys, target = server.engine.keyspace.db(client.db), server.config.target
        return [Status((digest.value_digest(keys[k], target) if k in keys else digest.EMPTY).hex()) for k in args[2:]]
    if sub == b"PROTOCOL" and len(args) == 3:
        return _protocol_sample(client, args[2].lower())
    if sub == b"LUA-ALWAYS-REPLICATE-COMMANDS" and len(args) == 3 and server.scripting.replicate_always(args[2]):
        return OK
    if sub in (b"JMAP", b"CHANGE-REPL-ID") and len(args) == 2:
        return OK
    if sub == b"OBJECT" and len(args) == 3:
        entry = server.engine.keyspace.db(client.db).get(args[2])
        if entry is None:
            raise CommandError("ERR no such key")
        target = server.config.target
        encoding = encoding_of(entry, target, args[2])
        idle = server.engine.access.idle_ms(entry.lru) // 1000  # (read as an LRU clock under LFU too)
        saved = len(encode_value(server.engine.keyspace.record(client.db, args[2], entry), target)[1])
        extra = _quicklist_fields(server, entry.type, entry.value, target) if encoding == "quicklist" else ""
        return Status(f"Value at:0x0 refcount:1 encoding:{encoding} serializedlength:{saved} lru:{entry.lru} "
                      f"lru_seconds_idle:{idle}{extra}")
    raise subcommand_error(args, server.config.target)


def _quicklist_fields(server: Server, kind: str, items: Collection[bytes], target: Target) -> str:
    """DEBUG OBJECT's quicklist fields: its nodes (as SAVE splits them), their mean entries, the fill
    (list-max-listpack-size as the quicklist clamps it), compression, the nodes' bytes."""
    fill = getattr(kind, "fill", target.list_max_listpack_size)  # (the list's own, made under another)
    target = target.with_list_fill(fill)
    nodes = quicklist_nodes(list(items), target)
    size = sum(len(node[0]) if plain else _node_bytes(node, target) for plain, node in nodes)
    depth = dict(server.config.get(["list-compress-depth"]))["list-compress-depth"]
    fill = min(max(fill, -5), 32767)  # (as quicklistSetFill keeps it)
    packs = "listpack" if target.listpacks else "ziplist"
    return (f" ql_nodes:{len(nodes)} ql_avg_node:{len(items) / len(nodes):.2f} ql_{packs}_max:{fill} "
            f"ql_compressed:{int(depth != '0')} ql_uncompressed_size:{size}")


def _node_bytes(node: list[bytes], target: Target) -> int:
    return 7 + sum(map(entry_size, node)) if target.listpacks else len(encode_ziplist(node))


def _populate(server: Server, client: Client, args: list[bytes]) -> object:
    """DEBUG POPULATE count [prefix] [size]: keys prefix:0 ... holding value:N (cut or zero-padded to
    size), existing keys left alone; not propagated, as Redis does not, but WATCH and tracking see them."""
    count = _positive(args[2])
    size = _positive(args[4]) if len(args) == 5 else 0
    prefix = args[3] if len(args) >= 4 else b"key"
    keys = server.engine.keyspace.db(client.db)
    for j in range(count):
        key = b"%s:%d" % (prefix, j)
        if server.engine.lookup(key, client.db) is not None:
            continue
        value = b"value:%d" % j
        keys[key] = Entry("string", value[:size].ljust(size, b"\0") if size else value)
        server.signal_modified(client.db, [key])
    return OK


def _positive(text: bytes) -> int:
    value = integer(text)
    if value < 0:
        raise CommandError("ERR value is out of range, must be positive")
    return value


#: DEBUG PROTOCOL's samples of each reply type (Redis's own values)
_SAMPLES: dict[bytes, Callable[[], object]] = {
    b"string": lambda: b"Hello World", b"integer": lambda: 12345, b"double": lambda: Double(3.141),
    b"bignum": lambda: BigNumber(b"1234567999999999999999999999999999999"), b"null": lambda: None,
    b"array": lambda: [0, 1, 2], b"set": lambda: SetReply([0, 1, 2]),
    b"map": lambda: Map({0: False, 1: True, 2: False}),
    b"attrib": lambda: Attributed(Map({b"key-popularity": [b"key:123", 90]}),
                                  b"Some real reply following the attribute"),
    b"true": lambda: True, b"false": lambda: False,
    b"verbatim": lambda: Verbatim(b"This is a verbatim\nstring", b"txt"),
}


def _protocol_sample(client: Client, name: bytes) -> object:
    """DEBUG PROTOCOL type: a sample reply of each RESP type, for clients to test their parsers."""
    if name == b"push":
        if client.resp < 3:
            raise CommandError("ERR RESP2 is not supported by this command")
        client.send(Push([b"server-cpu-usage", 42]))  # before the reply or after it, as the target sends it
        return b"Some real reply following the push reply"
    sample = _SAMPLES.get(name)
    if sample is None:
        raise CommandError("ERR Wrong protocol type name. Please use one of the following: "
                           "string|integer|double|bignum|null|array|set|map|attrib|push|verbatim|true|false")
    return sample()


def _command(server: Server, client: Client, args: list[bytes]) -> object:
    from rdbtools.server.introspection import command

    return command(server, args)


def _function(server: Server, client: Client, args: list[bytes]) -> object:
    """FUNCTION: STATS and KILL are the scripting engine's; a LOAD is compiled and run (its functions
    registered) before the keyspace stores the library; the rest is the keyspace engine's."""

    sub = args[1].upper()
    if sub == b"STATS" and len(args) == 2:
        return server.scripting.function_stats()
    if sub == b"KILL" and len(args) == 2:
        raise CommandError("NOTBUSY No scripts in execution right now.")
    if sub == b"LOAD" and len(args) in (3, 4):
        server.scripting.check_load(args[-1], len(args) == 4 and args[2].upper() == b"REPLACE")
    if sub == b"LIST":
        return server.scripting.function_list(args)
    return server._run_engine(_engine_record(server, args), client, args)


def _engine_record(server: Server, args: list[bytes]) -> CommandSpec:
    """The table's record of a FUNCTION subcommand, run by the keyspace engine (which stores, lists,
    dumps and persists the libraries)."""
    from dataclasses import replace

    from rdbtools.keyspace.commands import REGISTRY

    record = server.resolve(args)
    assert record is not None, "dispatch found the subcommand it runs"
    cached = server.engine_records.get(record.name)
    if cached is None:
        cached = server.engine_records[record.name] = replace(record, handler=None, command=REGISTRY[b"function"])
    return cached
