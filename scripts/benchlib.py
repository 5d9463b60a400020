"""What the benchmark scripts share: timing a command with its peak RSS, the machine, the report file.

Figures are only compared within one run: each script measures rdbtool and the reference tool on
the same machine, back to back.
"""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import redis

from tests.servers import free_port

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = REPO / ".venv" / "bin"


@dataclass
class Run:
    tool: str
    seconds: float
    peak_rss_mb: float
    ok: bool
    error: str = ""
    cpu_seconds: float = 0.0  # user + system: steadier than wall time on a machine shared with other work


def run_once(tool: str, command: list[str], stdin: bytes | None = None) -> Run:
    """One run of a command as a separate process: its wall time and peak RSS."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, stderr = process.communicate(stdin) if stdin is not None else (None, process.stderr.read())
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    ok = os.waitstatus_to_exitcode(status) == 0
    return Run(tool, elapsed, usage.ru_maxrss / 1024, ok, "" if ok else stderr.decode(errors="replace")[-500:],
               usage.ru_utime + usage.ru_stime)


def _better(best: Run | None, run: Run) -> Run:
    return run if best is None or (run.ok and run.seconds < best.seconds) else best


def measure(tool: str, command: list[str], repeat: int, stdin: bytes | None = None) -> Run:
    """The best of ``repeat`` runs of a command: wall time and peak RSS of the process."""
    best: Run | None = None
    for _ in range(repeat):
        best = _better(best, run_once(tool, command, stdin))
    assert best is not None
    return best


def measure_in_turns(commands: list[tuple[str, list[str]]], repeat: int) -> list[Run]:
    """The best of ``repeat`` rounds for each command, the commands taking turns within a round, so
    that a burst of load from elsewhere on a shared machine hits them alike."""
    best: dict[str, Run | None] = dict.fromkeys(tool for tool, _ in commands)
    for _ in range(repeat):
        for tool, command in commands:
            best[tool] = _better(best[tool], run_once(tool, command))
    return [run for run in best.values() if run is not None]


def table(runs: list[Run], size_mb: float) -> list[str]:
    lines = ["| tool | wall s | CPU s | MB/s | peak RSS MB |", "| --- | ---: | ---: | ---: | ---: |"]
    for r in runs:
        status = "" if r.ok else " (failed)"
        lines.append(f"| {r.tool}{status} | {r.seconds:.2f} | {r.cpu_seconds:.2f} | {size_mb / r.seconds:.0f} "
                     f"| {r.peak_rss_mb:.0f} |")
    return lines


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and all its threads so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def verdict(met: bool) -> str:
    return "met" if met else "NOT met"


def machine() -> str:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    return f"{os.cpu_count()} cores, {model}, Python {platform.python_version()}"


def write_markdown(heading: str, body: str) -> None:
    """Replace this benchmark's section of docs/benchmarks.md, keeping the others."""
    path = REPO / "docs" / "benchmarks.md"
    intro = ("# Benchmarks\n\nFigures are ratios against the reference tools, measured in the same run on the "
             "same machine; absolute times are given for scale only. Each script under `scripts/bench*` "
             "rewrites its own section.\n")
    text = path.read_text() if path.exists() else intro
    section = f"{heading}\n\n{time.strftime('%Y-%m-%d')}, {machine()}.\n\n{body}\n"
    if heading in text:
        before, _, rest = text.partition(heading)
        after = rest[rest.find("\n## ") :] if "\n## " in rest else ""
        text = before + section + after
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)


@contextlib.contextmanager
def running_server(command: list[str], directory: Path, settings: tuple[str, ...] = (),
                   timeout: float = 600) -> Iterator[tuple[int, subprocess.Popen]]:
    """A server (serve or a real one) started on a free port in ``directory`` with these directives, its
    port and process once it answers PING; shut down after (SHUTDOWN NOSAVE, then by its pid)."""
    port = free_port()
    process = subprocess.Popen([*command, "--port", str(port), "--dir", str(directory), *settings],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = redis.Redis(port=port, socket_timeout=timeout)
    deadline = time.time() + timeout
    while True:
        try:
            client.ping()
            break
        except (redis.ConnectionError, redis.BusyLoadingError):
            if time.time() > deadline or process.poll() is not None:
                process.kill()
                raise SystemExit(f"{command[0]} did not start") from None
            time.sleep(0.05)
    try:
        yield port, process
    finally:
        with contextlib.suppress(redis.RedisError):
            client.shutdown(nosave=True)  # the server itself, also when strace is the process started
        process.terminate()
        process.wait()
