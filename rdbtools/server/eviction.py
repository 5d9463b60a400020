"""maxmemory: Redis's check before each command (processCommand) and its eviction (performEvictions).

While maxmemory is set, every client is gated (``Client.gated``: the path that already checks AUTH and
ACL), so a plain request of a server without a limit pays nothing for this. Before each command the
keys are evicted by the policy until used_memory is back under maxmemory; when that cannot be done, a
command that may use memory (the table's ``denyoom``, a script whose flags do not allow OOM, an EXEC
holding one) and, before Redis 7.4, any command queued in MULTI get Redis's OOM error.
"""

from __future__ import annotations

import time
from itertools import islice
from typing import TYPE_CHECKING

from rdbtools.keyspace.commands import EVICTED, CommandError
from rdbtools.server import client_eviction

if TYPE_CHECKING:
    from rdbtools.server.core import Server

OOM = "OOM command not allowed when used memory > 'maxmemory'."
#: what a script with a shebang (or a function) that may write but has no allow-oom flag gets
SCRIPT_OOM = "OOM allow-oom flag is not set on the script, can not run it when used memory > 'maxmemory'"
#: what MULTI still takes when memory is short (Redis 7.0's processCommand)
_NOT_REFUSED_IN_MULTI = frozenset((b"exec", b"discard", b"quit", b"reset"))
_SCRIPTS = frozenset((b"eval", b"evalsha", b"eval_ro", b"evalsha_ro", b"fcall", b"fcall_ro"))
POOL_SIZE = 16  # Redis's EVPOOL_SIZE
BATCH = 16  # Redis looks at the clock after every 16 keys evicted


#: how many times Redis's time serve takes to evict a key (Python's dicts and objects against C's): the
#: time limit is scaled by it, so that a limit lets serve evict about as many keys a turn as Redis
SLOWER = 20


def time_limit(tenacity: int) -> float:
    """Redis's evictionTimeLimitUs, in seconds of serve's: how long one eviction may run before it leaves the
    rest to the event loop (maxmemory-eviction-tenacity 0..10: 50 us a step; then 15% more a step; 100: no
    limit). Tenacity 0 is exact: a batch of 16 keys a turn."""
    if tenacity <= 10:
        return SLOWER * 50 * tenacity / 1e6
    if tenacity < 100:
        return SLOWER * int(500.0 * 1.15 ** (tenacity - 10)) / 1e6
    return float("inf")


def configure(server: Server, *, evict: bool) -> None:
    """maxmemory and its parameters after start or CONFIG SET; ``evict``: maxmemory itself was set, and
    Redis evicts down to the new limit (updateMaxmemory)."""
    memory, config = server.engine.memory, server.config
    was, target = memory.limit, config.target
    memory.limit, memory.policy = config["maxmemory"], config["maxmemory-policy"]
    memory.samples = config["maxmemory-samples"]
    memory.time_limit = time_limit(config["maxmemory-eviction-tenacity"])
    memory.unlink = dict(config.get(["lazyfree-lazy-eviction"])).get("lazyfree-lazy-eviction") == "yes"
    memory.refuses_queueing = not target.valkey_server and target.version < (7, 4)
    retargeted = memory.target != target  # encoding thresholds changed: the keys' figures with them
    memory.target = target
    clients_were, memory.clients_limit = memory.clients_limit, client_eviction.limit(config)
    if bool(memory.limit) != bool(was) or (retargeted and memory.limit):
        memory.resync(server.engine.keyspace)
        server.acl.refresh_all()  # every request checks memory while there is a limit
        server.refresh()  # writes take the path that tells the model what they changed
    elif bool(memory.clients_limit) != bool(clients_were):
        server.acl.refresh_all()  # every request checks the clients' memory while there is a limit
    if memory.limit and evict:  # Redis 6.2 evicts at once; 7.0+ leaves it to the event loop's next turn
        if target.version < (7, 0) and not target.valkey_server:
            perform(server)
        else:
            _evict_later(server)


def admit(server: Server, client, spec, args: list[bytes]) -> CommandError | None:
    """Redis's maxmemory check before a command: evict what the policy allows; the OOM error for a
    command that would use memory when that was not enough."""
    memory, tracking = server.engine.memory, server.tracking
    tracking.before_call = True
    try:
        out = memory.out_of_memory = not perform(server)
    finally:
        tracking.before_call = False
    if not out:
        return None
    if memory.refuses_queueing and client.multi is not None and spec.name not in _NOT_REFUSED_IN_MULTI:
        return CommandError(OOM)  # queueing takes memory too (up to Redis 7.2; Redis 7.4 and Valkey limit
        # a transaction by client-query-buffer-limit instead)
    return CommandError(OOM) if denies_oom(server, client, spec, args) else None


def denies_oom(server: Server, client, spec, args: list[bytes]) -> bool:
    """Whether a call may use memory: the command's flag, a script's flags, an EXEC's queued calls."""
    name = spec.name
    if name in _SCRIPTS:
        return server.scripting.denies_oom(name, args)
    if name == b"exec":
        for queued in client.multi or ():
            record = server.resolve(queued)
            if record is not None and denies_oom(server, client, record, queued):
                return True
        return False
    return "denyoom" in spec.flags


def perform(server: Server) -> bool:
    """Redis's performEvictions: False when used_memory stays over maxmemory with nothing left to evict
    (EVICT_FAIL); nothing is evicted while clients are paused."""
    engine = server.engine
    memory, keyspace = engine.memory, engine.keyspace
    if not memory.in_step(keyspace):  # keys loaded or added outside the writes (DEBUG RELOAD, POPULATE)
        memory.resync(keyspace)
    used = memory.used(keyspace)
    if used <= memory.limit or server.pause.until is not None:
        return True
    if memory.policy == "noeviction":
        return False
    goal, freed, started = memory.total - (used - memory.limit), 0, time.perf_counter()
    while memory.total > goal:
        picked = _pick(server, memory, keyspace)
        if picked is None:
            return False
        evict(server, *picked)
        freed += 1
        if freed % BATCH == 0 and time.perf_counter() - started > memory.time_limit:
            _evict_later(server)
            break
    return True


def _evict_later(server: Server) -> None:
    """The time limit came first: the event loop evicts on at its next turn (Redis's evictionTimeProc), a
    batch at a time, until memory is under the limit; commands meanwhile run (and evict a batch) as if it were."""
    memory = server.engine.memory
    if memory.evicting:
        return
    memory.evicting = True
    schedule = server.tracking.schedule  # the event loop's call_soon (None without a loop: the cron resumes)
    if schedule is not None:
        schedule(lambda: resume(server))


def resume(server: Server) -> None:
    memory = server.engine.memory
    if memory.evicting:
        memory.evicting = False
        if memory.limit:
            perform(server)


def evict(server: Server, db: int, key: bytes) -> None:
    """One key evicted: deleted, counted, its WATCHes and trackers told, the `evicted` event, its DEL
    (UNLINK with lazyfree-lazy-eviction) in the AOF and to the replicas on its own, before the command that
    caused it."""
    engine = server.engine
    memory = engine.memory
    del engine.keyspace.dbs[db][key]
    memory.update(engine.keyspace, db, key)
    server.stats["evicted_keys"] += 1
    server.signal_modified(db, [key], by_client=False)
    engine.notify(EVICTED, b"evicted", key, db)
    server.feed(db, [[b"UNLINK" if memory.unlink else b"DEL", key]])


def _pick(server: Server, memory, keyspace) -> tuple[int, bytes] | None:
    """The next key to evict (database, key), None when the policy leaves none."""
    allkeys = memory.policy.startswith("allkeys")
    if memory.policy.endswith("random"):
        databases = server.config["databases"]
        for _ in range(databases):  # a database after the other, as Redis's next_db
            memory.next_db = db = (memory.next_db + 1) % databases
            candidates = keyspace.dbs.get(db) if allkeys else memory.volatile.get(db)
            if candidates:
                key = _sample(memory, candidates, 1)[0]
                if key in keyspace.dbs.get(db, ()):
                    return db, key
                memory.update(keyspace, db, key)  # gone behind the model's back: forgotten
        return None
    while True:
        found = 0
        for db in sorted(keyspace.dbs):
            keys = keyspace.dbs[db]
            candidates = keys if allkeys else memory.volatile.get(db, {})
            if candidates:
                _populate(server, memory, db, keys, candidates)
                found += len(candidates)
        if not found:
            return None
        while memory.pool:
            _, db, key = memory.pool.pop()
            keys = keyspace.dbs.get(db)
            if keys is not None and key in (keys if allkeys else memory.volatile.get(db, ())):
                return db, key  # else a ghost: the key went since it was sampled


def _populate(server: Server, memory, db: int, keys: dict, candidates: dict) -> None:
    """Redis's evictionPoolPopulate: maxmemory-samples keys scored, kept in the pool (best last) if
    better than its worst or while it has room."""
    pool = memory.pool
    for key in _sample(memory, candidates, memory.samples):
        entry = keys.get(key)
        if entry is None:  # gone behind the model's back: the next check resyncs
            continue
        score = _score(server, memory, entry)
        if len(pool) >= POOL_SIZE and score <= pool[0][0]:
            continue
        at = 0
        while at < len(pool) and pool[at][0] < score:
            at += 1
        pool.insert(at, (score, db, key))
        if len(pool) > POOL_SIZE:
            del pool[0]


def _score(server: Server, memory, entry) -> float:
    """How good a candidate a key is (higher: evicted first): its idle time (LRU), 255 less its access
    frequency (LFU), from the key's access field (keyspace/access.py); how soon it expires (volatile-ttl)."""
    if memory.policy == "volatile-ttl":
        return -entry.expire_ms
    access = server.engine.access
    return access.idle_ms(entry.lru) if memory.policy.endswith("lru") else 255 - access.frequency(entry.lru)


def _sample(memory, candidates: dict, count: int) -> list[bytes]:
    """``count`` keys at random places, in one walk of the dict (Redis's dictGetSomeKeys takes them from
    random buckets; neighbours in a Python dict are keys written one after the other, so not as random)."""
    if len(candidates) <= count:
        return list(candidates)
    keys, found, at = iter(candidates), [], 0
    for place in sorted(memory.rng.sample(range(len(candidates)), count)):
        found.append(next(islice(keys, place - at, None)))
        at = place + 1
    return found
