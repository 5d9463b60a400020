"""Appending a write's effects as RESP commands: to the AOF's pending bytes (once per write command, so
compiled with the core, which calls it directly) and to the replicas' stream (replication.py). The AOF's
files, fsync and rewrite stay in aof.py, which owns an AofAppender and writes its bytes once a turn."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from rdbtools.server.protocol import encode_bulks

if TYPE_CHECKING:
    from rdbtools.server.config import ServerConfig


def append_commands(buffer: bytearray, selected_db: int, db: int, commands: list[list[bytes]]) -> int:
    """RESP commands appended as Redis feeds its AOF and its replicas: a SELECT first when ``db`` is not
    the one selected (-1: whatever is). Returns the database selected after. (encode_bulks, the compiled RESP
    array encoder, answers None only for an item that is not bytes: effects are lists of bytes.)"""
    if db != selected_db and db >= 0:
        buffer += encode_bulks([b"SELECT", b"%d" % db])  # type: ignore[arg-type]
        selected_db = db
    for args in commands:
        buffer += encode_bulks(args)  # type: ignore[arg-type]
    return selected_db


class AofAppender:
    """What the AOF has not written yet, and what the appending remembers between writes."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.buffer = bytearray()
        self.selected_db = -1  # the database the last appended command ran in
        self.offset = 0  # Redis 8's replication offset without replicas: one per command appended (not SELECT)
        self.timestamps = False  # aof-timestamp-enabled
        self.last_timestamp = 0  # of the last #TS: annotation
        self.rewrite_buffer: bytearray | None = None  # single file: the writes since a rewrite's fork

    def configure(self, config: ServerConfig) -> None:
        """At start and after CONFIG SET: a directive read here rather than on every write."""
        self.timestamps = bool(config["aof-timestamp-enabled"])

    def feed(self, db: int, commands: list[list[bytes]]) -> None:
        """Effects of a command, in Redis's AOF form: #TS: when the second changed, SELECT when the db did."""
        buffer = self.buffer
        start = len(buffer)
        if self.timestamps:
            now = int(self.clock())
            if now > self.last_timestamp:
                buffer += b"#TS:%d\r\n" % now
                self.last_timestamp = now
        self.selected_db = append_commands(buffer, self.selected_db, db, commands)
        self.offset += len(commands)
        if self.rewrite_buffer is not None:
            self.rewrite_buffer += memoryview(buffer)[start:]
