"""Replies whose RESP3 form differs from the engine's RESP2-shaped answer: maps, sets and doubles.

The engine answers as RESP2 does (flat arrays, scores as text); a RESP3 client gets the types
Redis 7 gives it: HGETALL and XREAD maps, SMEMBERS sets, scores as doubles, WITHSCORES as pairs.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from rdbtools.keyspace.commands import NULL_ARRAY, Double, Map
from rdbtools.server.protocol import SetReply

_WITHSCORES = {b"zrange", b"zrangebyscore", b"zrevrange", b"zrevrangebyscore", b"zunion", b"zinter", b"zdiff"}
_SETS = {b"smembers", b"sinter", b"sunion", b"sdiff"}


def shaped(name: bytes, args: list[bytes], reply: Any, resp3: bool) -> object:
    """The reply as sent to a client of this protocol (`reply` is Any: its shape is the command's, which
    the name tells and the type system cannot)."""
    if name not in RESHAPED or reply is NULL_ARRAY:
        return reply
    if name == b"hgetall" and isinstance(reply, list):
        return Map(zip(reply[::2], reply[1::2], strict=True))
    if not resp3 or reply is None or isinstance(reply, Exception):
        return reply
    if name in _SETS:
        return SetReply(reply)
    if name in (b"zscore", b"zincrby") or (name == b"zadd" and isinstance(reply, bytes)):
        return _double(reply)
    if name == b"zmscore":
        return [None if s is None else _double(s) for s in reply]
    if name in _WITHSCORES and any(a.upper() == b"WITHSCORES" for a in args):
        return _pairs(reply)
    if name in (b"zpopmin", b"zpopmax"):
        return _pairs(reply) if len(args) > 2 else [x if i % 2 == 0 else _double(x) for i, x in enumerate(reply)]
    if name in (b"bzpopmin", b"bzpopmax"):
        return [reply[0], reply[1], _double(reply[2])]
    if name in (b"zrank", b"zrevrank"):  # WITHSCORE
        return [reply[0], _double(reply[1])] if isinstance(reply, list) else reply
    if name in (b"zmpop", b"bzmpop"):
        return [reply[0], [[m, _double(s)] for m, s in reply[1]]]
    if name in (b"xread", b"xreadgroup"):
        return Map((key, entries) for key, entries in reply)
    if name in _RANDOM_PAIRS and len(args) == 4 and isinstance(reply, list):  # WITHSCORES / WITHVALUES
        return _pairs(reply) if name == b"zrandmember" else [list(reply[i : i + 2]) for i in range(0, len(reply), 2)]
    return reply


_RANDOM_PAIRS = {b"zrandmember", b"hrandfield"}
RESHAPED = _WITHSCORES | _SETS | _RANDOM_PAIRS
RESHAPED |= {b"hgetall", b"zscore", b"zincrby", b"zadd", b"zmscore", b"zpopmin", b"zpopmax", b"bzpopmin",
             b"bzpopmax", b"zmpop", b"bzmpop", b"xread", b"xreadgroup", b"zrank", b"zrevrank"}


def _pairs(flat: list) -> list:
    return [[flat[i], _double(flat[i + 1])] for i in range(0, len(flat), 2)]


def _double(text: bytes) -> Double:
    """A score the engine printed as the target prints it (Redis 7.0: %.17g), kept as that text."""
    double = Double(float(text))
    double.text = text
    return double


def shape_of(name: bytes) -> Callable | None:
    """A command's reply shaping, (args, reply, resp3) -> reply, None when the engine's reply is sent as
    is (the command table's record holds it)."""
    return partial(shaped, name) if name in RESHAPED else None
