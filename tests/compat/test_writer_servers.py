"""Random datasets written by rdbtool for each real server load there with exactly that content."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings

from rdbtools.rdb.targets import target_for
from tests.compat.generator import read_back
from tests.expected_shape import compare, shape_records
from tests.rdb.test_writer import records, write
from tests.servers import SERVERS, start_server

FAR_MS = 4102444800000  # 2100-01-01


def _future(record):
    """Expiries in the future, so the server keeps what was written (expired data is dropped on load)."""
    ttls = {f: FAR_MS + at % 10**9 for f, at in record.field_expires.items()} if record.field_expires else None
    return replace(record, expire_ms=None if record.expire_ms is None else FAR_MS + record.expire_ms % 10**9,
                   field_expires=ttls)


@pytest.mark.parametrize("name", sorted(SERVERS))
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(keys=records())
def test_a_random_dataset_written_for_a_server_loads_there_equal(name, keys):
    spec = SERVERS[name]
    keys = [_future(k) for k in keys if spec.field_ttls or not k.field_expires]
    with start_server(name, rdb=write(target_for(name), keys)) as server:
        held = read_back(server.port, spec)
    held["functions"] = []
    tolerance = 0 if spec.rdb_version >= 10 else 5000  # no PEXPIRETIME before 7.0: TTLs read a moment apart
    assert compare(shape_records(keys), held, now_ms=int(time.time() * 1000), expire_tolerance_ms=tolerance) == []
