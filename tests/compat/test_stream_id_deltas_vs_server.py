"""Stream entry ids far from their node's first id: Redis stores each id as a delta from the node's master
id in a listpack's int64, the uint64 difference wrapped. rdbtool reads and writes the same wrapped deltas."""

from __future__ import annotations

from rdbtools import convert, open_rdb
from rdbtools.rdb.model import KeyRecord, StreamId
from tests.servers import start_server

FAR_APART = ["1-0", "18446744073709551615-0"]  # in one node: a delta past int64's range


def _entry_ids(path) -> list[StreamId]:
    with open_rdb(path) as rdb:
        streams = [record.value for record in rdb if isinstance(record, KeyRecord) and record.key == b"s"]
    return [entry.id for entry in streams[0].entries]


def test_ids_whose_delta_wraps_read_as_redis_wrote_them_and_convert_writes_what_redis_loads(tmp_path):
    with start_server("redis-7.0") as server:
        client = server.client()
        for entry_id in FAR_APART:
            client.xadd("s", {"f": "v"}, id=entry_id)
        client.save()
        saved = tmp_path / "saved.rdb"
        saved.write_bytes(server.rdb_path.read_bytes())
    expected = [StreamId(*map(int, entry_id.split("-"))) for entry_id in FAR_APART]
    assert _entry_ids(saved) == expected
    dumped, written = tmp_path / "dump.jsonl", tmp_path / "written.rdb"
    convert(saved, dumped)
    convert(dumped, written)  # the JSONL's stream written as RDB again: its deltas wrapped as Redis's
    assert _entry_ids(written) == expected
    with start_server("redis-7.0", rdb=written) as server:
        assert [entry_id for entry_id, _ in server.client().xrange("s")] == [i.encode() for i in FAR_APART]
