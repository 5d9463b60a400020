"""Where Redis splits a stream into radix-tree nodes (listpacks): an append goes into the tail node unless
that node is full by stream-node-max-entries (its entries, deleted ones too) or stream-node-max-bytes (its
listpack's bytes plus the new entry's fields and values); a node only shrinks by trimming. Serve keeps these
nodes so that approximate trims remove what Redis removes; the RDB writer splits streams the same way."""

from __future__ import annotations

from dataclasses import dataclass

from rdbtools.formats.listpack import backlen_width
from rdbtools.formats.numbers import canonical_int64
from rdbtools.rdb.model import StreamEntry, StreamId

LISTPACK_MAX_SIZE = 1 << 30  # STREAM_LISTPACK_MAX_SIZE: the node size used when stream-node-max-bytes is 0
_UINT64_MAX = (1 << 64) - 1
_INT64_SIGN = 1 << 63
_ZERO = StreamId(0, 0)


@dataclass(slots=True)
class Node:
    """One of Redis's listpacks: its master entry's id and fields, its live and deleted (flagged) entries,
    the id of its last entry (deleted or not) and its bytes besides the two counters (whose encodings
    grow and shrink with them)."""

    master_id: StreamId
    fields: list[bytes]
    base: int
    live: int = 0
    deleted: int = 0
    last_id: StreamId = _ZERO

    @property
    def size(self) -> int:
        """lpBytes: what stream-node-max-bytes is held against."""
        return self.base + int_size(self.live) + int_size(self.deleted)


def int_size(value: int) -> int:
    """An integer entry's bytes in a listpack (its encoding and a one-byte backlen)."""
    if 0 <= value <= 127:
        return 2
    if -4096 <= value <= 4095:
        return 3
    if -32768 <= value <= 32767:
        return 4
    if -8388608 <= value <= 8388607:
        return 5
    return 6 if -2147483648 <= value <= 2147483647 else 10


def value_size(value: bytes) -> int:
    """A string entry's bytes (a string that reads as an int64 is stored as that integer)."""
    size = len(value)
    if 0 < size <= 20 and value[0] in _INT_FIRST:
        number = canonical_int64(value)
        if number is not None:
            return int_size(number)
    if size < 64:
        return size + 2  # a one-byte header, a one-byte backlen
    body = size + (2 if size < 4096 else 5)
    return body + backlen_width(body)


_INT_FIRST = frozenset(b"-0123456789")


def id_delta(value: int, base: int) -> int:
    """An id part less the master's, as the int64 Redis stores (the uint64 difference, wrapped)."""
    difference = value - base
    if 0 <= difference < _INT64_SIGN:
        return difference
    difference &= _UINT64_MAX
    return difference - (1 << 64) if difference & _INT64_SIGN else difference


def id_part(base: int, delta: int) -> int:
    """The master's id part plus a stored delta, in uint64 arithmetic as Redis adds them (id_delta's inverse)."""
    return (base + delta) & _UINT64_MAX


def append(nodes: list[Node], entry: StreamEntry, max_entries: int, max_bytes: int) -> None:
    """streamAppendItem: into the tail node unless it is full; a new node's master entry takes this
    entry's fields, and entries with the same fields store their values only."""
    pairs = entry.fields
    tail = nodes[-1] if nodes else None
    if tail is not None:
        max_bytes = LISTPACK_MAX_SIZE if max_bytes == 0 or max_bytes > LISTPACK_MAX_SIZE else max_bytes
        if tail.size + sum([len(f) + len(v) for f, v in pairs]) >= max_bytes or (
                max_entries and tail.live + tail.deleted >= max_entries):
            tail = None
    names = [f for f, _ in pairs]
    if tail is None:  # header and end, the master entry's field count, fields and terminator
        tail = Node(entry.id, names, 7 + int_size(len(names)) + sum(map(value_size, names)) + int_size(0))
        nodes.append(tail)
    size = int_size(id_delta(entry.id.ms, tail.master_id.ms)) + int_size(id_delta(entry.id.seq, tail.master_id.seq)) \
        + sum([value_size(v) for _, v in pairs])
    if names == tail.fields:  # flags, the values, lp-count
        size += 2 + int_size(len(pairs) + 3)
    else:  # flags, field count, fields and values, lp-count
        size += 2 + int_size(len(pairs)) + sum(map(value_size, names)) + int_size(2 * len(pairs) + 4)
    tail.base += size
    tail.live += 1
    tail.last_id = entry.id


def build(entries: list[StreamEntry], max_entries: int, max_bytes: int) -> list[Node]:
    """The nodes appending these entries one by one would make."""
    nodes: list[Node] = []
    for entry in entries:
        append(nodes, entry, max_entries, max_bytes)
    return nodes


def radix_tree_nodes(nodes: list[Node]) -> int:
    """How many nodes Redis's radix tree holds for these listpacks (XINFO STREAM's radix-tree-nodes): keyed by
    the master ids as 16 big-endian bytes, a shared run of bytes is one node, each branching point one, each
    key's end one."""
    keys = sorted(m.ms.to_bytes(8, "big") + m.seq.to_bytes(8, "big") for m in (n.master_id for n in nodes))
    return _tree_nodes(keys, 0) if keys else 1


def _tree_nodes(keys: list[bytes], depth: int) -> int:
    first, last = keys[0], keys[-1]  # sorted: the common prefix of all is that of the first and the last
    end = depth
    while end < 16 and first[end] == last[end]:
        end += 1
    count = 1 if end > depth else 0  # the run of shared bytes
    if end == 16:
        return count + 1  # the key's end
    groups: dict[int, list[bytes]] = {}
    for key in keys:
        groups.setdefault(key[end], []).append(key)
    return count + 1 + sum(_tree_nodes(group, end + 1) for group in groups.values())
