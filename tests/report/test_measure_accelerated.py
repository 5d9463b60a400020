"""The compiled scan's measuring walk (formats/_speedups.c) and report.measure are twins: the keys the scan
measures itself get the facts the Python model gives their records, for any value, target and thresholds; the
rest come as records, measured in Python. Its fold and Summary.add are twins too: a file's summary is the same
whether the scan adds the keys it measures or hands their facts to ``add``. (tests/report/test_report.py checks
the report of a real Redis 7.0's file, read through both, against that server's answers.)"""

from __future__ import annotations

import itertools
import re
import struct

import pytest
from construct import Container, ListContainer
from hypothesis import example, given, settings
from hypothesis import strategies as st

from rdbtools.errors import RdbtoolError
from rdbtools.formats.intset import encode_intset
from rdbtools.formats.listpack import encode_listpack
from rdbtools.formats.rdb import KeyEntry, RdbType
from rdbtools.formats.ziplist import encode_ziplist
from rdbtools.rdb.model import KeyRecord
from rdbtools.rdb.reader import RdbReader
from rdbtools.rdb.source import MappedSource
from rdbtools.rdb.targets import Target, target_for
from rdbtools.rdb.writer import stored_string
from rdbtools.report.measure import KeyFacts, accelerated_model, measure
from rdbtools.report.run import report_file
from rdbtools.report.summary import HOUR_MS, Options
from tests.accelerators import require_accelerated
from tests.formats.test_speedups import damage
from tests.rdb.test_properties import key_entries
from tests.rdbbuild import rdb_file

require_accelerated("scan_keys")

texts = st.one_of(st.binary(max_size=70), st.integers(-(2**63), 2**63 - 1).map(lambda n: b"%d" % n),
                  st.sampled_from([b"0", b"-0", b"007", b"+1", b"9223372036854775808", b"1" * 44, b"x" * 45]),
                  st.integers(0, 20000).map(lambda n: b"s" * n))
expiry = st.one_of(st.none(), st.integers(0, 2**50))
prefixed = st.lists(st.sampled_from([b"", b"a", b"b.c", b"::"]), min_size=1, max_size=5).map(b":".join)
any_key = st.one_of(texts, prefixed)


def _string(key: bytes, value: bytes, expire: int | None = None, compress: bool = False) -> bytes:
    """A string key, stored raw, as its integer or (``compress``) LZF-compressed as Redis saves it."""
    entry = b"\x00" + stored_string(key) + stored_string(value, compress=compress)
    return entry if expire is None else b"\xfc" + struct.pack("<q", expire) + entry


@st.composite
def string_entries(draw, keys: st.SearchStrategy[bytes] = any_key) -> bytes:
    """A string key of any text."""
    return _string(draw(keys), draw(texts), draw(expiry), draw(st.booleans()))


@st.composite
def scored_listpacks(draw) -> bytes:
    """A sorted set listpack whose scores are texts of every kind a file may hold (7.0's 17 digits, the
    shortest form, integers past 2**62, infinities, what float() reads but not as written)."""
    members = draw(st.lists(texts, min_size=1, max_size=6, unique=True))
    score_text = st.one_of(st.floats(allow_nan=False).map(lambda f: repr(f).encode()),
                           st.floats(allow_nan=False, allow_infinity=False).map(lambda f: b"%.17g" % f),
                           st.integers(-(2**64), 2**64).map(lambda n: b"%d" % n),
                           st.sampled_from([b"inf", b"-inf", b"1e400", b" 1", b"1_0", b"0x10", b""]))
    flat = [x for m in members for x in (m, draw(score_text))]
    return KeyEntry.build(Container(type=RdbType.ZSET_LISTPACK, key=draw(texts), value=encode_listpack(flat)))


@st.composite
def targets(draw) -> Target:
    """A Redis 7.x (whose layout the scan measures) or another server, with thresholds low enough that
    values pass them: those the target converts are measured in Python."""
    target = target_for(draw(st.sampled_from(["redis-7.0", "redis-7.2", "redis-7.4", "redis-3.2", "redis-6.2",
                                              "redis-8.2", "valkey-9.1"])))
    if draw(st.booleans()):
        return target
    target = target.with_thresholds(
        hash_max_listpack_entries=draw(st.integers(1, 8)), hash_max_listpack_value=draw(st.integers(0, 64)),
        zset_max_listpack_entries=draw(st.integers(1, 8)), zset_max_listpack_value=draw(st.integers(0, 64)),
        set_max_intset_entries=draw(st.integers(1, 12)), set_max_listpack_entries=draw(st.integers(1, 12)),
        set_max_listpack_value=draw(st.integers(0, 64)))
    return target.with_list_fill(draw(st.sampled_from([-5, -4, -3, -2, -1, 1, 2, 3, 5])))


def measured(path, target: Target, accelerate: bool,
             written_by: Target | None = None) -> tuple[list[KeyFacts], int, tuple | None]:
    """Every key's facts (and how many the scan measured), or the error that stopped the read."""
    with MappedSource(path) as source:
        facts, by_scan = [], 0
        try:
            reader = RdbReader(source, accelerate=accelerate)
            reader.measure_with = accelerated_model(target, written_by) if accelerate else None
            for record in reader:
                if record.__class__ is KeyFacts:
                    facts.append(record)
                    by_scan += 1
                elif record.__class__ is KeyRecord:
                    facts.append(measure(record, target, written_by))
        except RdbtoolError as error:
            return [], 0, (type(error).__name__, str(error))
    return facts, by_scan, None


def written(tmp_path_factory, entries: list[bytes], data=None):
    """A file of the entries (no checksum: a damaged value is read, not refused at the end); ``data``: damaged."""
    blob = rdb_file(b"\xfe\x00", *entries, checksum=False)
    path = tmp_path_factory.mktemp("measure") / "file.rdb"
    path.write_bytes(damage(blob, data) if data is not None and data.draw(st.booleans()) else blob)
    return path


def _agree(tmp_path_factory, entries: list[bytes], target: Target, data=None, written_by: Target | None = None) -> int:
    path = written(tmp_path_factory, entries, data)
    python, _, python_error = measured(path, target, False, written_by)
    compiled, by_scan, error = measured(path, target, True, written_by)
    assert (compiled, error) == (python, python_error)
    return by_scan


def _entry(kind: RdbType, value: object) -> bytes:
    return KeyEntry.build(Container(type=kind, key=b"k", value=value))


REDIS_7_0, REDIS_8_2 = target_for("redis-7.0"), target_for("redis-8.2")


@settings(max_examples=300, deadline=None)
@given(entries=st.lists(st.one_of(key_entries(), string_entries(), scored_listpacks()), min_size=1, max_size=6),
       target=targets(), data=st.data())
@example(entries=[_entry(RdbType.SET_INTSET, struct.pack("<II3h", 2, 3, 5, 5, 6))], target=REDIS_7_0,
         data=None)  # a member twice
@example(entries=[_entry(RdbType.SET_INTSET, encode_intset([1, 2, 32768]))], target=REDIS_7_0,
         data=None)  # 4-byte members
@example(entries=[_entry(RdbType.SET_INTSET, encode_intset([1, 2, 3]))],
         target=REDIS_7_0.with_thresholds(set_max_intset_entries=2), data=None)  # a hash table
@example(entries=[_entry(RdbType.ZSET_LISTPACK, encode_listpack([b"m", 1 << 62, b"n", (1 << 62) + 1]))],
         target=REDIS_7_0, data=None)  # the greatest integer a score's entry holds, and one past it (its text)
@example(entries=[_entry(RdbType.SET, ListContainer([b"1", b"2"]))],
         target=REDIS_7_0.with_thresholds(set_max_intset_entries=2), data=None)  # as many numbers as an intset holds
@example(entries=[_entry(RdbType.SET, ListContainer([b"a" * 64, b"b"]))], target=target_for("redis-7.2"), data=None)
@example(entries=[_entry(RdbType.SET, ListContainer([b"1", b"2", b"3"]))],
         target=target_for("redis-7.2").with_thresholds(set_max_intset_entries=2), data=None)  # a listpack past it
@example(entries=[_entry(RdbType.SET, ListContainer([b"1", b"2", b"3"]))], data=None,
         target=target_for("redis-7.2").with_thresholds(set_max_intset_entries=2, set_max_listpack_entries=2))
@example(entries=[_entry(RdbType.SET, ListContainer([b"a" * 65, b"b"]))],
         target=target_for("redis-7.2").with_thresholds(set_max_listpack_entries=2),
         data=None)  # past the value's limit
@example(entries=[_entry(RdbType.HASH_LISTPACK, encode_listpack([b"f", b"v" * 65]))], target=REDIS_7_0, data=None)
@example(entries=[_entry(RdbType.HASH_LISTPACK, encode_listpack([b"f" * 65, b"v"]))], target=REDIS_7_0, data=None)
@example(entries=[_entry(RdbType.ZSET_LISTPACK, encode_listpack([b"m" * 10, b"-inf", b"n", b"inf"]))],
         target=REDIS_7_0, data=None)  # 33 bytes: -inf's 6 bytes make the allocation's class
@example(entries=[_entry(RdbType.LIST_QUICKLIST, ListContainer([encode_ziplist(
    [b"a" * 251, b"b", b"13", b"12", b"128", b"-128", b"-32768", b"s" * 16384])]))],
         target=target_for("redis-6.2"), data=None)  # a ziplist's bounds: a 254-byte entry, integers, a long string
@example(entries=[_string(b"kk", b"v" * 40)], target=REDIS_8_2, data=None)  # 42 bytes: not embedded
@example(entries=[_string(b"k", b"v" * 32, expire=1)], target=REDIS_8_2, data=None)  # 33 and a TTL: embedded
@example(entries=[_entry(RdbType.LIST_QUICKLIST_2, ListContainer([
    Container(container=2, data=encode_listpack([b"a" * 4083, b"b"]))]))],
         target=REDIS_8_2.with_list_fill(-1), data=None)  # one listpack: its last entry counted by its length
@example(entries=[_entry(RdbType.LIST_QUICKLIST_2, ListContainer([
    Container(container=2, data=encode_listpack([b"a", b"b", b"c"]))]))],
         target=REDIS_8_2.with_list_fill(2), data=None)  # more entries than a node holds
@example(entries=[_entry(RdbType.LIST_QUICKLIST_2, ListContainer([
    Container(container=2, data=encode_listpack([b"a" * 60, b"b" * 4023]))]))],
         target=REDIS_7_0.with_list_fill(-1), data=None)  # a node of exactly the 4096 bytes allowed
def test_the_scan_measures_keys_as_the_python_model_does(tmp_path_factory, entries, target, data):
    _agree(tmp_path_factory, entries, target, data)


@settings(max_examples=100, deadline=None)
@given(entries=st.lists(st.one_of(key_entries(), scored_listpacks()), min_size=1, max_size=6), target=targets(),
       written_by=st.sampled_from(["redis-6.2", "redis-7.0", "redis-7.2", "redis-8.2"]).map(target_for))
@example(entries=[_entry(RdbType.ZSET_LISTPACK, encode_listpack([b"m", b"0.1", b"n", b"0.2", b"o", b"0.3"]))],
         target=REDIS_8_2, written_by=REDIS_7_0)  # 7.0's 17 digits where 8.2 writes 0.1
def test_a_file_measured_for_another_server_keeps_its_writers_scores(tmp_path_factory, entries, target, written_by):
    """--target: the target's layout, a sorted set's listpack scores as the file's writer wrote them."""
    _agree(tmp_path_factory, entries, target, written_by=written_by)


def test_the_scan_measures_the_common_encodings_itself(tmp_path_factory):
    """A string of each encoding, a listpack hash and sorted set (their elements up to the longest a listpack
    keeps), their 6.2 ziplists, an intset, quicklists of both, sets of strings and of numbers (and from 7.2 a set's
    listpack): none is left to Python for Redis 6.2, 7.x and 8.x, whose layouts the scan knows; for Valkey every
    key is."""
    strings = [_string(b"k%d" % n, value, compress=True)
               for n, value in enumerate([b"12", b"short", b"long" * 20, b"compressible " * 20])]
    collections = [
        KeyEntry.build(Container(type=RdbType.HASH_LISTPACK, key=b"h", value=encode_listpack([b"f", b"v", b"n", 7]))),
        KeyEntry.build(Container(type=RdbType.HASH_LISTPACK, key=b"H", value=encode_listpack([b"f" * 64, b"v" * 64]))),
        KeyEntry.build(Container(type=RdbType.ZSET_LISTPACK, key=b"z", value=encode_listpack([b"m", b"1.5", 2, 3]))),
        KeyEntry.build(Container(type=RdbType.ZSET_LISTPACK, key=b"Z", value=encode_listpack([b"m" * 64, 1]))),
        KeyEntry.build(Container(type=RdbType.SET_INTSET, key=b"s", value=encode_intset([-40000, 3, 70000]))),
        KeyEntry.build(Container(type=RdbType.SET, key=b"S", value=ListContainer([b"a", b"b" * 70]))),
        KeyEntry.build(Container(type=RdbType.SET, key=b"N", value=ListContainer([b"1", b"-2"]))),
        KeyEntry.build(Container(type=RdbType.LIST_QUICKLIST_2, key=b"l", value=ListContainer([
            Container(container=2, data=encode_listpack([b"a" * 100] * 100)), Container(container=1, data=b"p")]))),
        KeyEntry.build(Container(type=RdbType.HASH_ZIPLIST, key=b"hz", value=encode_ziplist([b"f", b"v" * 60, 5, 7]))),
        KeyEntry.build(Container(type=RdbType.ZSET_ZIPLIST, key=b"zz", value=encode_ziplist([b"m", b"0.1", 2, 3]))),
        KeyEntry.build(Container(type=RdbType.LIST_QUICKLIST, key=b"lz", value=ListContainer([
            encode_ziplist([b"a" * 300] * 40), encode_ziplist([b"b", -200])]))),
    ]
    entries = strings + collections
    assert _agree(tmp_path_factory, entries, target_for("redis-7.0")) == len(entries)
    entries.append(KeyEntry.build(Container(type=RdbType.SET_LISTPACK, key=b"L", value=encode_listpack([b"a", 1]))))
    for measured_there in ("redis-7.2", "redis-7.4", "redis-8.2"):
        assert _agree(tmp_path_factory, entries, target_for(measured_there)) == len(entries)
    assert _agree(tmp_path_factory, entries, target_for("redis-6.2")) == len(entries) - 1  # (no set listpacks)
    for measured_here in ("valkey-8.1", "valkey-9.1"):
        assert _agree(tmp_path_factory, entries, target_for(measured_here)) == 0


def summary_of(path, options: Options, fold: bool) -> tuple:
    """The file's report as report_file folds it (no per-key rows), or adds each key's facts (rows asked)."""
    report = report_file(str(path), options, rows=None if fold else lambda batch: None)
    summary, tree = report.summary, report.summary.prefixes
    return (summary.keys, summary.bytes, summary.groups, summary.top_keys, summary.largest_elements,
            tree.nodes, tree.others, report.overhead)


@settings(max_examples=200, deadline=None)
@given(entries=st.lists(st.one_of(key_entries(), string_entries(prefixed), string_entries(prefixed),
                                  scored_listpacks()), min_size=1, max_size=20),
       top=st.integers(0, 3), separators=st.lists(st.sampled_from([":", "::", ".", "a"]), min_size=1, max_size=3),
       depth=st.integers(0, 3), max_prefixes=st.integers(0, 30), now_ms=st.integers(0, 2**50), data=st.data())
@example(entries=[_string(key, b"v") for key in (b"a:x", b"a::b", b"a::c", b"a::d:e", b"a:y")],
         top=1, separators=[":", "::"], depth=3, max_prefixes=30, now_ms=0, data=None)  # the longest separator first
@example(entries=[_string(b"k%d" % n, value, expire) for n, (value, expire) in enumerate(itertools.product(
    [b"1", b"short", b"long" * 20], [None, 0, 1, HOUR_MS, 24 * HOUR_MS, 30 * 24 * HOUR_MS]))],
         top=0, separators=[":"], depth=1, max_prefixes=1, now_ms=0, data=None)  # more groups than the scan holds
@example(entries=[_entry(RdbType.SET, ListContainer(members)) for members in ([b"%d" % n for n in range(513)],
                                                                              [b"a", b"b"])],
         top=0, separators=[":"], depth=1, max_prefixes=1, now_ms=0, data=None)  # groups apart by a threshold
def test_the_scan_adds_the_keys_it_measures_as_summary_add_does(tmp_path_factory, entries, top, separators, depth,
                                                                max_prefixes, now_ms, data):
    path = written(tmp_path_factory, entries, data)
    options = Options(top=top, separators=tuple(separators), depth=depth, max_prefixes=max_prefixes, now_ms=now_ms)
    try:
        added = summary_of(path, options, fold=False)
    except RdbtoolError as error:
        with pytest.raises(type(error), match=re.escape(str(error))):
            summary_of(path, options, fold=True)
        return
    assert summary_of(path, options, fold=True) == added
