"""Scripts answer as in Redis 7.0: the same EVAL, EVALSHA, SCRIPT, FCALL and FUNCTION commands sent to a
real Redis 7.0 and to serve get byte-identical replies (conversions both ways in RESP2 and RESP3, error
texts and positions, the Lua libraries Redis builds in, read-only refusals, flags); what scripts write
reaches the AOF as Redis 7.0 appends it and loads back in Redis 7.0; redis-py's Lock and
register_script work."""

from __future__ import annotations

import hashlib
import re
import socket
import time

import hiredis
import pytest
import redis
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.resp_client import RawReplies
from tests.server.conftest import NEEDS_THE_SCRIPTING_ACCELERATOR, scripting_accelerated
from tests.server.serving import start_serve
from tests.server.test_aof_propagation import _check_the_aof_rebuilds, _sent_and_appended
from tests.servers import PROCESS_TIMEOUT, start_server

SERVER = "redis-7.0"


@pytest.fixture(scope="module")
def pair():
    with start_server(SERVER) as real, start_serve("--target", SERVER) as served:
        yield real, served


def _replies(port: int, commands: list[list], protocol: int) -> list[bytes]:
    client = RawReplies(port)
    try:
        for reset in (["FLUSHALL"], ["SCRIPT", "FLUSH"], ["FUNCTION", "FLUSH"], ["HELLO", str(protocol)]):
            client.call(reset)
        return [client.call(args) for args in commands]
    finally:
        client.close()


def assert_same_replies(pair, commands: list[list], protocol: int = 2) -> None:
    real, served = pair
    theirs = _replies(real.port, commands, protocol)
    ours = _replies(served.port, commands, protocol)
    for args, mine, redis_reply in zip(commands, ours, theirs, strict=True):
        assert mine == redis_reply, f"{args!r}: serve {mine!r}, redis {redis_reply!r}"


def _eval(script: str, *keys_then_args: str, keys: int = 0) -> list:
    return ["EVAL", script, str(keys), *keys_then_args]


# --- what a script returns, as the client gets it ------------------------------------------------------

CONVERSIONS = {
    "integers_and_floats_truncated": _eval("return {1, -2, 3.99, -3.99, 0.5, 1e15, 2^53}"),
    "booleans_true_is_one_false_is_nil": _eval("return {true, false}"),
    "nil_alone_is_a_null": _eval("return nil"),
    "an_array_stops_at_its_first_nil": _eval("return {1, 2, nil, 4}"),
    "strings_are_bulk_strings": _eval("return {'a', '', 'x\\0y'}"),
    "nested_arrays": _eval("return {1, {2, {3, {4}}}, {}}"),
    "status_table_is_a_status": _eval("return {ok='FINE'}"),
    "status_with_newlines_is_flattened": _eval("return {ok='a\\r\\nb'}"),
    "errors_with_newlines_are_flattened": _eval("return {1, {err='a\\nb\\r\\n'}, redis.error_reply('c\\nd')}"),
    "a_raised_error_with_newlines_is_flattened": _eval("error('a\\nb')"),
    "error_table_is_an_error": _eval("return {err='MYERR broken'}"),
    "error_tables_nested_in_arrays": _eval("return {1, {err='E nested'}, redis.status_reply('S')}"),
    "error_reply_adds_a_code": _eval("return redis.error_reply('no code')"),
    "error_reply_keeps_a_dash_code": _eval("return redis.error_reply('-CODE msg')"),
    "status_reply_helper": _eval("return redis.status_reply('PONG')"),
    "helper_with_wrong_arguments": _eval("return redis.status_reply(1, 2)"),
    "a_function_value_is_a_null": _eval("return function() end"),
    "a_table_with_string_keys_only_is_empty": _eval("return {a=1, b=2}"),
    "double_table": _eval("return {double=3.25}"),
    "double_table_prints_17_digits": _eval("return {double=0.1}"),
    "big_number_table": _eval("return {big_number='123456789012345678901234567890'}"),
    "verbatim_table": _eval("return {verbatim_string={format='txt', string='hello'}}"),
    "map_table": _eval("return {map={a=1}}"),
    "set_table": _eval("return {set={a=true}}"),
    "resp3_booleans": _eval("redis.setresp(3) return {true, false}"),
    "keys_and_argv": _eval("return {KEYS[1], KEYS[2], ARGV[1], #KEYS, #ARGV}", "k1", "k2", "a1", keys=2),
    "numbers_as_command_arguments_use_17_digits": ["EVAL", "redis.call('set', 'k', 0.1) "
                                                   "redis.call('set', 'i', 7) return {redis.call('get', 'k'), "
                                                   "redis.call('get', 'i')}", "0"],
    "minus_zero_as_command_argument_keeps_its_sign": _eval("local x = 0 return {redis.call('echo', -0), "
                                                           "redis.call('echo', -x), redis.call('echo', 0)}"),
}

#: what commands answer, as the script sees it (RESP2, then after redis.setresp(3))
CALL_REPLIES = {
    "status_reply_is_an_ok_table": [_eval("local r = redis.call('set', 'k', 'v') return {type(r), r.ok}")],
    "null_bulk_is_false": [_eval("local r = redis.call('get', 'nokey') return {type(r), tostring(r)}")],
    "integer_reply": [_eval("return redis.call('incr', 'n') + 1")],
    "array_reply": [["RPUSH", "l", "a", "b"], _eval("return redis.call('lrange', 'l', 0, -1)")],
    "hash_as_flat_array": [["HSET", "h", "f", "v"], _eval("return redis.call('hgetall', 'h')")],
    "resp3_map": [["HSET", "h", "f", "v", "g", "w"],
                  _eval("redis.setresp(3) local r = redis.call('hgetall', 'h') return {r.map.f, r.map.g}")],
    "resp3_map_returned_as_is": [["HSET", "h", "f", "v"], _eval("redis.setresp(3) return redis.call('hgetall', 'h')")],
    "resp3_set": [["SADD", "s", "a"], _eval("redis.setresp(3) local r = redis.call('smembers', 's') "
                                            "return {type(r.set), r.set.a}")],
    "resp3_null_is_nil": [_eval("redis.setresp(3) local r = redis.call('get', 'x') return type(r)")],
    "resp3_double": [["ZADD", "z", "1.5", "m"], _eval("redis.setresp(3) local r = redis.call('zscore', 'z', 'm') "
                                                      "return {type(r), tostring(r.double)}")],
    "score_as_text_in_resp2": [["ZADD", "z", "2.5", "m"], _eval("return redis.call('zscore', 'z', 'm')")],
    "sort_of_a_set_without_sorting_is_alpha_in_scripts": [
        ["SADD", "s", *"zqacbxyd", "aa"], ["RPUSH", "l", "b", "a", "c"],
        _eval("return {redis.call('sort', 's', 'by', 'nosort'), redis.call('sort', 's', 'by', 'w_*', 'desc', 'limit', "
              "'0', '3'), redis.call('sort', 'l', 'by', 'nosort')}")],
    "exec_is_refused_but_select_runs": [_eval("redis.call('select', 1) redis.call('set', 'x', 'db1') "
                                              "return redis.call('get', 'x')"), ["GET", "x"], ["SELECT", "1"],
                                        ["GET", "x"]],
}

ERRORS = {
    "nonexistent_global": _eval("return x"),
    "assigning_a_global": _eval("x = 1"),
    "modifying_a_library": _eval("string.x = 1"),
    "unknown_command": _eval("return redis.call('nosuch')"),
    "wrong_arity": _eval("return redis.call('get')"),
    "pcall_returns_the_error_table": _eval("return redis.pcall('get')"),
    "noscript_command": _eval("return redis.call('multi')"),
    "noscript_blocking_command": _eval("return redis.call('blpop', 'x', 0)"),
    "noscript_nested_eval": _eval("return redis.call('eval', 'return 1', 0)"),
    "noscript_function_stats": _eval("return redis.call('function', 'stats')"),
    "error_with_a_string": _eval("error('boom')"),
    "error_with_a_table": _eval("error({err='MY thing'})"),
    "runtime_error": _eval("local t = nil\nreturn t.x"),
    "error_on_a_later_line": _eval("local a = 1\n\nreturn a + nil"),
    "command_error_raised": [["SET", "s", "v"], _eval("return redis.call('lpush', 's', 'x')")],
    "command_error_by_pcall": [["SET", "s", "v"], _eval("return redis.pcall('lpush', 's', 'x')")],
    "lua_pcall_catches_the_error_text": _eval("return {pcall(function() redis.call('nosuch') end)}"),
    "lua_pcall_of_redis_call": [["SET", "s", "v"], _eval("local ok, e = pcall(redis.call, 'lpush', 's', 'x') "
                                                         "return {tostring(ok), e}")],
    "arguments_must_be_strings_or_numbers": _eval("return redis.call('set', 'k', {})"),
    "no_arguments": _eval("return redis.call()"),
    "compile_error": _eval("return +"),
    "negative_key_count": ["EVAL", "return 1", "-1"],
    "too_many_keys": ["EVAL", "return 1", "2", "a"],
    "key_count_not_a_number": ["EVAL", "return 1", "x"],
    "evalsha_unknown": ["EVALSHA", "0" * 40, "0"],
    "evalsha_short": ["EVALSHA", "abc", "0"],
    "eval_arity": ["EVAL", "return 1"],
    "log_level_invalid": _eval("redis.log(9, 'x')"),
    "setresp_invalid": _eval("redis.setresp(4)"),
    "set_repl_invalid": _eval("redis.set_repl(7)"),
    "sha1hex_arity": _eval("return redis.sha1hex()"),
    "error_in_a_nested_function": _eval("local function f()\n  error('deep')\nend\nf()"),
    "stream_reads_with_block_refused_before_7_4": [
        ["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"],
        _eval("return redis.pcall('xread', 'BLOCK', 0, 'STREAMS', 's', '$')"),
        _eval("return redis.pcall('XRead', 'BLOCK', 'x', 'STREAMS', 's', '$')"),
        _eval("return redis.pcall('xread', 'COUNT', 'x', 'BLOCK', 1, 'STREAMS', 's', '$')"),
        _eval("return redis.pcall('xreadgroup', 'GROUP', 'g', 'c', 'BLOCK', 0, 'STREAMS', 'nos', '>')"),
        _eval("return redis.pcall('xreadgroup', 'GROUP', 'g', 'c', 'STREAMS', 's', '>')"),
        ["XREAD", "BLOCK", "x", "STREAMS", "s", "$"], ["XREAD", "BLOCK", "-1", "STREAMS", "s", "$"],
        ["XREADGROUP", "GROUP", "g", "c", "BLOCK", "-5", "COUNT", "x", "STREAMS", "s", ">"]],
}

#: errors a script catches itself, and helpers' checks of their arguments
CAUGHT = {
    "xpcall_handler_gets_the_error_as_raised": [
        _eval("return {xpcall(function() redis.call('nosuch') end, function(e) return type(e) end)}"),
        _eval("return {xpcall(function() redis.call('nosuch') end, function(e) return e end)}"),
        _eval("return {xpcall(function() error('x') end, function(e) return e end)}"),
        _eval("return {xpcall(function() return 1, 2 end, tostring)}")],
    "a_coroutine_gets_the_error_of_redis_call_as_raised": [
        _eval("local co = coroutine.create(function() return redis.call('nosuch') end) "
              "local ok, e = coroutine.resume(co) return {tostring(ok), type(e), type(e) == 'table' and e.err or e}"),
        _eval("return coroutine.wrap(function() return redis.call('nosuch') end)()")],
    "locked_tables_refuse_setmetatable_and_show_redis_metatables": [
        _eval("setmetatable(_G, {})"), _eval("local g = getmetatable(_G) g.__index = {}"),
        _eval("return {type(getmetatable(_G)), type(getmetatable(redis)), type(getmetatable(string)), "
              "type(getmetatable(cjson))}"),
        _eval("local t = setmetatable({}, {__index=function() return 5 end}) return {t.x, type(getmetatable(t))}"),
        _eval("setmetatable(redis, {})"), _eval("return {pcall(setmetatable, string, {})}"),
        _eval("redis = function() return 1 end"), _eval("_G = {}"), _eval("redis.call = function() return 1 end"),
        _eval("bit.lshift = function() return 1 end"), _eval("cjson.encode = function() return 1 end")],
    "the_redis_and_library_functions_are_functions": [
        _eval("return {type(redis.call), type(redis.log), type(math.random), type(cjson.encode), type(bit.band), "
              "type(struct.pack), type(cmsgpack.pack), type(redis.setresp), type(redis.sha1hex), type(1), type(nil), "
              "type(''), type({}), type(cjson.null), type(type)}"),
        _eval("local t = type return t(redis.pcall)")],
    "log_level_may_be_a_numeric_string": [
        _eval(f"return {{pcall(redis.log, {level}, 'x')}}") for level in ("'3'", "' 0x3 '", "'3.9'", "'3x'", "'9'")],
}

LIBRARIES = {
    "cjson_encode": _eval("return cjson.encode({1, 2, 'x', {a=1}, true, 0.1, 1e20, -5})"),
    "cjson_encode_object_order": _eval("return cjson.encode({a=1, b='x', c={1, 2}, d=true, e=0.5})"),
    "cjson_escapes": _eval("return cjson.encode('a/b\"c\\\\d\\n\\1\\127')"),
    "cjson_empty_table_is_object": _eval("return cjson.encode({})"),
    "cjson_sparse_array_refused": _eval("return cjson.encode({[1]=1, [20]=3})"),
    "cjson_function_refused": _eval("return cjson.encode(function() end)"),
    "cjson_decode": _eval("local t = cjson.decode('{\"a\":[1,2,{\"b\":null}],\"c\":\"\\\\u00e9x\",\"d\":1.5}') "
                          "return {t.a[2], t.c, tostring(t.d), type(t.a[3].b), cjson.encode(t)}"),
    "cjson_decode_errors": _eval("return {pcall(cjson.decode, '[1,2')}"),
    "cjson_decode_error_raised": _eval("return cjson.decode('{\"a\" 1}')"),
    "cjson_decode_invalid_token": _eval("return cjson.decode('nope')"),
    "cjson_decode_trailing": _eval("return cjson.decode('[1] x')"),
    "cjson_decode_leading_zero": _eval("return cjson.decode('01')"),
    "cjson_decode_strtod_numbers": _eval("local t = cjson.decode('[0x1p4000, -0x1p4000, 1e400, 0x10, 4e-320, -0x.8]') "
                                         "return {tostring(t[1]), tostring(t[2]), tostring(t[3]), t[4], "
                                         "tostring(t[5]), tostring(t[6])}"),
    "cmsgpack_pack": _eval("return cmsgpack.pack({1, 2, 3}, 'abc', {a=1}, -1, 300, 1.5, 0.1, true, -200, 70000)"),
    "cmsgpack_round_trip": _eval("local a, b, c = cmsgpack.unpack(cmsgpack.pack({1, {2, 3}}, 'x', {k='v'})) "
                                 "return {a[2][2], b, c.k}"),
    "bit_operations": _eval("return {bit.band(0xff, 0x0f), bit.bor(1, 2, 4), bit.bxor(5, 3), bit.lshift(1, 31), "
                            "bit.rshift(-1, 28), bit.arshift(-256, 4), bit.tohex(255), bit.tohex(-1, -4), "
                            "bit.bnot(0), bit.tobit(2^32 + 5), bit.rol(1, 33), bit.ror(1, 1), bit.bswap(0x12345678)}"),
    "bit_argument_error": _eval("return bit.band('x')"),
    "struct_pack": _eval("return struct.pack('>I2i4', 258, -1)"),
    "struct_round_trip": _eval("return {struct.unpack('<hBc3', struct.pack('<hBc3', -2, 255, 'abc'))}"),
    "struct_zero_terminated": _eval("return struct.pack('s', 'hi')"),
    "sha1hex": _eval("return {redis.sha1hex(''), redis.sha1hex('abc')}"),
    "redis_version": _eval("return {redis.REDIS_VERSION, redis.REDIS_VERSION_NUM}"),
    "tostring_of_a_float": _eval("return tostring(0.1)"),
    "cjson_configuration": [
        _eval("return {cjson.encode_keep_buffer(), cjson.encode_keep_buffer(false), cjson.encode_keep_buffer('on'), "
              "cjson.encode_max_depth(), cjson.decode_max_depth(), cjson.encode_number_precision(), "
              "cjson.encode_invalid_numbers(), cjson.decode_invalid_numbers(), cjson.encode_sparse_array()}"),
        _eval("cjson.encode_max_depth(1) return {pcall(cjson.encode, {a={1}})}"),
        _eval("cjson.decode_max_depth(1) return {pcall(cjson.decode, '{\"a\":[1]}')}"),
        _eval("cjson.encode_number_precision(3) return cjson.encode({0.123456, 1/3})"),
        _eval("cjson.encode_invalid_numbers(true) return cjson.encode({1/0, -1/0})"),
        _eval("cjson.encode_invalid_numbers('null') return {cjson.encode({1/0}), cjson.encode_invalid_numbers()}"),
        _eval("return {cjson.encode_sparse_array(true, 3, 5), cjson.encode({[1]=1, [20]=3})}"),
        _eval("return {pcall(cjson.encode_max_depth, 0)}"), _eval("return {pcall(cjson.encode_max_depth, 1, 2)}"),
        _eval("return {pcall(cjson.encode_keep_buffer, 'x')}"), _eval("return {pcall(cjson.encode_max_depth, 'x')}"),
        _eval("return {pcall(cjson.encode_keep_buffer, 5)}"), _eval("return cjson.encode_max_depth(0)")],
    "cmsgpack_unpack_one_and_unpack_limit": [
        _eval("local e = cmsgpack.pack({1,2}, 'abc', 5) local o, v = cmsgpack.unpack_one(e, 0) "
              "local o2, v2 = cmsgpack.unpack_one(e, o) local o3, a, b = cmsgpack.unpack_limit(e, 2, o) "
              "return {o, v[2], o2, v2, o3, a, b}"),
        _eval("return {cmsgpack.unpack_one(cmsgpack.pack(1))}"),
        _eval("return {pcall(cmsgpack.unpack_one, 'abc', -1)}"),
        _eval("return {pcall(cmsgpack.unpack_one, 'abc', 10)}"), _eval("return {pcall(cmsgpack.unpack_limit, 'abc')}"),
        _eval("return {pcall(cmsgpack.unpack_limit, 'abc', 'x')}"),
        _eval("return {pcall(cmsgpack.unpack_one)}"), _eval("return cmsgpack.unpack_one('abc', -1)"),
        _eval("return {cmsgpack.unpack_limit(cmsgpack.pack(1,2,3), 0)}"), _eval("return {cmsgpack.unpack_one('')}")],
    "library_argument_errors_name_the_function_as_it_was_called": [
        _eval("return {pcall(bit.band, 'x')}"), _eval("return bit.band('x')"), _eval("local b = bit.bor return b('x')"),
        _eval("return {pcall(struct.pack, 5)}"), _eval("return struct.size('s')"),
        _eval("return {pcall(struct.size, 'c0')}"), _eval("return {pcall(struct.unpack, 'y', 'a')}"),
        _eval("return {pcall(cmsgpack.unpack)}"), _eval("local t = {f=bit.tohex} return t.f('x')")],
}

SCRIPT_CACHE = {
    "script_load_then_evalsha": [["SCRIPT", "LOAD", "return 'loaded'"],
                                 ["EVALSHA", "b534286061d4b9e4026607613b95c06c06015ae8", "0"],
                                 ["EVALSHA", "B534286061D4B9E4026607613B95C06C06015AE8", "0"]],
    "eval_caches_its_script": [_eval("return 1"), ["SCRIPT", "EXISTS", "e0e1f9fabfc9d4800c877a703b823ac0578ff8db",
                                                  "ffffffffffffffffffffffffffffffffffffffff"]],
    "script_flush_forgets": [["SCRIPT", "LOAD", "return 1"], ["SCRIPT", "FLUSH"],
                             ["EVALSHA", "e0e1f9fabfc9d4800c877a703b823ac0578ff8db", "0"],
                             ["SCRIPT", "FLUSH", "ASYNC"], ["SCRIPT", "FLUSH", "bogus"]],
    "script_kill_with_nothing_running": [["SCRIPT", "KILL"], ["FUNCTION", "KILL"]],
    "script_subcommand_errors": [["SCRIPT", "FOO"], ["SCRIPT", "LOAD"], ["SCRIPT", "EXISTS"]],
    "script_load_compile_error": [["SCRIPT", "LOAD", "return +"]],
    "eval_ro_refuses_writes": [["EVAL_RO", "return redis.call('set', 'x', 1)", "0"],
                               ["EVAL_RO", "return redis.call('get', 'x')", "0"],
                               ["EVAL_RO", "return redis.call('publish', 'c', 'm')", "0"]],
    "shebang_no_writes": [_eval("#!lua flags=no-writes\nreturn redis.call('set', 'x', 1)"),
                          _eval("#!lua flags=no-writes\nreturn redis.call('get', 'x')"),
                          ["EVAL_RO", "#!lua\nreturn redis.call('get', 'x')", "0"],
                          _eval("#!lua flags=no-writes,allow-oom\nreturn 1")],
    "shebang_errors": [_eval("#!lua flags=bogus\nreturn 1"), _eval("#!python\nreturn 1"),
                       _eval("#!lua foo=bar\nreturn 1"), _eval("#!lua"), _eval("#!lua\nreturn x")],
    "scripts_in_a_transaction": [["MULTI"], _eval("return redis.call('incr', 'm')"), ["EXEC"]],
    # serve remembers what its checks decide per spelling of a name: every call is still checked alike
    "redis_call_checks_every_call_whatever_the_spelling": [
        ["EVAL_RO", "return {redis.pcall('get', 'x'), redis.pcall('SET', 'x', 1), redis.pcall('set', 'x', 1), "
                    "redis.pcall('SeT', 'x', 1), redis.pcall('GET', 'x'), redis.pcall('publish', 'c', 'm')}", "0"],
        _eval("return {redis.pcall('set', 'x', 1), redis.pcall('get'), redis.pcall('GET', 'x', 'y'), "
              "redis.pcall('set', 'x'), redis.pcall('get', 'x')}"),
        _eval("return {redis.pcall('config', 'help')[1], redis.pcall('config', 'get', 'maxmemory'), "
              "redis.pcall('CONFIG', 'HELP')[1], redis.pcall('config', 'nosuch')}"),
        ["EVAL_RO", "return {redis.pcall('xgroup', 'help')[1], redis.pcall('xgroup', 'create', 's', 'g', '$', "
                    "'MKSTREAM'), redis.pcall('XGROUP', 'HELP')[1]}", "0"]],
}

LIBRARY = ("#!lua name=lib1\n"
           "redis.register_function('echo', function(keys, args) return {keys[1], args[1]} end)\n"
           "redis.register_function{function_name='setter', callback=function(keys, args) "
           "return redis.call('set', keys[1], args[1]) end}\n"
           "redis.register_function{function_name='getter', callback=function(keys) "
           "return redis.call('get', keys[1]) end, flags={'no-writes'}}\n"
           "redis.register_function('broken', function() return x end)\n")
FUNCTIONS = {
    "fcall_of_registered_functions": [["FUNCTION", "LOAD", LIBRARY], ["FCALL", "echo", "1", "a", "b"],
                                      ["FCALL", "setter", "1", "fk", "fv"], ["FCALL", "getter", "1", "fk"],
                                      ["FCALL", "broken", "0"]],
    "fcall_ro_follows_the_no_writes_flag": [["FUNCTION", "LOAD", LIBRARY], ["FCALL_RO", "setter", "1", "k", "v"],
                                            ["FCALL_RO", "getter", "1", "k"]],
    "fcall_errors": [["FUNCTION", "LOAD", LIBRARY], ["FCALL", "nosuch", "0"], ["FCALL", "echo", "x"],
                     ["FCALL", "echo", "5", "a"], ["FCALL", "echo", "-1"]],
    "function_stats_and_kill": [["FUNCTION", "LOAD", LIBRARY], ["FUNCTION", "STATS"], ["FUNCTION", "KILL"]],
    "function_load_errors": [["FUNCTION", "LOAD", "#!lua name=lib2\nreturn 1"],
                             ["FUNCTION", "LOAD", "#!lua name=lib3\nredis.register_function('g', function() end) +"],
                             ["FUNCTION", "LOAD", "#!lua name=lib4\nredis.call('ping')"],
                             ["FUNCTION", "LOAD", "#!lua name=lib5\nlocal s = string.rep('x', 2)"]],
    "function_load_refusals": [
        ["FUNCTION", "LOAD", LIBRARY], ["FUNCTION", "LOAD", "#!lua name=lib2\nredis.register_function('echo', "
                                                           "function() return 2 end)"],
        ["FUNCTION", "LOAD", "#!lua name=lib-3\nredis.register_function('x', function() end)"],
        ["FUNCTION", "LOAD", "#!lua name=lib4\nredis.register_function('bad-name', function() end)"],
        ["FUNCTION", "LOAD", "#!lua name=lib5\nredis.register_function('a', function() end)\n"
                             "redis.register_function('a', function() end)"],
        ["FUNCTION", "LOAD", "#!lua name=lib6\nredis.register_function{function_name='f', callback=function() end, "
                             "flags={'bogus'}}"],
        ["FUNCTION", "LOAD", "#!lua name=lib7\nredis.register_function{function_name='f', callback=function() end, "
                             "what=1}"],
        ["FUNCTION", "LOAD", "#!lua name=lib8\nredis.register_function('f')"],
        ["FUNCTION", "LOAD", "#!lua name=lib9\nredis.register_function(1, 2)"],
        ["FUNCTION", "LOAD", "#!lua name=lib10\nredis.register_function{callback=function() end}"],
        ["FUNCTION", "LOAD", "#!lua name=lib1\nredis.register_function('z', function() end)"],
        ["FUNCTION", "LOAD", "#!lua\nreturn 1"], ["FUNCTION", "LOAD", "#!js name=x\nreturn 1"],
        ["FUNCTION", "LOAD", "no shebang"], ["FUNCTION", "LOAD", "#!lua name=a name=b\n"],
        ["FUNCTION", "LOAD", "#!lua name=a foo=b\n"]],
    "function_list_shows_flags_and_descriptions": [
        ["FUNCTION", "LOAD", "#!lua name=only\nredis.register_function{function_name='getter', description='gets', "
                             "callback=function() return 1 end, flags={'allow-oom', 'no-writes'}}"],
        ["FUNCTION", "LIST"], ["FUNCTION", "LIST", "WITHCODE"], ["FUNCTION", "LIST", "LIBRARYNAME", "nomatch*"],
        ["FUNCTION", "LOAD", "REPLACE", "#!lua name=only\nredis.register_function('other', function() end)"],
        ["FUNCTION", "LIST"]],
    "functions_gone_after_delete": [["FUNCTION", "LOAD", LIBRARY], ["FUNCTION", "DELETE", "lib1"],
                                    ["FCALL", "echo", "0"]],
}


@pytest.mark.parametrize("protocol", [2, 3])
@pytest.mark.parametrize("name", sorted(CONVERSIONS))
def test_script_return_values_convert_as_redis_converts_them(pair, name, protocol):
    assert_same_replies(pair, [CONVERSIONS[name]], protocol)


@pytest.mark.parametrize("protocol", [2, 3])
@pytest.mark.parametrize("name", sorted(CALL_REPLIES))
def test_command_replies_reach_the_script_as_redis_gives_them(pair, name, protocol):
    assert_same_replies(pair, CALL_REPLIES[name], protocol)


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_script_errors_have_redis_texts_and_positions(pair, name):
    commands = ERRORS[name]
    assert_same_replies(pair, commands if isinstance(commands[0], list) else [commands])


@pytest.mark.parametrize("name", sorted(CAUGHT))
def test_errors_caught_in_scripts_and_helper_checks_as_in_redis(pair, name):
    assert_same_replies(pair, CAUGHT[name])


@pytest.mark.parametrize("name", sorted(LIBRARIES))
def test_the_built_in_lua_libraries_answer_as_redis_ones(pair, name):
    commands = LIBRARIES[name]
    assert_same_replies(pair, commands if isinstance(commands[0], list) else [commands])


@pytest.mark.parametrize("name", sorted(SCRIPT_CACHE))
def test_script_cache_flags_and_read_only_runs_as_in_redis(pair, name):
    assert_same_replies(pair, SCRIPT_CACHE[name])


@pytest.mark.parametrize("protocol", [2, 3])
@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_fcall_runs_the_stored_libraries_as_redis_does(pair, name, protocol):
    assert_same_replies(pair, FUNCTIONS[name], protocol)


def _as_sessions(cases: dict[str, list]) -> dict[str, list[list]]:
    """Cases that are one command or a list of them, each as a list of commands."""
    return {name: c if isinstance(c[0], list) else [c] for name, c in cases.items()}


#: Valkey's Lua walks a table's keys in another order than Redis's (and lupa's) Lua 5.1
_ORDER_OF_KEYS = ("cjson_encode_object_order",)
#: Redis 8.2 answers a raised error's newline as it is, which breaks the protocol (serve makes it a space)
_RAW_NEWLINES = ("a_raised_error_with_newlines_is_flattened",)


@pytest.mark.parametrize("target", ["redis-8.2", "valkey-8.1", "valkey-9.1"])
def test_scripts_answer_as_newer_targets_where_versions_differ(target):
    """Every case above, against newer servers: numbers given to redis.call printed shortest (7.2+),
    blocking commands run without blocking (7.2+), "Invalid log level." (7.4+, Valkey); Valkey's texts
    without "Redis", REDIS_VERSION 7.2.4, its shebang engine error, function names checked after the
    library ran; Valkey 9's error places without the script's name."""
    named = {**{k: [c] for k, c in CONVERSIONS.items()}, **_as_sessions(ERRORS), **_as_sessions(LIBRARIES),
             **SCRIPT_CACHE, **FUNCTIONS, **CALL_REPLIES, **CAUGHT}
    differing = () if scripting_accelerated() else NEEDS_THE_SCRIPTING_ACCELERATOR  # (their own tests expect it)
    cases = [c for name, c in named.items() if not (target.startswith("valkey") and name in _ORDER_OF_KEYS)
             and not (target == "redis-8.2" and name in _RAW_NEWLINES) and name not in differing]
    with start_server(target) as real, start_serve("--target", target) as served:
        for commands in cases:
            for protocol in (2, 3):
                assert_same_replies((real, served), commands, protocol)


def test_math_random_follows_redis_sequence():
    """math.random is Redis's own generator, its state kept from script to script (fresh servers)."""
    script = _eval("return {tostring(math.random()), math.random(10), math.random(3, 7)}")
    with start_server(SERVER) as real, start_serve("--target", SERVER) as served:
        assert [RawReplies(served.port).call(script) for _ in range(3)] == \
            [RawReplies(real.port).call(script) for _ in range(3)]


# --- random return values ---------------------------------------------------------------------------

_scalar = st.one_of(
    st.integers(-(2**53), 2**53).map(str), st.floats(-1e15, 1e15, allow_nan=False).map(repr),
    st.sampled_from(["true", "false", "nil", "'s'", "''", "{ok='fine'}", "{err='E x'}", "{double=1.5}",
                     "redis.status_reply('S')", "{big_number='12'}", "{map={a=1}}", "{set={b=true}}"]),
)
_lua_value = st.recursive(_scalar, lambda inner: st.lists(inner, max_size=4).map(
    lambda items: "{" + ", ".join(items) + "}"), max_leaves=12)


@pytest.mark.parametrize("protocol", [2, 3])
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=_lua_value, resp3_inside=st.booleans())
@example(value="{1, nil, 3}", resp3_inside=False)
@example(value="{{err='E x'}, {ok='fine'}, 2.5}", resp3_inside=True)
def test_random_return_values_convert_as_in_redis(pair, protocol, value, resp3_inside):
    script = ("redis.setresp(3) " if resp3_inside else "") + f"return {value}"
    assert_same_replies(pair, [_eval(script)], protocol)


# --- redis.call's checks and the accounting of its errors ---------------------------------------------

#: calls a script makes of key k (a string, a number or nothing): reads, writes, errors of the command,
#: refusals of redis.call (arity, unknown, not allowed from scripts, read-only scripts), replication modes
_SCRIPT_CALLS = st.sampled_from([
    "redis.call('set', KEYS[1], ARGV[1])", "redis.call('get', KEYS[1])", "redis.call('incr', KEYS[1])",
    "redis.pcall('incr', KEYS[1])", "redis.call('lpush', KEYS[1], 'x')", "redis.call('del', KEYS[1])",
    "redis.call('set', KEYS[1])", "redis.call('nosuch')", "redis.call('multi')", "redis.pcall('publish', 'c', 'm')",
    "redis.set_repl(redis.REPL_NONE)", "redis.call('SET', KEYS[1], ARGV[1])", "redis.pcall('get', KEYS[1], 'x')",
])
_SCRIPT_RUNS = st.lists(st.tuples(st.sampled_from(["EVALSHA", "EVALSHA_RO", "EVAL", "EVAL_RO"]),
                                  st.sampled_from(["", "#!lua\n", "#!lua flags=no-writes\n"]),
                                  st.lists(_SCRIPT_CALLS, min_size=1, max_size=3), st.sampled_from(["1", "v"])),
                        min_size=1, max_size=6)
_TIMES = re.compile(rb"usec=\d+,usec_per_call=[\d.]+,")


def scripts_calling(runs: list[tuple[str, str, list[str], str]]) -> list[list[str]]:
    """The commands of runs of scripts with key k (a script for EVALSHA loaded first), then what INFO counts
    of them (errors by code, each command's calls, refusals and failures)."""
    commands = [["CONFIG", "RESETSTAT"]]
    for command, shebang, calls, argument in runs:
        body = shebang + "local r = nil " + " ".join(f"r = {call}" for call in calls) + " return r"
        if command.startswith("EVALSHA"):
            commands.append(["SCRIPT", "LOAD", body])
            body = hashlib.sha1(body.encode()).hexdigest()
        commands.append([command, body, "1", "k", argument])
    return [*commands, ["INFO", "errorstats"], ["INFO", "commandstats"]]


def counted(info: bytes) -> list[bytes]:
    """INFO's lines without commandstats' times (they differ from run to run), in an order of their own
    (Redis lists commands in its table's)."""
    return sorted(_TIMES.sub(b"", info).split(b"\r\n")[1:])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(runs=_SCRIPT_RUNS)
@example(runs=[("EVALSHA", "", ["redis.call('set', KEYS[1], ARGV[1])"], "v"),
               ("EVALSHA_RO", "", ["redis.call('set', KEYS[1], ARGV[1])"], "v"),
               ("EVALSHA", "#!lua flags=no-writes\n", ["redis.call('get', KEYS[1])"], "1")])
@example(runs=[("EVALSHA", "", ["redis.call('set', KEYS[1], ARGV[1])", "redis.call('incr', KEYS[1])"], "v"),
               ("EVALSHA", "", ["redis.pcall('incr', KEYS[1])"], "v"),
               ("EVALSHA", "", ["redis.call('set', KEYS[1])", "redis.call('nosuch')"], "1")])
@example(runs=[("EVALSHA", "", ["redis.set_repl(redis.REPL_NONE)", "redis.call('set', KEYS[1], ARGV[1])"], "1"),
               ("EVALSHA_RO", "", ["redis.pcall('publish', 'c', 'm')", "redis.call('multi')"], "1")])
def test_calls_of_scripts_are_checked_and_counted_as_in_redis(pair, runs):
    """What redis.call lets a script call, and what INFO errorstats and commandstats count of the runs."""
    real, served = pair
    commands = scripts_calling(runs)
    theirs, ours = (_replies(server.port, commands, 2) for server in (real, served))
    assert ours[:-2] == theirs[:-2]
    assert [counted(info) for info in ours[-2:]] == [counted(info) for info in theirs[-2:]]


# --- persistence ---------------------------------------------------------------------------------

SCRIPTED_WRITES = [
    ["SCRIPT", "LOAD", "return redis.call('set', KEYS[1], ARGV[1])"],
    ["EVAL", "redis.call('set', KEYS[1], ARGV[1]) return redis.call('incr', KEYS[2])", "2", "a", "n", "v"],
    ["EVAL", "return redis.call('set', KEYS[1], 'one')", "1", "single"],
    ["EVAL", "redis.call('select', 3) redis.call('rpush', 'l', 'x', 'y') return redis.call('lpop', 'l')", "0"],
    ["EVAL", "redis.set_repl(redis.REPL_NONE) redis.call('set', 'unlogged', '1') "
             "redis.set_repl(redis.REPL_ALL) return redis.call('set', 'logged', '1')", "0"],
    ["EVAL", "return redis.call('get', 'a')", "0"],
    ["EVAL", "redis.call('hset', 'h', 'f', 'v') redis.call('expire', 'h', 100) return 1", "0"],
    ["FUNCTION", "LOAD", LIBRARY],
    ["FCALL", "setter", "1", "fk", "fv"],
    ["MULTI"], ["EVAL", "redis.call('set', 't1', 1) return redis.call('set', 't2', 2)", "0"], ["SET", "t3", "3"],
    ["EXEC"],
]


def test_script_effects_rebuild_the_keyspace_in_redis_7():
    """The AOF serve writes for scripts (their effects, MULTI/EXEC around several) loads in Redis 7.0
    with what serve held."""
    rebuilt = [args for args in SCRIPTED_WRITES if "set_repl" not in " ".join(args)]  # REPL_NONE: held, not appended
    _check_the_aof_rebuilds([[a.encode() for a in args] for args in rebuilt], SERVER)


@pytest.mark.parametrize("target", ["redis-6.2", "redis-7.0", "redis-8.2", "valkey-8.1", "valkey-9.1"])
def test_serve_appends_for_scripts_what_its_target_appends(target):
    """Byte for byte what each target appends for the same scripts: their effects, MULTI/EXEC around
    several (Redis 6.2: around any); SCRIPT LOAD appends nothing."""
    aof = "appendonly.aof" if target == "redis-6.2" else "appendonlydir"
    commands = [args for args in SCRIPTED_WRITES if target != "redis-6.2" or args[0] not in ("FUNCTION", "FCALL")]
    with start_server(target, extra=("--appendonly", "yes", "--appendfsync", "always")) as real:
        theirs = _sent_and_appended(real.port, real.dir / aof, commands)
    with start_serve("--appendonly", "yes", "--appendfsync", "always", "--target", target) as serving:
        ours = _sent_and_appended(serving.port, serving.dir / aof, commands)
    assert ours == theirs


# --- client helpers --------------------------------------------------------------------------------

def _client_helpers(client: redis.Redis) -> list:
    """redis-py's Lock (acquire, extend, reacquire, release are Lua scripts) and register_script."""
    results = []
    lock = client.lock("resource", timeout=10)
    results.append(lock.acquire(blocking=False))
    results.append(client.lock("resource", timeout=10).acquire(blocking=False))
    results.append(lock.extend(5))
    results.append(client.pttl("resource") > 10_000)
    results.append(lock.reacquire())
    results.append(lock.owned())
    lock.release()
    results.append(client.exists("resource"))
    with pytest.raises(redis.exceptions.LockError):
        lock.release()
    multiply = client.register_script("return tonumber(redis.call('get', KEYS[1]) or 1) * tonumber(ARGV[1])")
    client.set("base", 6)
    results.append(multiply(keys=["base"], args=[7]))
    client.script_flush()
    results.append(multiply(keys=["base"], args=[2]))  # NOSCRIPT: redis-py loads it again
    return results


def test_redis_py_lock_and_register_script_work_as_against_redis(pair):
    real, served = pair
    for server in (real, served):
        server.client().flushall()
    assert _client_helpers(served.client()) == _client_helpers(real.client())


# --- a long script: BUSY, SCRIPT KILL, FUNCTION KILL --------------------------------------------------

LOOP_LIBRARY = ("#!lua name=looping\n"
                "redis.register_function{function_name='spin', callback=function() while true do end end, "
                "flags={'no-writes'}}")


def _busy_scenario(port: int) -> list[bytes]:
    """A script past busy-reply-threshold (200 ms): another connection gets BUSY, kills it (a script
    that wrote cannot be killed), a pcall cannot swallow the kill, nor can a cached script run by EVALSHA
    escape it; then a function and FUNCTION KILL."""
    runner, other = RawReplies(port), RawReplies(port)
    seen = [runner.call(["PING"]), other.call(["PING"]), other.call(["FUNCTION", "LOAD", LOOP_LIBRARY])]

    def running(args: list[str], then: list[list[str]]) -> None:
        runner.sock.sendall(hiredis.pack_command(tuple(a.encode() for a in args)))
        time.sleep(0.6)
        seen.extend(other.call(command) for command in then)
        seen.append(runner.read())

    running(["EVAL", "local i = 0 while true do i = i + 1 end", "0"],
            [["PING"], ["GET", "x"], ["MULTI"], ["SET", "x", "1"], ["EXEC"], ["AUTH", "nopass"],
             ["WATCH", "x"], ["UNWATCH"], ["FUNCTION", "STATS"], ["FUNCTION", "KILL"], ["SCRIPT", "KILL"]])
    seen.extend([other.call(["PING"]), other.call(["SCRIPT", "KILL"])])
    running(["EVAL", "while true do pcall(function() while true do end end) end", "0"], [["SCRIPT", "KILL"]])
    spin = other.call(["SCRIPT", "LOAD", "while true do end"]).split(b"\r\n")[1].decode()
    running(["EVALSHA", spin, "0"], [["PING"], ["SCRIPT", "KILL"]])  # (a cached script: the accelerator's run)
    running(["EVAL", "redis.call('set', 'w', 1) local s = tonumber(redis.call('time')[1]) "
                     "while tonumber(redis.call('time')[1]) < s + 2 do end return 'done'", "0"],
            [["SCRIPT", "KILL"], ["GET", "w"]])
    running(["FCALL", "spin", "0"], [["PING"], ["SCRIPT", "KILL"], ["FUNCTION", "KILL"]])
    return seen


def test_a_long_script_gets_busy_replies_and_kills_as_in_redis():
    with start_server(SERVER, extra=("--busy-reply-threshold", "200")) as real:
        theirs = _busy_scenario(real.port)
    with start_serve("--target", SERVER, "--busy-reply-threshold", "200") as served:
        ours = _busy_scenario(served.port)
    assert ours == theirs


def cached_scripts(port: int) -> list[bytes]:
    """INFO memory's number_of_cached_scripts as scripts are loaded, run and flushed."""
    client, seen = RawReplies(port), []
    for args in (["SCRIPT", "FLUSH"], ["SCRIPT", "LOAD", "return 1"], ["SCRIPT", "LOAD", "return 2"],
                 ["EVAL", "return 3", "0"], ["EVAL", "return 3", "0"], ["SCRIPT", "FLUSH", "ASYNC"]):
        client.call(args)
        info = client.call(["INFO", "memory"])
        seen.append(next(line for line in info.split(b"\r\n") if line.startswith(b"number_of_cached_scripts:")))
    client.close()
    return seen


def test_info_memory_counts_the_cached_scripts(pair):
    real, served = pair
    assert cached_scripts(served.port) == cached_scripts(real.port)


def _recursive_reply(port: int) -> tuple:
    """What a script returning a table that holds itself answers: arrays of one, nested until Redis's
    "reached lua stack limit" (serve stops sooner), then the connection answers on."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=PROCESS_TIMEOUT)
    sock.sendall(hiredis.pack_command((b"EVAL", b"local a = {}; local b = {a}; a[1] = b; return a", b"0")))
    data = b""
    while not data.endswith(b"limit\r\n"):
        data += sock.recv(65536)
    lines = data.split(b"\r\n")[:-1]
    sock.sendall(hiredis.pack_command((b"PING",)))
    pong = sock.recv(100)
    sock.close()
    return set(lines[:-1]), lines[-1], pong


def test_a_table_holding_itself_is_cut_by_the_stack_limit_and_the_connection_lives(pair):
    real, served = pair
    assert _recursive_reply(served.port) == _recursive_reply(real.port)
