"""The writer: random datasets of every type and size class, for every target, read back equal and sound;
real servers load what it writes for them."""

from __future__ import annotations

import io
import subprocess
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rdbtools import Function, KeyRecord, UnsupportedError, open_rdb, verify_rdb
from rdbtools.errors import TargetError
from rdbtools.formats.rdb import KeyEntry
from rdbtools.rdb.targets import TARGETS, target_for, target_for_version
from rdbtools.rdb.writer import RdbWriter, encode_key, unwritable
from tests.compat.generator import read_back
from tests.expected_shape import compare, shape_records
from tests.servers import SERVERS, start_server

members = st.one_of(st.binary(min_size=1, max_size=12), st.integers(-(2**63), 2**63 - 1).map(lambda n: b"%d" % n),
                    st.binary(min_size=60, max_size=90))


@st.composite
def records(draw, db: int = 0) -> list[KeyRecord]:
    keys = draw(st.lists(st.binary(min_size=1, max_size=10), min_size=1, max_size=6, unique=True))
    out = []
    for key in keys:
        kind = draw(st.sampled_from(["string", "list", "set", "zset", "hash", "hash-ttl"]))
        big = draw(st.sampled_from([1, 1, 700]))  # sometimes past every listpack/intset threshold
        if kind == "string":
            value = draw(st.one_of(members, st.binary(min_size=100, max_size=300)))
        elif kind == "list":
            value = draw(st.lists(members, min_size=1, max_size=8)) * big
        elif kind == "set":
            value = list(dict.fromkeys(draw(st.lists(members, min_size=1, max_size=8)) + [b"%d" % i for i in
                                                                                       range(big if big > 1 else 0)]))
        elif kind == "zset":
            names = list(dict.fromkeys(draw(st.lists(members, min_size=1, max_size=8))
                                       + [b"m%d" % i for i in range(big if big > 1 else 0)]))
            scores = st.one_of(st.integers(-1000, 1000).map(float), st.floats(allow_nan=False, width=64))
            value = [(m, draw(scores)) for m in names]
        else:
            names = list(dict.fromkeys(draw(st.lists(members, min_size=1, max_size=8))
                                       + [b"f%d" % i for i in range(big if big > 1 else 0)]))
            value = {f: draw(members) for f in names}
        ttls = None
        if kind == "hash-ttl":
            kind = "hash"
            ttls = {f: draw(st.integers(1, 2**48 - 1)) for f in list(value)[: draw(st.integers(1, len(value)))]}
        expire = draw(st.one_of(st.none(), st.integers(0, 2**50)))
        out.append(KeyRecord(db, key, kind, "", 0, value, expire, field_expires=ttls))
    return out


def logical(record: KeyRecord):
    value = record.value
    if record.type == "set":
        value = sorted(value)
    elif record.type == "zset":
        value = sorted(value, key=lambda pair: (pair[1], pair[0]))
    return (record.db, record.key, record.type, value, record.expire_ms, record.field_expires or None)


def write(target, keys: list[KeyRecord], functions: list[Function] = ()) -> bytes:
    out = io.BytesIO()
    writer = RdbWriter(out, target)
    for function in functions:
        writer.write_function(function)
    for record in keys:
        writer.write_key(record)
    writer.close()
    return out.getvalue()


@pytest.mark.parametrize("name", sorted(TARGETS))
@settings(max_examples=40, deadline=None)
@given(keys=records())
def test_random_datasets_read_back_equal_and_sound(tmp_path_factory, name, keys):
    target = TARGETS[name]
    if not target.field_ttls:
        keys = [k for k in keys if not k.field_expires]
    path = tmp_path_factory.mktemp("w") / "out.rdb"
    path.write_bytes(write(target, keys))
    with open_rdb(path, deep=True) as rdb:
        assert rdb.header.version == target.rdb_version
        back = list(rdb.key_records())
    assert [logical(r) for r in back] == [logical(k) for k in keys]
    assert verify_rdb(path).verdict == "sound"


@pytest.mark.parametrize("name", sorted(TARGETS))
@settings(max_examples=40, deadline=None)
@given(keys=records(), compress=st.booleans())
def test_the_fast_key_encoder_writes_bytes_the_schema_rebuilds_exactly(name, keys, compress):
    target = TARGETS[name]
    for record in keys:
        if unwritable(record, target):
            continue
        entry = encode_key(record, target, compress)
        parsed = KeyEntry.parse(entry, valkey=target.valkey)
        assert KeyEntry.build(parsed, valkey=target.valkey) == entry


def test_field_ttls_are_refused_for_a_target_without_them():
    record = KeyRecord(0, b"h", "hash", "", 0, {b"f": b"v"}, field_expires={b"f": 1})
    with pytest.raises(TargetError, match="field TTLs"):
        write(TARGETS["redis-7.0"], [record])


def test_targets_are_named_by_server_or_rdb_version():
    assert target_for("redis-7.0.15") is TARGETS["redis-7.0"]
    assert target_for("Valkey-9.1").magic == "VALKEY"
    assert target_for_version(11).name == "redis-7.2"
    with pytest.raises(UnsupportedError, match="known"):
        target_for("redis-9.9")


@pytest.mark.parametrize("name", sorted(SERVERS))
def test_a_servers_own_file_rewritten_by_rdbtool_loads_back_with_the_same_content(tmp_path, name):
    from tests.compat.generator import populate

    spec = SERVERS[name]
    with start_server(name) as server:
        populate(server.client(), spec)
        held = read_back(server.port, spec)
        original = server.save()
        with open_rdb(original) as rdb:
            records = list(rdb)
    keys = [r for r in records if isinstance(r, KeyRecord)]
    functions = [r for r in records if isinstance(r, Function)]
    target = target_for(name)
    path = tmp_path / "rewritten.rdb"
    path.write_bytes(write(target, keys, functions))
    with start_server(name, rdb=path) as fresh:
        reloaded = read_back(fresh.port, spec)
    tolerance = 0 if spec.rdb_version >= 10 else 5000
    assert compare(reloaded, held, now_ms=int(time.time() * 1000), expire_tolerance_ms=tolerance) == []
    if target.rdb_version <= 10:
        check = subprocess.run(["redis-check-rdb", str(path)], capture_output=True, text=True)
        assert check.returncode == 0, check.stdout
    with open_rdb(path) as rdb:
        assert compare(shape_records(rdb), held, now_ms=0, expire_tolerance_ms=tolerance) == []


def _sound_corpus():
    from tests.corpus import rdb_files

    return [f for f in rdb_files() if not f.corrupt]


@pytest.mark.parametrize("corpus_file", _sound_corpus(), ids=lambda f: f.path.parent.name + "/" + f.path.name)
def test_every_sound_corpus_file_rewritten_for_its_version_keeps_its_content(tmp_path, corpus_file):
    with open_rdb(corpus_file.path) as rdb:
        version = max(rdb.header.version, 6)
        records = list(rdb)
    keys = [r for r in records if isinstance(r, KeyRecord)]
    if any(k.type == "module" and version < 8 for k in keys):
        pytest.skip("module values need RDB 8")
    target = target_for_version(version if version in (6, 7, 8, 9, 10, 11, 12, 80) else 12)
    functions = [r for r in records if isinstance(r, Function)] if target.functions else []
    path = tmp_path / "rewritten.rdb"
    path.write_bytes(write(target, keys, functions))
    with open_rdb(corpus_file.path) as original, open_rdb(path, deep=True) as rewritten:
        before, after = shape_records(original), shape_records(rewritten)
    assert compare(after, before, now_ms=0) == []
    assert verify_rdb(path).verdict == "sound"
