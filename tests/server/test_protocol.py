"""Requests from bytes as Redis parses them (sans-IO), and hostile input against a running serve:
Redis's protocol error, that connection closed, the server up, its memory bounded, others unaffected."""

from __future__ import annotations

import re
import socket
import time

import pytest
from hiredis import pack_command
from hypothesis import given, settings
from hypothesis import strategies as st

from rdbtools.server.protocol import ProtocolError, RequestParser, encode
from tests.server.serving import start_serve
from tests.servers import start_server

requests = st.lists(st.lists(st.binary(max_size=40), min_size=1, max_size=6), min_size=1, max_size=10)


@settings(max_examples=200)
@given(commands=requests, cuts=st.lists(st.integers(0, 10_000), max_size=8))
def test_requests_split_anywhere_come_out_whole_and_in_order(commands, cuts):
    stream = b"".join(pack_command(tuple(c)) for c in commands)
    parser, got, start = RequestParser(), [], 0
    for cut in [*sorted({c % (len(stream) + 1) for c in cuts}), len(stream)]:
        got += parser.feed(stream[start:cut])
        start = cut
    assert got == commands and parser.pending == 0


def test_inline_requests_with_quotes():
    parser = RequestParser()
    assert parser.feed(b'SET k "a b"\r\nPING\n\r\n') == [[b"SET", b"k", b"a b"], [b"PING"]]
    with pytest.raises(ProtocolError, match="unbalanced quotes"):
        parser.feed(b'SET k "open\r\n')


@pytest.mark.parametrize(("stream", "error"), [
    (b"*1\r\n$4294967296\r\n", "invalid bulk length"),
    (b"*2147483648\r\n", "invalid multibulk length"),
    (b"*1\r\n+PING\r\n", "expected '$', got '+'"),
    (b"*x\r\n", "invalid multibulk length"),
    (b"*1\r\n$-5\r\n", "invalid bulk length"),
    (b"x" * 70_000, "too big inline request"),
    (b"*1\r\n$" + b"1" * 70_000, "too big bulk count string"),
])
def test_broken_requests_get_redis_protocol_errors(stream, error):
    with pytest.raises(ProtocolError, match=re.escape(error)):
        RequestParser(max_bulk=512 * 1024 * 1024).feed(stream)


def test_bulk_length_above_proto_max_bulk_len_is_refused_before_buffering():
    parser = RequestParser(max_bulk=1000)
    with pytest.raises(ProtocolError, match="invalid bulk length"):
        parser.feed(b"*2\r\n$3\r\nSET\r\n$1001\r\n")


def test_replies_in_resp2_and_resp3():
    from rdbtools.keyspace.commands import NULL_ARRAY, Double, Map, Status
    from rdbtools.server.protocol import SetReply

    assert encode(Status("OK")) == b"+OK\r\n" and encode(None) == b"$-1\r\n" and encode(None, True) == b"_\r\n"
    assert encode(NULL_ARRAY) == b"*-1\r\n" and encode(Double(1.5)) == b"$3\r\n1.5\r\n"
    assert encode(Double(1.5), True) == b",1.5\r\n"
    assert encode(Map({b"a": 1}), True) == b"%1\r\n$1\r\na\r\n:1\r\n" and encode(Map({b"a": 1})) == (
        b"*2\r\n$1\r\na\r\n:1\r\n")
    assert encode(SetReply([b"x"]), True) == b"~1\r\n$1\r\nx\r\n"


# --- against a running server ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def serving():
    with start_serve("--proto-max-bulk-len", "1mb", "--client-query-buffer-limit", "2mb") as running:
        yield running


def _exchange(port: int, data: bytes, wait: float = 0.5) -> tuple[bytes, bool]:
    """Send, collect what comes back, and whether the server closed the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(data)
        sock.settimeout(wait)
        received = b""
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except TimeoutError:
            return received, False
        return received, True


@pytest.mark.parametrize(("data", "answer"), [
    (b"*1\r\n$4294967296\r\n", b"-ERR Protocol error: invalid bulk length\r\n"),
    (b"*2147483648\r\n", b"-ERR Protocol error: invalid multibulk length\r\n"),
    (b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2000000\r\n", b"-ERR Protocol error: invalid bulk length\r\n"),
    (b"*1\r\n:12\r\n", b"-ERR Protocol error: expected '$', got ':'\r\n"),
    (b"\x00\xff garbage \x01" * 8000, b"-ERR Protocol error: too big inline request\r\n"),
])
def test_hostile_requests_get_the_error_and_the_connection_is_closed(serving, data, answer):
    received, closed = _exchange(serving.port, data)
    assert received.endswith(answer) and closed
    assert serving.client().ping()


def test_an_unterminated_request_waits_and_the_server_serves_others(serving):
    with socket.create_connection(("127.0.0.1", serving.port)) as sock:
        sock.sendall(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$100\r\npartial")
        assert serving.client().ping()
        sock.sendall(b"x" * 93 + b"\r\n")
        sock.settimeout(5)
        assert sock.recv(100) == b"+OK\r\n"


def test_a_query_buffer_over_the_limit_closes_that_client_only(serving):
    with socket.create_connection(("127.0.0.1", serving.port)) as sock:
        sock.sendall(b"*10\r\n")  # ten 1 MB arguments: the request outgrows the 2 MB query buffer
        for _ in range(3):
            try:
                sock.sendall(b"$1000000\r\n" + b"v" * 1_000_000 + b"\r\n")
            except OSError:
                break  # closed: what is expected
        sock.settimeout(5)
        assert _closed(sock)
    assert serving.client().ping()


def _closed(sock: socket.socket) -> bool:
    try:
        return sock.recv(100) == b""
    except ConnectionResetError:
        return True


def test_thousands_of_idle_connections_do_not_stop_the_server(serving):
    before = serving.client().info("memory")["used_memory_rss"]
    idle = [socket.create_connection(("127.0.0.1", serving.port)) for _ in range(2000)]
    try:
        time.sleep(0.5)
        client = serving.client()
        assert client.ping() and client.info("clients")["connected_clients"] >= 2000
        assert client.info("memory")["used_memory_rss"] - before < 200 * 1024 * 1024
    finally:
        for sock in idle:
            sock.close()


NEGATIVE_COUNTS = b"*-2\r\n*1\r\n$4\r\nPING\r\n*-5\r\n*0\r\n*-1\r\n*1\r\n$4\r\nECHO\r\n"  # ECHO: arity error after


def test_a_count_below_minus_one_is_an_empty_request_as_in_redis(serving):
    """Redis skips any count <= 0 (hiredis refuses those below -1: serve met its exception; found by fuzzing)."""
    with start_server("redis-7.0") as real:
        theirs = _exchange(real.port, NEGATIVE_COUNTS)
    assert _exchange(serving.port, NEGATIVE_COUNTS) == theirs
    assert theirs[0] == b"+PONG\r\n-ERR wrong number of arguments for 'echo' command\r\n"
    assert RequestParser().feed(NEGATIVE_COUNTS) == [[b"PING"], [b"ECHO"]]
