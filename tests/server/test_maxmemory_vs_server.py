"""maxmemory against the real servers: the same commands to serve and to Redis 7.0 (Valkey 9.1 where it
differs), replies compared exactly where serve's memory model gives Redis's answer (the OOM errors and
their counts, the `evicted` events, the AOF's DELs), and the facts that hold whatever the exact byte
counts are (used_memory under maxmemory after filling, which keys a volatile-* policy leaves).
"""

from __future__ import annotations

import time
from pathlib import Path

import hiredis
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.resp_client import RawClient
from tests.server.serving import start_serve
from tests.servers import PROCESS_TIMEOUT, start_server

OOM = "OOM command not allowed when used memory > 'maxmemory'."


@pytest.fixture(scope="module", params=["redis-7.0"])
def pair(request):
    """Redis 7.0, whose memory figures serve's model has."""
    with start_server(request.param) as real, start_serve("--target", request.param) as served:
        yield real.port, served.port


@pytest.fixture(scope="module", params=["redis-7.0", "redis-8.2", "valkey-9.1"])
def targets(request):
    """Each server family: the behaviour, not the byte counts."""
    with start_server(request.param) as real, start_serve("--target", request.param) as served:
        yield real.port, served.port


def _plain(reply):
    """A reply comparable across servers: an error as ("error", its text)."""
    if isinstance(reply, hiredis.ReplyError):
        return ("error", str(reply))
    if isinstance(reply, list):
        return [_plain(item) for item in reply]
    return reply


def _run(port: int, steps: list[list]) -> list:
    """Fresh state (no keys, no limit, counters zeroed), then each step's reply (a step starting with 1 is
    a second client's); the limit goes after."""
    client, other = RawClient(port), RawClient(port)
    for setup in (["FLUSHALL"], ["CONFIG", "SET", "maxmemory", "0"],
                  ["CONFIG", "SET", "maxmemory-policy", "noeviction"], ["CONFIG", "RESETSTAT"]):
        client.call(setup)
    try:
        return [_plain(other.call(step[1:]) if step[0] == 1 else client.call(step)) for step in steps]
    finally:
        client.call(["CONFIG", "SET", "maxmemory", "0"])


def _same(pair, steps: list[list[str]]) -> list:
    theirs, ours = (_run(port, steps) for port in pair)
    assert ours == theirs
    return ours


def _info(client: RawClient, section: str) -> dict[str, str]:
    text = client.call(["INFO", section]).decode()
    return dict(line.split(":", 1) for line in text.splitlines() if ":" in line)


def test_a_write_gets_oom_when_nothing_may_be_evicted_and_is_counted_as_rejected(targets):
    replies = _same(targets, [
        ["SET", "a", "1"], ["CONFIG", "SET", "maxmemory-policy", "noeviction"], ["CONFIG", "SET", "maxmemory", "1"],
        ["SET", "b", "1"], ["GET", "a"], ["DEL", "a"], ["INCR", "c"], ["INFO", "errorstats"],
    ])
    assert replies[3] == ("error", OOM)


def test_commandstats_count_the_oom_refusal_as_a_rejected_call(targets):
    for port in targets:
        client = RawClient(port)
        client.call(["CONFIG", "RESETSTAT"])
        client.call(["CONFIG", "SET", "maxmemory", "1"])
        client.call(["SET", "a", "b"])
        client.call(["CONFIG", "SET", "maxmemory", "0"])
        stats = _info(client, "commandstats")["cmdstat_set"]
        assert stats.startswith("calls=0,") and stats.endswith(",rejected_calls=1,failed_calls=0")
        assert _info(client, "stats")["total_error_replies"] == "1"


def test_out_of_memory_refuses_any_command_multi_would_queue_up_to_7_2_and_queues_it_from_7_4_and_in_valkey(targets):
    """Redis 7.0 refuses even a GET queued in MULTI (its EXEC then aborts); Redis 7.4 and Valkey 8 queue it
    (they bound a transaction by client-query-buffer-limit instead)."""
    _same(targets, [
        ["MULTI"], ["SET", "a", "1"], [1, "CONFIG", "SET", "maxmemory", "1"], ["GET", "a"], ["PING"],
        [1, "CONFIG", "SET", "maxmemory", "0"], ["SET", "b", "1"], ["EXEC"], ["EXISTS", "a", "b"],
    ])


def test_discard_and_a_read_only_exec_still_run_when_out_of_memory(targets):
    _same(targets, [
        ["SET", "x", "v"], ["CONFIG", "SET", "maxmemory", "1"], ["MULTI"], ["SET", "y", "1"], ["DISCARD"],
        ["CONFIG", "SET", "maxmemory", "0"], ["MULTI"], ["GET", "x"], ["PING"],
        [1, "CONFIG", "SET", "maxmemory", "1"], ["EXEC"],
    ])


def test_exec_of_a_transaction_holding_a_denyoom_command_fails_with_oom(targets):
    replies = _same(targets, [
        ["MULTI"], ["SET", "x", "1"], ["GET", "x"], [1, "CONFIG", "SET", "maxmemory", "1"], ["EXEC"], ["EXISTS", "x"],
    ])
    assert replies[4] == ("error", f"EXECABORT Transaction discarded because of: {OOM}")


def test_scripts_under_oom_flags_decide_shebang_refused_allow_oom_runs_plain_eval_fails_at_its_first_write(targets):
    shebang = "#!lua\nreturn redis.call('set', KEYS[1], 'v')"
    allowed = "#!lua flags=allow-oom\nreturn redis.call('set', KEYS[1], 'v')"
    plain = "redis.call('get', KEYS[1]); return redis.call('set', KEYS[1], 'v')"
    no_writes = "#!lua flags=no-writes\nreturn redis.call('get', KEYS[1])"
    write = "function(keys) return redis.call('set', keys[1], 'v') end"
    library = (f"#!lua name=lib\nredis.register_function('w', {write})\n"
               f"redis.register_function{{function_name='o', callback={write}, flags={{'allow-oom'}}}}")
    _same(targets, [
        ["SCRIPT", "FLUSH"], ["FUNCTION", "FLUSH"], ["FUNCTION", "LOAD", library], ["CONFIG", "SET", "maxmemory", "1"],
        ["EVAL", shebang, "1", "a"], ["EVAL", allowed, "1", "b"], ["EVAL", plain, "1", "c"],
        ["EVAL", no_writes, "1", "b"], ["FCALL", "w", "1", "d"], ["FCALL", "o", "1", "e"],
        ["EXISTS", "a", "b", "c", "d", "e"],
    ])


@pytest.mark.parametrize("policy", ["allkeys-lru", "allkeys-random", "volatile-ttl"])
def test_a_limit_below_the_data_evicts_at_once_with_evicted_events(targets, policy):
    for port in targets:
        subscriber = RawClient(port)
        subscriber.sock.settimeout(PROCESS_TIMEOUT)  # an event that never comes fails the test
        client = RawClient(port)
        client.call(["FLUSHALL"])
        client.call(["CONFIG", "RESETSTAT"])
        client.call(["CONFIG", "SET", "notify-keyspace-events", "Ee"])
        client.call(["CONFIG", "SET", "maxmemory-policy", policy])
        subscriber.call(["PSUBSCRIBE", "*"])
        client.call(["SET", "foo", "bar", "EX", "100"])
        client.call(["CONFIG", "SET", "maxmemory", "1"])
        assert subscriber.next() == [b"pmessage", b"*", b"__keyevent@0__:evicted", b"foo"]
        assert client.call(["DBSIZE"]) == 0
        assert _info(client, "stats")["evicted_keys"] == "1"
        client.call(["CONFIG", "SET", "maxmemory", "0"])
        client.call(["CONFIG", "SET", "notify-keyspace-events", ""])


def _fill_and_evict(port: int, policy: str) -> tuple[int, int, int, list[int]]:
    """Half the keys with a TTL, a limit 100 KB above the data, then as many keys again: (limit, used
    memory after, evicted keys, the indexes of the keys without TTL that are gone)."""
    client = RawClient(port)
    client.call(["FLUSHALL"])
    client.call(["CONFIG", "RESETSTAT"])
    client.call(["CONFIG", "SET", "maxmemory-policy", policy])
    limit = int(_info(client, "memory")["used_memory"]) + 100 * 1024
    client.call(["CONFIG", "SET", "maxmemory", str(limit)])
    count = 0
    while int(_info(client, "memory")["used_memory"]) + 4096 < limit:
        if count % 2:
            client.call(["SET", f"key:{count}", "x", "EX", "10000"])
        else:
            client.call(["SET", f"key:{count}", "x"])
        count += 1
    for index in range(count):
        client.call(["SET", f"new:{index}", "x", "EX", "10000"])
    used = int(_info(client, "memory")["used_memory"])
    gone = [i for i in range(0, count, 2) if not client.call(["EXISTS", f"key:{i}"])]
    evicted = int(_info(client, "stats")["evicted_keys"])
    client.call(["CONFIG", "SET", "maxmemory", "0"])
    return limit, used, evicted, gone


@pytest.mark.parametrize("policy", ["volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl",
                                    "allkeys-lru", "allkeys-lfu", "allkeys-random"])
def test_filling_past_the_limit_keeps_used_memory_under_it_and_volatile_policies_keep_keys_without_ttl(targets, policy):
    for port in targets:
        limit, used, evicted, gone = _fill_and_evict(port, policy)
        assert used < limit + 4096 and evicted > 0
        assert gone == [] if policy.startswith("volatile") else gone != []


def _written_aof(directory: Path) -> bytes:
    """The newest incremental AOF once it holds the last write (a server may write it after its reply)."""
    deadline = time.monotonic() + PROCESS_TIMEOUT
    while True:
        increments = sorted((directory / "appendonlydir").glob("*.incr.aof"))
        content = increments[-1].read_bytes() if increments else b""
        if b"$5\r\nafter\r\n" in content or time.monotonic() > deadline:
            return content
        time.sleep(0.05)


@pytest.mark.parametrize(("target", "lazy"), [("redis-7.0", "no"), ("redis-7.0", "yes"), ("valkey-9.1", "yes")])
def test_evictions_are_in_the_aof_as_dels_or_unlinks_by_lazyfree_lazy_eviction(tmp_path: Path, target: str, lazy: str):
    """Each eviction on its own, before the command that caused it: DEL, UNLINK where lazyfree-lazy-eviction
    is on (Valkey's default)."""
    contents = []
    for kind in ("real", "serve"):
        directory = tmp_path / kind
        directory.mkdir()
        if kind == "real":
            server = start_server(target, extra=("--appendonly", "yes"))
        else:
            server = start_serve("--target", target, "--appendonly", "yes", directory=directory)
        with server as running:
            client = RawClient(running.port)
            client.call(["CONFIG", "SET", "maxmemory-policy", "allkeys-random"])
            client.call(["CONFIG", "SET", "lazyfree-lazy-eviction", lazy])
            client.call(["SET", "foo", "bar"])
            client.call(["CONFIG", "SET", "maxmemory", "1"])
            client.call(["CONFIG", "SET", "maxmemory", "0"])
            client.call(["SET", "after", "v"])
            contents.append(_written_aof(running.dir))
    assert contents[1] == contents[0]
    assert (b"$6\r\nUNLINK\r\n" if lazy == "yes" else b"$3\r\nDEL\r\n") + b"$3\r\nfoo\r\n" in contents[0]


@pytest.mark.parametrize("value", ["1", "-5", "123456789012", "x", "v" * 40, "v" * 44, "v" * 45, "v" * 100,
                                   "v" * 10_000])
def test_memory_usage_of_a_string_is_the_servers_figure(pair, value):
    _same(pair, [["SET", "k" * 40, value], ["MEMORY", "USAGE", "k" * 40], ["SET", "a", value],
                 ["MEMORY", "USAGE", "a"]])


def _collections(client: RawClient) -> dict[str, int]:
    client.call(["FLUSHALL"])
    client.call(["RPUSH", "list", *["a"] * 10])
    client.call(["RPUSH", "biglist", *["x" * 100] * 1000])
    client.call(["SADD", "intset", *map(str, range(10))])
    client.call(["SADD", "wideintset", *map(str, range(100_000, 100_010))])
    client.call(["HSET", "hash", *[x for i in range(10) for x in (f"f{i}", "v")]])
    client.call(["HSET", "bighash", *[x for i in range(600) for x in (f"f{i}", "v")]])
    client.call(["ZADD", "zset", *[x for i in range(10) for x in (str(i), f"m{i}")]])
    client.call(["ZADD", "bigzset", *[x for i in range(200) for x in (str(i), f"m{i}")]])
    client.call(["SADD", "bigset", *[f"a{i}" for i in range(200)]])
    return {key: client.call(["MEMORY", "USAGE", key]) for key in
            ("list", "biglist", "intset", "wideintset", "hash", "bighash", "zset", "bigzset", "bigset")}


def test_memory_usage_of_each_encoding_is_close_to_the_servers_figure(pair):
    theirs, ours = (_collections(RawClient(port)) for port in pair)
    for key, figure in theirs.items():
        exact = key in ("list", "biglist", "intset", "wideintset", "hash", "zset")
        assert ours[key] == figure if exact else abs(ours[key] - figure) <= figure * 0.2, (key, ours[key], figure)


def test_info_memory_tells_the_limit_and_policy_as_the_server(pair):
    fields = ("maxmemory", "maxmemory_human", "maxmemory_policy", "mem_clients_slaves", "mem_not_counted_for_evict")
    found = []
    for port in pair:
        client = RawClient(port)
        client.call(["CONFIG", "SET", "maxmemory", "1gb"])
        client.call(["CONFIG", "SET", "maxmemory-policy", "allkeys-lfu"])
        info = _info(client, "memory")
        found.append({name: info.get(name) for name in fields})
        client.call(["CONFIG", "SET", "maxmemory", "0"])
        client.call(["CONFIG", "SET", "maxmemory-policy", "noeviction"])
    assert found[1] == found[0]


_ELEMENT = st.one_of(st.integers(-(2**40), 2**40).map(str), st.text("abcxyz", max_size=70))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=st.sampled_from(["string", "list", "set", "hash", "zset"]),
       elements=st.lists(_ELEMENT, min_size=1, max_size=12))
def test_random_small_values_have_the_servers_memory_usage(pair, kind, elements):
    """Values in Redis 7.0's compact encodings (embstr/int/raw strings, listpack lists, hashes and zsets,
    intsets) get exactly the real server's figure."""
    if kind == "string":
        steps = [["SET", "k", "".join(elements)]]
    elif kind == "list":
        steps = [["RPUSH", "k", *elements]]
    elif kind == "set":
        steps = [["SADD", "k", *elements]]
    elif kind == "hash":
        steps = [["HSET", "k", *[x for i, e in enumerate(elements) for x in (f"f{i}", e)]]]
    else:
        steps = [["ZADD", "k", *[x for i, e in enumerate(elements) for x in (str(i / 4), e)]]]
    encoding = _same(pair, [*steps, ["OBJECT", "ENCODING", "k"]])[-1]
    if encoding != b"hashtable":  # a set of strings: a hash table, which Redis samples mid-rehash
        _same(pair, [*steps, ["MEMORY", "USAGE", "k"]])


@pytest.mark.parametrize("count", [20_000, 60_000])  # summed key by key, and estimated from a sample
def test_used_memory_grows_with_the_keys_as_the_servers(pair, count):
    """Without a limit used_memory is computed when asked: key by key up to 50,000 keys per database, from
    evenly spaced keys past that; either stays near the real figure (which also counts the dict's buckets)."""
    grown = []
    for port in pair:
        client = RawClient(port)
        client.call(["FLUSHALL"])
        before = int(_info(client, "memory")["used_memory"])
        for start in range(0, count, 1000):
            client.call(["MSET", *[x for i in range(start, start + 1000) for x in (f"key:{i}", f"value:{i}")]])
        grown.append(int(_info(client, "memory")["used_memory"]) - before)
        client.call(["FLUSHALL"])
    assert abs(grown[1] - grown[0]) <= grown[0] * 0.15, grown


def test_memory_usage_takes_samples_zero_for_all_and_refuses_what_redis_refuses(pair):
    _same(pair, [
        ["RPUSH", "l", *["x" * 100] * 1000], ["MEMORY", "USAGE", "l", "SAMPLES", "0"],
        ["MEMORY", "USAGE", "l", "SAMPLES", "2"], ["MEMORY", "USAGE", "l", "SAMPLES", "-1"],
        ["MEMORY", "USAGE", "l", "SAMPLES", "x"], ["MEMORY", "USAGE", "l", "FOO"], ["MEMORY", "USAGE", "nokey"],
    ])


@pytest.mark.parametrize("policy", ["allkeys-lru", "allkeys-lfu", "volatile-lru", "volatile-lfu"])
def test_lru_and_lfu_policies_evict_keys_not_accessed_since(targets, policy):
    """Twenty keys read again after 2.5 s (LRU's clock counts seconds; LFU counts each read with
    lfu-log-factor 0) outlive twenty left alone when the limit drops under the data. maxmemory-samples is
    its largest, above the key count, so that each server scores every key: with fewer, a sample can hold
    only keys that were read, and the best of it goes (seen once: volatile-lfu, the Valkey 9.1 pair)."""
    for port in targets:
        client = RawClient(port)
        for step in (["FLUSHALL"], ["CONFIG", "SET", "maxmemory-policy", policy],
                     ["CONFIG", "SET", "maxmemory-samples", "64"], ["CONFIG", "SET", "lfu-log-factor", "0"]):
            client.call(step)
        for i in range(40):
            client.call(["SET", f"k{i}", "v" * 10_000, "EX", "1000"])
        time.sleep(2.5)
        for _ in range(5):
            for i in range(20):
                client.call(["GET", f"k{i}"])
        used = int(_info(client, "memory")["used_memory"])
        client.call(["CONFIG", "SET", "maxmemory", str(used - 35_000)])
        gone = [i for i in range(40) if not client.call(["EXISTS", f"k{i}"])]
        client.call(["CONFIG", "SET", "maxmemory", "0"])
        client.call(["CONFIG", "SET", "lfu-log-factor", "10"])
        assert gone and min(gone) >= 20, (port, gone)
