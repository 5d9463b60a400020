"""Empty streams and pending entries whose entries are gone, through every export as commands.

A stream can be empty with last id 0-0 (XGROUP CREATE ... MKSTREAM), which XADD refuses to recreate,
and its groups can keep pending entries of deleted or trimmed entries, which XCLAIM ... FORCE refuses
to recreate. For every server: what it saved (an RDB, or an AOF's preamble), exported by ``dump
--format resp`` and by ``convert`` (to .resp, .aof and an aof-dir) and loaded back into that server,
holds what the server held; so do those commands replayed by rdbtool itself, and serve's AOF rewrite
without an RDB preamble loaded into each real server; a server's AOF converted to .aof loads as the
server's own AOF does.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis

from rdbtools import convert
from rdbtools.errors import TargetError
from rdbtools.rdb.targets import target_for
from tests.compat.test_aof_servers import aof_path, wait_for_rewrite
from tests.server.serving import start_serve
from tests.servers import SERVERS, RealServer, start_server

DELIVERED_AT = 1700000000000  # pending entries' delivery time, pinned so that two servers can agree
# storage layout (node count) and the times a command cannot set (a consumer's last seen / active)
UNSET_BY_COMMANDS = {"radix-tree-keys", "radix-tree-nodes", "seen-time", "active-time"}


def _read(client: redis.Redis, key: str, group: str, consumer: str, count: int) -> None:
    """XREADGROUP, then the delivery time and count of what it read pinned with XCLAIM."""
    replies = client.execute_command("XREADGROUP", "GROUP", group, consumer, "COUNT", count, "STREAMS", key, ">")
    ids = [entry_id for _, entries in replies for entry_id, _ in entries]
    if ids:
        client.xclaim(key, group, consumer, 0, ids, time=DELIVERED_AT, retrycount=2, justid=True)


def _add(client: redis.Redis, key: str, *ids: str) -> None:
    for entry_id in ids:
        client.execute_command("XADD", key, entry_id, "f", entry_id)


def _created_empty(c: redis.Redis, key: str) -> None:
    c.execute_command("XGROUP", "CREATE", key, "g", "0", "MKSTREAM")
    c.execute_command("XGROUP", "DESTROY", key, "g")


def _created_empty_with_groups(c: redis.Redis, key: str) -> None:
    c.execute_command("XGROUP", "CREATE", key, "g1", "0", "MKSTREAM")
    c.execute_command("XGROUP", "CREATE", key, "g2", "$")
    c.execute_command("XGROUP", "CREATECONSUMER", key, "g2", "idle")


def _created_empty_then_setid(c: redis.Redis, key: str) -> None:
    c.execute_command("XGROUP", "CREATE", key, "g", "$", "MKSTREAM")
    c.execute_command("XSETID", key, "7-7")


def _emptied_by_xdel(c: redis.Redis, key: str) -> None:
    _add(c, key, "1-1", "2-2")
    c.execute_command("XDEL", key, "1-1", "2-2")


def _emptied_by_xdel_with_pending(c: redis.Redis, key: str) -> None:
    _add(c, key, "1-1", "2-1", "3-1", "4-1")
    c.execute_command("XGROUP", "CREATE", key, "g", "0")
    _read(c, key, "g", "alice", 2)
    _read(c, key, "g", "bob", 1)
    c.execute_command("XACK", key, "g", "1-1")
    c.execute_command("XGROUP", "CREATE", key, "late", "$")
    c.execute_command("XGROUP", "CREATECONSUMER", key, "late", "idle")
    c.execute_command("XDEL", key, "1-1", "2-1", "3-1", "4-1")


def _emptied_by_xtrim_with_pending(c: redis.Redis, key: str) -> None:
    _add(c, key, "1-1", "2-1", "3-1")
    c.execute_command("XGROUP", "CREATE", key, "g", "0")
    _read(c, key, "g", "alice", 3)
    c.execute_command("XTRIM", key, "MAXLEN", 0)


def _trimmed_after_a_deletion(c: redis.Redis, key: str) -> None:
    """Entries trimmed while pending lie above the largest deleted id, below every entry left."""
    _add(c, key, "1-1", "2-1", "3-1", "4-1", "5-1", "6-1")
    c.execute_command("XDEL", key, "1-1")
    c.execute_command("XGROUP", "CREATE", key, "g", "0")
    _read(c, key, "g", "alice", 5)
    c.execute_command("XTRIM", key, "MINID", "4-1")


def _deleted_between_entries(c: redis.Redis, key: str) -> None:
    _add(c, key, "1-1", "2-1", "3-1", "4-1")
    c.execute_command("XGROUP", "CREATE", key, "g", "0")
    _read(c, key, "g", "alice", 3)
    c.execute_command("XDEL", key, "2-1")


CASES: dict[str, Callable[[redis.Redis, str], None]] = {
    "created-empty": _created_empty,
    "created-empty-with-groups": _created_empty_with_groups,
    "created-empty-then-setid": _created_empty_then_setid,
    "emptied-by-xdel": _emptied_by_xdel,
    "emptied-by-xdel-with-pending": _emptied_by_xdel_with_pending,
    "emptied-by-xtrim-with-pending": _emptied_by_xtrim_with_pending,
    "trimmed-after-a-deletion": _trimmed_after_a_deletion,
    "deleted-between-entries": _deleted_between_entries,
}


def _build(client: redis.Redis) -> None:
    for key, build in CASES.items():
        build(client, key)


def _settable(value: Any) -> Any:
    """XINFO STREAM FULL's reply without what no command sets."""
    if isinstance(value, dict):
        return {k: _settable(v) for k, v in value.items()
                if (k.decode() if isinstance(k, bytes) else k) not in UNSET_BY_COMMANDS}
    if isinstance(value, list | tuple):
        return [_settable(v) for v in value]
    return value


def held_streams(port: int) -> dict[bytes, Any]:
    client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=30)
    return {key: _settable(client.execute_command("XINFO", "STREAM", key, "FULL", "COUNT", 0))
            for key in sorted(client.scan_iter(_type="stream"))}


@pytest.fixture(scope="module", params=sorted(SERVERS))
def saved(request, tmp_path_factory) -> tuple[str, Path, dict[bytes, Any]]:
    """A server's RDB holding every case, and what the server held."""
    name = request.param
    path = tmp_path_factory.mktemp(name) / "dump.rdb"
    with start_server(name) as server:
        _build(server.client())
        held = held_streams(server.port)
        shutil.copyfile(server.save(), path)
    assert sorted(held) == sorted(k.encode() for k in CASES)
    return name, path, held


def _pipe(server: RealServer, resp: bytes) -> None:
    piped = subprocess.run(["redis-cli", "-p", str(server.port), "--pipe"], input=resp, capture_output=True)
    assert piped.returncode == 0 and b"errors: 0" in piped.stdout, piped.stdout + piped.stderr


def _piped_into(name: str, resp: bytes) -> dict[bytes, Any]:
    with start_server(name) as fresh:
        _pipe(fresh, resp)
        return held_streams(fresh.port)


def test_dump_as_resp_piped_into_the_server_holds_what_it_saved(saved):
    name, path, held = saved
    resp = subprocess.run([sys.executable, "-m", "rdbtools.cli", "dump", str(path), "--format", "resp"],
                          capture_output=True, check=True).stdout
    assert _piped_into(name, resp) == held


def test_convert_to_resp_piped_into_the_server_holds_what_it_saved(saved, tmp_path):
    name, path, held = saved
    convert(path, tmp_path / "streams.resp")
    assert _piped_into(name, (tmp_path / "streams.resp").read_bytes()) == held


@pytest.mark.parametrize("name", sorted(SERVERS))
def test_dump_as_resp_of_a_servers_aof_with_preamble_piped_into_it_holds_what_it_held(name):
    """The streams of an AOF's RDB preamble (or base) become commands by the same means."""
    with start_server(name, extra=("--appendonly", "yes", "--aof-use-rdb-preamble", "yes")) as server:
        _build(server.client())
        server.client().bgrewriteaof()
        wait_for_rewrite(server)
        held = held_streams(server.port)
        resp = subprocess.run([sys.executable, "-m", "rdbtools.cli", "dump", str(aof_path(server)), "--format",
                               "resp"], capture_output=True, check=True).stdout
    assert _piped_into(name, resp) == held


def _copy_into(files: Path, directory: Path) -> Path:
    """AOF files (a single file, or a directory) copied into ``directory`` under their name."""
    copied = directory / files.name
    (shutil.copytree if files.is_dir() else shutil.copyfile)(files, copied)
    return copied


def _aof_loaded_by(name: str, files: Path) -> dict[bytes, Any]:
    """What the server holds once started on these AOF files."""
    with start_server(name, extra=("--appendonly", "yes"), prepare=lambda d: _copy_into(files, d)) as loaded:
        return held_streams(loaded.port)


def test_convert_to_aof_loaded_by_the_server_holds_what_it_saved(saved, tmp_path):
    name, path, held = saved
    convert(path, tmp_path / "appendonly.aof")
    assert _aof_loaded_by(name, tmp_path / "appendonly.aof") == held


def test_convert_to_an_aof_dir_loaded_by_the_server_holds_what_it_saved(saved, tmp_path):
    name, path, held = saved
    if SERVERS[name].rdb_version < 10:  # Redis 6.2 has no multi-part AOF
        with pytest.raises(TargetError):
            convert(path, tmp_path / "appendonlydir", to="aof-dir", target=target_for(name))
        return
    convert(path, tmp_path / "appendonlydir", to="aof-dir", target=target_for(name))
    assert _aof_loaded_by(name, tmp_path / "appendonlydir") == held


def test_the_commands_replayed_by_convert_give_the_rdb_the_server_saved(saved, tmp_path):
    """rdbtool's own replay (convert of an AOF, serve loading its AOF) rebuilds the same streams."""
    name, path, held = saved
    convert(path, tmp_path / "appendonly.aof", target=target_for(name))
    convert(tmp_path / "appendonly.aof", tmp_path / "replayed.rdb", target=target_for(name))
    with start_server(name, rdb=tmp_path / "replayed.rdb") as loaded:
        assert held_streams(loaded.port) == held


@pytest.mark.parametrize("name", sorted(SERVERS))
def test_serves_rewrite_without_preamble_loads_in_the_server_as_it_held(name):
    with start_server(name) as real:
        _build(real.client())
        held = held_streams(real.port)
    with start_serve("--appendonly", "yes", "--aof-use-rdb-preamble", "no", "--target", name) as serving:
        client = serving.client()
        _build(client)
        client.bgrewriteaof()
        wait_for_rewrite(serving)
        client.shutdown(nosave=True)
        assert _aof_loaded_by(name, aof_path(serving)) == held


@pytest.mark.parametrize("name", sorted(SERVERS))
def test_a_servers_aof_converted_to_aof_for_it_loads_as_its_own_aof_does(name, tmp_path):
    """The AOF is replayed into a keyspace whose streams always have counters: the commands written
    for Redis 6.2 leave them out (it refuses them). The reference is the server's own reload: Redis
    7.0's AOF does not carry a group's read counter."""
    with start_server(name, extra=("--appendonly", "yes", "--appendfsync", "always")) as server:
        _build(server.client())
        server.stop()
        source = _copy_into(aof_path(server), tmp_path)
    converted = tmp_path / "converted" / "appendonly.aof"
    converted.parent.mkdir()
    convert(source, converted, target=target_for(name))
    assert _aof_loaded_by(name, converted) == _aof_loaded_by(name, source)
