"""Hash field expiration in the engine against a real Redis 8.2 (HEXPIRE family, HPERSIST, HSETEX,
HGETEX, HGETDEL): the same replies and the same fields, values and field TTLs."""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rdbtools.keyspace.engine import Engine
from tests.compat.generator import read_back
from tests.expected_shape import compare, shape_records
from tests.keyspace.test_engine_vs_server import _c, _opt, both_replies
from tests.resp_client import RawClient
from tests.servers import SERVERS, start_server

SERVER = "redis-8.2"
FAR_S = 4102444800
key = st.sampled_from([b"h", b"k"])
field = st.sampled_from([b"f1", b"f2", b"f3"])
value = st.sampled_from([b"v", b"1", b""])
fields = st.lists(field, min_size=1, max_size=3).map(lambda f: [b"FIELDS", b"%d" % len(f), *f])
when = st.sampled_from([b"%d" % FAR_S, b"%d" % (FAR_S + 60), b"0", b"x"])

COMMANDS = st.one_of(
    _c(b"HSET", key, field, value, field, value), _c(b"HDEL", key, field), _c(b"SET", key, value),
    st.tuples(_c(st.sampled_from([b"HEXPIREAT", b"HPEXPIREAT"]), key, when),
              _opt([b"NX"], [b"XX"], [b"GT"], [b"LT"]), fields).map(lambda t: t[0] + t[1] + t[2]),
    # (relative times take NX only: GT or LT against a TTL set a millisecond earlier by another relative
    # command answers by whether the clock moved on between the two, which differs between two servers)
    st.tuples(_c(st.sampled_from([b"HEXPIRE", b"HPEXPIRE"]), key, st.sampled_from([b"100000", b"-1"])),
              _opt([b"NX"]), fields).map(lambda t: t[0] + t[1] + t[2]),
    st.tuples(_c(b"HPERSIST", key), fields).map(lambda t: t[0] + t[1]),
    st.tuples(_c(b"HSETEX", key), _opt([b"FNX"], [b"FXX"]), _opt([b"EXAT", b"%d" % FAR_S], [b"KEEPTTL"]),
              st.lists(st.tuples(field, value), min_size=1, max_size=2)).map(
        lambda t: t[0] + t[1] + t[2] + [b"FIELDS", b"%d" % len(t[3])] + [x for p in t[3] for x in p]),
    st.tuples(_c(b"HGETEX", key), _opt([b"PERSIST"], [b"EXAT", b"%d" % FAR_S]), fields).map(
        lambda t: t[0] + t[1] + t[2]),
    st.tuples(_c(b"HGETDEL", key), fields).map(lambda t: t[0] + t[1]),
)


@pytest.fixture(scope="module")
def server():
    with start_server(SERVER) as running:
        yield running


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(commands=st.lists(COMMANDS, min_size=1, max_size=15))
def test_hash_field_ttl_commands_match_redis_8(server, commands):
    client = RawClient(server.port)
    client.call([b"FLUSHALL"])
    engine = Engine(loading=False)
    for args in commands:
        ours, theirs = both_replies(client, engine, args)
        assert ours == theirs, f"{args!r}: engine {ours!r}, redis {theirs!r} (after {commands!r})"
    client.sock.close()
    assert compare(shape_records(engine.keyspace.records()), read_back(server.port, SERVERS[SERVER]),
                   now_ms=int(time.time() * 1000), expire_tolerance_ms=2000) == [], commands
