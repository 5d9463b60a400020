"""Lists as the real server keeps them: OBJECT ENCODING (7.0: quicklist always; 7.2+: a listpack until it
outgrows list-max-listpack-size) and the quicklist nodes DUMP and SAVE store (and DEBUG OBJECT counts), for
node sizes in bytes (negative settings) and in entries (positive ones, which serve takes as the server does)."""

from __future__ import annotations

import pytest

from tests.keyspace.test_engine_vs_server import normalized
from tests.resp_client import RawClient
from tests.server.serving import start_serve
from tests.servers import SERVERS, start_server

SIZES = ["-2", "-1", "-5", "1", "5", "100", "0", "-6", "1000"]


@pytest.fixture(scope="module", params=["redis-7.0", "redis-8.2", "valkey-9.1", "redis-6.2"])
def pair(request):
    debug = ("--enable-debug-command", "yes") if SERVERS[request.param].functions else ()  # (7.0+ asks for it)
    with start_server(request.param, extra=debug) as real, start_serve("--target", request.param, *debug) as served:
        yield RawClient(real.port), RawClient(served.port)


#: DEBUG OBJECT's fields that tell how a value is stored (not where, nor its access times)
_STORED = ("encoding", "serializedlength", "ql_nodes", "ql_avg_node", "ql_listpack_max", "ql_ziplist_max",
           "ql_compressed", "ql_uncompressed_size")


def _stored(reply) -> object:
    """DEBUG OBJECT's storage fields (an error as it is)."""
    if not isinstance(reply, bytes):
        return reply
    fields = dict(word.split(b":", 1) for word in reply.split(b" ") if b":" in word)
    return {name: fields.get(name.encode()) for name in _STORED}


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
        for args, mine, real in zip(commands, ours, theirs, strict=True):  # (one at a time: a short report)
            assert mine == real, args[:2]
        objects = [[b"DEBUG", b"OBJECT", b"l%d" % n] for n in lengths]
        theirs, ours = ([_stored(client.call(args)) for args in objects] for client in pair)
        assert ours == theirs
    finally:
        for client in pair:
            client.call([b"CONFIG", b"SET", b"list-max-ziplist-size", b"-2"])


@pytest.fixture(scope="module", params=["redis-7.0", "redis-6.2"])
def quicklists(request):
    """The servers whose every list is a quicklist (before 7.2)."""
    debug = ("--enable-debug-command", "yes") if SERVERS[request.param].functions else ()
    with start_server(request.param, extra=debug) as real, start_serve("--target", request.param, *debug) as served:
        yield RawClient(real.port), RawClient(served.port)


def test_a_quicklist_keeps_the_node_size_it_was_made_with(quicklists):
    """Redis sets a quicklist's node size when it makes it: lists made before a CONFIG SET of
    list-max-listpack-size go on filling nodes of the old size (and DUMP, SAVE and DEBUG OBJECT show it); SORT
    ... STORE makes one of the default size whatever the setting."""
    commands = [[b"FLUSHALL"], *([b"RPUSH", b"old", b"x%d" % i] for i in range(300)),
                [b"CONFIG", b"SET", b"list-max-ziplist-size", b"5"],
                *([b"RPUSH", key, b"y%d" % i] for i in range(20) for key in (b"old", b"new")),
                [b"SORT", b"new", b"ALPHA", b"STORE", b"sorted"], [b"CONFIG", b"SET", b"list-max-ziplist-size", b"-1"],
                [b"RPUSH", b"sorted", b"z"]]
    try:
        for client in quicklists:
            for args in commands:
                client.call(args)
        keys = [b"old", b"new", b"sorted"]
        theirs, ours = ([[client.call([b"DUMP", k]) for k in keys],
                         [_stored(client.call([b"DEBUG", b"OBJECT", k])) for k in keys]] for client in quicklists)
        assert ours[1] == theirs[1]
        assert ours[0] == theirs[0]
    finally:
        for client in quicklists:
            client.call([b"CONFIG", b"SET", b"list-max-ziplist-size", b"-2"])
