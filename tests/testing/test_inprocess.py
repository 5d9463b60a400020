"""InProcessRedis answers as ``rdbtool serve`` does through a socket: the same redis-py calls to both (sync and
asyncio, RESP2 and RESP3) get the same results, with pipelines, transactions, pub/sub, blocking commands,
scripts and connection state; the files it writes load in a real Redis 7.0 with the same data."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import shutil
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest
import redis
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from rdbtools.testing import InProcessRedis
from tests.keyspace.test_engine_vs_server import COMMANDS, TIMING
from tests.server.serving import Serving, start_serve
from tests.server.test_replies import _sorted_if_unordered
from tests.servers import PROCESS_TIMEOUT, start_server

TARGET = "redis-7.0"  # the real server the files are loaded in


@pytest.fixture(scope="module")
def served() -> Iterator[Serving]:
    with start_serve("--target", TARGET) as serving:
        yield serving


@pytest.fixture(scope="module")
def inprocess() -> Iterator[InProcessRedis]:
    with InProcessRedis(target=TARGET) as server:
        yield server


@pytest.fixture
def pair(served, inprocess) -> Iterator[tuple[Callable[..., redis.Redis], Callable[..., redis.Redis]]]:
    """Client factories for serve (a socket) and the in-process server, both flushed first."""
    factories = (lambda **options: served.client(**options), inprocess.client)
    for factory in factories:
        factory().flushall()
    yield factories


def outcome(call: Callable[[], object]) -> object:
    """A call's result, or its exception as (type, text): what a test of an application sees."""
    try:
        return call()
    except redis.RedisError as error:
        return type(error).__name__, str(error)


async def async_outcome(call: Awaitable[object]) -> object:
    """``outcome`` of an asyncio call."""
    try:
        return await call
    except redis.RedisError as error:
        return type(error).__name__, str(error)


@pytest.mark.parametrize("protocol", [2, 3])
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(commands=st.lists(COMMANDS, min_size=1, max_size=15))
@example(commands=[[b"SADD", b"a", b"m1", b"1"], [b"SMEMBERS", b"a"], [b"GETDEL", b"a"]])
@example(commands=[[b"BITCOUNT", b"a", b"0"]])  # the target's reply (a syntax error in 7.0)
def test_random_sequences_get_the_results_serve_gives(pair, protocol, commands):
    clients = [factory(protocol=protocol) for factory in pair]
    for client in clients:
        client.flushall()
    for args in commands:
        theirs, ours = (_sorted_if_unordered(args, outcome(lambda c=c, a=args: c.execute_command(*a))) for c in clients)
        if args[0].upper() not in TIMING:
            assert ours == theirs, f"{args!r}: in-process {ours!r}, serve {theirs!r} (after {commands!r})"


@pytest.mark.parametrize("protocol", [2, 3])
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(commands=st.lists(COMMANDS, min_size=1, max_size=15))
@example(commands=[[b"RPUSH", b"a", b"1"], [b"BLPOP", b"a", b"0"], [b"HGETALL", b"a"]])
def test_random_sequences_through_asyncio_get_the_results_serve_gives(pair, inprocess, protocol, commands):
    async def run() -> list[object]:
        client = inprocess.async_client(protocol=protocol)
        await client.flushall()
        results = [await async_outcome(client.execute_command(*args)) for args in commands]
        await client.aclose()
        return results

    served = pair[0](protocol=protocol)
    served.flushall()
    theirs = [outcome(lambda a=args: served.execute_command(*a)) for args in commands]
    for args, ours, reply in zip(commands, asyncio.run(run()), theirs, strict=True):
        if args[0].upper() not in TIMING:
            assert _sorted_if_unordered(args, ours) == _sorted_if_unordered(args, reply), f"{args!r} in {commands!r}"


def _pipelined(client: redis.Redis, transaction: bool) -> list[object]:
    pipe = client.pipeline(transaction=transaction)
    pipe.set("a", "1").incr("a").lpush("a", "x").hset("h", "f", "v").hgetall("h").get("missing")
    return outcome(lambda: pipe.execute(raise_on_error=False))


@pytest.mark.parametrize("transaction", [False, True])
def test_pipelines_give_the_results_serve_gives(pair, transaction):
    theirs, ours = (_pipelined(factory(), transaction) for factory in pair)
    assert [repr(r) for r in ours] == [repr(r) for r in theirs]


def _watched_exec(factory: Callable[..., redis.Redis]) -> list[object]:
    """WATCH, another client's write, then EXEC: the transaction fails; then it succeeds untouched."""
    client, other = factory(), factory()
    results = []
    for meddle in (True, False):
        pipe = client.pipeline()
        pipe.watch("w")
        if meddle:
            other.set("w", "changed")
        pipe.multi()
        pipe.incr("counter")
        results.append(outcome(pipe.execute))
    return results


def test_watch_fails_a_transaction_as_through_a_socket(pair):
    theirs, ours = (_watched_exec(factory) for factory in pair)
    assert ours == theirs == [("WatchError", "Watched variable changed."), [1]]


def _messages(factory: Callable[..., redis.Redis], protocol: int) -> list[object]:
    subscriber, publisher = factory(protocol=protocol), factory(protocol=protocol)
    pubsub = subscriber.pubsub()
    pubsub.subscribe("news")
    pubsub.psubscribe("n*")
    received = [pubsub.get_message(timeout=PROCESS_TIMEOUT) for _ in range(2)]
    received.append(publisher.publish("news", "hello"))
    received += [pubsub.get_message(timeout=PROCESS_TIMEOUT) for _ in range(2)]
    received.append(pubsub.get_message(timeout=0.05))  # nothing more
    pubsub.unsubscribe("news")
    received.append(pubsub.get_message(timeout=PROCESS_TIMEOUT))
    received.append(publisher.pubsub_numsub("news"))
    pubsub.close()
    return received


@pytest.mark.parametrize("protocol", [2, 3])
def test_pubsub_messages_arrive_as_through_a_socket(pair, protocol):
    theirs, ours = (_messages(factory, protocol) for factory in pair)
    assert ours == theirs
    assert ours[2] == 2  # the channel's subscriber and the pattern's


def test_listen_in_a_thread_gets_what_another_thread_publishes(inprocess):
    pubsub = inprocess.client().pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe("jobs")
    got: list[bytes] = []

    def listen() -> None:
        for message in pubsub.listen():
            got.append(message["data"])
            if len(got) == 3:
                return

    listener = threading.Thread(target=listen)
    listener.start()
    publisher = inprocess.client()
    for job in (b"1", b"2", b"3"):
        publisher.publish("jobs", job)
    listener.join(PROCESS_TIMEOUT)
    pubsub.close()
    assert got == [b"1", b"2", b"3"]


def test_closing_a_client_ends_its_subscriptions(inprocess):
    subscriber = inprocess.client()
    pubsub = subscriber.pubsub()
    pubsub.subscribe("gone")
    pubsub.get_message(timeout=PROCESS_TIMEOUT)
    other = inprocess.client()
    assert other.publish("gone", "x") == 1
    pubsub.close()
    assert other.publish("gone", "x") == 0
    assert other.pubsub_numsub("gone") == [(b"gone", 0)]


def test_blpop_is_served_by_a_push_from_another_thread(inprocess):
    client = inprocess.client()
    client.delete("queue")
    pusher = threading.Timer(0.2, lambda: inprocess.client().rpush("queue", "job"))
    pusher.start()
    started = time.monotonic()
    assert client.blpop(["queue"], timeout=PROCESS_TIMEOUT) == (b"queue", b"job")
    assert time.monotonic() - started >= 0.15  # it waited for the push
    pusher.join()


def test_blpop_times_out_with_nil_as_through_a_socket(pair):
    results = []
    for factory in pair:
        started = time.monotonic()
        results.append(factory().blpop(["empty"], timeout=0.3))
        assert time.monotonic() - started >= 0.3
    assert results == [None, None]


def test_threads_share_one_keyspace(inprocess):
    client = inprocess.client()
    client.delete("hits")

    def hit() -> None:
        for _ in range(200):
            client.incr("hits")

    threads = [threading.Thread(target=hit) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(PROCESS_TIMEOUT)
    assert inprocess.client().get("hits") == b"800"


def _connection_state(factory: Callable[..., redis.Redis]) -> list[object]:
    """SELECT, CLIENT SETNAME, EVAL: per connection where Redis keeps them per connection."""
    first, second = factory(db=3, client_name="first"), factory()
    first.set("k", "in 3")
    return [second.get("k"), first.get("k"), first.client_getname(), second.client_getname(),
            first.eval("return redis.call('incrby', KEYS[1], ARGV[1])", 1, "n", 5),
            outcome(lambda: first.eval("return redis.call('nope')", 0)), second.dbsize(), first.dbsize()]


def test_connection_state_is_per_client_as_through_a_socket(pair):
    theirs, ours = (_connection_state(factory) for factory in pair)
    assert ours == theirs
    assert ours[:4] == [None, b"in 3", "first", None]


def test_auth_is_required_as_by_serve():
    with InProcessRedis(target=TARGET, config={"requirepass": "secret"}) as server, start_serve(
            "--target", TARGET, "--requirepass", "secret") as served:
        ours, theirs = ([outcome(factory(**options).ping) for options in ({}, {"password": "wrong"},
                                                                         {"password": "secret"})]
                        for factory in (server.client, served.client))
    assert ours == theirs
    assert [result[0] for result in ours[:2]] == ["AuthenticationError"] * 2 and ours[2] is True


def test_client_kill_disconnects_and_redis_py_reconnects(inprocess):
    victim, killer = inprocess.client(), inprocess.client()
    victim_id = victim.client_id()
    assert killer.client_kill_filter(_id=victim_id) == 1
    assert victim.ping() is True  # redis-py's retry: a new connection
    assert victim.client_id() != victim_id


def test_shutdown_stops_the_server_and_refuses_new_connections():
    server = InProcessRedis(target=TARGET)
    client = server.client(retry=None)
    client.set("a", "1")
    with contextlib.suppress(redis.ConnectionError):
        client.shutdown(nosave=True)
    with pytest.raises(redis.ConnectionError):
        server.client().ping()
    server.close()


def test_asyncio_blpop_waits_without_blocking_the_event_loop(inprocess):
    async def scenario() -> list[object]:
        waiting, pushing = inprocess.async_client(), inprocess.async_client()
        await pushing.delete("aqueue")
        pop = asyncio.create_task(waiting.blpop(["aqueue"], timeout=PROCESS_TIMEOUT))
        await asyncio.sleep(0.1)
        steps = [pop.done(), await pushing.ping(), await pushing.rpush("aqueue", "job")]
        steps.append(await asyncio.wait_for(pop, PROCESS_TIMEOUT))
        steps.append(await waiting.blpop(["aqueue"], timeout=0.2))  # timed out by the server's timer
        await waiting.aclose()
        await pushing.aclose()
        return steps

    assert asyncio.run(scenario()) == [False, True, 1, (b"aqueue", b"job"), None]


async def _async_session(client: redis.asyncio.Redis) -> list[object]:
    await client.flushall()
    results = [await client.set("a", "1"), await client.incr("a"), await client.hset("h", mapping={"f": "v"}),
               await client.hgetall("h")]
    async with client.pipeline(transaction=True) as pipe:
        results.append(await pipe.lpush("l", 1, 2).lrange("l", 0, -1).get("a").execute())
    pubsub = client.pubsub()
    await pubsub.subscribe("c")
    results.append(await pubsub.get_message(timeout=PROCESS_TIMEOUT))
    results.append(await client.publish("c", "m"))
    results.append(await pubsub.get_message(timeout=PROCESS_TIMEOUT))
    await pubsub.aclose()
    results.append(await async_outcome(client.execute_command("NOPE")))
    await client.aclose()
    return results


@pytest.mark.parametrize("protocol", [2, 3])
def test_asyncio_client_gets_the_results_serve_gives(served, inprocess, protocol):
    def run(make: Callable[..., redis.asyncio.Redis]) -> list[object]:
        return asyncio.run(_async_session(make(protocol=protocol)))

    ours = run(inprocess.async_client)
    theirs = run(lambda **options: redis.asyncio.Redis(host="127.0.0.1", port=served.port, **options))
    assert ours == theirs


# --- persistence: what it writes, a real Redis 7.0 loads ------------------------------------------------------

def _digest(client: redis.Redis) -> bytes:
    return client.execute_command("DEBUG", "DIGEST")


def _loaded_by_redis(directory: Path, *extra: str) -> tuple[bytes, int]:
    """The digest and key count a real Redis 7.0 has after starting on the files of ``directory``."""
    def copy(target: Path) -> None:
        for path in directory.iterdir():
            (shutil.copytree if path.is_dir() else shutil.copyfile)(path, target / path.name)

    with start_server(TARGET, prepare=copy, extra=("--enable-debug-command", "yes", *extra)) as real:
        client = real.client()
        return _digest(client), client.dbsize()


def _filled(server: InProcessRedis) -> tuple[bytes, int]:
    client = server.client(single_connection_client=True)
    for db in (0, 2):
        client.execute_command("SELECT", db)
        client.set(f"s{db}", "v")
        client.set(f"ttl{db}", "v", px=10_000_000)
        client.rpush(f"l{db}", *range(5))
        client.hset(f"h{db}", mapping={"f": "1", "g": "2"})
        client.sadd(f"set{db}", "a", "b", 1)
        client.zadd(f"z{db}", {"m": 1.5, "n": 2})
        client.xadd(f"x{db}", {"f": "v"}, id="1-1")
    client.execute_command("SELECT", 0)
    return _digest(client), client.dbsize()


@pytest.mark.parametrize("command", ["SAVE", "BGSAVE"])
def test_snapshot_loads_in_redis_with_the_same_data(tmp_path, command):
    with InProcessRedis(tmp_path, target=TARGET) as server:
        written = _filled(server)
        client = server.client()
        client.execute_command(command)
        deadline = time.monotonic() + PROCESS_TIMEOUT
        while client.info("persistence")["rdb_bgsave_in_progress"] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert client.info("persistence")["rdb_last_bgsave_status"] == "ok"
    assert written[0] != bytes(20).hex().encode()
    assert _loaded_by_redis(tmp_path) == written


def test_aof_loads_in_redis_with_the_same_data(tmp_path):
    with InProcessRedis(tmp_path, target=TARGET, appendonly=True) as server:
        written = _filled(server)
    assert _loaded_by_redis(tmp_path, "--appendonly", "yes") == written


def test_data_survives_a_restart_on_the_same_dir(tmp_path):
    with InProcessRedis(tmp_path, target=TARGET, appendonly=True) as server:
        written = _filled(server)
    with InProcessRedis(tmp_path, target=TARGET, appendonly=True) as again:
        assert (_digest(again.client()), again.client().dbsize()) == written


def _busy_script(factory: Callable[..., redis.Redis]) -> list[object]:
    """A script past busy-reply-threshold in one thread: another client gets BUSY, then kills it."""
    runner, other = factory(), factory()
    other.ping()  # connected before: a connection made while the script runs waits for its end, as in serve
    ran: list[object] = []
    script = threading.Thread(target=lambda: ran.append(outcome(
        lambda: runner.eval("local i = 0 while true do i = i + 1 end", 0))), daemon=True)
    script.start()
    deadline = time.monotonic() + PROCESS_TIMEOUT
    while (busy := outcome(other.ping)) is True and time.monotonic() < deadline:  # until the script is past 200 ms
        time.sleep(0.05)
    seen = [busy, outcome(lambda: other.get("x")), outcome(other.script_kill)]
    script.join(PROCESS_TIMEOUT)
    return [*seen, *ran, outcome(other.ping)]


def test_a_long_script_gets_busy_replies_and_a_kill_as_through_a_socket():
    with InProcessRedis(target=TARGET, config={"busy-reply-threshold": 200}) as server, start_serve(
            "--target", TARGET, "--busy-reply-threshold", "200") as served:
        ours, theirs = (_busy_script(factory) for factory in (server.client, served.client))
    assert ours == theirs
    assert ours[0][1].startswith("BUSY") and ours[2] is True and ours[-1] is True


def test_failpoint_methods_send_what_serve_gets_as_debug_failpoint():
    """The failpoints' API passes the DEBUG FAILPOINT command through (its replies are serve's); with a
    password set too."""
    calls = [("SET", "fsync", "delay", "10"), ("CLEAR",)]
    with InProcessRedis(target=TARGET, config={"requirepass": "secret"}) as server, start_serve(
            "--target", TARGET, "--requirepass", "secret") as served:
        ours = [outcome(lambda: server.failpoint("fsync", "delay", 10)), outcome(server.clear_failpoints)]
        client = served.client(password="secret")
        theirs = [outcome(lambda c=call: client.execute_command("DEBUG", "FAILPOINT", *c)) for call in calls]
    assert ours == [None if reply == b"OK" else reply for reply in theirs]


def test_a_client_dropped_inside_a_turn_is_disconnected_after_it(inprocess):
    """redis-py closes the connections of a client it frees (its finalizer), which the garbage collector may
    run while the server is busy with a request of this thread: the hang-up waits for the request's end."""
    dropped = [inprocess.client() for _ in range(3)]
    ids = {client.client_id() for client in dropped}

    def free() -> None:
        dropped.clear()
        gc.collect()  # (redis-py's clients hold reference cycles: the collector frees them)

    freeing = threading.Thread(target=inprocess.app.turn, args=(free,))
    freeing.start()
    freeing.join(PROCESS_TIMEOUT)
    assert not freeing.is_alive()
    assert not ids & {int(entry["id"]) for entry in inprocess.client().client_list()}


def test_debug_runs_by_default_and_is_refused_as_by_redis_when_the_config_says_no():
    """Its clients are local and it allows DEBUG to them; enable-debug-command no refuses it with the text
    of a real Redis 7.0 left at its default."""
    with InProcessRedis(target="redis-7.0") as allowing, \
            InProcessRedis(target="redis-7.0", config={"enable-debug-command": "no"}) as refusing:
        assert allowing.client().execute_command("DEBUG", "SLEEP", "0") == b"OK"
        with pytest.raises(redis.ResponseError) as ours:
            refusing.client().execute_command("DEBUG", "SLEEP", "0")
    with start_server("redis-7.0") as real, pytest.raises(redis.ResponseError) as theirs:
        real.client().execute_command("DEBUG", "SLEEP", "0")
    assert str(ours.value) == str(theirs.value)
