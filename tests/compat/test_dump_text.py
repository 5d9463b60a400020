"""dump's JSON text of byte strings, on files written by every real server: the compiled path
(UTF-8 checked in C) writes exactly what the pure-Python path writes, and reading the JSON back
gives the bytes the server holds, whatever the encoding (ziplist, listpack, hashtable, skiplist)."""

from __future__ import annotations

import os
import subprocess
import sys

import orjson
import pytest

from rdbtools.export.records import bytes_from_json
from tests.accelerators import require_accelerated
from tests.servers import SERVERS, start_server

#: ASCII, well-formed UTF-8 of every length, and what Python's strict decoder refuses
SAMPLES = [b"plain", b"", b"12345", "naïve café €".encode(), "emoji 😀".encode(), b"\xff\xfe binary",
           b"\xed\xa0\x80 surrogate", b"\xc0\x80 overlong", b"\xf4\x90\x80\x80 beyond", b"x" * 20 + b"\xe2\x82"]


def populate(client) -> None:
    """Each type small (compact encodings) and big (hashtable, skiplist, several quicklist nodes)."""
    for size, many in (("small", SAMPLES), ("big", [s + b"%d" % i for i in range(60) for s in SAMPLES])):
        client.rpush(f"list:{size}", *many)
        client.sadd(f"set:{size}", *many)
        client.hset(f"hash:{size}", mapping={field: many[-1 - i] for i, field in enumerate(many)})
        client.zadd(f"zset:{size}", {member: i / 3 for i, member in enumerate(many)})
    for i, sample in enumerate(SAMPLES):
        client.set(b"string:%d:" % i + sample, sample)


def held(client, key: bytes):
    """The value as the server returns it, in the shape dump writes (decoded back to bytes)."""
    kind = client.type(key).decode()
    if kind == "string":
        return client.get(key)
    if kind == "list":
        return client.lrange(key, 0, -1)
    if kind == "set":
        return sorted(client.smembers(key))
    if kind == "hash":
        return sorted(client.hgetall(key).items())
    return sorted(client.zrange(key, 0, -1, withscores=True))


def from_dump(line: dict):
    value = line["value"]
    kind = line["type"]
    if kind == "string":
        return bytes_from_json(value)
    if kind == "list":
        return [bytes_from_json(v) for v in value]
    if kind == "set":
        return sorted(bytes_from_json(v) for v in value)
    if kind == "hash":
        return sorted((bytes_from_json(f), bytes_from_json(v)) for f, v in value)
    return sorted((bytes_from_json(m), float(s)) for m, s in value)


def dump(path, pure: bool) -> bytes:
    env = {k: v for k, v in os.environ.items() if k != "RDBTOOL_PURE_PYTHON"}
    if pure:
        env["RDBTOOL_PURE_PYTHON"] = "1"
    return subprocess.run([sys.executable, "-m", "rdbtools.cli", "dump", str(path), "--format", "jsonl"], env=env,
                          capture_output=True, check=True).stdout


@pytest.mark.parametrize("name", sorted(SERVERS))
def test_dump_writes_the_same_text_with_and_without_the_accelerator(name, tmp_path):
    require_accelerated("texts_to_json")
    with start_server(name) as server:
        client = server.client()
        populate(client)
        expected = {key: held(client, key) for key in client.scan_iter()}
        path = tmp_path / "dump.rdb"
        path.write_bytes(server.save().read_bytes())
    compiled = dump(path, pure=False)
    assert compiled == dump(path, pure=True)
    lines = [orjson.loads(line) for line in compiled.splitlines()]
    dumped = {bytes_from_json(line["key"]): from_dump(line) for line in lines if line["kind"] == "key"}
    assert dumped == expected
    assert any(isinstance(line["key"], dict) for line in lines if line["kind"] == "key")  # b64 keys were written
