"""serve's memory, as the target server accounts for it: a start-up figure plus each key's MEMORY USAGE.

Redis's used_memory is what its allocator holds; serve's Python objects say nothing about that, so
serve keeps a model with Redis's figures: the server right after start (``STARTUP``: measured on the
real servers) plus the dataset, each key as MEMORY USAGE estimates it (jemalloc's size classes of the
key's sds, its dict entry, the value's object and allocations, Redis 7.0's layouts) and an expires
entry per key with a TTL. Redis 8 and Valkey 8.1+ lay keys out otherwise: the key (and TTL) in the value's
object, a short string in it too, no dict entries; Redis 8's jemalloc has 8-byte size classes, the Valkey
builds use glibc's malloc, and Valkey's own hashtable holds sets, hashes and sorted sets. Client buffers
are left out (an idle client of Redis 7.0 counts 0 in mem_clients_normal).

With maxmemory 0 nothing is kept: the dataset is summed when INFO or MEMORY STATS asks. With maxmemory
set, each key's figure is kept and the total follows the writes (the keys of what a write propagates,
the keys expiry deletes), so that the check before a command is O(1); eviction is in eviction.py.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Iterator
from itertools import islice

from rdbtools.formats.numbers import canonical_int64

#: used_memory right after start, and used_memory_startup, of each server (INFO memory, measured)
STARTUP: dict[tuple[str, tuple[int, int]], tuple[int, int]] = {
    ("redis", (6, 2)): (938_056, 887_600),
    ("redis", (7, 0)): (964_200, 876_320),
    ("redis", (8, 2)): (766_672, 653_928),
    ("valkey", (9, 1)): (1_090_608, 998_616),
}
DICT_ENTRY = 24  # sizeof(dictEntry): a key's slot in the keyspace, and in the expires dict for a TTL
ROBJ = 16  # sizeof(robj)
DICT = 56  # sizeof(dict) (Redis 7.0)
QUICKLIST, QUICKLIST_NODE = 40, 40  # sizeof(quicklist), sizeof(quicklistNode) (as objectComputeSize counts)
SKIPLIST_HEAD = 16 + 32 + 640  # zset struct, zskiplist, the header node of 32 levels
SKIPLIST_NODE = 51  # a node of 1.33 levels on average (24 bytes + 16 per level, in jemalloc's classes)
SAMPLES = 5  # Redis's OBJ_COMPUTE_SIZE_DEF_SAMPLES: MEMORY USAGE averages this many elements of a big value


def startup(target) -> tuple[int, int]:
    """(used_memory at start, used_memory_startup) of the target, or of the nearest older server measured."""
    family = "valkey" if target.valkey_server else "redis"
    known = sorted(v for f, v in STARTUP if f == family and v <= target.version) or [min(v for f, v in STARTUP
                                                                                         if f == family)]
    return STARTUP[(family, known[-1])]


# --- one key: MEMORY USAGE ----------------------------------------------------------------------------

def allocation(size: int) -> int:
    """jemalloc's size class for an allocation (Redis 7.0's build: 16-byte quantum)."""
    if size <= 8:
        return 8
    if size <= 128:
        return (size + 15) // 16 * 16
    step = 1 << (size.bit_length() - 3)
    return (size + step - 1) // step * step


def fine_allocation(size: int) -> int:
    """jemalloc's size class with an 8-byte quantum (Redis 8's build: 24, 40, 56 are classes too)."""
    if size <= 64:
        return max(8, (size + 7) // 8 * 8)
    return allocation(size)


def libc_allocation(size: int) -> int:
    """glibc's usable size for an allocation (the Valkey builds measured use libc malloc): chunks of 16
    bytes, 8 of them the chunk's header, 24 at least."""
    return max(24, (size + 8 + 15) // 16 * 16 - 8)


Allocator = Callable[[int], int]


def allocator(target) -> Allocator:
    if not target.embedded_keys:
        return allocation
    return libc_allocation if target.valkey_server else fine_allocation


def sds(length: int, alloc: Allocator = allocation) -> int:
    """An sds string's allocation: sdshdr5 below 32 bytes, then 8, 16, 32-bit headers."""
    return alloc(_sds_bytes(length))


def _sds_bytes(length: int) -> int:
    return (1 if length < 32 else 3 if length < 256 else 5 if length < 65536 else 9) + length + 1


def key_usage(key: bytes, entry, target, samples: int = SAMPLES) -> int:
    """MEMORY USAGE: the key's sds, its dict entry, the value; from Redis 8 and Valkey 8 the key lives in the
    value's object (no sds, no dict entry of its own)."""
    if target.embedded_keys:
        return _keyed_object(key, entry, target, samples)
    return sds(len(key)) + DICT_ENTRY + value_usage(entry, target, samples)


def _keyed_object(key: bytes, entry, target, samples: int) -> int:
    """The object that holds the key (a byte for its header's size, its sds), the TTL when it has one, and
    the value: in the object for a short string, else behind its pointer."""
    alloc = allocator(target)
    head = ROBJ + (8 if entry.expire_ms is not None else 0) + 1 + _sds_bytes(len(key))
    value = entry.value
    if entry.type == "string":
        if len(value) <= 20 and canonical_int64(value) is not None:
            return alloc(head)  # the number in the object's pointer
        embedded = _embedded_string(len(key), len(value), head, entry.expire_ms is not None, target)
        if embedded:
            return alloc(embedded)
        return alloc(head) + sds(len(value), alloc)
    return alloc(head) + value_usage(entry, target, samples) - ROBJ


def _embedded_string(key_length: int, length: int, head: int, expires: bool, target) -> int:
    """The object's size with the string in it, 0 when the string gets an allocation of its own. Redis 8 and
    Valkey 8 embed it when key and value are 41 bytes at most; with a TTL (8 bytes more) Redis when they are 33
    at most or the object's allocation without the TTL has room for it, Valkey 8 while the object stays
    within 72 bytes. Valkey 9 embeds it while the object (but its TTL) stays within 128 bytes (its header is then 8
    bytes, without the pointer)."""
    size = head + 3 + length + 1  # an sdshdr8 always
    ttl = 8 if expires else 0
    if target.valkey_server and target.version >= (9, 0):
        return max(size - 8, head) if size - 8 - ttl <= 128 else 0
    if key_length + length > 41:
        return 0
    if target.valkey_server:
        return size if size <= 72 else 0
    fits = key_length + length + ttl <= 41 or size <= fine_allocation(size - ttl)
    return size if fits else 0


def value_usage(entry, target, samples: int = SAMPLES) -> int:
    """The value's object and allocations, as Redis's objectComputeSize estimates them (a big value from
    ``samples`` of its elements)."""
    value, kind, alloc = entry.value, entry.type, allocator(target)
    if kind == "string":
        return _string(value)
    if kind == "list":
        if encoding_of(entry, target) == "listpack":
            return ROBJ + alloc(listpack_bytes(value))
        return ROBJ + QUICKLIST + _quicklist_nodes(value, target, samples, alloc)
    if kind == "stream":
        return _stream(value)
    if kind not in ("set", "hash", "zset"):
        return ROBJ + 64
    encoding = encoding_of(entry, target)
    if encoding == "intset":
        return ROBJ + alloc(8 + _intset_width(value) * len(value))
    if encoding in ("listpack", "listpackex", "ziplist"):
        items = value if kind == "set" else _pairs(value, kind)
        return ROBJ + alloc(listpack_bytes(items))
    if target.embedded_keys and target.valkey_server:
        return ROBJ + _valkey_hashtable(value, kind, samples, target)
    return ROBJ + _hashtable(value, kind, samples, alloc)


def encoding_of(entry, target) -> str:
    from rdbtools.server.commands import encoding_of as encoding

    return encoding(entry, target)


def _string(value: bytes) -> int:
    if len(value) <= 20 and canonical_int64(value) is not None:
        return ROBJ  # OBJ_ENCODING_INT: the number in the object's pointer
    if len(value) <= 44:
        return allocation(ROBJ + 3 + len(value) + 1)  # embstr: object and sdshdr8 in one allocation
    return ROBJ + sds(len(value))


def _pairs(value, kind: str) -> Iterator[bytes]:
    for field, other in value.items():
        yield field
        yield other if kind == "hash" else _score_text(other)


def _score_text(score: float) -> bytes:
    """A zset score as a listpack holds it: an integer when it is one, else Redis's %.17g text."""
    if score.is_integer() and abs(score) < 2**63:  # (not int(score): a score may be inf)
        return b"%d" % int(score)
    return b"%.17g" % score


def _intset_width(value) -> int:
    numbers = [int(m) for m in value]
    low, high = min(numbers, default=0), max(numbers, default=0)
    if low >= -(2**15) and high < 2**15:
        return 2
    return 4 if low >= -(2**31) and high < 2**31 else 8


def listpack_entry(element: bytes) -> int:
    """One listpack entry: its encoding (an integer's, or a string's length header), data and back-length."""
    number = canonical_int64(element) if len(element) <= 20 else None
    if number is not None:
        size = (1 if 0 <= number < 128 else 2 if -4096 <= number < 4096 else 3 if -(2**15) <= number < 2**15
                else 4 if -(2**23) <= number < 2**23 else 5 if -(2**31) <= number < 2**31 else 9)
    else:
        size = len(element) + (1 if len(element) < 64 else 2 if len(element) < 4096 else 5)
    return size + (1 if size < 128 else 2 if size < 16384 else 3)


def listpack_bytes(elements: Iterable[bytes]) -> int:
    return 7 + sum(listpack_entry(e) for e in elements)


def _quicklist_nodes(value, target, samples: int, alloc: Allocator = allocation) -> int:
    """The nodes of a quicklist (listpacks of up to list-max-listpack-size bytes or entries): the first
    ``samples`` packed as Redis packs them, their mean times the number of nodes that many elements make (Redis
    8: their mean per element times the elements)."""
    limit, most = target.list_max_listpack_bytes, target.list_max_listpack_count or len(value)
    nodes, packed, used = [], 0, 7
    for element in value:
        entry = listpack_entry(element)
        if packed and (used + entry > limit or packed >= most):
            nodes.append((packed, used))
            if len(nodes) == samples:
                break
            packed, used = 0, 7
        packed, used = packed + 1, used + entry
    else:
        if packed:
            nodes.append((packed, used))
    if not nodes:
        return 0
    size = sum(QUICKLIST_NODE + alloc(used) for _, used in nodes)
    elements = sum(count for count, _ in nodes)
    if elements >= len(value):
        return size
    if target.embedded_keys and not target.valkey_server:  # Redis 8: the sampled nodes' mean per element
        return int(size / elements * len(value))
    count = -(-len(value) * len(nodes) // elements)  # the nodes all elements make, at the sampled density
    return size * count // len(nodes)


def _hashtable(value, kind: str, samples: int, alloc: Allocator = allocation) -> int:
    """A dict: its struct and bucket array, and the mean of the first ``samples`` elements times their count."""
    slots = 4
    while slots < len(value):
        slots *= 2
    first = list(islice(value.items() if kind != "set" else ((m, None) for m in value), 0, samples))
    if not first:
        return DICT + 8 * slots
    if kind == "set":
        each = sum(DICT_ENTRY + sds(len(m), alloc) for m, _ in first)
    elif kind == "hash":
        each = sum(DICT_ENTRY + sds(len(f), alloc) + sds(len(v), alloc) for f, v in first)
    else:
        each = sum(DICT_ENTRY + sds(len(m), alloc) + SKIPLIST_NODE for m, _ in first)
    base = DICT + 8 * slots + (SKIPLIST_HEAD if kind == "zset" else 0)
    return base + each * len(value) // len(first)


VALKEY_SLOT = 17  # Valkey 8.1+'s hashtable: 64-byte buckets of 7 slots, about this much a slot in use
#: a Valkey sorted set's skiplist node (its levels on average), without its member's sds: 8.1, 9.0+
VALKEY_ZSET_NODE = {(8, 1): 64, (9, 0): 48}


def _valkey_hashtable(value, kind: str, samples: int, target) -> int:
    """Valkey 8.1+'s hashtable (no dict entries: the elements in cache-line buckets): a slot per element, and
    the mean of the first ``samples`` elements' allocations (a set's sds, a hash's entry holding field and
    value, a sorted set's skiplist node holding its member) times their count. An estimate: which bucket an
    element lands in follows a hash seeded at random."""
    items = list(islice(value.items() if kind != "set" else ((m, None) for m in value), 0, samples))
    if not items:
        return 0
    if kind == "set":
        each = sum(libc_allocation(_sds_bytes(len(m))) for m, _ in items)
    elif kind == "hash":
        each = sum(libc_allocation(_sds_bytes(len(f)) + _sds_bytes(len(v)) + 8) for f, v in items)
    else:
        node = VALKEY_ZSET_NODE[(9, 0) if target.version >= (9, 0) else (8, 1)]
        each = sum(node + _sds_bytes(len(m)) for m, _ in items)
    return (each * len(value) // len(items)) + VALKEY_SLOT * len(value)


def _stream(value) -> int:
    """A stream: its radix tree of listpack nodes of up to 100 entries, allocated 4 KB at a time."""
    entries = getattr(value, "entries", None) or []
    nodes = max((len(entries) + 99) // 100, sum(len(f) + len(v) + 4 for e in entries for f, v in e.fields) // 4096)
    return 128 + max(nodes, 1) * 4608 + 256 * len(value.groups)


# --- the dataset --------------------------------------------------------------------------------------

def in_dataset(key: bytes, entry, target) -> int:
    """What a key adds to used_memory: its MEMORY USAGE, and its expires entry when it has a TTL (Redis 8 and
    Valkey 8 keep only the object's pointer there, in the table's buckets)."""
    entry_of_ttl = DICT_ENTRY if entry.expire_ms is not None and not target.embedded_keys else 0
    return key_usage(key, entry, target) + entry_of_ttl


_MAX_LOAD = 1.618  # Redis's HASHTABLE_MAX_LOAD_FACTOR: past it a table grows whatever the memory


def table_size(count: int) -> int:
    """A dict's buckets for ``count`` keys: a power of two, at least 4, 0 when empty (Redis's _dictNextExp)."""
    return 0 if not count else max(4, 1 << (count - 1).bit_length())


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

    def changed(self, server, db: int, done: list[list[bytes]]) -> None:
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


def _touched(server, db: int, command: list[bytes]) -> list[tuple[int, bytes]] | None:
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
