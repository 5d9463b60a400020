"""Where Redis's AOF loader cuts a file it loads (aof-load-truncated), by the loader's rules.

loadSingleAppendOnlyFile (aof.c, Redis 7.0 to 8.2, Valkey 9.1) reads commands as formats/resp.py
does; when the file ends inside a command it truncates the file at the end of the last complete
command (annotations after it go too), and when the file ends inside a MULTI it truncates before
that MULTI. Any other format error stops the load. redis-check-aof's verdict (aof/check.py) is
stricter: the server loads '*3 \\r\\n' or a bare '\\n' line end, which the checker calls a format error.

One difference on purpose: the loader starts counting at offset 0, so a command cut short right
after an RDB preamble or base would truncate the file to nothing; here the RDB part is kept.
"""

from __future__ import annotations

import os
from pathlib import Path

from rdbtools.aof.reader import RDB_MAGICS
from rdbtools.errors import TruncatedError
from rdbtools.formats.resp import iter_record_batches
from rdbtools.rdb.reader import RdbReader
from rdbtools.rdb.source import MappedSource


def loader_cut(path: str | os.PathLike[str]) -> int | None:
    """The offset the loader truncates this file to, or None when it loads the file whole.

    Raises the reader's FormatError (located in the file) for what the loader refuses.
    """
    with MappedSource(Path(path)) as source:
        buf, start = source.view, 0
        if bytes(buf[:6]).startswith(RDB_MAGICS):
            reader = RdbReader(source, embedded=True)
            for _ in reader.iter_batches():
                pass
            start = reader.end_offset or 0
        return _resp_cut(source, start)


def _resp_cut(source: MappedSource, start: int) -> int | None:
    """valid_up_to and valid_before_multi followed over the RESP records from start."""
    valid_up_to = before_multi = start
    after_command, in_multi = False, False
    try:
        for batch in iter_record_batches(source.view, start):
            for record in batch:
                if after_command:
                    valid_up_to, after_command = record.offset, False
                args = record.args
                if args is None:
                    continue
                name = args[0].lower()
                if name == b"multi":  # every MULTI, even one queued inside another
                    before_multi, in_multi = valid_up_to, True
                elif name == b"exec":
                    in_multi = False
                after_command = True
            source.release_before(batch[-1].offset)
    except TruncatedError as error:
        return error.offset if after_command else valid_up_to
    return before_multi if in_multi else None
