"""The encoding thresholds and OBJECT ENCODING as the real server has them: the same commands go to
serve and to the real server, and the replies are compared exactly."""

from __future__ import annotations

import pytest

from rdbtools.rdb.model import KeyRecord
from rdbtools.rdb.reader import open_rdb
from tests.resp_client import RawClient
from tests.server.serving import start_serve
from tests.servers import start_server

TARGETS = ["redis-7.0", "redis-6.2", "redis-8.2", "valkey-9.1"]
THRESHOLDS = [b"*-max-*-entries", b"*-max-*-value", b"list-max-*-size", b"set-max-intset-entries"]


@pytest.fixture(scope="module", params=TARGETS)
def pair(request):
    with start_server(request.param) as real, start_serve("--target", request.param) as served:
        yield RawClient(real.port), RawClient(served.port)


def _same(pair, commands: list[list[bytes]]) -> None:
    theirs, ours = ([client.call(args) for args in commands] for client in pair)
    assert [(args[:3], reply) for args, reply in zip(commands, ours, strict=True) if len(b"".join(args)) < 200] == [
        (args[:3], reply) for args, reply in zip(commands, theirs, strict=True) if len(b"".join(args)) < 200]
    assert ours == theirs


def _sorted_config(client: RawClient, pattern: bytes) -> list:
    reply = client.call([b"CONFIG", b"GET", pattern])
    return sorted(zip(reply[::2], reply[1::2], strict=True))


def test_config_get_lists_every_threshold_name_with_its_default(pair):
    theirs, ours = ([_sorted_config(client, pattern) for pattern in THRESHOLDS] for client in pair)
    assert ours == theirs


def test_a_threshold_set_under_its_old_name_shows_under_both(pair):
    changes = [[b"CONFIG", b"SET", b"zset-max-ziplist-entries", b"7"],
               [b"CONFIG", b"SET", b"hash-max-ziplist-value", b"9"],
               [b"CONFIG", b"SET", b"list-max-ziplist-size", b"-3"]]
    try:
        _same(pair, changes)
        theirs, ours = ([_sorted_config(client, pattern) for pattern in THRESHOLDS] for client in pair)
        assert ours == theirs
    finally:
        _same(pair, [[b"CONFIG", b"SET", b"zset-max-ziplist-entries", b"128"],
                     [b"CONFIG", b"SET", b"hash-max-ziplist-value", b"64"],
                     [b"CONFIG", b"SET", b"list-max-ziplist-size", b"-2"]])


def test_strings_built_in_place_are_raw_until_replaced(pair):
    """APPEND to a key, SETRANGE, SETBIT, BITFIELD and BITOP leave a raw string whatever its length; SET,
    INCR and INCRBYFLOAT make a new one; COPY keeps the encoding."""
    script = ["FLUSHALL", "SET a 1", "BITOP NOT a a", "SET b x", "APPEND b y", "APPEND new 12", "SETRANGE c 0 12",
              "SETBIT d 1 1", "BITFIELD f SET u8 0 1", "COPY b b2", "SET e 1.5", "APPEND e 0", "SETRANGE g 0 ''",
              "SET h 12", "APPEND h 3"]
    encodings = [f"OBJECT ENCODING {key}" for key in ("a", "b", "new", "c", "d", "f", "b2", "e", "g", "h")]
    after = ["INCR c", "INCRBYFLOAT e 1", "SET d 5", "SET b xyz", "SETRANGE h 0 ''", "BITFIELD f GET u8 0"]
    commands = [[b"" if w == "''" else w.encode() for w in line.split()] for line in
                [*script, *encodings, *after, *encodings]]
    _same(pair, commands)


def test_sets_hashes_and_zsets_keep_the_encoding_they_were_converted_to(pair):
    """Redis converts a set (intset -> listpack from 7.2 -> hashtable), a hash (listpack -> hashtable) and a
    zset (listpack -> skiplist) only on the way up: removing the members that made it convert leaves the
    encoding, and DUMP (and SAVE) store the value in it (a hashtable set of integers as a plain set)."""
    long = "x" * 70
    script = ["FLUSHALL", "SADD s1 1 2 3", "SADD s2 1 2 3 a", "SREM s2 a", "SADD s3 a 1", "SREM s3 a",
              "SADD s4 1 " + long, "SREM s4 " + long, "SADD s5 " + " ".join(map(str, range(130))) + " a",
              "SREM s5 a " + " ".join(map(str, range(100))), "SADD s6 1", "SMOVE s2 s6 2",
              "SADD s7 1", "SADD s8 b", "SMOVE s8 s7 b", "SREM s7 b",
              "HSET h1 a 1", f"HSET h2 a 1 b {long}", "HDEL h2 b", f"HSET h3 {long} 1", f"HSET h3 {long} 2",
              "HDEL h3 " + long, f"HSETNX h4 a {long}", "HSET h5 a 1", f"HSETNX h5 a {long}", f"HSET h6 a {long}",
              "HSET h6 a 1", "HINCRBY h7 " + long + " 1", "HDEL h7 " + long, "HSET h7 a 1",
              "ZADD z1 1 a", f"ZADD z2 1 a 2 {long}", f"ZREM z2 {long}", f"ZINCRBY z3 1 {long}", f"ZREM z3 {long}",
              "ZADD z3 1 a", f"ZADD z4 XX 1 {long}", "ZADD z4 1 a", f"ZADD z4 XX 1 {long}",
              "ZADD z5 " + " ".join(f"{i} m{i}" for i in range(130)), "ZREMRANGEBYRANK z5 0 100",
              "HSET h8 " + " ".join(f"f{i} v" for i in range(520)), "HDEL h8 " + " ".join(f"f{i}" for i in range(500))]
    keys = [*(f"s{i}" for i in range(1, 9)), *(f"h{i}" for i in range(1, 9)), *(f"z{i}" for i in range(1, 6))]
    _same(pair, [[w.encode() for w in line.split()] for line in script]
          + [[b"OBJECT", b"ENCODING", k.encode()] for k in keys]
          + [[b"EVAL", _DUMP_TYPE, b"1", k.encode()] for k in keys])


#: the type byte a key's DUMP payload starts with: how SAVE stores the value
_DUMP_TYPE = b"local d = redis.call('DUMP', KEYS[1]) return d and string.byte(d)"


def test_restored_values_keep_the_encoding_they_were_loaded_in(pair):
    """RESTORE (and loading a snapshot) encodes a set, hash or zset by what it holds, but a set stored as a
    listpack stays one (7.2+); converted ones stay converted when the members that made them go, and STORE
    commands build their result by what it holds. Both sides restore the real server's payloads."""
    long = b"x" * 70
    ints, texts = [b"%d" % i for i in range(600)], [b"m%d" % i for i in range(200)]
    _same(pair, [[b"FLUSHALL"], [b"SADD", b"s", b"1", b"2", b"a"], [b"SREM", b"s", b"a"], [b"SADD", b"n", b"1", b"2"],
                 [b"SADD", b"u", b"a", b"b", long], [b"SADD", b"v", b"a", b"1"], [b"SADD", b"big", *texts],
                 [b"SADD", b"ints", *ints], [b"HSET", b"h", b"a", long, b"b", b"1"],
                 [b"ZADD", b"z", b"1", long, b"2", b"b"]])
    keys = [b"s", b"u", b"v", b"h", b"z", b"big", b"ints", b"n"]
    restores = [[b"RESTORE", k + b"2", b"0", pair[0].call([b"DUMP", k])] for k in keys]
    removals = [[b"SREM", b"u2", long], [b"SREM", b"v2", b"a"], [b"HDEL", b"h2", b"a"], [b"ZREM", b"z2", long],
                [b"SREM", b"big2", *texts[:150]], [b"SREM", b"ints2", *ints[:300]], [b"SINTERSTORE", b"i2", b"v", b"n"],
                [b"SUNIONSTORE", b"un2", b"n", b"s"], [b"SDIFFSTORE", b"d2", b"v", b"u"],
                [b"ZUNIONSTORE", b"zu2", b"1", b"z"], [b"ZREM", b"zu2", long]]
    stored = [k + b"2" for k in keys] + [b"i2", b"un2", b"d2", b"zu2"]
    _same(pair, restores + removals + [[b"OBJECT", b"ENCODING", k] for k in stored]
          + [[b"EVAL", _DUMP_TYPE, b"1", k] for k in stored])


@pytest.mark.parametrize("name", ["redis-7.0", "redis-8.2"])
def test_save_stores_values_in_the_encoding_they_were_converted_to(name):
    """SAVE writes a converted set, hash or zset in its full form whatever it holds now (the RDB type of
    each key, read back by our reader, is the real server's)."""
    long = b"x" * 70
    script = [[b"SADD", b"s", b"1", b"2", b"a"], [b"SREM", b"s", b"a"], [b"SADD", b"t", b"1", long],
              [b"SREM", b"t", long], [b"HSET", b"h", b"a", long, b"b", b"1"], [b"HDEL", b"h", b"a"],
              [b"ZADD", b"z", b"1", long, b"2", b"b"], [b"ZREM", b"z", long], [b"SADD", b"n", b"1"],
              [b"HSET", b"m", b"a", b"1"], [b"ZADD", b"y", b"1", b"a"], [b"RPUSH", b"l", b"a"], [b"SAVE"]]
    with start_server(name) as real, start_serve("--target", name) as served:
        for port in (real.port, served.port):
            client = RawClient(port)
            for args in script:
                client.call(args)
        theirs, ours = ({r.key: (r.type, r.encoding) for r in open_rdb(path) if isinstance(r, KeyRecord)}
                        for path in (real.rdb_path, served.rdb_path))
    assert theirs[b"h"] == ("hash", "hash-hashtable") and theirs[b"z"] == ("zset", "zset-v2")
    assert ours == theirs


def test_spop_of_most_members_leaves_a_new_set(pair):
    """SPOP with a count leaving fewer than a fifth of it builds a new set of the rest: before 7.2 encoded by
    what it holds, from 7.2 a hash table's rest starts as a listpack; popping fewer keeps the set's encoding."""
    ints, texts = [b"%d" % i for i in range(600)], [b"m%d" % i for i in range(300)]
    script = [[b"FLUSHALL"], [b"SADD", b"d", *ints], [b"SPOP", b"d", b"550"], [b"SADD", b"c", *texts],
              [b"SPOP", b"c", b"290"], [b"SADD", b"a", *texts], [b"SPOP", b"a", b"100"], [b"SADD", b"g", *texts[:20]],
              [b"SPOP", b"g", b"18"], [b"SADD", b"h", *ints[:100]], [b"SPOP", b"h", b"90"], [b"SADD", b"e", *ints],
              [b"SPOP", b"e", b"490"], [b"SPOP", b"e", b"1"]]
    keys = [b"d", b"c", b"a", b"g", b"h", b"e"]
    for client in pair:  # (which members go is random: their replies differ)
        for args in script:
            client.call(args)
    _same(pair, [[b"SCARD", k] for k in keys] + [[b"OBJECT", b"ENCODING", k] for k in keys])


def test_from_7_2_a_command_naming_many_members_converts_first(pair):
    """Redis 7.2+ and Valkey convert by how many members SADD, HSET or ZADD names, duplicates counted (a new
    set of text begins as a listpack only within its entries); before, by what the value holds after."""
    script = [[b"FLUSHALL"], [b"SADD", b"s1", *[b"m"] * 200], [b"SADD", b"s2", b"1", *[b"a"] * 200],
              [b"SADD", b"s3", b"a"], [b"SADD", b"s3", *[b"b"] * 200], [b"SADD", b"s4", b"1"],
              [b"SADD", b"s4", *[b"2"] * 600], [b"HSET", b"h1", *[b"f", b"v"] * 600], [b"HSET", b"h2", b"a", b"1"],
              [b"HSET", b"h2", *[b"f", b"v"] * 600], [b"ZADD", b"z1", *[b"1", b"m"] * 200],
              [b"ZADD", b"z2", b"1", b"a"], [b"ZADD", b"z2", *[b"1", b"m"] * 200],
              [b"ZADD", b"z3", b"XX", *[b"1", b"m"] * 200]]
    keys = [b"s1", b"s2", b"s3", b"s4", b"h1", b"h2", b"z1", b"z2"]
    _same(pair, script + [[b"OBJECT", b"ENCODING", k] for k in keys] + [[b"EXISTS", b"z3"]])


def test_a_string_is_embedded_by_its_key_and_value_lengths(pair):
    """Redis 8 and Valkey keep a short string in the object that holds its key: whether it fits depends on the key's
    length and the TTL's room too (Valkey 9: up to a 128-byte object); before 8, on the value's length alone."""
    commands = []
    for key_length in (1, 10, 40, 100):
        for length in (1, 3, 11, 23, 24, 31, 32, 33, 40, 41, 44, 45, 63, 64, 71, 72, 95, 96, 103, 104, 112, 113):
            for ttl in ([], [b"EX", b"1000"]):
                key = (b"t" if ttl else b"k") * key_length
                commands += [[b"SET", key, b"v" * length, *ttl], [b"OBJECT", b"ENCODING", key]]
    _same(pair, commands)
