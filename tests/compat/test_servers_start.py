"""Each real server of ../shared/docs/servers.md starts here and writes the RDB version we expect."""

from __future__ import annotations

import pytest

from tests.servers import SERVERS, start_server


@pytest.mark.parametrize("name", sorted(SERVERS))
def test_server_starts_and_saves_its_rdb_version(name):
    spec = SERVERS[name]
    with start_server(name) as server:
        server.client().set(b"k", b"v")
        header = server.save().read_bytes()[:9]
    width = 9 - len(spec.magic)
    assert header == spec.magic.encode() + str(spec.rdb_version).zfill(width).encode()
