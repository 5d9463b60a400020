"""From how many microseconds a command's time is of use: read once a request by the connection, set at start
and by CONFIG SET. A feature's state attached to the server (attached.py), not one of its own attributes,
which are kept few (see core.Process); compiled, so that the connection reads it as a native attribute."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rdbtools.server.config import ServerConfig


class Timing:
    def __init__(self) -> None:
        #: microseconds (-1: never): the slow log's threshold or the latency monitor's, whichever is lower
        self.threshold = 0

    def configure(self, config: ServerConfig) -> None:
        slowlog: int = config["slowlog-log-slower-than"]
        latency_ms: int = config["latency-monitor-threshold"]
        if latency_ms > 0:
            slowlog = latency_ms * 1000 if slowlog < 0 else min(slowlog, latency_ms * 1000)
        self.threshold = slowlog
