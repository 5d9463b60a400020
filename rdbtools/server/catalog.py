"""Which commands a target server has: the one place serve's dispatch and COMMAND both read, so a
client that probes COMMAND INFO before calling finds exactly what serve answers (README.md, "serve").

Commands not named here are as old as Redis 2.6, the oldest target. The versions are those each
command's documentation gives as "since" (COMMAND DOCS of Redis 8.2 and Valkey 9.1). Valkey began as
Redis 7.2.4, so it has every command Redis had by 7.2, and adds its own from its own versions.
"""

from __future__ import annotations

from rdbtools.rdb.targets import Target

Version = tuple[int, int]

#: the Redis version that brought each command newer than 2.6 (minor versions: the target table's)
REDIS_SINCE: dict[bytes, Version] = {
    **dict.fromkeys([b"pubsub", b"scan", b"pfadd", b"pfcount", b"pfmerge", b"zlexcount", b"zrangebylex",
                     b"zremrangebylex", b"zrevrangebylex", b"command"], (2, 8)),
    **dict.fromkeys([b"bitfield", b"geoadd", b"geodist", b"geohash", b"geopos", b"georadius", b"georadiusbymember",
                     b"hstrlen", b"georadius_ro", b"georadiusbymember_ro"], (3, 2)),
    **dict.fromkeys([b"swapdb", b"unlink"], (4, 0)),
    **dict.fromkeys([b"bzpopmax", b"bzpopmin", b"zpopmax", b"zpopmin", b"xack", b"xadd", b"xclaim", b"xdel",
                     b"xgroup", b"xinfo", b"xlen", b"xpending", b"xrange", b"xread", b"xreadgroup", b"xrevrange",
                     b"xsetid", b"xtrim"], (5, 0)),
    **dict.fromkeys([b"bitfield_ro", b"hello", b"lpos"], (6, 0)),
    **dict.fromkeys([b"blmove", b"copy", b"geosearch", b"geosearchstore", b"getdel", b"getex", b"lmove", b"reset",
                     b"smismember", b"xautoclaim", b"zdiffstore", b"zmscore", b"zrangestore"], (6, 2)),
    **dict.fromkeys([b"blmpop", b"bzmpop", b"expiretime", b"pexpiretime", b"lmpop", b"zmpop", b"fcall",
                     b"fcall_ro", b"function"], (7, 0)),
    **dict.fromkeys([b"hexpire", b"hexpireat", b"hexpiretime", b"hpersist", b"hpexpire", b"hpexpireat",
                     b"hpexpiretime", b"hpttl", b"httl"], (7, 4)),
    **dict.fromkeys([b"hgetdel", b"hgetex", b"hsetex"], (8, 0)),
    **dict.fromkeys([b"vadd", b"vrem", b"vsetattr"], (8, 0)),  # vector sets: the built-in module vectorset
}
#: Valkey's own additions (what it has from Redis is what Redis had by 7.2)
VALKEY_SINCE: dict[bytes, Version] = {
    **dict.fromkeys([b"hexpire", b"hexpireat", b"hexpiretime", b"hpersist", b"hpexpire", b"hpexpireat",
                     b"hpexpiretime", b"hpttl", b"httl", b"hgetex", b"hsetex"], (9, 0)),
    b"hgetdel": (9, 1),
}
_VALKEY_FORKED_FROM: Version = (7, 2)


def has(target: Target, name: bytes) -> bool:
    """Whether the target's server knows the command (by its lower-case name)."""
    if target.valkey_server:
        if name in VALKEY_SINCE:
            return target.version >= VALKEY_SINCE[name]
        return REDIS_SINCE.get(name, (2, 6)) <= _VALKEY_FORKED_FROM
    return target.version >= REDIS_SINCE.get(name, (2, 6))
