"""Sharded pub/sub as the real servers have it (Redis 7.0+, Valkey): SSUBSCRIBE, SUNSUBSCRIBE and SPUBLISH,
PUBSUB SHARDCHANNELS / SHARDNUMSUB, the replies and pushes in RESP2 and RESP3, the subscribed context, CLIENT
LIST's ssub=, and the errors (in EXEC, in a script, on Redis 6.2 which has none of it). Each scenario runs on
serve and on the real server; every connection's replies and pushes, in order, must be the same."""

from __future__ import annotations

import re
import socket
import time

import hiredis
import pytest

from tests.server.serving import start_serve
from tests.servers import start_server

_PENDING = object()  # hiredis's "no whole reply yet" (its default, False, is a RESP3 reply)


class Connections:
    """Named connections to one server: a line "a: SSUBSCRIBE x" goes out on connection a, then what every
    connection received is read (until a PING on each says it is all there)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.open: dict[str, tuple[socket.socket, hiredis.Reader]] = {}

    def send(self, name: str, args: list[bytes]) -> list[tuple[str, object]]:
        sock, reader = self._connection(name)
        sock.sendall(hiredis.pack_command(tuple(args)))
        first = reader.gets()
        while first is _PENDING:  # every command here answers its sender something: wait for it
            reader.feed(sock.recv(65536))
            first = reader.gets()
        time.sleep(0.02)  # the pushes to the other connections were written by the same event-loop turn
        received = [(name, first)]
        for other, (other_sock, other_reader) in self.open.items():
            received += [(other, message) for message in self._drain(other_sock, other_reader)]
        return sorted(received, key=lambda pair: pair[0])

    def _connection(self, name: str) -> tuple[socket.socket, hiredis.Reader]:
        if name not in self.open:
            self.open[name] = (socket.create_connection(("127.0.0.1", self.port), timeout=10),
                               hiredis.Reader(notEnoughData=_PENDING))
        return self.open[name]

    @staticmethod
    def _drain(sock: socket.socket, reader: hiredis.Reader) -> list:
        sock.setblocking(False)
        try:
            while True:
                data = sock.recv(65536)
                if not data:
                    break
                reader.feed(data)
        except BlockingIOError:
            pass
        finally:
            sock.setblocking(True)
        messages = []
        while (message := reader.gets()) is not _PENDING:
            messages.append(message)
        return messages

    def close(self) -> None:
        for sock, _ in self.open.values():
            sock.close()


_SUBSCRIPTION_FIELD = re.compile(rb"(flags|sub|psub|ssub)=")


def _plain(message):
    if isinstance(message, Exception):
        return ("error", str(message))
    if isinstance(message, list | tuple):
        return [_plain(m) for m in message]
    if isinstance(message, dict):
        return message.get(b"proto")  # HELLO: the protocol (its id and modules are not this test's)
    if isinstance(message, bytes) and message.startswith(b"id="):  # CLIENT LIST: its subscription fields
        return [field for line in message.splitlines() for field in line.split() if _SUBSCRIPTION_FIELD.match(field)]
    return message


def _unordered(args: list[bytes], received: list) -> list:
    """PUBSUB (SHARD)CHANNELS lists channels in the order of a hash table: compared sorted."""
    if args[0].upper() == b"PUBSUB" and args[1].upper().endswith(b"CHANNELS"):
        return [[name, sorted(reply) if isinstance(reply, list) else reply] for name, reply in received]
    return received


def compare_sessions(real_port: int, served_port: int, lines: list[str]) -> None:
    sessions = Connections(real_port), Connections(served_port)
    try:
        for line in lines:
            name, _, command = line.partition(":")
            args = [a.encode() for a in command.split()]
            theirs, ours = (_unordered(args, _plain(session.send(name, args))) for session in sessions)
            assert ours == theirs, f"{line!r}: serve {ours!r}, redis {theirs!r}"
    finally:
        for session in sessions:
            session.close()


@pytest.fixture(scope="module", params=["redis-7.0", "redis-8.2", "valkey-9.1"])
def pair(request):
    with start_server(request.param) as real, start_serve("--target", request.param) as served:
        yield real.port, served.port


def test_shard_subscribers_get_spublish_messages_and_count_only_shard_channels(pair):
    compare_sessions(*pair, [
        "a:SSUBSCRIBE x y", "a:SSUBSCRIBE x", "a:SUBSCRIBE z", "b:SPUBLISH x hi", "b:SPUBLISH z hi", "b:PUBLISH x hi",
        "b:PUBLISH z hi", "b:SPUBLISH nobody hi", "b:PUBSUB SHARDCHANNELS", "b:PUBSUB SHARDCHANNELS x*",
        "b:PUBSUB SHARDNUMSUB x y q", "b:PUBSUB SHARDNUMSUB", "b:PUBSUB CHANNELS", "b:PUBSUB NUMSUB x z",
        "a:SUNSUBSCRIBE x", "a:SUNSUBSCRIBE x q", "b:PUBSUB SHARDCHANNELS", "a:SUNSUBSCRIBE", "a:SUNSUBSCRIBE",
        "a:UNSUBSCRIBE", "c:SUNSUBSCRIBE", "c:SUNSUBSCRIBE q r", "c:SSUBSCRIBE x x", "c:PSUBSCRIBE p*",
        "b:SPUBLISH x again", "c:PUNSUBSCRIBE", "c:SUNSUBSCRIBE x"])


def test_a_shard_subscriber_is_in_the_subscribed_context_in_resp2_only(pair):
    compare_sessions(*pair, [
        "a:SSUBSCRIBE x", "a:PING", "a:PING hi", "a:GET k", "a:SPUBLISH x 1", "a:SUNSUBSCRIBE", "a:GET k",
        "a:SSUBSCRIBE x", "a:RESET", "a:GET k", "b:HELLO 3", "b:SSUBSCRIBE x", "b:GET k", "b:PING",
        "c:SPUBLISH x to-resp3", "b:SUNSUBSCRIBE x", "b:SUNSUBSCRIBE"])


def test_client_list_counts_shard_subscriptions(pair):
    compare_sessions(*pair, ["a:SSUBSCRIBE x y", "a:SUBSCRIBE z", "b:CLIENT LIST", "a:SUNSUBSCRIBE x", "b:CLIENT LIST"])


def test_ssubscribe_is_refused_inside_exec_and_scripts_but_spublish_runs(pair):
    compare_sessions(*pair, [
        "a:SSUBSCRIBE s", "c:MULTI", "c:SSUBSCRIBE x", "c:SPUBLISH s 1", "c:EXEC", "c:SPUBLISH s 2",
        "c:EVAL return(redis.call('spublish','s','3')) 0", "c:EVAL return(redis.call('ssubscribe','x')) 0",
        "c:SSUBSCRIBE", "c:SPUBLISH x", "c:SPUBLISH x y z"])


def test_redis_6_2_has_no_sharded_pub_sub():
    with start_server("redis-6.2") as real, start_serve("--target", "redis-6.2") as served:
        compare_sessions(real.port, served.port, [
            "a:SSUBSCRIBE x", "a:SUNSUBSCRIBE", "a:SPUBLISH x 1", "a:PUBSUB SHARDCHANNELS", "a:PUBSUB SHARDNUMSUB x",
            "a:SUBSCRIBE x", "a:SSUBSCRIBE x", "a:GET k"])
