"""``rdbtool dump``: formats, filters, output files and what a user sees on bad input."""

from __future__ import annotations

import base64
import os
import subprocess
import sys

import hiredis
import orjson
import pytest

from tests.rdbbuild import aux, collection_key, rdb_file, select_db, string_key

RDBTOOL = [sys.executable, "-m", "rdbtools.cli"]


def run(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*RDBTOOL, *args], input=stdin, capture_output=True, timeout=60)


@pytest.fixture
def sample(tmp_path):
    path = tmp_path / "dump.rdb"
    path.write_bytes(rdb_file(
        aux("redis-ver", "7.0.15"),
        select_db(0),
        string_key("user:1", "alice"),
        string_key("user:2", "bob", expire_ms=1),  # long expired
        string_key(b"bin\xff", b"\x00\xfe"),
        collection_key(1, "queue", ["a", "b", "12"]),
        select_db(3),
        string_key("user:9", "zed", expire_ms=4102444800000),  # 2100-01-01
        collection_key(2, "tags", ["x", "y"]),
    ))
    return path


def key_lines(stdout: bytes) -> list[dict]:
    return [d for d in map(orjson.loads, stdout.splitlines()) if d["kind"] == "key"]


def test_jsonl_has_a_header_then_aux_then_one_line_per_key(sample):
    result = run("dump", str(sample))
    assert result.returncode == 0, result.stderr
    lines = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert lines[0] == {"kind": "header", "magic": "REDIS", "version": 10}
    assert lines[1] == {"kind": "aux", "name": "redis-ver", "value": "7.0.15"}
    keys = lines[2:]
    assert [k["key"] for k in keys][:2] == ["user:1", "user:2"]
    assert keys[0] == {"kind": "key", "db": 0, "key": "user:1", "type": "string", "encoding": "string",
                       "expire_ms": None, "value": "alice"}
    assert keys[3]["value"] == ["a", "b", "12"] and keys[3]["type"] == "list"
    assert keys[4]["db"] == 3 and keys[4]["expire_ms"] == 4102444800000


def test_jsonl_is_binary_safe(sample):
    keys = key_lines(run("dump", str(sample)).stdout)
    binary = next(k for k in keys if isinstance(k["key"], dict))
    assert base64.b64decode(binary["key"]["b64"]) == b"bin\xff"
    assert base64.b64decode(binary["value"]["b64"]) == b"\x00\xfe"


def test_json_format_is_one_document_with_the_same_records(sample):
    document = orjson.loads(run("dump", str(sample), "--format", "json").stdout)
    jsonl = [orjson.loads(line) for line in run("dump", str(sample)).stdout.splitlines()]
    assert document["header"] == jsonl[0]
    assert document["records"] == jsonl[1:]


def test_keys_format_prints_raw_key_bytes(sample):
    assert run("dump", str(sample), "-f", "keys").stdout.splitlines() == [
        b"user:1", b"user:2", b"bin\xff", b"queue", b"user:9", b"tags"]


def test_resp_format_selects_dbs_and_restores_ttls(sample):
    reader = hiredis.Reader()
    reader.feed(run("dump", str(sample), "-f", "resp").stdout)
    commands = []
    while (command := reader.gets()) is not False:
        commands.append(command)
    assert commands[0] == [b"SELECT", b"0"]
    assert [b"SET", b"user:1", b"alice"] in commands
    assert [b"PEXPIREAT", b"user:2", b"1"] in commands
    assert [b"RPUSH", b"queue", b"a", b"b", b"12"] in commands
    assert commands.index([b"SELECT", b"3"]) < commands.index([b"SADD", b"tags", b"x", b"y"])


@pytest.mark.parametrize(
    ("options", "keys"),
    [
        (["--db", "3"], ["user:9", "tags"]),
        (["--key", "user:*"], ["user:1", "user:2", "user:9"]),
        (["--key", "user:[^1]"], ["user:2", "user:9"]),
        (["--key-regex", "^q"], ["queue"]),
        (["--type", "list", "--type", "set"], ["queue", "tags"]),
        (["--expired"], ["user:2"]),
        (["--no-expired", "--db", "0", "--type", "string"], ["user:1", b"bin\xff"]),
    ],
)
def test_filters_select_keys(sample, options, keys):
    selected = [k["key"] for k in key_lines(run("dump", str(sample), *options).stdout)]
    expected = [k if isinstance(k, str) else {"b64": base64.b64encode(k).decode()} for k in keys]
    assert selected == expected


def test_output_file_is_written_atomically_and_completely(sample, tmp_path):
    target = tmp_path / "out.jsonl"
    target.write_text("previous content")
    result = run("dump", str(sample), "-o", str(target))
    assert result.returncode == 0 and result.stdout == b""
    assert target.read_bytes() == run("dump", str(sample)).stdout
    assert sorted(os.listdir(tmp_path)) == ["dump.rdb", "out.jsonl"]


def test_failed_dump_leaves_the_previous_output_untouched(tmp_path):
    broken = tmp_path / "broken.rdb"
    broken.write_bytes(rdb_file(string_key("a", "b"))[:-12])
    target = tmp_path / "out.jsonl"
    target.write_text("previous content")
    result = run("dump", str(broken), "-o", str(target))
    assert result.returncode == 1
    assert target.read_text() == "previous content"
    assert sorted(os.listdir(tmp_path)) == ["broken.rdb", "out.jsonl"]


def test_dash_reads_standard_input(sample):
    assert run("dump", "-", stdin=sample.read_bytes()).stdout == run("dump", str(sample)).stdout


def test_truncated_file_gives_one_located_line_and_exit_1(tmp_path):
    path = tmp_path / "cut.rdb"
    path.write_bytes(rdb_file(string_key("k", "hello world"))[:20])
    result = run("dump", str(path))
    assert result.returncode == 1
    message = result.stderr.decode().strip()
    assert "\n" not in message and "Traceback" not in message
    assert message.startswith("rdbtool: error:") and "offset" in message and str(path) in message


def test_corrupt_value_error_names_the_key(tmp_path):
    path = tmp_path / "bad.rdb"
    # a list claiming 5 items but holding 1
    path.write_bytes(rdb_file(b"\x01\x06mylist\x05\x01a"))
    message = run("dump", str(path)).stderr.decode()
    assert "key 'mylist'" in message


def test_missing_file_is_a_usage_error(tmp_path):
    result = run("dump", str(tmp_path / "nope.rdb"))
    assert result.returncode == 2
    assert "cannot open" in result.stderr.decode() and "Traceback" not in result.stderr.decode()


def test_not_an_rdb_file_is_rejected_clearly(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello, this is not redis")
    result = run("dump", str(path))
    assert result.returncode == 1
    assert "not an RDB file" in result.stderr.decode()


def test_newer_rdb_version_is_refused_naming_it(tmp_path):
    path = tmp_path / "future.rdb"
    path.write_bytes(rdb_file(version=16))
    result = run("dump", str(path))
    assert result.returncode == 1
    assert "16" in result.stderr.decode()


def test_unknown_format_is_a_usage_error(sample):
    assert run("dump", str(sample), "-f", "xml").returncode == 2


def test_invalid_key_regex_is_a_usage_error(sample):
    result = run("dump", str(sample), "--key-regex", "[")
    assert result.returncode == 2
    assert "invalid --key-regex" in result.stderr.decode() and "Traceback" not in result.stderr.decode()


def test_a_short_blob_is_reported_as_corrupt_not_as_a_truncated_file(tmp_path):
    path = tmp_path / "shortblob.rdb"
    path.write_bytes(rdb_file(b"\x10\x01h\x03abc"))  # a hash-listpack whose blob is 3 bytes
    message = run("dump", str(path)).stderr.decode()
    assert "listpack stored at offset" in message and "truncated" not in message.split("(")[-1]


def test_dump_reads_an_aof_as_commands_with_file_offset_and_line(tmp_path):
    path = tmp_path / "appendonly.aof"
    path.write_bytes(hiredis.pack_command((b"SELECT", b"0")) + b"#TS:1700000000\r\n"
                     + hiredis.pack_command((b"SET", b"k\xff", b"v")))
    lines = [orjson.loads(line) for line in run("dump", str(path)).stdout.splitlines()]
    assert lines[0]["kind"] == "aof" and lines[0]["layout"] == "single"
    assert lines[2] == {"kind": "command", "file": "appendonly.aof", "offset": 39, "line": 6,
                        "timestamp": 1700000000, "args": ["SET", {"b64": base64.b64encode(b"k\xff").decode()}, "v"]}


def test_dump_of_a_truncated_aof_names_the_file_and_offset(tmp_path):
    path = tmp_path / "appendonly.aof"
    path.write_bytes(hiredis.pack_command((b"SET", b"k", b"value"))[:-4])
    result = run("dump", str(path))
    assert result.returncode == 1
    assert "appendonly.aof, offset" in result.stderr.decode() and "Traceback" not in result.stderr.decode()


def test_keys_format_is_refused_for_an_aof(tmp_path):
    path = tmp_path / "appendonly.aof"
    path.write_bytes(hiredis.pack_command((b"SET", b"k", b"v")))
    assert run("dump", str(path), "-f", "keys").returncode == 2
