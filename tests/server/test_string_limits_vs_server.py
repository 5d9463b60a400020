"""How far SETRANGE, APPEND, SETBIT and BITFIELD may grow a string: to proto-max-bulk-len as configured
(Redis's checkStringLength and getBitOffsetFromArgument read it), not a fixed 512 MB. The same commands go
to serve and to the real server, and the replies are compared exactly."""

from __future__ import annotations

import pytest

from tests.keyspace.test_engine_vs_server import normalized
from tests.resp_client import RawClient
from tests.server.serving import start_serve
from tests.servers import start_server

MB = 1024 * 1024


@pytest.fixture(scope="module", params=["redis-7.0", "redis-6.2", "valkey-9.1"])
def pair(request):
    with start_server(request.param) as real, start_serve("--target", request.param) as served:
        yield RawClient(real.port), RawClient(served.port)


def _same(pair, lines: list[str]) -> None:
    commands = [[b"" if word == "''" else word.encode() for word in line.split()] for line in lines]
    theirs, ours = ([normalized(client.call(args)) for args in commands] for client in pair)
    assert ours == theirs


def _limited(limit: int) -> list[str]:
    """Writes just within and just past ``limit`` bytes, by each command that grows a string."""
    bits = 8 * limit
    return [f"CONFIG SET proto-max-bulk-len {limit}", "FLUSHALL",
            f"SETRANGE s {limit - 1} x", f"SETRANGE s {limit} x", f"SETRANGE new {limit} ''", "APPEND s y",
            "STRLEN s", f"SETRANGE s {limit - 2} ab", f"SETRANGE s2 {limit - 1} xy", "EXISTS s2",
            f"SETBIT b {bits - 1} 1", f"SETBIT b {bits} 1", f"GETBIT b {bits - 1}", f"GETBIT b {bits}",
            "SETBIT b -1 1", "STRLEN b", f"BITFIELD b GET u8 {bits - 8}", f"BITFIELD b SET u8 {bits - 7} 1",
            f"BITFIELD b GET u8 #{limit - 1}", f"BITFIELD b GET u8 #{limit}", f"BITFIELD_RO b GET u8 {bits}",
            f"BITFIELD b INCRBY i16 {bits - 16} 5", "STRLEN b"]


def test_strings_grow_to_the_configured_proto_max_bulk_len(pair):
    try:
        _same(pair, _limited(MB))
        _same(pair, _limited(2 * MB))
    finally:
        _same(pair, ["FLUSHALL", f"CONFIG SET proto-max-bulk-len {512 * MB}"])


def test_a_lower_limit_refuses_what_is_already_longer(pair):
    """The limit applies to the result: an APPEND to a string already past a lowered limit is refused."""
    try:
        _same(pair, ["FLUSHALL", f"SETRANGE s {2 * MB} x", f"CONFIG SET proto-max-bulk-len {MB}", "APPEND s y",
                     "SETRANGE s 0 y", "SETBIT s 0 1", f"SETBIT s {8 * MB} 1", "GETBIT s 1", "STRLEN s"])
    finally:
        _same(pair, ["FLUSHALL", f"CONFIG SET proto-max-bulk-len {512 * MB}"])


def _aof(*commands: list[bytes]) -> bytes:
    return b"".join(b"*%d\r\n" % len(c) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in c) for c in commands)


def test_a_replayed_aof_grows_strings_past_the_limit(tmp_path):
    """Loading an AOF obeys what it holds (Redis's mustObeyClient): proto-max-bulk-len limits clients only."""
    aof = _aof([b"SELECT", b"0"], [b"SETRANGE", b"s", b"%d" % (2 * MB), b"x"], [b"APPEND", b"s", b"y"],
               [b"SETBIT", b"b", b"%d" % (24 * MB), b"1"], [b"BITFIELD", b"f", b"SET", b"u8", b"%d" % (16 * MB), b"1"])
    settings = ("--appendonly", "yes", "--proto-max-bulk-len", str(MB))
    checks = [["STRLEN", "s"], ["STRLEN", "b"], ["STRLEN", "f"], ["GETBIT", "b", str(24 * MB)],
              ["SETRANGE", "s", str(2 * MB), "z"]]

    def prepare(directory) -> None:
        (directory / "appendonly.aof").write_bytes(aof)

    with start_server("redis-7.0", extra=settings, prepare=prepare) as real:
        theirs = [normalized(RawClient(real.port).call(c)) for c in checks]
    prepare(tmp_path)
    with start_serve(*settings, "--target", "redis-7.0", directory=tmp_path) as served:
        ours = [normalized(RawClient(served.port).call(c)) for c in checks]
    assert theirs[:3] == [2 * MB + 2, 3 * MB + 1, 2 * MB + 1]  # (a client's GETBIT there is refused)
    assert ours == theirs
