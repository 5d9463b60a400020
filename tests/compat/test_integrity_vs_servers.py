"""``rdbtool verify`` refuses exactly what the real servers' integrity checks refuse on load.

Each damaged value breaks one rule of the checks Redis and Valkey run on an RDB value (zipmap,
ziplist, listpack and intset validation, and rdb.c's checks of what they hold; docs/integrity.md).
Every server that reads the file's RDB version must refuse it, started with
``sanitize-dump-payload yes`` (the deep checks; the old encodings are always checked deeply), and
verify must call the file corrupt at that key, exit 1, with the compiled scan and without it. Each
sound variant sits on the edge of a rule from the other side: every server loads it and verify
calls it sound.
"""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from dataclasses import dataclass

import orjson
import pytest

from rdbtools.formats.listpack import encode_listpack
from rdbtools.formats.primitives import encode_length, encode_string
from rdbtools.formats.ziplist import encode_ziplist
from rdbtools.rdb.reader import open_rdb
from tests.rdbbuild import rdb_file, select_db, string_key
from tests.servers import PROCESS_TIMEOUT, SERVERS, ServerRefused, start_server

SANITIZE = ("--sanitize-dump-payload", "yes")
FAR_MS = 4102444800000  # 2100-01-01: field TTLs that have not passed


@dataclass(frozen=True)
class Case:
    version: int  # the RDB version the file is written in: only servers that read it are asked
    record: bytes  # one key entry, named "k"
    problem: str = ""  # what verify's message says (damaged cases)
    magic: str = "REDIS"

    def file(self) -> bytes:
        return rdb_file(select_db(0), string_key("before", "fine"), self.record, version=self.version,
                        magic=self.magic.encode())


def key(type_byte: int, payload: bytes) -> bytes:
    return bytes((type_byte,)) + encode_string(b"k") + payload


def blob(data: bytes) -> bytes:
    return encode_string(data)


def patched(data: bytes, at: int, new: bytes) -> bytes:
    return data[:at] + new + data[at + len(new):]


def zipmap(pairs: list[tuple[bytes, bytes]], count: int | None = None, after_end: bytes = b"") -> bytes:
    entries = b"".join(bytes((len(f),)) + f + bytes((len(v),)) + b"\x00" + v for f, v in pairs)
    return bytes((len(pairs) if count is None else count,)) + entries + b"\xff" + after_end


def raw_ziplist(entries: bytes, tail: int, count: int) -> bytes:
    return struct.pack("<IIH", 10 + len(entries) + 1, tail, count) + entries + b"\xff"


def raw_listpack(entries: bytes, count: int) -> bytes:
    return struct.pack("<IH", 6 + len(entries) + 1, count) + entries + b"\xff"


def pairs(*items: bytes, score: bytes | None = None) -> bytes:
    """A count of members/fields, then each as an RDB string and, for a zset v1, a text score."""
    return encode_length(len(items)) + b"".join(encode_string(i) + (score or b"") for i in items)


def quicklist2(*nodes: tuple[int, bytes]) -> bytes:
    return encode_length(len(nodes)) + b"".join(encode_length(c) + blob(data) for c, data in nodes)


def ttl_hash(*triples: tuple[bytes, bytes, int | bytes]) -> bytes:
    """Type 25: the minimum field TTL, then a listpack of field, value, TTL (0: none)."""
    return key(25, struct.pack("<Q", FAR_MS) + blob(encode_listpack([x for t in triples for x in t])))


# a stream node: 1 live, 0 deleted, master fields [f], 0; one entry: flags SAMEFIELDS, id deltas 0 0,
# value v, back-count 4
NODE = [1, 0, 1, b"f", 0, 2, 0, 0, b"v", 4]


def stream(*node_ids: tuple[int, int], node: list[int | bytes] = NODE, last: tuple[int, int] | None = None) -> bytes:
    """A stream v1 (type 15): one node per id, each holding ``node`` (one entry f=v); no groups; its
    last id the highest node id unless given."""
    nodes = b"".join(blob(struct.pack(">QQ", *node_id)) + blob(encode_listpack(node)) for node_id in node_ids)
    last = last or max(node_ids)
    return key(15, encode_length(len(node_ids)) + nodes + b"".join(map(encode_length, (len(node_ids), *last, 0))))


def valkey_hash(*fields: tuple[bytes, bytes, int]) -> bytes:
    """Valkey's type 22: a count, then each field, value and i64 expire time (-1: none)."""
    return key(22, encode_length(len(fields)) + b"".join(
        encode_string(f) + encode_string(v) + struct.pack("<q", at) for f, v, at in fields))


# a hash ziplist a=1 b=2: entries at 10, 13, 15 and 18, the end marker at 20
HASH_ZL = encode_ziplist([b"a", b"1", b"b", b"2"])
# a hash listpack a=1 b=2: entries at 6, 9, 11 and 14, the end marker at 16
HASH_LP = encode_listpack([b"a", b"1", b"b", b"2"])

DAMAGED = {
    # zipmap (zipmapValidateIntegrity, then rdb.c's duplicate search)
    "zipmap header counts 255 (only 254 means unknown)": Case(3, key(9, blob(zipmap([(b"a", b"1"), (b"b", b"2")],
                                                                                    255))), "header counts 255"),
    "zipmap header counts more than it holds": Case(3, key(9, blob(zipmap([(b"a", b"1"), (b"b", b"2")], 3))),
                                                    "header counts 3"),
    "zipmap without entries": Case(3, key(9, blob(b"\x00\xff")), "no entries"),
    "zipmap entry runs past the end": Case(3, key(9, blob(b"\x01\x01a\x09\x00x\xff")), "past the end"),
    "zipmap repeats a field": Case(3, key(9, blob(zipmap([(b"a", b"1"), (b"a", b"2")]))), "duplicate hash fields"),
    # intset (intsetValidateIntegrity)
    "intset encoding is not 2, 4 or 8": Case(9, key(11, blob(struct.pack("<II", 3, 1) + b"\x01\x00\x00")),
                                            "encoding must be"),
    "intset without elements": Case(9, key(11, blob(struct.pack("<II", 2, 0))), "no elements"),
    "intset length disagrees with its size": Case(9, key(11, blob(struct.pack("<II2h", 2, 3, 1, 2))), "needs"),
    "intset out of order": Case(9, key(11, blob(struct.pack("<II3h", 2, 3, 1, 3, 2))), "not above"),
    "intset repeats an element": Case(9, key(11, blob(struct.pack("<II3h", 2, 3, 1, 2, 2))), "not above"),
    # ziplist (ziplistValidateIntegrity and the pair callback of rdb.c)
    "ziplist zlbytes disagrees with its size": Case(9, key(13, blob(patched(HASH_ZL, 0, b"\x16"))), "header says"),
    "ziplist without its end marker": Case(9, key(13, blob(HASH_ZL[:-1] + b"\x00")), "0xFF"),
    "ziplist tail misses the last entry": Case(9, key(13, blob(patched(HASH_ZL, 4, b"\x0f"))), "tail offset 15"),
    "ziplist prevlen disagrees": Case(9, key(13, blob(patched(HASH_ZL, 13, b"\x05"))), "prevlen says 5"),
    "ziplist invalid entry encoding": Case(9, key(13, blob(patched(HASH_ZL, 11, b"\xc1"))), "invalid encoding"),
    "ziplist entry runs past the end": Case(9, key(13, blob(patched(HASH_ZL, 16, b"\x3f"))), "past the end"),
    "ziplist header counts more than it holds": Case(9, key(13, blob(patched(HASH_ZL, 8, b"\x05"))),
                                                     "header counts 5"),
    "hash ziplist with an odd count": Case(9, key(13, blob(encode_ziplist([b"a", b"1", b"b"]))), "odd number"),
    "hash ziplist repeats a field": Case(9, key(13, blob(encode_ziplist([b"a", b"1", b"a", b"2"]))),
                                         "duplicate hash fields"),
    "hash ziplist repeats a field as integer and text": Case(9, key(13, blob(encode_ziplist([12, b"1", b"12", b"2"]))),
                                                             "duplicate hash fields"),
    "zset ziplist repeats a member": Case(9, key(12, blob(encode_ziplist([b"m", 1, b"m", 2]))),
                                          "duplicate sorted set members"),
    "list ziplist header counts more than it holds": Case(9, key(10, blob(patched(encode_ziplist([b"x"]), 8,
                                                                                  b"\x02"))), "header counts 2"),
    "quicklist node ziplist tail misses the last entry": Case(9, key(14, encode_length(1) + blob(
        patched(encode_ziplist([b"x", b"y"]), 4, b"\x0a"))), "tail offset 10"),
    "quicklist node holds an empty string": Case(9, key(14, encode_length(2) + blob(b"") + blob(
        encode_ziplist([b"x"]))), "shorter than"),
    # listpack (lpValidateIntegrity, lpValidateNext and the callbacks of rdb.c)
    "listpack total bytes disagree with its size": Case(10, key(16, blob(patched(HASH_LP, 0, b"\x12"))),
                                                        "header says"),
    "listpack without its end marker": Case(10, key(16, blob(HASH_LP[:-1] + b"\x00")), "0xFF"),
    "listpack invalid entry encoding": Case(10, key(16, blob(patched(HASH_LP, 6, b"\xf5"))), "invalid encoding"),
    "listpack entry runs past the end": Case(10, key(16, blob(patched(HASH_LP, 6, b"\xbf"))), "past the end"),
    "listpack back-length disagrees": Case(10, key(16, blob(patched(HASH_LP, 8, b"\x05"))), "back-length"),
    "listpack header counts more than it holds": Case(10, key(16, blob(patched(HASH_LP, 4, b"\x05"))),
                                                      "header counts 5"),
    "hash listpack with an odd count": Case(10, key(16, blob(encode_listpack([b"a", b"1", b"b"]))), "odd number"),
    "hash listpack repeats a field": Case(10, key(16, blob(encode_listpack([b"a", b"1", b"a", b"2"]))),
                                          "duplicate hash fields"),
    "zset listpack repeats a member": Case(10, key(17, blob(encode_listpack([b"m", 1, b"m", 2]))),
                                           "duplicate sorted set members"),
    "zset listpack with an odd count": Case(10, key(17, blob(encode_listpack([b"m", 1, b"n"]))), "odd number"),
    "set listpack repeats a member": Case(11, key(20, blob(encode_listpack([b"a", b"a"]))), "duplicate set members"),
    "quicklist node listpack back-length disagrees": Case(10, key(18, quicklist2(
        (2, patched(encode_listpack([b"x"]), 8, b"\x05")))), "back-length"),
    "quicklist node of an unknown container": Case(10, key(18, quicklist2((3, b"x"))), "container"),
    "quicklist PLAIN node holds an empty string": Case(10, key(18, quicklist2((1, b""), (2, encode_listpack([b"x"])))),
                                                       "empty string"),
    "quicklist packed node holds an empty string": Case(10, key(18, quicklist2((2, b""))), "shorter than"),
    "hash with field TTLs out of order": Case(12, ttl_hash((b"a", b"1", FAR_MS + 5), (b"b", b"2", FAR_MS)),
                                              "soonest first"),
    "hash with a field TTL after a field without": Case(12, ttl_hash((b"a", b"1", 0), (b"b", b"2", FAR_MS)),
                                                        "soonest first"),
    "hash with a field TTL that is not an integer": Case(12, ttl_hash((b"a", b"1", b"x")), "not an integer"),
    "hash with a field TTL past 48 bits": Case(12, ttl_hash((b"a", b"1", 1 << 48)), "out of range"),
    "hash table with field TTLs whose minimum TTL is past 2^48": Case(12, key(24, struct.pack("<Q", (1 << 48) + 1) + (
        encode_length(1) + encode_length(0) + encode_string(b"a") + encode_string(b"1"))), "out of range"),
    "Valkey hash with a negative field TTL": Case(80, valkey_hash((b"a", b"1", -2)), "out of range", "VALKEY"),
    "Valkey hash repeats a field": Case(80, valkey_hash((b"a", b"1", -1), (b"a", b"2", -1)), "duplicate hash fields",
                                        "VALKEY"),
    "hash with field TTLs repeats a field": Case(12, ttl_hash((b"a", b"1", 0), (b"a", b"2", 0)),
                                                 "duplicate hash fields"),
    "stream node key stored twice": Case(9, stream((1, 1), (1, 1)), "stored twice"),
    "stream node without entries": Case(9, stream((1, 1), node=[]), "inconsistent"),
    "stream node count is not an integer": Case(9, stream((1, 1), node=[b"x", *NODE[1:]]), "live"),
    "stream master entry not terminated by 0": Case(9, stream((1, 1), node=[*NODE[:4], 1, *NODE[5:]]),
                                                    "not terminated"),
    "stream node counts more entries than it holds": Case(9, stream((1, 1), node=[2, *NODE[1:]]), "live"),
    "stream node holds more entries than it counts": Case(9, stream((1, 1), node=[*NODE, 2, 0, 1, b"w", 4]),
                                                          "live"),
    "stream entry flags are not an integer": Case(9, stream((1, 1), node=[*NODE[:5], b"x", *NODE[6:]]),
                                                  "inconsistent"),
    "stream entry id delta is not an integer": Case(9, stream((1, 1), node=[*NODE[:6], b"x", *NODE[7:]]),
                                                    "inconsistent"),
    "stream entry back-count disagrees": Case(9, stream((1, 1), node=[*NODE[:-1], 5]), "back-count is 5"),
    "stream entry with its own fields, back-count disagrees": Case(9, stream((1, 1), node=[
        *NODE[:5], 0, 0, 0, 1, b"g", b"w", 5]), "back-count is 5"),
    # values stored without a blob (rdb.c's own checks)
    "set repeats a member": Case(9, key(2, pairs(b"a", b"a")), "duplicate set members"),
    "set repeats an integer member": Case(9, key(2, pairs(b"1", b"1")), "duplicate set members"),
    "zset v1 repeats a member": Case(9, key(3, pairs(b"a", b"a", score=b"\x011")), "duplicate sorted set members"),
    "zset v2 repeats a member": Case(9, key(5, pairs(b"a", b"a", score=struct.pack("<d", 1))),
                                     "duplicate sorted set members"),
    "zset v1 score text that is not a number": Case(9, key(3, pairs(b"a", score=b"\x03abc")), "invalid double"),
    "zset v1 with a NaN score": Case(9, key(3, pairs(b"a", score=b"\xfd")), "NaN"),
    "zset v1 with a NaN score text": Case(9, key(3, pairs(b"a", score=b"\x03nan")), "NaN"),
    "zset v2 with a NaN score": Case(9, key(5, pairs(b"a", score=struct.pack("<d", float("nan")))), "NaN"),
    "hash repeats a field": Case(9, key(4, encode_length(2) + b"".join(map(encode_string, (b"f", b"1", b"f", b"2")))),
                                 "duplicate hash fields"),
}

SOUND = {
    "zipmap header counts 254 (unknown)": Case(3, key(9, blob(zipmap([(b"a", b"1"), (b"b", b"2")], 254)))),
    "zipmap with bytes after its end marker": Case(3, key(9, blob(zipmap([(b"a", b"1")], after_end=b"\x00\xff")))),
    "intset wider than its elements need": Case(9, key(11, blob(struct.pack("<II2q", 8, 2, 1, 2)))),
    "ziplist with a 5-byte prevlen of a small entry": Case(9, key(10, blob(raw_ziplist(
        b"\x00\x01a" + b"\xfe\x03\x00\x00\x00\x01b", tail=13, count=2)))),
    "ziplist header counts 65535 (unknown)": Case(9, key(13, blob(patched(HASH_ZL, 8, b"\xff\xff")))),
    "ziplist 32-bit string tag with low bits set": Case(9, key(10, blob(raw_ziplist(
        b"\x00\x81\x00\x00\x00\x01x", tail=10, count=1)))),
    "quicklist with an empty ziplist node whose tail is 0": Case(9, key(14, encode_length(2) + blob(
        encode_ziplist([b"x"])) + blob(raw_ziplist(b"", tail=0, count=0)))),
    "listpack header counts 65535 (unknown)": Case(10, key(16, blob(patched(HASH_LP, 4, b"\xff\xff")))),
    "listpack back-length read back into the entry's data": Case(10, key(18, quicklist2(
        (2, raw_listpack(b"\x81\x00\x82", count=1))))),
    "quicklist with an empty listpack node": Case(10, key(18, quicklist2((2, encode_listpack([])),
                                                                         (2, encode_listpack([b"x"]))))),
    "zset v1 score text with bytes after the number": Case(9, key(3, pairs(b"a", score=b"\x061.5abc"))),
    "zset ziplist score text with bytes after the number": Case(9, key(12, blob(encode_ziplist([b"m", b"1.5abc"])))),
    "zset listpack score text that is not a number": Case(10, key(17, blob(encode_listpack([b"m", b"abc"])))),
    "stream nodes stored out of order": Case(9, stream((2, 1), (1, 1))),
    "stream last id below its last entry": Case(9, stream((5, 0), last=(1, 0))),
    "stream entry with its own fields": Case(9, stream((1, 1), node=[*NODE[:5], 0, 0, 0, 1, b"g", b"w", 6])),
    "hash table with field TTLs whose minimum TTL is 2^48 (none)": Case(12, key(24, struct.pack("<Q", 1 << 48) + (
        encode_length(1) + encode_length(0) + encode_string(b"a") + encode_string(b"1")))),
    "Valkey hash with a field TTL past 48 bits": Case(80, valkey_hash((b"a", b"1", FAR_MS << 14)), magic="VALKEY"),
    "hash with field TTLs first, soonest first": Case(12, ttl_hash((b"a", b"1", FAR_MS), (b"b", b"2", FAR_MS + 5),
                                                                   (b"c", b"3", 0))),
}


def readers(version: int, magic: str = "REDIS") -> list[str]:
    """The servers that load a file of this magic and RDB version (Valkey 9 reads Redis's up to 11)."""
    return [name for name, spec in sorted(SERVERS.items())
            if (magic == spec.magic and version <= spec.rdb_version)
            or (magic == "REDIS" and spec.magic == "VALKEY" and version <= 11)]


def per_server(cases: dict[str, Case]) -> list[tuple[str, str]]:
    return [(case, server) for case in sorted(cases) for server in readers(cases[case].version, cases[case].magic)]


def verify(path, engine: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, RDBTOOL_PURE_PYTHON="1" if engine == "python" else "")
    return subprocess.run([sys.executable, "-m", "rdbtools.cli", "verify", "--format", "json", str(path)],
                          capture_output=True, timeout=PROCESS_TIMEOUT, env=env)


@pytest.mark.parametrize(("case", "server"), per_server(DAMAGED))
def test_every_server_refuses_the_damaged_value(case, server):
    with pytest.raises(ServerRefused) as refused, start_server(server, rdb=DAMAGED[case].file(), extra=SANITIZE):
        pass
    # refused while loading the value, not for a bad option (Redis 6.2 crashes on a NaN score: a refusal too)
    assert "rdb.c" in refused.value.log or refused.value.returncode < 0, refused.value.log


@pytest.mark.parametrize("engine", ["compiled", "python"])
@pytest.mark.parametrize("case", sorted(DAMAGED))
def test_verify_refuses_the_damaged_value_at_its_key(tmp_path, case, engine):
    path = tmp_path / "damaged.rdb"
    path.write_bytes(DAMAGED[case].file())
    result = verify(path, engine)
    assert result.returncode == 1, result.stdout
    problems = orjson.loads(result.stdout)["problems"]
    assert any(p["key"] == "k" and p["offset"] is not None and DAMAGED[case].problem in p["message"]
               for p in problems), problems


@pytest.mark.parametrize(("case", "server"), per_server(SOUND))
def test_every_server_loads_the_sound_variant(case, server):
    with start_server(server, rdb=SOUND[case].file(), extra=SANITIZE) as running:
        assert running.client().exists("k") == 1


@pytest.mark.parametrize("engine", ["compiled", "python"])
@pytest.mark.parametrize("case", sorted(SOUND))
def test_verify_finds_the_sound_variant_sound(tmp_path, case, engine):
    path = tmp_path / "sound.rdb"
    path.write_bytes(SOUND[case].file())
    result = verify(path, engine)
    assert result.returncode == 0, result.stdout
    assert orjson.loads(result.stdout)["verdict"] == "sound"


# score texts every server reads alike (Valkey 9.1 differs from Redis on leading spaces and hex)
SCORE_TEXTS = [b"abc", b"1.5abc", b"1_0", b"1e", b"1\x002", b"-INF", b".5", b"+3"]


@pytest.mark.parametrize("server", readers(9))
def test_score_texts_read_as_every_server_holds_them(tmp_path, server):
    path = tmp_path / "scores.rdb"
    path.write_bytes(rdb_file(select_db(0), *(bytes((12,)) + encode_string(b"z%d" % i) + blob(
        encode_ziplist([b"m", text])) for i, text in enumerate(SCORE_TEXTS)), version=9))
    with open_rdb(path) as rdb:
        read = {record.key: record.value[0][1] for record in rdb.key_records()}
    with start_server(server, rdb=path, extra=SANITIZE) as running:
        held = {name: running.client().zscore(name, b"m") for name in read}
    assert read == held


@pytest.mark.parametrize("server", readers(9))
def test_stream_nodes_stored_out_of_order_read_in_the_order_every_server_holds(tmp_path, server):
    path = tmp_path / "stream.rdb"
    path.write_bytes(SOUND["stream nodes stored out of order"].file())
    with open_rdb(path) as rdb:
        read = [(str(entry.id).encode(), entry.fields) for r in rdb.key_records() if r.key == b"k"
                for entry in r.value.entries]
    with start_server(server, rdb=path, extra=SANITIZE) as running:
        held = [(entry_id, list(fields.items())) for entry_id, fields in running.client().xrange("k")]
    assert read == held


@pytest.mark.parametrize("engine", ["compiled", "python"])
def test_what_no_redis_writes_but_every_server_loads_is_a_warning_strict_fails_on(tmp_path, engine):
    path = tmp_path / "stream.rdb"
    path.write_bytes(SOUND["stream last id below its last entry"].file())
    report = orjson.loads(verify(path, engine).stdout)
    assert report["verdict"] == "sound" and report["problems"] == []
    assert any("last id 1-0 is lower than its last entry 5-0" in w and "key 'k'" in w for w in report["warnings"])
    env = dict(os.environ, RDBTOOL_PURE_PYTHON="1" if engine == "python" else "")
    strict = subprocess.run([sys.executable, "-m", "rdbtools.cli", "verify", "--strict", str(path)],
                            capture_output=True, timeout=PROCESS_TIMEOUT, env=env)
    assert strict.returncode == 1
