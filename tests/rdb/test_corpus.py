"""Every RDB of the shared corpus: read back as real servers hold it, and judged as they judge it."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from rdbtools import open_rdb, verify_rdb
from rdbtools.errors import UnsupportedError
from tests.corpus import corpus_files, newer_rdb_files, rdb_files, rdb_ids
from tests.expected_shape import compare, shape_records
from tests.servers import PROCESS_TIMEOUT

NOW_MS = int(time.time() * 1000)

_WITH_EXPECTED = [f for f in rdb_files() if f.expected is not None]
_SOUND = [f for f in rdb_files() if not f.corrupt]
_CORRUPT = [f for f in rdb_files() if f.corrupt]


def test_corpus_readme_describes_rdb_files_and_corrupt_ones():
    assert len(rdb_files()) >= 50
    assert {f.path.name for f in _CORRUPT} >= {"corrupt_ziplist.rdb", "all.rdb"}
    assert all(f.path.is_file() for f in corpus_files())


@pytest.mark.parametrize("corpus_file", _WITH_EXPECTED, ids=rdb_ids(_WITH_EXPECTED))
def test_dump_holds_what_a_real_server_loaded(corpus_file):
    expected = json.loads(corpus_file.expected.read_text())
    with open_rdb(corpus_file.path) as rdb:
        ours = shape_records(rdb)
    assert compare(ours, expected, now_ms=NOW_MS) == []


@pytest.mark.parametrize("corpus_file", _SOUND, ids=rdb_ids(_SOUND))
def test_verify_accepts_files_real_servers_load(corpus_file):
    report = verify_rdb(corpus_file.path)
    assert report.verdict in ("sound", "unsupported"), [str(p) for p in report.problems]
    if report.verdict == "unsupported":
        # only a pre-release module value can be refused without being corrupt
        assert "pre-release module" in report.unsupported


@pytest.mark.parametrize("corpus_file", _CORRUPT, ids=rdb_ids(_CORRUPT))
def test_verify_rejects_files_real_servers_refuse(corpus_file):
    report = verify_rdb(corpus_file.path)
    assert report.verdict == "corrupt", corpus_file.rejections
    assert all(p.offset is not None for p in report.problems)


def _refused_by_name(path) -> None:
    with pytest.raises(UnsupportedError, match="newer than the versions rdbtool reads") as caught:
        open_rdb(path)
    assert caught.value.offset == len(b"REDIS")  # the version digits
    assert verify_rdb(path).verdict == "unsupported"
    dump = subprocess.run([sys.executable, "-m", "rdbtools.cli", "dump", str(path)], capture_output=True,
                          timeout=PROCESS_TIMEOUT)
    assert dump.returncode == 1 and dump.stdout == b""
    assert dump.stderr.decode().count("\n") == 1 and "Traceback" not in dump.stderr.decode()


def test_a_version_above_the_newest_known_is_refused_by_name_not_misread(tmp_path):
    path = tmp_path / "future.rdb"
    path.write_bytes(b"REDIS0099\xff" + bytes(8))
    _refused_by_name(path)
    for corpus_file in newer_rdb_files():  # corpus files of versions rdbtool does not read yet
        _refused_by_name(corpus_file.path)


def test_duplicate_keys_are_named_with_both_offsets():
    all_rdb = next(f for f in _CORRUPT if f.path.name == "all.rdb")
    report = verify_rdb(all_rdb.path)
    duplicates = [p for p in report.problems if p.message.startswith("RDB has duplicated key")]
    assert len(duplicates) == 31  # the README counts 31 repeated records
    assert all(p.key is not None and "first stored at offset" in p.message for p in duplicates)


def test_checksum_can_be_skipped_and_says_so(tmp_path):
    sound = next(f for f in _SOUND if f.path.name == "dumpV7.rdb")
    with open_rdb(sound.path, check_crc=False) as rdb:
        assert sum(1 for _ in rdb) > 0
        assert rdb.checksum.status == "unchecked"


def test_verify_reports_progress_through_the_file(tmp_path):
    big = max(_SOUND, key=lambda f: f.path.stat().st_size)  # the first callback comes at once
    seen: list[tuple[int, int]] = []
    verify_rdb(big.path, progress=lambda done, total: seen.append((done, total)))
    assert seen and all(0 < done <= total for done, total in seen)
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)


def test_valkey_slot_import_and_hash_2_are_read_by_the_fast_path_and_the_schema(tmp_path):
    from rdbtools import SlotImport
    from rdbtools.formats.primitives import encode_length, encode_string
    from rdbtools.formats.rdb import RdbFile
    from tests.rdbbuild import rdb_file

    slot_import = b"\xf3" + encode_string(b"job-1") + encode_length(2) + b"\x00\x05" + b"\x4f\x00\x4f\xff"
    hash_2 = (b"\x16" + encode_string(b"h") + encode_length(2) + encode_string(b"f1") + encode_string(b"v1")
              + (1893456000000).to_bytes(8, "little") + encode_string(b"f2") + encode_string(b"v2") + b"\xff" * 8)
    data = rdb_file(b"\xfe\x00", slot_import, hash_2, version=80, magic=b"VALKEY")
    assert RdbFile.build(RdbFile.parse(data)) == data
    path = tmp_path / "valkey.rdb"
    path.write_bytes(data)
    with open_rdb(path) as rdb:
        records = list(rdb)
    assert [r for r in records if isinstance(r, SlotImport)] == [SlotImport(b"job-1", [(0, 5), (0xF00, 0xFFF)], 11)]
    (hash_record,) = [r for r in records if getattr(r, "key", None) == b"h"]
    assert hash_record.encoding == "hash-2" and hash_record.value == {b"f1": b"v1", b"f2": b"v2"}
    assert hash_record.field_expires == {b"f1": 1893456000000}
