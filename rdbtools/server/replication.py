"""serve as a replication master, as Redis 7.0's replication.c is one: SYNC / PSYNC give a replica the
keyspace as an RDB (serve's own writer, the target's version), then the stream of what every write
propagates, the AOF's effects (core.Server.feed) encoded as RESP with a SELECT where the database
changes; REPLCONF as the handshake and the replica's ACKs use it; PING into the stream every
repl-ping-replica-period seconds; WAIT counts the replicas that acknowledged a client's last write;
INFO replication and ROLE describe them.

Serve always sends the RDB at once, as ``$<length>\\r\\n<bytes>`` (a disk-based sync), even to a replica
that could take the diskless form; a PSYNC is always answered +FULLRESYNC (no partial resync). While no
replica is attached nothing here runs on a request (core.Server.refresh keeps the direct path); unlike
Redis, whose backlog outlives its last replica for repl-backlog-ttl, the offset stops counting then.
"""

from __future__ import annotations

import io
import itertools
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from rdbtools.keyspace.commands import OK, SYNTAX, CommandError, integer
from rdbtools.server.appending import append_commands
from rdbtools.server.clients import NO_REPLY, Client
from rdbtools.server.protocol import Raw

if TYPE_CHECKING:
    from rdbtools.server.core import Server

NOREPLICAS = "NOREPLICAS Not enough good replicas to write."
BACKLOG_SIZE = 1024 * 1024  # repl-backlog-size's default (Redis's), what INFO reports
_NO_REPLID = "0" * 40
_GETACK = [b"REPLCONF", b"GETACK", b"*"]


class ReplicaOnly(list):
    """Commands for the replicas, not the AOF (PUBLISH: Redis propagates it to replicas only)."""


class AofOnly(list):
    """Commands for the AOF, not the replicas (Redis 6.2 sends its replicas relative expiries)."""


class ReplicaForm(list):
    """The replicas' form of commands whose AOF form went as AofOnly (6.2's relative expiries)."""


#: the kinds of commands the AOF does not get (one test for Server.feed and for a unit's steps)
NOT_FOR_AOF = frozenset((ReplicaOnly, ReplicaForm))


#: what Redis 6.2 sends its replicas in a relative form (the AOF gets the absolute one)
RELATIVE_BEFORE_7 = frozenset((b"set", b"setex", b"psetex", b"expire", b"pexpire", b"getex"))


def relative_form(name: bytes, args: list[bytes], done: list[list[bytes]]) -> list[list[bytes]]:
    """Redis 6.2's replica form of a write whose effects (Redis 7's form, absolute) are ``done``: SET ...
    EX/PX and SETEX/PSETEX as ``SET key value PX ms``, EXPIRE/PEXPIRE as sent, GETEX EX/PX as PEXPIRE
    (EXAT/PXAT, deletions and PERSIST as Redis 7 propagates them)."""
    first = done[0]
    if name in (b"setex", b"psetex"):
        ms = int(args[2]) * (1000 if name == b"setex" else 1)
        return [[b"SET", args[1], args[3], b"PX", b"%d" % ms]]
    if name in (b"expire", b"pexpire"):
        return [args] if first[0].upper() == b"PEXPIREAT" else done
    relative = _relative_option(name, args)
    if relative is None:
        return done
    if name == b"set" and len(first) == 5 and first[3] == b"PXAT":
        return [[b"SET", args[1], args[2], b"PX", relative]]
    if name == b"getex" and first[0].upper() == b"PEXPIREAT":
        return [[b"PEXPIRE", args[1], relative]]
    return done


def _relative_option(name: bytes, args: list[bytes]) -> bytes | None:
    """The milliseconds of a SET's or GETEX's EX or PX option, None without one."""
    options = args[3:] if name == b"set" else args[2:]
    for option, value in itertools.pairwise(options):
        upper = option.upper()
        if upper in (b"EX", b"PX"):
            return b"%d" % (int(value) * (1000 if upper == b"EX" else 1))
    return None


@dataclass(eq=False)
class Replica:
    """What a connection told in its handshake, and what it acknowledged once a replica."""

    client: Client
    port: int = 0  # REPLCONF listening-port
    address: str | None = None  # REPLCONF ip-address (else the connection's)
    capabilities: set[bytes] = field(default_factory=set)
    ack_offset: int = 0
    ack_time: float = 0.0
    online: bool = False

    @property
    def ip(self) -> str:
        return self.address if self.address is not None else self.client.address.rsplit(":", 1)[0].strip("[]")


@dataclass
class Waiting:
    """A client blocked in WAIT: the offset of its last write, how many replicas it asked for."""

    offset: int
    wanted: int


class Replication:
    """The master side: the attached replicas, the stream's selected database and offset."""

    def __init__(self) -> None:
        self.replicas: list[Replica] = []  # attached (SYNC / PSYNC ran), in attach order
        self.links: dict[Client, Replica] = {}  # every connection that sent REPLCONF or SYNC
        self.selected_db = -1  # the stream's: -1 after a full sync, as Redis's slaveseldb
        self.offset = 0  # master_repl_offset: bytes of stream fed since the backlog was made
        self.replid = os.urandom(20).hex()
        self.backlog_start: int | None = None  # the offset of the backlog's first byte, once made
        self.waiting: dict[Client, Waiting] = {}
        self.last_second = -1  # the cron's (PING every repl-ping-replica-period seconds)
        self.cron_epoch: float | None = None  # when its count of seconds started (None: a second after the start)
        self.min_replicas = 0  # min-replicas-to-write, while min-replicas-max-lag is on too (0: no check)
        self.max_lag = 10

    # --- the stream --------------------------------------------------------------------------------

    def feed(self, db: int, commands: list[list[bytes]]) -> None:
        """Commands into every replica's stream (a SELECT first when the database changed; db -1: as is)."""
        buffer = bytearray()
        self.selected_db = append_commands(buffer, self.selected_db, db, commands)
        self.offset += len(buffer)
        data = Raw(bytes(buffer))
        for replica in self.replicas:
            replica.client.send(data)

    def cron(self, server: Server) -> None:
        """Once a second (Redis's replicationCron, first run a second after the start; Valkey 9 counts its
        runs from the first replica): a PING into the stream every repl-ping-replica-period runs, counted
        from the first."""
        epoch = self.cron_epoch if self.cron_epoch is not None else server.process.started + 1
        loops = int(server.clock() - epoch)
        if loops == self.last_second:
            return
        self.last_second = loops
        if self.replicas and loops >= 0 and loops % _ping_period(server) == 0:
            self.feed(-1, [[b"ping"]])  # (Redis's shared object: lower case)

    # --- min-replicas-to-write ----------------------------------------------------------------------------

    def configure(self, server: Server) -> None:
        """min-replicas-to-write / -max-lag (at start and after CONFIG SET): while both are set, every client
        is gated (acl.Acl.refresh), so that writes are checked and plain requests pay nothing otherwise."""
        values = dict(server.config.get(["min-replicas-to-write", "min-replicas-max-lag"]))
        self.max_lag = int(values.get("min-replicas-max-lag", "10"))
        wanted = int(values.get("min-replicas-to-write", "0")) if self.max_lag else 0
        if bool(wanted) != bool(self.min_replicas):
            self.min_replicas = wanted
            server.acl.refresh_all()
        self.min_replicas = wanted

    def refusal(self, server: Server, client: Client, spec) -> CommandError | None:
        """NOREPLICAS for a write (or an EXEC holding one) while fewer replicas than min-replicas-to-write
        acknowledged within min-replicas-max-lag seconds (Redis's checkGoodReplicasStatus)."""
        if not (spec.write or (spec.name == b"exec" and client.multi and any(
                getattr(server.resolve(queued), "write", False) for queued in client.multi))):
            return None
        now = int(server.clock())
        good = sum(1 for r in self.replicas if r.online and now - int(r.ack_time) <= self.max_lag)
        return None if good >= self.min_replicas else CommandError(NOREPLICAS)

    # --- attaching and leaving -----------------------------------------------------------------------

    def link(self, client: Client) -> Replica:
        found = self.links.get(client)
        if found is None:
            found = self.links[client] = Replica(client)
        return found

    def attach(self, server: Server, client: Client, psync: bool) -> None:
        """A full resynchronisation: +FULLRESYNC (PSYNC), the RDB, then the stream from the next write."""
        replica = self.link(client)
        self.replicas.append(replica)
        client.replica = True
        target = server.config.target
        if target.valkey_server or target.version >= (7, 0):  # (6.2 sends a replica's replies in its stream)
            client.reply_mode = "replica"
        if self.backlog_start is None:  # the first replica: a new history (Redis changes its replid)
            self.replid = os.urandom(20).hex()
            self.backlog_start = self.offset + 1
            if target.valkey_server and target.version >= (9, 0):
                self.cron_epoch, self.last_second = server.clock(), -1
        if psync:
            client.send(Raw(b"+FULLRESYNC %s %d\r\n" % (self.replid.encode(), self.offset)))
        client.send(Raw(self._snapshot(server)))
        self.selected_db = -1  # the next command says its database
        replica.online, replica.ack_time = True, server.clock()
        server.refresh()

    def _snapshot(self, server: Server) -> bytes:
        """The keyspace as the RDB a replica loads, with Redis's replication aux fields."""
        from rdbtools.server.persistence import write_rdb

        out = io.BytesIO()
        aux = {b"repl-stream-db": b"0", b"repl-id": self.replid.encode(), b"repl-offset": b"%d" % self.offset}
        write_rdb(out, server.engine.keyspace, server.config, aux=aux)
        data = out.getvalue()
        return b"$%d\r\n" % len(data) + data

    def detach(self, server: Server, client: Client) -> None:
        """A connection closed: a replica leaves (and the WAITs it could have satisfied are counted again)."""
        replica = self.links.pop(client, None)
        self.waiting.pop(client, None)
        if replica is not None and replica in self.replicas:
            self.replicas.remove(replica)
            self.acks_changed(server)
            server.refresh()

    # --- acknowledgements and WAIT --------------------------------------------------------------------

    def acked(self, offset: int) -> int:
        """Replicas online that acknowledged ``offset`` (Redis's replicationCountAcksByOffset)."""
        return sum(1 for r in self.replicas if r.online and r.ack_offset >= offset)

    def acks_changed(self, server: Server) -> None:
        """Each WAIT done now answers; the others' timeout reply is the count as it is now."""
        for client, waiting in list(self.waiting.items()):
            count = self.acked(waiting.offset)
            blocked = client.blocked
            if blocked is None or blocked.args[0].lower() != b"wait":  # unblocked by CLIENT UNBLOCK
                del self.waiting[client]
            elif count >= waiting.wanted:
                del self.waiting[client]
                server.blocked.remove(client)
                client.blocked = None
                client.send(count)
            else:
                blocked.timeout_reply = count


def _ping_period(server: Server) -> int:
    return int(dict(server.config.get(["repl-ping-replica-period"])).get("repl-ping-replica-period", "10"))


# --- commands ---------------------------------------------------------------------------------------------

def table(server: Server) -> dict[bytes, tuple]:
    """SYNC, PSYNC, REPLCONF, ROLE and WAIT (merged into serve's server commands)."""
    s = server
    return {b"sync": (lambda c, a: _sync(s, c, a), 1), b"psync": (lambda c, a: _sync(s, c, a), -3),
            b"replconf": (lambda c, a: _replconf(s, c, a), -1), b"role": (lambda c, a: _role(s), 1),
            b"wait": (lambda c, a: _wait(s, c, a), 3)}


def replication_of(server: Server) -> Replication:
    return server.subscribers.replication


def published(server: Server, client: Client, args: list[bytes], receivers: int) -> int:
    """(S)PUBLISH's reply; with replicas attached it is propagated to them (only: not to the AOF)."""
    if server.subscribers.replication.replicas:
        server.propagate(client.db, ReplicaOnly([args]))
    return receivers


def _sync(server: Server, client: Client, args: list[bytes]) -> object:
    """SYNC / PSYNC replid offset: a full resynchronisation (PSYNC's offset must be an integer)."""
    if client.replica:
        return NO_REPLY  # SYNC again: ignored
    psync = args[0].lower() == b"psync"
    if psync:
        if len(args) > 3 and args[3].lower() == b"failover":
            raise CommandError("ERR PSYNC FAILOVER can't be sent to a master.")
        integer(args[2])
    replication_of(server).attach(server, client, psync)
    return NO_REPLY


def _replconf(server: Server, client: Client, args: list[bytes]) -> object:
    """REPLCONF option value ...: the handshake's options answer OK; ACK and GETACK answer nothing."""
    if len(args) % 2 == 0:
        raise CommandError(SYNTAX)
    replication = replication_of(server)
    for option, value in zip(args[1::2], args[2::2], strict=True):
        option = option.lower()
        if option == b"listening-port":
            replication.link(client).port = integer(value)
        elif option == b"ip-address":
            if len(value) >= 46:  # NET_HOST_STR_LEN
                raise CommandError(f"ERR REPLCONF ip-address provided by replica instance is too long: "
                                   f"{len(value)} bytes")
            replication.link(client).address = value.decode("utf-8", "replace")
        elif option == b"capa":
            replication.link(client).capabilities.add(value.lower())
        elif option == b"ack":
            return _ack(server, client, value)
        elif option == b"getack":
            return NO_REPLY  # a master has nobody to acknowledge to
        elif option == b"rdb-only":
            if integer(value) not in (0, 1):
                raise CommandError("ERR value is out of range, value must between 0 and 1")
        elif option == b"rdb-filter-only":
            for name in value.split():
                if name.lower() != b"functions":
                    raise CommandError(f"ERR Unsupported rdb-filter-only option: {name.decode('utf-8', 'replace')}")
        else:
            raise CommandError(f"ERR Unrecognized REPLCONF option: {option.decode('utf-8', 'replace')}")
    return OK


def _ack(server: Server, client: Client, value: bytes) -> object:
    """REPLCONF ACK offset from a replica: what it has processed (never answered)."""
    replication = replication_of(server)
    replica = replication.links.get(client)
    if replica is None or not client.replica:
        return NO_REPLY
    try:
        offset = integer(value)
    except CommandError:
        return NO_REPLY
    replica.ack_offset = max(replica.ack_offset, offset)
    replica.ack_time = server.clock()
    replication.acks_changed(server)
    return NO_REPLY


def _role(server: Server) -> list:
    """ROLE of a master: its offset and each online replica's address, port and acknowledged offset."""
    replication = replication_of(server)
    return [b"master", replication.offset,
            [[r.ip.encode(), b"%d" % r.port, b"%d" % r.ack_offset] for r in replication.replicas if r.online]]


def _wait(server: Server, client: Client, args: list[bytes]) -> object:
    """WAIT numreplicas timeout: the replicas that acknowledged the client's last write; when fewer than
    asked (outside MULTI), it blocks until enough do or the timeout (0: for ever), asking them for an ACK."""
    from rdbtools.server.core import Blocked

    wanted = integer(args[1])
    timeout = integer(args[2], "ERR timeout is not an integer or out of range")
    if timeout < 0:
        raise CommandError("ERR timeout is negative")
    replication = replication_of(server)
    count = replication.acked(client.woff)
    if count >= wanted or server.in_transaction or client.multi is not None:
        return count
    client.blocked = Blocked(args, None if timeout == 0 else server.clock() + timeout / 1000, count)
    server.blocked.append(client)
    replication.waiting[client] = Waiting(client.woff, wanted)
    if replication.replicas:
        replication.feed(replication.selected_db, [_GETACK])
    return NO_REPLY


def info_fields(server: Server) -> dict[str, object]:
    """INFO replication of a master (Redis 6.2 to 8.2's fields; Valkey adds each replica's type and
    replicas_waiting_psync, and its backlog is 10 MB by default)."""
    replication, valkey = replication_of(server), server.config.target.valkey_server
    fields: dict[str, object] = {"role": "master", "connected_slaves": len(replication.replicas)}
    now, kind = server.clock(), ",type=replica" if valkey else ""
    for index, r in enumerate(replication.replicas):
        fields[f"slave{index}"] = (f"ip={r.ip},port={r.port},state={'online' if r.online else 'wait_bgsave'},"
                                   f"offset={r.ack_offset},lag={int(now) - int(r.ack_time)}{kind}")
    if valkey:
        fields["replicas_waiting_psync"] = 0
    start, size = replication.backlog_start, BACKLOG_SIZE * (10 if valkey else 1)
    fields.update({"master_failover_state": "no-failover", "master_replid": replication.replid,
                   "master_replid2": _NO_REPLID, "master_repl_offset": replication.offset,
                   "second_repl_offset": -1, "repl_backlog_active": int(start is not None),
                   "repl_backlog_size": size, "repl_backlog_first_byte_offset": start or 0,
                   "repl_backlog_histlen": 0 if start is None else min(replication.offset - start + 1, size)})
    return fields
