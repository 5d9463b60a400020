"""The keyspace engine against a real Redis 7.0: the same random command sequences, sent raw, give the
same replies (errors included) and leave the same keyspace."""

from __future__ import annotations

import time

import hiredis
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from rdbtools.keyspace.commands import NULL_ARRAY, CommandError, Double, format_double
from rdbtools.keyspace.engine import Engine
from rdbtools.rdb.targets import target_for
from tests.compat.generator import read_back
from tests.expected_shape import compare, shape_records, without_delivery_times
from tests.resp_client import RawClient
from tests.servers import SERVERS, start_server

SERVER = "redis-7.0"
KEYS = [b"a", b"b", b"c"]
VALUES = [b"1", b"2", b"10", b"-3", b"x", b"yy", b"", b"3.5", b"0", b"9223372036854775807"]
FAR_MS = 4102444800000


def normalized(reply):
    """Replies of both sides in one form: errors as ("error", text), statuses as bytes."""
    if reply is NULL_ARRAY:  # hiredis reads *-1 as None too
        return None
    if isinstance(reply, Double):  # a RESP2 client reads its text
        return reply.text or format_double(reply)
    if isinstance(reply, hiredis.ReplyError | CommandError):
        return ("error", str(reply))
    if isinstance(reply, str):
        return reply.encode()
    if isinstance(reply, list):
        return [normalized(r) for r in reply]
    if isinstance(reply, dict):  # a map (the engine's RESP3 form) as a RESP2 client reads it
        return [normalized(x) for pair in reply.items() for x in pair]
    return reply


def both_replies(client: RawClient, engine: Engine, args: list[bytes]) -> tuple[object, object]:
    """The engine's and the real server's replies to one command, normalized (errors as values)."""
    theirs = normalized(client.call(args))
    try:
        ours = normalized(engine.execute(args))
    except CommandError as error:
        ours = normalized(error)
    return ours, theirs


key, value = st.sampled_from(KEYS), st.sampled_from(VALUES)
small = st.integers(-3, 6).map(lambda n: b"%d" % n)
member = st.sampled_from([b"m1", b"m2", b"m3", b"m4"])
score = st.sampled_from([b"1", b"2.5", b"-1", b"0", b"inf", b"-inf", b"1e3", b"x",
                         b"0x10", b"1e400", b"1e-400", b"0e-400", b"1_0", b" 1", b"2 "])  # strtod's edges
stream_id = st.tuples(st.integers(1, 4), st.integers(0, 2)).map(lambda t: b"%d-%d" % t)


def _c(*parts):
    return st.tuples(*[p if isinstance(p, st.SearchStrategy) else st.just(p) for p in parts]).map(list)


def _opt(*choices):
    return st.sampled_from([[], *[list(c) for c in choices]])


COMMANDS = st.one_of(
    # strings
    st.tuples(_c(b"SET", key, value), _opt([b"NX"], [b"XX"], [b"GET"], [b"KEEPTTL"], [b"PXAT", b"%d" % FAR_MS],
                                           [b"NX", b"GET"], [b"EX", b"0"])).map(lambda t: t[0] + t[1]),
    _c(b"SETNX", key, value), _c(b"SETEX", key, st.sampled_from([b"1000", b"0", b"-1"]), value),
    _c(b"MSET", key, value, key, value), _c(b"MSETNX", key, value, key, value), _c(b"APPEND", key, value),
    _c(b"SETRANGE", key, small, value), _c(b"GETRANGE", key, small, small), _c(b"INCR", key),
    _c(b"INCRBY", key, st.sampled_from(VALUES)), _c(b"DECRBY", key, small), _c(b"INCRBYFLOAT", key, score),
    _c(b"GETSET", key, value), _c(b"GETDEL", key), _c(b"GETEX", key, st.sampled_from([b"PERSIST", b"FOO"])),
    _c(b"SETBIT", key, st.integers(0, 40).map(lambda n: b"%d" % n), st.sampled_from([b"0", b"1", b"2"])),
    _c(b"GETBIT", key, small), _c(b"STRLEN", key), _c(b"GET", key),
    _c(b"BITOP", st.sampled_from([b"AND", b"OR", b"XOR", b"NOT"]), key, key, key),
    _c(b"BITOP", b"NOT", key, key),
    st.tuples(_c(b"BITFIELD", key), st.lists(st.one_of(
        _c(b"SET", st.sampled_from([b"i8", b"u4", b"i5", b"u63", b"i64", b"u64"]),
           st.sampled_from([b"0", b"3", b"#1", b"#2"]), small),
        _c(b"INCRBY", st.sampled_from([b"i8", b"u4", b"i3"]), st.sampled_from([b"0", b"5", b"#1"]),
           st.sampled_from([b"1", b"100", b"-100"])),
        _c(b"GET", st.sampled_from([b"u8", b"i4"]), st.sampled_from([b"0", b"2"])),
        _c(b"OVERFLOW", st.sampled_from([b"WRAP", b"SAT", b"FAIL"]))), max_size=4)).map(
        lambda t: t[0] + [x for op in t[1] for x in op]),
    # keys
    _c(b"DEL", key, key), _c(b"EXISTS", key, key), _c(b"TYPE", key), _c(b"UNLINK", key),
    # (GT and LT with absolute times only: against a TTL set a millisecond earlier by a relative EXPIRE they
    # answer by whether the clock moved on, which differs between the engine and the server)
    st.tuples(_c(st.sampled_from([b"EXPIRE", b"PEXPIRE"]), key, st.sampled_from([b"100000", b"-5", b"x"])),
              _opt([b"NX"], [b"XX"], [b"NX", b"XX"], [b"FOO"])).map(lambda t: t[0] + t[1]),
    st.tuples(_c(b"PEXPIREAT", key, st.sampled_from([b"%d" % FAR_MS, b"%d" % (FAR_MS + 1)])),
              _opt([b"GT"], [b"LT"], [b"NX"], [b"XX"])).map(lambda t: t[0] + t[1]),
    _c(b"PERSIST", key),
    _c(b"RENAME", key, key), _c(b"RENAMENX", key, key), _c(b"MOVE", key, st.sampled_from([b"1", b"0", b"99"])),
    st.tuples(_c(b"COPY", key, key), _opt([b"REPLACE"], [b"DB", b"1"], [b"DB", b"1", b"REPLACE"])).map(
        lambda t: t[0] + t[1]),
    _c(b"SELECT", st.sampled_from([b"0", b"1"])), _c(b"SWAPDB", b"0", b"1"),
    # lists
    _c(st.sampled_from([b"RPUSH", b"LPUSH", b"RPUSHX", b"LPUSHX"]), key, value, value),
    _c(st.sampled_from([b"LPOP", b"RPOP"]), key), _c(st.sampled_from([b"LPOP", b"RPOP"]), key, small),
    _c(b"LSET", key, small, value), _c(b"LINSERT", key, st.sampled_from([b"BEFORE", b"AFTER", b"X"]), value, value),
    _c(b"LTRIM", key, small, small), _c(b"LREM", key, small, value), _c(b"LRANGE", key, small, small),
    _c(b"LINDEX", key, small), _c(b"LLEN", key),
    _c(b"LMOVE", key, key, st.sampled_from([b"LEFT", b"RIGHT"]), st.sampled_from([b"LEFT", b"RIGHT"])),
    _c(b"RPOPLPUSH", key, key), _c(b"LMPOP", b"2", key, key, st.sampled_from([b"LEFT", b"RIGHT"]), b"COUNT", small),
    # sets
    _c(b"SADD", key, member, value), _c(b"SREM", key, member, value), _c(b"SMOVE", key, key, member),
    _c(st.sampled_from([b"SINTERSTORE", b"SUNIONSTORE", b"SDIFFSTORE"]), key, key, key),
    _c(b"SCARD", key), _c(b"SISMEMBER", key, member),
    # sorted sets
    st.tuples(_c(b"ZADD", key), st.lists(st.sampled_from([b"NX", b"XX", b"GT", b"LT", b"CH", b"INCR"]), max_size=2,
                                         unique=True), st.lists(st.tuples(score, member), min_size=1, max_size=3)
              ).map(lambda t: t[0] + t[1] + [x for pair in t[2] for x in pair]),
    _c(b"ZINCRBY", key, score, member), _c(b"ZREM", key, member, member), _c(b"ZSCORE", key, member),
    _c(b"ZREMRANGEBYSCORE", key, st.sampled_from([b"-inf", b"(1", b"0"]), st.sampled_from([b"+inf", b"2", b"(3"])),
    _c(b"ZREMRANGEBYRANK", key, small, small),
    _c(b"ZREMRANGEBYLEX", key, st.sampled_from([b"-", b"[m2", b"(m1"]), st.sampled_from([b"+", b"[m3", b"x"])),
    _c(st.sampled_from([b"ZPOPMIN", b"ZPOPMAX"]), key), _c(st.sampled_from([b"ZPOPMIN", b"ZPOPMAX"]), key, small),
    st.tuples(_c(st.sampled_from([b"ZUNIONSTORE", b"ZINTERSTORE", b"ZDIFFSTORE"]), key, b"2", key, key),
              _opt([b"WEIGHTS", b"2", b"-1"], [b"AGGREGATE", b"MAX"], [b"AGGREGATE", b"MIN"])).map(
        lambda t: t[0] + t[1]),
    st.tuples(_c(b"ZRANGESTORE", key, key), st.sampled_from([[b"0", b"-1"], [b"(1", b"+inf", b"BYSCORE"],
                                                             [b"-", b"+", b"BYLEX", b"LIMIT", b"1", b"2"],
                                                             [b"5", b"0", b"BYSCORE", b"REV"]])).map(
        lambda t: t[0] + t[1]),
    _c(b"ZRANGE", key, b"0", b"-1", b"WITHSCORES"), _c(b"ZCARD", key),
    _c(b"ZMPOP", b"1", key, st.sampled_from([b"MIN", b"MAX"]), b"COUNT", small),
    _c(b"GEOADD", key, st.sampled_from([b"13.361389", b"-122.27652", b"181"]),
       st.sampled_from([b"38.115556", b"37.805186", b"-86"]), member),
    # hashes
    _c(b"HSET", key, member, value, member, value), _c(b"HMSET", key, member, value), _c(b"HSETNX", key, member, value),
    _c(b"HDEL", key, member, member), _c(b"HINCRBY", key, member, small), _c(b"HINCRBYFLOAT", key, member, score),
    _c(b"HGET", key, member), _c(b"HLEN", key),
    # streams
    st.tuples(_c(b"XADD", key), _opt([b"MAXLEN", b"=", b"2"], [b"NOMKSTREAM"], [b"MINID", b"2-0"]),
              _c(st.one_of(stream_id, st.just(b"0-0")), b"f", value)).map(lambda t: t[0] + t[1] + t[2]),
    _c(b"XDEL", key, stream_id, stream_id), _c(b"XTRIM", key, b"MAXLEN", small), _c(b"XTRIM", key, b"MINID", stream_id),
    _c(b"XLEN", key), _c(b"XRANGE", key, b"-", b"+"),
    st.tuples(_c(b"XGROUP", b"CREATE", key, st.sampled_from([b"g1", b"g2"]), st.sampled_from([b"0", b"$", b"2-0"])),
              _opt([b"MKSTREAM"])).map(lambda t: t[0] + t[1]),
    _c(b"XGROUP", b"SETID", key, b"g1", st.sampled_from([b"0", b"$", b"3-1"])),
    _c(b"XGROUP", b"DESTROY", key, b"g2"),
    _c(b"XGROUP", b"CREATECONSUMER", key, b"g1", st.sampled_from([b"c1", b"c2"])),
    _c(b"XGROUP", b"DELCONSUMER", key, b"g1", st.sampled_from([b"c1", b"c2"])),
    _c(b"XCLAIM", key, b"g1", st.sampled_from([b"c1", b"c2"]), b"0", stream_id, stream_id, b"TIME", b"1000",
       b"FORCE"),
    _c(b"XCLAIM", key, b"g1", st.sampled_from([b"c1", b"c2"]), b"0", stream_id, b"JUSTID"),
    _c(b"XACK", key, b"g1", stream_id, stream_id),
    _c(b"XAUTOCLAIM", key, b"g1", st.sampled_from([b"c1", b"c2"]), b"0", b"0-0", b"COUNT", b"2", b"JUSTID"),
    _c(b"XSETID", key, st.sampled_from([b"5-0", b"1-0"])),
    # scans of small collections (whole, in stored order), SORT, set algebra replies, LPOS, trims
    _c(st.sampled_from([b"HSCAN", b"ZSCAN"]), key, st.sampled_from([b"0", b"x", b"-1"]),
       st.sampled_from([b"COUNT", b"MATCH"]), st.sampled_from([b"1", b"m*", b"0"])),
    st.tuples(_c(st.sampled_from([b"SORT", b"SORT_RO"]), key),
              _opt([b"ALPHA"], [b"DESC"], [b"ALPHA", b"DESC", b"LIMIT", b"1", b"2"], [b"BY", b"nosort"],
                   [b"BY", b"*", b"GET", b"#", b"GET", b"*->m1"], [b"LIMIT", b"x", b"1"], [b"STORE", b"c"],
                   [b"ALPHA", b"STORE", b"b"], [b"BY", b"nosort", b"STORE", b"a"])).map(lambda t: t[0] + t[1]),
    st.tuples(_c(st.sampled_from([b"ZUNION", b"ZINTER", b"ZDIFF"]), b"2", key, key),
              _opt([b"WITHSCORES"], [b"WEIGHTS", b"2", b"-1", b"WITHSCORES"], [b"AGGREGATE", b"MAX", b"WITHSCORES"],
                   [b"FOO"])).map(lambda t: t[0] + t[1]),
    _c(st.sampled_from([b"ZINTERCARD", b"SINTERCARD"]), b"2", key, key, b"LIMIT", small),
    st.tuples(_c(b"LPOS", key, value), _opt([b"RANK", b"-1"], [b"RANK", b"2", b"COUNT", b"0"], [b"COUNT", b"2"],
                                            [b"MAXLEN", b"2", b"RANK", b"-2"], [b"RANK", b"0"])).map(
        lambda t: t[0] + t[1]),
    _c(b"XADD", key, b"MINID", stream_id, b"LIMIT", b"5", stream_id, b"f", value),
    _c(b"XTRIM", key, st.sampled_from([b"MINID", b"MAXLEN"]), b"=", st.sampled_from([b"1", b"2-0"])),
    _c(b"XGROUP", b"CREATE", key, b"g2", b"0", b"ENTRIESREAD", st.sampled_from([b"1", b"-1", b"-2"]), b"MKSTREAM"),
    st.tuples(_c(b"BITCOUNT", key), st.one_of(st.just([]), _c(small, small), _c(small, small, b"BIT"),
                                               _c(small, small, b"BYTE"), _c(small))).map(lambda t: t[0] + t[1]),
    st.tuples(_c(b"BITPOS", key, st.sampled_from([b"0", b"1", b"2"])),
              st.one_of(st.just([]), _c(small), _c(small, small), _c(small, small, b"BIT"),
                        _c(small, small, b"BYTE"))).map(lambda t: t[0] + t[1]),
    st.tuples(_c(b"LCS", key, key), _opt([b"LEN"], [b"IDX", b"WITHMATCHLEN"], [b"IDX", b"MINMATCHLEN", b"2"],
                                         [b"LEN", b"IDX"])).map(lambda t: t[0] + t[1]),
    _c(st.sampled_from([b"ZRANDMEMBER", b"HRANDFIELD"]), key, st.sampled_from([b"0", b"x", b"9"]),
       st.sampled_from([b"WITHSCORES", b"WITHVALUES"])),
    # the odd one out
    _c(st.sampled_from([b"FLUSHDB", b"FLUSHALL"])),
)

TIMING = {b"XAUTOCLAIM"}  # set delivery times to "now": compared apart from those


@pytest.fixture(scope="module")
def server():
    with start_server(SERVER) as running:
        yield running


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(commands=st.lists(COMMANDS, min_size=1, max_size=25))
# a list moved onto itself keeps its TTL: the engine used to pop the only element, delete the key, push again
@example(commands=[[b"RPUSH", b"b", b"1", b"1"], [b"LMOVE", b"b", b"a", b"LEFT", b"LEFT"],
                   [b"PEXPIREAT", b"a", b"%d" % (2**45)], [b"LMOVE", b"a", b"a", b"LEFT", b"LEFT"]])
def test_random_command_sequences_give_redis_replies_and_keyspace(server, commands):
    client = RawClient(server.port)
    client.call([b"FLUSHALL"])
    engine = Engine(loading=False, target=target_for(SERVER))
    for args in commands:
        ours, theirs = both_replies(client, engine, args)
        if args[0] not in TIMING:
            assert ours == theirs, f"{args!r}: engine {ours!r}, redis {theirs!r} (after {commands!r})"
    client.sock.close()
    mine = without_delivery_times(shape_records(engine.keyspace.records()))
    real = without_delivery_times(read_back(server.port, SERVERS[SERVER]))
    assert compare(mine, real, now_ms=int(time.time() * 1000), expire_tolerance_ms=2000,
                   consumer_times=False) == [], commands
