"""Execute commands against a Keyspace with Redis's semantics; no sockets, no files.

This first part covers what an AOF rewrite writes (SELECT, SET, RPUSH, SADD, ZADD, HSET/HMSET,
XADD, XSETID, XGROUP CREATE/CREATECONSUMER, XCLAIM ... FORCE JUSTID, PEXPIREAT, HPEXPIREAT,
FUNCTION LOAD) and the most common writes as Redis propagates them; any other command is an
UnknownCommand, which callers report with its file and offset (or count, with --skip-unknown).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from rdbtools.errors import RdbtoolError
from rdbtools.keyspace.model import Entry, Keyspace, library_name
from rdbtools.rdb.model import Consumer, ConsumerGroup, PendingEntry, Stream, StreamEntry, StreamId


class CommandError(Exception):
    """An error reply, as Redis would send it (replay goes on, as Redis's AOF loading does)."""


class UnknownCommand(RdbtoolError):
    """A command this engine does not execute."""

    hint = "use --skip-unknown to leave such commands out (they are counted in the report)"


WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"


def _int(value: bytes) -> int:
    try:
        return int(value)
    except ValueError:
        raise CommandError("ERR value is not an integer or out of range") from None


def _id(text: bytes) -> StreamId:
    ms, _, seq = text.partition(b"-")
    return StreamId(_int(ms), _int(seq) if seq else 0)


class Engine:
    def __init__(self, keyspace: Keyspace | None = None, clock: Callable[[], float] = time.time) -> None:
        self.keyspace = keyspace or Keyspace()
        self.clock = clock
        self.db = 0
        self._commands: dict[bytes, Callable[[list[bytes]], object]] = {
            b"select": self._select, b"set": self._set, b"del": self._del, b"unlink": self._del,
            b"pexpireat": self._pexpireat, b"expireat": self._expireat, b"persist": self._persist,
            b"rpush": self._rpush, b"lpush": self._lpush, b"sadd": self._sadd, b"srem": self._srem,
            b"zadd": self._zadd, b"zrem": self._zrem, b"hset": self._hset, b"hmset": self._hset,
            b"hdel": self._hdel, b"hpexpireat": self._hpexpireat, b"hsetex": self._hsetex, b"incrby": self._incrby,
            b"incr": lambda a: self._incrby([a[0], a[1], b"1"]), b"flushall": self._flushall,
            b"flushdb": self._flushdb, b"xadd": self._xadd, b"xsetid": self._xsetid, b"xgroup": self._xgroup,
            b"xclaim": self._xclaim, b"function": self._function,
        }

    def execute(self, args: list[bytes]) -> object:
        """Run one command; CommandError for an error reply, UnknownCommand when not supported."""
        handler = self._commands.get(args[0].lower())
        if handler is None:
            raise UnknownCommand(f"unknown command {args[0].decode('utf-8', 'replace')!r}")
        return handler(args)

    # --- helpers ------------------------------------------------------------------------------

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    @property
    def _keys(self) -> dict[bytes, Entry]:
        return self.keyspace.db(self.db)

    def _entry(self, key: bytes, kind: str, create: Callable[[], object] | None = None) -> Entry | None:
        entry = self._keys.get(key)
        if entry is None:
            if create is None:
                return None
            entry = self._keys[key] = Entry(kind, create())
        elif entry.type != kind:
            raise CommandError(WRONGTYPE)
        return entry

    def _drop_if_empty(self, key: bytes, entry: Entry) -> None:
        if not entry.value:
            del self._keys[key]

    # --- keys and strings ---------------------------------------------------------------------

    def _select(self, args):
        self.db = _int(args[1])
        return "OK"

    def _set(self, args):
        key, value, options = args[1], args[2], [a.upper() for a in args[3:]]
        expire, keep_ttl = None, b"KEEPTTL" in options
        for name, unit in ((b"PX", 1), (b"EX", 1000), (b"PXAT", 1), (b"EXAT", 1000)):
            if name in options:
                amount = _int(args[3 + options.index(name) + 1]) * unit
                # relative forms count from when the command runs, as when Redis loads the AOF
                expire = amount if name.endswith(b"AT") else self.now_ms() + amount
        old = self._keys.get(key)
        if (b"NX" in options and old is not None) or (b"XX" in options and old is None):
            return None
        ttl = old.expire_ms if keep_ttl and old is not None else expire
        self._keys[key] = Entry("string", value, ttl)
        return "OK"

    def _del(self, args):
        return sum(self._keys.pop(key, None) is not None for key in args[1:])

    def _pexpireat(self, args):
        entry = self._keys.get(args[1])
        if entry is None:
            return 0
        entry.expire_ms = _int(args[2])
        return 1

    def _expireat(self, args):
        return self._pexpireat([args[0], args[1], b"%d" % (_int(args[2]) * 1000)])

    def _persist(self, args):
        entry = self._keys.get(args[1])
        if entry is None or entry.expire_ms is None:
            return 0
        entry.expire_ms = None
        return 1

    def _incrby(self, args):
        entry = self._entry(args[1], "string", lambda: b"0")
        entry.value = b"%d" % (_int(entry.value) + _int(args[2]))
        return _int(entry.value)

    def _flushall(self, args):
        self.keyspace.dbs.clear()
        return "OK"

    def _flushdb(self, args):
        self._keys.clear()
        return "OK"

    # --- collections --------------------------------------------------------------------------

    def _rpush(self, args):
        entry = self._entry(args[1], "list", list)
        entry.value.extend(args[2:])
        return len(entry.value)

    def _lpush(self, args):
        entry = self._entry(args[1], "list", list)
        entry.value[:0] = reversed(args[2:])
        return len(entry.value)

    def _sadd(self, args):
        entry = self._entry(args[1], "set", dict)
        before = len(entry.value)
        entry.value.update(dict.fromkeys(args[2:]))
        return len(entry.value) - before

    def _srem(self, args):
        entry = self._entry(args[1], "set")
        if entry is None:
            return 0
        removed = 0
        for member in args[2:]:
            if member in entry.value:
                del entry.value[member]
                removed += 1
        self._drop_if_empty(args[1], entry)
        return removed

    def _zadd(self, args):
        rest, flags = args[2:], set()
        while rest and rest[0].upper() in (b"NX", b"XX", b"GT", b"LT", b"CH", b"INCR"):
            flags.add(rest[0].upper())
            rest = rest[1:]
        if len(rest) % 2 or not rest:
            raise CommandError("ERR syntax error")
        entry = self._entry(args[1], "zset", dict)
        added = 0
        for i in range(0, len(rest), 2):
            try:
                score = float(rest[i])
            except ValueError:
                raise CommandError("ERR value is not a valid float") from None
            member, old = rest[i + 1], entry.value.get(rest[i + 1])
            if (b"NX" in flags and old is not None) or (b"XX" in flags and old is None):
                continue
            if b"INCR" in flags:
                score += old or 0.0
            if old is not None and ((b"GT" in flags and score <= old) or (b"LT" in flags and score >= old)):
                continue
            added += old is None
            entry.value[member] = score
        self._drop_if_empty(args[1], entry)
        return added

    def _zrem(self, args):
        entry = self._entry(args[1], "zset")
        if entry is None:
            return 0
        removed = sum(entry.value.pop(m, None) is not None for m in args[2:])
        self._drop_if_empty(args[1], entry)
        return removed

    def _hset(self, args):
        if len(args) < 4 or len(args) % 2:
            raise CommandError(f"ERR wrong number of arguments for '{args[0].decode().lower()}' command")
        entry = self._entry(args[1], "hash", dict)
        added = 0
        for i in range(2, len(args), 2):
            added += args[i] not in entry.value
            entry.value[args[i]] = args[i + 1]
            if entry.field_expires:
                entry.field_expires.pop(args[i], None)
        return added if args[0].lower() == b"hset" else "OK"

    def _hdel(self, args):
        entry = self._entry(args[1], "hash")
        if entry is None:
            return 0
        removed = 0
        for field in args[2:]:
            removed += entry.value.pop(field, None) is not None
            if entry.field_expires:
                entry.field_expires.pop(field, None)
        self._drop_if_empty(args[1], entry)
        return removed

    def _hpexpireat(self, args):
        """HPEXPIREAT key ms [NX|XX|GT|LT] FIELDS n field..."""
        entry = self._entry(args[1], "hash")
        at = _int(args[2])
        fields = args[[a.upper() for a in args].index(b"FIELDS") + 2 :]
        if entry is None:
            return [-2] * len(fields)
        ttls = entry.field_expires = entry.field_expires or {}
        replies = []
        for field in fields:
            if field in entry.value:
                ttls[field] = at
                replies.append(1)
            else:
                replies.append(-2)
        return replies

    def _hsetex(self, args):
        """HSETEX key [NX|XX] [FNX|FXX] [EX s|PX ms|EXAT s|PXAT ms|KEEPTTL] FIELDS n field value ...
        (Valkey 9 and Redis 8 write hashes with field TTLs this way)."""
        upper = [a.upper() for a in args]
        start = upper.index(b"FIELDS")
        options, pairs = upper[2:start], args[start + 2 :]
        expire_at = None
        for name, unit in ((b"EX", 1000), (b"PX", 1), (b"EXAT", 1000), (b"PXAT", 1)):
            if name in options:
                amount = _int(args[2 + options.index(name) + 1]) * unit
                expire_at = amount if name.endswith(b"AT") else self.now_ms() + amount
        entry = self._entry(args[1], "hash", dict)
        ttls = entry.field_expires = entry.field_expires or {}
        for i in range(0, len(pairs), 2):
            entry.value[pairs[i]] = pairs[i + 1]
            if expire_at is not None:
                ttls[pairs[i]] = expire_at
            elif b"KEEPTTL" not in options:
                ttls.pop(pairs[i], None)
        return 1

    # --- streams, as the rewrite writes them --------------------------------------------------

    def _stream(self, key: bytes, create: bool) -> Stream | None:
        entry = self._entry(key, "stream", (lambda: Stream(0, StreamId(0, 0), [], [], entries_added=0))
                            if create else None)
        return None if entry is None else entry.value

    def _xadd(self, args):
        rest, maxlen = args[2:], None
        if rest and rest[0].upper() == b"MAXLEN":
            maxlen, rest = _int(rest[1]), rest[2:]
        stream = self._stream(args[1], True)
        entry_id = _id(rest[0])
        stream.entries.append(StreamEntry(entry_id, [(rest[i], rest[i + 1]) for i in range(1, len(rest), 2)]))
        stream.last_id = entry_id
        stream.entries_added = (stream.entries_added or 0) + 1
        if stream.first_id is None or stream.length == 0:
            stream.first_id = entry_id
        if maxlen is not None and len(stream.entries) > maxlen:
            trimmed = stream.entries[: len(stream.entries) - maxlen]
            del stream.entries[: len(trimmed)]
            stream.max_deleted_id = trimmed[-1].id
        stream.length = len(stream.entries)
        return str(entry_id).encode()

    def _xsetid(self, args):
        stream = self._stream(args[1], False)
        if stream is None:
            raise CommandError("ERR no such key")
        stream.last_id = _id(args[2])
        options = [a.upper() for a in args]
        if b"ENTRIESADDED" in options:
            stream.entries_added = _int(args[options.index(b"ENTRIESADDED") + 1])
        if b"MAXDELETEDID" in options:
            stream.max_deleted_id = _id(args[options.index(b"MAXDELETEDID") + 1])
        return "OK"

    def _xgroup(self, args):
        sub, key, name = args[1].upper(), args[2], args[3]
        stream = self._stream(key, sub == b"CREATE" and b"MKSTREAM" in [a.upper() for a in args])
        if stream is None:
            raise CommandError("ERR The XGROUP subcommand requires the key to exist")
        if sub == b"CREATE":
            options = [a.upper() for a in args]
            entries_read = _int(args[options.index(b"ENTRIESREAD") + 1]) if b"ENTRIESREAD" in options else None
            entries_read = None if entries_read is not None and entries_read < 0 else entries_read  # -1: unknown
            last = stream.last_id if args[4] == b"$" else _id(args[4])
            stream.groups.append(ConsumerGroup(name, last, entries_read))
            return "OK"
        group = next((g for g in stream.groups if g.name == name), None)
        if group is None:
            raise CommandError(f"NOGROUP No such consumer group '{name.decode()}' for key name '{key.decode()}'")
        if sub == b"CREATECONSUMER":
            if any(c.name == args[4] for c in group.consumers):
                return 0
            group.consumers.append(Consumer(args[4], 0, -1))
            return 1
        raise UnknownCommand(f"unknown command 'XGROUP {sub.decode()}'")

    def _xclaim(self, args):
        """XCLAIM key group consumer min-idle id... [TIME ms] [RETRYCOUNT n] [FORCE] [JUSTID] [LASTID id]"""
        stream = self._stream(args[1], False)
        group = next((g for g in stream.groups if g.name == args[2]), None) if stream else None
        if group is None:
            raise CommandError("NOGROUP No such key or consumer group")
        upper = [a.upper() for a in args]
        time_ms = _int(args[upper.index(b"TIME") + 1]) if b"TIME" in upper else 0
        count = _int(args[upper.index(b"RETRYCOUNT") + 1]) if b"RETRYCOUNT" in upper else 1
        ids = []
        for arg in args[5:]:
            if arg.upper() in (b"TIME", b"RETRYCOUNT", b"FORCE", b"JUSTID", b"LASTID", b"IDLE"):
                break
            ids.append(_id(arg))
        consumer = next((c for c in group.consumers if c.name == args[3]), None)
        if consumer is None:
            consumer = Consumer(args[3], time_ms, -1)
            group.consumers.append(consumer)
        for entry_id in ids:
            group.pending = [p for p in group.pending if p.id != entry_id]
            for other in group.consumers:
                other.pending = [i for i in other.pending if i != entry_id]
            group.pending.append(PendingEntry(entry_id, args[3], time_ms, count))
            consumer.pending.append(entry_id)
        group.pending.sort(key=lambda p: p.id)
        consumer.pending.sort()
        return [str(i).encode() for i in ids]

    def _function(self, args):
        if args[1].upper() != b"LOAD":
            raise UnknownCommand(f"unknown command 'FUNCTION {args[1].decode('utf-8', 'replace')}'")
        source = args[-1]
        self.keyspace.functions[library_name(source)] = source
        return library_name(source)
