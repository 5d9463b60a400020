"""The save directive reads as Redis 7.0, 8.2 and Valkey 9.1 read it (config.c's setConfigSaveOption): each
number by C's strtoll that must reach the end of its word (leading C spaces, '+', leading zeros and an empty
changes word pass; '5_0', non-ASCII digits, '0x5' and a trailing form feed do not; overflow clamps and the
changes count is a C int), a lone word split again as a line is split, CONFIG SET's value cut at each single
space; at start the first save line replaces the defaults, later ones (file, then command line) add up and
`save ""` empties the list. Each server starts from a config file holding the case (no save on its command
line unless the case has one) and CONFIG GET save is compared with serve's."""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from rdbtools.server.config import ConfigError, ServerConfig
from tests.server.serving import start_serve
from tests.servers import SERVERS, RealServer, ServerRefused, free_port, require_binary, start_server

SAVE_SERVERS = ("redis-7.0", "redis-8.2", "valkey-9.1")

LINES: dict[str, tuple[bytes, tuple[str, ...]]] = {  # the config file, and save options on the command line
    "one save point": (b"save 60 1\n", ()),
    "a plus sign": (b"save +60 +1\n", ()),
    "leading zeros": (b"save 060 01\n", ()),
    "an underscore": (b"save 60 1_0\n", ()),
    "an empty changes word": (b"save 60 ''\n", ()),
    "an empty seconds word": (b"save '' 1\n", ()),
    "an empty word after a pair": (b"save 60 1 ''\n", ()),
    "minus zero changes": (b"save 60 -0\n", ()),
    "negative changes": (b"save 60 -1\n", ()),
    "zero seconds": (b"save 0 1\n", ()),
    "an odd count": (b"save 60 1 30\n", ()),
    "a vertical tab before a quoted number": (b'save 60 "\\x0b1"\n', ()),
    "a tab before a quoted number": (b'save "\\t60" 1\n', ()),
    "a form feed after a number": (b"save 60 1\x0c\n", ()),
    "a vertical tab inside the one quoted word": (b'save "60\\x0b1"\n', ()),
    "Arabic-Indic digits": ("save 60 \u0665\n".encode(), ()),
    "a hexadecimal number": (b"save 60 0x5\n", ()),
    "changes beyond a C int": (b"save 60 4294967297\n", ()),
    "changes of 2**31": (b"save 60 2147483648\n", ()),
    "seconds beyond 64 bits": (b"save 99999999999999999999 1\n", ()),
    "changes beyond 64 bits": (b"save 60 99999999999999999999\n", ()),
    "changes below 64 bits": (b"save 60 -99999999999999999999\n", ()),
    "seconds of 2**63": (b"save 9223372036854775808 1\n", ()),
    "all points in one quoted word": (b'save "60 1 30 2"\n', ()),
    "two spaces inside the one quoted word": (b'save "60  1"\n', ()),
    "a leading space inside the one quoted word": (b'save " 60 1"\n', ()),
    "quotes inside the one quoted word": (b"save '\"60\" 1'\n", ()),
    "unbalanced quotes inside the one quoted word": (b"save 60 1\nsave '\"30 2'\n", ()),
    "two lines add up": (b"save 60 1\nsave 30 2\n", ()),
    "an empty save after a line": (b'save 60 1\nsave ""\n', ()),
    "a line after an empty save": (b'save 60 1\nsave ""\nsave 30 2\n', ()),
    "an empty save alone": (b'save ""\n', ()),
    "the command line adds to the file": (b"save 60 1\n", ("--save", "30 2")),
    "the command line's empty save clears the file's": (b"save 60 1\n", ("--save", "")),
    "a bare --save clears the file's": (b"save 60 1\n", ("--save",)),
    "the command line replaces the defaults": (b"timeout 0\n", ("--save", "30", "2")),
}

CONFIG_SET_VALUES = ("60 1", "60  1", "60\t1", " 60 1", "+60 01", "", "60 1 30 2", "60 1 ", "60 ",
                     "60 99999999999999999999", "60 -1", '"60" 1')


@dataclass
class FileConfiguredServer(RealServer):
    """A real server started from a config file, with no save option of the harness's own."""

    config_file: Path | None = None
    options: tuple[str, ...] = ()

    def command(self) -> list[str]:
        binary, *options = super().command()
        at = options.index("--save")
        del options[at:at + 2]
        return [binary, str(self.config_file), *options, *self.options]


def server_save(server_name: str, config: bytes, options: tuple[str, ...]) -> str | None:
    """CONFIG GET save of the server started on this config file, or None when it refuses it."""
    with tempfile.TemporaryDirectory(prefix=f"rdbtool-{server_name}-") as directory:
        config_file = Path(directory) / "redis.conf"
        config_file.write_bytes(config)
        server = FileConfiguredServer(SERVERS[server_name], require_binary(server_name), Path(directory),
                                      free_port(), config_file=config_file, options=options)
        try:
            server.start()
        except ServerRefused:
            return None
        try:
            return server.client().config_get("save")["save"]
        finally:
            server.stop()


def serve_save(config_file: Path, options: tuple[str, ...]) -> str | None:
    try:
        return dict(ServerConfig.load(config_file, options).get(["save"]))["save"]
    except ConfigError:
        return None


@pytest.mark.parametrize("server_name", SAVE_SERVERS)
@pytest.mark.parametrize("name", LINES)
def test_serve_reads_save_lines_as_the_server_does(tmp_path, server_name, name):
    config, options = LINES[name]
    config_file = tmp_path / "redis.conf"
    config_file.write_bytes(config)
    assert serve_save(config_file, options) == server_save(server_name, config, options)


def serve_config_set(value: str) -> str:
    config = ServerConfig.load()
    try:
        config.apply("save", [value], where="", startup=False)
    except ConfigError:
        return "refused"
    return dict(config.get(["save"]))["save"]


@pytest.mark.parametrize("server_name", SAVE_SERVERS)
def test_config_set_save_reads_its_value_as_the_server_does(server_name):
    with start_server(server_name) as server:
        client = server.client()
        for value in CONFIG_SET_VALUES:
            try:
                client.config_set("save", value)
                theirs = client.config_get("save")["save"]
            except redis.ResponseError as error:
                assert "Invalid save parameters" in str(error)
                theirs = "refused"
            assert serve_config_set(value) == theirs, value


def _seconds_to_save_point(client) -> int:
    """`save 1 1`: a write, then the seconds from the start's LASTSAVE to the save point's save."""
    before = client.info("persistence")["rdb_last_save_time"]
    client.set("k", "v")
    deadline = time.monotonic() + 15
    while (after := client.info("persistence")["rdb_last_save_time"]) == before:
        assert time.monotonic() < deadline, "the save point did not fire"
        time.sleep(0.05)
    return after - before


@pytest.mark.parametrize("server_name", SAVE_SERVERS)
def test_a_save_point_fires_once_more_whole_seconds_than_it_names_have_passed(server_name):
    with start_server(server_name, extra=("--save", "1 1")) as server:
        assert _seconds_to_save_point(server.client()) >= 2  # serverCron: unixtime - lastsave > seconds
    with start_serve("--target", server_name, save="1 1") as serving:
        assert _seconds_to_save_point(serving.client()) >= 2
