"""Lists as the real server keeps them: OBJECT ENCODING (7.0: quicklist always; 7.2+: a listpack until it
outgrows list-max-listpack-size) and the quicklist nodes DUMP and SAVE store, for node sizes in bytes
(negative settings) and in entries (positive ones, which serve takes as the server does)."""

from __future__ import annotations

import pytest

from tests.keyspace.test_engine_vs_server import normalized
from tests.resp_client import RawClient
from tests.server.serving import start_serve
from tests.servers import start_server

SIZES = ["-2", "-1", "-5", "1", "5", "100", "0", "-6", "1000"]


@pytest.fixture(scope="module", params=["redis-7.0", "redis-8.2", "valkey-9.1", "redis-6.2"])
def pair(request):
    with start_server(request.param) as real, start_serve("--target", request.param) as served:
        yield RawClient(real.port), RawClient(served.port)


def _replies(client: RawClient, commands: list[list[bytes]]) -> list:
    return [normalized(client.call(args)) for args in commands]


def _elements(n: int) -> list[bytes]:
    """Elements of the kinds a listpack sizes differently: small and large integers, short and longer text."""
    kinds = [b"%d" % n, b"x" * (n % 70), b"%d" % (n * 100003), b"y" * (n % 300)]
    return [kinds[i % 4] for i in range(n)]


@pytest.mark.parametrize("size", SIZES)
def test_pushed_lists_have_the_servers_encoding_and_nodes(pair, size):
    lengths = [1, 3, 5, 6, 40, 100, 129, 200, 700]
    commands = [[b"FLUSHALL"], [b"CONFIG", b"SET", b"list-max-ziplist-size", size.encode()]]
    for n in lengths:
        commands += [[b"RPUSH", b"l%d" % n, element] for element in _elements(n)]
    commands += [[b"OBJECT", b"ENCODING", b"l%d" % n] for n in lengths]
    commands += [[b"DUMP", b"l%d" % n] for n in lengths]
    try:
        theirs, ours = (_replies(client, commands) for client in pair)
        assert ours[-2 * len(lengths):] == theirs[-2 * len(lengths):]
        assert ours == theirs
    finally:
        for client in pair:
            client.call([b"CONFIG", b"SET", b"list-max-ziplist-size", b"-2"])
