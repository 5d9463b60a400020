"""serve starts on an AOF directory as the real server does: the same starting directory given to Redis 7.0,
8.2 and Valkey 9.1 and to serve with that server's target leaves the same manifest, the same files and the
same keys.

The rules (aof.c: aofLoadManifestFromDisk, loadAppendOnlyFiles, aofOpenIfNeededOnServerStart, then
aofDelHistoryFiles, at every start): a new base is written when the manifest names no base and no incr
file (history entries do not count); an old single file is moved in when there is no directory, no base
and no incr, or only a base of its name that is missing; history files are deleted and dropped from the
manifest, appendonly yes or no, unless aof-disable-auto-gc is yes; a malformed manifest stops the start
even with appendonly no.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis

from tests.server.serving import start_serve
from tests.servers import ServerRefused, start_server

START_SERVERS = ("redis-7.0", "redis-8.2", "valkey-9.1")
DIR = "appendonlydir"
MANIFEST = f"{DIR}/appendonly.aof.manifest"
SET_A = b"*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n"
LOGS = ("server.log", "serve.log")


@dataclass(frozen=True)
class Case:
    files: dict[str, bytes]
    options: tuple[str, ...] = ("--appendonly", "yes")
    kept_by_serve: tuple[str, ...] = ()  # live files Redis deletes as history too (serve keeps them)
    options_of: dict[str, tuple[str, ...]] = field(default_factory=dict)


CASES: dict[str, Case] = {
    "only history entries": Case({
        MANIFEST: b"file appendonly.aof.3.base.rdb seq 3 type h\nfile appendonly.aof.3.incr.aof seq 3 type h\n",
        f"{DIR}/appendonly.aof.3.base.rdb": b"old", f"{DIR}/appendonly.aof.3.incr.aof": SET_A}),
    "only history entries, one of them naming the new incr file": Case({
        MANIFEST: b"file appendonly.aof.1.base.aof seq 1 type h\nfile appendonly.aof.1.incr.aof seq 1 type h\n",
        f"{DIR}/appendonly.aof.1.base.aof": SET_A}, kept_by_serve=(f"{DIR}/appendonly.aof.1.incr.aof",)),
    "only comments": Case({MANIFEST: b"# nothing\n"}),
    "history entries beside a base and an incr file": Case({
        MANIFEST: b"file appendonly.aof.1.base.aof seq 1 type b\nfile appendonly.aof.3.base.aof seq 3 type h\n"
                  b"file appendonly.aof.1.incr.aof seq 1 type i\n",
        f"{DIR}/appendonly.aof.1.base.aof": SET_A, f"{DIR}/appendonly.aof.3.base.aof": b"old",
        f"{DIR}/appendonly.aof.1.incr.aof": b""}),
    "history entries kept with aof-disable-auto-gc": Case({
        MANIFEST: b"file appendonly.aof.1.base.aof seq 1 type b\nfile appendonly.aof.3.base.aof seq 3 type h\n",
        f"{DIR}/appendonly.aof.1.base.aof": SET_A, f"{DIR}/appendonly.aof.3.base.aof": b"old"},
        options=("--appendonly", "yes", "--aof-disable-auto-gc", "yes")),
    "history entries deleted with appendonly no": Case({
        MANIFEST: b"file appendonly.aof.1.base.aof seq 1 type b\nfile appendonly.aof.3.base.aof seq 3 type h\n",
        f"{DIR}/appendonly.aof.1.base.aof": SET_A, f"{DIR}/appendonly.aof.3.base.aof": b"old"},
        options=("--appendonly", "no")),
    "an empty manifest with appendonly no": Case({MANIFEST: b""}, options=("--appendonly", "no")),
    "an old single file beside a manifest of history entries": Case({
        MANIFEST: b"file appendonly.aof.3.base.rdb seq 3 type h\n", "appendonly.aof": SET_A}),
    "an old single file beside a directory without a manifest": Case({f"{DIR}/other": b"", "appendonly.aof": SET_A}),
    "an old single file named as the only base, missing from the directory": Case({
        MANIFEST: b"file appendonly.aof seq 1 type b\n", "appendonly.aof": SET_A}),
    "an old single file beside a manifest naming an incr file": Case({
        MANIFEST: b"file appendonly.aof.1.incr.aof seq 1 type i\n", f"{DIR}/appendonly.aof.1.incr.aof": b"",
        "appendonly.aof": SET_A}),
}


@dataclass(frozen=True)
class Outcome:
    keys: list[bytes] | None  # None: the start was refused
    manifest: bytes | None
    files: set[str]


def _prepare(files: dict[str, bytes]):
    def prepare(directory: Path) -> None:
        for name, data in files.items():
            path = directory / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)

    return prepare


def _outcome(directory: Path, keys: list[bytes] | None) -> Outcome:
    files = {str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file() and p.name not in LOGS}
    manifest = directory / MANIFEST
    return Outcome(sorted(keys) if keys is not None else None,
                   manifest.read_bytes() if manifest.exists() else None, files)


def real_outcome(server_name: str, case: Case) -> Outcome:
    try:
        with start_server(server_name, extra=case.options, prepare=_prepare(case.files)) as server:
            return _outcome(server.dir, server.client().keys())
    except ServerRefused:
        return Outcome(None, None, set())


def serve_outcome(server_name: str, case: Case) -> Outcome:
    with tempfile.TemporaryDirectory(prefix="rdbtool-serve-") as name:
        directory = Path(name)
        _prepare(case.files)(directory)
        try:
            with start_serve("--target", server_name, *case.options, directory=directory) as serving:
                return _outcome(directory, serving.client().keys())
        except RuntimeError:
            return Outcome(None, None, set())


@pytest.mark.parametrize("server_name", START_SERVERS)
@pytest.mark.parametrize("name", CASES)
def test_serve_starts_on_an_aof_directory_as_the_server_does(server_name, name):
    case = CASES[name]
    theirs, ours = real_outcome(server_name, case), serve_outcome(server_name, case)
    assert ours.keys == theirs.keys
    if theirs.keys is None:
        return
    assert ours.manifest == theirs.manifest
    assert ours.files == theirs.files | set(case.kept_by_serve)


def _rewrite_keeping_history(client: redis.Redis, directory: Path) -> tuple[bytes, bytes]:
    """BGREWRITEAOF under aof-disable-auto-gc yes, then CONFIG SET it to no: the manifest after each."""
    client.set("a", "1")
    client.bgrewriteaof()
    deadline = time.monotonic() + 20
    while client.info("persistence")["aof_rewrite_in_progress"] or b"type h" not in (directory / MANIFEST).read_bytes():
        assert time.monotonic() < deadline, "BGREWRITEAOF did not finish"
        time.sleep(0.05)
    kept = (directory / MANIFEST).read_bytes()
    client.config_set("aof-disable-auto-gc", "no")
    return kept, (directory / MANIFEST).read_bytes()


@pytest.mark.parametrize("server_name", START_SERVERS)
def test_history_files_stay_with_aof_disable_auto_gc_until_it_is_turned_off(server_name):
    options = ("--appendonly", "yes", "--aof-disable-auto-gc", "yes")
    with start_server(server_name, extra=options) as server:
        theirs = _rewrite_keeping_history(server.client(), server.dir)
        their_files = _outcome(server.dir, []).files
    with start_serve("--target", server_name, *options) as serving:
        ours = _rewrite_keeping_history(serving.client(), serving.dir)
        our_files = _outcome(serving.dir, []).files - {"dump.rdb"}
    assert ours == theirs
    assert our_files == their_files


def _turn_aof_on(client: redis.Redis, directory: Path) -> bytes:
    """CONFIG SET appendonly yes, then the manifest once the first rewrite is in place, its history deleted."""
    client.config_set("appendonly", "yes")
    deadline = time.monotonic() + 20
    manifest, temp = directory / MANIFEST, directory / DIR / "temp-appendonly.aof.manifest"
    while b"seq 2 type b" not in manifest.read_bytes() or b"type h" in manifest.read_bytes() or temp.exists():
        assert time.monotonic() < deadline, "the rewrite that turns AOF on did not finish"
        time.sleep(0.05)
    return (directory / MANIFEST).read_bytes()


@pytest.mark.parametrize("server_name", START_SERVERS)
def test_turning_aof_on_numbers_the_new_files_after_the_manifests(server_name):
    files = {MANIFEST: b"file appendonly.aof.1.base.aof seq 1 type b\nfile appendonly.aof.3.incr.aof seq 3 type i\n",
             f"{DIR}/appendonly.aof.1.base.aof": SET_A, f"{DIR}/appendonly.aof.3.incr.aof": b""}
    options = ("--appendonly", "no")
    with start_server(server_name, extra=options, prepare=_prepare(files)) as server:
        theirs = _turn_aof_on(server.client(), server.dir)
        their_files = _outcome(server.dir, []).files
    with tempfile.TemporaryDirectory(prefix="rdbtool-serve-") as name:
        _prepare(files)(Path(name))
        with start_serve("--target", server_name, *options, directory=Path(name)) as serving:
            ours = _turn_aof_on(serving.client(), serving.dir)
            our_files = _outcome(serving.dir, []).files
    assert ours == theirs
    assert our_files == their_files
