"""AOF -> RDB offline: for every server, the RDB converted from its AOF loads in that server and holds
exactly what the server held when it wrote the AOF."""

from __future__ import annotations

import shutil
import time

import pytest

from rdbtools import convert
from rdbtools.rdb.targets import target_for
from tests.compat.generator import populate, read_back
from tests.compat.test_aof_servers import aof_path, wait_for_rewrite
from tests.expected_shape import compare
from tests.servers import SERVERS, start_server


@pytest.mark.parametrize("preamble", ["yes", "no"])
@pytest.mark.parametrize("name", sorted(SERVERS))
def test_rdb_converted_from_a_servers_aof_holds_what_the_server_held(tmp_path, name, preamble):
    spec = SERVERS[name]
    extra = ("--appendonly", "yes", "--aof-use-rdb-preamble", preamble, "--appendfsync", "always")
    with start_server(name, extra=extra) as server:
        client = server.client()
        populate(client, spec)
        client.bgrewriteaof()
        wait_for_rewrite(server)
        client.set("after-rewrite", "1", pxat=4102444800000)
        client.pipeline(transaction=True).rpush("in-transaction", "a", "b").sadd("s2", "x").execute()
        client.hset("late-hash", mapping={"f": "v"})
        held = read_back(server.port, spec)
        server.stop()
        source = tmp_path / "aof"
        path = aof_path(server)
        (shutil.copytree if path.is_dir() else shutil.copyfile)(path, source)
    rdb = tmp_path / "converted.rdb"
    report = convert(source, rdb, target=target_for(name))
    assert not report.skipped
    with start_server(name, rdb=rdb) as loaded:
        reloaded = read_back(loaded.port, spec)
    tolerance = 0 if spec.rdb_version >= 10 else 5000
    assert compare(reloaded, held, now_ms=int(time.time() * 1000), expire_tolerance_ms=tolerance,
                   consumer_times=False) == []
