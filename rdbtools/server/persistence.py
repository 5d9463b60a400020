"""RDB persistence as redis-server does it: load at start, SAVE, BGSAVE in a forked child, save points.

The child writes ``temp-<pid>.rdb`` in ``dir``, fsyncs it, renames it over the dump and exits; the
parent keeps serving (the fork's copy-on-write holds the snapshot still) and reaps it from its
timer. A child that fails or is killed leaves the previous dump untouched and the status "err".
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rdbtools.atomic import fsync_directory
from rdbtools.keyspace.model import Keyspace
from rdbtools.rdb.model import Function, KeyRecord
from rdbtools.rdb.reader import open_rdb
from rdbtools.rdb.writer import RdbWriter
from rdbtools.server.changes import Changes
from rdbtools.server.config import ServerConfig
from rdbtools.server.failpoints import Failpoints

if TYPE_CHECKING:
    from rdbtools.server.aof import AofPersistence

log = logging.getLogger("rdbtool.serve")
RETRY_DELAY = 5  # seconds before a failed BGSAVE is retried by a save point (CONFIG_BGSAVE_RETRY_DELAY)
REWRITE_LIMIT_FAILURES = 3  # failed rewrites in a row before the timer's wait (AOF_REWRITE_LIMITE_THRESHOLD)
REWRITE_LIMIT_MAX_MINUTES = 60  # the longest of those waits (AOF_REWRITE_LIMITE_MAX_MINUTES)


@dataclass
class RewriteStats:
    """The AOF rewrites' record, the server's whether AOF is on or off: INFO persistence shows it either
    way, and Redis 7 rewrites on BGREWRITEAOF with appendonly no too."""

    rewrites: int = 0  # started
    failures_in_a_row: int = 0
    last_ok: bool = True
    last_seconds: int = -1
    last_cow_size: int = 0
    scheduled: bool = False  # to start once no other child runs
    wait_minutes: int = 0  # the timer's current wait after repeated failures (Redis 7's aofRewriteLimited)
    retry_at: float = 0.0  # when that wait ends (0: none begun)

    def held_back(self, config: ServerConfig, now: float) -> bool:
        """Redis 7's aofRewriteLimited: after 3 failed rewrites in a row the timer's rewrites (scheduled or on
        growth) wait 1, 2, 4 ... 60 minutes, each wait logged as it begins, so a disk that stays broken is not
        hammered; BGREWRITEAOF itself is never held back."""
        if config.target.version < (7, 0) or self.failures_in_a_row < REWRITE_LIMIT_FAILURES:
            self.wait_minutes, self.retry_at = 0, 0.0
            return False
        now = int(now)
        if self.retry_at:
            if now < self.retry_at:
                return True
            self.retry_at = 0.0
            return False
        self.wait_minutes = min(self.wait_minutes * 2 or 1, REWRITE_LIMIT_MAX_MINUTES)
        self.retry_at = now + self.wait_minutes * 60
        log.warning("Background AOF rewrite has repeatedly failed and triggered the limit, will retry in %d minutes",
                    self.wait_minutes)
        return True


@dataclass
class Child:
    pid: int
    started: float
    dirty_at_start: int
    report_fd: int  # the child writes its copy-on-write size here


class RdbPersistence:
    def __init__(self, config: ServerConfig, keyspace: Keyspace) -> None:
        self.config = config
        self.keyspace = keyspace
        self.changes = Changes()  # changes since the last successful save, and whether the last one failed
        self.lastsave = int(time.time())
        self.last_bgsave_try = 0.0
        self.last_bgsave_seconds = -1
        self.last_cow_size = 0
        self.child: Child | None = None
        self.scheduled = False
        self.rewrite_stats = RewriteStats()
        self.aof_rewrite: AofPersistence | None = None  # a BGREWRITEAOF's run with appendonly no (aof.py)

    @property
    def path(self) -> Path:
        return Path(self.config["dir"]) / self.config["dbfilename"]

    # --- loading -------------------------------------------------------------------------------

    def load(self, now_ms: int) -> tuple[int, int]:
        """The dump into the keyspace, as a master loads it (expired keys dropped): (keys, expired)."""
        if not self.path.exists():
            return 0, 0
        keys = expired = 0
        target = self.config.target
        with open_rdb(self.path) as rdb:
            for record in rdb:
                if isinstance(record, KeyRecord) and record.expire_ms is not None and record.expire_ms <= now_ms:
                    expired += 1
                elif isinstance(record, KeyRecord | Function):
                    self.keyspace.load(record, target=target)
                    keys += isinstance(record, KeyRecord)
        return keys, expired

    # --- saving ---------------------------------------------------------------------------------

    def write_snapshot(self, pid: int, in_child: bool = False) -> None:
        """temp-<pid>.rdb, fsync'd, renamed over the dump, the directory fsync'd: all or nothing. A failure
        is logged as Redis's rdbSave logs it (the step that failed named), then raised."""
        directory = Path(self.config["dir"])
        temp = directory / f"temp-{pid}.rdb"
        failpoints = self.config.failpoints
        reached = failpoints.reached if in_child and failpoints.active else child_goes_on
        try:
            out = failpoints.open(temp, "rdb-write")
        except OSError as error:
            log.warning("Failed opening the temp RDB file %s (in server root dir %s) for saving: %s", temp.name,
                        directory.resolve(), error.strerror)
            raise
        step = "rdbSaveRio"
        try:
            with out:
                reached("bgsave-child", "start")
                write_rdb(out, self.keyspace, self.config)
                step = "fflush"
                out.flush()
                reached("bgsave-child", "fsync")
                step = "fsync"
                failpoints.fsync(out.fileno())
            reached("bgsave-child", "rename")
            step = "rename"
            os.replace(temp, self.path)
            step = "fsyncFileDir"
            fsync_directory(str(directory))
            log.info("DB saved on disk")
        except OSError as error:
            with contextlib.suppress(OSError):
                temp.unlink()
            if step == "rename":
                log.warning("Error moving temp DB file %s on the final destination %s (in server root dir %s): %s",
                            temp.name, self.path.name, directory.resolve(), error.strerror)
            else:
                log.warning(write_error_line(self.config, step, error.strerror))  # type: ignore[arg-type]  # (an I/O error)
            raise
        except BaseException:
            with contextlib.suppress(OSError):
                temp.unlink()
            raise

    def save(self) -> bool:
        """SAVE: in this process, blocking; the dump replaced only when complete (a failure is logged)."""
        try:
            self.write_snapshot(os.getpid())
        except OSError:
            return False
        self.changes.dirty, self.lastsave, self.changes.last_bgsave_ok = 0, int(time.time()), True
        return True

    def bgsave(self) -> bool:
        """BGSAVE: fork; the child writes the snapshot and exits. False when the fork failed: the status is
        then "err" (MISCONF with save points), as Redis's rdbSaveBackground leaves it."""
        self.last_bgsave_try = time.time()
        try:
            self.child = fork_child(lambda pid: self.write_snapshot(pid, in_child=True), self.changes.dirty,
                                    self.config.failpoints)
        except OSError as error:
            self.changes.last_bgsave_ok = False
            log.warning("Can't save in background: fork: %s", error.strerror)
            return False
        self.scheduled = False
        log.info("Background saving started by pid %d", self.child.pid)
        return True

    def rewrite_off(self, engine) -> bool:
        """BGREWRITEAOF with appendonly no: Redis 7 writes a new base file and a manifest naming only it
        (the old files become history), Redis 6 a new appendonly.aof; nothing is appended after. False
        when the fork failed."""
        from rdbtools.server.aof import AofPersistence

        self.aof_rewrite = AofPersistence(self.config, stats=self.rewrite_stats, appending=False)
        if self.aof_rewrite.start_rewrite(engine):
            return True
        self.aof_rewrite = None
        return False

    def kill_aof_rewrite(self) -> None:
        if self.aof_rewrite is not None:
            self.aof_rewrite.kill_rewrite()
            self.aof_rewrite = None

    def rewriting(self) -> bool:
        """An AOF rewrite run with appendonly no is in progress (a child: no BGSAVE meanwhile)."""
        return self.aof_rewrite is not None and self.aof_rewrite.child is not None

    def reap(self) -> bool | None:
        """The child's outcome once it has exited (True ok, False failed), else None."""
        if self.aof_rewrite is not None and self.aof_rewrite.reap() is not None:
            self.aof_rewrite = None
        finished = reap_finished(self)
        if finished is None:
            return None
        child, ok, status, report = finished
        self.last_bgsave_seconds = int(time.time() - child.started)
        if not excused(status):
            self.changes.last_bgsave_ok = ok
        with contextlib.suppress(OSError):
            (Path(self.config["dir"]) / f"temp-{child.pid}.rdb").unlink()
        if ok:
            self.changes.dirty = max(0, self.changes.dirty - child.dirty_at_start)
            self.lastsave = int(time.time())
            self.last_cow_size = report
            log.info("Background saving terminated with success")
        elif os.WIFSIGNALED(status):
            log.warning("Background saving terminated by signal %d", os.WTERMSIG(status))
        else:
            log.warning("Background saving error")
        return ok

    def kill_child(self) -> None:
        """At shutdown: the BGSAVE child, and a rewrite run with appendonly no, killed."""
        self.kill_aof_rewrite()
        if self.child is not None:
            kill_child(self.child)
            with contextlib.suppress(OSError):
                (Path(self.config["dir"]) / f"temp-{self.child.pid}.rdb").unlink()
            self.child = None

    def save_point_due(self, now: float) -> bool:
        """A `save <seconds> <changes>` point is reached: more than <seconds> whole seconds since the last
        save, as serverCron counts them (a failed BGSAVE is retried once more than 5 s have passed)."""
        if self.child is not None or self.rewriting():
            return False
        if self.scheduled:
            return True
        second = int(now)  # serverCron compares its cached unix time, in whole seconds, and strictly
        if not self.changes.last_bgsave_ok and second - int(self.last_bgsave_try) <= RETRY_DELAY:
            return False
        return any(self.changes.dirty >= changes and second - self.lastsave > seconds
                   for seconds, changes in self.config["save"])

    def refuses_writes(self) -> bool:
        """MISCONF: the last BGSAVE failed, save points exist and stop-writes-on-bgsave-error is on."""
        return (not self.changes.last_bgsave_ok and bool(self.config["save"])
                and self.config["stop-writes-on-bgsave-error"])

    def info(self) -> dict[str, object]:
        now = time.time()
        child = self.aof_rewrite.child if self.aof_rewrite is not None else None
        rewrite = rewrite_info(self.rewrite_stats, child, self.config)
        return {
            "loading": 0, "async_loading": 0, "current_cow_peak": 0, "current_cow_size": 0,
            "rdb_changes_since_last_save": self.changes.dirty,
            "rdb_bgsave_in_progress": int(self.child is not None),
            "rdb_last_save_time": self.lastsave,
            "rdb_last_bgsave_status": "ok" if self.changes.last_bgsave_ok else "err",
            "rdb_last_bgsave_time_sec": self.last_bgsave_seconds,
            "rdb_current_bgsave_time_sec": int(now - self.child.started) if self.child else -1,
            "rdb_saves": 0, "rdb_last_cow_size": self.last_cow_size,
            "aof_enabled": 0, **rewrite,
        }


def write_error_line(config: ServerConfig, step: str, reason: str) -> str:
    """rdbSave's log line for a failed write, as the target words it (the step it failed at since 7.0)."""
    version = config.target.version
    if version < (7, 0):
        return f"Write error saving DB on disk: {reason}"
    if version < (7, 2):
        return f"Write error saving DB on disk({step}): {reason}"
    return f"Write error while saving DB to the disk({step}): {reason}"


def rewrite_info(stats: RewriteStats, child: Child | None, config: ServerConfig) -> dict[str, object]:
    """INFO persistence's AOF rewrite fields, in Redis's order (aof_enabled before them); the counts
    since Redis 7.0."""
    counts = {"aof_rewrites": stats.rewrites, "aof_rewrites_consecutive_failures": stats.failures_in_a_row} if (
        config.target.version >= (7, 0)) else {}
    return {"aof_rewrite_in_progress": int(child is not None), "aof_rewrite_scheduled": int(stats.scheduled),
            "aof_last_rewrite_time_sec": stats.last_seconds,
            "aof_current_rewrite_time_sec": int(time.time() - child.started) if child else -1,
            "aof_last_bgrewrite_status": "ok" if stats.last_ok else "err", **counts, "aof_last_write_status": "ok",
            "aof_last_cow_size": stats.last_cow_size}


def write_rdb(out, keyspace: Keyspace, config: ServerConfig, aux: dict[bytes, bytes] | None = None) -> None:
    """The keyspace as an RDB of the configured target (a dump, or an AOF's base or preamble)."""
    writer = RdbWriter(out, config.target, compress=config["rdbcompression"], checksum=config["rdbchecksum"],
                       size_hints=keyspace.sizes(), aux=aux)
    for record in slowed(keyspace.records(), config):
        (writer.write_key if isinstance(record, KeyRecord) else writer.write_function)(record)
    writer.close()


def slowed(records: Iterator, config: ServerConfig) -> Iterator:
    """rdb-key-save-delay (Redis's test knob): microseconds of sleep per key saved, so a test can
    act while a child is still writing."""
    delay = config["rdb-key-save-delay"] / 1e6
    if not delay:
        return records

    def each_after_a_sleep() -> Iterator:
        for record in records:
            time.sleep(delay)
            yield record
    return each_after_a_sleep()


def fork_child(work: Callable[[int], None], dirty: int, failpoints: Failpoints) -> Child:
    """Fork a child that runs ``work(its pid)`` on the parent's memory as it was (copy-on-write),
    reports what it copied on write through a pipe, and exits 0 (1 if ``work`` failed). A refused
    fork (or the ``fork`` failpoint) raises OSError."""
    failpoints.fail("fork")
    read_fd, write_fd = os.pipe()
    started = time.time()
    pid = os.fork()
    if pid == 0:  # the child: work, report, leave without cleanup
        status = 1
        try:
            os.close(read_fd)
            work(os.getpid())
            os.write(write_fd, str(_private_dirty_bytes()).encode())
            status = 0
        finally:
            os._exit(status)
    os.close(write_fd)
    return Child(pid, started, dirty, read_fd)


def excused(status: int) -> bool:
    """A child ended by SIGUSR1: Redis's way to stop one on purpose, which leaves the last status as it was."""
    return os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGUSR1


def reap_finished(owner) -> tuple[Child, bool, int, int] | None:
    """Once ``owner.child`` has exited: (the child, succeeded, wait status, copy-on-write bytes), and
    ``owner.child`` cleared; None while it runs (or when there is none)."""
    child = owner.child
    if child is None:
        return None
    pid, status = os.waitpid(child.pid, os.WNOHANG)
    if pid == 0:
        return None
    owner.child = None
    report = b""
    with contextlib.suppress(OSError):
        report = os.read(child.report_fd, 64)
    os.close(child.report_fd)
    return child, os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status, int(report or 0)


def child_goes_on(child: str, step: str) -> None:
    """A child's step when no failpoint can stop it there (SAVE in the server itself, or none set)."""


def kill_child(child: Child) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(child.pid, 9)
    os.waitpid(child.pid, 0)
    os.close(child.report_fd)


def _private_dirty_bytes() -> int:
    """What the child copied on write: Private_Dirty of its mappings (Linux)."""
    try:
        text = Path("/proc/self/smaps_rollup").read_text()
    except OSError:
        return 0
    for line in text.splitlines():
        if line.startswith("Private_Dirty:"):
            return int(line.split()[1]) * 1024
    return 0
