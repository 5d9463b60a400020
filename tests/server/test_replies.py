"""serve answers like the real server of its target: the same random command sequences, sent raw to
both, get the same replies (errors included) in RESP2 and in RESP3, and leave the same data. Redis 6.2
is left out: the sequences use options it does not have (EXPIRE NX, XADD 5-*, ...), which serve
accepts under every target."""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.compat.generator import read_back
from tests.expected_shape import compare
from tests.keyspace.test_engine_vs_server import COMMANDS, TIMING
from tests.resp_client import RawClient
from tests.server.serving import start_serve
from tests.servers import start_server

TARGETS = ["redis-7.0", "redis-8.2", "valkey-8.1", "valkey-9.1"]
#: beside the data commands: connection and server commands whose replies do not depend on the moment
EXTRA = st.one_of(
    st.sampled_from([[b"PING"], [b"PING", b"hello"], [b"ECHO", b"x"], [b"DBSIZE"], [b"EXISTS", b"a", b"b"],
                     [b"MULTI"], [b"EXEC"], [b"DISCARD"], [b"WATCH", b"a"], [b"UNWATCH"], [b"KEYS", b"*"],
                     [b"TYPE", b"a"], [b"OBJECT", b"ENCODING", b"a"], [b"FROBNICATE", b"x", b"y"],
                     [b"GET"], [b"SELECT", b"99"], [b"CLIENT", b"GETNAME"], [b"CLIENT", b"SETNAME", b"me"],
                     [b"HGETALL", b"a"], [b"SMEMBERS", b"a"], [b"ZRANGE", b"a", b"0", b"-1", b"WITHSCORES"],
                     [b"ZPOPMIN", b"a"], [b"LPUSH", b"a", b"x"], [b"SADD", b"b", b"1", b"2"],
                     [b"ZADD", b"c", b"1.5", b"m"], [b"ZRANDMEMBER", b"c", b"5", b"WITHSCORES"],
                     [b"HRANDFIELD", b"a", b"5", b"WITHVALUES"], [b"ZUNION", b"2", b"c", b"c", b"WITHSCORES"],
                     [b"HSCAN", b"a", b"0"], [b"ZSCAN", b"c", b"0"], [b"LCS", b"a", b"b", b"IDX"],
                     [b"ZADD", b"c", b"0.1", b"n"], [b"ZSCORE", b"c", b"n"], [b"ZINCRBY", b"c", b"0.2", b"n"],
                     [b"XINFO", b"GROUPS", b"a"]]),
)


@pytest.fixture(scope="module", params=TARGETS)
def pair(request):
    with start_server(request.param) as real, start_serve("--target", request.param) as served:
        yield real, served


def _sorted_if_unordered(args: list[bytes], reply):
    """Replies in a server's hash order, which each process seeds at random (SORT ... BY nosort of a set
    too, unless it stores or runs in a script)."""
    if not isinstance(reply, list):
        return reply
    name = args[0].upper()
    if name in (b"KEYS", b"SMEMBERS", b"SINTER", b"SUNION", b"SDIFF") or (
            name in (b"SORT", b"SORT_RO") and b"NOSORT" in (a.upper() for a in args)):
        return sorted(reply, key=repr)
    return reply


@pytest.mark.parametrize("protocol", [2, 3])
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(commands=st.lists(st.one_of(COMMANDS, EXTRA), min_size=1, max_size=25))
@example(commands=[[b"XGROUP", b"CREATE", b"a", b"g1", b"0", b"MKSTREAM"],  # Redis 7.0 creates no consumer
                   [b"XCLAIM", b"a", b"g1", b"c1", b"0", b"1-0", b"JUSTID"]])
@example(commands=[[b"ZINCRBY", b"a", b"0x10", b"m1"]])  # Valkey 9 reads no hexadecimal double
@example(commands=[[b"SADD", b"a", b"m1", b"1"], [b"SORT", b"a", b"BY", b"nosort"]])  # a set's hash order
@example(commands=[[b"SET", b"a", b"1"], [b"BITOP", b"NOT", b"a", b"a"], [b"OBJECT", b"ENCODING", b"a"]])  # raw
def test_random_sequences_get_the_replies_redis_gives(pair, protocol, commands):
    real, served = pair
    clients = [RawClient(real.port), RawClient(served.port)]
    for client in clients:
        assert client.call([b"FLUSHALL"]) in (b"OK", "OK")
        client.call([b"HELLO", str(protocol).encode()])
    for args in commands:
        theirs, ours = (_sorted_if_unordered(args, c.call(args)) for c in clients)
        if args[0].upper() not in TIMING:
            assert _plain(ours) == _plain(theirs), f"{args!r}: serve {ours!r}, redis {theirs!r} (after {commands!r})"
    for client in clients:
        client.call([b"DISCARD"])
        client.sock.close()
    spec = real.spec
    assert compare(read_back(served.port, spec), read_back(real.port, spec), now_ms=int(time.time() * 1000),
                   expire_tolerance_ms=2000, consumer_times=False) == [] or _has_timing(commands)


def _plain(reply):
    """hiredis's reply as comparable values (errors by their text)."""
    if isinstance(reply, Exception):
        return ("error", str(reply))
    if isinstance(reply, list):
        return [_plain(r) for r in reply]
    if isinstance(reply, dict):
        return {_plain(k): _plain(v) for k, v in reply.items()}
    return reply


def _has_timing(commands) -> bool:
    return any(args[0].upper() in TIMING for args in commands)
