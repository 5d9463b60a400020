"""What the server knows about each connection (CLIENT LIST's fields and the per-connection state)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(eq=False)
class Client:
    id: int
    address: str  # ip:port, or the socket path for a unix socket
    local_address: str
    send: Callable[[object], None]  # deliver a reply or push, outside a request (pub/sub, unblocking)
    close: Callable[[], None]
    name: bytes = b""
    db: int = 0
    resp: int = 2
    authenticated: bool = False
    user: object = None  # its ACL user (acl.User)
    gated: bool = True  # its requests go through the AUTH / ACL check (acl.Acl.refresh says)
    created: float = field(default_factory=time.time)
    last_command: bytes = b"NULL"
    last_interaction: float = field(default_factory=time.time)
    multi: list[list[bytes]] | None = None  # queued commands inside MULTI
    multi_failed: bool = False  # a command was refused while queuing: EXEC aborts
    watched: dict[tuple[int, bytes], int] = field(default_factory=dict)  # (db, key) -> version when watched
    channels: set[bytes] = field(default_factory=set)
    patterns: set[bytes] = field(default_factory=set)
    shard_channels: set[bytes] = field(default_factory=set)  # SSUBSCRIBE's (Redis 7.0+)
    subscribed: bool = False  # to any of the three: the subscribed context (one test per request)
    blocked: object | None = None  # the wait of a blocking command, while it waits
    closing: bool = False  # QUIT / protocol error: close once the replies are out
    scan_snapshots: dict[int, list[bytes]] = field(default_factory=dict)
    library: dict[str, bytes] = field(default_factory=dict)  # CLIENT SETINFO
    #: pushes a command made for its own client, sent once its reply is out (Redis 7.2+, Valkey)
    after_reply: list[object] = field(default_factory=list)

    @property
    def subscriptions(self) -> int:
        """What (P)SUBSCRIBE replies count: channels and patterns (SSUBSCRIBE's count its own)."""
        return len(self.channels) + len(self.patterns)

    def refresh_subscribed(self) -> None:
        self.subscribed = bool(self.channels or self.patterns or self.shard_channels)

    def info_line(self, now: float) -> str:
        flags = "x" if self.multi is not None else "b" if self.blocked else "P" if self.subscribed else "N"
        return (f"id={self.id} addr={self.address} laddr={self.local_address} fd=8 "
                f"name={self.name.decode('utf-8', 'replace')} age={int(now - self.created)} "
                f"idle={int(now - self.last_interaction)} flags={flags} db={self.db} sub={len(self.channels)} "
                f"psub={len(self.patterns)} ssub={len(self.shard_channels)} "
                f"multi={-1 if self.multi is None else len(self.multi)} qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 "
                f"rbs=1024 rbp=0 obl=0 oll=0 omem=0 tot-mem=0 events=r "
                f"cmd={self.last_command.decode('utf-8', 'replace').lower()} "
                f"user={self.user.name.decode('utf-8', 'replace')} redir=-1 resp={self.resp}")
