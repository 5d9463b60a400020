"""CONFIG SET appendonly no in the loop turn that holds another client's reply for the AOF's write: that
reply still goes out (serve's commit found no AOF and dropped the held replies), as the real server answers."""

from __future__ import annotations

import time

from tests.resp_client import RawClient
from tests.server.serving import start_serve
from tests.servers import PROCESS_TIMEOUT, start_server


def _write_and_turn_off_in_one_turn(port: int) -> list[object]:
    """A SET and, from another client, CONFIG SET appendonly no, both sent while DEBUG SLEEP keeps the server
    busy: it reads them in the same turn once it wakes (the SET first). The three replies."""
    sleeper, writer, switcher = RawClient(port), RawClient(port), RawClient(port)
    for client in (sleeper, writer, switcher):
        client.sock.settimeout(PROCESS_TIMEOUT)
        assert client.call(["PING"]) == b"PONG"  # accepted before the server sleeps
    sleeper.sock.sendall(b"DEBUG SLEEP 2\r\n")
    time.sleep(0.5)
    writer.sock.sendall(b"SET k v\r\n")
    time.sleep(0.1)
    switcher.sock.sendall(b"CONFIG SET appendonly no\r\n")
    return [sleeper.next(), switcher.next(), writer.next()]


def test_a_reply_held_for_the_aof_is_sent_when_the_same_turn_turns_the_aof_off():
    with start_server("redis-7.0", extra=("--appendonly", "yes", "--enable-debug-command", "yes")) as real:
        expected = _write_and_turn_off_in_one_turn(real.port)
    with start_serve("--appendonly", "yes", "--target", "redis-7.0") as served:
        assert _write_and_turn_off_in_one_turn(served.port) == expected == [b"OK", b"OK", b"OK"]
