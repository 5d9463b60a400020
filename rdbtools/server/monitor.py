"""MONITOR: each command the server runs, once it has run, as one status line to every monitoring client
(Redis's replicationFeedMonitors): when, the database, who (an address, "lua" for a script's calls), and
the arguments quoted as Redis's sdscatrepr quotes them, with secrets replaced (redaction.py).
Administrative commands (the table's ``admin`` / ``skip_monitor`` flags) are not shown."""

from __future__ import annotations

import time

from rdbtools.keyspace.commands import Status
from rdbtools.server.redaction import redacted

_ESCAPES = {ord("\\"): "\\\\", ord('"'): '\\"', ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t",
            ord("\a"): "\\a", ord("\b"): "\\b"}
#: sdscatrepr's text of each byte: printable ASCII as itself, the C escapes, else \xHH
_REPR = [_ESCAPES.get(c, chr(c) if 32 <= c < 127 else f"\\x{c:02x}") for c in range(256)]


_HIDDEN = frozenset(("admin", "skip_monitor"))


def shown(spec) -> bool:
    return not _HIDDEN & spec.flags


def feed(monitors: list, db: int, source: str, args: list[bytes]) -> None:
    """Send one command's line to every monitor (``source``: the client's address, or "lua")."""
    now = time.time_ns() // 1000
    quoted = " ".join('"' + "".join([_REPR[c] for c in arg]) + '"' for arg in redacted(args))
    line = Status(f"{now // 1_000_000}.{now % 1_000_000:06d} [{db} {source}] {quoted}")
    for monitor in monitors:
        monitor.send(line)
