"""Stream trimming as Redis does it, on serve against the real server: approximate trimming (``~``) removes
only whole radix-tree nodes, and where nodes split follows from the appends and the stream-node-max-entries
and stream-node-max-bytes settings (CONFIG SET) of each append's time; LIMIT (by default 100 nodes' worth)
bounds the work; deletions leave flagged entries that still count towards a node's size. The same commands
go to both servers and every reply is compared byte for byte."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.resp_client import RawClient, RawReplies

TARGETS = ["redis-7.0", "redis-8.2", "valkey-9.1"]

_values = st.one_of(st.sampled_from([b"", b"1", b"-7", b"12345", b"9223372036854775808", b"v", b"x" * 70]),
                    st.integers(100, 1500).map(lambda n: b"y" * n))
_fields = st.lists(st.tuples(st.sampled_from([b"a", b"b", b"c"]), _values), min_size=1, max_size=3)
_trim = st.one_of(
    st.tuples(st.just(b"MAXLEN"), st.sampled_from([b"~", b"="]), st.integers(0, 20).map(b"%d".__mod__)),
    st.tuples(st.just(b"MINID"), st.sampled_from([b"~", b"="]), st.integers(0, 60).map(b"%d".__mod__)))
_limit = st.sampled_from([[], [], [b"LIMIT", b"0"], [b"LIMIT", b"1"], [b"LIMIT", b"7"], [b"LIMIT", b"30"]])
_add = st.tuples(st.just("add"), st.integers(0, 2), st.booleans(), _fields, st.one_of(st.none(), _trim), _limit)
_steps = st.one_of(
    _add, _add, _add, st.tuples(st.just("trim"), _trim, _limit),
    st.tuples(st.just("del"), st.integers(0, 60), st.integers(1, 3)),
    st.tuples(st.just("config"), st.sampled_from([0, 1, 2, 3, 4, 10, 100]),
              st.one_of(st.sampled_from([0, 4096]), st.integers(4096, 6000))))


@pytest.fixture(scope="module", params=TARGETS)
def pair(pairs, request):
    return _clients(*pairs(request.param))


@pytest.fixture(scope="module")
def pair_70(pairs):
    """The random and the exhaustive tests run against the default target only (the node rules are the same
    in every target; the scripts show that)."""
    return _clients(*pairs("redis-7.0"))


def _clients(real, served) -> tuple:
    return (RawReplies(real.port), RawClient(real.port)), (RawReplies(served.port), RawClient(served.port))


def _commands(steps: list) -> list[list[bytes]]:
    """The steps as commands: ids of increasing ms given explicitly (or as "ms-*"), so both servers
    number entries alike; XDEL names ids that were added."""
    commands: list[list[bytes]] = []
    ids: list[tuple[int, int]] = []
    for step in steps:
        if step[0] == "add":
            _, advance, auto_seq, fields, trim, limit = step
            ms = (ids[-1][0] if ids else 1) + advance
            seq = (ids[-1][1] + 1 if ids and ids[-1][0] == ms else 0) if auto_seq else len(commands)
            ids.append((ms, seq))
            trimming = [*trim, *(limit if trim[1] == b"~" else [])] if trim else []
            commands.append([b"XADD", b"s", *trimming, b"%d-*" % ms if auto_seq else b"%d-%d" % (ms, seq),
                             *(x for pair in fields for x in pair)])
        elif step[0] == "trim":
            _, trim, limit = step
            commands.append([b"XTRIM", b"s", *trim, *(limit if trim[1] == b"~" else [])])
        elif step[0] == "del":
            chosen = ids[step[1] % len(ids):][:step[2]] if ids else []
            commands.append([b"XDEL", b"s", b"0-1", *(b"%d-%d" % i for i in chosen)])
        else:
            commands.append([b"CONFIG", b"SET", b"stream-node-max-entries", b"%d" % step[1],
                             b"stream-node-max-bytes", b"%d" % step[2]])
        commands.append([b"XLEN", b"s"])
    return commands


def _run(pair, commands: list[list[bytes]]) -> None:
    """Each command to both servers, the replies compared byte for byte; after each, the number of nodes
    (XINFO STREAM's radix-tree-keys) compared too, which shows every node boundary as it is made, and the
    radix tree's own node count."""
    defaults = [b"CONFIG", b"SET", b"stream-node-max-entries", b"100", b"stream-node-max-bytes", b"4096"]
    for args in [[b"FLUSHALL"], defaults, *commands, [b"XRANGE", b"s", b"-", b"+"]]:
        theirs, ours = (replies.call(args) for replies, _ in pair)
        assert ours == theirs, args
        assert _nodes(pair[1][1]) == _nodes(pair[0][1]), args


def _nodes(client: RawClient, key: bytes = b"s") -> tuple[int, int] | None:
    """XINFO STREAM's radix-tree-keys and radix-tree-nodes (None without the stream)."""
    info = client.call([b"XINFO", b"STREAM", key])
    if not isinstance(info, list):
        return None
    return info[info.index(b"radix-tree-keys") + 1], info[info.index(b"radix-tree-nodes") + 1]


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(_steps, min_size=20, max_size=80))
@example(steps=[("add", 1, False, [(b"a", b"v")], None, [])] * 5 + [("config", 2, 4096)]
         + [("add", 1, False, [(b"a", b"v")], (b"MAXLEN", b"~", b"1"), [])])
def test_approximate_trims_remove_the_nodes_redis_removes(pair_70, steps):
    _run(pair_70, _commands(steps))


def _adds(count: int, start: int = 1) -> list[list[bytes]]:
    return [[b"XADD", b"s", b"%d-1" % ms, b"item", b"%d" % ms] for ms in range(start, start + count)]


SCRIPTS = {
    "maxlen_tilde_keeps_whole_nodes_of_100_entries": [
        *_adds(1000), [b"XTRIM", b"s", b"MAXLEN", b"666"], [b"XTRIM", b"s", b"MAXLEN", b"=", b"555"],
        [b"XTRIM", b"s", b"MAXLEN", b"~", b"444"], [b"XLEN", b"s"], [b"XTRIM", b"s", b"MAXLEN", b"~", b"400"],
        [b"XLEN", b"s"], [b"XADD", b"s", b"MAXLEN", b"~", b"0", b"LIMIT", b"99", b"2000-1", b"f", b"v"]],
    "a_node_counts_its_deleted_entries_towards_stream_node_max_entries": [
        [b"CONFIG", b"SET", b"stream-node-max-entries", b"3"], *_adds(3), [b"XDEL", b"s", b"2-1"], *_adds(4, 4),
        [b"XTRIM", b"s", b"MAXLEN", b"~", b"2"], [b"XLEN", b"s"], [b"XTRIM", b"s", b"MINID", b"~", b"6"],
        [b"XLEN", b"s"]],
    "the_default_limit_is_100_nodes_and_a_setting_of_0_leaves_entries_unbounded": [
        [b"CONFIG", b"SET", b"stream-node-max-entries", b"1"], *_adds(102), [b"XTRIM", b"s", b"MAXLEN", b"~", b"1"],
        [b"XLEN", b"s"], [b"CONFIG", b"SET", b"stream-node-max-entries", b"0"], *_adds(5, 200),
        [b"XTRIM", b"s", b"MAXLEN", b"~", b"0"], [b"XLEN", b"s"], [b"XTRIM", b"s", b"MAXLEN", b"1", b"LIMIT", b"30"]],
    "stream_node_max_bytes_counts_the_listpack_and_the_new_fields": [
        [b"CONFIG", b"SET", b"stream-node-max-bytes", b"1kb"], [b"CONFIG", b"GET", b"stream-node-max-bytes"],
        *([b"XADD", b"s", b"%d-1" % ms, b"field", b"x" * (ms * 7)] for ms in range(1, 40)),
        [b"XTRIM", b"s", b"MAXLEN", b"~", b"30"], [b"XLEN", b"s"], [b"XTRIM", b"s", b"MAXLEN", b"~", b"20"],
        [b"XLEN", b"s"]],
    "the_radix_tree_grows_and_shrinks_with_nodes_keyed_far_apart": [
        [b"CONFIG", b"SET", b"stream-node-max-entries", b"1"],
        *([b"XADD", b"s", stream_id, b"f", b"v"] for stream_id in (
            b"1-1", b"1-2", b"1-256", b"2-0", b"256-0", b"257-3", b"65536-0", b"65536-65536", b"1099511627776-5",
            b"1099511627777-0", b"18446744073709551615-1", b"18446744073709551615-72057594037927936")),
        [b"XDEL", b"s", b"1-256", b"65536-0", b"257-3"], [b"XTRIM", b"s", b"MINID", b"~", b"3"],
        [b"XDEL", b"s", b"18446744073709551615-1"], [b"XTRIM", b"s", b"MAXLEN", b"~", b"2"]],
    "xinfo_stream_of_an_emptied_stream_shows_an_empty_tree": [
        [b"XADD", b"s", b"MAXLEN", b"0", b"1-1", b"f", b"v"], [b"XINFO", b"STREAM", b"s"],
        [b"XGROUP", b"CREATE", b"e", b"g", b"$", b"MKSTREAM"], [b"XINFO", b"STREAM", b"e"],
        [b"XADD", b"t", b"1-1", b"f", b"v"], [b"XADD", b"t", b"2-1", b"f", b"v"], [b"XDEL", b"t", b"1-1", b"2-1"],
        [b"XINFO", b"STREAM", b"t"], *_adds(3), [b"XTRIM", b"s", b"MAXLEN", b"0"], [b"XINFO", b"STREAM", b"s"],
        [b"XINFO", b"STREAM", b"s", b"FULL"]],
}


@pytest.mark.parametrize("script", SCRIPTS.values(), ids=SCRIPTS)
def test_trims_and_node_settings_give_the_replies_redis_gives(pair, script):
    _run(pair, script)


def test_xinfo_stream_counts_the_nodes_as_radix_tree_keys(pairs):
    """radix-tree-keys is how many nodes the stream has, radix-tree-nodes how many the tree needs for their keys."""
    real, served = pairs("redis-7.0")
    counts = []
    for port in (real.port, served.port):
        client = RawClient(port)
        for args in [[b"FLUSHALL"], [b"CONFIG", b"SET", b"stream-node-max-entries", b"4"], *_adds(10),
                     [b"XDEL", b"s", b"5-1", b"6-1", b"7-1", b"8-1"],
                     [b"CONFIG", b"SET", b"stream-node-max-entries", b"100"]]:
            client.call(args)
        counts.append(_nodes(client))
    assert counts[1] == counts[0]
    assert counts[0][0] == 2


def _filled(key: bytes, value: bytes, count: int) -> list[list[bytes]]:
    return [[b"XADD", key, b"%d-1" % ms, b"f", value, b"n", b"%d" % (ms * 1000)] for ms in range(1, count + 1)]


def test_a_node_ends_where_its_bytes_reach_stream_node_max_bytes(pair_70):
    """Values of every length from 1 to 150 bytes: after as many entries as fill a few nodes, XTRIM ~ leaves
    the tail node, whose length and the node count show where each node ended (the listpack's bytes,
    integers stored as integers, against stream-node-max-bytes)."""
    commands = [[b"CONFIG", b"SET", b"stream-node-max-bytes", b"4096"]]
    for length in range(1, 151):
        key = b"s%d" % length
        commands += [*_filled(key, b"x" * length, 12000 // (length + 20)),
                     [b"XTRIM", key, b"MAXLEN", b"~", b"1"], [b"XLEN", key], [b"DEL", key]]
    _run(pair_70, commands)


def test_a_dumped_stream_keeps_its_nodes_where_redis_has_them(pairs):
    """serve's DUMP splits a stream where serve's nodes are: restored into the real server, the stream has the
    node count the real server's own copy has, and an approximate trim leaves the same length."""
    real, served = pairs("redis-7.0")
    script = [[b"CONFIG", b"SET", b"stream-node-max-entries", b"7"], *_filled(b"s", b"v" * 90, 60),
              [b"XDEL", b"s", b"3-1", b"4-1", b"50-1"], [b"CONFIG", b"SET", b"stream-node-max-entries", b"100"]]
    real_client, served_client = RawClient(real.port), RawClient(served.port)
    for client in (real_client, served_client):
        client.call([b"FLUSHALL"])
        for args in script:
            client.call(args)
    payload = served_client.call([b"DUMP", b"s"])
    assert real_client.call([b"RESTORE", b"copy", b"0", payload]) == b"OK"
    assert _nodes(real_client, b"copy")[0] == _nodes(real_client, b"s")[0] == 9
    trims = [real_client.call([b"XTRIM", key, b"MAXLEN", b"~", b"30"]) for key in (b"s", b"copy")]
    assert trims[0] == trims[1]


def test_a_restored_stream_keeps_the_nodes_of_the_payload(pairs):
    """A stream RESTOREd from the real server's DUMP keeps the payload's nodes (deleted entries and all):
    serve's approximate trims then remove what the real server's do, whatever serve's own settings."""
    real, served = pairs("redis-7.0")
    real_client, served_client = RawClient(real.port), RawClient(served.port)
    real_client.call([b"FLUSHALL"])
    for args in [[b"CONFIG", b"SET", b"stream-node-max-entries", b"6"], *_filled(b"s", b"v" * 40, 50),
                 [b"XDEL", b"s", b"2-1", b"3-1", b"49-1"], [b"CONFIG", b"SET", b"stream-node-max-entries", b"100"]]:
        real_client.call(args)
    payload = real_client.call([b"DUMP", b"s"])
    served_client.call([b"FLUSHALL"])
    assert served_client.call([b"RESTORE", b"s", b"0", payload]) == b"OK"
    for args in [[b"XADD", b"s", b"60-1", b"f", b"v"], [b"XTRIM", b"s", b"MAXLEN", b"~", b"40"],
                 [b"XTRIM", b"s", b"MINID", b"~", b"20"], [b"XLEN", b"s"]]:
        assert served_client.call(args) == real_client.call(args), args
    assert _nodes(served_client) == _nodes(real_client)
