"""The report's parts on their own: sizes as people write them, the server a file names, the capped prefix tree."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from rdbtools.rdb.targets import writer_target
from rdbtools.report.prefixes import PrefixTree
from rdbtools.report.sizes import human_size, parse_size


@pytest.mark.parametrize(("text", "size"), [("10mb", 10 * 1024**2), ("1.5GB", 3 * 1024**3 // 2), ("1k", 1000),
                                            ("2kb", 2048), ("512", 512), ("7b", 7), (" 3 M ", 3_000_000)])
def test_sizes_take_redis_units(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "mb", "10 tb", "-1", "1e3"])
def test_sizes_refuse_other_text(text):
    with pytest.raises(ValueError, match="invalid size"):
        parse_size(text)


def test_sizes_print_in_binary_units():
    assert [human_size(n) for n in (0, 1023, 1536, 5 * 1024**3)] == ["0 B", "1023 B", "1.5 KiB", "5.0 GiB"]


@pytest.mark.parametrize(("magic", "version", "aux", "name"), [
    ("REDIS", 10, {b"redis-ver": b"7.0.15"}, "redis-7.0"),
    ("REDIS", 9, {b"redis-ver": b"6.0.16"}, "redis-5.0"),  # the nearest entry not newer
    ("REDIS", 11, {b"redis-ver": b"7.2.4", b"valkey-ver": b"8.1.1"}, "valkey-8.1"),  # Valkey 8 says both
    ("REDIS", 11, {b"redis-ver": b"7.2.4", b"valkey-ver": b"8.0.2"}, "valkey-8.1"),  # the family's oldest
    ("REDIS", 12, {b"redis-ver": b"8.0.1"}, "redis-7.4"),
    ("REDIS", 10, {}, "redis-7.0"),  # no aux field: by the RDB version
    ("REDIS", 3, {}, "redis-2.6"),
    ("VALKEY", 80, {}, "valkey-9.1"),
])
def test_a_file_is_measured_for_the_server_that_wrote_it(magic, version, aux, name):
    assert writer_target(magic, version, aux).name == name


def _expected(keys: list[tuple[bytes, int]], depth: int) -> Counter:
    sums: Counter = Counter()
    for key, size in keys:
        parts = key.split(b":")[:-1]
        for level in range(1, min(len(parts), depth) + 1):
            sums[b":".join(parts[:level]) + b":"] += size
    return sums


_KEYS = st.lists(st.tuples(st.lists(st.sampled_from([b"a", b"b", b"cc", b""]), min_size=1, max_size=4)
                           .map(b":".join), st.integers(0, 1000)), max_size=40)


@given(_KEYS, st.integers(0, 4))
@example([(b"a:b:c:d", 5), (b"a::", 1)], 2)
def test_every_prefix_holds_the_bytes_of_the_keys_under_it(keys, depth):
    tree = PrefixTree(depth=depth)
    for key, size in keys:
        tree.add(key, size)
    assert {row.prefix: row.bytes for row in tree.rows()} == dict(_expected(keys, depth))


@given(_KEYS, st.integers(1, 6))
@example([(b"a:b", 1), (b"b:c", 2), (b"c:d", 3)], 1)
def test_a_full_tree_counts_new_prefixes_in_their_parents_other_bucket(keys, limit):
    tree = PrefixTree(depth=3, limit=limit)
    for key, size in keys:
        tree.add(key, size)
    rows = tree.rows()
    assert len([row for row in rows if not row.other]) <= limit
    first_level = sum(row.bytes for row in rows if row.depth == 1)
    assert first_level == sum(size for key, size in keys if b":" in key)


@given(_KEYS, _KEYS)
def test_merged_trees_count_as_one_tree_of_both(first, second):
    merged, whole = PrefixTree(), PrefixTree()
    other = PrefixTree()
    for key, size in first:
        merged.add(key, size)
        whole.add(key, size)
    for key, size in second:
        other.add(key, size)
        whole.add(key, size)
    merged.merge(other)
    assert merged.rows() == whole.rows()


def test_several_separators_end_prefixes():
    tree = PrefixTree(separators=(":", "/", "::"), depth=2)
    tree.add(b"a::b/c:d", 5)
    assert [(row.prefix, row.depth) for row in tree.rows()] == [(b"a::", 1), (b"a::b/", 2)]


@given(_KEYS, st.integers(1, 8))
def test_the_pages_tree_nests_every_prefix_under_its_parent(keys, limit):
    tree = PrefixTree(depth=3, limit=limit)
    for key, size in keys:
        tree.add(key, size)
    root = tree.tree(len(keys), sum(size for _, size in keys), lambda name: name)
    seen = []

    def walk(branch: dict, depth: int) -> None:
        assert sum(child["bytes"] for child in branch["children"]) <= branch["bytes"]
        for child in branch["children"]:
            seen.append((child["name"], depth + 1, child["keys"], child["bytes"], child["other"]))
            if not child["other"]:
                assert child["name"].startswith(branch["name"])
            walk(child, depth + 1)

    walk(root, 0)
    assert sorted(seen) == sorted((row.prefix, row.depth, row.keys, row.bytes, row.other) for row in tree.rows())
