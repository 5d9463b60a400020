"""``rdbtool report`` on a file a real Redis 7.0 wrote: every key's type, encoding and TTL as that server
answers them, totals that add up to the per-key table, top lists, prefixes, TTL buckets, thresholds, gates."""

from __future__ import annotations

import heapq
from collections import Counter, defaultdict

import pytest

from rdbtools.export.records import bytes_from_json
from rdbtools.keyspace.memory import key_usage, overhead
from rdbtools.keyspace.model import Keyspace
from rdbtools.rdb.model import KeyRecord
from rdbtools.rdb.reader import open_rdb
from rdbtools.rdb.targets import target_for
from tests.report.conftest import WrittenFile, json_report, jsonl_rows, run, server_keys, write_with
from tests.servers import start_server

TOP = 5


@pytest.fixture(scope="module")
def reported(written, tmp_path_factory):
    """(the JSON summary, the per-key rows as jsonl) of one run."""
    rows = tmp_path_factory.mktemp("rows") / "rows.jsonl"
    doc = json_report(written.path, "--now-ms", written.now_ms, "--top", TOP, "--per-key", "jsonl", "-o", rows)
    return doc, jsonl_rows(rows)


def _by_key(rows: list[dict]) -> dict[tuple[int, bytes], dict]:
    return {(row["db"], bytes_from_json(row["key"])): row for row in rows}


def _check_against_server(written, rows: list[dict]) -> None:
    table = _by_key(rows)
    assert len(table) == len(rows) == len(written.keys)
    for server_key in written.keys:
        row = table[server_key.db, server_key.key]
        assert (row["type"], row["encoding"]) == (server_key.type, server_key.encoding), server_key.key
        if server_key.expire_ms is None or row["expire_ms"] is None:
            assert row["expire_ms"] == server_key.expire_ms, server_key.key
        else:  # (Redis 6.2's is now + PTTL: within a few seconds)
            assert abs(row["expire_ms"] - server_key.expire_ms) <= 5000, server_key.key


def test_every_key_has_the_type_encoding_and_expiry_the_server_answers(written, reported):
    _check_against_server(written, reported[1])


@pytest.mark.parametrize(("server", "target"), [("redis-6.2", "redis-6.2"), ("redis-8.2", "redis-8.2"),
                                                ("valkey-8.1", "valkey-8.1"), ("valkey-9.1", "valkey-9.1")])
def test_each_server_is_the_default_target_of_the_files_it_writes(server, target, tmp_path):
    """Encodings differ by version (6.2's ziplists, 7.2's listpack sets and lists, 8's strings embedded by key and
    value length): each file's keys as the server that wrote it answers."""
    written = write_with(server, tmp_path)
    rows = tmp_path / "rows.jsonl"
    doc = json_report(written.path, "--per-key", "jsonl", "-o", rows)
    assert [line["target"] for line in doc["files"]] == [target]
    _check_against_server(written, jsonl_rows(rows))


@pytest.mark.parametrize("server", ["redis-6.2", "redis-7.0", "redis-8.2"])
def test_the_keys_the_scan_measures_count_what_the_server_answers(server, tmp_path):
    """The compiled scan measures the keys of a Redis 6.2, 7.x or 8.x file itself (its twin, the Python model, is
    held to the servers by tests/report/test_estimate_vs_servers.py): each string, listpack, ziplist, intset and
    quicklist key's bytes are the server's MEMORY USAGE SAMPLES 0, to the byte; but for glibc's occasional chunk
    16 bytes larger than asked for (6.2's build), for each of a string's allocations (its object and its sds)."""
    written = write_with(server, tmp_path)
    rows_path = tmp_path / "rows.jsonl"
    json_report(written.path, "--now-ms", written.now_ms, "--per-key", "jsonl", "-o", rows_path)
    rows = _by_key(jsonl_rows(rows_path))
    compact = [key for key in written.keys if key.encoding in ("int", "embstr", "raw", "listpack", "ziplist",
                                                                 "intset", "quicklist")]
    assert len(compact) >= 100
    slack = 32 if server == "redis-6.2" else 0
    for key in compact:
        ours = rows[key.db, key.key]["bytes"]
        assert 0 <= key.usage - ours <= (slack if key.type == "string" else 0), (key, ours)


@pytest.mark.parametrize(("writer", "target"), [("redis-6.2", "redis-8.2"), ("redis-7.0", "valkey-9.1"),
                                                ("redis-7.0", "redis-8.2")])
def test_another_target_is_the_file_as_that_server_loads_it(writer, target, tmp_path):
    """--target: each key's type, encoding and expiry as that server answers after loading the file, and its bytes
    what that server's MEMORY USAGE says, within 1% in all (key by key: the memory model's own tests)."""
    written = write_with(writer, tmp_path)
    with start_server(target, rdb=written.path) as server:
        loaded = WrittenFile(written.path, written.now_ms, server_keys(server.client, target))
    rows_path = tmp_path / "rows.jsonl"
    doc = json_report(written.path, "--target", target, "--per-key", "jsonl", "-o", rows_path)
    rows = jsonl_rows(rows_path)
    assert [line["target"] for line in doc["files"]] == [target]
    _check_against_server(loaded, rows)
    answered = sum(key.usage for key in loaded.keys)
    assert abs(doc["bytes"] - answered) <= answered / 100
    tenths = next(key.usage for key in loaded.keys if key.key == b"rank:tenths")
    assert _by_key(rows)[0, b"rank:tenths"]["bytes"] == tenths  # the scores as the writer wrote them


def test_each_key_counts_what_the_memory_model_says_for_samples_0(written, reported):
    """The bytes are the model's MEMORY USAGE ... SAMPLES 0 of the key as serve loads it."""
    _, rows = reported
    table = _by_key(rows)
    keyspace, target = Keyspace(), target_for("redis-7.0")
    with open_rdb(written.path) as rdb:
        for record in rdb:
            if isinstance(record, KeyRecord):
                keyspace.load(record, target=target)
    for db, keys in keyspace.dbs.items():
        for key, entry in keys.items():
            assert table[db, key]["bytes"] == key_usage(key, entry, target, 0), key


def test_the_summary_without_per_key_rows_is_the_one_with_them(written, reported):
    """Without rows the compiled scan adds the keys it measures to the summary itself (no key's facts kept):
    the same totals, groups, top keys and prefixes."""
    doc, _ = reported
    assert json_report(written.path, "--now-ms", written.now_ms, "--top", TOP) == doc


def _grouped(rows: list[dict], *fields: str) -> dict:
    groups: dict = defaultdict(lambda: [0, 0])
    for row in rows:
        counts = groups[tuple(row[f] for f in fields)]
        counts[0] += 1
        counts[1] += row["bytes"]
    return groups


def test_totals_per_database_type_and_encoding_add_up_the_keys(reported):
    doc, rows = reported
    assert doc["keys"] == len(rows) and doc["bytes"] == sum(row["bytes"] for row in rows)
    assert doc["files"] == [{"path": rows[0]["file"], "target": "redis-7.0", "keys": len(rows), "bytes": doc["bytes"],
                             "overhead": doc["overhead"], "total": doc["total"]}]
    for section, fields in (("dbs", ("db",)), ("types", ("type",)), ("encodings", ("type", "encoding"))):
        shown = {tuple(line[f] for f in fields): [line["keys"], line["bytes"]] for line in doc[section]}
        assert shown == dict(_grouped(rows, *fields)), section
        assert all(line["share"] == round(line["bytes"] / doc["bytes"], 6) for line in doc[section])


def test_overhead_lines_are_the_models_for_the_keys_and_ttls_of_each_database(reported):
    doc, rows = reported
    dbs = sorted({row["db"] for row in rows})
    keys = [sum(row["db"] == db for row in rows) for db in dbs]
    expires = [sum(row["db"] == db and row["expire_ms"] is not None for row in rows) for db in dbs]
    assert doc["overhead"] == overhead(keys, expires, target_for("redis-7.0"))
    assert doc["total"] == doc["bytes"] + sum(doc["overhead"].values()) > doc["bytes"]


def test_top_keys_and_largest_elements_are_the_greatest_rows(reported):
    doc, rows = reported
    for section, field in (("top_keys", "bytes"), ("largest_elements", "largest_element")):
        listed = [line[field] for line in doc[section]]
        assert listed == heapq.nlargest(TOP, (row[field] for row in rows)), section
        assert all(line in rows for line in doc[section])


def test_elements_and_largest_element_of_each_type(reported):
    table = _by_key(reported[1])
    assert (table[0, b"cache:big:fields"]["elements"], table[0, b"cache:big:value"]["largest_element"]) == (600, 101)
    assert (table[0, b"queue:big"]["elements"], table[0, b"queue:big"]["largest_element"]) == (3000, 27)
    assert (table[0, b"events:stream"]["elements"], table[0, b"events:stream"]["largest_element"]) == (150, 41)
    assert (table[0, b"user:7:bio"]["elements"], table[0, b"user:7:bio"]["largest_element"]) == (1, 107)
    assert table[0, b"binary:\xff"]["key"] == {"b64": "YmluYXJ5Ov8="}


def test_ttl_buckets_count_keys_by_time_left(written, reported):
    doc, rows = reported
    hour = 3_600_000
    bounds = [(1, "expired"), (hour, "< 1 hour"), (24 * hour, "< 1 day"), (168 * hour, "< 1 week"),
              (720 * hour, "< 30 days")]
    expected: dict = defaultdict(lambda: [0, 0])
    for row in rows:
        bucket = "none" if row["expire_ms"] is None else next(
            (name for bound, name in bounds if row["expire_ms"] - written.now_ms < bound), ">= 30 days")
        expected[bucket][0] += 1
        expected[bucket][1] += row["bytes"]
    assert {line["bucket"]: [line["keys"], line["bytes"]] for line in doc["ttl"]} == dict(expected)
    assert {line["bucket"]: line["keys"] for line in doc["ttl"]}.keys() >= {
        "none", "expired", "< 1 day", "< 1 week", "< 30 days", ">= 30 days"}


def test_prefixes_count_every_key_under_each_of_its_prefixes(reported):
    doc, rows = reported
    expected: Counter = Counter()
    for row in rows:
        parts = bytes_from_json(row["key"]).split(b":")[:-1]
        for depth in range(1, min(len(parts), 3) + 1):
            expected[b":".join(parts[:depth]) + b":"] += row["bytes"]
    listed = {bytes_from_json(line["prefix"]): line["bytes"] for line in doc["prefixes"]}
    assert listed == dict(expected.most_common(TOP))


def test_keys_past_their_compact_encodings_limit_name_the_directive(reported):
    doc, _ = reported
    past = {line["directive"]: line["keys"] for line in doc["past_thresholds"]}
    assert past == {"hash-max-listpack-entries": 1, "hash-max-listpack-value": 1, "zset-max-listpack-entries": 1,
                    "set-max-intset-entries": 1}


def test_key_gate_fails_on_a_key_over_the_size_and_names_it(written, reported):
    doc, _ = reported
    biggest = doc["top_keys"][0]["bytes"]
    over = run("report", written.path, "--format", "json", "--fail-key-over", str(biggest - 1))
    assert over.returncode == 1
    assert bytes_from_json(doc["top_keys"][0]["key"]).decode() in over.stderr.decode()
    assert run("report", written.path, "--format", "json", "--fail-key-over", str(biggest)).returncode == 0


def test_total_gate_takes_sizes_with_units(written):
    assert run("report", written.path, "-f", "json", "--fail-total-over", "1kb").returncode == 1
    assert run("report", written.path, "-f", "json", "--fail-total-over", "1.5GB").returncode == 0
    bad = run("report", written.path, "--fail-total-over", "lots")
    assert bad.returncode == 2 and b"invalid size 'lots'" in bad.stderr


def test_human_report_lists_the_sections(written):
    done = run("report", written.path, "--now-ms", written.now_ms)
    assert done.returncode == 0, done.stderr.decode()
    text = done.stdout.decode()
    for heading in ("databases", "types", "encodings", "TTL", "top keys", "largest elements", "top prefixes",
                    "past their compact encoding's limit", "cache:big:fields"):
        assert heading in text


def test_top_0_lists_no_keys_and_still_counts_them(written):
    doc = json_report(written.path, "--top", 0, "--depth", 0)
    assert doc["keys"] == len(written.keys) and doc["top_keys"] == doc["largest_elements"] == doc["prefixes"] == []


def test_an_empty_separator_is_a_usage_error(written):
    done = run("report", written.path, "--separator", ":", "--separator", "")
    assert done.returncode == 2 and done.stderr == b"rdbtool: error: a --separator cannot be empty\n"


def test_a_corrupt_file_is_one_located_line_and_exit_1(written, tmp_path):
    data = bytearray(written.path.read_bytes())
    del data[len(data) // 2:]
    truncated = tmp_path / "truncated.rdb"
    truncated.write_bytes(bytes(data))
    done = run("report", truncated)
    assert done.returncode == 1
    lines = done.stderr.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"rdbtool: error: {truncated}, offset ")


def test_a_missing_file_exits_2(tmp_path):
    done = run("report", tmp_path / "absent.rdb")
    assert done.returncode == 2 and done.stderr.decode().startswith("rdbtool: error: ")
