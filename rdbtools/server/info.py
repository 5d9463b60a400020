"""INFO: Redis's sections and field names, the ones clients and tools read."""

from __future__ import annotations

import os
import platform
import resource
import sys
import time
from collections.abc import Callable, Iterator
from importlib.metadata import version
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rdbtools.server.core import Server

__version__ = version("rdbtool")

DEFAULT_SECTIONS = ("server", "clients", "memory", "persistence", "stats", "replication", "cpu", "modules",
                    "errorstats", "cluster", "keyspace")


#: "all" and "everything": the default ones with the per-command statistics, in Redis 7.0's order
ALL_SECTIONS = (*DEFAULT_SECTIONS[:8], "commandstats", *DEFAULT_SECTIONS[8:])


def render(server: Server, sections: list[bytes]) -> bytes:
    wanted = [s.decode("utf-8", "replace").lower() for s in sections] or ["default"]
    if any(s in ("all", "everything") for s in wanted):
        wanted = list(ALL_SECTIONS)
    elif "default" in wanted:
        wanted = list(DEFAULT_SECTIONS)
    parts = []
    for name in wanted:
        fields = _SECTIONS.get(name)
        if fields is not None:
            heading = "CPU" if name == "cpu" else name.capitalize()
            lines = [f"# {heading}"] + [f"{k}:{v}" for k, v in fields(server).items()]
            parts.append("\r\n".join(lines) + "\r\n")
    return "\r\n".join(parts).encode()


def _server(server: Server) -> dict[str, object]:
    now = server.clock()
    uptime = int(now - server.process.started)
    return {
        "redis_version": server.config.target.server_version, "rdbtool_version": __version__,
        "redis_git_sha1": "00000000", "redis_git_dirty": 0, "redis_build_id": "0", "redis_mode": "standalone",
        "os": f"{platform.system()} {platform.release()} {platform.machine()}", "arch_bits": 64,
        "multiplexing_api": "epoll", "process_id": os.getpid(), "process_supervised": "no",
        "run_id": server.process.run_id, "tcp_port": server.config["port"], "server_time_usec": int(now * 1_000_000),
        "uptime_in_seconds": uptime, "uptime_in_days": uptime // 86400, "hz": 10, "configured_hz": 10,
        "lru_clock": server.engine.access.clock(), "executable": sys.argv[0],
        "config_file": server.config.config_file or "", "python_version": platform.python_version(),
    }


def _clients(server: Server) -> dict[str, object]:
    return {"connected_clients": len(server.clients), "cluster_connections": 0,
            "maxclients": server.config["maxclients"],
            "blocked_clients": len(server.blocked) + len(server.pause.postponed),  # CLIENT PAUSE's too
            "pubsub_clients": sum(1 for c in server.clients.values() if c.subscriptions),
            "watching_clients": sum(1 for c in server.clients.values() if c.watched),
            "tracking_clients": server.tracking.tracking_clients}


def _memory(server: Server) -> dict[str, object]:
    """Redis's figures from serve's memory model (server/memory.py); RSS is the process's own."""
    memory, rss = server.engine.memory, _rss()
    used = memory.used(server.engine.keyspace)
    at_start, startup = memory.startup
    overhead = at_start + memory.buckets(server.engine.keyspace)
    dataset = used - overhead
    limit = server.config["maxmemory"]
    return {"used_memory": used, "used_memory_human": _human(used), "used_memory_rss": rss,
            "used_memory_rss_human": _human(rss), "used_memory_peak": memory.peak,
            "used_memory_peak_human": _human(memory.peak), "used_memory_peak_perc": f"{100 * used / memory.peak:.2f}%",
            "used_memory_overhead": overhead, "used_memory_startup": startup, "used_memory_dataset": dataset,
            "used_memory_dataset_perc": f"{100 * dataset / max(used - startup, 1):.2f}%",
            "maxmemory": limit, "maxmemory_human": _human(limit), "maxmemory_policy": server.config["maxmemory-policy"],
            "mem_not_counted_for_evict": 0, "mem_clients_slaves": 0, "mem_clients_normal": 0, "mem_aof_buffer": 0,
            "mem_allocator": "pymalloc", "number_of_cached_scripts": len(server.scripting.scripts)}


def _persistence(server: Server) -> dict[str, object]:
    fields = server.persistence.info()
    if server.aof is not None:
        fields.update(server.aof.info())
    return fields


def _stats(server: Server) -> dict[str, object]:
    stats = {"total_commands_processed": sum(spec.calls for spec in command_specs(server)), **server.stats,
             "total_error_replies": sum(server.error_replies.values()), "instantaneous_ops_per_sec": 0,
             "pubsub_channels": sum(1 for subs in server.subscribers.channels.values() if subs),
             "pubsub_patterns": sum(1 for subs in server.subscribers.patterns.values() if subs),
             **server.acl.counters, **server.tracking.info()}
    if not server.config.target.valkey_server and server.config.target.version < (7, 0):
        del stats["evicted_clients"]  # client eviction came with 7.0
    return stats


def command_specs(server: Server) -> Iterator:
    """Every command and subcommand record of the server (their call counters)."""
    for spec in server.catalog.values():
        yield spec
        if spec.subcommands:
            yield from spec.subcommands.values()


def _commandstats(server: Server) -> dict[str, object]:
    """Calls counted, not timed (serve times no command it does not log as slow): usec is 0."""
    return {f"cmdstat_{spec.name.decode()}": f"calls={spec.calls},usec=0,usec_per_call=0.00,"
            f"rejected_calls={spec.rejected_calls},failed_calls={spec.failed_calls}"
            for spec in command_specs(server) if spec.calls or spec.rejected_calls or spec.failed_calls}


def _errorstats(server: Server) -> dict[str, object]:
    return {f"errorstat_{_safe(code)}": f"count={count}" for code, count in sorted(server.error_replies.items())}


def _safe(name: str) -> str:
    """A name as INFO shows it (getSafeInfoString: ':' and newlines would break its lines)."""
    return name.replace(":", "_").replace("\r", "_").replace("\n", "_")


def _replication(server: Server) -> dict[str, object]:
    from rdbtools.server.replication import info_fields

    return info_fields(server)


def _cpu(server: Server) -> dict[str, object]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {"used_cpu_sys": f"{usage.ru_stime:.6f}", "used_cpu_user": f"{usage.ru_utime:.6f}"}


def _keyspace(server: Server) -> dict[str, object]:
    now = int(time.time() * 1000)
    out: dict[str, object] = {}
    for db, keys in sorted(server.engine.keyspace.dbs.items()):
        if keys:
            ttls = [e.expire_ms - now for e in keys.values() if e.expire_ms is not None]
            average = sum(max(t, 0) for t in ttls) // len(ttls) if ttls else 0
            out[f"db{db}"] = f"keys={len(keys)},expires={len(ttls)},avg_ttl={average}"
    return out


#: each section's fields
_SECTIONS: dict[str, Callable[[Server], dict[str, object]]] = {
    "server": _server, "clients": _clients, "memory": _memory, "persistence": _persistence, "stats": _stats,
    "replication": _replication, "cpu": _cpu, "modules": lambda s: {}, "commandstats": _commandstats,
    "errorstats": _errorstats, "cluster": lambda s: {"cluster_enabled": 0}, "keyspace": _keyspace}


def _rss() -> int:
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _human(size: float) -> str:
    for unit in ("B", "K", "M", "G"):
        if size < 1024 or unit == "G":
            return f"{size:.2f}{unit}" if unit != "B" else f"{size}B"
        size /= 1024
    return f"{size}B"
