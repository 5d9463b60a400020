"""What serve appends to its AOF rebuilds what it holds: random command sequences (relative expiries,
random pops, blocking pops, consumer groups, transactions, lazy expiry) run in the sans-IO server with
appendonly yes; then a real Redis 7.0 loads the AOF directory, and our own replay reads it, and both
hold exactly what the server held."""

from __future__ import annotations

import re
import shutil
import tempfile
import threading
import time
from pathlib import Path

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rdbtools.aof.reader import open_aof
from rdbtools.conversion import ConvertReport, replay_aof
from rdbtools.keyspace.engine import Engine
from rdbtools.rdb.targets import target_for
from rdbtools.server.config import ServerConfig
from rdbtools.server.core import Server
from tests.compat.generator import read_back
from tests.expected_shape import compare, shape_records, without_delivery_times
from tests.keyspace.test_engine_hash_ttls import COMMANDS as FIELD_TTL_COMMANDS
from tests.keyspace.test_engine_vs_server import COMMANDS, _c, key, member, value
from tests.resp_client import RawClient
from tests.server.serving import start_serve
from tests.server.test_stream_consumers import DELETED_CLAIMS
from tests.servers import SERVERS, start_server

SERVER = "redis-7.0"


def _payload() -> bytes:
    """A DUMP payload of Redis 7.0 (a list), for RESTORE with a relative TTL."""
    engine = Engine(target=target_for(SERVER))
    engine.execute([b"RPUSH", b"k", b"x", b"y"])
    return engine.execute([b"DUMP", b"k"])


far = st.sampled_from([b"100000", b"200000"])

# what depends on the clock or on chance, and what blocks, beside the engine test's commands
PROPAGATED = st.one_of(
    _c(b"SET", key, value, st.sampled_from([b"EX", b"PX"]), far),
    _c(b"SET", key, value, b"NX", b"EX", far), _c(b"SET", key, value, b"XX", b"PX", far, b"GET"),
    _c(b"SETEX", key, far, value), _c(b"PSETEX", key, far, value),
    _c(st.sampled_from([b"EXPIRE", b"PEXPIRE"]), key, far), _c(b"EXPIREAT", key, b"4102444800"),
    _c(b"EXPIRE", key, b"-1"), _c(b"GETEX", key, st.sampled_from([b"EX", b"PX"]), far),
    _c(b"GETEX", key, b"PERSIST"), _c(b"GETDEL", key),
    _c(b"INCRBYFLOAT", key, st.sampled_from([b"1.5", b"0.1", b"-3"])),
    _c(b"HINCRBYFLOAT", key, member, st.sampled_from([b"1.5", b"0.1"])),
    _c(b"SADD", key, member, member, member), _c(b"SPOP", key), _c(b"SPOP", key, st.sampled_from([b"1", b"2", b"9"])),
    _c(st.sampled_from([b"BLPOP", b"BRPOP"]), key, key, b"0.01"),
    _c(b"BLMOVE", key, key, b"LEFT", b"RIGHT", b"0.01"), _c(b"BRPOPLPUSH", key, key, b"0.01"),
    _c(st.sampled_from([b"BZPOPMIN", b"BZPOPMAX"]), key, b"0.01"),
    _c(b"BLMPOP", b"0.01", b"1", key, b"LEFT", b"COUNT", b"2"), _c(b"BZMPOP", b"0.01", b"1", key, b"MAX"),
    _c(b"XADD", key, b"*", b"f", value), _c(b"XADD", key, b"MAXLEN", b"~", b"1", b"*", b"f", value),
    _c(b"XADD", key, b"5-*", b"f", value), _c(b"XTRIM", key, b"MAXLEN", b"~", b"0"),
    _c(b"XGROUP", b"CREATE", key, b"g1", b"0", b"MKSTREAM"),
    _c(b"XREADGROUP", b"GROUP", b"g1", st.sampled_from([b"c1", b"c2"]), b"COUNT", b"2", b"STREAMS", key, b">"),
    _c(b"XREADGROUP", b"GROUP", b"g1", b"c3", b"NOACK", b"STREAMS", key, b">"),
    _c(b"XCLAIM", key, b"g1", b"c2", b"0", b"1-0", b"5-0"),
    _c(b"XAUTOCLAIM", key, b"g1", b"c1", b"0", b"0-0"),
    _c(b"RESTORE", key, far, st.just(_payload()), b"REPLACE"),
    _c(b"MULTI"), _c(b"EXEC"), _c(b"DISCARD"),
)


def _serve_config(directory: str, target: str) -> ServerConfig:
    return ServerConfig.load(None, ["--dir", directory, "--save", "", "--appendonly", "yes",
                                    "--appendfsync", "always", "--target", target])


def _shape(keyspace) -> dict:
    return without_delivery_times(shape_records(keyspace.records()))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(commands=st.lists(st.one_of(COMMANDS, PROPAGATED), min_size=1, max_size=30))
def test_the_aof_serve_appends_rebuilds_its_keyspace(commands):
    _check_the_aof_rebuilds(commands, SERVER)


ttl_field = st.sampled_from([b"f1", b"f2", b"f3"])
ttl_fields = st.lists(ttl_field, min_size=1, max_size=3).map(lambda f: [b"FIELDS", b"%d" % len(f), *f])
RELATIVE_FIELD_TTLS = st.one_of(  # what depends on the clock, beside the engine test's field TTL commands
    st.tuples(_c(st.sampled_from([b"HEXPIRE", b"HPEXPIRE"]), st.just(b"h"), far), ttl_fields).map(
        lambda t: t[0] + t[1]),
    st.tuples(_c(b"HSETEX", st.just(b"h"), st.sampled_from([b"EX", b"PX"]), far, b"FIELDS", b"1", ttl_field,
                 value)).map(lambda t: t[0]),
    st.tuples(_c(b"HGETEX", st.just(b"h"), st.sampled_from([b"EX", b"PX"]), far), ttl_fields).map(
        lambda t: t[0] + t[1]),
)
FILLED = [b"HSET", b"h", b"f1", b"v", b"f2", b"v", b"f3", b"v"]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(commands=st.lists(st.one_of(RELATIVE_FIELD_TTLS, FIELD_TTL_COMMANDS), min_size=1, max_size=15))
def test_the_aof_rebuilds_hash_field_ttls_in_redis_8(commands):
    _check_the_aof_rebuilds([FILLED, *commands], "redis-8.2")


def _check_the_aof_rebuilds(commands: list[list[bytes]], target: str) -> None:
    """Run the commands in the sans-IO server with AOF on; the AOF, replayed by us and loaded by
    the real server of the target, holds what the server held."""
    directory = tempfile.mkdtemp(prefix="rdbtool-aof-")
    try:
        server = Server(_serve_config(directory, target))
        server.aof.open(server.engine)
        client = server.connect("127.0.0.1:1", "127.0.0.1:2", lambda reply: None, lambda: None)
        for args in commands:
            server.execute(client, args)
            if client.blocked is not None:  # a blocking pop that found nothing: it times out
                server.blocked.remove(client)
                client.blocked = None
        server.aof.flush()
        held = _shape(server.engine.keyspace)
        now_ms = int(time.time() * 1000)

        replayed = Engine(target=target_for(target))  # a replay behaves as its server does (Redis 8 clamps ENTRIESREAD)
        replay_aof(Path(directory) / "appendonlydir", ConvertReport("", "", "aof", ""), engine=replayed)
        assert compare(held, _shape(replayed.keyspace), now_ms=now_ms, consumer_times=False) == [], commands

        def prepare(server_dir: Path) -> None:
            shutil.copytree(Path(directory) / "appendonlydir", server_dir / "appendonlydir")

        with start_server(target, extra=("--appendonly", "yes"), prepare=prepare) as real:
            loaded = read_back(real.port, SERVERS[target])
        assert compare(held, without_delivery_times(loaded), now_ms=now_ms, expire_tolerance_ms=0,
                       consumer_times=False) == [], commands
    finally:
        shutil.rmtree(directory, ignore_errors=True)


# the same commands sent to Redis 7.0 and to serve (no randomness: SPOP of a one-member set)
SAME_BYTES = [
    ["SET", "a", "1"], ["SET", "b", "2", "EX", "100"], ["SET", "b", "3", "NX", "EX", "100"],
    ["INCRBYFLOAT", "f", "1.5"],
    ["RPUSH", "l", "x", "y", "z"], ["LPOP", "l"], ["BLPOP", "l", "1"], ["BRPOP", "nol", "l", "1"], ["SADD", "s", "m"],
    ["SPOP", "s"], ["SPOP", "s"], ["HSET", "h", "f", "1"], ["HINCRBYFLOAT", "h", "f", "0.5"], ["ZADD", "z", "1", "m"],
    ["ZADD", "z", "1", "m"], ["ZINCRBY", "z", "2", "m"], ["DEL", "missing"], ["EXPIRE", "a", "100"], ["PERSIST", "a"],
    ["PERSIST", "a"], ["MULTI"], ["SET", "t1", "1"], ["SET", "t2", "2"], ["EXEC"], ["MULTI"], ["SET", "t3", "1"],
    ["EXEC"], ["SELECT", "1"], ["SET", "x", "1"], ["SELECT", "0"], ["GETDEL", "t1"], ["GETEX", "t2", "EX", "100"],
    ["XADD", "st", "1-1", "f", "v"], ["XGROUP", "CREATE", "st", "g", "0"],
    ["XREADGROUP", "GROUP", "g", "c", "STREAMS", "st", ">"], ["XACK", "st", "g", "1-1"], ["SETEX", "se", "100", "v"],
    ["GETSET", "a", "9"], ["LMPOP", "1", "l", "RIGHT", "COUNT", "5"], ["ZADD", "zz", "1", "a", "2", "b"],
    ["ZPOPMIN", "zz"], ["BZPOPMAX", "zz", "1"], ["SET", "g", "1", "GET"], ["HSETNX", "h", "f", "x"],
    ["SADD", "s2", "a", "b"], ["SADD", "s2", "a"], ["SREM", "s2", "zz"], ["EXPIRE", "nokey", "5"],
    ["XADD", "st", "MAXLEN", "=", "5", "2-1", "f", "v"], ["GEOADD", "geo", "13.361389", "38.115556", "palermo"],
    ["RESTORE", "r", "100000", "PAYLOAD", "REPLACE"], ["FLUSHDB"],
]


def _sent_and_appended(port: int, directory: Path, commands: list[list[str]] = SAME_BYTES) -> list[bytes]:
    """Send the commands ("SLEEP": 20 ms; "BLOCKED": a second client waits in BLPOP bl, served by the
    next command) and read back what was appended, times and popped set members left out. Sent raw
    (replies unparsed), each must succeed."""
    client, raw = redis.Redis(port=port), RawClient(port)
    payload = _payload()
    for args in commands:
        if args == ["SLEEP"]:
            time.sleep(0.02)
        elif args == ["BLOCKED"]:
            waiting = threading.Thread(target=redis.Redis(port=port).blpop, args=("bl", 10))
            waiting.start()
            while not any(c["cmd"] == "blpop" for c in client.client_list()):
                time.sleep(0.01)
        else:
            reply = raw.call([payload if a == "PAYLOAD" else a.encode() for a in args])
            assert not isinstance(reply, Exception), (args, reply)
    raw.sock.close()
    client.execute_command("SET", "last", "1")  # appended once everything before it is
    deadline = time.monotonic() + 10
    while True:
        appended = [_normalized(c.args) for c in open_aof(directory).commands()]
        if appended[-1] == b"SET last 1" or time.monotonic() > deadline:
            return appended
        time.sleep(0.05)


def _normalized(args: list[bytes]) -> bytes:
    if args[0] == b"SREM":  # SPOP's random members: only how many each SREM names
        args = [*args[:2], b"<%d members>" % (len(args) - 2)]
    return re.sub(rb"\b\d{13}\b", b"<ms>", b" ".join(args))


def test_serve_appends_what_redis_7_appends():
    with start_server(SERVER, extra=("--appendonly", "yes", "--appendfsync", "always")) as real:
        theirs = _sent_and_appended(real.port, real.dir / "appendonlydir")
    with start_serve("--appendonly", "yes", "--appendfsync", "always", "--target", SERVER) as serving:
        ours = _sent_and_appended(serving.port, serving.dir / "appendonlydir")
    assert ours == theirs


# commands that propagate several commands, or run while others do: how each server groups them
UNITS = [
    ["DEBUG", "SET-ACTIVE-EXPIRE", "0"],  # the expired keys are found by the commands, not by the timer
    ["XADD", "st", "1-1", "f", "v"], ["XADD", "st", "1-2", "f", "v"], ["XGROUP", "CREATE", "st", "g", "0"],
    ["XREADGROUP", "GROUP", "g", "c", "COUNT", "5", "STREAMS", "st", ">"], ["XAUTOCLAIM", "st", "g", "c", "0", "0-0"],
    ["XINFO", "GROUPS", "st"], ["SADD", "s", "a", "b", "c", "d"], ["SPOP", "s", "3"],
    ["SET", "e", "v", "PX", "1"], ["SLEEP"], ["SET", "e", "v2"], ["SET", "e2", "v", "PX", "1"], ["SLEEP"],
    ["GET", "e2"], ["MULTI"], ["SADD", "t", "a", "b", "c"], ["SPOP", "t", "2"], ["EXEC"],
    ["MULTI"], ["SET", "one", "1"], ["EXEC"], ["MULTI"], ["GET", "one"], ["EXEC"], ["BLOCKED"], ["RPUSH", "bl", "x"],
]


@pytest.mark.parametrize("target", ["redis-6.2", "redis-7.0", "redis-8.2", "valkey-8.1", "valkey-9.1"])
def test_serve_groups_propagated_commands_as_its_target_does(target):
    """MULTI/EXEC around what one command propagates (Redis 7.0+: its rewrites and the expiries it
    caused; 6.2: an EXEC, SPOP's SREMs), SPOP's SREMs one by one or batched, XREADGROUP's LASTIDs
    and XGROUP SETID, DEL or UNLINK for an expired key, a served BLPOP after the push."""
    aof = "appendonly.aof" if target == "redis-6.2" else "appendonlydir"
    debug = () if target == "redis-6.2" else ("--enable-debug-command", "yes")  # 6.2 has no such setting
    with start_server(target, extra=("--appendonly", "yes", "--appendfsync", "always", *debug)) as real:
        theirs = _sent_and_appended(real.port, real.dir / aof, UNITS)
    with start_serve("--appendonly", "yes", "--appendfsync", "always", "--target", target) as serving:
        ours = _sent_and_appended(serving.port, serving.dir / aof, UNITS)
    assert ours == theirs


def test_field_ttl_keywords_in_any_case_are_rewritten():
    """A relative HEXPIRE spelled in lower case is appended with its absolute time all the same."""
    _check_the_aof_rebuilds([FILLED, [b"hexpire", b"h", b"100000", b"fields", b"1", b"f1"],
                             [b"hsetex", b"h", b"px", b"100000", b"fields", b"1", b"f2", b"v"]], "redis-8.2")


def test_hash_field_reads_that_delete_are_appended_as_redis_8_does():
    """HGETDEL: one HDEL naming every field it was given, when it deleted any; HGETEX with a past time:
    an HDEL per field it expired (in MULTI/EXEC when several); nothing when nothing was there."""
    reads = [["HSET", "h", "a", "v", "b", "v", "c", "v", "d", "v"], ["HGETDEL", "h", "FIELDS", "2", "a", "nope"],
             ["HGETEX", "h", "PXAT", "1", "FIELDS", "3", "b", "c", "nope"], ["HGETDEL", "missing", "FIELDS", "1", "a"],
             ["HGETDEL", "h", "FIELDS", "1", "nope"], ["HGETEX", "h", "PXAT", "1", "FIELDS", "1", "nope"]]
    with start_server("redis-8.2", extra=("--appendonly", "yes", "--appendfsync", "always")) as real:
        theirs = _sent_and_appended(real.port, real.dir / "appendonlydir", reads)
    with start_serve("--appendonly", "yes", "--appendfsync", "always", "--target", "redis-8.2") as serving:
        ours = _sent_and_appended(serving.port, serving.dir / "appendonlydir", reads)
    assert ours == theirs


@pytest.mark.parametrize("target", ["redis-6.2", "redis-7.0", "redis-8.2", "valkey-8.1", "valkey-9.1"])
def test_claims_of_deleted_entries_and_lastids_are_appended_as_each_target_does(target):
    """A pending entry dropped by a claim (its entry deleted) as the XCLAIM of its state before, which
    drops it on replay; one claimed (6.2) as its XCLAIM; a LASTID with nothing claimed as XGROUP SETID
    (no ENTRIESREAD before 7.0)."""
    aof = "appendonly.aof" if target == "redis-6.2" else "appendonlydir"
    commands = [[a.decode() for a in args] for args in DELETED_CLAIMS]
    with start_server(target, extra=("--appendonly", "yes", "--appendfsync", "always")) as real:
        theirs = _sent_and_appended(real.port, real.dir / aof, commands)
    with start_serve("--appendonly", "yes", "--appendfsync", "always", "--target", target) as serving:
        ours = _sent_and_appended(serving.port, serving.dir / aof, commands)
    assert ours == theirs
