"""A manifest gets rdbtool's verdict only if it is the server's: every rule of the servers' manifest loader,
tried on Redis 7.0, 8.2 and Valkey 8.1, 9.1 started with --appendonly yes on a directory holding it.

The server starts: check-aof says valid and open_aof replays what the server loaded (same keys). The server
refuses the manifest: check-aof says "manifest error" with the server's reason, open_aof raises ManifestError.
The server refuses a file the manifest names: check-aof says "missing file". Where a server disagrees with
Redis 8.2 (rdbtool follows the newest Redis), the test records that server's own answer.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hiredis import pack_command

from rdbtools.aof.check import check_aof
from rdbtools.aof.reader import MissingPartError, open_aof
from rdbtools.formats.manifest import ManifestError
from tests.servers import PROCESS_TIMEOUT, ServerRefused, start_server

MANIFEST_SERVERS = ("redis-7.0", "redis-8.2", "valkey-8.1", "valkey-9.1")  # multi-part AOF: 7.0+
BASE, INCR1, INCR2 = "appendonly.aof.1.base.aof", "appendonly.aof.1.incr.aof", "appendonly.aof.2.incr.aof"
NOT_UTF8 = os.fsdecode(b"appendonly.aof.\xe9.base.aof")  # a name is bytes on disk
FILES = {BASE: "base", INCR1: "incr1", INCR2: "incr2", NOT_UTF8: "not-utf8"}  # each sets its own key
GOOD = f"file {BASE} seq 1 type b\nfile {INCR1} seq 1 type i\n".encode()
LONG_LINE = f"file {BASE} seq 1 type b pad ".encode() + b"x" * 1100


@dataclass(frozen=True)
class Case:
    manifest: bytes
    others: dict[str, str] = field(default_factory=dict)  # server -> its answer, where it is not Redis 8.2's
    extra: dict[str, bytes] = field(default_factory=dict)  # more files in the directory


CASES: dict[str, Case] = {
    # lines: fgets into a 1025-byte buffer, so a line holds at most 1024 bytes with its newline
    "two lines": Case(GOOD),
    "no final newline": Case(GOOD[:-1]),
    "a comment last without newline": Case(GOOD + b"# the end"),
    "a line of 1023 bytes and newline": Case(LONG_LINE[:1023] + b"\n"),
    "a line of 1024 bytes and newline": Case(LONG_LINE[:1024] + b"\n"),
    "a NUL byte in a line": Case(f"file {BASE} seq 1 type b\0\n".encode()),
    "a long comment's tail is a line": Case(b"#" + b"x" * 1023 + f"file {BASE} seq 1 type b\n".encode()),
    "a long comment's tail is junk": Case(b"#" + b"x" * 1100 + b"\n" + GOOD),
    "empty": Case(b""),
    "only comments": Case(b"# nothing here\n"),
    "only history": Case(f"file {BASE} seq 1 type h\n".encode()),
    # comments, blank lines, trimming
    "comment first": Case(b"# written by hand\n" + GOOD),
    "an indented comment": Case(b" # hi\n" + GOOD),
    "a blank line": Case(GOOD + b"\n"),
    "a line of spaces": Case(GOOD + b" \t \n"),
    "CRLF line ends": Case(GOOD.replace(b"\n", b"\r\n")),
    "tabs and spaces around words": Case(f"\tfile {BASE}\tseq 1  type b \t\n".encode()),
    "a form feed before the first word": Case(f"\ffile {BASE} seq 1 type b\n".encode()),
    # splitting like redis-cli (sdssplitargs)
    "a double-quoted name with an escape": Case(b'file "appendonly.aof.1.base\\x2eaof" seq 1 type b\n'),
    "a single-quoted name": Case(f"file '{BASE}' seq 1 type b\n".encode()),
    "a quote opened inside a word": Case(b'file appendonly.aof.1.base."aof" seq 1 type b\n'),
    "unbalanced quotes": Case(b'file "appendonly.aof.1.base.aof seq 1 type b\n'),
    "text right after a closing quote": Case(b'file "appendonly.aof.1.base".aof seq 1 type b\n',
                                             others={"valkey-9.1": "starts: base"}),
    "text right after a closing single quote": Case(b"file 'appendonly.aof.1.base'.aof seq 1 type b\n",
                                                    others={"valkey-9.1": "starts: base"}),
    "an empty quoted word glued to a word": Case(f'file ""{BASE} seq 1 type b\n'.encode(),
                                                 others={"valkey-9.1": "starts: base"}),
    "a vertical tab inside a word": Case(f"file {BASE} seq 1 type b\vx\n".encode()),
    "a latin-1 no-break space inside a word": Case(f"file {BASE} seq 1 type b x\xa0y z\n".encode("latin-1")),
    # key value pairs
    "keys in upper case": Case(f"FILE {BASE} Seq 1 TYPE b\n".encode()),
    "an unknown key": Case(f"file {BASE} seq 1 type b colour blue\n".encode()),
    "five words": Case(f"file {BASE} seq 1 type\n".encode()),
    "seven words": Case(f"file {BASE} seq 1 type b x\n".encode()),
    "no type": Case(f"file {BASE} seq 1 tipe b\n".encode()),
    "no file": Case(f"name {BASE} seq 1 type b\n".encode()),
    "a repeated file key, the first a path": Case(f"file ../x seq 1 type b file {BASE}\n".encode()),
    "a repeated file key, the last wins": Case(f"file nothere seq 1 type b file {BASE}\n".encode()),
    # type: its first character
    "type as a word": Case(f"file {BASE} seq 1 type base\nfile {INCR1} seq 1 type incr\n".encode()),
    "type in upper case": Case(f"file {BASE} seq 1 type B\n".encode()),
    "type empty": Case(f'file {BASE} seq 1 type ""\n'.encode()),
    "type unknown": Case(f"file {BASE} seq 1 type z\n".encode()),
    # seq: atoll
    "seq 0": Case(f"file {BASE} seq 0 type b\n".encode()),
    "seq not a number": Case(f"file {BASE} seq abc type b\n".encode()),
    "seq with a suffix": Case(f"file {BASE} seq 1x type b\n".encode()),
    "seq with a plus sign": Case(f"file {BASE} seq +7 type b\n".encode()),
    "seq with a leading space": Case(f'file {BASE} seq " 7" type b\n'.encode()),
    "a negative base seq": Case(f"file {BASE} seq -1 type b\n".encode()),
    "a negative incr seq": Case(f"file {INCR1} seq -1 type i\n".encode()),
    # order
    "two bases": Case(f"file {BASE} seq 1 type b\nfile {INCR1} seq 2 type b\n".encode()),
    "incr seqs equal": Case(f"file {INCR1} seq 2 type i\nfile {INCR2} seq 2 type i\n".encode()),
    "incr seqs decreasing": Case(f"file {INCR1} seq 2 type i\nfile {INCR2} seq 1 type i\n".encode()),
    "incr seqs with a gap": Case(f"file {INCR1} seq 1 type i\nfile {INCR2} seq 9 type i\n".encode()),
    "the base after the incr": Case(f"file {INCR1} seq 1 type i\nfile {BASE} seq 1 type b\n".encode()),
    "a history file that does not exist": Case(GOOD + b"file gone seq 1 type h\n"),
    # names
    "a name with a slash": Case(b"file ../x seq 1 type b\n"),
    "a name with a backslash": Case(b"file a\\b seq 1 type b\n"),
    "a slash as an escape": Case(b'file "a\\x2fb" seq 1 type b\n'),
    "a name cut at a NUL": Case(f'file "{BASE}\\x00zz" seq 1 type b\n'.encode()),
    "a name not in UTF-8": Case(b"file " + os.fsencode(NOT_UTF8) + b" seq 1 type b\n"),
    "a missing file": Case(b"file nothere seq 1 type b\n"),
    "empty files listed": Case(GOOD, extra={BASE: b"", INCR1: b""}),
    "an empty name": Case(b'file "" seq 1 type b\n'),
    "the name ..": Case(b"file .. seq 1 type b\n"),
    "a temp manifest left over": Case(GOOD, extra={"temp-appendonly.aof.manifest": b"half writ"}),
    # Redis 8.0+: replication offsets of an incr file (Redis 7.0 ignores the keys)
    "offsets": Case(GOOD[:-1] + b" startoffset 10 endoffset 99\n"),
    "an offset not a number": Case(GOOD[:-1] + b" startoffset abc\n"),
    "an end offset alone": Case(GOOD[:-1] + b" endoffset 5\n"),
    "a negative offset": Case(GOOD[:-1] + b" startoffset -3\n"),
}


@dataclass(frozen=True)
class Answer:
    """What a server did: started (and loaded these keys), or refused, for a manifest error or not."""

    starts: bool
    keys: frozenset[str] = frozenset()
    manifest_error: bool = False
    reason: str = ""

    def __str__(self) -> str:
        return "starts: " + ",".join(sorted(self.keys)) if self.starts else "refuses: " + self.reason


def appendonly_dir(parent: Path, case: Case) -> Path:
    """The appendonlydir the case describes, under parent."""
    directory = parent / "appendonlydir"
    directory.mkdir()
    for name, key in FILES.items():
        (directory / name).write_bytes(pack_command((b"SET", key.encode(), b"1")))
    for name, data in case.extra.items():
        (directory / name).write_bytes(data)
    (directory / "appendonly.aof.manifest").write_bytes(case.manifest)
    return directory


def server_answer(server: str, case: Case) -> Answer:
    try:
        with start_server(server, extra=("--appendonly", "yes"), prepare=lambda d: appendonly_dir(d, case)) as s:
            return Answer(True, frozenset(k.decode() for k in s.client().scan_iter()))
    except ServerRefused as refused:
        last = refused.log.strip().splitlines()[-1]
        return Answer(False, manifest_error="FATAL AOF MANIFEST FILE ERROR" in refused.log,
                      reason=re.sub(r"^\d+:\w \d+ \w+ \d+ [\d:.]+ . ", "", last))


def replayed_keys(directory: Path) -> frozenset[str]:
    with open_aof(directory) as aof:
        return frozenset(c.args[1].decode() for c in aof.commands() if c.args[0].upper() == b"SET")


@pytest.mark.parametrize("server", MANIFEST_SERVERS)
@pytest.mark.parametrize("name", CASES)
def test_check_aof_and_open_aof_give_the_servers_verdict_on_a_manifest(tmp_path, name, server):
    case = CASES[name]
    answer = server_answer(server, case)
    if server in case.others:  # this server disagrees with Redis 8.2, whose answer rdbtool gives
        assert str(answer) == case.others[server]
        return
    directory = appendonly_dir(tmp_path, case)
    report = check_aof(directory)
    assert check_aof(directory / "appendonly.aof.manifest").verdict == report.verdict  # the manifest named
    if answer.starts:
        assert report.valid, report.manifest_error or report.missing
        assert replayed_keys(directory) == answer.keys
    elif answer.manifest_error:
        assert report.verdict == "manifest error" and answer.reason in report.manifest_error, answer.reason
        with pytest.raises(ManifestError, match=r"manifest line|empty"):
            open_aof(directory)
    else:
        assert report.verdict == "missing file", (answer.reason, report.manifest_error)
        with pytest.raises(MissingPartError):
            open_aof(directory)


@pytest.mark.parametrize("name", ["no final newline", "type as a word", "only comments", "a missing file"])
def test_rdbtool_check_aof_exits_0_exactly_when_the_server_starts(tmp_path, name):
    answer = server_answer("redis-8.2", CASES[name])
    directory = appendonly_dir(tmp_path, CASES[name])
    run = subprocess.run([sys.executable, "-m", "rdbtools.cli", "check-aof", str(directory)], capture_output=True,
                         timeout=PROCESS_TIMEOUT)
    assert run.returncode == (0 if answer.starts else 1), run.stdout
    assert not answer.manifest_error or answer.reason.encode() in run.stdout
