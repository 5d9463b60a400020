"""How much eviction work Redis does at once (maxmemory-eviction-tenacity) and client eviction
(maxmemory-clients), against the real servers: the same commands to serve and to the server, pipelined where
the order of the event loop's turns is what is compared."""

from __future__ import annotations

import hiredis
import pytest

from tests.resp_client import RawClient

CONFIG_ERROR = ("ERR CONFIG SET failed (possibly related to argument 'maxmemory-eviction-tenacity') - argument must "
                "be between 0 and 100 inclusive")


def _pipelined(client: RawClient, *commands: tuple[str, ...]) -> list:
    """Commands sent in one write: the server runs them in one turn of its loop."""
    client.sock.sendall(b"".join(hiredis.pack_command(command) for command in commands))
    return [client.next() for _ in commands]


def _drained(port: int, tenacity: str, keys: int) -> list:
    """The keys left after a limit of 1 byte is set, then after each of two commands of the same turn."""
    client = RawClient(port)
    client.call(["FLUSHALL"])
    client.call(["CONFIG", "SET", "maxmemory-policy", "allkeys-random"])
    client.call(["CONFIG", "SET", "maxmemory-eviction-tenacity", tenacity])
    client.call(["DEBUG", "POPULATE", str(keys)])
    try:
        return _pipelined(client, ("CONFIG", "SET", "maxmemory", "1"), ("DBSIZE",), ("DBSIZE",))
    finally:
        client.call(["CONFIG", "SET", "maxmemory", "0"])
        client.call(["CONFIG", "SET", "maxmemory-eviction-tenacity", "10"])


@pytest.mark.parametrize("target", ["redis-6.2", "redis-7.0", "valkey-9.1"])
def test_tenacity_zero_evicts_sixteen_keys_a_command_and_a_new_limit_evicts_at_once_only_before_7_0(pairs, target):
    """Tenacity 0 gives eviction no time: 16 keys, the rest left to the loop; CONFIG SET maxmemory evicts
    them itself in 6.2, leaves it to the loop from 7.0, and each command evicts first."""
    real, served = pairs(target)
    expected = _drained(real.port, "0", 200)
    assert _drained(served.port, "0", 200) == expected
    assert expected[1:] == ([168, 152] if target == "redis-6.2" else [184, 168])


@pytest.mark.parametrize("tenacity", ["10", "100"])
def test_the_default_tenacity_and_no_limit_evict_a_few_hundred_keys_at_once(pairs, tenacity):
    real, served = pairs("redis-7.0")
    assert _drained(served.port, tenacity, 300) == _drained(real.port, tenacity, 300) == [b"OK", 0, 0]


def test_tenacity_takes_0_to_100(pairs):
    real, served = pairs("redis-7.0")
    found = []
    for port in (real.port, served.port):
        client = RawClient(port)
        found.append([str(client.call(["CONFIG", "SET", "maxmemory-eviction-tenacity", value]))
                      for value in ("-1", "101", "100", "0", "10")])
    assert found[0] == found[1] == [CONFIG_ERROR, CONFIG_ERROR, "b'OK'", "b'OK'", "b'OK'"]
