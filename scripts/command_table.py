#!/usr/bin/env python3
"""Generate rdbtools/server/command_table.json from what the real servers say of their commands.

    .venv/bin/python scripts/command_table.py [--check]

Each server of tests/servers.py is started and asked, in RESP3 (so statuses, sets and maps keep their
types), ``COMMAND INFO`` and ``COMMAND DOCS`` (Redis 6.2 has no DOCS). Subcommands are flattened into
entries of their own ("config|get"); for each entry the table keeps each distinct INFO and DOCS reply
once, with the servers that give it. --check compares the committed file with the servers instead of
writing it (tests/server/test_command_table.py does the same).
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

TABLE = REPO / "rdbtools" / "server" / "command_table.json"
SERVERS = ("redis-6.2", "redis-7.0", "redis-8.2", "valkey-8.1", "valkey-9.1")

Json = object


class Resp3:
    """A blocking RESP client whose replies keep their types as JSON: bulk strings as str, statuses as
    {"+": text}, sets as {"~": [...]}, pushes as {">": [...]}, maps as dicts (every key a string), errors as
    {"-": text}.
    RESP3 unless told 2 (tests compare both)."""

    def __init__(self, port: int, protocol: int = 3) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.buffer = b""
        if protocol == 3:
            self.call("HELLO", "3")

    def call(self, *args: str | bytes) -> Json:
        """A reply; an error reply raised (RuntimeError)."""
        reply = self.reply(*args)
        if isinstance(reply, dict) and list(reply) == ["-"]:
            raise RuntimeError(reply["-"])
        return reply

    def reply(self, *args: str | bytes) -> Json:
        """A reply, an error as {"-": text}."""
        data = [a.encode() if isinstance(a, str) else a for a in args]
        self.sock.sendall(b"*%d\r\n" % len(data) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in data))
        return self._value()

    def close(self) -> None:
        self.sock.close()

    def _line(self) -> bytes:
        while b"\r\n" not in self.buffer:
            self._fill()
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line

    def _fill(self) -> None:
        data = self.sock.recv(1 << 20)
        if not data:
            raise ConnectionError("the server closed the connection")
        self.buffer += data

    def _value(self) -> Json:
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind in (b"$", b"=") and rest != b"-1":  # a verbatim string (INFO) as its text
            size = int(rest)
            while len(self.buffer) < size + 2:
                self._fill()
            data, self.buffer = self.buffer[:size], self.buffer[size + 2 :]
            return data.decode()[4 if kind == b"=" else 0 :]
        if kind in (b"+", b"-"):
            return {kind.decode(): rest.decode()}
        if kind == b":":
            return int(rest)
        if kind == b"_" or rest == b"-1":
            return None if kind != b"*" else {"*": None}  # RESP2's null array told from a null bulk
        if kind in (b"*", b"~", b">"):
            items = [self._value() for _ in range(int(rest))]
            return items if kind == b"*" else {kind.decode(): items}  # a set, or a push
        if kind == b"%":
            return {_key(self._value()): self._value() for _ in range(int(rest))}
        raise ValueError(f"unexpected RESP3 type {line!r}")


def _key(value: Json) -> str:
    if not isinstance(value, str):
        raise ValueError(f"a map key that is not a bulk string: {value!r}")
    return value


def extract(port: int, containers: frozenset[str] = frozenset()) -> dict[str, dict[str, Json]]:
    """One server's {"version", "info": {name: entry}, "docs": {name: docs}, "help": {name: lines}},
    subcommands flattened; "help": what "<container> HELP" answers (those with a HELP subcommand, and
    before 7.0, when COMMAND tells no subcommands, ``containers``: those of the newer servers)."""
    client = Resp3(port)
    try:
        version = client.call("INFO", "server")
        infos = client.call("COMMAND")
        try:
            docs = client.call("COMMAND", "DOCS")
        except RuntimeError:  # Redis 6.2
            docs = {}
        helps = {entry[0].lower(): client.reply(entry[0], "HELP") for entry in infos
                 if (len(entry) > 9 and any(sub[0].lower().endswith("|help") for sub in entry[9] or []))
                 or (len(entry) <= 9 and entry[0].lower() in containers)}
    finally:
        client.close()
    found = {}
    for line in version.splitlines():
        if line.startswith(("redis_version:", "valkey_version:")):
            found[line.split(":")[0]] = line.split(":")[1].strip()
    flat_info: dict[str, Json] = {}
    for entry in infos:
        _flatten_info(entry, flat_info)
    flat_docs: dict[str, Json] = {}
    for name, doc in docs.items():
        _flatten_docs(name, doc, flat_docs)
    return {"version": found.get("valkey_version") or found["redis_version"], "info": flat_info, "docs": flat_docs,
            "help": helps}


def _flatten_info(entry: list, into: dict[str, Json]) -> None:
    """A container's subcommands (an array; others have an empty set there) become entries of their own and
    its array is left empty, to be filled with the subcommands serve has."""
    entry = list(entry)
    if len(entry) > 9 and isinstance(entry[9], list):
        for sub in entry[9]:
            _flatten_info(sub, into)
        entry[9] = []
    into[entry[0].lower()] = entry


def _flatten_docs(name: str, doc: dict, into: dict[str, Json]) -> None:
    doc = dict(doc)
    for sub_name, sub in doc.pop("subcommands", {}).items():
        _flatten_docs(sub_name, sub, into)
    into[name.lower()] = doc


def merge(extracted: dict[str, dict]) -> dict[str, Json]:
    """The table: each server's version, and per command each distinct INFO, DOCS (and a container's HELP)
    with its servers."""
    commands: dict[str, dict[str, list]] = {}
    for server, found in extracted.items():
        for part in ("info", "docs", "help"):
            for name, value in found[part].items():
                variants = commands.setdefault(name, {"info": [], "docs": []}).setdefault(part, [])
                for variant in variants:
                    if variant[1] == value:
                        variant[0].append(server)
                        break
                else:
                    variants.append([[server], value])
    return {"servers": {server: found["version"] for server, found in extracted.items()},
            "commands": dict(sorted(commands.items()))}


def from_servers() -> dict[str, Json]:
    """Start each server, extract, merge."""
    from tests.servers import start_server

    extracted = {}
    for server in SERVERS[1:] + SERVERS[:1]:  # Redis 6.2 last: it is asked HELP of the others' containers
        containers = frozenset(n.split("|")[0] for found in extracted.values() for n in found["info"] if "|" in n)
        with start_server(server) as running:
            extracted[server] = extract(running.port, containers)
    return merge({server: extracted[server] for server in SERVERS})


def dumps(table: dict[str, Json]) -> str:
    return json.dumps(table, separators=(",", ":"), sort_keys=False) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the committed table, write nothing")
    options = parser.parse_args()
    table = from_servers()
    if options.check:
        same = json.loads(TABLE.read_text()) == table
        print("the table is what the servers say" if same else "the table differs from the servers")
        return 0 if same else 1
    TABLE.write_text(dumps(table))
    print(f"wrote {TABLE.relative_to(REPO)}: {len(table['commands'])} commands and subcommands")
    return 0


if __name__ == "__main__":
    sys.exit(main())
