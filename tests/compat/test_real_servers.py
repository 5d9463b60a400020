"""Every real server: what it writes, we read exactly; what we dump as RESP, it loads back exactly."""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter

import pytest

from rdbtools import KeyRecord, open_rdb, verify_rdb
from rdbtools.formats.rdb import QuicklistContainer, parse_records
from tests.compat.generator import populate, read_back
from tests.expected_shape import compare, shape_records
from tests.servers import SERVERS, start_server

NAMES = sorted(SERVERS)

#: RDB types each server must have written for the generated data: proof that it covers them
EXPECTED_TYPES = {
    "redis-6.2": {0, 2, 4, 5, 11, 12, 13, 14, 15},
    "redis-7.0": {0, 2, 4, 5, 11, 16, 17, 18, 19},
    "redis-8.2": {0, 2, 4, 5, 11, 16, 17, 18, 20, 21, 24, 25},
    "valkey-8.1": {0, 2, 4, 5, 11, 16, 17, 18, 20, 21},
    "valkey-9.1": {0, 2, 4, 5, 11, 16, 17, 18, 20, 21, 22},
}


@pytest.fixture(scope="module", params=NAMES)
def saved(request, tmp_path_factory):
    """A server populated by the generator and saved: (name, rdb path, what the server holds)."""
    name = request.param
    spec = SERVERS[name]
    target = tmp_path_factory.mktemp(name) / "dump.rdb"
    with start_server(name) as server:
        populate(server.client(), spec)
        target.write_bytes(server.save().read_bytes())
        held = read_back(server.port, spec)
    return name, target, held


def test_dump_equals_what_the_server_holds(saved):
    name, path, held = saved
    with open_rdb(path) as rdb:
        ours = shape_records(rdb)
    tolerance = 0 if SERVERS[name].rdb_version >= 10 else 5000
    assert compare(ours, held, now_ms=int(time.time() * 1000), expire_tolerance_ms=tolerance) == []


def test_generator_covers_every_encoding_the_server_writes(saved):
    name, path, _ = saved
    with open_rdb(path) as rdb:
        types = Counter(r.rdb_type for r in rdb if isinstance(r, KeyRecord))
    assert set(types) >= EXPECTED_TYPES[name]


def test_verify_finds_the_server_file_sound(saved):
    _, path, _ = saved
    report = verify_rdb(path)
    assert report.verdict == "sound", [str(p) for p in report.problems]
    assert report.checksum == "ok"


def test_resp_dump_piped_into_a_fresh_server_reproduces_the_dataset(saved):
    name, path, held = saved
    resp = subprocess.run([sys.executable, "-m", "rdbtools.cli", "dump", str(path), "-f", "resp"],
                          capture_output=True, check=True).stdout
    with start_server(name) as fresh:
        piped = subprocess.run(["redis-cli", "-p", str(fresh.port), "--pipe"], input=resp, capture_output=True)
        assert piped.returncode == 0, piped.stdout + piped.stderr
        assert b"errors: 0" in piped.stdout, piped.stdout
        restored = read_back(fresh.port, SERVERS[name])
    tolerance = 0 if SERVERS[name].rdb_version >= 10 else 5000
    assert compare(restored, held, now_ms=int(time.time() * 1000), expire_tolerance_ms=tolerance,
                   consumer_times=False) == []


def test_large_list_elements_are_plain_quicklist_nodes_on_redis_8(tmp_path):
    """Redis 7.4+ stores an element above the node size in a PLAIN node of its own."""
    with start_server("redis-8.2") as server:
        server.client().rpush("list:huge-element", "small", b"H" * 12000, "tail")
        data = server.save().read_bytes()
    (tmp_path / "dump.rdb").write_bytes(data)
    containers = [node.container for _, _, record in parse_records(data)
                  if record.tag == 18 for node in record.record.value]
    assert QuicklistContainer.PLAIN in containers and QuicklistContainer.PACKED in containers
    with open_rdb(tmp_path / "dump.rdb") as rdb:
        assert [r.value for r in rdb if isinstance(r, KeyRecord)] == [[b"small", b"H" * 12000, b"tail"]]
