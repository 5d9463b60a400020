"""Write data covering every encoding a real server writes, and read a server's data back.

``populate`` uses ordinary commands through redis-py, sized to cross each encoding threshold of
formats.md §10.1 (listpack/ziplist vs hashtable, intset widths, quicklist nodes, plain nodes, stream
nodes, LZF, integer strings). ``read_back`` returns what the server holds in the shape of the
corpus's ``expected/*.json`` so that ``tests.expected_shape.compare`` judges both the same way.
"""

from __future__ import annotations

import random
import time
from typing import Any

import redis

from tests.expected_shape import shape_bytes, shape_key
from tests.servers import ServerSpec

FAR_FUTURE_MS = 4102444800000  # 2100-01-01
DATABASES = (0, 1, 15)
LIBRARY = b"#!lua name=rdbtool_gen\nredis.register_function('hello', function() return 'hi' end)"


def _strings(client: redis.Redis, rng: random.Random) -> None:
    for n in (0, 1, 12, 13, -1, 127, 128, -128, -129, 32767, 32768, -32768, -32769, 2**31 - 1, 2**31,
              -(2**31), -(2**31) - 1, 2**63 - 1, -(2**63)):
        client.set(f"int:{n}", n)
    for text in (b"007", b"+1", b"-0", b" 1", b"1.5", b""):
        client.set(b"odd:" + text, text)
    client.set("lzf:compressible", "abc" * 50)
    client.set("raw:random", rng.randbytes(200))
    client.set("big:value", b"x" * 10000 + rng.randbytes(10000))
    client.set(b"bin\xff\x00key", b"\x00\xff\xfe")
    client.set("ttl:far", "keeps", pxat=FAR_FUTURE_MS)
    client.set(b"\xe4\xb8\xad\xe6\x96\x87", "utf-8 key")


def _lists(client: redis.Redis, rng: random.Random) -> None:
    client.rpush("list:small", "a", "b", 1, -5, 300, 70000, 2**40, "x" * 100)
    client.rpush("list:large", *[rng.choice([str(i), "v" * (i % 90), rng.randbytes(20)]) for i in range(3000)])
    client.rpush("list:huge-element", "small", b"H" * 12000, "tail")
    client.rpush("list:ttl", "a")
    client.pexpireat("list:ttl", FAR_FUTURE_MS)


def _sets(client: redis.Redis, rng: random.Random) -> None:
    client.sadd("set:int16", *range(1, 20))
    client.sadd("set:int32", 70000, -70000, 5)
    client.sadd("set:int64", 2**40, -(2**40), 1)
    client.sadd("set:int-large", *range(600))
    client.sadd("set:small-strings", *[f"m{i}" for i in range(20)])
    client.sadd("set:large-strings", *[f"member-{i}" for i in range(300)])
    client.sadd("set:long-member", "short", "L" * 100)


def _zsets(client: redis.Redis, rng: random.Random) -> None:
    client.zadd("zset:small", {"a": 1, "b": 2.5, "c": float("inf"), "d": float("-inf"), "e": -0.125,
                               "f": 0.1, "g": 1e100})
    client.zadd("zset:large", {f"z{i}": rng.random() * 1000 for i in range(300)})
    client.zadd("zset:long-member", {"M" * 100: 1, "m": 2})


def _hashes(client: redis.Redis, spec: ServerSpec) -> None:
    client.hset("hash:small", mapping={"f": "v", "n": 12, "neg": -7, "big": 2**40})
    client.hset("hash:large", mapping={f"field{i}": f"value{i}" for i in range(600)})
    client.hset("hash:long-value", mapping={"f": "V" * 100})
    if spec.field_ttls:
        client.hset("hash:ttl-small", mapping={"f1": "v1", "f2": "v2", "f3": "v3"})
        client.execute_command("HPEXPIREAT", "hash:ttl-small", FAR_FUTURE_MS, "FIELDS", 2, "f1", "f2")
        client.hset("hash:ttl-large", mapping={f"field{i}": f"value{i}" for i in range(600)})
        client.execute_command("HPEXPIREAT", "hash:ttl-large", FAR_FUTURE_MS - 1000, "FIELDS", 3,
                               "field1", "field2", "field3")


def _streams(client: redis.Redis) -> None:
    for i in range(250):
        fields = {"n": i, "kind": "even" if i % 2 == 0 else "odd"}
        if i % 7 == 0:
            fields["extra"] = "x" * (i % 50)
        client.xadd("stream:big", fields, id=f"{1700000000000 + i}-{i % 3}")
    client.xdel("stream:big", "1700000000003-0", "1700000000010-1", "1700000000100-1")
    client.xgroup_create("stream:big", "g1", id="0")
    client.xreadgroup("g1", "alice", {"stream:big": ">"}, count=5)
    client.xreadgroup("g1", "bob", {"stream:big": ">"}, count=3)
    client.xack("stream:big", "g1", "1700000000000-0")
    client.xgroup_create("stream:big", "g2", id="$")
    client.execute_command("XGROUP", "CREATECONSUMER", "stream:big", "g2", "idle-consumer")
    for i in range(30):
        client.xadd("stream:trimmed", {"i": i})
    client.xtrim("stream:trimmed", maxlen=10, approximate=False)
    client.xadd("stream:emptied", {"a": 1}, id="5-5")
    client.xdel("stream:emptied", "5-5")


def populate(client: redis.Redis, spec: ServerSpec, seed: int = 7) -> None:
    """Fill db 0 with every kind of value this server writes, and a few keys in other dbs."""
    rng = random.Random(seed)
    _strings(client, rng)
    _lists(client, rng)
    _sets(client, rng)
    _zsets(client, rng)
    _hashes(client, spec)
    _streams(client)
    if spec.functions:
        client.execute_command("FUNCTION", "LOAD", LIBRARY)
    address = client.connection_pool.connection_kwargs
    for db in DATABASES[1:]:
        per_db = redis.Redis(host=address["host"], port=address["port"], db=db)
        per_db.set(f"db{db}:string", f"in db {db}")
        per_db.sadd(f"db{db}:set", "a", "b")


# --- reading a server back ---------------------------------------------------------------------


def _expire_ms(client: redis.Redis, key: bytes, spec: ServerSpec) -> int | None:
    if spec.rdb_version >= 10:
        expire = client.execute_command("PEXPIRETIME", key)
        return None if expire < 0 else expire
    remaining = client.pttl(key)
    return None if remaining < 0 else int(time.time() * 1000) + remaining


def _stream(client: redis.Redis, key: bytes) -> dict[str, Any]:
    info = client.execute_command("XINFO", "STREAM", key, "FULL", "COUNT", 0)  # 0: every entry and PEL item
    b, s = shape_bytes, (lambda v: v.decode())
    shaped: dict[str, Any] = {
        "length": info[b"length"],
        "last_generated_id": s(info[b"last-generated-id"]),
        "entries": [[s(i), [b(x) for x in fields]] for i, fields in info[b"entries"]],
        "groups": [
            {
                "name": b(g[b"name"]),
                "last_delivered_id": s(g[b"last-delivered-id"]),
                "entries_read": g.get(b"entries-read"),
                "pel": [[s(i), b(c), t, n] for i, c, t, n in g[b"pending"]],
                "consumers": [
                    {"name": b(c[b"name"]), "seen_time": c[b"seen-time"], "active_time": c.get(b"active-time"),
                     "pel": [[s(i), t, n] for i, t, n in c[b"pending"]]}
                    for c in g[b"consumers"]
                ],
            }
            for g in info[b"groups"]
        ],
    }
    if b"entries-added" in info:
        shaped["entries_added"] = info[b"entries-added"]
        shaped["max_deleted_entry_id"] = s(info[b"max-deleted-entry-id"])
    return shaped


def _value(client: redis.Redis, key: bytes, kind: str) -> Any:
    if kind == "string":
        return shape_bytes(client.get(key))
    if kind == "list":
        return [shape_bytes(v) for v in client.lrange(key, 0, -1)]
    if kind == "set":
        return [shape_bytes(v) for v in sorted(client.smembers(key))]
    if kind == "zset":
        return [[shape_bytes(m), s] for m, s in client.zrange(key, 0, -1, withscores=True)]
    if kind == "hash":
        return {shape_key(f): shape_bytes(v) for f, v in client.hgetall(key).items()}
    return _stream(client, key)


def _field_expires(client: redis.Redis, key: bytes) -> dict[str, int] | None:
    fields = client.hkeys(key)
    times = client.execute_command("HPEXPIRETIME", key, "FIELDS", len(fields), *fields)
    ttls = {shape_key(f): t for f, t in zip(fields, times, strict=True) if t >= 0}
    return ttls or None


def read_back(port: int, spec: ServerSpec) -> dict[str, Any]:
    """What the server holds, in the corpus's expected/*.json shape."""
    dbs: dict[str, dict[str, Any]] = {}
    for db in range(16):
        client = redis.Redis(host="127.0.0.1", port=port, db=db)
        for key in client.scan_iter(count=1000):
            kind = client.type(key).decode()
            entry = {"type": kind, "expire_ms": _expire_ms(client, key, spec), "value": _value(client, key, kind)}
            if kind == "hash" and spec.field_ttls:
                ttls = _field_expires(client, key)
                if ttls:
                    entry["field_expire_ms"] = ttls
            dbs.setdefault(str(db), {})[shape_key(key)] = entry
    client = redis.Redis(host="127.0.0.1", port=port)
    functions = []
    if spec.functions:
        for library in client.execute_command("FUNCTION", "LIST", "WITHCODE"):
            functions.append(library[b"library_code"].decode())  # redis-py answers with a dict
    return {"functions": functions, "dbs": dbs}
