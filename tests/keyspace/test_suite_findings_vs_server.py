"""Data-command behaviours Redis's own test suite found serve getting wrong, each as a script sent to a
real Redis 7.0 and to the engine: the same replies (errors to the letter) and the same keyspace."""

from __future__ import annotations

import pytest

from tests.keyspace.test_data_commands_vs_server import assert_same, run_both, server  # noqa: F401 (a fixture)

SCRIPTS = {
    "a_range_option_the_command_name_fixes_or_an_earlier_option_set_is_a_syntax_error": [
        "ZADD z 1 a 2 b 3 c", "ZREVRANGE z 0 -1 BYSCORE", "ZREVRANGE z 0 -1 REV", "ZRANGEBYSCORE z 0 -1 REV",
        "ZRANGEBYSCORE z 0 5 BYLEX", "ZRANGEBYLEX z - + BYSCORE", "ZREVRANGEBYLEX z + - REV",
        "ZRANGE z 0 -1 REV REV", "ZRANGE z 0 5 BYSCORE BYLEX", "ZRANGE z 0 5 BYSCORE BYSCORE",
        "ZRANGE z 0 5 BYSCORE REV", "ZRANGE z 5 0 BYSCORE REV LIMIT 0 1 WITHSCORES",
        "ZRANGEBYSCORE z 0 5 WITHSCORES LIMIT 1 1", "ZREVRANGE z 0 -1 LIMIT 0 1", "ZRANGEBYLEX z - + WITHSCORES",
        "ZRANGESTORE d z 0 -1 WITHSCORES", "ZRANGESTORE d z 0 5 BYSCORE BYLEX", "ZRANGESTORE d z 0 -1 REV"],
    "srandmember_reads_its_count_in_minus_to_plus_long_max_before_the_key": [
        "SADD s a b", "SET str x", "SRANDMEMBER s -9223372036854775808", "SRANDMEMBER str -9223372036854775808",
        "SRANDMEMBER str x", "SRANDMEMBER missing x", "SRANDMEMBER s 1 2", "SRANDMEMBER missing 5",
        "SRANDMEMBER s 0", "SRANDMEMBER str 1"],
}


@pytest.mark.parametrize("script", SCRIPTS.values(), ids=SCRIPTS)
def test_scripts_get_the_replies_and_keyspace_redis_gives(server, script):  # noqa: F811
    assert_same(server, script)


#: scripts whose keyspace holds the server's own clock (a consumer's seen and active times): replies only
REPLIES = {
    "xgroup_setid_and_xautoclaim_take_minus_and_plus_where_xgroup_create_does_not": [
        "XADD s 1-1 f v", "XADD s 2-1 f v", "XGROUP CREATE s g 0", "XGROUP CREATE s g2 -", "XGROUP CREATE s g3 +",
        "XREADGROUP GROUP g c STREAMS s >", "XAUTOCLAIM s g c2 0 - COUNT 1", "XAUTOCLAIM s g c2 0 + JUSTID",
        "XGROUP SETID s g -", "XINFO GROUPS s", "XGROUP SETID s g +", "XINFO GROUPS s", "XGROUP SETID s g (1"],
    "xinfo_consumers_of_a_missing_key_or_group": [
        "XINFO CONSUMERS nokey g", "XADD s 1-1 f v", "XINFO CONSUMERS s g", "SET str v", "XINFO CONSUMERS str g",
        "XINFO GROUPS nokey"],
    "xautoclaim_checks_its_arguments_before_the_key_and_group": [
        "XAUTOCLAIM nokey g c 10 0-0 COUNT 0", "XAUTOCLAIM nokey g c 10 0-0 COUNT x", "XAUTOCLAIM nokey g c x 0-0",
        "XAUTOCLAIM nokey g c 10 0-0 BAD", "XAUTOCLAIM nokey g c -1 0-0", "XAUTOCLAIM nokey g c 10 zz",
        "XAUTOCLAIM nokey g c 10 0 COUNT 9223372036854775807", "XAUTOCLAIM nokey g c 10 0 COUNT 922337203685477580",
        "XAUTOCLAIM nokey g c 10 0 COUNT 576460752303423487", "XAUTOCLAIM nokey g c 10 0 COUNT 576460752303423488"],
}


@pytest.mark.parametrize("script", REPLIES.values(), ids=REPLIES)
def test_scripts_get_the_replies_redis_gives(server, script):  # noqa: F811
    mismatches, _, client = run_both(server, script)
    client.sock.close()
    assert mismatches == []
