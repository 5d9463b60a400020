"""The pytest plugin, run by pytest itself (pytester): its fixtures, their scopes and options, restarts and
kills that keep or lose what a real Redis would, and xdist workers with servers of their own."""

from __future__ import annotations

import contextlib
import os
import socket
import tomllib
from pathlib import Path

import pytest
import redis

from rdbtools.errors import ServeProcessError
from rdbtools.testing import served as served_module
from rdbtools.testing.served import RdbtoolServer, free_port, serve_arguments
from tests.servers import PROCESS_TIMEOUT, start_server

pytest_plugins = ["pytester"]

PLUGIN = "rdbtools.testing.plugin"
REPO = Path(__file__).resolve().parents[2]


def run_inline(pytester: pytest.Pytester, source: str, *args: str) -> pytest.RunResult:
    pytester.makepyfile(source)
    return pytester.runpytest("-p", PLUGIN, "-p", "no:cacheprovider", *args)


def test_the_entry_point_loads_the_plugin_and_naming_it_with_p_as_well_is_harmless(pytester, monkeypatch):
    """pyproject's pytest11 entry point, installed as a distribution's metadata on the path: pytest loads the plugin
    by itself, and ``-p rdbtools.testing.plugin`` beside it does not register it twice."""
    entry_points = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["entry-points"]["pytest11"]
    metadata = pytester.path / "site" / "rdbtool_probe-0.dist-info"
    metadata.mkdir(parents=True)
    (metadata / "METADATA").write_text("Metadata-Version: 2.1\nName: rdbtool-probe\nVersion: 0\n")
    (metadata / "entry_points.txt").write_text(
        "[pytest11]\n" + "".join(f"{name} = {value}\n" for name, value in entry_points.items()))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(metadata.parent), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.delenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    pytester.makepyfile("def test_served(rdbtool_client):\n    assert rdbtool_client.ping()\n")
    for args in ([], ["-p", PLUGIN]):
        result = pytester.runpytest_subprocess(*args, "-p", "no:cacheprovider", timeout=PROCESS_TIMEOUT)
        result.assert_outcomes(passed=1)


def test_a_suite_without_the_fixtures_starts_no_server_and_imports_neither_redis_nor_the_server(pytester,
                                                                                                 monkeypatch):
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")  # only this plugin: others may import redis-py
    pytester.makepyfile("""
        import sys

        def test_nothing_heavy_is_imported():
            heavy = [name for name in sys.modules if name == "redis" or name.startswith(("rdbtools.server",
                                                                                         "rdbtools.testing.served"))]
            assert heavy == []
    """)
    result = pytester.runpytest_subprocess("-p", PLUGIN, "-p", "no:cacheprovider", timeout=PROCESS_TIMEOUT)
    result.assert_outcomes(passed=1)
    assert not list(Path(pytester.path).rglob("serve.log"))


def test_the_fixtures_give_a_running_server_its_client_and_its_addresses(pytester):
    result = run_inline(pytester, """
        import os

        def test_served(rdbtool_server, rdbtool_client):
            rdbtool_client.set("k", "v")
            over_socket = rdbtool_server.client(unix_socket_path=rdbtool_server.unixsocket)
            assert over_socket.get("k") == b"v"
            assert (rdbtool_server.host, rdbtool_server.port) == ("127.0.0.1", rdbtool_client.connection_pool
                                                                  .connection_kwargs["port"])
            assert rdbtool_server.dir.is_dir() and rdbtool_server.files() == []
            assert rdbtool_server.client().config_get("dir")["dir"] == str(rdbtool_server.dir)
    """)
    result.assert_outcomes(passed=1)


SCOPE_PROBE = """
    seen = []

    def test_first(rdbtool_server, rdbtool_client):
        rdbtool_client.set("left", "behind")
        seen.append((rdbtool_server.port, rdbtool_server.dir))

    def test_second(rdbtool_server, rdbtool_client):
        seen.append((rdbtool_server.port, rdbtool_server.dir))
        assert rdbtool_client.dbsize() == 0
        assert (seen[0] == seen[1]) is {shared}
"""


def test_the_session_server_is_shared_and_the_client_flushes_it_between_tests(pytester):
    run_inline(pytester, SCOPE_PROBE.format(shared=True)).assert_outcomes(passed=2)


@pytest.mark.parametrize("where", ["command line", "ini file"])
def test_scope_function_gives_each_test_a_server_of_its_own(pytester, where):
    if where == "ini file":
        pytester.makeini("[pytest]\nrdbtool_scope = function\n")
    args = ("--rdbtool-scope", "function") if where == "command line" else ()
    run_inline(pytester, SCOPE_PROBE.format(shared=False), *args).assert_outcomes(passed=2)


def test_an_unknown_scope_is_a_usage_error(pytester):
    result = run_inline(pytester, "def test_served(rdbtool_server): pass", "--rdbtool-scope", "module")
    result.stdout.fnmatch_lines(["*rdbtool_scope must be one of function, session, not 'module'*"])
    assert result.ret != 0


def test_a_client_revives_the_session_server_a_test_killed(pytester):
    result = run_inline(pytester, """
        def test_crash(rdbtool_server, rdbtool_client):
            rdbtool_server.kill()
            assert not rdbtool_server.running

        def test_after(rdbtool_client):
            assert rdbtool_client.ping()
    """)
    result.assert_outcomes(passed=2)


def test_the_factory_starts_servers_with_their_own_configuration(pytester):
    result = run_inline(pytester, """
        import redis
        import pytest

        def test_configured(rdbtool_server_factory):
            server = rdbtool_server_factory("--maxmemory", "1mb", target="redis-6.2", appendonly=True,
                                            appendfsync="always", save="60 1", requirepass="secret")
            client = server.client()
            settings = client.config_get("*")
            assert [settings[name] for name in ("maxmemory", "appendonly", "appendfsync", "save", "requirepass")] \\
                == ["1048576", "yes", "always", "60 1", "secret"]
            assert client.info("server")["redis_version"].startswith("6.2.")
            with pytest.raises(redis.AuthenticationError):
                server.client(password=None).ping()

        def test_defaults(rdbtool_server_factory):
            first, second = rdbtool_server_factory(), rdbtool_server_factory()
            assert first.port != second.port and first.dir != second.dir
            assert first.client().config_get("save")["save"] == ""
            assert first.client().info("server")["redis_version"].startswith("7.0.")
    """, "--rdbtool-target", "redis-7.0")
    result.assert_outcomes(passed=2)


def test_the_ini_defaults_reach_every_server_and_a_servers_own_options_override_them(pytester):
    pytester.makeini("[pytest]\nrdbtool_target = redis-8.2\n"
                     "rdbtool_serve_args = --maxmemory 2mb --save '900 1' --requirepass from-ini\n")
    result = run_inline(pytester, """
        def test_defaults(rdbtool_client, rdbtool_server_factory):
            for client in (rdbtool_client, rdbtool_server_factory().client()):
                assert client.info("server")["redis_version"].startswith("8.2.")
                assert [client.config_get(name)[name] for name in ("maxmemory", "save", "requirepass")] \\
                    == ["2097152", "900 1", "from-ini"]

        def test_overrides(rdbtool_server_factory):
            server = rdbtool_server_factory("--maxmemory", "3mb", target="redis-7.0", save="60 1", requirepass="own")
            client = server.client()
            assert client.info("server")["redis_version"].startswith("7.0.")
            assert [client.config_get(name)[name] for name in ("maxmemory", "save", "requirepass")] \\
                == ["3145728", "60 1", "own"]
    """)
    result.assert_outcomes(passed=2)


def test_a_restart_reloads_what_the_server_left_in_its_directory(pytester):
    result = run_inline(pytester, """
        import pytest

        @pytest.mark.parametrize("options, files", [
            ({"save": "3600 1"}, ["dump.rdb"]),
            ({"appendonly": True}, ["appendonlydir/appendonly.aof.1.base.rdb",
                                    "appendonlydir/appendonly.aof.1.incr.aof",
                                    "appendonlydir/appendonly.aof.manifest"]),
        ])
        def test_restart(rdbtool_server_factory, options, files):
            server = rdbtool_server_factory(**options)
            client = server.client()
            client.set("kept", "yes")
            server.restart()
            assert client.get("kept") == b"yes"
            assert server.files() == files
    """)
    result.assert_outcomes(passed=2)


def test_xdist_workers_each_run_their_own_servers(pytester):
    pytest.importorskip("xdist")
    pytester.makepyfile("""
        import os
        import pytest

        @pytest.mark.parametrize("n", range(4))
        def test_isolated(rdbtool_server, rdbtool_client, rdbtool_server_factory, n):
            worker = os.environ["PYTEST_XDIST_WORKER"]
            assert worker in str(rdbtool_server.dir)
            assert rdbtool_client.dbsize() == 0
            rdbtool_client.set(worker, n)
            assert rdbtool_client.keys() == [worker.encode()]
            assert rdbtool_server_factory().client().ping()
    """)
    result = pytester.runpytest_subprocess("-p", PLUGIN, "-p", "xdist", "-n", "2", "-p", "no:cacheprovider",
                                           timeout=PROCESS_TIMEOUT)
    result.assert_outcomes(passed=4)


# -- what a kill -9 or a shutdown leaves, against a real Redis 7.0 ended the same way -----------------------

#: scenario -> (how the server ends, its persistence settings, what the test sends before)
ENDINGS = {
    "a kill after aof fsync always keeps every acknowledged write": (
        "kill", ("--appendonly", "yes", "--appendfsync", "always"), [("SET", "a", "1"), ("INCR", "a")]),
    # fsync no, not everysec: under everysec Redis 7.0 postpones the write (up to 2 s) while a background fsync
    # runs, replying all the same, so what a kill leaves there depends on timing (flushAppendOnlyFile)
    "a kill after aof fsync no keeps what was written before the reply": (
        "kill", ("--appendonly", "yes", "--appendfsync", "no"), [("SET", "a", "1"), ("RPUSH", "l", "x")]),
    "a kill keeps only what the rdb snapshot saved": ("kill", (), [("SET", "a", "1"), ("SAVE",), ("SET", "b", "2")]),
    "a kill without persistence keeps nothing": ("kill", (), [("SET", "a", "1")]),
    "a shutdown with save points saves a final snapshot": ("shutdown", ("--save", "3600 1"),
                                                           [("SET", "a", "1"), ("RPUSH", "l", "x")]),
    "a shutdown with aof keeps what it appended": ("shutdown", ("--appendonly", "yes"), [("SET", "a", "1")]),
    "a shutdown without persistence keeps nothing": ("shutdown", (), [("SET", "a", "1")]),
}


def _survivors(server, end, start, commands) -> dict[bytes, bytes]:
    """Send the commands, end the server, start it on the same dir: the keys and their DUMPs left."""
    client = server.client()
    for command in commands:
        client.execute_command(*command)
    end()
    start()
    client = server.client()
    return {key: client.dump(key) for key in sorted(client.keys())}


def _terminate(real) -> None:
    real.process.terminate()
    real.process.wait(timeout=PROCESS_TIMEOUT)


@pytest.mark.compat
@pytest.mark.parametrize("scenario", sorted(ENDINGS))
def test_the_server_keeps_what_redis_keeps_when_killed_or_shut_down(tmp_path, scenario):
    how, settings, commands = ENDINGS[scenario]
    with RdbtoolServer(tmp_path, serve_arguments(target="redis-7.0", args=settings)) as served:
        ours = _survivors(served, served.kill if how == "kill" else served.stop, served.start, commands)
    with start_server("redis-7.0", extra=settings) as real:
        theirs = _survivors(real, real.stop if how == "kill" else lambda: _terminate(real), real.start, commands)
    assert ours == theirs
    assert bool(ours) is ("keeps nothing" not in scenario)


def test_the_failpoint_methods_send_the_debug_failpoint_commands(tmp_path):
    """The handle only passes the agreed syntax on (the server's part answers it); the slow log, logging every
    command, shows what was sent (MONITOR does not show DEBUG, an admin command)."""
    arguments = serve_arguments(requirepass="secret", args=["--slowlog-log-slower-than", "0"])
    with RdbtoolServer(tmp_path, arguments) as served:
        for call in (lambda: served.failpoint("fsync", "delay", 200), served.clear_failpoints):
            with contextlib.suppress(redis.ResponseError):  # a server without failpoints refuses them
                call()
        logged = [entry["command"] for entry in reversed(served.client().slowlog_get(100))]
    assert [command for command in logged if command.startswith(b"DEBUG")] == [
        b"DEBUG FAILPOINT SET fsync delay 200", b"DEBUG FAILPOINT CLEAR"]


def test_stop_raises_when_the_server_refuses_to_shut_down_and_leaves_it_running(tmp_path):
    """SIGTERM while the first AOF rewrite holds the only copy of the data: serve, as Redis, refuses to exit."""
    with RdbtoolServer(tmp_path, serve_arguments()) as served:
        client = served.client()
        client.mset({f"key:{n}": n for n in range(5)})
        client.config_set("rdb-key-save-delay", 1_000_000)  # the rewrite child takes a second a key
        client.config_set("appendonly", "yes")
        with pytest.raises(ServeProcessError, match=r"(?s)refused to shut down.*Writing initial AOF, can.t exit"):
            served.stop()
        assert served.running and client.dbsize() == 5


def test_a_first_start_whose_port_was_taken_meanwhile_tries_another(tmp_path, monkeypatch):
    """Another process (an xdist worker's server) may bind the probed port before serve does."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        ports = iter([taken.getsockname()[1]])
        monkeypatch.setattr(served_module, "free_port", lambda: next(ports, None) or free_port())
        with RdbtoolServer(tmp_path, serve_arguments()) as served:
            assert served.port != taken.getsockname()[1] and served.client().ping()
            assert "Could not create server TCP listening socket" in served.log


def test_a_directory_too_deep_for_a_unix_socket_path_gets_its_socket_elsewhere(tmp_path):
    deep = tmp_path / ("d" * 100)
    with RdbtoolServer(deep, serve_arguments()) as served:
        assert not served.unixsocket.startswith(str(deep))
        assert served.client(unix_socket_path=served.unixsocket).ping()
    assert not os.path.exists(os.path.dirname(served.unixsocket))


@pytest.mark.parametrize("refused", [False, True])
def test_a_server_runs_debug_for_its_local_clients_unless_its_arguments_refuse_it(tmp_path, refused):
    """Redis 7.0+ refuses DEBUG unless told; a test server is told (local), and a test may tell it otherwise."""
    args = ["--enable-debug-command", "no"] if refused else []
    with RdbtoolServer(tmp_path, serve_arguments(target="redis-7.0", args=args)) as served:
        client = served.client()
        if refused:
            with pytest.raises(redis.ResponseError, match=r"^DEBUG command not allowed"):
                client.execute_command("DEBUG", "SLEEP", "0")
        else:
            assert client.execute_command("DEBUG", "SLEEP", "0") == b"OK"
