"""Write a file so that readers see the old content or the complete new one, never a part.

Temp file in the same directory, fsync, rename over the target, fsync the directory: a crash at
any point leaves either the previous file or the finished one.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from typing import BinaryIO

from rdbtools.errors import InputError


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str], check: Callable[[str], None] | None = None) -> Iterator[BinaryIO]:
    """Write to a temp file beside ``path``, fsync, rename over it; ``check`` may refuse the written temp file
    (by raising) before anything is replaced."""
    target = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(target))
    try:
        fd, temp = tempfile.mkstemp(prefix=f".{os.path.basename(target)}.", suffix=".tmp", dir=directory)
    except OSError as error:
        raise InputError(f"cannot write here: {error.strerror}", path=target) from None
    try:
        with os.fdopen(fd, "wb", buffering=1 << 20) as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        if check is not None:
            check(temp)
        os.replace(temp, target)
        fsync_directory(directory)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise


def fsync_directory(directory: str) -> None:
    """Make a rename durable: the directory entry lives in the directory's own blocks."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
