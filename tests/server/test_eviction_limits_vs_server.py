"""How much eviction work Redis does at once (maxmemory-eviction-tenacity) and client eviction
(maxmemory-clients), against the real servers: the same commands to serve and to the server, pipelined where
the order of the event loop's turns is what is compared."""

from __future__ import annotations

import time

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


def test_the_highest_tenacity_evicts_a_few_hundred_keys_at_once(pairs):
    """(The default, 10, gives eviction 500 us on Redis: a few hundred keys too, unless a loaded machine
    takes the CPU from the server meanwhile, so only tenacity 100, which has no time limit, is compared.)"""
    real, served = pairs("redis-7.0")
    assert _drained(served.port, "100", 300) == _drained(real.port, "100", 300) == [b"OK", 0, 0]


def test_tenacity_takes_0_to_100(pairs):
    real, served = pairs("redis-7.0")
    found = []
    for port in (real.port, served.port):
        client = RawClient(port)
        found.append([str(client.call(["CONFIG", "SET", "maxmemory-eviction-tenacity", value]))
                      for value in ("-1", "101", "100", "0", "10")])
    assert found[0] == found[1] == [CONFIG_ERROR, CONFIG_ERROR, "b'OK'", "b'OK'", "b'OK'"]


# --- maxmemory-clients -------------------------------------------------------------------------------

CLIENTS_ERROR = "ERR CONFIG SET failed (possibly related to argument 'maxmemory-clients') - "


@pytest.mark.parametrize("target", ["redis-7.0", "valkey-9.1"])
def test_maxmemory_clients_takes_a_memory_value_or_a_percentage_up_to_100(pairs, target):
    real, served = pairs(target)
    found = []
    for port in (real.port, served.port):
        client = RawClient(port)
        replies = [client.call(["CONFIG", "SET", "maxmemory-clients", value]) for value in
                   ("10%", "101%", "-1", "abc", "1mb", "0%", "0")]
        found.append([str(r) if isinstance(r, hiredis.ReplyError) else r for r in replies])
        client.call(["CONFIG", "SET", "maxmemory-clients", "0"])
    assert found[0] == found[1]
    assert found[0][1] == CLIENTS_ERROR + "percentage argument must be less or equal to 100"


def _open(port: int) -> RawClient:
    client = RawClient(port)
    client.sock.settimeout(30)
    return client


def _alive(client: RawClient) -> bool:
    """Whether the server still talks to the client (an evicted one is closed)."""
    try:
        client.sock.sendall(b"PING\r\n")
        return client.sock.recv(64).endswith(b"+PONG\r\n")
    except OSError:
        return False


def _sending(port: int, size: int, no_evict: bool = False) -> RawClient:
    """A new client sending all but the end of a SET of a ``size``-byte value (its query buffer)."""
    client = _open(port)
    if no_evict:
        client.call(["CLIENT", "NO-EVICT", "on"])
    client.sock.sendall(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$%d\r\n" % size + b"x" * size)
    time.sleep(0.5)  # read, weighed, and the new client's reply buffer shrunk by the cron
    return client


def _big_requests(port: int, setting: list[str]) -> list:
    """A client sending a 70 KB value, a second one, then a no-evict one sending 150 KB: INFO's count of
    evicted clients after each, and which are still served."""
    admin = _open(port)
    admin.call(["CLIENT", "NO-EVICT", "on"])
    admin.call(["CONFIG", "RESETSTAT"])
    admin.call(["CONFIG", "SET", *setting])
    time.sleep(0.5)

    def evicted() -> bytes:
        return admin.call(["INFO", "stats"]).split(b"evicted_clients:")[1].split(b"\r\n")[0]

    try:
        first = _sending(port, 70_000)
        found = [evicted()]
        second = _sending(port, 70_000)
        found.append(evicted())
        kept = _sending(port, 150_000, no_evict=True)
        found.append(evicted())
        kept.sock.sendall(b"\r\n")
        found.append([kept.next(), _alive(first), _alive(second), _alive(kept)])
    finally:
        admin.call(["CONFIG", "SET", "maxmemory-clients", "0"])
        admin.call(["CONFIG", "SET", "maxmemory", "0"])
    return found


@pytest.mark.parametrize("target", ["redis-7.0", "redis-8.2", "valkey-9.1"])
@pytest.mark.parametrize("setting", [["maxmemory-clients", "1"],
                                     ["maxmemory", "5000000", "maxmemory-clients", "3%"]])
def test_clients_over_maxmemory_clients_are_evicted_biggest_and_oldest_first_but_not_no_evict_ones(
        pairs, target, setting):
    """The limit (at least 128 KB; a percentage of maxmemory) reached by a second big request: the first
    client goes (the biggest, then the oldest); then by a no-evict client's: the second goes, the no-evict one
    stays (over the limit alone) and is served."""
    real, served = pairs(target)
    expected = _big_requests(real.port, setting)
    assert _big_requests(served.port, setting) == expected
    assert expected == [b"0", b"1", b"2", [b"OK", False, False, True]]


def _tot_mem(port: int, client_id: int) -> int:
    listing = RawClient(port).call(["CLIENT", "LIST", "ID", str(client_id)])
    return int(listing.split(b"tot-mem=")[1].split()[0])


@pytest.mark.parametrize("target", ["redis-7.0", "redis-8.2", "valkey-9.1"])
def test_client_list_tot_mem_of_an_idle_client_is_the_targets_figure(pairs, target):
    """What client eviction weighs: a client that ran a command, once the cron shrank its reply buffer,
    after over 2 s of idleness (Redis 7.0 then frees its query buffer), and while it runs CLIENT INFO (its
    arguments; Redis 8 lends it a query buffer)."""
    real, served = pairs(target)
    clients = [RawClient(port) for port in (real.port, served.port)]
    ids = [client.call(["CLIENT", "ID"]) for client in clients]
    found = []
    for wait in (0.5, 3.2):  # then idle over 2 s in whole seconds
        time.sleep(wait)
        found.append([_tot_mem(port, client_id) for port, client_id in zip((real.port, served.port), ids,
                                                                            strict=True)])
    found.append([int(client.call(["CLIENT", "INFO"]).split(b"tot-mem=")[1].split()[0]) for client in clients])
    assert [theirs for theirs, _ in found] == [ours for _, ours in found]
