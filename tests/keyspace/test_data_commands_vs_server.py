"""The data commands serve gained for issue 14 (the SCAN family, SORT, ZUNION/ZINTER/ZDIFF, the
cardinality commands, ...) against a real Redis 7.0: each script, sent raw to the server and run in
the engine, gets the same replies (errors included) and leaves the same keyspace. Where Redis's
answer depends on its hash tables (a large collection's SCAN order), what is compared is what a
client may rely on: every member comes back, and the walk ends."""

from __future__ import annotations

import codecs
import time

import pytest

from rdbtools.keyspace.commands import CommandError
from rdbtools.keyspace.engine import Engine
from rdbtools.rdb.targets import target_for
from tests.compat.generator import read_back
from tests.expected_shape import compare, shape_records
from tests.keyspace.test_engine_vs_server import normalized
from tests.resp_client import RawClient
from tests.servers import SERVERS, start_server

SERVER = "redis-7.0"


@pytest.fixture(scope="module")
def server():
    with start_server(SERVER) as running:
        yield running


def _words(line: str) -> list[bytes]:
    """Words split at spaces, '' an empty one, \\xNN escapes as their bytes."""
    return [codecs.escape_decode(w)[0] if w != "''" else b"" for w in line.split()]


def _flat(reply):
    """A map reply (RESP3 form in the engine) as the flat array a RESP2 client reads."""
    if isinstance(reply, dict):
        return [_flat(x) for pair in reply.items() for x in pair]
    if isinstance(reply, list):
        return [_flat(x) for x in reply]
    return reply


def run_both(server, script: list[str], engine: Engine | None = None) -> tuple[list, Engine, RawClient]:
    """Each line to Redis and to the engine; the mismatches (line, ours, theirs)."""
    client = RawClient(server.port)
    client.call([b"FLUSHALL"])
    engine = engine or Engine(loading=False, target=target_for(SERVER))
    mismatches = []
    for line in script:
        args = _words(line)
        theirs = normalized(client.call(args))
        try:
            ours = normalized(_flat(engine.execute(args)))
        except CommandError as error:
            ours = normalized(error)
        if ours != theirs:
            mismatches.append((line, ours, theirs))
    return mismatches, engine, client


def assert_same(server, script: list[str], name: str = SERVER) -> None:
    mismatches, engine, client = run_both(server, script, Engine(loading=False, target=target_for(name)))
    client.sock.close()
    assert mismatches == []
    spec = SERVERS[name]
    assert compare(shape_records(engine.keyspace.records()), read_back(server.port, spec),
                   now_ms=int(time.time() * 1000), expire_tolerance_ms=2000) == []


SCANS = {
    "scan_of_a_compact_hash_returns_it_whole_in_insertion_order": [
        "HSET h b 1 a 2 c 3", "HSET h b 9", "HSCAN h 0", "HSCAN h 0 COUNT 1", "HSCAN h 5 MATCH [ab]",
        "HSCAN h 0 MATCH *", "HSCAN h 0 match x* count 100"],
    "scan_cursors_are_read_as_strtoul_reads_them": [
        "HSET h a 1", "HSCAN h -1", "HSCAN h ''", "HSCAN h +3", "HSCAN h 007", "HSCAN h x", "HSCAN h 1x",
        "HSCAN h 18446744073709551615", "HSCAN h 18446744073709551616", "HSCAN h -", "SSCAN h ' 1'"],
    "scan_options_are_checked_only_when_the_key_exists": [
        "HSCAN missing 0 FOO", "HSCAN missing x", "HSET h a 1", "HSCAN h 0 FOO", "HSCAN h 0 COUNT 0",
        "HSCAN h 0 COUNT -1", "HSCAN h 0 COUNT x", "HSCAN h 0 COUNT", "HSCAN h 0 MATCH", "HSCAN h 0 NOVALUES",
        "HSCAN h 0 TYPE string", "SET s x", "HSCAN s 0", "SSCAN s 0", "ZSCAN s 0 FOO"],
    "sscan_of_an_intset_returns_the_integers_sorted": [
        "SADD s 10 -3 7 0 9223372036854775807", "SSCAN s 0", "SSCAN s 0 MATCH 1*", "SSCAN s 0 COUNT 2"],
    "zscan_of_a_compact_zset_returns_members_by_score_with_17_digit_scores": [
        "ZADD z 0.1 m 2.5 n 1e20 o 3 a -0.5 b inf c -inf d", "ZSCAN z 0", "ZSCAN z 0 MATCH [mn]", "ZSCAN z 0 COUNT 1"],
}

SORTS = {
    "sort_orders_numbers_and_breaks_ties_by_the_element": [
        "RPUSH l 3 1 2 10 -1 1.5 01 ' 2' ''", "SORT l", "SORT l DESC", "SORT l LIMIT 1 2", "SORT l LIMIT -1 2",
        "SORT l LIMIT 10 2", "SORT l LIMIT 0 0", "SORT l LIMIT 2 -1", "RPUSH l2 0x10 inf -inf", "SORT l2"],
    "sort_refuses_elements_that_are_not_numbers": [
        "RPUSH l 1 b", "SORT l", "RPUSH l2 '1 '", "SORT l2", "RPUSH l3 nan", "SORT l3", "RPUSH l4 1e400",
        "SORT l4", "SORT l ALPHA", "SORT l ALPHA DESC"],
    "sort_options_are_parsed_before_the_key_is_looked_up": [
        "SET str x", "SORT str", "SORT str FOO", "SORT str LIMIT 1 x", "SORT str LIMIT 1", "SORT missing",
        "SORT missing STORE str", "EXISTS str", "SORT_RO l STORE x", "SORT str BY", "SORT str GET"],
    "sort_by_a_pattern_weighs_elements_by_other_keys_and_hash_fields": [
        "RPUSH l 3 1 2 10", "MSET w_3 5 w_1 4 w_2 3 w_10 x", "SORT l BY w_*", "SET w_10 2", "SORT l BY w_*",
        "SORT l BY w_* DESC LIMIT 1 2", "HSET h_1 f 9 g a", "HSET h_2 f 8 g b", "SORT l BY h_*->f",
        "SORT l BY h_*->f GET h_*->g GET # GET w_*", "SORT l BY h_*-> GET h_*->", "SORT l BY h_*->g ALPHA",
        "SORT l BY missing_* GET # GET nostar", "SORT l BY w_*->f", "SORT l GET h_*->f GET h_*->nofield"],
    "sort_by_a_constant_keeps_the_stored_order": [
        "RPUSH l 3 1 2 10 -1", "SORT l BY nosort", "SORT l BY nosort DESC", "SORT l BY nosort LIMIT 1 3",
        "SORT l BY nosort DESC LIMIT 1 3", "SORT l BY nosort LIMIT 9 3", "ZADD z 3 a 1 b 2 c 0 d",
        "SORT z BY nosort", "SORT z BY nosort DESC LIMIT 1 2", "SORT z BY nosort LIMIT 2 5",
        "SADD s 5 3 9", "SORT s BY nosort", "SORT s BY nosort DESC"],
    "sort_store_writes_a_list_and_an_empty_result_deletes_it": [
        "RPUSH l 3 1 2", "SET w_1 x", "SORT l STORE dst", "LRANGE dst 0 -1", "SORT l GET # GET w_* STORE dst",
        "LRANGE dst 0 -1", "SET dst2 v EX 100", "SORT l STORE dst2", "TTL dst2", "SORT l LIMIT 5 1 STORE dst",
        "EXISTS dst", "SORT l STORE l", "LRANGE l 0 -1"],
    "sort_store_of_a_set_by_a_constant_sorts_it_alphabetically": [
        "SADD s b a c 10 2", "SORT s BY nosort STORE d", "LRANGE d 0 -1", "SORT s BY nosort GET # STORE d",
        "LRANGE d 0 -1", "SORT s ALPHA", "SORT s ALPHA DESC LIMIT 0 2", "ZADD z 2 b 1 a", "SORT z ALPHA",
        "SORT_RO z ALPHA DESC"],
}

COMBINATIONS = {
    "zunion_zinter_zdiff_reply_with_what_their_store_forms_store": [
        "ZADD z1 1 a 2 b 3 c", "ZADD z2 10 b 20 c 30 d", "SADD s1 a d x", "ZUNION 2 z1 z2", "ZUNION 2 z1 z2 WITHSCORES",
        "ZUNION 3 z1 z2 s1 WEIGHTS 1 0.5 2 AGGREGATE MAX WITHSCORES", "ZINTER 2 z1 z2 WITHSCORES",
        "ZINTER 2 z1 s1 AGGREGATE MIN WITHSCORES", "ZDIFF 2 z1 z2 WITHSCORES", "ZDIFF 1 missing",
        "ZINTER 1 z1 WITHSCORES WITHSCORES", "ZADD z3 0.1 a 0.2 b", "ZUNION 2 z3 z3 WITHSCORES",
        "ZUNION 2 z1 z2 WEIGHTS 1 inf WITHSCORES", "ZUNION 2 z1 z2 WEIGHTS 0 0 WITHSCORES"],
    "zunion_zinter_zdiff_refuse_what_redis_refuses": [
        "ZADD z1 1 a", "SET str x", "ZDIFF 2 z1 z1 WEIGHTS 1 1", "ZDIFF 2 z1 z1 AGGREGATE MAX", "ZUNION 0 z1",
        "ZUNION 3 z1 z1", "ZUNION x z1", "ZUNIONSTORE d 1 z1 WITHSCORES", "ZUNION 2 missing str",
        "ZUNION 2 z1 str WITHSCORES FOO", "ZUNION 1 z1 WEIGHTS x", "ZUNION 1 z1 AGGREGATE AVG", "ZINTER 1 z1 FOO"],
    "intercard_counts_up_to_its_limit": [
        "ZADD z1 1 a 2 b 3 c", "ZADD z2 10 b 20 c 30 d", "SADD s1 a b c x", "SADD s2 a x y", "ZINTERCARD 2 z1 z2",
        "ZINTERCARD 2 z1 s1 LIMIT 1", "ZINTERCARD 2 z1 z2 LIMIT 0", "ZINTERCARD 1 z1 LIMIT 9",
        "ZINTERCARD 2 z1 missing", "SINTERCARD 2 s1 s2", "SINTERCARD 2 s1 s2 LIMIT 1", "SINTERCARD 1 s1 LIMIT 0",
        "SINTERCARD 1 s1 LIMIT 1 LIMIT 3", "SINTERCARD 2 s1 missing"],
    "intercard_refuses_what_redis_refuses": [
        "ZADD z1 1 a", "SADD s1 a", "SET str x", "ZINTERCARD 2 z1 z1 LIMIT -1", "ZINTERCARD 2 z1 z1 LIMIT x",
        "ZINTERCARD 2 z1 z1 LIMIT", "ZINTERCARD 2 z1 z1 FOO 1", "ZINTERCARD 0 z1", "ZINTERCARD -1 z1",
        "ZINTERCARD 3 z1 z1", "ZINTERCARD 2 missing str", "ZINTERCARD 1 z1 WEIGHTS 1", "SINTERCARD 2 s1 z1",
        "SINTERCARD 2 s1 s1 LIMIT -1", "SINTERCARD 2 s1 s1 LIMIT x", "SINTERCARD 0 s1", "SINTERCARD x s1",
        "SINTERCARD 3 s1 s1", "SINTERCARD 2 s1 s1 FOO", "SINTERCARD 2 missing str", "SINTERCARD 2 str missing",
        "SINTERCARD 2 s1 s1 LIMIT"],
    "scores_are_replied_with_17_digits_as_redis_7_0_does": [
        "ZADD z 0.1 a 1e20 b -0.0 c 123456789.123 d", "ZSCORE z a", "ZRANGE z 0 -1 WITHSCORES", "ZINCRBY z 0.2 a",
        "ZMSCORE z a b c", "ZADD z INCR 0.1 d", "ZPOPMIN z", "ZMPOP 1 z MAX COUNT 2", "ZADD z b 1", "ZADD z 0x1p3 e",
        "ZADD z 1p3 e"],
}


LISTS_AND_STREAMS = {
    "lpos_finds_by_rank_count_and_maxlen_from_either_end": [
        "RPUSH l a b c a b c a", "LPOS l a", "LPOS l a RANK 2", "LPOS l a RANK -1", "LPOS l a RANK -2",
        "LPOS l a COUNT 0", "LPOS l a COUNT 2", "LPOS l a RANK -1 COUNT 0", "LPOS l a RANK 2 COUNT 2 MAXLEN 4",
        "LPOS l a MAXLEN 1", "LPOS l a RANK -1 MAXLEN 1", "LPOS l a RANK -1 MAXLEN 2 COUNT 0", "LPOS l z",
        "LPOS l z COUNT 1", "LPOS l a RANK 9 COUNT 0", "LPOS l a RANK -9223372036854775808",
        "LPOS l a RANK -9223372036854775808 COUNT 1", "LPOS l a RANK 9223372036854775807"],
    "lpos_checks_its_options_before_the_key": [
        "RPUSH l a", "SET str x", "LPOS missing a", "LPOS missing a COUNT 1", "LPOS missing a RANK 0",
        "LPOS l a RANK 0", "LPOS l a RANK x", "LPOS l a COUNT -1", "LPOS l a COUNT x", "LPOS l a MAXLEN -1",
        "LPOS l a MAXLEN x", "LPOS l a FOO 1", "LPOS l a RANK", "LPOS str a", "LPOS str a COUNT 1",
        "LPOS str a RANK 0"],
    "xadd_and_xtrim_trim_exactly_by_minid_and_maxlen": [
        "XADD s 1-1 f v", "XADD s 2-1 f v", "XADD s 3-1 f v", "XADD s MINID 2 4-1 f v", "XADD s MINID = 2-1 5-1 f v",
        "XADD s NOMKSTREAM MINID 3 6-1 f v", "XADD s MINID 3 NOMKSTREAM 7-1 f v", "XADD s2 NOMKSTREAM MINID 5 1-1 f v",
        "XTRIM s MINID 5", "XTRIM s MAXLEN = 2", "XTRIM s MAXLEN 5", "XTRIM missing MAXLEN 0", "XRANGE s - +",
        "XLEN s"],
    "xadd_and_xtrim_options_are_refused_as_redis_refuses_them": [
        "XADD s 1-1 f v", "XADD s MAXLEN = 1 LIMIT 10 8-1 f v", "XADD s MAXLEN 1 LIMIT 10 9-1 f v",
        "XADD s LIMIT 10 MAXLEN 1 9-1 f v", "XADD s LIMIT 10 9-1 f v", "XADD s LIMIT -1 MAXLEN ~ 1 9-1 f v",
        "XADD s MAXLEN 1 MINID 1 9-1 f v", "XADD s LIMIT 0 9-1 f v", "XADD s LIMIT 10 MAXLEN 1 foo f v",
        "XADD s MAXLEN 1 foo f", "XADD s LIMIT 10 1-* f v", "XADD s MAXLEN 1 x-* f v", "XADD s MINID 5 LIMIT",
        "XADD s MAXLEN -1 2-1 f v", "XADD s MINID x 2-1 f v", "XTRIM s LIMIT 5", "XTRIM s FOO", "XTRIM s MAXLEN",
        "XTRIM s MAXLEN = 0 LIMIT 5", "XTRIM s MINID x", "XTRIM s MAXLEN -1", "XTRIM s LIMIT 0 MINID 4",
        "XTRIM s MINID 1 MAXLEN 1", "XRANGE s - +"],
    "xgroup_create_and_setid_take_entriesread_and_refuse_other_options": [
        "XADD s 1-1 f v", "XADD s 2-1 f v", "XGROUP CREATE s g 0 ENTRIESREAD 1", "XGROUP CREATE s g2 $ ENTRIESREAD -1",
        "XGROUP CREATE s g3 0 ENTRIESREAD x", "XGROUP CREATE s g4 0 ENTRIESREAD -5",
        "XGROUP SETID s g 0 ENTRIESREAD -5",
        "XGROUP CREATE s g5 0 ENTRIESREAD", "XGROUP CREATE s g6 0 FOO", "XGROUP CREATE s g6 0 MKSTREAM FOO",
        "XGROUP CREATE s g6 0 ENTRIESREAD 1 MKSTREAM", "XGROUP CREATE new g 0 ENTRIESREAD 0 MKSTREAM",
        "XGROUP CREATE new2 g 0 ENTRIESREAD 1", "XGROUP SETID s g 0 FOO", "XGROUP SETID s g 0 MKSTREAM",
        "XGROUP SETID s g 1-1 ENTRIESREAD 1", "XGROUP SETID s nogroup 0 ENTRIESREAD 1",
        "XGROUP CREATE s g9 0 ENTRIESREAD 5", "XGROUP SETID s g 0 ENTRIESREAD 7",  # Redis 8 holds them to 2
        "XINFO GROUPS s", "XADD s 3-1 f v", "XDEL s 2-1", "XINFO GROUPS s", "XGROUP SETID s g 3-1", "XINFO GROUPS s",
        "XGROUP CREATE s g8 $", "XINFO GROUPS s", "XGROUP CREATE s g7 1-1", "XINFO GROUPS s"],
}


STRING_SCANS = {
    "bitcount_counts_bytes_or_bits_with_clamped_ranges": [
        "SET k foobar", "BITCOUNT k", "BITCOUNT k 0 0", "BITCOUNT k 1 1", "BITCOUNT k 1 -1", "BITCOUNT k -2 -1",
        "BITCOUNT k -1 -2", "BITCOUNT k 5 30", "BITCOUNT k 0 100 BIT", "BITCOUNT k 1 12 bit", "BITCOUNT k -5 -1 BIT",
        "BITCOUNT k 3 1 BIT", "BITCOUNT k -100 100 BYTE", "SET z ''", "BITCOUNT z", "BITCOUNT z 0 -1"],
    "bitcount_looks_the_key_up_before_its_range": [
        "SET k foobar", "RPUSH l a", "BITCOUNT k 0 0 FOO", "BITCOUNT k 0", "BITCOUNT k x 1", "BITCOUNT missing x",
        "BITCOUNT missing 0 1 FOO", "BITCOUNT k 0 1 BIT extra", "BITCOUNT l", "BITCOUNT l x"],
    "bitpos_finds_the_first_bit_in_byte_or_bit_ranges": [
        "SET b \\xff\\xf0\\x00", "BITPOS b 0", "BITPOS b 1", "BITPOS b 1 2", "BITPOS b 0 0 0", "BITPOS b 0 0",
        "BITPOS b 1 7 15 BIT", "BITPOS b 0 7 15 BIT", "BITPOS b 0 0 11 BIT", "BITPOS b 0 0 3 BIT",
        "BITPOS b 1 16 23 BIT", "BITPOS b 0 -1", "BITPOS b 1 -1", "BITPOS b 0 5 3", "BITPOS b 1 -100 100",
        "SET ones \\xff\\xff", "BITPOS ones 0", "BITPOS ones 0 0 -1", "BITPOS ones 0 0 8 BIT", "BITPOS ones 0 3 BIT",
        "BITPOS ones 1 3 BIT", "BITPOS ones 0 1", "SET z ''", "BITPOS z 0", "BITPOS z 1"],
    "bitpos_checks_the_bit_then_the_key_then_the_range": [
        "SET b \\xff", "RPUSH l a", "BITPOS b 2", "BITPOS b x", "BITPOS missing 1", "BITPOS missing 0",
        "BITPOS missing 0 x", "BITPOS missing 2", "BITPOS l 0", "BITPOS b 0 0 1 FOO", "BITPOS b 0 0 1 BIT x",
        "BITPOS b 0 x", "BITPOS b 0 0 x BIT", "BITPOS b 0 0 x FOO"],
    "lcs_answers_the_subsequence_its_length_or_its_matches": [
        "SET a1 ohmytext", "SET a2 mynewtext", "LCS a1 a2", "LCS a1 a2 LEN", "LCS a1 a2 IDX",
        "LCS a1 a2 IDX MINMATCHLEN 4", "LCS a1 a2 IDX MINMATCHLEN 4 WITHMATCHLEN",
        "LCS a1 a2 IDX WITHMATCHLEN MINMATCHLEN -1", "LCS a1 missing", "LCS missing other IDX", "SET c1 ABCBDAB",
        "SET c2 BDCABA", "LCS c1 c2", "LCS c1 c2 IDX WITHMATCHLEN", "LCS c2 c1 IDX", "SET n 12345", "SET m 2 4",
        "LCS n n IDX WITHMATCHLEN", "LCS a1 a2 WITHMATCHLEN", "LCS a1 a2 MINMATCHLEN 100"],
    "lcs_refuses_what_redis_refuses": [
        "SET a1 x", "RPUSH l a", "LCS a1 a1 LEN IDX", "LCS a1 a1 FOO", "LCS a1 a1 MINMATCHLEN",
        "LCS a1 a1 MINMATCHLEN x", "LCS a1 l", "LCS l a1 FOO", "LCS missing l"],
}


@pytest.mark.parametrize("script", [*SCANS.values(), *SORTS.values(), *COMBINATIONS.values(),
                                    *LISTS_AND_STREAMS.values(), *STRING_SCANS.values()],
                         ids=[*SCANS, *SORTS, *COMBINATIONS, *LISTS_AND_STREAMS, *STRING_SCANS])
def test_scripts_get_the_replies_and_keyspace_redis_gives(server, script):
    assert_same(server, script)


def _walk(call, command: list[bytes], between=None) -> list[bytes]:
    """A whole cursor walk; ``between`` runs after each step (changes made while walking)."""
    found, cursor, steps = [], b"0", 0
    while True:
        cursor, batch = call([command[0], command[1], cursor, *command[2:]])
        found += batch
        steps += 1
        if between is not None:
            between(steps)
        if cursor == b"0":
            return found
        assert steps < 10_000


@pytest.mark.parametrize("fill,scan,step", [
    ("HSET", b"HSCAN", 2), ("SADD", b"SSCAN", 1), ("ZADD", b"ZSCAN", 2)])
def test_a_large_collection_is_walked_whole_in_batches(server, fill, scan, step):
    """A hash table's walk: about COUNT per call, every member once, MATCH filtering each batch."""
    members = [b"member:%d" % i for i in range(700)]
    pairs = [x for m in members for x in ((m, b"1") if fill != "ZADD" else (b"1", m))]
    script = [[fill.encode(), b"k", *(members if fill == "SADD" else pairs)]]
    client = RawClient(server.port)
    client.call([b"FLUSHALL"])
    engine = Engine(loading=False, target=target_for(SERVER))
    for args in script:
        client.call(args)
        engine.execute(args)
    for options in ([b"COUNT", b"7"], [b"MATCH", b"member:1*", b"COUNT", b"50"], []):
        theirs = _walk(client.call, [scan, b"k", *options])
        ours = _walk(engine.execute, [scan, b"k", *options])
        assert sorted(ours[::step]) == sorted(set(theirs[::step]))  # Redis may repeat one; we never do
        batches = []
        engine_cursor = b"0"
        while True:
            engine_cursor, batch = engine.execute([scan, b"k", engine_cursor, *options])
            batches.append(len(batch))
            if engine_cursor == b"0":
                break
        if options == [b"COUNT", b"7"]:
            assert max(batches) <= 7 * step and len(batches) >= 700 // 7
    client.sock.close()


def test_members_present_for_the_whole_walk_are_all_returned_despite_changes(server):
    """Members added and removed while walking do not hide the others, on Redis as here."""
    kept = [b"keep:%d" % i for i in range(400)]
    changing = [b"tmp:%d" % i for i in range(400)]
    client = RawClient(server.port)
    client.call([b"FLUSHALL"])
    engine = Engine(loading=False, target=target_for(SERVER))
    for execute in (client.call, engine.execute):
        execute([b"SADD", b"s", *kept, *changing])

        def churn(step: int, execute=execute) -> None:
            execute([b"SREM", b"s", changing[step % 400]])
            execute([b"SADD", b"s", b"new:%d" % step])

        found = set(_walk(execute, [b"SSCAN", b"s", b"COUNT", b"5"], churn))
        assert set(kept) <= found
    client.sock.close()


RANDOM_ERRORS = [
    "ZADD z 1 a", "HSET h f v", "ZRANDMEMBER missing", "ZRANDMEMBER missing 5", "ZRANDMEMBER missing x",
    "ZRANDMEMBER missing 1 FOO", "ZRANDMEMBER z 0", "ZRANDMEMBER z x", "ZRANDMEMBER z 1 FOO",
    "ZRANDMEMBER z 1 WITHSCORES x", "ZRANDMEMBER z -9223372036854775808",
    "ZRANDMEMBER z 9223372036854775807 WITHSCORES",
    "ZRANDMEMBER z -4611686018427387904 WITHSCORES", "ZRANDMEMBER h", "ZRANDMEMBER h 1", "HRANDFIELD missing",
    "HRANDFIELD missing -3", "HRANDFIELD h 0", "HRANDFIELD h 1 WITHSCORES", "HRANDFIELD z",
    "HRANDFIELD h -9223372036854775808", "HRANDFIELD h 4611686018427387904 WITHVALUES"]


def test_random_member_commands_refuse_and_answer_empty_as_redis_does(server):
    assert_same(server, RANDOM_ERRORS)


@pytest.mark.parametrize("size", [5, 300])  # a listpack, and a hash table
@pytest.mark.parametrize("command,fill", [(b"ZRANDMEMBER", b"ZADD"), (b"HRANDFIELD", b"HSET")])
def test_random_members_have_the_shape_redis_gives(server, size, command, fill):
    """Chance can't be compared: how many come back, whether they repeat, that they belong with their
    scores / values; the whole collection (a count past its size) in Redis's order when compact."""
    pairs = [(b"%d" % i, b"m%d" % i) if fill == b"ZADD" else (b"f%d" % i, b"%d" % i) for i in range(size)]
    flag = b"WITHSCORES" if command == b"ZRANDMEMBER" else b"WITHVALUES"
    client = RawClient(server.port)
    client.call([b"FLUSHALL"])
    engine = Engine(loading=False, target=target_for(SERVER))
    fill_args = [fill, b"k", *[x for p in pairs for x in p]]
    client.call(fill_args)
    engine.execute(fill_args)
    for count in (1, 3, -7, size, size + 10, -(size + 10)):
        for options in ([], [flag]):
            args = [command, b"k", b"%d" % count, *options]
            theirs, ours = client.call(args), engine.execute(args)
            assert _shape(ours, count, bool(options)) == _shape(theirs, count, bool(options)), args
            if count >= size and size <= 128:
                assert ours == theirs, args
    single = engine.execute([command, b"k"])
    assert isinstance(single, bytes) and isinstance(client.call([command, b"k"]), bytes)
    client.sock.close()


def _shape(reply: list, count: int, paired: bool) -> tuple:
    """Length, distinctness, the pairing (each member with one score/value) and the member set."""
    members = reply[::2] if paired else reply
    pairing = len(dict(zip(reply[::2], reply[1::2], strict=True))) if paired else None
    distinct = len(set(members)) == len(members)
    return len(reply), distinct if count > 0 else None, pairing if count > 0 else None, \
        sorted(set(members)) if count >= 100 else len(set(members)) <= len(members)


ALL_SCRIPTS = {**SCANS, **SORTS, **COMBINATIONS, **LISTS_AND_STREAMS, **STRING_SCANS}


NEWER_ONLY = {  # what Redis 7.0 has not (NOVALUES) or answers in hash order (small sets are listpacks from 7.2)
    "hscan_novalues_leaves_the_values_out": [
        "HSET h a 1 b 2", "HSCAN h 0 NOVALUES", "HSCAN h 0 MATCH a NOVALUES COUNT 5", "SADD s x", "SSCAN s 0 NOVALUES",
        "ZADD z 1 m", "ZSCAN z 0 NOVALUES", "HSCAN missing 0 NOVALUES"],
    "sscan_of_a_listpack_set_keeps_insertion_order": [
        "SADD s b a c", "SREM s a", "SADD s a", "SSCAN s 0", "SSCAN s 0 MATCH [ab]", "SORT s BY nosort",
        "SORT s BY nosort DESC"],
}


@pytest.mark.parametrize("name", ["redis-8.2", "valkey-8.1", "valkey-9.1"])
def test_newer_servers_answer_the_scripts_as_serve_does_for_them(name):
    """Where versions differ serve follows its target: SCAN cursors and LPOS ranks refused, BITCOUNT's
    and BITPOS's ranges read before the key, SORT's weights read by Redis 8's and Valkey 9's rules,
    scores printed shortest, Valkey's BITCOUNT key start."""
    with start_server(name) as running:
        for title, script in {**ALL_SCRIPTS, **NEWER_ONLY}.items():
            try:
                assert_same(running, script, name)
            except AssertionError as error:
                raise AssertionError(f"{title}: {error}") from None


@pytest.mark.parametrize("name", ["redis-6.2", "redis-7.0", "valkey-8.1"])
def test_set_takes_nx_with_get_from_redis_7_0_and_reads_expiry_times_after_its_options(name):
    with start_server(name) as running:
        assert_same(running, ["SET a 1 NX GET", "SET a 1 GET NX", "SET b 1 NX GET", "SET a 2 XX GET",
                              "SET a 3 GET GET", "SET a 4 NX NX", "SET c 5 GET NX EX 10", "SET a 6 GET",
                              "SET a 7 EX 0 BAD", "SET a 8 EX x NX GET", "SET a 9 EX 0 NX GET",
                              "SET a 1 PX 9223372036854775000", "SET a 1 EXAT 9223372036854776",
                              "SET a 1 EX 9223372036854775", "SET a 1 PXAT 9223372036854775807", "TTL a",
                              "GETEX a PX 9223372036854775000", "GETEX a EXAT 9223372036854776", "GETEX a EX 0",
                              "GETEX a EXAT 9223372036854775", "TTL a", "GETEX a EX 5 BAD"], name)


@pytest.mark.parametrize("name", ["redis-7.0", "redis-8.2", "valkey-9.1"])
def test_expire_refuses_times_past_64_bit_milliseconds_before_looking_at_the_key(name):
    with start_server(name) as running:
        assert_same(running, ["SET a 1", "EXPIRE missing 9223372036854775807", "EXPIRE a 9223372036854775",
                              "EXPIRE a 9223372036854776", "EXPIRE a -9223372036854776",
                              "PEXPIRE a 9223372036854775000",
                              "EXPIREAT a 9223372036854775", "PEXPIREAT a 9223372036854775807", "TTL a",
                              "EXPIRE a -9223372036854775 NX", "EXISTS a"], name)
