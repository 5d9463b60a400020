"""An in-process Redis for tests: serve's server (the same core, the same edge as ``rdbtool serve``) without
sockets, and redis-py clients, sync and asyncio, whose connections hand their bytes to it directly.

The requests are redis-py's own bytes and the replies serve's own bytes, read by redis-py's own parser: what a
client sees is what it would see through a socket to ``rdbtool serve`` (pipelines, transactions, pub/sub,
blocking commands, RESP3), only without the kernel in between.

Threads: the server is not thread-safe, so each turn (a connection's requests, the timer) runs under one lock,
in the thread that sent them; nothing waits while holding it: a blocking command returns from its turn and its
client waits for its reply on its own inbox, which another client's turn fills. A server thread that the
clients hand their requests to was the other way: measured on the benchmark's machine, a handoff and back
costs 4.7 us of CPU (10 us wall) a request, a lock 0.16 us, where the whole of a sync GET costs about 14 us.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import itertools
import math
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

import redis
import redis.asyncio
from redis._parsers import _AsyncHiredisParser, _HiredisParser

from rdbtools.server.app import CRON_SECONDS, App
from rdbtools.server.config import ServerConfig
from rdbtools.server.connection import Connection
from rdbtools.testing.served import TEST_DEFAULTS

LOOPBACK = "127.0.0.1"
KNOCK_SECONDS = 0.01  # how often a request waiting for a busy server looks whether a script answered it


class InProcessApp(App):
    """serve's edge without an event loop: a turn runs a callback under the lock, then what the requests
    scheduled to run soon (the group commit of the AOF, a resumed connection, BCAST invalidations)."""

    def __init__(self, config: ServerConfig) -> None:
        super().__init__(config)
        self.lock = threading.Lock()
        self.scheduled: list[tuple[Callable, tuple]] = []
        self.turning: int | None = None  # the thread running a turn
        #: requests sent while another thread's turn runs: [connection, data], data None once answered
        self.knocking: list[list] = []
        self.stopped = False
        self.server.tracking.schedule = self.soon

    def soon(self, callback, *args) -> None:
        self.scheduled.append((callback, args))

    def turn(self, callback: Callable, *args) -> None:
        with self.lock:
            self._run_turn(callback, args)

    def _run_turn(self, callback: Callable, args: tuple) -> None:
        self.turning = threading.get_ident()
        try:
            callback(*args)
            scheduled = self.scheduled
            while scheduled:
                pending = scheduled[:]
                scheduled.clear()
                for function, arguments in pending:
                    function(*arguments)
        finally:
            self.turning = None

    def request(self, connection: Connection, data: bytes) -> None:
        """A connection's requests, run in a turn. While another thread's turn holds the server, they wait
        where a script past busy-reply-threshold answers them (BUSY, SCRIPT KILL: _busy_poll), as redis-server
        answers the other connections while a script runs."""
        if not self.lock.acquire(blocking=False):
            knock = [connection, data]
            self.knocking.append(knock)
            while not self.lock.acquire(timeout=KNOCK_SECONDS):
                if knock[1] is None:
                    return
            if knock[1] is None:
                self.lock.release()
                return
            self.knocking.remove(knock)
        try:
            self._run_turn(connection.data_received, (data,))
        finally:
            self.lock.release()

    def _busy_poll(self, caller) -> None:
        """A script runs on past busy-reply-threshold: the requests waiting for the server are answered now."""
        for knock in list(self.knocking):
            connection, data = knock
            if data is not None and connection.client is not caller:
                knock[1] = None
                self.knocking.remove(knock)
                connection.answer_busy(data)

    def hang_up(self, transport: Transport) -> None:
        """A client closes its connection. redis-py closes a connection it drops in its finalizer, which the
        garbage collector may run in the middle of a turn: that hang-up is then done at the end of the turn."""
        if self.turning == threading.get_ident():
            self.soon(transport.hang_up)
        else:
            self.turn(transport.hang_up)

    def stop(self) -> None:
        """SHUTDOWN: what serve does once its loop stops, and no connection after."""
        if not self.stopped:
            self.stopped = True
            self.soon(self.close)

    def exit_at_once(self) -> None:
        """An error redis-server exits on: the test process goes on, the server does not (no save)."""
        self.stopped = True
        for client in list(self.server.clients.values()):
            client.close()

    def open(self, inbox: SyncInbox | AsyncInbox) -> Connection:
        """A new connection whose replies go to ``inbox`` (refused once the server stopped, as a socket is)."""
        if self.stopped:
            raise ConnectionRefusedError("the in-process server was shut down")
        connection = Connection(self)
        self.turn(connection.connection_made, Transport(self, connection, inbox))
        return connection


class Transport:
    """What serve's Connection writes its replies to: the client's inbox instead of a socket."""

    _ports = itertools.count(1)

    def __init__(self, app: InProcessApp, connection: Connection, inbox: SyncInbox | AsyncInbox) -> None:
        self.app, self.connection, self.inbox = app, connection, inbox
        self.closing = False
        self.peer = (LOOPBACK, next(self._ports))  # a loopback client (protected mode lets it in)

    def write(self, data: bytes) -> None:
        self.inbox.put(data)

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        """The server closes the connection: the client reads what was written, then the end."""
        if not self.closing:
            self.closing = True
            self.inbox.close()
            self.app.soon(self.connection.connection_lost, None)

    def hang_up(self) -> None:
        """The client closes the connection (in a turn): the server forgets it, its subscriptions end."""
        if not self.closing:
            self.closing = True
            self.inbox.close()
            self.connection.connection_lost(None)

    def get_extra_info(self, name: str, default=None):
        return {"peername": self.peer, "sockname": (LOOPBACK, self.app.config["port"])}.get(name, default)

    def get_write_buffer_size(self) -> int:
        """The replies the client has not read (client eviction and memory counts read this)."""
        return self.inbox.unread()


class SyncInbox:
    """The replies of a sync client's connection: written by any thread's turn, read by the client's thread."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.closed = False
        self.waiting = False
        self.ready = threading.Condition(threading.Lock())

    def put(self, data: bytes) -> None:
        self.data += data
        if self.waiting:  # (set before the reader's last look, under the condition's lock: no wake-up is lost)
            with self.ready:
                self.ready.notify()

    def close(self) -> None:
        self.closed = True
        with self.ready:
            self.ready.notify()

    def unread(self) -> int:
        return len(self.data)

    def wait(self, timeout: float | None) -> bool:
        """Whether there is something to read (or the end) within ``timeout`` seconds (None: until there is)."""
        if self.data or self.closed:
            return True
        if timeout == 0:
            return False
        with self.ready:
            self.waiting = True
            try:
                return bool(self.ready.wait_for(lambda: self.data or self.closed, timeout))
            finally:
                self.waiting = False

    def read_into(self, buffer, timeout: float | None) -> int:
        """Like a socket's recv_into: what is there (0 at the end), TimeoutError when nothing came in time."""
        if not self.wait(timeout):
            raise TimeoutError("timed out")
        data = self.data
        size = min(len(data), len(buffer))
        buffer[:size] = data[:size]
        del data[:size]  # (a concurrent put only appends: the bytes taken are still the first ones)
        return size


class AsyncInbox:
    """The replies of an asyncio client's connection: a StreamReader of its event loop, fed from any thread."""

    def __init__(self) -> None:
        self.reader = asyncio.StreamReader()
        self.loop = asyncio.get_running_loop()
        self.thread = threading.get_ident()

    def _call(self, method: Callable, *args) -> None:
        if threading.get_ident() == self.thread:
            method(*args)
        else:
            with contextlib.suppress(RuntimeError):  # its loop is closed: nobody will read
                self.loop.call_soon_threadsafe(method, *args)

    def put(self, data: bytes) -> None:
        self._call(self.reader.feed_data, data)

    def close(self) -> None:
        self._call(self.reader.feed_eof)

    def unread(self) -> int:
        return len(self.reader._buffer)  # (as redis-py's own connection reads it)


class Socket:
    """The client end of a sync connection, as redis-py's connection and hiredis parser use a socket."""

    def __init__(self, app: InProcessApp, timeout: float | None) -> None:
        self.app = app
        self.inbox = SyncInbox()
        self.timeout = timeout
        self.connection = app.open(self.inbox)

    def sendall(self, data: bytes) -> None:
        transport = self.connection.transport
        if transport is not None and not transport.closing:  # (else the client reads the end)
            self.app.request(self.connection, data)

    def recv_into(self, buffer) -> int:
        return self.inbox.read_into(buffer, self.timeout)

    def settimeout(self, timeout: float | None) -> None:
        self.timeout = timeout

    def gettimeout(self) -> float | None:
        return self.timeout

    def shutdown(self, how: int) -> None:
        """Nothing to do: close() ends the connection."""

    def close(self) -> None:
        transport = self.connection.transport
        if transport is not None:
            self.app.hang_up(transport)

    def getpeername(self) -> tuple[str, int]:
        """The server's end (redis-py's logs name it), as the client's connection shows it in CLIENT LIST."""
        return self.connection.transport.get_extra_info("sockname") if self.connection.transport else (LOOPBACK, 0)

    def getsockname(self) -> tuple[str, int]:
        """The client's end: its address in CLIENT LIST."""
        return self.connection.transport.peer if self.connection.transport else (LOOPBACK, 0)


class InProcessConnection(redis.connection.AbstractConnection):
    """redis-py's sync connection to an in-process server (hiredis parses the replies, as it does a socket's)."""

    def __init__(self, *, inprocess: InProcessRedis, **kwargs) -> None:
        self.inprocess = inprocess
        super().__init__(parser_class=_HiredisParser, **kwargs)

    def repr_pieces(self) -> list[tuple[str, object]]:
        return [("inprocess", self.inprocess.dir), ("db", self.db)]

    def _connect(self) -> Socket:
        return Socket(self.inprocess.app, self.socket_timeout)

    def _host_error(self) -> str:
        return f"in-process server {self.inprocess.dir}"

    def can_read(self, timeout: float = 0) -> bool:
        """A socket is polled; the inbox is waited on (after what the parser holds already)."""
        if not self._sock:
            self.connect()
        return self.holds_reply() or (timeout != 0 and self._sock.inbox.wait(timeout))

    def holds_reply(self) -> bool:
        """Whether there is a reply (or the end) to read, in the parser or the inbox."""
        parser, inbox = self._parser._reader, self._sock.inbox
        return (parser is not None and parser.has_data()) or bool(inbox.data) or inbox.closed


class Writer:
    """The client end of an asyncio connection, as redis-py's asyncio connection uses a StreamWriter."""

    def __init__(self, app: InProcessApp, inbox: AsyncInbox) -> None:
        self.app = app
        self.connection = app.open(inbox)
        self.transport = self.connection.transport

    def writelines(self, chunks) -> None:
        if not self.transport.closing:  # (else the client reads the end)
            self.app.request(self.connection, b"".join(chunks))

    async def drain(self) -> None:
        """Nothing is buffered: the requests ran in writelines."""

    def close(self) -> None:
        self.app.hang_up(self.transport)

    async def wait_closed(self) -> None:
        """Closed at once by close()."""

    def get_extra_info(self, name: str, default=None):
        return self.transport.get_extra_info(name, default)


class AsyncInProcessConnection(redis.asyncio.connection.AbstractConnection):
    """redis-py's asyncio connection to an in-process server: its reader is fed by the server's turns, so a
    blocking command waits there without blocking the event loop. Writing runs the requests at once, and a
    reply already there is read at once: neither takes the timer that guards a socket's write or read."""

    def __init__(self, *, inprocess: InProcessRedis, **kwargs) -> None:
        self.inprocess = inprocess
        super().__init__(parser_class=_AsyncHiredisParser, **kwargs)

    def repr_pieces(self) -> list[tuple[str, object]]:
        return [("inprocess", self.inprocess.dir), ("db", self.db)]

    async def _connect(self) -> None:
        inbox = AsyncInbox()
        self._writer = Writer(self.inprocess.app, inbox)
        self._reader = inbox.reader

    def _host_error(self) -> str:
        return f"in-process server {self.inprocess.dir}"

    async def send_packed_command(self, command, check_health: bool = True) -> None:
        if not self.is_connected:
            await self.connect()
        if check_health:
            await self.check_health()
        if isinstance(command, str):
            command = command.encode()
        self._writer.writelines([command] if isinstance(command, bytes) else command)

    async def read_response(self, disable_decoding: bool = False, timeout: float | None = None, **options):
        if timeout is None and self.holds_reply():  # no wait: no timer (math.inf: none)
            timeout = math.inf
        return await super().read_response(disable_decoding, timeout, **options)

    def holds_reply(self) -> bool:
        """Whether a reply is there to read (the server writes whole replies: one begun is all there)."""
        reader, parser = self._reader, self._parser._reader
        return (parser is not None and parser.has_data()) or (reader is not None and bool(reader._buffer))


class InProcessPool(redis.ConnectionPool):
    """redis-py's pool less what sockets need (a check for a fork, metrics per connection taken and given back): a
    fork copies the in-process server with its connections, and they go on talking to that copy. A connection is
    checked as redis-py does (connected, no unread reply left) only when it is not plainly so."""

    def get_connection(self, *args, **options) -> InProcessConnection:
        with self._lock:
            try:
                connection = self._available_connections.pop()
            except IndexError:
                connection = self.make_connection()
            self._in_use_connections.add(connection)
        if connection._sock is None or connection.holds_reply():
            try:
                self.ensure_connection(connection)
            except BaseException:
                self.release(connection)
                raise
        return connection

    def release(self, connection: InProcessConnection) -> None:
        with self._lock:
            if connection in self._in_use_connections:
                self._in_use_connections.remove(connection)
                self._available_connections.append(connection)


class InProcessClient(redis.Redis):
    """redis-py's Redis whose commands are sent and read directly on their first attempt: redis-py wraps each
    in its retry policy and its client-side metrics, which cost more than the in-process server's own work. An
    attempt that fails on its connection (the server closed it: CLIENT KILL, QUIT, SHUTDOWN) is disconnected and
    the command goes through redis-py's own path, which reconnects and retries as the client's policy says."""

    def execute_command(self, *args, **options):
        if self.connection is not None:  # single_connection_client: redis-py's own locking
            return super().execute_command(*args, **options)
        pool = self.connection_pool
        connection = pool.get_connection()
        try:
            return self._send_command_parse_response(connection, args[0], *args, **options)
        except (redis.ConnectionError, redis.TimeoutError):
            connection.disconnect()
        finally:
            pool.release(connection)
        return super().execute_command(*args, **options)


class AsyncInProcessPool(redis.asyncio.ConnectionPool):
    """redis-py's asyncio pool less its metrics and its lock (taking and giving back a connection does not
    await here); a connection is checked as redis-py does when it is not plainly connected and idle."""

    async def get_connection(self, *args, **options) -> AsyncInProcessConnection:
        try:
            connection = self._available_connections.pop()
        except IndexError:
            connection = self.make_connection()
        self._in_use_connections.add(connection)
        if not connection.is_connected or connection.holds_reply() or connection._reader.at_eof():
            try:
                await self.ensure_connection(connection)
            except BaseException:
                await self.release(connection)
                raise
        return connection

    async def release(self, connection: AsyncInProcessConnection) -> None:
        if connection in self._in_use_connections:
            self._in_use_connections.remove(connection)
            self._available_connections.append(connection)


class AsyncInProcessClient(redis.asyncio.Redis):
    """redis.asyncio.Redis whose commands are sent and read directly on their first attempt (as
    InProcessClient's, for the same reasons)."""

    async def execute_command(self, *args, **options):
        if self.single_connection_client:
            return await super().execute_command(*args, **options)
        pool = self.connection_pool
        connection = await pool.get_connection()
        try:
            return await self._send_command_parse_response(connection, args[0], *args, **options)
        except (redis.ConnectionError, redis.TimeoutError):
            await connection.disconnect()
        finally:
            await pool.release(connection)
        return await super().execute_command(*args, **options)


def _split(options: dict[str, object], connection: type, pool: type) -> tuple[dict[str, object], dict[str, object]]:
    """redis-py's client options as Redis(...) takes them: those of a connection or a pool for the pool (Redis
    builds its pool from them), the client's own (single_connection_client) for the client."""
    pooled = set(inspect.signature(connection.__init__).parameters) | set(inspect.signature(pool.__init__).parameters)
    return ({name: value for name, value in options.items() if name in pooled},
            {name: value for name, value in options.items() if name not in pooled})


class InProcessRedis:
    """A Redis server in this process: ``client()`` and ``async_client()`` hand out redis-py clients of it
    (several see the same data). ``dir``: where it loads from and saves to (RDB, AOF: files a real Redis
    loads); None: a temporary directory, removed by ``close()``. ``save``: save points as redis.conf writes
    them ("" none, the default); ``config``: any other directive, by its redis.conf name
    (``InProcessRedis(config={"requirepass": "secret"})``). Its clients are local, and DEBUG is theirs
    (``enable-debug-command local``, which ``config={"enable-debug-command": "no"}`` turns off)."""

    def __init__(self, dir: str | Path | None = None, *, target: str | None = None, appendonly: bool = False,
                 save: str = "", config: dict[str, object] | None = None) -> None:
        self._temporary = tempfile.TemporaryDirectory(prefix="rdbtool-inprocess-") if dir is None else None
        self.dir = Path(self._temporary.name if self._temporary is not None else dir)
        arguments = ["--port", "0", "--dir", str(self.dir), "--save", save,
                     "--appendonly", "yes" if appendonly else "no", *TEST_DEFAULTS]
        if target is not None:
            arguments += ["--target", target]
        for name, value in (config or {}).items():
            arguments += [f"--{name}", *str(value).split()]
        self.app = InProcessApp(ServerConfig.load(arguments=arguments))
        self.app.load()
        self._stopping = threading.Event()
        self._timer = threading.Thread(target=self._cron, name="rdbtool-inprocess-cron", daemon=True)
        self._timer.start()

    def _cron(self) -> None:
        """redis-server's timer (hz 10): timeouts of blocking commands, active expiry, save points, children."""
        while not self._stopping.wait(CRON_SECONDS) and not self.app.stopped:
            self.app.turn(self.app.exiting_on_aof_errors, self.app.server.cron)

    def client(self, **options) -> redis.Redis:
        """A sync redis-py client (``options``: redis-py's connection options: db, password, protocol,
        decode_responses, socket_timeout ...)."""
        pooled, own = _split(options, redis.connection.AbstractConnection, redis.ConnectionPool)
        pool = InProcessPool(connection_class=InProcessConnection, inprocess=self, **pooled)
        return InProcessClient(connection_pool=pool, **own)

    def async_client(self, **options) -> redis.asyncio.Redis:
        """An asyncio redis-py client (``options`` as for ``client``)."""
        pooled, own = _split(options, redis.asyncio.connection.AbstractConnection, redis.asyncio.ConnectionPool)
        pool = AsyncInProcessPool(connection_class=AsyncInProcessConnection, inprocess=self, **pooled)
        return AsyncInProcessClient(connection_pool=pool, **own)

    def failpoint(self, point: str, action: str, *args: object) -> None:
        """Make a persistence step fail or slow down (DEBUG FAILPOINT SET; docs in the README)."""
        self._admin("DEBUG", "FAILPOINT", "SET", point, action, *args)

    def clear_failpoints(self) -> None:
        self._admin("DEBUG", "FAILPOINT", "CLEAR")

    def _admin(self, *command: object) -> None:
        """A command of this API's own, on a connection of its own (authenticated as the default user)."""
        with contextlib.closing(self.client(password=self.app.config["requirepass"] or None)) as admin:
            admin.execute_command(*command)

    def close(self) -> None:
        """Stop as SHUTDOWN NOSAVE would (clients disconnected, the AOF written out); the temporary dir removed."""
        self._stopping.set()
        self._timer.join()
        if not self.app.stopped:
            self.app.stopped = True
            self.app.turn(self.app.close)
        if self._temporary is not None:
            self._temporary.cleanup()

    def __enter__(self) -> InProcessRedis:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
