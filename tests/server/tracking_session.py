"""Several raw connections to one server, driven step by step: after each step every connection is
read up to a barrier of its own (CLIENT SETNAME + GETNAME, which leave CLIENT CACHING in force; PING in
RESP2 pub/sub mode), so what each received (replies, invalidation pushes, pub/sub messages) is known
exactly, and the same steps can be compared between serve and a real server. A connection inside MULTI
is read only when it acts, up to its reply."""

from __future__ import annotations

import contextlib
import re
import socket
from collections.abc import Callable
from typing import TypeVar

import hiredis

T = TypeVar("T")
Step = tuple  # (connection index, arg, ...): "{id0}" ("{addr0}", "{laddr0}") is connection 0's client id
#              (address, local address) on that server


class Session:
    def __init__(self, port: int, protocols: list[int]) -> None:
        self.conns = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in protocols]
        self.barriers = 0
        self.protocols = protocols
        self.subscribed = [False] * len(protocols)
        self.in_multi = [False] * len(protocols)
        self.ids: list[int] = []
        self.addresses: list[tuple[bytes, bytes]] = []
        self.closed: set[int] = set()
        for index, protocol in enumerate(protocols):
            self._send(index, ["HELLO", str(protocol)] if protocol == 3 else ["CLIENT", "ID"])
            reply = self._read_reply(index)
            self.ids.append(_client_id(reply) if protocol == 3 else int(reply[1:-2]))
            self._send(index, ["CLIENT", "INFO"])
            found = re.search(rb" addr=(\S+) laddr=(\S+) ", self._read_reply(index))
            self.addresses.append((found.group(1), found.group(2)))

    def close(self) -> None:
        for conn in self.conns:
            conn.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def run(self, steps: list[Step]) -> list[list[bytes]]:
        """Per step, what each connection received (ids written as <idN>)."""
        return [self.step(step) for step in steps]

    def step(self, step: Step) -> list[bytes]:
        index, *args = step
        args = [self._fill(a) for a in args]
        self._send(index, args)
        name = args[0].lower()
        if name == b"multi" or self.in_multi[index]:
            self.in_multi[index] = name not in (b"exec", b"discard", b"reset")
        if name in (b"subscribe", b"psubscribe") and self.protocols[index] == 2:
            self.subscribed[index] = True
        received = [b""] * len(self.conns)
        for i in [index] + [i for i in range(len(self.conns)) if i != index]:  # the acting one first: its
            if self.in_multi[i]:  # command is done (and its BCAST messages sent) before the others are read
                received[i] = self._until_reply(i) if i == index else b""
            else:
                received[i] = self.barrier(i)
        gives_id = [a.lower() for a in args[:2]] in ([b"client", b"id"], [b"client", b"getredir"])
        return [self._normal(data, gives_id and i == index) for i, data in enumerate(received)]

    def request(self, index: int, args: list) -> bytes:
        """What a request brought, pushes and its reply in the order they came: no barrier, so that what
        the server does before the next command is not hidden behind the barrier's own commands."""
        self.send_only(index, args)
        return self._until_reply(index)

    def send_only(self, index: int, args: list) -> None:
        """A request whose reply is not waited for (a paused or blocked client)."""
        self._send(index, [self._fill(a) for a in args])

    def barrier(self, index: int) -> bytes:
        """Everything the connection received before the reply of a barrier sent now."""
        if index in self.closed:
            return b"<closed>"
        self.barriers += 1
        mark = b"b%d" % self.barriers
        if self.subscribed[index]:
            self._send(index, ["PING", mark])
            replies = [b"*2\r\n$4\r\npong\r\n$%d\r\n%s\r\n" % (len(mark), mark)]
        else:
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # killed: read says so
                self.conns[index].sendall(hiredis.pack_command((b"CLIENT", b"SETNAME", mark))
                                          + hiredis.pack_command((b"CLIENT", b"GETNAME")))
            replies = [b"+OK\r\n", b"$%d\r\n%s\r\n" % (len(mark), mark)]
        data = b""
        while True:
            items = _items(data)
            if items and items[-1] == (False, replies[-1]):  # pushes may come between the two replies
                kept, last_reply = list(items), len(items) - 1
                del kept[last_reply]
                if len(replies) == 2:
                    del kept[max(i for i, item in enumerate(kept) if item == (False, replies[0]))]
                return b"".join(raw for _, raw in kept)
            try:
                chunk = self.conns[index].recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                self.closed.add(index)
                return data + b"<closed>"
            data += chunk

    def _until_reply(self, index: int) -> bytes:
        """What the connection receives up to and with the next reply that is not a push."""
        data = b""
        while True:
            items = _items(data)
            if items is not None and any(not push for push, _ in items):
                return data
            chunk = self.conns[index].recv(65536)
            if not chunk:
                return data + b"<closed>"
            data += chunk

    def _fill(self, arg) -> bytes:
        text = arg if isinstance(arg, bytes) else str(arg).encode()
        text = re.sub(rb"\{id(\d+)\}", lambda m: b"%d" % self.ids[int(m.group(1))], text)
        return re.sub(rb"\{(l?)addr(\d+)\}", lambda m: self.addresses[int(m.group(2))][bool(m.group(1))], text)

    def _normal(self, data: bytes, gives_id: bool) -> bytes:
        """Client ids as <idN> (in the replies that give them: CLIENT ID/GETREDIR/TRACKINGINFO, and the
        broken-redirection push), so two servers' transcripts compare."""
        where = rb"((?:redirect|tracking-redir-broken)\r\n%s)" % (rb"|^" if gives_id else b"")
        for n, cid in enumerate(self.ids):
            data = re.sub(where + rb":%d\r\n" % cid, rb"\1:<id%d>\r\n" % n, data)
            data = data.replace(b"redir=%d " % cid, b"redir=<id%d> " % n)
        return data

    def _send(self, index: int, args: list) -> None:
        if index in self.closed:
            return
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.conns[index].sendall(hiredis.pack_command(tuple(a if isinstance(a, bytes) else str(a).encode()
                                                                 for a in args)))

    def _read_reply(self, index: int) -> bytes:
        reader, data = hiredis.Reader(), b""
        while reader.gets() is False:
            chunk = self.conns[index].recv(65536)
            data += chunk
            reader.feed(chunk)
        return data


def _items(data: bytes) -> list[tuple[bool, bytes]] | None:
    """Each whole message in data: (whether a push, its bytes); None when one is cut short."""
    pos, items = 0, []
    while pos < len(data):
        end = _skip(data, pos)
        if end is None:
            return None
        items.append((data[pos : pos + 1] == b">", data[pos:end]))
        pos = end
    return items


def _skip(data: bytes, pos: int) -> int | None:
    """The end of the RESP2/3 value at pos (None: incomplete)."""
    line_end = data.find(b"\r\n", pos)
    if line_end < 0:
        return None
    kind, head = data[pos : pos + 1], data[pos + 1 : line_end]
    after = line_end + 2
    if kind in b"$=!" and head != b"-1" and kind:
        end = after + int(head) + 2
        return end if end <= len(data) else None
    if kind in b"*~>%|" and head != b"-1" and kind:
        count = int(head) * (2 if kind in b"%|" else 1)
        for _ in range(count):
            after = _skip(data, after)
            if after is None:
                return None
    return after


def _client_id(hello: bytes) -> int:
    return int(re.search(rb"\$2\r\nid\r\n:(\d+)\r\n", hello).group(1))


def on_both(pairs, target: str, protocols: list[int], script: Callable[[Session], T]) -> tuple[T, T]:
    """A script of steps run on the target's real server and on serve (``pairs``, tests/server/conftest.py),
    each in a fresh session after a FLUSHALL: (the real server's result, serve's)."""
    results = []
    for server in pairs(target):
        with Session(server.port, protocols) as session:
            session.step((0, "FLUSHALL"))
            results.append(script(session))
    return results[0], results[1]


def assert_same_outcome(pairs, protocols: list[int], script: Callable[[Session], object],
                        target: str = "redis-7.0") -> None:
    theirs, ours = on_both(pairs, target, protocols, script)
    assert ours == theirs, f"serve {ours!r}, {target} {theirs!r}"


def assert_same(pairs, protocols: list[int], steps: list[Step], target: str = "redis-7.0") -> None:
    """Every connection received the same at every step, on serve and on the real server."""
    theirs, ours = on_both(pairs, target, protocols, lambda session: session.run(steps))
    for step, mine, redis_reply in zip(steps, ours, theirs, strict=True):
        assert mine == redis_reply, f"{step!r}: serve {mine!r}, {target} {redis_reply!r}"
