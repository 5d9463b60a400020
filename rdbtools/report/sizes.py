"""Byte counts as people write them (``10mb``, ``1.5GB``) and as the report prints them."""

from __future__ import annotations

import re

from rdbtools.formats.numbers import MEMORY_UNITS

_SIZE = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([a-z]*)\s*")


def parse_size(text: str) -> int:
    """A size as redis.conf takes it (``maxmemory 1.5gb``), fractions too: bytes, rounded down."""
    match = _SIZE.fullmatch(text.lower())
    if match is None or match[2] not in MEMORY_UNITS:
        raise ValueError(f"invalid size {text!r}: a number with an optional unit b, k, kb, m, mb, g, gb")
    return int(float(match[1]) * MEMORY_UNITS[match[2]])


def human_size(size: int) -> str:
    """Bytes in the largest binary unit that keeps the number at least 1 (``1.5 MiB``)."""
    if size < 1024:
        return f"{size} B"
    value, unit = size / 1024, "KiB"
    for bigger in ("MiB", "GiB", "TiB"):
        if value < 1024:
            break
        value, unit = value / 1024, bigger
    return f"{value:.1f} {unit}"
