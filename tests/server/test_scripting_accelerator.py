"""The compiled redis.call, redis.pcall and runs (rdbtools/server/_luacall.c) and the pure-Python ones
are twins: a server built with each (RDBTOOL_PURE_PYTHON=1 for the second) hands scripts the same Lua
values for every kind of reply, RESP2 and RESP3, raises the same errors, passes the same arguments to
the command, and answers the same for whatever a script returns or raises. (That they answer as Redis
does is tests/server/test_scripting.py's and test_scripting_62.py's: serve runs them with the
accelerator when it is built.) Two things only the accelerator does as Redis does, lupa standing in
the way of the pure path, are left out here: a -0 argument (lupa hands Python the integer 0) and an
error of redis.call seen by coroutine.resume or coroutine.wrap (lupa raises it as a userdata)."""

from __future__ import annotations

import hashlib
import math
import tempfile

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from rdbtools.keyspace.commands import NULL_ARRAY, OK, CommandError, Double, Map, Status
from rdbtools.server.config import ServerConfig
from rdbtools.server.core import Server
from rdbtools.server.protocol import SetReply, encode
from rdbtools.server.scripting import Run
from tests.accelerators import require_accelerated
from tests.server.test_scripting import _SCRIPT_RUNS, _lua_value, counted, scripts_calling

require_accelerated("Binding", "rdbtools.server._luacall")

#: 6.2 raises redis.call's errors as strings, 7.0 as tables; 7.2 prints numbers another way
TARGETS = ["redis-6.2", "redis-7.0", "redis-7.2"]

#: a Lua value as text that tells every kind, key and number apart (tables with sorted keys)
DUMP = """
local function dump(v)
    local kind = type(v)
    if kind == 'table' then
        local keys = {}
        for k in pairs(v) do keys[#keys + 1] = k end
        table.sort(keys, function(a, b) return type(a) .. tostring(a) < type(b) .. tostring(b) end)
        local parts = {}
        for _, k in ipairs(keys) do parts[#parts + 1] = dump(k) .. '=' .. dump(v[k]) end
        return '{' .. table.concat(parts, ',') .. '}'
    elseif kind == 'string' then
        return string.format('%q', v)
    elseif kind == 'number' then
        return string.format('%.17g', v)
    end
    return kind .. ':' .. tostring(v)
end
"""


class Twin:
    """An in-process server whose command ECHO answers what the test sets, and records what it got."""

    def __init__(self, target: str, pure: bool, monkeypatch: pytest.MonkeyPatch) -> None:
        with monkeypatch.context() as env:
            if pure:
                env.setenv("RDBTOOL_PURE_PYTHON", "1")
            else:
                env.delenv("RDBTOOL_PURE_PYTHON", raising=False)
            self.server = Server(ServerConfig.load(None, ["--dir", tempfile.gettempdir(), "--save", "",
                                                          "--appendonly", "no", "--target", target]))
            self.server.scripting  # noqa: B018 (made on first use: now, with the environment set)
        assert (self.server.scripting._binding is None) == pure
        self.client = self.server.connect("127.0.0.1:1", "127.0.0.1:2", lambda reply: None, lambda: None)
        self.reply: object = None
        self.received: list[list[bytes]] = []
        self.runs: list[dict[str, object]] = []  # the state of the run each call came from
        self.server.resolve([b"ECHO"]).handler = self._echo  # (this server's own record)

    def _echo(self, client, args: list[bytes]) -> object:
        self.received.append(args)
        run = self.server.scripting.run
        if run is not None:
            self.runs.append(_state(run))
        return self.reply

    def eval(self, script: str, keys: tuple[bytes, ...] = (), argv: tuple[bytes, ...] = ()) -> object:
        command = [b"EVAL", script.encode(), b"%d" % len(keys), *keys, *argv]
        return _comparable(self.server.execute(self.client, command))

    def send(self, commands: list[list[str]]) -> list[object]:
        """The replies to commands, INFO's (the last two) as counted() reads them."""
        replies = [self.server.execute(self.client, [a.encode() for a in args]) for args in commands]
        return [*map(_comparable, replies[:-2]), *(counted(encode(info, False)) for info in replies[-2:])]


def _state(run: Run) -> dict[str, object]:
    """Every attribute of a run (its slots, its own and its class's), its start told as made or not."""
    names = {*Run.__slots__, *vars(run), *(name for name in vars(Run) if not name.startswith("_"))} - {"__dict__"}
    state = {name: getattr(run, name) for name in names}
    state["started"] = state["started"] > 0
    return state


def _comparable(reply: object) -> tuple[bytes, bytes]:
    """A reply as the client gets it, in RESP2 and in RESP3."""
    return encode(reply, False), encode(reply, True)


@pytest.fixture(scope="module", params=TARGETS)
def twins(request):
    with pytest.MonkeyPatch.context() as monkeypatch:
        yield Twin(request.param, False, monkeypatch), Twin(request.param, True, monkeypatch)


def _both(twins, script: str, keys: tuple[bytes, ...] = (), argv: tuple[bytes, ...] = ()) -> tuple[object, object]:
    accelerated_twin, pure_twin = twins
    return accelerated_twin.eval(script, keys, argv), pure_twin.eval(script, keys, argv)


# --- a command's reply as the script gets it --------------------------------------------------------

_texts = st.text(st.characters(codec="utf-8"), max_size=8)
_leaf = st.one_of(
    st.binary(max_size=8), st.integers(-(2**63), 2**63 - 1), st.none(),  # (commands answer 64-bit integers)
    st.just(NULL_ARRAY), st.just(OK), _texts.map(Status), st.booleans(),
    st.floats(allow_nan=False).map(Double), _texts.map(lambda t: CommandError("ERR " + t)), _texts,
    st.binary(max_size=4).map(bytearray), st.floats(allow_nan=False),
)
_reply = st.recursive(_leaf, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.lists(inner, max_size=3).map(tuple),
    st.dictionaries(st.binary(max_size=4), inner, max_size=3).map(Map),
    st.lists(st.binary(max_size=4), max_size=3).map(SetReply),
), max_leaves=10)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(reply=_reply, resp3=st.booleans(), protected=st.booleans())
@example(reply=[b"a", None, 7, [OK, Status("S")]], resp3=False, protected=False)
@example(reply=Map({b"k": Double(1.5), b"s": SetReply([b"m"])}), resp3=True, protected=True)
@example(reply=[True, False, NULL_ARRAY], resp3=True, protected=False)
@example(reply=[-(2**63), 2**63 - 1, 2**53 + 1], resp3=False, protected=False)
@example(reply=[Map({b"e": CommandError("ERR x"), b"o": "OK"}), [], [OK, OK, bytearray(b"")]], resp3=False,
         protected=False)  # (the Python conversion calls into Lua: the C side's values must survive it)
def test_every_reply_reaches_the_script_as_the_same_lua_value(twins, reply, resp3, protected):
    for twin in twins:
        twin.reply = reply
    call = "redis.pcall" if protected else "redis.call"
    script = (DUMP + ("redis.setresp(3) " if resp3 else "")
              + f"local ok, value = pcall({call}, 'echo', 'x') return (ok and 'ok ' or 'raised ') .. dump(value)")
    accelerated_answer, pure_answer = _both(twins, script)
    assert accelerated_answer == pure_answer


# --- the arguments as the command gets them -----------------------------------------------------------

_argument = st.one_of(
    st.sampled_from(["'a'", "''", "'x\\0y'", "KEYS", "true", "false", "nil", "{}", "{1}", "redis.call",
                     "1/0", "-1/0", "0/0", "2^53", "2^63", "-2^63", "1e300", "0.1", "1/3", "-7",
                     "tostring(12)", "cjson.null"]),
    st.integers(-(2**64), 2**64).map(str),
    st.floats(allow_nan=False, allow_infinity=False).filter(lambda x: math.copysign(1, x) > 0 or x).map(repr),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(arguments=st.lists(_argument, max_size=4), protected=st.booleans())
@example(arguments=["0.1", "1/0", "-1/0", "0/0"], protected=False)
@example(arguments=["'a'", "{}"], protected=True)
@example(arguments=[], protected=False)
def test_arguments_reach_the_command_alike_or_are_refused_alike(twins, arguments, protected):
    for twin in twins:
        twin.reply, twin.received = b"done", []
    call = "redis.pcall" if protected else "redis.call"
    listed = ", ".join(["'echo'", *arguments])
    script = DUMP + f"local ok, value = pcall({call}, {listed}) return (ok and 'ok ' or 'raised ') .. dump(value)"
    accelerated_answer, pure_answer = _both(twins, script)
    assert accelerated_answer == pure_answer
    assert twins[0].received == twins[1].received


def test_calls_without_a_command_or_inside_a_coroutine_answer_alike(twins):
    for twin in twins:
        twin.reply = b"done"
    for script in ["return redis.call()", "return redis.pcall()",
                   "return coroutine.wrap(function() return redis.call('echo', 'x') end)()"]:
        accelerated_answer, pure_answer = _both(twins, script)
        assert accelerated_answer == pure_answer


# --- what a script returns or raises, as the client gets it -------------------------------------------

_ending = st.sampled_from(["return {value}", "error({value})", "return redis.error_reply('E ' .. type({value}))",
                           "redis.setresp(3) return {value}", "return redis.call('echo', 'x'), {value}",
                           "return {KEYS, ARGV, #KEYS, #ARGV, {value}}"])
_strings = st.lists(st.binary(max_size=6), max_size=4).map(tuple)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=_lua_value, ending=_ending, keys=_strings, argv=_strings)
@example(value="{ok='fine'}", ending="return {value}", keys=(), argv=())
@example(value="{err='E x'}", ending="error({value})", keys=(), argv=())
@example(value="{1, {double=1.5}, 'x', {2^63}}", ending="redis.setresp(3) return {value}", keys=(), argv=())
@example(value="1", ending="return {KEYS, ARGV, #KEYS, #ARGV, {value}}", keys=(b"k", b""), argv=(b"a\0",))
def test_what_a_script_returns_or_raises_is_answered_alike(twins, value, ending, keys, argv):
    for twin in twins:
        twin.reply = OK
    accelerated_answer, pure_answer = _both(twins, ending.replace("{value}", value), keys, argv)
    assert accelerated_answer == pure_answer


# --- redis.call's checks (decided in C for a run's common calls) and what INFO counts of them ----------

@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(runs=_SCRIPT_RUNS)
@example(runs=[("EVALSHA", "", ["redis.call('set', KEYS[1], ARGV[1])", "redis.call('incr', KEYS[1])"], "v"),
               ("EVALSHA_RO", "", ["redis.call('get', KEYS[1])", "redis.call('del', KEYS[1])"], "1")])
@example(runs=[("EVALSHA", "#!lua flags=no-writes\n", ["redis.pcall('incr', KEYS[1])", "redis.call('set', KEYS[1])"],
                "1"), ("EVALSHA", "", ["redis.set_repl(redis.REPL_NONE)", "redis.call('SET', KEYS[1], ARGV[1])"], "v")])
def test_calls_are_checked_and_counted_alike(twins, runs):
    accelerated_twin, pure_twin = twins
    commands = scripts_calling(runs)
    assert accelerated_twin.send(commands) == pure_twin.send(commands)


# --- EVALSHA as it is sent (the accelerator runs the common call itself) ---------------------------------

_BODIES = ["return {ok='OK'}", "return {KEYS, ARGV}", "redis.setresp(3) return redis.call('echo', 'x')",
           "return redis.error_reply('E bad')", "error('raised')", "#!lua flags=no-writes\nreturn ARGV",
           "return redis.call('set', KEYS[1] or 'k', 'v')"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.sampled_from(_BODIES), command=st.sampled_from([b"EVALSHA", b"evalsha_ro"]),
       sha=st.sampled_from(["same", "upper", "unknown", "short"]),
       count=st.sampled_from([b"0", b"1", b"2", b"01", b"-1", b"+1", b"1 ", b"x", b"999999999", b"12345678901"]),
       rest=st.lists(st.binary(max_size=3), max_size=3))
@example(body="return {KEYS, ARGV}", command=b"EVALSHA", sha="same", count=b"01", rest=[b"a"])
@example(body="redis.setresp(3) return redis.call('echo', 'x')", command=b"EVALSHA", sha="same", count=b"0",
         rest=[])
def test_evalsha_answers_alike_however_it_is_sent(twins, body, command, sha, count, rest):
    digest = hashlib.sha1(body.encode()).hexdigest().encode()
    sent = {"same": digest, "upper": digest.upper(), "unknown": b"f" * 40, "short": digest[:39]}[sha]
    answers = []
    for twin in twins:
        twin.reply = b"done"
        twin.server.execute(twin.client, [b"SCRIPT", b"LOAD", body.encode()])
        reply = _comparable(twin.server.execute(twin.client, [command, sent, count, *rest]))
        answers.append((reply, twin.server.scripting.client.resp, twin.server.scripting.run))
    assert answers[0] == answers[1]


@pytest.mark.parametrize("command", [b"EVALSHA", b"EVALSHA_RO"])
@pytest.mark.parametrize("body", ["return redis.call('echo', KEYS[1])",
                                  "redis.setresp(3) return redis.call('echo', 'x')"])
def test_a_run_the_accelerator_makes_is_the_run_python_makes(twins, command, body):
    """EVALSHA's run made in C (_luacall.c's new_run, start_run) holds what Run's __init__ and _invoke give it."""
    states = []
    for twin in twins:
        twin.reply, twin.runs = b"done", []
        twin.server.execute(twin.client, [b"SCRIPT", b"LOAD", body.encode()])
        digest = hashlib.sha1(body.encode()).hexdigest().encode()
        reply = twin.server.execute(twin.client, [command, digest, b"1", b"k"])
        states.append(twin.runs)
    assert len(states[0]) == (0 if "unknown command" in str(reply) else 1)  # (6.2 has no EVALSHA_RO)
    assert states[0] == states[1]
