"""Inline commands split into words as the real servers split them (sdssplitargs, whose spaces are C's): the
words serve's RequestParser reads are the ones Redis and Valkey store."""

from __future__ import annotations

import socket

import pytest

from rdbtools.server.protocol import RequestParser
from tests.servers import start_server

INLINE_SETS = [
    b"SET a\x0bb 1\r\n",  # a vertical tab is skipped between words, not a word's end
    b"SET a\x0cb 1\r\n",  # a form feed, too
    b"SET a\xa0b 1\r\n",  # Latin-1 no-break space: a byte like any other
    b"SET a\x85b 1\r\n",  # Latin-1 next line
    b"SET a\x1cb 1\r\n",  # file separator: a space to Python's str.split, not to C
    b"\x0c SET\x0b a 1\r\n",  # before a word: skipped
]


def stored_keys(server_name: str, request: bytes) -> set[bytes]:
    with start_server(server_name) as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(request)
            assert sock.recv(100).startswith((b"+OK", b"-ERR")), request
        return set(server.client().scan_iter())


@pytest.mark.parametrize("server_name", ["redis-7.0", "redis-8.2", "valkey-9.1"])
@pytest.mark.parametrize("request_bytes", INLINE_SETS, ids=[repr(r) for r in INLINE_SETS])
def test_inline_command_words_are_the_servers(server_name, request_bytes):
    (words,) = RequestParser().feed(request_bytes)
    expected = {words[1]} if len(words) == 3 and words[0].upper() == b"SET" else set()
    assert stored_keys(server_name, request_bytes) == expected, words
