"""What the server knows about each connection (CLIENT LIST's fields and the per-connection state), and
the CLIENT command, as Redis's clientCommand (networking.c) answers it for the target."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from rdbtools.formats.numbers import canonical_int64
from rdbtools.keyspace.commands import OK, SYNTAX, CommandError, integer, subcommand_error
from rdbtools.server.acl import User  # at run time: the compiled Client's annotations name it
from rdbtools.server.client_eviction import client_usage
from rdbtools.server.protocol import Map, SetReply, Verbatim
from rdbtools.server.tracking import ClientTracking

if TYPE_CHECKING:
    from rdbtools.server.core import Blocked, Server

NO_REPLY: Final = object()  # nothing to send now (commands.NO_REPLY is this object)
_TYPES = {b"normal": "normal", b"slave": "replica", b"replica": "replica", b"pubsub": "pubsub", b"master": "master"}


@dataclass(eq=False)
class Client:
    id: int
    address: str  # ip:port, or the socket path for a unix socket
    local_address: str
    send: Callable[[object], None]  # deliver a reply or push, outside a request (pub/sub, unblocking)
    close: Callable[[], None]
    user: User  # its ACL user (the default user until AUTH or HELLO names another)
    name: bytes = b""
    db: int = 0
    resp: int = 2
    authenticated: bool = False
    gated: bool = True  # its requests go through the AUTH / ACL / maxmemory checks (acl.Acl.refresh says)
    created: float = field(default_factory=time.time)
    last_command: bytes = b"NULL"
    last_interaction: float = field(default_factory=time.time)
    multi: list[list[bytes]] | None = None  # queued commands inside MULTI
    multi_failed: bool = False  # a command was refused while queuing: EXEC aborts
    #: (db, key) -> (its version when watched, whether it was an expired key still stored then)
    watched: dict[tuple[int, bytes], tuple[int, bool]] = field(default_factory=dict)
    channels: set[bytes] = field(default_factory=set)
    patterns: set[bytes] = field(default_factory=set)
    shard_channels: set[bytes] = field(default_factory=set)  # SSUBSCRIBE's (Redis 7.0+)
    subscribed: bool = False  # to any of the three: the subscribed context (one test per request)
    blocked: Blocked | None = None  # the wait of a blocking command, while it waits
    closing: bool = False  # QUIT / protocol error: close once the replies are out
    scan_snapshots: dict[int, list[bytes]] = field(default_factory=dict)
    library: dict[str, bytes] = field(default_factory=dict)  # CLIENT SETINFO
    #: pushes a command made for its own client, sent once its reply is out (Redis 7.2+, Valkey)
    after_reply: list[object] = field(default_factory=list)
    #: the error its last request was refused with (not run: not in the slow log); never a reply at first
    #: (Any, not object: compiled, a dataclass cannot make an `object` field)
    last_refusal: Any = field(default_factory=object)
    tracking: ClientTracking | None = None  # CLIENT TRACKING ON
    #: CLIENT REPLY: None (on), "off", "skip-next" (SKIP was just given), "skip" (this reply is not sent);
    #: "replica": a replica of Redis 7.0+, closed when a command of its has a reply
    reply_mode: str | None = None
    no_evict: bool = False
    no_touch: bool = False
    monitoring: bool = False  # MONITOR: it is sent every command the server runs
    replica: bool = False  # SYNC / PSYNC made it a replica (replication.py): sent the stream, no replies
    woff: int = 0  # the replication offset after its last write that propagated (what its WAIT waits for)

    @property
    def subscriptions(self) -> int:
        """What (P)SUBSCRIBE replies count: channels and patterns (SSUBSCRIBE's count its own)."""
        return len(self.channels) + len(self.patterns)

    def refresh_subscribed(self) -> None:
        self.subscribed = bool(self.channels or self.patterns or self.shard_channels)

    @property
    def kind(self) -> str:
        """CLIENT LIST / KILL TYPE: serve's clients are replicas, pub/sub or normal."""
        return "replica" if self.replica else "pubsub" if self.subscribed else "normal"

    def skip_reply(self, reply: object) -> object:
        """The reply as CLIENT REPLY OFF / SKIP lets it out (the edge asks only while one is in force); a
        replica's command that has a reply ends its link ("replica": Redis 7.0+ drops a rogue replica)."""
        mode = self.reply_mode
        if mode == "replica":
            self.closing = self.closing or reply is not NO_REPLY
            return NO_REPLY
        if mode == "skip-next":
            self.reply_mode = "skip"
            return reply
        if mode == "skip":
            self.reply_mode = None
        return NO_REPLY


# --- CLIENT INFO / LIST ------------------------------------------------------------------------------

def flags(server: Server, client: Client) -> str:
    """The flags of CLIENT LIST, in Redis's order (N: none)."""
    state = client.tracking
    marks = [("O", client.monitoring), ("S", client.replica), ("P", client.subscribed), ("x", client.multi is not None),
             ("b", client.blocked is not None), ("t", state is not None), ("R", state is not None and state.broken),
             ("B", state is not None and state.bcast), ("d", dirty_cas(server, client)),
             ("U", client.address.startswith("/")), ("e", client.no_evict), ("T", client.no_touch)]
    return "".join(mark for mark, on in marks if on) or "N"


class Subscribers:
    """Who is sent what others do: (P)SUBSCRIBE's clients by channel and pattern, MONITOR's clients, the
    replicas (their stream). Not a dataclass: compiled, a dataclass's annotations are looked up when it
    is made, and replication.py, which imports this module, cannot be imported here first."""

    def __init__(self) -> None:
        from rdbtools.server.replication import Replication

        self.channels: dict[bytes, set[Client]] = {}
        self.patterns: dict[bytes, set[Client]] = {}
        self.monitors: list[Client] = []
        self.replication = Replication()


def dirty_cas(server: Server, client: Client) -> bool:
    """A key the client watches was modified: its EXEC will fail (Redis's CLIENT_DIRTY_CAS). A key watched
    when it had expired (but was still stored) only counts once it holds a live value again: its deletion
    is no change."""
    for where, (version, expired_then) in client.watched.items():
        if server.versions.get(where, 0) != version and (
                not expired_then or stored_state(server, where) == "live"):
            return True
    return False


def watched_key_expired(server: Server, client: Client) -> bool:
    """A key the client watches expired since WATCH (stored yet, found by nobody): EXEC fails, as Redis's
    isWatchedKeyExpired."""
    return any(not expired_then and stored_state(server, where) == "expired"
               for where, (_, expired_then) in client.watched.items())


def stored_state(server: Server, where: tuple[int, bytes]) -> str:
    """ "live", "expired" (still stored) or "absent", seen without deleting anything."""
    keys = server.engine.keyspace.dbs.get(where[0])
    entry = None if keys is None else keys.get(where[1])
    if entry is None:
        return "absent"
    expired = entry.expire_ms is not None and entry.expire_ms <= server.engine.now_ms()
    return "expired" if expired else "live"


def info_line(server: Server, client: Client, running: list[bytes] | None = None) -> str:
    """One line of CLIENT LIST: the target's fields in its order (tot-mem by the target's figures for a
    client, client_eviction.py, with the command it is ``running``; the buffers' own fields are serve's)."""
    target, now = server.config.target, server.clock()
    redis = not target.valkey_server
    fields = [("id", client.id), ("addr", client.address), ("laddr", client.local_address), ("fd", 8),
              ("name", client.name.decode("utf-8", "replace")), ("age", int(now - client.created)),
              ("idle", int(now - client.last_interaction)), ("flags", flags(server, client))]
    if not redis:
        fields.append(("capa", ""))
    fields += [("db", client.db), ("sub", len(client.channels)), ("psub", len(client.patterns))]
    if not redis or target.version >= (7, 0):
        fields.append(("ssub", len(client.shard_channels)))
    fields.append(("multi", -1 if client.multi is None else len(client.multi)))
    if not redis or target.version >= (7, 2):  # a touched key unwatches them all (7.2+)
        fields.append(("watch", 0 if dirty_cas(server, client) else len(client.watched)))
    fields += [("qbuf", 0), ("qbuf-free", 0), ("argv-mem", 0)]
    if not redis or target.version >= (7, 0):
        fields += [("multi-mem", 0), ("rbs", 1024), ("rbp", 0)]
    fields += [("obl", 0), ("oll", 0), ("omem", 0), ("tot-mem", client_usage(server, client, running)), ("events", "r"),
               ("cmd", client.last_command.decode("utf-8", "replace").lower()),
               ("user", client.user.name.decode("utf-8", "replace")),
               ("redir", client.tracking.redirect if client.tracking is not None else -1)]
    if not redis or target.version >= (7, 0):
        fields.append(("resp", client.resp))
    if not redis or target.version >= (7, 2):
        fields += [(name, _text(client.library.get(name))) for name in ("lib-name", "lib-ver")]
    if redis and target.version >= (8, 0):
        fields.append(("io-thread", 0))
    if not redis or target.version >= (8, 0):
        fields += [("tot-net-in", 0), ("tot-net-out", 0), ("tot-cmds", 0)]
    return " ".join(f"{name}={value}" for name, value in fields)


def _text(value: bytes | None) -> str:
    return "" if value is None else value.decode("utf-8", "replace")


def _listing(server: Server, clients: Iterable[Client], caller: Client, args: list[bytes]) -> Verbatim:
    """The lines of ``clients`` (the caller's counts the command it is running)."""
    return Verbatim("".join(info_line(server, c, args if c is caller else None) + "\n" for c in clients).encode(),
                    b"txt")


def _list(server: Server, client: Client, args: list[bytes]) -> Verbatim:
    """CLIENT LIST [TYPE type | ID id ...] (Valkey 9: any filter of CLIENT KILL's)."""
    if _valkey_9(server) and len(args) > 3:
        tests, skipme = _valkey_filters(server, args, skipme=False)
        return _listing(server, [c for c in server.clients.values() if _matches(c, client, tests, skipme)],
                        client, args)
    if len(args) == 4 and args[2].lower() == b"type":
        kind = _type(server, args[3])
        return _listing(server, [c for c in server.clients.values() if c.kind == kind], client, args)
    if len(args) > 3 and args[2].lower() == b"id":
        ids = [integer(a, "ERR Invalid client ID") for a in args[3:]]
        return _listing(server, [server.clients[i] for i in ids if i in server.clients], client, args)
    if len(args) != 2:
        raise CommandError(SYNTAX)
    return _listing(server, server.clients.values(), client, args)


def _valkey_9(server: Server) -> bool:
    return server.config.target.valkey_server and server.config.target.version >= (9, 0)


def _matches(c: Client, caller: Client, tests: list[Callable[[Client], bool]], skipme: bool) -> bool:
    return all(test(c) for test in tests) and not (skipme and c is caller)


def _type(server: Server, name: bytes) -> str:
    """A client type's name (Valkey also says primary)."""
    kind = _TYPES.get(name.lower()) or ("master" if server.config.target.valkey_server and name.lower() == b"primary"
                                        else None)
    if kind is None:
        raise CommandError(f"ERR Unknown client type '{name.decode('utf-8', 'replace')}'")
    return kind


# --- the CLIENT command ---------------------------------------------------------------------------------

def client_command(server: Server, client: Client, args: list[bytes]) -> object:
    """CLIENT subcommand ...: each subcommand with the argument count Redis accepts for it (Redis 6.2
    has no table of subcommands: this is where it says which exist)."""
    sub, argc, target = args[1].lower(), len(args), server.config.target
    since = _SINCE.get(sub)
    runs = since is not None and (target.valkey_server or target.version >= since[0]) and (
        since[1](argc) or _valkey_9(server))  # Valkey 9: the table's arity is the only check
    if not runs:
        raise subcommand_error(args, target)
    return _SUBCOMMANDS[sub](server, client, args)


def _setname(server: Server, client: Client, args: list[bytes]) -> object:
    if any(b <= 32 or b > 126 for b in args[2]):
        raise CommandError("ERR Client names cannot contain spaces, newlines or special characters.")
    client.name = args[2]
    return OK


def _setinfo(server: Server, client: Client, args: list[bytes]) -> object:
    """CLIENT SETINFO LIB-NAME|LIB-VER value (an empty value unsets it)."""
    attribute = args[2].decode("utf-8", "replace")
    if attribute.lower() not in ("lib-name", "lib-ver"):
        raise CommandError(f"ERR Unrecognized option '{attribute}'")
    if any(b < 33 or b > 126 for b in args[3]):
        raise CommandError(f"ERR {attribute} cannot contain spaces, newlines or special characters.")
    client.library[attribute.lower()] = args[3]
    return OK


def _reply(server: Server, client: Client, args: list[bytes]) -> object:
    """CLIENT REPLY ON|OFF|SKIP: OFF and SKIP are not answered (the edge holds back what follows)."""
    mode = args[2].lower()
    if mode == b"on":
        client.reply_mode = None
        return OK
    if mode == b"off":
        client.reply_mode = "off"
    elif mode == b"skip":
        if client.reply_mode != "off":
            client.reply_mode = "skip-next"
    else:
        raise CommandError(SYNTAX)
    return NO_REPLY


def _on_off(attribute: str) -> Callable:
    """CLIENT NO-EVICT / NO-TOUCH ON|OFF: a flag CLIENT LIST shows (serve evicts nothing)."""
    def run(server: Server, client: Client, args: list[bytes]) -> object:
        value = args[2].lower()
        if value not in (b"on", b"off"):
            raise CommandError(SYNTAX)
        setattr(client, attribute, value == b"on")
        return OK
    return run


_set_no_touch = _on_off("no_touch")


def _no_touch(server: Server, client: Client, args: list[bytes]) -> object:
    """CLIENT NO-TOUCH ON|OFF: while on, the client's commands but TOUCH leave the keys' access alone."""
    was = client.no_touch
    reply = _set_no_touch(server, client, args)
    if client.no_touch != was:
        server.no_touch_changed(client.no_touch)
    return reply


def _kill(server: Server, client: Client, args: list[bytes]) -> object:
    """CLIENT KILL addr (the old form, which may kill the caller) or CLIENT KILL filter value ...: the
    number killed; the caller goes after its reply."""
    if len(args) == 3:
        chosen = [c for c in server.clients.values() if c.address == args[2].decode("utf-8", "replace")]
        if not chosen:
            raise CommandError("ERR No such client")
        _close_all(client, chosen)
        return OK
    tests, skipme = _valkey_filters(server, args, skipme=True) if _valkey_9(server) else _kill_filters(server, args)
    chosen = [c for c in server.clients.values() if _matches(c, client, tests, skipme)]
    _close_all(client, chosen)
    return len(chosen)


def _kill_filters(server: Server, args: list[bytes]) -> tuple[list[Callable[[Client], bool]], bool]:
    """CLIENT KILL's option value pairs (Redis, Valkey before 9), checked in order."""
    tests, skipme = [], True
    for i in range(2, len(args), 2):
        if i + 1 == len(args):
            raise CommandError(SYNTAX)
        option, value = args[i].lower(), args[i + 1]
        if option == b"skipme":
            skipme = _yes_no(value)
        else:
            tests.append(_kill_filter(server, option, value))
    return tests, skipme


def _yes_no(value: bytes) -> bool:
    if value.lower() not in (b"yes", b"no"):
        raise CommandError(SYNTAX)
    return value.lower() == b"yes"


def _kill_filter(server: Server, option: bytes, value: bytes) -> Callable[[Client], bool]:
    """One filter of CLIENT KILL, checked as Redis parses it (its error texts)."""
    target = server.config.target
    text = value.decode("utf-8", "replace")
    if option == b"id":
        if not target.valkey_server and target.version < (7, 0):
            wanted = integer(value)  # 6.2: 0 is no filter
            return lambda c: not wanted or c.id == wanted
        wanted = integer(value, "ERR client-id should be greater than 0")
        if wanted < 1:
            raise CommandError("ERR client-id should be greater than 0")
        return lambda c: c.id == wanted
    if option == b"type":
        kind = _type(server, value)
        return lambda c: c.kind == kind
    if option == b"addr":
        return lambda c: c.address == text
    if option == b"laddr":
        return lambda c: c.local_address == text
    if option == b"user":
        if value not in server.acl.users:
            raise CommandError(f"ERR No such user '{text}'")
        return lambda c: c.user.name == value
    if option == b"maxage" and (target.valkey_server or target.version >= (7, 4)):
        age = integer(value, "ERR maxage is not an integer or out of range")
        if age <= 0:
            raise CommandError("ERR maxage should be greater than 0")
        now = server.clock()
        return lambda c: now - c.created >= age
    raise CommandError(SYNTAX)


def _valkey_filters(server: Server, args: list[bytes], skipme: bool) -> tuple[list[Callable[[Client], bool]], bool]:
    """Valkey 9's filters of CLIENT KILL and LIST: ID takes the numbers that follow it; the others one value."""
    tests: list[Callable[[Client], bool]] = []
    i = 2
    while i < len(args):
        option, more = args[i].lower(), i + 1 < len(args)
        if option == b"id":
            ids: set[int] = set()
            i += 1
            while i < len(args) and (number := canonical_int64(args[i])) is not None:
                if number < 1:
                    raise CommandError("ERR client-id should be greater than 0")
                ids.add(number)
                i += 1
            tests.append(_id_in(ids))
            continue
        if not more:
            raise CommandError(SYNTAX)
        value = args[i + 1]
        if option == b"skipme":
            skipme = _yes_no(value)
        else:
            tests.append(_valkey_filter(server, option, value))
        i += 2
    return tests, skipme


def _id_in(ids: set[int]) -> Callable[[Client], bool]:
    """ID's filter, bound to its own numbers (a lambda in the loop would see a later ID option's)."""
    return lambda c: c.id in ids


def _valkey_filter(server: Server, option: bytes, value: bytes) -> Callable[[Client], bool]:
    text = value.decode("utf-8", "replace")
    if option in (b"maxage", b"idle"):
        seconds = integer(value, f"ERR {option.decode()} is not an integer or out of range")
        if seconds <= 0:
            raise CommandError(f"ERR {option.decode()} should be greater than 0")
        now = server.clock()
        if option == b"maxage":
            return lambda c: now - c.created >= seconds
        return lambda c: now - c.last_interaction >= seconds
    if option == b"flags":
        if any(flag not in "OSMPxbtRBdcuAUreTIN" for flag in text):
            raise CommandError(f"ERR Unknown flags found in the provided filter: {text}")
        return lambda c: all(flag in flags(server, c) for flag in text)
    if option == b"name":
        return lambda c: bool(c.name) and c.name == value
    if option in (b"lib-name", b"lib-ver"):
        return lambda c: client_library(c, option.decode()) == value
    if option == b"db":
        db = integer(value, "ERR DB is not an integer or out of range")
        if not 0 <= db < server.config["databases"]:
            raise CommandError(f"ERR DB number should be between 0 and {server.config['databases'] - 1}")
        return lambda c: c.db == db
    if option == b"capa":
        if any(capa != "r" for capa in text):
            raise CommandError(f"ERR Unknown capa found in the provided filter: {text}")
        return lambda c: not text
    if option == b"ip":
        return lambda c: c.address.removeprefix("[").startswith(text) and _port_after(c.address, len(text))
    return _kill_filter(server, option, value)


def _port_after(address: str, length: int) -> bool:
    rest = address.removeprefix("[")[length:].removeprefix("]")
    return rest.startswith(":") and not rest.startswith(":0")


def client_library(client: Client, name: str) -> bytes | None:
    return client.library.get(name) or None


def _close_all(caller: Client, chosen: list[Client]) -> None:
    for victim in chosen:
        if victim is caller:
            caller.closing = True  # after this reply
        else:
            victim.close()


def _unblock(server: Server, client: Client, args: list[bytes]) -> object:
    """CLIENT UNBLOCK id [TIMEOUT|ERROR]: a client waiting in a blocking command gets its timeout reply,
    or the UNBLOCKED error."""
    error = False
    if len(args) == 4:
        reason = args[3].lower()
        if reason not in (b"timeout", b"error"):
            raise CommandError("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR")
        error = reason == b"error"
    other = server.clients.get(integer(args[2]))
    if other is None or other not in server.blocked:
        return 0
    server.unblock(other, CommandError("UNBLOCKED client unblocked via CLIENT UNBLOCK") if error else None)
    return 1


def _pause(server: Server, client: Client, args: list[bytes]) -> object:
    """CLIENT PAUSE milliseconds [WRITE|ALL]."""
    mode = b"all"
    if len(args) == 4:
        mode = args[3].lower()
        if mode not in (b"write", b"all"):
            raise CommandError("ERR CLIENT PAUSE mode must be WRITE or ALL")
    milliseconds = integer(args[2], "ERR timeout is not an integer or out of range")
    if milliseconds < 0:
        raise CommandError("ERR timeout is negative")
    server.pause_clients(milliseconds / 1000, mode == b"all")
    return OK


def _unpause(server: Server, client: Client, args: list[bytes]) -> object:
    server.unpause_clients()
    return OK


# --- client-side caching ---------------------------------------------------------------------------------

def _tracking(server: Server, client: Client, args: list[bytes]) -> object:
    """CLIENT TRACKING ON|OFF [REDIRECT id] [BCAST] [PREFIX p ...] [OPTIN] [OPTOUT] [NOLOOP]: options
    parsed first (REDIRECT's client must exist now), then checked against the client's mode."""
    redirect, options, prefixes = 0, set(), []
    i = 3
    while i < len(args):
        option, more = args[i].upper(), i + 1 < len(args)
        if option == b"REDIRECT" and more:
            i += 1
            if redirect:
                raise CommandError("ERR A client can only redirect to a single other client")
            redirect = integer(args[i])
            if redirect not in server.clients:
                raise CommandError("ERR The client ID you want redirect to does not exist")
        elif option in (b"BCAST", b"OPTIN", b"OPTOUT", b"NOLOOP"):
            options.add(option)
        elif option == b"PREFIX" and more:
            i += 1
            prefixes.append(args[i])
        else:
            raise CommandError(SYNTAX)
        i += 1
    switch = args[2].lower()
    if switch == b"on":
        server.tracking.check(client, redirect, options, prefixes)
        server.tracking.enable(client, redirect, options, prefixes)
    elif switch == b"off":
        server.tracking.disable(client)
    else:
        raise CommandError(SYNTAX)
    return OK


def _caching(server: Server, client: Client, args: list[bytes]) -> object:
    state = client.tracking
    if state is None:
        raise CommandError("ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN "
                           "or OPTOUT mode enabled")
    value = args[2].lower()
    if value not in (b"yes", b"no"):
        raise CommandError(SYNTAX)
    mode = "OPTIN" if value == b"yes" else "OPTOUT"
    if not (state.optin if value == b"yes" else state.optout):
        raise CommandError(f"ERR CLIENT CACHING {value.upper().decode()} is only valid when tracking is enabled in "
                           f"{mode} mode.")
    state.caching = True
    return OK


def _trackinginfo(server: Server, client: Client, args: list[bytes]) -> object:
    state = client.tracking
    if state is None:
        return Map({b"flags": SetReply([b"off"]), b"redirect": -1, b"prefixes": []})
    marks = [(b"bcast", state.bcast), (b"optin", state.optin), (b"caching-yes", state.optin and state.caching),
             (b"optout", state.optout), (b"caching-no", state.optout and state.caching),
             (b"noloop", state.noloop), (b"broken_redirect", state.broken)]
    return Map({b"flags": SetReply([b"on"] + [name for name, on in marks if on]), b"redirect": state.redirect,
                b"prefixes": sorted(state.prefixes)})


def _getredir(server: Server, client: Client, args: list[bytes]) -> object:
    return -1 if client.tracking is None else client.tracking.redirect


def _exactly(n: int) -> Callable[[int], bool]:
    return lambda argc: argc == n


def _at_least(n: int) -> Callable[[int], bool]:
    return lambda argc: argc >= n


_SUBCOMMANDS: dict[bytes, Callable] = {
    b"id": lambda s, c, a: c.id,
    b"info": lambda s, c, a: Verbatim((info_line(s, c, a) + "\n").encode(), b"txt"),
    b"list": _list,
    b"setname": _setname,
    b"getname": lambda s, c, a: c.name or None,
    b"setinfo": _setinfo,
    b"reply": _reply,
    b"no-evict": _on_off("no_evict"),
    b"no-touch": lambda s, c, a: _no_touch(s, c, a),
    b"kill": _kill,
    b"unblock": _unblock,
    b"pause": _pause,
    b"unpause": _unpause,
    b"tracking": _tracking,
    b"caching": _caching,
    b"getredir": _getredir,
    b"trackinginfo": _trackinginfo,
}

#: the server version that has each subcommand, and the argument counts it accepts (clientCommand's tests)
_SINCE: dict[bytes, tuple[tuple[int, int], Callable[[int], bool]]] = {
    b"id": ((0, 0), _exactly(2)), b"info": ((0, 0), _exactly(2)), b"list": ((0, 0), _at_least(2)),
    b"setname": ((0, 0), _exactly(3)), b"getname": ((0, 0), _exactly(2)), b"setinfo": ((7, 2), _exactly(4)),
    b"reply": ((0, 0), _exactly(3)), b"no-evict": ((7, 0), _exactly(3)), b"no-touch": ((7, 2), _exactly(3)),
    b"kill": ((0, 0), _at_least(3)), b"unblock": ((0, 0), lambda argc: argc in (3, 4)),
    b"pause": ((0, 0), lambda argc: argc in (3, 4)), b"unpause": ((0, 0), _exactly(2)),
    b"tracking": ((0, 0), _at_least(3)), b"caching": ((0, 0), _at_least(3)), b"getredir": ((0, 0), _exactly(2)),
    b"trackinginfo": ((0, 0), _exactly(2)),
}
