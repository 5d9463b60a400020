"""What the slow log keeps of a command, against the real Redis 7.0: the CONFIG SET that lowers the
threshold is itself checked against the new value, and secrets are logged as "(redacted)"."""

from __future__ import annotations

from tests.resp_client import RawClient
from tests.server.test_admin_vs_server import _script, _slow_entries, pair  # noqa: F401 (the fixture)


def test_the_config_set_that_lowers_the_threshold_is_logged_by_it(pair):  # noqa: F811
    real, served = pair
    script = _script(["CONFIG SET slowlog-log-slower-than 10000", "SLOWLOG RESET", "PING",
                      "CONFIG SET slowlog-log-slower-than 0", "PING", "CONFIG SET slowlog-log-slower-than 10000"])
    theirs, ours = (_slow_entries(s.port, script) for s in (real, served))
    assert [e[3] for e in ours] == [e[3] for e in theirs]
    assert [e[0] - ours[-1][0] for e in ours] == [e[0] - theirs[-1][0] for e in theirs]


def test_secrets_are_logged_redacted(pair):  # noqa: F811
    real, served = pair
    script = _script(["SLOWLOG RESET", "CONFIG SET slowlog-log-slower-than 0", "CONFIG SET masterauth ''",
                      "CONFIG SET hz 10 requirepass ''", "CONFIG SET masteruser x", "ACL SETUSER bob on +get",
                      "ACL SETUSER", "ACL DELUSER bob", "CONFIG GET masterauth",
                      "CONFIG SET slowlog-log-slower-than 10000"])
    theirs, ours = (_slow_entries(s.port, script) for s in (real, served))
    assert [e[3] for e in ours] == [e[3] for e in theirs]


def test_commands_that_answer_nil_are_logged_and_migrate_and_auth_are_redacted(pair):  # noqa: F811
    real, served = pair
    script = _script(["SLOWLOG RESET", "CONFIG SET slowlog-log-slower-than 0", "GETSET a 5", "GET missing",
                      f"MIGRATE 127.0.0.1 {real.port} key 9 5000 AUTH user",
                      f"MIGRATE 127.0.0.1 {real.port} key 9 5000 AUTH2 user password",
                      f"MIGRATE 127.0.0.1 {real.port} '' 9 5000 AUTH pw KEYS auth x", "AUTH a b c",
                      "CONFIG SET slowlog-log-slower-than 10000"])
    theirs, ours = (_slow_entries(s.port, script) for s in (real, served))
    assert [e[3] for e in ours] == [e[3] for e in theirs]


def test_a_blocked_command_is_logged_once_it_is_served(pair):  # noqa: F811
    """BLPOP blocks, another client's EXEC pushes (after SLOWLOG RESET): BLPOP is logged then, as sent;
    a blocked command that times out is never logged."""
    logged = []
    for server in pair:
        blocked, other = RawClient(server.port), RawClient(server.port)
        other.call([b"DEL", b"l"])
        other.call([b"CONFIG", b"SET", b"slowlog-log-slower-than", b"0"])
        blocked.sock.sendall(b"*3\r\n$5\r\nBLPOP\r\n$1\r\nl\r\n$1\r\n0\r\n")
        while b"blocked_clients:1" not in other.call([b"INFO", b"clients"]):
            pass
        for args in ([b"MULTI"], [b"LPUSH", b"l", b"foo"], [b"SLOWLOG", b"RESET"], [b"EXEC"]):
            other.call(args)
        assert blocked.next() == [b"l", b"foo"]
        blocked.call([b"BLPOP", b"l", b"0.01"])
        logged.append([entry[3] for entry in other.call([b"SLOWLOG", b"GET", b"-1"])])
        other.call([b"CONFIG", b"SET", b"slowlog-log-slower-than", b"10000"])
    assert logged[1] == logged[0]
