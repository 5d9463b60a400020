"""HyperLogLog's debugging and testing commands, its sparse size limit and its corruption checks, against
the real servers: the same commands to serve and to the server, the reply bytes and the stored strings
compared exactly (Redis's test suite drives PFDEBUG, PFSELFTEST and CONFIG SET hll-sparse-max-bytes, and
corrupts HLLs with SETRANGE/APPEND to see them refused, never crashing)."""

from __future__ import annotations

import random

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from rdbtools.keyspace.commands import hyperloglog
from tests.resp_client import RawReplies
from tests.server.serving import start_serve
from tests.servers import PROCESS_TIMEOUT, start_server

TARGETS = ["redis-6.2", "redis-7.0", "redis-8.2", "valkey-9.1"]
KEYS = (b"h", b"h2", b"dest")


def _clients(pairs, target: str) -> tuple[RawReplies, RawReplies]:
    real, served = pairs(target)
    clients = RawReplies(real.port, timeout=PROCESS_TIMEOUT), RawReplies(served.port, timeout=PROCESS_TIMEOUT)
    for client in clients:
        client.call([b"FLUSHALL"])
    return clients


def _same(clients, sequence: list[list[bytes]], replies: int = 1) -> None:
    """Each command's reply bytes, then every key's value, equal on both servers."""
    theirs, ours = clients
    for args in sequence:
        assert ours.call(args, replies) == theirs.call(args, replies), args
        for key in KEYS:
            assert ours.call([b"GET", key]) == theirs.call([b"GET", key]), (args, key)


@pytest.mark.parametrize("target", TARGETS)
def test_pfdebug_subcommands_answer_and_convert_as_the_server(pairs, target):
    elements = [b"e%d" % n for n in range(40)]
    _same(_clients(pairs, target), [
        [b"PFADD", b"h", *elements], [b"PFDEBUG", b"ENCODING", b"h"], [b"PFDEBUG", b"decode", b"h"],
        [b"PFDEBUG", b"GETREG", b"h"], [b"PFDEBUG", b"ENCODING", b"h"], [b"PFDEBUG", b"DECODE", b"h"],
        [b"PFADD", b"h2", b"a"], [b"PFDEBUG", b"TODENSE", b"h2"], [b"PFDEBUG", b"todense", b"h2"],
        [b"PFCOUNT", b"h", b"h2"], [b"PFDEBUG", b"NOSUCH", b"h"], [b"PFDEBUG", b"NOSUCH", b"missing"],
        [b"PFDEBUG", b"ENCODING", b"missing"], [b"SET", b"dest", b"not an hll"], [b"PFDEBUG", b"GETREG", b"dest"],
        [b"LPUSH", b"list", b"x"], [b"PFDEBUG", b"ENCODING", b"list"], [b"PFDEBUG", b"GETREG"],
        [b"PFDEBUG", b"GETREG", b"h", b"extra"], [b"PFSELFTEST"], [b"PFSELFTEST", b"extra"]])


@pytest.mark.parametrize("target", TARGETS)
def test_pfdebug_simd_switch_exists_where_the_server_has_it(pairs, target):
    """Redis 8 and Valkey 8.1 have PFDEBUG SIMD ON|OFF (no key); another word gets an error and then the
    state, two replies; Redis 7.0 reads the third argument as a key."""
    clients = _clients(pairs, target)
    _same(clients, [[b"PFDEBUG", b"SIMD", b"on"], [b"PFDEBUG", b"simd", b"OFF"]])
    twice = 1 if target in ("redis-6.2", "redis-7.0") else 2
    _same(clients, [[b"PFDEBUG", b"SIMD", b"maybe"]], replies=twice)
    _same(clients, [[b"PFDEBUG", b"SIMD", b"ON"]])
    _same(clients, [[b"PFDEBUG", b"SIMD", b"maybe"]], replies=twice)


@pytest.mark.parametrize("target", TARGETS)
def test_hll_sparse_max_bytes_sets_where_an_hll_turns_dense(pairs, target):
    clients = _clients(pairs, target)
    sequence = [[b"CONFIG", b"SET", b"hll-sparse-max-bytes", value] for value in (b"-1", b"abc", b"1.5")]
    for limit in (b"0", b"40", b"1kb", b"100000"):
        sequence += [[b"CONFIG", b"SET", b"hll-sparse-max-bytes", limit],
                     [b"CONFIG", b"GET", b"hll-sparse-max-bytes"], [b"DEL", b"h", b"h2", b"dest"], [b"PFADD", b"h"]]
        for start in range(0, 600, 50):
            sequence += [[b"PFADD", b"h", *(b"%d" % n for n in range(start, start + 50))],
                         [b"PFDEBUG", b"ENCODING", b"h"]]
        sequence += [[b"PFADD", b"h2", b"x", b"y"], [b"PFMERGE", b"dest", b"h2"], [b"PFMERGE", b"dest", b"h"]]
    _same(clients, [*sequence, [b"CONFIG", b"SET", b"hll-sparse-max-bytes", b"3000"]])


#: a sparse HLL of three elements, as Redis writes it (header, then the opcodes)
_SMALL = [[b"PFADD", b"h", b"a", b"b", b"c"]]


def _corruption(position: int, data: bytes) -> list[list[bytes]]:
    return [[b"SETRANGE", b"h", b"%d" % position, data]]


def _probe() -> list[list[bytes]]:
    """What reads a corrupted HLL: each key's count, a union, a merge, an update, a conversion."""
    return [[b"PFCOUNT", b"h"], [b"PFCOUNT", b"h", b"h2"], [b"PFMERGE", b"dest", b"h"], [b"PFADD", b"h", b"z", b"w"],
            [b"PFCOUNT", b"h"], [b"PFDEBUG", b"DECODE", b"h"], [b"PFDEBUG", b"GETREG", b"h"],
            [b"PFDEBUG", b"ENCODING", b"h"]]


@pytest.mark.parametrize("corruption", [
    [[b"APPEND", b"h", b"hello"]],  # runs past the 16384 registers
    _corruption(0, b"0123"),  # magic
    _corruption(4, b"x"),  # encoding
    _corruption(4, b"\x00"),  # dense, of the sparse length
    [[b"APPEND", b"h", b"\x84"]],  # a VAL after exactly 16384 registers: a merge stops there, a count not
    [[b"APPEND", b"h", b"\x01"]],  # a ZERO after them
    [[b"PFADD", b"h", b"a"], [b"SETRANGE", b"h", b"16", b"\x40\x00\x7f"]],  # an XZERO cut by the end
    [[b"SETRANGE", b"h", b"15", b"\x00"], [b"APPEND", b"h", b"tail"]],  # the cached count still valid
], ids=["tail", "magic", "encoding", "dense-length", "val-after-end", "zero-after-end", "cut-xzero", "cached"])
def test_corrupted_hlls_are_refused_as_the_server_refuses_them(pairs, corruption):
    _same(_clients(pairs, "redis-7.0"), [*_SMALL, [b"PFADD", b"h2", b"q"], *corruption, *_probe()])


@settings(max_examples=25, deadline=None)
@given(size=st.integers(0, 2500), changes=st.lists(st.tuples(st.integers(0, 10**6), st.binary(min_size=1,
                                                                                                max_size=3)),
                                                   min_size=1, max_size=4), seed=st.integers(0, 2**32))
@example(size=3, changes=[(17, b"\x7f")], seed=0)
@example(size=2000, changes=[(9000, b"\xff\xff")], seed=1)
def test_randomly_corrupted_hlls_answer_as_the_server(pairs, size, changes, seed):
    """Random bytes written into a sparse or dense HLL: every command reading it answers as the server."""
    clients = _clients(pairs, "redis-7.0")
    rng = random.Random(seed)
    _same(clients, [[b"PFADD", b"h", *(b"%d" % rng.getrandbits(40) for _ in range(size))], [b"PFADD", b"h2", b"q"]])
    length = int(clients[0].call([b"STRLEN", b"h"])[1:-2])
    _same(clients, [[b"SETRANGE", b"h", b"%d" % (position % length), data] for position, data in changes] + _probe())


def test_pfselftest_checks_serve_s_own_register_code():
    """PFSELFTEST runs the self test on serve's HLL code: broken register access is found."""
    assert hyperloglog.self_test(3000, random.Random(7)) is None
    failure = hyperloglog.self_test(3000, random.Random(7), read_register=lambda registers, index: 0)
    assert failure is not None and failure.startswith("TESTFAILED Register ")


def test_what_hll_commands_append_to_the_aof_is_the_server_s():
    """PFDEBUG is appended only when it turned a sparse HLL dense (GETREG, TODENSE), PFCOUNT when it
    stored a new cached cardinality: the incr files are equal."""
    aof = ("--appendonly", "yes", "--appendfsync", "always")
    sequence = [[b"PFADD", b"h", b"a", b"b"], [b"PFDEBUG", b"ENCODING", b"h"], [b"PFDEBUG", b"DECODE", b"h"],
                [b"PFDEBUG", b"GETREG", b"h"], [b"PFDEBUG", b"GETREG", b"h"], [b"PFADD", b"h2", b"x"],
                [b"PFDEBUG", b"TODENSE", b"h2"], [b"PFDEBUG", b"TODENSE", b"h2"], [b"PFCOUNT", b"h2"],
                [b"PFCOUNT", b"h2"], [b"PFCOUNT", b"h", b"h2"], [b"PFMERGE", b"h3", b"h", b"h2"], [b"PFSELFTEST"]]
    with start_server("redis-7.0", extra=aof) as real, start_serve("--target", "redis-7.0", *aof) as served:
        for port in (real.port, served.port):
            client = RawReplies(port)
            for args in sequence:
                client.call(args)
            client.close()
        incr = "appendonlydir/appendonly.aof.1.incr.aof"
        assert (served.dir / incr).read_bytes() == (real.dir / incr).read_bytes()
