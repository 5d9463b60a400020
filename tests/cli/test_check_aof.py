"""``rdbtool check-aof``: verdicts and exit codes, --fix as redis-check-aof fixes (with a backup),
--truncate-to-timestamp, multi-part directories written by a real Redis."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time

import orjson
from hiredis import pack_command

from tests.aof.redis_check_aof import run_real
from tests.servers import start_server

RDBTOOL = [sys.executable, "-m", "rdbtools.cli"]


def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([*RDBTOOL, *args], capture_output=True, input=stdin.encode(), timeout=60)


def stream() -> bytes:
    return (b"#TS:1700000000\r\n" + pack_command((b"SELECT", b"0")) + pack_command((b"SET", b"a", b"1"))
            + b"#TS:1700000100\r\n" + pack_command((b"MULTI",)) + pack_command((b"SET", b"b", b"2"))
            + pack_command((b"EXEC",)) + b"#TS:1700000200\r\n" + pack_command((b"SET", b"c", b"3")))


def test_valid_file_exits_0_and_reports_json(tmp_path):
    path = tmp_path / "appendonly.aof"
    path.write_bytes(stream())
    result = run("check-aof", str(path), "--format", "json")
    assert result.returncode == 0
    report = orjson.loads(result.stdout)
    assert report["verdict"] == "valid" and report["files"][0]["commands"] == 6
    assert (report["files"][0]["first_timestamp"], report["files"][0]["last_timestamp"]) == (1700000000, 1700000200)


def test_fix_leaves_the_bytes_redis_check_aof_leaves_and_keeps_a_backup(tmp_path):
    broken = stream()[:-7]
    ours, theirs = tmp_path / "ours.aof", tmp_path / "theirs.aof"
    ours.write_bytes(broken)
    theirs.write_bytes(broken)
    assert run("check-aof", str(ours)).returncode == 1
    result = run("check-aof", str(ours), "--fix", "--yes")
    assert result.returncode == 0, result.stdout
    run_real(theirs, "--fix")
    assert ours.read_bytes() == theirs.read_bytes() == stream()[: stream().rindex(pack_command((b"SET", b"c", b"3")))]
    (backup,) = tmp_path.glob("ours.aof.*.bak")
    assert backup.read_bytes() == broken
    assert run("check-aof", str(ours)).returncode == 0


def test_open_multi_is_cut_before_the_multi(tmp_path):
    path = tmp_path / "appendonly.aof"
    path.write_bytes(stream()[: stream().index(pack_command((b"EXEC",)))])
    assert run("check-aof", str(path), "--fix", "--yes").returncode == 0
    assert path.read_bytes() == stream()[: stream().index(pack_command((b"MULTI",)))]


def test_dry_run_and_declining_change_nothing(tmp_path):
    path = tmp_path / "appendonly.aof"
    broken = stream()[:-3]
    path.write_bytes(broken)
    dry = run("check-aof", str(path), "--fix", "--dry-run")
    assert dry.returncode == 1 and b"removing" in dry.stdout and b"the last command kept: EXEC" in dry.stdout
    assert b"(0 complete commands)" in dry.stdout
    declined = run("check-aof", str(path), "--fix", stdin="n\n")
    assert declined.returncode == 1 and b"Aborting" in declined.stdout
    assert path.read_bytes() == broken and not list(tmp_path.glob("*.bak"))


def test_truncate_to_timestamp_cuts_where_redis_check_aof_cuts(tmp_path):
    ours, theirs = tmp_path / "ours.aof", tmp_path / "theirs.aof"
    ours.write_bytes(stream())
    theirs.write_bytes(stream())
    assert run("check-aof", str(ours), "--truncate-to-timestamp", "1700000150").returncode == 0
    real = run_real(theirs, "--truncate-to-timestamp", "1700000150")
    assert real.exit_code == 0 and ours.read_bytes() == theirs.read_bytes()
    assert list(tmp_path.glob("ours.aof.*.bak"))


def test_format_error_is_reported_with_offset_and_line(tmp_path):
    path = tmp_path / "appendonly.aof"
    path.write_bytes(stream() + b"garbage\r\n")
    report = orjson.loads(run("check-aof", str(path), "-f", "json").stdout)
    assert report["verdict"] == "format error"
    assert report["files"][0]["ok_up_to"] == len(stream())


def test_usage_errors_exit_2(tmp_path):
    path = tmp_path / "appendonly.aof"
    path.write_bytes(stream())
    assert run("check-aof", str(path), "--fix", "--truncate-to-timestamp", "1").returncode == 2
    assert run("check-aof", str(path), "--format", "xml").returncode == 2


def test_multi_part_directory_from_redis_7_is_valid_and_a_cut_incr_is_fixed(tmp_path):
    with start_server("redis-7.0", extra=("--appendonly", "yes", "--appendfsync", "always")) as server:
        client = server.client()
        for i in range(50):
            client.set(f"k{i}", i)
        client.bgrewriteaof()
        deadline = time.monotonic() + 60
        while client.info("persistence")["aof_rewrite_in_progress"] or client.info("persistence")[
                "aof_rewrite_scheduled"]:
            assert time.monotonic() < deadline, "the rewrite did not finish"
            time.sleep(0.05)
        client.rpush("after", *range(20))
        server.stop()
        directory = tmp_path / "appendonlydir"
        shutil.copytree(server.dir / "appendonlydir", directory)
    manifest = next(directory.glob("*.manifest"))
    assert run("check-aof", str(directory)).returncode == 0
    assert run_real(manifest).exit_code == 0
    incr = sorted(directory.glob("*.incr.aof"))[-1]
    incr.write_bytes(incr.read_bytes()[:-5])
    real = run_real(manifest)
    ours = orjson.loads(run("check-aof", str(manifest), "-f", "json").stdout)
    assert real.exit_code == 1 and ours["verdict"] == "truncated"
    assert ours["files"][-1]["ok_up_to"] == real.ok_up_to and ours["files"][-1]["ok_up_to_line"] == real.line
    assert run("check-aof", str(directory), "--fix", "--yes").returncode == 0
    assert run_real(manifest).exit_code == 0
    backups = list(directory.glob("*.bak"))
    assert len(backups) == 1
    backups[0].unlink()  # the server must find only the AOF files in its directory
    with start_server("redis-7.0", extra=("--appendonly", "yes"),
                      prepare=lambda d: shutil.copytree(directory, d / "appendonlydir")) as restarted:
        assert restarted.client().get("k49") == b"49"  # the fixed AOF loads in a real server


def test_a_manifest_naming_a_missing_file_is_reported(tmp_path):
    directory = tmp_path / "appendonlydir"
    directory.mkdir()
    (directory / "appendonly.aof.manifest").write_text("file appendonly.aof.1.base.aof seq 1 type b\n")
    result = run("check-aof", str(directory), "--format", "json")
    assert result.returncode == 1
    report = orjson.loads(result.stdout)
    assert report["verdict"] == "missing file" and "does not exist" in report["missing"]


def test_a_manifest_naming_a_path_is_a_manifest_error_and_nothing_outside_is_read(tmp_path):
    directory = tmp_path / "appendonlydir"
    directory.mkdir()
    (tmp_path / "secret.aof").write_bytes(pack_command((b"SET", b"k", b"v")))
    (directory / "appendonly.aof.manifest").write_text("file ../secret.aof seq 1 type b\n")
    report = orjson.loads(run("check-aof", str(directory), "--format", "json").stdout)
    assert report["verdict"] == "manifest error" and "can't be a path" in report["manifest_error"]
