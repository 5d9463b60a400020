"""``rdbtool convert``: lossless JSONL round trips, downgrades that real servers load, clear refusals."""

from __future__ import annotations

import base64
import subprocess
import sys
import time

import orjson
import pytest

from rdbtools import KeyRecord, convert, open_rdb, verify_rdb
from rdbtools.rdb.filters import KeyFilter
from rdbtools.rdb.model import Aux, ResizeDb
from rdbtools.rdb.targets import target_for
from tests.compat.generator import populate, read_back
from tests.corpus import rdb_files
from tests.expected_shape import compare, shape_records
from tests.servers import SERVERS, start_server

RDBTOOL = [sys.executable, "-m", "rdbtools.cli"]
_SOUND = [f for f in rdb_files() if not f.corrupt]


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*RDBTOOL, *args], capture_output=True, timeout=120)


@pytest.mark.parametrize("corpus_file", _SOUND, ids=lambda f: f.path.parent.name + "/" + f.path.name)
def test_rdb_to_jsonl_to_rdb_keeps_the_content(tmp_path, corpus_file):
    jsonl, rdb = tmp_path / "dump.jsonl", tmp_path / "back.rdb"
    convert(corpus_file.path, jsonl)
    report = convert(jsonl, rdb)
    with open_rdb(corpus_file.path) as original, open_rdb(rdb, deep=True) as back:
        before, after = shape_records(original), shape_records(back)
    assert compare(after, before, now_ms=0) == []
    assert sum(report.keys.values()) == sum(len(keys) for keys in before["dbs"].values())
    assert verify_rdb(rdb).verdict == "sound"


def test_redis_8_file_converted_for_redis_7_0_loads_there(tmp_path):
    spec = SERVERS["redis-8.2"]
    with start_server("redis-8.2") as server:
        populate(server.client(), spec)
        source = tmp_path / "dump-8.2.rdb"
        source.write_bytes(server.save().read_bytes())
    result = run("convert", str(source), str(tmp_path / "for-7.0.rdb"), "--target", "redis-7.0")
    assert result.returncode == 1 and b"key 'hash:ttl-" in result.stderr and b"redis-7.0" in result.stderr
    assert not (tmp_path / "for-7.0.rdb").exists()  # nothing half-written is left behind
    target = tmp_path / "for-7.0.rdb"
    report = orjson.loads(run("convert", str(source), str(target), "--target", "redis-7.0",
                              "--key-regex", "^(?!hash:ttl)", "-f", "json").stdout)
    assert report["target"] == "redis-7.0" and report["functions"] == 1
    with open_rdb(target) as rdb:
        assert rdb.header.version == 10
        expected = shape_records(rdb)
    with start_server("redis-7.0", rdb=target) as old:
        held = read_back(old.port, SERVERS["redis-7.0"])
    assert compare(held, expected, now_ms=int(time.time() * 1000)) == []
    assert subprocess.run(["redis-check-rdb", str(target)], capture_output=True).returncode == 0


def test_rdb_to_resp_and_jsonl_by_extension(tmp_path, ):
    demo = "fixtures/demo.rdb"
    assert run("convert", demo, str(tmp_path / "out.resp")).returncode == 0
    assert (tmp_path / "out.resp").read_bytes().startswith(b"*2\r\n$6\r\nSELECT")
    assert run("convert", demo, str(tmp_path / "out.jsonl")).returncode == 0
    assert run("convert", demo, str(tmp_path / "out.bin")).returncode == 2  # no format from that name


def test_filters_apply_and_the_library_call_reports(tmp_path):
    report = convert("fixtures/demo.rdb", tmp_path / "only-db1.rdb", key_filter=KeyFilter(dbs=frozenset({1})),
                     target=target_for("redis-7.2"))
    with open_rdb(tmp_path / "only-db1.rdb") as rdb:
        keys = [r for r in rdb if isinstance(r, KeyRecord)]
    assert [k.db for k in keys] == [1] and report.keys == {"string": 1} and rdb.header.version == 11


def test_an_aof_with_an_unknown_command_names_it_unless_skipped(tmp_path):
    path = tmp_path / "appendonly.aof"
    path.write_bytes(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n*1\r\n$4\r\nPING\r\n")
    result = run("convert", str(path), str(tmp_path / "out.rdb"))
    assert result.returncode == 1 and b"appendonly.aof, offset 27" in result.stderr and b"'PING'" in result.stderr
    report = orjson.loads(run("convert", str(path), str(tmp_path / "out.rdb"), "--skip-unknown", "-f", "json").stdout)
    assert report["keys"] == {"string": 1} and report["skipped"] == {"unknown PING commands": 1}


@pytest.mark.parametrize("old", ["redis-6.2", "redis-7.0"])
@pytest.mark.parametrize("new", ["redis-8.2", "valkey-9.1"])
def test_downgrades_load_with_the_same_content_apart_from_what_was_dropped(tmp_path, new, old):
    with start_server(new) as server:
        populate(server.client(), SERVERS[new])
        held = read_back(server.port, SERVERS[new])
        source = tmp_path / "new.rdb"
        source.write_bytes(server.save().read_bytes())
    target = tmp_path / "old.rdb"
    refused = run("convert", str(source), str(target), "--target", old)
    assert refused.returncode == 1 and b"key 'hash:ttl-small' (field-ttls)" in refused.stderr
    options = ["--drop", "field-ttls"] + (["--drop", "functions"] if old == "redis-6.2" else [])
    report = orjson.loads(run("convert", str(source), str(target), "--target", old, *options, "-f", "json").stdout)
    assert report["changed"]["field-ttls"] == 5 and report["changed"].get("functions", 0) == (old == "redis-6.2")
    with start_server(old, rdb=target) as loaded:
        reloaded = read_back(loaded.port, SERVERS[old])
    for entry in held["dbs"]["0"].values():
        entry.pop("field_expire_ms", None)  # what --drop field-ttls changed
    if old == "redis-6.2":
        held["functions"] = []
    tolerance = 5000 if old == "redis-6.2" else 0
    assert compare(reloaded, held, now_ms=int(time.time() * 1000), expire_tolerance_ms=tolerance) == []


def test_aof_dir_output_is_a_directory_redis_7_starts_from(tmp_path):
    import shutil

    from rdbtools.aof.check import check_aof
    from tests.aof.redis_check_aof import run_real

    directory = tmp_path / "appendonlydir"
    result = run("convert", "fixtures/demo.rdb", str(directory), "--to", "aof-dir")
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in directory.iterdir()) == [
        "appendonly.aof.1.base.rdb", "appendonly.aof.1.incr.aof", "appendonly.aof.manifest"]
    manifest = directory / "appendonly.aof.manifest"
    assert check_aof(manifest).valid and run_real(manifest).exit_code == 0
    with open_rdb(directory / "appendonly.aof.1.base.rdb") as base:
        assert Aux(b"aof-base", b"1") in [Aux(r.name, r.value) for r in base if isinstance(r, Aux)]
    with open_rdb("fixtures/demo.rdb") as rdb:
        expected = shape_records(rdb)
    with start_server("redis-7.0", extra=("--appendonly", "yes"),
                      prepare=lambda d: shutil.copytree(directory, d / "appendonlydir")) as server:
        held = read_back(server.port, SERVERS["redis-7.0"])
    assert compare(held, expected, now_ms=int(time.time() * 1000)) == []
    assert run("convert", "fixtures/demo.rdb", str(directory), "--to", "aof-dir").returncode == 2  # exists
    assert run("convert", "fixtures/demo.rdb", str(tmp_path / "old"), "--to", "aof-dir",
               "--target", "redis-6.2").returncode == 1  # no multi-part AOF before 7.0
    assert not (tmp_path / "old").exists()


def _after_aux(path) -> bytes:
    """The bytes after an RDB's AUX fields (which carry the time of writing), CRC excluded."""
    with open_rdb(path) as rdb:
        start = next(r.offset for r in rdb if not isinstance(r, Aux) and hasattr(r, "offset"))
    return path.read_bytes()[start:-8]


@pytest.mark.parametrize("target", ["redis-6.2", "redis-7.0", "redis-8.2", "valkey-9.1"])
def test_jsonl_round_trip_gives_back_the_same_bytes_and_resizedb_counts_what_follows(tmp_path, target):
    """An RDB in the encodings the target writes -> JSONL -> RDB: the same file apart from AUX fields."""
    first, jsonl, back = tmp_path / "first.rdb", tmp_path / "dump.jsonl", tmp_path / "back.rdb"
    convert("fixtures/demo.rdb", first, target=target_for(target), drop=frozenset({"functions", "field-ttls"}))
    convert(first, jsonl)
    convert(jsonl, back, target=target_for(target))
    assert _after_aux(back) == _after_aux(first)
    with open_rdb(first) as rdb:
        records = list(rdb)
    counts: dict[int, list[int]] = {}
    for record in records:
        if isinstance(record, KeyRecord):
            per_db = counts.setdefault(record.db, [0, 0])
            per_db[0] += 1
            per_db[1] += record.expire_ms is not None
    resized = [[r.db_size, r.expires_size] for r in records if isinstance(r, ResizeDb)]
    assert resized == [counts[db] for db in sorted(counts)] and len(resized) == 2


def test_config_sets_the_targets_thresholds_by_their_redis_conf_names(tmp_path):
    default, tuned = tmp_path / "default.rdb", tmp_path / "tuned.rdb"
    assert run("convert", "fixtures/demo.rdb", str(default), "--target", "redis-7.0").returncode == 0
    result = run("convert", "fixtures/demo.rdb", str(tuned), "--target", "redis-7.0",
                 "--config", "hash-max-ziplist-entries=0", "--config", "zset-max-listpack-entries=0",
                 "--config", "set-max-intset-entries=0")
    assert result.returncode == 0, result.stderr
    with open_rdb(default) as before, open_rdb(tuned) as after:
        encodings = {r.key: (r.encoding, s.encoding) for r, s in zip(before.key_records(), after.key_records(),
                                                                     strict=True)}
    changed = {key: pair for key, pair in encodings.items() if pair[0] != pair[1]}
    assert {after for _, after in changed.values()} >= {"hash-hashtable", "zset-v2", "set-hashtable"}
    refused = run("convert", "fixtures/demo.rdb", str(tmp_path / "x.rdb"), "--config", "maxmemory=1")
    assert refused.returncode == 1 and b"not an encoding threshold" in refused.stderr
    assert run("convert", "fixtures/demo.rdb", str(tmp_path / "x.rdb"), "--config", "novalue").returncode == 2


def test_progress_reports_replayed_bytes_and_written_keys(tmp_path):
    from hiredis import pack_command

    aof = tmp_path / "appendonly.aof"
    aof.write_bytes(b"".join(pack_command((b"SET", b"k%d" % i, b"v")) for i in range(10000)))
    calls = []
    convert(aof, tmp_path / "out.rdb", progress=lambda phase, done, total: calls.append((phase, done, total)))
    replaying = [c for c in calls if c[0] == "replaying"]
    writing = [c for c in calls if c[0] == "writing"]
    assert replaying[-1] == ("replaying", aof.stat().st_size, aof.stat().st_size) and len(replaying) >= 3
    assert [done for _, done, _ in replaying] == sorted(done for _, done, _ in replaying)
    assert writing[-1] == ("writing", 10000, 10000) and len(writing) >= 3


def test_the_progress_bar_is_drawn_on_a_terminal_only(tmp_path):
    import os
    import pty

    out = tmp_path / "out.rdb"
    assert b"writing" not in run("convert", "fixtures/demo.rdb", str(out)).stderr
    leader, follower = pty.openpty()
    process = subprocess.Popen([*RDBTOOL, "convert", "fixtures/demo.rdb", str(tmp_path / "tty.rdb")],
                               stdout=subprocess.PIPE, stderr=follower)
    os.close(follower)
    drawn = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:
            break
        if not chunk:
            break
        drawn += chunk
    assert process.wait(timeout=60) == 0
    assert b"writing" in drawn


def test_a_jsonl_value_redis_would_not_load_writes_nothing_and_names_its_key(tmp_path):
    """A consumer owning an id outside its group's PEL: written as is, the RDB would load in no server."""
    stream = {"length": 1, "last_id": "1-0", "first_id": "1-0", "max_deleted_id": "0-0", "entries_added": 1,
              "entries": [["1-0", ["f", "v"]]],
              "groups": [{"name": "g", "last_delivered_id": "1-0", "entries_read": 1, "pending": [],
                          "consumers": [{"name": "c", "seen_time": 1, "active_time": 1, "pending": ["1-0"]}]}]}
    source = tmp_path / "edited.jsonl"
    source.write_bytes(orjson.dumps({"kind": "header", "magic": "REDIS", "version": 10}) + b"\n" + orjson.dumps(
        {"kind": "key", "db": 0, "key": "s", "type": "stream", "expire_ms": None, "value": stream}) + b"\n")
    destination = tmp_path / "kept.rdb"
    destination.write_bytes(b"what was there before")
    result = run("convert", str(source), str(destination))
    error = result.stderr.decode()
    assert result.returncode == 1
    assert error.count("\n") == 1 and "Traceback" not in error
    assert "key 's'" in error and "not in the group's PEL" in error
    assert destination.read_bytes() == b"what was there before"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["edited.jsonl", "kept.rdb"]  # no temp file left


def _stream(last_id: str) -> dict:
    return {"length": 0, "last_id": last_id, "first_id": None, "max_deleted_id": "0-0", "entries_added": 0,
            "entries": [], "groups": [], "idmp": None}


def _module(payload: bytes) -> dict:
    return {"module": "ReJSON-RL", "encver": 0, "module_id": 5035677737576115200,
            "payload": {"b64": base64.b64encode(payload).decode()}}


@pytest.mark.parametrize(("fields", "told"), [
    ({"expire_ms": 1.5}, "expire_ms must be an integer, not 1.5"),
    ({"expire_ms": True}, "expire_ms must be an integer, not True"),
    ({"expire_ms": 1 << 63}, "expire_ms must be from"),
    ({"db": "0"}, "db must be an integer, not '0'"),
    ({"db": -1}, "db must be from 0"),
    ({"idle": -1}, "idle must be from 0"),
    ({"freq": 256}, "freq must be from 0 to 255, not 256"),
    ({"type": "hash", "value": [["f", "v"]], "field_expires": [["f", 2.5]]},
     "a field's expire time must be an integer"),
    ({"type": "stream", "value": _stream(last_id=f"{1 << 64}-0")}, "a stream id's ms must be from 0"),
    ({"type": "stream", "value": _stream(last_id="1_0-0")}, "a stream id must be two decimal numbers"),
    ({"type": "array", "value": {"length": 1, "insert_index": None, "elements": [[0, "int", 1.5]]}},
     "an array's integer must be an integer, not 1.5"),
    ({"type": "module", "value": _module(b"\x07")}, "at its byte 1: an opcode that is none of EOF"),
    ({"type": "module", "value": _module(b"\x05")}, "module value ends before its EOF opcode"),
    ({"type": "module", "value": _module(b"\x00\x00")}, "goes on past its EOF opcode (1 more bytes)"),
])
def test_a_jsonl_number_the_rdb_cannot_hold_is_refused_at_its_line(tmp_path, fields, told):
    """JSON numbers are checked as they are read: a float, a string or a boolean where the RDB holds an
    integer, or an integer out of its range, is the line's error rather than a crash in the writer."""
    key = {"kind": "key", "db": 0, "key": "k", "type": "string", "expire_ms": None, "value": "v", **fields}
    header = orjson.dumps({"kind": "header", "magic": "REDIS", "version": 12}) + b"\n"
    source = tmp_path / "edited.jsonl"
    source.write_bytes(header + orjson.dumps(key) + b"\n")
    result = run("convert", str(source), str(tmp_path / "out.rdb"))
    error = result.stderr.decode()
    assert result.returncode == 1 and error.count("\n") == 1 and "Traceback" not in error
    assert f"offset {len(header)}" in error and told in error
    assert not (tmp_path / "out.rdb").exists()
