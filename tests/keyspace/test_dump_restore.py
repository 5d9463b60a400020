"""DUMP and RESTORE payloads both ways with real servers: what a server dumps restores in the engine
with the same value, and what the engine dumps for that server restores there with the same value."""

from __future__ import annotations

import time

import pytest

from rdbtools.keyspace.commands import CommandError
from rdbtools.keyspace.engine import Engine
from rdbtools.rdb.targets import target_for
from tests.compat.generator import populate, read_back
from tests.expected_shape import compare, shape_records
from tests.servers import SERVERS, start_server


def _database_zero(shaped: dict) -> dict:
    return {"functions": [], "dbs": {"0": shaped["dbs"].get("0", {})}}


@pytest.mark.parametrize("name", ["redis-7.0", "redis-8.2", "valkey-9.1"])
def test_payloads_travel_both_ways_between_a_server_and_the_engine(name):
    spec = SERVERS[name]
    engine = Engine(target=target_for(name), loading=False)
    with start_server(name) as server:
        client = server.client()
        populate(client, spec)
        keys = list(client.scan_iter(count=1000))
        for key in keys:
            ttl = client.pttl(key)
            engine.execute([b"RESTORE", key, b"%d" % max(ttl, 0), client.dump(key)])
        now = int(time.time() * 1000)
        held = _database_zero(read_back(server.port, spec))
        assert compare(shape_records(engine.keyspace.records()), held, now_ms=now, expire_tolerance_ms=2000) == []

        client.flushall()
        for key in keys:
            client.restore(key, 0, engine.execute([b"DUMP", key]))
            expire = engine.keyspace.db(0)[key].expire_ms
            if expire is not None:
                client.pexpireat(key, expire)
        again = _database_zero(read_back(server.port, spec))
        assert compare(shape_records(engine.keyspace.records()), again, now_ms=now) == []


def test_restore_refuses_a_damaged_payload_and_an_existing_key():
    engine = Engine()
    engine.execute([b"SET", b"k", b"v"])
    payload = engine.execute([b"DUMP", b"k"])
    with pytest.raises(CommandError, match="BUSYKEY"):
        engine.execute([b"RESTORE", b"k", b"0", payload])
    damaged = payload[:-1] + bytes([payload[-1] ^ 1])
    with pytest.raises(CommandError, match="DUMP payload version or checksum are wrong"):
        engine.execute([b"RESTORE", b"other", b"0", damaged])
    assert engine.execute([b"RESTORE", b"k", b"0", payload, b"REPLACE"]) == "OK"
