"""What a write command puts into the AOF once it has run: its effects, in the form Redis propagates.

Replaying the AOF must rebuild the same keyspace at any later time, so whatever depends on the
clock or on chance is written as its outcome (Redis 7's rewrites, ``rewriteClientCommandVector``):
relative expiries become ``PEXPIREAT`` / ``SET ... PXAT``, INCRBYFLOAT the ``SET ... KEEPTTL`` of its
result, SPOP the ``SREM`` of what it popped, blocking pops their plain pops, ``XADD *`` the id it
chose, an approximate trim the exact one, a consumer group read the ``XCLAIM`` of each delivery.
A command that changed nothing (its reply says so) propagates nothing. Everything here reads the
engine's state *after* the command, plus what ``capture`` noted before it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from rdbtools.keyspace.commands import NULL_ARRAY, OK
from rdbtools.keyspace.commands.streams import claim_ids, id_text, parse_id
from rdbtools.rdb.model import PendingEntry, StreamId

if TYPE_CHECKING:
    from rdbtools.keyspace.engine import Engine

Effects = list[list[bytes]]
Rewrite = Callable[["Engine", list[bytes], Any, Any], Effects]

#: replies that mean "nothing changed" for these commands (Redis's dirty counter stays put)
_NOOP_IF_ZERO: Final = frozenset(
    b"del unlink expire pexpire expireat pexpireat persist hdel srem sadd zrem zremrangebyscore zremrangebyrank "
    b"zremrangebylex lrem setnx msetnx hsetnx renamenx move copy smove xdel xack xtrim pfadd lpushx rpushx "
    b"linsert".split())
_NOOP_IF_NONE: Final = frozenset(b"lpop rpop zpopmin zpopmax lmove rpoplpush getdel xadd".split())
_FUNCTION_WRITES = frozenset((b"LOAD", b"DELETE", b"FLUSH", b"RESTORE"))

DEL, PEXPIREAT, PXAT, SET, SREM = b"DEL", b"PEXPIREAT", b"PXAT", b"SET", b"SREM"
_SREM_BATCH = 1024  # members per SREM, as Redis 7.2+ batches a popped set (before: one each)


CAPTURED: Final = frozenset((b"xreadgroup", b"xclaim", b"xautoclaim"))

@dataclass(frozen=True)
class Before:
    """What a consumer group command's rewrite needs from before it ran."""

    consumers: set[tuple[bytes, bytes, bytes]]  # (key, group, consumer) of the groups it names
    pending: dict[StreamId, PendingEntry]  # a claim's group: what it may take over (replace) or drop
    last_id: StreamId | None  # a claim's group: its last delivered id (LASTID may move it)


def capture(engine: Engine, name: bytes, args: list[bytes]) -> Before:
    """What a rewrite needs to know from before the command (only the CAPTURED ones do)."""
    consumers = _consumer_names(engine, name, args)
    group = None if name == b"xreadgroup" else dict(_groups_named(engine, name, args)).get(args[1])
    if group is None:
        return Before(consumers, {}, None)
    return Before(consumers, {p.id: p for p in group.pending}, group.last_delivered_id)


def effects(engine: Engine, name: bytes, args: list[bytes], reply: Any, before: Any = None) -> Effects:
    """The commands to append for a write command that ran and answered ``reply`` (not an error)."""
    rewrite = _REWRITES.get(name)
    if rewrite is not None:
        return rewrite(engine, args, reply, before)
    if (reply == 0 and name in _NOOP_IF_ZERO) or reply == [] or (reply == -1 and name == b"linsert") or (
            (reply is None or reply is NULL_ARRAY) and name in _NOOP_IF_NONE):
        return []
    if name in (b"rename", b"renamenx") and args[1] == args[2]:  # a key renamed to itself: nothing changed
        return []
    return [args]


# --- strings and keys ----------------------------------------------------------------------------

def _expire_of(engine: Engine, key: bytes) -> int | None:
    entry = engine.keys.get(key)
    return None if entry is None else entry.expire_ms


def _set(engine: Engine, args: list[bytes], reply: Any, _: Any) -> Effects:
    """SET: nothing when its NX/XX condition failed; with an expiry, ``SET key value PXAT ms``; GET
    is dropped (Redis's setGenericCommand)."""
    if len(args) == 3:
        return [args]  # a plain SET always sets
    options = [a.upper() for a in args[3:]]
    if b"GET" in options:
        done = reply is None if b"NX" in options else reply is not None if b"XX" in options else True
    else:
        done = reply == OK
    if not done:
        return []
    if any(o in (b"EX", b"PX", b"EXAT", b"PXAT") for o in options):
        return _set_pxat(engine, args[1], args[2])
    if b"GET" in options:
        return [args[:3] + [a for a, o in zip(args[3:], options, strict=True) if o != b"GET"]]
    return [args]


def _set_pxat(engine: Engine, key: bytes, value: bytes) -> Effects:
    at = _expire_of(engine, key)
    if at is None:  # expired at once (a time in the past): Redis deletes it
        return [[DEL, key]]
    return [[SET, key, value, PXAT, b"%d" % at]]


def _setex(engine: Engine, args: list[bytes], reply: Any, _: Any) -> Effects:
    return _set_pxat(engine, args[1], args[3])


def _expire(engine: Engine, args: list[bytes], reply: Any, _: Any) -> Effects:
    """EXPIRE family: ``PEXPIREAT key ms`` (its NX/XX/GT/LT kept); a time already past deleted it."""
    if reply != 1:
        return []
    at = _expire_of(engine, args[1])
    if at is None:  # (Valkey: UNLINK, lazyfree-lazy-expire)
        return [[engine.target.expiry_deletion, args[1]]]
    head = args[0] if args[0].lower() == b"pexpireat" else PEXPIREAT
    return [[head, args[1], b"%d" % at, *args[3:]]]


def _getex(engine: Engine, args: list[bytes], reply: Any, _: Any) -> Effects:
    if reply is None or len(args) == 2:
        return []
    option = args[2].upper()
    if option == b"PERSIST":  # only when it removed an expiry
        return [[b"PERSIST", args[1]]] if engine.changes else []
    at = _expire_of(engine, args[1])
    return [[engine.target.expiry_deletion, args[1]]] if at is None else [[PEXPIREAT, args[1], b"%d" % at]]


def _getdel(engine: Engine, args: list[bytes], reply: Any, _: Any) -> Effects:
    return [] if reply is None else [[DEL, args[1]]]


def _incrbyfloat(engine: Engine, args: list[bytes], reply: Any, _: Any) -> Effects:
    return [[SET, args[1], reply, b"KEEPTTL"]]


def _getset(engine: Engine, args: list[bytes], reply: Any, _: Any) -> Effects:
    return [[SET, args[1], args[2]]]


def _restore(engine: Engine, args: list[bytes], reply: Any, _: Any) -> Effects:
    """RESTORE with a relative TTL: the absolute one (ABSTTL); an expired one deleted the key."""
    options = [a.upper() for a in args[4:]]
    if args[2] == b"0" or b"ABSTTL" in options:
        return [args]
    at = _expire_of(engine, args[1])
    return [[DEL, args[1]]] if at is None else [[*args[:2], b"%d" % at, *args[3:], b"ABSTTL"]]


def _function(engine: Engine, args: list[bytes], reply: Any, _: Any) -> Effects:
    return [args] if args[1].upper() in _FUNCTION_WRITES else []


# --- lists, sets, sorted sets --------------------------------------------------------------------

def _popped_as(head: bytes) -> Rewrite:
    """BLPOP/BRPOP/BZPOPMIN/BZPOPMAX served: the plain pop of the key that answered."""
    def rewrite(engine: Engine, args: list[bytes], reply: Any, _: Any) -> Effects:
        return [] if not reply else [[head, reply[0]]]

    return rewrite


def _mpop(engine: Engine, args: list[bytes], reply: Any, _: Any) -> Effects:
    """LMPOP/BLMPOP/ZMPOP/BZMPOP: ``[LR]POP key n`` / ``ZPOP{MIN,MAX} key n`` of what was popped."""
    if not reply:
        return []
    name = args[0].lower()
    first = 2 if name.startswith(b"b") else 1
    keys = int(args[first])
    where = args[first + 1 + keys].upper()
    heads = {b"LEFT": b"LPOP", b"RIGHT": b"RPOP", b"MIN": b"ZPOPMIN", b"MAX": b"ZPOPMAX"}
    return [[heads[where], reply[0], b"%d" % len(reply[1])]]


def _blmove(engine: Engine, args: list[bytes], reply: Any, _: Any) -> Effects:
    if reply is None:
        return []
    if args[0].lower() == b"brpoplpush":
        return [[b"RPOPLPUSH", args[1], args[2]]]
    return [[b"LMOVE", *args[1:5]]]


def _spop(engine: Engine, args: list[bytes], reply: Any, _: Any) -> Effects:
    if len(args) == 2:
        return [] if reply is None else [[SREM, args[1], reply]]
    if not reply:
        return []
    if args[1] not in engine.keys:  # the whole set was popped
        return [[DEL, args[1]]]
    batch = _SREM_BATCH if engine.target.batched_spop else 1
    return [[SREM, args[1], *reply[i : i + batch]] for i in range(0, len(reply), batch)]


def _geoadd(engine: Engine, args: list[bytes], reply: Any, _: Any) -> Effects:
    """GEOADD as the ZADD of the scores it computed, spelled "zadd" as Redis's geoaddCommand does."""
    options, i = [], 2
    while args[i].upper() in (b"NX", b"XX", b"CH"):
        options.append(args[i])
        i += 1
    entry = engine.keys.get(args[1])
    members = args[i + 2 :: 3]
    pairs = [(b"%d" % entry.value[m], m) for m in members if entry is not None and m in entry.value]
    return [[b"zadd", args[1], *options, *[x for pair in pairs for x in pair]]] if pairs else []


def _if_changed(engine: Engine, args: list[bytes], reply: Any, _: Any) -> Effects:
    """The command as sent, when it told ``engine.changes`` it changed something (Redis's dirty counter):
    a ZADD that left every score as it was, a SORT whose STORE changed nothing (a plain SORT never
    does), a PFCOUNT that kept its cached cardinality, a PFDEBUG that converted nothing, an LTRIM that
    removed nothing, a ZINCRBY that left the score (inf + 1), a SETBIT or BITFIELD that left the bits (in a
    string that did not grow; a BITFIELD of only GETs): nothing."""
    return [args] if engine.changes else []


def _setrange(engine: Engine, args: list[bytes], reply: Any, _: Any) -> Effects:
    """SETRANGE of an empty value changes nothing (Redis answers the length and returns)."""
    return [args] if args[3] else []


def _hincrbyfloat(engine: Engine, args: list[bytes], reply: Any, _: Any) -> Effects:
    """The field's new value: HSET (Redis 8: HSETEX KEEPTTL, which keeps a field TTL)."""
    target = engine.target
    if not target.valkey_server and target.version >= (8, 0):
        return [[b"HSETEX", args[1], b"KEEPTTL", b"FIELDS", b"1", args[2], reply]]
    return [[b"HSET", args[1], args[2], reply]]


# --- streams -------------------------------------------------------------------------------------

def _options_end(args: list[bytes], start: int) -> tuple[int, int | None]:
    """Where XADD's / XTRIM's options end, and where its MAXLEN|MINID is (None: no trimming)."""
    i, trim = start, None
    while i < len(args):
        option = args[i].upper()
        if option == b"NOMKSTREAM":
            i += 1
        elif option in (b"MAXLEN", b"MINID"):
            trim = i
            i += 3 if i + 2 < len(args) and args[i + 1] in (b"=", b"~") else 2
        elif option == b"LIMIT" and i + 1 < len(args):
            i += 2
        else:
            break
    return i, trim


def _exact_trim(engine: Engine, args: list[bytes], start: int) -> tuple[list[bytes], int]:
    """MAXLEN|MINID ~ n as ``=`` and the bound the stream was actually trimmed to, LIMIT dropped (a
    replay trims exactly); and where the options end in what is returned."""
    end, trim = _options_end(args, start)
    if trim is None or args[trim + 1] != b"~":
        return list(args), end
    stream = engine.keys[args[1]].value
    exact = (b"%d" % len(stream.entries) if args[trim].upper() == b"MAXLEN"
             else id_text(stream.entries[0].id if stream.entries else stream.last_id))
    options, i = [], start
    while i < end:
        option = args[i].upper()
        if option == b"LIMIT":
            i += 2
        elif i == trim:
            options += [args[i], b"=", exact]
            i += 3
        else:
            options.append(args[i])
            i += 1
    return [*args[:start], *options, *args[end:]], start + len(options)


def _xadd(engine: Engine, args: list[bytes], reply: Any, _: Any) -> Effects:
    """XADD with the id it chose (for ``*`` and ``ms-*``) and an exact trim."""
    if reply is None:
        return []
    rewritten, id_at = _exact_trim(engine, args, 2)
    rewritten[id_at] = reply
    return [rewritten]


def _xtrim(engine: Engine, args: list[bytes], reply: Any, _: Any) -> Effects:
    return [_exact_trim(engine, args, 2)[0]] if reply else []


def _consumer_names(engine: Engine, name: bytes, args: list[bytes]) -> set[tuple[bytes, bytes, bytes]]:
    """(key, group, consumer) of every consumer of the groups the command names."""
    known: set[tuple[bytes, bytes, bytes]] = set()
    for key, group in _groups_named(engine, name, args):
        known.update((key, group.name, c.name) for c in group.consumers)
    return known


def _groups_named(engine: Engine, name: bytes, args: list[bytes]):
    if name == b"xreadgroup":
        upper = [a.upper() for a in args]
        streams = upper.index(b"STREAMS") if b"STREAMS" in upper else len(args)
        keys = args[streams + 1 : streams + 1 + (len(args) - streams - 1) // 2]
        group_name = args[upper.index(b"GROUP") + 1] if b"GROUP" in upper else None
    else:
        keys, group_name = args[1:2], args[2]
    for key in keys:
        entry = engine.keys.get(key)
        if entry is not None and entry.type == "stream":
            for group in entry.value.groups:
                if group.name == group_name:
                    yield key, group


def _claim(key: bytes, group, p: PendingEntry, last_id: StreamId) -> list[bytes]:
    """``XCLAIM ... FORCE JUSTID LASTID``: the pending entry with its owner, delivery time and count
    (of an entry no longer in the stream: replayed, it drops the pending entry, as the command did)."""
    return [b"XCLAIM", key, group.name, p.consumer, b"0", id_text(p.id), b"TIME", b"%d" % p.delivery_time,
            b"RETRYCOUNT", b"%d" % p.delivery_count, b"FORCE", b"JUSTID", b"LASTID", id_text(last_id)]


def _deliveries(key: bytes, group, ids) -> Effects:
    """New deliveries: the XCLAIM of each (LASTID the entry's own id, as the group moved past it)."""
    pending = {p.id: p for p in group.pending}
    return [_claim(key, group, pending[i], i) for i in ids if i in pending]


def _setid(engine: Engine, key: bytes, group) -> list[bytes]:
    """XGROUP SETID of the group's last id, with its read counter where the target counts (and knows) it."""
    setid = [b"XGROUP", b"SETID", key, group.name, id_text(group.last_delivered_id)]
    if engine.target.stream_read_counters and group.entries_read is not None:
        setid += [b"ENTRIESREAD", b"%d" % group.entries_read]
    return setid


def _new_consumers(engine: Engine, name: bytes, args: list[bytes], before: set) -> Effects:
    return [[b"XGROUP", b"CREATECONSUMER", key, group.name, c.name]
            for key, group in _groups_named(engine, name, args) for c in group.consumers
            if (key, group.name, c.name) not in before]


def _xreadgroup(engine: Engine, args: list[bytes], reply: Any, before: Any) -> Effects:
    """New deliveries as XCLAIMs (which create their consumer), then the group's last id and read
    counter as XGROUP SETID ... ENTRIESREAD: always from Redis 7.4 and in Valkey; Redis 7.0-7.2 only
    with NOACK (their replay leaves the counter unknown, as theirs does). A consumer created without
    a delivery as XGROUP CREATECONSUMER (Redis propagates nothing there, and loses the consumer)."""
    upper = [a.upper() for a in args]
    noack = b"NOACK" in upper[: upper.index(b"STREAMS")]
    delivered = {key for key, entries in reply or () if entries} if not noack else set()
    known = before.consumers if before else set()
    commands = [c for c in _new_consumers(engine, b"xreadgroup", args, known) if c[2] not in delivered]
    if not reply or b">" not in args[upper.index(b"STREAMS"):]:
        return commands
    groups = dict(_groups_named(engine, b"xreadgroup", args))
    for key, entries in reply:
        group = groups.get(key)
        if group is None or not entries:
            continue
        if not noack:
            commands += _deliveries(key, group, [parse_id(e[0]) for e in entries])
        if noack or engine.target.group_reads_set_id:
            commands.append(_setid(engine, key, group))
    return commands


def _xclaim(engine: Engine, args: list[bytes], reply: Any, before: Before) -> Effects:
    """What XCLAIM / XAUTOCLAIM took over or dropped, in the order it met them, as Redis propagates it:
    an XCLAIM of each id, with its state after (taken over) or before (dropped, its entry deleted). A
    LASTID that moved the group with no XCLAIM to carry it: XGROUP SETID. A consumer created by a claim
    of nothing: XGROUP CREATECONSUMER (Redis appends nothing there, and loses the consumer)."""
    name = args[0].lower()
    group = dict(_groups_named(engine, name, args)).get(args[1])
    if group is None:
        return []
    after = {p.id: p for p in group.pending}
    met = dict.fromkeys(claim_ids(args)) if name == b"xclaim" else sorted(before.pending.keys() | after.keys())
    claims = [_claim(args[1], group, after.get(i) or before.pending[i], group.last_delivered_id)
              for i in met if after.get(i) is not before.pending.get(i)]  # a claim replaces the record
    owners = {claim[3] for claim in claims}
    created = [c for c in _new_consumers(engine, name, args, before.consumers) if c[4] not in owners]
    if not claims and before.last_id is not None and group.last_delivered_id > before.last_id:
        claims.append(_setid(engine, args[1], group))
    return created + claims


# --- hash field TTLs (Redis 7.4+) -----------------------------------------------------------------

def _fields_at(args: list[bytes], start: int) -> int:
    """Where the FIELDS keyword is (any case), looking from ``start``: the engine has checked it is there."""
    return [a.upper() for a in args[start:]].index(b"FIELDS") + start


def _field_expire(engine: Engine, args: list[bytes], reply: Any, _: Any) -> Effects:
    """HEXPIRE family: HPEXPIREAT of the fields given a TTL, HDEL of those a past time deleted."""
    if not isinstance(reply, list):
        return []
    fields = args[_fields_at(args, 3) + 2 :]
    entry = engine.keys.get(args[1])
    ttls = (entry.field_expires or {}) if entry is not None else {}
    timed = [f for f, r in zip(fields, reply, strict=False) if r == 1 and f in ttls]
    deleted = [f for f, r in zip(fields, reply, strict=False) if r == 2]
    commands = [[b"HPEXPIREAT", args[1], b"%d" % ttls[f], b"FIELDS", b"1", f] for f in timed]
    if deleted:
        commands.append([b"HDEL", args[1], *deleted])
    return commands


def _hpersist(engine: Engine, args: list[bytes], reply: Any, _: Any) -> Effects:
    return [args] if isinstance(reply, list) and 1 in reply else []


def _field_write(engine: Engine, args: list[bytes], reply: Any, _: Any) -> Effects:
    """HSETEX / HGETEX / HGETDEL: the fields' resulting values and TTLs, as HSET, HPEXPIREAT, HPERSIST,
    and the HDEL of what a read removed."""
    name = args[0].lower()
    setting = name == b"hsetex"
    if setting and reply == 0:
        return []
    at = _fields_at(args, 2)
    step = 2 if setting else 1  # HSETEX names field value pairs
    fields = args[at + 2 : at + 2 + step * int(args[at + 1]) : step]
    entry = engine.keys.get(args[1])
    value = {} if entry is None else entry.value
    ttls = {} if entry is None else (entry.field_expires or {})
    present = [f for f in fields if f in value]
    commands = []
    if setting and present:
        commands.append([b"HSET", args[1], *[x for f in present for x in (f, value[f])]])
    commands += [[b"HPEXPIREAT", args[1], b"%d" % ttls[f], b"FIELDS", b"1", f] for f in present if f in ttls]
    persisted = [f for f in present if f not in ttls]
    if persisted and name == b"hgetex" and any(a.upper() == b"PERSIST" for a in args[2:at]):
        commands.append([b"HPERSIST", args[1], b"FIELDS", b"%d" % len(persisted), *persisted])
    if not setting:  # the fields a read returned and then deleted (HGETDEL) or expired at once (HGETEX)
        removed = [f for f, old in zip(fields, reply, strict=True) if old is not None and f not in value]
        if removed and name == b"hgetdel":  # Redis 8.2: an HDEL of every field it named
            commands.append([b"HDEL", args[1], *fields])
        else:  # an HDEL of each field it expired
            commands += [[b"HDEL", args[1], f] for f in removed]
    return commands


_REWRITES: Final[dict[bytes, Rewrite]] = {
    b"set": _set, b"setex": _setex, b"psetex": _setex, b"getex": _getex, b"getdel": _getdel,
    b"incrbyfloat": _incrbyfloat, b"getset": _getset, b"restore": _restore, b"function": _function,
    b"setrange": _setrange, b"bitfield": _if_changed, b"zadd": _if_changed, b"zincrby": _if_changed,
    b"sort": _if_changed, b"pfcount": _if_changed, b"pfdebug": _if_changed, b"ltrim": _if_changed,
    b"setbit": _if_changed,
    b"expire": _expire, b"pexpire": _expire, b"expireat": _expire, b"pexpireat": _expire,
    b"blpop": _popped_as(b"LPOP"), b"brpop": _popped_as(b"RPOP"),
    b"bzpopmin": _popped_as(b"ZPOPMIN"), b"bzpopmax": _popped_as(b"ZPOPMAX"),
    b"lmpop": _mpop, b"blmpop": _mpop, b"zmpop": _mpop, b"bzmpop": _mpop,
    b"blmove": _blmove, b"brpoplpush": _blmove, b"spop": _spop, b"geoadd": _geoadd,
    b"hincrbyfloat": _hincrbyfloat, b"xadd": _xadd, b"xtrim": _xtrim, b"xreadgroup": _xreadgroup,
    b"xclaim": _xclaim, b"xautoclaim": _xclaim,
    b"hexpire": _field_expire, b"hpexpire": _field_expire, b"hexpireat": _field_expire,
    b"hpexpireat": _field_expire, b"hpersist": _hpersist,
    b"hsetex": _field_write, b"hgetex": _field_write, b"hgetdel": _field_write,
}

