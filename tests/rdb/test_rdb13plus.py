"""RDB 13-15 (Redis 8.6-8.10): IDMP streams, key metadata, NACK zones, arrays and hash templates.

No server that writes these versions runs here: the proof is the corpus's RDB 13 dumps (and librdb's
expected content for one), the schema (every record builds back to its bytes, the fast reader
decodes what the schema decodes) and damaged variants refused where the loaders refuse them.
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import hiredis
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rdbtools import FormatError, open_rdb, verify_rdb
from rdbtools.conversion import convert
from rdbtools.errors import TargetError
from rdbtools.export.records import key_to_json, record_from_json, record_to_json
from rdbtools.formats.listpack import schema_encode_listpack
from rdbtools.formats.primitives import encode_length
from rdbtools.formats.rdb import RdbFile, key_meta_class, key_meta_spec
from rdbtools.rdb.model import HashTemplate, KeyRecord, SparseArray
from rdbtools.rdb.targets import TARGETS
from tests.corpus import corpus_dir
from tests.rdbbuild import rdb_file, s, select_db
from tests.reference import reference_keys
from tests.servers import PROCESS_TIMEOUT, start_server

_ID = struct.Struct(">QQ")


def _raw_id(ms: int, seq: int) -> bytes:
    return _ID.pack(ms, seq)


def _ids(ms: int, seq: int) -> bytes:
    return encode_length(ms) + encode_length(seq)


def _stream_node(ms: int, values: list[bytes]) -> bytes:
    """One node of entries ms-0, ms+1-0, ... each with the master's single field 'f'."""
    lp: list[int | bytes] = [len(values), 0, 1, b"f", 0]
    for i, value in enumerate(values):
        lp += [2, i, 0, value, 4]  # SAMEFIELDS, ms delta, seq delta, the value, back-count
    return s(_raw_id(ms, 0)) + s(schema_encode_listpack(lp))


def stream_value(*, version: int, groups: bytes = b"\x00", idmp: bytes | None = None) -> bytes:
    """Two entries 1-0 and 2-0; the caller gives the groups (count included) and the IDMP section."""
    body = (encode_length(1) + _stream_node(1, [b"a", b"b"]) + encode_length(2) + _ids(2, 0) + _ids(1, 0)
            + _ids(0, 0) + encode_length(2) + groups)
    if version >= 4:
        body += idmp if idmp is not None else encode_length(100) + encode_length(100) + b"\x00\x00\x00"
    return body


def group(name: bytes, *, owned: list[tuple[int, int]], released: list[tuple[int, int]], nack: bool) -> bytes:
    """A group whose PEL holds ``owned`` (by consumer c) and ``released`` (no owner, time 0) ids."""
    pel = b"".join(_raw_id(*i) + struct.pack("<q", 1000) + encode_length(1) for i in owned)
    pel += b"".join(_raw_id(*i) + struct.pack("<q", 0) + encode_length(2) for i in released)
    consumer = s(b"c") + struct.pack("<qq", 1000, 1000) + encode_length(len(owned)) + b"".join(
        _raw_id(*i) for i in owned)
    body = s(name) + _ids(2, 0) + encode_length(2) + encode_length(len(owned) + len(released)) + pel
    body += encode_length(1) + consumer
    if nack:
        body += encode_length(len(released)) + b"".join(_raw_id(*i) for i in released)
    return body


def idmp_section(duration: int = 100, max_entries: int = 100, pids: tuple[bytes, ...] = (b"p1",)) -> bytes:
    producers = b"".join(s(pid) + encode_length(1) + s(b"iid-" + pid) + _ids(2, 0) for pid in pids)
    return encode_length(duration) + encode_length(max_entries) + encode_length(len(pids)) + producers + b"\x01\x00"


def array_value(elements: list[tuple[int, int, bytes]], insert_index: int | None = None) -> bytes:
    body = encode_length(len(elements))
    body += b"\x00" if insert_index is None else b"\x01" + encode_length(insert_index)
    return body + b"".join(encode_length(i) + encode_length(tag) + payload for i, tag, payload in elements)


def template(template_id: int, fields: list[bytes]) -> bytes:
    return b"\xf2" + encode_length(template_id) + encode_length(len(fields)) + b"".join(s(f) for f in fields)


def key(type_byte: int, name: bytes, value: bytes) -> bytes:
    return bytes((type_byte,)) + s(name) + value


def key_meta(*classes: tuple[int, bytes]) -> bytes:
    return b"\xf3" + encode_length(len(classes)) + b"".join(struct.pack("<I", spec) + ops for spec, ops in classes)


_ARRAY = array_value([
    (0, 0, s(b"hello")),
    (5, 1, struct.pack("<q", -42)),
    (9, 2, struct.pack("<d", 2.5)),
    (2**64 - 2, 3, s(b"short")),
], insert_index=49)
_FIELDS = [b"a", b"b", b"id", b"name"]  # by length, then bytes
_SPEC = key_meta_spec("Tst_", 3, 1)
_MODULE_OPS = b"\x02\x05" + b"\x05" + s(b"meta") + b"\x00"  # UINT 5, STRING "meta", EOF


def _v15_file() -> bytes:
    return rdb_file(
        template(0, _FIELDS), template(7, [b"x"]), select_db(0),
        key(30, b"h-lp-ref", s(schema_encode_listpack([0, b"1", b"2", b"3", b"Ann"]))),
        key(32, b"h-array-ref", encode_length(7) + s(b"only")),
        key(29, b"h-lp", b"\x00" + s(schema_encode_listpack([b"f1", b"f2"])) + s(schema_encode_listpack([3, 1, b"v"]))),
        key(31, b"h-array", b"\x01" + encode_length(2) + s(b"f1") + s(b"f2") + s(b"v1") + s(b"v2")),
        key_meta((_SPEC, _MODULE_OPS)) + key(0, b"with-meta", s(b"v")),
        key(28, b"arr", _ARRAY),
        key(27, b"st5", stream_value(version=5, groups=encode_length(1) + group(
            b"g", owned=[(1, 0)], released=[(2, 0)], nack=True), idmp=idmp_section(pids=(b"p1", b"p2")))),
        version=15,
    )


def _read(data: bytes, tmp_path, name: str = "f.rdb") -> list:
    path = tmp_path / name
    path.write_bytes(data)
    with open_rdb(path) as rdb:
        return list(rdb)


def _keys(records: list) -> dict[bytes, KeyRecord]:
    return {r.key: r for r in records if isinstance(r, KeyRecord)}


# --- the corpus ---------------------------------------------------------------------------------


def test_the_idmp_dump_reads_as_librdb_expects_it():
    folder = corpus_dir() / "peers" / "librdb-v13plus"
    expected = json.loads("{" + (folder / "stream_v13_idmp.librdb.json").read_text() + "}")
    with open_rdb(folder / "stream_v13_idmp.rdb") as rdb:
        (record,) = [r for r in rdb if isinstance(r, KeyRecord)]
    (name, theirs), = expected.items()
    assert record.key.decode() == name and record.encoding == "stream-v4"
    stream = record.value
    assert [(str(e.id), {f.decode(): v.decode() for f, v in e.fields}) for e in stream.entries] == [
        (e["id"], e["items"]) for e in theirs["entries"]]
    idmp = theirs["idmp"]
    assert (stream.idmp.duration, stream.idmp.max_entries, len(stream.idmp.producers)) == (
        idmp["duration"], idmp["maxEntries"], idmp["numProducers"])
    assert [(p.pid.decode(), [(iid.decode(), str(i)) for iid, i in p.entries]) for p in stream.idmp.producers] == [
        (p["pid"], [(e["iid"], e["streamId"]) for e in p["entries"]]) for p in idmp["producers"]]


def test_every_stream_of_the_49_variant_dump_matches_its_name():
    with open_rdb(corpus_dir() / "peers" / "librdb-v13plus" / "stream_v13.rdb") as rdb:
        keys = [r for r in rdb if isinstance(r, KeyRecord)]
    assert len(keys) == 49
    for record in keys:
        groups, consumers, producers, entries = (int(part[len(tag):]) for part, tag in zip(
            record.key.decode().split("_")[2:], ("cg", "pel", "prod", "ent"), strict=True))
        stream = record.value
        assert len(stream.groups) == groups
        assert all(len(g.consumers) == consumers for g in stream.groups)
        expected_producers = producers if entries else 0
        assert len(stream.idmp.producers) == expected_producers
        assert all(len(p.entries) == entries for p in stream.idmp.producers)
        assert stream.idmp.iids_added == producers * entries


# --- RDB 14 and 15, built by hand ---------------------------------------------------------------


def test_every_new_record_builds_back_to_its_bytes_and_reads_as_the_schema_reads_it(tmp_path):
    data = _v15_file()
    assert RdbFile.build(RdbFile.parse(data)) == data
    fast = _keys(_read(data, tmp_path))
    reference = {k["key"]: k for k in reference_keys(data)}
    assert fast.keys() == reference.keys()
    for name in (b"h-lp-ref", b"h-array-ref", b"h-lp", b"h-array"):
        assert fast[name].value == reference[name]["value"]
    array = fast[b"arr"].value
    assert (array.insert_index, array.elements) == reference[b"arr"]["value"]
    assert [(c.class_spec, c.payload) for c in fast[b"with-meta"].key_meta] == reference[b"with-meta"]["key_meta"]


def test_template_hashes_read_as_plain_hashes_with_their_template(tmp_path):
    records = _read(_v15_file(), tmp_path)
    assert [(r.id, r.fields) for r in records if isinstance(r, HashTemplate)] == [(0, _FIELDS), (7, [b"x"])]
    keys = _keys(records)
    assert keys[b"h-lp-ref"].value == {b"a": b"1", b"b": b"2", b"id": b"3", b"name": b"Ann"}
    assert keys[b"h-lp-ref"].template_id == 0 and keys[b"h-lp-ref"].type == "hash"
    assert keys[b"h-array-ref"].value == {b"x": b"only"} and keys[b"h-array-ref"].template_id == 7
    assert keys[b"h-lp"].value == {b"f1": b"1", b"f2": b"v"} and keys[b"h-lp"].template_id is None
    assert keys[b"h-array"].value == {b"f1": b"v1", b"f2": b"v2"}


def test_arrays_keep_indexes_storage_and_insert_cursor(tmp_path):
    array = _keys(_read(_v15_file(), tmp_path))[b"arr"]
    assert array.type == "array" and array.encoding == "array"
    assert array.value == SparseArray([(0, 0, b"hello"), (5, 1, -42), (9, 2, 2.5), (2**64 - 2, 3, b"short")], 49)
    assert array.value.length == 2**64 - 1


def test_nack_zone_and_idmp_of_a_v5_stream(tmp_path):
    stream = _keys(_read(_v15_file(), tmp_path))[b"st5"].value
    (g,) = stream.groups
    assert [str(i) for i in g.nacked] == ["2-0"]
    assert [(str(p.id), p.consumer) for p in g.pending] == [("1-0", b"c"), ("2-0", None)]
    assert [p.pid for p in stream.idmp.producers] == [b"p1", b"p2"]


def test_key_metadata_is_kept_with_its_class_name_version_and_flags(tmp_path):
    (meta,) = _keys(_read(_v15_file(), tmp_path))[b"with-meta"].key_meta
    assert (meta.name, meta.version, meta.flags, meta.payload) == ("Tst_", 3, 1, _MODULE_OPS)
    assert key_meta_class(key_meta_spec("a-_9", 31, 7)) == ("a-_9", 31, 7)


def test_new_records_survive_the_jsonl_round_trip(tmp_path):
    for record in _read(_v15_file(), tmp_path):
        data = record_to_json(record)
        if data is not None:
            assert record_to_json(record_from_json(json.loads(json.dumps(data)))) == data
    array = _keys(_read(_v15_file(), tmp_path))[b"arr"]
    assert key_to_json(array)["value"]["elements"] == [
        [0, "sds", "hello"], [5, "int", -42], [9, "float", 2.5], [2**64 - 2, "smallstr", "short"]]


def test_a_sound_v15_file_verifies_sound(tmp_path):
    path = tmp_path / "v15.rdb"
    path.write_bytes(_v15_file())
    report = verify_rdb(path)
    assert report.verdict == "sound", [str(p) for p in report.problems]


# --- damaged variants: refused where the loaders refuse them ------------------------------------

_GOOD_GROUP = encode_length(1) + group(b"g", owned=[(1, 0)], released=[(2, 0)], nack=True)
_DAMAGED = {
    "IDMP duration 0": key(26, b"k", stream_value(version=4, idmp=idmp_section(duration=0))),
    "IDMP duration past a day": key(26, b"k", stream_value(version=4, idmp=idmp_section(duration=86401))),
    "IDMP max entries 10001": key(26, b"k", stream_value(version=4, idmp=idmp_section(max_entries=10001))),
    "duplicate producer": key(26, b"k", stream_value(version=4, idmp=idmp_section(pids=(b"p", b"p")))),
    "NACK id not in the PEL": key(27, b"k", stream_value(version=5, groups=encode_length(1) + group(
        b"g", owned=[(1, 0)], released=[], nack=False) + encode_length(1) + _raw_id(2, 0))),
    "NACK id owned by a consumer": key(27, b"k", stream_value(version=5, groups=encode_length(1) + group(
        b"g", owned=[(1, 0)], released=[], nack=False) + encode_length(1) + _raw_id(1, 0))),
    "empty array": key(28, b"k", b"\x00\x00"),
    "array cursor flag 2": key(28, b"k", b"\x01\x02\x00\x00" + s(b"x")),
    "array index 2^64-1": key(28, b"k", array_value([(2**64 - 1, 0, s(b"x"))])),
    "array index encoded": key(28, b"k", b"\x01\x00\xc0\x01\x00" + s(b"x")),
    "array tag 4": key(28, b"k", array_value([(0, 4, s(b"x"))])),
    "array short string of 8 bytes": key(28, b"k", array_value([(0, 3, s(b"12345678"))])),
    "template with zero fields": template(0, []),
    "template fields unsorted": template(0, [b"bb", b"a"]),
    "template fields duplicated": template(0, [b"a", b"a"]),
    "template id defined twice": template(0, [b"a"]) + template(0, [b"b"]),
    "unknown template id": key(32, b"k", encode_length(3) + s(b"v")),
    "values listpack without an integer id": template(0, [b"a"]) + key(30, b"k", s(schema_encode_listpack(
        [b"x", b"v"]))),
    "values listpack count off": template(0, [b"a"]) + key(30, b"k", s(schema_encode_listpack([0, b"v", b"w"]))),
    "unknown template field format": key(31, b"k", b"\x02" + encode_length(1) + s(b"f") + s(b"v")),
    "eight key metadata classes": key_meta(*[(_SPEC, b"\x00")] * 8) + key(0, b"k", s(b"v")),
    "an opcode between key metadata and the type": key_meta((_SPEC, b"\x00")) + b"\xf8\x01" + key(0, b"k", s(b"v")),
    "key metadata opcode 6": key_meta((_SPEC, b"\x06\x00")) + key(0, b"k", s(b"v")),
    "type 33 (GCRA)": key(33, b"k", b"\x01"),
}


@pytest.mark.parametrize("case", list(_DAMAGED), ids=list(_DAMAGED))
def test_damaged_records_are_refused_with_a_located_error(tmp_path, case):
    data = rdb_file(select_db(0), _DAMAGED[case], version=15)
    path = tmp_path / "damaged.rdb"
    path.write_bytes(data)
    with pytest.raises(FormatError) as caught, open_rdb(path) as rdb:
        list(rdb)
    assert caught.value.offset is not None and 9 <= caught.value.offset < len(data)
    report = verify_rdb(path)
    assert report.verdict == "corrupt" and report.problems[0].offset is not None


def test_verify_counts_what_rdb_13_to_15_added(tmp_path):
    path = tmp_path / "v15.rdb"
    path.write_bytes(_v15_file())
    report = verify_rdb(path).to_json()
    assert {name: report[name] for name in ("hash_templates", "template_hashes", "keys_with_metadata",
                                            "idmp_producers", "idmp_entries", "nacked_entries",
                                            "array_elements")} == {
        "hash_templates": 2, "template_hashes": 4, "keys_with_metadata": 1, "idmp_producers": 2,
        "idmp_entries": 2, "nacked_entries": 1, "array_elements": 4}
    assert report["keys_per_db"]["0"] == {"array": 1, "hash": 4, "stream": 1, "string": 1}


# --- random data of every new type: the fast reader decodes what the schema decodes ------------

_byte_strings = st.binary(min_size=0, max_size=12)
_elements = st.lists(st.tuples(st.integers(0, 2**64 - 2), st.sampled_from([0, 1, 2, 3]), st.data()),
                     min_size=1, max_size=6, unique_by=lambda e: e[0])


def _array_payload(tag: int, data) -> bytes:
    if tag == 1:
        return struct.pack("<q", data.draw(st.integers(-(2**63), 2**63 - 1)))
    if tag == 2:
        return struct.pack("<d", data.draw(st.floats(allow_nan=False)))
    return s(data.draw(st.binary(max_size=7 if tag == 3 else 40)))


_meta_classes = st.lists(st.tuples(st.integers(0, 2**32 - 1), st.lists(st.one_of(
    st.tuples(st.just(2), st.integers(0, 2**64 - 1)), st.tuples(st.just(5), _byte_strings)), max_size=3)),
    min_size=1, max_size=7)


def _module_ops(ops: list[tuple[int, int | bytes]]) -> bytes:
    """A module opcode stream of UINTs and STRINGs, ending with EOF."""
    return b"".join(bytes((op,)) + (encode_length(v) if op == 2 else s(v)) for op, v in ops) + b"\x00"


@settings(max_examples=60, deadline=None)
@given(elements=_elements, cursor=st.none() | st.integers(0, 2**64 - 2),
       fields=st.lists(_byte_strings, min_size=1, max_size=6, unique=True),
       values=st.data(), pids=st.lists(_byte_strings, max_size=3, unique=True), meta=_meta_classes,
       owned=st.lists(st.integers(1, 2), unique=True, max_size=2))
def test_random_records_of_every_new_kind_read_as_the_schema_reads_them(elements, cursor, fields, values, pids,
                                                                         meta, owned):
    fields.sort(key=lambda f: (len(f), f))
    field_values = [values.draw(_byte_strings) for _ in fields]
    array = array_value(sorted(((i, tag, _array_payload(tag, data)) for i, tag, data in elements)), cursor)
    released = [i for i in (1, 2) if i not in owned]
    raw_fields = b"\x01" + encode_length(len(fields)) + b"".join(s(f) for f in fields)
    data = rdb_file(
        template(3, fields), select_db(0), key(28, b"arr", array),
        key(32, b"t-array", encode_length(3) + b"".join(s(v) for v in field_values)),
        key(30, b"t-lp", s(schema_encode_listpack([3, *field_values]))),
        key(31, b"t-inline", raw_fields + b"".join(s(v) for v in field_values)),
        key(29, b"t-inline-lp", b"\x00" + s(schema_encode_listpack(list(fields)))
            + s(schema_encode_listpack([9, *field_values]))),
        key_meta(*[(spec, _module_ops(ops)) for spec, ops in meta]) + key(0, b"meta", s(b"v")),
        key(27, b"st", stream_value(version=5, groups=encode_length(1) + group(
            b"g", owned=[(i, 0) for i in owned], released=[(i, 0) for i in released], nack=True),
            idmp=idmp_section(pids=tuple(pids)))),
        version=15,
    )
    assert RdbFile.build(RdbFile.parse(data)) == data
    reference = {k["key"]: k["value"] for k in reference_keys(data)}
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "random.rdb"
        path.write_bytes(data)
        with open_rdb(path) as rdb:
            fast = {r.key: r.value for r in rdb if isinstance(r, KeyRecord)}
        with open_rdb(path) as rdb:
            meta_read = next(r.key_meta for r in rdb if isinstance(r, KeyRecord) and r.key == b"meta")
    assert (fast[b"arr"].insert_index, fast[b"arr"].elements) == reference[b"arr"]
    expected = dict(zip(fields, field_values, strict=True))
    for name in (b"t-array", b"t-lp", b"t-inline", b"t-inline-lp"):
        assert fast[name] == reference[name] == expected
    assert [p.pid for p in fast[b"st"].idmp.producers] == [p for p, _ in reference[b"st"]["idmp"][2]] == pids
    assert [tuple(i) for i in fast[b"st"].groups[0].nacked] == reference[b"st"]["groups"][0]["nacked"]
    assert [(c.class_spec, c.payload) for c in meta_read] == [(spec, _module_ops(ops)) for spec, ops in meta]


# --- down to the servers that run here: what they cannot hold is named, dropped on request ---------


@pytest.mark.compat
@pytest.mark.parametrize("target", ["redis-8.2", "redis-7.0", "valkey-9.1"])
def test_a_v15_file_converted_down_loads_in_the_real_server_with_templates_expanded(tmp_path, target):
    source, destination = tmp_path / "v15.rdb", tmp_path / f"{target}.rdb"
    source.write_bytes(_v15_file())
    with pytest.raises(TargetError, match="--drop arrays --drop key-metadata --drop stream-idmp"):
        convert(source, destination, target=TARGETS[target])
    assert not destination.exists()
    report = convert(source, destination, target=TARGETS[target],
                     drop=frozenset({"arrays", "key-metadata", "stream-idmp", "stream-nacks"}))
    assert dict(report.changed) == {"arrays": 1, "key-metadata": 1, "stream-idmp": 1, "stream-nacks": 1}
    with start_server(target, rdb=destination) as server:
        client = server.client()
        assert sorted(client.keys()) == [b"h-array", b"h-array-ref", b"h-lp", b"h-lp-ref", b"st5", b"with-meta"]
        assert client.hgetall(b"h-lp-ref") == {b"a": b"1", b"b": b"2", b"id": b"3", b"name": b"Ann"}
        assert client.hgetall(b"h-array-ref") == {b"x": b"only"}
        assert client.get(b"with-meta") == b"v"
        pending = client.xpending_range(b"st5", b"g", min="-", max="+", count=10)
        assert [(p["message_id"], p["consumer"]) for p in pending] == [(b"1-0", b"c")]  # the released 2-0 left


# --- written by our writer for the Redis 8.6-8.10 targets, read back equal -----------------------


def _comparable_keys(path) -> dict[bytes, tuple]:
    with open_rdb(path) as rdb:
        return {r.key: (r.type, r.value, r.key_meta, r.expire_ms) for r in rdb if isinstance(r, KeyRecord)}


@pytest.mark.parametrize(("target", "dropped"), [
    ("redis-8.10", {}),
    ("redis-8.8", {}),
    ("redis-8.6", {"arrays": 1, "stream-nacks": 1}),
])
def test_the_writer_keeps_what_each_newer_target_holds(tmp_path, target, dropped):
    source, destination = tmp_path / "v15.rdb", tmp_path / f"{target}.rdb"
    source.write_bytes(_v15_file())
    report = convert(source, destination, target=TARGETS[target], drop=frozenset(dropped))
    assert dict(report.changed) == dropped
    assert verify_rdb(destination).verdict == "sound"
    ours, theirs = _comparable_keys(destination), _comparable_keys(source)
    if dropped:
        del theirs[b"arr"]
        stream = theirs[b"st5"][1]
        stream.groups[0].pending, stream.groups[0].nacked = stream.groups[0].pending[:1], None
    assert ours == theirs
    with open_rdb(destination) as rdb:
        assert rdb.header.version == TARGETS[target].rdb_version


def test_resp_recreates_arrays_nacks_and_idmp_with_the_commands_of_redis_8_8(tmp_path):
    """Command forms from Redis's t_array.c / t_stream.c (ARSEEK names the next index to write)."""
    path = tmp_path / "v15.rdb"
    path.write_bytes(_v15_file())
    out = subprocess.run([sys.executable, "-m", "rdbtools.cli", "dump", str(path), "--format", "resp"],
                         capture_output=True, timeout=PROCESS_TIMEOUT, check=True).stdout
    reader = hiredis.Reader()
    reader.feed(out)
    commands = []
    while (command := reader.gets()) is not False:
        commands.append(command)
    by_name: dict[bytes, list] = {}
    for command in commands:
        by_name.setdefault(command[0], []).append(command[1:])
    assert by_name[b"ARMSET"] == [[b"arr", b"0", b"hello", b"5", b"-42", b"9", b"2.5", b"%d" % (2**64 - 2), b"short"]]
    assert by_name[b"ARSEEK"] == [[b"arr", b"50"]]  # the next index: one past the stored cursor 49
    assert by_name[b"XNACK"] == [[b"st5", b"g", b"FAIL", b"IDS", b"1", b"2-0", b"RETRYCOUNT", b"2", b"FORCE"]]
    assert b"XCFGSET" not in by_name  # 100 s / 100 entries: what a new stream has
    assert by_name[b"XIDMPRECORD"] == [[b"st5", b"p1", b"iid-p1", b"2-0"], [b"st5", b"p2", b"iid-p2", b"2-0"]]
    assert [c[0] for c in by_name[b"XCLAIM"]] == [b"st5"]  # the released entry is not claimed by anyone
    hashes = {c[0]: c[1:] for c in by_name[b"HSET"]}
    assert hashes[b"h-lp-ref"] == [b"a", b"1", b"b", b"2", b"id", b"3", b"name", b"Ann"]


def test_resp_for_an_older_target_leaves_out_what_it_has_no_command_for_and_counts_it(tmp_path):
    path = tmp_path / "v15.rdb"
    path.write_bytes(_v15_file())
    out = tmp_path / "for-8.2.aof"
    report = convert(path, out, to="resp", target=TARGETS["redis-8.2"])
    assert {k: v for k, v in report.skipped.items() if k != "key metadata"} == {
        "arrays": 1, "stream-idmp": 1, "stream-nacks": 1}
    text = out.read_bytes()
    assert b"ARMSET" not in text and b"XIDMPRECORD" not in text and b"XNACK" not in text
    with start_server("redis-8.2", extra=("--appendonly", "yes", "--appenddirname", "d",
                                          "--appendfilename", "a.aof"), prepare=lambda d: _aof_dir(out, d)) as server:
        client = server.client()
        assert client.hgetall(b"h-lp-ref") == {b"a": b"1", b"b": b"2", b"id": b"3", b"name": b"Ann"}
        assert client.xlen(b"st5") == 2 and not client.exists(b"arr")


def _aof_dir(aof: Path, directory: Path) -> None:
    (directory / "d").mkdir()
    (directory / "d" / "a.aof.1.base.aof").write_bytes(aof.read_bytes())
    (directory / "d" / "a.aof.manifest").write_text("file a.aof.1.base.aof seq 1 type b\n")
