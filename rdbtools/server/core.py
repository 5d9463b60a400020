"""The server without sockets: a request from a client in, replies out, the keyspace and the
persistence state changed. Connection and server commands live here; data commands are the
keyspace engine's. The asyncio edge (app.py) owns sockets, timers and the clock."""

from __future__ import annotations

import functools
import logging
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, NamedTuple

from rdbtools.errors import Shutdown  # (Python: see errors.py)
from rdbtools.keyspace.commands import KEY_MISS, KEYEVENT, KEYSPACE, NULL_ARRAY, REGISTRY, Command, CommandError, Status
from rdbtools.keyspace.engine import NO_TOUCH, SAVING, Engine, UnknownCommand
from rdbtools.keyspace.propagation import CAPTURED, capture, effects
from rdbtools.rdb.filters import glob_to_regex
from rdbtools.server import client_eviction, command_table, eviction, info, latency, monitor, protection
from rdbtools.server.acl import Acl
from rdbtools.server.aof import AofPersistence
from rdbtools.server.appending import AofAppender
from rdbtools.server.attached import attached
from rdbtools.server.changes import Changes
from rdbtools.server.clients import Client, Subscribers, dirty_cas, stored_state
from rdbtools.server.commands import NO_REPLY, Handler, table
from rdbtools.server.config import ServerConfig
from rdbtools.server.memory import Memory
from rdbtools.server.persistence import RdbPersistence
from rdbtools.server.protocol import Push, Replies
from rdbtools.server.replication import NOT_FOR_AOF, RELATIVE_BEFORE_7, AofOnly, ReplicaForm, ReplicaOnly, relative_form
from rdbtools.server.replies import shaped
from rdbtools.server.timing import Timing
from rdbtools.server.tracking import Tracking

if TYPE_CHECKING:
    import re

    from rdbtools.keyspace.model import Entry
    from rdbtools.rdb.targets import Target
    from rdbtools.server.replication import Replication
    from rdbtools.server.scripting import Scripting

log = logging.getLogger("rdbtool.serve")

NOAUTH = "NOAUTH Authentication required."
MISCONF_AOF = "MISCONF Errors writing to the AOF file: {}"
MISCONF = ("MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. "
           "Commands that may modify the data set are disabled, because this instance is configured to report "
           "errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the "
           "Redis logs for details about the RDB error.")
PUBSUB_ONLY = ("ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed "
               "in this context")
#: commands that still run inside MULTI, in a subscribed RESP2 connection, before AUTH
_TRANSACTION_CONTROL: Final = {b"exec", b"discard", b"multi", b"watch", b"quit", b"reset"}
#: the commands whose replies are the messages they send (Redis's cmdHasPushAsReply)
_PUSHES_AS_REPLY = frozenset({b"subscribe", b"unsubscribe", b"psubscribe", b"punsubscribe", b"ssubscribe",
                              b"sunsubscribe"})
_SUBSCRIBED_ALLOWED: Final = {b"subscribe", b"psubscribe", b"unsubscribe", b"punsubscribe", b"ping", b"quit",
                              b"reset", b"ssubscribe", b"sunsubscribe"}
NO_MULTI = "ERR Command not allowed inside a transaction"
NO_MULTI_NAMED = "ERR Command '{}' not allowed inside a transaction"  # Valkey 9
#: blocking commands: where the timeout is, and what a timeout answers
_BLOCKING: Final = {b"blpop": (-1, NULL_ARRAY), b"brpop": (-1, NULL_ARRAY), b"bzpopmin": (-1, NULL_ARRAY),
                    b"bzpopmax": (-1, NULL_ARRAY), b"blmove": (5, None), b"brpoplpush": (3, None),
                    b"blmpop": (1, NULL_ARRAY), b"bzmpop": (1, NULL_ARRAY)}


#: commands whose propagation is a unit even when it is one command (Redis 6.2 wraps it in MULTI/EXEC)
_UNITS: Final = frozenset((b"exec", b"eval", b"evalsha", b"eval_ro", b"evalsha_ro", b"fcall", b"fcall_ro"))
Spec = command_table.CommandSpec
_SPELLINGS_CACHED = 4096  # command names as clients spell them (bounded: a client may send any bytes)


def defect_error(name: bytes, error: Exception) -> CommandError:
    """What a client hears when a command met a bug of serve's (no Redis reply exists for that): an error
    naming the command and the exception, instead of a connection left without a reply."""
    return CommandError(f"ERR serve failed running '{name.decode('utf-8', 'replace')}': "
                        f"{type(error).__name__}: {error} (a bug of rdbtool; the server log has the traceback)"
                        .replace("\r", " ").replace("\n", " "))


def unknown_subcommand(args: list[bytes]) -> CommandError:
    """Redis's error for a subcommand a container (Redis 7.0+) does not have."""
    shown = args[1].decode("utf-8", "replace")[:128].replace("\r", " ").replace("\n", " ")
    return CommandError(f"ERR unknown subcommand '{shown}'. Try {args[0].decode('utf-8', 'replace').upper()} HELP.")


@dataclass
class Pause:
    """CLIENT PAUSE: until when, everything or only writes, and the clients whose command waits for its end."""

    until: float | None = None
    everything: bool = False
    postponed: list[Client] = field(default_factory=list)
    cron: bool = False  # DEBUG PAUSE-CRON: the timer does nothing


@dataclass
class Blocked:
    args: list[bytes]
    deadline: float | None  # None: forever
    timeout_reply: Any  # any reply (not `object`: compiled, a dataclass cannot make that field)


class Process(NamedTuple):
    """When this server started, its run_id and what its features keep for it (attached.py), kept as one
    attribute of Server: past 29 attributes CPython 3.11 reads an instance's attributes the slow way, and
    every request pays for it (tests/server/test_client_tracking.py checks the count)."""

    started: float
    run_id: str
    attached: dict[type, Any]


class Server:
    def __init__(self, config: ServerConfig, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.clock = clock
        self.engine = Engine(clock=clock, loading=False, databases=config["databases"], target=config.target)
        self.engine.max_string = config["proto-max-bulk-len"]
        self.engine.memory = Memory(config.target)  # used_memory and maxmemory (on the engine: see Process)
        self.persistence = RdbPersistence(config, self.engine.keyspace)
        self.changes: Changes = self.persistence.changes  # (read and counted on every write: native here)
        self.aof: AofPersistence | None = None
        #: what the command being run propagates, appended as one unit once it is done (Redis's also_propagate)
        self.unit: list[tuple[int, list[list[bytes]]]] = []
        self.collecting = False
        self.in_transaction = False  # running an EXEC's commands
        if config["appendonly"]:
            self.aof = self._new_aof()
        # what an access finds expired and deletes goes to the AOF (when there is one), as Redis's DEL
        self.engine.on_expired = self._expired
        self.configure_events()
        self.configure_access()
        self.clients: dict[int, Client] = {}
        self.acl = Acl(self)
        self.acl.load_config_users(config.users)
        self.tracking = Tracking(self.clients, config.target)
        self.tracking.on_change = self.refresh
        self.next_client_id = 1
        self.process = Process(clock(), os.urandom(20).hex(), {})  # one attribute: see the class's docstring
        attached(self, Timing).configure(config)
        self.versions: dict[tuple[int, bytes], int] = {}  # WATCH: bumped when a write names the key
        self.subscribers = Subscribers()  # (P)SUBSCRIBE's channels and patterns, MONITOR's clients
        self.blocked: list[Client] = []
        self.pause = Pause()  # CLIENT PAUSE
        self.active_expire = True
        self.error_replies: dict[str, int] = {}  # INFO errorstats: by the error's first word
        self.stats = {"total_connections_received": 0, "rejected_connections": 0, "expired_keys": 0,
                      "evicted_keys": 0, "evicted_clients": 0, "keyspace_hits": 0, "keyspace_misses": 0,
                      "total_net_input_bytes": 0, "total_net_output_bytes": 0}
        #: the target's commands serve runs (what dispatch runs and COMMAND lists), by lower-case name
        served = table(self)
        self.catalog: dict[bytes, Spec] = _catalog(self, served)
        protection.mark_commands(self.catalog, config)
        self._specs: dict[bytes, Spec] = {}
        unlisted: dict[bytes, Callable] = {}
        if b"quit" not in self.catalog:
            unlisted[b"quit"] = served[b"quit"][0]
        self.dialect = _dialect(config.target, unlisted)
        self._scripting: Scripting | None = None
        self.engine_records: dict[bytes, Spec] = {}  # FUNCTION's subcommands as the engine runs them
        #: set by the edge: answer the other connections while a script runs past busy-reply-threshold
        self.busy_poll: Callable[[Client], None] | None = None
        #: what refresh() keeps (few attributes: past 30, CPython 3.11 reads every attribute of the server
        #: more slowly): engine commands need no bookkeeping (no AOF, WATCH, tracking); a request takes the
        #: hooked path (a client tracks, one is paused, monitors, NO-TOUCH)
        self.direct = True
        self.hooked = False
        self.refresh()
        eviction.configure(self, evict=False)
        self.subscribers.replication.configure(self)

    @property
    def scripting(self) -> Scripting:
        """The Lua engine, started by the first command that needs it (serve starts without Lua)."""
        if self._scripting is None:
            from rdbtools.server.scripting import Scripting

            self._scripting = Scripting(self)
        return self._scripting

    # --- clients ---------------------------------------------------------------------------------

    def connect(self, address: str, local_address: str, send: Callable[[object], None],
                close: Callable[[], None]) -> Client | CommandError:
        """A new connection, or the error it gets before being closed (maxclients, protected mode)."""
        if len(self.clients) >= self.config["maxclients"]:
            self.stats["rejected_connections"] += 1
            return CommandError("ERR max number of clients reached")
        if protection.protected_mode_refuses(self.config, address, self.acl.default.nopass):
            self.stats["rejected_connections"] += 1
            return CommandError(protection.protected_mode_text(self.config.target))
        client = Client(self.next_client_id, address, local_address, send, close, self.acl.default)
        self.acl.new_client(client)
        self.next_client_id += 1
        self.clients[client.id] = client
        self.stats["total_connections_received"] += 1
        return client

    def disconnect(self, client: Client) -> None:
        self.clients.pop(client.id, None)
        if client.tracking is not None:
            self.tracking.disable(client)
        if self.tracking.current is client:
            self.tracking.current = None
        self._unsubscribe_all(client)
        if client in self.blocked:
            self.blocked.remove(client)
        if client in self.pause.postponed:
            self.pause.postponed.remove(client)
        if client.monitoring:
            self.stop_monitoring(client)
        if client.no_touch:
            self.no_touch_changed(False)
        self.subscribers.replication.detach(self, client)

    def no_touch_changed(self, on: bool) -> None:
        """A client entered or left CLIENT NO-TOUCH mode: while any is in it, requests take the hooked path."""
        self.engine.no_touch_clients += 1 if on else -1
        self.refresh()

    def stop_monitoring(self, client: Client) -> None:
        client.monitoring = False
        self.subscribers.monitors.remove(client)
        self.refresh()

    # --- a request -----------------------------------------------------------------------------

    def execute(self, client: Client, args: list[bytes]) -> object:
        """One request's reply (NO_REPLY: nothing to send now; the client blocked or got pushes). A method
        that tests a flag rather than a bound method kept in an attribute: compiled, it is called directly."""
        return self._execute_hooked(client, args) if self.hooked else self._execute(client, args)

    def _execute(self, client: Client, args: list[bytes]) -> object:
        """One request's reply, unless a hook is in place (execute)."""
        client.last_interaction = self.clock()
        spec = self._specs.get(args[0]) or self._lookup(args[0])
        if spec is None:
            unlisted = self.dialect.unlisted.get(args[0].lower())
            if unlisted is not None:  # Redis 6.2's QUIT, answered before any check
                return unlisted(client, args)
            client.last_command = b"NULL"
            return self._refused(client, _unknown(args, self.dialect.backticks), None)
        if spec.subcommands is not None and len(args) > 1:
            sub = spec.subcommands.get(args[1].lower())
            if sub is None:
                client.last_command = b"NULL"
                return self._refused(client, unknown_subcommand(args), None)
            spec = sub
        name, arity = spec.name, spec.arity
        client.last_command = name
        if (arity > 0 and len(args) != arity) or len(args) < -arity:
            return self._refused(client, CommandError(spec.arity_error), spec)
        if spec.protected is not None:  # DEBUG, MODULE LOAD ... where the server's directive may refuse them
            error = protection.refusal(self.config, client, spec.protected)
            if error is not None:
                return self._refused(client, error, spec)
        if client.gated:  # needs AUTH, or a user with limits (the default user has none)
            refusal = self._gate(client, spec, args)
            if refusal is not None:
                return refusal
        if client.multi is not None:
            if spec.no_multi:
                return self._refused(client, self._no_multi(spec))
            if name not in _TRANSACTION_CONTROL:
                error = self.disk_error() if spec.write or name == b"ping" else None
                if error is not None:  # refused when queued, as Redis checks before queueing
                    return self._refused(client, error, spec)
                if self.dialect.queues_doomed or not (client.multi_failed or dirty_cas(self, client)):
                    client.multi.append(args)  # from 7.0 a transaction that will fail queues nothing
                return Status("QUEUED")
            if name == b"exec" and self.disk_failed():
                error = self._exec_disk_error(client)
                if error is not None:
                    return self._refused(client, error, spec)
        if client.resp == 2 and client.subscribed and name not in _SUBSCRIBED_ALLOWED:
            return CommandError(self.dialect.pubsub_only.format(name.decode("utf-8", "replace")))
        dirty = self.changes.dirty
        if self.direct:
            reply = self._call(client, args, spec)
        else:  # what the command propagates (its effects, the expiries it caused) goes out as one unit
            self.collecting = True
            try:
                reply = self._call(client, args, spec)
            finally:
                self.collecting = False
                if self.unit:
                    self._propagate_unit(name, client)
        if self.blocked and self.changes.dirty != dirty:
            self._wake_blocked()  # after the write's own propagation, as Redis serves them after the command
        return reply

    def _gate(self, client: Client, spec: Spec, args: list[bytes]) -> object:
        """NOAUTH, then (after the no-multi refusal) the ACL check, then maxmemory, as Redis's processCommand
        orders them: the refusal (NO_REPLY for a client evicted by its own command), None to run it."""
        if self.acl.auth_required(client):
            return None if spec.no_auth else self._refused(client, CommandError(NOAUTH))
        if client.multi is not None and spec.no_multi:
            return None
        if not client.user.unrestricted:
            error = self.acl.denial(client, spec, args, "toplevel" if client.multi is None else "multi")
            if error is not None:
                return self._refused(client, error, spec)
        if self.engine.memory.clients_limit and client_eviction.evict(self, self.clock()) and client.closing:
            return NO_REPLY  # the client itself was evicted: its command is not run
        if self.engine.memory.limit:  # then maxmemory (every client is gated while there is a limit)
            error = eviction.admit(self, client, spec, args)
            if error is not None:
                return self._refused(client, error, spec)
        replication = self.subscribers.replication
        if replication.min_replicas:  # then min-replicas-to-write (gated too while it is set)
            error = replication.refusal(self, client, spec)
            if error is not None:
                return self._refused(client, error, spec)
        return None

    def _execute_hooked(self, client: Client, args: list[bytes]) -> object:
        """``execute`` while a client tracks keys, clients are paused, monitor or one is in NO-TOUCH mode
        (``refresh`` puts it in place, so that plain requests pay nothing for these): the request may wait for
        the pause to end; it is the current client's (NOLOOP, CACHING); what it caused for its own client comes
        after its reply; once it ran, monitors see it."""
        tracking = self.tracking
        if tracking.active:
            if tracking.table:  # as Redis checks before each command
                tracking.limit(self.config["tracking-table-max-keys"])
            tracking.start(client)  # before last_command changes: CACHING lasts one command
        pause_until = self.pause.until
        if pause_until is not None and self._postpone(client, args, pause_until):
            return NO_REPLY
        monitors = self.subscribers.monitors
        spec = self.resolve(args) if client.tracking is not None or monitors else None
        calls = None if spec is None else spec.calls
        reply = self._execute_untouching(client, args) if client.no_touch else self._execute(client, args)
        if spec is not None and spec.calls != calls:  # it ran (not refused, not queued)
            if client.tracking is not None:  # its keys are read
                self.track_read(client, args)
            self.tell_monitors(client, args, spec)
        if tracking.current is client:
            return tracking.finish(client, reply, NO_REPLY)
        return reply

    def _execute_untouching(self, client: Client, args: list[bytes]) -> object:
        """A NO-TOUCH client's request: its lookups leave keys' access alone (TOUCH lifts this itself)."""
        engine = self.engine
        engine.leave_untouched(NO_TOUCH, True)
        try:
            return self._execute(client, args)
        finally:
            engine.leave_untouched(NO_TOUCH, False)

    def refresh(self) -> None:
        """The paths requests take, after what they depend on changed (AOF, WATCH, tracking, pause): the
        direct one while none is in use."""
        tracking = self.tracking.active
        self.direct = (self.aof is None and not self.versions and not tracking and not self.engine.memory.limit
                       and not self.subscribers.replication.replicas and not _telling_misses(self.engine.events))
        hooked = (tracking or self.pause.until is not None or self.subscribers.monitors
                  or self.engine.no_touch_clients)
        self.hooked = bool(hooked)

    def _propagate_unit(self, name: bytes, client: Client) -> None:
        """What a command propagated, to the AOF and the replicas: as is when it is one command, else as a
        unit; the client's WAIT offset moves when the replication stream did (Redis's c->woff)."""
        unit, replication = self.unit, self.subscribers.replication
        offset = replication.offset if replication.replicas else -1  # (without replicas it stays)
        if len(unit) == 1 and len(unit[0][1]) == 1 and name not in _UNITS:  # the common case: as is
            db, commands = unit.pop()
            self.feed(db, commands)
        else:
            self._append_unit(name, client.db)
        if offset >= 0 and replication.offset != offset:
            client.woff = replication.offset

    def feed(self, db: int, commands: list[list[bytes]]) -> None:
        """Effects to the AOF (when on; not what is for replicas only) and to the replicas (when attached)
        now, not held in a command's unit (an eviction's DEL goes before the command that caused it)."""
        kind = type(commands)
        if self.aof is not None and kind not in NOT_FOR_AOF:
            self.aof.appender.feed(db, commands)
        replication = self.subscribers.replication
        if replication.replicas and kind is not AofOnly:
            replication.feed(db, commands)

    def _append_unit(self, name: bytes, caller_db: int) -> None:
        """Several commands go in MULTI/EXEC (Redis 7.0+, but not for the commands that touch arbitrary
        keys: SCAN, RANDOMKEY); Redis 6.2 wraps an EXEC's writes, even one, a script's, even one, and
        SPOP's SREMs. The AOF and the replicas each get the unit with their own SELECTs (the AOF without
        what only replicas are sent, PUBLISH, though its MULTI/EXEC counts it, as Redis's does)."""
        unit, aof, replication = self.unit, self.aof, self.subscribers.replication
        try:
            steps = [(db, command, commands.__class__) for db, commands in unit for command in commands]
            if self.engine.target.wraps_propagation:
                wrap = len(steps) > 1 and name not in (b"scan", b"randomkey")
            else:
                wrap = name in _UNITS or (name == b"spop" and len(steps) > 1)
            if aof is not None:  # (None: CONFIG SET appendonly no ran)
                aof_steps = [step for step in steps if step[2] not in NOT_FOR_AOF]
                self._feed_steps(aof.appender, name, aof_steps, steps, wrap, caller_db)
            if replication.replicas:
                replica_steps = [step for step in steps if step[2] is not AofOnly]
                self._feed_steps(replication, name, replica_steps, steps, wrap, caller_db)
        finally:
            unit.clear()

    def _feed_steps(self, sink: AofAppender | Replication, name: bytes, steps: list, unit: list, wrap: bool,
                    caller_db: int) -> None:
        """A unit's commands into one sink (the AOF or the replication stream), in MULTI/EXEC when wrapped:
        Redis 7.0.15+ selects the first command's database before MULTI and EXEC stays in the last's, 7.0
        before leaves MULTI in the sink's; 6.2 puts EXEC in the caller's, and MULTI in the database of an
        EXEC's first write; a script's MULTI in the caller's, once it writes: what only replicas get (PUBLISH)
        before its first write goes before it, and without a write there is no MULTI/EXEC."""
        target = self.engine.target
        if wrap and not target.wraps_propagation and name != b"exec":
            first = next((i for i, step in enumerate(steps) if step[2] is not ReplicaOnly), len(steps))
            self._feed_steps(sink, name, steps[:first], unit, False, caller_db)
            steps, wrap = steps[first:], first < len(steps)
        if wrap:
            multi_db = (unit[0][0] if target.select_before_multi else sink.selected_db if target.wraps_propagation
                        else unit[0][0] if name == b"exec" else caller_db)
            exec_db = unit[-1][0] if target.wraps_propagation else caller_db
            steps = [(multi_db, [b"MULTI"], list), *steps, (exec_db, [b"EXEC"], list)]
        for db, command, _ in steps:
            sink.feed(db, [command])

    def _lookup(self, spelled: bytes) -> Spec | None:
        """A command as a client spells it, cached by that spelling."""
        spec = self._specs.get(spelled)
        if spec is not None:
            return spec
        spec = self.catalog.get(spelled.lower())
        if spec is None:
            return None
        if len(self._specs) < _SPELLINGS_CACHED:
            self._specs[spelled] = spec
        return spec

    def disk_failed(self) -> bool:
        """The last BGSAVE or the AOF's last write failed: whether that refuses a command is disk_error's to say
        (asked first on the request path, where both are almost always fine)."""
        return not self.changes.last_bgsave_ok or (self.aof is not None and not self.aof.last_write_ok)

    def disk_error(self) -> CommandError | None:
        """MISCONF while the last BGSAVE failed (with save points and stop-writes-on-bgsave-error) or the
        AOF cannot be written: Redis's writeCommandsDeniedByDiskError, which refuses writes and PING."""
        if not self.changes.last_bgsave_ok and self.persistence.refuses_writes():
            return CommandError(self.dialect.misconf)
        if self.aof is not None and not self.aof.last_write_ok:
            return CommandError(MISCONF_AOF.format(self.aof.last_error))
        return None

    def _exec_disk_error(self, client: Client) -> CommandError | None:
        """MISCONF for an EXEC whose transaction holds a write: Redis counts such an EXEC a write, and refuses
        it whole (EXECABORT) even when its writes were queued before the disk failed."""
        if any(getattr(self.resolve(queued), "write", False) for queued in client.multi or ()):
            return self.disk_error()
        return None

    def _no_multi(self, spec: Spec) -> CommandError:
        target = self.config.target
        if target.valkey_server and target.version >= (9, 0):
            return CommandError(NO_MULTI_NAMED.format(spec.name.decode("utf-8", "replace")))
        return CommandError(NO_MULTI)

    def resolve(self, args: list[bytes]) -> Spec | None:
        """The record of a call (its subcommand's for a container, Redis 7.0+), None when unknown (scripts
        and MULTI read its flags)."""
        spec = self._lookup(args[0])
        if spec is not None and spec.subcommands is not None and len(args) > 1:
            return spec.subcommands.get(args[1].lower())
        return spec

    def _refused(self, client: Client, error: CommandError, spec: Spec | None = None) -> CommandError:
        """A refused call (its transaction fails; a refused EXEC ends it, as Redis's execCommandAbort);
        Valkey 9 asks an unauthenticated client to AUTH before telling it what is wrong with the call."""
        if self.dialect.auth_first and self.acl.auth_required(client) and (spec is None or not spec.no_auth):
            error = CommandError(NOAUTH)
        if spec is not None:
            spec.rejected_calls += 1
        self.count_error(error)
        if client.multi is not None:
            client.multi_failed = True
        if spec is not None and spec.name == b"exec":  # "ERR " is not part of the text Redis quotes
            client.multi, client.multi_failed, client.watched = None, False, {}
            self.tell_monitors(client, [b"EXEC"])  # the transaction's end, as Redis's execCommandAbort
            text = str(error)
            error = CommandError(f"EXECABORT Transaction discarded because of: {text.removeprefix('ERR ')}")
        client.last_refusal = error  # not run, so not for the slow log
        return error

    def call(self, client: Client, args: list[bytes]) -> object:
        """Run a command now (from EXEC)."""
        spec = self.resolve(args)  # queued calls were checked: a subcommand is found
        if spec is None:
            return _unknown(args, self.dialect.backticks)
        if client.gated:  # the rules may have changed since the command was queued
            error = self.acl.exec_denial(client, spec, args)
            if error is not None:
                return error
        return self._call(client, args, spec)

    def _call(self, client: Client, args: list[bytes], spec: Spec) -> object:
        try:
            reply = (self._run_engine(spec, client, args) if spec.command is not None
                     else spec.handler(client, args))  # type: ignore[misc]  # (without a command: a handler)
        except CommandError as error:
            spec.failed_calls += 1
            self.count_error(error)
            reply = error
        except Shutdown:
            raise
        except Exception as error:  # a defect of serve's: the client gets an error, the log the traceback
            log.exception("serve failed running %r", args[0])
            reply = defect_error(args[0], error)
            spec.failed_calls += 1
            self.count_error(reply)
        spec.calls += 1  # once it ran, as Redis counts it (INFO's total_commands_processed is their sum)
        return reply

    def tell_monitors(self, client: Client, args: list[bytes], spec: Spec | None = None,
                      source: str | None = None) -> None:
        """A command ran: MONITOR's clients see it (not one the table keeps from them; ``spec`` None: shown,
        as scripts show themselves before they run), from its client's address or ``source`` ("lua")."""
        monitors = self.subscribers.monitors
        if monitors and (spec is None or monitor.shown(spec)):
            if source is None:
                source = f"unix:{client.address}" if client.address.startswith("/") else client.address
            monitor.feed(monitors, client.db, source, args)

    def count_error(self, error: CommandError) -> None:
        """An error reply, for INFO errorstats (by its first word, as Redis's afterErrorReply: a word
        that does not end within the reply's first 32 bytes, its '-' counted, is counted as ERR)."""
        text = str(error)
        space = text.find(" ", 0, 31)
        code = text[:space] if space >= 0 else "ERR"
        self.error_replies[code] = self.error_replies.get(code, 0) + 1

    def track_read(self, client: Client, args: list[bytes], script_read: bool = False) -> None:
        """A tracking client ran a command, or a script of its ran a read-only one (``script_read``: args
        is the script's call): the keys of a read-only command, or of the script's call, are remembered,
        error or not (a read-only script's call itself is not, as in Redis)."""
        from rdbtools.server.introspection import command_keys

        spec, state = self.resolve(args), client.tracking
        if spec is None or state is None or state.bcast or "pubsub" in spec.flags:
            return
        if script_read or ("readonly" in spec.flags and spec.name not in _SCRIPTS_READ_ONLY):
            self.tracking.remember(client.id, state, command_keys(spec, args))

    def _run_engine(self, record: Spec, client: Client, args: list[bytes]) -> object:
        """MISCONF refuses what the table flags write (FUNCTION DELETE, not FUNCTION LIST); the engine's
        flag says what may change the keyspace (dirty, WATCH, propagation)."""
        spec: Command = record.command  # type: ignore[assignment]  # (only records of engine commands run here)
        if record.write and self.disk_failed():
            error = self.disk_error()
            if error is not None:
                return error
        try:
            if self.direct:  # the hot path: no AOF, no WATCH, no tracking, no keymiss events
                self.engine.db = client.db
                reply = spec.handler(self.engine, args)  # arity was checked by execute
            elif _telling_misses(self.engine.events):
                reply = self._apply_telling_misses(record, spec, client.db, args)
            else:
                reply = self._apply(spec, client.db, args)
        except UnknownCommand as error:
            return CommandError(f"ERR {error.message}")
        name = spec.name
        if (reply is None or reply is NULL_ARRAY) and not self.in_transaction and (
                name in _BLOCKING or _stream_block(name, args) is not None):  # nothing to pop or read: wait
            return self._block(client, args)  # (no change: not dirty, and no reason to wake the waiting)
        if spec.write:
            self.changes.dirty += 1
        return reply if record.shape is None else record.shape(args, reply, client.resp == 3)

    def _apply(self, spec: Command, db: int, args: list[bytes]) -> object:
        """Run an engine command in a database; what a write did is appended to the AOF (AOF on) and
        signals the keys it modified (to WATCH and client tracking, when a client watches or tracks)."""
        engine = self.engine
        engine.db = db
        signalling = self.versions or self.tracking.active
        memory = engine.memory
        if not spec.write or self.direct:  # (direct: no AOF, no replica, no signalling, no maxmemory)
            return spec.handler(engine, args)
        before = capture(engine, spec.name, args) if spec.name in CAPTURED else None
        present = [k for k in args[1:] if k in engine.keys] if signalling and spec.name in _DELETES else None
        flushed = {where for where in self.versions if stored_state(self, where) != "absent"} \
            if self.versions and spec.name in _FLUSHES else None  # a flush touches the watched keys it takes away
        stored = _written_keys(spec.name, args)[:1] if spec.name in _STORES else None
        was_there = stored is not None and bool(stored) and stored[0] in engine.keys
        reply = spec.handler(engine, args)
        if reply == 0 and stored is not None and not was_there:
            return reply  # nothing stored where nothing was: no change, nothing propagated (Redis's dirty stays)
        done = effects(engine, spec.name, args, reply, before)
        if done:
            if spec.name in RELATIVE_BEFORE_7 and not engine.target.wraps_propagation:
                self._propagate_as_62(db, spec.name, args, done)
            else:
                self.propagate(db, done)
            if present is not None:  # DEL/UNLINK a b: only the keys that were there were modified
                self.signal_modified(db, [k for k in present if k not in engine.keys])
            elif signalling:
                self._signal_effects(db, done, flushed)
            if memory.limit:
                memory.changed(self, db, done)
        return reply

    # --- AOF propagation -------------------------------------------------------------------------

    def propagate(self, db: int, commands: list[list[bytes]]) -> None:
        """Effects for the AOF and the replicas (held until the command that caused them is done); nothing
        while there is neither."""
        if self.collecting:
            self.unit.append((db, commands))
        else:
            self.feed(db, commands)

    def _propagate_as_62(self, db: int, name: bytes, args: list[bytes], done: list[list[bytes]]) -> None:
        """Redis 6.2 sends its replicas relative expiries (SET ... PX, EXPIRE), its AOF absolute ones."""
        if not self.subscribers.replication.replicas:
            self.propagate(db, done)
            return
        self.propagate(db, AofOnly(done))
        self.propagate(db, ReplicaForm(relative_form(name, args, done)))

    def _new_aof(self) -> AofPersistence:
        """The AOF of this server: its clock, its children, its rewrite record and its latency monitor."""
        return AofPersistence(self.config, self.clock, self._saving, self.persistence.rewrite_stats,
                              sample=functools.partial(latency.sample, self))

    def set_appendonly(self, on: bool) -> bool:
        """CONFIG SET appendonly: turned on, a rewrite starts writing the files (Redis's startAppendOnly);
        turned off, appending stops with everything written. False when the rewrite could not fork: AOF
        stays off (its temporary incr file left behind, as Redis leaves it)."""
        if on and self.aof is None:
            self.persistence.kill_aof_rewrite()  # its base would miss what the new AOF starts from
            self.aof = self._new_aof()
            self.aof.enable()
            if self.persistence.child is None:  # Redis forks the rewrite at once, unless a BGSAVE runs
                if not self.aof.start_rewrite(self.engine):
                    self.aof.close()
                    self.aof = None
                    log.warning("Redis needs to enable the AOF but can't trigger a background AOF rewrite operation. "
                                "Check the above logs for more info about the error.")
                    return False
                self.children_changed()
        elif not on and self.aof is not None:
            self.aof.close()
            self.aof = None
        self.refresh()
        return True

    def load_aof(self) -> None:
        """DEBUG LOADAOF: what is buffered written, the keyspace emptied and loaded again from the AOF."""
        aof = self.aof or self._new_aof()
        aof.flush()
        self.engine.keyspace.dbs.clear()
        self.engine.keyspace.functions.clear()
        aof.load(self.engine)
        aof.collect_history()
        log.warning("Append Only File loaded by DEBUG LOADAOF")

    def _saving(self) -> bool:
        return self.persistence.child is not None

    def child_active(self) -> bool:
        return (self.persistence.child is not None or self.persistence.rewriting()
                or (self.aof is not None and self.aof.child is not None))

    def children_changed(self) -> None:
        """A fork child started or ended: while one writes, lookups do not touch keys (Redis spares its pages
        the copy on write)."""
        self.engine.leave_untouched(SAVING, self.child_active())

    def configure_access(self) -> None:
        """maxmemory-policy and lfu-log-factor / lfu-decay-time, as the keys' access fields read them (at start
        and after CONFIG SET; keyspace/access.py)."""
        access, config = self.engine.access, self.config
        policy = config["maxmemory-policy"]
        access.lfu, access.lru = policy.endswith("-lfu"), policy.endswith("-lru")
        access.log_factor, access.decay_time = config["lfu-log-factor"], config["lfu-decay-time"]
        self.engine.restamp()

    def run_transaction(self, client: Client, queued: list[list[bytes]]) -> list[object]:
        """EXEC: the queued commands (their effects are EXEC's propagation unit; a blocking one does
        not block there)."""
        self.in_transaction = True
        try:
            return [self._transaction_call(client, args) for args in queued]
        finally:
            self.in_transaction = False

    def _transaction_call(self, client: Client, args: list[bytes]) -> object:
        """A command of an EXEC; one whose reply is the messages it sends (SUBSCRIBE...: Redis's
        cmdHasPushAsReply) answers them in its place in EXEC's array, however many."""
        if args[0].lower() not in _PUSHES_AS_REPLY:
            return self._timed_call(client, args)
        send, sent = client.send, list[object]()
        client.send = sent.append
        try:
            reply = self._timed_call(client, args)
        finally:
            client.send = send
        return Replies(sent) if reply is NO_REPLY else reply

    def _timed_call(self, client: Client, args: list[bytes]) -> object:
        """A command of an EXEC, timed for the slow log on its own (EXEC itself is not logged)."""
        from rdbtools.server.admin import record_timing

        started = self.clock()
        spec = self.resolve(args) if self.subscribers.monitors else None
        calls = None if spec is None else spec.calls
        reply = self.call(client, args)
        record_timing(self, client, args, self.clock() - started)
        if spec is not None and spec.calls != calls:
            self.tell_monitors(client, args, spec)
        if client.tracking is not None:
            self.track_read(client, args)
        return reply

    # --- modified keys: WATCH and client tracking ----------------------------------------------------

    def _signal_effects(self, db: int, done: list[list[bytes]], flushed: set[tuple[int, bytes]] | None) -> None:
        """The keys a write modified are those of what it propagates (nothing when it changed nothing):
        Redis's signalModifiedKey; a flush or SWAPDB touches everything (signalFlushedDb)."""
        from rdbtools.server.introspection import written_keys

        for command in done:
            name = command[0].lower()
            if name in _FLUSHES:
                self._touch_stored({db} if name == b"flushdb" else None if name == b"flushall" else
                                   {int(command[1]), int(command[2])}, flushed or set())
                if name != b"swapdb":  # SWAPDB tells tracking clients nothing (Redis 7.0)
                    self.tracking.flush()
                continue
            spec = self.resolve(command)
            keys = None if spec is None else written_keys(spec, command)
            self.signal_modified(db, _written_keys(name, command) if keys is None else keys)

    def signal_modified(self, db: int, keys: list[bytes], by_client: bool = True) -> None:
        """Keys modified in a database (by the running client's command, or not: expiry): WATCHes fail,
        tracking clients are told."""
        versions = self.versions
        if versions:
            for key in keys:
                versions[(db, key)] = versions.get((db, key), 0) + 1
        if self.tracking.active:
            self.tracking.invalidate(keys, self.tracking.current if by_client else None)

    def _touch_stored(self, dbs: set[int] | None, before: set[tuple[int, bytes]]) -> None:
        """After a flush or SWAPDB of ``dbs`` (None: all): the watched keys of those stored before or after
        are modified (Redis's touchAllWatchedKeysInDb)."""
        for where in self.versions:
            if (dbs is None or where[0] in dbs) and (where in before or stored_state(self, where) != "absent"):
                self.versions[where] += 1

    def _expired(self, db: int, deletion: list[bytes]) -> None:
        """A key found expired was deleted: its DEL goes to the AOF, and it counts as modified."""
        self.propagate(db, [deletion])
        if self.versions or self.tracking.active:
            self.signal_modified(db, deletion[1:], by_client=False)  # a BCAST NOLOOP client is told
        if self.engine.memory.limit:
            self.engine.memory.update(self.engine.keyspace, db, deletion[1])

    # --- CLIENT PAUSE ----------------------------------------------------------------------------

    def pause_clients(self, seconds: float, everything: bool) -> None:
        """A pause (another one extends it, and ALL wins over WRITE, as Redis's pauseClients)."""
        pause, until = self.pause, self.clock() + seconds
        if pause.until is not None:
            until, everything = max(until, pause.until), everything or pause.everything
        pause.until, pause.everything = until, everything
        self.refresh()

    def _postpone(self, client: Client, args: list[bytes], until: float) -> bool:
        """While paused, a command that passes the first checks (known, its arity, protection, AUTH) waits, with the
        requests behind it, until the pause ends; under WRITE only one that may write (or EXEC of a
        transaction holding one)."""
        everything = self.pause.everything
        if until <= self.clock():
            self.unpause_clients()
            return False
        spec = self.resolve(args)
        if spec is None or (spec.arity > 0 and len(args) != spec.arity) or len(args) < -spec.arity:
            return False
        if spec.protected is not None and protection.refusal(self.config, client, spec.protected) is not None:
            return False  # refused before the pause is looked at, as the arity is
        if (not client.authenticated and not spec.no_auth) or (not everything and not _may_write(self, client, spec)):
            return False
        client.blocked = Blocked(args, None, None)
        self.pause.postponed.append(client)
        return True

    def unpause_clients(self) -> None:
        """The pause ends: the postponed commands run, oldest first."""
        pause = self.pause
        pause.until = None
        self.refresh()
        postponed, pause.postponed = pause.postponed, []
        for client in postponed:
            waiting, client.blocked = client.blocked, None
            assert waiting is not None, "_postpone blocked it"
            if client.id in self.clients:
                reply = self.execute(client, waiting.args)
                if reply is not NO_REPLY:
                    client.send(reply)

    # --- blocking ------------------------------------------------------------------------------

    def unblock(self, client: Client, error: CommandError | None) -> None:
        """CLIENT UNBLOCK: the blocking command ends with its timeout reply, or the error given."""
        self.blocked.remove(client)
        waiting, client.blocked = client.blocked, None
        assert waiting is not None, "a client in server.blocked waits"
        client.send(waiting.timeout_reply if error is None else error)

    def _block(self, client: Client, args: list[bytes]) -> object:
        name = args[0].lower()
        timeout_reply: Any  # any reply (not `object`: compiled, a dataclass cannot make that field)
        if name in (b"xread", b"xreadgroup"):
            milliseconds = _stream_block(name, args)
            assert milliseconds is not None, "_run_engine blocks an XREAD only with BLOCK"
            seconds, timeout_reply = milliseconds / 1000, NULL_ARRAY
            args = self._resolve_last_ids(client, args)
        else:
            position, timeout_reply = _BLOCKING[name]
            try:
                seconds = float(args[position])
            except ValueError:
                return CommandError("ERR timeout is not a float or out of range")
        if seconds < 0:
            return CommandError("ERR timeout is negative")
        client.blocked = Blocked(args, None if seconds == 0 else self.clock() + seconds, timeout_reply)
        self.blocked.append(client)
        return NO_REPLY

    def _resolve_last_ids(self, client: Client, args: list[bytes]) -> list[bytes]:
        """XREAD ... $ waits for what comes after the stream's last id *now*: write that id in."""
        streams = [a.upper() for a in args].index(b"STREAMS")
        keys = args[streams + 1 :]
        half = len(keys) // 2
        resolved = list(args)
        for i, key in enumerate(keys[:half]):
            if keys[half + i] == b"$":
                entry = self.engine.keyspace.db(client.db).get(key)
                last = entry.value.last_id if entry is not None and entry.type == "stream" else (0, 0)
                resolved[streams + 1 + half + i] = b"%d-%d" % tuple(last)
        return resolved

    def _wake_blocked(self) -> None:
        """Serve blocked clients (oldest first) whose keys now hold data, again while one is served: a
        BLMOVE served pushes to its target, which serves that key's waiters in the same round (as Redis)."""
        while self.blocked and any([self._serve_blocked(client) for client in list(self.blocked)]):
            pass

    def _serve_blocked(self, client: Client) -> bool:
        """Whether this blocked client's command could now run (it then got its reply)."""
        waiting = client.blocked
        if waiting is None:  # served earlier in this round
            return False
        spec = REGISTRY.get(waiting.args[0].lower())
        if spec is None:  # WAIT: only its timeout ends it
            return False
        started = self.clock()
        with self.tracking.serving(client):  # its own invalidations follow its reply
            engine = self.engine
            engine.waking = engine.target.version < (7, 2)  # (from 7.2 Redis runs the command again)
            fields = self._access_fields(client.db, waiting.args)
            try:
                reply = self._apply(spec, client.db, waiting.args)  # signals what it modified (WATCH, tracking)
            except CommandError as error:
                reply = self._refusal(client.db, waiting.args, error)
                if reply is None:  # the key now holds another type: it goes on waiting (as in Redis 7.0)
                    self._restore_access(client.db, fields)
                    return False
            finally:
                engine.waking = False
            if reply is None or reply is NULL_ARRAY:
                self._restore_access(client.db, fields)
                return False
            if spec.write and not isinstance(reply, CommandError):  # what it popped or moved
                self.changes.dirty += 1
            self.blocked.remove(client)
            client.blocked = None
            client.send(shaped(waiting.args[0].lower(), waiting.args, reply, client.resp == 3))
        from rdbtools.server.admin import record_timing

        record_timing(self, client, waiting.args, self.clock() - started)  # logged once served, as Redis
        return True

    def _access_fields(self, db: int, args: list[bytes]) -> dict:
        """The access fields of a waiting command's keys: serve tries the waiting commands after every write,
        Redis only those whose keys were made ready, so a try that serves nothing must leave them as they were."""
        from rdbtools.server.introspection import command_keys

        spec, keys = self.resolve(args), self.engine.keyspace.db(db)
        return {} if spec is None else {key: keys[key].lru for key in command_keys(spec, args) if key in keys}

    def _restore_access(self, db: int, fields: dict) -> None:
        keys = self.engine.keyspace.db(db)
        for key, lru in fields.items():
            if key in keys:
                keys[key].lru = lru

    def _refusal(self, db: int, args: list[bytes], error: CommandError) -> CommandError | None:
        """The error that ends a blocked command's wait, or None to keep it waiting. Redis 7.0 answers
        a BLMOVE/BRPOPLPUSH whose source is a list now the error of its destination, and an XREADGROUP
        whose stream lost its group NOGROUP (UNBLOCKED when the stream is gone: 7.0.15 signals deleted
        keys); a list source of another type keeps its pop waiting."""
        name = args[0].lower()
        if name in (b"blmove", b"brpoplpush"):
            entry = self.engine.keyspace.db(db).get(args[1])
            return error if entry is not None and entry.type == "list" else None
        if name == b"xreadgroup" and str(error).startswith(("NOGROUP", "WRONGTYPE")):
            if self._streams_exist(db, args):
                return CommandError("NOGROUP the consumer group this client was blocked on no longer exists")
            return CommandError("UNBLOCKED the stream key no longer exists")
        return None

    def _streams_exist(self, db: int, args: list[bytes]) -> bool:
        """Whether an XREADGROUP's streams are all still streams."""
        keys = args[[a.upper() for a in args].index(b"STREAMS") + 1:]
        found = self.engine.keyspace.db(db)
        return all(key in found and found[key].type == "stream" for key in keys[: len(keys) // 2])

    def expire_blocked(self, now: float) -> None:
        for client in list(self.blocked):
            waiting = client.blocked
            if waiting is not None and waiting.deadline is not None and waiting.deadline <= now:
                self.blocked.remove(client)
                client.blocked = None
                client.send(waiting.timeout_reply)

    # --- timers --------------------------------------------------------------------------------

    def cron(self) -> None:
        """What redis-server does on its timer: reap the child, save points, expire keys, timeouts."""
        if self.pause.cron:
            return
        now = self.clock()
        self.tracking.current = None  # what expires now is no client's doing
        self.persistence.reap()
        aof = self.aof
        if aof is not None:
            aof.reap()
            aof.cron()
        if aof is None or aof.child is None:
            if self.persistence.save_point_due(now):
                self.persistence.bgsave()
            elif aof is not None and self.persistence.child is None and aof.rewrite_wanted():
                aof.start_rewrite(self.engine)
            elif (aof is None and self.persistence.rewrite_stats.scheduled and not self.child_active()
                  and not self.persistence.rewrite_stats.held_back(self.config, now)):
                self.persistence.rewrite_off(self.engine)
        self.engine.tick()  # the access clock new entries and lookups read, as Redis's server.lruclock
        eviction.resume(self)  # what the time limit left (where no event loop took it)
        if self.engine.memory.clients_limit:
            client_eviction.evict(self, now)
        self.children_changed()
        if self.active_expire:
            cycle_started = self.clock()
            self._expire_cycle()
            latency.sample(self, b"expire-cycle", int((self.clock() - cycle_started) * 1000))
        if self.tracking.table:
            self.tracking.limit(self.config["tracking-table-max-keys"])
        self.expire_blocked(now)
        self.subscribers.replication.cron(self)
        if self.pause.until is not None and self.pause.until <= now:
            self.unpause_clients()
        timeout = self.config["timeout"]
        if timeout:
            for client in list(self.clients.values()):
                if (now - client.last_interaction > timeout and not client.blocked and not client.subscribed
                        and not client.replica):
                    client.close()

    def _expire_cycle(self, samples: int = 20) -> None:
        """Redis's active expiry: sample keys with a TTL, delete the expired ones."""
        now_ms = int(self.clock() * 1000)
        for db, keys in self.engine.keyspace.dbs.items():
            if not keys:
                continue
            for key in random.sample(list(keys), min(samples, len(keys))) if len(keys) > samples else list(keys):
                entry = keys.get(key)
                if entry is None:
                    continue
                if entry.expire_ms is not None and entry.expire_ms <= now_ms:
                    latency.timed(self, b"expire-del", self.engine.expire, db, key)
                    self.stats["expired_keys"] += 1
                elif entry.field_expires and min(entry.field_expires.values()) <= now_ms:
                    self._expire_fields(db, key, entry)

    def _expire_fields(self, db: int, key: bytes, entry: Entry) -> None:
        """Redis 7.4+'s active expiry of hash fields (serve samples the hashes with the keys)."""
        from rdbtools.keyspace.commands.hashes import expire_fields

        self.engine.db = db
        expire_fields(self.engine, key, entry)

    # --- keyspace notifications ----------------------------------------------------------------

    def configure_events(self) -> None:
        """Read notify-keyspace-events (at start and after CONFIG SET): the engine has no listener unless
        an event class and K or E are on, so commands pay almost nothing for it otherwise."""
        engine = self.engine
        told, flags = _telling_misses(engine.events), self.config["notify-keyspace-events"].flags
        engine.events = flags
        where = flags & (KEYSPACE | KEYEVENT)
        engine.listener = self._notify if where and flags & ~where else None
        if _telling_misses(flags) != told and hasattr(self, "direct"):  # (at start, refresh comes later)
            self.refresh()  # while m is on, requests leave the direct path (commands pay nothing otherwise)

    def _apply_telling_misses(self, record: Spec, spec: Command, db: int, args: list[bytes]) -> object:
        """_apply while m is on: the keys a read-only command misses are told "keymiss" (Redis's
        lookupKeyRead)."""
        engine = self.engine
        engine.reading = not record.write
        try:
            return self._apply(spec, db, args)
        finally:
            engine.reading = False

    def _notify(self, kind: int, event: bytes, key: bytes, db: int | None = None) -> None:
        """Publish a keyspace event to __keyspace@<db>__:<key> and __keyevent@<db>__:<event> (as enabled)."""
        flags = self.engine.events
        if not flags & kind:
            return
        if db is None:
            db = self.engine.db
        if flags & KEYSPACE:
            self.publish(b"__keyspace@%d__:%s" % (db, key), event)
        if flags & KEYEVENT:
            self.publish(b"__keyevent@%d__:%s" % (db, event), key)

    # --- pub/sub helpers -----------------------------------------------------------------------

    def _unsubscribe_all(self, client: Client) -> None:
        for channel in client.channels:
            self.subscribers.channels.get(channel, set()).discard(client)
        for pattern in client.patterns:
            self.subscribers.patterns.get(pattern, set()).discard(client)
        client.channels.clear()
        client.patterns.clear()
        client.shard_channels.clear()
        client.subscribed = False

    def publish(self, channel: bytes, message: bytes) -> int:
        receivers = 0
        for client in list(self.subscribers.channels.get(channel, ())):
            client.send(Push([b"message", channel, message]))
            receivers += 1
        for pattern, clients in list(self.subscribers.patterns.items()):
            if _glob(pattern).fullmatch(channel):
                for client in list(clients):
                    client.send(Push([b"pmessage", pattern, channel, message]))
                    receivers += 1
        return receivers

    @property
    def shard_channels(self) -> dict[bytes, list[Client]]:
        """SSUBSCRIBE's channels and their clients, found on the clients: a registry of its own would be the
        Server's 30th attribute, past what CPython 3.11 keeps in a shared-key dict, and every request's
        ``self.x`` would get slower (measured: GET +8% in-process)."""
        found: dict[bytes, list[Client]] = {}
        for client in self.clients.values():
            for channel in client.shard_channels:
                found.setdefault(channel, []).append(client)
        return found

    def spublish(self, channel: bytes, message: bytes) -> int:
        """SPUBLISH: to the shard channel's subscribers only (no pattern matches a shard channel)."""
        receivers = [client for client in self.clients.values() if channel in client.shard_channels]
        for client in receivers:
            client.send(Push([b"smessage", channel, message]))
        return len(receivers)

    def info(self, sections: list[bytes]) -> bytes:
        return info.render(self, sections)


def _telling_misses(flags: int) -> bool:
    return bool(flags & KEY_MISS and flags & (KEYSPACE | KEYEVENT))


@functools.lru_cache(maxsize=1024)
def _glob(pattern: bytes) -> re.Pattern[bytes]:
    """A pattern subscription's regex (compiled once: keyspace events publish on every write)."""
    return glob_to_regex(pattern)


@dataclass(frozen=True)
class Dialect:
    """How the target words what differs between versions (one attribute: the server keeps few)."""

    backticks: bool  # the unknown command error (before 7.0)
    auth_first: bool  # Valkey 9 asks an unauthenticated client to AUTH before saying what is wrong
    misconf: str
    pubsub_only: str  # before 7.0, no sharded pub/sub: (P)SUBSCRIBE
    queues_doomed: bool  # before 7.0, MULTI queues commands even once EXEC is sure to fail
    unlisted: dict[bytes, Callable]  # what runs without being a command of the table (QUIT before Redis 7.0)


def _dialect(target: Target, unlisted: dict[bytes, Callable]) -> Dialect:
    backticks = not target.valkey_server and target.version < (7, 0)
    return Dialect(backticks, target.valkey_server and target.version >= (9, 0), _misconf_text(target),
                   PUBSUB_ONLY.replace("(P|S)", "(P)") if backticks else PUBSUB_ONLY, queues_doomed=backticks,
                   unlisted=unlisted)


def _misconf_text(target: Target) -> str:
    """The MISCONF text of the target: Valkey names itself; Redis 6.2 said it less briefly."""
    if target.valkey_server:
        return MISCONF.replace("Redis", "Valkey")
    if target.version < (7, 0):
        return MISCONF.replace("but it's currently unable to persist to disk",
                               "but it is currently not able to persist on disk")
    return MISCONF


def _may_write(server: Server, client: Client, spec: Spec) -> bool:
    """What CLIENT PAUSE WRITE holds back: a write or may-replicate command, or an EXEC whose
    transaction holds one."""
    if spec.write or spec.name in _MAY_REPLICATE:
        return True
    if spec.name == b"exec" and client.multi:
        for queued in client.multi:
            record = server.resolve(queued)
            if record is not None and (record.write or record.name in _MAY_REPLICATE):
                return True
    return False


#: Redis's MAY_REPLICATE commands (a flag COMMAND INFO does not show)
_MAY_REPLICATE = frozenset((b"eval", b"evalsha", b"fcall", b"pfcount", b"publish", b"spublish"))


def _stream_block(name: bytes, args: list[bytes]) -> int | None:
    """The BLOCK milliseconds of an XREAD/XREADGROUP, None when it does not block."""
    if name not in (b"xread", b"xreadgroup"):
        return None
    upper = [a.upper() for a in args]
    if b"BLOCK" not in upper[: upper.index(b"STREAMS") if b"STREAMS" in upper else len(upper)]:
        return None
    try:
        return int(args[upper.index(b"BLOCK") + 1])
    except (ValueError, IndexError):
        return None


def _unknown(args: list[bytes], backticks: bool = False) -> CommandError:
    """Redis's exact text: the name and up to the first arguments, each quoted and followed by a space
    (before 7.0: in backticks, followed by ", ", the name whole)."""
    shown = ""
    quote, gap = ("`", ", ") if backticks else ("'", " ")
    for arg in args[1:]:
        room = 128 - len(shown)
        if room <= 0:
            break
        shown += f"{quote}{arg.decode('utf-8', 'replace')[:room]}{quote}{gap}"
    name = args[0].decode("utf-8", "replace")
    text = f"ERR unknown command {quote}{name if backticks else name[:128]}{quote}, with args beginning with: {shown}"
    return CommandError(text.replace("\r", " ").replace("\n", " "))  # addReplyErrorFormat's mapping


_DELETES: Final = frozenset((b"del", b"unlink"))
_FLUSHES: Final = frozenset((b"flushdb", b"flushall", b"swapdb"))
#: commands that store a result in a destination (deleting it when the result is empty)
_STORES: Final = frozenset(b"sinterstore sunionstore sdiffstore zunionstore zinterstore zdiffstore zrangestore "
                           b"bitop sort geosearchstore georadius georadiusbymember".split())
#: read-only commands whose own keys are not tracked (only the scripts' reads, as the scripts' keys)
_SCRIPTS_READ_ONLY = frozenset((b"eval_ro", b"evalsha_ro", b"fcall_ro"))
#: write commands whose keys are not just args[1]: (first, last, step) as in Redis's key specs
_KEY_POSITIONS = {b"del": (1, -1, 1), b"unlink": (1, -1, 1), b"mset": (1, -1, 2), b"msetnx": (1, -1, 2),
                  b"rename": (1, 2, 1), b"renamenx": (1, 2, 1), b"copy": (2, 2, 1), b"smove": (1, 2, 1),
                  b"lmove": (1, 2, 1), b"blmove": (1, 2, 1), b"rpoplpush": (1, 2, 1), b"brpoplpush": (1, 2, 1),
                  b"bitop": (2, -1, 1), b"sinterstore": (1, -1, 1), b"sunionstore": (1, -1, 1),
                  b"sdiffstore": (1, -1, 1), b"blpop": (1, -2, 1), b"brpop": (1, -2, 1), b"bzpopmin": (1, -2, 1),
                  b"bzpopmax": (1, -2, 1), b"zrangestore": (1, 2, 1), b"xgroup": (2, 2, 1)}


def _written_keys(name: bytes, args: list[bytes]) -> list[bytes]:
    if name == b"sort":  # only its STORE destination is written
        return [args[i + 1] for i in range(2, len(args) - 1) if args[i].upper() == b"STORE"][-1:]
    if name in (b"zunionstore", b"zinterstore", b"zdiffstore", b"lmpop", b"zmpop", b"blmpop", b"bzmpop"):
        first = 2 if name.startswith(b"b") else 1
        try:
            count = int(args[first + (1 if name.endswith(b"store") else 0)])
        except (ValueError, IndexError):
            return []
        start = first + (2 if name.endswith(b"store") else 1)
        return ([args[1]] if name.endswith(b"store") else []) + args[start : start + count]
    first, last, step = _KEY_POSITIONS.get(name, (1, 1, 1))
    last = len(args) + last if last < 0 else last
    return args[first : last + 1 : step]


def _catalog(server: Server, served: dict[bytes, tuple[Handler, int]]) -> dict[bytes, Spec]:
    """The commands of the target's server that serve runs: the engine's data commands, and the server's
    own connection and server commands, ``served`` (commands.table: they win where both have a name, as SELECT)."""
    registered: dict[bytes, command_table.Registered] = {}
    for name, engine_command in REGISTRY.items():
        registered[name] = (None, engine_command)
        registered.update((name + b"|" + sub, (None, engine_command)) for sub in engine_command.subcommands)
    for name, (handler, _) in served.items():
        registered[name] = (handler, None)
        if b"|" not in name:  # a server container takes over the engine's subcommands it does not list itself
            prefix = name + b"|"
            registered.update((sub, (handler, None)) for sub in list(registered)
                              if sub.startswith(prefix) and sub not in served)
    return command_table.build(server.config.target, registered)
