"""Data-command behaviours Redis's own test suite found serve getting wrong, each as a script sent to a
real Redis 7.0 and to the engine: the same replies (errors to the letter) and the same keyspace."""

from __future__ import annotations

import pytest

from tests.keyspace.test_data_commands_vs_server import assert_same, server  # noqa: F401 (a fixture)

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
