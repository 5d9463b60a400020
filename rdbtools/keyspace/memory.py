"""Each key's memory as the target server accounts for it: MEMORY USAGE's estimate, and its part in used_memory.

Redis's objectComputeSize sums a key's allocations as its allocator sizes them: jemalloc's size classes of
the key's sds, its dict entry, the value's object and allocations, in Redis 7.0's layouts. Redis 8 and
Valkey 8.1+ lay keys out otherwise: the key (and TTL) in the value's object, a short string in it too, no dict
entries; Redis 8's jemalloc has 8-byte size classes, the Valkey builds use glibc's malloc, and Valkey's own
hashtable holds sets, hashes and sorted sets. serve's MEMORY USAGE and maxmemory (server/memory.py) and the
report read the same figures from here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from itertools import islice

from rdbtools.formats.numbers import canonical_int64

DICT_ENTRY = 24  # sizeof(dictEntry): a key's slot in the keyspace, and in the expires dict for a TTL
ROBJ = 16  # sizeof(robj)
DICT = 56  # sizeof(dict) (Redis 7.0)
QUICKLIST, QUICKLIST_NODE = 40, 40  # sizeof(quicklist), sizeof(quicklistNode) (as objectComputeSize counts)
SKIPLIST_HEAD = 16 + 32 + 640  # zset struct, zskiplist, the header node of 32 levels
SKIPLIST_NODE = 51  # a node of 1.33 levels on average (24 bytes + 16 per level, in jemalloc's classes)
SAMPLES = 5  # Redis's OBJ_COMPUTE_SIZE_DEF_SAMPLES: MEMORY USAGE averages this many elements of a big value


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


def table_size(count: int) -> int:
    """A dict's buckets for ``count`` keys: a power of two, at least 4, 0 when empty (Redis's _dictNextExp)."""
    return 0 if not count else max(4, 1 << (count - 1).bit_length())

