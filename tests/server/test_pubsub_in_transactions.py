"""The subscribe family inside MULTI/EXEC against the real server of each target, byte for byte: Redis
writes what each of those commands sends in its place in EXEC's array, however many messages that is
(UNSUBSCRIBE a b: two elements for one command; the array's length still counts the commands). Found
by fuzzing serve's request path: EXEC answered a placeholder object it could not encode."""

from __future__ import annotations

import re

import pytest

from tests.server.test_client_commands import pack, raw

TARGETS = ["redis-6.2", "redis-7.0", "redis-8.2", "valkey-9.1"]

PIPELINES = {
    "nothing to unsubscribe": [("MULTI",), ("PUNSUBSCRIBE",), ("UNSUBSCRIBE", "a"), ("EXEC",)],
    "two messages for one command": [("MULTI",), ("UNSUBSCRIBE", "a", "b"), ("PING",), ("EXEC",), ("PING",)],
    "subscribed in the transaction": [("MULTI",), ("SUBSCRIBE", "a", "b"), ("PSUBSCRIBE", "p*"), ("EXEC",),
                                      ("PING",), ("UNSUBSCRIBE", "a", "b")],
    "sharded": [("MULTI",), ("SUNSUBSCRIBE",), ("SSUBSCRIBE", "s"), ("SUNSUBSCRIBE", "s"), ("EXEC",)],
}
CASES = [(target, pipeline) for target in TARGETS for pipeline in sorted(PIPELINES)
         if (target, pipeline) != ("redis-6.2", "sharded")]  # (sharded pub/sub from 7.0)


def _without_client_id(data: bytes) -> bytes:
    """HELLO's reply holds the connection's id, which differs from server to server."""
    return re.sub(rb"\$2\r\nid\r\n:\d+\r\n", b"$2\r\nid\r\n:N\r\n", data)


@pytest.mark.parametrize("resp3", [False, True])
@pytest.mark.parametrize(("target", "pipeline"), CASES)
def test_the_subscribe_family_inside_exec_answers_as_the_server(pairs, target, pipeline, resp3):
    commands = [("HELLO", "3")] * resp3 + PIPELINES[pipeline]
    if resp3:
        commands[-1:-1] = [("SUBSCRIBE", "x")]  # (RESP3: a subscribed client may still run MULTI)
    real, served = pairs(target)
    sent = pack(*commands)
    expected = _without_client_id(raw(real.port, sent))
    assert expected.count(b"QUEUED") >= 1
    assert _without_client_id(raw(served.port, sent)) == expected
