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
    grow and shrink with them). ``preallocated``: the tail node an append created, whose listpack Redis
    allocates stream-node-max-bytes (4 KB at most) ahead and shrinks to fit once the next node starts (a
    loaded node is allocated to fit)."""

    master_id: StreamId
    fields: list[bytes]
    base: int
    live: int = 0
    deleted: int = 0
    last_id: StreamId = _ZERO
    preallocated: bool = False

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
        if nodes:
            nodes[-1].preallocated = False  # (lpShrinkToFit)
        tail = Node(entry.id, names, 7 + int_size(len(names)) + sum(map(value_size, names)) + int_size(0),
                    preallocated=True)
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
    """The nodes appending these entries one by one would make (allocated to fit, as a loaded stream's)."""
    nodes: list[Node] = []
    for entry in entries:
        append(nodes, entry, max_entries, max_bytes)
    if nodes:
        nodes[-1].preallocated = False
    return nodes


def radix_tree_nodes(nodes: list[Node]) -> int:
    """How many nodes Redis's radix tree holds for these listpacks (XINFO STREAM's radix-tree-nodes), keyed by
    their master ids."""
    return len(radix_tree_node_sizes([id_key(node.master_id) for node in nodes]))


def id_key(stream_id: StreamId) -> bytes:
    """A stream ID as Redis's radix trees hold it: 128 bits, big-endian."""
    return stream_id.ms.to_bytes(8, "big") + stream_id.seq.to_bytes(8, "big")


def radix_tree_node_sizes(keys: list[bytes]) -> list[int]:
    """The bytes of each node of a radix tree (rax) holding these keys of one length: a shared run of bytes is
    one node, each branching point one, each key's end one (the tree of no keys: its root)."""
    return _node_sizes(sorted(keys), 0) if keys else [_node_size(0, 0)]


def _node_sizes(keys: list[bytes], depth: int) -> list[int]:
    """The node below a prefix of ``depth`` bytes (a leaf holding the key's value, a compressed run the keys
    share, or a branch with a byte and a pointer a child), and those below it."""
    first, last = keys[0], keys[-1]  # sorted: the common prefix of all is that of the first and the last
    if depth == len(first):
        return [_node_size(0, 0, value=True)]
    shared = depth
    while shared < len(first) and first[shared] == last[shared]:
        shared += 1
    if shared > depth:
        return [_node_size(shared - depth, 1), *_node_sizes(keys, shared)]
    below, children, start = [], 0, 0
    for i in range(1, len(keys) + 1):
        if i == len(keys) or keys[i][depth] != keys[start][depth]:
            below += _node_sizes(keys[start:i], depth + 1)
            children, start = children + 1, i
    return [_node_size(children, children), *below]


def _node_size(chars: int, children: int, value: bool = False) -> int:
    """A raxNode: a 4-byte header, its bytes padded to a pointer's alignment, child pointers, a value pointer."""
    return 4 + chars + (8 - (chars + 4) % 8) % 8 + 8 * children + (8 if value else 0)
