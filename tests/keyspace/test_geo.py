"""GEO commands in the engine against a real Redis 7.0: positions, distances, hashes, searches (the members
Redis's nine-cell scan finds, in its order) and the searches' option checks, errors to the letter."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from rdbtools.keyspace.engine import Engine
from rdbtools.rdb.targets import target_for
from tests.keyspace.test_data_commands_vs_server import assert_same
from tests.keyspace.test_engine_vs_server import both_replies
from tests.resp_client import RawClient
from tests.servers import start_server

MEMBERS = [bytes([c]) for c in b"abcdefghijklmnop"]
#: anywhere on the indexable globe, or close to a few spots (the poles' edge, the antimeridian, a city), where
#: equal and nearly equal distances are common
_anywhere = st.tuples(st.floats(-180, 180), st.floats(-85.05112878, 85.05112878))
_near = st.sampled_from([(0.0, 0.0), (179.9, 84.9), (-179.99, -60.0), (13.36, 38.11)]).flatmap(
    lambda spot: st.tuples(st.sampled_from([0.0, 0.01, -0.01, 0.5]).map(lambda d: spot[0] + d),
                           st.sampled_from([0.0, 0.01, -0.01, 0.1]).map(lambda d: spot[1] + d)))
places = st.lists(st.tuples(st.one_of(_anywhere, _near), st.sampled_from(MEMBERS)), min_size=1, max_size=20)
_origin = st.one_of(st.sampled_from(MEMBERS).map(lambda m: [b"FROMMEMBER", m]),
                    st.one_of(_anywhere, _near).map(lambda p: [b"FROMLONLAT", repr(p[0]).encode(),
                                                                repr(p[1]).encode()]))
_size = st.sampled_from([b"0", b"1", b"500", b"2000", b"5009431", b"20000"])
_unit = st.sampled_from([b"m", b"km"])
_shape = st.one_of(st.tuples(_size, _unit).map(lambda s: [b"BYRADIUS", *s]),
                   st.tuples(_size, _size, _unit).map(lambda s: [b"BYBOX", *s]))
_options = st.tuples(st.sampled_from([[], [b"ASC"], [b"DESC"]]),
                     st.sampled_from([[], [b"COUNT", b"1"], [b"COUNT", b"3"], [b"COUNT", b"2", b"ANY"]]),
                     st.sampled_from([[], [b"WITHDIST"], [b"WITHCOORD", b"WITHHASH"]]))
searches = st.lists(st.tuples(_origin, _shape, _options).map(
    lambda q: [b"GEOSEARCH", b"g", *q[0], *q[1], *q[2][0], *q[2][1], *q[2][2]]), min_size=1, max_size=6)
QUERIES = [
    [b"GEOPOS", b"g", b"a", b"b", b"zz"], [b"GEODIST", b"g", b"a", b"b"], [b"GEODIST", b"g", b"a", b"c", b"km"],
    [b"GEOHASH", b"g", b"a", b"b", b"c"], [b"GEORADIUS", b"g", b"10", b"10", b"3000", b"km"],
    [b"GEORADIUSBYMEMBER", b"g", b"a", b"100", b"mi", b"WITHDIST", b"ASC"],
    [b"GEOSEARCHSTORE", b"dst", b"g", b"FROMLONLAT", b"0", b"0", b"BYRADIUS", b"2000", b"km", b"STOREDIST"],
    [b"ZRANGE", b"dst", b"0", b"-1", b"WITHSCORES"],
]


@pytest.fixture(scope="module")
def server():
    with start_server("redis-7.0") as running:
        yield running


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(members=places, queries=searches)
@example(members=[((45.0, 65.0), b"a"), ((-135.0, 85.05), b"b")],  # the far member found first: cells, not distance
         queries=[[b"GEOSEARCH", b"g", b"FROMMEMBER", b"a", b"BYRADIUS", b"5009431", b"m"]])
@example(members=[((0.0, 0.0), m) for m in MEMBERS[:7]],  # ties cut by COUNT: Redis's partial quicksort
         queries=[[b"GEOSEARCH", b"g", b"FROMMEMBER", b"a", b"BYRADIUS", b"0", b"m", b"COUNT", b"1"]])
def test_searches_find_what_redis_finds_in_its_order(server, members, queries):
    """Unsorted replies list members cell by cell as Redis scans them, ties in distance keep that order,
    and members outside Redis's nine cells (too far across a pole or the antimeridian) are not found."""
    client, engine = RawClient(server.port), Engine(loading=False, target=target_for("redis-7.0"))
    client.call([b"FLUSHALL"])
    add = [b"GEOADD", b"g"] + [x for (lon, lat), m in members for x in (repr(lon).encode(), repr(lat).encode(), m)]
    for args in [add, *QUERIES, *queries]:
        ours, theirs = both_replies(client, engine, args)
        if args[0] == b"ZRANGE" and isinstance(ours, list):  # STOREDIST scores: compare as numbers
            ours, theirs = _numbers(ours), _numbers(theirs)
        assert ours == theirs, f"{args!r}: engine {ours!r}, redis {theirs!r}"
    client.sock.close()


def _numbers(flat: list) -> list:
    return [round(float(x), 6) if i % 2 else x for i, x in enumerate(flat)]


NYC = "GEOADD nyc -73.9454966 40.747533 m -73.9 40.7 n 0 0 o"
SCRIPTS = {
    "a_missing_source_is_an_empty_reply_once_the_options_are_read_and_a_store_deletes_its_key": [
        "GEOSEARCH src frommember a byradius 1 km", "GEORADIUSBYMEMBER src a x y", "GEORADIUSBYMEMBER src a x y ANY",
        "SET d x", "GEORADIUSBYMEMBER src a x y STORE d", "EXISTS d", "SET d x",
        "GEOSEARCHSTORE d src frommember a byradius 1 km", "EXISTS d", "GEOSEARCH src frommember a bybox 1 1 km x"],
    "geoadd_with_nx_and_xx_or_only_options_is_a_syntax_error": [
        "GEOADD nyc xx nx -73.9454966 40.747533 m", "GEOADD nyc ch ch ch", "GEOADD nyc ch xx foo 1 2 m",
        "GEOADD nyc ch 1 2 m", "GEOADD nyc xx ch 1 3 m", "GEOADD nyc nx 1 4 m 200 0 n", "ZRANGE nyc 0 -1 WITHSCORES"],
    "a_second_from_or_by_kind_and_an_option_the_command_does_not_take_are_syntax_errors": [
        NYC, "GEOSEARCH nyc fromlonlat -73.97 40.75 frommember xxx bybox 6 6 km asc",
        "GEOSEARCH nyc frommember m fromlonlat -73.97 40.75 bybox 6 6 km",
        "GEOSEARCH nyc fromlonlat -73.97 40.75 byradius 3 km bybox 3 3 km asc",
        "GEOSEARCH nyc fromlonlat -73.97 40.75 bybox 3 3 km byradius 3 km",
        "GEOSEARCH nyc fromlonlat -73.97 40.75 bybox 6 6 km storedist",
        "GEOSEARCH nyc fromlonlat 0 0 byradius 1 km store d",
        "GEOSEARCHSTORE abc nyc fromlonlat 13.36 38.11 byradius 50 km store abc",
        "GEORADIUS_RO nyc 13.36 38.11 50 km store d", "GEORADIUSBYMEMBER_RO nyc m 50 km storedist d",
        "GEORADIUS nyc 13.36 38.11 50 km store", "GEORADIUS nyc 13.36 38.11 50 km frommember m"],
    "the_combinations_are_checked_after_all_options_in_redis_order_with_the_name_as_sent": [
        NYC, "GEOSEARCH nyc bybox 3 3 km asc desc withhash withdist withcoord",
        "GeoSearch nyc fromlonlat -73.97 40.75 asc withcoord", "geosearchstore d nyc frommember m withdist",
        "GEORADIUS nyc -73.97 40.75 10 km ANY ASC", "GEORADIUS nyc 13.36 38.11 50 km store p2 withdist any",
        "GEORADIUS nyc 13.36 38.11 50 km store p2 withcoord", "GEORADIUS nyc 13.36 38.11 50 km WITHHASH store p2",
        "GEOSEARCHSTORE d nyc fromlonlat 0 0 withhash any", "GEORADIUS nyc -73.97 40.75 10 km COUNT"],
    "arguments_are_read_in_redis_order_each_refused_in_its_words": [
        NYC, "GEORADIUS nyc 200 0 50 km", "GEORADIUS nyc 20 0 -50 km", "GEORADIUS nyc 20 0 50 kk",
        "GEORADIUS nyc 20 x y kk", "GEORADIUSBYMEMBER nyc nope x km", "GEORADIUSBYMEMBER nyc m x km",
        "GEOSEARCH nyc frommember nope byradius x km", "GEOSEARCH nyc frommember m byradius x km",
        "GEOSEARCH nyc frommember m bybox 1 -1 mm", "GEOSEARCH nyc frommember m bybox -1 x km",
        "GEOSEARCH nyc frommember m bybox 1 1 km count 0", "GEOSEARCH nyc frommember m bybox 1 1 km count x",
        "SET s x", "GEOSEARCH s frommember m bybox 1 1 km count x", "GEORADIUS s 200 0 50 km"],
    "stores_write_hashes_or_distances_and_an_empty_result_deletes_the_key": [
        NYC, "GEORADIUS nyc -73.97 40.75 100 km STORE st", "ZRANGE st 0 -1 WITHSCORES",
        "GEORADIUS nyc -73.97 40.75 100 km STOREDIST st COUNT 1", "ZRANGE st 0 -1 WITHSCORES",
        "GEORADIUS nyc 0 0 1 km STOREDIST st", "EXISTS st", "GEORADIUS nyc 0 0 inf km WITHDIST"],
    "a_count_below_the_points_found_orders_ties_as_redis_partial_quicksort_does": [
        "GEOADD t " + " ".join(f"{i % 3 * 0.001} {i % 2 * 0.001} m{i}" for i in range(60)),
        "GEOSEARCH t FROMLONLAT 0 0 BYRADIUS 1 km COUNT 10", "GEOSEARCH t FROMLONLAT 0 0 BYRADIUS 1 km COUNT 45 DESC",
        "GEOSEARCH t FROMLONLAT 0.0005 0 BYRADIUS 1 km COUNT 7 WITHDIST", "GEOSEARCH t FROMLONLAT 0 0 BYBOX 1 1 km",
        "GEOSEARCH t FROMLONLAT 0 0 BYRADIUS 1 km DESC", "GEORADIUS t 0 0 1 km COUNT 59 ASC"],
}


@pytest.mark.parametrize("script", SCRIPTS.values(), ids=SCRIPTS)
def test_geo_scripts_get_the_replies_and_keyspace_redis_gives(server, script):
    assert_same(server, script)


@pytest.fixture(scope="module", params=["redis-6.2", "redis-8.2", "valkey-9.1"])
def target_server(request):
    with start_server(request.param) as running:
        yield request.param, running


def test_search_errors_are_in_each_targets_words(target_server):
    """6.2 names WITHCOORDS; Valkey 9, which also searches polygons, names BYPOLYGON and the missing member."""
    name, running = target_server
    script = [NYC, "GEORADIUS nyc 13.36 38.11 50 km store p2 withdist", "GEORADIUSBYMEMBER nyc nope 5 km",
              "GEOSEARCH nyc frommember nope byradius 1 km", "GeoSearch nyc fromlonlat 0 0 asc withcoord",
              "GEOSEARCHSTORE d nyc frommember m bybox 1 1 km withhash", "GEOSEARCH src frommember a bybox 1 1 km"]
    assert_same(running, script, name)
