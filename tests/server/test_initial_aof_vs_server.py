"""Turning the AOF on at run time, as Redis 7.0 does it: the rewrite that writes the first base starts with the
CONFIG SET (not at the next timer tick), and while it runs the data is in no file yet, so SHUTDOWN and SIGTERM
are refused, SHUTDOWN FORCE is not."""

from __future__ import annotations

import contextlib
import signal
import time

import pytest
import redis

from tests.server.serving import start_serve
from tests.servers import PROCESS_TIMEOUT, start_server

#: a second per key saved: the rewrite of a few keys outlasts the test's steps
SLOW_REWRITE = ("CONFIG", "SET", "rdb-key-save-delay", "1000000")


@contextlib.contextmanager
def _both():
    with start_server("redis-7.0") as real, start_serve("--target", "redis-7.0") as served:
        yield {"redis-7.0": real, "serve": served}


def _turn_aof_on_slowly(server) -> redis.Redis:
    client = server.client()
    client.mset({f"k{i}": i for i in range(5)})
    client.execute_command(*SLOW_REWRITE)
    assert client.config_set("appendonly", "yes")
    return client


def _rewriting(client: redis.Redis) -> int:
    return client.info("persistence")["aof_rewrite_in_progress"]


def _refused(client: redis.Redis, *options: str) -> str:
    with pytest.raises(redis.ResponseError) as refused:
        client.execute_command("SHUTDOWN", *options)
    return str(refused.value)


def test_turning_aof_on_starts_its_rewrite_at_once_and_refuses_shutdown_while_it_runs():
    with _both() as servers:
        seen = {}
        for name, server in servers.items():
            client = _turn_aof_on_slowly(server)
            seen[name] = (_rewriting(client), _refused(client, "NOSAVE"), _refused(client))
            with pytest.raises(redis.ConnectionError):
                client.execute_command("SHUTDOWN", "NOSAVE", "FORCE")
            assert server.process.wait(timeout=PROCESS_TIMEOUT) == 0
            assert "Writing initial AOF. Exit anyway." in server.log_path.read_text()
        assert seen["serve"] == seen["redis-7.0"] == (1, "Errors trying to SHUTDOWN. Check logs.",
                                                        "Errors trying to SHUTDOWN. Check logs.")


def test_sigterm_while_the_first_rewrite_runs_leaves_the_server_up():
    with _both() as servers:
        for server in servers.values():
            client = _turn_aof_on_slowly(server)
            server.process.send_signal(signal.SIGTERM)
            time.sleep(0.5)  # Redis acts on the signal at its next timer tick (every 100 ms)
            assert server.process.poll() is None and client.ping()
            assert "Writing initial AOF, can't exit." in server.log_path.read_text()
            client.execute_command(*SLOW_REWRITE[:3], "0")


def test_with_the_first_rewrite_done_shutdown_goes_on():
    with _both() as servers:
        for server in servers.values():
            client = server.client()
            client.set("k", "v")
            assert client.config_set("appendonly", "yes")
            deadline = time.monotonic() + PROCESS_TIMEOUT
            while _rewriting(client) or client.info("persistence")["aof_rewrite_scheduled"]:
                assert time.monotonic() < deadline
                time.sleep(0.05)
            with pytest.raises(redis.ConnectionError):
                client.execute_command("SHUTDOWN", "NOSAVE")
            assert server.process.wait(timeout=PROCESS_TIMEOUT) == 0
