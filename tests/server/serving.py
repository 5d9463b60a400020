"""Start ``rdbtool serve`` as a real process on a free port and a temp dir, stopped by pid."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import redis

from rdbtools.testing.served import TEST_DEFAULTS
from tests.servers import PORT_ATTEMPTS, PORT_TAKEN, PROCESS_TIMEOUT, answered_by, free_port


@dataclass
class Serving:
    process: subprocess.Popen
    port: int
    dir: Path
    log_path: Path

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    @property
    def rdb_path(self) -> Path:
        return self.dir / "dump.rdb"

    def client(self, db: int = 0, **options) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, db=db, socket_timeout=30, **options)

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(timeout=PROCESS_TIMEOUT)


def command(*arguments: str) -> list[str]:
    return [sys.executable, "-m", "rdbtools.cli", "serve", *arguments]


@contextlib.contextmanager
def start_serve(*arguments: str, directory: Path | None = None, save: str = "",
                env: dict[str, str] | None = None) -> Iterator[Serving]:
    """serve with --port/--dir chosen here (``save`` "" by default: no snapshot unless asked), DEBUG for
    its loopback clients (``--enable-debug-command local``: the arguments may say otherwise);
    ``env``: extra environment variables."""
    with contextlib.ExitStack() as stack:
        if directory is None:
            directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="rdbtool-serve-")))
        config_file = [arguments[0]] if arguments and not arguments[0].startswith("--") else []
        for attempt in range(PORT_ATTEMPTS):
            port = free_port()
            with open(directory / "serve.log", "wb") as log:
                process = subprocess.Popen(command(*config_file, "--port", str(port), "--dir", str(directory),
                                                   "--save", save, *TEST_DEFAULTS, *arguments[len(config_file):]),
                                           stdout=log, stderr=subprocess.STDOUT,
                                           env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})})
            serving = Serving(process, port, directory, directory / "serve.log")
            try:
                _wait_ready(serving)
                break
            except RuntimeError:
                if PORT_TAKEN not in serving.log or attempt == PORT_ATTEMPTS - 1:
                    raise
        try:
            yield serving
        finally:  # SIGTERM first: serve kills its BGSAVE child, which would write on into the directory
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


#: how long a start may take: a start takes well under a second, but a machine whose two cores run a
#: loaded suite beside it has been seen to stall a process past 15 s (CI stays green on such a machine)
START_TIMEOUT = 90.0


def _wait_ready(serving: Serving) -> None:
    deadline = time.time() + START_TIMEOUT
    while time.time() < deadline:
        if serving.process.poll() is not None:
            raise RuntimeError(f"rdbtool serve exited with {serving.process.returncode}:\n{serving.log}")
        try:
            client = serving.client()
            if client.ping() and answered_by(client, serving.process):
                return
        except (redis.AuthenticationError, redis.ResponseError):
            return  # it answers (asking for a password, or refusing this address)
        except redis.ConnectionError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"rdbtool serve did not answer within {START_TIMEOUT:.0f} s:\n{serving.log}")
