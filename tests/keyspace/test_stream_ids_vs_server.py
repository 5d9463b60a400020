"""Stream ids at their limits and range bounds, in the engine against a real Redis 7.0: the replies (errors
to the letter) and the keyspace the same."""

from __future__ import annotations

import pytest

from tests.keyspace.test_data_commands_vs_server import assert_same, run_both, server  # noqa: F401 (a fixture)
from tests.servers import start_server

MAX = "18446744073709551615"
SCRIPTS = {
    "after_the_largest_sequence_an_automatic_id_moves_to_the_next_ms": [
        f"XADD s 2577343934890-{MAX} f v", "XADD s * f2 v2", "XRANGE s - +", f"XADD t 5-{MAX} f v", "XADD t 5-* f v",
        "XADD t 6-* f v", "XRANGE t - +"],
    "a_stream_at_the_largest_id_takes_no_more_entries": [
        f"XADD s {MAX}-{MAX} a b", "XADD s * c d", f"XADD s {MAX}-* c d", f"XADD s {MAX}-{MAX} c d", "XLEN s",
        "XADD s MAXLEN 0 * c d", "XLEN s"],
    "an_exclusive_start_at_the_largest_id_or_end_at_0_0_is_refused": [
        "XADD v 0-1 foo bar", f"XADD v {MAX}-{MAX} foo bar", f"XRANGE v ({MAX}-{MAX} +", "XRANGE v - (0-0",
        f"XREVRANGE v (0-0 ({MAX}-{MAX}", "XREVRANGE v + (0-0", f"XRANGE v ({MAX}-{MAX} (0-0", "XRANGE v (- +",
        "XRANGE v - (+", f"XRANGE v ({MAX} +", "XRANGE v - (0", "XRANGE v (0 (1", "XRANGE missing - (0-0",
        "XRANGE v ( +", f"XRANGE v (0-{MAX} (1-0"],
}
#: the consumer's seen and active times are the server's clock: replies compared, not the keyspace
REPLIES = {
    "xpending_reads_count_then_start_and_end_before_the_key_and_group": [
        "XPENDING nokey g - + x", "XPENDING nokey g (- + 1", f"XPENDING nokey g ({MAX}-{MAX} + 1",
        "XPENDING nokey g - (0-0 1", "XPENDING nokey g - + 1", "XPENDING nokey g IDLE 5 - +", "XPENDING nokey g - +",
        "XPENDING nokey g IDLE x - + 1", "XADD s 1-1 f v", "XGROUP CREATE s g 0", "XREADGROUP GROUP g c STREAMS s >",
        "XPENDING s g - + -5", "XPENDING s g IDLE 100000 - + 10 c", "XPENDING s g - + 10 nobody extra",
        "XPENDING s g IDLE 0 - + 10 c x y", f"XPENDING s g IDLE 100000 (0-0 ({MAX}-{MAX} 10"],
}


@pytest.mark.parametrize("script", SCRIPTS.values(), ids=SCRIPTS)
def test_stream_id_scripts_get_the_replies_and_keyspace_redis_gives(server, script):  # noqa: F811
    assert_same(server, script)


@pytest.mark.parametrize("script", REPLIES.values(), ids=REPLIES)
def test_stream_id_scripts_get_the_replies_redis_gives(server, script):  # noqa: F811
    mismatches, _, client = run_both(server, script)
    client.sock.close()
    assert mismatches == []


def test_redis_6_2_takes_no_ms_star_id():
    """XADD's "ms-*" came with Redis 7.0: 6.2 refuses it as an invalid id, also behind trimming options."""
    with start_server("redis-6.2") as running:
        assert_same(running, ["XADD s 5-* f v", "XADD s MAXLEN 1 5-* f v", "XADD s 5-1 f v", "XADD s 5-* f v",
                              "XRANGE s - +"], "redis-6.2")
