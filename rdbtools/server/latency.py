"""The latency monitor as Redis keeps it (its latency.c): per event ("command", "fast-command",
"expire-cycle"), one sample a second (the largest of that second) for the last 160 seconds sampled, and the
largest ever; only what reaches latency-monitor-threshold (in milliseconds, 0: off) is sampled."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from rdbtools.server.attached import attached

HISTORY = 160  # Redis's LATENCY_TS_LEN


@dataclass
class Series:
    samples: list[list[int]] = field(default_factory=list)  # [unix seconds, ms], oldest first
    max: int = 0


class LatencyMonitor(dict):
    """Each event's series, by name, in the order the events first happened."""

    def add(self, event: bytes, ms: int) -> None:
        series = self.setdefault(event, Series())
        series.max = max(series.max, ms)
        now = int(time.time())
        if series.samples and series.samples[-1][0] == now:
            series.samples[-1][1] = max(series.samples[-1][1], ms)
            return
        series.samples.append([now, ms])
        del series.samples[:-HISTORY]


def sample(server, event: bytes, ms: int) -> None:
    """Redis's latencyAddSampleIfNeeded."""
    threshold = server.config["latency-monitor-threshold"]
    if threshold and ms >= threshold:
        attached(server, LatencyMonitor).add(event, ms)


def monitor(server) -> LatencyMonitor:
    return attached(server, LatencyMonitor)


def latest(server) -> list:
    return [[name, *series.samples[-1], series.max] for name, series in monitor(server).items()]


def history(server, event: bytes) -> list:
    series = monitor(server).get(event)
    return [] if series is None else [list(s) for s in series.samples]


def reset(server, events: list[bytes]) -> int:
    """LATENCY RESET [event ...]: how many of the events (all, when none is named) had samples."""
    known = monitor(server)
    names = list(known) if not events else [e for e in events if e in known]
    for name in names:
        del known[name]
    return len(names)
