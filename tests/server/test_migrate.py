"""MIGRATE from serve and from a real server to the same kind of real target: the same replies (errors to
the letter), the same keys left on each side (values, TTLs set or not, databases), and the same keyspace
events on the source."""

from __future__ import annotations

import pytest

from tests.keyspace.test_engine_vs_server import normalized
from tests.resp_client import RawClient
from tests.server.serving import start_serve
from tests.server.test_aof_propagation import _sent_and_appended
from tests.servers import start_server

SOURCE_KEYS = [["SET", "s", "v"], ["SET", "t", "v", "EX", "1000"], ["RPUSH", "l", "a", "b"], ["HSET", "h", "f", "1"],
               ["ZADD", "z", "1", "m"], ["SADD", "set", "x"], ["XADD", "x", "1-1", "f", "v"]]


def _steps(target_port: int, password: str) -> list[list[str]]:
    here = ["127.0.0.1", str(target_port)]
    return [
        ["MIGRATE", *here, "s", "0", "5000"], ["MIGRATE", *here, "missing", "0", "5000"],
        ["MIGRATE", *here, "t", "3", "5000", "COPY"], ["MIGRATE", *here, "t", "3", "5000", "COPY"],
        ["MIGRATE", *here, "t", "3", "5000", "COPY", "REPLACE"],
        ["MIGRATE", *here, "", "0", "5000", "KEYS", "l", "nope", "h", "z"],
        ["MIGRATE", *here, "set", "0", "5000", "KEYS", "x"], ["MIGRATE", *here, "set", "0", "5000", "BOGUS"],
        ["MIGRATE", *here, "set", "0", "5000", "AUTH"], ["MIGRATE", *here, "set", "x", "5000"],
        ["MIGRATE", *here, "set", "0", "x"], ["MIGRATE", *here, "set", "99", "5000"],
        ["MIGRATE", *here, "set", "0", "0", "AUTH", "wrong"], ["MIGRATE", *here, "set", "1", "-5", "AUTH", password],
        ["MIGRATE", *here, "x", "0", "5000", "AUTH2", "default", password, "REPLACE"],
        ["MIGRATE", "127.0.0.1", "1", "t", "0", "100"], ["MIGRATE", "no.such.host.invalid", "1", "t", "0", "100"],
    ]


def _keyspace(client: RawClient) -> list:
    found = []
    for db in range(4):
        client.call(["SELECT", str(db)])
        for key in sorted(client.call(["KEYS", "*"])):
            found.append((db, key, client.call(["TYPE", key]), client.call(["TTL", key]) > 0,
                          client.call(["DEBUG", "DIGEST-VALUE", key])))
    client.call(["SELECT", "0"])
    return found


def _run(source_port: int, target_port: int, password: str) -> list:
    source, target = RawClient(source_port), RawClient(target_port)
    target.call(["AUTH", password])
    target.call(["FLUSHALL"])
    source.call(["FLUSHALL"])
    source.call(["CONFIG", "SET", "notify-keyspace-events", "KEA"])
    events = RawClient(source_port)
    events.call(["PSUBSCRIBE", "__keyevent@*"])
    for args in SOURCE_KEYS:
        source.call(args)
    replies = [normalized(source.call(args)) for args in _steps(target_port, password)]
    source.call(["PUBLISH", "__keyevent@0__:end", "x"])
    seen = []
    while (message := events.next())[2] != b"__keyevent@0__:end":
        seen.append(message[2:])
    return [replies, _keyspace(source), _keyspace(target), seen]


@pytest.mark.parametrize("target", ["redis-7.0", "valkey-9.1"])
def test_migrate_moves_copies_and_refuses_as_redis(target):
    password = "secret"
    debug = ("--enable-debug-command", "yes")
    with start_server(target, extra=debug) as destination, \
            start_server(target, extra=debug) as real, \
            start_serve("--target", target) as served:
        RawClient(destination.port).call(["CONFIG", "SET", "requirepass", password])
        theirs = _run(real.port, destination.port, password)
        ours = _run(served.port, destination.port, password)
    for step, mine, redis_reply in zip(_steps(0, password), ours[0], theirs[0], strict=True):
        assert mine == redis_reply, step
    assert ours[1:] == theirs[1:]


def test_a_migrated_key_is_appended_as_del_and_a_copy_not_at_all():
    with start_server("redis-7.0") as destination:
        here = ["127.0.0.1", str(destination.port)]
        commands = [["SET", "a", "1"], ["SET", "b", "2"], ["SET", "c", "3"], ["MIGRATE", *here, "a", "0", "5000"],
                    ["MIGRATE", *here, "b", "0", "5000", "COPY"], ["MIGRATE", *here, "", "0", "5000", "KEYS", "x", "y"],
                    ["MIGRATE", *here, "", "0", "5000", "REPLACE", "KEYS", "b", "c"], ["FLUSHALL"]]
        aof = ("--appendonly", "yes", "--appendfsync", "always")
        with start_server("redis-7.0", extra=aof) as real:
            theirs = _sent_and_appended(real.port, real.dir / "appendonlydir", commands)
        RawClient(destination.port).call(["FLUSHALL"])
        with start_serve(*aof, "--target", "redis-7.0") as serving:
            ours = _sent_and_appended(serving.port, serving.dir / "appendonlydir", commands)
    assert ours == theirs
