"""serve's memory, as the target server accounts for it: a start-up figure plus each key's MEMORY USAGE.

Redis's used_memory is what its allocator holds; serve's Python objects say nothing about that, so
serve keeps a model with Redis's figures: the server right after start (``STARTUP``: measured on the
real servers) plus the dataset, each key as keyspace/memory.py estimates it and an expires entry per key
with a TTL. Client buffers are left out (an idle client of Redis 7.0 counts 0 in mem_clients_normal).

With maxmemory 0 nothing is kept: the dataset is summed when INFO or MEMORY STATS asks. With maxmemory
set, each key's figure is kept and the total follows the writes (the keys of what a write propagates,
the keys expiry deletes), so that the check before a command is O(1); eviction is in eviction.py.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from itertools import islice
from typing import TYPE_CHECKING

from rdbtools.keyspace.memory import SAMPLES, in_dataset, key_usage, table_size

__all__ = ["SAMPLES", "Memory", "key_usage", "startup", "table_size"]

if TYPE_CHECKING:
    from rdbtools.server.core import Server

#: used_memory right after start, and used_memory_startup, of each server (INFO memory, measured)
STARTUP: dict[tuple[str, tuple[int, int]], tuple[int, int]] = {
    ("redis", (6, 2)): (938_056, 887_600),
    ("redis", (7, 0)): (964_200, 876_320),
    ("redis", (8, 2)): (766_672, 653_928),
    ("valkey", (9, 1)): (1_090_608, 998_616),
}


def startup(target) -> tuple[int, int]:
    """(used_memory at start, used_memory_startup) of the target, or of the nearest older server measured."""
    family = "valkey" if target.valkey_server else "redis"
    known = sorted(v for f, v in STARTUP if f == family and v <= target.version) or [min(v for f, v in STARTUP
                                                                                         if f == family)]
    return STARTUP[(family, known[-1])]


_MAX_LOAD = 1.618  # Redis's HASHTABLE_MAX_LOAD_FACTOR: past it a table grows whatever the memory


EXACT_UP_TO = 50_000  # keys per database summed one by one when no limit keeps the figures
_SAMPLED = 10_000  # else about this many, evenly spaced


def _summed(keys: dict, target) -> int:
    """A database's keys in used_memory: all of them, or a sample's mean times their number."""
    if len(keys) <= EXACT_UP_TO:
        return sum(in_dataset(key, entry, target) for key, entry in keys.items())
    sample = list(islice(keys.items(), 0, None, _prime_from(len(keys) // _SAMPLED)))
    return sum(in_dataset(key, entry, target) for key, entry in sample) * len(keys) // len(sample)


def _prime_from(number: int) -> int:
    """The first prime from ``number``: a sampling step no periodic pattern of the keys lines up with."""
    while any(number % d == 0 for d in range(2, int(number**0.5) + 1)):
        number += 1
    return number


class Memory:
    """maxmemory's state: the limit and policy (from the configuration), and while a limit is set each
    key's figure, the total, the keys with a TTL (what volatile-* policies sample) and Redis's pool of
    eviction candidates."""

    def __init__(self, target) -> None:
        self.target = target
        self.startup = startup(target)
        self.limit = 0  # maxmemory; 0: nothing kept
        self.policy = "noeviction"
        self.samples = 5
        self.time_limit = 0.0005  # seconds one eviction may take (maxmemory-eviction-tenacity, eviction.py)
        self.evicting = False  # eviction goes on at the event loop's next turn
        self.clients_limit = 0  # maxmemory-clients in bytes (client_eviction.py); 0: none
        #: the bytes a client has sent and not had run plus the replies it has not read (the app knows)
        self.client_buffers: Callable[[object], int] = lambda client: 0
        self.unlink = False  # lazyfree-lazy-eviction: an eviction propagates as UNLINK
        self.refuses_queueing = True  # OOM refuses whatever MULTI would queue (before Redis 7.4, not Valkey)
        self.sizes: dict[int, dict[bytes, int]] = {}
        self.volatile: dict[int, dict[bytes, None]] = {}
        self.tables: dict[int, int] = {}  # each database's table size (buckets), kept while a limit is set
        self.count = 0  # the keys the sizes hold (a key added or removed behind the writes' back resyncs)
        self.total = 0
        self.peak = 0
        self.pool: list[tuple[float, int, bytes]] = []  # candidates, best last (Redis's EvictionPoolLRU)
        self.next_db = 0
        self.rng = random.Random()  # sampling (tests may seed it)
        self.out_of_memory = False  # at the start of the command being run (Redis's pre_command_oom_state)

    def dataset(self, keyspace) -> int:
        """The keys' part of used_memory: kept while a limit is set, else summed now (INFO stays cheap on a
        big keyspace: past EXACT_UP_TO keys per database, a sample of evenly spaced keys stands for the rest)."""
        if self.limit:
            return self.total
        return sum(_summed(keys, self.target) for keys in keyspace.dbs.values())

    def used(self, keyspace) -> int:
        used = self.startup[0] + self.buckets(keyspace) + self.dataset(keyspace)
        self.peak = max(self.peak, used)
        return used

    def resync(self, keyspace) -> None:
        """Every key's figure again (a limit was set, or keys came or went outside the writes)."""
        self.sizes, self.volatile, self.tables, self.total, self.count = {}, {}, {}, 0, 0
        self.pool.clear()
        if not self.limit:
            return
        for db, keys in keyspace.dbs.items():
            for key in keys:
                self.update(keyspace, db, key)
            self.tables[db] = table_size(len(keys))

    def update(self, keyspace, db: int, key: bytes) -> None:
        """One key changed (or went): its figure again."""
        sizes = self.sizes.get(db)
        if sizes is None:
            sizes = self.sizes[db] = {}
            self.volatile[db] = {}
        old = sizes.pop(key, None)
        if old is not None:
            self.total -= old
            self.count -= 1
        keys = keyspace.dbs.get(db)
        entry = None if keys is None else keys.get(key)
        if entry is None:
            self.volatile[db].pop(key, None)
            self._resize(db, len(sizes))
            return
        size = sizes[key] = in_dataset(key, entry, self.target)
        self.total += size
        self.count += 1
        if old is None:
            self._resize(db, len(sizes))
        if entry.expire_ms is None:
            self.volatile[db].pop(key, None)
        else:
            self.volatile[db][key] = None

    def _resize(self, db: int, count: int) -> None:
        """A database's table after a key came or went: it doubles when full, unless the new table would
        take used memory past maxmemory while the load is still under 1.618 (Redis's dictExpandAllowed),
        and halves below 10% full (the cron's resize)."""
        size = self.tables.get(db, 0)
        wanted = table_size(count)
        if wanted > size:
            over = self.startup[0] + self.total + self.buckets(None) + 8 * wanted > self.limit
            if size and count / size <= _MAX_LOAD and over:
                return
        elif not (size > 4 and count * 10 < size):
            return
        self.tables[db] = wanted

    def buckets(self, keyspace) -> int:
        """The keyspace tables' bucket arrays (8 bytes a bucket): kept while a limit is set, else each
        database's as its key count makes it."""
        if self.limit:
            return 8 * sum(self.tables.values())
        return 8 * sum(table_size(len(keys)) for keys in keyspace.dbs.values())

    def in_step(self, keyspace) -> bool:
        """Whether the kept figures still hold the keyspace's keys (a count per database: O(databases))."""
        return self.count == sum(map(len, keyspace.dbs.values()))

    def changed(self, server: Server, db: int, done: list[list[bytes]]) -> None:
        """A write propagated ``done``: the keys those commands name (in their databases) again; a flush
        or SWAPDB, everything."""
        keyspace = server.engine.keyspace
        for command in done:
            touched = _touched(server, db, command)
            if touched is None:
                self.resync(keyspace)
                return
            for where, key in touched:
                self.update(keyspace, where, key)


def _touched(server: Server, db: int, command: list[bytes]) -> list[tuple[int, bytes]] | None:
    """The (database, key) pairs a propagated command changes; None for all (FLUSHALL, FLUSHDB, SWAPDB)."""
    from rdbtools.server.core import _written_keys
    from rdbtools.server.introspection import written_keys

    name = command[0].lower()
    if _SINGLE_KEY.get(name):
        return [(db, command[1])]
    if name in (b"flushall", b"flushdb", b"swapdb"):
        return None
    if name == b"move":
        return [(db, command[1]), (int(command[2]), command[1])]
    if name == b"copy":
        upper = [a.upper() for a in command]
        target = int(command[upper.index(b"DB") + 1]) if b"DB" in upper[3:] else db
        return [(target, command[2])]
    spec = server.resolve(command)
    keys = None if spec is None else written_keys(spec, command)
    if name not in _SINGLE_KEY and spec is not None and spec.name == name:  # (not a container's subcommand)
        _SINGLE_KEY[name] = _writes_its_first_argument(spec)
    return [(db, key) for key in (_written_keys(name, command) if keys is None else keys)]


#: by propagated command: whether the key it writes is always its first argument (SET, HSET, DEL of one key
#: is not: DEL takes several), found once from its key specs
_SINGLE_KEY: dict[bytes, bool] = {}


def _writes_its_first_argument(spec) -> bool:
    specs = spec.key_specs
    return (len(specs) == 1 and specs[0].begin == "index" and specs[0].index == 1 and specs[0].find == "range"
            and specs[0].lastkey == 0)
