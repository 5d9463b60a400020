"""The multi-part AOF manifest (formats.md §8.4), Redis 7.0+.

Grammar::

    manifest := ( line '\\n' )*                 '#' lines are comments, at most 1024 bytes a line
    line     := key value ( ' ' key value )*   split like redis-cli arguments ("..." with \\xHH escapes)
    keys     := file <name>  seq <n>  type b|h|i   [startoffset <n> [endoffset <n>]] (Redis 8.0+)

At most one base, incr sequence numbers strictly increasing; names are bare file names. Anything
else is a ManifestError with the line it is on: nothing outside the AOF directory is ever named.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from rdbtools.errors import FormatError

MAX_LINE = 1024


class ManifestError(FormatError):
    """The manifest is not one Redis would load."""

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
    def loaded(self) -> list[ManifestEntry]:
        """What Redis loads, in order: the base, then every incr file (history files are ignored)."""
        return ([self.base] if self.base else []) + self.incrs


_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "a": "\a", "\\": "\\", '"': '"'}


def split_args(line: str) -> list[str]:
    """Split a line as redis-cli (sdssplitargs) does; ValueError on unbalanced quotes."""
    args, i, n = [], 0, len(line)
    while True:
        while i < n and line[i].isspace():
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
                    if i + 1 < n and not line[i + 1].isspace():
                        raise ValueError("closing quote must be followed by a space")
                    quote = "done"
                else:
                    current.append(char)
            elif quote == "'":
                if char == "\\" and i + 1 < n and line[i + 1] == "'":
                    current.append("'")
                    i += 1
                elif char == "'":
                    if i + 1 < n and not line[i + 1].isspace():
                        raise ValueError("closing quote must be followed by a space")
                    quote = "done"
                else:
                    current.append(char)
            elif char.isspace():
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
    """Parse and validate like Redis's aofLoadManifestFromFile; errors name the line."""
    if not text:
        raise ManifestError("empty AOF manifest")
    entries: list[ManifestEntry] = []
    for number, raw in enumerate(text.split(b"\n")[:-1] if text.endswith(b"\n") else text.split(b"\n"), 1):
        entry = _parse_line(raw, number)
        if entry is not None:
            _check_order(entries, entry, number)
            entries.append(entry)
    if not entries:
        raise ManifestError("AOF manifest lists no files")
    return Manifest(tuple(entries))


def _parse_line(raw: bytes, number: int) -> ManifestEntry | None:
    where = f"manifest line {number}"
    if len(raw) + 1 > MAX_LINE:
        raise ManifestError(f"{where}: line too long (at most {MAX_LINE - 1} bytes)")
    if raw.startswith(b"#"):
        return None
    line = raw.decode("latin-1").rstrip("\r")
    if not line.strip():
        raise ManifestError(f"{where}: blank line (Redis refuses it)")
    try:
        args = split_args(line)
    except ValueError as error:
        raise ManifestError(f"{where}: {error}") from None
    if len(args) < 6 or len(args) % 2:
        raise ManifestError(f"{where}: invalid AOF manifest file format")
    fields = {args[i].lower(): args[i + 1] for i in range(0, len(args), 2)}
    if not {"file", "seq", "type"} <= fields.keys():
        raise ManifestError(f"{where}: invalid AOF manifest file format (file, seq and type are required)")
    return ManifestEntry(_file_name(fields["file"], where), _number(fields["seq"], where, "seq"),
                         _file_type(fields["type"], where),
                         _optional_number(fields.get("startoffset"), where, "startoffset"),
                         _optional_number(fields.get("endoffset"), where, "endoffset"))


def _file_name(name: str, where: str) -> str:
    if not name or "/" in name or "\\" in name or name in (".", "..") or "\x00" in name:
        raise ManifestError(f"{where}: file can't be a path, just a filename: {name!r}")
    return name


def _number(text: str, where: str, key: str) -> int:
    if not text.lstrip("-").isdigit() or int(text) <= 0:
        raise ManifestError(f"{where}: {key} must be a positive integer, found {text!r}")
    return int(text)


def _optional_number(text: str | None, where: str, key: str) -> int | None:
    if text is None:
        return None
    if not text.isdigit():
        raise ManifestError(f"{where}: {key} must be a non-negative integer, found {text!r}")
    return int(text)


def _file_type(text: str, where: str) -> FileType:
    try:
        return FileType(text)
    except ValueError:
        raise ManifestError(f"{where}: unknown AOF file type {text!r}") from None


def _check_order(entries: list[ManifestEntry], entry: ManifestEntry, number: int) -> None:
    where = f"manifest line {number}"
    if entry.type is FileType.BASE and any(e.type is FileType.BASE for e in entries):
        raise ManifestError(f"{where}: found duplicate base file information")
    if entry.type is FileType.INCR:
        previous = [e.seq for e in entries if e.type is FileType.INCR]
        if previous and entry.seq <= previous[-1]:
            raise ManifestError(f"{where}: found a non-monotonic sequence number ({entry.seq} after {previous[-1]})")


def _quote(name: str) -> str:
    """As Redis writes a name: bare when safe, else double-quoted with escapes."""
    if name and all(33 <= ord(c) < 127 and c not in "\"'\\" for c in name):
        return name
    escaped = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else f"\\x{ord(c):02x}" for c in name)
    return f'"{escaped}"'


def format_manifest(manifest: Manifest) -> bytes:
    """The manifest text in Redis's order: base, history (as given), then incr files."""
    lines = []
    for entry in manifest.entries:
        line = f"file {_quote(entry.name)} seq {entry.seq} type {entry.type.value}"
        if entry.start_offset is not None:
            line += f" startoffset {entry.start_offset}"
            if entry.end_offset is not None:
                line += f" endoffset {entry.end_offset}"
        lines.append(line + "\n")
    return "".join(lines).encode("latin-1")
