"""What verify must find inside values, in every encoding the compiled scan also handles."""

from __future__ import annotations

import struct

import pytest

from rdbtools import verify_rdb
from rdbtools.formats.intset import encode_intset
from rdbtools.formats.listpack import encode_listpack
from rdbtools.formats.primitives import encode_length, encode_string
from rdbtools.formats.ziplist import encode_ziplist
from tests.rdbbuild import rdb_file


def key(type_byte: int, payload: bytes, name: bytes = b"k") -> bytes:
    return bytes((type_byte,)) + encode_string(name) + payload


def blob(data: bytes) -> bytes:
    return encode_string(data)


def counted(*items: bytes, per_item: int = 1) -> bytes:
    return encode_length(len(items) // per_item) + b"".join(items)


CASES = {
    "hash fields (hashtable)": (key(4, counted(encode_string(b"f"), encode_string(b"1"), encode_string(b"f"),
                                               encode_string(b"2"), per_item=2)), "duplicate hash fields"),
    "hash fields (listpack)": (key(16, blob(encode_listpack([b"f", b"1", b"f", b"2"]))), "duplicate hash fields"),
    "hash fields, int and text (listpack)": (key(16, blob(encode_listpack([12, b"a", b"12", b"b"]))),
                                             "duplicate hash fields"),
    "hash fields (ziplist)": (key(13, blob(encode_ziplist([b"f", b"1", b"f", b"2"]))), "duplicate hash fields"),
    "set members (listpack)": (key(20, blob(encode_listpack([b"a", b"b", b"a"]))), "duplicate set members"),
    "zset members (listpack)": (key(17, blob(encode_listpack([b"m", 1, b"m", 2]))), "duplicate sorted set members"),
    "zset members (ziplist)": (key(12, blob(encode_ziplist([b"m", 1, b"m", 2]))), "duplicate sorted set members"),
    "empty list": (key(1, counted()), "empty collection"),
    "empty quicklist": (key(18, encode_length(0)), "empty list"),
    "intset out of order": (key(11, blob(struct.pack("<II3h", 2, 3, 1, 3, 2))), "intset element 2"),
    "NaN binary score": (key(5, counted(encode_string(b"m") + struct.pack("<d", float("nan")))), "NaN"),
    "NaN text score (listpack)": (key(17, blob(encode_listpack([b"m", b"nan"]))), "NaN"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_verify_finds_what_is_wrong_inside_a_value(tmp_path, case):
    record, expected = CASES[case]
    path = tmp_path / "case.rdb"
    path.write_bytes(rdb_file(b"\xfe\x00", key(0, encode_string(b"fine"), b"before"), record))
    report = verify_rdb(path)
    assert report.verdict == "corrupt"
    assert any(expected in p.message and p.key == b"k" for p in report.problems), [str(p) for p in report.problems]


def test_verify_accepts_the_same_values_without_the_flaw(tmp_path):
    path = tmp_path / "fine.rdb"
    path.write_bytes(rdb_file(
        b"\xfe\x00",
        key(16, blob(encode_listpack([b"f", b"1", b"g", b"2"])), b"h"),
        key(20, blob(encode_listpack([b"a", b"b"])), b"s"),
        key(11, blob(encode_intset([3, 1, 2])), b"i"),
        key(17, blob(encode_listpack([b"m", 1, b"n", b"2.5"])), b"z"),
    ))
    report = verify_rdb(path)
    assert report.verdict == "sound", [str(p) for p in report.problems]
