"""Hand-built RDB files for tests that need a precise byte layout (a wrong checksum, a bad byte)."""

from __future__ import annotations

import struct

import anycrc

from rdbtools.formats.primitives import encode_length, encode_string

_CRC64 = anycrc.Model("CRC64-REDIS")


def s(value: bytes | str) -> bytes:
    """An RDB string the way Redis writes it."""
    return encode_string(value.encode() if isinstance(value, str) else value)


def aux(name: str, value: str) -> bytes:
    return b"\xfa" + s(name) + s(value)


def select_db(db: int) -> bytes:
    return b"\xfe" + encode_length(db)


def string_key(key: bytes | str, value: bytes | str, *, expire_ms: int | None = None) -> bytes:
    prefix = b"\xfc" + struct.pack("<q", expire_ms) if expire_ms is not None else b""
    return prefix + b"\x00" + s(key) + s(value)


def collection_key(type_byte: int, key: bytes | str, items: list[bytes | str]) -> bytes:
    """Types 1 (list) and 2 (set): a count, then the items."""
    return bytes((type_byte,)) + s(key) + encode_length(len(items)) + b"".join(s(i) for i in items)


def rdb_file(*records: bytes, version: int = 10, checksum: bool = True, magic: bytes = b"REDIS") -> bytes:
    width = 9 - len(magic)
    body = magic + str(version).zfill(width).encode() + b"".join(records) + b"\xff"
    if version < 5:
        return body
    return body + struct.pack("<Q", _CRC64.calc(body) if checksum else 0)
