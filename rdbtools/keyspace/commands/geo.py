"""GEO commands. A GEO set is a sorted set scored by 52-bit interleaved geohashes; a search looks where
Redis looks (the cell around the origin and its eight neighbours, at a precision estimated from the
search's size) and collects members in Redis's order, so that unsorted replies, ties in distance and
the members Redis misses (near the poles, across the antimeridian) come out as Redis gives them."""

from __future__ import annotations

import math
from bisect import bisect_left
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rdbtools.keyspace.commands import (
    NULL_ARRAY,
    SYNTAX,
    CommandError,
    Double,
    command,
    format_double,
    integer,
    long_double_text,
)
from rdbtools.keyspace.commands.zsets import _double, _ordered, _store, _zset, zadd

if TYPE_CHECKING:
    from rdbtools.keyspace.engine import Engine

LAT_MAX = 85.05112878
LON_MAX = 180.0
STEP_MAX = 26
EARTH_RADIUS_M = 6372797.560856
MERCATOR_MAX = 20037726.37
_D_R = math.pi / 180.0  # deg_rad multiplies by it, rad_deg divides by it
_MASK64 = (1 << 64) - 1
_LAT_BITS = 0x5555555555555555  # the even bits of a hash
_LON_BITS = 0xAAAAAAAAAAAAAAAA  # the odd bits
_UNITS = {b"m": 1.0, b"km": 1000.0, b"ft": 0.3048, b"mi": 1609.34}
_BASE32 = b"0123456789bcdefghjkmnpqrstuvwxyz"
_NOT_FLOAT = "ERR value is not a valid float"

# --- geohash cells ---------------------------------------------------------------------------------


def encode(longitude: float, latitude: float, step: int) -> int:
    """geohashEncode: each coordinate's offset in 2^step cells (a C double cast to uint32), interleaved."""
    lat = (latitude - -LAT_MAX) / (LAT_MAX - -LAT_MAX) * (1 << step)
    lon = (longitude - -LON_MAX) / (LON_MAX - -LON_MAX) * (1 << step)
    return _interleave(int(lat), int(lon))


def geohash_score(longitude: float, latitude: float) -> float:
    """The score GEOADD gives a position: its hash at 26 steps."""
    return float(encode(longitude, latitude, STEP_MAX))


def _interleave(lat: int, lon: int) -> int:
    """interleave64: 32 bits of each, latitude on the even bits (an offset of exactly 2^step, at the
    northern or eastern edge, keeps its extra bit, as in Redis)."""
    bits = 0
    for i in range(31, -1, -1):
        bits = (bits << 2) | ((lon >> i) & 1) << 1 | ((lat >> i) & 1)
    return bits


def _deinterleave(bits: int) -> tuple[int, int]:
    """(longitude cells, latitude cells) of a hash."""
    lon = lat = 0
    for i in range(31, -1, -1):
        lon = lon << 1 | (bits >> (2 * i + 1)) & 1
        lat = lat << 1 | (bits >> (2 * i)) & 1
    return lon, lat


def cell_area(bits: int, step: int) -> tuple[float, float, float, float]:
    """geohashDecode: (min longitude, max longitude, min latitude, max latitude) of a cell, in its order
    of floating-point operations (GEOPOS prints the centre's digits)."""
    lon, lat = _deinterleave(bits)
    cells = float(1 << step)
    lat_scale, lon_scale = LAT_MAX - -LAT_MAX, LON_MAX - -LON_MAX
    return (-LON_MAX + (lon * 1.0 / cells) * lon_scale, -LON_MAX + ((lon + 1) * 1.0 / cells) * lon_scale,
            -LAT_MAX + (lat * 1.0 / cells) * lat_scale, -LAT_MAX + ((lat + 1) * 1.0 / cells) * lat_scale)


def geohash_position(score: float) -> tuple[float, float]:
    """(longitude, latitude) at the centre of the cell a 52-bit score names, clamped to the valid range."""
    lon_min, lon_max, lat_min, lat_max = cell_area(int(score), STEP_MAX)
    return (min(LON_MAX, max(-LON_MAX, (lon_min + lon_max) / 2)),
            min(LAT_MAX, max(-LAT_MAX, (lat_min + lat_max) / 2)))


def _move(bits: int, step: int, mask: int, delta: int) -> int:
    """geohash_move_x/_y: one cell along the axis whose bits ``mask`` selects, wrapping around the
    world; the other axis's bits are left as they were."""
    other = mask ^ _MASK64
    moving, kept = bits & mask, bits & other
    ones = other >> (64 - step * 2)  # the other axis's bits of the step: adding one more carries through them
    moving = moving + (ones + 1) if delta > 0 else (moving | ones) - (ones + 1)
    return (moving & (mask >> (64 - step * 2)) & _MASK64) | kept


#: the order Redis searches the cells in: centre, north, south, east, west, NE, NW, SE, SW
_AROUND = ((0, 0), (0, 1), (0, -1), (1, 0), (-1, 0), (1, 1), (-1, 1), (1, -1), (-1, -1))


def _neighbourhood(bits: int, step: int) -> list[int]:
    """geohashNeighbors: the cell and its eight neighbours, in Redis's search order."""
    cells = []
    for lon_delta, lat_delta in _AROUND:
        cell = bits
        if lon_delta:
            cell = _move(cell, step, _LON_BITS, lon_delta)
        if lat_delta:
            cell = _move(cell, step, _LAT_BITS, lat_delta)
        cells.append(cell)
    return cells


def _steps_for(meters: float, latitude: float) -> int:
    """geohashEstimateStepsByRadius: the coarsest precision whose cells still cover the search."""
    if meters == 0:
        return STEP_MAX
    step = 1
    while meters < MERCATOR_MAX:
        meters *= 2
        step += 1
    step -= 2
    if latitude > 66 or latitude < -66:
        step -= 1
        if latitude > 80 or latitude < -80:
            step -= 1
    return min(STEP_MAX, max(1, step))


def _cos(radians: float) -> float:
    """cos as C's: NaN for an infinite angle (a search of infinite size)."""
    return math.cos(radians) if math.isfinite(radians) else math.nan


@dataclass
class Shape:
    """A search: its origin, and a radius or a box's sides in the request's unit (``conversion``
    meters each), kept apart as Redis keeps them (the products are rounded where Redis rounds them)."""

    origin: tuple[float, float]
    conversion: float
    radius: float | None = None
    width: float = 0.0
    height: float = 0.0

    def bounds(self) -> tuple[float, float, float, float]:
        """geohashBoundingBox: (min longitude, min latitude, max longitude, max latitude)."""
        longitude, latitude = self.origin
        radius = self.radius
        height = self.conversion * (radius if radius is not None else self.height / 2)
        width = self.conversion * (radius if radius is not None else self.width / 2)
        lat_delta = (height / EARTH_RADIUS_M) / _D_R
        top = (width / EARTH_RADIUS_M / _cos((latitude + lat_delta) * _D_R)) / _D_R
        bottom = (width / EARTH_RADIUS_M / _cos((latitude - lat_delta) * _D_R)) / _D_R
        lon_delta = bottom if latitude < 0 else top
        return longitude - lon_delta, latitude - lat_delta, longitude + lon_delta, latitude + lat_delta

    def reach(self) -> float:
        """The meters the precision is estimated from: the radius, or half the box's diagonal."""
        if self.radius is not None:
            return self.radius * self.conversion
        return math.sqrt((self.width / 2) * (self.width / 2) + (self.height / 2) * (self.height / 2)) * \
            self.conversion

    def distance_if_inside(self, position: tuple[float, float]) -> float | None:
        """geoWithinShape: the distance from the origin, or None outside (a box checks its height first)."""
        (x1, y1), (x2, y2) = self.origin, position
        if self.radius is not None:
            meters = distance_m(x1, y1, x2, y2)
            return None if meters > self.radius * self.conversion else meters
        if _lat_distance(y2, y1) > self.height * self.conversion / 2:
            return None
        if distance_m(x2, y2, x1, y2) > self.width * self.conversion / 2:
            return None
        return distance_m(x1, y1, x2, y2)


def search_cells(shape: Shape) -> list[tuple[int, int] | None]:
    """geohashCalculateAreasByShapeWGS84: the nine (hash, step) cells to scan in order, None for those
    Redis leaves out as lying beyond the search's bounding box."""
    min_lon, min_lat, max_lon, max_lat = shape.bounds()
    longitude, latitude = shape.origin
    step = _steps_for(shape.reach(), latitude)
    cells = _neighbourhood(encode(longitude, latitude, step), step)
    north, south, east, west = (cell_area(c, step) for c in cells[1:5])
    too_coarse = north[3] < max_lat or south[2] > min_lat or east[1] < max_lon or west[0] > min_lon
    if step > 1 and too_coarse:
        step -= 1
        cells = _neighbourhood(encode(longitude, latitude, step), step)
    chosen: list[tuple[int, int] | None] = [(c, step) for c in cells]
    if step >= 2:
        area = cell_area(cells[0], step)
        for beyond, sides in ((area[2] < min_lat, (2, 7, 8)), (area[3] > max_lat, (1, 5, 6)),
                              (area[0] < min_lon, (4, 8, 6)), (area[1] > max_lon, (3, 7, 5))):
            if beyond:
                for side in sides:
                    chosen[side] = None
    return chosen


def _lat_distance(lat1: float, lat2: float) -> float:
    """geohashGetLatDistance: meters along a meridian."""
    return EARTH_RADIUS_M * abs(lat2 * _D_R - lat1 * _D_R)


def distance_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """geohashGetDistance: haversine on Redis's earth radius (NaN where C's asin of a rounding past 1 is)."""
    v = math.sin((lon2 * _D_R - lon1 * _D_R) / 2)
    if v == 0:
        return _lat_distance(lat1, lat2)
    lat1r, lat2r = lat1 * _D_R, lat2 * _D_R
    u = math.sin((lat2r - lat1r) / 2)
    a = u * u + math.cos(lat1r) * math.cos(lat2r) * v * v
    root = math.sqrt(a)
    return 2.0 * EARTH_RADIUS_M * math.asin(root) if root <= 1 else math.nan


@dataclass
class Point:
    member: bytes
    meters: float
    score: float
    position: tuple[float, float]


def collect(scores: dict, shape: Shape, limit: int) -> list[Point]:
    """membersOfAllNeighbors: each cell's members in score order (a cell is a range of scores), those
    inside the shape kept; a cell equal to the one scanned before it is skipped, and with a limit
    (ANY) the scan stops once that many are found."""
    ordered = _ordered(scores)
    keys = [score for _, score in ordered]
    cells = search_cells(shape)
    found: list[Point] = []
    last = 0
    for index, cell in enumerate(cells):
        if cell is None or (last and cell == cells[last]):
            continue
        if limit and len(found) >= limit:
            break
        bits, step = cell
        low, high = bits << (52 - step * 2), (bits + 1) << (52 - step * 2)
        for at in range(bisect_left(keys, low), len(keys)):
            member, score = ordered[at]
            if score >= high:
                break
            position = geohash_position(score)
            meters = shape.distance_if_inside(position)
            if meters is not None:
                found.append(Point(member, meters, score, position))
                if limit and len(found) >= limit:
                    break
        last = index
    return found


# --- pqsort: Redis's partial quicksort (Bentley & McIlroy's, skipping parts outside a range) ---------


def partial_quicksort(items: list, compare, left: int, right: int) -> None:
    """pqsort: sort ``items`` in place so that positions left..right hold what a full sort puts there,
    moving equal items exactly as Redis's pqsort.c does (the order of ties is what a client sees)."""
    _pqsort(items, 0, len(items), compare, left, right)


def _pqsort(v: list, a: int, n: int, compare, left: int, right: int) -> None:
    while True:
        if n < 7:  # insertion sort
            for m in range(a + 1, a + n):
                at = m
                while at > a and compare(v[at - 1], v[at]) > 0:
                    v[at], v[at - 1] = v[at - 1], v[at]
                    at -= 1
            return
        m = _pivot(v, a, n, compare)
        v[a], v[m] = v[m], v[a]
        pa = pb = a + 1
        pc = pd = a + n - 1
        while True:
            while pb <= pc and (order := compare(v[pb], v[a])) <= 0:
                if order == 0:
                    v[pa], v[pb] = v[pb], v[pa]
                    pa += 1
                pb += 1
            while pb <= pc and (order := compare(v[pc], v[a])) >= 0:
                if order == 0:
                    v[pc], v[pd] = v[pd], v[pc]
                    pd -= 1
                pc -= 1
            if pb > pc:
                break
            v[pb], v[pc] = v[pc], v[pb]
            pb, pc = pb + 1, pc - 1
        end = a + n
        _swap_runs(v, a, pb - min(pa - a, pb - pa), min(pa - a, pb - pa))
        _swap_runs(v, pb, end - min(pd - pc, end - pd - 1), min(pd - pc, end - pd - 1))
        if (size := pb - pa) > 1 and not (right < a or left >= a + size):
            _pqsort(v, a, size, compare, left, right)
        if (size := pd - pc) <= 1:
            return
        a, n = end - size, size
        if right < a or left >= a + n:
            return


def _pivot(v: list, a: int, n: int, compare) -> int:
    """The middle item, or the median of three (of three medians above 40 items)."""
    m = a + n // 2
    if n > 7:
        low, high = a, a + n - 1
        if n > 40:
            d = n // 8
            low = _median3(v, low, low + d, low + 2 * d, compare)
            m = _median3(v, m - d, m, m + d, compare)
            high = _median3(v, high - 2 * d, high - d, high, compare)
        m = _median3(v, low, m, high, compare)
    return m


def _median3(v: list, a: int, b: int, c: int, compare) -> int:
    if compare(v[a], v[b]) < 0:
        return b if compare(v[b], v[c]) < 0 else c if compare(v[a], v[c]) < 0 else a
    return b if compare(v[b], v[c]) > 0 else a if compare(v[a], v[c]) < 0 else c


def _swap_runs(v: list, a: int, b: int, n: int) -> None:
    for i in range(n):
        v[a + i], v[b + i] = v[b + i], v[a + i]


# --- GEOADD and the member lookups -------------------------------------------------------------------


def _lonlat(e: Engine, longitude: bytes, latitude: bytes) -> tuple[float, float]:
    """extractLongLatOrReply: both read as doubles, then checked against the indexable range."""
    lon, lat = _double(e, longitude, _NOT_FLOAT), _double(e, latitude, _NOT_FLOAT)
    if not (-LON_MAX <= lon <= LON_MAX and -LAT_MAX <= lat <= LAT_MAX):
        raise CommandError(f"ERR invalid longitude,latitude pair {lon:.6f},{lat:.6f}")
    return lon, lat


@command("geoadd", -5)
def geoadd(e: Engine, args: list[bytes]):
    """GEOADD key [NX|XX] [CH] lon lat member ...: a ZADD of hashes; NX with XX is a syntax error."""
    i = 2
    while i < len(args) and args[i].upper() in (b"NX", b"XX", b"CH"):
        i += 1
    flags, rest = [a.upper() for a in args[2:i]], args[i:]
    if not rest or len(rest) % 3 or (b"NX" in flags and b"XX" in flags):
        raise CommandError(SYNTAX)
    zadd_args = [b"zadd", args[1], *flags]
    for j in range(0, len(rest), 3):
        zadd_args += [b"%d" % geohash_score(*_lonlat(e, rest[j], rest[j + 1])), rest[j + 2]]
    return zadd(e, zadd_args)


def _unit(e: Engine, text: bytes) -> float:
    """Meters per unit; an unknown unit refused in the target's words (before 7.0 in lower case)."""
    unit = _UNITS.get(text.lower())
    if unit is None:
        names = "m, km, ft, mi" if e.target.version < (7, 0) else "M, KM, FT, MI"
        raise CommandError(f"ERR unsupported unit provided. please use {names}")
    return unit


def _coordinate(e: Engine, value: float) -> Double:
    """A double reply (a double in RESP3) printed as the target prints coordinates."""
    coordinate = Double(value)
    coordinate.text = format_double(value) if e.target.shortest_coordinates else long_double_text(value)
    return coordinate


@command("geopos", -2, write=False)
def geopos(e: Engine, args: list[bytes]):
    entry = _zset(e, args[1])
    scores = {} if entry is None else entry.value
    return [NULL_ARRAY if m not in scores else [_coordinate(e, c) for c in geohash_position(scores[m])]
            for m in args[2:]]


@command("geodist", -4, write=False)
def geodist(e: Engine, args: list[bytes]):
    if len(args) > 5:
        raise CommandError(SYNTAX)
    unit = _unit(e, args[4]) if len(args) == 5 else 1.0
    entry = _zset(e, args[1])
    if entry is None or args[2] not in entry.value or args[3] not in entry.value:
        return None
    meters = distance_m(*geohash_position(entry.value[args[2]]), *geohash_position(entry.value[args[3]]))
    return b"%.4f" % (meters / unit)


@command("geohash", -2, write=False)
def geohash(e: Engine, args: list[bytes]):
    """The standard 11-character geohash (latitude -90..90), as Redis recomputes it for GEOHASH."""
    entry = _zset(e, args[1])
    replies: list[bytes | None] = []
    for member in args[2:]:
        if entry is None or member not in entry.value:
            replies.append(None)
            continue
        lon, lat = geohash_position(entry.value[member])
        lat_bits = int((lat + 90.0) / 180.0 * (1 << STEP_MAX))
        lon_bits = int((lon + 180.0) / 360.0 * (1 << STEP_MAX))
        bits = _interleave(lat_bits, lon_bits)
        replies.append(bytes(_BASE32[(bits >> (52 - (i + 1) * 5)) & 0x1F] if i < 10 else _BASE32[0]
                             for i in range(11)))
    return replies


# --- the searches: GEORADIUS[BYMEMBER][_RO], GEOSEARCH[STORE] -----------------------------------------

_BY_COORDS, _BY_MEMBER, _NO_STORE, _SEARCH, _SEARCH_STORE = 1, 2, 4, 8, 16


@dataclass
class _Request:
    """A search's options as georadiusGeneric reads them."""

    flags: int
    shape: Shape | None = None
    from_member: bool = False
    from_lonlat: bool = False
    by_radius: bool = False
    by_box: bool = False
    origin: tuple[float, float] = (0.0, 0.0)
    with_dist: bool = False
    with_hash: bool = False
    with_coord: bool = False
    order: bytes | None = None
    count: int = 0
    any: bool = False
    store: bytes | None = None
    store_dist: bool = False


def _radius_shape(e: Engine, origin: tuple[float, float], radius: bytes, unit: bytes) -> Shape:
    """extractDistanceOrReply: the radius (numeric, not negative) before its unit."""
    value = _double(e, radius, "ERR need numeric radius")
    if value < 0:
        raise CommandError("ERR radius cannot be negative")
    return Shape(origin, _unit(e, unit), radius=value)


def _box_shape(e: Engine, origin: tuple[float, float], width: bytes, height: bytes, unit: bytes) -> Shape:
    """extractBoxOrReply: both sides read before either is refused for being negative, then the unit."""
    sides = _double(e, width, "ERR need numeric width"), _double(e, height, "ERR need numeric height")
    if min(sides) < 0:
        raise CommandError("ERR height or width cannot be negative")
    return Shape(origin, _unit(e, unit), width=sides[0], height=sides[1])


def _member_origin(e: Engine, entry, member: bytes) -> tuple[float, float]:
    """A member's position, refused in the target's words when the key has no such member."""
    if member not in entry.value:
        if _valkey_9(e):
            raise CommandError(f"ERR member {member.decode(errors='replace')} does not exist")
        raise CommandError("ERR could not decode requested zset member")
    return geohash_position(entry.value[member])


def _valkey_9(e: Engine) -> bool:
    """Valkey 9 searches polygons too (BYPOLYGON, not served here), which shows in its error texts."""
    return e.target.valkey_server and e.target.version >= (9, 0)


def _read_option(e: Engine, args: list[bytes], i: int, request: _Request, entry) -> int:
    """One option at ``args[i]``; the index of the next. An option the command does not take, one whose
    arguments are missing, a second FROM or BY kind: a syntax error, as in Redis."""
    option, left, flags = args[i].lower(), len(args) - i - 1, request.flags
    search, stores = bool(flags & _SEARCH), not flags & (_NO_STORE | _SEARCH)
    if option in (b"withdist", b"withhash", b"withcoord"):
        setattr(request, "with_" + option[4:].decode(), True)
    elif option == b"any":
        request.any = True
    elif option in (b"asc", b"desc"):
        request.order = option
    elif option == b"count" and left >= 1:
        request.count = integer(args[i + 1])
        if request.count <= 0:
            raise CommandError("ERR COUNT must be > 0")
        return i + 2
    elif option in (b"store", b"storedist") and left >= 1 and stores:
        request.store, request.store_dist = args[i + 1], option == b"storedist"
        return i + 2
    elif option == b"storedist" and flags & _SEARCH_STORE:
        request.store_dist = True
    elif option == b"frommember" and left >= 1 and search and not request.from_lonlat:
        if entry is not None:  # without a source the search is empty, once its options are read
            request.origin = _member_origin(e, entry, args[i + 1])
        request.from_member = True
        return i + 2
    elif option == b"fromlonlat" and left >= 2 and search and not request.from_member:
        request.origin, request.from_lonlat = _lonlat(e, args[i + 1], args[i + 2]), True
        return i + 3
    elif option == b"byradius" and left >= 2 and search and not request.by_box:
        request.shape, request.by_radius = _radius_shape(e, (0.0, 0.0), args[i + 1], args[i + 2]), True
        return i + 3
    elif option == b"bybox" and left >= 3 and search and not request.by_radius:
        request.shape, request.by_box = _box_shape(e, (0.0, 0.0), *args[i + 1:i + 4]), True
        return i + 4
    else:
        raise CommandError(SYNTAX)
    return i + 1


def _check(e: Engine, args: list[bytes], request: _Request) -> None:
    """The combinations Redis refuses once every option is read, in its order (the command's name as
    the client spelled it)."""
    flags, name = request.flags, args[0].decode(errors="replace")
    if request.store is not None and (request.with_dist or request.with_hash or request.with_coord):
        if e.target.version < (7, 0):
            raise CommandError("ERR STORE option in GEORADIUS is not compatible with WITHDIST, WITHHASH and "
                               "WITHCOORDS options")
        what = "GEOSEARCHSTORE" if flags & _SEARCH_STORE else "STORE option in GEORADIUS"
        raise CommandError(f"ERR {what} is not compatible with WITHDIST, WITHHASH and WITHCOORD options")
    if flags & _SEARCH and not (request.from_member or request.from_lonlat):
        raise CommandError(f"ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for {name}")
    if flags & _SEARCH and not (request.by_radius or request.by_box):
        shapes = "BYRADIUS, BYBOX and BYPOLYGON" if _valkey_9(e) else "BYRADIUS and BYBOX"
        raise CommandError(f"ERR exactly one of {shapes} can be specified for {name}")
    if request.any and not request.count:
        raise CommandError("ERR the ANY argument requires COUNT argument")


def _georadius_generic(e: Engine, args: list[bytes], source: int, flags: int):
    """georadiusGeneric: the source's type, the fixed arguments, the options, their combinations; then
    the search, or for a missing source an empty reply (and a STORE that deletes its key)."""
    entry = e.read(args[source], "zset")
    request = _Request(flags)
    if flags & _BY_COORDS:
        first = 6
        request.shape = _radius_shape(e, _lonlat(e, args[2], args[3]), args[4], args[5])
    elif flags & _BY_MEMBER:
        first = 5
        if entry is not None:  # without a source the radius is not even read
            request.shape = _radius_shape(e, _member_origin(e, entry, args[2]), args[3], args[4])
    else:
        first = 3 if flags & _SEARCH_STORE else 2
        request.store = args[1] if flags & _SEARCH_STORE else None
    i = first
    while i < len(args):
        i = _read_option(e, args, i, request, entry)
    _check(e, args, request)
    if entry is None:
        return [] if request.store is None else _store(e, request.store, {}, b"")
    if flags & _SEARCH:
        request.shape.origin = request.origin  # type: ignore[union-attr]  # _check required BYRADIUS or BYBOX
    return _answer(e, entry, request)


def _answer(e: Engine, entry, request: _Request):
    """The search's points, sorted when asked (COUNT without ANY sorts ascending), as a reply or stored."""
    limit = request.count if request.any else 0
    points = collect(entry.value, request.shape, limit)  # type: ignore[arg-type]  # a source: a shape
    order = request.order or (b"asc" if request.count and not request.any else None)
    if order is not None:
        _sort(points, request.count, order == b"desc")
    points = points[:request.count] if request.count else points
    conversion = request.shape.conversion  # type: ignore[union-attr]  # a source: a shape
    if request.store is not None:
        scores = {p.member: (p.meters / conversion if request.store_dist else p.score) for p in points}
        event = b"geosearchstore" if request.flags & _SEARCH else b"georadiusstore"
        return _store(e, request.store, scores, event)
    if not (request.with_dist or request.with_hash or request.with_coord):
        return [p.member for p in points]
    return [_point_reply(e, p, conversion, request) for p in points]


def _sort(points: list[Point], count: int, descending: bool) -> None:
    """Redis sorts all its points with libc's qsort (glibc's merge sort: ties keep the order they were
    found in), or only the first ``count`` with its own partial quicksort, which moves ties around."""
    if not count or count >= len(points):
        points.sort(key=lambda p: p.meters, reverse=descending)
        return
    sign = -1 if descending else 1

    def compare(a: Point, b: Point) -> int:
        return sign * (1 if a.meters > b.meters else 0 if a.meters == b.meters else -1)

    partial_quicksort(points, compare, 0, count - 1)


def _point_reply(e: Engine, point: Point, conversion: float, request: _Request) -> list:
    item: list = [point.member]
    if request.with_dist:
        item.append(b"%.4f" % (point.meters / conversion))
    if request.with_hash:
        item.append(int(point.score))
    if request.with_coord:
        item.append([_coordinate(e, c) for c in point.position])
    return item


@command("georadius", -6)
def georadius(e: Engine, args: list[bytes]):
    return _georadius_generic(e, args, 1, _BY_COORDS)


@command("georadius_ro", -6, write=False)
def georadius_ro(e: Engine, args: list[bytes]):
    return _georadius_generic(e, args, 1, _BY_COORDS | _NO_STORE)


@command("georadiusbymember", -5)
def georadiusbymember(e: Engine, args: list[bytes]):
    return _georadius_generic(e, args, 1, _BY_MEMBER)


@command("georadiusbymember_ro", -5, write=False)
def georadiusbymember_ro(e: Engine, args: list[bytes]):
    return _georadius_generic(e, args, 1, _BY_MEMBER | _NO_STORE)


@command("geosearch", -7, write=False)
def geosearch(e: Engine, args: list[bytes]):
    return _georadius_generic(e, args, 1, _SEARCH)


@command("geosearchstore", -8)
def geosearchstore(e: Engine, args: list[bytes]):
    return _georadius_generic(e, args, 2, _SEARCH | _SEARCH_STORE)
