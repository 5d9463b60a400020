"""INFO errorstats, commandstats and the stats counters of calls and errors, against the real Redis 7.0:
what failed, what was refused before it ran, and what CONFIG RESETSTAT zeroes."""

from __future__ import annotations

import re

import pytest

from tests.resp_client import RawClient
from tests.server.serving import start_serve
from tests.servers import start_server

SERVER = "redis-7.0"
_TIMES = re.compile(rb"usec=\d+,usec_per_call=[\d.]+")


@pytest.fixture(scope="module")
def pair():
    with start_server(SERVER) as real, start_serve("--target", SERVER) as served:
        yield real.port, served.port


def _counters(port: int, script: list[list[str]]) -> dict[str, object]:
    """The script's replies, then the sections INFO gives of them (times left out: serve does not
    time commands)."""
    client = RawClient(port)
    client.call(["CONFIG", "RESETSTAT"])
    replies = [_plain(client.call(args)) for args in script]
    sections = {}
    for section in ("errorstats", "commandstats"):
        lines = client.call(["INFO", section]).split(b"\r\n")
        sections[section] = sorted(_TIMES.sub(b"usec", line) for line in lines if b":" in line)
    stats = dict(line.split(b":", 1) for line in client.call(["INFO", "stats"]).split(b"\r\n") if b":" in line)
    client.sock.close()
    return {"replies": replies, **sections,
            "stats": {k: stats[k] for k in (b"total_commands_processed", b"total_error_replies")}}


def _plain(reply):
    if isinstance(reply, Exception):
        return ("error", str(reply))
    return [_plain(r) for r in reply] if isinstance(reply, list) else reply


SCRIPTS = {
    "a_failed_call_counts_its_error_and_a_refused_one_is_a_rejected_call": [
        ["AUTH", "k"], ["GET"], ["NOSUCH", "x"], ["SET", "a", "b"], ["INCR", "a"], ["CONFIG", "GET", "hz"]],
    "a_call_failing_inside_exec_is_counted_for_itself_not_for_exec": [
        ["MULTI"], ["SET", "a", "b"], ["AUTH", "a"], ["EXEC"], ["EXEC"]],
    "an_error_word_names_its_own_errorstat": [
        ["EVALSHA", "NotValidShaSUM", "0"], ["XGROUP", "CREATECONSUMER", "s", "g", "c"],
        ["SET", "k", "v"], ["LPUSH", "k", "x"]],
    "a_script_call_counts_for_the_command_it_calls": [
        ["SET", "k", "v"], ["EVAL", "redis.pcall('INCR', KEYS[1]) return 1", "1", "k"], ["EVAL", "a"]],
    "a_script_answering_an_error_fails_and_a_command_s_error_is_counted_once": [
        ["EVAL", "return redis.error_reply('MY err')", "0"], ["EVAL", "return {err='X bad'}", "0"],
        ["EVAL", "return redis.call('lpush', 's', 'x')", "0"], ["SET", "s", "v"],
        ["EVAL", "return redis.pcall('lpush', 's', 'x')", "0"], ["EVAL", "return redis.call('lpush', 's', 'x')", "0"],
        ["EVAL", "error('boom')", "0"], ["EVAL", "return 1", "0"], ["EVAL", "error({err='TBL x'})", "0"]],
    "an_error_word_not_ending_in_32_bytes_is_err_and_a_colon_is_shown_as_an_underscore": [
        ["EVAL", "return {err='" + "W" * 31 + " x'}", "0"], ["EVAL", "return {err='" + "V" * 30 + " x'}", "0"],
        ["EVAL", "return {err='nospace'}", "0"], ["EVAL", "return {err='a:b c'}", "0"]],
    "an_unknown_command_with_newlines_in_its_arguments": [["NOSUCH", "a\nb", "c\r\nd"]],
}


def test_errorstats_are_listed_in_the_order_of_their_codes(pair):
    script = [["SET", "s", "v"], ["LPUSH", "s", "x"], ["EVAL", "return redis.error_reply('ZED z')", "0"],
              ["GET"], ["EVAL", "return redis.error_reply('ABC a')", "0"]]
    orders = []
    for port in pair:
        client = RawClient(port)
        client.call(["CONFIG", "RESETSTAT"])
        for args in script:
            client.call(args)
        orders.append(client.call(["INFO", "errorstats"]))
    assert orders[1] == orders[0]


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_info_counts_calls_and_errors_as_the_server(pair, name):
    real, served = pair
    assert _counters(served, SCRIPTS[name]) == _counters(real, SCRIPTS[name])


def test_info_all_adds_commandstats_after_modules(pair):
    real, served = pair
    headings = [[line for line in RawClient(port).call(["INFO", "all"]).split(b"\r\n") if line.startswith(b"#")]
                for port in (real, served)]
    assert [h for h in headings[1] if h != b"# Latencystats"] == [h for h in headings[0] if h != b"# Latencystats"]
