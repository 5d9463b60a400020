"""Number arguments are read as the target's server reads them: doubles by strtod (hexadecimal taken)
except in Valkey 9 (fast_float); score range bounds by strtod before Redis 8 and Valkey 9 (leading
spaces and hexadecimal taken), by fast_float since; never Python's extras (digit underscores, a
trailing space). A radius or box side that is not a number or negative is refused in Redis's words,
before its unit is looked at. serve and each real server answer every command below alike."""

from __future__ import annotations

import pytest

from tests.resp_client import RawClient
from tests.server.serving import start_serve
from tests.server.test_replies import _plain
from tests.servers import start_server

TEXTS = [b"0x10", b"0X1p3", b"0x1.8p1", b"0x", b"1e2", b" 1", b"1 ", b"1_0", b".5", b"5.", b"+.5e+1", b"inf",
         b"-inf", b"infinity", b"nan", b"1e400", b"1e-400", b"-1", b"0x1p4000", b"0x1p-1080", b"4e-320"]
USES = [
    lambda t: [b"ZADD", b"z", t, b"m"], lambda t: [b"ZINCRBY", b"z", t, b"m"],
    lambda t: [b"ZUNIONSTORE", b"d", b"1", b"z", b"WEIGHTS", t], lambda t: [b"GEOADD", b"g", t, b"1", b"p"],
    lambda t: [b"GEOSEARCH", b"g", b"FROMLONLAT", b"0", b"0", b"BYRADIUS", t, b"km"],
    lambda t: [b"GEOSEARCH", b"g", b"FROMLONLAT", b"0", b"0", b"BYBOX", t, b"2", b"km"],
    lambda t: [b"GEOSEARCH", b"g", b"FROMLONLAT", b"0", b"0", b"BYBOX", b"-2", t, b"km"],
    lambda t: [b"GEORADIUS", b"g", b"0", b"0", t, b"parsec"],
    lambda t: [b"ZRANGEBYSCORE", b"z", t, b"+inf"], lambda t: [b"ZCOUNT", b"z", b"(" + t, b"+inf"],
    lambda t: [b"ZRANGE", b"z", b"-inf", t, b"BYSCORE"], lambda t: [b"ZREMRANGEBYSCORE", b"z", t, t],
    lambda t: [b"INCRBYFLOAT", b"f", t], lambda t: [b"HINCRBYFLOAT", b"h", b"f", t],
]


def _replies(port: int) -> list:
    client = RawClient(port)
    try:
        return [(use(text), _plain(client.call(use(text)))) for text in TEXTS for use in USES]
    finally:
        client.sock.close()


@pytest.mark.parametrize("target", ["redis-6.2", "redis-7.0", "redis-8.2", "valkey-8.1", "valkey-9.1"])
def test_number_arguments_are_read_as_the_target_reads_them(target):
    with start_server(target) as real, start_serve("--target", target) as served:
        assert _replies(served.port) == _replies(real.port)
