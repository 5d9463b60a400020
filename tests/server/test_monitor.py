"""MONITOR against the real servers: the lines a monitoring client receives for the same commands (times
and client addresses set aside): what is shown and in which order (a transaction's commands before its
EXEC, a script before its calls, "lua" as their source), how arguments are quoted, which are redacted,
which commands are never shown."""

from __future__ import annotations

import re

import pytest

from tests.resp_client import RawClient, RawReplies
from tests.server.serving import start_serve
from tests.servers import start_server

TARGETS = ["redis-6.2", "redis-7.0", "redis-8.2", "valkey-9.1"]
_END = "--end-of-steps--"
_LINE = re.compile(rb"^\+\d+\.\d{6} \[(\d+) ([^\]]*)\] (.*)$")

STEPS = [
    ["SET", "foo", "bar\n\"x\x01\\ \x7f\xff"], ["GET", "foo"], ["SELECT", "2"], ["MULTI"], ["SET", "a", "1"],
    ["EXEC"], ["MULTI"], ["NOSUCH"], ["EXEC"], ["EVAL", "redis.call('set', KEYS[1], ARGV[1])", "1", "foo", "bar"],
    ["EVAL", "return 1", "x"], ["EVALSHA", "0" * 40, "0"], ["AUTH", "x"], ["AUTH", "a", "b"], ["AUTH", "a", "b", "c"],
    ["HELLO", "2", "AUTH", "u", "p"], ["CONFIG", "GET", "port"], ["DEBUG", "SLEEP", "0"], ["LPUSH", "l", "x"],
    ["INCR", "foo"], ["GET"], ["PING"], ["CLIENT", "ID"], ["BLPOP", "l", "0"], ["SELECT", "0"],
    ["MIGRATE", "127.0.0.1", "1", "nokey", "0", "10", "AUTH2", "u", "p"],
]


def monitored(port: int, steps: list[list[str]]) -> list[tuple[bytes, bytes, bytes]]:
    """What a monitor received while another client ran the steps: (db, source, arguments) per line (the
    source "client" for the stepping client's address)."""
    monitor = RawReplies(port, timeout=30)
    assert monitor.call(["MONITOR"]) == b"+OK\r\n"
    client = RawClient(port)
    address = client.call(["CLIENT", "INFO"]).split()[1].removeprefix(b"addr=")
    for args in [*steps, ["ECHO", _END]]:
        client.call(args)
    lines, data = [], b""
    while _END.encode() not in data:
        chunk = monitor.sock.recv(65536)
        assert chunk, "the server closed the monitor's connection"
        data += chunk
    for line in data.split(b"\r\n")[:-1]:
        db, source, quoted = _LINE.match(line).groups()
        lines.append((db, b"client" if source == address else source, quoted))
    monitor.close()
    return lines


@pytest.mark.parametrize("target", TARGETS)
def test_a_monitor_sees_what_redis_shows(target):
    steps = [s for s in STEPS if target != "redis-6.2" or s[0] != "HELLO"]
    with start_server(target) as real, start_serve("--target", target) as served:
        theirs, ours = monitored(real.port, steps), monitored(served.port, steps)
    assert ours == theirs


@pytest.mark.parametrize("target", ["redis-7.0", "valkey-9.1"])
def test_monitor_from_exec_is_refused_a_second_is_ignored_and_reset_ends_it(target):
    script = [["MULTI"], ["MONITOR"], ["EXEC"], ["MONITOR"], ["MONITOR"], ["PING"]]
    with start_server(target) as real, start_serve("--target", target) as served:
        replies = []
        for port in (real.port, served.port):
            client = RawReplies(port, timeout=30)
            got = [client.call(args) for args in script[:4]]
            client.sock.sendall(b"*1\r\n$7\r\nMONITOR\r\n*1\r\n$5\r\nRESET\r\n")  # no reply to the second
            got.append(client.read())
            got.append(_flags(port, b"cmd=reset"))
            watcher = RawReplies(port)
            watcher.call(["MONITOR"])
            got.append(_flags(port, b"cmd=monitor"))
            watcher.close()
            replies.append(got)
    assert replies[1] == replies[0]


def _flags(port: int, mark: bytes) -> bytes:
    """The CLIENT LIST flags of the client whose line has ``mark`` (its last command)."""
    lines = [line for line in RawClient(port).call(["CLIENT", "LIST"]).split(b"\n") if mark in line]
    return re.search(rb" flags=(\S+) ", lines[0]).group(1)
