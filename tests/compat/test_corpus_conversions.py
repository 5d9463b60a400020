"""Every sound corpus RDB, converted to JSONL and back to an RDB, and converted to an AOF (RESP), loads
in a real server with the content the original holds (module values aside: they need their module)."""

from __future__ import annotations

import shutil
import time

import pytest

from rdbtools import KeyRecord, convert, open_rdb
from rdbtools.rdb.targets import target_for
from tests.compat.generator import read_back
from tests.corpus import rdb_files
from tests.expected_shape import compare, shape_records
from tests.servers import SERVERS, start_server

_NEWER_PARTS = frozenset({"stream-idmp", "stream-nacks", "key-metadata"})


def _server_for(path) -> str:
    with open_rdb(path) as rdb:
        return "valkey-9.1" if rdb.header.is_valkey else "redis-8.2"  # each reads every older version


def _has_modules(path) -> bool:
    with open_rdb(path) as rdb:
        return any(isinstance(r, KeyRecord) and r.type == "module" for r in rdb)


#: module values load only in a server with that module: those files are left out
_SOUND = [f for f in rdb_files() if not f.corrupt and not _has_modules(f.path)]


def _expected(path) -> dict:
    with open_rdb(path) as rdb:
        return shape_records(rdb)


@pytest.mark.parametrize("corpus_file", _SOUND, ids=lambda f: f.path.parent.name + "/" + f.path.name)
def test_jsonl_round_trip_and_aof_of_a_corpus_file_load_in_a_real_server(tmp_path, corpus_file):
    name = _server_for(corpus_file.path)
    expected = _expected(corpus_file.path)
    jsonl, back, aof = tmp_path / "dump.jsonl", tmp_path / "back.rdb", tmp_path / "appendonly.aof"
    convert(corpus_file.path, jsonl)
    # what a file newer than the server holds beyond its content (RDB 13+ IDMP data) is dropped by name
    convert(jsonl, back, target=target_for(name), drop=_NEWER_PARTS)
    convert(corpus_file.path, aof, to="resp", target=target_for(name))
    now = int(time.time() * 1000)
    with start_server(name, rdb=back) as server:
        assert compare(expected, read_back(server.port, SERVERS[name]), now_ms=now) == []
    with start_server(name, extra=("--appendonly", "yes", "--appenddirname", "appendonlydir"),
                      prepare=lambda d: _as_aof_dir(aof, d)) as server:
        # no command sets a stream consumer's seen/active time: those are the replay's
        assert compare(expected, read_back(server.port, SERVERS[name]), now_ms=now, consumer_times=False) == []


def _as_aof_dir(aof, directory) -> None:
    """A single RESP file as the base of a Redis 7+ multi-part directory."""
    target = directory / "appendonlydir"
    target.mkdir()
    shutil.copyfile(aof, target / "appendonly.aof.1.base.aof")
    (target / "appendonly.aof.1.incr.aof").write_bytes(b"")
    (target / "appendonly.aof.manifest").write_text("file appendonly.aof.1.base.aof seq 1 type b\n"
                                                    "file appendonly.aof.1.incr.aof seq 1 type i\n")
