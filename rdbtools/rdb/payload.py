"""DUMP / RESTORE payloads: one value in RDB form, then the RDB version (u16le) and a CRC64 (u64le)
of everything before it. Read with the RDB reader and written with the RDB writer, never on their own.
"""

from __future__ import annotations

import struct

import anycrc

from rdbtools.errors import FormatError, RdbtoolError
from rdbtools.formats.primitives import encode_string
from rdbtools.formats.rdb import MAX_REDIS_VERSION, VALKEY_VERSIONS, Opcode
from rdbtools.rdb.model import Function, KeyRecord
from rdbtools.rdb.reader import RdbReader
from rdbtools.rdb.source import BytesSource
from rdbtools.rdb.targets import Target
from rdbtools.rdb.writer import encode_value

_CRC64 = anycrc.Model("CRC64-REDIS")
_TRAILER = struct.Struct("<HQ")


def dump_payload(record: KeyRecord, target: Target) -> bytes:
    """What DUMP answers for this key on ``target``."""
    type_byte, value = encode_value(record, target)
    body = bytes((type_byte,)) + value + struct.pack("<H", target.rdb_version)
    return body + struct.pack("<Q", _CRC64.calc(body))


def load_payload(payload: bytes, key: bytes = b"") -> KeyRecord:
    """The value of a RESTORE payload; FormatError when its version or checksum is wrong (Redis:
    "DUMP payload version or checksum are wrong") or when the value does not decode."""
    if len(payload) < 10:
        raise FormatError("DUMP payload version or checksum are wrong")
    version, crc = _TRAILER.unpack_from(payload, len(payload) - 10)
    if (version > MAX_REDIS_VERSION and version not in VALKEY_VERSIONS) or (
            crc != 0 and crc != _CRC64.calc(payload[:-8])):
        raise FormatError("DUMP payload version or checksum are wrong")
    magic = b"VALKEY%03d" % version if version in VALKEY_VERSIONS else b"REDIS%04d" % max(version, 1)
    body = payload[:-10]
    if not body:
        raise FormatError("Bad data format")
    file = magic + body[:1] + encode_string(key) + body[1:] + bytes((Opcode.EOF,)) + bytes(8)
    try:
        records = [r for r in RdbReader(BytesSource(file, "<DUMP payload>"), check_crc=False)
                   if isinstance(r, KeyRecord)]
    except RdbtoolError:
        raise FormatError("Bad data format") from None
    if len(records) != 1:
        raise FormatError("Bad data format")
    return records[0]


def dump_functions(sources: list[bytes], target: Target) -> bytes:
    """FUNCTION DUMP: each library as an RDB FUNCTION2 record, then the version and the CRC64."""
    body = b"".join(bytes((Opcode.FUNCTION2,)) + encode_string(source) for source in sources)
    body += struct.pack("<H", target.rdb_version)
    return body + struct.pack("<Q", _CRC64.calc(body))


def load_functions(payload: bytes) -> list[bytes]:
    """The library sources of a FUNCTION RESTORE payload."""
    if len(payload) < 10:
        raise FormatError("payload version or checksum are wrong")
    version, crc = _TRAILER.unpack_from(payload, len(payload) - 10)
    if (version > MAX_REDIS_VERSION and version not in VALKEY_VERSIONS) or (
            crc != 0 and crc != _CRC64.calc(payload[:-8])):
        raise FormatError("payload version or checksum are wrong")
    magic = b"VALKEY%03d" % version if version in VALKEY_VERSIONS else b"REDIS%04d" % max(version, 10)
    file = magic + payload[:-10] + bytes((Opcode.EOF,)) + bytes(8)
    try:
        records = list(RdbReader(BytesSource(file, "<FUNCTION payload>"), check_crc=False))
    except RdbtoolError:
        raise FormatError("given payload is not a valid function dump") from None
    sources = [r.library_source for r in records if isinstance(r, Function)]
    if len(sources) != len(records):
        raise FormatError("given payload is not a valid function dump")
    return sources
