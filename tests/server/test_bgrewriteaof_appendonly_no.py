"""BGREWRITEAOF with appendonly no, against the real servers: Redis 7+ writes a new base file and a
manifest naming only it in appenddirname (the old base goes), Redis 6.2 a new appendonly.aof; the
replies (started, scheduled inside MULTI or while a child runs, already in progress), INFO persistence's
AOF fields and the files written are the server's, and the files load in the real server."""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import pytest

from tests.resp_client import RawClient
from tests.server.serving import start_serve
from tests.servers import PROCESS_TIMEOUT, start_server

TARGETS = ["redis-6.2", "redis-7.0", "redis-8.2", "valkey-9.1"]
OFF = ("--appendonly", "no")
#: fields that depend on timing or on the process's memory
_TIMING = {"aof_last_cow_size", "aof_last_rewrite_time_sec", "aof_current_rewrite_time_sec"}


@pytest.fixture(scope="module", params=TARGETS)
def pair(request):
    with start_server(request.param, extra=OFF) as real, start_serve("--target", request.param, *OFF) as served:
        yield request.param, real, served


def _aof_fields(client: RawClient) -> dict[str, str]:
    lines = client.call([b"INFO", b"persistence"]).decode().split("\r\n")
    return dict(line.split(":", 1) for line in lines if line.startswith("aof_") and line.split(":")[0] not in _TIMING)


def _wait_done(client: RawClient) -> None:
    deadline = time.monotonic() + PROCESS_TIMEOUT
    while _aof_fields(client)["aof_rewrite_in_progress"] != "0" or _aof_fields(client)["aof_rewrite_scheduled"] != "0":
        assert time.monotonic() < deadline, "the rewrite did not end"
        time.sleep(0.02)


def _files(directory: Path) -> dict[str, object]:
    """The AOF files: names (under appendonlydir too), the manifest's bytes, a command base's commands
    (keys come in hash-table order: compared as a multiset)."""
    found: dict[str, object] = {}
    for path in sorted(directory.rglob("*")):
        name = str(path.relative_to(directory))
        if not path.is_file() or "appendonly" not in name:
            continue
        data = path.read_bytes()
        if name.endswith(".manifest"):
            found[name] = data
        elif data.startswith(b"*"):
            found[name] = sorted(re.split(rb"(?=\*\d+\r\n\$)", data))
        else:  # an RDB (its aux fields differ): loaded by the real server at the end
            found[name] = data[:5]
    return found


def _both(pair, *args: bytes):
    _, real, served = pair
    theirs, ours = RawClient(real.port).call(list(args)), RawClient(served.port).call(list(args))
    assert (type(ours), str(ours)) == (type(theirs), str(theirs)), args
    return theirs


def test_bgrewriteaof_with_appendonly_no_writes_the_server_s_files(pair):
    target, real, served = pair
    clients = RawClient(real.port), RawClient(served.port)
    _both(pair, b"FLUSHALL")
    assert _aof_fields(clients[1]) == _aof_fields(clients[0])
    _both(pair, b"SET", b"k", b"v")
    _both(pair, b"RPUSH", b"list", b"a", b"b")
    for preamble in (b"yes", b"no"):
        _both(pair, b"CONFIG", b"SET", b"aof-use-rdb-preamble", preamble)
        _both(pair, b"BGREWRITEAOF")
        for client in clients:
            _wait_done(client)
        assert _aof_fields(clients[1]) == _aof_fields(clients[0])
        assert _files(served.dir) == _files(real.dir)
    _both(pair, b"MULTI")
    _both(pair, b"BGREWRITEAOF")
    _both(pair, b"EXEC")  # scheduled inside MULTI (7.0+), then run by the timer
    for client in clients:
        _wait_done(client)
    assert _aof_fields(clients[1]) == _aof_fields(clients[0])
    assert _files(served.dir) == _files(real.dir)
    _loads_in_the_real_server(target, served.dir)


def test_a_rewrite_in_progress_refuses_another_and_a_bgsave(pair):
    _both(pair, b"FLUSHALL")
    _both(pair, b"MSET", *(b"key:%d" % n for n in range(300) for _ in (0, 1)))
    _both(pair, b"CONFIG", b"SET", b"rdb-key-save-delay", b"20000")  # 300 keys: six seconds a rewrite
    try:
        _both(pair, b"BGREWRITEAOF")
        _both(pair, b"BGREWRITEAOF")
        _both(pair, b"BGSAVE")
        _both(pair, b"BGSAVE", b"SCHEDULE")
    finally:
        _both(pair, b"CONFIG", b"SET", b"rdb-key-save-delay", b"0")
    _, real, served = pair
    for port in (real.port, served.port):
        _wait_done(RawClient(port))


def _loads_in_the_real_server(target: str, directory: Path) -> None:
    """serve's files, copied beside a fresh real server started with appendonly yes: the keys load."""
    def prepare(into: Path) -> None:
        for path in directory.iterdir():
            if "appendonly" in path.name:
                (shutil.copytree if path.is_dir() else shutil.copy)(path, into / path.name)

    with start_server(target, extra=("--appendonly", "yes"), prepare=prepare) as real:
        client = RawClient(real.port)
        assert client.call([b"GET", b"k"]) == b"v"
        assert client.call([b"LRANGE", b"list", b"0", b"-1"]) == [b"a", b"b"]
