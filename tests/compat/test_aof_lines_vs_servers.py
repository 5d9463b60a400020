"""AOF lines read as the real servers read them: the same AOF loads in serve when it loads in Redis 7.0, 8.2
and Valkey 9.1, with the same keys, and a tail they cut (aof-load-truncated) is cut at the same byte.

The loader (aof.c, loadSingleAppendOnlyFile) reads an argument count with atoi and a bulk length with
strtol: leading C spaces, a sign, leading zeros and text after the digits pass, a bare '\\n' ends a line,
the two bytes after an argument are skipped unchecked; Python's int()/isdigit() took less. rdbtool
check-aof keeps redis-check-aof's stricter verdict, and a #TS: annotation's time is what redis-check-aof
reads with strtol (--truncate-to-timestamp).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from rdbtools.aof.check import check_aof
from rdbtools.formats.resp import iter_records
from tests.aof.redis_check_aof import run_real
from tests.server.serving import start_serve
from tests.servers import ServerRefused, start_server

LOAD_SERVERS = ("redis-7.0", "redis-8.2", "valkey-9.1")
BASE = "appendonlydir/appendonly.aof.1.base.aof"
MANIFEST = b"file appendonly.aof.1.base.aof seq 1 type b\n"


def command(argc: bytes = b"3", lengths: tuple[bytes, ...] = (b"3", b"1", b"1"),
            args: tuple[bytes, ...] = (b"SET", b"k", b"v"), newline: bytes = b"\r\n") -> bytes:
    """SET k v with its number lines as given."""
    bulks = b"".join(b"$" + n + newline + a + b"\r\n" for n, a in zip(lengths, args, strict=True))
    return b"*" + argc + newline + bulks


SET_K = command()
SET_J = command(args=(b"SET", b"j", b"w"))
MULTI, EXEC = b"*1\r\n$5\r\nMULTI\r\n", b"*1\r\n$4\r\nEXEC\r\n"


@dataclass(frozen=True)
class Loaded:
    held: dict[bytes, bytes] | None  # None: the start was refused
    base: bytes | None  # the base file after the start (cut or not)


@dataclass(frozen=True)
class Case:
    data: bytes
    others: dict[str, Loaded] = field(default_factory=dict)  # a server's own answer where it is not Redis 8.2's


CASES: dict[str, Case] = {
    "plain": Case(SET_K),
    "a count with a plus sign": Case(command(argc=b"+3")),
    "a count after a space": Case(command(argc=b" 3")),
    "a count after a tab": Case(command(argc=b"\t3")),
    "a count after a vertical tab": Case(command(argc=b"\x0b3")),
    "a count before a space": Case(command(argc=b"3 ")),
    "a count with a leading zero": Case(command(argc=b"03")),
    "a count with an underscore": Case(command(argc=b"3_0")),
    "a count followed by text": Case(command(argc=b"3x")),
    "a count beyond a C int": Case(command(argc=b"4294967299")),
    "a count in Arabic-Indic digits": Case(command(argc="\u0663".encode())),
    "a hexadecimal count": Case(command(argc=b"0x3")),
    "an empty count": Case(command(argc=b"")),
    "a zero count": Case(command(argc=b"0")),
    "a negative count": Case(command(argc=b"-3")),
    "a length with a plus sign": Case(command(lengths=(b"3", b"+1", b"1"))),
    "a length after a space": Case(command(lengths=(b"3", b" 1", b"1"))),
    "a length before a space": Case(command(lengths=(b"3", b"1 ", b"1"))),
    "a length with a leading zero": Case(command(lengths=(b"3", b"01", b"1"))),
    "a length with an underscore": Case(command(lengths=(b"3", b"1_0", b"1"))),
    "a length in Arabic-Indic digits": Case(command(lengths=(b"3", "\u0661".encode(), b"1"))),
    "a hexadecimal length": Case(command(lengths=(b"3", b"0x1", b"1"))),
    "an empty length": Case(command(lengths=(b"3", b"", b"1"), args=(b"SET", b"", b"v"))),
    "a length of minus zero": Case(command(lengths=(b"3", b"-0", b"1"), args=(b"SET", b"", b"v"))),
    "lines ending in a bare LF": Case(command(newline=b"\n")),
    "an argument not followed by CRLF": Case(b"*3\r\n$3\r\nSET\r\n$1\r\nkXY$1\r\nv\r\n"),
    "an annotation ending in a bare LF": Case(b"#note\n" + SET_K),
    "an annotation line of 1023 bytes": Case(b"#" + b"x" * 1020 + b"\r\n" + SET_K),
    "an annotation line of 1024 bytes": Case(b"#" + b"x" * 1021 + b"\r\n" + SET_K),
    "an annotation at the end without its newline": Case(SET_K + b"#TS:17"),
    # tails the loader cuts
    "a command cut short": Case(SET_K + SET_J[:-3]),
    "a command cut short after an annotation": Case(SET_K + b"#TS:5\r\n" + SET_J[:-3]),
    "a lone star at the end": Case(SET_K + b"*"),
    "a zero count at the end": Case(SET_K + b"*0"),
    "a MULTI left open": Case(SET_K + MULTI + SET_J),
    "a command cut short inside a MULTI": Case(SET_K + MULTI + SET_J + SET_J[:-3], others={
        "valkey-9.1": Loaded({b"k": b"v"}, SET_K)}),  # Valkey cuts before the MULTI, Redis after SET j
    "a closed MULTI": Case(SET_K + MULTI + SET_J + EXEC),
}


def _prepare(data: bytes):
    def prepare(directory: Path) -> None:
        (directory / "appendonlydir").mkdir()
        (directory / "appendonlydir/appendonly.aof.manifest").write_bytes(MANIFEST)
        (directory / BASE).write_bytes(data)

    return prepare


def _held(client) -> dict[bytes, bytes]:
    return {key: client.get(key) for key in client.keys("*")}


def real_load(server_name: str, data: bytes) -> Loaded:
    try:
        with start_server(server_name, extra=("--appendonly", "yes"), prepare=_prepare(data)) as server:
            return Loaded(_held(server.client()), (server.dir / BASE).read_bytes())
    except ServerRefused:
        return Loaded(None, None)


def serve_load(server_name: str, case: Case) -> Loaded:
    with tempfile.TemporaryDirectory(prefix="rdbtool-serve-") as name:
        directory = Path(name)
        _prepare(case.data)(directory)
        try:
            with start_serve("--target", server_name, "--appendonly", "yes", directory=directory) as serving:
                return Loaded(_held(serving.client()), (directory / BASE).read_bytes())
        except RuntimeError:
            return Loaded(None, None)


@pytest.mark.parametrize("server_name", LOAD_SERVERS)
@pytest.mark.parametrize("name", CASES)
def test_serve_loads_an_aof_as_the_server_does(server_name, name):
    case = CASES[name]
    theirs = real_load(server_name, case.data)
    if server_name in case.others:  # serve follows Redis 8.2 there
        assert theirs == case.others[server_name]
        theirs = real_load("redis-8.2", case.data)
    assert serve_load(server_name, case) == theirs


@pytest.mark.parametrize("name", CASES)
def test_check_aof_keeps_the_verdict_of_redis_check_aof(tmp_path, name):
    path = tmp_path / "appendonly.aof"
    path.write_bytes(CASES[name].data)
    assert check_aof(path).valid == (run_real(path).exit_code == 0)


TIMESTAMPS = {"plain": b"5", "a plus sign": b"+5", "a space before": b" 5", "a space after": b"5 ",
              "a leading zero": b"05", "Arabic-Indic digits": "\u0665".encode(), "hexadecimal": b"0x5",
              "empty": b"", "negative": b"-5", "beyond 64 bits": b"99999999999999999999", "not after": b"2"}


@pytest.mark.parametrize("name", TIMESTAMPS)
def test_a_timestamp_is_what_redis_check_aof_reads(tmp_path, name):
    data = SET_J + b"#TS:" + TIMESTAMPS[name] + b"\r\n" + SET_K
    path = tmp_path / "appendonly.aof"
    path.write_bytes(data)
    verdict = run_real(path, "--truncate-to-timestamp", "3").output
    timestamp = next(r.timestamp for r in iter_records(data) if r.args is None)
    if "Invalid timestamp annotation" in verdict:
        assert timestamp is None
    else:
        assert timestamp is not None and (timestamp > 3) == ("Successfully truncated" in verdict)
