"""serve's RDB persistence against real servers: what it saves loads in the real server of its target
with the same content; what real servers save, serve starts from; BGSAVE, save points, shutdown,
and crashes that leave the previous dump intact."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time

import pytest
import redis

from rdbtools import KeyRecord, open_rdb, verify_rdb
from rdbtools.rdb.targets import target_for
from rdbtools.rdb.writer import RdbWriter
from tests.compat.generator import populate, read_back
from tests.expected_shape import compare, shape_records
from tests.server.serving import command, start_serve
from tests.servers import PROCESS_TIMEOUT, SERVERS, start_server


def _now() -> int:
    return int(time.time() * 1000)


@pytest.mark.parametrize("name", sorted(SERVERS))
def test_a_snapshot_saved_by_serve_loads_in_the_real_server_of_its_target(name):
    spec = SERVERS[name]
    with start_serve("--target", name) as serving:
        populate(serving.client(), spec)
        held = read_back(serving.port, spec)
        assert serving.client().save()
        dump = serving.rdb_path.read_bytes()
    if spec.rdb_version <= 10:
        path = serving.dir.parent / f"check-{name}.rdb"
        path.write_bytes(dump)
        try:
            check = subprocess.run(["redis-check-rdb", str(path)], capture_output=True, text=True)
        finally:
            path.unlink()
        assert check.returncode == 0, check.stdout
    with start_server(name, rdb=dump) as real:
        loaded = read_back(real.port, spec)
    tolerance = 0 if spec.rdb_version >= 10 else 5000  # no PEXPIRETIME before 7.0: TTLs read a moment apart
    assert compare(loaded, held, now_ms=_now(), expire_tolerance_ms=tolerance) == []


@pytest.mark.parametrize("name", sorted(SERVERS))
def test_serve_starts_from_the_dump_of_every_real_server(tmp_path, name):
    spec = SERVERS[name]
    with start_server(name) as real:
        populate(real.client(), spec)
        held = read_back(real.port, spec)
        (tmp_path / "dump.rdb").write_bytes(real.save().read_bytes())
    with start_serve("--target", name, directory=tmp_path) as serving:
        served = read_back(serving.port, spec)
        assert "DB loaded from disk" in serving.log
    tolerance = 0 if spec.rdb_version >= 10 else 5000
    assert compare(served, held, now_ms=_now(), expire_tolerance_ms=tolerance) == []


def test_bgsave_forks_a_child_that_writes_the_same_snapshot_and_info_tells(tmp_path):
    with start_serve("--target", "redis-7.0") as serving:
        client = serving.client()
        populate(client, SERVERS["redis-7.0"])
        before = client.lastsave()
        assert client.info("persistence")["rdb_changes_since_last_save"] > 0
        time.sleep(1.1)
        assert client.bgsave()
        _wait(lambda: client.info("persistence")["rdb_bgsave_in_progress"] == 0)
        info = client.info("persistence")
        assert info["rdb_last_bgsave_status"] == "ok" and info["rdb_changes_since_last_save"] == 0
        assert client.lastsave() > before
        with open_rdb(serving.rdb_path) as rdb:
            assert compare(shape_records(rdb), read_back(serving.port, SERVERS["redis-7.0"]), now_ms=_now()) == []
        assert "Background saving started by pid" in serving.log
        assert "Background saving terminated with success" in serving.log
        assert not list(serving.dir.glob("temp-*.rdb"))


def test_save_points_trigger_a_bgsave_and_sigterm_saves_before_exit():
    with start_serve(save="1 1") as serving:
        serving.client().set("k", "v")
        _wait(lambda: serving.rdb_path.exists(), seconds=10)
        serving.client().set("later", "v")
        assert serving.stop(signal.SIGTERM) == 0
        with open_rdb(serving.rdb_path) as rdb:
            assert {r.key for r in rdb if isinstance(r, KeyRecord)} == {b"k", b"later"}
        assert "Saving the final RDB snapshot before exiting." in serving.log


def test_shutdown_nosave_leaves_no_dump_and_shutdown_saves():
    with start_serve(save="3600 1") as serving:
        client = serving.client()
        client.set("k", "v")
        with contextlib.suppress(redis.ConnectionError):
            client.shutdown(nosave=True)
        assert serving.process.wait(timeout=PROCESS_TIMEOUT) == 0 and not serving.rdb_path.exists()
    with start_serve() as serving:
        serving.client().set("k", "v")
        with contextlib.suppress(redis.ConnectionError):
            serving.client().shutdown(save=True)
        assert serving.process.wait(timeout=PROCESS_TIMEOUT) == 0 and serving.rdb_path.exists()


def test_a_corrupt_dump_stops_the_start_with_a_located_error(tmp_path):
    (tmp_path / "dump.rdb").write_bytes(b"REDIS0010\xfe\x00\x00\x03key")
    result = subprocess.run(command("--port", "0", "--dir", str(tmp_path)), capture_output=True, text=True,
                            timeout=PROCESS_TIMEOUT)
    assert result.returncode == 1
    assert "dump.rdb" in result.stderr and "offset" in result.stderr and "Traceback" not in result.stderr


def _big_dump(path, keys: int = 300_000) -> None:
    """A dump large enough that its BGSAVE takes a while (written directly, not key by key)."""
    with open(path, "wb") as out:
        writer = RdbWriter(out, target_for("redis-7.0"))
        for i in range(keys):
            writer.write_key(KeyRecord(0, b"key:%d" % i, "string", "", 0, b"value-%d" % i, None))
        writer.close()


def test_a_killed_bgsave_child_leaves_the_dump_intact_and_refuses_writes_until_a_save_works(tmp_path):
    _big_dump(tmp_path / "dump.rdb")
    original = (tmp_path / "dump.rdb").read_bytes()
    with start_serve(save="3600 1", directory=tmp_path) as serving:
        client = serving.client()
        client.set("new", "value")
        client.bgsave()
        child = int(serving.log.rsplit("Background saving started by pid ", 1)[1].split()[0])
        os.kill(child, signal.SIGKILL)
        _wait(lambda: client.info("persistence")["rdb_bgsave_in_progress"] == 0)
        assert client.info("persistence")["rdb_last_bgsave_status"] == "err"
        assert serving.rdb_path.read_bytes() == original and not list(tmp_path.glob("temp-*.rdb"))
        with pytest.raises(redis.ResponseError, match="MISCONF"):
            client.set("refused", "1")
        assert client.get("new") == b"value"  # reads still work
        assert client.save()
        client.set("accepted", "1")


def test_killing_the_server_during_a_bgsave_leaves_a_complete_dump(tmp_path):
    _big_dump(tmp_path / "dump.rdb")
    with start_serve(directory=tmp_path) as serving:
        client = serving.client()
        client.set("new", "value")
        client.bgsave()
        time.sleep(0.2)
        serving.process.kill()
        serving.process.wait()
    time.sleep(3)  # an orphaned child may still finish: either way the dump is whole
    assert verify_rdb(tmp_path / "dump.rdb").verdict == "sound"


def _wait(condition, seconds: float = 30) -> None:
    deadline = time.time() + seconds
    while not condition():
        assert time.time() < deadline, "timed out"
        time.sleep(0.05)
