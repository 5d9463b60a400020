"""serve's configuration: a real redis.conf works as is, directive errors are located, CONFIG GET/SET."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from rdbtools.server.config import ConfigError, ServerConfig
from tests.server.serving import command, start_serve
from tests.servers import PROCESS_TIMEOUT

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
            client.config_set("port", 1234)
        with pytest.raises(Exception, match="Unknown option"):
            client.config_set("frobnicate", 1)
