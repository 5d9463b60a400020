"""The pytest plugin (the ``pytest11`` entry point): ``rdbtool serve`` for tests, as fixtures.

- ``rdbtool_server``: a served instance (``RdbtoolServer``), shared by the session unless ``rdbtool_scope`` says
  ``function``;
- ``rdbtool_client``: a redis-py client of it, the data flushed before each test;
- ``rdbtool_server_factory``: servers with their own configuration, killed after the test.

Defaults come from the command line or the ini file (``--rdbtool-target`` / ``rdbtool_target``, ...). A suite that
uses none of the fixtures pays nothing: this module imports only pytest, the server handle is imported by the
fixtures themselves. Each xdist worker has its own temp dirs (pytest's) and its servers probe their own ports.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Literal

import pytest

if TYPE_CHECKING:
    import redis

    from rdbtools.testing.served import RdbtoolServer

Scope = Literal["function", "session"]
SCOPES: tuple[Scope, ...] = ("function", "session")
#: option name -> (help, ini default)
_OPTIONS = {
    "target": ("the server whose behaviour and file formats serve follows, e.g. redis-7.0 (serve's default "
               "when empty)", ""),
    "scope": ("how long the rdbtool_server fixture's server lives: session (one for all tests, flushed by "
              "rdbtool_client) or function (one per test)", "session"),
    "serve_args": ("more serve directives for every server the fixtures start, e.g. '--maxmemory 100mb'", ""),
}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("rdbtool", "rdbtool serve fixtures")
    for name, (text, default) in _OPTIONS.items():
        flag = f"--rdbtool-{name.replace('_', '-')}"
        group.addoption(flag, dest=f"rdbtool_{name}", default=None, help=f"{text} (ini: rdbtool_{name})")
        parser.addini(f"rdbtool_{name}", text, default=default)


def _setting(config: pytest.Config, name: str) -> str:
    """The command line's value, else the ini file's."""
    value = config.getoption(f"rdbtool_{name}")
    return value if value is not None else config.getini(f"rdbtool_{name}")


def _server_scope(fixture_name: str, config: pytest.Config) -> Scope:
    scope = _setting(config, "scope")
    if scope not in SCOPES:
        raise pytest.UsageError(f"rdbtool_scope must be one of {', '.join(SCOPES)}, not {scope!r}")
    return scope


def _new_server(config: pytest.Config, factory: pytest.TempPathFactory, *args: str, **options: Any) -> RdbtoolServer:
    """A started server in a fresh dir of this worker's temp dirs: the run's target and serve arguments are
    defaults that this server's own options and arguments override."""
    from rdbtools.testing.served import RdbtoolServer, serve_arguments

    target = _setting(config, "target")
    defaults = [*(["--target", target] if target else []), *shlex.split(_setting(config, "serve_args"))]
    arguments = serve_arguments(defaults=defaults, args=args, **options)
    server = RdbtoolServer(factory.mktemp("rdbtool"), arguments)
    try:
        server.start()
    except BaseException:
        server.close()
        raise
    return server


@pytest.fixture(scope=_server_scope)
def rdbtool_server(pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RdbtoolServer]:
    """An ``rdbtool serve`` with the configured defaults: session-scoped unless ``rdbtool_scope`` is function."""
    server = _new_server(pytestconfig, tmp_path_factory)
    yield server
    server.close()


@pytest.fixture
def rdbtool_client(rdbtool_server: RdbtoolServer) -> Iterator[redis.Redis]:
    """A client of ``rdbtool_server`` on empty databases; a server a test before killed or stopped is started
    again first (it reloads what it left)."""
    rdbtool_server.start()
    client = rdbtool_server.client()
    client.flushall()
    yield client
    client.close()


@pytest.fixture
def rdbtool_server_factory(pytestconfig: pytest.Config,
                           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., RdbtoolServer]]:
    """``rdbtool_server_factory(*serve_args, target=, appendonly=, appendfsync=, save=, requirepass=)``: a
    started server with its own configuration and directory (what it is not given: the run's defaults); every
    one is killed after the test."""
    servers: list[RdbtoolServer] = []

    def start(*args: str, **options: Any) -> RdbtoolServer:
        server = _new_server(pytestconfig, tmp_path_factory, *args, **options)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()
