"""BITPOS over strings of runs of all-zero and all-one bytes (the whole bytes it skips at once) with byte and
bit ranges: the engine answers as a real Redis 7.0 does."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from rdbtools.keyspace.engine import Engine
from rdbtools.rdb.targets import target_for
from tests.keyspace.test_engine_vs_server import both_replies
from tests.resp_client import RawClient
from tests.servers import start_server

BYTES = st.lists(st.sampled_from([0x00, 0xFF, 0x01, 0x80, 0x7F, 0xFE]), max_size=40).map(bytes)
POSITION = st.integers(-330, 330).map(lambda n: b"%d" % n)
RANGES = st.one_of(st.just([]), st.tuples(POSITION).map(list), st.tuples(POSITION, POSITION).map(list),
                   st.tuples(POSITION, POSITION, st.sampled_from([b"BIT", b"BYTE"])).map(list))


@pytest.fixture(scope="module")
def server():
    with start_server("redis-7.0") as real:
        yield RawClient(real.port)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=BYTES, bit=st.sampled_from([b"0", b"1"]), ranges=RANGES)
@example(value=b"\x00" * 9 + b"\x01", bit=b"1", ranges=[b"3", b"79", b"BIT"])
@example(value=b"\xff" * 3, bit=b"0", ranges=[b"1", b"22", b"BIT"])
def test_bitpos_finds_the_first_bit_redis_finds(server, value, bit, ranges):
    engine = Engine(loading=False, target=target_for("redis-7.0"))
    args = [b"BITPOS", b"k", bit, *ranges]
    for command in ([b"SET", b"k", value], args):
        ours, theirs = both_replies(server, engine, command)
        assert ours == theirs, command
