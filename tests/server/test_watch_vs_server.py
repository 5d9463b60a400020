"""WATCH against the real servers: what a flush or SWAPDB touches (only the watched keys it takes away or
brings), and keys that expire: a watched key that expires before EXEC fails it, one already expired
when watched (still stored) does not change by being deleted (from Redis 7.0)."""

from __future__ import annotations

import time

import pytest

from tests.server.tracking_session import Session, assert_same, assert_same_outcome

TARGETS = ["redis-6.2", "redis-7.0", "redis-8.2", "valkey-9.1"]


def transaction(conn: int = 0) -> list[tuple]:
    return [(conn, "MULTI"), (conn, "PING"), (conn, "EXEC")]


@pytest.mark.parametrize("target", TARGETS)
def test_a_flush_touches_only_the_watched_keys_it_takes_away(pairs, target):
    assert_same(pairs, [2, 2], [
        (0, "WATCH", "x"), (1, "FLUSHALL"), *transaction(),
        (1, "SET", "x", "1"), (0, "WATCH", "x"), (1, "FLUSHALL"), *transaction(),
        (0, "WATCH", "x"), (1, "FLUSHDB"), *transaction(),
        (1, "SET", "x", "1"), (0, "WATCH", "x"), (1, "SELECT", "1"), (1, "FLUSHDB"), *transaction(),
        (1, "SET", "y", "1"), (0, "WATCH", "x", "y"), (1, "FLUSHDB"), *transaction(),
        (1, "SELECT", "0"), (0, "WATCH", "y"), (1, "FLUSHDB"), *transaction()], target)


@pytest.mark.parametrize("target", TARGETS)
def test_swapdb_touches_the_watched_keys_either_database_holds(pairs, target):
    assert_same(pairs, [2, 2], [
        (1, "SET", "x", "1"), (0, "WATCH", "x"), (1, "SWAPDB", "0", "1"), *transaction(),
        (0, "WATCH", "x"), (1, "SWAPDB", "0", "1"), *transaction(),
        (0, "WATCH", "nothing"), (1, "SWAPDB", "0", "1"), *transaction(),
        (1, "SELECT", "2"), (1, "SET", "z", "1"), (0, "SELECT", "2"), (0, "WATCH", "z"), (1, "SWAPDB", "0", "1"),
        *transaction()], target)


def _expiring(steps_after_expiry: list[tuple], watch_first: bool):
    """A key with a 30 ms TTL (no active expiry), watched before or after it expires, then the steps."""
    def script(session: Session) -> list:
        watch = [(0, "WATCH", "k")]
        seen = session.run([(1, "DEBUG", "SET-ACTIVE-EXPIRE", "0"), (1, "SET", "k", "1", "PX", "30"),
                            *(watch if watch_first else [])])
        time.sleep(0.2)
        seen += session.run([*([] if watch_first else watch), *steps_after_expiry, *transaction(),
                             (1, "DEBUG", "SET-ACTIVE-EXPIRE", "1")])
        return seen
    return script


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("watch_first", [True, False], ids=["watched-then-expired", "expired-then-watched"])
@pytest.mark.parametrize("steps", [[], [(1, "GET", "k")], [(1, "SET", "k", "2")], [(1, "DEL", "k")],
                                   [(1, "FLUSHALL")], [(1, "GET", "k"), (1, "SET", "k", "3")]],
                         ids=["nothing", "read", "set", "del", "flushall", "read-then-set"])
def test_a_watched_key_that_expires(pairs, target, watch_first, steps):
    assert_same_outcome(pairs, [2, 2], _expiring(steps, watch_first), target)
