"""Sorted-set commands, and GEOADD (a GEO set is a sorted set scored by geohash)."""

from __future__ import annotations

import math

from rdbtools.keyspace.commands import SYNTAX, CommandError, command, floating, format_double, integer

NOT_FLOAT = "ERR value is not a valid float"
NAN = "ERR resulting score is not a number (NaN)"


def _zset(e, key: bytes):
    return e.get(key, "zset")


def _ordered(scores: dict) -> list[tuple[bytes, float]]:
    return sorted(scores.items(), key=lambda pair: (pair[1], pair[0]))


@command("zadd", -4)
def zadd(e, args):
    i, flags = 2, set()
    while i < len(args) and args[i].upper() in (b"NX", b"XX", b"GT", b"LT", b"CH", b"INCR"):
        flags.add(args[i].upper())
        i += 1
    rest = args[i:]
    if not rest or len(rest) % 2:
        raise CommandError(SYNTAX)
    if {b"NX", b"XX"} <= flags:
        raise CommandError("ERR XX and NX options at the same time are not compatible")
    if len(flags & {b"GT", b"LT", b"NX"}) > 1:
        raise CommandError("ERR GT, LT, and/or NX options at the same time are not compatible")
    if b"INCR" in flags and len(rest) > 2:
        raise CommandError("ERR INCR option supports a single increment-element pair")
    pairs = [(floating(rest[j]), rest[j + 1]) for j in range(0, len(rest), 2)]
    entry = _zset(e, args[1])
    if entry is None and b"XX" in flags:
        return None if b"INCR" in flags else 0
    entry = entry or e.get_or_create(args[1], "zset", dict)
    added = changed = 0
    result = None
    for score, member in pairs:
        old = entry.value.get(member)
        if (b"NX" in flags and old is not None) or (b"XX" in flags and old is None):
            continue
        if b"INCR" in flags and old is not None:
            score += old
            if math.isnan(score):
                raise CommandError(NAN)
        if old is not None and ((b"GT" in flags and score <= old) or (b"LT" in flags and score >= old)):
            continue
        result = score
        if old is None:
            added += 1
        elif old != score:
            changed += 1
        entry.value[member] = score
    e.drop_if_empty(args[1], entry)
    if b"INCR" in flags:
        return None if result is None else format_double(result)
    return added + changed if b"CH" in flags else added


@command("zincrby", 4)
def zincrby(e, args):
    delta = floating(args[2])
    entry = e.get_or_create(args[1], "zset", dict)
    score = entry.value.get(args[3], 0.0) + delta
    if math.isnan(score):
        e.drop_if_empty(args[1], entry)
        raise CommandError(NAN)
    entry.value[args[3]] = score
    return format_double(score)


@command("zrem", -3)
def zrem(e, args):
    entry = _zset(e, args[1])
    if entry is None:
        return 0
    removed = sum(entry.value.pop(m, None) is not None for m in args[2:])
    e.drop_if_empty(args[1], entry)
    return removed


@command("zscore", 3, write=False)
def zscore(e, args):
    entry = _zset(e, args[1])
    score = None if entry is None else entry.value.get(args[2])
    return None if score is None else format_double(score)


@command("zcard", 2, write=False)
def zcard(e, args):
    entry = _zset(e, args[1])
    return 0 if entry is None else len(entry.value)


# --- ranges --------------------------------------------------------------------------------------

def score_bound(text: bytes) -> tuple[float, bool]:
    """A ZRANGEBYSCORE bound: (value, exclusive)."""
    exclusive = text.startswith(b"(")
    try:
        value = float(text[1:] if exclusive else text)
    except ValueError:
        raise CommandError("ERR min or max is not a float") from None
    if math.isnan(value):
        raise CommandError("ERR min or max is not a float")
    return value, exclusive


def _in_score_range(score: float, low: tuple[float, bool], high: tuple[float, bool]) -> bool:
    above = score > low[0] if low[1] else score >= low[0]
    below = score < high[0] if high[1] else score <= high[0]
    return above and below


def lex_bound(text: bytes) -> tuple[bytes | None, bool, int]:
    """A ZRANGEBYLEX bound: (value, exclusive, infinity -1/0/+1)."""
    if text == b"-":
        return None, False, -1
    if text == b"+":
        return None, False, 1
    if text[:1] not in (b"(", b"["):
        raise CommandError("ERR min or max not valid string range item")
    return text[1:], text[:1] == b"(", 0


def _in_lex_range(member: bytes, low, high) -> bool:
    if low[2] == 1 or high[2] == -1:
        return False
    above = low[2] == -1 or (member > low[0] if low[1] else member >= low[0])
    below = high[2] == 1 or (member < high[0] if high[1] else member <= high[0])
    return above and below


def _rank_slice(size: int, start: int, stop: int) -> slice:
    start = max(0, start + size if start < 0 else start)
    stop = min(size - 1, stop + size if stop < 0 else stop)
    return slice(start, stop + 1) if start <= stop else slice(0, 0)


def _selector(by: str, low: bytes, high: bytes, rev: bool, limit: tuple[int, int] | None):
    """The range arguments parsed (errors before the key is looked up, as Redis does): a function
    from the entry to the chosen (member, score) pairs."""
    if by == "rank":
        start, stop = integer(low), integer(high)
        test = None
    elif by == "score":
        bounds = (score_bound(high), score_bound(low)) if rev else (score_bound(low), score_bound(high))
        test = lambda pair: _in_score_range(pair[1], *bounds)  # noqa: E731
    else:
        bounds = (lex_bound(high), lex_bound(low)) if rev else (lex_bound(low), lex_bound(high))
        test = lambda pair: _in_lex_range(pair[0], *bounds)  # noqa: E731

    def select(entry) -> list[tuple[bytes, float]]:
        items = _ordered(entry.value) if entry is not None else []
        if rev:
            items.reverse()
        if test is None:
            return items[_rank_slice(len(items), start, stop)]
        chosen = [pair for pair in items if test(pair)]
        if limit is not None:
            offset, count = limit
            chosen = [] if offset < 0 else chosen[offset:] if count < 0 else chosen[offset : offset + count]
        return chosen

    return select


def _range_options(args, first: int):
    """BYSCORE|BYLEX, REV, LIMIT offset count, WITHSCORES from args[first:]."""
    by, rev, limit, withscores, i = "rank", False, None, False, first
    while i < len(args):
        option = args[i].upper()
        if option == b"BYSCORE":
            by = "score"
        elif option == b"BYLEX":
            by = "lex"
        elif option == b"REV":
            rev = True
        elif option == b"WITHSCORES":
            withscores = True
        elif option == b"LIMIT" and i + 2 < len(args):
            limit = (integer(args[i + 1]), integer(args[i + 2]))
            i += 2
        else:
            raise CommandError(SYNTAX)
        i += 1
    if limit is not None and by == "rank":
        raise CommandError("ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX")
    if withscores and by == "lex":
        raise CommandError("ERR syntax error, WITHSCORES not supported in combination with BYLEX")
    return by, rev, limit, withscores


def _reply(pairs, withscores: bool) -> list:
    return [x for m, s in pairs for x in (m, format_double(s))] if withscores else [m for m, _ in pairs]


@command("zrange", -4, write=False)
def zrange(e, args):
    by, rev, limit, withscores = _range_options(args, 4)
    select = _selector(by, args[2], args[3], rev, limit)
    return _reply(select(_zset(e, args[1])), withscores)


@command("zrangestore", -5)
def zrangestore(e, args):
    by, rev, limit, withscores = _range_options(args, 5)
    if withscores:
        raise CommandError(SYNTAX)
    select = _selector(by, args[3], args[4], rev, limit)
    return _store(e, args[1], dict(select(_zset(e, args[2]))))


def _store(e, key: bytes, scores: dict) -> int:
    e.delete(key)
    if scores:
        e.get_or_create(key, "zset", dict).value.update(scores)
    return len(scores)


def _remove_range(e, args, by: str):
    select = _selector(by, args[2], args[3], False, None)
    entry = _zset(e, args[1])
    chosen = select(entry)
    if entry is None:
        return 0
    for member, _ in chosen:
        del entry.value[member]
    e.drop_if_empty(args[1], entry)
    return len(chosen)


@command("zremrangebyrank", 4)
def zremrangebyrank(e, args):
    return _remove_range(e, args, "rank")


@command("zremrangebyscore", 4)
def zremrangebyscore(e, args):
    return _remove_range(e, args, "score")


@command("zremrangebylex", 4)
def zremrangebylex(e, args):
    return _remove_range(e, args, "lex")


def _pop(e, key: bytes, highest: bool, count: int) -> list:
    entry = _zset(e, key)
    if entry is None:
        return []
    items = _ordered(entry.value)
    chosen = items[::-1][:count] if highest else items[:count]
    for member, _ in chosen:
        del entry.value[member]
    e.drop_if_empty(key, entry)
    return chosen


def _pop_command(e, args, highest: bool):
    if len(args) > 3:
        raise CommandError(SYNTAX)
    count = 1 if len(args) == 2 else integer(args[2], "ERR value is out of range, must be positive")
    if count < 0:
        raise CommandError("ERR value is out of range, must be positive")
    return _reply(_pop(e, args[1], highest, count), True)


@command("zpopmin", -2)
def zpopmin(e, args):
    return _pop_command(e, args, False)


@command("zpopmax", -2)
def zpopmax(e, args):
    return _pop_command(e, args, True)


def _blocking_pop(e, args, highest: bool):
    for key in args[1:-1]:
        if _zset(e, key) is not None:
            member, score = _pop(e, key, highest, 1)[0]
            return [key, member, format_double(score)]
    return None


@command("bzpopmin", -3)
def bzpopmin(e, args):
    return _blocking_pop(e, args, False)


@command("bzpopmax", -3)
def bzpopmax(e, args):
    return _blocking_pop(e, args, True)


def _mpop(e, args, first: int):
    numkeys = integer(args[first])
    if numkeys <= 0:
        raise CommandError("ERR numkeys should be greater than 0")
    keys, rest = args[first + 1 : first + 1 + numkeys], [a.upper() for a in args[first + 1 + numkeys :]]
    if len(keys) < numkeys or not rest or rest[0] not in (b"MIN", b"MAX"):
        raise CommandError(SYNTAX)
    count = 1
    if len(rest) == 3 and rest[1] == b"COUNT":
        count = integer(args[first + 1 + numkeys + 2])
        if count <= 0:
            raise CommandError("ERR count should be greater than 0")
    elif len(rest) != 1:
        raise CommandError(SYNTAX)
    for key in keys:
        if _zset(e, key) is not None:
            return [key, [[m, format_double(s)] for m, s in _pop(e, key, rest[0] == b"MAX", count)]]
    return None


@command("zmpop", -4)
def zmpop(e, args):
    return _mpop(e, args, 1)


@command("bzmpop", -5)
def bzmpop(e, args):
    return _mpop(e, args, 2)


def _source_scores(e, key: bytes) -> dict:
    """ZUNIONSTORE and friends take sets too (score 1)."""
    entry = e.lookup(key)
    if entry is None:
        return {}
    if entry.type == "set":
        return dict.fromkeys(entry.value, 1.0)
    if entry.type != "zset":
        from rdbtools.keyspace.commands import WRONGTYPE

        raise CommandError(WRONGTYPE)
    return entry.value


_AGGREGATE = {b"SUM": lambda a, b: a + b, b"MIN": min, b"MAX": max}


def _combine(e, args, first: int, operation: str) -> dict:
    """numkeys key... [WEIGHTS w...] [AGGREGATE SUM|MIN|MAX] from args[first:]."""
    numkeys = integer(args[first])
    if numkeys <= 0:
        raise CommandError(f"ERR at least 1 input key is needed for '{args[0].decode().lower()}' command")
    keys = args[first + 1 : first + 1 + numkeys]
    if len(keys) < numkeys:
        raise CommandError(SYNTAX)
    sources = [_source_scores(e, key) for key in keys]  # Redis looks the keys up before the options
    weights, aggregate, i = [1.0] * numkeys, b"SUM", first + 1 + numkeys
    while i < len(args):
        option = args[i].upper()
        if option == b"WEIGHTS" and operation != "diff" and i + numkeys < len(args):
            weights = [floating(w, "ERR weight value is not a float") for w in args[i + 1 : i + 1 + numkeys]]
            i += numkeys + 1
        elif option == b"AGGREGATE" and operation != "diff" and i + 1 < len(args) and args[i + 1].upper() in _AGGREGATE:
            aggregate = args[i + 1].upper()
            i += 2
        else:
            raise CommandError(SYNTAX)
    combine = _AGGREGATE[aggregate]

    def weighted(score: float, weight: float) -> float:
        value = score * weight
        return 0.0 if math.isnan(value) else value

    result = {m: weighted(s, weights[0]) for m, s in sources[0].items()}
    for source, weight in zip(sources[1:], weights[1:], strict=True):
        if operation == "inter":
            result = {m: _no_nan(combine(s, weighted(source[m], weight))) for m, s in result.items() if m in source}
        elif operation == "union":
            for member, score in source.items():
                value = weighted(score, weight)
                result[member] = _no_nan(combine(result[member], value)) if member in result else value
        else:
            result = {m: s for m, s in result.items() if m not in source}
    return result


def _no_nan(value: float) -> float:
    return 0.0 if math.isnan(value) else value


@command("zunionstore", -4)
def zunionstore(e, args):
    return _store(e, args[1], _combine(e, args, 2, "union"))


@command("zinterstore", -4)
def zinterstore(e, args):
    return _store(e, args[1], _combine(e, args, 2, "inter"))


@command("zdiffstore", -4)
def zdiffstore(e, args):
    return _store(e, args[1], _combine(e, args, 2, "diff"))


# --- GEO: members scored by their 52-bit interleaved geohash ------------------------------------

GEO_LAT_LIMIT = 85.05112878
GEO_STEP = 26


def geohash_score(longitude: float, latitude: float) -> float:
    """geohashEncodeWGS84 at 26 steps: latitude and longitude bits interleaved (longitude first)."""
    lat = int((latitude + GEO_LAT_LIMIT) / (2 * GEO_LAT_LIMIT) * (1 << GEO_STEP))
    lon = int((longitude + 180.0) / 360.0 * (1 << GEO_STEP))
    bits = 0
    for i in range(GEO_STEP - 1, -1, -1):
        bits = (bits << 2) | ((lon >> i) & 1) << 1 | ((lat >> i) & 1)
    return float(bits)


@command("geoadd", -5)
def geoadd(e, args):
    i, flags = 2, set()
    while args[i].upper() in (b"NX", b"XX", b"CH"):
        flags.add(args[i].upper())
        i += 1
    rest = args[i:]
    if not rest or len(rest) % 3:
        raise CommandError(SYNTAX)
    if {b"NX", b"XX"} <= flags:
        raise CommandError("ERR XX and NX options at the same time are not compatible")
    zadd_args = [b"zadd", args[1], *sorted(flags)]
    for j in range(0, len(rest), 3):
        longitude, latitude = floating(rest[j], NOT_FLOAT), floating(rest[j + 1], NOT_FLOAT)
        if not (-180 <= longitude <= 180 and -GEO_LAT_LIMIT <= latitude <= GEO_LAT_LIMIT):
            raise CommandError(f"ERR invalid longitude,latitude pair {longitude:.6f},{latitude:.6f}")
        zadd_args += [b"%d" % geohash_score(longitude, latitude), rest[j + 2]]
    return zadd(e, zadd_args)


@command("zmscore", -3, write=False)
def zmscore(e, args):
    entry = _zset(e, args[1])
    scores = {} if entry is None else entry.value
    return [format_double(scores[m]) if m in scores else None for m in args[2:]]


def _rank(e, args, reverse: bool):
    entry = _zset(e, args[1])
    if entry is None or args[2] not in entry.value:
        return None
    order = [m for m, _ in _ordered(entry.value)]
    rank = order.index(args[2])
    return len(order) - 1 - rank if reverse else rank


@command("zrank", -3, write=False)
def zrank(e, args):
    return _rank(e, args, False)


@command("zrevrank", -3, write=False)
def zrevrank(e, args):
    return _rank(e, args, True)


@command("zcount", 4, write=False)
def zcount(e, args):
    return len(_selector("score", args[2], args[3], False, None)(_zset(e, args[1])))


@command("zlexcount", 4, write=False)
def zlexcount(e, args):
    return len(_selector("lex", args[2], args[3], False, None)(_zset(e, args[1])))


def _legacy_range(e, args, by: str, rev: bool):
    """ZRANGEBYSCORE / ZREVRANGE / ... : ZRANGE with BYSCORE/BYLEX/REV spelled as a name."""
    return zrange(e, [b"zrange", args[1], args[2], args[3],
                      *([b"BYSCORE"] if by == "score" else [b"BYLEX"] if by == "lex" else []),
                      *([b"REV"] if rev else []), *args[4:]])


@command("zrangebyscore", -4, write=False)
def zrangebyscore(e, args):
    return _legacy_range(e, args, "score", False)


@command("zrevrangebyscore", -4, write=False)
def zrevrangebyscore(e, args):
    return _legacy_range(e, args, "score", True)


@command("zrangebylex", -4, write=False)
def zrangebylex(e, args):
    return _legacy_range(e, args, "lex", False)


@command("zrevrangebylex", -4, write=False)
def zrevrangebylex(e, args):
    return _legacy_range(e, args, "lex", True)


@command("zrevrange", -4, write=False)
def zrevrange(e, args):
    return _legacy_range(e, args, "rank", True)
