"""Each real server of ../shared/docs/servers.md starts here and writes the RDB version we expect."""

from __future__ import annotations

import pytest

from tests import servers
from tests.server import serving
from tests.servers import SERVERS, start_server


@pytest.mark.parametrize("name", sorted(SERVERS))
def test_server_starts_and_saves_its_rdb_version(name):
    spec = SERVERS[name]
    with start_server(name) as server:
        server.client().set(b"k", b"v")
        header = server.save().read_bytes()[:9]
    width = 9 - len(spec.magic)
    assert header == spec.magic.encode() + str(spec.rdb_version).zfill(width).encode()


def test_a_port_another_server_takes_after_the_probe_is_not_mistaken_for_ours(monkeypatch):
    """Two suites on one machine: a port found free is taken by the other's server before ours binds it. The
    harnesses must not talk to that server as if it were theirs (it answers PING too), and start elsewhere."""
    with servers.start_server("redis-7.0") as foreign:
        ports = iter([foreign.port, servers.free_port()])
        monkeypatch.setattr(serving, "free_port", lambda: next(ports))
        with serving.start_serve() as ours:
            assert ours.port != foreign.port and servers.answered_by(ours.client(), ours.process)
        ports = iter([foreign.port, servers.free_port()])
        monkeypatch.setattr(servers, "free_port", lambda: next(ports))
        with servers.start_server("redis-6.2") as other:
            assert other.port != foreign.port and other.client().info("server")["redis_version"].startswith("6.2")
