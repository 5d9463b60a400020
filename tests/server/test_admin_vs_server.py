"""serve's server commands against real servers: cluster commands refused as a server without
cluster support refuses them, ROLE / WAIT / REPLICAOF NO ONE of a lone master, MODULE LIST, SLOWLOG
fed by real timings, LATENCY with no events, MEMORY, CONFIG GET/SET of several parameters at once,
and the AOF of SORT ... STORE as Redis 7.0 writes it."""

from __future__ import annotations

import re
import time

import pytest

from tests.resp_client import RawClient
from tests.server.serving import start_serve
from tests.server.test_aof_propagation import _sent_and_appended
from tests.server.test_client_commands import raw
from tests.servers import start_server

SERVER = "redis-7.0"


@pytest.fixture(scope="module")
def pair():
    with start_server(SERVER, extra=("--enable-debug-command", "yes")) as real, \
            start_serve("--target", SERVER) as served:
        yield real, served


def _plain(reply):
    if isinstance(reply, Exception):
        return ("error", str(reply))
    if isinstance(reply, list):
        return [_plain(r) for r in reply]
    return reply


def _replies(port: int, script: list[list[bytes]]) -> list:
    client = RawClient(port)
    client.call([b"FLUSHALL"])
    try:
        return [_plain(client.call(args)) for args in script]
    finally:
        client.sock.close()


def _script(lines: list[str]) -> list[list[bytes]]:
    return [[b"" if w == "''" else w.encode() for w in line.split()] for line in lines]


SAME_REPLIES = {
    "scan_cursors_are_read_as_strtoul_reads_them": [
        "SCAN ''", "SCAN -1", "SCAN +0", "SCAN x", "SCAN 18446744073709551616", "SCAN 007 COUNT 5"],
    "cluster_commands_are_refused_without_cluster_support": [
        "CLUSTER INFO", "CLUSTER", "CLUSTER HELP", "CLUSTER KEYSLOT foo", "READONLY", "READWRITE x", "ASKING"],
    "a_lone_master_has_no_replicas_to_wait_for": [
        "ROLE", "ROLE x", "WAIT 0 0", "WAIT 1 10", "WAIT x 0", "WAIT 0 -1", "WAIT 0 1.5", "MULTI", "WAIT 5 0", "EXEC",
        "REPLICAOF NO ONE", "SLAVEOF no one", "REPLICAOF localhost x", "REPLICAOF 127.0.0.1 -1", "REPLICAOF no one x"],
    "no_module_is_loaded_nor_may_be": [
        "MODULE LIST", "MODULE HELP", "MODULE FOO", "MODULE LOAD /x", "MODULE UNLOAD x", "MODULE LIST x", "MODULE"],
    "latency_has_no_events_to_tell": [
        "LATENCY LATEST", "LATENCY HISTORY command", "LATENCY RESET", "LATENCY RESET a b", "LATENCY GRAPH command",
        "LATENCY DOCTOR", "LATENCY HELP", "LATENCY FOO", "LATENCY LATEST x", "CONFIG SET latency-monitor-threshold 5",
        "LATENCY DOCTOR", "CONFIG SET latency-monitor-threshold 0"],
    "slowlog_subcommands_are_checked_as_redis_checks_them": [
        "SLOWLOG HELP", "SLOWLOG GET -2", "SLOWLOG GET x", "SLOWLOG FOO", "SLOWLOG GET 1 2", "SLOWLOG LEN x",
        "SLOWLOG RESET", "SLOWLOG", "SLOWLOG LEN", "SLOWLOG GET"],
    "memory_subcommands_are_checked_as_redis_checks_them": [
        "MEMORY USAGE nokey", "SET k v", "MEMORY USAGE k", "MEMORY USAGE k SAMPLES 0", "MEMORY USAGE k SAMPLES x",
        "MEMORY USAGE k FOO", "MEMORY USAGE", "MEMORY HELP", "MEMORY PURGE", "MEMORY STATS x", "MEMORY DOCTOR x",
        "MEMORY FOO", "MEMORY DOCTOR"],
    "config_set_takes_several_parameters_all_or_none": [
        "CONFIG SET maxmemory 100 maxmemory-policy allkeys-lru", "CONFIG GET maxmemory", "CONFIG GET maxmemory-policy",
        "CONFIG SET maxmemory 100 maxmemory 200", "CONFIG SET maxmemory 100 MAXMEMORY 200",
        "CONFIG SET maxmemory 100 nosuch 1", "CONFIG SET maxmemory 5 maxmemory-policy bad", "CONFIG GET maxmemory",
        "CONFIG SET maxmemory x", "CONFIG SET databases 1 nosuch 2", "CONFIG SET nosuch 2 databases 1",
        "CONFIG SET maxmemory 1gb", "CONFIG GET maxmemory", "CONFIG SET maxmemory 0 maxmemory-policy noeviction",
        "CONFIG SET a b c", "CONFIG SET appendfsync bad", "CONFIG SET maxmemory-samples 0 hz 5", "CONFIG GET hz"],
    "config_values_are_kept_in_redis_form": [
        "CONFIG SET notify-keyspace-events KEA", "CONFIG GET notify-keyspace-events",
        "CONFIG SET notify-keyspace-events Exgn", "CONFIG GET notify-keyspace-events",
        "CONFIG SET notify-keyspace-events Q", "CONFIG SET notify-keyspace-events An",
        "CONFIG GET notify-keyspace-events", "CONFIG SET notify-keyspace-events $lshzxetd",
        "CONFIG GET notify-keyspace-events", "CONFIG SET notify-keyspace-events ''", "CONFIG SET hz 0",
        "CONFIG GET hz", "CONFIG SET hz 1000", "CONFIG GET hz", "CONFIG SET hz 10",
        "CONFIG SET slowlog-log-slower-than -2", "CONFIG SET slowlog-max-len -1", "CONFIG GET MaxMemory maxmemory",
        "CONFIG GET maxmemory maxmemory", "CONFIG SET slowlog-max-len 128 slowlog-log-slower-than 10000"],
}


@pytest.mark.parametrize("lines", SAME_REPLIES.values(), ids=SAME_REPLIES)
def test_server_commands_get_the_replies_redis_gives(pair, lines):
    real, served = pair
    script = _script(lines)
    assert _replies(served.port, script) == _replies(real.port, script)


def test_config_get_of_several_names_and_patterns_answers_each_once(pair):
    """The order is Redis's hash table's: compared as maps."""
    real, served = pair
    asked = [b"CONFIG", b"GET", b"maxmemory", b"save", b"maxmemory*", b"MAXMEMORY", b"slowlog-*", b"hz", b"nosuch"]
    theirs, ours = (_replies(s.port, [asked])[0] for s in (real, served))
    assert len(ours) == len(theirs)
    as_map = dict(zip(theirs[::2], theirs[1::2], strict=True))
    for name, value in zip(ours[::2], ours[1::2], strict=True):
        assert as_map.get(name, value) == value  # names serve keeps: Redis's values
    assert set(ours[::2]) >= {b"maxmemory", b"save", b"maxmemory-policy", b"slowlog-max-len", b"hz"}


@pytest.mark.parametrize("target", ["redis-6.2", "redis-8.2", "valkey-8.1", "valkey-9.1"])
def test_each_target_lists_its_builtin_modules_and_its_own_texts(target):
    script = _script(["MODULE LIST", "ROLE", "CLUSTER INFO", "LATENCY DOCTOR", "CONFIG SET latency-monitor-threshold 5",
                      "LATENCY DOCTOR", "MEMORY DOCTOR", "WAIT 0 0", "SLOWLOG FOO", "SLOWLOG GET 1 2", "MEMORY HELP",
                      "LATENCY LATEST x", "MODULE LIST x"])
    with start_server(target) as real, start_serve("--target", target) as served:
        assert _replies(served.port, script) == _replies(real.port, script)


@pytest.mark.parametrize("target", ["redis-6.2", "redis-7.0", "redis-8.2", "valkey-8.1", "valkey-9.1"])
def test_hello_names_the_server_and_its_modules_as_module_list_does(target):
    """HELLO's server (Valkey's says valkey) and modules, and MODULE LIST, in RESP3 (a map a module) and RESP2."""
    sent = b"HELLO 3\r\nMODULE LIST\r\nHELLO 2\r\nMODULE LIST\r\n"
    with start_server(target) as real, start_serve("--target", target) as served:
        answers = [re.sub(rb"\$2\r\nid\r\n:\d+\r\n", b"", raw(server.port, sent)) for server in (served, real)]
    assert answers[0] == answers[1]


def _slow_entries(port: int, script: list[list[bytes]]) -> list:
    client = RawClient(port)
    try:
        for args in script:
            client.call(args)
        return client.call([b"SLOWLOG", b"GET", b"-1"])
    finally:
        client.sock.close()


def test_the_slowlog_logs_what_took_longer_than_its_threshold(pair):
    """Real timings: DEBUG SLEEP 0.2 is logged with its duration, quick commands are not."""
    real, served = pair
    script = _script(["SLOWLOG RESET", "CONFIG SET slowlog-log-slower-than 100000", "SET a 1", "DEBUG SLEEP 0.2",
                      "GET a", "CONFIG SET slowlog-log-slower-than 10000"])
    for port in (real.port, served.port):
        entries = _slow_entries(port, script)
        assert len(entries) == 1
        _, when, micros, args, address, name = entries[0]
        assert args == [b"DEBUG", b"SLEEP", b"0.2"] and 200_000 <= micros < 2_000_000
        assert abs(when - time.time()) < 10 and address.startswith(b"127.0.0.1:") and name == b""


def test_commands_of_a_transaction_are_logged_as_they_run_not_exec(pair):
    real, served = pair
    script = _script(["SLOWLOG RESET", "CONFIG SET slowlog-log-slower-than 100000", "MULTI", "DEBUG SLEEP 0.2",
                      "GET a", "EXEC", "CONFIG SET slowlog-log-slower-than 10000"])
    theirs, ours = (_slow_entries(s.port, script) for s in (real, served))
    assert [e[3] for e in ours] == [e[3] for e in theirs] == [[b"DEBUG", b"SLEEP", b"0.2"]]


def test_a_zero_threshold_logs_every_command_trimmed_and_newest_first(pair):
    """Up to 32 arguments (the last telling how many more), each up to 128 bytes; EXEC's commands,
    not EXEC; the length held to slowlog-max-len; -1 logs nothing."""
    real, served = pair
    many = [b"RPUSH", b"l", *[b"%d" % i for i in range(40)]]
    script = [*_script(["SLOWLOG RESET", "CONFIG SET slowlog-log-slower-than 0"]), many,
              [b"SET", b"k", b"x" * 300], *_script(["MULTI", "GET k", "EXEC", "CONFIG SET slowlog-max-len 5"]),
              *_script(["CONFIG SET slowlog-log-slower-than -1", "GET k"])]
    theirs, ours = (_slow_entries(s.port, script) for s in (real, served))
    assert [e[3] for e in ours] == [e[3] for e in theirs]
    assert ours[-1][3][-1] == b"... (11 more arguments)" and len(ours) == 5
    assert [e[0] for e in ours] == sorted((e[0] for e in ours), reverse=True)
    for port in (real.port, served.port):
        _slow_entries(port, _script(["CONFIG SET slowlog-max-len 128 slowlog-log-slower-than 10000"]))


def test_wait_for_a_replica_blocks_until_its_timeout_then_answers_0(pair):
    for port in (s.port for s in pair):
        client = RawClient(port)
        started = time.monotonic()
        assert client.call([b"WAIT", b"1", b"150"]) == 0
        assert 0.14 <= time.monotonic() - started < 2
        client.call([b"LPUSH", b"after", b"x"])  # a write while nobody waits: no blocked WAIT to serve
        client.sock.close()


def test_memory_figures_are_of_the_order_redis_gives(pair):
    """MEMORY USAGE within a factor of 2 of Redis's for each type; MEMORY STATS with Redis's fields."""
    real, served = pair
    fill = _script(["SET s v", "SET big " + "x" * 1000, "RPUSH l a b c", "HSET h f v g w", "SADD set 1 2 3",
                    "ZADD z 1 a 2 b", "XADD st 1-1 f v"])
    usage = _script(["MEMORY USAGE s", "MEMORY USAGE big", "MEMORY USAGE l", "MEMORY USAGE h", "MEMORY USAGE set",
                     "MEMORY USAGE z", "MEMORY USAGE st"])
    theirs, ours = (_replies(s.port, fill + usage)[len(fill):] for s in (real, served))
    for mine, redis_figure in zip(ours, theirs, strict=True):
        assert redis_figure / 2 <= mine <= redis_figure * 2, (ours, theirs)
    stats = [_replies(s.port, fill + _script(["MEMORY STATS"]))[-1] for s in (real, served)]
    assert stats[1][::2] == stats[0][::2]
    assert dict(zip(stats[1][::2], stats[1][1::2], strict=True))[b"keys.count"] == 7


def test_sort_store_is_appended_as_redis_7_appends_it():
    """SORT ... STORE as sent, when it changed the destination; a SORT that stored nothing new, or
    only read, appends nothing."""
    commands = [["RPUSH", "l", "3", "1", "2"], ["SORT", "l", "STORE", "dst"], ["SORT", "l"], ["SORT_RO", "l"],
                ["SORT", "missing", "STORE", "nothing"], ["SORT", "missing", "STORE", "dst"],
                ["SORT", "l", "LIMIT", "5", "1", "STORE", "dst"], ["SADD", "s", "b", "a"],
                ["SORT", "s", "BY", "nosort", "STORE", "d2"], ["ZADD", "z", "1", "a"],
                ["ZUNIONSTORE", "zd", "1", "z"], ["XADD", "st", "1-1", "f", "v"], ["XADD", "st", "2-1", "f", "v"],
                ["XADD", "st", "MINID", "2", "3-1", "f", "v"], ["XTRIM", "st", "MINID", "=", "3"],
                ["XTRIM", "st", "MINID", "0"]]
    with start_server(SERVER, extra=("--appendonly", "yes", "--appendfsync", "always")) as real:
        theirs = _sent_and_appended(real.port, real.dir / "appendonlydir", commands)
    with start_serve("--appendonly", "yes", "--appendfsync", "always", "--target", SERVER) as serving:
        ours = _sent_and_appended(serving.port, serving.dir / "appendonlydir", commands)
    assert ours == theirs


def test_a_watched_key_is_touched_by_sort_only_as_its_store_destination(pair):
    """WATCH src, SORT src from another client: EXEC runs; WATCH dst, SORT src STORE dst: EXEC aborts."""
    outcomes = []
    for port in (s.port for s in pair):
        watcher, other = RawClient(port), RawClient(port)
        other.call([b"FLUSHALL"])
        other.call([b"RPUSH", b"src", b"2", b"1"])
        results = []
        for watched, sort in ((b"src", [b"SORT", b"src"]), (b"dst", [b"SORT", b"src", b"STORE", b"dst"])):
            watcher.call([b"WATCH", watched])
            other.call(sort)
            watcher.call([b"MULTI"])
            watcher.call([b"PING"])
            results.append(watcher.call([b"EXEC"]))
        outcomes.append(results)
        watcher.sock.close()
        other.sock.close()
    assert outcomes[0] == outcomes[1] == [[b"PONG"], None]


def test_config_get_and_set_take_one_parameter_in_redis_6_2_words():
    script = _script(["CONFIG SET maxmemory x", "CONFIG SET nosuch 1", "CONFIG SET maxmemory 1 hz 5",
                      "CONFIG SET databases 1", "CONFIG SET maxmemory-policy bad", "CONFIG SET appendfsync bad",
                      "CONFIG SET hz x", "CONFIG SET a", "CONFIG GET maxmemory hz", "CONFIG SET maxmemory 5",
                      "CONFIG GET maxmemory", "CONFIG SET notify-keyspace-events Q", "CONFIG SET maxmemory 0"])
    with start_server("redis-6.2") as real, start_serve("--target", "redis-6.2") as served:
        assert _replies(served.port, script) == _replies(real.port, script)
