"""Persistence faults on demand: serve with a failpoint set behaves as the real Redis 7.0 does when its disk
really fails the same way. The real failures: a full tmpfs (mounted here: the tests need root, as CI runs),
``kill -9`` of a child slowed by rdb-key-save-delay, a fork refused by RLIMIT_NPROC. Each scenario runs
against the real server and against serve with the failpoint (and, for a full disk, serve on the full
tmpfs too); replies, INFO fields, the warnings logged and the files left must be the same.

A failing fsync is made in the real server by strace's fault injection (attached to it while the "disk"
fails: its fdatasync calls return EIO); what no real server can be made to do here (a slow fsync, a failing
fsync at a step no test can time) is checked against Redis 7.0's source, as each test's docstring says."""

from __future__ import annotations

import contextlib
import os
import random
import re
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import hiredis
import pytest

from rdbtools.keyspace.commands import Status
from rdbtools.server.clients import Client
from rdbtools.server.config import ServerConfig
from rdbtools.server.core import Server
from rdbtools.server.persistence import RewriteStats
from rdbtools.testing.served import TEST_DEFAULTS
from tests.resp_client import RawClient
from tests.server.serving import start_serve
from tests.servers import PROCESS_TIMEOUT, SERVERS, RealServer, free_port, require_binary, start_server

TARGET = "redis-7.0"
KEYS = [f"key:{i}" for i in range(400)]  # an RDB of more than a 4 KiB block: a write fails, not the fflush
MISCONF_AOF_ENOSPC = "-MISCONF Errors writing to the AOF file: No space left on device"
#: a child's pid in a log line ("by pid 123", "temp-123.rdb", "temp-rewriteaof-bg-123.aof")
PID = re.compile(r"(?<=pid )\d+|(?<=temp-)\d+|(?<=-bg-)\d+")
#: a line of the log as Redis writes it: pid, role (M parent, C child), time, level mark, message
LOG_LINE = re.compile(r"^\d+:(?P<role>[MCSX]) \d\d \w{3} \d{4} [\d:.]+ (?P<mark>.) (?P<message>.*)$")


@dataclass
class Subject:
    """A server under test and how its disk is made to fail and repaired."""

    client: RawClient
    dir: Path
    log: Callable[[], str]
    break_disk: Callable[[], object]
    repair_disk: Callable[[], object]
    process: subprocess.Popen
    started_child: Callable[[], object] = field(default=lambda: None)  # a child is running (to kill it)

    def call(self, *args: str | bytes) -> object:
        """A reply, an error as its text (hiredis returns errors as values)."""
        reply = self.client.call(list(args))
        return f"-{reply}" if isinstance(reply, hiredis.ReplyError) else reply

    def info(self) -> dict[str, str]:
        text = self.client.call(["INFO", "persistence"]).decode()
        return dict(line.split(":", 1) for line in text.splitlines() if ":" in line)

    def wait_info(self, name: str, value: str) -> None:
        deadline = time.monotonic() + PROCESS_TIMEOUT
        while self.info()[name] != value:
            assert time.monotonic() < deadline, f"{name} never became {value}"
            time.sleep(0.02)

    def files(self) -> list[str]:
        """The persistence files in its dir (not its log, not the filler)."""
        return sorted(str(p.relative_to(self.dir)) for p in self.dir.rglob("*")
                      if p.name not in ("filler", "serve.log", "server.log"))


def warnings(log: str, notices: tuple[str, ...] = ()) -> list[str]:
    """The warning lines of a log (and the notices that start with one of ``notices``), as role, mark and
    message (children's pids replaced): what a failure writes."""
    lines = (LOG_LINE.match(line) for line in log.splitlines())
    return [f"{m['role']} {m['mark']} {PID.sub('<pid>', m['message'])}" for m in lines
            if m and (m["mark"] == "#" or m["message"].startswith(notices))]


@contextlib.contextmanager
def small_disk(size: str = "1m") -> Iterator[Path]:
    """A tmpfs of its own, to fill: mounting needs root (CI runs as root; elsewhere these tests fail)."""
    directory = tempfile.mkdtemp(prefix="rdbtool-failing-disk-")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", directory],
                             capture_output=True, text=True)
    if mounted.returncode:
        os.rmdir(directory)
        pytest.fail(f"a full disk needs a tmpfs of its own, and mount refused: {mounted.stderr.strip()}")
    try:
        yield Path(directory)
    finally:
        subprocess.run(["umount", directory], check=True)
        os.rmdir(directory)


def fill(path: Path) -> None:
    """A file that takes all the space left (a disk full from now on)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        for chunk in (1 << 16, 1 << 12, 1):
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, b"\0" * chunk)
    finally:
        os.close(fd)


@contextlib.contextmanager
def redis_on_a_full_disk(*options: str, target: str = TARGET) -> Iterator[Subject]:
    with small_disk() as disk, start_server(target, extra=("--dir", str(disk), *options)) as real:
        filler = disk / "filler"
        yield Subject(RawClient(real.port), disk, real.log_path.read_text, lambda: fill(filler), filler.unlink,
                      real.process)


@contextlib.contextmanager
def serve_on_a_full_disk(*options: str) -> Iterator[Subject]:
    with small_disk() as disk, start_serve("--target", TARGET, "--dir", str(disk), *options) as serving:
        filler = disk / "filler"
        yield Subject(RawClient(serving.port), disk, lambda: serving.log, lambda: fill(filler), filler.unlink,
                      serving.process)


@contextlib.contextmanager
def serve_with_failpoint(failpoint: str, *options: str, target: str = TARGET) -> Iterator[Subject]:
    """serve whose disk "fails" by DEBUG FAILPOINT SET <failpoint>, "repaired" by DEBUG FAILPOINT CLEAR."""
    with start_serve("--target", target, *options) as serving:
        client = RawClient(serving.port)

        def debug(*args: str) -> None:
            assert client.call(["DEBUG", "FAILPOINT", *args]) == b"OK"
        yield Subject(client, serving.dir, lambda: serving.log, lambda: debug("SET", *failpoint.split()),
                      lambda: debug("CLEAR"), serving.process)


# --- RDB: a disk full under BGSAVE and SAVE ---------------------------------------------------------------


def failed_bgsave_then_recovered(subject: Subject, keys: list[str],
                                 probes: Callable[[Subject], dict[str, object]] = lambda _: {}) -> dict[str, object]:
    """A dump saved, the disk made to fail, BGSAVE fails (then what ``probes`` asks); the disk repaired, BGSAVE
    recovers: the replies, the statuses, whether the dump was kept, the files and the log's warnings."""
    subject.call("MSET", *[x for key in keys for x in (key, key)])
    assert subject.call("SAVE") == b"OK"
    dump = (subject.dir / "dump.rdb").read_bytes()
    start = len(subject.log())
    subject.break_disk()
    seen: dict[str, object] = {"bgsave": subject.call("BGSAVE")}
    subject.started_child()
    subject.wait_info("rdb_bgsave_in_progress", "0")
    seen |= {"status": subject.info()["rdb_last_bgsave_status"], "set": subject.call("SET", "new", "1"),
             **probes(subject), "dump kept": (subject.dir / "dump.rdb").read_bytes() == dump,
             "files": subject.files()}
    subject.repair_disk()
    seen["bgsave after"] = subject.call("BGSAVE")
    subject.wait_info("rdb_bgsave_in_progress", "0")
    seen |= {"status after": subject.info()["rdb_last_bgsave_status"], "set after": subject.call("SET", "new", "1"),
             "warnings": warnings(subject.log()[start:])}
    return seen


def bgsave_on_a_full_disk(subject: Subject) -> dict[str, object]:
    """BGSAVE and SAVE fail on a full disk, reads go on; the disk is repaired and BGSAVE recovers."""
    return failed_bgsave_then_recovered(subject, KEYS, lambda s: {
        "get": s.call("GET", "key:1"), "ping": s.call("PING"), "save": s.call("SAVE")})


def test_a_full_disk_fails_bgsave_refuses_writes_with_misconf_until_a_bgsave_succeeds():
    with redis_on_a_full_disk("--save", "3600", "1") as real:
        theirs = bgsave_on_a_full_disk(real)
    with serve_on_a_full_disk("--save", "3600", "1") as served:
        on_disk = bgsave_on_a_full_disk(served)
    with serve_with_failpoint("rdb-write error ENOSPC", "--save", "3600", "1") as served:
        ours = bgsave_on_a_full_disk(served)
    assert theirs["status"] == "err" and theirs["set"].startswith("-MISCONF") and theirs["status after"] == "ok"
    assert "C # Write error saving DB on disk(rdbSaveRio): No space left on device" in theirs["warnings"]
    assert on_disk == theirs
    assert ours == theirs


def save_point_on_a_full_disk(subject: Subject) -> dict[str, object]:
    """A save point's BGSAVE fails; once the disk has room the save point tries again by itself (5 s after
    the failed try, Redis's CONFIG_BGSAVE_RETRY_DELAY) and writes are accepted again."""
    start = len(subject.log())
    subject.break_disk()
    subject.call("SET", "a", "1")  # a change: the save point "1 1" is due after a second
    subject.wait_info("rdb_last_bgsave_status", "err")
    failed = time.monotonic()
    seen: dict[str, object] = {"set": subject.call("SET", "b", "2")}
    subject.repair_disk()
    subject.wait_info("rdb_last_bgsave_status", "ok")
    seen |= {"retried later": time.monotonic() - failed > 2, "set after": subject.call("SET", "b", "2"),
             "changes": subject.info()["rdb_changes_since_last_save"], "files": subject.files(),
             "first warnings": warnings(subject.log()[start:])[:2]}
    return seen


def test_a_save_point_retries_a_failed_bgsave_by_itself_once_the_disk_has_room():
    with redis_on_a_full_disk("--save", "1", "1") as real:
        theirs = save_point_on_a_full_disk(real)
    with serve_with_failpoint("rdb-write error ENOSPC", "--save", "1", "1") as served:
        ours = save_point_on_a_full_disk(served)
    assert theirs["set"].startswith("-MISCONF") and theirs["retried later"] and theirs["set after"] == b"OK"
    assert ours == theirs


def transaction_across_a_failed_bgsave(subject: Subject) -> dict[str, object]:
    """Writes queued while the disk still looked fine: the BGSAVE that fails meanwhile makes the EXEC a refused
    write, the whole transaction discarded (EXECABORT), while a transaction of reads still runs."""
    observer = replace(subject, client=RawClient(subject.client.sock.getpeername()[1]))
    subject.break_disk()
    seen: dict[str, object] = {"queued": [subject.call("MULTI"), subject.call("SET", "a", "1"),
                                          subject.call("GET", "a")]}
    seen["bgsave"] = observer.call("BGSAVE")
    observer.wait_info("rdb_bgsave_in_progress", "0")
    seen |= {"exec": subject.call("EXEC"), "exec again": subject.call("EXEC"), "get": subject.call("GET", "a"),
             "reads": [subject.call("MULTI"), subject.call("GET", "a"), subject.call("EXEC")]}
    return seen


def test_a_transaction_holding_writes_is_discarded_when_the_disk_failed_since_they_were_queued():
    with redis_on_a_full_disk("--save", "3600", "1") as real:
        theirs = transaction_across_a_failed_bgsave(real)
    with serve_with_failpoint("rdb-write error ENOSPC", "--save", "3600", "1") as served:
        ours = transaction_across_a_failed_bgsave(served)
    assert theirs["exec"].startswith("-EXECABORT Transaction discarded because of: MISCONF")
    assert ours == theirs


def shutdown_on_a_full_disk(subject: Subject) -> dict[str, object]:
    """SHUTDOWN's final snapshot cannot be written: the server refuses to exit and goes on (FORCE exits)."""
    subject.call("MSET", *[x for key in KEYS for x in (key, key)])
    start = len(subject.log())
    subject.break_disk()
    seen: dict[str, object] = {"shutdown": subject.call("SHUTDOWN"), "ping": subject.call("PING"),
                               "status": subject.info()["rdb_last_bgsave_status"], "files": subject.files()}
    subject.client.sock.sendall(hiredis.pack_command(("SHUTDOWN", "FORCE")))
    seen |= {"forced": _until_closed(subject.client), "exit": subject.process.wait(timeout=PROCESS_TIMEOUT),
             "warnings": warnings(subject.log()[start:])}
    return seen


def test_a_shutdown_whose_snapshot_fails_is_refused_unless_forced():
    with redis_on_a_full_disk("--save", "3600", "1") as real:
        theirs = shutdown_on_a_full_disk(real)
    with serve_with_failpoint("rdb-write error ENOSPC", "--save", "3600", "1") as served:
        ours = shutdown_on_a_full_disk(served)
    assert theirs["shutdown"] == "-ERR Errors trying to SHUTDOWN. Check logs." and theirs["exit"] == 0
    assert ours == theirs


@pytest.mark.parametrize("target", ["redis-6.2", "redis-8.2", "valkey-9.1"])
def test_a_failed_bgsave_is_logged_and_refused_as_each_target_words_it(target):
    with redis_on_a_full_disk("--save", "3600", "1", target=target) as real:
        theirs = bgsave_on_a_full_disk(real)
    with serve_with_failpoint("rdb-write error ENOSPC", "--save", "3600", "1", target=target) as served:
        ours = bgsave_on_a_full_disk(served)
    assert theirs["status"] == "err" and theirs["status after"] == "ok"
    assert ours == theirs


# --- AOF: a disk full under the appends ------------------------------------------------------------------

INCR = Path("appendonlydir") / "appendonly.aof.1.incr.aof"
#: AOF on without background fsyncs: everysec would postpone a write behind an fsync the timer started, and a
#: loaded machine then decides whether a write is tried before the test looks (Redis fails every policy alike)
AOF_UNSYNCED = ("--appendonly", "yes", "--appendfsync", "no")


def aof_writes_on_a_full_disk(subject: Subject, first: bytes = b"v0", appended: Path = INCR) -> dict[str, object]:
    """The disk fills while a write is appended (what fits in the file's last block is written, then cut off
    again); writes are refused until a retry succeeds once the disk has room, the buffered write kept."""
    assert subject.call("SET", "k0", first) == b"OK"
    incr = subject.dir / appended
    before = incr.read_bytes()
    start = len(subject.log())
    subject.break_disk()
    seen: dict[str, object] = {"acknowledged": subject.call("SET", "big", "x" * 9000)}
    info = subject.info()
    seen |= {"status": info["aof_last_write_status"], "buffered": info["aof_buffer_length"],
             "set": subject.call("SET", "a", "1"), "get": subject.call("GET", "k0"), "ping": subject.call("PING"),
             "incr kept": incr.read_bytes() == before}
    time.sleep(1.1)  # a second: the retry Redis makes each second fails again, and logs nothing more
    subject.repair_disk()
    subject.wait_info("aof_last_write_status", "ok")
    seen |= {"set after": subject.call("SET", "a", "2"), "appended": incr.read_bytes()[len(before):],
             "warnings": warnings(subject.log()[start:], ("AOF write error looks solved",))}
    return seen


@pytest.mark.parametrize(("target", "appended"), [("redis-6.2", Path("appendonly.aof")), ("redis-8.2", INCR),
                                                  ("valkey-9.1", INCR)])
def test_a_failed_aof_write_is_handled_as_each_target_handles_it(target, appended):
    with redis_on_a_full_disk(*AOF_UNSYNCED, target=target) as real:
        theirs = aof_writes_on_a_full_disk(real, appended=appended)
    with serve_with_failpoint("aof-write error ENOSPC", *AOF_UNSYNCED, target=target) as served:
        ours = aof_writes_on_a_full_disk(served, appended=appended)
    assert theirs["status"] == "err" and theirs["incr kept"]
    assert ours == theirs


def block_filling_value() -> bytes:
    """A value whose SET (after the SELECT) ends the incr file exactly at a 4 KiB block: a full disk then
    refuses the next write outright instead of taking part of it."""
    for size in range(4096):
        if len(b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*3\r\n$3\r\nSET\r\n$2\r\nk0\r\n$%d\r\n\r\n" % size) + size == 4096:
            return b"v" * size
    raise AssertionError("no value fills the block")


@pytest.mark.parametrize(("first", "failure"), [
    (b"v0", "M # Short write while writing to the AOF file: (nwritten=4044, expected=9031)"),
    (block_filling_value(), "M # Error writing to the AOF file: No space left on device"),
], ids=["short write", "no room at all"])
def test_a_full_disk_fails_aof_writes_refuses_writes_and_a_retry_recovers_once_there_is_room(first, failure):
    with redis_on_a_full_disk(*AOF_UNSYNCED) as real:
        theirs = aof_writes_on_a_full_disk(real, first)
    with serve_on_a_full_disk(*AOF_UNSYNCED) as served:
        on_disk = aof_writes_on_a_full_disk(served, first)
    with serve_with_failpoint("aof-write error ENOSPC", *AOF_UNSYNCED) as served:
        ours = aof_writes_on_a_full_disk(served, first)
    assert theirs["set"] == theirs["ping"] == MISCONF_AOF_ENOSPC and theirs["incr kept"]
    assert theirs["warnings"] == [failure, "M # AOF write error looks solved, Redis can write again."]
    assert on_disk == theirs
    assert ours == theirs


@pytest.mark.parametrize(("point", "scenario"), [
    ("rdb-write", bgsave_on_a_full_disk),
    ("aof-write", lambda subject: aof_writes_on_a_full_disk(subject, block_filling_value())),
    ("rewrite-child", lambda subject: rewrite_child_on_a_full_disk(subject)),
], ids=["bgsave", "aof", "rewrite"])
def test_an_io_error_fails_as_a_full_disk_with_nothing_written_does_with_its_own_reason(point, scenario):
    """EIO cannot be made on a real disk here; Redis treats every errno of a failed write alike (rdbSave,
    flushAppendOnlyFile and rewriteAppendOnlyFile log strerror and go on as for ENOSPC), so EIO must read as
    the full disk (compared with Redis above) with its reason."""
    options = ("--save", "3600", "1", *AOF_UNSYNCED)
    with serve_with_failpoint(f"{point} error ENOSPC", *options) as served:
        full = scenario(served)
    with serve_with_failpoint(f"{point} error EIO", *options) as served:
        failing = scenario(served)
    assert failing == _reason_replaced(full, "No space left on device", "Input/output error")


def test_a_failing_fsync_fails_a_snapshot_at_its_fsync_step():
    """rdbSave (rdb.c) fsyncs the temporary file before the rename and logs the step that failed: the
    snapshot fails as one that cannot be written does (compared with Redis above), at the fsync."""
    with serve_with_failpoint("rdb-write error ENOSPC", "--save", "3600", "1") as served:
        unwritable = bgsave_on_a_full_disk(served)
    with serve_with_failpoint("fsync error EIO", "--save", "3600", "1") as served:
        unsynced = bgsave_on_a_full_disk(served)
    assert unsynced == _reason_replaced(unwritable, "(rdbSaveRio): No space left on device",
                                        "(fsync): Input/output error")


def _reason_replaced(seen: object, reason: str, other: str) -> object:
    if isinstance(seen, dict):
        return {name: _reason_replaced(value, reason, other) for name, value in seen.items()}
    if isinstance(seen, list):
        return [_reason_replaced(value, reason, other) for value in seen]
    return seen.replace(reason, other) if isinstance(seen, str) else seen


def rewrite_on_a_full_disk(subject: Subject) -> dict[str, object]:
    """BGREWRITEAOF on a full disk: the new incr file is created, the manifest naming it cannot be written,
    so the rewrite does not start (the temporary manifest left behind); appends go on to the current file."""
    subject.call("SET", "a", "x" * 5000)
    start = len(subject.log())
    subject.break_disk()
    seen: dict[str, object] = {"rewrite": subject.call("BGREWRITEAOF")}
    info = subject.info()
    seen |= {name: info[name] for name in ("aof_last_bgrewrite_status", "aof_rewrites", "aof_rewrite_in_progress",
                                           "aof_rewrites_consecutive_failures", "aof_last_write_status")}
    seen |= {"files": subject.files(), "set": subject.call("SET", "b", "1"),
             "manifest": (subject.dir / "appendonlydir" / "appendonly.aof.manifest").read_text(),
             "warnings": warnings(subject.log()[start:])}
    return seen | rewritten_once_repaired(subject)


def on_full_disks_and_failpoint(flow: Callable[[Subject], dict[str, object]], failpoint: str) -> tuple[dict, ...]:
    """A flow (AOF on) on Redis 7.0's full disk, on serve's full disk, and on serve with the failpoint, in turn."""
    with redis_on_a_full_disk("--appendonly", "yes") as real:
        theirs = flow(real)
    with serve_on_a_full_disk("--appendonly", "yes") as served:
        on_disk = flow(served)
    with serve_with_failpoint(failpoint, "--appendonly", "yes") as served:
        return theirs, on_disk, flow(served)


def test_a_rewrite_that_cannot_write_the_manifest_does_not_start_and_appends_go_on():
    theirs, on_disk, ours = on_full_disks_and_failpoint(rewrite_on_a_full_disk, "aof-write error ENOSPC")
    assert theirs["rewrite"].startswith("-ERR Can't execute") and theirs["warnings"] == [
        "M # Error trying to write the temporary AOF manifest file temp-appendonly.aof.manifest: No space left on "
        "device"]
    assert on_disk == theirs
    assert ours == theirs


def rewrite_done_on_a_full_disk(subject: Subject) -> dict[str, object]:
    """One page left: the manifest naming the new incr file is written (its old page freed), the child's
    small base takes that page, and the manifest naming the new base cannot be written: the new base is
    taken away again, the rewrite counted as failed, the previous files stay the AOF."""
    subject.call("SET", "a", "x" * 9000)
    start = len(subject.log())
    one_page_left(subject)
    seen: dict[str, object] = {"rewrite": subject.call("BGREWRITEAOF")}
    subject.wait_info("aof_rewrite_in_progress", "0")
    info = subject.info()
    seen |= {name: info[name] for name in ("aof_last_bgrewrite_status", "aof_rewrites_consecutive_failures",
                                           "aof_last_write_status")}
    seen |= {"files": subject.files(), "warnings": warnings(subject.log()[start:]),
             "manifest": (subject.dir / "appendonlydir" / "appendonly.aof.manifest").read_text()}
    return seen


def test_a_rewrite_whose_new_manifest_cannot_be_written_keeps_the_previous_files():
    with redis_on_a_full_disk("--appendonly", "yes") as real:
        theirs = rewrite_done_on_a_full_disk(real)
    with serve_on_a_full_disk("--appendonly", "yes") as served:
        ours = rewrite_done_on_a_full_disk(served)
    assert theirs["aof_rewrites_consecutive_failures"] == "1" and "appendonly.aof.2.base.rdb" not in str(theirs)
    assert ours == theirs


def one_page_left(subject: Subject) -> None:
    """The disk broken with one page of room left: a manifest still fits, nothing bigger does."""
    spare = subject.dir / "spare"
    spare.write_bytes(b"s" * 4096)
    subject.break_disk()
    spare.unlink()


#: a value that does not compress (the base's RDB compresses values): a base of five pages
INCOMPRESSIBLE = random.Random(16).randbytes(20_000)
#: what a rewrite's outcome is read from
REWRITE_FIELDS = ("aof_last_bgrewrite_status", "aof_rewrites", "aof_rewrites_consecutive_failures",
                  "aof_rewrite_scheduled", "aof_rewrite_in_progress", "aof_last_write_status")


def rewritten_once_repaired(subject: Subject) -> dict[str, object]:
    """The disk repaired, BGREWRITEAOF once more: its reply and the state it leaves."""
    subject.repair_disk()
    reply = subject.call("BGREWRITEAOF")
    subject.wait_info("aof_rewrite_in_progress", "0")
    return {"rewrite after": reply, "after": rewrite_state(subject)}


def rewrite_state(subject: Subject) -> dict[str, object]:
    info = subject.info()
    manifest = subject.dir / "appendonlydir" / "appendonly.aof.manifest"
    return {**{name: info.get(name) for name in REWRITE_FIELDS}, "files": subject.files(),
            "manifest": manifest.read_text() if manifest.exists() else None}


def rewrite_child_on_a_full_disk(subject: Subject) -> dict[str, object]:
    """The disk fills while the rewrite child writes its base: the manifest naming the new incr file was
    written, the child's write fails, the child removes its file and exits 1. The rewrite is counted as
    failed, writes are not refused (a rewrite is no AOF write), the new incr file stays in the manifest;
    once there is room the next BGREWRITEAOF succeeds."""
    subject.call("SET", "a", INCOMPRESSIBLE)
    start = len(subject.log())
    one_page_left(subject)
    seen: dict[str, object] = {"rewrite": subject.call("BGREWRITEAOF")}
    subject.wait_info("aof_rewrite_in_progress", "0")
    seen |= {**rewrite_state(subject), "set": subject.call("SET", "b", "1"),
             "warnings": warnings(subject.log()[start:])}
    return seen | rewritten_once_repaired(subject)


def test_a_rewrite_child_that_cannot_write_its_base_fails_the_rewrite_but_not_the_writes():
    theirs, on_disk, ours = on_full_disks_and_failpoint(rewrite_child_on_a_full_disk, "rewrite-child error ENOSPC")
    assert theirs["aof_last_bgrewrite_status"] == "err" and theirs["set"] == b"OK" and theirs["warnings"] == [
        "C # Write error writing append only file on disk: No space left on device",
        "M # Background AOF rewrite terminated with error"]
    assert "appendonly.aof.2.incr.aof" in theirs["manifest"] and theirs["after"]["aof_last_bgrewrite_status"] == "ok"
    assert on_disk == theirs
    assert ours == theirs


def aof_turned_on_while_the_disk_fills(subject: Subject) -> dict[str, object]:
    """CONFIG SET appendonly yes whose rewrite child cannot write the first base: accepted (the fork
    worked); the timer retries the rewrite each tick, each try's temporary incr file removed when it fails,
    until three failures in a row hold the timer back (for a minute). Once there is room a BGREWRITEAOF
    writes the base and AOF is on."""
    subject.call("SET", "a", INCOMPRESSIBLE)
    start = len(subject.log())
    one_page_left(subject)
    seen: dict[str, object] = {"config set": subject.call("CONFIG", "SET", "appendonly", "yes")}
    deadline = time.monotonic() + PROCESS_TIMEOUT
    while "triggered the limit" not in subject.log()[start:]:
        assert time.monotonic() < deadline, "the failed rewrites never triggered the limit"
        time.sleep(0.05)
    seen |= {**rewrite_state(subject), "aof_enabled": subject.info()["aof_enabled"],
             "set": subject.call("SET", "b", "1"), "warnings": warnings(subject.log()[start:])}
    subject.repair_disk()
    seen["rewrite after"] = subject.call("BGREWRITEAOF")
    subject.wait_info("aof_rewrite_in_progress", "0")
    seen["after"] = rewrite_state(subject)
    return seen


def test_turning_aof_on_retries_a_failed_first_rewrite_each_tick_until_three_failures_hold_it_back():
    with redis_on_a_full_disk() as real:
        theirs = aof_turned_on_while_the_disk_fills(real)
    with serve_on_a_full_disk() as served:
        on_disk = aof_turned_on_while_the_disk_fills(served)
    with serve_with_failpoint("rewrite-child error ENOSPC") as served:
        ours = aof_turned_on_while_the_disk_fills(served)
    failed = ["C # Write error writing append only file on disk: No space left on device",
              "M # Background AOF rewrite terminated with error"]
    assert theirs["config set"] == b"OK" and theirs["warnings"] == [*failed * 3, (
        "M # Background AOF rewrite has repeatedly failed and triggered the limit, will retry in 1 minutes")]
    assert theirs["after"]["aof_last_bgrewrite_status"] == "ok"
    assert on_disk == theirs
    assert ours == theirs


def always_on_a_full_disk(subject: Subject) -> dict[str, object]:
    """appendfsync always: a write that cannot be appended was maybe seen by clients already, so Redis exits."""
    assert subject.call("SET", "k0", "v0") == b"OK"
    incr = subject.dir / INCR
    before = incr.read_bytes()
    start = len(subject.log())
    subject.break_disk()
    subject.client.sock.sendall(hiredis.pack_command(("SET", "big", "x" * 9000)))
    return {"reply": _until_closed(subject.client), "exit": subject.process.wait(timeout=PROCESS_TIMEOUT),
            "incr kept": incr.read_bytes() == before, "warnings": warnings(subject.log()[start:])}


def _until_closed(client: RawClient) -> bytes:
    data = b""
    while chunk := client.sock.recv(65536):
        data += chunk
    return data


def test_with_appendfsync_always_a_failed_aof_write_stops_the_server():
    with redis_on_a_full_disk("--appendonly", "yes", "--appendfsync", "always") as real:
        theirs = always_on_a_full_disk(real)
    with serve_with_failpoint("aof-write error ENOSPC", "--appendonly", "yes", "--appendfsync", "always") as served:
        ours = always_on_a_full_disk(served)
    assert theirs["reply"] == b"" and theirs["exit"] == 1
    assert ours == theirs


def always_after_a_failed_write(subject: Subject) -> dict[str, object]:
    """A write failed (the buffer kept); switched to appendfsync always, the next try fails under always,
    and the server exits before it answers."""
    assert subject.call("SET", "k0", "v0") == b"OK"
    start = len(subject.log())
    subject.break_disk()
    seen: dict[str, object] = {"acknowledged": subject.call("SET", "big", "x" * 9000),
                               "status": subject.info()["aof_last_write_status"]}
    subject.client.sock.sendall(hiredis.pack_command(("CONFIG", "SET", "appendfsync", "always")))
    seen |= {"reply": _until_closed(subject.client), "exit": subject.process.wait(timeout=PROCESS_TIMEOUT),
             "warnings": warnings(subject.log()[start:])}
    return seen


def test_switching_to_appendfsync_always_while_writes_fail_stops_the_server():
    with redis_on_a_full_disk(*AOF_UNSYNCED) as real:
        theirs = always_after_a_failed_write(real)
    with serve_with_failpoint("aof-write error ENOSPC", *AOF_UNSYNCED) as served:
        ours = always_after_a_failed_write(served)
    assert theirs["exit"] == 1
    assert ours == theirs


# --- children killed at a step ---------------------------------------------------------------------------


@contextlib.contextmanager
def redis_with_a_child_to_kill(started: str, *options: str, serve: bool = False,
                               sig: int = signal.SIGKILL) -> Iterator[Subject]:
    """Redis (or serve) whose child, slowed to a minute per key by rdb-key-save-delay (so a stalled machine
    still finds it writing), is sent ``sig`` (kill -9 by default)."""
    with start_serve("--target", TARGET, *options) if serve else start_server(TARGET, extra=options) as running:
        client = RawClient(running.port)
        log = (lambda: running.log) if serve else running.log_path.read_text

        killed: list[str] = []

        def kill_child() -> None:
            """The child the log names last, once it names one not killed yet."""
            deadline = time.monotonic() + PROCESS_TIMEOUT
            while (found := re.findall(started + r" by pid (\d+)", log())[len(killed):]) == []:
                assert time.monotonic() < deadline, f"no new '{started}' in the log"
                time.sleep(0.02)
            killed.append(found[-1])
            os.kill(int(found[-1]), sig)
        yield Subject(client, running.dir, log,
                      lambda: client.call(["CONFIG", "SET", "rdb-key-save-delay", "60000000"]),
                      lambda: client.call(["CONFIG", "SET", "rdb-key-save-delay", "0"]), running.process, kill_child)


def bgsave_child_killed(subject: Subject) -> dict[str, object]:
    """A BGSAVE child killed: the temp file removed, the dump kept, the status err (MISCONF with save
    points) until a BGSAVE succeeds."""
    return failed_bgsave_then_recovered(subject, ["a", "b", "c"])


def test_a_bgsave_child_killed_leaves_the_dump_and_refuses_writes_until_a_bgsave_succeeds():
    with redis_with_a_child_to_kill("Background saving started", "--save", "3600", "1") as real:
        theirs = bgsave_child_killed(real)
    with serve_with_failpoint("bgsave-child kill start", "--save", "3600", "1") as served:
        ours = bgsave_child_killed(served)
    assert theirs["warnings"] == ["M # Background saving terminated by signal 9"] and theirs["files"] == ["dump.rdb"]
    assert ours == theirs


@pytest.mark.parametrize("step", ["fsync", "rename"])
def test_a_bgsave_child_killed_at_a_later_step_is_reported_alike(step):
    """Killed once its file is written (before the fsync, or before the rename) the child is reported as at
    its start (Redis's parent knows only the signal): checked against serve killed at its start."""
    with serve_with_failpoint("bgsave-child kill start", "--save", "3600", "1") as served:
        at_start = bgsave_child_killed(served)
    with serve_with_failpoint(f"bgsave-child kill {step}", "--save", "3600", "1") as served:
        assert bgsave_child_killed(served) == at_start


def child_stopped_on_purpose(subject: Subject) -> dict[str, object]:
    """A child sent SIGUSR1 (Redis's own way to stop one) is logged as ended by that signal, but neither
    status turns to err, nothing is counted as failed, writes go on."""
    subject.call("SET", "a", "1")
    start = len(subject.log())
    subject.break_disk()
    seen: dict[str, object] = {}
    for command, running in (("BGSAVE", "rdb_bgsave_in_progress"), ("BGREWRITEAOF", "aof_rewrite_in_progress")):
        seen[command] = subject.call(command)
        subject.started_child()
        subject.wait_info(running, "0")
    info = subject.info()
    seen |= {name: info[name] for name in ("rdb_last_bgsave_status", "aof_last_bgrewrite_status",
                                           "aof_rewrites_consecutive_failures")}
    seen |= {"set": subject.call("SET", "b", "2"), "warnings": warnings(subject.log()[start:])}
    return seen


def test_a_child_stopped_with_sigusr1_is_no_failure():
    options = ("--save", "3600", "1", "--appendonly", "yes")
    with redis_with_a_child_to_kill("started", *options, sig=signal.SIGUSR1) as real:
        theirs = child_stopped_on_purpose(real)
    with redis_with_a_child_to_kill("started", *options, sig=signal.SIGUSR1, serve=True) as served:
        ours = child_stopped_on_purpose(served)
    assert theirs["rdb_last_bgsave_status"] == "ok" and theirs["warnings"] == [
        "M # Background saving terminated by signal 10", "M # Background AOF rewrite terminated by signal 10"]
    assert ours == theirs


def rewrite_child_killed(subject: Subject) -> dict[str, object]:
    """A rewrite child killed: the temp file removed, the status err and a failure counted; writes go on
    (no MISCONF for a rewrite); the new incr file opened at the start stays in the manifest."""
    subject.call("SET", "a", "1")
    start = len(subject.log())
    subject.break_disk()
    seen: dict[str, object] = {"rewrite": subject.call("BGREWRITEAOF")}
    subject.started_child()
    subject.wait_info("aof_rewrite_in_progress", "0")
    info = subject.info()
    manifest = subject.dir / "appendonlydir" / "appendonly.aof.manifest"
    seen |= {"status": info["aof_last_bgrewrite_status"], "failures": info["aof_rewrites_consecutive_failures"],
             "set": subject.call("SET", "b", "2"), "files": subject.files(), "manifest": manifest.read_text()}
    subject.repair_disk()
    seen["rewrite after"] = subject.call("BGREWRITEAOF")
    subject.wait_info("aof_rewrite_in_progress", "0")
    info = subject.info()
    seen |= {"status after": info["aof_last_bgrewrite_status"], "rewrites": info["aof_rewrites"],
             "manifest after": manifest.read_text(), "warnings": warnings(subject.log()[start:])}
    return seen


def test_a_rewrite_child_killed_is_counted_as_a_failure_and_the_next_rewrite_recovers():
    with redis_with_a_child_to_kill("Background append only file rewriting started", "--appendonly", "yes") as real:
        theirs = rewrite_child_killed(real)
    with serve_with_failpoint("rewrite-child kill start", "--appendonly", "yes") as served:
        ours = rewrite_child_killed(served)
    assert theirs["status"] == "err" and theirs["failures"] == "1" and theirs["status after"] == "ok"
    assert ours == theirs


def test_a_rewrite_child_killed_before_its_fsync_is_reported_as_at_its_start():
    """Redis's parent knows only the signal: checked against serve killed at the start (compared above)."""
    with serve_with_failpoint("rewrite-child kill start", "--appendonly", "yes") as served:
        at_start = rewrite_child_killed(served)
    with serve_with_failpoint("rewrite-child kill fsync", "--appendonly", "yes") as served:
        assert rewrite_child_killed(served) == at_start


# --- fork refused ----------------------------------------------------------------------------------------

#: the threads Redis 7.0 runs (its main thread, three bio threads, jemalloc's background thread): RLIMIT_NPROC
#: set to exactly these lets it start and refuses its forks
REDIS_THREADS = 5
#: a user of its own for that Redis (RLIMIT_NPROC counts every process of the user; no other runs as this one)
UNFORKING_UID = 54_321


@contextlib.contextmanager
def redis_that_cannot_fork(*options: str) -> Iterator[Subject]:
    """Redis run as a user of its own with RLIMIT_NPROC at its own threads: every fork fails with EAGAIN."""
    assert _threads_of(UNFORKING_UID) == 0, f"uid {UNFORKING_UID} runs processes already"

    class Unforking(RealServer):
        def command(self) -> list[str]:
            return ["prlimit", f"--nproc={REDIS_THREADS}:{REDIS_THREADS}", "setpriv", f"--reuid={UNFORKING_UID}",
                    f"--regid={UNFORKING_UID}", "--clear-groups", *super().command()]

    with tempfile.TemporaryDirectory(prefix="rdbtool-unforking-") as directory:
        os.chown(directory, UNFORKING_UID, UNFORKING_UID)
        real = Unforking(SERVERS[TARGET], require_binary(TARGET), Path(directory), free_port(), extra=options)
        try:
            real.start()
            yield Subject(RawClient(real.port), real.dir, real.log_path.read_text, lambda: None, lambda: None,
                          real.process)
        finally:
            real.stop()


def _threads_of(uid: int) -> int:
    count = 0
    for status in Path("/proc").glob("[0-9]*/status"):
        with contextlib.suppress(OSError):
            fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
            if int(fields["Uid"].split()[0]) == uid:
                count += int(fields["Threads"])
    return count


def forks_refused(subject: Subject) -> dict[str, object]:
    """BGSAVE and BGREWRITEAOF when fork fails: their errors, the statuses, MISCONF from the BGSAVE's."""
    start = len(subject.log())
    subject.break_disk()
    seen: dict[str, object] = {"bgsave": subject.call("BGSAVE"), "rewrite": subject.call("BGREWRITEAOF")}
    info = subject.info()
    seen |= {name: info[name] for name in ("rdb_last_bgsave_status", "rdb_bgsave_in_progress",
                                           "aof_last_bgrewrite_status", "aof_rewrites",
                                           "aof_rewrites_consecutive_failures", "aof_rewrite_in_progress")}
    seen |= {"set": subject.call("SET", "a", "1"), "files": subject.files(),
             "warnings": warnings(subject.log()[start:])}
    return seen


def test_a_refused_fork_fails_bgsave_and_bgrewriteaof_as_redis_reports_it():
    with redis_that_cannot_fork("--save", "3600", "1") as real:
        theirs = forks_refused(real)
    with serve_with_failpoint("fork error EAGAIN", "--save", "3600", "1") as served:
        ours = forks_refused(served)
    assert theirs["bgsave"] == "-ERR" and theirs["warnings"] == [
        "M # Can't save in background: fork: Resource temporarily unavailable",
        "M # Can't rewrite append only file in background: fork: Resource temporarily unavailable"]
    assert ours == theirs


def aof_turned_on_without_fork(subject: Subject) -> dict[str, object]:
    """CONFIG SET appendonly yes cannot fork its rewrite: refused, AOF stays off, the temporary incr file left;
    a rewrite scheduled (BGREWRITEAOF in a transaction) is then tried again at every timer tick."""
    start = len(subject.log())
    subject.break_disk()
    seen: dict[str, object] = {"config set": subject.call("CONFIG", "SET", "appendonly", "yes"),
                               "aof_enabled": subject.info()["aof_enabled"], "files": subject.files()}
    subject.call("MULTI")
    subject.call("BGREWRITEAOF")
    seen["exec"] = subject.call("EXEC")
    retry = "M # Can't rewrite append only file in background: fork: Resource temporarily unavailable"
    deadline = time.monotonic() + PROCESS_TIMEOUT
    while warnings(subject.log()[start:]).count(retry) < 4:  # the refusal, then three retries
        assert time.monotonic() < deadline, "the scheduled rewrite was not retried"
        time.sleep(0.05)
    info = subject.info()
    seen |= {name: info[name] for name in ("aof_rewrite_scheduled", "aof_last_bgrewrite_status", "aof_enabled")}
    seen["warnings"] = warnings(subject.log()[start:])[:4]
    return seen


def test_turning_aof_on_without_fork_is_refused_and_a_scheduled_rewrite_is_retried_each_tick():
    with redis_that_cannot_fork() as real:
        theirs = aof_turned_on_without_fork(real)
    with serve_with_failpoint("fork error EAGAIN") as served:
        ours = aof_turned_on_without_fork(served)
    assert theirs["config set"].startswith("-ERR CONFIG SET failed") and theirs["aof_enabled"] == "0"
    assert ours == theirs


# --- fsync: failing (strace's fault injection in the real server) or slow -------------------------------


@contextlib.contextmanager
def redis_whose_fsyncs_fail(*options: str) -> Iterator[Subject]:
    """Redis 7.0 whose fdatasync calls (its redis_fsync on Linux) fail with EIO while strace, attached to all
    its threads, injects the error: the real server's own handling of a failing fsync (strace needs root or
    ptrace rights, as CI has; elsewhere these tests fail). Its DEBUG is on, as serve's is."""
    with start_server(TARGET, extra=("--enable-debug-command", "yes", *options)) as real:
        tracer: list[subprocess.Popen] = []

        def inject() -> None:
            tracer.append(subprocess.Popen(["strace", "-f", "-qq", "-p", str(real.process.pid), "-o", os.devnull,
                                            "-e", "trace=fdatasync", "-e", "inject=fdatasync:error=EIO"]))
            _wait_traced(real.process.pid, tracer[0].pid)

        def detach() -> None:
            tracer.pop().terminate()
            _wait_traced(real.process.pid, 0)
        try:
            yield Subject(RawClient(real.port), real.dir, real.log_path.read_text, inject, detach, real.process)
        finally:
            for running in tracer:
                running.kill()
                running.wait()


def _wait_traced(pid: int, tracer: int) -> None:
    """Until every thread of ``pid`` is traced by ``tracer`` (0: by none)."""
    deadline = time.monotonic() + PROCESS_TIMEOUT
    while any(_tracer_of(status) != tracer for status in Path(f"/proc/{pid}/task").glob("*/status")):
        assert time.monotonic() < deadline, f"strace never {'attached to' if tracer else 'left'} pid {pid}"
        time.sleep(0.02)


def _tracer_of(status: Path) -> int:
    fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
    return int(fields["TracerPid"])


def failing_background_fsync(subject: Subject) -> dict[str, object]:
    """everysec: the background fsync fails; from the moment it is logged the very next write (and PING) is
    refused, reads go on, INFO says err. Once the disk works again nothing is fsync'd until something new is
    written: writes stay refused until a read expires a key lazily (its DEL is appended), the next fsync then
    succeeds and writes are accepted."""
    subject.call("DEBUG", "SET-ACTIVE-EXPIRE", "0")
    subject.call("SET", "gone", "1", "PX", "1")  # fsync'd before its reply (always): no fsync pending
    subject.call("CONFIG", "SET", "appendfsync", "everysec")
    start = len(subject.log())
    subject.break_disk()
    seen: dict[str, object] = {"set": subject.call("SET", "a", "1")}
    deadline = time.monotonic() + PROCESS_TIMEOUT
    while "Fail to fsync the AOF file" not in subject.log()[start:]:
        assert time.monotonic() < deadline, "the failing fsync was never logged"
        time.sleep(0.001)
    seen |= {"next set": subject.call("SET", "b", "2"), "ping": subject.call("PING"),
             "status": subject.info()["aof_last_write_status"], "get": subject.call("GET", "a")}
    subject.repair_disk()
    time.sleep(1.1)  # a second: an fsync would be due, but nothing was written since the failed one
    seen |= {"status repaired": subject.info()["aof_last_write_status"], "set repaired": subject.call("SET", "b", "2"),
             "expired": subject.call("GET", "gone")}
    subject.wait_info("aof_last_write_status", "ok")
    seen |= {"set after": subject.call("SET", "b", "2"), "warnings": warnings(subject.log()[start:])}
    return seen


def test_a_failed_background_fsync_refuses_the_very_next_write_until_a_later_fsync_succeeds():
    options = ("--appendonly", "yes", "--appendfsync", "always")  # everysec once the disk fails
    with redis_whose_fsyncs_fail(*options) as real:
        theirs = failing_background_fsync(real)
    with serve_with_failpoint("fsync error EIO", *options) as served:
        ours = failing_background_fsync(served)
    refused = "-MISCONF Errors writing to the AOF file: Input/output error"
    assert theirs["next set"] == theirs["ping"] == theirs["set repaired"] == refused and theirs["status"] == "err"
    assert theirs["warnings"] == ["M # Fail to fsync the AOF file: Input/output error"]
    assert ours == theirs


def in_process(tmp_path: Path, policy: str) -> tuple[Server, Client]:
    """A server core with AOF on, driven without sockets (the edge's group commit is ``aof.flush()``)."""
    config = ServerConfig.load(None, ["--dir", str(tmp_path), "--save", "", "--appendonly", "yes",
                                      "--appendfsync", policy, "--target", TARGET, *TEST_DEFAULTS])
    server = Server(config)
    server.aof.open(server.engine)
    return server, server.connect("a:1", "b:2", lambda reply: None, lambda: None)


def fsync_in_background(server: Server) -> None:
    """A second has passed: the next flush hands the fsync to its thread; wait for it, then the timer."""
    server.aof.last_fsync -= 2
    server.aof.flush()
    server.cron()
    if server.aof._fsync_thread is not None:
        server.aof._fsync_thread.join()
    server.cron()


def test_a_failing_everysec_fsync_refuses_writes_until_a_later_fsync_succeeds(tmp_path, caplog):
    """Redis 7.0's bio fsync job (bio.c) records a failure, logs it once, and writeCommandsDeniedByDiskError
    (server.c) then refuses writes and PING with its errno, INFO saying aof_last_write_status:err. Only an
    fsync that succeeds clears it, and flushAppendOnlyFile (aof.c) fsyncs only what was written since the
    last fsync: clearing the fault alone does not recover, the next thing written (as an expired key's DEL
    is, refused clients or not) does."""
    server, client = in_process(tmp_path, "everysec")
    server.config.failpoints.set("fsync", "error", "EIO")
    server.execute(client, [b"SET", b"a", b"1"])
    fsync_in_background(server)
    refused = "MISCONF Errors writing to the AOF file: Input/output error"
    assert server.aof.info()["aof_last_write_status"] == "err"
    assert str(server.execute(client, [b"SET", b"b", b"2"])) == str(server.execute(client, [b"PING"])) == refused
    assert server.execute(client, [b"GET", b"a"]) == b"1"
    server.config.failpoints.clear()
    fsync_in_background(server)
    assert server.aof.info()["aof_last_write_status"] == "err"  # nothing new written: no fsync tried
    server.aof.appender.feed(0, [[b"DEL", b"expired"]])
    fsync_in_background(server)
    assert server.aof.info()["aof_last_write_status"] == "ok"
    assert server.execute(client, [b"SET", b"b", b"2"]) == Status("OK")
    failures = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Fail to fsync")]
    assert failures == ["Fail to fsync the AOF file: Input/output error"]


def test_with_appendfsync_always_a_failed_fsync_stops_the_server():
    """aof.c's flushAppendOnlyFile: with appendfsync always an fsync that fails is logged and Redis exits 1
    (what it acknowledged must be on disk); the command was written, its reply never sent."""
    with serve_with_failpoint("fsync error EIO", "--appendonly", "yes", "--appendfsync", "always") as served:
        seen = always_on_a_full_disk(served)
    assert seen == {"reply": b"", "exit": 1, "incr kept": False, "warnings": [
        "M # Can't persist AOF for fsync error when the AOF fsync policy is 'always': Input/output error. Exiting..."]}


def test_a_slow_fsync_delays_every_write_with_appendfsync_always(tmp_path):
    """With appendfsync always the fsync runs before the replies go out (aof.c's flushAppendOnlyFile), so
    its latency is every write's."""
    server, client = in_process(tmp_path, "always")
    server.config.failpoints.set("fsync", "delay", "300")
    server.execute(client, [b"SET", b"a", b"1"])
    started = time.monotonic()
    server.aof.flush()
    assert time.monotonic() - started >= 0.3
    assert b"$1\r\na" in (tmp_path / INCR).read_bytes()


def test_a_slow_always_fsync_is_the_latency_monitors_aof_fsync_always_event(tmp_path):
    """flushAppendOnlyFile (aof.c) samples the fsync of appendfsync always as aof-fsync-always, and the write
    itself as aof-write and aof-write-alone (nothing beside it) when they reach latency-monitor-threshold."""
    server, client = in_process(tmp_path, "always")
    server.config.apply("latency-monitor-threshold", ["100"], where="", startup=False)
    server.config.failpoints.set("fsync", "delay", "150")
    server.execute(client, [b"SET", b"a", b"1"])
    server.aof.flush()
    latest = {event: worst for event, _, _, worst in server.execute(client, [b"LATENCY", b"LATEST"])}
    assert list(latest) == [b"aof-fsync-always"] and latest[b"aof-fsync-always"] >= 150  # the write was fast


def timer_waits(stats: RewriteStats, config: ServerConfig, tries: int) -> list[int]:
    """The minutes of each wait the timer begins when every rewrite it lets through fails, tried each second."""
    waits, now = [], 1_000_000.0
    for _ in range(tries):
        if not stats.held_back(config, now):
            stats.failures_in_a_row += 1  # the try failed
        elif stats.retry_at - now == stats.wait_minutes * 60:
            waits.append(stats.wait_minutes)
        now = max(now + 1, stats.retry_at)
    return waits


def test_repeated_rewrite_failures_hold_the_timer_back_twice_as_long_each_time_up_to_an_hour():
    """aof.c's aofRewriteLimited (its first minute compared with Redis 7.0 above): each wait, once over, lets
    one try through, and when that fails too the next wait is twice as long, 60 minutes at most; fewer than 3
    failures in a row (a rewrite that succeeded, BGREWRITEAOF asked while a child runs) end it; Redis 6.2 has
    no such wait."""
    config = ServerConfig.load(None, ["--target", TARGET])
    assert timer_waits(RewriteStats(failures_in_a_row=2), config, 20) == [1, 2, 4, 8, 16, 32, 60, 60, 60, 60]
    recovered = RewriteStats(failures_in_a_row=3)
    assert recovered.held_back(config, 0.0)
    recovered.failures_in_a_row = 0
    assert not recovered.held_back(config, 1.0) and (recovered.wait_minutes, recovered.retry_at) == (0, 0.0)
    old = ServerConfig.load(None, ["--target", "redis-6.2"])
    assert timer_waits(RewriteStats(), old, 20) == []


# --- the command -----------------------------------------------------------------------------------------


def test_debug_failpoint_sets_lists_and_clears_failpoints(tmp_path):
    server, client = in_process(tmp_path, "everysec")

    def debug(*args: str) -> object:
        reply = server.execute(client, [b"DEBUG", b"FAILPOINT", *(a.encode() for a in args)])
        return str(reply) if isinstance(reply, Exception) else reply
    assert debug("SET", "aof-write", "error", "enospc") == debug("SET", "fsync", "delay", "50") == Status("OK")
    assert debug("SET", "fork", "error") == debug("SET", "rewrite-child", "kill", "fsync") == Status("OK")
    assert debug("LIST") == [b"aof-write error ENOSPC", b"fsync delay 50", b"fork error ENOMEM",
                             b"rewrite-child kill fsync"]
    assert debug("CLEAR", "fsync") == Status("OK") and len(debug("LIST")) == 3
    assert debug("CLEAR") == Status("OK") and debug("LIST") == []


@pytest.mark.parametrize(("args", "error"), [
    (["SET", "disk", "error", "EIO"], "ERR unknown failpoint 'disk'"),
    (["SET", "fsync", "kill", "start"], "ERR failpoint 'fsync' has no action 'kill'"),
    (["SET", "rdb-write", "error", "EPERM"], "ERR unknown errno 'EPERM'"),
    (["SET", "fsync", "delay", "soon"], "ERR failpoint 'fsync delay' takes milliseconds, not 'soon'"),
    (["SET", "bgsave-child", "kill", "midway"], "ERR 'bgsave-child' has no step 'midway'"),
    (["SET", "aof-write", "error"], "ERR failpoint 'aof-write error' takes one argument (errno)"),
    (["CLEAR", "disk"], "ERR unknown failpoint 'disk'"),
    (["LIST", "all"], "ERR DEBUG FAILPOINT SET <point> <action> [<arg>] | CLEAR [<point>] | LIST"),
])
def test_debug_failpoint_refuses_what_it_does_not_know_so_no_test_runs_without_its_fault(tmp_path, args, error):
    server, client = in_process(tmp_path, "everysec")
    reply = server.execute(client, [b"DEBUG", b"FAILPOINT", *(a.encode() for a in args)])
    assert isinstance(reply, Exception) and str(reply).startswith(error)
    assert server.config.failpoints.listing() == []


@pytest.mark.parametrize("target", ["redis-6.2", "redis-8.2", "valkey-9.1"])
def test_a_rewrite_child_that_cannot_write_its_base_is_handled_as_each_target_handles_it(target):
    with redis_on_a_full_disk("--appendonly", "yes", target=target) as real:
        theirs = rewrite_child_on_a_full_disk(real)
    with serve_with_failpoint("rewrite-child error ENOSPC", "--appendonly", "yes", target=target) as served:
        ours = rewrite_child_on_a_full_disk(served)
    assert theirs["aof_last_bgrewrite_status"] == "err" and theirs["set"] == b"OK"
    assert ours == theirs


@pytest.mark.parametrize("target", ["redis-8.2", "valkey-9.1"])
def test_turning_aof_on_is_held_back_after_three_failed_first_rewrites_as_each_target_does(target):
    with redis_on_a_full_disk(target=target) as real:
        theirs = aof_turned_on_while_the_disk_fills(real)
    with serve_with_failpoint("rewrite-child error ENOSPC", target=target) as served:
        ours = aof_turned_on_while_the_disk_fills(served)
    assert theirs["aof_rewrites_consecutive_failures"] == "3" and theirs["after"]["aof_last_bgrewrite_status"] == "ok"
    assert ours == theirs
