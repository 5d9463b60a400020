"""What the fuzzers feed: one target per reader, each turning an input into an outcome.

A target's ``run`` takes the fuzzer's bytes and returns a short, deterministic summary of what the
code under test made of them (a digest of its output, or the error of ours it raised). Any other
exception is a finding. The summary is what the accelerated and the pure-Python paths must agree on:
scripts/fuzz replays a corpus through both (two processes, RDBTOOL_PURE_PYTHON selecting the path) and
compares the summaries input by input.

Seeds come from the shared corpus (read in place), the shipped fixtures, and files built here.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import os
import random
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
from hiredis import pack_command

from rdbtools import RdbtoolError, open_rdb, verify_rdb
from rdbtools.aof.check import check_aof
from rdbtools.aof.reader import open_aof
from rdbtools.conversion import convert
from rdbtools.export.dump import write_records
from rdbtools.export.records import record_to_json
from rdbtools.formats.manifest import FileType, Manifest, ManifestEntry, format_manifest, parse_manifest
from rdbtools.rdb.model import KeyRecord
from rdbtools.rdb.payload import dump_payload, load_payload
from rdbtools.rdb.targets import target_for_version
from rdbtools.server.config import ServerConfig  # (imported here, not when first used: the fuzzer instruments
from rdbtools.server.protocol import ProtocolError, RequestParser  # what is imported with this module)
from rdbtools.testing.inprocess import InProcessApp

REPO = Path(__file__).resolve().parents[2]
MAX_SEED = 64 << 10  # bytes: what a seed (and an input the time bound applies to) may hold
NOW_MS = 1_700_000_000_000  # verify's "now": TTL counts must not depend on the day a corpus is replayed
_NO_CRC = bytes(8)  # a checksum of 0: Redis and rdbtool skip the check (a fuzzer never forges a CRC-64)


@dataclass(frozen=True)
class Target:
    name: str
    purpose: str
    run: Callable[[bytes], str]
    seeds: Callable[[], Iterator[bytes]]
    words: Callable[[], Iterator[bytes]] | None = None  # a libFuzzer dictionary: tokens worth inserting


def outcome(*parts: object) -> str:
    """A short digest of what a run produced: equal outcomes, equal behaviour (the scratch directory, which
    differs from process to process, left out of the paths that reports and errors name)."""
    text = orjson.dumps(parts, default=repr).replace(os.fsencode(SCRATCH.dir), b"<scratch>")
    return hashlib.sha256(text).hexdigest()[:16]


def refused(error: RdbtoolError) -> str:
    """Our error is an allowed end; its kind and message are part of the behaviour both paths must share."""
    return outcome("refused", type(error).__name__, str(error))


class Scratch:
    """One file per process for the readers that take a path (they map the file): a tmpfs when there is one."""

    def __init__(self) -> None:
        base = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
        self.dir = Path(tempfile.mkdtemp(prefix="rdbtool-fuzz-", dir=base))

    def write(self, name: str, data: bytes) -> Path:
        path = self.dir / name
        path.write_bytes(data)
        return path


SCRATCH = Scratch()


# --- the targets ---------------------------------------------------------------------------------------

def run_verify(data: bytes) -> str:
    """verify never raises for anything in the file: every problem is in its report."""
    report = verify_rdb(SCRATCH.write("input.rdb", data), now_ms=NOW_MS).to_json()
    del report["seconds"], report["path"]
    return outcome(report)


def run_dump(data: bytes) -> str:
    """The reader feeding dump's JSONL and RESP writers, as `rdbtool dump` runs them."""
    try:
        with open_rdb(SCRATCH.write("input.rdb", data), check_crc=False) as rdb:
            header, records = rdb.header, list(rdb)  # (read once for both writers: an input is at most 64 KB)
        outputs = []
        for fmt in ("jsonl", "resp"):
            out = io.BytesIO()
            write_records(header, records, out, fmt)
            outputs.append(out.getvalue())
    except RdbtoolError as error:
        return refused(error)
    return outcome(*outputs)


def run_restore(data: bytes) -> str:
    """RESTORE's payload reader: the input is a DUMP payload but its checksum (left at 0, which is skipped)."""
    try:
        record = load_payload(data + _NO_CRC, b"key")
    except RdbtoolError as error:
        return refused(error)
    return outcome(record_to_json(record))


def run_aof(data: bytes) -> str:
    """check-aof's verdict and the deep reader's commands, for a single file (RESP, or an RDB preamble first)."""
    path = SCRATCH.write("input.aof", data)
    verdict = check_aof(path).to_json()
    del verdict["path"]
    try:
        with open_aof(path, deep=True) as aof:
            commands = [command.args for command in aof.commands()]
    except RdbtoolError as error:
        return outcome(verdict, refused(error))
    return outcome(verdict, commands)


def run_manifest(data: bytes) -> str:
    """The manifest parser; what it accepts must read back the same once written out again (when it names a
    file: one of comments alone is valid, but writing it out gives an empty file, which is not)."""
    try:
        manifest = parse_manifest(data)
        written = format_manifest(manifest)  # (refused when a name, quoted, makes a line the server refuses)
    except RdbtoolError as error:
        return refused(error)
    if manifest.entries and parse_manifest(written) != manifest:
        raise AssertionError(f"manifest does not survive a round trip: {written!r}")
    return outcome(written)


def run_jsonl(data: bytes) -> str:
    """JSONL -> RDB (convert); what convert writes must read back (sound or not: a JSONL line may describe a
    value that is itself inconsistent, such as a stream whose length is not its entries', and it is kept)."""
    source = SCRATCH.write("input.jsonl", data)
    destination = SCRATCH.dir / "output.rdb"
    try:
        convert(source, destination)
    except RdbtoolError as error:
        return refused(error)
    report = verify_rdb(destination, now_ms=NOW_MS)
    if report.unreadable or report.unsupported or report.checksum != "ok":
        raise AssertionError(f"convert wrote an RDB that does not read back: {report.to_json()}")
    with open_rdb(destination) as rdb:  # the keys written (the file's bytes hold the time of writing: ctime)
        return outcome([record_to_json(record) for record in rdb if isinstance(record, KeyRecord)])


#: what a fuzzed connection may not run: commands that change the server rather than the data (the config,
#: persistence, shutdown, other clients), scripts (a script may loop forever by design), and the random
#: samplers, whose negative count asks for that many replies (as in Redis: memory no input size bounds)
_FUZZ_USER = ("ACL", "SETUSER", "default", "on", "nopass", "~*", "&*", "+@all", "-@admin", "-@dangerous",
              "-@scripting", "-srandmember", "-hrandfield", "-zrandmember", "-client")
_DEFECT = b"(a bug of rdbtool"  # serve's reply when a command met one of its own bugs (core.defect_error)


class _Collected:
    """A connection's replies, kept in memory (what the in-process client's inboxes do for its sockets)."""

    def __init__(self) -> None:
        self.data = bytearray()

    def put(self, data: bytes) -> None:
        self.data += data

    def close(self) -> None:
        pass

    def unread(self) -> int:
        return len(self.data)


@functools.cache
def _served():
    """One in-process server for the whole run (a start per input would cost more than the input), with an admin
    connection that empties it between inputs and a default user limited to the data commands."""
    app = InProcessApp(ServerConfig.load(arguments=["--port", "0", "--dir", str(SCRATCH.dir), "--save", "",
                                                    "--proto-max-bulk-len", "1mb"]))
    admin = _Collected()
    connection = app.open(admin)
    app.turn(connection.data_received, pack_command(("ACL", "SETUSER", "admin", "on", "nopass", "~*", "&*", "+@all"))
             + pack_command(("AUTH", "admin", "x")) + pack_command(_FUZZ_USER))
    return app, connection, admin


def run_serve(data: bytes) -> str:
    """serve's request path: the bytes of one connection (RESP2/RESP3 via HELLO, inline), split in two reads at
    a point the first byte picks, through the parser's limits and the dispatch of the sans-IO core. The outcome
    both paths must share is what the parser made of the bytes (the replies hold times and counters); a reply
    that reports a bug of serve's is a finding."""
    app, admin_connection, _ = _served()
    split = data[0] % (len(data) + 1) if data else 0
    random.seed(0)
    replies = _Collected()
    connection = app.open(replies)
    for chunk in (data[:split], data[split:]):
        app.turn(connection.data_received, chunk)
    if connection.transport is not None:  # (not closed by the server: a protocol error, QUIT, a limit)
        app.turn(connection.transport.hang_up)
    app.turn(admin_connection.data_received, pack_command(("FLUSHALL",)))
    if _DEFECT in replies.data:
        start = replies.data.rfind(b"-", 0, replies.data.index(_DEFECT))
        raise AssertionError(bytes(replies.data[start : replies.data.index(_DEFECT)]).decode(errors="replace"))
    parser = RequestParser(1 << 20)
    try:
        requests = [parser.feed(chunk) for chunk in (data[:split], data[split:])]
    except ProtocolError as error:
        return outcome("protocol error", str(error), error.requests)
    return outcome(requests)


# --- seeds ---------------------------------------------------------------------------------------------

def corpus_files(*suffixes: str) -> Iterator[Path]:
    """The shared corpus's files of these kinds, small enough to fuzz (its absence is an error: see corpus_root)."""
    for path in sorted(corpus_root().rglob("*")):
        if path.suffix in suffixes and path.is_file() and path.stat().st_size <= MAX_SEED:
            yield path


def corpus_root() -> Path:
    configured = os.environ.get("RDBTOOL_CORPUS")
    root = Path(configured) if configured else REPO.parent / "shared" / "corpus"
    if not (root / "README.md").is_file():
        raise FileNotFoundError(f"corpus not found at {root}: put the shared corpus there or set RDBTOOL_CORPUS")
    return root / "peers"


def rdb_seeds() -> Iterator[bytes]:
    yield from (p.read_bytes() for p in corpus_files(".rdb"))
    demo = REPO / "fixtures" / "demo.rdb"
    if demo.stat().st_size <= MAX_SEED:
        yield demo.read_bytes()


def _readable_records(limit: int = 400) -> Iterator[tuple[int, KeyRecord]]:
    """Key records of the corpus's readable RDBs, with the RDB version that holds them."""
    for path in corpus_files(".rdb"):
        try:
            with open_rdb(path) as rdb:
                version = rdb.header.version
                for record in rdb:
                    if isinstance(record, KeyRecord):
                        yield version, record
                        limit -= 1
                        if not limit:
                            return
        except RdbtoolError:
            continue


def restore_seeds() -> Iterator[bytes]:
    seen = set()
    for version, record in _readable_records():
        try:
            payload = dump_payload(record, target_for_version(version))[:-8]
        except RdbtoolError:
            continue
        if payload not in seen and len(payload) <= MAX_SEED:
            seen.add(payload)
            yield payload


def aof_seeds() -> Iterator[bytes]:
    yield from (p.read_bytes() for p in corpus_files(".aof"))
    commands = b"".join(pack_command(c) for c in ((b"SELECT", b"0"), (b"SET", b"k", b"v"), (b"MULTI",),
                                                   (b"RPUSH", b"l", b"a", b"b"), (b"EXEC",)))
    yield b"#TS:1700000000\r\n" + commands
    preamble = next(s for s in rdb_seeds() if s.startswith(b"REDIS"))
    yield preamble + commands  # a hybrid file: an RDB preamble, then RESP


def manifest_seeds() -> Iterator[bytes]:
    entries = (ManifestEntry("appendonly.aof.1.base.rdb", 1, FileType.BASE),
               ManifestEntry("appendonly.aof.1.incr.aof", 1, FileType.INCR),
               ManifestEntry("appendonly.aof.2.incr.aof", 2, FileType.INCR, start_offset=10, end_offset=99),
               ManifestEntry('odd "name".aof', 1, FileType.HISTORY))
    for count in range(1, len(entries) + 1):
        yield format_manifest(Manifest(entries[:count]))
    yield b"# a comment\nfile appendonly.aof.1.base.aof seq 1 type b\n"


def jsonl_seeds() -> Iterator[bytes]:
    yield from (p.read_bytes() for p in corpus_files(".jsonl"))
    for data in rdb_seeds():
        out = io.BytesIO()
        try:
            with open_rdb(SCRATCH.write("seed.rdb", data)) as rdb:
                write_records(rdb.header, rdb, out, "jsonl")
        except RdbtoolError:
            continue
        if out.tell() <= MAX_SEED:
            yield out.getvalue()


def command_words() -> Iterator[bytes]:
    """Every command and subcommand name of the table (as RESP bulks and inline words), and RESP's markers."""
    table = json.loads((REPO / "rdbtools" / "server" / "command_table.json").read_text())["commands"]
    for word in sorted({part for name in table for part in name.encode().split(b"|")}):
        yield b"$%d\r\n%s\r\n" % (len(word), word)
        yield word + b" "
    yield from (b"*1\r\n", b"*2\r\n", b"*3\r\n", b"*4\r\n", b"\r\n", b"$-1\r\n", b"HELLO 3\r\n")


def serve_seeds() -> Iterator[bytes]:
    commands = [("SET", "k", "v"), ("INCR", "n"), ("RPUSH", "l", "a", "b"), ("HSET", "h", "f", "v"),
                ("ZADD", "z", "1", "m"), ("SADD", "s", "1", "2"), ("XADD", "x", "*", "f", "v"), ("GET", "k"),
                ("LRANGE", "l", "0", "-1"), ("MULTI",), ("EXEC",), ("SUBSCRIBE", "c"), ("SETEX", "t", "10", "v")]
    resp = b"".join(pack_command(c) for c in commands)
    yield resp
    yield b"\x00" + pack_command(("HELLO", "3")) + resp  # RESP3 (a first byte of 0: one read)
    yield b"SET k v\r\nGET k\r\nPING\r\n"  # inline
    yield b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\nv"  # a request in part


TARGETS = {t.name: t for t in (
    Target("rdb-verify", "the RDB reader in deep mode, as `rdbtool verify` runs it", run_verify, rdb_seeds),
    Target("rdb-dump", "the RDB reader feeding dump's JSONL and RESP", run_dump, rdb_seeds),
    Target("restore", "RESTORE's DUMP payload reader", run_restore, restore_seeds),
    Target("aof", "check-aof and the AOF reader, single files with or without an RDB preamble", run_aof, aof_seeds),
    Target("manifest", "the multi-part AOF manifest parser", run_manifest, manifest_seeds),
    Target("jsonl", "JSONL input to convert, written as RDB", run_jsonl, jsonl_seeds),
    Target("serve", "serve's request path: parser, limits and dispatch through the sans-IO core", run_serve,
           serve_seeds, command_words),
)}
