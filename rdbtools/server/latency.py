"""The latency monitor as Redis keeps it (its latency.c): per event ("command", "fast-command",
"expire-cycle"), one sample a second (the largest of that second) for the last 160 seconds sampled, and the
largest ever; only what reaches latency-monitor-threshold (in milliseconds, 0: off) is sampled."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from rdbtools.rdb.targets import Target
from rdbtools.server.attached import attached

if TYPE_CHECKING:
    from rdbtools.server.core import Server

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


def sample(server: Server, event: bytes, ms: int) -> None:
    """Redis's latencyAddSampleIfNeeded."""
    threshold = server.config["latency-monitor-threshold"]
    if threshold and ms >= threshold:
        attached(server, LatencyMonitor).add(event, ms)


def timed(server: Server, event: bytes, action, *args) -> None:
    """``action(*args)``, its time a sample of ``event`` (the clock read only while the monitor is on)."""
    if not server.config["latency-monitor-threshold"]:
        action(*args)
        return
    started = time.perf_counter()
    action(*args)
    sample(server, event, int((time.perf_counter() - started) * 1000))


def monitor(server: Server) -> LatencyMonitor:
    return attached(server, LatencyMonitor)


def latest(server: Server) -> list:
    return [[name, *series.samples[-1], series.max] for name, series in monitor(server).items()]


def history(server: Server, event: bytes) -> list:
    series = monitor(server).get(event)
    return [] if series is None else [list(s) for s in series.samples]


def reset(server: Server, events: list[bytes]) -> int:
    """LATENCY RESET [event ...]: how many of the events (all, when none is named) had samples."""
    known = monitor(server)
    names = list(known) if not events else [e for e in events if e in known]
    for name in names:
        del known[name]
    return len(names)


# --- LATENCY GRAPH: Redis's sparkline (its sparkline.c), 80 columns of 4 rows, labels below --------------

GRAPH_COLUMNS, GRAPH_ROWS = 80, 4
_FILL = "_o#"  # a row's character for the three steps a row resolves; '|' below the top of a column


def graph(event: bytes, series: Series, now: int) -> bytes:
    """LATENCY GRAPH: the header, a rule, then the samples as columns (each labelled with how long ago it
    was), in chunks of 80 columns."""
    values = [ms for _, ms in series.samples]
    labels = [_ago(now - when) for when, _ in series.samples]
    head = (f"{event.decode('latin-1')} - high {max(values)} ms, low {min(values)} ms (all time high {series.max} "
            "ms)\n")
    chunks = [_chart(values[i:i + GRAPH_COLUMNS], labels[i:i + GRAPH_COLUMNS], min(values), max(values))
              for i in range(0, len(values), GRAPH_COLUMNS)]
    return (head + "-" * GRAPH_COLUMNS + "\n" + "\n".join(chunks)).encode("latin-1")


def _ago(seconds: int) -> str:
    """A sample's label: seconds, minutes, hours or days ago, truncated."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _chart(values: list[int], labels: list[str], low: int, high: int) -> str:
    """The chart's rows (each sample a step of 0..11 from the lowest to the highest of all samples), a
    blank row, then the labels written downwards, one character a row."""
    steps = len(_FILL) * GRAPH_ROWS
    span = (high - low) or 1
    levels = [min(max(int(int((v - low) * steps) / span), 0), steps - 1) for v in values]
    rows = ["".join(_cell(level - (GRAPH_ROWS - row - 1) * len(_FILL)) for level in levels)
            for row in range(GRAPH_ROWS)]
    rows.append(" " * len(values))
    for depth in range(max(map(len, labels))):
        rows.append("".join(label[depth] if depth < len(label) else " " for label in labels))
    return "".join(row + "\n" for row in rows)


def _cell(index: int) -> str:
    if index < 0:
        return " "
    return _FILL[index] if index < len(_FILL) else "|"


# --- LATENCY DOCTOR: Redis's report (latency.c createLatencyReport) for the events serve samples ---------

_REDIS_SPIKES = ("Dave, I have observed latency spikes in this Redis instance. You don't mind talking about it, do "
                 "you Dave?")
_VALKEY_SPIKES = "Latency spikes are observed in this Valkey instance."
_REDIS_ADVICE = "I have a few advices for you:"
_VALKEY_ADVICE = "Here is some advice for you:"
#: the advice paragraphs, in the order Redis prints them; Valkey's say Valkey / valkey-cli / valkey.io
_ADVICE = {
    "slowlog-enable": "- There are latency issues with potentially slow commands you are using. Try to enable the Slow "
                      "Log Redis feature using the command 'CONFIG SET slowlog-log-slower-than %d'. If the Slow log is "
                      "disabled Redis is not able to log slow commands execution for you.\n",
    "slowlog-tune": "- Your current Slow Log configuration only logs events that are slower than your configured "
                    "latency monitor threshold. Please use 'CONFIG SET slowlog-log-slower-than %d'.\n",
    "slowlog-inspect": "- Check your Slow Log to understand what are the commands you are running which are too slow "
                       "to execute. Please check https://redis.io/commands/slowlog for more information.\n",
    "scheduler": "- The system is slow to execute Redis code paths not containing system calls. This usually means "
                 "the system does not provide Redis CPU time to run for long periods. You should try to:\n"
                 "  1) Lower the system load.\n"
                 "  2) Use a computer / VM just for Redis if you are running other software in the same system.\n"
                 "  3) Check if you have a \"noisy neighbour\" problem.\n"
                 "  4) Check with 'redis-cli --intrinsic-latency 100' what is the intrinsic latency in your system.\n"
                 "  5) Check if the problem is allocator-related by recompiling Redis with MALLOC=libc, if you are "
                 "using Jemalloc. However this may create fragmentation problems.\n",
    "hz": "- In order to make the Redis keys expiring process more incremental, try to set the 'hz' configuration "
          "parameter to 100 using 'CONFIG SET hz 100'.\n",
    "large-objects": "- Deleting, expiring or evicting (because of maxmemory policy) large objects is a blocking "
                     "operation. If you have very large objects that are often deleted, expired, or evicted, try to "
                     "fragment those objects into multiple smaller objects.\n",
}


def doctor_report(latencies: LatencyMonitor, config, target: Target, now: int) -> str:
    """The report when there were spikes: one line per event (its figures), then the advice that applies
    to those events and to the configuration (the slow log's, hz)."""
    valkey = target.valkey_server
    lines, advice = [_VALKEY_SPIKES if valkey else _REDIS_SPIKES, ""], set()
    for number, (name, series) in enumerate(latencies.items(), 1):
        lines.append(_event_line(number, name, series, now))
        advice |= _event_advice(name.lower(), config, target)
    text = "\n".join(lines) + "\n\n" + (_VALKEY_ADVICE if valkey else _REDIS_ADVICE) + "\n\n"
    threshold_us = config["latency-monitor-threshold"] * 1000
    for name, paragraph in _ADVICE.items():
        if name in advice and (name != "hz" or config["hz"] < 100):
            text += paragraph % threshold_us if "%d" in paragraph else paragraph
    return _valkey_words(text) if valkey else text


def _event_line(number: int, name: bytes, series: Series, now: int) -> str:
    """The event's figures: average and mean deviation (integer ms), the seconds between spikes."""
    values = [ms for _, ms in series.samples]
    average = sum(values) // len(values)
    deviation = sum(abs(average - v) for v in values) // len(values)
    period = (now - min(when for when, _ in series.samples)) or 1
    return (f"{number}. {name.decode('latin-1')}: {len(values)} latency spikes (average {average}ms, mean deviation "
            f"{deviation}ms, period {period / len(values):.2f} sec). Worst all time event {series.max}ms.")


def _event_advice(name: bytes, config, target: Target) -> set[str]:
    if name == b"command":
        slowlog = config["slowlog-log-slower-than"]
        unlogged = slowlog < 0 or (config["slowlog-max-len"] == 0 and _empty_slowlog_warns(target))
        tuning = "slowlog-enable" if unlogged else "slowlog-tune" if slowlog // 1000 > config[
            "latency-monitor-threshold"] else None
        return {"slowlog-inspect", "large-objects"} | ({tuning} if tuning else set())
    if name == b"fast-command":
        return {"scheduler"}
    if name == b"expire-cycle":
        return {"hz", "large-objects"}
    return set()


def _empty_slowlog_warns(target: Target) -> bool:
    """Redis 7.4+ and Valkey also take slowlog-max-len 0 for a disabled slow log."""
    return target.valkey_server or target.version >= (7, 4)


def _valkey_words(text: str) -> str:
    return text.replace("redis.io", "valkey.io").replace("redis-cli", "valkey-cli").replace("Redis", "Valkey")
