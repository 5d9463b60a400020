"""Blocked clients served by another client's write, as Redis serves them: the same scenario of several
connections goes to serve and to a real server, and every reply's bytes are compared exactly. A step
that blocks waits until the server counts the client as blocked, so both see the same order."""

from __future__ import annotations

import time

import hiredis
import pytest

from tests.resp_client import RawClient, RawReplies
from tests.server.serving import start_serve
from tests.servers import start_server

TARGET = "redis-7.0"

#: a step: (connection, command) answers now; (connection, command, "blocks") waits; (connection,) reads
Step = tuple


@pytest.fixture(scope="module")
def ports():
    with start_server(TARGET) as real, start_serve("--target", TARGET) as served:
        yield real.port, served.port


def _blocked_clients(admin: RawClient) -> int:
    info = admin.call([b"INFO", b"clients"]).decode()
    return int(info.split("blocked_clients:")[1].split("\r\n")[0])


def _wait_blocked(admin: RawClient, count: int) -> None:
    deadline = time.monotonic() + 10
    while _blocked_clients(admin) != count:
        assert time.monotonic() < deadline, "the client did not block"
        time.sleep(0.01)


def _play(port: int, steps: list[Step]) -> list[bytes]:
    """Every reply of the scenario, in the order the steps read them."""
    admin = RawClient(port)
    admin.call([b"FLUSHALL"])
    _wait_blocked(admin, 0)  # the connections of the scenario before are gone
    connections: dict[int, RawReplies] = {}
    replies, blocked = [], 0
    for step in steps:
        connection = connections.setdefault(step[0], RawReplies(port, timeout=10))
        if len(step) == 1:
            replies.append(connection.read())
            blocked -= 1
        elif len(step) == 3:
            connection.sock.sendall(hiredis.pack_command(tuple(step[1])))
            blocked += 1
            _wait_blocked(admin, blocked)
        else:
            replies.append(connection.call(step[1]))
    for connection in connections.values():
        connection.close()
    return replies


def _same_on_both(ports: tuple[int, int], steps: list[Step]) -> None:
    theirs, ours = (_play(port, steps) for port in ports)
    assert ours == theirs


def test_a_blmove_served_by_a_push_serves_the_client_blocked_on_its_target(ports):
    _same_on_both(ports, [
        (1, [b"BLPOP", b"target", b"0"], "blocks"),
        (2, [b"BLMOVE", b"source", b"target", b"LEFT", b"RIGHT", b"0"], "blocks"),
        (0, [b"RPUSH", b"source", b"foo"]), (2,), (1,), (0, [b"EXISTS", b"target", b"source"]),
    ])


def test_a_chain_of_blocked_moves_passes_the_element_on_in_one_round(ports):
    _same_on_both(ports, [
        (1, [b"BRPOPLPUSH", b"c", b"d", b"0"], "blocks"),
        (2, [b"BRPOPLPUSH", b"b", b"c", b"0"], "blocks"),
        (3, [b"BRPOPLPUSH", b"a", b"b", b"0"], "blocks"),
        (0, [b"LPUSH", b"a", b"x"]), (3,), (2,), (1,), (0, [b"LRANGE", b"d", b"0", b"-1"]),
    ])


def test_a_blocked_move_whose_destination_holds_another_type_gets_wrongtype_and_leaves_the_source(ports):
    _same_on_both(ports, [
        (0, [b"SET", b"target", b"nolist"]),
        (1, [b"BRPOPLPUSH", b"source", b"target", b"0"], "blocks"),
        (0, [b"RPUSH", b"source", b"a", b"b"]), (1,), (0, [b"LRANGE", b"source", b"0", b"-1"]),
        (0, [b"TYPE", b"target"]),
    ])


def test_a_blocked_move_whose_source_holds_another_type_goes_on_waiting(ports):
    _same_on_both(ports, [
        (1, [b"BLMOVE", b"source", b"target", b"LEFT", b"LEFT", b"0"], "blocks"),
        (0, [b"SET", b"source", b"string"]), (0, [b"DEL", b"source"]),
        (0, [b"RPUSH", b"source", b"a"]), (1,), (0, [b"LRANGE", b"target", b"0", b"-1"]),
    ])


def test_a_push_that_serves_a_blocked_move_fails_a_watch_on_its_destination(ports):
    _same_on_both(ports, [
        (0, [b"SET", b"somekey", b"somevalue"]),
        (1, [b"BRPOPLPUSH", b"source", b"target", b"0"], "blocks"),
        (2, [b"WATCH", b"target"]), (2, [b"MULTI"]), (2, [b"GET", b"somekey"]),
        (0, [b"LPUSH", b"source", b"element"]), (1,), (2, [b"EXEC"]),
    ])


def test_a_blocked_xreadgroup_whose_group_is_destroyed_gets_nogroup(ports):
    _same_on_both(ports, [
        (0, [b"XGROUP", b"CREATE", b"s", b"g", b"$", b"MKSTREAM"]),
        (1, [b"XREADGROUP", b"GROUP", b"g", b"c", b"BLOCK", b"0", b"STREAMS", b"s", b">"], "blocks"),
        (0, [b"XGROUP", b"DESTROY", b"s", b"g"]), (1,),
    ])


def test_a_stream_renamed_over_a_blocked_xreadgroups_stream_without_its_group_gets_nogroup(ports):
    _same_on_both(ports, [
        (0, [b"XGROUP", b"CREATE", b"s", b"g", b"$", b"MKSTREAM"]), (0, [b"XADD", b"other", b"1-1", b"f", b"v"]),
        (1, [b"XREADGROUP", b"GROUP", b"g", b"c", b"BLOCK", b"0", b"STREAMS", b"s", b">"], "blocks"),
        (0, [b"RENAME", b"other", b"s"]), (1,),
    ])


@pytest.mark.parametrize("removal", [[b"DEL", b"s"], [b"SET", b"s", b"string"]])
def test_a_blocked_xreadgroup_whose_stream_is_gone_gets_unblocked(ports, removal):
    _same_on_both(ports, [
        (0, [b"XGROUP", b"CREATE", b"s", b"g", b"$", b"MKSTREAM"]),
        (1, [b"XREADGROUP", b"GROUP", b"g", b"c", b"BLOCK", b"0", b"STREAMS", b"s", b">"], "blocks"),
        (0, removal), (1,),
    ])


def _changes(client: RawClient) -> bytes:
    info = client.call([b"INFO", b"persistence"])
    return next(line for line in info.split(b"\r\n") if line.startswith(b"rdb_changes_since_last_save:"))


def test_a_command_that_waits_changes_nothing(ports):
    """A BLPOP or XREADGROUP that waits (and times out) changed nothing: rdb_changes_since_last_save stays."""
    counts = []  # (the replies, whether the count stayed) on each server
    for port in ports:
        client = RawClient(port)
        client.call([b"FLUSHALL"])
        client.call([b"XADD", b"s", b"1-1", b"f", b"v"])
        client.call([b"XGROUP", b"CREATE", b"s", b"g", b"$"])
        before = _changes(client)
        replies = [client.call(call) for call in ([b"BLPOP", b"nolist", b"0.01"],
                                                    [b"XREADGROUP", b"GROUP", b"g", b"c", b"BLOCK", b"10", b"STREAMS",
                                                     b"s", b">"])]
        counts.append((replies, _changes(client) == before))
    assert counts[1] == counts[0] == ([None, None], True)
