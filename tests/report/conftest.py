"""Files written by real servers with every type and encoding, keys under prefixes and TTLs of every bucket, and
what the server that wrote each answers about each key (TYPE, OBJECT ENCODING, its expire time): the report's
facts are checked against that server."""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest

from tests.servers import start_server

RDBTOOL = [sys.executable, "-m", "rdbtools.cli"]
MINUTE_MS = 60_000
#: TTLs given to session keys, one per bucket the report tells apart (from "now" + 30 minutes, see NOW_SHIFT)
TTLS_MS = (10 * MINUTE_MS, 5 * 60 * MINUTE_MS, 3 * 1440 * MINUTE_MS, 10 * 1440 * MINUTE_MS, 60 * 1440 * MINUTE_MS)
NOW_SHIFT_MS = 30 * MINUTE_MS  # the report's --now-ms is this far after the writes: the 10-minute TTL is expired


@dataclass(frozen=True)
class ServerKey:
    db: int
    key: bytes
    type: str
    encoding: str
    expire_ms: int | None
    usage: int  # MEMORY USAGE key SAMPLES 0


@dataclass(frozen=True)
class WrittenFile:
    path: Path
    now_ms: int
    keys: list[ServerKey]


def _populate(client_of) -> None:
    r = client_of(0)
    for i in range(40):
        r.set(f"user:{i}:name", f"name-{i}")
        r.set(f"user:{i}:age", 20 + i)
        r.set(f"user:{i}:bio", "x" * (100 + i))
    for i, ttl in enumerate(TTLS_MS * 2):
        r.hset(f"session:{i}", mapping={"user": str(i), "token": "t" * 20})
        r.pexpire(f"session:{i}", ttl)
    r.hset("cache:big:fields", mapping={f"f{i}": i for i in range(600)})
    r.hset("cache:big:value", "v", "y" * 100)
    r.zadd("rank:small", {f"m{i}": i for i in range(10)})
    r.zadd("rank:big", {f"m{i}": i / 3 for i in range(200)})
    r.zadd("rank:tenths", {f"m{i}": i / 10 for i in range(100)})  # a listpack keeps its scores' text as written
    r.sadd("tags:ints", *range(50))
    r.sadd("tags:many-ints", *range(600))
    r.sadd("tags:words", *(f"w{i}" for i in range(30)))
    r.rpush("queue:small", *(f"job{i}" for i in range(5)))
    r.rpush("queue:big", *(f"job-{i:05}" * 3 for i in range(3000)))
    for i in range(150):
        r.xadd("events:stream", {"n": str(i), "payload": "p" * 30})
    r.xgroup_create("events:stream", "readers", id="0")
    r.set("noprefix", "plain")
    r.set("long:" + "k" * 35, "short value")  # Redis 8 / Valkey embed a string by key and value lengths together
    r.set(b"binary:\xff", "b")  # not UTF-8
    r.set("html:</script><!--<script>:k", "h")  # a prefix the HTML page holds: its data must not end its script
    other = client_of(1)
    other.set("other:a", "1")
    other.hset("other:h", "f", "v")


def server_keys(client_of, server: str) -> list[ServerKey]:
    """What the server answers about each of its keys."""
    facts = []
    for db in (0, 1):
        r = client_of(db)
        for key in r.keys("*"):
            facts.append(ServerKey(db, key, r.type(key).decode(), r.object("ENCODING", key).decode(),
                                   _expire_ms(r, key, server), r.memory_usage(key, samples=0)))
    return facts


def _expire_ms(r, key: bytes, server: str) -> int | None:
    """PEXPIRETIME (7.0+); Redis 6.2 only tells the time left (PTTL), which the caller's check allows for."""
    left = r.pexpiretime(key) if server != "redis-6.2" else r.pttl(key)
    if left < 0:
        return None
    return left if server != "redis-6.2" else int(time.time() * 1000) + left


def write_with(server_name: str, directory: Path) -> WrittenFile:
    """The data set, saved by this real server (fails, not skips, when it is missing)."""
    with start_server(server_name) as server:
        _populate(server.client)
        now_ms = int(time.time() * 1000) + NOW_SHIFT_MS
        keys = server_keys(server.client, server_name)
        path = directory / f"{server_name}.rdb"
        path.write_bytes(server.save().read_bytes())
    return WrittenFile(path, now_ms, keys)


@pytest.fixture(scope="session")
def written(tmp_path_factory) -> WrittenFile:
    """The file Debian's Redis 7.0 wrote (the default target)."""
    return write_with("redis-7.0", tmp_path_factory.mktemp("report"))


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*RDBTOOL, *map(str, args)], capture_output=True, timeout=300)


def json_report(*args: str) -> dict:
    done = run("report", "--format", "json", *args)
    assert done.returncode == 0, done.stderr.decode()
    return orjson.loads(done.stdout)


def jsonl_rows(path: Path) -> list[dict]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]
