"""serve with appendonly yes as a real process: what it appends loads in real servers and passes
redis-check-aof; it starts from the AOFs of every real server; a truncated tail is cut as
aof-load-truncated says, anything else corrupt stops the start; and kill -9 under a write load from
several clients loses no acknowledged write (always) or only a recent tail of each client's writes
(everysec)."""

from __future__ import annotations

import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
import redis

from rdbtools.aof.check import check_aof
from tests.aof.redis_check_aof import run_real
from tests.compat.generator import populate, read_back
from tests.compat.test_aof_servers import aof_path, wait_for_rewrite
from tests.expected_shape import compare
from tests.server.serving import command, start_serve
from tests.servers import PROCESS_TIMEOUT, SERVERS, start_server

AOF = ("--appendonly", "yes")


def _now() -> int:
    return int(time.time() * 1000)


def _tolerance(name: str) -> int:
    return 0 if SERVERS[name].rdb_version >= 10 else 5000  # no PEXPIRETIME before 7.0


@pytest.mark.parametrize("name", sorted(SERVERS))
def test_the_aof_serve_writes_loads_in_the_real_server_of_its_target(name):
    spec = SERVERS[name]
    with start_serve(*AOF, "--target", name, "--appendfsync", "always") as serving:
        populate(serving.client(), spec)
        held = read_back(serving.port, spec)
        serving.client().shutdown(nosave=True)
        assert serving.process.wait(timeout=PROCESS_TIMEOUT) == 0
        written = aof_path_of(serving.dir, spec)
        assert check_aof(written).valid
        if spec.rdb_version <= 10:  # Debian's 7.0 checker reads RDB <= 10 bases only
            real = run_real(written)
            assert real.exit_code == 0, real.output

        def prepare(directory: Path) -> None:
            source = serving.dir / "appendonlydir"
            if source.is_dir():
                shutil.copytree(source, directory / "appendonlydir")
            else:
                shutil.copyfile(serving.dir / "appendonly.aof", directory / "appendonly.aof")

        with start_server(name, extra=AOF, prepare=prepare) as real_server:
            loaded = read_back(real_server.port, spec)
    assert compare(loaded, held, now_ms=_now(), expire_tolerance_ms=_tolerance(name), consumer_times=False) == []


def aof_path_of(directory: Path, spec) -> Path:
    """The manifest of a multi-part AOF, or the single file (targets before 7.0)."""
    if spec.rdb_version >= 10:
        return directory / "appendonlydir" / "appendonly.aof.manifest"
    return directory / "appendonly.aof"


@pytest.mark.parametrize("preamble", ["yes", "no"])
@pytest.mark.parametrize("name", sorted(SERVERS))
def test_serve_starts_from_the_aof_of_every_real_server(tmp_path, name, preamble):
    spec = SERVERS[name]
    with start_server(name, extra=(*AOF, "--aof-use-rdb-preamble", preamble, "--appendfsync", "always")) as real:
        client = real.client()
        populate(client, spec)
        client.bgrewriteaof()
        wait_for_rewrite(real)
        client.set("after-rewrite", "1")
        client.pipeline(transaction=True).incr("counter").rpush("list-in-transaction", "x").execute()
        held = read_back(real.port, spec)
        source = aof_path(real)
        destination = tmp_path / source.name
        (shutil.copytree if source.is_dir() else shutil.copyfile)(source, destination)
    with start_serve(*AOF, "--target", name, directory=tmp_path) as serving:
        served = read_back(serving.port, spec)
        assert "DB loaded from append only file" in serving.log
    assert compare(served, held, now_ms=_now(), expire_tolerance_ms=_tolerance(name), consumer_times=False) == []


def test_an_old_single_aof_is_upgraded_into_a_directory(tmp_path):
    (tmp_path / "appendonly.aof").write_bytes(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$3\r\nold\r\n")
    with start_serve(*AOF, "--target", "redis-7.0", directory=tmp_path) as serving:
        assert serving.client().get("k") == b"old"
        serving.client().set("k", "new")
    manifest = (tmp_path / "appendonlydir" / "appendonly.aof.manifest").read_text()
    assert manifest == "file appendonly.aof seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\n"
    assert not (tmp_path / "appendonly.aof").exists()
    with start_serve(*AOF, "--target", "redis-7.0", directory=tmp_path) as serving:
        assert serving.client().get("k") == b"new"


def _write_and_stop(directory: Path, *commands: tuple) -> Path:
    with start_serve(*AOF, "--target", "redis-7.0", directory=directory) as serving:
        for args in commands:
            serving.client().execute_command(*args)
        serving.client().shutdown(nosave=True)
    return directory / "appendonlydir" / "appendonly.aof.1.incr.aof"


def test_a_truncated_tail_is_cut_with_a_backup_and_the_rest_loads(tmp_path):
    incr = _write_and_stop(tmp_path, ("SET", "a", "1"), ("RPUSH", "l", "x", "y"))
    complete = incr.read_bytes()
    incr.write_bytes(complete + b"*3\r\n$3\r\nSET\r\n$1\r\nb\r\n$5\r\nhal")  # a write cut short by a crash
    with start_serve(*AOF, "--target", "redis-7.0", directory=tmp_path) as serving:
        client = serving.client()
        assert client.get("a") == b"1" and client.lrange("l", 0, -1) == [b"x", b"y"] and client.get("b") is None
        assert "aof-load-truncated" in serving.log and f"truncated to offset {len(complete)}" in serving.log
        client.set("c", "after")
    assert incr.read_bytes().startswith(complete) and check_aof(incr.parent).valid
    backups = list(incr.parent.glob("appendonly.aof.1.incr.aof.*.bak"))
    assert len(backups) == 1 and backups[0].read_bytes().endswith(b"hal")


def test_a_truncated_tail_stops_the_start_when_aof_load_truncated_is_no(tmp_path):
    incr = _write_and_stop(tmp_path, ("SET", "a", "1"))
    incr.write_bytes(incr.read_bytes() + b"*2\r\n$3\r\nDEL")
    result = subprocess.run(command("--port", "0", "--dir", str(tmp_path), *AOF, "--target", "redis-7.0",
                                    "--aof-load-truncated", "no"),
                            capture_output=True, text=True, timeout=PROCESS_TIMEOUT)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "aof-load-truncated yes" in result.stderr and "appendonly.aof.1.incr.aof" in result.stderr


def test_corruption_before_the_tail_stops_the_start_with_a_located_error(tmp_path):
    incr = _write_and_stop(tmp_path, ("SET", "a", "1"), ("SET", "b", "2"))
    data = incr.read_bytes()
    second = data.index(b"*3\r\n$3\r\nSET")
    assert data[second + 1 :].count(b"*3\r\n") == 1  # the SET of b follows
    incr.write_bytes(data[:second] + b"!" + data[second + 1 :])  # not RESP any more, and not at the tail
    result = subprocess.run(command("--port", "0", "--dir", str(tmp_path), *AOF, "--target", "redis-7.0"),
                            capture_output=True, text=True, timeout=PROCESS_TIMEOUT)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "appendonly.aof.1.incr.aof" in result.stderr and "offset" in result.stderr


def _rdbtool(*arguments: str) -> list[str]:
    return [*command()[:-1], *arguments]


def test_check_aof_and_convert_read_what_serve_writes(tmp_path):
    incr = _write_and_stop(tmp_path, ("SET", "a", "1", "EX", "1000"), ("SADD", "s", "x", "y"), ("SPOP", "s"))
    directory = incr.parent
    checked = subprocess.run(_rdbtool("check-aof", str(directory)), capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    out = tmp_path / "out.rdb"
    converted = subprocess.run(_rdbtool("convert", str(directory), str(out), "--target", "redis-7.0"),
                               capture_output=True, text=True)
    assert converted.returncode == 0, converted.stderr
    with start_server("redis-7.0", rdb=out) as real:
        client = real.client()
        assert client.get("a") == b"1" and 0 < client.ttl("a") <= 1000 and client.scard("s") == 1


# --- crashes under load --------------------------------------------------------------------------------

KINDS = 7  # string, list, hash, MULTI/EXEC, TTL, zset, stream


class Writer(threading.Thread):
    """One client writing numbered operations of every kind until the server dies; remembers the
    last one acknowledged."""

    def __init__(self, port: int, name: str) -> None:
        super().__init__(daemon=True)
        self.client = redis.Redis(port=port, socket_timeout=10)
        self.name = name
        self.acknowledged = -1
        self.ack_times: list[float] = []

    def run(self) -> None:
        n = self.name
        try:
            for i in range(10**9):
                kind = i % KINDS
                if kind == 0:
                    self.client.set(f"{n}:s:{i}", i)
                elif kind == 1:
                    self.client.rpush(f"{n}:list", i)
                elif kind == 2:
                    self.client.hset(f"{n}:hash", f"f{i}", i)
                elif kind == 3:
                    self.client.pipeline(transaction=True).incr(f"{n}:counter").sadd(f"{n}:set", i).execute()
                elif kind == 4:
                    self.client.set(f"{n}:ttl:{i}", i, ex=1000)
                elif kind == 5:
                    self.client.zadd(f"{n}:zset", {f"m{i}": i})
                else:
                    self.client.xadd(f"{n}:stream", {"i": i})
                self.acknowledged = i
                self.ack_times.append(time.monotonic())
        except (redis.ConnectionError, redis.TimeoutError, ConnectionError):
            return


class Restored:
    """What the restarted server holds of one writer's operations (collections read once)."""

    def __init__(self, client: redis.Redis, n: str) -> None:
        self.client, self.n = client, n
        self.list = set(client.lrange(f"{n}:list", 0, -1))
        self.hash = client.hgetall(f"{n}:hash")
        self.set = client.smembers(f"{n}:set")
        self.counter = int(client.get(f"{n}:counter") or 0)
        self.zset = dict(client.zrange(f"{n}:zset", 0, -1, withscores=True))
        self.stream = {fields[b"i"] for _, fields in client.xrange(f"{n}:stream")}

    def has(self, i: int) -> bool:
        n, text, kind = self.n, str(i).encode(), i % KINDS
        if kind == 0:
            return self.client.get(f"{n}:s:{i}") == text
        if kind == 1:
            return text in self.list
        if kind == 2:
            return self.hash.get(f"f{i}".encode()) == text
        if kind == 3:
            return text in self.set and self.counter >= i // KINDS + 1
        if kind == 4:
            return self.client.get(f"{n}:ttl:{i}") == text and self.client.ttl(f"{n}:ttl:{i}") > 900
        if kind == 5:
            return self.zset.get(f"m{i}".encode()) == i
        return text in self.stream


#: keys written before the rewrite starts: at 2 ms a key (rdb-key-save-delay) the child takes 3 s
_REWRITE_KEYS = 1500


def _wait_for_keys(client: redis.Redis, count: int, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while client.dbsize() < count:
        assert time.monotonic() < deadline, f"the writers did not reach {count} keys"
        time.sleep(0.05)


@pytest.mark.parametrize(("policy", "rewriting"), [("always", False), ("everysec", False), ("always", True)])
def test_kill_9_under_load_keeps_acknowledged_writes(tmp_path, policy, rewriting, record_property):
    """``rewriting``: a BGREWRITEAOF (its child slowed down) is under way when the server is killed."""
    with start_serve(*AOF, "--appendfsync", policy, "--rdb-key-save-delay", "2000", directory=tmp_path) as serving:
        writers = [Writer(serving.port, f"w{k}") for k in range(4)]
        for writer in writers:
            writer.start()
        time.sleep(1.0)
        if rewriting:  # enough keys that the slowed child outlasts the sleep below however loaded the machine
            _wait_for_keys(serving.client(), _REWRITE_KEYS)
            serving.client().bgrewriteaof()
        time.sleep(1.5)
        if rewriting:
            assert serving.client().info("persistence")["aof_rewrite_in_progress"]
        killed_at = time.monotonic()
        serving.process.send_signal(signal.SIGKILL)
        serving.process.wait(timeout=PROCESS_TIMEOUT)
        for writer in writers:
            writer.join(timeout=20)
    acknowledged = sum(w.acknowledged + 1 for w in writers)
    with start_serve(*AOF, directory=tmp_path) as serving:
        client = serving.client()
        missing, recent = 0, 0
        for writer in writers:
            restored = Restored(client, writer.name)
            present = [restored.has(i) for i in range(writer.acknowledged + 1)]
            kept = present.index(False) if False in present else len(present)
            assert all(present[:kept]) and not any(present[kept:]), f"{writer.name}: not a prefix"
            missing += len(present) - kept
            recent += sum(1 for t in writer.ack_times[kept:] if killed_at - t <= 2.0)
    record_property("acknowledged", acknowledged)
    record_property("missing", missing)
    print(f"appendfsync {policy}{' during a rewrite' if rewriting else ''}: {acknowledged} writes acknowledged, "
          f"{missing} missing after kill -9")
    assert acknowledged > 100
    if policy == "always":
        assert missing == 0
    else:  # at most the last ~2 s of acknowledged writes may be lost
        assert missing == recent


def test_info_persistence_has_the_aof_fields_of_redis():
    with start_server("redis-7.0", extra=AOF) as real:
        theirs = real.client().info("persistence")
    with start_serve(*AOF, "--target", "redis-7.0") as serving:
        client = serving.client()
        client.set("k", "v")
        ours = client.info("persistence")
    missing = sorted(k for k in theirs if k.startswith("aof") and k not in ours)
    assert not missing
    assert ours["aof_enabled"] == 1 and ours["aof_last_write_status"] == "ok" and ours["aof_current_size"] > 0


def test_debug_loadaof_reloads_what_was_appended():
    spec = SERVERS["redis-7.0"]
    with start_serve(*AOF, "--target", "redis-7.0") as serving:
        client = serving.client()
        populate(client, spec)
        client.set("relative", "1", ex=1000)
        client.incrbyfloat("float", "1.5")
        held = read_back(serving.port, spec)
        assert client.execute_command("DEBUG", "LOADAOF") == b"OK"
        assert compare(read_back(serving.port, spec), held, now_ms=_now(), consumer_times=False) == []
        assert "Append Only File loaded by DEBUG LOADAOF" in serving.log


def _annotated_writes(client: redis.Redis, incr: Path) -> list[bytes]:
    """The incr file's commands and #TS: lines after writes with CONFIG SET aof-timestamp-enabled between them."""
    client.set("before", "1")
    client.config_set("aof-timestamp-enabled", "yes")
    client.set("annotated", "1")
    client.config_set("aof-timestamp-enabled", "no")
    time.sleep(1.1)  # a new second: annotated if the setting were still on
    client.set("after", "1")
    lines = incr.read_bytes().split(b"\r\n")
    return [b"#TS" if line.startswith(b"#TS:") else line for line in lines if line[:1] in (b"#", b"S")]


def test_config_set_turns_timestamp_annotations_on_and_off_as_redis(tmp_path):
    with start_server("redis-7.0", extra=AOF) as real:
        expected = _annotated_writes(real.client(), aof_path(real) / "appendonly.aof.1.incr.aof")
    with start_serve(*AOF, "--target", "redis-7.0", directory=tmp_path) as serving:
        found = _annotated_writes(serving.client(), tmp_path / "appendonlydir" / "appendonly.aof.1.incr.aof")
        serving.client().shutdown(nosave=True)
    assert found == expected == [b"SELECT", b"SET", b"#TS", b"SET", b"SET"]


def test_timestamps_are_annotated_when_the_second_changes(tmp_path):
    with start_serve(*AOF, "--target", "redis-7.0", "--aof-timestamp-enabled", "yes", directory=tmp_path) as serving:
        client = serving.client()
        client.set("first", "1")
        client.set("same-second", "1")
        time.sleep(1.1)
        client.set("later", "1")
        client.shutdown(nosave=True)
    incr = (tmp_path / "appendonlydir" / "appendonly.aof.1.incr.aof").read_bytes()
    stamps = [int(line[4:]) for line in incr.split(b"\r\n") if line.startswith(b"#TS:")]
    assert len(stamps) == 2 and stamps[1] > stamps[0]
    assert incr.startswith(b"#TS:") and check_aof(tmp_path / "appendonlydir").valid
    out = tmp_path / "until.rdb"  # a point in time between the two seconds
    done = subprocess.run(_rdbtool("convert", str(tmp_path / "appendonlydir"), str(out), "--until", str(stamps[0])),
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    with start_server("redis-7.0", rdb=out) as real:
        assert sorted(real.client().keys()) == [b"first", b"same-second"]


@pytest.mark.parametrize("pure", ["", "1"])
def test_serve_works_on_uvloop_and_on_asyncio(tmp_path, pure):
    """RDBTOOL_PURE_PYTHON=1 runs serve on asyncio's own loop (what it falls back to without uvloop)."""
    with start_serve(*AOF, "--appendfsync", "always", directory=tmp_path, env={"RDBTOOL_PURE_PYTHON": pure}) as serving:
        assert f"Event loop: {'asyncio' if pure else 'uvloop'}" in serving.log
        client = serving.client()
        client.rpush("list", "a", "b")
        assert client.blpop(["list"], timeout=1) == (b"list", b"a")
        pipe = client.pipeline(transaction=True)
        assert pipe.incr("counter").set("k", "v", ex=100).execute() == [1, True]
        serving.process.send_signal(signal.SIGKILL)
        serving.process.wait(timeout=PROCESS_TIMEOUT)
    with start_serve(*AOF, directory=tmp_path, env={"RDBTOOL_PURE_PYTHON": pure}) as serving:
        client = serving.client()
        assert client.lrange("list", 0, -1) == [b"b"] and client.get("counter") == b"1" and client.ttl("k") > 90


def test_a_corrupt_base_stops_the_start_with_a_located_error(tmp_path):
    _write_and_stop(tmp_path, ("SET", "a", "1"))
    base = tmp_path / "appendonlydir" / "appendonly.aof.1.base.rdb"
    data = bytearray(base.read_bytes())
    data[-3] ^= 0xFF  # inside the CRC64 trailer
    base.write_bytes(bytes(data))
    result = subprocess.run(command("--port", "0", "--dir", str(tmp_path), *AOF, "--target", "redis-7.0"),
                            capture_output=True, text=True, timeout=PROCESS_TIMEOUT)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert "appendonly.aof.1.base.rdb" in result.stderr and "offset" in result.stderr, result.stderr
