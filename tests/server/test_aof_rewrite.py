"""BGREWRITEAOF and its crashes: the rewritten files hold what the server holds and load in real
servers; writes made during a rewrite are kept; a rewrite killed (child or parent) or cut at any
step of the manifest switch leaves a complete, loadable set of files; auto rewrite and turning AOF
on at run time do what Redis does."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import time
from pathlib import Path

import pytest
import redis

from rdbtools.aof.check import check_aof
from rdbtools.conversion import ConvertReport, replay_aof
from rdbtools.keyspace.engine import Engine
from rdbtools.server.aof import AofPersistence
from rdbtools.server.config import ServerConfig
from rdbtools.server.core import Server
from tests.aof.redis_check_aof import run_real
from tests.compat.generator import populate, read_back
from tests.expected_shape import compare, shape_records
from tests.server.serving import start_serve
from tests.servers import PROCESS_TIMEOUT, SERVERS, start_server

AOF = ("--appendonly", "yes", "--appendfsync", "always")
SLOW_CHILD = ("--rdb-key-save-delay", "1000")  # a rewrite of N keys takes N ms: time to act meanwhile


def _now() -> int:
    return int(time.time() * 1000)


def _wait(condition, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def _fill(client, keys: int) -> None:
    client.mset({f"bulk:{i}": i for i in range(keys)})


@pytest.mark.parametrize("preamble", ["yes", "no"])
def test_a_rewrite_keeps_the_writes_made_meanwhile_and_loads_in_redis(preamble):
    spec = SERVERS["redis-7.0"]
    with start_serve(*AOF, *SLOW_CHILD, "--aof-use-rdb-preamble", preamble, "--target", "redis-7.0") as serving:
        client = serving.client()
        populate(client, spec)
        _fill(client, 500)
        assert client.bgrewriteaof()
        assert client.info("persistence")["aof_rewrite_in_progress"]  # (asked before the writes: however slow
        for i in range(200):  # they are on a loaded machine, the first ones are made while the child writes)
            client.rpush("during-rewrite", i)
        _wait(lambda: not client.info("persistence")["aof_rewrite_in_progress"])
        client.set("after-rewrite", "1")
        info = client.info("persistence")
        assert info["aof_last_bgrewrite_status"] == "ok" and info["aof_rewrites"] == 1
        held = read_back(serving.port, spec)
        directory = serving.dir / "appendonlydir"
        base = "appendonly.aof.2.base." + ("rdb" if preamble == "yes" else "aof")
        assert (directory / "appendonly.aof.manifest").read_text() == (
            f"file {base} seq 2 type b\nfile appendonly.aof.2.incr.aof seq 2 type i\n")
        assert sorted(p.name for p in directory.iterdir()) == sorted(
            [base, "appendonly.aof.2.incr.aof", "appendonly.aof.manifest"])  # history removed
        assert check_aof(directory).valid
        assert run_real(directory / "appendonly.aof.manifest").exit_code == 0
        serving.client().shutdown(nosave=True)

        def prepare(server_dir: Path) -> None:
            shutil.copytree(directory, server_dir / "appendonlydir")

        with start_server("redis-7.0", extra=("--appendonly", "yes"), prepare=prepare) as real:
            loaded = read_back(real.port, spec)
    assert compare(loaded, held, now_ms=_now(), consumer_times=False) == []


def test_a_single_file_rewrite_for_redis_6_2_loads_there():
    spec = SERVERS["redis-6.2"]
    with start_serve(*AOF, *SLOW_CHILD, "--target", "redis-6.2") as serving:
        client = serving.client()
        populate(client, spec)
        _fill(client, 300)
        client.bgrewriteaof()
        assert client.info("persistence")["aof_rewrite_in_progress"]
        client.set("during", "1")
        _wait(lambda: not client.info("persistence")["aof_rewrite_in_progress"])
        client.set("after", "1")
        held = read_back(serving.port, spec)
        path = serving.dir / "appendonly.aof"
        assert path.read_bytes().startswith(b"REDIS0009") and check_aof(path).valid
        client.shutdown(nosave=True)
        with start_server("redis-6.2", extra=("--appendonly", "yes"),
                          prepare=lambda d: shutil.copyfile(path, d / "appendonly.aof")) as real:
            loaded = read_back(real.port, spec)
    assert compare(loaded, held, now_ms=_now(), expire_tolerance_ms=5000, consumer_times=False) == []


def test_auto_rewrite_starts_when_the_aof_has_grown():
    with start_serve(*AOF, "--auto-aof-rewrite-min-size", "64kb", "--auto-aof-rewrite-percentage", "50") as serving:
        client = serving.client()
        for i in range(3000):
            client.set(f"k{i % 10}", "v" * 50)
        _wait(lambda: client.info("persistence")["aof_rewrites"] >= 1)
        _wait(lambda: not client.info("persistence")["aof_rewrite_in_progress"])
        assert "Starting automatic rewriting of AOF" in serving.log
        manifest = (serving.dir / "appendonlydir" / "appendonly.aof.manifest").read_text()
        base = manifest.split()[1]
        assert base != "appendonly.aof.1.base.rdb"  # a new base: the ten keys, not 3000 SETs
        assert (serving.dir / "appendonlydir" / base).stat().st_size < 4096


def test_turning_aof_on_at_run_time_writes_a_complete_directory(tmp_path):
    with start_serve("--target", "redis-7.0", directory=tmp_path) as serving:
        client = serving.client()
        client.rpush("before", 1, 2, 3)
        assert client.config_set("appendonly", "yes")
        client.set("right-after", "1")
        _wait(lambda: client.info("persistence")["aof_rewrites"] == 1)
        _wait(lambda: not client.info("persistence")["aof_rewrite_in_progress"])
        client.set("later", "1")
        assert client.info("persistence")["aof_enabled"] == 1
        client.shutdown(nosave=True)
    manifest = (tmp_path / "appendonlydir" / "appendonly.aof.manifest").read_text()
    assert manifest == "file appendonly.aof.1.base.rdb seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\n"
    with start_serve(*AOF, "--target", "redis-7.0", directory=tmp_path) as serving:
        client = serving.client()
        assert client.lrange("before", 0, -1) == [b"1", b"2", b"3"] and client.get("right-after") == b"1"
        assert client.get("later") == b"1"


# --- crashes -------------------------------------------------------------------------------------------

def _content(port: int) -> dict:
    return read_back(port, SERVERS["redis-7.0"])


@pytest.mark.parametrize("victim", ["child", "parent"])
def test_a_rewrite_killed_leaves_complete_files(tmp_path, victim):
    with start_serve(*AOF, *SLOW_CHILD, "--target", "redis-7.0", directory=tmp_path) as serving:
        client = serving.client()
        _fill(client, 3000)
        client.bgrewriteaof()
        children = Path(f"/proc/{serving.process.pid}/task/{serving.process.pid}/children").read_text().split()
        assert children, "the rewrite child is gone already"
        client.set("during", "1")
        os.kill(int(children[0]) if victim == "child" else serving.process.pid, signal.SIGKILL)
        if victim == "child":
            _wait(lambda: not client.info("persistence")["aof_rewrite_in_progress"])
            assert client.info("persistence")["aof_last_bgrewrite_status"] == "err"
            client.set("after", "1")
            held = _content(serving.port)
            client.shutdown(nosave=True)
        else:  # the orphaned child finishes its file, which nobody installs
            serving.process.wait(timeout=PROCESS_TIMEOUT)
            _wait(lambda: _gone(int(children[0])))
            held = None
    assert check_aof(tmp_path / "appendonlydir").valid
    with start_serve(*AOF, "--target", "redis-7.0", directory=tmp_path) as serving:
        served = _content(serving.port)
        assert serving.client().get("during") == b"1" and serving.client().dbsize() == 3001 + (victim == "child")
    if held is not None:
        assert compare(served, held, now_ms=_now()) == []


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"


class Crash(Exception):
    """Stands for kill -9 at one step of the switch."""


@pytest.mark.parametrize("step", ["before the switch", "after the switch", "while removing history",
                                  "before the last manifest"])
def test_a_crash_at_any_step_of_the_manifest_switch_leaves_loadable_files(tmp_path, monkeypatch, step):
    config = ServerConfig.load(None, ["--dir", str(tmp_path), "--save", "", *AOF, "--target", "redis-7.0"])
    server = Server(config)
    server.aof.open(server.engine)
    client = server.connect("a:1", "b:2", lambda reply: None, lambda: None)
    for i in range(50):
        server.execute(client, [b"RPUSH", b"list", b"%d" % i])
    server.aof.flush()
    server.aof.start_rewrite(server.engine)
    server.execute(client, [b"SET", b"during", b"1"])
    server.aof.flush()
    held = shape_records(server.engine.keyspace.records())
    _wait(lambda: not Path(f"/proc/{server.aof.child.pid}").exists() or _gone(server.aof.child.pid))
    persisted, unlinked = AofPersistence._persist_manifest, Path.unlink
    calls = {"persist": 0}

    def persist(self, manifest):
        calls["persist"] += 1
        if (step, calls["persist"]) in (("before the switch", 1), ("before the last manifest", 2)):
            raise Crash
        persisted(self, manifest)
        if step == "after the switch":
            raise Crash

    def unlink(self, missing_ok=False):
        if step == "while removing history" and self.name.startswith("appendonly.aof.1."):
            raise Crash
        unlinked(self, missing_ok)

    monkeypatch.setattr(AofPersistence, "_persist_manifest", persist)
    monkeypatch.setattr(Path, "unlink", unlink)
    with pytest.raises(Crash):
        server.aof.reap()
    monkeypatch.undo()
    directory = tmp_path / "appendonlydir"
    assert check_aof(directory).valid
    replayed = Engine()
    replay_aof(directory, ConvertReport("", "", "aof", ""), engine=replayed)
    assert compare(held, shape_records(replayed.keyspace.records()), now_ms=_now()) == []
    with start_server("redis-7.0", extra=("--appendonly", "yes"),
                      prepare=lambda d: shutil.copytree(directory, d / "appendonlydir")) as real:
        assert compare(held, _content(real.port), now_ms=_now()) == []


def _manifest_after_writes_and_a_rewrite(port: int, directory: Path) -> str:
    client, other_db = redis.Redis(port=port), redis.Redis(port=port, db=1)
    other_db.set("x", 1)
    client.pipeline(transaction=True).set("a", 1).set("b", 2).execute()
    client.delete("missing")  # changes nothing: not appended, not counted
    client.set("e", 1, ex=100)
    client.bgrewriteaof()
    _wait(lambda: not client.info("persistence")["aof_rewrite_in_progress"])
    _wait(lambda: "type h" not in (directory / "appendonly.aof.manifest").read_text())  # Redis removes history
    return (directory / "appendonly.aof.manifest").read_text()  # in a background thread


def test_the_manifest_names_start_offsets_as_redis_8_does():
    with start_server("redis-8.2", extra=("--appendonly", "yes")) as real:
        theirs = _manifest_after_writes_and_a_rewrite(real.port, real.dir / "appendonlydir")
    with start_serve("--appendonly", "yes", "--target", "redis-8.2") as serving:
        ours = _manifest_after_writes_and_a_rewrite(serving.port, serving.dir / "appendonlydir")
    assert ours == theirs == ("file appendonly.aof.2.base.rdb seq 2 type b\n"
                              "file appendonly.aof.2.incr.aof seq 2 type i startoffset 6\n")


def test_everysec_postpones_a_write_behind_a_slow_fsync_for_at_most_2_seconds(tmp_path, caplog):
    config = ServerConfig.load(None, ["--dir", str(tmp_path), "--save", "", "--appendonly", "yes",
                                      "--appendfsync", "everysec", "--target", "redis-7.0"])
    server = Server(config)
    aof = server.aof
    aof.open(server.engine)
    release = time.monotonic() + 4.0  # the fsync outlasts the 2-second rule by a margin a busy CI keeps
    config.failpoints.set("fsync", "delay", "4000")
    caplog.set_level(logging.INFO, logger="rdbtool.serve")
    aof.last_fsync -= 2  # a second has passed: the next write starts the background fsync
    incr = tmp_path / "appendonlydir" / "appendonly.aof.1.incr.aof"
    aof.appender.feed(0, [[b"SET", b"a", b"1"]])
    aof.flush()
    assert aof.info()["aof_pending_bio_fsync"] == 1 and b"SET" in incr.read_bytes()
    aof.appender.feed(0, [[b"SET", b"b", b"2"]])
    aof.flush()  # the fsync is still running: this write waits
    assert b"$1\r\nb" not in incr.read_bytes() and aof.info()["aof_buffer_length"] > 0
    _wait(lambda: (aof.cron(), b"$1\r\nb" in incr.read_bytes())[1], seconds=5)
    assert aof.info()["aof_delayed_fsync"] == 1  # written after 2 s without waiting any longer
    assert time.monotonic() < release  # ... while the fsync was still running
    assert [(r.levelname, r.getMessage()) for r in caplog.records if "taking too long" in r.getMessage()] == [
        ("INFO", "Asynchronous AOF fsync is taking too long (disk is busy?). Writing the AOF buffer without waiting "
                 "for fsync to complete, this may slow down Redis.")]  # a notice in Redis's log, not a warning


@pytest.mark.parametrize("setting", ["yes", "no"])
def test_no_appendfsync_on_rewrite_skips_fsync_while_a_child_writes(tmp_path, monkeypatch, setting):
    import rdbtools.server.aof as aof_module

    config = ServerConfig.load(None, ["--dir", str(tmp_path), "--save", "", *AOF, "--target", "redis-7.0",
                                      "--no-appendfsync-on-rewrite", setting])
    server = Server(config)
    server.aof.open(server.engine)
    synced = []
    monkeypatch.setattr(aof_module.os, "fdatasync", synced.append)
    client = server.connect("a:1", "b:2", lambda reply: None, lambda: None)
    server.execute(client, [b"SET", b"a", b"1"])
    server.aof.flush()
    assert len(synced) == 1  # no child: fsync'd as always says
    server.persistence.child = object()  # a BGSAVE child is writing
    server.execute(client, [b"SET", b"b", b"2"])
    server.aof.flush()
    server.persistence.child = None
    assert len(synced) == (1 if setting == "yes" else 2)
    assert b"$1\r\nb" in (tmp_path / "appendonlydir" / "appendonly.aof.1.incr.aof").read_bytes()  # written
