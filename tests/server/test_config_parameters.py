"""CONFIG GET/SET of every parameter the target server has, against the real Redis 7.0: the defaults of
CONFIG GET *, aliases answering together, and the values CONFIG SET takes or refuses for parameters
serve keeps without acting on them (Redis's test suite reads and restores many of them)."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from rdbtools.rdb.targets import THRESHOLD_DIRECTIVES, target_for
from rdbtools.server.config import DIRECTIVES, parameters_of
from tests.resp_client import RawClient
from tests.server.serving import start_serve
from tests.servers import start_server

SERVER = "redis-7.0"
#: set by how each one was started (port, directory, save points ...), or serve's own (target)
PER_START = {"port", "dir", "bind", "dbfilename", "logfile", "pidfile", "save", "target", "maxclients",
             "enable-debug-command", "enable-protected-configs", "enable-module-command"}
PARAMETERS = parameters_of(target_for(SERVER))
#: the parameters serve keeps without acting on them, of the kinds CONFIG SET checks
KEPT = sorted(n for n, k in PARAMETERS.kinds.items() if k["kind"] in ("bool", "int", "memory", "enum")
              and n not in DIRECTIVES and n not in THRESHOLD_DIRECTIVES  # those serve acts on: tested apart
              and n not in PARAMETERS.aliases and not n.startswith("min-replicas")
              and n != "activedefrag"  # Debian's build (no jemalloc) takes "yes" and stays "no"
              and n != "repl-backlog-size")  # raised to 16 kB when set: replication's, which serve has not
WORDS = ["yes", "no", "YES", "0", "-1", "1", "2", "100", "2147483648", "1kb", "1mb", "3GB", "abc", "", "1.5", " 1",
         "-9223372036854775808", "9223372036854775807", "allkeys-lru", "local0", "relaxed", "auto", "notice"]


@pytest.fixture(scope="module")
def pair():
    with start_server(SERVER) as real, start_serve("--target", SERVER) as served:
        yield RawClient(real.port), RawClient(served.port)


def _as_map(reply: list) -> dict[bytes, bytes]:
    return dict(zip(reply[::2], reply[1::2], strict=True))


def _same(pair, *args: str | bytes):
    real, served = pair
    theirs, ours = real.call(list(args)), served.call(list(args))
    if isinstance(theirs, Exception):
        assert (type(ours), str(ours)) == (type(theirs), str(theirs))
    else:
        assert ours == theirs
    return theirs


def test_config_get_star_names_every_parameter_of_the_server_with_its_default(pair):
    real, served = pair
    theirs, ours = (_as_map(c.call(["CONFIG", "GET", "*"])) for c in (real, served))
    asked = {n: v for n, v in theirs.items() if n.decode() not in PER_START}
    assert {n: ours.get(n) for n in asked} == asked


@pytest.mark.parametrize("old, new", sorted(PARAMETERS.aliases.items()))
def test_an_alias_and_the_name_it_stands_for_answer_one_setting(pair, old, new):
    default = _same(pair, "CONFIG", "GET", new)[1]
    kind = PARAMETERS.kinds[new]["kind"]
    number = "3"  # (a list node size: 3 entries)
    value = {"bool": "no" if default == b"yes" else "yes", "text": "somewhere"}.get(kind, number)
    _same(pair, "CONFIG", "SET", old, value)
    _same(pair, "CONFIG", "GET", new)
    _same(pair, "CONFIG", "GET", old)
    _same(pair, "CONFIG", "SET", new, default)
    _same(pair, "CONFIG", "GET", old)


def test_an_immutable_parameter_is_refused_as_the_server_refuses_it(pair):
    for name in ("cluster-enabled", "io-threads", "unixsocketgroup", "CLUSTER-CONFIG-FILE"):
        _same(pair, "CONFIG", "SET", name, "x")


@hypothesis_settings(max_examples=60, deadline=None)
@given(name=st.sampled_from(KEPT), value=st.sampled_from(WORDS))
@example(name="activerehashing", value="maybe")
@example(name="lfu-log-factor", value="-1")
@example(name="list-compress-depth", value="2")
@example(name="lazyfree-lazy-user-del", value="YES")
@example(name="active-defrag-ignore-bytes", value="1mb")
@example(name="repl-diskless-load", value="SWAPDB")
@example(name="stream-node-max-bytes", value="")
def test_config_set_takes_or_refuses_a_kept_parameter_as_the_server(pair, name, value):
    default = _same(pair, "CONFIG", "GET", name)[1]
    _same(pair, "CONFIG", "SET", name, value)
    _same(pair, "CONFIG", "GET", name)
    _same(pair, "CONFIG", "SET", name, default)
