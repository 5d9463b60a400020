"""DEBUG, MODULE LOAD/LOADEX/UNLOAD and CONFIG SET of dir and dbfilename as each real server gates them with
enable-debug-command, enable-module-command and enable-protected-configs (no, local, yes): the same
requests from 127.0.0.1 and from 127.0.0.2 (a loopback peer Redis 7.0 calls remote, 7.2+ and Valkey local)
to the real server and to serve started alike; Redis 6.2 has no such directives and refuses nothing."""

from __future__ import annotations

import contextlib

import pytest

from rdbtools.server.protection import SETTINGS
from tests.resp_client import RawClient
from tests.server.serving import start_serve
from tests.servers import non_loopback_address, start_server

SOURCES = ("127.0.0.1", "127.0.0.2")
#: each a connection's requests, in order (a transaction refused while queued: EXECABORT)
SCRIPTS = (
    [["CONFIG", "GET", "enable-*"], ["CONFIG", "SET", "enable-debug-command", "yes"],
     ["CONFIG", "SET", "enable-module-command", "no", "maxmemory", "0"]],
    [["DEBUG"], ["DEBUG", "SLEEP", "0"], ["DEBUG", "NO-SUCH-SUBCOMMAND"], ["debug", "set-active-expire", "1"]],
    [["MODULE", "LOAD", "/nonexistent.so"], ["MODULE", "LOADEX", "/nonexistent.so"], ["MODULE", "UNLOAD", "nosuch"],
     ["MODULE", "LOAD"], ["MODULE", "LIST"], ["MODULE", "NOPE"]],
    [["MULTI"], ["DEBUG", "SLEEP", "0"], ["SET", "k", "v"], ["EXEC"], ["EXISTS", "k"]],
    [["CONFIG", "SET", "maxmemory", "0", "dbfilename", "other.rdb"], ["CONFIG", "SET", "dbfilename", "dump.rdb"],
     ["CONFIG", "SET", "enable-debug-command", "yes", "dbfilename", "dump.rdb"],
     ["CONFIG", "SET", "DIR", "."], ["CONFIG", "GET", "dbfilename"]],
)
#: (target, the setting both get): every setting's value on the targets with the directives, and serve
#: for 6.2 ignoring them
CASES = [*((target, value) for target in ("redis-7.0", "redis-8.2", "valkey-9.1") for value in ("no", "local")),
         ("redis-7.0", "yes"), ("redis-6.2", "no")]


def _replies(port: int, source: str) -> list:
    return [_answers(port, script, source) for script in SCRIPTS]


def _comparable(reply):
    """An error as its text (hiredis makes it an exception object); CONFIG GET's pairs as a set (the order
    of a server's own dictionary)."""
    if isinstance(reply, Exception):
        return ("error", str(reply))
    if isinstance(reply, list) and reply and all(isinstance(r, bytes) for r in reply) and len(reply) % 2 == 0:
        return ("pairs", frozenset(zip(reply[::2], reply[1::2], strict=True)))
    return reply


@pytest.mark.parametrize("target, value", CASES)
def test_protected_actions_answer_as_the_server_does_for_each_setting_and_peer(target, value):
    settings = [word for setting in SETTINGS for word in (f"--{setting}", value)]
    extra = ("--protected-mode", "no", *(settings if target != "redis-6.2" else ()))
    with start_server(target, extra=extra) as real:
        theirs = {source: _replies(real.port, source) for source in SOURCES}
    with start_serve("--target", target, "--protected-mode", "no", *settings) as served:
        ours = {source: _replies(served.port, source) for source in SOURCES}
    assert ours == theirs


@pytest.mark.parametrize("target", ["redis-6.2", "redis-7.0", "redis-8.2", "valkey-9.1"])
def test_a_client_that_has_not_authenticated_is_told_what_the_server_tells_first(target):
    """Redis 7.0 refuses a protected command before it asks for AUTH; Valkey 9 asks for AUTH first (the
    password set once started: the harnesses' readiness probes do not authenticate)."""
    settings = [word for setting in SETTINGS for word in (f"--{setting}", "no")]
    requests = [["DEBUG", "SLEEP", "0"], ["MODULE", "UNLOAD", "x"], ["CONFIG", "SET", "dir", "."]]
    with start_server(target, extra=tuple(settings) if target != "redis-6.2" else ()) as real:
        theirs = _answers_without_auth(real.port, requests)
    with start_serve("--target", target, *settings) as served:
        ours = _answers_without_auth(served.port, requests)
    assert ours == theirs


def _answers_without_auth(port: int, requests: list[list[str]]) -> list:
    assert _answers(port, [["CONFIG", "SET", "requirepass", "secret"]]) == [b"OK"]
    return _answers(port, requests)


def _answers(port: int, requests: list[list[str]], source: str | None = None) -> list:
    client = RawClient(port, source)
    with contextlib.closing(client.sock):
        return [_comparable(client.call(args)) for args in requests]


def _greeting(port: int, peer: tuple[str, str | None]):
    """What a connection to ``peer``'s host from its source is told first: PING's reply, or the error the
    server sends before it closes the connection."""
    host, source = peer
    client = RawClient(port, source, host)
    with contextlib.closing(client.sock):
        return _comparable(client.call(["PING"]))


@pytest.mark.parametrize("target", ["redis-6.2", "redis-7.0", "redis-8.2", "valkey-8.1", "valkey-9.1"])
def test_protected_mode_lets_in_the_peers_the_server_lets_in_and_tells_the_rest_as_it_does(target):
    """Protected mode (no password for the default user) lets in the peers the server calls local: Redis 7.0
    only 127.0.0.1 and ::1, so a peer on 127.0.0.2 is DENIED; 7.2+ and Valkey any 127.x; a peer on another
    interface is DENIED with each server's own text. Redis 6.2 does not protect a server started with a
    bind address (as both are here)."""
    address = non_loopback_address()
    assert address is not None, "this machine has no non-loopback address to connect from"
    peers = [("127.0.0.1", "127.0.0.1"), ("127.0.0.1", "127.0.0.2"), (address, None)]
    bind = ("--bind", "127.0.0.1", address, "--protected-mode", "yes")
    with start_server(target, extra=bind) as real:
        theirs = [_greeting(real.port, peer) for peer in peers]
    with start_serve("--target", target, *bind) as served:
        ours = [_greeting(served.port, peer) for peer in peers]
    assert ours == theirs
