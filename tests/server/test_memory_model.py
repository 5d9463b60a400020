"""The figures maxmemory keeps per key follow every write: after any commands, the kept total is what
summing every key again gives (the O(1) check before each command reads that total; its figures are
checked against the real server in test_maxmemory_vs_server.py)."""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st

from rdbtools.server.config import ServerConfig
from rdbtools.server.core import Server
from rdbtools.server.memory import Memory

_KEY = st.sampled_from(["a", "b", "c"])
_VALUE = st.sampled_from(["1", "x", "v" * 50])
_COMMAND = st.one_of(
    st.tuples(st.just("SET"), _KEY, _VALUE), st.tuples(st.just("APPEND"), _KEY, _VALUE),
    st.tuples(st.just("SETEX"), _KEY, st.just("100"), _VALUE), st.tuples(st.just("PERSIST"), _KEY),
    st.tuples(st.just("DEL"), _KEY, _KEY), st.tuples(st.just("RENAME"), _KEY, _KEY),
    st.tuples(st.just("MOVE"), _KEY, st.just("1")), st.tuples(st.just("COPY"), _KEY, _KEY, st.just("DB"), st.just("1")),
    st.tuples(st.just("RPUSH"), _KEY, _VALUE, _VALUE), st.tuples(st.just("LPOP"), _KEY),
    st.tuples(st.just("HSET"), _KEY, _VALUE, _VALUE), st.tuples(st.just("SADD"), _KEY, _VALUE),
    st.tuples(st.just("ZADD"), _KEY, st.just("1.5"), _VALUE), st.tuples(st.just("SWAPDB"), st.just("0"), st.just("1")),
    st.tuples(st.just("SELECT"), st.sampled_from(["0", "1"])), st.tuples(st.just("FLUSHDB")),
    st.tuples(st.just("MSET"), _KEY, _VALUE, _KEY, _VALUE), st.tuples(st.just("SINTERSTORE"), _KEY, _KEY),
)


def _summed(server: Server) -> int:
    fresh = Memory(server.config.target)
    fresh.limit = 1
    fresh.resync(server.engine.keyspace)
    return fresh.total


@settings(max_examples=150, deadline=None)
@given(commands=st.lists(_COMMAND, max_size=25))
@example(commands=[("SET", "a", "1"), ("MOVE", "a", "1"), ("SELECT", "1"), ("APPEND", "a", "x")])
@example(commands=[("SET", "a", "x"), ("COPY", "a", "b", "DB", "1"), ("SWAPDB", "0", "1"), ("SETEX", "b", "100", "1")])
def test_the_kept_total_follows_every_write(commands):
    server = Server(ServerConfig.load(None, ["--save", "", "--maxmemory", "1gb"]))
    client = server.connect("127.0.0.1:1", "127.0.0.1:2", lambda reply: None, lambda: None)
    for command in commands:
        server.execute(client, [part.encode() for part in command])
        assert server.engine.memory.total == _summed(server), command  # by the write itself, not a resync


def test_without_a_limit_requests_stay_on_the_plain_path():
    """maxmemory 0 costs a request nothing: its client is not gated and writes take the direct path; a limit
    gates every client (the O(1) check) until it is 0 again."""
    server = Server(ServerConfig.load(None, ["--save", ""]))
    client = server.connect("127.0.0.1:1", "127.0.0.1:2", lambda reply: None, lambda: None)
    assert not client.gated and server.direct
    server.execute(client, [b"CONFIG", b"SET", b"maxmemory", b"1gb"])
    late = server.connect("127.0.0.1:3", "127.0.0.1:2", lambda reply: None, lambda: None)
    assert client.gated and late.gated and not server.direct
    server.execute(client, [b"CONFIG", b"SET", b"maxmemory", b"0"])
    assert not client.gated and not late.gated and server.direct
