"""Key prefixes (``user:``, ``user:42:``) and the keys and bytes under each, in a tree of bounded size.

A key counts under each of its prefixes down to ``depth`` separators. Once the tree holds ``limit`` prefixes a
new one is counted in its parent's "other" bucket instead (deeper ones then not at all), so memory stays flat
whatever the file; a prefix's numbers always include everything under it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

ROOT = b""  # the parent of the first level's prefixes


@dataclass(slots=True)
class Node:
    parent: bytes
    depth: int
    keys: int
    bytes: int


@dataclass(frozen=True, slots=True)
class PrefixRow:
    """A prefix, or (``other``) what its parent holds under prefixes the tree had no room for."""

    prefix: bytes  # for an "other" row: the parent's prefix
    depth: int
    keys: int
    bytes: int
    other: bool = False


class PrefixTree:
    def __init__(self, separators: Iterable[str] = (":",), depth: int = 3, limit: int = 10_000) -> None:
        marks = sorted({s.encode() for s in separators}, key=len, reverse=True)
        if not marks or not all(marks):
            raise ValueError("a separator cannot be empty")
        self.marks = tuple(marks)  # (the longest first: what the pattern tries first at each place)
        self.pattern = re.compile(b"|".join(map(re.escape, marks)))
        self.depth, self.limit = depth, limit
        self.nodes: dict[bytes, Node] = {}
        self.others: dict[bytes, list[int]] = {}  # parent prefix -> [keys, bytes]

    def add(self, key: bytes, size: int) -> None:
        """Count the key under each of its prefixes, shortest first, each ending with its separator."""
        parent, nodes = ROOT, self.nodes
        for level, match in enumerate(self.pattern.finditer(key) if self.depth > 0 else (), 1):
            prefix = key[:match.end()]
            node = nodes.get(prefix)
            if node is not None:  # (the common case, without a call)
                node.keys += 1
                node.bytes += size
            elif not self._count(prefix, level, parent, 1, size):
                return
            if level == self.depth:
                return
            parent = prefix

    def _count(self, prefix: bytes, depth: int, parent: bytes, keys: int, size: int) -> bool:
        """Add to the prefix's node; False when it has none (counted in the parent's other bucket)."""
        node = self.nodes.get(prefix)
        if node is None:
            if len(self.nodes) >= self.limit:
                other = self.others.setdefault(parent, [0, 0])
                other[0] += keys
                other[1] += size
                return False
            node = self.nodes[prefix] = Node(parent, depth, 0, 0)
        node.keys += keys
        node.bytes += size
        return True

    def merge(self, tree: PrefixTree) -> None:
        """Another file's tree into this one, parents first: what has no room goes to the parent's other
        bucket; under a parent with no node of its own it is already counted in an ancestor's."""
        for prefix, node in sorted(tree.nodes.items(), key=lambda item: item[1].depth):
            if node.parent == ROOT or node.parent in self.nodes:
                self._count(prefix, node.depth, node.parent, node.keys, node.bytes)
        for parent, (keys, size) in tree.others.items():
            if parent == ROOT or parent in self.nodes:
                other = self.others.setdefault(parent, [0, 0])
                other[0] += keys
                other[1] += size

    def tree(self, keys: int, size: int, label: Callable[[bytes], Any]) -> dict[str, Any]:
        """The prefixes nested under a root of ``keys`` and ``size`` (the whole file's), each with its children
        (an "other" bucket among them), the most bytes first, named by ``label``: what the HTML page draws."""
        root = _branch(label(ROOT), keys, size)
        made = {ROOT: root}
        for prefix, node in sorted(self.nodes.items(), key=lambda item: (item[1].depth, -item[1].bytes, item[0])):
            made[prefix] = _branch(label(prefix), node.keys, node.bytes)
            made[node.parent]["children"].append(made[prefix])
        for parent, (count, total) in sorted(self.others.items()):
            made[parent]["children"].append(_branch(label(parent), count, total, other=True))
        return root

    def rows(self) -> list[PrefixRow]:
        """Every prefix and other bucket, the most bytes first (ties by prefix)."""
        rows = [PrefixRow(p, n.depth, n.keys, n.bytes) for p, n in self.nodes.items()]
        rows += [PrefixRow(p, self.nodes[p].depth + 1 if p else 1, keys, size, True)
                 for p, (keys, size) in self.others.items()]
        return sorted(rows, key=lambda row: (-row.bytes, row.prefix, row.other))


def _branch(name: Any, keys: int, size: int, other: bool = False) -> dict[str, Any]:
    return {"name": name, "keys": keys, "bytes": size, "other": other, "children": []}
