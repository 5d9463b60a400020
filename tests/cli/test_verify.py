"""``rdbtool verify``: verdicts, the JSON report for pipelines, and exit codes."""

from __future__ import annotations

import subprocess
import sys

import orjson
import pytest

from tests.rdbbuild import aux, collection_key, rdb_file, select_db, string_key

RDBTOOL = [sys.executable, "-m", "rdbtools.cli"]


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*RDBTOOL, *args], capture_output=True, timeout=60)


def write(tmp_path, name: str, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.fixture
def sound(tmp_path):
    return write(tmp_path, "sound.rdb", rdb_file(
        aux("redis-ver", "7.0.15"), select_db(0), string_key("a", "1"),
        string_key("b", "2", expire_ms=1), collection_key(2, "s", ["x"]), select_db(1), string_key("a", "3"),
    ))


def report_of(*args: str) -> dict:
    return orjson.loads(run("verify", "--format", "json", *args).stdout)


def test_sound_file_exits_0_with_counts(sound):
    result = run("verify", "--format", "json", str(sound))
    assert result.returncode == 0
    report = orjson.loads(result.stdout)
    assert report["verdict"] == "sound" and report["checksum"] == "ok"
    assert report["keys"] == 4 and report["keys_per_db"] == {"0": {"set": 1, "string": 2}, "1": {"string": 1}}
    assert report["expires"] == 1 and report["already_expired"] == 1
    assert report["aux"] == {"redis-ver": "7.0.15"} and report["problems"] == []


def test_human_report_names_the_verdict(sound):
    result = run("verify", str(sound))
    assert result.returncode == 0
    assert "SOUND" in result.stdout.decode()


def test_wrong_checksum_is_corrupt(tmp_path, sound):
    data = bytearray(sound.read_bytes())
    data[-1] ^= 0xFF
    path = write(tmp_path, "flipped.rdb", bytes(data))
    result = run("verify", "--format", "json", str(path))
    assert result.returncode == 1
    report = orjson.loads(result.stdout)
    assert report["verdict"] == "corrupt" and report["checksum"] == "mismatch"
    assert "checksum" in report["problems"][0]["message"]


def test_duplicate_key_in_a_db_is_corrupt(tmp_path):
    path = write(tmp_path, "dup.rdb", rdb_file(select_db(0), string_key("k", "1"), string_key("k", "2")))
    report = report_of(str(path))
    assert report["verdict"] == "corrupt"
    assert report["problems"][0]["key"] == "k" and "duplicated key" in report["problems"][0]["message"]


def test_empty_collection_is_reported(tmp_path):
    path = write(tmp_path, "empty.rdb", rdb_file(collection_key(2, "s", [])))
    report = report_of(str(path))
    assert report["verdict"] == "corrupt" and "empty" in report["problems"][0]["message"]


def test_disabled_checksum_is_a_warning_that_strict_turns_into_failure(tmp_path):
    path = write(tmp_path, "nocrc.rdb", rdb_file(string_key("a", "b"), checksum=False))
    assert run("verify", str(path)).returncode == 0
    assert report_of(str(path))["checksum"] == "disabled"
    assert run("verify", "--strict", str(path)).returncode == 1


def test_trailing_bytes_are_a_warning(tmp_path):
    path = write(tmp_path, "tail.rdb", rdb_file(string_key("a", "b")) + b"garbage")
    report = report_of(str(path))
    assert report["verdict"] == "sound" and report["trailing_bytes"] == 7 and report["warnings"]


def test_several_files_give_a_list_and_the_worst_exit_code(tmp_path, sound):
    broken = write(tmp_path, "broken.rdb", sound.read_bytes()[:30])
    result = run("verify", "--format", "json", str(sound), str(broken))
    assert result.returncode == 1
    assert [r["verdict"] for r in orjson.loads(result.stdout)] == ["sound", "corrupt"]


def test_unreadable_file_exits_2(tmp_path):
    result = run("verify", str(tmp_path / "missing.rdb"))
    assert result.returncode == 2


def test_unsupported_version_exits_1_and_says_so(tmp_path):
    path = write(tmp_path, "v16.rdb", rdb_file(version=16))
    result = run("verify", "--format", "json", str(path))
    assert result.returncode == 1
    assert orjson.loads(result.stdout)["verdict"] == "unsupported"


def test_verify_checks_aofs_like_check_aof(tmp_path):
    from hiredis import pack_command

    good = tmp_path / "good.aof"
    good.write_bytes(pack_command((b"SET", b"a", b"1")) + pack_command((b"SET", b"b", b"2")))
    cut = tmp_path / "cut.aof"
    cut.write_bytes(good.read_bytes()[:-3])
    result = run("verify", "--format", "json", str(good), str(cut))
    assert result.returncode == 1
    reports = orjson.loads(result.stdout)
    assert [r["verdict"] for r in reports] == ["sound", "corrupt"]
    assert reports[1]["aof_verdict"] == "truncated" and reports[1]["files"][0]["ok_up_to"] == 27
    assert run("verify", str(good)).returncode == 0


def test_verify_of_a_hybrid_aof_checks_its_preamble_deeply(tmp_path):
    from hiredis import pack_command

    from tests.rdbbuild import collection_key

    path = tmp_path / "hybrid.aof"
    path.write_bytes(rdb_file(collection_key(2, "s", [])) + pack_command((b"SET", b"a", b"1")))
    report = orjson.loads(run("verify", "--format", "json", str(path)).stdout)
    assert report["verdict"] == "corrupt" and report["aof_verdict"] == "broken RDB preamble"
    assert "empty" in report["files"][0]["rdb_error"]
