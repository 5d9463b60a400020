"""MIGRATE: keys sent to another server as RESTORE commands over a connection kept for the next MIGRATE to
the same address (closed after 10 s unused, as Redis's cached sockets), deleted here once the target took
them (unless COPY), and that deletion propagated as DEL. Redis does this synchronously, and so does serve:
nothing else runs until the target has answered or the timeout passed."""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import hiredis

from rdbtools.keyspace.commands import GENERIC, OK, SYNTAX, CommandError, Status, integer
from rdbtools.rdb.payload import dump_payload
from rdbtools.server.attached import attached

if TYPE_CHECKING:
    from rdbtools.server.core import Server

IDLE_SECONDS = 10  # Redis's MIGRATE_SOCKET_CACHE_TTL
CONNECT_ERROR = "IOERR error or timeout connecting to the client"


@dataclass
class Request:
    keys: list[bytes]
    db: int
    timeout: float  # seconds
    copy: bool = False
    replace: bool = False
    auth: tuple[bytes, ...] = ()  # (password,) or (username, password)


@dataclass
class _Connection:
    sock: socket.socket
    reader: hiredis.Reader
    last_db: int = -1  # the next MIGRATE sends SELECT unless this is its database
    last_use: float = 0.0


class _Connections(dict):
    """A server's connections to MIGRATE targets, by (host, port)."""


def parse(args: list[bytes]) -> Request:
    """MIGRATE host port key|"" db timeout [COPY] [REPLACE] [AUTH pw | AUTH2 user pw] [KEYS key...], checked
    in Redis's order (options first, then the timeout and the database)."""
    request, keys, j = Request([args[3]], 0, 1.0), None, 6
    while j < len(args) and keys is None:
        option, more = args[j].lower(), len(args) - 1 - j
        if option in (b"copy", b"replace"):
            setattr(request, option.decode(), True)
        elif option == b"auth" and more >= 1:
            request.auth, j = (args[j + 1],), j + 1
        elif option == b"auth2" and more >= 2:
            request.auth, j = (args[j + 1], args[j + 2]), j + 2
        elif option == b"keys":
            if args[3]:
                raise CommandError("ERR When using MIGRATE KEYS option, the key argument must be set to the empty "
                                   "string")
            keys = args[j + 1 :]
        else:
            raise CommandError(SYNTAX)
        j += 1
    timeout, request.db = integer(args[5]), integer(args[4])
    request.timeout = (timeout if timeout > 0 else 1000) / 1000
    request.keys = request.keys if keys is None else keys
    return request


def migrate(server: Server, client, args: list[bytes]) -> object:
    request = parse(args)
    engine = server.engine
    found = [(key, entry) for key in request.keys if (entry := engine.lookup(key, client.db)) is not None]
    if not found:
        return Status("NOKEY")
    address = (args[1].decode("utf-8", "replace"), args[2].decode("utf-8", "replace"))
    retry = True  # a cached connection the target closed is opened again, once, if nothing was answered
    while True:
        try:
            connection = _connect(server, address, request.timeout)
            return _send(server, client, connection, request, found)
        except _Broken as broken:
            _close(server, address)
            if not (retry and broken.may_retry):
                raise CommandError(f"IOERR error or timeout {broken.doing} to target instance") from None
            retry = False


class _Broken(Exception):
    """The connection failed while ``doing`` ("writing", "reading"); retried unless it timed out or some
    RESTORE was already answered."""

    def __init__(self, doing: str, may_retry: bool) -> None:
        super().__init__(doing)
        self.doing, self.may_retry = doing, may_retry


def _send(server: Server, client, connection: _Connection, request: Request, found: list) -> object:
    """The AUTH, SELECT and RESTOREs in one write, then their replies; keys the target took are deleted
    here (not with COPY) and that propagated as one DEL."""
    engine, now = server.engine, server.engine.now_ms()
    commands = [[b"AUTH", *request.auth]] if request.auth else []
    select = connection.last_db != request.db
    if select:
        commands.append([b"SELECT", b"%d" % request.db])
    sent = []
    for key, entry in found:
        ttl = 0 if entry.expire_ms is None else max(entry.expire_ms - now, 1)
        if entry.expire_ms is not None and entry.expire_ms < now:
            continue  # expired while the others were serialized
        payload = dump_payload(engine.keyspace.record(client.db, key, entry), engine.target)
        commands.append([b"RESTORE", key, b"%d" % ttl, payload, *([b"REPLACE"] if request.replace else [])])
        sent.append(key)
    # hiredis's stub types the argument as a one-item tuple; pack_command takes a tuple of any length
    _write(connection, b"".join(hiredis.pack_command(tuple(c)) for c in commands))  # type: ignore[arg-type]
    setup = [_read_reply(connection, True) for _ in range(bool(request.auth) + select)]
    error: CommandError | None = None
    deleted: list[bytes] = []
    try:
        for key in sent:
            reply = _read_reply(connection, not deleted and error is None)
            failure = next((r for r in (*setup, reply) if isinstance(r, hiredis.ReplyError)), None)
            if failure is not None:
                error = error or CommandError(f"ERR Target instance replied with error: {failure}")
                connection.last_db = -1
            elif not request.copy:
                _delete(server, client.db, key)
                deleted.append(key)
    finally:
        if deleted:
            server.propagate(client.db, [[b"DEL", *deleted]])
    if error is not None:
        return error
    connection.last_db = request.db
    return OK


def _delete(server: Server, db: int, key: bytes) -> None:
    """A key the target took: gone here, told as DEL is (event, WATCH, tracking, dirty)."""
    del server.engine.keyspace.db(db)[key]
    server.engine.notify(GENERIC, b"del", key, db)
    server.signal_modified(db, [key])
    server.changes.dirty += 1


def _connect(server: Server, address: tuple[str, str], timeout: float) -> _Connection:
    cache = attached(server, _Connections)
    now = time.monotonic()
    for name, cached in list(cache.items()):
        if now - cached.last_use > IDLE_SECONDS:
            cached.sock.close()
            del cache[name]
    connection = cache.get(address)
    if connection is None:
        try:
            sock = socket.create_connection((address[0], int(address[1]) if address[1].isdigit() else 0), timeout)
        except ConnectionRefusedError:  # Redis's non-blocking connect finds out only when it writes
            raise _Broken("writing", True) from None
        except (OSError, ValueError):
            raise CommandError(CONNECT_ERROR) from None
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        connection = cache[address] = _Connection(sock, hiredis.Reader())
    connection.sock.settimeout(timeout)
    connection.last_use = now
    return connection


def _close(server: Server, address: tuple[str, str]) -> None:
    connection = attached(server, _Connections).pop(address, None)
    if connection is not None:
        connection.sock.close()


def _write(connection: _Connection, data: bytes) -> None:
    try:
        connection.sock.sendall(data)
    except TimeoutError:
        raise _Broken("writing", False) from None
    except OSError:
        raise _Broken("writing", True) from None


def _read_reply(connection: _Connection, first: bool) -> object:
    """The target's next reply (+OK, -ERR ...: errors as hiredis.ReplyError values); ``first``: nothing
    was answered yet, so a broken connection may be retried."""
    reader = connection.reader
    while (reply := reader.gets()) is False:
        try:
            chunk = connection.sock.recv(65536)
        except TimeoutError:
            raise _Broken("reading", False) from None
        except OSError:
            chunk = b""
        if not chunk:
            raise _Broken("reading", first)
        reader.feed(chunk)
    return reply
