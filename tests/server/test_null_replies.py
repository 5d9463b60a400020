"""Where Redis answers the null array (*-1) and where the null bulk string ($-1): a client library reads
both as "nil", so the random reply tests cannot see the difference, but clients that read raw RESP (and
Redis's own test suite) do. The same commands go to serve and to the real server, and the reply bytes
are compared exactly, in RESP2 and RESP3."""

from __future__ import annotations

import pytest

from tests.resp_client import RawReplies
from tests.server.serving import start_serve
from tests.servers import start_server

TARGETS = ["redis-7.0", "redis-8.2", "valkey-9.1"]
SEQUENCE = [
    [b"LPOP", b"nolist", b"1"], [b"RPOP", b"nolist", b"0"], [b"LPOP", b"nolist"],
    [b"LMPOP", b"1", b"nolist", b"LEFT"], [b"ZMPOP", b"1", b"nozset", b"MIN"],
    [b"MULTI"], [b"BLPOP", b"nolist", b"0"], [b"BZPOPMIN", b"nozset", b"0"],
    [b"BLMPOP", b"0", b"1", b"nolist", b"LEFT"],
    [b"BLMOVE", b"nolist", b"other", b"LEFT", b"LEFT", b"0"], [b"EXEC"],
    [b"XADD", b"s", b"1-1", b"f", b"v"], [b"XADD", b"s", b"2-1", b"f", b"v"],
    [b"XRANGE", b"s", b"-", b"+", b"COUNT", b"0"], [b"XREVRANGE", b"s", b"+", b"-", b"COUNT", b"-3"],
    [b"XRANGE", b"s", b"-", b"+", b"COUNT", b"5", b"COUNT", b"1"], [b"XRANGE", b"s", b"-", b"+", b"LIMIT", b"1"],
    [b"XRANGE", b"s", b"-", b"+", b"COUNT"], [b"XRANGE", b"nostream", b"-", b"+", b"COUNT", b"0"],
    [b"XREAD", b"STREAMS", b"s", b"2-1"], [b"XGROUP", b"CREATE", b"s", b"g", b"0"], [b"XPENDING", b"s", b"g"],
    [b"XREADGROUP", b"GROUP", b"g", b"c", b"STREAMS", b"s", b">"],
    [b"XREADGROUP", b"GROUP", b"g", b"c", b"STREAMS", b"s", b">"],
    [b"XDEL", b"s", b"1-1"], [b"XREADGROUP", b"GROUP", b"g", b"c", b"STREAMS", b"s", b"0"],
    [b"GEOADD", b"geo", b"13.361389", b"38.115556", b"m"], [b"GEOPOS", b"geo", b"m", b"nomember"],
    [b"GEOPOS", b"nogeo", b"a"], [b"EVAL", b"return redis.call('geopos', 'geo', 'm', 'nomember')", b"0"],
    [b"GEOSEARCH", b"geo", b"FROMLONLAT", b"13", b"38", b"BYRADIUS", b"100", b"km", b"WITHCOORD", b"WITHDIST"],
    [b"ZADD", b"z", b"1.5", b"m"], [b"ZRANK", b"z", b"m", b"WITHSCORE"], [b"ZREVRANK", b"z", b"nomember", b"WITHSCORE"],
    [b"ZRANK", b"nozset", b"m", b"WITHSCORE"], [b"ZRANK", b"z", b"m", b"WITHSCORES"], [b"ZRANK", b"z", b"nomember"],
]


@pytest.fixture(scope="module", params=TARGETS)
def pair(request):
    with start_server(request.param) as real, start_serve("--target", request.param) as served:
        yield real, served


@pytest.mark.parametrize("protocol", [b"2", b"3"])
def test_null_arrays_and_null_bulks_are_the_servers_own(pair, protocol):
    real, served = pair
    clients = RawReplies(real.port), RawReplies(served.port)
    for client in clients:
        client.call([b"FLUSHALL"])
        client.call([b"HELLO", protocol])
    for args in SEQUENCE:
        theirs, ours = (client.call(args) for client in clients)
        assert ours == theirs, args
