"""Choose which keys a command works on: ``--db``, ``--key`` (Redis glob), ``--key-regex``, ``--type``,
``--expired/--no-expired``."""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from rdbtools.rdb.model import LOGICAL_TYPES, KeyRecord


def glob_to_regex(pattern: bytes) -> re.Pattern[bytes]:
    """Translate a Redis glob (KEYS/SCAN MATCH: * ? [abc] [^a-z] and \\ escapes) into a regex.

    Between two stars each run of fixed-width items matches at its earliest place, committed (an
    atomic group): a glob never needs to try a later one, and ``a*a*a*...b`` stays linear instead of
    backtracking exponentially."""
    runs: list[bytearray] = [bytearray()]  # the pattern's items between its stars
    i, n = 0, len(pattern)
    while i < n:
        char = pattern[i : i + 1]
        out = runs[-1]
        if char == b"*":
            runs.append(bytearray())
        elif char == b"?":
            out += b"."
        elif char == b"\\" and i + 1 < n:
            i += 1
            out += re.escape(pattern[i : i + 1])
        elif char == b"[":
            item, i = _char_class(pattern, i)
            out += item
        else:
            out += re.escape(char)
        i += 1
    # Redis's stringmatchlen matches an empty name to no pattern but "" (KEYS and SCAN take "*" as all)
    start = b"" if pattern in (b"", b"*") else b"(?=.)"
    if len(runs) == 1:
        return re.compile(start + bytes(runs[0]) + rb"\Z", re.DOTALL)
    middle = b"".join(b"(?>.*?" + run + b")" for run in runs[1:-1] if run)
    return re.compile(start + bytes(runs[0]) + middle + b".*" + bytes(runs[-1]) + rb"\Z", re.DOTALL)


def _char_class(pattern: bytes, i: int) -> tuple[bytes, int]:
    """Redis's ``[...]`` starting at pattern[i]: its regex and the index of its last byte. As in
    stringmatchlen: the first ``]`` closes it (``[]`` is empty), ``\\`` escapes, ranges may be reversed,
    and an unclosed class takes the rest of the pattern."""
    j, n = i + 1, len(pattern)
    negate = pattern[j : j + 1] == b"^"
    j += negate
    items = bytearray()
    while j < n and pattern[j : j + 1] != b"]":
        if pattern[j : j + 1] == b"\\" and j + 1 < n:
            items += re.escape(pattern[j + 1 : j + 2])
            j += 2
        elif pattern[j + 1 : j + 2] == b"-" and j + 2 < n:
            low, high = sorted((pattern[j], pattern[j + 2]))
            items += re.escape(bytes([low])) + b"-" + re.escape(bytes([high]))
            j += 3
        else:
            items += re.escape(pattern[j : j + 1])
            j += 1
    end = min(j, n - 1)
    if not items:  # no character, or (negated) any
        return (b"." if negate else b"(?!)"), end
    return b"[" + (b"^" if negate else b"") + bytes(items) + b"]", end


@dataclass
class KeyFilter:
    """A predicate over key records; every criterion left as None lets everything through."""

    dbs: frozenset[int] | None = None
    key_glob: bytes | None = None
    key_regex: str | None = None
    types: frozenset[str] | None = None
    expired: bool | None = None  # True: only expired keys, False: only live ones
    now_ms: int = field(default_factory=lambda: int(time.time() * 1000))  # what --expired compares with

    def __post_init__(self) -> None:
        if self.types is not None:
            unknown = set(self.types) - set(LOGICAL_TYPES)
            if unknown:
                raise ValueError(f"unknown type {sorted(unknown)[0]!r}; choose from {', '.join(LOGICAL_TYPES)}")
        self._glob = glob_to_regex(self.key_glob) if self.key_glob is not None else None
        try:
            self._regex = re.compile(self.key_regex.encode("utf-8")) if self.key_regex is not None else None
        except re.error as error:
            raise ValueError(f"invalid --key-regex {self.key_regex!r}: {error}") from None

    @property
    def is_trivial(self) -> bool:
        return (self.dbs is None and self._glob is None and self._regex is None and self.types is None
                and self.expired is None)

    def matches(self, record: KeyRecord) -> bool:
        if self.dbs is not None and record.db not in self.dbs:
            return False
        if self.types is not None and record.type not in self.types:
            return False
        if self._glob is not None and not self._glob.match(record.key):
            return False
        if self._regex is not None and not self._regex.search(record.key):
            return False
        if self.expired is not None:
            is_expired = record.expire_ms is not None and record.expire_ms < self.now_ms
            if is_expired != self.expired:
                return False
        return True

    def apply(self, records: Iterable) -> Iterable:
        """Keep non-key records and the matching keys."""
        if self.is_trivial:
            return records
        return (r for r in records if r.__class__ is not KeyRecord or self.matches(r))
