"""The whole-file schema: symmetric on every record of the corpus, and the fast reader decodes every
corpus file exactly as the schema does."""

from __future__ import annotations

import struct

import pytest

from rdbtools import FormatError, TruncatedError, UnsupportedError, open_rdb
from rdbtools.formats.primitives import encode_length, encode_string
from rdbtools.formats.rdb import Opcode, RdbFile, build_record, module_name, parse_records
from rdbtools.rdb.model import KeyRecord, SparseArray, Stream
from tests.corpus import corpus_dir, rdb_files, rdb_ids
from tests.rdbbuild import rdb_file
from tests.reference import reference_keys

_FILES = rdb_files()
_READABLE = [f for f in _FILES if f.path.name != "corrupt_ziplist.rdb"]


def _preamble() -> bytes:
    data = (corpus_dir() / "peers" / "redis" / "rdb-preamble.aof").read_bytes()
    end = max(off + size for off, size, _ in parse_records(data))
    return data[: end + 8]


@pytest.mark.parametrize("corpus_file", _FILES, ids=rdb_ids(_FILES))
def test_every_record_of_the_corpus_builds_back_to_its_bytes(corpus_file):
    data = corpus_file.path.read_bytes()
    valkey = data.startswith(b"VALKEY")
    for offset, size, record in parse_records(data):
        assert build_record(record, valkey=valkey) == data[offset : offset + size], f"record at {offset}"
    assert RdbFile.build(RdbFile.parse(data)) == data


def test_the_rdb_preamble_of_an_aof_builds_back_too():
    data = _preamble()
    assert RdbFile.build(RdbFile.parse(data)) == data


def _fast_keys(path) -> list[dict]:
    keys = []
    with open_rdb(path) as rdb:
        for record in rdb:
            if isinstance(record, KeyRecord):
                entry = {"db": record.db, "key": record.key, "type": record.rdb_type, "value": record.value,
                         "field_expires": record.field_expires}
                for name in ("expire_ms", "idle", "freq"):
                    if getattr(record, name) is not None:
                        entry[name] = getattr(record, name)
                if record.key_meta is not None:
                    entry["key_meta"] = [(c.class_spec, c.payload) for c in record.key_meta]
                keys.append(_comparable(entry))
    return keys


def _comparable(entry: dict) -> dict:
    """The fast reader's model objects in the reference reader's plain shape."""
    value = entry["value"]
    if isinstance(value, Stream):
        entry["value"] = {
            "length": value.length, "last_id": tuple(value.last_id), "entries_added": value.entries_added,
            "entries": [(tuple(e.id), e.fields) for e in value.entries],
            "groups": [{
                "name": g.name, "last_delivered_id": tuple(g.last_delivered_id), "entries_read": g.entries_read,
                "pending": [(tuple(p.id), p.consumer, p.delivery_time, p.delivery_count) for p in g.pending],
                "consumers": [(c.name, c.seen_time, c.active_time, [tuple(i) for i in c.pending])
                              for c in g.consumers],
                "nacked": None if g.nacked is None else [tuple(i) for i in g.nacked],
            } for g in value.groups],
            "idmp": None if value.idmp is None else (
                value.idmp.duration, value.idmp.max_entries,
                [(p.pid, [(iid, tuple(i)) for iid, i in p.entries]) for p in value.idmp.producers],
                value.idmp.iids_added, value.idmp.iids_duplicates),
        }
    elif isinstance(value, SparseArray):
        entry["value"] = (value.insert_index, value.elements)
    elif hasattr(value, "module_id"):
        entry["value"] = value.module_id
    if not entry["field_expires"]:
        entry["field_expires"] = None
    return entry


def _reference(data: bytes) -> list[dict]:
    keys = reference_keys(data)
    for key in keys:
        if not key["field_expires"]:
            key["field_expires"] = None
    return keys


@pytest.mark.parametrize("corpus_file", _READABLE, ids=rdb_ids(_READABLE))
def test_fast_reader_decodes_what_the_schema_decodes(corpus_file):
    assert _fast_keys(corpus_file.path) == _reference(corpus_file.path.read_bytes())


# --- known answers ----------------------------------------------------------------------------


def test_annotated_7_0_file_parses_field_by_field():
    data = rdb_file(
        b"\xfa\x09redis-ver\x067.0.15", b"\xfa\x0aredis-bits\xc0\x40", b"\xfe\x00", b"\xfb\x07\x01",
        b"\x00\x01n\xc1\x39\x30",
        b"\x10\x01h\x0d" + bytes.fromhex("0d0000000200816602817602ff"),
        b"\xfc" + struct.pack("<q", 1776000000000) + b"\x00\x03foo\x03bar",
        b"\x0b\x01s\x0e" + bytes.fromhex("0200000003000000010002000300"),
    )
    parsed = RdbFile.parse(data)
    assert (parsed.header.magic, parsed.header.version) == ("REDIS", 10)
    records = [r.record for r in parsed.records]
    assert (records[0].body.name, records[0].body.value) == (b"redis-ver", b"7.0.15")
    assert records[1].body.value == b"64" and records[1].body.value.encoding == 0
    assert records[2].body.db == 0 and (records[3].body.db_size, records[3].body.expires_size) == (7, 1)
    assert (records[4].key, records[4].value) == (b"n", b"12345")
    assert records[6].body.ms == 1776000000000
    assert records[-1].opcode == Opcode.EOF


def test_stream_group_with_unknown_entries_read_round_trips():
    node_key = struct.pack(">QQ", 1, 0)
    lp = bytes.fromhex("0f0000000100010181610201ff")  # not walked at this level
    value = (encode_length(1) + encode_string(node_key) + encode_string(lp) + encode_length(1)
             + encode_length(1) + encode_length(0) + b"\x01\x00" + b"\x00\x00" + encode_length(1)
             + encode_length(1) + encode_string(b"g") + encode_length(1) + encode_length(0)
             + b"\x81" + b"\xff" * 8 + encode_length(0) + encode_length(0))
    data = rdb_file(b"\x13" + encode_string(b"s") + value)
    parsed = RdbFile.parse(data)
    group = parsed.records[0].record.value.groups[0]
    assert group.entries_read == 2**64 - 1
    assert RdbFile.build(parsed) == data


def test_non_minimal_lengths_round_trip():
    data = rdb_file(b"\x02\x01s\x81" + (1).to_bytes(8, "big") + b"\x01x")
    assert RdbFile.build(RdbFile.parse(data)) == data


def test_module_ids_decode_to_name_and_encoding_version():
    module_id = 0
    for char in "ReJSON-RL":
        module_id = module_id << 6 | "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".index(char)
    assert module_name(module_id << 10 | 3) == ("ReJSON-RL", 3)


def test_unknown_type_byte_is_a_format_error_at_its_record():
    data = rdb_file(b"\x08\x01k\x01v")
    with pytest.raises(FormatError) as caught:
        list(parse_records(data))
    assert caught.value.offset == 9


def test_a_version_above_15_is_refused_as_unsupported():
    with pytest.raises(UnsupportedError, match="16"):
        list(parse_records(rdb_file(version=16)))


def test_truncated_record_is_reported_where_it_starts():
    data = rdb_file(b"\x00\x03key\x05value")[:-12]
    with pytest.raises(TruncatedError) as caught:
        list(parse_records(data))
    assert caught.value.offset == 9
