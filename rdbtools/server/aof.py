"""AOF persistence as redis-server does it: append every write's effects, fsync by policy, load at start.

Layouts: Redis 7's multi-part directory (``appenddirname``: a base file, incr files, a manifest
replaced atomically) and, for targets before Redis 7, the single ``appendfilename``. An old single
file met by a multi-part target is upgraded into a directory on start, as Redis 7 does.

The edge writes the buffer once per event-loop turn, before the replies to what it holds go out
(group commit). Policies (``appendfsync``): ``always`` fsyncs that write before the replies;
``everysec`` fsyncs in a background thread once a second, postponing a write for at most 2 s while
an fsync is slow (Redis's rule); ``no`` lets the OS flush.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import BinaryIO

from rdbtools.aof.loading import loader_cut
from rdbtools.aof.reader import find_layout, open_aof
from rdbtools.aof.repair import truncate_with_backup
from rdbtools.atomic import fsync_directory
from rdbtools.errors import RdbtoolError
from rdbtools.formats.manifest import FileType, Manifest, ManifestEntry, format_manifest, parse_manifest
from rdbtools.keyspace.engine import Engine
from rdbtools.server.appending import AofAppender
from rdbtools.server.config import ServerConfig
from rdbtools.server.persistence import (
    Child,
    RewriteStats,
    child_goes_on,
    excused,
    fork_child,
    kill_child,
    reap_finished,
    rewrite_info,
    slowed,
    write_rdb,
)

log = logging.getLogger("rdbtool.serve")
POSTPONE_LIMIT = 2.0  # seconds a write may wait for a slow background fsync (everysec)
WRITE_ERROR_LOG_SECONDS = 30  # a failing AOF write is logged once in this many seconds (AOF_WRITE_LOG_ERROR_RATE)


class AofLoadError(RdbtoolError):
    """The AOF cannot be loaded: serve does not start on it."""

    hint = "check it with `rdbtool check-aof` (--fix cuts a broken tail), or move it away"


class AofWriteError(RdbtoolError):
    """Appending to the AOF failed."""


class AofPersistence:
    def __init__(self, config: ServerConfig, clock: Callable[[], float] = time.time,
                 saving: Callable[[], bool] = lambda: False, stats: RewriteStats | None = None, *,
                 appending: bool = True, sample: Callable[[bytes, int], None] = lambda event, ms: None) -> None:
        self.config = config
        self.appending = appending  # False: appendonly no, a BGREWRITEAOF writes the new base and nothing after
        self.stats = stats or RewriteStats()  # the server's (shared with its other AofPersistence objects)
        self.clock = clock
        self.saving = saving  # whether a BGSAVE child is writing (no-appendfsync-on-rewrite)
        self.sample = sample  # a latency monitor's sample: event, milliseconds (sampled while it is on)
        self.appender = AofAppender(clock)  # the bytes not written yet (a write's effects go there)
        self.appender.configure(config)
        self.fd: int | None = None
        self.manifest: Manifest | None = None
        self.size = 0  # of the file(s) being appended to, in bytes
        self.base_size = 0  # the size after the last rewrite or load (auto-aof-rewrite's base)
        self.last_write_ok = True  # no write error and no background fsync error (what MISCONF and INFO tell)
        self.last_error = ""  # the failing call's strerror (MISCONF's text)
        self.write_errno = 0  # of the last write when it failed; 0 once a write succeeded
        self.fsync_errno = 0  # of the last background fsync when it failed (set by its thread)
        self._settling = threading.Lock()  # the fsync thread settles MISCONF's state as the main thread does
        self.error_logged = 0.0  # when a write error was last logged (at most one line each 30 s)
        self.unsynced = False  # written since the last fsync (everysec fsyncs only then, as Redis)
        self.last_fsync = time.monotonic()
        self.postponed_since = 0.0
        self.delayed_fsyncs = 0
        self._fsync_thread: threading.Thread | None = None
        # rewriting (BGREWRITEAOF): the child, and what the parent keeps meanwhile
        self.child: Child | None = None
        self.waiting = False  # turned on at run time: the files are complete once the first rewrite is

    @property
    def rewrite_scheduled(self) -> bool:
        return self.stats.scheduled

    @rewrite_scheduled.setter
    def rewrite_scheduled(self, value: bool) -> None:
        self.stats.scheduled = value

    # --- layout ----------------------------------------------------------------------------------

    @property
    def multi_part(self) -> bool:
        return self.config.target.rdb_version >= 10

    @property
    def directory(self) -> Path:
        return Path(self.config["dir"]) / self.config["appenddirname"]

    @property
    def name(self) -> str:
        return self.config["appendfilename"]

    @property
    def manifest_path(self) -> Path:
        return self.directory / f"{self.name}.manifest"

    @property
    def single_path(self) -> Path:
        return Path(self.config["dir"]) / self.name

    def exists(self) -> bool:
        return self.manifest_path.exists() if self.multi_part else self.single_path.exists()

    # --- loading -----------------------------------------------------------------------------------

    def load(self, engine: Engine) -> None:
        """The AOF into the engine's keyspace, as Redis loads it (commands answered with an error are
        skipped, as Redis's loader skips them)."""
        from rdbtools.conversion import ConvertReport, replay_aof

        source = self._source()
        if source is None:
            return
        report = ConvertReport(str(source), "", "aof", "")
        engine.loading = True
        try:
            self._cut_truncated_tail(source)
            replay_aof(source, report, engine=engine)
        except AofLoadError:
            raise
        except RdbtoolError as error:
            raise AofLoadError(f"cannot load the append only file: {error.message}",
                               offset=error.offset, path=error.path) from None
        finally:
            engine.loading, engine.db = False, 0
        self.size = self.base_size = self._current_size()

    def _source(self) -> Path | None:
        """What to load: the single file or the manifest (an old single file upgraded first); None when
        there is nothing to load: no file, or a manifest naming no base and no incr file."""
        if not self.multi_part:
            return self.single_path if self.single_path.exists() else None
        self.manifest = self.read_manifest()
        if self._upgrade_needed(self.manifest):
            self._upgrade(self.manifest)
        return self.manifest_path if self.manifest.loaded else None

    def read_manifest(self) -> Manifest:
        """The manifest on disk; an empty one when the directory or the manifest is missing (Redis's
        aofLoadManifestFromDisk, which refuses a malformed manifest even with appendonly no)."""
        if not self.manifest_path.is_file():
            return Manifest(())
        try:
            return parse_manifest(self.manifest_path.read_bytes())
        except RdbtoolError as error:
            raise AofLoadError(f"cannot load the append only file: {error.message}", offset=error.offset,
                               path=str(self.manifest_path)) from None

    def _upgrade_needed(self, manifest: Manifest) -> bool:
        """loadAppendOnlyFiles' three cases for an old single file beside: no directory; a manifest
        naming no base and no incr file; or naming only a base of the old file's name, absent from the
        directory (an upgrade cut short after the manifest was written)."""
        if not self.single_path.is_file():
            return False
        if not self.directory.is_dir() or not manifest.loaded:
            return True
        base = manifest.base
        return (base is not None and not manifest.incrs and base.name == self.name
                and not (self.directory / self.name).exists())

    def _cut_truncated_tail(self, source: Path) -> None:
        """aof-load-truncated, by the loader's rules (aof/loading.py): a command cut short by the end of
        the last file, or a MULTI left open there, is cut off, after a backup. Only the last file is read
        here: whatever is wrong before it is the replay's located error, so nothing is read twice."""
        path = find_layout(source).parts[-1].path
        try:
            cut = loader_cut(path)
        except RdbtoolError as error:
            raise AofLoadError(f"Bad file format reading the append only file: {error.message}",
                               offset=error.offset, path=str(path)) from None
        if cut is None:
            return
        if not self.config["aof-load-truncated"]:
            raise AofLoadError(f"Unexpected end of file reading the append only file {path.name} (only the first "
                               f"{cut} bytes load); set aof-load-truncated yes to load them", path=str(path))
        backup = truncate_with_backup(path, cut)
        log.warning("!!! Warning: short read while loading the AOF file %s!!!", path.name)
        log.warning("AOF %s loaded anyway because aof-load-truncated is enabled: truncated to offset %d "
                    "(the original is kept as %s)", path.name, cut, backup.name)

    def _upgrade(self, manifest: Manifest) -> None:
        """An old single AOF becomes the base of a new directory (Redis 7's aofUpgradePrepare): the
        manifest first (history entries kept), then the file moved in."""
        self.directory.mkdir(parents=True, exist_ok=True)
        base = ManifestEntry(self.name, 1, FileType.BASE)
        self._persist_manifest(Manifest((base, *manifest.history)))
        os.rename(self.single_path, self.directory / self.name)
        fsync_directory(str(self.directory))
        fsync_directory(self.config["dir"])
        log.info("Successfully migrated an old-style AOF into the AOF directory")

    # --- opening for appending ------------------------------------------------------------------------

    def open(self, engine: Engine) -> None:
        """After loading (Redis's aofOpenIfNeededOnServerStart): a new base when the manifest names no
        base and no incr file (history entries do not count), the last incr file opened or a new one,
        the manifest written in Redis's order: base, history, incr files."""
        if not self.multi_part:
            self._open_file(self.single_path)
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        manifest = self.manifest if self.manifest is not None else self.read_manifest()
        base, incrs = manifest.base, manifest.incrs
        if base is None and not incrs:
            base = self._base_entry(1)
            self._write_base(self.directory / base.name, engine)
            log.info("Creating AOF base file %s on server start", base.name)
        if incrs:
            incr = incrs[-1]
            self.appender.offset = (incr.start_offset or 0) + _commands_in(self.directory / incr.name)
            log.info("Opening AOF incr file %s on server start", incr.name)
        else:
            incr = self._incr_entry(1)
            incrs = [incr]
            log.info("Creating AOF incr file %s on server start", incr.name)
        self._open_file(self.directory / incr.name)
        self._persist_manifest(Manifest((*([base] if base else []), *manifest.history, *incrs)))
        self.size = self.base_size = self._current_size()

    def collect_history(self) -> None:
        """Redis's aofDelHistoryFiles at every start, appendonly yes or no: the history files deleted and
        dropped from the manifest (kept with aof-disable-auto-gc yes). Unlike Redis, a history entry naming
        a file the manifest also names as base or incr keeps that file (Redis deletes its live file), and a
        manifest left naming nothing is not written (Redis writes it empty, then refuses to start on it)."""
        if not self.multi_part or self.config["aof-disable-auto-gc"]:
            return
        manifest = self.manifest if self.manifest is not None else self.read_manifest()
        live = {e.name for e in manifest.loaded}
        if not manifest.history or not live:
            return
        for entry in manifest.history:
            log.info("Removing the history file %s in the background", entry.name)
            if entry.name not in live:
                with contextlib.suppress(FileNotFoundError):
                    (self.directory / entry.name).unlink()
        self._persist_manifest(Manifest(tuple(manifest.loaded)))

    def _incr_entry(self, seq: int) -> ManifestEntry:
        """A new incr file; Redis 8 notes the offset it starts at."""
        offset = self.appender.offset if self.config.target.aof_offsets else None
        return ManifestEntry(f"{self.name}.{seq}.incr.aof", seq, FileType.INCR, start_offset=offset)

    def _base_entry(self, seq: int) -> ManifestEntry:
        """A base file: an RDB with aof-use-rdb-preamble, else commands."""
        kind = "rdb" if self.config["aof-use-rdb-preamble"] else "aof"
        return ManifestEntry(f"{self.name}.{seq}.base.{kind}", seq, FileType.BASE)

    def _write_base(self, path: Path, engine: Engine, in_child: bool = False) -> None:
        """The keyspace as a base file, fsync'd (at an empty start, and in a rewrite's child, whose writes the
        ``rewrite-child`` failpoint may fail or which it may kill at a step). A failure is logged as Redis's
        rewriteAppendOnlyFile logs it (one line for a failed write, flush or fsync), the file removed, raised."""
        failpoints = self.config.failpoints
        reached = failpoints.reached if in_child and failpoints.active else child_goes_on
        try:
            out = self._new_base_file(path, in_child)
        except OSError as error:
            log.warning("Opening the temp file for AOF rewrite in rewriteAppendOnlyFile(): %s", error.strerror)
            raise
        try:
            with out:
                reached("rewrite-child", "start")
                write_base(out, engine, self.config)
                out.flush()
                reached("rewrite-child", "fsync")
                failpoints.fsync(out.fileno())
        except OSError as error:
            log.warning("Write error writing append only file on disk: %s", error.strerror)
            with contextlib.suppress(OSError):
                path.unlink()
            raise

    def _new_base_file(self, path: Path, in_child: bool) -> BinaryIO:
        """A rewrite child's base fails as the ``rewrite-child error`` failpoint says; the one written at
        start is the server's own."""
        if in_child:
            return self.config.failpoints.open(path, "rewrite-child", 1 << 20)
        return open(path, "wb", buffering=1 << 20)

    def _open_file(self, path: Path) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self.last_fsync = time.monotonic()

    def _persist_manifest(self, manifest: Manifest) -> None:
        """temp-<name>.manifest, fsync'd, renamed over the manifest, the directory fsync'd. A failure is
        logged as Redis's writeAofManifestFile logs it, then raised (the temporary file left, as Redis does)."""
        temp = self.directory / f"temp-{self.manifest_path.name}"
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_TRUNC | os.O_CREAT, 0o644)
        except OSError as error:
            log.warning("Can't open the AOF manifest file %s: %s", temp.name, error.strerror)
            raise
        failpoints = self.config.failpoints
        try:
            data = memoryview(format_manifest(manifest))
            write = failpoints.writer("aof-write")
            while data:
                try:
                    data = data[write(fd, data):]
                except OSError as error:
                    log.warning("Error trying to write the temporary AOF manifest file %s: %s", temp.name,
                                error.strerror)
                    raise
            try:
                failpoints.fsync(fd)
            except OSError as error:
                log.warning("Fail to fsync the temp AOF file %s: %s.", temp.name, error.strerror)
                raise
        finally:
            os.close(fd)
        try:
            os.replace(temp, self.manifest_path)
        except OSError as error:
            log.warning("Error trying to rename the temporary AOF manifest file %s into %s: %s", temp.name,
                        self.manifest_path.name, error.strerror)
            raise
        fsync_directory(str(self.directory))
        self.manifest = manifest

    def _current_size(self) -> int:
        if not self.multi_part:
            return self.single_path.stat().st_size if self.single_path.exists() else 0
        if self.manifest is None and not self.manifest_path.exists():
            return 0
        manifest = self.manifest or parse_manifest(self.manifest_path.read_bytes())
        return sum((self.directory / e.name).stat().st_size for e in manifest.loaded
                   if (self.directory / e.name).exists())

    # --- appending ------------------------------------------------------------------------------------

    def flush(self) -> None:
        """Write the buffer (before any reply to what it holds goes out); fsync as the policy says. A write
        that fails keeps the buffer for the next try (each turn and each second); with appendfsync always a
        write or fsync that fails raises AofWriteError: Redis exits then, nothing acknowledged may be lost."""
        if not self.appender.buffer or self.fd is None:
            return
        policy = self.config["appendfsync"]
        if policy == "everysec" and self._fsync_running():
            now = time.monotonic()
            if not self.postponed_since:
                self.postponed_since = now
            if now - self.postponed_since < POSTPONE_LIMIT:
                return  # retried from the timer; the replies are not held (as Redis)
            self.delayed_fsyncs += 1
            log.info("Asynchronous AOF fsync is taking too long (disk is busy?). Writing the AOF buffer "
                     "without waiting for fsync to complete, this may slow down Redis.")
        self.postponed_since = 0.0
        monitored = self.config["latency-monitor-threshold"]
        started = time.perf_counter() if monitored else 0.0
        written = self._write_all()
        if monitored:
            self._sample_write(started)
        if not written:
            if policy == "always":
                raise AofWriteError("Can't recover from AOF write error when the AOF fsync policy is 'always'. "
                                    "Exiting...")
            return
        if policy == "always" and self._may_fsync():
            started = time.perf_counter() if monitored else 0.0
            try:
                self.config.failpoints.fsync(self.fd, os.fdatasync)
            except OSError as error:
                raise AofWriteError(f"Can't persist AOF for fsync error when the AOF fsync policy is 'always': "
                                    f"{error.strerror}. Exiting...") from None
            if monitored:
                self.sample(b"aof-fsync-always", _ms_since(started))
            self.last_fsync = time.monotonic()
            self.unsynced = False
        elif policy == "everysec":
            self._maybe_background_fsync()

    def _sample_write(self, started: float) -> None:
        """Redis's latency samples of an AOF write: by what ran beside it, and every one as aof-write."""
        ms = _ms_since(started)
        beside = (b"aof-write-pending-fsync" if self._fsync_running()
                  else b"aof-write-active-child" if self.child is not None or self.saving() else b"aof-write-alone")
        self.sample(beside, ms)
        self.sample(b"aof-write", ms)

    def _may_fsync(self) -> bool:
        """no-appendfsync-on-rewrite yes: no fsync while a child writes (Redis's trade of safety for latency)."""
        return not (self.config["no-appendfsync-on-rewrite"] and (self.child is not None or self.saving()))

    def _write_all(self) -> bool:
        """The buffer written, retried on short writes (Redis's aofWrite). When that fails, what was partly
        written is cut off again (Redis's ftruncate: the file keeps whole commands) and the buffer is kept."""
        data = memoryview(self.appender.buffer)
        written = 0
        write = self.config.failpoints.writer("aof-write")
        try:
            while data:
                count = write(self.fd, data)  # type: ignore[arg-type]  # (its callers write an open file)
                written += count
                data = data[count:]
        except OSError as error:
            data.release()
            self._write_failed(error, written)
            return False
        data.release()
        self.size += written
        self.appender.buffer.clear()
        self.unsynced = True
        if self.write_errno:
            self._log_solved()
            self.write_errno = 0
            self._settle()
        return True

    def _log_solved(self) -> None:
        """The write error's end, as the target words it: a warning until Redis 7.2, a notice since (Valkey
        names no server)."""
        target = self.config.target
        if target.valkey_server:
            log.info("AOF write error looks solved. The server can write again.")
        elif target.version >= (7, 2):
            log.info("AOF write error looks solved, Redis can write again.")
        else:
            log.warning("AOF write error looks solved, Redis can write again.")

    def _write_failed(self, error: OSError, written: int) -> None:
        """Redis's handling of a failed AOF write: one log line each 30 s at most, a partial write cut off
        (or, when that fails too, kept and dropped from the buffer), MISCONF until a write succeeds."""
        now = time.time()
        logging_now = int(now) - int(self.error_logged) > WRITE_ERROR_LOG_SECONDS
        if logging_now:
            self.error_logged = now
        code = error.errno or errno.EIO
        if not written:
            if logging_now:
                log.warning("Error writing to the AOF file: %s", os.strerror(code))
        else:
            if logging_now:
                log.warning("Short write while writing to the AOF file: (nwritten=%d, expected=%d)", written,
                            len(self.appender.buffer))
            code = errno.ENOSPC  # what Redis records for a short write
            try:
                os.ftruncate(self.fd, os.fstat(self.fd).st_size - written)  # type: ignore[arg-type]  # (open: as above)
            except OSError as cut:
                if logging_now:
                    log.warning("Could not remove short write from the append-only file.  Redis may refuse to load "
                                "the AOF the next time it starts.  ftruncate: %s", cut.strerror)
                self.size += written
                del self.appender.buffer[:written]
        self.write_errno = code
        self._settle()

    def _settle(self) -> None:
        """MISCONF's state from the write's and the background fsync's: refused while either failed, with the
        write's error first (Redis's writeCommandsDeniedByDiskError). Each side sets its errno, then settles
        under the lock: whichever settles last has seen both, so the state is never a stale mix."""
        with self._settling:
            code = self.write_errno or self.fsync_errno
            self.last_error = os.strerror(code) if code else ""
            self.last_write_ok = not code

    def _write_now(self) -> None:
        """The buffer written whatever everysec postponed (a failure stays in last_write_ok)."""
        self.postponed_since = 0.0
        self._write_all()

    def _fsync_running(self) -> bool:
        return self._fsync_thread is not None and self._fsync_thread.is_alive()

    def _maybe_background_fsync(self) -> None:
        """everysec: an fsync in a thread, once a second at most and only of something written since the
        last one (a failed fsync is thus not retried until more is written, as in Redis)."""
        if (self.unsynced and time.monotonic() - self.last_fsync >= 1 and not self._fsync_running()
                and self._may_fsync()):
            self.last_fsync = time.monotonic()
            self.unsynced = False
            self._fsync_thread = threading.Thread(target=self._background_fsync, args=(self.fd,), daemon=True)
            self._fsync_thread.start()

    def _background_fsync(self, fd: int) -> None:
        """Redis's bio fsync job: a failure refuses writes until an fsync succeeds; an fd closed meanwhile is
        no failure. The outcome is settled here, in the thread, as bio sets its status: the very next command
        sees it (the request path tests last_write_ok, nothing more)."""
        try:
            self.config.failpoints.fsync(fd)
        except OSError as error:
            if error.errno not in (errno.EBADF, errno.EINVAL):
                self._fsync_failed(error)
            return
        if self.fsync_errno:
            self.fsync_errno = 0
            self._settle()

    def _fsync_failed(self, error: OSError) -> None:
        """Refused from now on, then logged (once, until an fsync succeeds), in bio's order: whoever reads the
        line finds writes refused already."""
        logged = self.fsync_errno
        self.fsync_errno = error.errno  # type: ignore[assignment]  # (an fsync's OSError has its errno)
        self._settle()
        if not logged:
            log.warning("Fail to fsync the AOF file: %s", error.strerror)

    def cron(self) -> None:
        """The timer: retry a postponed or failed write, and the once-a-second fsync of everysec."""
        self.flush()
        if self.config["appendfsync"] == "everysec" and self.fd is not None:
            self._maybe_background_fsync()

    def close(self) -> None:
        """At shutdown (or CONFIG SET appendonly no): everything written and fsync'd, a rewrite stopped."""
        self.kill_rewrite()
        if self.fd is None:
            return
        if self._fsync_thread is not None:
            self._fsync_thread.join()
        self._write_now()
        try:
            self.config.failpoints.fsync(self.fd)
        except OSError as error:
            log.warning("Fail to fsync the AOF file: %s", error.strerror)
        os.close(self.fd)
        self.fd = None

    # --- rewriting ----------------------------------------------------------------------------------

    def start_rewrite(self, engine: Engine) -> bool:
        """BGREWRITEAOF: writes from now on go to a new incr file (multi-part) or are also kept in
        memory (single file); a forked child writes the snapshot as the new base. False when the fork
        failed (the new incr file stays, the rewrite stays scheduled, as Redis 7.0 leaves them)."""
        if self.fd is not None:
            self._write_now()
        else:  # turning AOF on: what the buffer holds is in the snapshot the child writes
            self.appender.buffer.clear()
        if self.multi_part:
            self.directory.mkdir(parents=True, exist_ok=True)
            if self.appending:
                try:
                    self._open_new_incr()
                except OSError:
                    self.stats.last_ok = False
                    return False
            elif self.manifest is None:
                self.manifest = self.read_manifest()
        elif self.appending:
            self.appender.rewrite_buffer = bytearray()
        self.appender.selected_db = -1  # the new file starts with a SELECT
        self.stats.rewrites += 1  # counted when started, as Redis counts them (a failed fork too)
        try:
            self.child = fork_child(lambda pid: self._write_base(self._temp_rewrite(pid), engine, in_child=True), 0,
                                    self.config.failpoints)
        except OSError as error:
            self.appender.rewrite_buffer = None
            self.stats.last_ok = False
            log.warning("Can't rewrite append only file in background: fork: %s", error.strerror)
            return False
        self.rewrite_scheduled = False
        log.info("Background append only file rewriting started by pid %d", self.child.pid)
        return True

    def enable(self) -> None:
        """CONFIG SET appendonly yes (Redis's startAppendOnly): a rewrite (started by the timer as
        soon as no other child runs) writes the base; until it is done the files on disk do not hold
        the data yet, so nothing new is named in the manifest."""
        self.waiting = self.rewrite_scheduled = True
        if self.multi_part:
            self.directory.mkdir(parents=True, exist_ok=True)
            if self.manifest_path.exists():
                self.manifest = parse_manifest(self.manifest_path.read_bytes())
        else:
            self._open_file(self.single_path)

    def refuses_shutdown(self, force: bool) -> bool:
        """Redis's prepareForShutdown: while the first rewrite after turning AOF on runs, the data is on disk
        nowhere yet, so only a forced shutdown goes on (it then kills the child, as for any rewrite)."""
        if not self.waiting or self.child is None:
            return False
        if force:
            log.warning("Writing initial AOF. Exit anyway.")
            return False
        log.warning("Writing initial AOF, can't exit.")
        log.warning("Errors trying to shut down the server. Check the logs for more information.")
        return True

    @property
    def _temp_incr(self) -> Path:
        """Where writes go while AOF is being turned on, until the first base is written."""
        return self.directory / f"temp-{self.name}.incr"

    def _temp_rewrite(self, pid: int) -> Path:
        return Path(self.config["dir"]) / f"temp-rewriteaof-bg-{pid}.aof"

    def _open_new_incr(self) -> None:
        """Redis's openNewIncrAofForAppend: the next incr file, in the manifest at once (a temporary
        one while turning AOF on at run time, named in the manifest only when the rewrite is done).
        The file is created first: when the manifest cannot be written it stays, unnamed, and appends
        go on to the current file (raises OSError)."""
        # (a multi-part AOF appends with its manifest read)
        entry = None if self.waiting else self._incr_entry(max((e.seq for e in self.manifest.incrs), default=0) + 1)  # type: ignore[union-attr]
        path = self._temp_incr if entry is None else self.directory / entry.name
        try:
            fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_CREAT | os.O_APPEND, 0o644)
        except OSError as error:
            log.warning("Can't open the append-only file %s: %s", path.name, error.strerror)
            raise
        if entry is not None:
            try:
                self._persist_manifest(Manifest((*self.manifest.entries, entry)))  # type: ignore[union-attr]
            except OSError:
                os.close(fd)
                raise
        if self.fd is not None:
            with contextlib.suppress(OSError):  # (Redis hands it to a background fsync-and-close)
                self.config.failpoints.fsync(self.fd)
            os.close(self.fd)
        self.fd = fd
        self.last_fsync = time.monotonic()

    def reap(self) -> bool | None:
        """The rewrite child's outcome once it has exited (True: the new base is in place), else None."""
        finished = reap_finished(self)
        if finished is None:
            return None
        child, exited_ok, status, cow = finished
        self.stats.last_seconds = int(time.time() - child.started)
        temp = self._temp_rewrite(child.pid)
        ok = exited_ok and self._installed(temp)
        if not ok:
            self.appender.rewrite_buffer = None
            self.rewrite_scheduled = self.waiting  # turning AOF on needs a base: try again
            with contextlib.suppress(OSError):
                temp.unlink()
            if self.waiting and self.multi_part:  # the next try starts afresh (Redis's aofDelTempIncrAofFile)
                self.appender.buffer.clear()
                with contextlib.suppress(OSError):
                    self._temp_incr.unlink()
            if not exited_ok:
                log.warning("Background AOF rewrite terminated %s", f"by signal {os.WTERMSIG(status)}"
                            if os.WIFSIGNALED(status) else "with error")
        else:
            self.stats.last_cow_size = cow
            log.info("Background AOF rewrite finished successfully")
        if not excused(status):
            self.stats.last_ok = ok
            self.stats.failures_in_a_row = 0 if ok else self.stats.failures_in_a_row + 1
        return ok

    def _installed(self, temp: Path) -> bool:
        """The child's base put in place; False when a rename or the manifest failed (logged with Redis's
        lines, what was renamed taken away again: the previous files stay the AOF)."""
        log.info("Background AOF rewrite terminated with success")
        try:
            (self._install if self.multi_part else self._install_single)(temp)
        except OSError:
            return False
        return True

    def _install(self, temp: Path) -> None:
        """The new base in place (Redis's backgroundRewriteDoneHandler): the incr files before the one
        being written, then the old base, then older history become history (offsets kept), in that order."""
        manifest = self.manifest or Manifest(())
        base = self._base_entry(manifest.base.seq + 1 if manifest.base is not None else 1)
        renamed = [self._rename(temp, self.directory / base.name, "base")]
        incrs = manifest.incrs
        if self.waiting:  # the temporary incr file becomes the next incr file
            incrs.append(self._incr_entry(max((e.seq for e in incrs), default=0) + 1))
            try:
                renamed.append(self._rename(self._temp_incr, self.directory / incrs[-1].name, "incr"))
            except OSError:
                renamed[0].unlink()
                raise
        fsync_directory(str(self.directory))
        current = incrs[-1:] if self.appending else []  # with appendonly no every incr file is history
        replaced = [*incrs[:len(incrs) - len(current)], *([manifest.base] if manifest.base else [])]
        history = [replace(e, type=FileType.HISTORY) for e in replaced] + manifest.history
        try:
            self._persist_manifest(Manifest((base, *history, *current)))  # the switch: one rename
        except OSError:
            for path in renamed:  # (Redis deletes the renamed incr file too, and what it held)
                path.unlink()
            raise
        self.waiting = False
        self.collect_history()
        self.size = self.base_size = self._current_size()

    def _rename(self, source: Path, destination: Path, kind: str) -> Path:
        """A rewrite's temporary file renamed into the AOF directory (the failure logged as Redis logs it)."""
        try:
            os.rename(source, destination)
        except OSError as error:
            shown = source.name if kind == "base" else f"{self.config['appenddirname']}/{source.name}"
            log.warning("Error trying to rename the temporary AOF %s file %s into %s/%s: %s", kind, shown,
                        self.config["appenddirname"], destination.name, error.strerror)
            raise
        return destination

    def _install_single(self, temp: Path) -> None:
        """The single file: the writes made meanwhile appended to the new one, which replaces it."""
        if self.appender.rewrite_buffer:
            try:
                with open(temp, "ab") as out:
                    out.write(self.appender.rewrite_buffer)
                    out.flush()
                    os.fsync(out.fileno())
            except OSError as error:
                log.warning("Error trying to flush the parent diff to the rewritten AOF: %s", error.strerror)
                raise
        try:
            os.replace(temp, self.single_path)
        except OSError as error:
            log.warning("Error trying to rename the temporary AOF file %s into %s: %s", temp.name, self.name,
                        error.strerror)
            raise
        fsync_directory(self.config["dir"])
        if self.fd is not None:
            os.close(self.fd)
            self._open_file(self.single_path)
        self.appender.rewrite_buffer, self.waiting = None, False
        self.appender.buffer.clear()  # already in the new file
        self.size = self.base_size = self._current_size()

    def rewrite_wanted(self) -> bool:
        """The timer's rewrite: a scheduled one, or one auto-aof-rewrite's growth asks for, unless repeated
        failures hold the timer's rewrites back."""
        return (self.rewrite_scheduled and not self.stats.held_back(self.config, self.clock())) or self.rewrite_due()

    def rewrite_due(self) -> bool:
        """auto-aof-rewrite-percentage / -min-size: the AOF grew that much since the last rewrite."""
        percentage = self.config["auto-aof-rewrite-percentage"]
        if not percentage or self.child is not None or self.size <= self.config["auto-aof-rewrite-min-size"]:
            return False
        growth = self.size * 100 // max(self.base_size, 1) - 100
        if growth >= percentage and not self.stats.held_back(self.config, self.clock()):
            log.info("Starting automatic rewriting of AOF on %d%% growth", growth)
            return True
        return False

    def kill_rewrite(self) -> None:
        if self.child is not None:
            kill_child(self.child)
            with contextlib.suppress(OSError):
                self._temp_rewrite(self.child.pid).unlink()
            self.child, self.appender.rewrite_buffer = None, None

    def info(self) -> dict[str, object]:
        return {"aof_enabled": 1, **rewrite_info(self.stats, self.child, self.config),
                "aof_last_write_status": "ok" if self.last_write_ok else "err",
                "aof_current_size": self.size, "aof_base_size": self.base_size, "aof_pending_rewrite": 0,
                "aof_buffer_length": len(self.appender.buffer), "aof_pending_bio_fsync": int(self._fsync_running()),
                "aof_delayed_fsync": self.delayed_fsyncs}


def write_base(out, engine: Engine, config: ServerConfig) -> None:
    """A base: an RDB marked aof-base with aof-use-rdb-preamble (the default), else the commands
    that rebuild the keyspace."""
    if config["aof-use-rdb-preamble"]:
        write_rdb(out, engine.keyspace, config, aux={b"aof-base": b"1"})
        return
    from rdbtools.export.resp import RespWriter

    writer = RespWriter(out, config.target)
    for record in slowed(engine.keyspace.records(), config):
        writer.write(record)


def _ms_since(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)


def _commands_in(path: Path) -> int:
    """Commands of an incr file other than SELECT (what Redis 8's offset counts)."""
    if not path.exists() or not path.stat().st_size:
        return 0
    return sum(1 for command in open_aof(path).commands() if command.args[0].lower() != b"select")
