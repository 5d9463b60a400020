"""serve as a replication master, against the real servers: a real redis-server replicating from serve
ends up with serve's data, and the stream a raw SYNC client reads from serve, INFO replication, ROLE and
WAIT are the real master's for the same commands."""

from __future__ import annotations

import contextlib
import re
import socket
import time
from collections.abc import Callable

import pytest
import redis
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.keyspace.test_engine_vs_server import COMMANDS
from tests.resp_client import RawClient
from tests.server.serving import start_serve
from tests.servers import PROCESS_TIMEOUT, SERVERS, start_server

TARGETS = ["redis-6.2", "redis-7.0", "redis-8.2", "valkey-8.1", "valkey-9.1"]


# --- a raw replication link --------------------------------------------------------------------------------

class Stream:
    """A connection that sent SYNC (or PSYNC): the RDB read past, then the commands of the stream."""

    def __init__(self, port: int, handshake: list[bytes] = (b"SYNC",)) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=PROCESS_TIMEOUT)
        self.file = self.sock.makefile("rb")
        self.preamble: list[bytes] = []  # +OK of REPLCONF, +FULLRESYNC ...
        for line in handshake[:-1]:  # one at a time: Redis refuses a SYNC sent with replies still pending
            self.sock.sendall(line + b"\r\n")
            self.preamble.append(self.file.readline().rstrip(b"\r\n"))
        self.sock.sendall(handshake[-1] + b"\r\n")
        while True:
            line = self.file.readline()
            if line.startswith(b"$"):
                break
            if line.strip():  # empty lines: Redis's keepalives while the RDB is being made
                self.preamble.append(line.rstrip(b"\r\n"))
        self.rdb = self.file.read(int(line[1:]))

    def command(self) -> list[bytes]:
        """The next command of the stream (a RESP array of bulk strings)."""
        header = self.file.readline()
        assert header.startswith(b"*"), header
        args = []
        for _ in range(int(header[1:])):
            length = int(self.file.readline()[1:])
            args.append(self.file.read(length + 2)[:-2])
        return args

    def until(self, last: list[bytes]) -> list[list[bytes]]:
        """The commands up to and including ``last``."""
        commands = []
        while not commands or commands[-1] != last:
            commands.append(self.command())
        return commands

    def close(self) -> None:
        self.sock.close()


_END = [b"SET", b"end-of-test", b"1"]


def _normalized(commands: list[list[bytes]]) -> list[list[bytes]]:
    """Times of the moment (absolute expiries of relative ones) as a placeholder: the two servers run
    the commands a few milliseconds apart."""
    now = time.time()
    def one(arg: bytes) -> bytes:
        if re.fullmatch(rb"\d{10,13}", arg):
            value = int(arg)
            if abs(value / 1000 - now) < 86400 * 400 or abs(value - now) < 86400 * 400:
                return b"<time>"
        return arg
    return [[one(arg) for arg in command] for command in commands]


def _past_the_first_ping(client: redis.Redis) -> None:
    """Redis's replication cron first runs a second after the start (Valkey 9: later) and PINGs its replicas."""
    _wait_for(lambda: client.info("server")["uptime_in_seconds"] >= 3, "past the first PING")  # (whole seconds)


def _streams_of(real, served, commands: list[list], target: str) -> tuple[list, list]:
    """The same commands to both masters, each with a SYNC client attached first: both streams."""
    streams = []
    for port in (real.port, served.port):
        client = redis.Redis(port=port, socket_timeout=PROCESS_TIMEOUT)
        client.flushall()
        client.config_set("repl-ping-replica-period", 3600)
        _past_the_first_ping(client)
        stream = Stream(port)
        try:
            for command in commands:
                with contextlib.suppress(redis.ResponseError):
                    client.execute_command(*command)
            client.execute_command(*_END)
            streams.append(_normalized(stream.until(_END)))
        finally:
            stream.close()
            client.close()
    return streams[0], streams[1]


@pytest.fixture(scope="module", params=TARGETS)
def masters(request):
    with start_server(request.param) as real, start_serve("--target", request.param) as served:
        for port in (real.port, served.port):
            _first_replica(port, request.param)
        yield request.param, real, served


def _first_replica(port: int, target: str) -> None:
    """A replica attached for a while: Valkey 9 PINGs at its first replication cron once a replica came,
    which the real server's RDB, made by a child, may outlast; serve sends its RDB at once."""
    if target != "valkey-9.1":
        return
    client = redis.Redis(port=port, socket_timeout=PROCESS_TIMEOUT)
    client.config_set("repl-ping-replica-period", 3600)
    stream = Stream(port)
    time.sleep(1.5)
    stream.close()
    client.close()


SEQUENCES = {
    "getdel propagates as del": [["SET", "foo", "bar"], ["GETDEL", "foo"], ["GETEX", "foo"]],
    "relative expiries become absolute": [
        ["SET", "a", "1", "EX", "200"], ["SETEX", "a", "100", "x"], ["PSETEX", "a", "100000", "x"],
        ["EXPIRE", "a", "100"], ["PEXPIRE", "a", "100000"], ["GETEX", "a", "EX", "200"],
        ["GETEX", "a", "PERSIST"], ["EXPIREAT", "a", "1"], ["SET", "b", "1"], ["EXPIRE", "b", "-5"]],
    "multi exec is wrapped": [["MULTI"], ["SET", "a", "1"], ["INCR", "a"], ["EXEC"],
                              ["MULTI"], ["SET", "b", "1"], ["EXEC"], ["MULTI"], ["GET", "a"], ["EXEC"]],
    "select follows the databases": [["SELECT", "3"], ["SET", "a", "1"], ["SELECT", "0"], ["SET", "a", "1"],
                                     ["SELECT", "3"], ["MULTI"], ["SET", "c", "1"], ["SELECT", "5"], ["SET", "d", "1"],
                                     ["EXEC"], ["SELECT", "0"], ["MOVE", "a", "4"], ["SWAPDB", "0", "4"]],
    "scripts propagate their effects": [["EVAL", "redis.call('set', KEYS[1], 'x'); redis.call('incr', 'n')",
                                         "1", "k"], ["EVAL", "return redis.call('get', 'k')", "0"]],
    "flushes and no-ops": [["DEL", "none"], ["SET", "a", "1"], ["FLUSHDB"], ["FLUSHALL"], ["SADD", "s", "a"],
                           ["SADD", "s", "a"], ["SREM", "s", "zz"]],
    "publish goes to replicas": [
        ["PUBLISH", "ch", "hello"], ["MULTI"], ["PUBLISH", "ch", "a"], ["SET", "x", "1"], ["EXEC"],
        ["EVAL", "redis.call('publish', 'ch', 'b'); redis.call('set', 'k', 'v')", "0"],
        ["EVAL", "return redis.call('publish', 'ch', 'c')", "0"]],
    "data types and streams": [
        ["HSET", "h", "f", "1", "g", "2"], ["HINCRBYFLOAT", "h", "f", "1.5"], ["RPUSH", "l", "a", "b", "c"],
        ["LPOP", "l"], ["LMOVE", "l", "m", "LEFT", "RIGHT"], ["ZADD", "z", "1", "a", "2", "b"], ["ZPOPMIN", "z"],
        ["INCRBYFLOAT", "f", "2.5"], ["XADD", "st", "1-1", "f", "v"], ["XGROUP", "CREATE", "st", "g", "0"],
        ["XREADGROUP", "GROUP", "g", "c", "STREAMS", "st", ">"], ["XACK", "st", "g", "1-1"],
        ["XTRIM", "st", "MAXLEN", "0"], ["PFADD", "hll", "a", "b"]],
}


@pytest.mark.parametrize("sequence", list(SEQUENCES))
def test_the_stream_a_sync_client_reads_is_the_real_masters(masters, sequence):
    target, real, served = masters
    expected, got = _streams_of(real, served, SEQUENCES[sequence], target)
    assert got == expected


def test_the_stream_pings_every_repl_ping_replica_period_seconds(masters):
    _, real, served = masters
    heard = []
    for port in (real.port, served.port):
        client = redis.Redis(port=port, socket_timeout=PROCESS_TIMEOUT)
        client.config_set("repl-ping-replica-period", 1)
        stream = Stream(port)
        heard.append([stream.command(), stream.command()])
        client.config_set("repl-ping-replica-period", 10)
        stream.close()
        client.close()
    assert heard[1] == heard[0] == [[b"ping"], [b"ping"]]


def test_the_sync_reply_is_an_rdb_of_the_targets_version(masters):
    target, _, served = masters
    stream = Stream(served.port)
    spec = SERVERS[target]
    try:
        assert stream.rdb.startswith(b"%s%04d" % (spec.magic.encode(), spec.rdb_version)
                                     if spec.magic == "REDIS" else spec.magic.encode())
    finally:
        stream.close()


# --- a real replica of serve ---------------------------------------------------------------------------------

def _write_mix(client: redis.Redis, tag: str) -> None:
    """Writes of every kind, in several databases: strings, hashes, lists, sets, sorted sets, streams with
    groups, expiries, a transaction, a script, a flush."""
    client.set(f"s{tag}", "v")
    client.set(f"n{tag}", 10, ex=1000)
    client.incrbyfloat(f"f{tag}", 1.5)
    client.hset(f"h{tag}", mapping={"a": "1", "b": "2"})
    client.rpush(f"l{tag}", *range(200))
    client.lpop(f"l{tag}")
    client.sadd(f"set{tag}", *range(50))
    client.spop(f"set{tag}")
    client.zadd(f"z{tag}", {"a": 1, "b": 2.5})
    client.pexpire(f"z{tag}", 900000)
    client.xadd(f"x{tag}", {"f": "v"}, id="1-1")
    client.xadd(f"x{tag}", {"g": "w"})
    client.xgroup_create(f"x{tag}", "g", id="0")
    client.xreadgroup("g", "c", {f"x{tag}": ">"})
    with client.pipeline(transaction=True) as pipe:
        pipe.incr(f"t{tag}")
        pipe.execute_command("SELECT", 3)
        pipe.set(f"in3{tag}", "x")
        pipe.execute()
    client.eval("redis.call('set', KEYS[1], 'lua'); return redis.call('incr', KEYS[2])", 2, f"e{tag}", f"c{tag}")
    other = redis.Redis(port=client.connection_pool.connection_kwargs["port"], db=5, socket_timeout=PROCESS_TIMEOUT)
    other.set(f"gone{tag}", "1")
    other.flushdb()
    other.set(f"kept{tag}", "1")
    other.setex(f"short{tag}", 1000, "x")
    other.close()


def _wait_for(condition, what: str) -> None:
    deadline = time.monotonic() + PROCESS_TIMEOUT
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def _data(port: int) -> dict[int, dict[bytes, tuple]]:
    """Every database's keys: each key's type, value digest and absolute expiry."""
    found = {}
    for db in range(16):
        client = redis.Redis(port=port, db=db, socket_timeout=PROCESS_TIMEOUT)
        keys = client.keys("*")
        if keys:
            found[db] = {key: (client.type(key), client.execute_command("DEBUG", "DIGEST-VALUE", key),
                               client.execute_command("PEXPIRETIME", key) if _has_pexpiretime(client) else
                               client.pttl(key) // 10000) for key in keys}
        client.close()
    return found


def _has_pexpiretime(client: redis.Redis) -> bool:
    return int(client.info("server")["redis_version"].split(".")[0]) >= 7


@pytest.mark.parametrize("target", TARGETS)
def test_a_real_replica_of_serve_holds_its_data(target):
    with start_serve("--target", target) as served:
        master = served.client()
        _write_mix(master, "before")
        debug = ("--enable-debug-command", "yes") if target != "redis-6.2" else ()
        with start_server(target, extra=("--replicaof", "127.0.0.1", str(served.port), *debug)) as replica:
            copy = replica.client()
            _wait_for(lambda: copy.info("replication")["master_link_status"] == "up", "the replica syncs")
            _write_mix(master, "after")
            offset = master.info("replication")["master_repl_offset"]
            _wait_for(lambda: copy.info("replication")["slave_repl_offset"] == offset, "the replica catches up")
            assert _data(replica.port) == _data(served.port)
            assert copy.execute_command("DEBUG", "DIGEST") == master.execute_command("DEBUG", "DIGEST")
            master.set("acknowledged", "1")
            assert master.execute_command("WAIT", 1, int(PROCESS_TIMEOUT * 1000)) == 1


# --- what a master with a replica reports ---------------------------------------------------------------

def _replication_info(client: redis.Redis) -> dict:
    """INFO replication with what depends on the process (its replication id, the replica's lag) masked."""
    info = client.info("replication")
    info["master_replid"] = len(info["master_replid"])
    if "slave0" in info:
        info["slave0"] = {**info["slave0"], "lag": type(info["slave0"]["lag"])}
    return info


def _answers_with_a_replica(port: int, target: str) -> dict:
    """INFO replication, ROLE, WAIT, CLIENT LIST / KILL TYPE replica, and the stream, of a fresh master
    with one raw replica that acknowledges by hand (PSYNC after REPLCONF listening-port, without the EOF
    capability: the RDB comes as a bulk)."""
    client = redis.Redis(port=port, socket_timeout=PROCESS_TIMEOUT)
    client.config_set("repl-ping-replica-period", 3600)
    _past_the_first_ping(client)
    answers: dict = {"alone": _replication_info(client), "alone role": client.execute_command("ROLE")}
    _first_replica(port, target)
    stream = Stream(port, [b"REPLCONF listening-port 7777", b"REPLCONF capa psync2", b"PSYNC ? -1"])
    answers["preamble"] = [line.split(b" ")[0] for line in stream.preamble]
    answers["wait before writing"] = client.execute_command("WAIT", 1, 0)
    client.set("a", "1")
    answers["wait unacknowledged"] = client.execute_command("WAIT", 1, 50)
    waiting = socket.create_connection(("127.0.0.1", port), timeout=PROCESS_TIMEOUT)
    waiting.sendall(b"SET b 2\r\nWAIT 1 0\r\n")
    answers["set"] = waiting.recv(5)
    commands = stream.until([b"REPLCONF", b"GETACK", b"*"])
    answers["stream"] = commands
    offset = client.info("replication")["master_repl_offset"]
    stream.sock.sendall(b"*3\r\n$8\r\nREPLCONF\r\n$3\r\nACK\r\n$%d\r\n%d\r\n" % (len(str(offset)), offset))
    answers["wait acknowledged"] = waiting.recv(100)
    answers["info"] = _replication_info(client)
    answers["role"] = client.execute_command("ROLE")
    listed = client.execute_command("CLIENT", "LIST", "TYPE", "replica")
    listed = listed.decode() if isinstance(listed, bytes) else listed
    answers["listed"] = [dict(f.split("=", 1) for f in line.split(" "))["flags"] for line in listed.splitlines()]
    answers["killed"] = client.execute_command("CLIENT", "KILL", "TYPE", "replica")
    _wait_for(lambda: client.info("replication")["connected_slaves"] == 0, "the replica is gone")
    answers["after"] = _replication_info(client)
    waiting.close()
    stream.close()
    client.close()
    return answers


def _same_answers(target: str, answers: Callable[[int], object]) -> None:
    """What ``answers`` gets from serve equals what it gets from the real master of the target."""
    with start_server(target) as real, start_serve("--target", target) as served:
        assert answers(served.port) == answers(real.port)


@pytest.mark.parametrize("target", TARGETS)
def test_info_role_wait_and_client_list_with_a_replica_are_the_real_masters(target):
    _same_answers(target, lambda port: _answers_with_a_replica(port, target))


def _min_replicas_answers(port: int) -> list:
    """Writes under min-replicas-to-write 1: refused without a replica (a transaction holding one too),
    accepted once one is attached; reads always."""
    client = redis.Redis(port=port, socket_timeout=PROCESS_TIMEOUT)
    other = redis.Redis(port=port, socket_timeout=PROCESS_TIMEOUT)
    answers = []

    def run(*command):
        try:
            answers.append(client.execute_command(*command))
        except redis.ResponseError as error:
            answers.append(str(error))

    run("SET", "x", "1")
    client.config_set("min-replicas-to-write", 1)
    for command in (["SET", "x", "2"], ["GET", "x"], ["MULTI"], ["INCR", "x"], ["EXEC"], ["MULTI"], ["GET", "x"],
                    ["EXEC"]):
        run(*command)
    client.config_set("min-replicas-to-write", 0)
    run("MULTI")
    run("INCR", "x")
    other.config_set("min-replicas-to-write", 1)
    run("EXEC")
    stream = Stream(port)
    run("SET", "x", "3")
    client.config_set("min-replicas-to-write", 0)
    stream.close()
    client.close()
    other.close()
    return answers


@pytest.mark.parametrize("target", TARGETS)
def test_min_replicas_to_write_refuses_writes_as_the_real_master(target):
    _same_answers(target, _min_replicas_answers)


# --- random sequences ---------------------------------------------------------------------------------------

TRANSACTIONS = st.sampled_from([[b"MULTI"], [b"EXEC"], [b"SELECT", b"0"], [b"SELECT", b"2"]])


@pytest.fixture(scope="module")
def masters_70():
    with start_server("redis-7.0") as real, start_serve("--target", "redis-7.0") as served:
        yield real, served


def _raw_stream(port: int, commands: list[list[bytes]]) -> list[list[bytes]]:
    """The stream a SYNC client reads while ``commands`` run (sent raw, replies read and dropped)."""
    client = RawClient(port)
    client.call([b"FLUSHALL"])
    client.call([b"CONFIG", b"SET", b"repl-ping-replica-period", b"3600"])
    stream = Stream(port)
    try:
        for args in commands:
            client.call(args)
        client.call([b"DISCARD"])
        client.call(_END)
        return _normalized(stream.until(_END))
    finally:
        stream.close()
        client.sock.close()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(commands=st.lists(st.one_of(COMMANDS, TRANSACTIONS), min_size=1, max_size=20))
@example(commands=[[b"BITFIELD", b"a", b"GET", b"u8", b"0"]])  # only GETs: nothing propagated
@example(commands=[[b"BITFIELD", b"a", b"OVERFLOW", b"FAIL", b"INCRBY", b"u2", b"0", b"9"]])
@example(commands=[[b"BITFIELD", b"a", b"SET", b"i8", b"0", b"0"], [b"BITFIELD", b"a", b"SET", b"i8", b"0", b"0"]])
@example(commands=[[b"SETRANGE", b"a", b"0", b""], [b"SET", b"a", b"x"], [b"SETRANGE", b"a", b"0", b""]])
@example(commands=[[b"LTRIM", b"a", b"0", b"0"], [b"RPUSH", b"a", b"1"], [b"LTRIM", b"a", b"0", b"0"]])  # nothing gone
@example(commands=[[b"SET", b"a", b"1"], [b"GETEX", b"a", b"PERSIST"]])  # no expiry to remove
@example(commands=[[b"LINSERT", b"a", b"BEFORE", b"1", b"1"], [b"RPUSH", b"a", b"2"],
                   [b"LINSERT", b"a", b"BEFORE", b"1", b"1"]])  # no list, no pivot: nothing inserted
@example(commands=[[b"ZINCRBY", b"a", b"inf", b"m1"], [b"ZINCRBY", b"a", b"1", b"m1"]])  # inf + 1: unchanged
@example(commands=[[b"SET", b"a", b"1"], [b"SETBIT", b"a", b"0", b"0"]])  # the bit as it was
def test_random_writes_stream_as_the_real_masters(masters_70, commands):
    real, served = masters_70
    _past_the_first_ping(redis.Redis(port=real.port, socket_timeout=PROCESS_TIMEOUT))
    assert _raw_stream(served.port, commands) == _raw_stream(real.port, commands), commands


def _after_a_stray_command(port: int) -> tuple[bytes, bool]:
    """What a SYNC client that sends PING reads next, and whether the master closed its link."""
    client = redis.Redis(port=port, socket_timeout=PROCESS_TIMEOUT)
    client.config_set("repl-ping-replica-period", 3600)
    _past_the_first_ping(client)
    stream = Stream(port)
    stream.sock.sendall(b"PING\r\n")
    stream.sock.settimeout(2)
    received = b""
    try:
        while chunk := stream.sock.recv(4096):
            received += chunk
        closed = True
    except TimeoutError:
        closed = False
    stream.close()
    client.close()
    return received, closed


@pytest.mark.parametrize("target", ["redis-6.2", "redis-7.0"])  # (the later servers do as 7.0)
def test_a_replica_whose_command_has_a_reply_is_dropped_from_7_0(target):
    """Redis 7.0 closes a replica whose command made a reply; 6.2 sends the reply into its stream."""
    _same_answers(target, _after_a_stray_command)
