"""AOF reading: every record of the corpus AOFs through the schema and the fast path, every layout."""

from __future__ import annotations

from io import BytesIO

import pytest
from construct import ConstructError
from hiredis import pack_command
from hypothesis import given
from hypothesis import strategies as st

from rdbtools.aof.reader import AofCommand, AofSnapshotRecord, find_layout, open_aof
from rdbtools.errors import FormatError, TruncatedError
from rdbtools.formats.resp import RECORD, iter_records
from rdbtools.rdb.model import KeyRecord
from tests.corpus import corpus_files

_AOFS = [f for f in corpus_files() if f.path.suffix == ".aof"]

#: what the corpus README says each file holds: (commands, #TS annotations, keys in an RDB preamble)
README_COUNTS = {
    "appendonly-with-ts.aof": (65, 54, 0),
    "appendonly1.aof": (4, 0, 0),
    "appendonly5.aof": (71, 0, 0),
    "appendonly7.aof": (4, 0, 0),
    "rdb-preamble.aof": (2, 0, 2),
}


def test_corpus_has_aof_files():
    assert {f.path.name for f in _AOFS} >= set(README_COUNTS)


@pytest.mark.parametrize("corpus_file", _AOFS, ids=[f.path.parent.name + "/" + f.path.name for f in _AOFS])
def test_corpus_aof_reads_as_its_readme_describes(corpus_file):
    if corpus_file.path.name not in README_COUNTS:
        pytest.skip("the README gives no counts for this file")
    commands, annotations, keys = README_COUNTS[corpus_file.path.name]
    items = list(open_aof(corpus_file.path))
    assert sum(isinstance(i, AofCommand) for i in items) == commands
    assert sum(isinstance(i, AofSnapshotRecord) and isinstance(i.record, KeyRecord) for i in items) == keys
    data = corpus_file.path.read_bytes()
    assert data.count(b"\n#TS:") + data.startswith(b"#TS:") == annotations


def _resp_part(data: bytes) -> tuple[bytes, int]:
    if not data.startswith(b"REDIS"):
        return data, 0
    from rdbtools.formats.rdb import parse_records

    end = max(offset + size for offset, size, _ in parse_records(data)) + 8
    return data, end


@pytest.mark.parametrize("corpus_file", _AOFS, ids=[f.path.parent.name + "/" + f.path.name for f in _AOFS])
def test_every_record_builds_back_and_the_fast_path_agrees_with_the_schema(corpus_file):
    data, start = _resp_part(corpus_file.path.read_bytes())
    records = list(iter_records(data, start))
    ends = [r.offset for r in records[1:]] + [len(data)]
    for record, end in zip(records, ends, strict=True):
        raw = data[record.offset : end]
        parsed = RECORD.parse(raw)
        assert RECORD.build(parsed) == raw
        if record.args is None:
            assert parsed.record.text == record.annotation
        else:
            assert [a.data for a in parsed.record.args] == record.args


commands = st.lists(st.lists(st.binary(max_size=30), min_size=1, max_size=5), min_size=1, max_size=8)


@given(commands)
def test_generated_streams_decode_through_both_paths(cmds):
    data = b"".join(pack_command(tuple(c)) for c in cmds)
    fast = [r.args for r in iter_records(data)]
    stream = BytesIO(data)
    slow = []
    while stream.tell() < len(data):
        slow.append([a.data for a in RECORD.parse_stream(stream).record.args])
    assert fast == slow == [list(c) for c in cmds]


@given(commands, st.data())
def test_truncated_streams_fail_with_an_offset_at_a_record_start(cmds, data):
    stream = b"".join(pack_command(tuple(c)) for c in cmds)
    cut = data.draw(st.integers(1, len(stream) - 1))
    starts = {r.offset for r in iter_records(stream)}
    try:
        list(iter_records(stream[:cut]))
    except (TruncatedError, FormatError) as error:
        assert error.offset is not None and error.offset <= cut
        with pytest.raises((ConstructError, FormatError)):
            RECORD.parse(stream[max(s for s in starts if s <= error.offset) : cut])
    else:
        assert cut in starts  # only a cut between records leaves a valid stream


def test_a_huge_bulk_length_in_a_small_file_fails_fast():
    with pytest.raises(TruncatedError, match="runs past the end"):
        list(iter_records(b"*1\r\n$4294967296\r\nabc\r\n"))


def test_annotations_give_commands_their_timestamp(tmp_path):
    path = tmp_path / "ts.aof"
    path.write_bytes(b"#TS:1700000000\r\n" + pack_command((b"SET", b"a", b"1")) + b"#TS:1700000005\r\n"
                     + pack_command((b"SET", b"b", b"2")))
    assert [(c.args[1], c.timestamp, c.line) for c in open_aof(path).commands()] == [
        (b"a", 1700000000, 1), (b"b", 1700000005, 8)]


def test_multi_part_directory_is_read_base_then_incr_in_manifest_order(tmp_path):
    directory = tmp_path / "appendonlydir"
    directory.mkdir()
    (directory / "appendonly.aof.1.base.aof").write_bytes(pack_command((b"SET", b"k", b"base")))
    (directory / "appendonly.aof.1.incr.aof").write_bytes(pack_command((b"SET", b"k", b"one")))
    (directory / "appendonly.aof.2.incr.aof").write_bytes(b"")
    (directory / "appendonly.aof.0.base.aof").write_bytes(pack_command((b"SET", b"k", b"old")))
    (directory / "appendonly.aof.manifest").write_bytes(
        b"file appendonly.aof.1.base.aof seq 1 type b\nfile appendonly.aof.0.base.aof seq 0 type h\n"
        b"file appendonly.aof.1.incr.aof seq 1 type i\nfile appendonly.aof.2.incr.aof seq 2 type i\n".replace(
            b"seq 0 type h", b"seq 9 type h"))
    for path in (directory, directory / "appendonly.aof.manifest"):
        layout = find_layout(path)
        assert layout.kind == "multi-part"
        assert [c.args[2] for c in open_aof(path).commands()] == [b"base", b"one"]


@pytest.mark.parametrize("number", [b"+1", b" 1", b"1 ", b"1_0", "\u0661".encode(), b"0x1"])
def test_the_resp_schema_takes_numbers_only_as_redis_writes_them(number):
    """ASCII digits after an optional '-': Python's int() took signs, spaces, underscores and other scripts'
    digits. (The loader's reading of such lines is tests/compat/test_aof_lines_vs_servers.py's.)"""
    with pytest.raises((ConstructError, FormatError)):
        RECORD.parse(b"*" + number + b"\r\n$4\r\nPING\r\n")
