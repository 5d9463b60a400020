"""Where the bytes of a file come from: a read-only mmap, released page by page as it is consumed.

Memory must not grow with the file: pages of a file mapping count in the process's RSS once
touched, so the reader hands back ranges it has finished with (``release_before``) and they are
dropped with MADV_DONTNEED. Standard input cannot be mapped; it is spooled to a temporary file
first, so the same code path serves both.
"""

from __future__ import annotations

import mmap
import os
import shutil
import sys
import tempfile
from typing import BinaryIO, Protocol

from rdbtools.errors import InputError

_PAGE = mmap.PAGESIZE
_RELEASE_STEP = 32 << 20  # drop consumed pages in 32 MiB steps


class Source(Protocol):
    """What a reader reads from: a file mapped (MappedSource) or bytes in memory (BytesSource)."""

    name: str
    size: int
    view: memoryview

    def release_before(self, offset: int) -> None: ...

    def close(self) -> None: ...


class MappedSource:
    """A whole file as a memoryview, plus the bookkeeping to keep RSS flat while streaming."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.name = str(path)
        if self.name == "-":
            self._file: BinaryIO = tempfile.TemporaryFile(prefix="rdbtool-stdin-")  # noqa: SIM115 - see close()
            shutil.copyfileobj(sys.stdin.buffer, self._file, 1 << 20)
            self._file.flush()
            self.name = "<stdin>"
        else:
            try:
                self._file = open(path, "rb")  # noqa: SIM115 - closed in close()
            except OSError as error:
                raise InputError(f"cannot open: {error.strerror}", path=self.name) from None
            if not os.path.isfile(path):
                self._file.close()
                raise InputError("not a regular file", path=self.name)
        self.size = os.fstat(self._file.fileno()).st_size
        self._map: mmap.mmap | None = None
        if self.size:
            self._map = mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_READ)
            self.view = memoryview(self._map)
        else:
            self.view = memoryview(b"")
        self._released = 0

    def release_before(self, offset: int) -> None:
        """Let the kernel drop the pages before ``offset``: the reader will not look back."""
        if self._map is None or offset - self._released < _RELEASE_STEP:
            return
        end = offset - offset % _PAGE
        if hasattr(self._map, "madvise") and end > self._released:
            self._map.madvise(mmap.MADV_DONTNEED, self._released, end - self._released)
        self._released = end

    def close(self) -> None:
        self.view.release()
        if self._map is not None:
            self._map.close()
            self._map = None
        self._file.close()

    def __enter__(self) -> MappedSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class BytesSource:
    """Bytes already in memory (a DUMP payload, a test's file) behind MappedSource's interface."""

    def __init__(self, data: bytes, name: str = "<bytes>") -> None:
        self.name = name
        self.size = len(data)
        self.view = memoryview(data)

    def release_before(self, offset: int) -> None:
        pass

    def close(self) -> None:
        self.view.release()
