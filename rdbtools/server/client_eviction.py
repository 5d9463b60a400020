"""maxmemory-clients (Redis 7.0+): when the clients' memory together reaches the limit, Redis disconnects
the biggest clients (networking.c evictClients) until it is under it again, and counts them in INFO's
evicted_clients. A client with CLIENT NO-EVICT on still counts in the total but is never picked.

serve's clients are Python objects; what counts is the target's figure (CLIENT LIST tot-mem, measured on
the real servers): a new client holds a 16 KB reply buffer until the cron's first pass over it shrinks it
(within 1/hz s); Redis 7.0 also keeps a client's query buffer until it has been idle over 2 whole seconds
(later servers share one). On top of that come what it has sent and serve has not run yet, the replies it has not read,
its queued MULTI and its subscriptions. Clients are
taken by size (Redis's buckets of powers of two from 32 KB), then oldest first.

While a limit is set every client is gated (the path that checks AUTH, ACL and maxmemory): each command
checks first, as Redis's processCommand does; a partly sent request checks when it arrives, and the cron
catches replies piling up. Without a limit no request pays anything.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rdbtools.server.core import Server

MINIMUM = 128 * 1024  # Redis's floor for the limit: a smaller one would leave no client able to talk
FIRST_BUCKET = 15  # Redis's CLIENT_MEM_USAGE_BUCKET_MIN_LOG: clients under 32 KB share the first bucket
PER_SUBSCRIPTION = 56  # a channel's or pattern's entry in the client's own dict / list
RUNNING_QUERY_BUFFER = 20_480  # Redis 7.4+: the query buffer the running client holds of its own
REPLY_BUFFER = 15_360  # a new client's 16 KB reply buffer, until the cron shrinks it to 1 KB
#: an idle normal client's figure (its 1 KB reply buffer included), and the query buffer a client that ran a
#: command keeps for 2 s (Redis 7.0: 20 KB; later servers share one, a client gets its own for a big argument)
FIGURES: dict[tuple[str, tuple[int, int]], tuple[int, int]] = {
    ("redis", (7, 0)): (1_800, 20_472),
    ("redis", (8, 2)): (1_920, 0),
    ("valkey", (8, 1)): (1_578, 0),
    ("valkey", (9, 1)): (1_616, 0),
}


def limit(config) -> int:
    """Redis's getClientEvictionLimit: maxmemory-clients in bytes, or a percentage of maxmemory (none while
    maxmemory is 0), never below 128 KB; 0: no client eviction."""
    value, maxmemory = config["maxmemory-clients"], config["maxmemory"]
    if isinstance(value, str) and value.endswith("%"):
        bytes_ = int(maxmemory * float(value[:-1]) / 100) if maxmemory else 0
    else:
        bytes_ = int(value)
    return max(bytes_, MINIMUM) if bytes_ > 0 else 0


def figures(target) -> tuple[int, int]:
    family = "valkey" if target.valkey_server else "redis"
    known = sorted(v for f, v in FIGURES if f == family and v <= target.version)
    return FIGURES[(family, known[-1] if known else min(v for f, v in FIGURES if f == family))]


def usage(client, now: float, base: tuple[int, int], buffered: Callable[[object], int], cron: float) -> int:
    """The client's memory as the target counts it (``cron``: the seconds between the cron's passes); a big
    argument's query buffer is as big as the argument (serve counts what has come of it)."""
    idle, query = base
    size = idle + (REPLY_BUFFER if now - client.created < cron else 0)
    kept = int(now) - int(client.last_interaction) <= 2  # Redis's idle time in whole seconds "> 2" frees it
    query = query if client.last_command != b"NULL" and kept else 0
    size += max(query, buffered(client))
    if client.multi:
        size += sum(len(arg) + 8 for args in client.multi for arg in args)
    return size + PER_SUBSCRIPTION * (len(client.channels) + len(client.patterns) + len(client.shard_channels))


def client_usage(server: Server, client, running: list[bytes] | None = None) -> int:
    """CLIENT LIST's tot-mem: the client's memory by the same figures, with the arguments of the command it
    is running (Redis 7.4+ also lends it a query buffer of its own meanwhile)."""
    memory, target = server.engine.memory, server.config.target
    size = usage(client, server.clock(), figures(target), memory.client_buffers, 1 / server.config["hz"])
    if running is None:
        return size
    lent = RUNNING_QUERY_BUFFER if not target.valkey_server and target.version >= (7, 4) else 0
    return size + sum(len(arg) + 8 for arg in running) + lent


def evict(server: Server, now: float) -> bool:
    """Disconnect the biggest evictable clients while all clients' memory reaches the limit; whether any
    was. Replicas and monitors are not counted (Redis evicts only normal and pub/sub clients, and files
    monitors with replicas)."""
    memory = server.engine.memory
    base, buffered, cron = figures(server.config.target), memory.client_buffers, 1 / server.config["hz"]
    sizes = {c: usage(c, now, base, buffered, cron) for c in server.clients.values()
             if not (c.monitoring or c.replica or c.closing)}
    total = sum(sizes.values())
    if total < memory.clients_limit:
        return False
    candidates = sorted((c for c in sizes if not c.no_evict), key=lambda c: (-_bucket(sizes[c]), c.id))
    evicted = False
    for client in candidates:
        if total < memory.clients_limit:
            break
        total -= sizes[client]
        client.closing = True
        client.close()
        server.stats["evicted_clients"] += 1
        evicted = True
    return evicted


def _bucket(size: int) -> int:
    return max(size.bit_length() - FIRST_BUCKET, 0)
