"""Random datasets built through the schema: the fast reader yields exactly what the schema-only
reference reader yields, for every collection encoding and for expiries."""

from __future__ import annotations

import struct

from construct import Container, ListContainer
from hypothesis import given, settings
from hypothesis import strategies as st

from rdbtools.formats.intset import encode_intset
from rdbtools.formats.listpack import encode_listpack
from rdbtools.formats.rdb import KeyEntry, RdbType
from rdbtools.formats.ziplist import encode_ziplist
from rdbtools.formats.zipmap import encode_zipmap
from rdbtools.rdb.model import KeyRecord
from rdbtools.rdb.reader import RdbReader
from rdbtools.rdb.source import MappedSource
from tests.rdbbuild import rdb_file
from tests.reference import reference_keys

members = st.one_of(st.binary(min_size=0, max_size=40), st.integers(-(2**40), 2**40).map(lambda n: b"%d" % n))
items = st.lists(members, min_size=1, max_size=12)
scores = st.one_of(st.floats(allow_nan=False, width=64), st.integers(-(2**62), 2**62).map(float))


def _score_text(score: float) -> bytes:
    """As Redis stores a score in a listpack/ziplist: integral values as integer entries."""
    if score.is_integer() and abs(score) <= 2**62:
        return b"%d" % score
    return repr(score).encode()


def _pairs(draw) -> list[tuple[bytes, bytes]]:
    fields = draw(st.lists(members, min_size=1, max_size=8, unique=True))
    return [(f, draw(members)) for f in fields]


@st.composite
def key_entries(draw) -> bytes:
    """One key entry in a random encoding, built with the schema (and the blob encoders)."""
    key = draw(members)
    kind = draw(st.sampled_from(["list", "set", "zset", "zset2", "hash", "zipmap", "ziplist", "intset",
                                 "zset-ziplist", "hash-ziplist", "quicklist", "hash-listpack", "zset-listpack",
                                 "quicklist2", "set-listpack"]))
    pairs = _pairs(draw)
    flat = [x for pair in pairs for x in pair]
    zset = [(m, draw(scores)) for m in draw(st.lists(members, min_size=1, max_size=8, unique=True))]
    zflat = [x for m, s in zset for x in (m, _score_text(s))]
    value_of = {
        "list": (RdbType.LIST, lambda: ListContainer(draw(items))),
        "set": (RdbType.SET, lambda: ListContainer(draw(items))),
        "zset": (RdbType.ZSET, lambda: ListContainer(Container(member=m, score=s) for m, s in zset)),
        "zset2": (RdbType.ZSET_2, lambda: ListContainer(Container(member=m, score=s) for m, s in zset)),
        "hash": (RdbType.HASH, lambda: ListContainer(Container(field=f, value=v) for f, v in pairs)),
        "zipmap": (RdbType.HASH_ZIPMAP, lambda: encode_zipmap(pairs)),
        "ziplist": (RdbType.LIST_ZIPLIST, lambda: encode_ziplist(draw(items))),
        "intset": (RdbType.SET_INTSET, lambda: encode_intset(draw(st.lists(st.integers(-(2**63), 2**63 - 1),
                                                                          min_size=1, max_size=12)))),
        "zset-ziplist": (RdbType.ZSET_ZIPLIST, lambda: encode_ziplist(zflat)),
        "hash-ziplist": (RdbType.HASH_ZIPLIST, lambda: encode_ziplist(flat)),
        "quicklist": (RdbType.LIST_QUICKLIST, lambda: ListContainer(encode_ziplist(draw(items))
                                                                    for _ in range(draw(st.integers(1, 3))))),
        "hash-listpack": (RdbType.HASH_LISTPACK, lambda: encode_listpack(flat)),
        "zset-listpack": (RdbType.ZSET_LISTPACK, lambda: encode_listpack(zflat)),
        "quicklist2": (RdbType.LIST_QUICKLIST_2, lambda: ListContainer(
            Container(container=2, data=encode_listpack(draw(items))) if draw(st.booleans())
            else Container(container=1, data=draw(st.binary(min_size=1, max_size=50)))
            for _ in range(draw(st.integers(1, 3))))),
        "set-listpack": (RdbType.SET_LISTPACK, lambda: encode_listpack(draw(items))),
    }
    type_byte, make = value_of[kind]
    entry = KeyEntry.build(Container(type=type_byte, key=key, value=make()))
    if draw(st.booleans()):
        entry = b"\xfc" + struct.pack("<q", draw(st.integers(0, 2**50))) + entry
    return entry


def _fast(data: bytes, tmp_path) -> list[dict]:
    path = tmp_path / "generated.rdb"
    path.write_bytes(data)
    with MappedSource(path) as source:
        records = [r for r in RdbReader(source) if isinstance(r, KeyRecord)]
    keys = []
    for r in records:
        key = {"db": r.db, "key": r.key, "type": r.rdb_type, "value": r.value, "field_expires": r.field_expires}
        if r.expire_ms is not None:
            key["expire_ms"] = r.expire_ms
        keys.append(key)
    return keys


@settings(max_examples=200, deadline=None)
@given(entries=st.lists(key_entries(), min_size=1, max_size=6))
def test_fast_reader_matches_the_schema_on_random_datasets(tmp_path_factory, entries):
    data = rdb_file(b"\xfe\x00", *entries)
    assert _fast(data, tmp_path_factory.mktemp("p")) == reference_keys(data)
