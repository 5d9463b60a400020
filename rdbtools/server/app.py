"""The asyncio edge of ``rdbtool serve``: sockets, the timer, signals, logging like redis-server.

Everything else (what a request does, what it answers) is ``core.Server``'s, without I/O.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import select
import signal
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import cast

from rdbtools.server.aof import AofPersistence, AofWriteError
from rdbtools.server.clients import Client
from rdbtools.server.config import ServerConfig
from rdbtools.server.connection import Connection, Outbox
from rdbtools.server.core import Server

log = logging.getLogger("rdbtool.serve")
CRON_SECONDS = 0.1  # hz 10


_MARKS = {logging.DEBUG: ".", logging.INFO: "*", logging.WARNING: "#", logging.ERROR: "#"}


class RedisFormatter(logging.Formatter):
    """``pid:M 24 Nov 2026 19:03:23.123 * message``, the marks of redis-server's log levels."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%d %b %Y %H:%M:%S", time.localtime(record.created))
        role = "C" if os.getpid() != _MAIN_PID else "M"
        line = f"{os.getpid()}:{role} {stamp}.{int(record.msecs):03d} {_MARKS.get(record.levelno, '*')} " \
               f"{record.getMessage()}"
        return f"{line}\n{self.formatException(record.exc_info)}" if record.exc_info else line


_MAIN_PID = os.getpid()
_LEVELS = {"debug": logging.DEBUG, "verbose": logging.DEBUG, "notice": logging.INFO, "warning": logging.WARNING,
           "nothing": logging.CRITICAL + 1}


def _buffered(client: Client) -> int:
    """What a client's connection holds: the request it is sending, the replies it has not read."""
    connection = getattr(client.close, "__self__", None)
    return connection.buffered() if isinstance(connection, Connection) else 0


class App:
    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.server = Server(config)
        self._stopping: asyncio.Event | None = None
        self.outbox = Outbox(self)
        self.connections: set[Connection] = set()
        self._tcp: list[asyncio.AbstractServer] = []  # the TCP listeners (CONFIG SET port moves them)
        self.server.busy_poll = self._busy_poll
        config.relisten = self._relisten
        self.server.engine.memory.client_buffers = _buffered

    def soon(self, callback, *args) -> None:
        """Run a callback once the requests being run are done (the event loop's call_soon, which run() puts
        in this method's place; an in-process server runs them at the end of its turn)."""
        asyncio.get_running_loop().call_soon(callback, *args)

    def _busy_poll(self, caller) -> None:
        """A script runs past busy-reply-threshold and the loop cannot turn: read what the other
        connections sent and answer it now, as Redis's processEventsWhileBlocked does (the script's
        own connection waits; new connections wait for the loop)."""
        waiting = {}
        for connection in self.connections:
            transport = connection.transport
            if connection.client is caller or transport is None or transport.is_closing():
                continue
            sock = transport.get_extra_info("socket")
            if sock is not None:
                waiting[sock.fileno()] = connection
        if not waiting:
            return
        readable, _, _ = select.select(list(waiting), [], [], 0)
        for fd in readable:
            try:
                data = os.read(fd, 65536)
            except OSError:
                continue
            if data:
                waiting[fd].answer_busy(data)

    def exiting_on_aof_errors(self, action: Callable[[], object]) -> None:
        """``action()``; an AOF write or fsync that fails under appendfsync always ends the server, as Redis
        exits then: nothing acknowledged may be lost."""
        try:
            action()
        except AofWriteError as error:
            log.warning("%s", error.message)
            self.exit_at_once()

    def exit_at_once(self) -> None:
        """Stop without a save or a goodbye, as redis-server exits on an error it cannot recover from."""
        os._exit(1)

    def stop(self) -> None:
        if self._stopping is not None:
            self._stopping.set()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        self.soon = loop.call_soon  # type: ignore[method-assign, assignment]  # (the loop's, in the method's place)
        self.server.tracking.schedule = loop.call_soon  # BCAST invalidations: once the turn's requests are run
        self._stopping = asyncio.Event()
        listeners = await self._listen(loop)
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self._signalled, signum)
        log.info("Ready to accept connections")
        cron = loop.create_task(self._cron())
        await self._stopping.wait()
        cron.cancel()
        for listener in [*listeners, *self._tcp]:
            listener.close()
        self.close()

    def load(self) -> None:
        """The data at start: the AOF when appendonly is on (then opened for appending), else the dump."""
        started = time.time()
        aof = self.server.aof
        if aof is not None:
            existed = aof.exists() or aof.single_path.exists()
            aof.load(self.server.engine)
            if existed:
                log.info("DB loaded from append only file: %.3f seconds", time.time() - started)
            aof.open(self.server.engine)
            aof.collect_history()
        else:
            AofPersistence(self.config).collect_history()  # Redis reads the manifest and deletes history files anyway
            keys, expired = self.server.persistence.load(int(started * 1000))
            if self.server.persistence.path.exists():
                log.info("Done loading RDB, keys loaded: %d, keys expired: %d.", keys, expired)
                log.info("DB loaded from disk: %.3f seconds", time.time() - started)

    def close(self) -> None:
        """The end of serving: every client closed, the child killed, the AOF written out and closed."""
        for client in list(self.server.clients.values()):
            client.close()
        self.server.persistence.kill_child()
        if self.server.aof is not None:
            if self.outbox.held:
                self.outbox.commit()
            self.server.aof.close()

    def _signalled(self, signum: int) -> None:
        name = "SIGTERM" if signum == signal.SIGTERM else "SIGINT"
        log.warning("Received %s scheduling shutdown...", name)
        if self.server.aof is not None and self.server.aof.refuses_shutdown(False):
            return
        self.server.persistence.kill_child()
        if self.config["save"]:
            log.info("Saving the final RDB snapshot before exiting.")
            self.server.persistence.save()
        log.warning("Redis is now ready to exit, bye bye...")
        self.stop()

    async def _cron(self) -> None:
        while True:
            await asyncio.sleep(CRON_SECONDS)
            self.exiting_on_aof_errors(self.server.cron)  # (its retry of a failed write, under appendfsync always)

    async def _listen(self, loop) -> list[asyncio.AbstractServer]:
        self._tcp = [await self._serve_on(sock) for sock in self._bound(self.config["port"])]
        listeners = []
        if self.config["unixsocket"]:
            path = self.config["unixsocket"]
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            listeners.append(await loop.create_unix_server(self._connection, path))
            if self.config["unixsocketperm"]:
                os.chmod(path, self.config["unixsocketperm"])
        return listeners

    def _bound(self, port: int) -> list[socket.socket]:
        """Listening sockets on ``port`` at each bind address (none for port 0); a failure on an address not
        marked optional ("-") closes the others and raises OSError with Redis's words."""
        bound: list[socket.socket] = []
        for address in self.config["bind"] if port else ():
            here: list[socket.socket] = []
            try:
                found = socket.getaddrinfo(address.lstrip("-"), port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
                for family, kind, proto, _, where in found:
                    sock = socket.socket(family, kind, proto)
                    here.append(sock)
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    if family == socket.AF_INET6:
                        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # (the connections inherit it)
                    sock.bind(where)
                    sock.listen(511)
            except OSError as error:
                for sock in here if address.startswith("-") else [*bound, *here]:
                    sock.close()
                if not address.startswith("-"):
                    raise OSError(error.errno, f"Could not create server TCP listening socket {address}:{port}: "
                                               f"{error.strerror}") from None
                continue
            bound += here
        return bound

    async def _serve_on(self, sock: socket.socket) -> asyncio.AbstractServer:
        return await asyncio.get_running_loop().create_server(self._connection, sock=sock, backlog=511)

    def _connection(self) -> asyncio.Protocol:
        """A new connection's protocol object: a compiled class without asyncio.Protocol's base (a native class
        cannot have one), which the event loops need not: they call its methods."""
        return cast(asyncio.Protocol, Connection(self))

    def _relisten(self, port: int) -> bool:
        """CONFIG SET port: the TCP listeners move to ``port`` (none for 0); False, still on the old one, when
        it cannot be bound (Redis closes the old first and binds it again after the failure: the same outcome)."""
        try:
            bound = self._bound(port)
        except OSError as error:
            log.warning("Warning: %s", error.strerror)
            return False
        for listener in self._tcp:
            listener.close()
        self._tcp = []
        for sock in bound:
            asyncio.get_running_loop().create_task(self._serve_on(sock)).add_done_callback(
                lambda done: self._tcp.append(done.result()))
        return True


def _event_loop_runner():
    """uvloop's run where it is installed (libuv: fewer Python frames per socket event), else asyncio's."""
    if not os.environ.get("RDBTOOL_PURE_PYTHON"):
        try:
            import uvloop
        except ImportError:
            pass
        else:
            return uvloop.run
    return asyncio.run


def setup_logging(config: ServerConfig) -> None:
    handler: logging.Handler = (logging.FileHandler(config["logfile"]) if config["logfile"]
                                else logging.StreamHandler(sys.stdout))
    handler.setFormatter(RedisFormatter())
    log.handlers[:] = [handler]
    log.setLevel(_LEVELS[config["loglevel"]])
    log.propagate = False


def serve(config: ServerConfig) -> None:
    """Start, load the dump, serve until SHUTDOWN or a signal. Raises our errors for a bad start."""
    setup_logging(config)
    target = config.target
    log.info("oO0OoO0OoO0Oo Redis is starting oO0OoO0OoO0Oo")
    log.info("rdbtool serve, Redis version=%s (file formats of %s), bits=64, pid=%d, just started",
             target.server_version, target.name, os.getpid())
    for directive in sorted(set(config.ignored)):
        log.info("Directive '%s' is not used by rdbtool serve (ignored)", directive)
    log.info("Running mode=standalone, port=%d.", config["port"])
    app = App(config)
    log.info("Server initialized")
    app.load()
    pidfile = Path(config["pidfile"]) if config["pidfile"] else None
    if pidfile is not None:
        pidfile.write_text(f"{os.getpid()}\n")
    gc.enable()
    gc.freeze()  # what was loaded stays out of the collector's passes (and shared with BGSAVE children)
    runner = _event_loop_runner()
    log.info("Event loop: %s", runner.__module__.split(".")[0])
    try:
        runner(app.run())
    finally:
        if pidfile is not None:
            with contextlib.suppress(FileNotFoundError):
                pidfile.unlink()
