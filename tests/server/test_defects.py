"""A bug of serve's inside a command: the client gets an error reply (no Redis reply exists for that) and the
server keeps serving, instead of a connection left waiting for a reply that never comes."""

from __future__ import annotations

import dataclasses
import logging
import sys

from rdbtools.keyspace.commands import CommandError
from rdbtools.server.app import RedisFormatter
from rdbtools.server.config import ServerConfig
from rdbtools.server.core import Server


def _served(tmp_path):
    server = Server(ServerConfig.load(None, ["--dir", str(tmp_path), "--save", ""]))
    return server, server.connect("a:1", "b:2", lambda reply: None, lambda: None)


def _broken(*_args):
    raise KeyError("field")


def _break(monkeypatch, spec) -> None:
    """The command's engine handler replaced by one with a bug."""
    monkeypatch.setattr(spec, "command", dataclasses.replace(spec.command, handler=_broken))


def test_a_command_that_meets_a_bug_answers_an_error_and_the_server_goes_on(tmp_path, monkeypatch, caplog):
    server, client = _served(tmp_path)
    _break(monkeypatch, server.resolve([b"GET", b"k"]))
    with caplog.at_level(logging.ERROR, logger="rdbtool.serve"):
        reply = server.execute(client, [b"GET", b"k"])
    assert isinstance(reply, CommandError)
    assert str(reply) == ("ERR serve failed running 'GET': KeyError: 'field' (a bug of rdbtool; the server log has "
                          "the traceback)")
    assert "KeyError" in caplog.text and "Traceback" in caplog.text
    monkeypatch.undo()
    server.execute(client, [b"SET", b"k", b"v"])
    assert server.execute(client, [b"GET", b"k"]) == b"v"


def test_a_bug_counts_as_a_failed_call_of_its_command(tmp_path, monkeypatch):
    server, client = _served(tmp_path)
    spec = server.resolve([b"GET", b"k"])
    _break(monkeypatch, spec)
    server.execute(client, [b"GET", b"k"])
    assert (spec.calls, spec.failed_calls) == (1, 1)


def test_the_log_line_of_a_bug_carries_its_traceback():
    try:
        _broken()
    except KeyError:
        record = logging.LogRecord("rdbtool.serve", logging.ERROR, __file__, 1, "serve failed running %r",
                                   (b"get",), sys.exc_info())
    line = RedisFormatter().format(record)
    assert line.split("\n")[0].endswith("# serve failed running b'get'")
    assert "Traceback (most recent call last)" in line and "KeyError: 'field'" in line
