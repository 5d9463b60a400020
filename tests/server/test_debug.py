"""DEBUG as test suites use it (Redis's own among them): POPULATE fills a database, DIGEST and
DIGEST-VALUE give the real server's digest of the same data, PROTOCOL sends a sample of each RESP type.
Each is compared, byte for byte, with the real servers' replies."""

from __future__ import annotations

import pytest

from tests.resp_client import RawReplies
from tests.server.serving import start_serve
from tests.servers import start_server

TARGETS = ["redis-7.0", "redis-8.2", "valkey-9.1"]
DATA = [
    [b"SET", b"s", b"text"], [b"SET", b"n", b"12345"], [b"SET", b"e", b""], [b"PEXPIRE", b"s", b"100000"],
    [b"RPUSH", b"l", b"a", b"b", b"7", b"a"], [b"SADD", b"i", b"3", b"1", b"2"], [b"SADD", b"m", b"x", b"y", b"1"],
    [b"ZADD", b"z", b"1.5", b"a", b"-2", b"b", b"inf", b"c", b"0.1", b"7"], [b"HSET", b"h", b"f", b"v", b"g", b"1"],
    [b"XADD", b"x", b"1-1", b"f", b"v", b"g", b"w"], [b"XADD", b"x", b"5-0", b"k", b"v"], [b"SELECT", b"3"],
    [b"SET", b"other", b"db"], [b"SELECT", b"0"],
]
CHECKS = [
    [b"DEBUG", b"DIGEST"], [b"DEBUG", b"DIGEST-VALUE", b"s", b"n", b"e", b"l", b"i", b"m", b"z", b"h", b"x", b"nokey"],
    [b"DEBUG", b"POPULATE", b"5"], [b"DEBUG", b"POPULATE", b"3", b"p", b"12"],
    [b"DEBUG", b"POPULATE", b"2", b"q", b"4"],
    [b"MGET", b"key:0", b"key:4", b"p:0", b"p:2", b"q:1", b"key:5"], [b"SET", b"key:1", b"mine"],
    [b"DEBUG", b"POPULATE", b"3"], [b"GET", b"key:1"], [b"DEBUG", b"POPULATE", b"-1"], [b"DEBUG", b"DIGEST"],
    [b"FLUSHALL"], [b"DEBUG", b"DIGEST"],
]
PROTOCOL_TYPES = [b"string", b"integer", b"double", b"bignum", b"null", b"array", b"set", b"map", b"attrib",
                  b"push", b"verbatim", b"true", b"false", b"nonsense"]


@pytest.fixture(scope="module", params=TARGETS)
def pair(request):
    with start_server(request.param, extra=("--enable-debug-command", "yes")) as real, \
            start_serve("--target", request.param) as served:
        yield real, served


def test_digests_and_populate_give_the_servers_replies(pair):
    real, served = pair
    clients = RawReplies(real.port), RawReplies(served.port)
    for args in [[b"FLUSHALL"], *DATA]:
        for client in clients:
            client.call(args)
    for args in CHECKS:
        theirs, ours = (client.call(args) for client in clients)
        assert ours == theirs, args


@pytest.mark.parametrize("protocol", [b"2", b"3"])
def test_protocol_samples_are_the_servers_own(pair, protocol):
    real, served = pair
    clients = RawReplies(real.port), RawReplies(served.port)
    for client in clients:
        client.call([b"HELLO", protocol])
    for name in PROTOCOL_TYPES:
        count = 2 if name in (b"push", b"attrib") and protocol == b"3" else 1  # hiredis reads those as two
        theirs, ours = (client.call([b"DEBUG", b"PROTOCOL", name], count) for client in clients)
        assert ours == theirs, name
