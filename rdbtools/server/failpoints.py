"""Persistence faults on demand (DEBUG FAILPOINT): a test makes serve's disk fail the way a real one does,
and serve then behaves as Redis does on that failure (MISCONF, INFO's statuses, the log lines, retries).

``DEBUG FAILPOINT SET <point> <action> [<arg>]``, ``DEBUG FAILPOINT CLEAR [<point>]``, ``DEBUG FAILPOINT LIST``.
A failpoint stays set until cleared, as a full disk stays full until space is freed. The sites that consult
the registry are off the request path (an AOF write, an fsync, a fork, a child's steps) and test one
attribute when nothing is set.

Each point stands for one place a real disk fails, so that each failure Redis can meet is reachable alone:
``aof-write`` fails the parent's AOF appends and its manifest writes (a disk full before a BGREWRITEAOF cannot
even write the manifest naming the new incr file, and the rewrite does not start), ``rewrite-child error``
fails the rewrite child's writes of its base file (a disk that fills while the child writes: the manifest was
written, the parent's appends still fit), ``rdb-write`` fails the dump's writes, ``fsync`` every fsync.
"""

from __future__ import annotations

import errno
import functools
import io
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from rdbtools.errors import RdbtoolError

#: the errors a disk or fork may fail with, by the name a test gives them
ERRNOS = {"ENOSPC": errno.ENOSPC, "EIO": errno.EIO, "EDQUOT": errno.EDQUOT, "EROFS": errno.EROFS,
          "ENOMEM": errno.ENOMEM, "EAGAIN": errno.EAGAIN}
#: where a BGSAVE or AOF rewrite child can be killed: before it writes, once the file is written (before its
#: fsync), once synced (before the rename; a rewrite's rename is the parent's)
CHILD_STEPS = {"bgsave-child": ("start", "fsync", "rename"), "rewrite-child": ("start", "fsync")}
#: each point's actions and what their argument is: a delay in ms, an errno name, a child's step
POINTS: dict[str, dict[str, str]] = {
    "fsync": {"delay": "ms", "error": "errno"},
    "aof-write": {"error": "errno"},
    "rdb-write": {"error": "errno"},
    "fork": {"error": "errno"},
    "bgsave-child": {"kill": "step"},
    "rewrite-child": {"kill": "step", "error": "errno"},
}
#: the errno of ``fork error`` without one: what a fork refused by the kernel's overcommit check reports
FORK_ERRNO = "ENOMEM"


class FailpointError(RdbtoolError):
    """A DEBUG FAILPOINT request that names no point, action or argument serve knows (the reply's text)."""


@dataclass(frozen=True)
class Failpoint:
    action: str
    argument: str  # as given (upper-cased errno name, step, or milliseconds)

    @property
    def errno(self) -> int:
        return ERRNOS[self.argument]


class Failpoints:
    """The failpoints set on one server (its config holds them, so every persistence object sees them)."""

    def __init__(self) -> None:
        self.active: dict[str, Failpoint] = {}

    def set(self, point: str, action: str, *args: str) -> None:
        """Set a failpoint, its arguments checked: a typo must not leave a test believing a fault is on."""
        actions = POINTS.get(point)
        if actions is None:
            raise FailpointError(f"unknown failpoint '{point}' (known: {', '.join(POINTS)})")
        kind = actions.get(action)
        if kind is None:
            raise FailpointError(f"failpoint '{point}' has no action '{action}' (known: {', '.join(actions)})")
        if kind == "errno" and not args and point == "fork":
            args = (FORK_ERRNO,)
        if len(args) != 1:
            raise FailpointError(f"failpoint '{point} {action}' takes one argument ({kind})")
        self.active[point] = Failpoint(action, _argument(point, kind, args[0]))

    def clear(self, point: str | None = None) -> None:
        if point is None:
            self.active.clear()
        elif point in POINTS:
            self.active.pop(point, None)
        else:
            raise FailpointError(f"unknown failpoint '{point}' (known: {', '.join(POINTS)})")

    def listing(self) -> list[str]:
        """``<point> <action> <arg>`` of each failpoint set, in the order they were set."""
        return [f"{point} {fp.action} {fp.argument}" for point, fp in self.active.items()]

    def fail(self, point: str) -> None:
        """The point's error, raised as the system call it stands for would raise it."""
        failpoint = self.active.get(point)
        if failpoint is not None and failpoint.action == "error":
            raise system_error(failpoint.errno)

    def writer(self, point: str) -> Callable[[int, bytes | memoryview], int]:
        """``os.write``, or a write to a disk failing as the point says."""
        failpoint = self.active.get(point)
        if failpoint is None or failpoint.action != "error":
            return os.write
        return functools.partial(_failing_write, failpoint.errno)

    def open(self, path: Path, point: str, buffering: int = -1) -> BinaryIO:
        """A new file to write (buffered by ``buffering``); while ``point`` is set to fail it, one buffered as
        C's stdio buffers one (by the file system's block size), so a failing disk fails the same step of a
        save as in Redis, and whose writes fail."""
        failpoint = self.active.get(point)
        if failpoint is None or failpoint.action != "error":
            return open(path, "wb", buffering=buffering)
        raw = _FailingFile(path, self, point)
        return io.BufferedWriter(raw, os.fstat(raw.fileno()).st_blksize)

    def fsync(self, fd: int, sync=os.fsync) -> None:
        """An fsync as the ``fsync`` failpoint makes it: slower by its delay, or failing."""
        failpoint = self.active.get("fsync")
        if failpoint is not None:
            if failpoint.action == "delay":
                time.sleep(int(failpoint.argument) / 1000)
            else:
                raise system_error(failpoint.errno)
        sync(fd)

    def reached(self, child: str, step: str) -> None:
        """In a child: killed by SIGKILL at this step when its failpoint names it (as ``kill -9`` would)."""
        failpoint = self.active.get(child)
        if failpoint is not None and failpoint.argument == step:
            os.kill(os.getpid(), signal.SIGKILL)


class _FailingFile(io.FileIO):
    """A file whose writes fail as the failpoint says (the disk full or broken under it)."""

    def __init__(self, path: Path, failpoints: Failpoints, point: str) -> None:
        super().__init__(path, "wb")
        self.failpoints, self.point = failpoints, point

    def write(self, data) -> int:
        return self.failpoints.writer(self.point)(self.fileno(), data)


def system_error(code: int) -> OSError:
    """The OSError a system call failing with ``code`` raises."""
    return OSError(code, os.strerror(code))


def _failing_write(code: int, fd: int, data: bytes | memoryview) -> int:
    """A write to a failing disk: a full one (ENOSPC) still takes what fits in the file's last block, as a
    real one does (the write is then short), and fails the next; another error writes nothing."""
    if code == errno.ENOSPC:
        stat = os.fstat(fd)
        room = -stat.st_size % stat.st_blksize
        if room:
            return os.write(fd, data[:room])
    raise system_error(code)


def _argument(point: str, kind: str, given: str) -> str:
    if kind == "ms":
        if not given.isdigit():
            raise FailpointError(f"failpoint '{point} delay' takes milliseconds, not '{given}'")
        return given
    if kind == "errno":
        if given.upper() not in ERRNOS:
            raise FailpointError(f"unknown errno '{given}' (known: {', '.join(ERRNOS)})")
        return given.upper()
    steps = CHILD_STEPS[point]
    if given not in steps:
        raise FailpointError(f"'{point}' has no step '{given}' (known: {', '.join(steps)})")
    return given


def debug_failpoint(failpoints: Failpoints, args: list[bytes]) -> object:
    """DEBUG FAILPOINT SET|CLEAR|LIST: OK, or the list; a bad request raises FailpointError."""
    words = [a.decode("utf-8", "replace") for a in args[2:]]
    sub = words[0].upper() if words else ""
    if sub == "SET" and len(words) >= 3:
        failpoints.set(words[1].lower(), words[2].lower(), *words[3:])
    elif sub == "CLEAR" and len(words) <= 2:
        failpoints.clear(words[1].lower() if len(words) == 2 else None)
    elif sub == "LIST" and len(words) == 1:
        return [line.encode() for line in failpoints.listing()]
    else:
        raise FailpointError("DEBUG FAILPOINT SET <point> <action> [<arg>] | CLEAR [<point>] | LIST")
    return None
