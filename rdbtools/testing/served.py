"""A test's own ``rdbtool serve``: a real process, so a kill is a real kill -9 and a start reloads its files.

The process runs in a directory of its own (the data under ``dir``, the log beside it), on a free TCP port of
127.0.0.1 and a unix socket. Nothing here imports redis-py or the server until a test asks for a client: the
pytest plugin imports this module only when a test uses one of its fixtures.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rdbtools.errors import ServeProcessError

if TYPE_CHECKING:
    import redis

#: how long a start or a stop may take: well under a second on an idle machine, but a machine whose cores run
#: a loaded suite beside the test has been seen to stall a process for many seconds (a hang guard only)
PROCESS_TIMEOUT = 300.0
#: the longest unix socket path the kernel takes (sun_path is 108 bytes with its terminating NUL)
_SUN_PATH_MAX = 107
#: the log line of serve (as of Redis) when its port is taken (by another test run's server between our probe
#: and its bind)
PORT_TAKEN = "Could not create server TCP listening socket"
_PORT_ATTEMPTS = 5
#: what serve logs (as Redis does) when a SIGTERM cannot shut it down, lower-case
_REFUSED = "errors trying to shut down the server"


def free_port() -> int:
    """A port nobody listens on now; serve may still lose it to another process before it binds (start retries)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


#: what a test server allows besides Redis's defaults: DEBUG (FAILPOINT, SLEEP, RELOAD ...) from its loopback
#: and unix socket clients, which Redis 7.0+ refuses to everyone unless told (protection.py)
TEST_DEFAULTS = ("--enable-debug-command", "local")


def serve_arguments(*, target: str | None = None, appendonly: bool | None = None, appendfsync: str | None = None,
                    save: str | None = None, requirepass: str | None = None, defaults: Iterable[str] = (),
                    args: Iterable[str] = ()) -> list[str]:
    """serve's directives, the later winning: no snapshots and no AOF unless asked, then ``defaults`` (a test
    run's, e.g. its ini file's), then the options given, then ``args``. Save lines add up at start (as in
    Redis), so a ``save`` given empties the list first."""
    given = {"target": target, "appendonly": None if appendonly is None else "yes" if appendonly else "no",
             "appendfsync": appendfsync, "save": save, "requirepass": requirepass}
    arguments = ["--save", "", "--appendonly", "no", *defaults]
    for name, value in given.items():
        if name == "save" and value:
            arguments += ["--save", ""]
        if value is not None:
            arguments += [f"--{name}", value]
    return [*arguments, *args]


def _last_value(arguments: list[str], directive: str) -> str | None:
    """The value a directive ends up with on serve's command line (the last one given counts)."""
    values = [arguments[i + 1] for i, word in enumerate(arguments[:-1]) if word.lower() == f"--{directive}"]
    return values[-1] if values else None


class RdbtoolServer:
    """``rdbtool serve`` for a test: start, stop (SIGTERM: the final save of a real shutdown), kill (-9, the
    whole process group, a BGSAVE child too), restart, clients, the files it left and its failpoints."""

    def __init__(self, root: Path, arguments: Iterable[str] = ()) -> None:
        self.root = root
        self.dir = root / "data"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.log_path = root / "serve.log"
        self.arguments = list(arguments)
        self.password = _last_value(self.arguments, "requirepass") or None
        self.host = "127.0.0.1"
        self.port = 0
        self.unixsocket = self._socket_path()
        self.process: subprocess.Popen | None = None

    def _socket_path(self) -> str:
        """In the server's directory where the path is short enough, else in a short temp dir of its own."""
        path = str(self.root / "redis.sock")
        if len(path.encode()) <= _SUN_PATH_MAX:
            return path
        return os.path.join(tempfile.mkdtemp(prefix="rdbtool-"), "redis.sock")

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def command(self) -> list[str]:
        """serve's command line: DEBUG for local clients first, so that the test's arguments may say otherwise;
        where it listens and keeps its files come last, so that they win over the same directives among the
        test's arguments (a directive given twice: the later one counts)."""
        return [sys.executable, "-m", "rdbtools.cli.serving", *TEST_DEFAULTS, *self.arguments,
                "--port", str(self.port), "--bind", self.host, "--unixsocket", self.unixsocket, "--dir", str(self.dir)]

    def start(self) -> None:
        """Start on a free port, or on the port it had (a restart: clients made before reconnect). A first
        start whose port another process took meanwhile (xdist workers probe at once) tries another."""
        if self.running:
            return
        attempts = _PORT_ATTEMPTS if not self.port else 1
        for attempt in range(attempts):
            if not self.port or attempt:
                self.port = free_port()
            try:
                self._launch()
                return
            except ServeProcessError as error:
                if PORT_TAKEN not in error.message or attempt == attempts - 1:
                    raise

    def _launch(self) -> None:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, start_new_session=True,
                                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
        deadline = time.monotonic() + PROCESS_TIMEOUT
        while not self._answers():
            if self.process.poll() is not None:
                raise ServeProcessError(f"rdbtool serve exited with status {self.process.returncode}:\n"
                                      f"{self._log_tail()}")
            if time.monotonic() > deadline:
                self.kill()
                raise ServeProcessError(f"rdbtool serve did not answer within {PROCESS_TIMEOUT:.0f} s:\n"
                                      f"{self._log_tail()}")
            time.sleep(0.005)

    def _answers(self) -> bool:
        """Whether it answers a PING on its socket (an error such as NOAUTH is an answer too)."""
        try:
            with socket.socket(socket.AF_UNIX) as sock:
                sock.settimeout(PROCESS_TIMEOUT)
                sock.connect(self.unixsocket)
                sock.sendall(b"PING\r\n")
                return sock.recv(1)[:1] in (b"+", b"-")
        except OSError:
            return False

    def _log_since(self, offset: int) -> str:
        with open(self.log_path, "rb") as log:
            log.seek(offset)
            return log.read().decode(errors="replace")

    def _log_tail(self, lines: int = 20) -> str:
        return "\n".join(self.log.splitlines()[-lines:])

    def stop(self) -> None:
        """A shutdown as SIGTERM makes one: the final snapshot when save points are set, then exit. A server
        that refuses (as Redis does while its first AOF rewrite holds the only copy of the data, or when the
        final save fails) keeps running, and this raises with what it logged."""
        if not self.running:
            return
        assert self.process is not None
        logged = self.log_path.stat().st_size
        self.process.terminate()
        deadline = time.monotonic() + PROCESS_TIMEOUT
        while self.process.poll() is None:
            said = self._log_since(logged)
            if _REFUSED in said.lower():
                raise ServeProcessError(f"rdbtool serve refused to shut down:\n{said.strip()}")
            if time.monotonic() > deadline:
                self.kill()
                raise ServeProcessError(f"rdbtool serve did not exit within {PROCESS_TIMEOUT:.0f} s of SIGTERM")
            time.sleep(0.005)

    def kill(self) -> None:
        """kill -9 of the process group: what the server had not written is lost, as in a crash, and a
        BGSAVE or rewrite child dies with it (it would write on into the directory otherwise)."""
        if self.process is not None:
            kill_group(self.process)


    def restart(self) -> None:
        """Stop as a shutdown does, then start on the same port and directory: it loads what it left there."""
        self.stop()
        self.start()

    def client(self, db: int = 0, **options: Any) -> redis.Redis:
        """A redis-py client of this server (over TCP; ``unix_socket_path=server.unixsocket`` for the socket)."""
        import redis

        options.setdefault("password", self.password)
        options.setdefault("socket_timeout", PROCESS_TIMEOUT)
        return redis.Redis(host=self.host, port=self.port, db=db, **options)

    def files(self) -> list[str]:
        """What is in the server's directory now, as paths relative to it (``appendonlydir/...``), sorted."""
        return sorted(path.relative_to(self.dir).as_posix() for path in self.dir.rglob("*") if path.is_file())

    def failpoint(self, point: str, action: str, *args: str | int) -> None:
        """Make a persistence step fail or stall (DEBUG FAILPOINT SET): ``failpoint("fsync", "delay", 200)``."""
        self._admin("DEBUG", "FAILPOINT", "SET", point, action, *args)

    def clear_failpoints(self) -> None:
        self._admin("DEBUG", "FAILPOINT", "CLEAR")

    def _admin(self, *command: str | int) -> Any:
        with self.client() as client:
            return client.execute_command(*command)

    def close(self) -> None:
        """Kill the server and remove its socket's temp dir (the data stays for the test's report)."""
        self.kill()
        if not self.unixsocket.startswith(str(self.root)):
            with contextlib.suppress(OSError):
                os.unlink(self.unixsocket)
            with contextlib.suppress(OSError):
                os.rmdir(os.path.dirname(self.unixsocket))

    def __enter__(self) -> RdbtoolServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<RdbtoolServer {self.host}:{self.port} dir={self.dir}>"


def kill_group(process: subprocess.Popen) -> None:
    """SIGKILL to a server started in its own session and its children, and wait until all of them are gone:
    a BGSAVE or AOF rewrite child outlives a kill of its parent alone."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=PROCESS_TIMEOUT)
    deadline = time.monotonic() + PROCESS_TIMEOUT
    while time.monotonic() < deadline:
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.005)
