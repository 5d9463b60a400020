"""ACL in serve against the real servers: the same sequences (several connections each) sent raw to
serve and to the target's server get the same replies: users and their description (ACL GETUSER,
ACL LIST), AUTH/HELLO, the NOPERM errors (commands, keys, channels, in MULTI, at EXEC, in scripts),
ACL LOG entries (without their times and client details), DRYRUN, the ACL file, `user` directives.

Redis 6.2 and 7.0 describe single commands in the order of their command dict, which is random per
process (ACL CAT too): those runs of rules are compared as sets, as the categories before them are
compared in order.
"""

from __future__ import annotations

import contextlib
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import hiredis
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.server.serving import start_serve
from tests.servers import SERVERS, RealServer, ServerRefused, free_port, require_binary, start_server

TARGETS = ["redis-6.2", "redis-7.0", "redis-8.2", "valkey-8.1", "valkey-9.1"]
#: what the log holds that depends on the moment or the connection
_VOLATILE = {b"age-seconds", b"client-info", b"timestamp-created", b"timestamp-last-updated"}


class Raw:
    """RESP over a socket, replies as hiredis parses them; "CLOSED" once the server closed it."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.settimeout(10)
        self.reader = hiredis.Reader()

    def call(self, args: list[bytes]) -> object:
        try:
            self.sock.sendall(hiredis.pack_command(tuple(args)))
            while (reply := self.reader.gets()) is False:
                data = self.sock.recv(65536)
                if not data:
                    return "CLOSED"
                self.reader.feed(data)
        except (ConnectionResetError, BrokenPipeError):
            return "CLOSED"
        return reply


def _words(line: str) -> list[bytes]:
    return [w.encode() for w in line.split()]


def _rules(text: bytes, unordered: bool) -> object:
    """A rules text as comparable: single-command runs as sets where the server's order is random."""
    if not unordered:
        return text
    out: list[object] = []
    run: list[bytes] = []
    for word in text.replace(b"(", b"( ").replace(b")", b" )").split(b" "):
        single = word[:1] in (b"+", b"-") and word[1:2] != b"@"
        if single:
            run.append(word)
            continue
        if run:
            out.append(sorted(run))
            run = []
        out.append(word)
    if run:
        out.append(sorted(run))
    return out


def normalized(reply: object, unordered: bool) -> object:
    """Replies of both sides in one form: errors as ("error", text); rules texts comparable; the
    log's volatile fields left out."""
    if isinstance(reply, hiredis.ReplyError):
        return ("error", str(reply))
    if isinstance(reply, bytes) and (b"@all" in reply):
        return _rules(reply, unordered)
    if isinstance(reply, dict | list) and b"proto" in reply:
        return "a HELLO reply"  # its id and modules are not ACL's
    if isinstance(reply, list):
        if reply and reply[0] == b"count" and b"client-info" in reply:
            pairs = zip(reply[::2], reply[1::2], strict=True)
            return [x for k, v in pairs if k not in _VOLATILE for x in (k, normalized(v, unordered))]
        return [normalized(r, unordered) for r in reply]
    return reply


class Both:
    """Numbered connections to the real server and to serve; each call's replies must be equal."""

    def __init__(self, name: str, real_port: int, serve_port: int) -> None:
        self.name, self.ports = name, (real_port, serve_port)
        self.unordered = name in ("redis-6.2", "redis-7.0")
        self.conns: dict[int, tuple[Raw, Raw]] = {}

    def replies(self, n: int, args: list[bytes]) -> tuple[object, object]:
        if n not in self.conns:
            self.conns[n] = (Raw(self.ports[0]), Raw(self.ports[1]))
        theirs, ours = (c.call(args) for c in self.conns[n])
        return normalized(theirs, self.unordered), normalized(ours, self.unordered)

    def same(self, n: int, line: str | list[bytes]) -> object:
        args = _words(line) if isinstance(line, str) else line
        theirs, ours = self.replies(n, args)
        assert ours == theirs, f"{self.name} {args!r}: serve {ours!r}, server {theirs!r}"
        return ours

    def run(self, script: str) -> None:
        """Lines "[@n] command args": each sent on connection n (0 when not given)."""
        for line in script.strip().splitlines():
            n = 0
            if line.startswith("@"):
                head, line = line.split(" ", 1)
                n = int(head[1:])
            self.same(n, line)

    def close(self) -> None:
        for pair in self.conns.values():
            for conn in pair:
                conn.sock.close()
        self.conns.clear()


@pytest.fixture(scope="module", params=TARGETS)
def servers(request):
    with start_server(request.param) as real, start_serve("--target", request.param) as served:
        yield request.param, real.port, served.port


@pytest.fixture
def both(servers) -> Iterator[Both]:
    name, real_port, serve_port = servers
    session = Both(name, real_port, serve_port)
    yield session
    session.close()
    _clean(name, real_port, serve_port)


def _clean(name: str, *ports: int) -> None:
    """Back to the start: only the default user, as it starts; an empty log."""
    for port in ports:
        conn = Raw(port)
        conn.call([b"AUTH", b"default", b"secret"])
        conn.call([b"CONFIG", b"SET", b"requirepass", b""])
        conn.call(_words("ACL SETUSER default on nopass ~* &* +@all resetpass nopass"))
        users = conn.call(_words("ACL USERS"))
        assert isinstance(users, list), (port, users)
        for user in users:
            if user != b"default":
                conn.call([b"ACL", b"DELUSER", user])
        conn.call(_words("ACL LOG RESET"))
        channels = b"allchannels" if name == "redis-6.2" else b"resetchannels"
        conn.call([b"CONFIG", b"SET", b"acl-pubsub-default", channels])
        conn.call([b"FLUSHALL"])
        conn.sock.close()


def _selectors(both: Both) -> bool:
    return both.name != "redis-6.2"


# --- users and their description -----------------------------------------------------------------------

RULE_SETS = [
    "on >p1 ~k* &ch* +get +@hash -hdel +config|get",
    "on >p1 resetchannels &ch* ~k* +get +@hash -hdel +config|get",
    "allkeys allchannels allcommands nopass",
    "+@all -@dangerous +flushdb -get +get resetchannels &x",
    "+select|0 +select|1 #5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8",
    "on nopass -@all +@read -@hash +acl|whoami +client|list +hget ~a ~b ~a",
    "+@all -config -client|kill skip-sanitize-payload",
    "reset >a >b <a",
    "on >x resetpass >y nocommands +ping",
    "+@write -@keyspace +del allkeys resetkeys ~z",
    "+@read +@write -@all +get",
]


@pytest.mark.parametrize("rules", RULE_SETS)
def test_setuser_rules_read_back_as_redis_describes_them(both, rules):
    both.same(0, f"ACL SETUSER someone {rules}")
    both.same(0, "ACL GETUSER someone")
    both.same(0, "ACL LIST")
    both.same(0, "ACL USERS")


SELECTOR_RULES = [
    "%R~r* %W~w* %RW~rw* ~plain",
    "(+get ~x*) (+set ~y*) +ping",
    "(+get ~x* &c) clearselectors (+set %W~w*)",
    "%R~a %W~a",
]


@pytest.mark.parametrize("rules", SELECTOR_RULES)
def test_selectors_and_key_permissions_read_back_as_redis_describes_them(both, rules):
    both.same(0, f"ACL SETUSER sel {rules}")
    both.same(0, "ACL GETUSER sel")
    both.same(0, "ACL LIST")


BAD_RULES = ["nosuchrule", "+nosuchcmd", "+@nosuchcat", "#abc", "!abc", "<nopass", "+config|", "-config|get",
             "+config|get|x", "-get|x", "~a&b allkeys ~x", "allchannels &x", "%X~a", "%~a", "%R", "(+get",
             "(+get ~a", "(nosuch)", "~a\tb"]


@pytest.mark.parametrize("rule", BAD_RULES)
def test_refused_rules_get_redis_errors_and_change_nothing(both, rule):
    both.same(0, "ACL SETUSER bad on >pw +get")
    both.same(0, [b"ACL", b"SETUSER", b"bad", b"+set", *_words(rule)])
    both.same(0, "ACL GETUSER bad")


def test_users_are_listed_deleted_and_categorised_as_redis_does(both):
    both.run("""
ACL SETUSER b1
ACL SETUSER a1 on
ACL USERS
ACL DELUSER nobody a1 b1 a1
ACL DELUSER default
ACL DELUSER a1 default
ACL USERS
ACL WHOAMI
ACL CAT
ACL CAT nope
ACL GENPASS 0
ACL GENPASS 5000
ACL GENPASS x
ACL NOSUCH
ACL CAT a b
ACL GETUSER
ACL SETUSER
ACL HELP
""")
    for name in (b"a\x00b", b"has\tspace", b"has space", b""):
        both.same(0, [b"ACL", b"SETUSER", name])
    for category in _CATEGORIES[1:]:
        theirs, ours = both.replies(0, _words(f"ACL CAT {category}"))
        assert sorted(ours) == sorted(theirs), category
    for bits in ("", " 1", " 5", " 4096"):
        theirs, ours = both.replies(0, _words("ACL GENPASS" + bits))
        assert len(ours) == len(theirs)


def test_restricting_the_default_user_applies_at_once_to_its_connections(both):
    both.run("""
@1 GET a
ACL SETUSER default -get resetkeys ~a*
@1 GET a
@1 GET b
@1 SET b 1
ACL SETUSER default +@all allkeys
@1 GET b
ACL LOG
""")


def test_replies_have_redis_shapes_in_resp3(both):
    both.run("""
HELLO 3
ACL SETUSER r3 on >pw ~a* &c +get (+set ~b*)
ACL GETUSER r3
ACL GETUSER nobody
ACL LIST
ACL CAT
@1 HELLO 3 AUTH r3 bad
""")
    theirs, ours = both.replies(0, _words("ACL LOG"))
    assert [_shape(entry) for entry in ours] == [_shape(entry) for entry in theirs]


def _shape(entry: dict) -> dict:
    """A RESP3 log entry without its volatile values, the types of those kept."""
    return {k: (type(v).__name__ if k in _VOLATILE else v) for k, v in entry.items()}


# --- authentication -----------------------------------------------------------------------------------------

def test_auth_and_hello_authenticate_users_as_redis_does(both):
    both.run("""
ACL SETUSER u on >pw +@all ~* &*
ACL SETUSER off1 off >pw +@all
ACL SETUSER free on nopass +acl|whoami
@1 AUTH u wrong
@1 AUTH nobody pw
@1 AUTH off1 pw
@1 AUTH pw
@1 AUTH u pw
@1 ACL WHOAMI
@2 HELLO 3 AUTH u bad
@2 HELLO 2 AUTH u pw
@2 ACL WHOAMI
@3 AUTH free anything
@3 ACL WHOAMI
@3 RESET
@3 ACL WHOAMI
ACL LOG
""")


def test_requirepass_is_the_default_users_password(both):
    both.run("""
CONFIG SET requirepass secret
ACL GETUSER default
ACL LIST
@1 GET a
@1 HELLO 3
@1 AUTH wrong
@1 AUTH secret
@1 GET a
@2 AUTH default secret
@2 ACL WHOAMI
ACL SETUSER default nopass
@3 GET a
""")
    both.same(0, [b"CONFIG", b"SET", b"requirepass", b""])
    both.same(0, "ACL GETUSER default")


def test_a_disabled_default_user_asks_every_new_connection_to_authenticate(both):
    both.run("""
ACL SETUSER u on >pw ~* &* +@all
ACL SETUSER default off
@1 GET a
@1 AUTH default anything
@1 AUTH u pw
@1 GET a
PING
ACL SETUSER default on
@2 GET a
""")


# --- denials ----------------------------------------------------------------------------------------------

LIMITED = "ACL SETUSER u on >pw ~k* resetchannels &ch* +get +set +publish +subscribe +psubscribe +multi +exec " \
          "+eval +evalsha +client|list +acl|whoami +ping +del +mset"


def test_denied_commands_keys_and_channels_get_redis_errors(both):
    both.same(0, LIMITED)
    both.run("""
@1 GET k1
@1 AUTH u pw
@1 GET k1
@1 GET x1
@1 HGET k1 f
@1 CONFIG GET x
@1 ACL WHOAMI
@1 ACL LIST
@1 PUBLISH ch1 m
@1 PUBLISH zz m
@1 MSET k1 1 k2 2
@1 MSET k1 1 x2 2
@1 DEL k1 x1 x2
@1 PING
@1 NOSUCH x
@1 GET
@2 AUTH u pw
@2 SUBSCRIBE zz
@3 AUTH u pw
@3 PSUBSCRIBE ch*x
@4 AUTH u pw
@4 SUBSCRIBE ch1 zz
@5 AUTH u pw
@5 PSUBSCRIBE ch1
ACL LOG
ACL LOG 2
ACL LOG -1
ACL LOG RESET
ACL LOG
CONFIG RESETSTAT
""")
    theirs, ours = both.replies(0, _words("INFO stats"))  # counted since the start: RESETSTAT leaves them
    assert re.findall(rb"acl_access_denied_\w+:\d+", ours) == re.findall(rb"acl_access_denied_\w+:\d+", theirs)


def test_transactions_refuse_denied_commands_and_exec_checks_again(both):
    both.same(0, LIMITED)
    both.run("""
@1 AUTH u pw
@1 MULTI
@1 GET x1
@1 HGET k1 f
@1 GET k1
@1 EXEC
@1 MULTI
@1 GET k1
@1 SET k2 v
ACL SETUSER u -get
@1 EXEC
ACL SETUSER u -exec
@1 EXEC
@1 MULTI
@1 EXEC
@1 EXEC x
ACL LOG
""")


def test_scripts_calls_are_checked_against_the_callers_user(both):
    both.same(0, LIMITED)
    both.same(1, "AUTH u pw")
    for script in ("return redis.call('get','x1')", "return redis.pcall('get','x1')",
                   "return redis.call('hget','k1','f')", "return redis.pcall('hget','k1','f')",
                   "return redis.call('publish','zz','m')", "return redis.call('get','k1')",
                   "return {redis.acl_check_cmd('get','k1'), redis.acl_check_cmd('get','x1'), "
                   "redis.acl_check_cmd('hget','k1','f'), redis.acl_check_cmd('config','get','x')}",
                   "return redis.acl_check_cmd('nosuch')"):
        both.same(1, [b"EVAL", script.encode(), b"0"])
    both.same(1, [b"EVAL", b"return redis.call('get','k1')", b"1", b"x1"])
    both.same(0, "ACL LOG")
    library = b"#!lua name=lib\nredis.register_function('getter', function(keys) return redis.call('get', keys[1]) end)"
    both.same(0, [b"FUNCTION", b"LOAD", b"REPLACE", library])
    both.same(0, "ACL SETUSER u +fcall ~x*")
    for key in (b"k1", b"x1", b"y1"):
        both.same(1, [b"FCALL", b"getter", b"1", key])
    both.same(0, "ACL LOG 2")
    both.same(0, "FUNCTION FLUSH")


def test_changing_or_deleting_a_user_disconnects_its_clients_as_redis_does(both):
    both.run("""
ACL SETUSER u on >pw ~* &ch* +@all
ACL SETUSER v on >pw ~* &* +@all
@1 AUTH u pw
@1 SUBSCRIBE ch1
@2 AUTH u pw
@2 PING
@3 AUTH v pw
ACL SETUSER u resetchannels &other
ACL DELUSER v
@3 PING
@2 PING
@4 AUTH u pw
@4 ACL DELUSER u
@4 PING
""")


def test_revoking_all_channels_disconnects_the_subscribers_it_no_longer_allows(both):
    both.run("""
ACL SETUSER ps on >p allchannels +@all ~*
@1 AUTH ps p
@1 PSUBSCRIBE foo
@2 AUTH ps p
@2 SUBSCRIBE bar
ACL SETUSER ps resetchannels &bar
@1 PING
@2 PING
""")


def test_acl_pubsub_default_gives_new_users_their_channels(both):
    both.run("""
CONFIG GET acl-pubsub-default
CONFIG SET acl-pubsub-default allchannels
ACL SETUSER new1
ACL GETUSER new1
CONFIG SET acl-pubsub-default resetchannels
ACL SETUSER new1 reset
ACL GETUSER new1
ACL SETUSER new2
ACL GETUSER new2
CONFIG SET acl-pubsub-default nope
""")


def test_client_list_names_the_user_and_client_kill_user_kills_its_clients(both):
    both.run("""
ACL SETUSER u on >pw ~* &* +@all
@1 AUTH u pw
CLIENT KILL USER nobody
CLIENT KILL USER u
@1 PING
""")
    theirs, ours = both.replies(0, _words("CLIENT INFO"))
    assert re.search(rb" user=(\S+)", ours).group(1) == re.search(rb" user=(\S+)", theirs).group(1) == b"default"


def test_dryrun_tells_what_a_user_may_run(both):
    both.same(0, LIMITED)
    if not _selectors(both):
        both.same(0, "ACL DRYRUN u get k1")
        return
    both.run("""
ACL SETUSER s on %R~r* %W~w* +@all resetchannels &c*
ACL DRYRUN u get k1
ACL DRYRUN u get x1
ACL DRYRUN u hget k1 f
ACL DRYRUN u publish ch1 m
ACL DRYRUN u publish zz m
ACL DRYRUN nobody get x
ACL DRYRUN u nosuch x
ACL DRYRUN u get
ACL DRYRUN u config get x
ACL DRYRUN s get w1
ACL DRYRUN s get r1
ACL DRYRUN s set r1 x
ACL DRYRUN s set w1 x
ACL DRYRUN s getset w1 x
ACL DRYRUN s copy r1 w1
ACL DRYRUN s copy w1 r1
ACL DRYRUN s subscribe c1 d1
ACL DRYRUN s psubscribe c*
ACL DRYRUN s psubscribe c1
ACL DRYRUN s sort r1 store w1
ACL DRYRUN s zunionstore w1 2 r1 r2
ACL DRYRUN s zunionstore w1 2 r1 x2
ACL DRYRUN s eval x 2 r1 w1
""")


# --- the ACL file and the configuration ---------------------------------------------------------------------

@contextlib.contextmanager
def _pair_with(name: str, tmp: Path, config: str) -> Iterator[Both]:
    """A real server and serve, each with the same configuration lines and its own ACL file."""
    dirs = [tmp / "real", tmp / "serve"]
    args = []
    for where in dirs:
        where.mkdir()
        (where / "users.acl").write_text("user default on nopass ~* &* +@all\nuser saved on >pw ~k* +get\n")
        (where / "server.conf").write_text(config.replace("DIR", str(where)))
        args.append(str(where / "server.conf"))
    real = RealServer(SERVERS[name], require_binary(name), dirs[0], free_port())
    real.command = lambda: [str(real.binary), args[0], "--port", str(real.port), "--dir", str(dirs[0]),
                            "--logfile", str(real.log_path), "--save", ""]
    real.start()
    try:
        with start_serve(args[1], "--target", name, directory=dirs[1]) as served:
            session = Both(name, real.port, served.port)
            yield session
            session.close()
    finally:
        real.stop()


@pytest.mark.parametrize("name", TARGETS)
def test_acl_file_loads_and_saves_as_redis_does(name, tmp_path):
    with _pair_with(name, tmp_path, "aclfile DIR/users.acl\n") as both:
        theirs, ours = both.replies(0, _words("CONFIG GET aclfile"))
        assert [ours[0], Path(ours[1].decode()).name] == [theirs[0], Path(theirs[1].decode()).name]
        both.run("""
ACL LIST
@1 AUTH saved pw
@1 GET k1
ACL SETUSER added on >x +@all ~*
ACL SAVE
ACL LOAD
@1 PING
ACL LIST
""")
        saved = [(tmp_path / where / "users.acl").read_text() for where in ("real", "serve")]
        assert saved[1] == saved[0]
        for where in ("real", "serve"):
            (tmp_path / where / "users.acl").write_text("user a on +nosuch\nnotuser b\nuser a off\n"
                                                        "user d %X~x #zz\nuser d\tx\n")
        theirs, ours = both.replies(0, _words("ACL LOAD"))
        assert ours == ("error", theirs[1].replace(str(tmp_path / "real"), str(tmp_path / "serve"))), (ours, theirs)
        both.same(0, "ACL LIST")


@pytest.mark.parametrize("name", TARGETS)
def test_user_directives_of_the_configuration_define_users(name, tmp_path):
    config = "user default on nopass ~* &* +@all\nuser alice on >pw ~a* +get +set\nuser bob off\n"
    with _pair_with(name, tmp_path, config) as both:
        both.run("""
ACL LIST
@1 AUTH alice pw
@1 SET a1 x
@1 SET b1 x
ACL SAVE
""")


@pytest.mark.parametrize("lines", ["user alice on +nosuch", "user alice on\nuser alice off",
                                   "user alice on\naclfile DIR/users.acl"])
def test_a_configuration_with_bad_users_stops_the_start(lines, tmp_path):
    """A `user` line with an unknown command, a user defined twice, users beside an aclfile: Redis 7.0
    does not start, neither does serve."""
    (tmp_path / "users.acl").write_text("user default on nopass ~* &* +@all\n")
    config = tmp_path / "server.conf"
    config.write_text(lines.replace("DIR", str(tmp_path)) + "\n")
    real = RealServer(SERVERS["redis-7.0"], require_binary("redis-7.0"), tmp_path, free_port())
    real.command = lambda: [str(real.binary), str(config), "--port", str(real.port), "--logfile", str(real.log_path)]
    with pytest.raises(ServerRefused):
        real.start()
    with pytest.raises(RuntimeError, match="exited"), start_serve(str(config), "--target", "redis-7.0",
                                                                  directory=tmp_path):
        pass


def test_acl_file_without_aclfile_configured_is_refused(both):
    both.run("""
ACL SAVE
ACL LOAD
CONFIG GET aclfile
CONFIG GET acllog-max-len
""")


# --- random rules against Redis 7.0 -------------------------------------------------------------------------

_COMMANDS = ["get", "set", "hset", "config", "config|get", "config|set", "client", "client|list", "client|kill",
             "select", "acl", "acl|whoami", "acl|setuser", "del", "mset", "ping", "publish", "subscribe", "eval",
             "sort", "keys", "flushall", "zunionstore", "copy", "getset", "object", "object|encoding", "lmove"]
_CATEGORIES = ["all", "keyspace", "read", "write", "set", "sortedset", "list", "hash", "string", "bitmap",
               "hyperloglog", "geo", "stream", "pubsub", "admin", "fast", "slow", "blocking", "dangerous",
               "connection", "transaction", "scripting"]
_PATTERNS = ["*", "a*", "k?", "x", "[ab]*"]
_SELECTOR_RULE = st.one_of(
    st.tuples(st.sampled_from("+-"), st.sampled_from(_COMMANDS)).map("".join),
    st.tuples(st.sampled_from(["+@", "-@"]), st.sampled_from(_CATEGORIES)).map("".join),
    st.tuples(st.sampled_from(["~", "%R~", "%W~", "%RW~", "&"]), st.sampled_from(_PATTERNS)).map("".join),
    st.sampled_from(["allkeys", "resetkeys", "allchannels", "resetchannels", "allcommands", "nocommands",
                     "+select|0", "+select|1", "+config|x", "+client|kill|x"]),
)
rule = st.one_of(
    st.sampled_from(["on", "off", "nopass", "resetpass", "reset", "clearselectors", ">p", "<p",
                     "skip-sanitize-payload", "sanitize-payload"]),
    _SELECTOR_RULE,
    st.lists(_SELECTOR_RULE, min_size=1, max_size=4).map(lambda rules: f"({' '.join(rules)})"),
)
CALLS = [["get", "a1"], ["get", "x"], ["set", "a1", "v"], ["set", "k1", "v"], ["hset", "ab", "f", "v"],
         ["config", "get", "x"], ["config", "set", "x", "y"], ["client", "list"], ["client", "kill", "x"],
         ["select", "0"], ["select", "1"], ["acl", "whoami"], ["acl", "setuser", "x"], ["del", "a1", "x"],
         ["mset", "a1", "1", "b2", "2"], ["ping"], ["publish", "x", "m"], ["subscribe", "a1", "k1"],
         ["eval", "s", "1", "a1"], ["sort", "a1", "store", "x"], ["keys", "*"], ["flushall"],
         ["zunionstore", "x", "2", "a1", "k1"], ["copy", "a1", "x"], ["getset", "a1", "v"],
         ["object", "encoding", "k1"], ["lmove", "a1", "x", "left", "right"]]


@pytest.fixture(scope="module", params=["redis-7.0", "redis-8.2", "valkey-9.1"])
def dryrun_pair(request):
    with start_server(request.param) as real, start_serve("--target", request.param) as served:
        yield request.param, real.port, served.port


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rules=st.lists(rule, min_size=1, max_size=12))
@example(rules=["+@all", "-@dangerous", "+flushdb", "-get", "+get"])
@example(rules=["%R~a*", "%W~a*", "+@all", "(+get ~x)"])
def test_random_rules_describe_and_decide_as_the_server(dryrun_pair, rules):
    both = Both(*dryrun_pair)
    try:
        both.same(0, "ACL SETUSER r reset")
        both.same(0, [b"ACL", b"SETUSER", b"r", *(r.encode() for r in rules)])
        both.same(0, "ACL GETUSER r")
        both.same(0, "ACL LIST")
        for call in CALLS:
            both.same(0, [b"ACL", b"DRYRUN", b"r", *(c.encode() for c in call)])
    finally:
        both.close()


#: calls whose replies are one reply each (no SUBSCRIBE), run by a client of the random user
ENFORCED = [call for call in CALLS if call[0] != "subscribe"] + [["multi"], ["get", "x"], ["hset", "a1", "f", "v"],
                                                                 ["exec"]]


@pytest.fixture(scope="module", params=TARGETS)
def any_pair(request):
    with start_server(request.param) as real, start_serve("--target", request.param) as served:
        yield request.param, real.port, served.port


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rules=st.lists(rule, min_size=1, max_size=12))
@example(rules=["+@all", "-@dangerous", "%R~a*"])
@example(rules=["+select|0", "+get", "~*", "(+set ~a*)"])
def test_random_rules_enforce_as_the_server(any_pair, rules):
    """A client of a user with random rules makes the same calls on both: the same replies (NOPERM
    texts included) and the same ACL LOG."""
    both = Both(*any_pair)
    try:
        both.same(0, "ACL SETUSER r reset")
        both.same(0, "ACL LOG RESET")
        both.same(0, [b"ACL", b"SETUSER", b"r", *(r.encode() for r in rules), b"on", b">p"])
        both.same(1, "AUTH r p")
        for call in ENFORCED:
            theirs, ours = both.replies(1, [c.encode() for c in call])
            if call == ["client", "list"] and isinstance(ours, bytes):  # the users, not the connections
                theirs, ours = (re.findall(rb" user=(\S+)", reply) for reply in (theirs, ours))
            if call[0] == "keys" and isinstance(ours, list):
                theirs, ours = sorted(theirs), sorted(ours)
            assert ours == theirs, f"{call}: serve {ours!r}, server {theirs!r}"
        both.same(0, "ACL LOG")
    finally:
        both.close()


_FILLERS = [b"w1", b"1", b"r1", b"x1", b"2", b"c1", b"r2", b"w2"]


def _calls(both: Both) -> list[list[bytes]]:
    """A call of every command and subcommand the server lists, filled to its arity with key-like and
    number-like words (keys at different positions meet different patterns)."""
    real = Raw(both.ports[0])
    calls = []
    for entry in real.call([b"COMMAND"]):
        subs = entry[9] if len(entry) > 9 and entry[9] else [entry]
        for sub in subs:
            name, arity = sub[0], sub[1]
            words = name.split(b"|")
            count = max(abs(arity), len(words) + 1) if arity < 0 else arity
            for shift in range(2):
                calls.append(words + [_FILLERS[(i + shift) % len(_FILLERS)] for i in range(count - len(words))])
    real.sock.close()
    return calls


@pytest.mark.parametrize("rules", ["+@all %R~r* %W~w* resetchannels &c*", "-@all +@read +@write ~r* ~w1 &*",
                                   "+@all -@dangerous ~* resetchannels (+@all %W~x* &*)"])
def test_dryrun_of_every_command_decides_as_the_server(both, rules):
    """Each command's keys (from its key specs, or its own finder) and channels meet the patterns as
    in the server."""
    if not _selectors(both):
        pytest.skip("no DRYRUN before 7.0")
    both.same(0, f"ACL SETUSER d on {rules}")
    for call in _calls(both):
        both.same(0, [b"ACL", b"DRYRUN", b"d", *call])
