"""CLIENT's subcommands against the real server of each target: REPLY, PAUSE/UNPAUSE, KILL and its
filters, UNBLOCK, NO-EVICT, NO-TOUCH, LIST's filters, the fields and flags of CLIENT INFO / LIST, HELP."""

from __future__ import annotations

import contextlib
import re
import socket
import threading
import time

import hiredis
import pytest

from tests.server.tracking_session import Session, assert_same, assert_same_outcome

TARGETS = ["redis-6.2", "redis-7.0", "redis-8.2", "valkey-9.1"]


def raw(port: int, payload: bytes, quiet: float = 0.3) -> bytes:
    """What a connection receives for a pipeline, until it has been quiet a while."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(payload)
        sock.settimeout(quiet)
        data = b""
        with contextlib.suppress(TimeoutError):
            while chunk := sock.recv(65536):
                data += chunk
        return data


def pack(*commands: tuple) -> bytes:
    return b"".join(hiredis.pack_command(tuple(str(a).encode() for a in command)) for command in commands)


# --- CLIENT REPLY ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("target", TARGETS)
def test_client_reply_off_skip_and_on(pairs, target):
    pipeline = pack(("CLIENT", "REPLY", "OFF"), ("SET", "a", "1"), ("GET", "a"), ("NOSUCH",),
                    ("CLIENT", "REPLY", "SKIP"), ("CLIENT", "REPLY", "ON"), ("GET", "a"), ("CLIENT", "REPLY", "SKIP"),
                    ("GET", "a"), ("GET", "a"), ("CLIENT", "REPLY", "SKIP"), ("CLIENT", "REPLY", "SKIP"), ("PING", "x"),
                    ("PING", "y"), ("CLIENT", "REPLY", "MAYBE"), ("CLIENT", "REPLY"))
    real, served = pairs(target)
    assert raw(served.port, pipeline) == raw(real.port, pipeline)


# --- CLIENT PAUSE ------------------------------------------------------------------------------------------

def _timed(port: int, commands: list[tuple], until: bytes) -> tuple[bytes, float]:
    """A pipeline's replies and how long the last one took."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(pack(*commands))
        data = b""
        while not data.endswith(until):
            chunk = sock.recv(65536)
            assert chunk, f"the server closed the connection after {data!r}"
            data += chunk
    return data, time.monotonic() - started


@pytest.mark.parametrize("target", ["redis-7.0", "redis-8.2"])
def test_pause_write_holds_writes_and_lets_reads_pass(pairs, target):
    results = []
    for server in pairs(target):
        pauser = Session(server.port, [2])
        pauser.step((0, "SET", "k", "v"))
        pauser.step((0, "CLIENT", "PAUSE", "800", "WRITE"))
        read = _timed(server.port, [("GET", "k")], b"$1\r\nv\r\n")
        write = _timed(server.port, [("GET", "k"), ("SET", "k", "w"), ("GET", "k")], b"$1\r\nw\r\n")
        queued = _timed(server.port, [("MULTI",), ("GET", "k"), ("EXEC",)], b"*1\r\n$1\r\nw\r\n")
        pauser.close()
        results.append((read[0], read[1] < 0.4, write[0], write[1] > 0.4, queued[1] < 0.4))
    assert results[1] == results[0]


def _finished(port: int, command: tuple, until: bytes, out: list) -> None:
    """Send one command, note its reply and when it came."""
    data, _ = _timed(port, [command], until)
    out.append((data, time.monotonic()))


@pytest.mark.parametrize("target", ["redis-6.2", "redis-7.0"])
def test_pause_all_holds_everything_even_unpause_and_write_lets_unpause_through(pairs, target):
    """A 1.6 s pause; a held command sent at once, UNPAUSE from another client at 0.6 s: when each is
    answered, counted from the pause (by the unpause, or only at the pause's end)."""
    results = []
    for server in pairs(target):
        for mode, held in (("ALL", ("PING",)), ("WRITE", ("SET", "k", "v"))):
            raw(server.port, pack(("CLIENT", "PAUSE", "1600", mode)), 0.01)
            paused, waiting, unpause = time.monotonic(), [], []
            thread = threading.Thread(target=_finished, args=(server.port, held, b"\r\n", waiting))
            thread.start()
            time.sleep(0.6)
            _finished(server.port, ("CLIENT", "UNPAUSE"), b"+OK\r\n", unpause)
            thread.join(10)
            when = ["by the unpause" if at - paused < 1.2 else "at the pause's end" for _, at in (*waiting, *unpause)]
            results.append((mode, waiting[0][0], *when))
    assert results[2:] == results[:2]
    assert results[0][2:] == ("at the pause's end", "at the pause's end")
    assert results[1][2:] == ("by the unpause", "by the unpause")


@pytest.mark.parametrize("target", TARGETS)
def test_pause_and_unblock_errors(pairs, target):
    assert_same(pairs, [2, 2], [
        (0, "CLIENT", "PAUSE", "10", "SOME"), (0, "CLIENT", "PAUSE", "x"), (0, "CLIENT", "PAUSE", "-1"),
        (0, "CLIENT", "PAUSE", "1", "WRITE", "x"), (0, "CLIENT", "UNPAUSE"), (0, "CLIENT", "UNPAUSE", "x"),
        (0, "CLIENT", "UNBLOCK", "{id1}"), (0, "CLIENT", "UNBLOCK", "x"), (0, "CLIENT", "UNBLOCK", "{id1}", "maybe"),
        (0, "CLIENT", "UNBLOCK", "x", "maybe"), (0, "CLIENT", "UNBLOCK", "1", "TIMEOUT", "x")], target)


# --- CLIENT UNBLOCK ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("target", ["redis-6.2", "redis-7.0", "valkey-9.1"])
def test_unblock_ends_a_blocking_command_with_its_timeout_or_an_error(pairs, target):
    def script(session: Session) -> list:
        seen = []
        for blocking, reason in ((["BLPOP", "nolist", "0"], "TIMEOUT"), (["BZPOPMIN", "z", "0"], "ERROR"),
                                 (["XREAD", "BLOCK", "0", "STREAMS", "s", "$"], None)):
            session.send_only(1, blocking)
            time.sleep(0.1)
            seen.append(session.step((0, "CLIENT", "UNBLOCK", "{id1}", *([reason] if reason else []))))
        return seen
    assert_same_outcome(pairs, [2, 3], script, target)


# --- CLIENT KILL ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("target", TARGETS)
def test_kill_filters_and_their_errors(pairs, target):
    assert_same(pairs, [2, 2, 2, 2, 2], [
        (4, "SUBSCRIBE", "ch"), (0, "CLIENT", "KILL", "TYPE", "bogus"), (0, "CLIENT", "KILL", "USER", "nobody"),
        (0, "CLIENT", "KILL", "ID", "0"), (0, "CLIENT", "KILL", "ID", "x"), (0, "CLIENT", "KILL", "ID", "-3"),
        (0, "CLIENT", "KILL", "ID"), (0, "CLIENT", "KILL", "SKIPME", "maybe"), (0, "CLIENT", "KILL", "FOO", "bar"),
        (0, "CLIENT", "KILL", "TYPE", "bogus", "ID"), (0, "CLIENT", "KILL", "1.2.3.4:5"),
        (0, "CLIENT", "KILL", "ID", "{id1}"), (0, "CLIENT", "KILL", "ADDR", "{addr2}", "ID", "{id3}"),
        (0, "CLIENT", "KILL", "ADDR", "{addr2}"), (0, "CLIENT", "KILL", "TYPE", "pubsub"),
        (0, "CLIENT", "KILL", "TYPE", "master"), (0, "CLIENT", "KILL", "TYPE", "replica"),
        (0, "CLIENT", "KILL", "LADDR", "{laddr3}", "SKIPME", "yes"), (0, "CLIENT", "KILL", "USER", "default")], target)


@pytest.mark.parametrize("target", ["redis-7.0", "redis-8.2"])
def test_kill_type_normal_kills_the_caller_last_and_the_old_form_kills_itself(pairs, target):
    assert_same(pairs, [2, 2, 2], [(0, "CLIENT", "KILL", "TYPE", "normal", "SKIPME", "no"),
                                   (1, "CLIENT", "KILL", "{addr1}"), (2, "PING")], target)


@pytest.mark.parametrize("target", ["redis-7.0", "redis-8.2", "valkey-9.1"])
def test_kill_maxage_where_the_target_has_it(pairs, target):
    assert_same(pairs, [2, 2], [(0, "CLIENT", "KILL", "MAXAGE", "x"), (0, "CLIENT", "KILL", "MAXAGE", "0"),
                                (0, "CLIENT", "KILL", "MAXAGE", "1000")], target)


# --- NO-EVICT, NO-TOUCH, LIST, INFO --------------------------------------------------------------------

@pytest.mark.parametrize("target", TARGETS)
def test_no_evict_no_touch_and_list_filters(pairs, target):
    assert_same(pairs, [2, 2], [
        (0, "CLIENT", "NO-EVICT", "on"), (0, "CLIENT", "NO-EVICT", "maybe"), (0, "CLIENT", "NO-TOUCH", "on"),
        (0, "CLIENT", "NO-TOUCH", "maybe"), (0, "CLIENT", "NO-TOUCH", "off"), (0, "CLIENT", "LIST", "TYPE", "bogus"),
        (0, "CLIENT", "LIST", "ID", "x"), (0, "CLIENT", "LIST", "ID"), (0, "CLIENT", "LIST", "foo"),
        (0, "CLIENT", "LIST", "TYPE", "normal", "x"), (0, "CLIENT", "LIST", "TYPE", "pubsub"),
        (0, "CLIENT", "LIST", "ID", "999999")], target)


def _client_fields(line: bytes) -> list[tuple[str, str]]:
    """The fields of one CLIENT LIST line, with the values that do not depend on the server's process."""
    shown = {"flags", "db", "sub", "psub", "ssub", "multi", "watch", "cmd", "user", "redir", "resp", "name",
             "lib-name", "lib-ver", "capa"}
    pairs = [tuple(word.split("=", 1)) for word in line.decode().split()]
    return [(name, value if name in shown else "") for name, value in pairs]


def _listing(session: Session, index: int, ids: list[int]) -> list:
    """CLIENT LIST ID ...: each line's fields, the ids written as the session's indexes."""
    text = session.step((index, "CLIENT", "LIST", "ID", *[f"{{id{i}}}" for i in ids]))[index]
    body = re.sub(rb"^(=\d+\r\ntxt:|\$\d+\r\n)", b"", text)
    lines = [line for line in body.split(b"\n") if line.startswith(b"id=")]
    for n, cid in enumerate(session.ids):
        lines = [re.sub(rb"redir=%d\b" % cid, b"redir=<id%d>" % n, line) for line in lines]
    return [_client_fields(line) for line in lines]


@pytest.mark.parametrize("target", TARGETS)
def test_client_list_fields_and_flags_in_each_state(pairs, target):
    def script(session: Session) -> list:
        session.run([(0, "SUBSCRIBE", "ch"), (1, "MULTI"), (1, "SET", "x", "1"), (4, "CLIENT", "NO-EVICT", "on")])
        session.run([(2, "CLIENT", "TRACKING", "on", "REDIRECT", "{id5}"),
                     (3, "CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "p"), (2, "GET", "a")])
        session.conns[5].close()
        session.closed.add(5)
        time.sleep(0.1)
        session.run([(4, "SET", "a", "1"), (4, "WATCH", "w"), (4, "SET", "w", "1"), (4, "MULTI"),
                     (4, "CLIENT", "SETINFO", "lib-name", "mylib") if target not in ("redis-6.2", "redis-7.0")
                     else (4, "PING")])
        listing = _listing(session, 3, [0, 1, 2, 3, 4])
        session.step((4, "DISCARD"))
        return listing
    assert_same_outcome(pairs, [2, 2, 3, 3, 2, 2], script, target)


@pytest.mark.parametrize("target", TARGETS)
def test_client_info_and_help(pairs, target):
    def script(session: Session) -> tuple:
        info = [session.step((i, "CLIENT", "INFO"))[i] for i in (0, 1)]
        fields = [_client_fields(re.sub(rb"^(=\d+\r\ntxt:|\$\d+\r\n)", b"", data).split(b"\n")[0]) for data in info]
        return (fields, [data[:1] for data in info], session.step((0, "CLIENT", "HELP"))[0],
                session.step((0, "CLIENT", "FOO"))[0])
    assert_same_outcome(pairs, [2, 3], script, target)


def test_valkey_9_filters_of_list_and_kill(pairs):
    assert_same(pairs, [2, 2, 2], [
        (1, "CLIENT", "SETINFO", "LIB-NAME", "worker"), (2, "SELECT", "3"), (0, "CLIENT", "LIST", "FLAGS", "Z"),
        (0, "CLIENT", "LIST", "DB", "99"), (0, "CLIENT", "LIST", "DB", "x"), (0, "CLIENT", "LIST", "IDLE", "0"),
        (0, "CLIENT", "LIST", "IDLE", "x"), (0, "CLIENT", "LIST", "CAPA", "q"), (0, "CLIENT", "LIST", "ID", "0"),
        (0, "CLIENT", "KILL", "ID"), (0, "CLIENT", "KILL", "NAME", "nobody"),
        (0, "CLIENT", "KILL", "DB", "3", "TYPE", "primary"), (0, "CLIENT", "KILL", "LIB-NAME", "worker", "FLAGS", "N"),
        (0, "CLIENT", "KILL", "DB", "3", "ID", "{id2}", "{id0}"), (0, "CLIENT", "PAUSE", "1", "WRITE", "x"),
        (0, "CLIENT", "UNBLOCK", "1", "TIMEOUT", "x")], "valkey-9.1")


@pytest.mark.parametrize("target", TARGETS)
def test_reset_ends_tracking_and_reply_modes(pairs, target):
    touch = [(0, "CLIENT", "NO-TOUCH", "on")] if target not in ("redis-6.2", "redis-7.0") else []
    evict = [(0, "CLIENT", "NO-EVICT", "on")] if target != "redis-6.2" else []
    assert_same(pairs, [3, 2], [
        (0, "CLIENT", "TRACKING", "on", "BCAST"), *touch, *evict, (0, "RESET"), (0, "CLIENT", "TRACKINGINFO"),
        (0, "CLIENT", "GETREDIR"), (1, "SET", "k", "v")], target)
    real, served = pairs(target)
    pipeline = pack(("CLIENT", "REPLY", "OFF"), ("RESET",), ("PING",))
    assert raw(served.port, pipeline) == raw(real.port, pipeline)


@pytest.mark.parametrize("target", ["redis-8.2", "valkey-9.1"])
def test_setinfo_checks_its_option_and_value(pairs, target):
    assert_same(pairs, [2], [(0, "CLIENT", "SETINFO", "lib-namex", "a"), (0, "CLIENT", "SETINFO", "Lib-Ver", "1 2"),
                             (0, "CLIENT", "SETINFO", "LIB-NAME", "x"), (0, "CLIENT", "SETINFO", "lib-name", "")],
                target)
