"""DUMP compresses a string with LZF exactly when Redis does: when liblzf fits it in four bytes fewer than it
has (Redis's output buffer; python-lzf's own limit is one byte looser, so the edge cases tell)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.resp_client import RawClient
from tests.server.serving import start_serve
from tests.servers import start_server


@pytest.fixture(scope="module", params=["redis-7.0", "redis-8.2"])
def pair(request):
    with start_server(request.param) as real, start_serve("--target", request.param) as served:
        yield RawClient(real.port), RawClient(served.port)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(head=st.binary(min_size=0, max_size=12), run=st.integers(0, 40), tail=st.binary(min_size=0, max_size=6))
@example(head=b"\x15\x00\x00\x00\x02\x00\x01\x01\x8a", run=10, tail=b"\x0b\xff")  # 21 bytes, 17 compressed
def test_dump_compresses_strings_as_the_server_does(pair, head, run, tail):
    value = head + b"v" * run + tail
    theirs, ours = ([client.call([b"SET", b"s", value]), client.call([b"DUMP", b"s"])] for client in pair)
    assert ours == theirs
