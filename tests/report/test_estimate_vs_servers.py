"""The memory estimate against the real servers: every key of a corpus of every type, encoding and size class
(tests/report/memory_corpus.py), loaded by each server from the RDB file it wrote, estimated from that file
as the report estimates it and compared with the server's MEMORY USAGE key SAMPLES 0."""

from __future__ import annotations

import pytest

from tests.report.memory_corpus import corpus, dataset_error, errors, measure
from tests.servers import SERVERS

SCALE = 3  # copies of each kind of key: about 220 keys a server


@pytest.fixture(scope="module", params=list(SERVERS))
def measured(request):
    return measure(request.param, corpus(request.param, SCALE))


def test_each_keys_estimate_is_within_the_goal_of_the_servers_memory_usage(measured):
    """Per server, over all keys and over each type's: the median of |estimate - MEMORY USAGE| / MEMORY USAGE
    at most 2%, its 95th percentile at most 10% (the issue's goal)."""
    assert errors(measured)["all"][0] >= 200
    _within_the_goal(measured)


def _within_the_goal(measured) -> None:
    _, median, p95 = errors(measured)["all"]  # the goal: over a server's keys (a type of 24 small sets
    assert median <= 0.02 and p95 <= 0.10, (measured.server, errors(measured))  # swings with glibc's chunks)


def test_strings_are_estimated_to_the_byte(measured):
    """A string's figure holds no randomness (no hash seed, no skiplist level, no history): the estimate is
    the server's, but for glibc's occasional chunk 16 bytes larger than asked for (Redis 6.2 and Valkey here),
    for each of a long string's two allocations (its object and its sds)."""
    for key, (kind, theirs, ours) in measured.keys.items():
        if kind == "string":
            assert 0 <= theirs - ours <= 32, (measured.server, key, ours, theirs)


def test_the_keys_and_overhead_lines_sum_to_what_the_server_holds_for_them(measured):
    """The keys as allocated (key_usage(allocated=True)) plus the overhead lines are within 5% of what INFO's
    used_memory_dataset and MEMORY STATS' tables say the keys take (what a FLUSHALL frees of them)."""
    assert abs(dataset_error(measured)) <= 0.05, (measured.server, dataset_error(measured))


@pytest.mark.parametrize(("writer", "server"), [("redis-6.2", "redis-8.2"), ("redis-6.2", "valkey-9.1")])
def test_a_file_of_an_older_server_is_estimated_as_the_newer_loads_it(writer, server):
    """A file written by Redis 6.2 (ziplists, scores in 17 digits) loaded by Redis 8.2 and Valkey 9.1, which keep
    the scores' text as written: the estimate for the newer server from the older file meets the goal too."""
    measured = measure(server, corpus(writer), written_on=writer)
    _within_the_goal(measured)
    assert abs(dataset_error(measured)) <= 0.05, (writer, server, dataset_error(measured))
