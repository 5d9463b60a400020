"""Check an AOF as Redis 7's redis-check-aof does: the same verdict, offsets and line numbers.

The walk below reproduces the checker's reading rules (formats.md §9.1), quirks included, because
operators compare the two: a record's first line is read up to 127 bytes and parsed like strtol,
the CRLF after a number is compared in the line buffer (so a short line shows bytes left there by
the previous one), MULTI/EXEC are counted, line numbers count consumed CRLFs across all files of a
multi-part AOF, and `ok_up_to` is where the first bad record, or a still-open MULTI, starts.
Nothing here writes: ``--fix`` and ``--truncate-to-timestamp`` are planned here and applied by the
caller (rdbtools.aof.repair) with a backup.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias

from rdbtools.aof.reader import RDB_MAGICS, AofLayout, MissingPartError, find_layout
from rdbtools.errors import RdbtoolError
from rdbtools.formats import Blob, accelerated
from rdbtools.formats.numbers import strtol
from rdbtools.formats.resp import iter_records
from rdbtools.rdb.reader import RdbReader
from rdbtools.rdb.source import MappedSource

LONG_MAX = (1 << 63) - 1
_SCAN_STEP = 16 << 20  # bytes the compiled scan walks before the mapped pages behind are released
LINE_BUFFER = 128  # redis-check-aof reads numbers with fgets into a 128-byte buffer
ANNOTATION_BUFFER = 1024
Span: TypeAlias = tuple[int, int]  # (start, end) of a record in the file
_MULTI_ERRORS = ("Unexpected MULTI", "Unexpected EXEC", "Reached EOF before reading EXEC")


@dataclass
class FileCheck:
    """One file's result, in the terms redis-check-aof prints."""

    name: str
    path: Path
    role: str  # "aof" (single file), "base" or "incr"
    format: str  # "resp" or "rdb" (an RDB preamble or base, then RESP)
    size: int = 0
    ok_up_to: int = 0
    line: int = 1  # the checker's line counter after this file (it runs on across files)
    error: str | None = None  # the message redis-check-aof prints after the offset
    error_offset: int | None = None
    format_error: bool = False
    at_end: bool = False  # the walk stopped because the file ended (a truncated tail)
    rdb_error: str | None = None  # a broken RDB preamble or base
    commands: int = 0
    first_timestamp: int | None = None
    last_timestamp: int | None = None
    truncate_at: int | None = None  # --truncate-to-timestamp: where the first later annotation starts
    timestamp_error: str | None = None
    last_command: list[bytes] | None = None  # the last complete command before ok_up_to

    @property
    def empty(self) -> bool:
        return self.size == 0

    @property
    def diff(self) -> int:
        return self.size - self.ok_up_to

    @property
    def valid(self) -> bool:
        return self.rdb_error is None and self.diff == 0 and self.timestamp_error is None

    @property
    def verdict(self) -> str:
        """What is wrong with the RESP part: the kinds of problem redis-check-aof tells apart."""
        if self.diff == 0:
            return "valid"
        if (self.error or "").startswith(_MULTI_ERRORS):
            return "unbalanced MULTI/EXEC"
        if self.at_end:
            return "truncated"  # the file ends inside a record: a short read, a cut line
        return "format error"

    def to_json(self) -> dict[str, Any]:
        return {"file": self.name, "role": self.role, "format": self.format, "size": self.size,
                "ok_up_to": self.ok_up_to, "ok_up_to_line": self.line, "diff": self.diff,
                "valid": self.valid, "empty": self.empty, "error": self.error, "error_offset": self.error_offset,
                "format_error": self.format_error, "rdb_error": self.rdb_error, "commands": self.commands,
                "first_timestamp": self.first_timestamp, "last_timestamp": self.last_timestamp}


@dataclass
class AofCheck:
    path: str
    layout: AofLayout | None
    files: list[FileCheck] = field(default_factory=list)
    manifest_error: str | None = None
    missing: str | None = None  # a file the manifest lists that cannot be opened
    to_timestamp: int | None = None

    @property
    def problem(self) -> FileCheck | None:
        """The first file that is not valid (redis-check-aof stops there)."""
        return next((f for f in self.files if not f.valid), None)

    @property
    def valid(self) -> bool:
        return self.manifest_error is None and self.missing is None and self.problem is None

    @property
    def verdict(self) -> str:
        if self.manifest_error is not None:
            return "manifest error"
        if self.missing is not None:
            return "missing file"
        problem = self.problem
        if problem is None:
            return "valid"
        if problem.rdb_error is not None:
            return "broken RDB preamble"
        if problem.timestamp_error is not None:
            return "invalid timestamp"
        return problem.verdict

    def to_json(self) -> dict[str, Any]:
        layout = self.layout
        return {"path": self.path, "verdict": self.verdict, "valid": self.valid,
                "layout": None if layout is None else layout.kind,
                "manifest": None if layout is None or layout.manifest_path is None else layout.manifest_path.name,
                "manifest_error": self.manifest_error, "missing": self.missing,
                "files": [f.to_json() for f in self.files]}


class _Walker:
    """The checker's reading state: position, line counter, last error offset, the line buffers."""

    def __init__(self) -> None:
        self.line = 1
        self.epos = 0
        self.eof = False
        self.error: str | None = None
        self.display = ""  # the file name in messages: the path given, or dir/name for parts

    def check(self, part_path: Path, name: str, display: str, role: str, last_file: bool,
              to_timestamp: int | None) -> FileCheck:
        self.display = display
        with MappedSource(part_path) as source:
            buf = source.view
            result = FileCheck(name, part_path, role, "resp", size=len(buf))
            if not len(buf):
                return result
            start = 0
            if bytes(buf[:6]).startswith(RDB_MAGICS) and len(buf) >= 8:
                result.format = "rdb"
                start = self._rdb_part(source, result)
                if result.rdb_error is not None:
                    return result
            self._walk(buf, start, result, last_file, to_timestamp, source.release_before)
        result.line = self.line
        return result

    @staticmethod
    def _rdb_part(source: MappedSource, result: FileCheck) -> int:
        try:
            reader = RdbReader(source, deep=True, embedded=True)
            for _ in reader:
                pass
        except RdbtoolError as error:
            result.rdb_error = str(error)
            return 0
        if reader.problems:
            result.rdb_error = str(reader.problems[0])
        return reader.end_offset or 0

    # --- the walk ----------------------------------------------------------------------------

    def _walk(self, buf: Blob, start: int, result: FileCheck, last_file: bool, to_timestamp: int | None,
              release_before: Callable[[int], None]) -> None:
        size, p, pos, multi = len(buf), start, start, 0
        self.eof, self.error = False, None
        # the compiled scan takes runs of clean records; every other record is walked here
        fast = accelerated("aof_scan") if to_timestamp is None else None
        last_span: Span | None = None  # (start, end) of the last command read
        kept_span: Span | None = None  # (start, end) of the last one before `pos`
        while True:
            if fast is not None and p < size:
                p, multi, last_span, kept_span, pos = self._fast(fast, buf, p, multi, result, last_span,
                                                                 kept_span, pos)
                release_before(p)
            if not multi:
                pos, kept_span = p, last_span
            if p >= size:
                self.eof = True
                break
            first = buf[p]
            if first == 0x23:  # '#': an annotation, not counted as a line
                after = self._annotation(buf, p, result, last_file, to_timestamp)
                if after is None:
                    return
                p = after
                continue
            if first != 0x2A:  # '*'
                result.format_error = True
                break
            record_start = p
            p, multi, args = self._record(buf, p, multi)
            if args is None:
                break
            result.commands += 1
            last_span = (record_start, p)
            if not multi:
                release_before(p)  # the walk never looks back: keep RSS flat on large files
        if self.eof and multi and self.error is None:
            self._fail("Reached EOF before reading EXEC for MULTI")
        result.ok_up_to = pos
        result.at_end = self.eof
        result.error, result.error_offset = self.error, (self.epos if self.error else None)
        result.last_command = _command_at(buf, kept_span)

    def _fast(self, fast: Callable, buf: Blob, p: int, multi: int, result: FileCheck, last_span: Span | None,
              kept_span: Span | None, pos: int) -> tuple[int, int, Span | None, Span | None, int]:
        """Run the compiled scan from p and fold what it saw into the walk's state."""
        (p, multi, lines, commands, last_start, last_end, epos, first_ts, last_ts, kept_start, kept_end,
         ok_pos) = fast(buf, p, p + _SCAN_STEP, multi)
        self.line += lines
        result.commands += commands
        if last_start >= 0:
            last_span = (last_start, last_end)
        if epos >= 0:
            self.epos = epos
        if first_ts >= 0:
            result.first_timestamp = first_ts if result.first_timestamp is None else result.first_timestamp
            result.last_timestamp = last_ts
        if ok_pos >= 0:
            pos = ok_pos
            kept_span = (kept_start, kept_end) if kept_start >= 0 else kept_span
        return p, multi, last_span, kept_span, pos

    def _fail(self, message: str) -> None:
        self.error = message

    def _annotation(self, buf: Blob, p: int, result: FileCheck, last_file: bool,
                    to_timestamp: int | None) -> int | None:
        self.epos = p
        chunk = bytes(buf[p : p + ANNOTATION_BUFFER - 1])
        newline = chunk.find(b"\n")
        text = chunk[: newline + 1] if newline >= 0 else chunk
        if text.startswith(b"#TS:"):
            value, end = strtol(text, 4)
            well_formed = text[end : end + 1] == b"\r" and -(LONG_MAX + 1) < value < LONG_MAX
            if well_formed:
                result.first_timestamp = value if result.first_timestamp is None else result.first_timestamp
                result.last_timestamp = value
            if to_timestamp is not None:
                if not well_formed:  # strtol must stop at the CR, without overflow
                    result.timestamp_error = "Invalid timestamp annotation"
                    return None
                if value > to_timestamp:
                    if p == 0:
                        result.timestamp_error = f"AOF {result.name} has nothing before timestamp {to_timestamp}"
                    elif not last_file:
                        result.timestamp_error = (f"Failed to truncate AOF {result.name} to timestamp {to_timestamp} "
                                                  f"to offset {p} because it is not the last file")
                    else:
                        result.truncate_at = p
                    result.ok_up_to = p
                    return None
        return p + len(text)

    def _record(self, buf: Blob, p: int, multi: int) -> tuple[int, int, list[bytes] | None]:
        """processRESP: the argument count, then the arguments; (position, MULTI depth, args or None)."""
        p, argc = self._number(buf, p, ord("*"))
        if argc is None:
            return p, multi, None
        args = []
        for index in range(max(argc, 0)):
            p, length = self._number(buf, p, ord("$"))
            if length is None:
                return p, multi, None
            if length < 0 or length > LONG_MAX - 2:
                self._fail(f"Expected to read string of {length} bytes, which is not in the suitable range")
                return p, multi, None
            self.epos = p
            wanted, available = length + 2, len(buf) - p
            if available < wanted:
                self.eof = True
                self._fail(f"Expected to read {wanted} bytes, got {available} bytes")
                return p + available, multi, None
            data, crlf = bytes(buf[p : p + length]), bytes(buf[p + length : p + length + 2])
            p += wanted
            if crlf != b"\r\n":
                self._fail(f"Expected \\r\\n, got: {_hex(crlf[0])}{_hex(crlf[1])}")
                return p, multi, None
            self.line += 1
            args.append(data)
            if index == 0:
                name = data.split(b"\0", 1)[0].lower()  # strcasecmp stops at a NUL
                if name == b"multi":
                    multi += 1
                    if multi > 1:
                        self._fail(f"Unexpected MULTI in AOF {self.display}")
                        return p, multi, None
                elif name == b"exec":
                    multi -= 1
                    if multi:
                        self._fail(f"Unexpected EXEC in AOF {self.display}")
                        return p, multi, None
        return p, multi, args

    def _number(self, buf: Blob, p: int, prefix: int) -> tuple[int, int | None]:
        """readLong: fgets into the buffer, check the prefix, strtol, then the CRLF in the buffer."""
        self.epos = p
        if p >= len(buf):
            self.eof = True
            return p, None
        chunk = bytes(buf[p : p + LINE_BUFFER - 1])
        newline = chunk.find(b"\n")
        if newline >= 0:
            chunk = chunk[: newline + 1]
        elif p + len(chunk) >= len(buf):
            self.eof = True
        line = chunk + b"\0"  # the buffer as fgets leaves it (what lies past the NUL: see _byte)
        p += len(chunk)
        if chunk[0] != prefix:
            self._fail(f"Expected prefix '{chr(prefix)}', got: '{chr(chunk[0])}'")
            return p, None
        value, end = strtol(line, 1)
        if line[end : end + 2] != b"\r\n":
            self._fail(f"Expected \\r\\n, got: {_hex(_byte(line, end))}{_hex(_byte(line, end + 1))}")
            return p, None
        self.line += 1
        return p, value


def _command_at(buf: Blob, span: Span | None) -> list[bytes] | None:
    """The arguments of the command stored at span (for the --fix preview)."""
    if span is None:
        return None
    try:
        return next(iter_records(buf, span[0], span[1])).args
    except RdbtoolError:  # "*0" and "*-1" pass the checker but hold no command to show
        return None


def _byte(line: bytes, at: int) -> int:
    """A byte of the line buffer as redis-check-aof prints it. Past the NUL fgets ends the line with (a line
    that ends at EOF, or a number filling all 127 bytes) the C code reads whatever its stack holds there,
    which no file decides: 0 here, whatever lines came before (Redis 7.0 printed 0 where an earlier line's
    CR would have been left; the compiled scan and the Python walk must answer alike)."""
    return line[at] if at < len(line) else 0


def _hex(byte: int) -> str:
    """printf %02x of a (signed) char, as the C checker prints it."""
    return f"ffffff{byte:02x}" if byte >= 0x80 else f"{byte:02x}"


def check_aof(path: str | os.PathLike[str], *, to_timestamp: int | None = None) -> AofCheck:
    """Check a single AOF file, a manifest or an appendonly directory; never raises for bad content."""
    report = AofCheck(os.fspath(path), None, to_timestamp=to_timestamp)
    try:
        report.layout = find_layout(path)
    except MissingPartError as error:
        report.missing = str(error)
        return report
    except RdbtoolError as error:
        if not Path(path).exists():
            raise
        report.manifest_error = str(error)
        return report
    walker = _Walker()
    parts = report.layout.parts
    for index, part in enumerate(parts):
        role = "aof" if part.type is None else part.type.name.lower()
        name = os.fspath(path) if part.type is None else _shown(part.name)
        manifest_dir = os.path.dirname(os.fspath(report.layout.manifest_path or ""))
        display = name if part.type is None else os.path.join(manifest_dir, name)
        result = walker.check(part.path, name, display, role, index == len(parts) - 1, to_timestamp)
        report.files.append(result)
        if not result.valid:
            break
    return report


def _shown(name: str) -> str:
    """A file name for reports: bytes that are not UTF-8 (kept by os.fsdecode) shown as \\xHH."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")
