"""Sorted-set commands (GEO, which scores members by geohash, is in geo.py)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

from rdbtools.keyspace.commands import (
    NULL_ARRAY,
    SYNTAX,
    ZSET,
    CommandError,
    command,
    floating,
    format_double,
    g17,
    integer,
    wrong_arity,
)
from rdbtools.keyspace.encodings import SKIPLIST_ZSET, loaded_type
from rdbtools.keyspace.model import Entry

if TYPE_CHECKING:
    from rdbtools.keyspace.engine import Engine

NOT_FLOAT = "ERR value is not a valid float"
NAN: Final = "ERR resulting score is not a number (NaN)"


def score_text(target, value: float) -> bytes:
    """A score as the target replies with it: the shortest text from Redis 7.2, %.17g before."""
    return format_double(value) if target.shortest_scores else g17(value)


def _zset(e: Engine, key: bytes):
    return e.get(key, "zset")


def _ordered(scores: dict) -> list[tuple[bytes, float]]:
    return sorted(scores.items(), key=lambda pair: (pair[1], pair[0]))


_ZADD_FLAGS: Final = frozenset((b"NX", b"XX", b"GT", b"LT", b"CH", b"INCR"))
_NO_FLAGS: Final = (False, False, False, False, False)


@command("zadd", -4)
def zadd(e: Engine, args: list[bytes]):
    if len(args) == 4 and args[2].upper() not in _ZADD_FLAGS:  # one member, no options: the common case
        return _zadd_one(e, args[1], _double(e, args[2]), args[3])
    flags, rest = _zadd_flags(args)
    scores = [_double(e, score) for score in rest[::2]]  # all checked before anything is added
    pairs = list(zip(scores, rest[1::2], strict=True))
    entry = _zset(e, args[1])
    e.changes = 0
    if entry is None and b"XX" in flags:
        return None if b"INCR" in flags else 0
    entry = entry or e.get_or_create(args[1], "zset", dict)
    values, added, changed, result = entry.value, 0, 0, None
    xx, nx, incr, gt, lt = (b"XX" in flags, b"NX" in flags, b"INCR" in flags, b"GT" in flags, b"LT" in flags) \
        if flags else _NO_FLAGS
    for score, member in pairs:
        old = values.get(member)
        if old is None:
            if xx:
                continue
            added += 1
        else:
            if nx:
                continue
            if incr:
                score += old
                if math.isnan(score):
                    raise CommandError(NAN)
            if (gt and score <= old) or (lt and score >= old):
                continue
            changed += old != score
        result = values[member] = score
    if added or changed:
        e.notify(ZSET, b"zincr" if incr else b"zadd", args[1])
    if entry.type is not SKIPLIST_ZSET:
        # (Valkey converts by the arguments' lengths, as Redis 7.2 by their count, before adding; Redis by
        # the members it adds)
        converted(e.target, entry, rest[1::2] if e.target.valkey_server else [m for m in rest[1::2] if m in values])
        if e.target.size_hints and len(pairs) > e.target.zset_max_listpack_entries:
            entry.type = SKIPLIST_ZSET  # (7.2+ converts by the pairs given, duplicates too, zsetTypeMaybeConvert)
    e.drop_if_empty(args[1], entry)
    e.changes = added + changed
    if b"INCR" in flags:
        return None if result is None else score_text(e.target, result)
    return added + changed if b"CH" in flags else added


def _zadd_one(e: Engine, key: bytes, score: float, member: bytes) -> int:
    """ZADD key score member, what the general loop does for it in fewer steps (ZADD is the slowest
    write of bench_serve)."""
    entry = _zset(e, key) or e.get_or_create(key, "zset", dict)
    values: dict[bytes, float] = entry.value
    old = values.get(member)
    values[member] = score
    if old is None:
        if entry.type is not SKIPLIST_ZSET and (len(values) > e.target.zset_max_listpack_entries
                                                or len(member) > e.target.zset_max_listpack_value):
            entry.type = SKIPLIST_ZSET  # (converted() inline: only a new member can convert the zset)
    elif old == score:
        e.changes = 0
        return 0
    e.changes = 1
    e.notify(ZSET, b"zadd", key)
    return int(old is None)


def converted(target, entry, members) -> None:
    """Members were added: a zset past the listpack's limits is a skiplist for good (Redis never converts
    one back on removal), marked SKIPLIST_ZSET (model.py)."""
    if len(entry.value) > target.zset_max_listpack_entries or any(
            len(m) > target.zset_max_listpack_value for m in members):
        entry.type = SKIPLIST_ZSET


def _zadd_flags(args: list[bytes]) -> tuple[set[bytes], list[bytes]]:
    """ZADD's options and the score/member arguments after them, checked as Redis checks them."""
    i, flags = 2, set()
    while i < len(args) and (flag := args[i].upper()) in _ZADD_FLAGS:
        flags.add(flag)
        i += 1
    rest = args[i:]
    if not rest or len(rest) % 2:
        raise CommandError(SYNTAX)
    if flags:
        if {b"NX", b"XX"} <= flags:
            raise CommandError("ERR XX and NX options at the same time are not compatible")
        if len(flags & {b"GT", b"LT", b"NX"}) > 1:
            raise CommandError("ERR GT, LT, and/or NX options at the same time are not compatible")
        if b"INCR" in flags and len(rest) > 2:
            raise CommandError("ERR INCR option supports a single increment-element pair")
    return flags, rest


@command("zincrby", 4)
def zincrby(e: Engine, args: list[bytes]):
    delta = _double(e, args[2])
    entry = e.get_or_create(args[1], "zset", dict)
    score = entry.value.get(args[3], 0.0) + delta
    if math.isnan(score):
        e.drop_if_empty(args[1], entry)
        raise CommandError(NAN)
    old = entry.value.get(args[3])
    entry.value[args[3]] = score
    converted(e.target, entry, args[3:])
    e.changes = int(old != score)  # an unchanged score (inf + 1) is no change: not propagated
    if old != score:
        e.notify(ZSET, b"zincr", args[1])
    return score_text(e.target, score)


@command("zrem", -3)
def zrem(e: Engine, args: list[bytes]):
    entry = _zset(e, args[1])
    if entry is None:
        return 0
    removed = sum(entry.value.pop(m, None) is not None for m in args[2:])
    if removed:
        e.removed(ZSET, b"zrem", args[1], entry)
    return removed



@command("zscore", 3, write=False)
def zscore(e: Engine, args: list[bytes]):
    entry = _zset(e, args[1])
    score = None if entry is None else entry.value.get(args[2])
    return None if score is None else score_text(e.target, score)


@command("zcard", 2, write=False)
def zcard(e: Engine, args: list[bytes]):
    entry = _zset(e, args[1])
    return 0 if entry is None else len(entry.value)


# --- ranges --------------------------------------------------------------------------------------

def _double(e: Engine, text: bytes, error: str = NOT_FLOAT) -> float:
    """A double argument as the target's server reads it."""
    return floating(text, error, hexadecimal=e.target.hex_doubles)


def score_bound(text: bytes, strtod: bool) -> tuple[float, bool]:
    """A ZRANGEBYSCORE bound: (value, exclusive). Read to its end, NaN refused, out of range allowed;
    by strtod (``Target.strtod_score_ranges``) leading spaces and hexadecimal are taken."""
    exclusive = text.startswith(b"(")
    number = text[1:] if exclusive else text
    if strtod:
        number = number.lstrip(b" \t\n\r\x0b\x0c")
    try:
        if not number or number[:1].isspace() or number[-1:].isspace() or b"_" in number:
            raise ValueError(number)  # what Python's float takes and strtod does not
        hexadecimal = strtod and b"x" in number.lower()
        value = float.fromhex(number.decode("latin-1")) if hexadecimal else float(number)
    except OverflowError:  # (hexadecimal past the largest double: strtod's ERANGE, which a bound may be)
        value = -math.inf if number.startswith(b"-") else math.inf
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


def _lex_walk(items: list[tuple[bytes, float]], low, high, rev: bool) -> list[tuple[bytes, float]]:
    """A lex range as Redis walks it: in the set's own order, as if members were sorted by name (they
    are when all scores are equal, the case lex ranges are for). Nothing unless the range is not empty,
    the first member is at most the max and the last at least the min; then, forward, the members
    below the min are skipped and those up to the max taken (backward: above the max skipped, down to
    the min taken)."""
    if not items or low[2] == 1 or high[2] == -1 or (
            low[2] == high[2] == 0 and (low[0] > high[0] or (low[0] == high[0] and (low[1] or high[1])))):
        return []
    at_least_min = lambda member: _in_lex_range(member, low, (None, False, 1))  # noqa: E731
    at_most_max = lambda member: _in_lex_range(member, (None, False, -1), high)  # noqa: E731
    if not (at_most_max(items[0][0]) and at_least_min(items[-1][0])):
        return []
    reached, take = (at_most_max, at_least_min) if rev else (at_least_min, at_most_max)
    walk = iter(reversed(items) if rev else items)
    chosen = []
    for pair in walk:
        if reached(pair[0]):
            if not take(pair[0]):
                return []
            chosen.append(pair)
            break
    for pair in walk:
        if not take(pair[0]):
            break
        chosen.append(pair)
    return chosen


def _rank_slice(size: int, start: int, stop: int) -> slice:
    start = max(0, start + size if start < 0 else start)
    stop = min(size - 1, stop + size if stop < 0 else stop)
    return slice(start, stop + 1) if start <= stop else slice(0, 0)


def _selector(by: str, low: bytes, high: bytes, rev: bool, limit: tuple[int, int] | None, strtod: bool):
    """The range arguments parsed (errors before the key is looked up, as Redis does): a function
    from the entry to the chosen (member, score) pairs."""
    if by == "rank":
        start, stop = integer(low), integer(high)
        test = None
    elif by == "score":
        bounds = (score_bound(high, strtod), score_bound(low, strtod)) if rev else (
            score_bound(low, strtod), score_bound(high, strtod))
        test = lambda pair: _in_score_range(pair[1], *bounds)  # noqa: E731
    else:
        lex_bounds = (lex_bound(high), lex_bound(low)) if rev else (lex_bound(low), lex_bound(high))
        test = None

    def select(entry) -> list[tuple[bytes, float]]:
        items = _ordered(entry.value) if entry is not None else []
        if by == "lex":
            chosen = _lex_walk(items, *lex_bounds, rev)
        elif test is None:
            return (items[::-1] if rev else items)[_rank_slice(len(items), start, stop)]
        else:
            chosen = [pair for pair in (reversed(items) if rev else items) if test(pair)]
        if limit is not None:
            offset, count = limit
            chosen = [] if offset < 0 else chosen[offset:] if count < 0 else chosen[offset : offset + count]
        return chosen

    return select


def _range_options(args, first: int, by: str | None = None, rev: bool | None = None, store: bool = False):
    """BYSCORE|BYLEX, REV, LIMIT offset count, WITHSCORES from args[first:]. As Redis's
    zrangeGenericCommand: what the command's name fixes (ZREVRANGE's REV, ZRANGEBYSCORE's BYSCORE) or
    an earlier option set cannot be given (again), and a store takes no WITHSCORES: syntax errors."""
    limit, withscores, i = None, False, first
    while i < len(args):
        option = args[i].upper()
        if option == b"WITHSCORES" and not store:
            withscores = True
        elif option == b"LIMIT" and i + 2 < len(args):
            limit = (integer(args[i + 1]), integer(args[i + 2]))
            i += 2
        elif option == b"REV" and rev is None:
            rev = True
        elif option in (b"BYSCORE", b"BYLEX") and by is None:
            by = "score" if option == b"BYSCORE" else "lex"
        else:
            raise CommandError(SYNTAX)
        i += 1
    by, rev = by or "rank", bool(rev)
    if limit is not None and by == "rank":
        raise CommandError("ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX")
    if withscores and by == "lex":
        raise CommandError("ERR syntax error, WITHSCORES not supported in combination with BYLEX")
    return by, rev, limit, withscores


def _reply(pairs, withscores: bool, target) -> list:
    return [x for m, s in pairs for x in (m, score_text(target, s))] if withscores else [m for m, _ in pairs]


@command("zrange", -4, write=False)
def zrange(e: Engine, args: list[bytes]):
    return _legacy_range(e, args, None, None)


@command("zrangestore", -5)
def zrangestore(e: Engine, args: list[bytes]):
    by, rev, limit, _ = _range_options(args, 5, store=True)
    select = _selector(by, args[3], args[4], rev, limit, e.target.strtod_score_ranges)
    return _store(e, args[1], dict(select(e.read(args[2], "zset"))), b"zrangestore")


def _store(e: Engine, key: bytes, scores: dict, event: bytes) -> int:
    entry = Entry(loaded_type("zset", "", scores, e.target), scores) if scores else None  # (a skiplist when big)
    e.store(key, entry, ZSET, event)
    return len(scores)


def _remove_range(e: Engine, args, by: str):
    select = _selector(by, args[2], args[3], False, None, e.target.strtod_score_ranges)
    entry = _zset(e, args[1])
    chosen = select(entry)
    if entry is None:
        return 0
    for member, _ in chosen:
        del entry.value[member]
    if chosen:
        e.removed(ZSET, b"zremrangeby" + by.encode(), args[1], entry)
    return len(chosen)


@command("zremrangebyrank", 4)
def zremrangebyrank(e: Engine, args: list[bytes]):
    return _remove_range(e, args, "rank")


@command("zremrangebyscore", 4)
def zremrangebyscore(e: Engine, args: list[bytes]):
    return _remove_range(e, args, "score")


@command("zremrangebylex", 4)
def zremrangebylex(e: Engine, args: list[bytes]):
    return _remove_range(e, args, "lex")


def _pop(e: Engine, key: bytes, highest: bool, count: int, entry=None) -> list:
    """``entry``: the key's, when the caller looked it up (that was the access)."""
    entry = entry or _zset(e, key)
    if entry is None:
        return []
    items = _ordered(entry.value)
    chosen = items[::-1][:count] if highest else items[:count]
    for member, _ in chosen:
        del entry.value[member]
    if chosen:
        e.removed(ZSET, b"zpopmax" if highest else b"zpopmin", key, entry)
    return chosen


def _pop_command(e: Engine, args, highest: bool):
    if len(args) > 3:
        raise CommandError(SYNTAX)
    count = 1 if len(args) == 2 else integer(args[2], "ERR value is out of range, must be positive")
    if count < 0:
        raise CommandError("ERR value is out of range, must be positive")
    return _reply(_pop(e, args[1], highest, count), True, e.target)


@command("zpopmin", -2)
def zpopmin(e: Engine, args: list[bytes]):
    return _pop_command(e, args, False)


@command("zpopmax", -2)
def zpopmax(e: Engine, args: list[bytes]):
    return _pop_command(e, args, True)


def _blocking_pop(e: Engine, args, highest: bool):
    for key in args[1:-1]:
        if _zset(e, key) is not None:  # (the pop looks it up again: Redis's blocking pops access it twice)
            member, score = _pop(e, key, highest, 1)[0]
            return [key, member, score_text(e.target, score)]
    return NULL_ARRAY


@command("bzpopmin", -3)
def bzpopmin(e: Engine, args: list[bytes]):
    return _blocking_pop(e, args, False)


@command("bzpopmax", -3)
def bzpopmax(e: Engine, args: list[bytes]):
    return _blocking_pop(e, args, True)


def _mpop(e: Engine, args, first: int):
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
        entry = _zset(e, key)
        if entry is not None:  # BZMPOP's pop looks the key up again (two accesses in Redis), ZMPOP's does not
            entry = None if first == 2 else entry
            return [key, [[m, score_text(e.target, s)] for m, s in _pop(e, key, rest[0] == b"MAX", count, entry)]]
    return NULL_ARRAY


@command("zmpop", -4)
def zmpop(e: Engine, args: list[bytes]):
    return _mpop(e, args, 1)


@command("bzmpop", -5)
def bzmpop(e: Engine, args: list[bytes]):
    return _mpop(e, args, 2)


def _source_scores(e: Engine, key: bytes) -> dict:
    """ZUNIONSTORE and friends take sets too (score 1); read, a miss telling keymiss."""
    entry = e.read(key)
    if entry is None:
        return {}
    if entry.type == "set":
        return dict.fromkeys(entry.value, 1.0)
    if entry.type != "zset":
        from rdbtools.keyspace.commands import WRONGTYPE

        raise CommandError(WRONGTYPE)
    return entry.value


_AGGREGATE: dict[bytes, Callable[[float, float], float]] = {b"SUM": lambda a, b: a + b, b"MIN": min, b"MAX": max}


def _combine(e: Engine, args, first: int, operation: str, replying: bool = False) -> tuple[dict, bool]:
    """numkeys key... [WEIGHTS w...] [AGGREGATE SUM|MIN|MAX] from args[first:] (and WITHSCORES
    when the result is the reply): the scores combined, and whether WITHSCORES was given."""
    numkeys = integer(args[first])
    if numkeys <= 0:
        raise CommandError(f"ERR at least 1 input key is needed for '{args[0].decode().lower()}' command")
    keys = args[first + 1 : first + 1 + numkeys]
    if len(keys) < numkeys:
        raise CommandError(SYNTAX)
    sources = [_source_scores(e, key) for key in keys]  # Redis looks the keys up before the options
    weights, aggregate, withscores, i = [1.0] * numkeys, b"SUM", False, first + 1 + numkeys
    while i < len(args):
        option = args[i].upper()
        if option == b"WEIGHTS" and operation != "diff" and i + numkeys < len(args):
            weights = [_double(e, w, "ERR weight value is not a float") for w in args[i + 1 : i + 1 + numkeys]]
            i += numkeys + 1
        elif option == b"AGGREGATE" and operation != "diff" and i + 1 < len(args) and args[i + 1].upper() in _AGGREGATE:
            aggregate = args[i + 1].upper()
            i += 2
        elif option == b"WITHSCORES" and replying:
            withscores = True
            i += 1
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
    return result, withscores


def _no_nan(value: float) -> float:
    return 0.0 if math.isnan(value) else value


@command("zunionstore", -4)
def zunionstore(e: Engine, args: list[bytes]):
    return _store(e, args[1], _combine(e, args, 2, "union")[0], b"zunionstore")


@command("zinterstore", -4)
def zinterstore(e: Engine, args: list[bytes]):
    return _store(e, args[1], _combine(e, args, 2, "inter")[0], b"zinterstore")


@command("zdiffstore", -4)
def zdiffstore(e: Engine, args: list[bytes]):
    return _store(e, args[1], _combine(e, args, 2, "diff")[0], b"zdiffstore")


def _combined_reply(e: Engine, args, operation: str) -> list:
    """ZUNION / ZINTER / ZDIFF: the result in zset order, scores as the target prints them."""
    scores, withscores = _combine(e, args, 1, operation, replying=True)
    return _reply(_ordered(scores), withscores, e.target)


@command("zunion", -3, write=False)
def zunion(e: Engine, args: list[bytes]):
    return _combined_reply(e, args, "union")


@command("zinter", -3, write=False)
def zinter(e: Engine, args: list[bytes]):
    return _combined_reply(e, args, "inter")


@command("zdiff", -3, write=False)
def zdiff(e: Engine, args: list[bytes]):
    return _combined_reply(e, args, "diff")


@command("zintercard", -3, write=False)
def zintercard(e: Engine, args: list[bytes]):
    """ZINTERCARD numkeys key... [LIMIT n]: the keys are looked up (and type-checked) first."""
    numkeys = integer(args[1])
    if numkeys <= 0:
        raise CommandError("ERR at least 1 input key is needed for 'zintercard' command")
    keys = args[2 : 2 + numkeys]
    if len(keys) < numkeys:
        raise CommandError(SYNTAX)
    sources = sorted((_source_scores(e, key) for key in keys), key=len)
    return intersection_size(sources, intercard_limit(args, 2 + numkeys))


LIMIT_NEGATIVE = "ERR LIMIT can't be negative"


def intercard_limit(args: list[bytes], at: int) -> int:
    """SINTERCARD's and ZINTERCARD's options from ``at``: LIMIT n (0, the default, is no limit)."""
    limit = 0
    while at < len(args):
        if args[at].upper() != b"LIMIT" or at + 1 >= len(args):
            raise CommandError(SYNTAX)
        limit = integer(args[at + 1], LIMIT_NEGATIVE)
        if limit < 0:
            raise CommandError(LIMIT_NEGATIVE)
        at += 2
    return limit


def intersection_size(sources: list, limit: int) -> int:
    """How many members all the collections share, counting stops at ``limit`` (0: no limit)."""
    smallest, others, found = sources[0], sources[1:], 0
    for member in smallest:
        if all(member in other for other in others):
            found += 1
            if found == limit:
                break
    return found


@command("zmscore", -3, write=False)
def zmscore(e: Engine, args: list[bytes]):
    entry = _zset(e, args[1])
    scores = {} if entry is None else entry.value
    return [score_text(e.target, scores[m]) if m in scores else None for m in args[2:]]


def _rank(e: Engine, args, reverse: bool):
    """Z[REV]RANK key member [WITHSCORE] (WITHSCORE from Redis 7.2; the target's arity refuses it before):
    with it, [rank, score] or the null array."""
    if len(args) > 4:
        raise wrong_arity(args[0])
    with_score = len(args) == 4
    if with_score and args[3].upper() != b"WITHSCORE":
        raise CommandError(SYNTAX)
    entry = _zset(e, args[1])
    if entry is None or args[2] not in entry.value:
        return NULL_ARRAY if with_score else None
    order = [m for m, _ in _ordered(entry.value)]
    rank = order.index(args[2])
    rank = len(order) - 1 - rank if reverse else rank
    return [rank, score_text(e.target, entry.value[args[2]])] if with_score else rank


@command("zrank", -3, write=False)
def zrank(e: Engine, args: list[bytes]):
    return _rank(e, args, False)


@command("zrevrank", -3, write=False)
def zrevrank(e: Engine, args: list[bytes]):
    return _rank(e, args, True)


@command("zcount", 4, write=False)
def zcount(e: Engine, args: list[bytes]):
    return len(_selector("score", args[2], args[3], False, None, e.target.strtod_score_ranges)(_zset(e, args[1])))


@command("zlexcount", 4, write=False)
def zlexcount(e: Engine, args: list[bytes]):
    return len(_selector("lex", args[2], args[3], False, None, e.target.strtod_score_ranges)(_zset(e, args[1])))


def _legacy_range(e: Engine, args, by: str | None, rev: bool | None):
    """ZRANGEBYSCORE / ZREVRANGE / ... : ZRANGE with BYSCORE/BYLEX/REV fixed by the name."""
    by, rev, limit, withscores = _range_options(args, 4, by, rev)
    select = _selector(by, args[2], args[3], rev, limit, e.target.strtod_score_ranges)
    return _reply(select(_zset(e, args[1])), withscores, e.target)


@command("zrangebyscore", -4, write=False)
def zrangebyscore(e: Engine, args: list[bytes]):
    return _legacy_range(e, args, "score", False)


@command("zrevrangebyscore", -4, write=False)
def zrevrangebyscore(e: Engine, args: list[bytes]):
    return _legacy_range(e, args, "score", True)


@command("zrangebylex", -4, write=False)
def zrangebylex(e: Engine, args: list[bytes]):
    return _legacy_range(e, args, "lex", False)


@command("zrevrangebylex", -4, write=False)
def zrevrangebylex(e: Engine, args: list[bytes]):
    return _legacy_range(e, args, "lex", True)


@command("zrevrange", -4, write=False)
def zrevrange(e: Engine, args: list[bytes]):
    return _legacy_range(e, args, "rank", True)
