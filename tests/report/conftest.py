"""A file written by a real Redis 7.0 with every type and encoding, keys under prefixes and TTLs of every bucket,
and what that server answers about each key (TYPE, OBJECT ENCODING, PEXPIRETIME): the report's facts are
checked against the server that wrote the file."""

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
    r.sadd("tags:ints", *range(50))
    r.sadd("tags:many-ints", *range(600))
    r.sadd("tags:words", *(f"w{i}" for i in range(30)))
    r.rpush("queue:small", *(f"job{i}" for i in range(5)))
    r.rpush("queue:big", *(f"job-{i:05}" * 3 for i in range(3000)))
    for i in range(150):
        r.xadd("events:stream", {"n": str(i), "payload": "p" * 30})
    r.xgroup_create("events:stream", "readers", id="0")
    r.set("noprefix", "plain")
    r.set(b"binary:\xff", "b")  # not UTF-8
    other = client_of(1)
    other.set("other:a", "1")
    other.hset("other:h", "f", "v")


def _facts(client_of) -> list[ServerKey]:
    facts = []
    for db in (0, 1):
        r = client_of(db)
        for key in r.keys("*"):
            expire = r.pexpiretime(key)
            facts.append(ServerKey(db, key, r.type(key).decode(), r.object("ENCODING", key).decode(),
                                   None if expire < 0 else expire))
    return facts


@pytest.fixture(scope="session")
def written(tmp_path_factory) -> WrittenFile:
    """The file, saved by Debian's Redis 7.0 (fails, not skips, when it is missing)."""
    directory = tmp_path_factory.mktemp("report")
    with start_server("redis-7.0") as server:
        _populate(server.client)
        now_ms = int(time.time() * 1000) + NOW_SHIFT_MS
        keys = _facts(server.client)
        path = directory / "dump.rdb"
        path.write_bytes(server.save().read_bytes())
    return WrittenFile(path, now_ms, keys)


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*RDBTOOL, *map(str, args)], capture_output=True, timeout=300)


def json_report(*args: str) -> dict:
    done = run("report", "--format", "json", *args)
    assert done.returncode == 0, done.stderr.decode()
    return orjson.loads(done.stdout)


def jsonl_rows(path: Path) -> list[dict]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]
