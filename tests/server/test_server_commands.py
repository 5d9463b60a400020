"""serve's server-side behaviour: expiry (lazy and active), OBJECT ENCODING as the target answers it,
INFO, DEBUG, BGSAVE SCHEDULE, a unix socket, maxclients and timeout, FUNCTION, hash field TTLs vs 8.2."""

from __future__ import annotations

import socket
import time

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.compat.generator import LIBRARY, populate
from tests.keyspace.test_engine_hash_ttls import COMMANDS as FIELD_TTL_COMMANDS
from tests.resp_client import RawClient
from tests.server.serving import start_serve
from tests.server.test_replies import _plain
from tests.servers import PROCESS_TIMEOUT, SERVERS, start_server


def test_expired_keys_are_never_returned_and_the_active_cycle_removes_them():
    with start_serve() as serving:
        client = serving.client()
        for i in range(60):
            client.set(f"short:{i}", "v", px=100)
        client.set("kept", "v")
        time.sleep(0.3)
        assert client.get("short:0") is None and client.exists("short:1") == 0  # lazily, on access
        deadline = time.time() + 10
        while client.dbsize() > 1:  # actively, without access
            assert time.time() < deadline
            time.sleep(0.1)
        assert client.info("stats")["expired_keys"] >= 50


def test_debug_set_active_expire_0_leaves_expired_keys_until_accessed():
    with start_serve() as serving:
        client = serving.client()
        client.execute_command("DEBUG", "SET-ACTIVE-EXPIRE", "0")
        client.set("short", "v", px=50)
        time.sleep(0.5)
        assert client.dbsize() == 1 and client.get("short") is None and client.dbsize() == 0


@pytest.mark.parametrize("name", ["redis-7.0", "redis-8.2"])
def test_object_encoding_is_what_the_target_server_answers(name):
    spec = SERVERS[name]
    with start_server(name) as real, start_serve("--target", name) as served:
        populate(real.client(), spec)
        populate(served.client(), spec)
        keys = sorted(real.client().scan_iter(count=1000))
        theirs = [real.client().object("encoding", k) for k in keys]
        ours = [served.client().object("encoding", k) for k in keys]
    assert dict(zip(keys, ours, strict=True)) == dict(zip(keys, theirs, strict=True))


def test_info_has_redis_sections_and_fields():
    with start_serve("--target", "redis-7.0") as serving:
        client = serving.client()
        client.set("a", 1)
        info = client.info("everything")
        for field in ("redis_version", "tcp_port", "uptime_in_seconds", "connected_clients", "used_memory",
                      "rdb_changes_since_last_save", "rdb_bgsave_in_progress", "rdb_last_save_time",
                      "rdb_last_bgsave_status", "rdb_last_cow_size", "total_commands_processed",
                      "total_connections_received", "db0"):
            assert field in info, field
        assert info["redis_version"] == "7.0.15" and info["db0"]["keys"] == 1


def test_debug_reload_and_object_and_bgsave_schedule():
    with start_serve() as serving:
        client = serving.client()
        client.rpush("l", 1, 2, 3)
        assert client.execute_command("DEBUG", "RELOAD")
        assert client.lrange("l", 0, -1) == [b"1", b"2", b"3"] and serving.rdb_path.exists()
        assert client.debug_object("l")["encoding"] in (b"listpack", "listpack")
        raw = RawClient(serving.port)
        assert raw.call([b"BGSAVE"]) == b"Background saving started"
        assert raw.call([b"BGSAVE", b"SCHEDULE"]) in (b"Background saving scheduled",
                                                      b"Background saving started")  # the first may be done


def test_a_unix_socket_and_maxclients_and_the_idle_timeout(tmp_path):
    path = tmp_path / "serve.sock"
    with start_serve("--unixsocket", str(path), "--maxclients", "3", "--timeout", "1") as serving:
        unix = redis.Redis(unix_socket_path=str(path))
        assert unix.ping()
        unix.close()
        accepted, refused = [], []
        for _ in range(5):
            sock = socket.create_connection(("127.0.0.1", serving.port))
            (accepted if _holds_a_slot(sock) else refused).append(sock)
        assert 1 <= len(accepted) <= 3 and refused
        time.sleep(2.5)  # idle clients are closed by the timeout
        for sock in accepted:
            sock.settimeout(5)
            assert sock.recv(100) == b""
        for sock in accepted + refused:
            sock.close()
        assert serving.client().ping()


def _holds_a_slot(sock: socket.socket) -> bool:
    """An accepted connection answers a PING; a refused one was greeted with the error and closed (or reset when
    the PING came after the close). Waiting a while for a greeting instead is not enough: on a loaded machine it
    may come later than any short wait."""
    sock.settimeout(PROCESS_TIMEOUT)
    try:
        sock.sendall(b"PING\r\n")
        answer = sock.recv(100)
    except ConnectionResetError:
        return False
    assert answer in (b"+PONG\r\n", b"") or answer.startswith(b"-ERR max number of clients reached"), answer
    return answer == b"+PONG\r\n"


def test_functions_are_stored_listed_dumped_restored_and_saved():
    with start_serve("--target", "redis-7.0") as serving:
        client = serving.client()
        assert client.function_load(LIBRARY.decode()) in (b"rdbtool_gen", "rdbtool_gen")
        assert client.function_list() == [[b"library_name", b"rdbtool_gen", b"engine", b"LUA", b"functions",
                                           [[b"name", b"hello", b"description", None, b"flags", []]]]]
        payload = client.function_dump()
        client.function_flush()
        assert client.function_restore(payload)
        assert client.fcall("hello", 0) == b"hi"  # the restored library runs
        assert client.save()
        dump = serving.rdb_path.read_bytes()
    with start_server("redis-7.0", rdb=dump) as real:
        assert real.client().fcall("hello", 0) == b"hi"


@pytest.fixture(scope="module")
def field_ttl_pair():
    with start_server("redis-8.2") as real, start_serve("--target", "redis-8.2") as served:
        yield real, served


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(commands=st.lists(FIELD_TTL_COMMANDS, min_size=1, max_size=15))
def test_hash_field_ttl_commands_answer_as_redis_8(field_ttl_pair, commands):
    real, served = field_ttl_pair
    clients = [RawClient(real.port), RawClient(served.port)]
    for client in clients:
        client.call([b"FLUSHALL"])
    for args in commands:
        theirs, ours = (_plain(c.call(args)) for c in clients)
        assert ours == theirs, f"{args!r}: serve {ours!r}, redis {theirs!r} (after {commands!r})"
    for client in clients:
        client.sock.close()
