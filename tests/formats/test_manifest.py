"""The multi-part AOF manifest: parsed as Redis parses it, written as Redis writes it, hostile names refused."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rdbtools.formats.manifest import (
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


def test_comments_are_skipped_and_keys_are_case_insensitive():
    manifest = parse_manifest(b"# written by hand\nFILE a.aof SEQ 1 TYPE b unknownkey x\n")
    assert manifest.base == ManifestEntry("a.aof", 1, FileType.BASE)


@pytest.mark.parametrize(("text", "message"), [
    (b"", "empty"),
    (b"\n", "blank line"),
    (b"file a seq 1\n", "invalid AOF manifest file format"),
    (b"file a seq 1 type b extra\n", "invalid AOF manifest file format"),
    (b"file a seq x type b\n", "seq must be a positive integer"),
    (b"file a seq 1 type q\n", "unknown AOF file type"),
    (b"file a seq 1 type b\nfile b seq 2 type b\n", "duplicate base"),
    (b"file a seq 2 type i\nfile b seq 2 type i\n", "non-monotonic"),
    (b"file ../../etc/passwd seq 1 type b\n", "can't be a path"),
    (b"file /etc/passwd seq 1 type b\n", "can't be a path"),
    (b"file .. seq 1 type b\n", "can't be a path"),
    (b'file "a\\x2fb" seq 1 type b\n', "can't be a path"),
    (b'file "unterminated seq 1 type b\n', "unbalanced quotes"),
    (b"file " + b"x" * 1100 + b" seq 1 type b\n", "too long"),
])
def test_manifests_redis_refuses_are_refused_with_their_line(text, message):
    with pytest.raises(ManifestError, match=message) as caught:
        parse_manifest(text)
    assert "line" in caught.value.message or message == "empty"


names = st.text(alphabet=st.characters(min_codepoint=1, max_codepoint=255, blacklist_characters="/\\"),
                min_size=1, max_size=30).filter(lambda n: n not in (".", ".."))


@given(st.lists(names, min_size=1, max_size=5, unique=True))
def test_any_bare_name_survives_writing_and_reading(file_names):
    entries = tuple(ManifestEntry(name, seq, FileType.INCR) for seq, name in enumerate(file_names, 1))
    manifest = Manifest(entries)
    assert parse_manifest(format_manifest(manifest)) == manifest


def test_split_args_follows_redis_cli_quoting():
    assert split_args('a "b c" \'d e\' "\\x41\\n"') == ["a", "b c", "d e", "A\n"]
    with pytest.raises(ValueError):
        split_args('"closed"trailing')
