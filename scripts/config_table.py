#!/usr/bin/env python3
"""Generate rdbtools/server/config_table.json: every parameter CONFIG GET * lists on each real server,
with its default and the kind of value CONFIG SET takes there.

    .venv/bin/python scripts/config_table.py [--check]

Each server of tests/servers.py is started (protected configs enabled, so that each can be probed) and
asked ``CONFIG GET *``; then each parameter is set to a word no kind of value accepts, and the error
says the kind (yes/no, integer with its bounds, memory, one of some words) or that it is immutable; a
parameter that took the word gets its default back. Aliases (``slave-*`` of ``replica-*``, ``*-ziplist-*``
of ``*-listpack-*`` ...) are the pairs of names one setting changes together. --check compares the
committed file with the servers instead of writing it.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import redis

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.servers import start_server  # noqa: E402

TABLE = REPO / "rdbtools" / "server" / "config_table.json"
SERVERS = ("redis-6.2", "redis-7.0", "redis-8.2", "valkey-8.1", "valkey-9.1")
PROBE = "rdbtool-probe-word"
#: the parameters whose default depends on how the server was started (the port, its directory ...)
_PER_START = frozenset({"port", "dir", "bind", "dbfilename", "logfile", "save", "daemonize", "pidfile",
                        "enable-debug-command", "enable-protected-configs", "enable-module-command"})
_BOUNDS = re.compile(r"must be between (-?\d+) and (-?\d+) inclusive")
_OPTIONS = re.compile(r"must be one of the following: (.*)$")


def kind_of(client: redis.Redis, name: str, default: str) -> dict:
    """What CONFIG SET takes for this parameter, found from its refusals (the default set back after)."""
    if name.startswith("tls-"):  # a server built without TLS stops when one is set: not probed
        return {"kind": "special"}
    error = _refusal(client, name, PROBE)
    if error is None:
        client.config_set(name, default)
        return {"kind": "text"}
    if "immutable" in error or "Unsupported CONFIG parameter" in error:
        return {"kind": "immutable"}
    if "'yes' or 'no'" in error:
        return {"kind": "bool"}
    options = _OPTIONS.search(error)
    if options:
        return {"kind": "enum", "options": options[1].strip().split(", ")}
    if "memory" in error:
        bounds = _BOUNDS.search(_refusal(client, name, str((1 << 64) - 1)) or "")
        if bounds is None:
            client.config_set(name, default)
            return {"kind": "memory"}
        return {"kind": "memory", "low": int(bounds[1]), "high": int(bounds[2])}
    if "parsed into an integer" in error or "integer" in error:
        bounds = _BOUNDS.search(_refusal(client, name, str(-(1 << 63))) or "")
        if bounds is None:  # the whole 64-bit range: the probe was taken
            client.config_set(name, default)
            return {"kind": "int", "low": -(1 << 63), "high": (1 << 63) - 1}
        return {"kind": "int", "low": int(bounds[1]), "high": int(bounds[2])}
    return {"kind": "special"}  # its own syntax (save, client-output-buffer-limit ...): kept as given


def _refusal(client: redis.Redis, name: str, value: str) -> str | None:
    try:
        client.config_set(name, value)
    except redis.ResponseError as error:
        return str(error)
    return None


def aliases(client: redis.Redis, defaults: dict[str, str], kinds: dict[str, dict]) -> dict[str, str]:
    """alias -> the name it stands for: of two names one setting changes together, the newer spelling."""
    found: dict[str, str] = {}
    for name, spec in kinds.items():
        value = _other_value(spec, defaults[name])
        if name in found or name == "appendonly" or value is None or _refusal(client, name, value) is not None:
            continue
        changed = {n for n, v in client.config_get("*").items() if v != defaults[n] and n != name}
        client.config_set(name, defaults[name])
        for other in changed:
            found[_older(name, other)] = _newer(name, other)
    return found


def _other_value(spec: dict, default: str) -> str | None:
    """A value the parameter takes that is not its default (None: not probed)."""
    if spec["kind"] == "bool":
        return "no" if default == "yes" else "yes"
    if spec["kind"] == "text":
        return PROBE
    if spec["kind"] == "memory" or (spec["kind"] == "int" and spec["low"] <= 2 <= spec["high"] - 1):
        return "2" if default != "2" else "3"
    return None


_OLD_WORDS = ("slave", "ziplist", "lua-time-limit", "master")


def _older(a: str, b: str) -> str:
    return a if any(word in a for word in _OLD_WORDS) else b


def _newer(a: str, b: str) -> str:
    return b if _older(a, b) == a else a


def extract(name: str) -> dict:
    """One server's {"defaults": {parameter: value}, "kinds": {...}, "aliases": {...}}."""
    extra = () if name == "redis-6.2" else ("--enable-protected-configs", "yes")  # 7.0+ protects some
    with start_server(name, extra=extra) as server:
        client = server.client()
        defaults = {k: v for k, v in client.config_get("*").items()}
        kinds = {p: kind_of(client, p, v) for p, v in sorted(defaults.items()) if p not in _PER_START}
        return {"defaults": {p: v for p, v in sorted(defaults.items()) if p not in _PER_START}, "kinds": kinds,
                "aliases": dict(sorted(aliases(client, defaults, kinds).items()))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="compare with the committed file, write nothing")
    options = parser.parse_args()
    data = {server: extract(server) for server in SERVERS}
    text = json.dumps(data, indent=1, sort_keys=True) + "\n"
    if options.check:
        same = TABLE.read_text() == text
        print("config_table.json equals the servers" if same else "config_table.json differs from the servers")
        raise SystemExit(0 if same else 1)
    TABLE.write_text(text)


if __name__ == "__main__":
    main()
