"""Execute commands against a Keyspace with Redis's semantics; no sockets, no files.

The commands live in ``keyspace/commands`` (a module per data type); this is the part they share:
the current database, key lookup with Redis's type checks, expiry, and dispatch with Redis's arity
rule. Replaying an AOF runs with ``loading=True``: as when Redis loads one, keys are not expired on
access and relative expiries count from the moment the command runs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from rdbtools.errors import UnknownCommand  # (Python: see errors.py)
from rdbtools.keyspace.commands import (
    EXPIRED,
    GENERIC,
    KEY_MISS,
    NEW,
    OVERWRITTEN,
    REGISTRY,
    TYPE_CHANGED,
    WRONGTYPE,
    Command,
    CommandError,
    wrong_arity,
)
from rdbtools.keyspace.model import Entry, Keyspace, set_birth
from rdbtools.rdb.targets import NEWEST, Target

__all__ = ["CommandError", "Engine", "UnknownCommand"]


_BY_NAME: dict[bytes, Command] = {}
#: why lookups leave keys untouched (Engine.untouched): a fork child is saving (touching would copy the
#: child's pages on write), a NO-TOUCH client's command runs
SAVING, NO_TOUCH = 1, 2
#: a keyspace event: (class, event, key, database or None for the current one)
Notify = Callable[..., None]


class Engine:
    def __init__(self, keyspace: Keyspace | None = None, clock: Callable[[], float] = time.time, *,
                 loading: bool = True, databases: int = 16, target: Target = NEWEST) -> None:
        self.keyspace = keyspace or Keyspace()
        self.clock = clock
        self.loading = loading
        self.databases = databases
        self.target = target  # the server whose formats DUMP writes
        self.max_string = 512 * 1024 * 1024  # proto-max-bulk-len: how far SETRANGE, APPEND, SETBIT may grow a string
        self.db = 0
        #: what the last ZADD added or re-scored (Redis's dirty count: a ZADD that changed nothing
        #: is not appended to an AOF)
        self.changes = 0
        #: told (db, command) when an access deletes what has expired (a server propagates it)
        self.on_expired: Callable[[int, list[bytes]], None] | None = None
        #: told each keyspace event as the command emits it (Redis's notifyKeyspaceEvent), through notify;
        #: None while notify-keyspace-events tells nothing
        self.listener: Notify | None = None
        self.events = 0  # notify-keyspace-events as Redis's NOTIFY_* flags (a server's: it sets them)
        #: a read-only command runs while notify-keyspace-events has m: a lookup that misses tells "keymiss"
        self.reading = False
        self.scripted = False  # a script's call runs (XREAD's BLOCK is refused there before Redis 7.4)
        self.access = self.keyspace.access
        #: what a lookup stores in the entry's lru (the LRU clock of the last tick), or None when it must
        #: take the slow way (``touch``): an LFU policy, a fork child saving, a NO-TOUCH client's command
        self.stamp: int | None = None
        self.untouched = 0  # why lookups do not touch now: SAVING | NO_TOUCH
        self.no_touch_clients = 0  # a server's clients in CLIENT NO-TOUCH mode (their requests set NO_TOUCH)
        #: a waiting (blocked) command runs again now that its key is ready, served as Redis before 7.2 serves
        #: it, from its waiting list: BLMOVE and XREAD make no checking lookup first (one access, not two)
        self.waking = False
        self.tick()
        #: a server's used_memory and maxmemory state (server/memory.py's Memory, which serve sets; typed Any:
        #: the keyspace does not know the server, and an engine outside serve has none)
        self.memory: Any = None

    def execute(self, args: list[bytes]) -> object:
        """Run one command; CommandError for an error reply, UnknownCommand when not supported."""
        spec = _BY_NAME.get(args[0])
        if spec is None:
            spec = REGISTRY.get(args[0].lower())
            if spec is not None and len(_BY_NAME) < 4096:
                _BY_NAME[args[0]] = spec  # names as clients spell them: no lowering next time
        if spec is None:
            raise UnknownCommand(f"unknown command {args[0].decode('utf-8', 'replace')!r}")
        if (spec.arity > 0 and len(args) != spec.arity) or len(args) < -spec.arity:
            raise wrong_arity(args[0])
        return spec.handler(self, args)

    # --- what the commands share ----------------------------------------------------------------

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    def notify(self, kind: int, event: bytes, key: bytes, db: int | None = None) -> None:
        """A keyspace event, as a command emits it after its change in Redis's order: told to the listener
        when there is one (the commands call this unconditionally: a native call and a test, compiled)."""
        if self.listener is not None:
            self.listener(kind, event, key, db)

    @property
    def keys(self) -> dict[bytes, Entry]:
        return self.keyspace.db(self.db)

    def lookup(self, key: bytes, db: int | None = None) -> Entry | None:
        """The live entry of a key: an expired one is deleted first, unless loading; the one found is
        accessed now, also by a replay (Redis's lookupKey)."""
        db = self.db if db is None else db
        keys = self.keyspace.dbs.get(db)
        entry = None if keys is None else keys.get(key)
        if entry is None:
            if self.reading:
                self.notify(KEY_MISS, b"keymiss", key, db)
            return None
        if entry.expire_ms is not None and not self.loading and entry.expire_ms <= self.now_ms():
            self.expire(db, key)
            if self.reading:
                self.notify(KEY_MISS, b"keymiss", key, db)
            return None
        stamp = self.stamp
        if stamp is None:
            self.touch(entry)
        else:
            entry.lru = stamp
        return entry

    def peek(self, key: bytes, db: int | None = None) -> Entry | None:
        """``lookup`` without the access (Redis's LOOKUP_NOTOUCH: TYPE, EXISTS, TTL, OBJECT ...)."""
        keys = self.keyspace.dbs.get(self.db if db is None else db)
        found = None if keys is None else keys.get(key)
        field = 0 if found is None else found.lru
        entry = self.lookup(key, db)
        if entry is not None:
            entry.lru = field
        return entry

    # --- the access clock (keyspace/access.py) ------------------------------------------------------

    def tick(self) -> None:
        """Read the clock (a server's timer calls this as Redis's serverCron caches server.lruclock)."""
        self.access.now = self.clock()
        self.restamp()

    def restamp(self) -> None:
        """After the clock, the policy or what stops touching changed."""
        access = self.access
        self.stamp = None if access.lfu or self.untouched else access.clock()
        set_birth(access.birth())

    def leave_untouched(self, reason: int, on: bool) -> None:
        """Start or end a reason for lookups not to touch keys (SAVING, NO_TOUCH)."""
        untouched = self.untouched | reason if on else self.untouched & ~reason
        if untouched != self.untouched:
            self.untouched = untouched
            self.restamp()

    def touch(self, entry: Entry) -> None:
        """The access the stamp does not make: under an LFU policy the counter may grow; nothing while
        lookups do not touch."""
        if not self.untouched and self.access.lfu:
            entry.lru = self.access.accessed(entry.lru)

    def renew(self, entry: Entry, old: Entry) -> None:
        """``entry`` replaces ``old`` (found by a lookup) as a new value of the key: under an LFU policy it
        keeps the old counter (Redis's dbOverwrite), else it is new (its lru is now)."""
        entry.lru = old.lru if self.access.lfu else self.access.birth()

    def expire(self, db: int, key: bytes) -> None:
        """Delete a key found expired (on access, or by a server's active expiry) and tell on_expired
        the command that propagates it: DEL, UNLINK under Valkey."""
        del self.keyspace.dbs[db][key]
        if self.on_expired is not None:
            self.on_expired(db, [self.target.expiry_deletion, key])
        self.notify(EXPIRED, b"expired", key, db)

    def get(self, key: bytes, kind: str) -> Entry | None:
        """The key's entry if it holds ``kind``; WRONGTYPE if it holds something else."""
        if self.loading:  # the hot path of a replay: no expiry to check, the access as lookup makes it
            keys = self.keyspace.dbs.get(self.db)
            entry = None if keys is None else keys.get(key)
            if entry is not None:
                stamp = self.stamp
                if stamp is None:
                    self.touch(entry)
                else:
                    entry.lru = stamp
        else:
            entry = self.lookup(key)
        if entry is not None and entry.type != kind:
            raise CommandError(WRONGTYPE)
        return entry

    def read(self, key: bytes, kind: str | None = None) -> Entry | None:
        """A key a command reads (Redis's lookupKeyRead; WRONGTYPE unless it holds ``kind``): a miss tells
        "keymiss", from a write command too (a read-only one's lookups tell it already)."""
        entry = self.lookup(key) if kind is None else self.get(key, kind)
        if entry is None and not self.reading:
            self.notify(KEY_MISS, b"keymiss", key)
        return entry

    def get_or_create(self, key: bytes, kind: str, create: Callable[[], object]) -> Entry:
        entry = self.get(key, kind)
        if entry is None:
            entry = self.keys[key] = Entry(kind, create())
            self.notify(NEW, b"new", key)
        return entry

    def add(self, key: bytes, entry: Entry, db: int | None = None) -> None:
        """Store an entry under a key that holds none (Redis's dbAdd, which tells "new")."""
        self.keyspace.db(self.db if db is None else db)[key] = entry
        self.notify(NEW, b"new", key, db)

    def put(self, key: bytes, entry: Entry) -> None:
        """Store an entry whether or not the key holds one ("new" when it did not: Redis's setKey)."""
        keys = self.keys
        if self.listener is not None and key not in keys:
            self.notify(NEW, b"new", key)
        keys[key] = entry

    def store(self, key: bytes, entry: Entry | None, kind: int, event: bytes) -> None:
        """A STORE command's result replaces the key (Redis's setKey: "new" when it held nothing, then the
        command's event), or, empty, deletes it ("del" when there was one)."""
        old = self.lookup(key)
        if old is not None:
            del self.keys[key]
        if entry is None:
            if old is not None:
                self.notify(GENERIC, b"del", key)
            return
        self.keys[key] = entry
        if old is None:
            self.notify(NEW, b"new", key)
        else:
            self.renew(entry, old)
            self.overwritten(key, old.type, entry.type)
        self.notify(kind, event, key)

    def overwritten(self, key: bytes, old: str, new: str, db: int | None = None) -> None:
        """A key's value was replaced (Redis 8.2's o and c classes: "overwritten", "type_changed")."""
        if self.events:
            self.notify(OVERWRITTEN, b"overwritten", key, db)
            if old != new:
                self.notify(TYPE_CHANGED, b"type_changed", key, db)

    def expire_now(self, key: bytes) -> None:
        """A command gave a key an expiry already past (EXPIRE, GETEX): it goes now, told "del" by Redis and
        "expired" by Valkey."""
        if self.delete(key):
            if self.target.past_expiry_told_expired:
                self.notify(EXPIRED, b"expired", key)
            else:
                self.notify(GENERIC, b"del", key)

    def delete(self, key: bytes) -> bool:
        return self.lookup(key) is not None and self.keys.pop(key, None) is not None

    def removed(self, kind: int, event: bytes, key: bytes, entry: Entry) -> None:
        """A command took elements out of a collection: its event, then "del" when it is empty."""
        self.notify(kind, event, key)
        if not entry.value and self.keys.get(key) is entry:
            del self.keys[key]
            self.notify(GENERIC, b"del", key)

    def drop_if_empty(self, key: bytes, entry: Entry) -> None:
        """Delete a collection its command emptied, telling "del" (after the command's own event)."""
        if not entry.value and self.keys.get(key) is entry:
            del self.keys[key]
            self.notify(GENERIC, b"del", key)

    def expiry(self, amount: int, unit_ms: int, absolute: bool) -> tuple[int, bool]:
        """An expiry argument as unix milliseconds, and whether that is already past, both from one reading
        of the clock (as Redis's command time snapshot): a relative time is past only when not positive."""
        now = self.now_ms()
        when = amount * unit_ms if absolute else now + amount * unit_ms
        return when, when <= now


def _load_commands() -> None:
    from rdbtools.keyspace.commands import (  # noqa: F401
        geo,
        hashes,
        hyperloglog,
        keys,
        lists,
        sampling,
        scanned_strings,
        scanning,
        sets,
        sorting,
        streams,
        strings,
        vectorsets,
        zsets,
    )


_load_commands()
