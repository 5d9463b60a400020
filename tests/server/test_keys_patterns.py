"""KEYS patterns against the real Redis 7.0: random globs over a fixed set of keys match the same
keys, and a pattern of many stars over a long key answers at once (no exponential backtracking)."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from tests.resp_client import RawClient
from tests.server.serving import start_serve
from tests.servers import start_server

SERVER = "redis-7.0"
KEYS = [b"a" * 40, b"abab", b"ab", b"a*b", b"a?b", b"", b"ba", b"a\nb", b"[ab]", b"xyz", b"aab", b"a\\b"]


@pytest.fixture(scope="module")
def pair():
    with start_server(SERVER) as real, start_serve("--target", SERVER) as served:
        clients = RawClient(real.port), RawClient(served.port)
        for client in clients:
            client.call([b"FLUSHALL"])
            for key in KEYS:
                client.call([b"SET", key, b"1"])
        yield clients


def _keys(client: RawClient, pattern: bytes) -> list[bytes]:
    return sorted(client.call([b"KEYS", pattern]))


@hypothesis_settings(max_examples=150, deadline=None)
@given(pattern=st.lists(st.sampled_from([b"a", b"b", b"*", b"?", b"[ab]", b"[^a]", b"\\*", b"\\", b"["]),
                        max_size=8).map(b"".join))
@example(pattern=b"a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b")
@example(pattern=b"*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a")
@example(pattern=b"a*b*")
@example(pattern=b"**")
@example(pattern=b"*ab*ab")
def test_keys_matches_what_the_server_matches(pair, pattern):
    real, served = pair
    assert _keys(served, pattern) == _keys(real, pattern)
