"""Real clients against serve: redis-py's pipelines, transactions, pub/sub and blocking pops,
redis-cli --pipe, redis-benchmark; authentication (protected mode: test_protected_actions.py)."""

from __future__ import annotations

import socket
import subprocess
import threading
import time

import pytest
import redis

from tests.server.serving import start_serve


@pytest.fixture(scope="module")
def serving():
    with start_serve() as running:
        yield running


def test_pipelines_and_transactions(serving):
    client = serving.client()
    client.flushall()
    with client.pipeline() as pipe:
        pipe.set("a", 1).incr("a").rpush("l", "x", "y").lrange("l", 0, -1)
        assert pipe.execute() == [True, 2, 2, [b"x", b"y"]]
    with client.pipeline(transaction=False) as pipe:
        results = pipe.get("a").hset("h", "f", "v").execute()
    assert results == [b"2", 1]


def test_watch_aborts_a_transaction_when_another_client_writes_the_key(serving):
    client, other = serving.client(), serving.client()
    client.set("counter", 1)
    with client.pipeline() as pipe:
        pipe.watch("counter")
        other.set("counter", 5)
        pipe.multi()
        pipe.incr("counter")
        with pytest.raises(redis.WatchError):
            pipe.execute()
    assert client.get("counter") == b"5"


def test_errors_inside_a_transaction(serving):
    client = serving.client()
    client.set("s", "text")
    with client.pipeline() as pipe:
        pipe.incr("s").set("t", 1)
        results = pipe.execute(raise_on_error=False)
    assert isinstance(results[0], redis.ResponseError) and results[1] is True
    raw = socket.create_connection(("127.0.0.1", serving.port))
    raw.sendall(b"MULTI\r\nSET x\r\nSET y 1\r\nEXEC\r\nGET y\r\n")
    time.sleep(0.3)
    answer = raw.recv(4096)
    assert answer.startswith(b"+OK\r\n-ERR wrong number of arguments for 'set' command\r\n+QUEUED\r\n-EXECABORT")
    assert answer.endswith(b"$-1\r\n")


def test_publish_reaches_channel_and_pattern_subscribers(serving):
    client = serving.client()
    pubsub = client.pubsub()
    pubsub.subscribe("news")
    pubsub.psubscribe("ne*")
    for _ in range(2):
        assert pubsub.get_message(timeout=5)["type"] in ("subscribe", "psubscribe")
    assert client.publish("news", "hello") == 2
    messages = [pubsub.get_message(timeout=5) for _ in range(2)]
    assert {(m["type"], m["data"]) for m in messages} == {("message", b"hello"), ("pmessage", b"hello")}
    assert client.pubsub_numsub("news") == [(b"news", 1)]
    pubsub.close()


def test_a_blocked_pop_is_served_by_another_clients_push_or_times_out(serving):
    client, other = serving.client(), serving.client()
    client.delete("queue")
    threading.Timer(0.3, lambda: other.rpush("queue", "job")).start()
    assert tuple(client.blpop(["queue"], timeout=5)) == (b"queue", b"job")
    started = time.time()
    assert client.blpop(["queue"], timeout=0.3) is None
    assert 0.25 < time.time() - started < 3


def _read_replies(sock: socket.socket, expected: bytes, seconds: float = 5) -> bytes:
    sock.settimeout(seconds)
    received = b""
    while len(received) < len(expected):
        chunk = sock.recv(4096)
        if not chunk:
            break
        received += chunk
    return received


def test_requests_pipelined_behind_a_blocking_pop_run_once_it_is_served(serving):
    serving.client().delete("jobs")
    with socket.create_connection(("127.0.0.1", serving.port)) as sock:
        sock.sendall(b"*3\r\n$5\r\nBLPOP\r\n$4\r\njobs\r\n$1\r\n0\r\n*1\r\n$4\r\nPING\r\n")
        sock.settimeout(0.3)
        with pytest.raises(TimeoutError):
            sock.recv(100)  # nothing yet: PING waits behind the blocked BLPOP
        serving.client().rpush("jobs", "a")
        expected = b"*2\r\n$4\r\njobs\r\n$1\r\na\r\n+PONG\r\n"
        assert _read_replies(sock, expected) == expected


def test_requests_before_a_protocol_error_are_answered_first(serving):
    with socket.create_connection(("127.0.0.1", serving.port)) as sock:
        sock.sendall(b"*1\r\n$4\r\nPING\r\n*1\r\n+PING\r\n")
        expected = b"+PONG\r\n-ERR Protocol error: expected '$', got '+'\r\n"
        assert _read_replies(sock, expected) == expected
        assert sock.recv(100) == b""  # then the connection is closed


def test_client_commands(serving):
    client = serving.client()
    client.client_setname("tester")
    assert client.client_getname() == "tester"  # redis-py decodes this reply itself
    assert any(c["name"] == "tester" for c in client.client_list())
    victim = serving.client()
    victim.ping()
    victim_id = victim.client_id()
    assert client.client_kill_filter(_id=victim_id) == 1


def test_requirepass_and_auth():
    with start_serve("--requirepass", "secret") as serving:
        with pytest.raises(redis.AuthenticationError):
            serving.client().ping()
        with pytest.raises(redis.AuthenticationError):
            serving.client(password="wrong").ping()
        assert serving.client(password="secret").ping()


def test_redis_cli_pipe_mass_insert(serving):
    lines = b"".join(b"SET key:%d value:%d\r\n" % (i, i) for i in range(5000))
    result = subprocess.run(["redis-cli", "-p", str(serving.port), "--pipe"], input=lines, capture_output=True,
                            timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert b"errors: 0, replies: 5000" in result.stdout
    assert serving.client().get("key:4999") == b"value:4999"


def test_redis_benchmark_runs_without_errors(serving):
    result = subprocess.run(["redis-benchmark", "-p", str(serving.port), "-n", "2000", "-c", "10", "-q",
                             "-t", "set,get,incr,lpush,rpop,sadd,hset,zadd,lrange_100"], capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "requests per second" in result.stdout and "ERR" not in result.stdout + result.stderr


def test_xread_and_xreadgroup_block_until_an_entry_arrives(serving):
    client, other = serving.client(), serving.client()
    client.delete("events")
    client.xadd("events", {"n": 0}, id="1-0")
    threading.Timer(0.3, lambda: other.xadd("events", {"n": 1}, id="2-0")).start()
    assert client.xread({"events": "$"}, block=5000) == [[b"events", [(b"2-0", {b"n": b"1"})]]]
    client.xgroup_create("events", "workers", id="$")
    threading.Timer(0.3, lambda: other.xadd("events", {"n": 2}, id="3-0")).start()
    read = client.xreadgroup("workers", "w1", {"events": ">"}, block=5000)
    assert read == [[b"events", [(b"3-0", {b"n": b"2"})]]]
    assert client.xpending("events", "workers")["pending"] == 1
    assert not client.xread({"events": "$"}, block=200)  # a timeout: null (redis-py makes it empty)


def test_hash_field_ttl_commands_exist_only_for_targets_that_have_them():
    with start_serve("--target", "redis-7.0") as old, start_serve("--target", "redis-8.2") as new:
        with pytest.raises(redis.ResponseError, match="unknown command 'HEXPIRE'"):
            old.client().execute_command("HEXPIRE", "h", 10, "FIELDS", 1, "f")
        new.client().hset("h", "f", "v")
        assert new.client().execute_command("HEXPIRE", "h", 10, "FIELDS", 1, "f") == [1]
