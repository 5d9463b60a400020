"""One client's connection as the event loop sees it: bytes in, requests run, replies out.

Compiled with the server's core (issue 15): a plain request is one read, so this edge runs once per request
and its Python would cost more than the command. It is the protocol object the event loop calls (uvloop's,
asyncio's or the in-process server's): ``connection_made``, ``data_received``, ``eof_received``,
``pause_writing``, ``resume_writing``, ``connection_lost``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from rdbtools.keyspace.commands import CommandError
from rdbtools.server import client_eviction
from rdbtools.server.admin import record_timing
from rdbtools.server.attached import attached
from rdbtools.server.batch import run_requests
from rdbtools.server.clients import Client
from rdbtools.server.core import Shutdown
from rdbtools.server.protocol import ProtocolError, RequestParser, encode, encode_into
from rdbtools.server.timing import Timing

if TYPE_CHECKING:
    from rdbtools.server.app import App

log = logging.getLogger("rdbtool.serve")


class Connection:
    def __init__(self, app: App) -> None:
        self.app = app
        self.server = app.server  # (read on every request: a native attribute, not App's)
        self.outbox = app.outbox
        self.timing = attached(app.server, Timing)
        self.parser = RequestParser(app.config["proto-max-bulk-len"])
        #: the event loop's transport (asyncio's, uvloop's or the in-process server's: typed by what it does)
        self.transport: Any = None
        #: set by connection_made; None before, and for a connection refused there (no request is run for it)
        self.client: Client | None = None
        self.batch: list[bytes] | None = None  # replies of the requests being processed, written at once
        self.waiting: list[list[bytes]] = []  # requests read behind a blocking command, run once it is served
        self.broken: ProtocolError | None = None  # answered after the requests before it

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        peer, local = transport.get_extra_info("peername"), transport.get_extra_info("sockname")
        result = self.server.connect(_describe(peer, local), _describe(local, local), self.send, self.close)
        if isinstance(result, CommandError):
            transport.write(encode(result))
            transport.close()
            return
        self.client = result
        self.app.connections.add(self)

    def send(self, reply: object) -> None:
        client = self.client
        assert client is not None  # (the server sends to its clients only)
        if (self.batch is not None and client.resp == 3 and self.server.engine.target.pushes_after_reply
                and not self.server.tracking.before_call):  # (what evictions before the command tell: at once)
            client.after_reply.append(reply)  # a push to the client running a command: after its reply
            return
        data = encode(reply, client.resp == 3)
        if self.batch is not None:
            self.batch.append(data)
        elif self.transport is not None and not self.transport.is_closing():
            self.outbox.deliver(self, data)
            if (self.waiting or self.broken) and client.blocked is None:  # served: go on with the rest
                self.app.soon(self._resume)

    def write(self, data: bytes, close: bool = False) -> None:
        """Replies out (once the AOF holds what they acknowledge)."""
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)
            self.server.stats["total_net_output_bytes"] += len(data)
        if close:
            self.close()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        client = self.client
        if client is None or client.closing:
            return
        self.server.stats["total_net_input_bytes"] += len(data)
        try:
            requests = self.parser.feed(data)
        except ProtocolError as error:
            requests, self.broken = error.requests, error
        pending = self.parser.pending
        if pending:  # a request in part: the query buffer's limit, and the clients' memory's
            if pending > self.app.config["client-query-buffer-limit"]:
                log.warning("Closing client that reached max query buffer length: %s", client.address)
                client.closing = True
            elif self.server.engine.memory.clients_limit:
                client_eviction.evict(self.server, self.server.clock())
        if client.blocked is not None or self.waiting:
            self.waiting += requests
        else:
            self._run(requests)

    def eof_received(self) -> None:
        """The client's end closed its writing half: the transport closes (asyncio.Protocol's default)."""

    def pause_writing(self) -> None:
        """Replies pile up unread: they go on being buffered (client-output-buffer-limit ends that)."""

    def resume_writing(self) -> None:
        """See pause_writing."""

    def _resume(self) -> None:
        if self.transport is not None and self.client is not None and self.client.blocked is None:
            requests, self.waiting = self.waiting, []
            self._run(requests)

    def _run(self, requests: list[list[bytes]]) -> None:
        """Run requests in order, their replies written at once; behind a blocking command the rest
        wait until it is served (as Redis does)."""
        client, server = self.client, self.server
        assert client is not None  # (data_received and _resume run requests of clients only)
        batch: list[bytes] = []
        self.batch = batch
        threshold = self.timing.threshold
        started = server.clock()
        try:
            waiting = run_requests(server, client, requests, batch, not threshold)
            if waiting:
                self.waiting = waiting
            if threshold > 0 and requests and client.blocked is None:
                self._time_batch(client, requests, started, threshold)
            if self.timing.threshold != threshold and requests:
                # CONFIG SET changed it: Redis checks that command against the value it set
                record_timing(server, client, requests[-1], server.clock() - client.last_interaction)
            if client.blocked is None and self.broken is not None and not self.waiting:
                batch.append(encode(CommandError(str(self.broken))))
                client.closing = True
        except Shutdown:
            self.app.stop()
        finally:
            self.batch = None
            if batch or client.closing:
                self.outbox.deliver(self, b"".join(batch), client.closing)

    def _time_batch(self, client: Client, requests: list[list[bytes]], started: float, threshold: int) -> None:
        """The slow log without a clock read per command: only a read whose commands together reach
        slowlog-log-slower-than can hold a slow one; its last command was timed alone (it began at
        last_interaction), the others only together (a lone command is then the one that was slow)."""
        server = self.server
        ended = server.clock()
        if (ended - started) * 1_000_000 < threshold:
            return
        last = client.last_interaction
        if client.multi is None:  # a command queued in MULTI runs, and is timed, in EXEC
            record_timing(server, client, requests[-1], ended - last)
        if len(requests) == 2:
            record_timing(server, client, requests[0], last - started)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.client is not None:
            self.server.disconnect(self.client)
        self.app.connections.discard(self)
        self.transport = None

    def answer_busy(self, data: bytes) -> None:
        """Requests read while a script keeps the loop busy: each answered at once (BUSY, or a kill)."""
        try:
            requests = self.parser.feed(data)
        except ProtocolError as error:
            requests = error.requests
        client, scripting = self.client, self.server.scripting
        if client is None:
            return
        out: list[bytes] = []
        for request in requests:
            if client.closing:
                break
            encode_into(scripting.while_busy(client, request), client.resp == 3, out)
        if out or client.closing:
            self.write(b"".join(out), client.closing)

    def buffered(self) -> int:
        """What the connection holds: the request the client is sending, the replies it has not read."""
        if self.transport is None:
            return 0
        return self.parser.pending + int(self.transport.get_write_buffer_size())


class Outbox:
    """Replies on their way out. With AOF on, what they acknowledge is appended first: the replies of a loop
    turn wait for one write of everything the turn appended (and its fsync under appendfsync always), as
    Redis writes its AOF buffer before it replies (the group commit)."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.server = app.server
        self.held: list[tuple[Connection, bytes, bool]] = []  # replies waiting for the AOF's write (and fsync)
        self.scheduled = False

    def deliver(self, connection: Connection, data: bytes, close: bool = False) -> None:
        aof = self.server.aof
        if aof is not None and (aof.appender.buffer or self.held):
            self.held.append((connection, data, close))
            if not self.scheduled:
                self.scheduled = True
                self.app.soon(self.commit)
            return
        connection.write(data, close)

    def commit(self) -> None:
        """The turn's AOF writes made (and fsync'd), then the replies that waited."""
        self.scheduled = False
        aof = self.server.aof
        if aof is not None:  # (None: CONFIG SET appendonly no ran in this turn, and closing wrote what replies hold)
            self.app.exiting_on_aof_errors(aof.flush)
        held, self.held = self.held, []
        for connection, data, close in held:
            connection.write(data, close)


def _describe(peer: Any, local: Any) -> str:
    """An address as CLIENT LIST shows it (a unix socket's: its path)."""
    if isinstance(peer, tuple):
        host, port = peer[0], peer[1]
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return f"{peer or local}:0"
