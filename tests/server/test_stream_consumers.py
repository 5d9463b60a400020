"""Claims and group reads as the target does them. Which consumers they create: Redis 6.2 and 7.0 create
the consumer XCLAIM, XAUTOCLAIM or XREADGROUP ... > names only when it gets an entry, Redis 8.2 and
Valkey whatever the command finds. A pending entry whose stream entry was deleted: Redis 7.0+ and
Valkey drop it (XAUTOCLAIM lists it), 6.2 claims it with a nil entry. serve, sent the same commands as
each real server, answers the same and ends with the same consumers and pending entries."""

from __future__ import annotations

import pytest

from tests.resp_client import RawClient
from tests.server.serving import start_serve
from tests.server.test_replies import _plain
from tests.servers import start_server

TARGETS = ["redis-6.2", "redis-7.0", "redis-8.2", "valkey-8.1", "valkey-9.1"]

#: each command names a consumer of its own, so the consumers after each one tell what it created
CLAIMS_AND_READS = [
    [b"XGROUP", b"CREATE", b"a", b"g1", b"0", b"MKSTREAM"],
    [b"XCLAIM", b"a", b"g1", b"c1", b"0", b"1-0", b"JUSTID"],  # nothing pending
    [b"XCLAIM", b"a", b"g1", b"c2", b"0", b"1-0", b"FORCE"],  # FORCE of an entry that is not there
    [b"XCLAIM", b"a", b"g1", b"c3", b"0", b"1-0", b"LASTID", b"0-5"],
    [b"XAUTOCLAIM", b"a", b"g1", b"c4", b"0", b"0"],
    [b"XREADGROUP", b"GROUP", b"g1", b"c5", b"STREAMS", b"a", b">"],  # nothing new
    [b"XREADGROUP", b"GROUP", b"g1", b"c6", b"STREAMS", b"a", b"0"],  # its (empty) history
    [b"XADD", b"a", b"1-0", b"f", b"v"],
    [b"XREADGROUP", b"GROUP", b"g1", b"c7", b"STREAMS", b"a", b">"],  # delivers 1-0
    [b"XCLAIM", b"a", b"g1", b"c8", b"100000", b"1-0"],  # not idle long enough
    [b"XAUTOCLAIM", b"a", b"g1", b"c9", b"100000", b"0", b"JUSTID"],
    [b"XCLAIM", b"a", b"g1", b"c10", b"0", b"1-0", b"JUSTID"],  # claims it
    [b"XAUTOCLAIM", b"a", b"g1", b"c11", b"0", b"0", b"JUSTID"],  # claims it
    [b"XREADGROUP", b"GROUP", b"g1", b"c12", b"NOACK", b"STREAMS", b"a", b">"],
    [b"XADD", b"a", b"2-0", b"f", b"v"],
    [b"XREADGROUP", b"GROUP", b"g1", b"c13", b"NOACK", b"STREAMS", b"a", b">"],  # delivers 2-0, unacked
    [b"XREADGROUP", b"GROUP", b"g1", b"c14", b"STREAMS", b"a", b"nokey", b">", b">"],  # refused before a change
    [b"XREADGROUP", b"GROUP", b"g1", b"c15", b"BLOCK", b"10", b"STREAMS", b"a", b">"],  # waits, times out
]


def _consumers(client: RawClient) -> list[bytes]:
    consumers = client.call([b"XINFO", b"CONSUMERS", b"a", b"g1"])
    return [c[b"name"] if isinstance(c, dict) else c[1] for c in consumers]


def _replies_and_consumers(port: int) -> list[tuple[list[bytes], object, list[bytes]]]:
    client = RawClient(port)
    try:
        return [(args, _plain(client.call(args)), _consumers(client)) for args in CLAIMS_AND_READS]
    finally:
        client.sock.close()


@pytest.mark.parametrize("target", TARGETS)
def test_claims_and_group_reads_create_the_consumers_their_target_creates(target):
    with start_server(target) as real, start_serve("--target", target) as served:
        theirs, ours = _replies_and_consumers(real.port), _replies_and_consumers(served.port)
    assert ours == theirs


#: claims that meet deleted entries, LASTIDs that move the group (with claims to carry them or not), and a
#: NOACK read (its XGROUP SETID has no ENTRIESREAD before 7.0)
DELETED_CLAIMS = [
    [b"XADD", b"a", b"1-0", b"f", b"v"], [b"XADD", b"a", b"2-0", b"f", b"v"], [b"XADD", b"a", b"3-0", b"f", b"v"],
    [b"XADD", b"a", b"4-0", b"f", b"v"], [b"XGROUP", b"CREATE", b"a", b"g1", b"0"],
    [b"XREADGROUP", b"GROUP", b"g1", b"c1", b"STREAMS", b"a", b">"],
    [b"XDEL", b"a", b"1-0", b"2-0", b"3-0"],
    [b"XCLAIM", b"a", b"g1", b"c2", b"0", b"1-0", b"4-0"],
    [b"XCLAIM", b"a", b"g1", b"c2", b"0", b"9-0", b"LASTID", b"7-0"],
    [b"XAUTOCLAIM", b"a", b"g1", b"c1", b"0", b"0"],
    [b"XCLAIM", b"a", b"g1", b"c2", b"0", b"1-0", b"JUSTID", b"LASTID", b"8-0"],
    [b"XAUTOCLAIM", b"a", b"g1", b"c2", b"0", b"0", b"JUSTID"],
    [b"XADD", b"a", b"9-1", b"f", b"v"], [b"XREADGROUP", b"GROUP", b"g1", b"c1", b"NOACK", b"STREAMS", b"a", b">"],
]


def _replies_and_pending(port: int) -> tuple[list, list]:
    client = RawClient(port)
    try:
        replies = [_plain(client.call(args)) for args in DELETED_CLAIMS]
        pending = client.call([b"XPENDING", b"a", b"g1", b"-", b"+", b"10"])
        return replies, [(entry_id, owner, count) for entry_id, owner, _, count in pending]
    finally:
        client.sock.close()


@pytest.mark.parametrize("target", TARGETS)
def test_claims_meet_deleted_entries_as_their_target_does(target):
    with start_server(target) as real, start_serve("--target", target) as served:
        assert _replies_and_pending(served.port) == _replies_and_pending(real.port)
