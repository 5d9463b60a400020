"""The encoding thresholds and OBJECT ENCODING as the real server has them: the same commands go to
serve and to the real server, and the replies are compared exactly."""

from __future__ import annotations

import pytest

from tests.resp_client import RawClient
from tests.server.serving import start_serve
from tests.servers import start_server

TARGETS = ["redis-7.0", "redis-6.2", "valkey-9.1"]
THRESHOLDS = [b"*-max-*-entries", b"*-max-*-value", b"list-max-*-size", b"set-max-intset-entries"]


@pytest.fixture(scope="module", params=TARGETS)
def pair(request):
    with start_server(request.param) as real, start_serve("--target", request.param) as served:
        yield RawClient(real.port), RawClient(served.port)


def _same(pair, commands: list[list[bytes]]) -> None:
    theirs, ours = ([client.call(args) for args in commands] for client in pair)
    assert ours == theirs


def _sorted_config(client: RawClient, pattern: bytes) -> list:
    reply = client.call([b"CONFIG", b"GET", pattern])
    return sorted(zip(reply[::2], reply[1::2], strict=True))


def test_config_get_lists_every_threshold_name_with_its_default(pair):
    theirs, ours = ([_sorted_config(client, pattern) for pattern in THRESHOLDS] for client in pair)
    assert ours == theirs


def test_a_threshold_set_under_its_old_name_shows_under_both(pair):
    changes = [[b"CONFIG", b"SET", b"zset-max-ziplist-entries", b"7"],
               [b"CONFIG", b"SET", b"hash-max-ziplist-value", b"9"],
               [b"CONFIG", b"SET", b"list-max-ziplist-size", b"-3"]]
    try:
        _same(pair, changes)
        theirs, ours = ([_sorted_config(client, pattern) for pattern in THRESHOLDS] for client in pair)
        assert ours == theirs
    finally:
        _same(pair, [[b"CONFIG", b"SET", b"zset-max-ziplist-entries", b"128"],
                     [b"CONFIG", b"SET", b"hash-max-ziplist-value", b"64"],
                     [b"CONFIG", b"SET", b"list-max-ziplist-size", b"-2"]])


def test_strings_built_in_place_are_raw_until_replaced(pair):
    """APPEND to a key, SETRANGE, SETBIT, BITFIELD and BITOP leave a raw string whatever its length; SET,
    INCR and INCRBYFLOAT make a new one; COPY keeps the encoding."""
    script = ["FLUSHALL", "SET a 1", "BITOP NOT a a", "SET b x", "APPEND b y", "APPEND new 12", "SETRANGE c 0 12",
              "SETBIT d 1 1", "BITFIELD f SET u8 0 1", "COPY b b2", "SET e 1.5", "APPEND e 0", "SETRANGE g 0 ''",
              "SET h 12", "APPEND h 3"]
    encodings = [f"OBJECT ENCODING {key}" for key in ("a", "b", "new", "c", "d", "f", "b2", "e", "g", "h")]
    after = ["INCR c", "INCRBYFLOAT e 1", "SET d 5", "SET b xyz", "SETRANGE h 0 ''", "BITFIELD f GET u8 0"]
    commands = [[b"" if w == "''" else w.encode() for w in line.split()] for line in
                [*script, *encodings, *after, *encodings]]
    _same(pair, commands)
