"""MONITOR: each command the server runs, once it has run, as one status line to every monitoring client
(Redis's replicationFeedMonitors): when, the database, who (an address, "lua" for a script's calls), and
the arguments quoted as Redis's sdscatrepr quotes them, with passwords replaced by "(redacted)".
Administrative commands (the table's ``admin`` / ``skip_monitor`` flags) are not shown."""

from __future__ import annotations

import time

from rdbtools.keyspace.commands import Status

REDACTED = b"(redacted)"
_ESCAPES = {ord("\\"): "\\\\", ord('"'): '\\"', ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t",
            ord("\a"): "\\a", ord("\b"): "\\b"}
#: sdscatrepr's text of each byte: printable ASCII as itself, the C escapes, else \xHH
_REPR = [_ESCAPES.get(c, chr(c) if 32 <= c < 127 else f"\\x{c:02x}") for c in range(256)]


def shown(spec) -> bool:
    return not ({"admin", "skip_monitor"} & spec.flags)


def feed(monitors: list, db: int, source: str, args: list[bytes]) -> None:
    """Send one command's line to every monitor (``source``: the client's address, or "lua")."""
    now = time.time_ns() // 1000
    quoted = " ".join('"' + "".join([_REPR[c] for c in arg]) + '"' for arg in redacted(args))
    line = Status(f"{now // 1_000_000}.{now % 1_000_000:06d} [{db} {source}] {quoted}")
    for monitor in monitors:
        monitor.send(line)


def redacted(args: list[bytes]) -> list[bytes]:
    """The arguments as MONITOR shows them: AUTH's, HELLO's AUTH and MIGRATE's AUTH/AUTH2 credentials
    hidden, as the commands redact them while they parse (an AUTH of too many arguments is refused first)."""
    name = args[0].lower()
    if name == b"auth" and len(args) <= 3:
        return [args[0], *[REDACTED] * (len(args) - 1)]
    if name == b"hello":
        return _redact_options(args, 2, {b"auth": 2})
    if name == b"migrate":
        return _redact_options(args, 6, {b"auth": 1, b"auth2": 2}, stop=b"keys")
    return args


def _redact_options(args: list[bytes], start: int, secrets: dict[bytes, int], stop: bytes = b"") -> list[bytes]:
    """Options from ``start`` (up to ``stop``): each of ``secrets`` hides the arguments that follow it (when
    all are there)."""
    shown_args, i = list(args), start
    while i < len(args) and args[i].lower() != stop:
        count = secrets.get(args[i].lower())
        if count is not None and i + count < len(args):
            shown_args[i + 1 : i + 1 + count] = [REDACTED] * count
            i += count
        i += 1
    return shown_args
