"""Stream commands: entries, trimming, consumer groups and their pending entries.

Redis keeps a stream's entries in a radix tree of listpacks ("nodes"); approximate trimming (``~``)
removes only whole nodes, so what it leaves depends on where the nodes split. Serve keeps those splits
(``Node``: the entries each holds, live and deleted, and its size in bytes), built as Redis builds them
from the appends and the stream-node-max-entries / -bytes settings of each append's time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rdbtools.formats.stream_nodes import Node, append, build, radix_tree_nodes
from rdbtools.keyspace.commands import (
    INT64_MAX,
    NULL_ARRAY,
    OK,
    STREAM,
    SYNTAX,
    CommandError,
    command,
    integer,
    subcommand_error,
)
from rdbtools.rdb.model import Consumer, ConsumerGroup, PendingEntry, Stream, StreamEntry, StreamId

if TYPE_CHECKING:
    from rdbtools.keyspace.engine import Engine

INVALID_ID = "ERR Invalid stream ID specified as stream command argument"
ZERO = StreamId(0, 0)
UINT64_MAX = (1 << 64) - 1
_LAST_ID = StreamId(UINT64_MAX, UINT64_MAX)


def parse_id(text: bytes, missing_seq: int = 0) -> StreamId:
    ms, dash, seq = text.partition(b"-")
    try:
        ms_value, seq_value = int(ms), int(seq) if dash else missing_seq
    except ValueError:
        raise CommandError(INVALID_ID) from None
    if not (0 <= ms_value <= UINT64_MAX and 0 <= seq_value <= UINT64_MAX) or not ms.isdigit() or (
            dash and not seq.isdigit()):
        raise CommandError(INVALID_ID)
    return StreamId(ms_value, seq_value)


def id_text(stream_id: StreamId) -> bytes:
    return b"%d-%d" % stream_id


def _stream(e: Engine, key: bytes) -> Stream | None:
    entry = e.get(key, "stream")
    return None if entry is None else entry.value


def _read_stream(e: Engine, key: bytes) -> Stream | None:
    """A stream XREADGROUP or a claim reads (a miss tells keymiss)."""
    entry = e.read(key, "stream")
    return None if entry is None else entry.value


def _new_stream() -> Stream:
    return Stream(0, ZERO, [], [], first_id=ZERO, max_deleted_id=ZERO, entries_added=0)


def _group(stream: Stream | None, key: bytes, name: bytes, command: str = "") -> ConsumerGroup:
    """The named group, or NOGROUP as the command words it (XGROUP and XREADGROUP have their own)."""
    group = None if stream is None else next((g for g in stream.groups if g.name == name), None)
    if group is None:
        key_text, name_text = key.decode("utf-8", "replace"), name.decode("utf-8", "replace")
        if command == "XGROUP":
            raise CommandError(f"NOGROUP No such consumer group '{name_text}' for key name '{key_text}'")
        where = " in XREADGROUP with GROUP option" if command == "XREADGROUP" else ""
        raise CommandError(f"NOGROUP No such key '{key_text}' or consumer group '{name_text}'{where}")
    return group


def _after_removal(stream: Stream) -> None:
    stream.length = len(stream.entries)
    stream.first_id = stream.entries[0].id if stream.entries else ZERO


# --- XADD and trimming ---------------------------------------------------------------------------

def _trim_options(e: Engine, args, i: int, xadd: bool):
    """XADD's options before the id / XTRIM's: MAXLEN|MINID [=|~] threshold, LIMIT count (in any
    order), NOMKSTREAM (XADD), checked as Redis's streamParseAddOrTrimArgsOrReply checks them.
    Returns ((kind, threshold, approximate, limit) or None, no_mkstream, the index where XADD's id is)."""
    strategy, approx, limit, no_mkstream = None, False, None, False
    while i < len(args):
        option, more = args[i].upper(), len(args) - 1 - i
        if xadd and args[i] == b"*":
            break
        if option in (b"MAXLEN", b"MINID") and more:
            if strategy is not None:
                raise CommandError("ERR syntax error, MAXLEN and MINID options at the same time are not compatible")
            approx = more >= 2 and args[i + 1] == b"~"
            if more >= 2 and args[i + 1] in (b"~", b"="):
                i += 1
            strategy = (option, _threshold(option, args[i + 1]))
            i += 2
        elif option == b"LIMIT" and more:
            limit = integer(args[i + 1])
            if limit < 0:
                raise CommandError("ERR The LIMIT argument must be >= 0.")
            i += 2
        elif xadd and option == b"NOMKSTREAM":
            no_mkstream, i = True, i + 1
        elif xadd:
            break
        else:
            raise CommandError(SYNTAX)
    if xadd and i < len(args) and args[i] != b"*":  # the id is read before the options are judged
        parse_id(args[i][:-2] if _auto_sequence(e, args[i]) else args[i])
    if limit and strategy is None:
        raise CommandError("ERR syntax error, LIMIT cannot be used without specifying a trimming strategy")
    if not xadd and strategy is None:
        raise CommandError("ERR syntax error, XTRIM must be called with a trimming strategy")
    if limit is not None and not approx and not e.loading:  # a replay obeys what it is given
        raise CommandError("ERR syntax error, LIMIT cannot be used without the special ~ option")
    trim = None if strategy is None else (*strategy, approx, _work_limit(e, approx, limit))
    return trim, no_mkstream, i


def _work_limit(e: Engine, approx: bool, given: int | None) -> int:
    """How many entries a trim may remove (0: no bound): LIMIT, or for ``~`` without it 100 nodes'
    worth, held within 10000 (for a setting of 0) and 1000000; no bound for an exact trim or a replay."""
    if e.loading or not approx:
        return 0
    if given is not None:
        return given
    limit = 100 * e.target.stream_node_max_entries
    return 10000 if limit <= 0 else min(limit, 1000000)


def _threshold(kind: bytes, text: bytes):
    if kind == b"MINID":
        return parse_id(text)
    threshold = integer(text)
    if threshold < 0:
        raise CommandError("ERR The MAXLEN argument must be >= 0.")
    return threshold


def _trim(e: Engine, stream: Stream, trim: tuple) -> int:
    """streamTrim: whole nodes from the head while the strategy allows (an approximate trim stops at the
    first node it cannot remove whole, or before the node that would take it past its limit); an exact
    one then marks the rest deleted within that node. The number of entries removed."""
    kind, threshold, approx, limit = trim
    nodes, removed = _nodes(e, stream), 0
    while nodes:
        node = nodes[0]
        if kind == b"MAXLEN" and len(stream.entries) <= threshold:
            break
        if limit and removed + node.live > limit:
            break
        whole = len(stream.entries) - node.live >= threshold if kind == b"MAXLEN" else node.last_id < threshold
        if not whole:
            if not approx:
                removed += _trim_within(stream, node, kind, threshold)
            break
        del nodes[0], stream.entries[:node.live]
        removed += node.live
    if removed:
        _after_removal(stream)  # unlike XDEL, trimming leaves max_deleted_id alone
    return removed


def _trim_within(stream: Stream, node: Node, kind: bytes, threshold) -> int:
    """The head node's live entries marked deleted from its start while the strategy asks (the node stays,
    even when none is left live)."""
    if kind == b"MAXLEN":
        doomed = min(node.live, max(0, len(stream.entries) - threshold))
    else:
        doomed = next((i for i, entry in enumerate(stream.entries[:node.live]) if entry.id >= threshold), node.live)
    del stream.entries[:doomed]
    node.live -= doomed
    node.deleted += doomed
    return doomed


def _nodes(e: Engine, stream: Stream) -> list[Node]:
    """The stream's nodes; where its history is unknown (a loaded or restored stream) as appending its
    entries now would build them."""
    if stream.nodes is None:
        stream.nodes = build(stream.entries, e.target.stream_node_max_entries, e.target.stream_node_max_bytes)
    return stream.nodes


def _append_to_nodes(e: Engine, nodes: list[Node], entry: StreamEntry) -> None:
    append(nodes, entry, e.target.stream_node_max_entries, e.target.stream_node_max_bytes)


def _delete_from_nodes(e: Engine, stream: Stream, index: int) -> None:
    """streamIteratorRemoveEntry for the live entry at ``index``: flagged deleted in its node, or the node
    removed with its last live entry."""
    nodes, start = _nodes(e, stream), 0
    for at, node in enumerate(nodes):
        if index < start + node.live:
            if node.live == 1:
                del nodes[at]
            else:
                node.live -= 1
                node.deleted += 1
            break
        start += node.live
    del stream.entries[index]


def _auto_sequence(e: Engine, text: bytes) -> bool:
    """An XADD id "ms-*" (the sequence chosen by the server): from Redis 7.0; an invalid id before."""
    return text.endswith(b"-*") and e.target.version >= (7, 0)


def _next_id(e: Engine, stream: Stream, text: bytes) -> StreamId | None:
    """streamNextID / "ms-*": the id XADD gives; None where "ms-*" names the last id's ms and its sequence
    is spent (an id "*" would move on to the next ms)."""
    last = stream.last_id
    if text == b"*":
        now = e.now_ms()
        return StreamId(now, 0) if now > last.ms else _successor(last)
    if text.endswith(b"-*"):
        ms = parse_id(text[:-2]).ms
        if ms != last.ms:
            return StreamId(ms, 0)
        return None if last.seq == UINT64_MAX else StreamId(ms, last.seq + 1)
    return parse_id(text)


def _successor(stream_id: StreamId) -> StreamId:
    """streamIncrID (the largest id has none: Redis refuses XADD before asking)."""
    if stream_id.seq == UINT64_MAX:
        return StreamId(stream_id.ms + 1, 0)
    return StreamId(stream_id.ms, stream_id.seq + 1)


@command("xadd", -5)
def xadd(e: Engine, args: list[bytes]):
    trim, no_mkstream, i = _trim_options(e, args, 2, True)
    mkstream = not no_mkstream
    rest = args[i:]
    if len(rest) < 3 or len(rest) % 2 == 0:
        from rdbtools.keyspace.commands import wrong_arity

        raise wrong_arity(args[0])
    explicit = None if rest[0] == b"*" or _auto_sequence(e, rest[0]) else parse_id(rest[0])
    if explicit == ZERO:
        raise CommandError("ERR The ID specified in XADD must be greater than 0-0")
    stream = _stream(e, args[1])
    if stream is None and not mkstream:
        return None
    current = stream or _new_stream()
    if current.last_id == _LAST_ID:
        raise CommandError("ERR The stream has exhausted the last possible ID, unable to add more items")
    entry_id = explicit or _next_id(e, current, rest[0])
    if entry_id is None:  # Redis's errno is left from before: its stale EDOM is not there to tell
        raise CommandError("ERR Elements are too large to be stored")
    if entry_id <= current.last_id:
        raise CommandError("ERR The ID specified in XADD is equal or smaller than the target stream top item")
    if stream is None:
        stream = e.get_or_create(args[1], "stream", _new_stream).value
    entry = StreamEntry(entry_id, [(rest[j], rest[j + 1]) for j in range(1, len(rest), 2)])
    _append_to_nodes(e, _nodes(e, stream), entry)
    stream.entries.append(entry)
    stream.last_id = entry_id
    stream.entries_added = (stream.entries_added or 0) + 1
    stream.length = len(stream.entries)
    stream.first_id = stream.entries[0].id
    e.notify(STREAM, b"xadd", args[1])
    if trim is not None and _trim(e, stream, trim):
        e.notify(STREAM, b"xtrim", args[1])
    return id_text(entry_id)


@command("xtrim", -4)
def xtrim(e: Engine, args: list[bytes]):
    trim, _, _ = _trim_options(e, args, 2, False)
    stream = _stream(e, args[1])
    removed = 0 if stream is None else _trim(e, stream, trim)
    if removed:
        e.notify(STREAM, b"xtrim", args[1])
    return removed


@command("xdel", -3)
def xdel(e: Engine, args: list[bytes]):
    ids = {parse_id(text) for text in args[2:]}
    stream = _stream(e, args[1])
    if stream is None:
        return 0
    removed = [entry.id for entry in stream.entries if entry.id in ids]
    for index in sorted((i for i, entry in enumerate(stream.entries) if entry.id in ids), reverse=True):
        _delete_from_nodes(e, stream, index)
    if removed:
        stream.max_deleted_id = max([stream.max_deleted_id or ZERO, *removed])
        _after_removal(stream)
        e.notify(STREAM, b"xdel", args[1])
    return len(removed)


@command("xsetid", -3)
def xsetid(e: Engine, args: list[bytes]):
    stream = _stream(e, args[1])
    last = parse_id(args[2])
    options = [a.upper() for a in args]
    entries_added = integer(args[options.index(b"ENTRIESADDED") + 1]) if b"ENTRIESADDED" in options else None
    max_deleted = parse_id(args[options.index(b"MAXDELETEDID") + 1]) if b"MAXDELETEDID" in options else None
    if stream is None:
        raise CommandError("ERR no such key")
    if stream.entries and last < stream.entries[-1].id:
        raise CommandError("ERR The ID specified in XSETID is smaller than the target stream top item")
    stream.last_id = last
    if entries_added is not None:
        stream.entries_added = entries_added
    if max_deleted is not None:
        stream.max_deleted_id = max_deleted
    e.notify(STREAM, b"xsetid", args[1])
    return OK


@command("xlen", 2, write=False)
def xlen(e: Engine, args: list[bytes]):
    stream = _stream(e, args[1])
    return 0 if stream is None else len(stream.entries)


def loose_id(text: bytes, missing_seq: int = 0) -> StreamId:
    """An ID where Redis reads it with streamParseIDOrReply (XRANGE's bounds, XGROUP SETID, XAUTOCLAIM's
    start): "-" and "+" are the smallest and the largest ID."""
    if text == b"-":
        return ZERO
    if text == b"+":
        return StreamId(UINT64_MAX, UINT64_MAX)
    return parse_id(text, missing_seq)


def _bound(text: bytes, low: bool) -> StreamId:
    """streamParseIntervalIDOrReply: an inclusive bound, or after "(" the next (start) or previous (end)
    id; an exclusive start at the largest id or end at 0-0 has none, and is refused."""
    if text in (b"-", b"+"):
        return loose_id(text)
    exclusive = text.startswith(b"(")
    stream_id = parse_id(text[1:] if exclusive else text, 0 if low else UINT64_MAX)
    if not exclusive:
        return stream_id
    number = stream_id.ms * (UINT64_MAX + 1) + stream_id.seq + (1 if low else -1)
    if not 0 <= number <= (1 << 128) - 1:
        raise CommandError(f"ERR invalid {'start' if low else 'end'} ID for the interval")
    return StreamId(*divmod(number, UINT64_MAX + 1))


@command("xrange", -4, write=False)
def xrange(e: Engine, args: list[bytes]):
    """XRANGE key start end [COUNT n]"""
    return _range(e, args, _bound(args[2], True), _bound(args[3], False), False)


def _range(e: Engine, args, low: StreamId, high: StreamId, reverse: bool):
    """XRANGE / XREVRANGE after their bounds: COUNT options (the last wins, a negative one is 0), then
    the key; a COUNT of 0 answers the null array, a missing key an empty one."""
    count, options = None, args[4:]
    for i in range(0, len(options), 2):
        if options[i].upper() != b"COUNT" or i + 1 == len(options):
            raise CommandError(SYNTAX)
        count = max(integer(options[i + 1]), 0)
    stream = _stream(e, args[1])
    if stream is None:
        return []
    if count == 0:
        return NULL_ARRAY
    entries = reversed(stream.entries) if reverse else stream.entries
    return [_entry_reply(x) for x in [x for x in entries if low <= x.id <= high][:count]]


# --- consumer groups -----------------------------------------------------------------------------

def _tombstone_at_or_after(stream: Stream, start: StreamId) -> bool:
    """Redis's streamRangeHasTombstones(start, end of stream): an entry deleted within the range."""
    deleted = stream.max_deleted_id or ZERO
    # a stream with a deleted id has its first id (both RDB v2+ fields, kept together)
    if not stream.entries or deleted == ZERO or stream.first_id > deleted:  # type: ignore[operator]
        return False
    return start <= deleted


def _entries_read_at(stream: Stream, entry_id: StreamId) -> int | None:
    """Redis's streamEstimateDistanceFromFirstEverEntry: how many entries were added up to this id,
    where that can be known (a group's read counter, restarted after XGROUP CREATE / SETID)."""
    added = stream.entries_added or 0
    if not added:
        return 0
    if (not stream.entries and entry_id <= stream.last_id) or entry_id == stream.last_id:
        return added
    if entry_id > stream.last_id:
        return None
    deleted = stream.max_deleted_id or ZERO
    # no gap ahead of the first entry (entries added, an RDB v2+ field as the first id is: it is known)
    if deleted == ZERO or deleted < stream.first_id:  # type: ignore[operator]
        if entry_id < stream.first_id:  # type: ignore[operator]
            return added - len(stream.entries)
        if entry_id == stream.first_id:
            return added - len(stream.entries) + 1
    return None


def _group_options(args) -> tuple[bool, int | None]:
    """XGROUP CREATE / SETID options after the id: MKSTREAM (CREATE), ENTRIESREAD n (-1: unknown),
    checked before the key is looked up. Returns (mkstream, entries read)."""
    create, mkstream, entries_read, i = args[1].upper() == b"CREATE", False, None, 5
    while i < len(args):
        option = args[i].upper()
        if create and option == b"MKSTREAM":
            mkstream, i = True, i + 1
        elif option == b"ENTRIESREAD" and i + 1 < len(args):
            value = integer(args[i + 1])
            if value < -1:
                raise CommandError("ERR value for ENTRIESREAD must be positive or -1")
            entries_read, i = (None if value < 0 else value), i + 2
        else:
            raise CommandError(f"ERR unknown subcommand or wrong number of arguments for "
                               f"'{args[1].decode('utf-8', 'replace')}'. Try XGROUP HELP.")
    return mkstream, entries_read


def _clamped_read(e: Engine, stream: Stream, entries_read: int | None) -> int | None:
    """Redis 8 holds a given ENTRIESREAD to the entries the stream ever had (7.0 and Valkey keep it)."""
    if entries_read is None or e.target.valkey_server or e.target.version < (8, 0):
        return entries_read
    return min(entries_read, stream.entries_added or 0)


@command("xgroup", -2, subcommands="create setid destroy createconsumer delconsumer")
def xgroup(e: Engine, args: list[bytes]):
    sub = args[1].upper()
    mkstream, entries_read = _group_options(args) if sub in (b"CREATE", b"SETID") else (False, None)
    if sub == b"CREATE" and len(args) >= 5:
        stream = _stream(e, args[2])
        if stream is None:
            if not mkstream:
                raise CommandError("ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you "
                                   "may want to use the MKSTREAM option to create an empty stream automatically.")
            stream = e.get_or_create(args[2], "stream", _new_stream).value
        if any(g.name == args[3] for g in stream.groups):
            raise CommandError("BUSYGROUP Consumer Group name already exists")
        last = stream.last_id if args[4] == b"$" else parse_id(args[4])
        stream.groups.append(ConsumerGroup(args[3], last, _clamped_read(e, stream, entries_read)))
        stream.groups.sort(key=lambda g: g.name)  # a radix tree: by name
        e.notify(STREAM, b"xgroup-create", args[2])
        return OK
    if sub in (b"SETID", b"DESTROY", b"CREATECONSUMER", b"DELCONSUMER") and len(args) >= 4:
        stream = _stream(e, args[2])
        if stream is None:
            raise CommandError("ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may "
                               "want to use the MKSTREAM option to create an empty stream automatically.")
        if sub == b"DESTROY":
            before = len(stream.groups)
            stream.groups = [g for g in stream.groups if g.name != args[3]]
            if len(stream.groups) < before:
                e.notify(STREAM, b"xgroup-destroy", args[2])
            return before - len(stream.groups)
        group = _group(stream, args[2], args[3], "XGROUP")
        if sub == b"SETID":
            group.last_delivered_id = stream.last_id if args[4] == b"$" else loose_id(args[4])
            group.entries_read = _clamped_read(e, stream, entries_read)
            e.notify(STREAM, b"xgroup-setid", args[2])
            return OK
        if sub == b"CREATECONSUMER":
            if any(c.name == args[4] for c in group.consumers):
                return 0
            _add_consumer(e, args[2], group, args[4], told=True)
            return 1
        consumer = next((c for c in group.consumers if c.name == args[4]), None)
        if consumer is None:
            if e.target.absent_consumer_deletion_told:
                e.notify(STREAM, b"xgroup-delconsumer", args[2])
            return 0
        group.consumers.remove(consumer)
        dropped = set(consumer.pending)
        group.pending = [p for p in group.pending if p.id not in dropped]
        e.notify(STREAM, b"xgroup-delconsumer", args[2])
        return len(dropped)
    raise subcommand_error(args, e.target)


@command("xack", -4)
def xack(e: Engine, args: list[bytes]):
    ids = [parse_id(text) for text in args[3:]]
    stream = _read_stream(e, args[1])
    group = None if stream is None else next((g for g in stream.groups if g.name == args[2]), None)
    if group is None:
        return 0
    acked = {p.id for p in group.pending if p.id in set(ids)}
    group.pending = [p for p in group.pending if p.id not in acked]
    for consumer in group.consumers:
        consumer.pending = [i for i in consumer.pending if i not in acked]
    return len(acked)


def _consumer(e: Engine, key: bytes, group: ConsumerGroup, name: bytes) -> Consumer:
    consumer = next((c for c in group.consumers if c.name == name), None)
    if consumer is None:
        consumer = _add_consumer(e, key, group, name)
    return consumer


def _named_consumer(e: Engine, key: bytes, group: ConsumerGroup, name: bytes) -> Consumer | None:
    """The consumer a claim or a group read of new entries names: created now, or None where the target
    creates it only with the first entry it gets (then ``_consumer``)."""
    existing = next((c for c in group.consumers if c.name == name), None)
    if existing is not None or e.target.consumers_on_demand:
        return existing
    return _add_consumer(e, key, group, name)


def _add_consumer(e: Engine, key: bytes, group: ConsumerGroup, name: bytes, told: bool = False) -> Consumer:
    """A new consumer of a group (Redis's streamCreateConsumer, which tells "xgroup-createconsumer"; ``told``:
    XGROUP CREATECONSUMER's, told by every target)."""
    consumer = Consumer(name, e.now_ms(), -1)
    group.consumers.append(consumer)
    group.consumers.sort(key=lambda c: c.name)  # a radix tree: by name
    if told or e.target.implicit_consumers_told:
        e.notify(STREAM, b"xgroup-createconsumer", key)
    return consumer


def _assign(group: ConsumerGroup, consumer: Consumer, pending: PendingEntry) -> None:
    for other in group.consumers:
        if pending.id in other.pending:
            other.pending.remove(pending.id)
    pending.consumer = consumer.name
    consumer.pending.append(pending.id)
    consumer.pending.sort()


_XCLAIM_OPTIONS = (b"IDLE", b"TIME", b"RETRYCOUNT", b"FORCE", b"JUSTID", b"LASTID")


def claim_ids(args: list[bytes]) -> list[StreamId]:
    """The ids an XCLAIM names, in their order (up to its first option)."""
    ids = []
    for arg in args[5:]:
        if arg.upper() in _XCLAIM_OPTIONS:
            break
        ids.append(parse_id(arg))
    return ids


@command("xclaim", -6)
def xclaim(e: Engine, args: list[bytes]):
    """XCLAIM key group consumer min-idle id... [IDLE ms] [TIME ms] [RETRYCOUNT n] [FORCE] [JUSTID] [LASTID id]"""
    stream = _read_stream(e, args[1])
    group = _group(stream, args[1], args[2])
    min_idle, now = integer(args[4]), e.now_ms()
    ids = claim_ids(args)
    i = 5 + len(ids)
    delivery_time, retry, force, justid, last_id = now, None, False, False, None
    while i < len(args):
        option = args[i].upper()
        if option in (b"IDLE", b"TIME", b"RETRYCOUNT", b"LASTID") and i + 1 < len(args):
            value = args[i + 1]
            if option == b"IDLE":
                delivery_time = now - integer(value)
            elif option == b"TIME":
                delivery_time = integer(value)
            elif option == b"RETRYCOUNT":
                retry = integer(value)
            else:
                last_id = parse_id(value)
            i += 2
        elif option in (b"FORCE", b"JUSTID"):
            force, justid = force or option == b"FORCE", justid or option == b"JUSTID"
            i += 1
        else:
            raise CommandError(f"ERR Unrecognized XCLAIM option '{args[i].decode('utf-8', 'replace')}'")
    if last_id is not None and last_id > group.last_delivered_id:
        group.last_delivered_id = last_id
    consumer = _named_consumer(e, args[1], group, args[3])
    present = {x.id: x for x in stream.entries}  # type: ignore[union-attr]  # NOGROUP if no stream
    claimed = []
    for entry_id in ids:
        pending = next((p for p in group.pending if p.id == entry_id), None)
        if pending is None:
            if not force or entry_id not in present:
                continue
            pending = PendingEntry(entry_id, None, now, 0)
            group.pending.append(pending)
            group.pending.sort(key=lambda p: p.id)
        elif entry_id not in present and e.target.claims_drop_deleted:
            _drop(group, pending)
            continue
        if min_idle and now - pending.delivery_time < min_idle:
            continue
        count = retry if retry is not None else pending.delivery_count + (0 if justid else 1)
        consumer = consumer or _consumer(e, args[1], group, args[3])
        _take_over(group, consumer, pending, delivery_time, count)
        claimed.append(entry_id)
    if claimed:
        consumer.active_time = now  # type: ignore[union-attr]  # a claim made the consumer
    return _claimed_replies(present, claimed, justid)


_AUTOCLAIM_COUNT = "ERR COUNT must be > 0"


@command("xautoclaim", -6)
def xautoclaim(e: Engine, args: list[bytes]):
    """XAUTOCLAIM key group consumer min-idle start [COUNT n] [JUSTID]"""
    min_idle = max(0, integer(args[4], "ERR Invalid min-idle-time argument for XAUTOCLAIM"))
    start, now = loose_id(args[5]), e.now_ms()
    count, justid, i = 100, False, 6
    while i < len(args):  # the arguments are checked before the key and group, as Redis 7.0 does
        if args[i].upper() == b"COUNT" and i + 1 < len(args):
            count, i = integer(args[i + 1], _AUTOCLAIM_COUNT), i + 2
            if not 1 <= count <= INT64_MAX // 16:  # LONG_MAX / max(sizeof(streamID), attempts factor 10)
                raise CommandError(_AUTOCLAIM_COUNT)
        elif args[i].upper() == b"JUSTID":
            justid, i = True, i + 1
        else:
            raise CommandError(SYNTAX)
    stream = _read_stream(e, args[1])
    group = _group(stream, args[1], args[2])
    present = {x.id: x for x in stream.entries}  # type: ignore[union-attr]  # NOGROUP if no stream
    consumer = _named_consumer(e, args[1], group, args[3])
    claimed, deleted, scanned, cursor = [], [], 0, ZERO
    for pending in [p for p in group.pending if p.id >= start]:
        if scanned == count:
            cursor = pending.id
            break
        scanned += 1
        if pending.id not in present and e.target.claims_drop_deleted:
            _drop(group, pending)
            deleted.append(id_text(pending.id))
            continue
        if min_idle and now - pending.delivery_time < min_idle:
            continue
        consumer = consumer or _consumer(e, args[1], group, args[3])
        _take_over(group, consumer, pending, now, pending.delivery_count + (0 if justid else 1))
        claimed.append(pending.id)
    if claimed:
        consumer.active_time = now  # type: ignore[union-attr]  # a claim made the consumer
    replies = _claimed_replies(present, claimed, justid)
    return [id_text(cursor), replies, deleted] if e.target.claims_drop_deleted else [id_text(cursor), replies]


def _take_over(group: ConsumerGroup, consumer: Consumer, pending: PendingEntry, delivery_time: int,
               delivery_count: int) -> None:
    """A claim: a new pending record in place of the old one, so that the AOF rewrite tells every
    claim (even one that leaves the same owner, time and count) from an entry left alone."""
    claimed = PendingEntry(pending.id, pending.consumer, delivery_time, delivery_count)
    group.pending[group.pending.index(pending)] = claimed
    _assign(group, consumer, claimed)


def _drop(group: ConsumerGroup, pending: PendingEntry) -> None:
    """A pending entry whose stream entry is gone leaves the group's and its consumer's PEL."""
    group.pending.remove(pending)
    for consumer in group.consumers:
        if pending.id in consumer.pending:
            consumer.pending.remove(pending.id)


def _claimed_replies(present: dict[StreamId, StreamEntry], claimed: list[StreamId], justid: bool) -> list:
    """The ids, or the entries (nil for one deleted, which Redis 6.2 claims all the same)."""
    if justid:
        return [id_text(i) for i in claimed]
    return [_entry_reply(present[i]) if i in present else None for i in claimed]


@command("xrevrange", -4, write=False)
def xrevrange(e: Engine, args: list[bytes]):
    """XREVRANGE key end start [COUNT n]"""
    return _range(e, args, _bound(args[3], True), _bound(args[2], False), True)


def _entry_reply(entry: StreamEntry) -> list:
    return [id_text(entry.id), [v for pair in entry.fields for v in pair]]


def _read_options(e: Engine, args, group: bool):
    """[GROUP g c] [COUNT n] [BLOCK ms] [NOACK] STREAMS key... id..."""
    count, block, noack, i, owner = None, None, False, 1, None
    while i < len(args):
        option = args[i].upper()
        if option == b"COUNT" and i + 1 < len(args):
            count, i = max(integer(args[i + 1]), 0) or None, i + 2
        elif option == b"BLOCK" and i + 1 < len(args):
            if e.scripted and not e.target.valkey_server and e.target.version < (7, 4):
                raise CommandError(f"ERR {args[0].decode('utf-8', 'replace')} command is not allowed with BLOCK "
                                   "option from scripts")
            block, i = integer(args[i + 1], "ERR timeout is not an integer or out of range"), i + 2
            if block < 0:
                raise CommandError("ERR timeout is negative")
        elif option == b"NOACK" and group:
            noack, i = True, i + 1
        elif option == b"GROUP" and group and i + 2 < len(args):
            owner, i = (args[i + 1], args[i + 2]), i + 3
        elif option == b"STREAMS":
            rest = args[i + 1 :]
            if not rest or len(rest) % 2:
                raise CommandError("ERR Unbalanced 'xread' list of streams: for each stream key an ID or '$' must be "
                                   "specified." if not group else "ERR Unbalanced 'xreadgroup' list of streams: for "
                                   "each stream key an ID or '>' must be specified.")
            half = len(rest) // 2
            return count, block, noack, owner, list(zip(rest[:half], rest[half:], strict=True))
        else:
            raise CommandError(SYNTAX)
    raise CommandError(SYNTAX)


@command("xread", -4, write=False)
def xread(e: Engine, args: list[bytes]):
    """XREAD [COUNT n] [BLOCK ms] STREAMS key... id...: nil when nothing is newer (the server blocks)."""
    count, _, _, _, pairs = _read_options(e, args, False)
    for key, _ in pairs if not e.waking else ():  # Redis checks every stream (an access) before serving any
        _stream(e, key)
    replies = []
    for key, text in pairs:
        stream = _stream(e, key)
        after = (stream.last_id if stream else ZERO) if text == b"$" else parse_id(text)
        if stream is None or text == b"$":
            continue
        chosen = [_entry_reply(x) for x in stream.entries if x.id > after][:count]
        if chosen:
            replies.append([key, chosen])
    return replies or NULL_ARRAY


@command("xreadgroup", -7)
def xreadgroup(e: Engine, args: list[bytes]):
    """XREADGROUP GROUP g c [COUNT n] [BLOCK ms] [NOACK] STREAMS key... id...: '>' delivers new entries
    (into the PEL unless NOACK), an id reads back the consumer's own pending history."""
    count, _, noack, owner, pairs = _read_options(e, args, True)
    if owner is None:
        raise CommandError("ERR Missing GROUP option for XREADGROUP")
    now = e.now_ms()
    reads = [(key, *_group_read(e, key, text, owner[0])) for key, text in pairs]  # all checked first
    replies = []
    for key, stream, group, after in reads:
        if not e.waking:
            e.lookup(key)  # Redis looks each stream up again to serve it (a second access)
        if after is None:
            entries = _deliver_new(e, key, stream, group, owner[1], count, noack, now)
        else:
            entries = _read_history(e, key, stream, group, owner[1], after, count, now)
        if entries is not None:
            replies.append([key, entries])
    return replies or NULL_ARRAY


def _group_read(e: Engine, key: bytes, text: bytes, group_name: bytes) -> tuple[Stream, ConsumerGroup, StreamId | None]:
    """One stream of an XREADGROUP checked as Redis checks them all before anything changes: its type,
    its group, its id (None for '>')."""
    stream = _read_stream(e, key)
    group = _group(stream, key, group_name, "XREADGROUP")
    return stream, group, None if text == b">" else parse_id(text)  # type: ignore[return-value]  # NOGROUP if no stream


def _deliver_new(e: Engine, key: bytes, stream: Stream, group: ConsumerGroup, name: bytes, count: int | None,
                 noack: bool, now: int) -> list | None:
    """XREADGROUP ... >: the entries after the group's last id, into the consumer's PEL unless NOACK;
    None when there are none."""
    consumer = _named_consumer(e, key, group, name)
    fresh = [x for x in stream.entries if x.id > group.last_delivered_id][:count]
    if fresh:
        consumer = consumer or _consumer(e, key, group, name)
    if consumer is not None:
        consumer.seen_time = now
    for entry in fresh:
        if group.entries_read is not None and not _tombstone_at_or_after(stream, entry.id):
            group.entries_read += 1
        elif stream.entries_added:
            group.entries_read = _entries_read_at(stream, entry.id)
        group.last_delivered_id = entry.id
        if not noack:
            old = next((p for p in group.pending if p.id == entry.id), None)
            if old is not None:
                group.pending.remove(old)
            pending = PendingEntry(entry.id, name, now, 1)
            group.pending.append(pending)
            group.pending.sort(key=lambda p: p.id)
            _assign(group, consumer, pending)  # type: ignore[arg-type]  # fresh entries made the consumer
    if not fresh:
        return None
    consumer.active_time = now  # type: ignore[union-attr]  # fresh entries made the consumer
    return [_entry_reply(x) for x in fresh]


def _read_history(e: Engine, key: bytes, stream: Stream, group: ConsumerGroup, name: bytes, after: StreamId,
                  count: int | None, now: int) -> list:
    """XREADGROUP ... id: the consumer's pending entries after the id, delivered again (a deleted one
    as its id and nil); the read creates the consumer on every target."""
    consumer = _consumer(e, key, group, name)
    consumer.seen_time = now
    present = {x.id: x for x in stream.entries}
    history = [i for i in consumer.pending if i > after][:count]
    for entry_id in history:
        pending = next(p for p in group.pending if p.id == entry_id)
        pending.delivery_time, pending.delivery_count = now, pending.delivery_count + 1
    return [_entry_reply(present[i]) if i in present else [id_text(i), NULL_ARRAY] for i in history]


@command("xpending", -3, write=False)
def xpending(e: Engine, args: list[bytes]):
    """XPENDING key group [[IDLE ms] start end count [consumer]]: the range's arguments read (count, then
    start and end) before the key and group are looked up."""
    if len(args) != 3 and not 6 <= len(args) <= 9:
        raise CommandError(SYNTAX)
    if len(args) > 3:
        idle, rest = 0, args[3:]
        if rest[0].upper() == b"IDLE":
            idle = integer(rest[1])
            if len(args) < 8:
                raise CommandError(SYNTAX)
            rest = rest[2:]
        count = max(integer(rest[2]), 0)
        low, high = _bound(rest[0], True), _bound(rest[1], False)
    stream = _stream(e, args[1])
    group = _group(stream, args[1], args[2])
    if len(args) == 3:
        if not group.pending:
            return [0, None, None, NULL_ARRAY]
        owners: dict[bytes | None, int] = {}
        for pending in group.pending:
            owners[pending.consumer] = owners.get(pending.consumer, 0) + 1
        return [len(group.pending), id_text(group.pending[0].id), id_text(group.pending[-1].id),
                [[name, b"%d" % n] for name, n in sorted(owners.items())]]
    now = e.now_ms()
    chosen = [p for p in group.pending if low <= p.id <= high and (len(rest) == 3 or p.consumer == rest[3])
              and now - p.delivery_time >= idle][:count]
    return [[id_text(p.id), p.consumer, max(0, now - p.delivery_time), p.delivery_count] for p in chosen]


@command("xinfo", -2, write=False, subcommands="stream groups consumers")
def xinfo(e: Engine, args: list[bytes]):
    from rdbtools.keyspace.commands import Map

    sub = args[1].upper()
    if sub == b"STREAM" and len(args) >= 3:
        stream = _stream(e, args[2])
        if stream is None:
            raise CommandError("ERR no such key")
        full = len(args) >= 4 and args[3].upper() == b"FULL"
        count = integer(args[5]) if full and len(args) == 6 and args[4].upper() == b"COUNT" else 10
        return _stream_info(e, stream, full, count)
    if sub == b"GROUPS" and len(args) == 3:
        stream = _stream(e, args[2])
        if stream is None:
            raise CommandError("ERR no such key")
        return [Map({b"name": g.name, b"consumers": len(g.consumers), b"pending": len(g.pending),
                     b"last-delivered-id": id_text(g.last_delivered_id), b"entries-read": g.entries_read,
                     b"lag": _lag(e, stream, g)}) for g in stream.groups]
    if sub == b"CONSUMERS" and len(args) == 4:
        stream = _stream(e, args[2])
        if stream is None:
            raise CommandError("ERR no such key")
        group = _group(stream, args[2], args[3], "XGROUP")  # (XGROUP's wording)
        now = e.now_ms()
        return [Map({b"name": c.name, b"pending": len(c.pending), b"idle": max(0, now - c.seen_time),
                     b"inactive": -1 if c.active_time in (None, -1) else max(0, now - c.active_time)})
                for c in group.consumers]
    raise subcommand_error(args, e.target)


def _lag(e: Engine, stream: Stream, group: ConsumerGroup) -> int | None:
    """How many entries the group has yet to read, where that can be known (nil otherwise): from its
    read counter when no deleted entry lies ahead of it (Redis 8: and its last id is not before the
    first entry), else from where its last id sits."""
    added = stream.entries_added or 0
    if not added:
        return 0
    behind = (not e.target.valkey_server and e.target.version >= (8, 0) and bool(stream.entries)
              and group.last_delivered_id < stream.entries[0].id)
    if group.entries_read is not None and not behind and not _tombstone_at_or_after(stream, group.last_delivered_id):
        return added - group.entries_read
    read = _entries_read_at(stream, group.last_delivered_id)
    return None if read is None else added - read


def _stream_info(e: Engine, stream: Stream, full: bool, count: int):
    from rdbtools.keyspace.commands import Map

    head = {b"length": len(stream.entries), b"radix-tree-keys": len(_nodes(e, stream)),
            b"radix-tree-nodes": radix_tree_nodes(_nodes(e, stream)), b"last-generated-id": id_text(stream.last_id),
            b"max-deleted-entry-id": id_text(stream.max_deleted_id or ZERO),
            b"entries-added": stream.entries_added or 0,
            b"recorded-first-entry-id": id_text(stream.entries[0].id if stream.entries else ZERO)}
    if not full:
        return Map({**head, b"groups": len(stream.groups),
                    b"first-entry": _entry_reply(stream.entries[0]) if stream.entries else None,
                    b"last-entry": _entry_reply(stream.entries[-1]) if stream.entries else None})
    limit = None if count == 0 else count
    groups = []
    for g in stream.groups:
        groups.append(Map({
            b"name": g.name, b"last-delivered-id": id_text(g.last_delivered_id), b"entries-read": g.entries_read,
            b"lag": _lag(e, stream, g), b"pel-count": len(g.pending),
            b"pending": [[id_text(p.id), p.consumer, p.delivery_time, p.delivery_count] for p in g.pending[:limit]],
            b"consumers": [Map({
                b"name": c.name, b"seen-time": c.seen_time, b"active-time": c.active_time,
                b"pel-count": len(c.pending),
                b"pending": [[id_text(i), *_delivery(g, i)] for i in c.pending[:limit]]}) for c in g.consumers],
        }))
    return Map({**head, b"entries": [_entry_reply(x) for x in stream.entries[:limit]], b"groups": groups})


def _delivery(group: ConsumerGroup, entry_id: StreamId) -> list[int]:
    pending = next((p for p in group.pending if p.id == entry_id), None)
    return [0, 0] if pending is None else [pending.delivery_time, pending.delivery_count]
