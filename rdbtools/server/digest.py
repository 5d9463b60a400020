"""DEBUG DIGEST and DIGEST-VALUE: Redis's SHA1 digest of the dataset, computed as Redis computes it, so
a digest taken on serve equals the real server's for the same data (test suites compare digests
across DEBUG RELOAD, restarts and replicas). Unordered collections xor their members' digests, ordered
ones chain them ("mix"); each key's digest is xored into the total, which is all zeros when empty."""

from __future__ import annotations

import hashlib
import struct

from rdbtools.keyspace.commands.zsets import score_text
from rdbtools.keyspace.model import Entry
from rdbtools.rdb.targets import Target

_TYPE_CODES = {"string": 0, "list": 1, "set": 2, "zset": 3, "hash": 4, "stream": 6}
_MODULE = 5
EMPTY = bytes(20)


def _xor(digest: bytearray, data: bytes) -> None:
    """Order-free: xor SHA1(data) into the digest."""
    for i, byte in enumerate(hashlib.sha1(data).digest()):
        digest[i] ^= byte


def _mix(digest: bytearray, data: bytes) -> None:
    """Order-keeping: digest = SHA1(digest xor SHA1(data))."""
    _xor(digest, data)
    digest[:] = hashlib.sha1(digest).digest()


def _pair_digest(first: bytes, second: bytes) -> bytes:
    pair = bytearray(20)
    _mix(pair, first)
    _mix(pair, second)
    return bytes(pair)


def value_digest(entry: Entry, target: Target, into: bytearray | None = None) -> bytearray:
    """A value's digest (its type, its contents, whether it expires), mixed into ``into``; scores are
    printed as the target prints them."""
    digest = bytearray(20) if into is None else into
    _mix(digest, struct.pack(">I", _TYPE_CODES.get(entry.type, _MODULE)))
    value, kind = entry.value, entry.type
    if kind == "string":
        _mix(digest, value)
    elif kind == "list":
        for item in value:
            _mix(digest, item)
    elif kind == "set":
        for member in value:
            _xor(digest, member)
    elif kind == "zset":
        for member, score in value.items():
            _xor(digest, _pair_digest(member, score_text(target, score)))
    elif kind == "hash":
        for field, item in value.items():
            _xor(digest, _pair_digest(field, item))
    elif kind == "stream":
        for stream_entry in value.entries:
            _mix(digest, b"%d.%d" % (stream_entry.id.ms, stream_entry.id.seq))
            for field, item in stream_entry.fields:
                _mix(digest, field)
                _mix(digest, item)
    if entry.expire_ms is not None:
        _xor(digest, b"!!expire!!")
    return digest


def dataset_digest(dbs: dict[int, dict[bytes, Entry]], target: Target) -> bytes:
    """DEBUG DIGEST: every database that holds keys, logically expired ones included."""
    final = bytearray(20)
    for index in sorted(dbs):
        keys = dbs[index]
        if not keys:
            continue
        _mix(final, struct.pack(">I", index))
        for key, entry in keys.items():
            digest = bytearray(20)
            _mix(digest, key)
            _xor(final, bytes(value_digest(entry, target, digest)))
    return bytes(final)
