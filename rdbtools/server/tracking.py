"""Client-side caching: CLIENT TRACKING, as Redis's tracking.c does it.

The tracking table remembers, by key name (whatever the database), the ids of the clients that read the
key; a write to the key sends each of them one invalidation and forgets the key (it is tracked again
when read again). A client that turns tracking off and on again keeps its place in the table, as in
Redis. BCAST clients track prefixes instead: the keys written under them are collected and sent once
per loop turn (Redis's beforeSleep), one message per prefix, keys in byte order. A flush (FLUSHDB,
FLUSHALL; not SWAPDB) sends every tracking client a null invalidation and empties the table.

Invalidations meant for the client whose command caused them go out after that command's reply (after
EXEC's, a script's; not those of the keys evicted before the command runs, ``before_call``): ``pending``
holds them until ``Server.execute`` has the reply. From Redis 7.2 (and in Valkey) every push to the client
running a command waits for its reply (``later``: a redirection that is the writer itself), except a flush's
from Redis 8, whose reply comes once the flush is done (``first``).
Nothing here runs while no client tracks: the server only asks when the table holds something.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from rdbtools.keyspace.commands import CommandError
from rdbtools.server.protocol import Push, Raw

if TYPE_CHECKING:
    from rdbtools.server.clients import Client

CHANNEL = b"__redis__:invalidate"
_NULLS = {2: Raw(b"$-1\r\n"), 3: Raw(b"_\r\n")}
_OVERLAP = "ERR Prefix '{}' overlaps with {} prefix '{}'. Prefixes for a single client must not overlap."


@dataclass(eq=False)
class ClientTracking:
    """One client's tracking mode (Redis's CLIENT_TRACKING_* flags and redirection)."""

    redirect: int = 0  # 0: the client's own connection
    bcast: bool = False
    optin: bool = False
    optout: bool = False
    noloop: bool = False
    caching: bool = False  # CLIENT CACHING YES/NO given for the next command (or transaction)
    broken: bool = False  # the redirection's client went away
    prefixes: set[bytes] = field(default_factory=set)  # BCAST


@dataclass(eq=False)
class Prefix:
    """A BCAST prefix: its clients, and the keys written under it this turn with who wrote each."""

    clients: list[Client] = field(default_factory=list)
    keys: dict[bytes, Client | None] = field(default_factory=dict)


class Tracking:
    """The server's tracking table, BCAST prefixes and the invalidations waiting for a reply."""

    def __init__(self, clients: dict[int, Client], target) -> None:
        self.clients = clients  # the server's, by id
        self.defer_pushes = target.pushes_after_reply  # pushes to the running client: after its reply
        self.flush_before_reply = not target.valkey_server and target.version >= (8, 0)
        self.first: list[Push] = []  # to the running client, before its reply (a flush's, Redis 8)
        self.later: list[Push] = []  # to the running client, after its reply (7.2+)
        self.table: dict[bytes, dict[int, None]] = {}  # key -> ids of the clients that read it
        self.items = 0  # (key, client) pairs in the table: INFO's tracking_total_items
        self.prefixes: dict[bytes, Prefix] = {}
        self.tracking_clients = 0
        #: a client tracks, or the table holds keys: writes must be looked at (else nothing here runs)
        self.active = False
        self.pending: list[bytes | None] = []  # for the client running a command: after its reply
        self.current: Client | None = None  # the client running a command (NOLOOP, pending), or None
        #: the current client's command has not begun (maxmemory's evictions before it): what it is told
        #: goes out at once, as Redis holds invalidations back only while a command executes
        self.before_call = False
        #: set by the edge: run a callable once this loop turn is done (BCAST messages go out then)
        self.schedule: Callable[[Callable[[], None]], object] | None = None
        self._broadcast_scheduled = False
        self._limit_tries = 0
        #: told when ``active`` changes (the server takes or leaves its direct path)
        self.on_change: Callable[[], None] = lambda: None

    def start(self, client: Client) -> None:
        """A request of a client begins (while tracking is active): it is the current client (NOLOOP, what
        waits for its reply); CACHING given before the previous command ends with it, unless that was a
        CLIENT command or was queued in MULTI (Redis's resetClient)."""
        self.current = client
        state = client.tracking
        if state is not None and state.caching and client.multi is None and not client.last_command.startswith(
                b"client"):
            state.caching = False

    def limit(self, max_keys: int) -> None:
        """Past tracking-table-max-keys, random keys are invalidated (told at once, no client's doing),
        a hundred more at each try that leaves the table still too full (Redis's trackingLimitUsedSlots)."""
        excess = len(self.table) - max_keys
        if not max_keys or excess <= 0:
            self._limit_tries = 0
            return
        self.current = None
        tries = 100 * (self._limit_tries + 1)
        self.invalidate(random.sample(list(self.table), min(excess, tries)), None)
        self._limit_tries = 0 if len(self.table) <= max_keys else self._limit_tries + 1

    # --- CLIENT TRACKING ON / OFF ---------------------------------------------------------------

    def enable(self, client: Client, redirect: int, options: set[bytes], prefixes: list[bytes]) -> None:
        """Tracking on (again): the mode given replaces the old one, BCAST prefixes are added."""
        state = client.tracking
        if state is None:
            state = client.tracking = ClientTracking()
            self.tracking_clients += 1
            self._refresh()
        state.redirect, state.broken = redirect, False
        state.bcast, state.noloop = b"BCAST" in options, b"NOLOOP" in options
        state.optin, state.optout = b"OPTIN" in options, b"OPTOUT" in options
        if state.bcast:
            for prefix in prefixes or [b""]:
                entry = self.prefixes.setdefault(prefix, Prefix())
                if client not in entry.clients:
                    entry.clients.append(client)
                    state.prefixes.add(prefix)

    def disable(self, client: Client) -> None:
        """Tracking off (or the client gone): its prefixes are dropped; the keys it read stay in the
        table until written, as in Redis."""
        state = client.tracking
        if state is None:
            return
        for prefix in state.prefixes:
            entry = self.prefixes[prefix]
            entry.clients.remove(client)
            if not entry.clients:
                del self.prefixes[prefix]
        client.tracking = None
        self.tracking_clients -= 1
        self._refresh()

    def _refresh(self) -> None:
        active = bool(self.tracking_clients or self.table)
        if active != self.active:
            self.active = active
            self.on_change()

    def check(self, client: Client, redirect: int, options: set[bytes], prefixes: list[bytes]) -> None:
        """Redis's checks of CLIENT TRACKING ON, in its order, with its texts."""
        state = client.tracking
        bcast = b"BCAST" in options
        if not bcast and prefixes:
            raise CommandError("ERR PREFIX option requires BCAST mode to be enabled")
        if state is not None and state.bcast != bcast:
            raise CommandError("ERR You can't switch BCAST mode on/off before disabling tracking for this client, "
                               "and then re-enabling it with a different mode.")
        if bcast and options & {b"OPTIN", b"OPTOUT"}:
            raise CommandError("ERR OPTIN and OPTOUT are not compatible with BCAST")
        if {b"OPTIN", b"OPTOUT"} <= options:
            raise CommandError("ERR You can't specify both OPTIN mode and OPTOUT mode")
        if state is not None and ((b"OPTIN" in options and state.optout) or (b"OPTOUT" in options and state.optin)):
            raise CommandError("ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, "
                               "and then re-enabling it with a different mode.")
        if bcast:
            _check_overlaps(sorted(state.prefixes) if state is not None else [], prefixes)

    # --- reads ------------------------------------------------------------------------------------

    def remember(self, cid: int, state: ClientTracking, keys: Iterable[bytes]) -> None:
        """The keys a read-only command of a tracking (not BCAST) client named (its id and tracking state),
        unless OPTIN without CACHING YES or OPTOUT with CACHING NO (Redis's trackingRememberKeys)."""
        if (state.optin and not state.caching) or (state.optout and state.caching):
            return
        table = self.table
        for key in keys:
            ids = table.get(key)
            if ids is None:
                ids = table[key] = {}
            if cid not in ids:
                ids[cid] = None
                self.items += 1

    # --- writes -----------------------------------------------------------------------------------

    def invalidate(self, keys: Iterable[bytes], by: Client | None) -> None:
        """Keys modified (by a client's command, or by expiry: ``by`` None)."""
        prefixes, table, current = self.prefixes, self.table, self.current
        for key in keys:
            if prefixes:
                self._collect(key, by)
            ids = table.pop(key, None)
            if ids is None:
                continue
            self.items -= len(ids)
            for cid in ids:
                target = self.clients.get(cid)
                if target is None:
                    continue
                state = target.tracking
                if state is None or state.bcast or (state.noloop and target is current):
                    continue
                if target is current and not self.before_call:
                    self.pending.append(key)
                else:
                    self.send(target, [key])
        self._refresh()

    def flush(self) -> None:
        """A flush: every tracking client is told null, the table emptied (Redis's
        trackingInvalidateKeysOnFlush)."""
        if self.tracking_clients:
            for client in list(self.clients.values()):
                if client.tracking is not None:
                    if client is self.current and not self.flush_before_reply:
                        self.pending.append(None)
                    else:
                        self.send(client, None, now=self.flush_before_reply)
        self.table.clear()
        self.items = 0
        self._refresh()

    def _collect(self, key: bytes, by: Client | None) -> None:
        for prefix, entry in self.prefixes.items():
            if key.startswith(prefix):
                entry.keys[key] = by
                if not self._broadcast_scheduled and self.schedule is not None:
                    self._broadcast_scheduled = True
                    self.schedule(self.broadcast)

    def broadcast(self) -> None:
        """The BCAST messages of the turn: per prefix (in byte order), the keys written under it, sorted;
        a NOLOOP client is not told the keys it wrote itself last."""
        self._broadcast_scheduled = False
        self.current = None  # between requests
        for _, entry in sorted(self.prefixes.items()):
            if not entry.keys:
                continue
            keys = sorted(entry.keys)
            written, entry.keys = entry.keys, {}
            for client in list(entry.clients):
                if client.tracking is not None and client.tracking.noloop:
                    mine = [k for k in keys if written[k] is not client]
                    if mine:
                        self.send(client, mine)
                else:
                    self.send(client, keys)

    @contextlib.contextmanager
    def serving(self, client: Client) -> Iterator[None]:
        """A blocked client served in another's request runs as the current client for a while: what it
        causes for itself is sent after its reply (pushed at once, not held for a later request)."""
        if not self.active:
            yield
            return
        outer, held = self.current, self.pending
        self.current, self.pending, defer, self.defer_pushes = client, [], self.defer_pushes, False
        try:
            yield
        finally:
            self.finish(client, None, None)
            self.current, self.pending, self.defer_pushes = outer, held, defer

    def finish(self, client: Client, reply: object, no_reply: object) -> object:
        """The request of the current client is done: what waited for its reply goes after it."""
        self.current = None
        if not (self.pending or self.first or self.later):
            return reply
        (first, self.first), (later, self.later) = (self.first, []), (self.later, [])
        for push in first:
            client.send(push)
        if reply is not no_reply:
            client.send(reply)
        for push in later:
            client.send(push)
        pending, self.pending = self.pending, []
        if client.id in self.clients:
            for key in pending:
                self.send(client, None if key is None else [key])
        return no_reply

    def send(self, client: Client, keys: list[bytes] | None, now: bool = False) -> None:
        """One invalidation: a RESP3 push, or a message of __redis__:invalidate to a RESP2 client in
        pub/sub mode that the tracking client redirects to (Redis's sendTrackingMessage). A flush's null
        is the tracking client's protocol's null, whatever the redirection speaks."""
        state = client.tracking
        payload = keys if keys is not None else _NULLS[client.resp]
        receiver: Client | None  # declared apart: the assignments narrow it (a redirection may be gone)
        receiver = client
        if state is not None and state.redirect:
            receiver = self.clients.get(state.redirect)
            if receiver is None:
                state.broken = True
                if client.resp == 3:
                    self._push(client, Push([b"tracking-redir-broken", state.redirect]), now)
                return
        if receiver.resp == 3:
            self._push(receiver, Push([b"invalidate", payload]), now)
        elif receiver is not client and (receiver.channels or receiver.patterns):
            self._push(receiver, Push([b"message", CHANNEL, payload]), now)

    def _push(self, receiver: Client, push: Push, now: bool) -> None:
        if receiver is not self.current or self.before_call:
            receiver.send(push)
        elif now:
            self.first.append(push)
        elif self.defer_pushes:
            self.later.append(push)
        else:
            receiver.send(push)

    # --- INFO ---------------------------------------------------------------------------------------

    def info(self) -> dict[str, int]:
        return {"tracking_total_keys": len(self.table), "tracking_total_items": self.items,
                "tracking_total_prefixes": len(self.prefixes)}


def _overlap(a: bytes, b: bytes) -> bool:
    return a.startswith(b) or b.startswith(a)


def _check_overlaps(existing: list[bytes], given: list[bytes]) -> None:
    """Redis's checkPrefixCollisionsOrReply: each given prefix against the client's (in byte order),
    then against the given ones after it."""
    for i, prefix in enumerate(given):
        for other in existing:
            if _overlap(other, prefix):
                raise CommandError(_OVERLAP.format(_text(prefix), "an existing", _text(other)))
        for other in given[i + 1:]:
            if _overlap(prefix, other):
                raise CommandError(_OVERLAP.format(_text(prefix), "another provided", _text(other)))


def _text(prefix: bytes) -> str:
    """As %s prints it: up to the first NUL."""
    return prefix.split(b"\0")[0].decode("utf-8", "replace")
