"""serve's configuration: a real redis.conf works as is, directive errors are located, CONFIG GET/SET."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest
import redis

from rdbtools.server.config import ConfigError, ServerConfig
from rdbtools.testing.served import free_port
from tests.server.serving import command, start_serve
from tests.servers import PROCESS_TIMEOUT, start_server

DEBIAN_CONF = Path("/etc/redis/redis.conf")


def test_debians_redis_conf_starts_serve_with_its_settings(tmp_path):
    assert DEBIAN_CONF.exists(), "Debian's redis-server package (installed by .ci/run) ships this file"
    with start_serve(str(DEBIAN_CONF), "--daemonize", "no", "--logfile", "", "--pidfile", str(tmp_path / "pid"),
                     directory=tmp_path) as serving:
        client = serving.client()
        assert client.config_get("hash-max-listpack-entries") == {"hash-max-listpack-entries": "512"}
        assert client.config_get("databases") == {"databases": "16"}
        assert "Directive 'tcp-keepalive' is not used by rdbtool serve (ignored)" in serving.log
        assert (tmp_path / "pid").read_text().strip() == str(serving.process.pid)


def test_unknown_directives_and_bad_values_are_located_errors(tmp_path):
    conf = tmp_path / "redis.conf"
    conf.write_text("port 7000\nfrobnicate yes\n")
    with pytest.raises(ConfigError, match="line 2: unknown directive 'frobnicate'"):
        ServerConfig.load(conf)
    with pytest.raises(ConfigError, match="port: argument must be between 0 and 65535"):
        ServerConfig.load(None, ["--port", "99999"])
    result = subprocess.run(command(str(conf)), capture_output=True, text=True, timeout=PROCESS_TIMEOUT)
    assert result.returncode == 1 and "unknown directive 'frobnicate'" in result.stderr
    assert "Traceback" not in result.stderr


def test_save_lines_add_up_and_an_empty_save_clears_them(tmp_path):
    conf = tmp_path / "redis.conf"
    conf.write_text('save 900 1\nsave 300 10\n')
    assert ServerConfig.load(conf)["save"] == ((900, 1), (300, 10))
    assert ServerConfig.load(conf, ["--save", ""])["save"] == ()


def test_config_set_changes_what_it_may_and_refuses_the_rest():
    with start_serve() as serving:
        client = serving.client()
        assert client.config_set("hash-max-listpack-entries", 1)
        client.hset("h", mapping={"a": 1, "b": 2})
        assert client.object("encoding", "h") == b"hashtable"
        with pytest.raises(Exception, match="can't set immutable config"):
            client.config_set("databases", 4)
        with pytest.raises(Exception, match="Unknown option"):
            client.config_set("frobnicate", 1)


def _moved(client: redis.Redis) -> int:
    """CONFIG SET port to a free port (another one when a process took it first): the port moved to."""
    for _ in range(5):
        port = free_port()
        try:
            client.config_set("port", port)
        except redis.ResponseError as error:
            assert "Unable to listen on this port" in str(error)
            continue
        return port
    raise AssertionError("no free port could be bound five times in a row")


def _listener_moves(port: int, holder: socket.socket) -> list:
    """What a server on ``port`` answers when CONFIG SET port moves it, then asks for a taken port."""
    first = redis.Redis(port=port, socket_timeout=PROCESS_TIMEOUT)
    moved = _moved(first)
    first.close()
    client = redis.Redis(port=moved, socket_timeout=PROCESS_TIMEOUT)
    seen = [client.ping(), client.info("server")["tcp_port"] == moved]
    with pytest.raises(redis.ConnectionError):
        redis.Redis(port=port, socket_timeout=PROCESS_TIMEOUT).ping()  # nothing listens there any more
    with pytest.raises(redis.ResponseError) as refused:
        client.config_set("port", holder.getsockname()[1])
    seen += [str(refused.value).replace(str(holder.getsockname()[1]), "<taken>"),
             client.config_get("port") == {"port": str(moved)},
             redis.Redis(port=moved, socket_timeout=PROCESS_TIMEOUT).ping()]
    client.close()
    return seen


@pytest.mark.parametrize("target", ["redis-6.2", "redis-7.0"])
def test_config_set_port_moves_the_listener_and_a_taken_port_leaves_it_where_it_was(target):
    with socket.create_server(("127.0.0.1", 0)) as holder, start_server(target) as real, \
            start_serve("--target", target) as served:
        theirs, ours = _listener_moves(real.port, holder), _listener_moves(served.port, holder)
    assert ours == theirs
    assert ours[:2] == ours[3:] == [True, True] and "Unable to listen on this port" in ours[2]
