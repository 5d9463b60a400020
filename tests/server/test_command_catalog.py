"""COMMAND tells what serve answers for its target, no more: the commands and subcommands COMMAND,
COMMAND LIST, COUNT, INFO and DOCS report are exactly those serve runs (a name is run when, inside
MULTI, it is queued and not refused as an unknown command or subcommand), and none of them is unknown
to the real server of that target."""

from __future__ import annotations

import pytest

from tests.resp_client import RawClient
from tests.server.serving import start_serve
from tests.servers import start_server

#: what the real servers have and serve does not yet (issue 14): every target lacks these ...
NOT_YET_ANYWHERE = {
    b"acl", b"asking", b"bitcount", b"bitpos", b"cluster", b"failover", b"hrandfield", b"hscan", b"latency",
    b"lolwut", b"memory", b"migrate", b"module", b"monitor", b"pfdebug", b"pfselftest", b"readonly",
    b"readwrite", b"replicaof", b"restore-asking", b"script", b"slaveof", b"slowlog",
    b"sort", b"sscan", b"touch", b"zdiff", b"zinter", b"zrandmember", b"zscan", b"zunion",
}
_SINCE_7 = {b"eval_ro", b"evalsha_ro", b"lcs", b"sintercard", b"sort_ro", b"spublish", b"ssubscribe",
            b"sunsubscribe", b"zintercard"}
#: ... and each target these
NOT_YET = {
    "redis-6.2": {b"host:", b"post", b"stralgo"},
    "redis-7.0": _SINCE_7,
    "redis-8.2": _SINCE_7 | {b"waitaof", b"xackdel", b"xdelex", b"vcard", b"vdim", b"vemb", b"vgetattr",
                             b"vinfo", b"vismember", b"vlinks", b"vrandmember", b"vsim"},
    "valkey-8.1": _SINCE_7 | {b"commandlog", b"waitaof"},
    "valkey-9.1": _SINCE_7 | {b"commandlog", b"waitaof", b"clusterscan", b"delifeq", b"msetex"},
}


_CONTAINERS: set[bytes] = set()


def _listed(port: int) -> dict[bytes, int]:
    """COMMAND's commands and subcommands, lower-cased, with their arity."""
    client = RawClient(port)
    try:
        entries = client.call([b"COMMAND"])
    finally:
        client.sock.close()
    listed = {}
    for entry in entries:
        listed[entry[0].lower()] = entry[1]
        subcommands = entry[9] if len(entry) > 9 else []
        listed.update((sub[0].lower(), sub[1]) for sub in subcommands)
        if subcommands:
            _CONTAINERS.add(entry[0].lower())
    return listed


def _runs(port: int, name: bytes, arity: int) -> bool:
    """Whether the server knows the command: sent inside MULTI (so it is never run) with as many
    arguments as its arity asks (a container alone), it is queued or refused for something else than
    being unknown. A connection of its own each time: EXEC, DISCARD, RESET and QUIT end the transaction."""
    words = name.split(b"|")
    arity = 1 if name in _CONTAINERS else arity
    client = RawClient(port)
    try:
        client.call([b"MULTI"])
        reply = client.call([*words, *[b"x"] * (abs(arity) - len(words))])
    finally:
        client.sock.close()
    return not (isinstance(reply, Exception) and str(reply).startswith(("ERR unknown command",
                                                                        "ERR unknown subcommand '")))


@pytest.mark.parametrize("target", ["redis-6.2", "redis-7.0", "redis-8.2", "valkey-8.1", "valkey-9.1"])
def test_command_lists_exactly_what_serve_runs_for_its_target(target):
    with start_server(target) as real, start_serve("--target", target) as served:
        theirs, ours = _listed(real.port), _listed(served.port)
        candidates = {**theirs, **ours}
        runs = {name for name, arity in candidates.items() if _runs(served.port, name, arity)}
        unknown_to_them = {name for name in set(ours) - set(theirs) if not _runs(real.port, name, ours[name])}
        client = RawClient(served.port)
        count = client.call([b"COMMAND", b"COUNT"])
        infos = client.call([b"COMMAND", b"INFO", *candidates])
        listed = client.call([b"COMMAND", b"LIST"]) if target != "redis-6.2" else list(ours)
        docs = client.call([b"COMMAND", b"DOCS"]) if target != "redis-6.2" else []
        client.sock.close()
    top = {name for name in ours if b"|" not in name}
    assert runs == set(ours)
    assert unknown_to_them == set()
    assert count == len(top) and sorted(n.lower() for n in listed) == sorted(ours)
    assert target == "redis-6.2" or {n.lower() for n in docs[::2]} == top
    assert {name for name, info in zip(candidates, infos, strict=True) if info is not None} == set(ours)
    assert {n for n in set(theirs) - set(ours) if b"|" not in n} <= NOT_YET_ANYWHERE | NOT_YET[target]
