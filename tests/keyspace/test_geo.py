"""GEO commands in the engine against a real Redis 7.0: positions, distances, hashes and searches."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from rdbtools.keyspace.commands.zsets import distance_m, geohash_position
from rdbtools.keyspace.engine import Engine
from rdbtools.rdb.targets import target_for
from tests.keyspace.test_engine_vs_server import both_replies
from tests.resp_client import RawClient
from tests.servers import start_server

places = st.lists(st.tuples(st.floats(-20, 20), st.floats(-20, 20),
                            st.sampled_from([b"a", b"b", b"c", b"d", b"e"])), min_size=1, max_size=6)
QUERIES = [
    [b"GEOPOS", b"g", b"a", b"b", b"zz"], [b"GEODIST", b"g", b"a", b"b"], [b"GEODIST", b"g", b"a", b"c", b"km"],
    [b"GEOHASH", b"g", b"a", b"b", b"c"],
    [b"GEOSEARCH", b"g", b"FROMMEMBER", b"a", b"BYRADIUS", b"2000", b"km", b"ASC", b"WITHDIST", b"WITHCOORD"],
    [b"GEOSEARCH", b"g", b"FROMLONLAT", b"0", b"0", b"BYBOX", b"3000", b"2000", b"km", b"DESC", b"WITHHASH"],
    [b"GEOSEARCH", b"g", b"FROMMEMBER", b"b", b"BYRADIUS", b"2500", b"km", b"COUNT", b"2"],
    [b"GEORADIUS", b"g", b"10", b"10", b"3000", b"km", b"ASC"],
    [b"GEORADIUSBYMEMBER", b"g", b"a", b"100", b"mi", b"WITHDIST", b"ASC"],
    [b"GEOSEARCHSTORE", b"dst", b"g", b"FROMLONLAT", b"0", b"0", b"BYRADIUS", b"2000", b"km", b"STOREDIST"],
    [b"ZRANGE", b"dst", b"0", b"-1", b"WITHSCORES"],
]


@pytest.fixture(scope="module")
def server():
    with start_server("redis-7.0") as running:
        yield running


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(members=places)
def test_geo_replies_match_redis(server, members):
    """Points in a region and radii where Redis's nine-cell search covers every candidate (across the
    antimeridian or over continental radii Redis misses members that are in range; the engine finds
    them). Members at exactly equal distances come back in Redis's cell-scanning order, which is not
    modelled: such datasets are left out."""
    assume(not _equal_distances(members))
    client, engine = RawClient(server.port), Engine(loading=False, target=target_for("redis-7.0"))
    client.call([b"FLUSHALL"])
    add = [b"GEOADD", b"g"] + [x for lon, lat, m in members for x in (repr(lon).encode(), repr(lat).encode(), m)]
    for args in [add, *QUERIES]:
        ours, theirs = both_replies(client, engine, args)
        if args[0] == b"ZRANGE" and isinstance(ours, list):  # STOREDIST scores: compare as numbers
            ours, theirs = _numbers(ours), _numbers(theirs)
        assert ours == theirs, f"{args!r}: engine {ours!r}, redis {theirs!r}"
    client.sock.close()


def _equal_distances(members) -> bool:
    engine = Engine()
    engine.execute([b"GEOADD", b"g"] + [x for lon, lat, m in members for x in (repr(lon).encode(),
                                                                             repr(lat).encode(), m)])
    positions = [geohash_position(score) for score in engine.keyspace.db(0)[b"g"].value.values()]
    for origin in [(0.0, 0.0), (10.0, 10.0), *positions]:
        distances = [distance_m(*origin, *p) for p in positions]
        if len(set(distances)) < len(distances):
            return True
    return False


def _numbers(flat: list) -> list:
    return [round(float(x), 6) if i % 2 else x for i, x in enumerate(flat)]
