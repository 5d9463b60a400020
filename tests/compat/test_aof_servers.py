"""AOFs written by every real server, in every layout, are read completely."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from rdbtools.aof.check import check_aof
from rdbtools.aof.reader import AofCommand, AofSnapshotRecord, open_aof
from rdbtools.rdb.model import KeyRecord
from tests.aof.redis_check_aof import run_real
from tests.compat.generator import populate
from tests.servers import SERVERS, RealServer, start_server

NAMES = sorted(SERVERS)


def wait_for_rewrite(server: RealServer, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = server.client().info("persistence")
        if not info["aof_rewrite_in_progress"] and not info["aof_rewrite_scheduled"]:
            return
        time.sleep(0.05)
    raise AssertionError("BGREWRITEAOF did not finish")


def aof_path(server: RealServer) -> Path:
    directory = server.dir / "appendonlydir"
    return directory if directory.is_dir() else server.dir / "appendonly.aof"


@pytest.mark.parametrize("preamble", ["yes", "no"])
@pytest.mark.parametrize("name", NAMES)
def test_aof_after_a_rewrite_and_more_writes_is_read_completely(name, preamble):
    spec = SERVERS[name]
    extra = ("--appendonly", "yes", "--aof-use-rdb-preamble", preamble, "--appendfsync", "always")
    if spec.rdb_version >= 10:
        extra += ("--aof-timestamp-enabled", "yes")
    with start_server(name, extra=extra) as server:
        client = server.client()
        populate(client, spec)
        client.bgrewriteaof()
        wait_for_rewrite(server)
        client.set("after-rewrite", "1")
        transaction = client.pipeline(transaction=True)
        transaction.set("first-in-transaction", "1").set("in-transaction", "1").execute()
        path = aof_path(server)
        items = list(open_aof(path))
        target = path if path.is_file() else next(path.glob("*.manifest"))
        assert check_aof(target).valid
        if preamble == "no" or spec.rdb_version <= 10:  # Debian's 7.0 checker reads RDB <= 10 only
            real = run_real(target)
            assert real.exit_code == 0, real.output
        assert path.is_dir() if spec.rdb_version >= 10 else path.is_file()  # 7.0+: multi-part
    commands = [i for i in items if isinstance(i, AofCommand)]
    snapshot_keys = [i for i in items if isinstance(i, AofSnapshotRecord) and isinstance(i.record, KeyRecord)]
    tail = [[c.args[0].upper(), *c.args[1:2]] for c in commands if c.args[0].upper() != b"SELECT"][-5:]
    assert tail == [[b"SET", b"after-rewrite"], [b"MULTI"], [b"SET", b"first-in-transaction"],
                    [b"SET", b"in-transaction"], [b"EXEC"]]
    if preamble == "yes":
        assert len(snapshot_keys) > 50 and not any(c.args[0].lower() == b"hset" for c in commands[:-4])
    else:
        assert not snapshot_keys and len(commands) > 50
    if spec.rdb_version >= 10 and preamble == "no":
        # a rewritten RESP base starts with #TS:; incr files only get one when the second changes
        assert all(c.timestamp for c in commands)
