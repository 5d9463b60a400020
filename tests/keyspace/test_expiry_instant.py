"""A relative expiry is never already past, however slow the command: Redis computes the time and decides
"already expired" from one reading of the clock (its command time snapshot). Here the clock advances on
every reading, as on a loaded machine, where serve once dropped a `SET k v PX 1` silently (Valkey target)
and deleted keys given `PEXPIRE k 1`."""

from __future__ import annotations

import itertools

import pytest

from rdbtools.keyspace.commands import CommandError
from rdbtools.keyspace.engine import Engine
from rdbtools.rdb.targets import target_for


def _slow_engine(target: str) -> Engine:
    ticks = itertools.count()
    return Engine(clock=lambda: 1_000_000.0 + next(ticks) * 0.005, loading=False, target=target_for(target))


@pytest.mark.parametrize("target", ["redis-7.0", "valkey-9.1"])
def test_a_one_millisecond_expiry_is_kept_until_it_passes(target):
    engine = _slow_engine(target)
    run = engine.execute
    assert run([b"SET", b"k", b"v", b"PX", b"1"]) == "OK"
    assert engine.keyspace.db(0)[b"k"].expire_ms is not None
    run([b"SET", b"p", b"v"])
    assert run([b"PEXPIRE", b"p", b"1"]) == 1 and b"p" in engine.keyspace.db(0)
    run([b"SET", b"g", b"v"])
    assert run([b"GETEX", b"g", b"PX", b"1"]) == b"v" and b"g" in engine.keyspace.db(0)
    run([b"HSET", b"h", b"f", b"1"])
    assert run([b"HPEXPIRE", b"h", b"1", b"FIELDS", b"1", b"f"]) == [1]
    run([b"SET", b"d", b"v"])
    payload = run([b"DUMP", b"d"])
    run([b"DEL", b"r"])
    assert run([b"RESTORE", b"r", b"1", payload]) == "OK" and b"r" in engine.keyspace.db(0)


@pytest.mark.parametrize("target", ["redis-7.0", "valkey-9.1"])
def test_times_already_past_still_delete_at_once(target):
    engine = _slow_engine(target)
    run = engine.execute
    run([b"SET", b"p", b"v"])
    assert run([b"PEXPIRE", b"p", b"0"]) == 1 and b"p" not in engine.keyspace.db(0)
    run([b"SET", b"a", b"v"])
    assert run([b"PEXPIREAT", b"a", b"1000"]) == 1 and b"a" not in engine.keyspace.db(0)
    with pytest.raises(CommandError):
        run([b"SET", b"k", b"v", b"PX", b"0"])
