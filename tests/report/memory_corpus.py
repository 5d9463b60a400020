"""The memory estimate against the real servers: a corpus of every type, encoding and size class, loaded into a
server from the RDB file the server wrote (the report's case: what a file takes once loaded), MEMORY USAGE key
SAMPLES 0 of every key and INFO's dataset, beside keyspace/memory.py's figures for the same keys read from that
file. Shared by tests/report/test_estimate_vs_servers.py and scripts/bench_memory."""

from __future__ import annotations

import random
import statistics
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from rdbtools.keyspace.memory import key_usage, overhead
from rdbtools.keyspace.model import Keyspace
from rdbtools.rdb.model import KeyRecord
from rdbtools.rdb.reader import open_rdb
from rdbtools.rdb.targets import target_for, target_for_version
from tests.servers import SERVERS, start_server

Command = list[str]

#: string lengths across sds headers, embstr's limit and jemalloc's classes
STRING_LENGTHS = (1, 8, 20, 31, 32, 44, 45, 60, 100, 200, 255, 256, 500, 1000, 4000, 10_000, 70_000)


#: the commands that create the corpus's keys (the key is their first argument)
_CREATORS = frozenset({"SET", "RPUSH", "SADD", "HSET", "ZADD", "XADD"})


def corpus(server: str, scale: int = 1, seed: int = 17) -> list[Command]:
    """Commands building keys of every type, encoding and size class the server has (about 100 keys at
    scale 1; ``scale`` copies of each kind), a third of them with a TTL."""
    rng = random.Random(seed)
    commands = [c for copy in range(scale) for c in _kinds(rng, SERVERS[server].field_ttls, f":{copy}")]
    keys = dict.fromkeys(c[1] for c in commands if c[0] in _CREATORS)
    return commands + [["EXPIRE", key, str(100_000 + i)] for i, key in enumerate(keys) if rng.random() < 0.33]


def _text(rng: random.Random, length: int) -> str:
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(length))


def _kinds(rng: random.Random, field_ttls: bool, suffix: str) -> Iterator[Command]:
    """Each kind of key once, its name ending in ``suffix``."""
    for number in ("7", "9999", "10000", "-123456", "12345678901234"):
        yield ["SET", f"int{number}{suffix}", number]
    for length in STRING_LENGTHS:
        yield ["SET", f"str{length}{suffix}", _text(rng, length)]
        yield ["SET", f"key{length}{'k' * min(length, 1000)}{suffix}", _text(rng, length)]
    for size, width in ((5, 5), (100, 8), (200, 40), (1000, 10), (3000, 60), (20, 9000), (10_000, 5)):
        yield ["RPUSH", f"list{size}x{width}{suffix}", *(_text(rng, rng.randint(1, 2 * width)) for _ in range(size))]
    yield ["RPUSH", f"listints{suffix}", *(str(rng.randint(-10**6, 10**6)) for _ in range(2000))]
    for size in (10, 500):
        yield ["SADD", f"intset{size}{suffix}", *(str(rng.randint(-10**9, 10**9)) for _ in range(size))]
    for size, width in ((20, 10), (120, 30), (200, 10), (1000, 20), (5000, 8), (50, 100)):
        yield ["SADD", f"set{size}x{width}{suffix}", *(_text(rng, rng.randint(1, 2 * width)) for _ in range(size))]
    for size, width in ((10, 10), (400, 20), (600, 10), (2000, 30), (50, 100), (1000, 300)):
        values = (x for i in range(size) for x in (f"field{i}", _text(rng, rng.randint(1, 2 * width))))
        yield ["HSET", f"hash{size}x{width}{suffix}", *values]
        if field_ttls and size <= 1000:
            fields = (x for i in range(size) for x in (f"f{i}", _text(rng, width)))
            yield ["HSET", f"ttlhash{size}x{width}{suffix}", *fields]
            yield ["HEXPIRE", f"ttlhash{size}x{width}{suffix}", "100000", "FIELDS", str(size // 2),
                   *(f"f{i}" for i in range(0, size, 2))]
    for size, width in ((10, 10), (100, 20), (200, 10), (1000, 20), (5000, 12), (50, 100)):
        scores = (x for i in range(size) for x in (_score(rng, i), _text(rng, rng.randint(1, 2 * width))))
        yield ["ZADD", f"zset{size}x{width}{suffix}", *scores]
    for size in (5, 20, 60, 120):  # fractional scores: their text in a listpack depends on the writer
        yield ["ZADD", f"zfloat{size}{suffix}", *(x for _ in range(size) for x in (repr(rng.random()), _text(rng, 8)))]
    yield from _stream(rng, f"stream10{suffix}", 10, groups=0)
    yield from _stream(rng, f"stream1000{suffix}", 1000, groups=2)
    yield from _stream(rng, f"stream5000{suffix}", 5000, groups=1)


def _score(rng: random.Random, i: int) -> str:
    return str(i) if i % 3 else repr(rng.random() * 1000)


def _stream(rng: random.Random, key: str, entries: int, groups: int) -> Iterator[Command]:
    """A stream's entries (some with a field more), then groups whose consumers read a tenth each (a PEL)."""
    for i in range(entries):
        yield ["XADD", key, f"{i + 1}-0", "name", _text(rng, 8), "n", str(i), *(["extra", "x"] if i % 7 else [])]
    for g in range(groups):
        yield ["XGROUP", "CREATE", key, f"g{g}", "0"]
        for consumer in range(3):
            yield ["XREADGROUP", "GROUP", f"g{g}", f"c{consumer}", "COUNT", str(entries // 10), "STREAMS", key,
                   ">"]


@dataclass
class Measured:
    """One server's figures for the corpus: per key (type, the server's MEMORY USAGE, the model's), and
    the dataset (used_memory_dataset, the server's per-database overhead, the model's overhead lines)."""

    server: str
    keys: dict[bytes, tuple[str, int, int]] = field(default_factory=dict)
    allocated: int = 0  # the model's keys as allocated (key_usage(allocated=True)) summed
    dataset: int = 0  # the keys' memory by INFO: used_memory_dataset and the tables' overhead, less the same empty
    model_overhead: dict[str, int] = field(default_factory=dict)
    rdb: Path | None = None


#: Valkey's hashtables place elements by a hash seeded at random per start, so a small set's buckets (what
#: MEMORY USAGE counts) differ from start to start; where the server lets the seed be fixed, the measure is the
#: same every run (Valkey 9.1: hash-seed; 8.1 has no such option)
FIXED_HASH_SEED = {"valkey-9.1": ("--hash-seed", "rdbtool")}


def measure(server: str, commands: Iterable[Command], keep_rdb: Path | None = None,
            written_on: str | None = None) -> Measured:
    """Build the corpus on the server (or the one it is ``written_on``), save it, start the server from that file
    and measure."""
    with start_server(written_on or server, extra=FIXED_HASH_SEED.get(written_on or server, ())) as real:
        pipe = real.client().pipeline(transaction=False)
        for command in commands:
            pipe.execute_command(*command)
        pipe.execute()
        rdb = real.save().read_bytes()
    if keep_rdb is not None:
        keep_rdb.write_bytes(rdb)
    return measure_file(server, rdb, keep_rdb)


def measure_file(server: str, rdb: Path | bytes, path: Path | None = None, sample: int = 0,
                 seed: int = 17) -> Measured:
    """Start the server from an RDB file and measure its keys (of database 0; ``sample`` of them at random when
    not 0) and its dataset; the model reads the file the server loaded."""
    measured = Measured(server, rdb=path)
    with start_server(server, rdb=rdb, extra=FIXED_HASH_SEED.get(server, ())) as real:
        client = real.client()
        keys = list(client.scan_iter(count=1000))
        if sample and sample < len(keys):
            keys = random.Random(seed).sample(keys, sample)
        pipe = client.pipeline(transaction=False)
        for key in keys:
            pipe.memory_usage(key, samples=0)
        theirs = dict(zip(keys, pipe.execute(), strict=True))
        measured.dataset = _keys_memory(client)
        client.execute_command("FLUSHALL", "SYNC")  # (Valkey frees lazily by default)
        measured.dataset -= _settled(lambda: _keys_memory(client))
        _model(measured, real.rdb_path, theirs, target_for(server))
    return measured


def _settled(read: Callable[[], int]) -> int:
    """A figure once it stops changing: Redis 8 frees a FLUSHALL's keys in a background thread after replying."""
    last, now = None, read()
    while now != last:
        time.sleep(0.2)
        last, now = now, read()
    return now


def _keys_memory(client) -> int:
    """used_memory_dataset and the databases' tables that MEMORY STATS counts as overhead (their dict entries,
    buckets and the keys' object headers: MEMORY USAGE counts them in a key, INFO's dataset does not)."""
    tables = sum(v for name, figures in client.memory_stats().items()
                 if name.startswith("db.") and isinstance(figures, dict) for v in figures.values())
    return client.info("memory")["used_memory_dataset"] + tables


def _model(measured: Measured, path: Path, theirs: dict[bytes, int], target) -> None:
    """The model's figures, streaming the file: each key of ``theirs`` beside the server's, every key as
    allocated into the dataset, the overhead lines from the keys counted per database."""
    keyspace = Keyspace()  # (one key at a time: a file of millions of keys is read in flat memory)
    counts: dict[int, int] = defaultdict(int)
    expires: dict[int, int] = defaultdict(int)
    with open_rdb(path) as rdb:
        written_by = target_for_version(80 if rdb.header.magic == "VALKEY" else rdb.header.version)
        for record in rdb:
            if not isinstance(record, KeyRecord):
                continue
            keyspace.load(record, target=target)
            entry = keyspace.dbs[record.db].pop(record.key)
            counts[record.db] += 1
            expires[record.db] += entry.expire_ms is not None
            measured.allocated += key_usage(record.key, entry, target, allocated=True, written_by=written_by)
            if record.db == 0 and record.key in theirs:
                usage = key_usage(record.key, entry, target, written_by=written_by)
                measured.keys[record.key] = (entry.type, theirs[record.key], usage)
    measured.model_overhead = overhead(counts.values(), (expires[db] for db in counts), target)


def errors(measured: Measured) -> dict[str, tuple[int, float, float]]:
    """Per type (and "all"): keys, the median and the 95th percentile of |model - server| / server."""
    by_type: dict[str, list[float]] = defaultdict(list)
    for kind, theirs, ours in measured.keys.values():
        error = abs(ours - theirs) / theirs
        by_type[kind.split(":")[0]].append(error)
        by_type["all"].append(error)
    return {kind: (len(e), statistics.median(e), _percentile(e, 95)) for kind, e in sorted(by_type.items())}


def _percentile(values: list[float], percent: int) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(percent / 100 * (len(ordered) - 1)))]


def dataset_error(measured: Measured) -> float:
    """(model - server) / server for the keys' memory: the keys as allocated plus the overhead lines, against
    what INFO and MEMORY STATS say the keys take (what a FLUSHALL frees of them)."""
    ours = measured.allocated + sum(measured.model_overhead.values())
    return (ours - measured.dataset) / measured.dataset
