"""Lex ranges over sorted sets whose scores differ: Redis walks the set in its score order as if the
members were sorted by name (nothing unless the ends fit, then it skips up to the first member in range
and stops at the first one past it). The engine answers every lex-range command as the real server does."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from rdbtools.keyspace.engine import Engine
from rdbtools.rdb.targets import target_for
from tests.keyspace.test_engine_vs_server import both_replies
from tests.resp_client import RawClient
from tests.servers import start_server

MEMBERS = [b"a", b"b", b"m1", b"m3", b"m4", b"z"]
bound = st.sampled_from([b"-", b"+"]) | st.builds(lambda kind, m: kind + m, st.sampled_from([b"[", b"("]),
                                                  st.sampled_from([*MEMBERS, b"m2", b""]))
zset = st.dictionaries(st.sampled_from(MEMBERS), st.sampled_from([b"0", b"1", b"2.5", b"-1"]), min_size=1)


@pytest.fixture(scope="module")
def server():
    with start_server("redis-7.0") as running:
        yield running


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(members=zset, low=bound, high=bound)
@example(members={b"m4": b"1", b"m1": b"2.5"}, low=b"-", high=b"[m3")
def test_lex_ranges_walk_the_set_as_redis_does(server, members, low, high):
    client, engine = RawClient(server.port), Engine(loading=False, target=target_for("redis-7.0"))
    client.call([b"DEL", b"z"])
    add = [b"ZADD", b"z", *[x for member, score in members.items() for x in (score, member)]]
    for args in [add, [b"ZRANGEBYLEX", b"z", low, high], [b"ZREVRANGEBYLEX", b"z", high, low],
                 [b"ZLEXCOUNT", b"z", low, high], [b"ZRANGE", b"z", high, low, b"BYLEX", b"REV", b"LIMIT", b"1", b"2"],
                 [b"ZRANGEBYLEX", b"z", low, high, b"LIMIT", b"1", b"-1"], [b"ZREMRANGEBYLEX", b"z", low, high],
                 [b"ZRANGE", b"z", b"0", b"-1"]]:
        ours, theirs = both_replies(client, engine, args)
        assert ours == theirs, f"{args!r}: engine {ours!r}, redis {theirs!r}"
    client.sock.close()
