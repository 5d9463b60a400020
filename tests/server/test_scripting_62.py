"""Scripts answer as in Redis 6.2 for `serve --target redis-6.2`: the cases of test_scripting (written
against 7.0) and 6.2's own, sent to a real Redis 6.2 and to serve, replies byte-identical.

6.2's scripting.c raised redis.call's errors as strings (a refusal placed at the caller's line, a
command's error bare), its error handler put the error's place before it, EVAL answered "Error running
script (call to f_<sha>): ...", Lua's pcall caught an error table as the table; it had no shebang, no
big number or verbatim replies, no REDIS_VERSION, and redis.replicate_commands refused once a script
wrote."""

from __future__ import annotations

import hashlib
import time

import hiredis
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.resp_client import RawReplies
from tests.server.serving import start_serve
from tests.server.test_aof_propagation import _sent_and_appended
from tests.server.test_info_stats import _counters
from tests.server.test_scripting import (
    CALL_REPLIES,
    CAUGHT,
    CONVERSIONS,
    ERRORS,
    FUNCTIONS,
    LIBRARIES,
    SCRIPT_CACHE,
    _eval,
    _lua_value,
    assert_same_replies,
    cached_scripts,
)
from tests.servers import PROCESS_TIMEOUT, start_server

SERVER = "redis-6.2"


@pytest.fixture(scope="module")
def pair():
    with start_server(SERVER) as real, start_serve("--target", SERVER) as served:
        yield real, served


def _sessions(table: dict[str, list]) -> dict[str, list[list]]:
    return {name: commands if isinstance(commands[0], list) else [commands] for name, commands in table.items()}


#: 7.0's cases other than its errors (FUNCTION and FCALL, EVAL_RO and shebangs: unknown to 6.2 or Lua to it)
_OTHERS = {f"{table}.{name}": commands for table, cases in (
    ("conversions", CONVERSIONS), ("call_replies", CALL_REPLIES), ("libraries", LIBRARIES),
    ("script_cache", SCRIPT_CACHE), ("functions", FUNCTIONS), ("caught", CAUGHT))
    for name, commands in _sessions(cases).items()}

#: what 6.2 does its own way
REDIS_62 = {
    "a_refusal_by_redis_call_under_lua_pcall_is_placed_at_pcall": _eval("return {pcall(redis.call, 'nosuch')}"),
    "helper_errors_are_bare_strings": _eval("return {pcall(redis.log, 9, 'x'), pcall(redis.setresp, 4), "
                                            "pcall(redis.sha1hex), pcall(redis.set_repl, 9)}"),
    "lua_pcall_catches_an_error_table_as_the_table": _eval("return {pcall(error, {err='x'})}"),
    "errors_caught_in_lua_are_strings": _eval("local ok, e = pcall(function() redis.call('nosuch') end) "
                                              "return {type(e), e}"),
    "an_error_that_is_no_string_fails_in_the_error_handler": [_eval("error()"), _eval("error(true)"),
                                                              _eval("error({})")],
    "a_number_raised_is_placed": _eval("error(5)"),
    "a_command_error_keeps_its_code": [["SET", "s", "v"], _eval("return redis.call('incr', 's')"),
                                       _eval("return {pcall(redis.call, 'incr', 's')}")],
    "newlines_in_an_error_become_spaces": [_eval("error('a\\r\\nb\\nc')"), _eval("return {err='x\\ny'}")],
    "error_tables_are_answered_as_given": [_eval("return {err='x'}"), _eval("return {err='-CODE msg'}"),
                                           _eval("return redis.error_reply('-CODE msg')"),
                                           _eval("return redis.error_reply(5)"), _eval("return redis.status_reply()"),
                                           _eval("return {redis.status_reply('a\\r\\nb'), redis.error_reply('E e')}")],
    "replicate_commands_refuses_once_a_script_wrote": [
        _eval("return redis.replicate_commands()"),
        _eval("redis.call('set', 'a', 1) return {redis.replicate_commands(), redis.call('get', 'a')}")],
    "globals_of_6_2": _eval("return {type(print), type(getfenv), type(setfenv), type(newproxy), "
                            "type(__redis__err__handler), type(redis.acl_check_cmd), type(redis.REDIS_VERSION), "
                            "type(redis.REDIS_VERSION_NUM), type(redis.breakpoint)}"),
    "math_random_starts_afresh_in_every_eval": [_eval("return {tostring(math.random()), math.random(10)}")] * 3,
    "unknown_commands_with_newlines_in_their_arguments": [["EVAL_RO", "a\nb", "0"], ["NOSUCH", "a\r\nb"]],
    "whole_script_replication_mode_refuses_writes_after_random_commands_and_sorts": [
        ["DEBUG", "lua-always-replicate-commands", "0"],
        _eval("redis.pcall('randomkey'); return redis.pcall('set', 'x', 'ciao')"),
        _eval("redis.call('randomkey') return redis.call('set', 'q', 1)"),
        ["SADD", "myset", *"zqacbxyd", "aa", "aaa", "azz"],
        _eval("return redis.call('smembers', KEYS[1])", "myset", keys=1),
        _eval("return redis.call('keys', '*')"), _eval("redis.set_repl(0)"),
        _eval("redis.call('time') return redis.replicate_commands()"),
        _eval("redis.call('set', 'a', 1) return redis.replicate_commands()"),
        _eval("return {redis.replicate_commands(), redis.call('randomkey') ~= nil, redis.call('set', 'q', 1)}"),
        ["DEBUG", "lua-always-replicate-commands", "x"], _eval("redis.call('time') return redis.call('set', 'q', 1)"),
        ["DEBUG", "lua-always-replicate-commands", "1"], _eval("redis.call('time') return redis.call('set', 'q', 1)")],
    "lua_replicate_commands_is_what_debug_sets": [
        ["CONFIG", "GET", "lua-replicate-commands"], ["CONFIG", "SET", "lua-replicate-commands", "no"],
        ["CONFIG", "GET", "lua-replicate-commands"], _eval("redis.call('time') return redis.call('set', 'q', 1)"),
        ["DEBUG", "lua-always-replicate-commands", "1"], ["CONFIG", "GET", "lua-replicate-commands"],
        ["DEBUG", "lua-always-replicate-commands", "0"], ["CONFIG", "GET", "lua-replicate-commands"],
        ["CONFIG", "SET", "lua-replicate-commands", "yes"],
        _eval("redis.call('time') return redis.call('set', 'q', 1)")],
    "a_shebang_is_lua_to_6_2": [_eval("#!lua flags=no-writes\nreturn 1"), ["SCRIPT", "LOAD", "#!lua\nreturn 1"]],
    "script_syntax_errors": [["SCRIPT", "HELP", "x"], ["SCRIPT", "KILL", "x"], ["SCRIPT", "FLUSH", "a", "b"],
                             ["SCRIPT", "FLUSH", "a"], ["SCRIPT", "DEBUG"], ["SCRIPT", "EXISTS"],
                             ["SCRIPT", "LOAD", "a", "b"], ["SCRIPT"], ["SCRIPT", "NOSUCH"]],
    "acl_refusals_are_placed": [
        ["ACL", "SETUSER", "scripter", "on", "nopass", "+@all", "-get", "~k*", "&*"],
        ["AUTH", "scripter", "x"], _eval("return redis.call('get', 'k')"), _eval("return redis.pcall('set', 'x', 1)"),
        ["AUTH", "default", "x"], ["ACL", "DELUSER", "scripter"]],
    "out_of_memory_refusal_keeps_redis_protocol_text": [
        ["CONFIG", "SET", "maxmemory", "1"], _eval("return redis.pcall('set', 'k', 'v')"),
        _eval("return redis.call('set', 'k', 'v')"), _eval("return redis.call('get', 'k')"),
        ["CONFIG", "SET", "maxmemory", "0"]],
}


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_script_errors_have_redis_6_2_texts_and_places(pair, name):
    for commands in [_sessions(ERRORS)[name]]:
        assert_same_replies(pair, commands)


@pytest.mark.parametrize("protocol", [2, 3])
@pytest.mark.parametrize("name", sorted(_OTHERS))
def test_the_7_0_cases_answer_as_redis_6_2(pair, name, protocol):
    assert_same_replies(pair, _OTHERS[name], protocol)


@pytest.mark.parametrize("name", sorted(REDIS_62))
def test_scripts_behave_as_redis_6_2_where_it_differs(pair, name):
    assert_same_replies(pair, _sessions(REDIS_62)[name])


def test_script_errors_are_counted_as_redis_6_2_counts_them(pair):
    """INFO errorstats and commandstats after scripts' errors: a command's error counted again for the
    EVAL, a placed text's first word as its code (':' shown as '_'), a word not ending in the first 32
    bytes as ERR."""
    script = [["SET", "s", "v"], _eval("return redis.call('lpush', 's', 'x')"),
              _eval("return redis.pcall('lpush', 's', 'x')"), _eval("return redis.call('nosuch')"),
              _eval("return redis.pcall('nosuch')"), _eval("return {err='x'}"), _eval("return {err='-CODE msg'}"),
              _eval("error('boom')"), _eval("return redis.call('incr', 's')"),
              _eval("return {pcall(redis.call, 'incr', 's')}"), _eval("return {err='" + "W" * 40 + " x'}")]
    real, served = pair
    assert _counters(served.port, script) == _counters(real.port, script)


def _killed_scripts(port: int) -> list[bytes]:
    """A script past lua-time-limit (200 ms): another connection gets BUSY, kills it; a pcall cannot
    swallow the kill; a script that wrote cannot be killed."""
    runner, other = RawReplies(port), RawReplies(port)
    seen = [runner.call(["PING"]), other.call(["CONFIG", "SET", "lua-time-limit", "200"])]

    def running(args: list[str], then: list[list[str]]) -> None:
        runner.sock.sendall(hiredis.pack_command(tuple(a.encode() for a in args)))
        time.sleep(0.6)
        seen.extend(other.call(command) for command in then)
        seen.append(runner.read())

    running(["EVAL", "local i = 0\nwhile true do i = i + 1 end", "0"],
            [["PING"], ["MULTI"], ["SET", "x", "1"], ["EXEC"], ["SCRIPT", "KILL"]])
    running(["EVAL", "while true do pcall(function() while true do end end) end", "0"], [["SCRIPT", "KILL"]])
    running(["EVAL", "redis.call('set', 'w', 1) local s = tonumber(redis.call('time')[1]) "
                     "while tonumber(redis.call('time')[1]) < s + 2 do end return 'done'", "0"],
            [["SCRIPT", "KILL"]])
    seen.append(other.call(["GET", "w"]))
    return seen


def test_a_killed_script_answers_as_in_redis_6_2():
    with start_server(SERVER) as real:
        theirs = _killed_scripts(real.port)
    with start_serve("--target", SERVER) as served:
        ours = _killed_scripts(served.port)
    assert ours == theirs


@pytest.mark.parametrize("protocol", [2, 3])
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=_lua_value, resp3_inside=st.booleans())
@example(value="{{big_number='12'}, {verbatim_string={format='txt', string='x'}}}", resp3_inside=True)
@example(value="{{err='-E x'}, {ok='fine'}, 2.5, true}", resp3_inside=False)
def test_random_return_values_convert_as_in_redis_6_2(pair, protocol, value, resp3_inside):
    script = ("redis.setresp(3) " if resp3_inside else "") + f"return {value}"
    assert_same_replies(pair, [_eval(script)], protocol)


#: scripts replicated whole (DEBUG lua-always-replicate-commands 0): an EVAL as sent when it wrote, an
#: EVALSHA the first time as its EVAL (SCRIPT LOAD when it wrote nothing), then as sent; effects again
#: once redis.replicate_commands() switched to them
WHOLE_SCRIPTS = [
    ["DEBUG", "lua-always-replicate-commands", "0"],
    ["EVAL", "return redis.call('set', KEYS[1], ARGV[1])", "1", "a", "1"],
    ["EVAL", "return redis.call('get', KEYS[1])", "1", "a"],
    ["SCRIPT", "LOAD", "return redis.call('incr', KEYS[1])"],
    ["SCRIPT", "LOAD", "return redis.call('get', KEYS[1])"],
    ["EVALSHA", "SHA_GET", "1", "a"], ["EVALSHA", "SHA_INCR", "1", "n"], ["EVALSHA", "SHA_INCR", "1", "n"],
    ["EVAL", "redis.replicate_commands() redis.call('set', 'b', 2) return redis.call('incr', 'n')", "0"],
    ["DEBUG", "lua-always-replicate-commands", "1"],
    ["EVAL", "return redis.call('set', KEYS[1], ARGV[1])", "1", "c", "3"],
]


def test_whole_scripts_are_appended_as_redis_6_2_appends_them():
    incr, get = (hashlib.sha1(body.encode()).hexdigest() for body in
                 ("return redis.call('incr', KEYS[1])", "return redis.call('get', KEYS[1])"))
    commands = [[{"SHA_INCR": incr, "SHA_GET": get}.get(a, a) for a in args] for args in WHOLE_SCRIPTS]
    extra = ("--appendonly", "yes", "--appendfsync", "always")
    with start_server(SERVER, extra=extra) as real:
        theirs = _sent_and_appended(real.port, real.dir / "appendonly.aof", commands)
    with start_serve(*extra, "--target", SERVER) as serving:
        ours = _sent_and_appended(serving.port, serving.dir / "appendonly.aof", commands)
    assert ours == theirs


def test_info_memory_counts_the_cached_scripts_as_redis_6_2(pair):
    real, served = pair
    assert cached_scripts(served.port) == cached_scripts(real.port)


def _shutdown_while_busy(port: int) -> list[bytes]:
    """A script past lua-time-limit: other clients get BUSY, SHUTDOWN without NOSAVE too; SHUTDOWN
    NOSAVE stops the server (both connections closed, no reply)."""
    runner, other = RawReplies(port), RawReplies(port)
    seen = [other.call(["CONFIG", "SET", "lua-time-limit", "100"])]
    runner.sock.sendall(hiredis.pack_command((b"EVAL", b"while true do end", b"0")))
    time.sleep(0.6)
    seen += [other.call(["PING"]), other.call(["SHUTDOWN"]), other.call(["SHUTDOWN", "SAVE"])]
    other.sock.sendall(hiredis.pack_command((b"SHUTDOWN", b"NOSAVE")))
    for connection in (other, runner):
        connection.sock.settimeout(PROCESS_TIMEOUT)
        seen.append(connection.sock.recv(100))
    return seen


@pytest.mark.parametrize("target", ["redis-6.2", "redis-7.0"])
def test_shutdown_nosave_stops_a_busy_script_and_the_server(target):
    with start_server(target) as real:
        theirs = _shutdown_while_busy(real.port)
    with start_serve("--target", target) as served:
        ours = _shutdown_while_busy(served.port)
    assert ours == theirs
