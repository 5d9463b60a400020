"""A config file is cut into lines and words as the real servers cut it: lines end at '\\n' only, a line is trimmed
of spaces, tabs, CR and LF only, words are split on C's spaces, integers read by string2ll's strict rules, so
serve loads what Redis loads and refuses what Redis refuses."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from rdbtools.server.config import ConfigError, ServerConfig
from tests.servers import SERVERS, RealServer, ServerRefused, free_port, require_binary

CONFIGS = {  # the config file, and the directive whose value is compared
    "plain": (b"timeout 7\n", "timeout"),
    "a vertical tab inside a comment": (b"# note\x0btimeout 7\n", "timeout"),
    "a line separator inside a comment": ("# note\u2028timeout 7\n".encode(), "timeout"),
    "a form feed after a value": (b"timeout 7\x0c\n", "timeout"),
    "a UTF-8 next-line character after a value": ("timeout 7\u0085\n".encode(), "timeout"),
    "a UTF-8 no-break space between words": ("timeout\u00a07\n".encode(), "timeout"),
    "an integer with a plus sign": (b"timeout +7\n", "timeout"),
    "an integer with a leading zero": (b"timeout 07\n", "timeout"),
    "an integer with an underscore": (b"timeout 7_0\n", "timeout"),
    "an integer in Arabic-Indic digits": ("timeout \u0667\n".encode(), "timeout"),
    "a memory value": (b"auto-aof-rewrite-min-size 5mb\n", "auto-aof-rewrite-min-size"),
    "a memory value in Arabic-Indic digits": ("auto-aof-rewrite-min-size \u0665mb\n".encode(),
                                              "auto-aof-rewrite-min-size"),
}


@dataclass
class ConfiguredServer(RealServer):
    """A real server started from a config file (its first argument)."""

    config_file: Path | None = None

    def command(self) -> list[str]:
        binary, *options = super().command()
        return [binary, str(self.config_file), *options]


def server_setting(server_name: str, config: bytes, directive: str) -> str | None:
    """The server's setting after reading the config, or None when it refuses the file."""
    with tempfile.TemporaryDirectory(prefix=f"rdbtool-{server_name}-") as directory:
        config_file = Path(directory) / "redis.conf"
        config_file.write_bytes(config)
        server = ConfiguredServer(SERVERS[server_name], require_binary(server_name), Path(directory), free_port(),
                                  config_file=config_file)
        try:
            server.start()
        except ServerRefused:
            return None
        try:
            return server.client().config_get(directive)[directive]
        finally:
            server.stop()


@pytest.mark.parametrize("server_name", ["redis-7.0", "redis-8.2", "valkey-9.1"])
@pytest.mark.parametrize("name", CONFIGS)
def test_serve_reads_a_config_file_as_the_server_does(tmp_path, server_name, name):
    config, directive = CONFIGS[name]
    config_file = tmp_path / "redis.conf"
    config_file.write_bytes(config)
    expected = server_setting(server_name, config, directive)
    if expected is None:
        with pytest.raises(ConfigError):
            ServerConfig.load(config_file)
    else:
        assert str(ServerConfig.load(config_file)[directive]) == expected
