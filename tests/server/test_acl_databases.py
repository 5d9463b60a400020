"""Valkey 9.1's db= rules (the databases a user's selector may use) against the real server: the rules as
ACL SETUSER takes, GETUSER and LIST describe them (and the other targets refuse them), and the NOPERM
errors, ACL LOG entries, DRYRUN texts and INFO counters of calls that use a database the rules lack: the ids
SELECT, SWAPDB, MOVE and COPY ... DB name, the current database (a transaction's after its queued SELECT),
every database for FLUSHALL."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from tests.server.serving import start_serve
from tests.server.test_acl import TARGETS, Both, _clean, _words
from tests.servers import start_server

VALKEY = "valkey-9.1"


def _session(request) -> Iterator[Both]:
    with start_server(request.param) as real, start_serve("--target", request.param) as served:
        session = Both(request.param, real.port, served.port)
        yield session
        session.close()
        _clean(request.param, real.port, served.port)


@pytest.fixture(scope="module", params=TARGETS)
def every(request) -> Iterator[Both]:
    yield from _session(request)


@pytest.fixture(scope="module", params=[VALKEY])
def valkey(request) -> Iterator[Both]:
    yield from _session(request)


@pytest.fixture
def both(valkey: Both) -> Iterator[Both]:
    yield valkey
    valkey.close()
    _clean(valkey.name, *valkey.ports)


RULES = ["on nopass +@all ~* &* db=0", "db=1,2", "db=3 db=5", "db=5,1", "db=01,+3", "db=2147483647", "alldbs",
         "resetdbs", "db=1 alldbs", "db=1 alldbs db=2", "DB=4", "+@all ~* (db=3 +get ~*)", "(+get) db=2",
         "db=0 reset", "db=2 resetdbs ~*", "db=0,0,0", "on nopass ~* db=7 (db=1,3 ~a) (resetdbs)"]


@pytest.mark.parametrize("rules", RULES)
def test_db_rules_read_back_as_valkey_describes_them(both, rules):
    both.same(0, f"ACL SETUSER someone {rules}")
    both.same(0, "ACL GETUSER someone")
    both.same(0, "ACL LIST")


BAD = ["db=", "db=x", "db=-1", "db=2147483648", "db=99999999999999999999", "db=1.5", "db=1,", "db=,1", "db=1,,2",
       "db=1,-2,x", "db=0x1", "(db=-1)", "alldbs", "resetdbs", "db=1", "db=0,1"]


@pytest.mark.parametrize("rule", BAD)
def test_db_rules_are_refused_as_the_server_refuses_them(every, rule):
    """Valkey 9.1 refuses a malformed list or an id outside an int; every other target has no such rule."""
    every.same(0, "ACL SETUSER bad on >pw +get")
    every.same(0, [b"ACL", b"SETUSER", b"bad", *_words(rule)])
    every.same(0, "ACL GETUSER bad")
    every.same(0, [b"ACL", b"SETUSER", b"bad", b"db= 1"])
    every.same(0, "ACL GETUSER bad")
    every.close()
    _clean(every.name, *every.ports)


def _counters(both: Both) -> None:
    theirs, ours = both.replies(0, _words("INFO stats"))
    assert re.findall(rb"acl_access_denied_\w+:\d+", ours) == re.findall(rb"acl_access_denied_\w+:\d+", theirs)


def test_calls_in_a_database_the_user_lacks_are_refused(both):
    """The current database counts for the calls with keys, that read or write, or of @keyspace; PING, PUBLISH,
    SCRIPT FLUSH, XINFO HELP, MULTI do not use one."""
    both.run("""
ACL SETUSER z on nopass +@all ~* &* db=1
SET k v
@1 AUTH z x
@1 GET k
@1 SET k v
@1 DBSIZE
@1 KEYS *
@1 SCAN 0
@1 RANDOMKEY
@1 FLUSHDB
@1 OBJECT HELP
@1 OBJECT ENCODING k
@1 MEMORY USAGE k
@1 SORT k
@1 TOUCH k
@1 WATCH k
@1 FUNCTION FLUSH
@1 FUNCTION DELETE x
@1 PING
@1 ECHO x
@1 PUBLISH ch x
@1 SCRIPT FLUSH
@1 SCRIPT EXISTS x
@1 XINFO HELP
@1 ACL WHOAMI
@1 FUNCTION LIST
@1 CONFIG GET maxmemory
@1 MULTI
@1 DISCARD
@1 SELECT 1
@1 GET k
@1 DBSIZE
@1 SELECT 0
ACL LOG
""")
    both.same(1, [b"EVAL", b"return 1", b"0"])
    both.same(1, [b"EVAL", b"return 1", b"1", b"k"])
    _counters(both)


def test_databases_a_call_names_are_checked_first(both):
    """SELECT and SWAPDB check only the ids they name; MOVE and COPY ... DB the id, then the current database;
    ids that are no integer or out of range are left to the command; FLUSHALL needs every database."""
    both.run("""
ACL SETUSER z on nopass +@all ~* &* db=1
ACL SETUSER all on nopass +@all ~* &* db=0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
SET k v
@1 AUTH z x
@1 SWAPDB 1 1
@1 SWAPDB 0 1
@1 SWAPDB 1 0
@1 SWAPDB 0 2
@1 MOVE k 0
@1 MOVE k 1
@1 COPY k k2 DB 1
@1 COPY k k2 DB 0
@1 SELECT 1
@1 SWAPDB 0 2
@1 MOVE k 0
@1 MOVE k 2
@1 COPY k k2 DB 1
@1 COPY k k2 DB 0
@1 COPY k k2
@1 SELECT x
@1 SELECT 99
@1 SELECT -1
@1 SELECT 01
@1 MOVE k x
@1 MOVE k 99
@1 SWAPDB x 1
@1 SWAPDB 1 x
@1 SWAPDB 1 -1
@1 COPY k k2 DB x
@1 FLUSHALL
@1 FLUSHDB
@2 AUTH all x
@2 FLUSHALL
ACL LOG
ACL DRYRUN z GET k
ACL DRYRUN z OBJECT ENCODING k
ACL DRYRUN z SWAPDB 0 2
ACL DRYRUN z SWAPDB 1 1
ACL DRYRUN z MOVE k 0
ACL DRYRUN z COPY k k2 DB 3
ACL DRYRUN z DBSIZE
ACL DRYRUN z FLUSHALL
ACL DRYRUN z SELECT x
ACL DRYRUN z SELECT 15
ACL DRYRUN z SELECT 16
ACL DRYRUN z PING
SELECT 1
ACL DRYRUN z GET k
ACL DRYRUN z SELECT 0
SELECT 0
""")
    _counters(both)


def test_selectors_tell_the_most_telling_denial(both):
    """A selector's database check comes first; of the selectors' refusals the database one ranks lowest,
    and among equals the latest argument is told."""
    both.run("""
ACL SETUSER s on nopass +@all ~* &* db=0 (+@all ~* db=1)
ACL SETUSER t on nopass +@all ~* &* db=0 (-@all +get ~* db=1)
ACL SETUSER x on nopass -@all +get ~* &* db=0
ACL SETUSER w on nopass +@all %R~* &* db=0
ACL DRYRUN s SWAPDB 0 1
ACL DRYRUN s SWAPDB 1 2
ACL DRYRUN s SWAPDB 2 3
ACL DRYRUN t SELECT 1
ACL DRYRUN t SELECT 2
ACL DRYRUN w SET k v
ACL DRYRUN x SET k v
SELECT 1
ACL DRYRUN s FLUSHALL
ACL DRYRUN t GET k
ACL DRYRUN t SET k v
ACL DRYRUN x SET k v
ACL DRYRUN w SET k v
SELECT 0
@1 AUTH s x
@1 SELECT 1
@1 GET k
@1 FLUSHALL
""")


def test_transactions_and_scripts_use_the_database_they_run_in(both):
    """A transaction's calls are checked in the database of its last queued SELECT; EXEC checks again (its
    reason for a database: "no permission"); a script's calls in the database it selected."""
    both.run("""
ACL SETUSER z on nopass +@all ~* &* db=1
@1 AUTH z x
@1 MULTI
@1 GET k
@1 EXEC
@1 MULTI
@1 SELECT 1
@1 GET k
@1 EXEC
@1 MULTI
@1 SELECT 0
@1 GET k
@1 DISCARD
@1 MULTI
@1 GET k
ACL SETUSER z db=0
@1 EXEC
ACL SETUSER z db=0,1
""")
    for script in ("redis.call('SELECT', 1); return redis.call('GET', 'k')",
                   "redis.call('SELECT', 0); return redis.acl_check_cmd('GET', 'k')"):
        both.same(1, [b"EVAL", script.encode(), b"0"])
    both.same(0, "ACL SETUSER z db=1")
    for script in ("return redis.acl_check_cmd('SELECT', '0')", "return redis.call('SWAPDB', '0', '1')",
                   "return redis.pcall('MOVE', 'k', '0')"):
        both.same(1, [b"EVAL", script.encode(), b"0"])
    both.same(0, "ACL LOG")
    _counters(both)


def test_db_rules_go_through_the_acl_file_and_user_lines(tmp_path):
    """ACL SAVE writes the rules as ACL LIST does, ACL LOAD and `user` lines read them back."""
    from tests.server.test_acl import _pair_with

    config = "user default on nopass ~* &* +@all\nuser cfg on nopass ~* +@all db=2,1 (+get ~x db=3)\n"
    with _pair_with(VALKEY, tmp_path, config) as both:
        both.run("""
ACL LIST
ACL SETUSER added on >x +@all ~* db=0 (resetdbs +get)
@1 AUTH cfg x
@1 GET k
@1 SELECT 2
@1 GET k
ACL LIST
""")
    acl = "user default on nopass ~* &* +@all\nuser f on nopass ~* &* db=4 +@all (~* resetdbs -@all +get)\n"
    (tmp_path / "acl").mkdir()
    with _pair_with(VALKEY, tmp_path / "acl", "aclfile DIR/users.acl\n") as both:
        for where in ("real", "serve"):
            (tmp_path / "acl" / where / "users.acl").write_text(acl)
        both.run("""
ACL LOAD
ACL LIST
ACL GETUSER f
ACL SETUSER f db=5,6
ACL SAVE
ACL LOAD
ACL LIST
""")
        saved = [(tmp_path / "acl" / where / "users.acl").read_text() for where in ("real", "serve")]
        assert saved[1] == saved[0]
