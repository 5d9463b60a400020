"""What each server writes and loads (formats.md §1, §7, §10.1), in one table.

A target is named as a server and version (``redis-7.0.15``, ``valkey-9.1``) or by a bare RDB
version; it fixes the file's magic and version and the encoding choices the writer makes the way
that server does, with its default thresholds (which callers may change).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import cached_property

from rdbtools.errors import UnsupportedError
from rdbtools.rdb.model import list_with_fill


@dataclass(frozen=True)
class Target:
    """A server version as files and serve see it. Its traits are cached properties (each read once, then an
    attribute): the command engine reads them on every command, and they follow from the frozen fields."""

    name: str
    magic: str  # "REDIS" or "VALKEY"
    rdb_version: int
    server_version: str  # written as the redis-ver (or valkey-ver) aux field
    # thresholds of the server's default configuration (formats.md §10.1)
    hash_max_listpack_entries: int = 512
    hash_max_listpack_value: int = 64
    set_max_intset_entries: int = 512
    set_max_listpack_entries: int = 128
    set_max_listpack_value: int = 64
    zset_max_listpack_entries: int = 128
    zset_max_listpack_value: int = 64
    list_max_listpack_bytes: int = 8192  # list-max-listpack-size -2
    list_max_listpack_count: int = 0  # a positive list-max-listpack-size: entries per node (bytes then 8192)
    list_max_listpack_size: int = -2  # the setting itself (which gives the two above)
    list_max_ziplist_entries: int = 512  # Redis <= 3.0 ziplist lists
    list_max_ziplist_value: int = 64
    stream_node_max_entries: int = 100  # a stream's radix-tree node (listpack) holds at most this many entries
    stream_node_max_bytes: int = 4096  # ... and grows to at most about this many bytes
    hll_sparse_max_bytes: int = 3000  # a HyperLogLog string is sparse up to this size, then dense

    @cached_property
    def valkey(self) -> bool:
        return self.magic == "VALKEY"

    @cached_property
    def listpacks(self) -> bool:
        """Hash, zset and list nodes as listpacks (RDB 10+) rather than ziplists."""
        return self.rdb_version >= 10

    @cached_property
    def set_listpacks(self) -> bool:
        return self.rdb_version >= 11

    @cached_property
    def quicklists(self) -> bool:
        return self.rdb_version >= 7

    @cached_property
    def binary_scores(self) -> bool:
        return self.rdb_version >= 8

    @cached_property
    def shortest_scores(self) -> bool:
        """Redis 7.2+ writes listpack scores in the shortest round-trip form; 7.0 used %.17g."""
        return self.rdb_version >= 11

    @cached_property
    def plain_nodes_for_large_elements(self) -> bool:
        """Redis 7.4+ gives an element above the node size a PLAIN node of its own."""
        return self.rdb_version >= 12 or self.valkey

    @cached_property
    def field_ttls(self) -> bool:
        return self.rdb_version >= 12

    @cached_property
    def functions(self) -> bool:
        return self.rdb_version >= 10

    @cached_property
    def stream_idmp(self) -> bool:
        """Redis 8.6+ (RDB 13): streams keep their idempotent producers; key metadata too."""
        return self.rdb_version >= 13 and not self.valkey

    @cached_property
    def arrays(self) -> bool:
        """Redis 8.8+ (RDB 14): sparse arrays, and NACK zones in stream groups."""
        return self.rdb_version >= 14 and not self.valkey

    @cached_property
    def aof_offsets(self) -> bool:
        """Redis 8.0+ names the replication offset each AOF incr file starts at in the manifest."""
        return not self.valkey and self.name.startswith("redis-") and int(self.server_version.split(".")[0]) >= 8

    # --- how the server propagates writes to its AOF (what serve appends for this target) ---

    @cached_property
    def embedded_keys(self) -> bool:
        """Redis 8 and Valkey 8 keep a key's name in its value object: a key renamed or moved is a new
        object (its LRU clock / LFU counter start anew), and no value is a shared integer."""
        return self.version >= (8, 0)

    @cached_property
    def valkey_server(self) -> bool:
        """Valkey's behaviour, whatever the file's magic (Valkey 8 still writes REDIS)."""
        return self.name.startswith("valkey")

    @cached_property
    def wraps_propagation(self) -> bool:
        """Redis 7.0+ wraps everything one command propagates (its rewrites, the expiries it caused)
        in MULTI/EXEC when that is more than one command; 6.2 only EXEC and SPOP with a count."""
        return self.rdb_version >= 10

    @cached_property
    def select_before_multi(self) -> bool:
        """Redis 7.0 appends the SELECT of a unit's first command before its MULTI; 6.2, 7.2+ and Valkey
        after it (6.2's MULTI is in the caller's database, 7.2's in none)."""
        return not self.valkey_server and (7, 0) <= self.version < (7, 2)

    @cached_property
    def propagates_scripts(self) -> bool:
        """Redis 6.2 appends SCRIPT LOAD and SCRIPT FLUSH (scripts were replicated); 7.0+ never does."""
        return not self.valkey_server and self.version < (7, 0)

    @cached_property
    def pushes_after_reply(self) -> bool:
        """Redis 7.2+ and Valkey send the pushes a command makes for its own client (DEBUG PROTOCOL push,
        its own invalidations) after the command's reply; earlier Redis before it."""
        return self.valkey_server or self.version >= (7, 2)

    @cached_property
    def shortest_coordinates(self) -> bool:
        """Redis 8.0+ prints GEOPOS and WITHCOORD coordinates as the shortest text of the double; earlier
        Redis and Valkey with 17 decimals of the long double."""
        return not self.valkey_server and self.version >= (8, 0)

    @cached_property
    def batched_spop(self) -> bool:
        """Redis 7.2+ propagates SPOP with a count as SREMs of up to 1024 members, before one per member."""
        return self.rdb_version >= 11

    @cached_property
    def group_reads_set_id(self) -> bool:
        """Redis 7.4+ and Valkey follow a group read's XCLAIMs with XGROUP SETID ... ENTRIESREAD."""
        return self.rdb_version >= 12 or self.valkey_server

    @cached_property
    def consumers_on_demand(self) -> bool:
        """Redis 6.2 and 7.0 create the consumer XCLAIM, XAUTOCLAIM or XREADGROUP ... > names only when
        it gets an entry; earlier Redis, 7.2+ and Valkey create it whatever the command finds."""
        return not self.valkey_server and (6, 2) <= self.version < (7, 2)

    @cached_property
    def claims_drop_deleted(self) -> bool:
        """Redis 7.0+ and Valkey drop a pending entry whose stream entry was deleted when XCLAIM or
        XAUTOCLAIM meets it (XAUTOCLAIM then lists it); 6.2 claims it and answers nil for its entry."""
        return self.valkey_server or self.version >= (7, 0)

    @cached_property
    def stream_read_counters(self) -> bool:
        """Consumer groups count the entries read (ENTRIESREAD) from RDB 10 (Redis 7.0)."""
        return self.rdb_version >= 10

    @cached_property
    def builtin_modules(self) -> frozenset[str]:
        """Module types the server has built in: Redis 8.0+ has vector sets (module ``vectorset``)."""
        return frozenset({"vectorset"}) if not self.valkey_server and self.version >= (8, 0) else frozenset()

    @cached_property
    def hex_doubles(self) -> bool:
        """Double arguments (ZADD scores, weights, coordinates) read by strtod take hexadecimal (0x1p3);
        Valkey 9 reads them with fast_float, which does not."""
        return not (self.valkey_server and self.version >= (9, 0))

    @cached_property
    def strtod_score_ranges(self) -> bool:
        """ZRANGEBYSCORE-style bounds read by strtod (leading spaces and hexadecimal taken) before Redis 8
        and Valkey 9; by fast_float (neither) since (checked with Redis 8.2 and Valkey 9.1)."""
        return self.version < ((9, 0) if self.valkey_server else (8, 0))

    @cached_property
    def version(self) -> tuple[int, int]:
        """The server's major.minor."""
        major, minor = self.server_version.split(".")[:2]
        return int(major), int(minor)

    # --- keyspace notifications (what serve tells subscribers for this target) ---

    @cached_property
    def unchanged_bits_told(self) -> bool:
        """Redis 6.2 tells "setbit" for every SETBIT and BITFIELD write (an overflow that FAILs too); 7.0+
        and Valkey only when a bit changed or the string was created or grew."""
        return not self.valkey_server and self.version < (7, 0)

    @cached_property
    def absent_consumer_deletion_told(self) -> bool:
        """Redis 6.2 tells "xgroup-delconsumer" for XGROUP DELCONSUMER of a consumer the group lacks; 7.0+
        and Valkey only when there was one."""
        return not self.valkey_server and self.version < (7, 0)

    @cached_property
    def implicit_consumers_told(self) -> bool:
        """Redis 7.0+ and Valkey tell "xgroup-createconsumer" for a consumer XREADGROUP or XCLAIM creates;
        6.2 only for XGROUP CREATECONSUMER."""
        return self.valkey_server or self.version >= (7, 0)

    @cached_property
    def past_expiry_told_expired(self) -> bool:
        """Valkey deletes a key given an expiry already past (EXPIRE, GETEX, SET PXAT) telling "expired",
        and its SET then stores nothing; Redis tells "del" (and SET stores the key, to expire on access)."""
        return self.valkey_server

    @cached_property
    def expiry_deletion(self) -> bytes:
        """How an expired key's deletion is propagated: Valkey's lazyfree-lazy-expire is on by default."""
        return b"UNLINK" if self.valkey_server else b"DEL"

    def with_thresholds(self, **thresholds: int) -> Target:
        # (field names chosen at run time: replace checks them, mypy cannot)
        return replace(self, **thresholds)  # type: ignore[arg-type]

    def with_config(self, directives: dict[str, str]) -> Target:
        """The target with redis.conf encoding thresholds (``hash-max-listpack-entries 1024``, the
        older ``*-ziplist-*`` names too) in place of the server's defaults."""
        changes: dict[str, int] = {}
        for name, text in directives.items():
            directive = name.lower()
            if directive not in THRESHOLD_DIRECTIVES:
                raise UnsupportedError(f"{name!r} is not an encoding threshold; known: "
                                       f"{', '.join(sorted(THRESHOLD_DIRECTIVES))}")
            try:
                value = int(text)
            except ValueError:
                raise UnsupportedError(f"{name} takes an integer, not {text!r}") from None
            field = THRESHOLD_DIRECTIVES[directive]
            if field == "list_max_listpack_bytes":
                changes.update(self._list_node_limits(value))
                continue
            if value < 0:
                raise UnsupportedError(f"{name} cannot be negative")
            changes[field] = value
        return self.with_thresholds(**changes)

    def _list_node_limits(self, fill: int) -> dict[str, int]:
        """list-max-listpack-size as a quicklist takes it (quicklistSetFill): -1 to -5 a node size in bytes
        (below -5 the largest, 64 KB); 0 and up entries a node (at least one), within SIZE_SAFETY_LIMIT's
        8 KB (which also keeps a node far below the 32767 entries a fill may name)."""
        if fill >= 0:
            return {"list_max_listpack_bytes": _SIZE_SAFETY_LIMIT, "list_max_listpack_count": max(fill, 1),
                    "list_max_listpack_size": fill}
        return {"list_max_listpack_bytes": _LIST_NODE_BYTES[max(fill, -5)], "list_max_listpack_count": 0,
                "list_max_listpack_size": fill}

    def with_list_fill(self, fill: int) -> Target:
        """The target with another list-max-listpack-size (a list made under it splits by it)."""
        return self.with_thresholds(**self._list_node_limits(fill))

    @cached_property
    def new_list(self) -> str:
        """The type a list made now gets: before 7.2, marked with list-max-listpack-size (its quicklist keeps
        it); from 7.2 a list is a listpack first, a quicklist of the size set then. (A list not marked, as a
        file's record, splits by the target's size.)"""
        return "list" if self.list_conversions else list_with_fill(self.list_max_listpack_size)

    @cached_property
    def size_hints(self) -> bool:
        """Redis 7.2+ and Valkey convert a set, hash or zset by how many members a command names, before
        adding them (duplicates counted): SADD, HSET and ZADD with more than a listpack holds make a hash table
        or skiplist whatever they add."""
        return self.rdb_version >= 11

    @cached_property
    def list_conversions(self) -> bool:
        """Redis 7.2+ and Valkey keep a small list as one listpack (OBJECT ENCODING listpack), a quicklist
        once it outgrows list-max-listpack-size."""
        return self.rdb_version >= 11

    @cached_property
    def signature(self) -> bytes:
        width = 9 - len(self.magic)
        return self.magic.encode() + str(self.rdb_version).zfill(width).encode()


TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        Target("redis-2.6", "REDIS", 6, "2.6.17"),
        Target("redis-3.2", "REDIS", 7, "3.2.13"),
        Target("redis-4.0", "REDIS", 8, "4.0.14"),
        Target("redis-5.0", "REDIS", 9, "5.0.14"),
        Target("redis-6.2", "REDIS", 9, "6.2.14"),
        Target("redis-7.0", "REDIS", 10, "7.0.15"),
        Target("redis-7.2", "REDIS", 11, "7.2.4"),
        Target("redis-7.4", "REDIS", 12, "7.4.1"),
        Target("redis-8.2", "REDIS", 12, "8.2.3"),
        Target("redis-8.6", "REDIS", 13, "8.6.0"),  # no server of these three runs here: the format is
        Target("redis-8.8", "REDIS", 14, "8.8.0"),  # proven by our reader and the schema (docs/formats.md §13)
        Target("redis-8.10", "REDIS", 15, "8.10.0"),
        Target("valkey-8.1", "REDIS", 11, "8.1.8"),
        Target("valkey-9.1", "VALKEY", 80, "9.1.2"),
    )
}
NEWEST = TARGETS["redis-8.2"]

#: redis.conf directive -> Target field (ziplist names are the older spellings Redis still accepts)
THRESHOLD_DIRECTIVES = {
    f"{kind}-max-{form}-{what}": f"{kind}_max_listpack_{what}"
    for kind in ("hash", "zset") for form in ("listpack", "ziplist") for what in ("entries", "value")
} | {
    "set-max-intset-entries": "set_max_intset_entries",
    "set-max-listpack-entries": "set_max_listpack_entries",
    "set-max-listpack-value": "set_max_listpack_value",
    "list-max-listpack-size": "list_max_listpack_bytes",
    "list-max-ziplist-size": "list_max_listpack_bytes",
    "list-max-ziplist-entries": "list_max_ziplist_entries",
    "list-max-ziplist-value": "list_max_ziplist_value",
    "stream-node-max-entries": "stream_node_max_entries",
    "stream-node-max-bytes": "stream_node_max_bytes",
    "hll-sparse-max-bytes": "hll_sparse_max_bytes",
}
_LIST_NODE_BYTES = {-1: 4096, -2: 8192, -3: 16384, -4: 32768, -5: 65536}
_SIZE_SAFETY_LIMIT = 8192  # the bytes a node holds at most when list-max-listpack-size counts entries
_BY_VERSION = {6: "redis-2.6", 7: "redis-3.2", 8: "redis-4.0", 9: "redis-6.2", 10: "redis-7.0", 11: "redis-7.2",
               12: "redis-8.2", 13: "redis-8.6", 14: "redis-8.8", 15: "redis-8.10", 80: "valkey-9.1"}


def target_for(name: str) -> Target:
    """``redis-7.0.15`` / ``redis-7.0`` / ``valkey-9.1``: the table's entry for that major.minor."""
    match = re.fullmatch(r"(redis|valkey)-(\d+)\.(\d+)(?:\.\d+)?", name.lower())
    if match is None:
        raise UnsupportedError(f"unknown target {name!r}; name a server and version such as redis-7.0 or "
                               f"valkey-9.1 (known: {', '.join(TARGETS)})")
    key = f"{match[1]}-{match[2]}.{match[3]}"
    if key not in TARGETS:
        raise UnsupportedError(f"no table entry for {name!r}; known targets: {', '.join(TARGETS)}")
    return TARGETS[key]


def target_for_version(rdb_version: int) -> Target:
    """The newest server that writes this RDB version."""
    if rdb_version not in _BY_VERSION:
        raise UnsupportedError(f"rdbtool writes RDB versions 6-12 and 80 (Valkey), not {rdb_version}")
    return TARGETS[_BY_VERSION[rdb_version]]


def writer_target(magic: str, rdb_version: int, aux: dict[bytes, bytes]) -> Target:
    """The table's entry for the server that wrote a file: by its ``valkey-ver`` (Valkey 8 files say REDIS and
    ``redis-ver`` 7.2.4 too) or ``redis-ver`` aux field, the nearest version not newer (the family's oldest when
    all are); by the RDB version when neither field names a version."""
    for field, family in ((b"valkey-ver", "valkey"), (b"redis-ver", "redis")):
        match = re.match(rb"(\d+)\.(\d+)", aux.get(field, b""))
        if match is None:
            continue
        wanted = (int(match[1]), int(match[2]))
        known = sorted((t.version, t) for t in TARGETS.values() if t.name.startswith(family + "-"))
        older = [t for version, t in known if version <= wanted]
        return older[-1] if older else known[0][1]
    if magic == "VALKEY":
        return TARGETS["valkey-9.1"]
    return TARGETS[_BY_VERSION.get(max(rdb_version, min(_BY_VERSION)), NEWEST.name)]
