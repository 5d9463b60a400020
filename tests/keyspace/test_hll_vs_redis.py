"""HyperLogLog in the engine against a real Redis 7.0: after the same PFADD/PFMERGE/PFCOUNT sequences
the replies and the string bytes are equal, through sparse updates, promotion to dense and merges."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rdbtools.keyspace.commands.hyperloglog import empty
from rdbtools.keyspace.engine import Engine
from tests.keyspace.test_engine_vs_server import both_replies
from tests.resp_client import RawClient
from tests.servers import start_server

key = st.sampled_from([b"h1", b"h2", b"h3"])
elements = st.lists(st.integers(0, 10**6).map(lambda n: b"e%d" % n), max_size=300)
commands = st.lists(st.one_of(
    st.tuples(st.just(b"PFADD"), key, elements).map(lambda t: [t[0], t[1], *t[2]]),
    st.tuples(st.just(b"PFCOUNT"), st.lists(key, min_size=1, max_size=3)).map(lambda t: [t[0], *t[1]]),
    st.tuples(st.just(b"PFMERGE"), key, st.lists(key, max_size=3)).map(lambda t: [t[0], t[1], *t[2]]),
    st.just([b"SET", b"h3", b"not an hll"]),
), min_size=1, max_size=30)


@pytest.fixture(scope="module")
def server():
    with start_server("redis-7.0") as running:
        yield running


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sequence=commands)
def test_hll_replies_and_bytes_match_redis(server, sequence):
    client, engine = RawClient(server.port), Engine(loading=False)
    client.call([b"FLUSHALL"])
    for args in sequence:
        ours, theirs = both_replies(client, engine, args)
        assert ours == theirs, f"{args[:3]!r}...: engine {ours!r}, redis {theirs!r}"
        for name in (b"h1", b"h2", b"h3"):
            entry = engine.keyspace.db(0).get(name)
            assert client.call([b"GET", name]) == (None if entry is None else entry.value), (args[:3], name)
    client.sock.close()


def test_pfadd_of_no_elements_creates_redis_s_empty_sparse_hll(server):
    client, engine = RawClient(server.port), Engine(loading=False)
    client.call([b"DEL", b"fresh"])
    assert client.call([b"PFADD", b"fresh"]) == engine.execute([b"PFADD", b"fresh"]) == 1
    assert client.call([b"GET", b"fresh"]) == engine.keyspace.db(0)[b"fresh"].value == bytes(empty()[:15]) + (
        b"\x80\x7f\xff")  # the cache marked stale
