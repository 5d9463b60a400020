"""The multi-part AOF manifest (Redis 7.0+), read exactly as the server reads it.

Every rule below was checked against Redis 7.0, 8.2 and Valkey 8.1, 9.1 starting on such a manifest
(tests/compat/test_manifest_vs_servers.py); where they differ rdbtool follows the newest Redis.

* The file is read in lines of at most 1024 bytes, newline included (an fgets buffer): a longer line
  is refused, and so is a last line without its newline, or a NUL byte before the newline ("too long
  line"). An empty file is refused. Numbered lines are these pieces: the rest of a longer line that
  starts with ``#`` is read as the next line.
* A line starting with ``#`` (first byte) is a comment. Other lines are trimmed of `` \t\r\n``; an
  empty one is refused. The rest is split like redis-cli arguments ("..." with \\xHH escapes, '...').
* Key value pairs, keys in any case, at least 6 words and an even count; unknown keys are ignored and
  a repeated key overrides (each ``file`` is checked when read). ``file`` (up to a NUL byte) must not
  hold ``/`` or ``\\``; ``seq`` and (Redis 8.0+) ``startoffset``/``endoffset`` are read like C's
  atoll (``7x`` is 7, ``x`` is 0); ``type`` is its first character: ``b``, ``h`` or ``i`` (``base``
  is ``b``). file, a non-zero seq and a non-empty type are required.
* At most one base; incr seqs strictly increase, from 1 up; history files are never read. A manifest
  naming no base or incr file (only comments, only history) is valid: the server starts empty.

A name is bytes on disk; it is kept as the str ``os.fsdecode`` gives, so that a path built from it
names the same file. Nothing here reads the files named.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum

from rdbtools.errors import FormatError
from rdbtools.formats.numbers import strtol

MAX_LINE = 1024  # bytes of a line, its newline included
# the server's reasons, word for word: a refusal reads as the server's log does
EMPTY = "Found an empty AOF manifest"
TOO_LONG = "The AOF manifest file contains too long line"
INVALID = "Invalid AOF manifest file format"
NOT_A_NAME = "File can't be a path, just a filename"
DUPLICATE_BASE = "Found duplicate base file information"
NON_MONOTONIC = "Found a non-monotonic sequence number"
UNKNOWN_TYPE = "Unknown AOF file type"


class ManifestError(FormatError):
    """The manifest is not one the server would load; the message starts with the server's reason."""

    hint = "fix or restore the manifest; rdbtool never reads files outside the AOF directory"


class FileType(Enum):
    BASE = "b"
    HISTORY = "h"
    INCR = "i"


@dataclass(frozen=True)
class ManifestEntry:
    name: str
    seq: int
    type: FileType
    start_offset: int | None = None  # Redis 8.0+: replication offsets covered by an incr file
    end_offset: int | None = None


@dataclass(frozen=True)
class Manifest:
    entries: tuple[ManifestEntry, ...]

    @property
    def base(self) -> ManifestEntry | None:
        return next((e for e in self.entries if e.type is FileType.BASE), None)

    @property
    def incrs(self) -> list[ManifestEntry]:
        return [e for e in self.entries if e.type is FileType.INCR]

    @property
    def history(self) -> list[ManifestEntry]:
        """Files a rewrite replaced, never loaded: the server deletes them at start and after a rewrite."""
        return [e for e in self.entries if e.type is FileType.HISTORY]

    @property
    def loaded(self) -> list[ManifestEntry]:
        """What Redis loads, in order: the base, then every incr file (history files are ignored)."""
        return ([self.base] if self.base else []) + self.incrs


_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "a": "\a", "\\": "\\", '"': '"'}
_C_SPACE = " \t\n\v\f\r"  # isspace() in the C locale: what is skipped between words
_WORD_END = " \t\n\r"  # what ends an unquoted word (a vertical tab or a form feed does not)


def split_args(line: str) -> list[str]:
    """Split a line as sdssplitargs does (redis-cli, inline commands, config files, the manifest);
    ValueError on unbalanced quotes. Spaces are C's, not Unicode's: ``\\xa0`` is part of a word."""
    args: list[str] = []
    i, n = 0, len(line)
    while True:
        while i < n and line[i] in _C_SPACE:
            i += 1
        if i >= n:
            return args
        current, quote = [], None
        while i < n:
            char = line[i]
            if quote == '"':
                if char == "\\" and i + 3 < n and line[i + 1] == "x" and _is_hex(line[i + 2 : i + 4]):
                    current.append(chr(int(line[i + 2 : i + 4], 16)))
                    i += 3
                elif char == "\\" and i + 1 < n:
                    current.append(_ESCAPES.get(line[i + 1], line[i + 1]))
                    i += 1
                elif char == '"':
                    if i + 1 < n and line[i + 1] not in _C_SPACE:
                        raise ValueError("closing quote must be followed by a space")
                    quote = "done"
                else:
                    current.append(char)
            elif quote == "'":
                if char == "\\" and i + 1 < n and line[i + 1] == "'":
                    current.append("'")
                    i += 1
                elif char == "'":
                    if i + 1 < n and line[i + 1] not in _C_SPACE:
                        raise ValueError("closing quote must be followed by a space")
                    quote = "done"
                else:
                    current.append(char)
            elif char in _WORD_END:
                break
            elif char in "\"'":  # a quote opens quoting even inside a word, as in sdssplitargs
                quote = char
            else:
                current.append(char)
            i += 1
            if quote == "done":
                break
        if quote in ('"', "'"):
            raise ValueError("unbalanced quotes")
        args.append("".join(current))


def _is_hex(text: str) -> bool:
    return len(text) == 2 and all(c in "0123456789abcdefABCDEF" for c in text)


def parse_manifest(text: bytes) -> Manifest:
    """Parse and validate as aofLoadManifestFromFile does; an error names the line and its offset."""
    if not text:
        raise ManifestError(EMPTY, offset=0)
    entries: list[ManifestEntry] = []
    for number, offset, chunk in _lines(text):
        try:
            entry = _parse_line(chunk, at_end=offset + len(chunk) == len(text))
            if entry is not None:
                _check_order(entries, entry)
                entries.append(entry)
        except ManifestError as error:
            raise ManifestError(f"manifest line {number}: {error.message}", offset=offset) from None
    return Manifest(tuple(entries))


def _lines(text: bytes) -> Iterator[tuple[int, int, bytes]]:
    """(number, offset, bytes) of each line as fgets reads it: up to a newline, at most MAX_LINE bytes."""
    offset, number = 0, 1
    while offset < len(text):
        newline = text.find(b"\n", offset, offset + MAX_LINE)
        end = newline + 1 if newline >= 0 else min(offset + MAX_LINE, len(text))
        yield number, offset, text[offset:end]
        offset, number = end, number + 1


def _parse_line(chunk: bytes, *, at_end: bool) -> ManifestEntry | None:
    """One line: None for a comment, else its entry."""
    if chunk.startswith(b"#"):
        return None
    content = chunk.split(b"\0", 1)[0]  # C strings end at a NUL
    if b"\n" not in content:
        why = ("a NUL byte before the newline" if b"\0" in chunk
               else "no newline at the end of the file" if at_end and len(chunk) < MAX_LINE
               else f"longer than {MAX_LINE - 1} bytes")
        raise ManifestError(f"{TOO_LONG} ({why})")
    line = content.strip(b" \t\r\n").decode("latin-1")
    if not line:
        raise ManifestError(f"{INVALID} (a blank line)")
    try:
        words = split_args(line)
    except ValueError as error:
        raise ManifestError(f"{INVALID} ({error})") from None
    if len(words) < 6 or len(words) % 2:
        raise ManifestError(f"{INVALID} ({len(words)} words; key value pairs, at least file, seq and type)")
    return _entry(dict(_pairs(words)))


def _pairs(words: list[str]) -> Iterator[tuple[str, str]]:
    """The known keys in order, lower-cased, a file name checked as soon as it is read."""
    for key, value in zip(words[::2], words[1::2], strict=True):
        key = key.lower()
        if key == "file":
            value = value.split("\0", 1)[0]
            if "/" in value or "\\" in value:
                raise ManifestError(f"{NOT_A_NAME}: {value!r}")
        if key in ("file", "seq", "type", "startoffset", "endoffset"):
            yield key, value


def _entry(fields: dict[str, str]) -> ManifestEntry:
    """The entry from its last value of each key: file, a non-zero seq and a type are required."""
    seq = _atoll(fields.get("seq", ""))
    kind = fields.get("type", "").split("\0", 1)[0][:1]
    if "file" not in fields or not seq or not kind:
        raise ManifestError(f"{INVALID} (file, a non-zero seq and type are required)")
    try:
        file_type = FileType(kind)
    except ValueError:
        raise ManifestError(f"{UNKNOWN_TYPE} ({fields['type']!r}; b, h or i)") from None
    return ManifestEntry(os.fsdecode(fields["file"].encode("latin-1")), seq, file_type,
                         _offset(fields.get("startoffset")), _offset(fields.get("endoffset")))


def _atoll(text: str) -> int:
    return strtol(text.encode("latin-1"))[0]


def _offset(text: str | None) -> int | None:
    """Redis 8's replication offset; -1, as absent, is its 'none'."""
    value = None if text is None else _atoll(text)
    return None if value == -1 else value


def _check_order(entries: list[ManifestEntry], entry: ManifestEntry) -> None:
    if entry.type is FileType.BASE and any(e.type is FileType.BASE for e in entries):
        raise ManifestError(DUPLICATE_BASE)
    if entry.type is FileType.INCR:
        previous = max((e.seq for e in entries if e.type is FileType.INCR), default=0)
        if entry.seq <= previous:
            raise ManifestError(f"{NON_MONOTONIC} ({entry.seq} after {previous})")


def _quote(name: str) -> bytes:
    """A name as bytes: bare when safe, else double-quoted with \\xHH escapes."""
    raw = os.fsencode(name)
    if raw and all(33 <= c < 127 and c not in b"\"'\\" for c in raw):
        return raw
    return b'"' + b"".join(bytes([c]) if 32 <= c < 127 and c not in b'"\\' else b"\\x%02x" % c for c in raw) + b'"'


def format_manifest(manifest: Manifest) -> bytes:
    """The manifest text in Redis's order: base, history (as given), then incr files."""
    lines: list[bytes] = []
    for entry in manifest.entries:
        line = b"file %s seq %d type %s" % (_quote(entry.name), entry.seq, entry.type.value.encode())
        if entry.start_offset is not None:
            line += b" startoffset %d" % entry.start_offset
        if entry.end_offset is not None:  # (kept on its own too: what was read is what is written back)
            line += b" endoffset %d" % entry.end_offset
        if len(line) >= MAX_LINE:  # quoting lengthens a name: the server would refuse the line
            raise ManifestError(f"{TOO_LONG} (the entry of {entry.name!r}, quoted, takes {len(line) + 1} bytes)",
                                offset=sum(map(len, lines)))
        lines.append(line + b"\n")
    return b"".join(lines)
