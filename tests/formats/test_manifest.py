"""The multi-part AOF manifest: parsed as the server parses it (tests/compat/test_manifest_vs_servers.py holds
the servers to the same cases), written so that it reads back, path names refused."""

from __future__ import annotations

import os

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from rdbtools.formats.manifest import (
    DUPLICATE_BASE,
    EMPTY,
    INVALID,
    NON_MONOTONIC,
    NOT_A_NAME,
    TOO_LONG,
    UNKNOWN_TYPE,
    FileType,
    Manifest,
    ManifestEntry,
    ManifestError,
    format_manifest,
    parse_manifest,
    split_args,
)

REDIS_7_EXAMPLE = (b"file appendonly.aof.3.base.aof seq 3 type b\n"
                   b"file appendonly.aof.2.incr.aof seq 2 type h\n"
                   b"file appendonly.aof.2.base.rdb seq 2 type h\n"
                   b"file appendonly.aof.1.incr.aof seq 1 type h\n"
                   b"file appendonly.aof.1.base.rdb seq 1 type h\n"
                   b"file appendonly.aof.3.incr.aof seq 3 type i\n")


def test_the_formats_md_example_round_trips_and_loads_base_then_incr():
    manifest = parse_manifest(REDIS_7_EXAMPLE)
    assert format_manifest(manifest) == REDIS_7_EXAMPLE
    assert [e.name for e in manifest.loaded] == ["appendonly.aof.3.base.aof", "appendonly.aof.3.incr.aof"]


def test_redis_8_offsets_are_kept():
    text = b"file a.1.base.rdb seq 1 type b\nfile a.1.incr.aof seq 1 type i startoffset 10 endoffset 99\n"
    manifest = parse_manifest(text)
    assert (manifest.incrs[0].start_offset, manifest.incrs[0].end_offset) == (10, 99)
    assert format_manifest(manifest) == text


def test_comments_are_skipped_keys_are_case_insensitive_and_unknown_keys_ignored():
    manifest = parse_manifest(b"# written by hand\nFILE a.aof SEQ 1 TYPE b unknownkey x\n")
    assert manifest.base == ManifestEntry("a.aof", 1, FileType.BASE)


def test_values_are_read_as_the_server_reads_them():
    """seq and offsets like C's atoll, type by its first character, a name up to a NUL, -1 as no offset."""
    manifest = parse_manifest(b'file "a\\x00b" seq 7x type base\nfile i seq +2 type incr startoffset -1 endoffset 5z\n')
    assert manifest.entries == (ManifestEntry("a", 7, FileType.BASE), ManifestEntry("i", 2, FileType.INCR, None, 5))


def test_a_manifest_naming_no_file_to_load_is_valid():
    assert parse_manifest(b"# only a comment, no newline").loaded == []
    assert parse_manifest(b"file old seq 1 type h\n").loaded == []


GOOD = b"file a seq 1 type b\nfile i seq 1 type i\n"


@pytest.mark.parametrize(("text", "reason", "line", "offset"), [
    (b"", EMPTY, None, 0),
    (GOOD[:-1], TOO_LONG, 2, 20),
    (b"file a seq 1 type b pad " + b"x" * 1000 + b"\n", TOO_LONG, 1, 0),
    (b"file a seq 1 type b\0\n", TOO_LONG, 1, 0),
    (b"#" + b"x" * 1100 + b"\n" + GOOD, INVALID, 2, 1024),
    (GOOD + b"\n", INVALID, 3, 40),
    (b" # indented\n", INVALID, 1, 0),
    (b"file a seq 1 type\n", INVALID, 1, 0),
    (b"file a seq 1 type b extra\n", INVALID, 1, 0),
    (b"file a seq x type b\n", INVALID, 1, 0),
    (b'file a seq 1 type ""\n', INVALID, 1, 0),
    (b'file "unterminated seq 1 type b\n', INVALID, 1, 0),
    (b'file "a"b seq 1 type b\n', INVALID, 1, 0),
    (b"file a seq 1 type B\n", UNKNOWN_TYPE, 1, 0),
    (GOOD + b"file b seq 2 type b\n", DUPLICATE_BASE, 3, 40),
    (b"file a seq 2 type i\nfile b seq 2 type i\n", NON_MONOTONIC, 2, 20),
    (b"file a seq -1 type i\n", NON_MONOTONIC, 1, 0),
    (b"file ../../etc/passwd seq 1 type b\n", NOT_A_NAME, 1, 0),
    (b'file "a\\x2fb" seq 1 type b\n', NOT_A_NAME, 1, 0),
    (b"file a\\b seq 1 type b\n", NOT_A_NAME, 1, 0),
    (b"file /x seq 1 type b file a\n", NOT_A_NAME, 1, 0),
])
def test_a_refused_manifest_gives_the_servers_reason_its_line_and_offset(text, reason, line, offset):
    with pytest.raises(ManifestError) as caught:
        parse_manifest(text)
    assert reason in caught.value.message
    assert caught.value.offset == offset
    assert line is None or caught.value.message.startswith(f"manifest line {line}: ")


names = st.binary(min_size=1, max_size=30).filter(lambda n: not {0, ord("/"), ord("\\")} & set(n))


@given(st.lists(names, min_size=1, max_size=5, unique=True))
@example([b"appendonly.aof.\xe9.base.aof", b"\"'x", b" \t\r\v"])
def test_any_name_on_disk_survives_writing_and_reading(raw_names):
    entries = tuple(ManifestEntry(os.fsdecode(raw), seq, FileType.INCR) for seq, raw in enumerate(raw_names, 1))
    manifest = Manifest(entries)
    assert parse_manifest(format_manifest(manifest)) == manifest


def test_split_args_follows_sdssplitargs():
    assert split_args('a "b c" \'d e\' "\\x41\\n"') == ["a", "b c", "d e", "A\n"]
    assert split_args("\f a\vb c\xa0d\te ") == ["a\vb", "c\xa0d", "e"]  # C's spaces, not Unicode's
    with pytest.raises(ValueError):
        split_args('"closed"trailing')
