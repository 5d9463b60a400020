"""Clients that speak RESP over a plain socket, for comparing serve with a real server: replies as
hiredis parses them (errors as values, not exceptions), or as the exact bytes the server sent."""

from __future__ import annotations

import socket

import hiredis

#: hiredis's "no whole reply yet" (its default, False, is also RESP3's false reply)
_INCOMPLETE = object()


def _request(args: list[bytes | str]) -> bytes:
    return hiredis.pack_command(tuple(a if isinstance(a, bytes) else a.encode() for a in args))


class RawClient:
    """Replies as hiredis parses them."""

    def __init__(self, port: int, source: str | None = None, host: str = "127.0.0.1") -> None:
        """``source``: the address to connect from (127.0.0.2: a loopback peer Redis 7.0 calls remote)."""
        self.sock = socket.create_connection((host, port),
                                             source_address=None if source is None else (source, 0))
        self.reader = hiredis.Reader(notEnoughData=_INCOMPLETE)

    def call(self, args: list[bytes | str]):
        self.sock.sendall(_request(args))
        return self.next()

    def next(self):
        """The next reply or push (a subscriber reads what comes without asking)."""
        while (reply := self.reader.gets()) is _INCOMPLETE:
            self.reader.feed(self.sock.recv(65536))
        return reply


class RawReplies:
    """Each reply's bytes exactly as the server sent them."""

    def __init__(self, port: int, timeout: float | None = None) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)

    def call(self, args: list[bytes | str], replies: int = 1) -> bytes:
        """One request, the bytes of its next ``replies`` replies (a push or an attribute counts as one,
        as hiredis reads them; nothing else is in flight)."""
        self.sock.sendall(_request(args))
        return self.read(replies)

    def read(self, replies: int = 1) -> bytes:
        reader, data = hiredis.Reader(notEnoughData=_INCOMPLETE), b""
        for _ in range(replies):
            while reader.gets() is _INCOMPLETE:
                chunk = self.sock.recv(65536)
                assert chunk, "the server closed the connection"
                data += chunk
                reader.feed(chunk)
        return data

    def close(self) -> None:
        self.sock.close()
