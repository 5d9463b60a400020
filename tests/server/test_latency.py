"""The latency monitor against the real Redis 7.0: the events a slow command leaves (one sample a second,
the largest of it), LATEST / HISTORY / RESET / GRAPH's header, and nothing below the threshold."""

from __future__ import annotations

import time

from tests.resp_client import RawClient
from tests.server.test_admin_vs_server import pair  # noqa: F401 (the fixture)


def _observed(port: int) -> dict:
    client = RawClient(port)
    client.call(["CONFIG", "SET", "latency-monitor-threshold", "100"])
    client.call(["LATENCY", "RESET"])
    client.call(["DEBUG", "SLEEP", "0.01"])  # below the threshold: no sample
    client.call(["DEBUG", "SLEEP", "0.15"])
    client.call(["DEBUG", "SLEEP", "0.25"])  # the same second, most likely: one sample, the larger
    time.sleep(1.1)
    client.call(["DEBUG", "SLEEP", "0.12"])
    latest = client.call(["LATENCY", "LATEST"])
    history = client.call(["LATENCY", "HISTORY", "command"])
    graph = client.call(["LATENCY", "GRAPH", "command"]).split(b"\n")[:2]
    found = {
        "latest": [(name, ms >= 100, worst >= 240) for name, _, ms, worst in latest],
        "latest time is the last sample's": latest[0][1] == history[-1][0],
        "history": [ms >= 100 for _, ms in history][-2:],
        "graph header": graph[0].startswith(b"command - high ") and graph[1] == b"-" * 80,
        "unknown event": client.call(["LATENCY", "HISTORY", "blabla"]),
        "reset unknown": client.call(["LATENCY", "RESET", "blabla"]),
        "reset": client.call(["LATENCY", "RESET"]),
        "after reset": client.call(["LATENCY", "LATEST"]),
    }
    client.call(["CONFIG", "SET", "latency-monitor-threshold", "0"])
    return found


def test_slow_commands_leave_latency_samples_as_in_redis(pair):  # noqa: F811
    real, served = pair
    assert _observed(served.port) == _observed(real.port)
