"""The report's aggregates, folded one key at a time and merged across files: totals per database, type and
encoding, the top keys and largest elements (heaps of ``top``), the prefix tree, TTLs, thresholds passed.
Nothing grows with the number of keys."""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

from rdbtools.report.measure import KeyFacts
from rdbtools.report.prefixes import PrefixTree

HOUR_MS = 3_600_000
#: a key's TTL bucket: the first whose bound its remaining time is below (expired: at or before "now")
TTL_BUCKETS = (("expired", 1), ("< 1 hour", HOUR_MS), ("< 1 day", 24 * HOUR_MS), ("< 1 week", 7 * 24 * HOUR_MS),
               ("< 30 days", 30 * 24 * HOUR_MS))
NO_TTL, LONGER = "none", ">= 30 days"
TTL_ORDER = (NO_TTL, *(name for name, _ in TTL_BUCKETS), LONGER)

#: (sort key, facts): ties in bytes ordered by file, database, key and place in the file (a file may repeat a
#: key), so any order of arrival (one process or many) keeps the same keys
Ranked = tuple[int, str, int, bytes, int, KeyFacts]


@dataclass(frozen=True, slots=True)
class Options:
    """What the caller chooses about the aggregates."""

    top: int = 20
    separators: tuple[str, ...] = (":",)
    depth: int = 3
    max_prefixes: int = 10_000
    now_ms: int = 0  # TTLs are measured from here


def ttl_bucket(expire_ms: int | None, now_ms: int) -> str:
    if expire_ms is None:
        return NO_TTL
    left = expire_ms - now_ms
    for name, bound in TTL_BUCKETS:
        if left < bound:
            return name
    return LONGER


#: what the totals are kept by: (db, type, encoding, TTL bucket, threshold passed or None); few distinct
Group = tuple[int, str, str, str, str | None]


@dataclass
class Summary:
    options: Options
    keys: int = 0
    bytes: int = 0
    groups: dict[Group, list[int]] = field(default_factory=dict)  # -> [keys, bytes]: one dict update a key
    top_keys: list[Ranked] = field(default_factory=list)
    largest_elements: list[Ranked] = field(default_factory=list)
    prefixes: PrefixTree = field(init=False)

    def __post_init__(self) -> None:
        self.prefixes = PrefixTree(self.options.separators, self.options.depth, self.options.max_prefixes)

    def add(self, facts: KeyFacts, file: str) -> None:
        size, expire = facts.bytes, facts.expire_ms
        self.keys += 1
        self.bytes += size
        group = (facts.db, facts.type, facts.encoding, NO_TTL if expire is None else
                 ttl_bucket(expire, self.options.now_ms), facts.past_threshold)
        counts = self.groups.get(group)
        if counts is None:
            self.groups[group] = [1, size]
        else:
            counts[0] += 1
            counts[1] += size
        top, place = self.options.top, self.keys
        if top:  # (a key smaller than the smallest kept, most of them, makes no tuple)
            if len(self.top_keys) < top or size >= self.top_keys[0][0]:
                _keep(self.top_keys, (size, file, facts.db, facts.key, place, facts), top)
            largest = facts.largest_element
            if len(self.largest_elements) < top or largest >= self.largest_elements[0][0]:
                _keep(self.largest_elements, (largest, file, facts.db, facts.key, place, facts), top)
        self.prefixes.add(facts.key, size)

    def fold_state(self, file: str) -> tuple:
        """What the compiled scan needs to add the keys it measures itself, as ``add`` does (rdb/reader.py's
        ``fold_with``; formats/_speedups.c's fold, ``add``'s twin): the containers it changes in place, the
        rare cases' functions."""
        tree, options = self.prefixes, self.options
        return (self, file, self.groups, self.top_keys, self.largest_elements, tree.nodes, tree.marks, _keep,
                ttl_bucket, tree.add, options.now_ms, NO_TTL, options.top, tree.depth)

    def merge(self, other: Summary) -> None:
        self.keys += other.keys
        self.bytes += other.bytes
        for group, (keys, size) in other.groups.items():
            _count(self.groups, group, keys, size)
        for ranked in other.top_keys:
            _keep(self.top_keys, ranked, self.options.top)
        for ranked in other.largest_elements:
            _keep(self.largest_elements, ranked, self.options.top)
        self.prefixes.merge(other.prefixes)

    def totals(self, by: Callable[[Group], Any]) -> dict[Any, list[int]]:
        """[keys, bytes] by what ``by`` picks of a group (None: not counted)."""
        totals: dict[Any, list[int]] = {}
        for group, (keys, size) in self.groups.items():
            name = by(group)
            if name is not None:
                _count(totals, name, keys, size)
        return totals

    @property
    def dbs(self) -> dict[int, list[int]]:
        return self.totals(itemgetter(0))

    @property
    def types(self) -> dict[str, list[int]]:
        return self.totals(itemgetter(1))

    @property
    def encodings(self) -> dict[tuple[str, str], list[int]]:
        return self.totals(itemgetter(1, 2))

    @property
    def ttls(self) -> dict[str, list[int]]:
        return self.totals(itemgetter(3))

    @property
    def thresholds(self) -> dict[str, list[int]]:
        return self.totals(itemgetter(4))

    @property
    def expires(self) -> dict[int, int]:
        """Keys with a TTL per database (what the expires dicts hold)."""
        return {db: counts[0] for db, counts in self.totals(lambda g: g[0] if g[3] != NO_TTL else None).items()}


def _count(groups: dict, name: object, keys: int, size: int) -> None:
    counts = groups.get(name)
    if counts is None:
        groups[name] = [keys, size]
    else:
        counts[0] += keys
        counts[1] += size


def _keep(heap: list[Ranked], ranked: Ranked, top: int) -> None:
    """Keep the ``top`` greatest in a min-heap."""
    if len(heap) < top:
        heapq.heappush(heap, ranked)
    elif top and ranked > heap[0]:  # (the places differ: facts are never compared)
        heapq.heapreplace(heap, ranked)


def ranked(heap: Iterable[Ranked]) -> list[Ranked]:
    """A heap's entries, greatest first."""
    return sorted(heap, key=lambda entry: entry[:5], reverse=True)
