"""Replaying an AOF into a keyspace: transactions, unknown commands, timestamps, expiries."""

from __future__ import annotations

import pytest
from hiredis import pack_command

from rdbtools import KeyRecord, convert, open_rdb
from rdbtools.keyspace.engine import Engine, UnknownCommand


def aof(tmp_path, *parts: bytes):
    path = tmp_path / "appendonly.aof"
    path.write_bytes(b"".join(p if p.startswith(b"#") else pack_command(tuple(p.split())) for p in parts))
    return path


def keys_of(path) -> dict:
    with open_rdb(path) as rdb:
        return {r.key: (r.value, r.expire_ms, r.field_expires) for r in rdb if isinstance(r, KeyRecord)}


def test_an_unfinished_transaction_at_the_end_is_dropped(tmp_path):
    source = aof(tmp_path, b"SET a 1", b"MULTI", b"SET b 2", b"EXEC", b"MULTI", b"SET c 3")
    convert(source, tmp_path / "out.rdb")
    assert keys_of(tmp_path / "out.rdb") == {b"a": (b"1", None, None), b"b": (b"2", None, None)}


def test_an_unknown_command_is_located_or_counted(tmp_path):
    source = aof(tmp_path, b"SET a 1", b"FROBNICATE a")
    with pytest.raises(UnknownCommand) as caught:
        convert(source, tmp_path / "out.rdb")
    assert caught.value.offset == len(pack_command((b"SET", b"a", b"1"))) and "appendonly.aof" in str(caught.value)
    report = convert(source, tmp_path / "out.rdb", skip_unknown=True)
    assert report.skipped == {"unknown FROBNICATE commands": 1}


def test_until_stops_at_the_first_later_timestamp(tmp_path):
    source = aof(tmp_path, b"#TS:100\r\n", b"SET a 1", b"#TS:200\r\n", b"SET b 2")
    convert(source, tmp_path / "out.rdb", until=150)
    assert set(keys_of(tmp_path / "out.rdb")) == {b"a"}


def test_error_replies_do_not_stop_the_replay(tmp_path):
    source = aof(tmp_path, b"SET a 1", b"RPUSH a x", b"SET b 2")
    report = convert(source, tmp_path / "out.rdb")
    assert set(keys_of(tmp_path / "out.rdb")) == {b"a", b"b"} and sum(report.skipped.values()) == 1


def test_relative_expiries_count_from_replay_time_and_hsetex_sets_field_ttls():
    engine = Engine(clock=lambda: 1000.0)
    engine.execute([b"SET", b"k", b"v", b"EX", b"10"])
    engine.execute([b"HSETEX", b"h", b"PXAT", b"5000", b"FIELDS", b"1", b"f", b"v"])
    keys = engine.keyspace.db(0)
    assert keys[b"k"].expire_ms == 1_010_000
    assert keys[b"h"].field_expires == {b"f": 5000} and keys[b"h"].value == {b"f": b"v"}


def test_a_stray_exec_is_an_error_reply_and_errors_inside_a_transaction_do_not_stop_it(tmp_path):
    source = aof(tmp_path, b"EXEC", b"MULTI", b"SET a 1", b"RPUSH a x", b"SET b 2", b"EXEC")
    report = convert(source, tmp_path / "out.rdb")
    assert keys_of(tmp_path / "out.rdb") == {b"a": (b"1", None, None), b"b": (b"2", None, None)}
    assert sum(report.skipped.values()) == 2  # EXEC without MULTI, and RPUSH against a string
