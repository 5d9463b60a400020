"""Redis 8 vector sets (module ``vectorset``): dump and verify read them as the server answers for them,
corrupt ones are refused where Redis refuses them, and convert says why an AOF of VADDs cannot become an RDB."""

from __future__ import annotations

import random
import shutil
import struct
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import anycrc
import orjson
import pytest

from rdbtools import KeyRecord, convert, open_rdb, verify_rdb
from rdbtools.export.records import bytes_from_json
from rdbtools.formats.vectorset import VECTORSET
from rdbtools.keyspace.commands import CommandError
from rdbtools.rdb.targets import target_for
from tests.compat.test_aof_servers import wait_for_rewrite
from tests.servers import ServerRefused, loads_in, start_server

SERVER = "redis-8.2"  # the first with vector sets built in
RDBTOOL = [sys.executable, "-m", "rdbtools.cli"]
_CRC64 = anycrc.Model("CRC64-REDIS")


@dataclass(frozen=True)
class VectorSetSpec:
    """How one test vector set is made: VADD options, sizes, which elements get attributes."""

    key: bytes
    dim: int
    count: int
    options: tuple[str, ...] = ()
    reduce: int | None = None
    attributes_every: int = 0  # every n-th element gets a SETATTR; 0: none
    removed: int = 0  # VREM this many afterwards (the graph is relinked around them)


SPECS = (
    VectorSetSpec(b"vs:q8", 5, 30, attributes_every=3),
    VectorSetSpec(b"vs:noquant", 5, 12, ("NOQUANT", "M", "24")),
    VectorSetSpec(b"vs:bin", 70, 12, ("BIN",), attributes_every=2),  # 70 bits: two 64-bit words
    VectorSetSpec(b"vs:reduce", 10, 12, (), reduce=3, attributes_every=4),
    VectorSetSpec(b"vs:large", 4, 1500, ("M", "8"), removed=100),  # enough for several HNSW levels
)


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*RDBTOOL, *args], capture_output=True, timeout=300)


def element_name(spec: VectorSetSpec, i: int) -> bytes:
    return b"\xff\x00bin" if i == 1 else b"%s-%d" % (spec.key, i)  # one name that is not UTF-8


def vadd(client, spec: VectorSetSpec, rng: random.Random) -> None:
    pipe = client.pipeline(transaction=False)
    for i in range(spec.count):
        values = [f"{rng.uniform(-10, 10):.4f}" for _ in range(spec.dim)]
        args = ["VADD", spec.key, *(["REDUCE", spec.reduce] if spec.reduce else []), "VALUES", spec.dim, *values,
                element_name(spec, i), *spec.options]
        if spec.attributes_every and i % spec.attributes_every == 0:
            args += ["SETATTR", orjson.dumps({"i": i, "tag": f"t{i % 5}"})]
        pipe.execute_command(*args)
    for i in rng.sample(range(spec.count), spec.removed):
        pipe.execute_command("VREM", spec.key, element_name(spec, i))
    pipe.execute()


def populate(client) -> None:
    rng = random.Random(20261206)
    for spec in SPECS:
        vadd(client, spec, rng)
    client.execute_command("VSETATTR", b"vs:q8", element_name(SPECS[0], 1), '{"late": true}')
    client.execute_command("VSETATTR", b"vs:q8", element_name(SPECS[0], 3), "")  # removes it
    blob = struct.pack("<5f", *(rng.uniform(-1, 1) for _ in range(5)))
    client.execute_command("VADD", b"vs:noquant", "FP32", blob, "fp32", "NOQUANT", "M", 24)
    client.execute_command("VADD", b"vs:q8", "VALUES", 5, 1, 2, 3, 4, 5, element_name(SPECS[0], 0))  # an update
    client.set("plain", "1")


def server_view(client, key: bytes) -> dict:
    """What the server answers about one vector set: VINFO, and VEMB and VGETATTR of every element."""
    info = client.execute_command("VINFO", key)
    info = {k.decode(): v.decode() if isinstance(v, bytes) else v for k, v in
            (info.items() if isinstance(info, dict) else zip(info[::2], info[1::2], strict=True))}
    del info["vset-uid"]  # a counter of the server process, not part of the value
    names = client.execute_command("VRANDMEMBER", key, info["size"])
    pipe = client.pipeline(transaction=False)
    for name in names:
        pipe.execute_command("VEMB", key, name).execute_command("VGETATTR", key, name)
    answers = pipe.execute()
    elements = {name: ([float(x) for x in answers[2 * i]], answers[2 * i + 1]) for i, name in enumerate(names)}
    return {"info": info, "elements": elements}


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> tuple[Path, dict[bytes, dict]]:
    """Redis 8.2's RDB of the SPECS vector sets, and what it answered for each."""
    path = tmp_path_factory.mktemp("vectorsets") / "dump.rdb"
    with start_server(SERVER) as server:
        client = server.client()
        populate(client)
        views = {spec.key: server_view(client, spec.key) for spec in SPECS}
        path.write_bytes(server.save().read_bytes())
    return path, views


def dumped_values(path: Path) -> dict[bytes, dict]:
    result = run("dump", str(path))
    assert result.returncode == 0, result.stderr.decode()
    lines = [orjson.loads(line) for line in result.stdout.splitlines()]
    return {bytes_from_json(r["key"]): r["value"] for r in lines if r["kind"] == "key" and r["type"] == "module"}


def test_the_server_made_several_hnsw_levels(saved):
    _, views = saved
    assert views[b"vs:large"]["info"]["max-level"] >= 3


@pytest.mark.parametrize("key", [spec.key for spec in SPECS], ids=lambda k: k.decode())
def test_dump_shows_each_element_with_the_vector_and_attributes_the_server_returns(saved, key):
    path, views = saved
    decoded = dumped_values(path)[key]
    assert decoded["module"] == "vectorset"
    value, view = decoded["value"], views[key]
    ours = {bytes_from_json(e["element"]): (e["vector"], None if e["attributes"] is None
                                            else bytes_from_json(e["attributes"])) for e in value["elements"]}
    assert ours == view["elements"]  # exactly: VEMB's floats are float32 values, and so are ours


@pytest.mark.parametrize("key", [spec.key for spec in SPECS], ids=lambda k: k.decode())
def test_dump_shows_the_settings_vinfo_reports(saved, key):
    path, views = saved
    value, info = dumped_values(path)[key]["value"], views[key]["info"]
    reduce = value["reduce"]
    assert (value["dim"], value["quantization"], value["m"]) == (info["vector-dim"], info["quant-type"],
                                                                 info["hnsw-m"])
    assert (reduce["input_dim"] if reduce else 0) == info["projection-input-dim"]
    assert max(e["level"] for e in value["elements"]) == info["max-level"]
    assert all(len(e["links"]) == e["level"] + 1 for e in value["elements"])


def test_verify_finds_the_servers_vector_sets_sound(saved):
    path, _ = saved
    assert verify_rdb(path).verdict == "sound"
    assert run("verify", str(path)).returncode == 0


# --- corrupt payloads: refused by us where Redis refuses to load them ----------------------------


def _linked_node(nodes):
    """The first node with a link in layer 0 (its params: id, level, num_links, max_links, links...)."""
    return next(node for node in nodes if node.params[2] > 0)


def _unknown_link(parsed) -> None:
    node = _linked_node(parsed.nodes)
    node.params[4] = max(n.params[0] for n in parsed.nodes) + 1000


def _one_way_link(parsed) -> None:
    node = _linked_node(parsed.nodes)
    linked = set(node.params[4:4 + node.params[2]])
    other = next(n for n in parsed.nodes if n.params[0] != node.params[0] and n.params[0] not in linked
                 and node.params[0] not in n.params[4:4 + n.params[2]])
    node.params[4] = other.params[0]


def _short_vector(parsed) -> None:
    parsed.nodes[0].vector = parsed.nodes[0].vector[:-1]


def _unknown_quantization(parsed) -> None:
    parsed.config = parsed.config & ~0xFF | 3


def _recounted(delta: int):
    """The element count changed by ``delta`` in the built bytes (the schema builds only matching counts)."""

    def recount(payload: bytes) -> bytes:
        parsed = VECTORSET.parse(payload)
        head = VECTORSET.dim.build(parsed.dim)  # each field of the header is one UINT item
        stored = head + VECTORSET.count.build(parsed.count)
        assert payload.startswith(stored)
        return head + VECTORSET.count.build(parsed.count + delta) + payload[len(stored):]

    return recount


def _through_schema(corrupt):
    def change(payload: bytes) -> bytes:
        parsed = VECTORSET.parse(payload)
        corrupt(parsed)
        return VECTORSET.build(parsed)

    return change


CORRUPTIONS = {
    "link to an unknown node": (_through_schema(_unknown_link), "links to node"),
    "link without its link back": (_through_schema(_one_way_link), "has no link back"),
    "vector of the wrong size": (_through_schema(_short_vector), "vector of"),
    "unknown quantization": (_through_schema(_unknown_quantization), "quantization 3"),
    "more elements counted than stored": (_recounted(+1), "expected a module STRING item, found EOF"),
    "fewer elements counted than stored": (_recounted(-1), "expected a module EOF item, found STRING"),
}


def corrupted_file(path: Path, key: bytes, corrupt) -> tuple[bytes, int, int]:
    """The file with one vector set's payload changed by ``corrupt``, its CRC64 recomputed; and where that
    key's record starts and ends."""
    data = path.read_bytes()
    with open_rdb(path) as rdb:
        records = list(rdb)
    record = next(r for r in records if isinstance(r, KeyRecord) and r.key == key)
    rebuilt = corrupt(record.value.payload)
    assert data.count(record.value.payload) == 1
    body = data[:-8].replace(record.value.payload, rebuilt)
    return body + struct.pack("<Q", _CRC64.calc(body)), record.offset, data.index(record.value.payload) + len(rebuilt)


@pytest.mark.parametrize("case", CORRUPTIONS)
def test_a_corrupt_vector_set_is_refused_with_its_key_and_offset_as_redis_refuses_it(saved, tmp_path, case):
    corrupt, expected = CORRUPTIONS[case]
    data, start, end = corrupted_file(saved[0], b"vs:q8", corrupt)
    path = tmp_path / "corrupt.rdb"
    path.write_bytes(data)
    report = verify_rdb(path)
    assert report.verdict == "corrupt"
    assert [(p.key, start <= p.offset < end) for p in report.problems] == [(b"vs:q8", True)], report.problems
    assert expected in report.problems[0].message
    result = run("dump", str(path))
    assert result.returncode == 1 and "'vs:q8'" in result.stderr.decode() and expected in result.stderr.decode()
    loaded, log = loads_in(SERVER, data)
    assert not loaded, "Redis 8.2 loads it: our verdict would differ from the server's"
    assert "vectorset" in log, log


# --- AOF -> RDB ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def aof_of_vadds(tmp_path_factory) -> tuple[Path, dict[bytes, dict], dict[bytes, list]]:
    """An AOF of Redis 8.2 holding the SPECS vector sets as the commands that made them (no RDB
    preamble), and what Redis 8.2 answers after loading it: each set's view and VSIM answers.

    Loaded, not as written: Redis 8.2 does not append a VADD that only updates an element (vset.c
    replicates it only when it added one), so the reloaded set keeps the element's first vector.
    """
    directory = tmp_path_factory.mktemp("aof") / "appendonlydir"
    extra = ("--appendonly", "yes", "--aof-use-rdb-preamble", "no", "--appendfsync", "always")
    with start_server(SERVER, extra=extra) as server:
        populate(server.client())
        server.client(db=2).execute_command("VADD", "vs:db2", "VALUES", 2, 1, 1, "e1", "BIN")
        shutil.copytree(server.dir / "appendonlydir", directory)
    with start_server(SERVER, extra=extra, prepare=lambda d: shutil.copytree(directory, d / "appendonlydir")) as server:
        client = server.client()
        views = {spec.key: graph_aside(server_view(client, spec.key)) for spec in SPECS}
        similar = {spec.key: [client.execute_command(*query) for query in vsim_queries(spec, views[spec.key])]
                   for spec in SPECS}
    return directory, views, similar


def graph_aside(view: dict) -> dict:
    """A view without what depends on the HNSW graph's history (rdbtool builds the graph anew, one layer)."""
    info = {k: v for k, v in view["info"].items() if k not in ("max-level", "hnsw-max-node-uid")}
    return {**view, "info": info}


def vsim_queries(spec: VectorSetSpec, view: dict) -> list[list]:
    """Nearest elements to one of its elements and to a vector, with their scores."""
    values = [f"{(i * 7 % 11 - 5) / 3:.3f}" for i in range(spec.dim)]
    return [["VSIM", spec.key, "ELE", min(view["elements"]), "WITHSCORES", "COUNT", 10],
            ["VSIM", spec.key, "VALUES", spec.dim, *values, "WITHSCORES", "COUNT", 5]]


def test_an_aof_of_vector_set_writes_converts_to_an_rdb_redis_answers_the_same_from(aof_of_vadds, tmp_path):
    directory, views, similar = aof_of_vadds
    result = run("convert", str(directory), str(tmp_path / "out.rdb"))
    assert result.returncode == 0, result.stderr.decode()
    assert verify_rdb(tmp_path / "out.rdb").verdict == "sound"
    with start_server(SERVER, rdb=tmp_path / "out.rdb") as server:
        client = server.client()
        assert {spec.key: graph_aside(server_view(client, spec.key)) for spec in SPECS} == views
        assert {spec.key: [client.execute_command(*q) for q in vsim_queries(spec, views[spec.key])]
                for spec in SPECS} == similar
        assert server.client(db=2).execute_command("VEMB", "vs:db2", "e1") == [1.0, 1.0]


def test_an_aof_of_vector_set_writes_for_a_server_without_them_fails_naming_vector_sets_and_every_key(
        aof_of_vadds, tmp_path):
    directory, _, _ = aof_of_vadds
    result = run("convert", str(directory), str(tmp_path / "out.rdb"), "--target", "redis-7.0")
    message = result.stderr.decode()
    assert result.returncode == 1 and len(message.splitlines()) == 1, message
    assert "vector-sets" in message and "'vs:db2'" in message, message
    assert all(f"'{spec.key.decode()}'" in message for spec in SPECS), message
    assert not (tmp_path / "out.rdb").exists()


def test_a_vadd_with_cas_in_an_aof_converts_though_redis_cannot_load_that_aof(tmp_path):
    """Redis 8.2 appends VADD ... CAS as sent, and loading it aborts the server (its AOF client may not
    block); the conversion keeps the element as the server held it."""
    extra = ("--appendonly", "yes", "--aof-use-rdb-preamble", "no", "--appendfsync", "always")
    with start_server(SERVER, extra=extra) as server:
        client = server.client()
        client.execute_command("VADD", "vs", "VALUES", 3, 1, 2, 3, "first")
        client.execute_command("VADD", "vs", "FP32", struct.pack("<3f", 0.5, -1.5, 2.25), "second", "CAS")
        held = {name: client.execute_command("VEMB", "vs", name) for name in (b"first", b"second")}
        shutil.copytree(server.dir / "appendonlydir", tmp_path / "appendonlydir")
    copy = lambda d: shutil.copytree(tmp_path / "appendonlydir", d / "appendonlydir")  # noqa: E731
    with pytest.raises(ServerRefused), start_server(SERVER, extra=extra, prepare=copy):
        pass
    convert(tmp_path / "appendonlydir", tmp_path / "out.rdb")
    with start_server(SERVER, rdb=tmp_path / "out.rdb") as server:
        assert {name: server.client().execute_command("VEMB", "vs", name) for name in held} == held


def test_vector_sets_in_a_rewritten_aofs_rdb_base_convert_and_load_back_with_the_same_answers(tmp_path):
    """What the refusal's hint proposes: after BGREWRITEAOF with the RDB preamble, the AOF converts."""
    extra = ("--appendonly", "yes", "--aof-use-rdb-preamble", "yes", "--appendfsync", "always")
    spec = SPECS[3]
    with start_server(SERVER, extra=extra) as server:
        client = server.client()
        vadd(client, spec, random.Random(7))
        before = server_view(client, spec.key)
        query = ["VSIM", spec.key, "ELE", element_name(spec, 0), "WITHSCORES", "COUNT", 5]
        similar = client.execute_command(*query)
        client.bgrewriteaof()
        wait_for_rewrite(server)
        shutil.copytree(server.dir / "appendonlydir", tmp_path / "aof")
    convert(tmp_path / "aof", tmp_path / "out.rdb")
    with start_server(SERVER, rdb=tmp_path / "out.rdb") as server:
        client = server.client()
        assert server_view(client, spec.key) == before
        assert client.execute_command(*query) == similar


# --- RDB -> RDB for another server ------------------------------------------------------------


@pytest.mark.parametrize("target", ["redis-6.2", "redis-7.0", "valkey-8.1", "valkey-9.1"])
def test_converting_vector_sets_for_a_server_without_them_names_the_keys_and_drop_leaves_them_out(
        saved, tmp_path, target):
    """Those servers refuse to load a vectorset module value ("no matching module type"): converting one
    for them must say so, not write a file they refuse."""
    path, _ = saved
    out = tmp_path / "out.rdb"
    result = run("convert", str(path), str(out), "--target", target)
    message = result.stderr.decode()
    assert result.returncode == 1 and not out.exists(), message
    assert "vector-sets" in message and all(f"'{spec.key.decode()}'" in message for spec in SPECS), message
    report = convert(path, out, target=target_for(target), drop=frozenset({"vector-sets"}))
    assert report.changed["vector-sets"] == len(SPECS)
    with start_server(target, rdb=out) as server:
        assert server.client().keys() == [b"plain"]


def test_vector_sets_converted_for_redis_8_load_there_with_the_same_answers(saved, tmp_path):
    path, views = saved
    convert(path, tmp_path / "out.rdb", target=target_for(SERVER))
    with start_server(SERVER, rdb=tmp_path / "out.rdb") as server:
        client = server.client()
        assert {spec.key: server_view(client, spec.key) for spec in SPECS} == views


# --- the engine's replies ---------------------------------------------------------------------------

REPLY_CASES = [
    ["VADD", "v", "VALUES", 3, 1, 2, 3, "a", "M", 8, "SETATTR", '{"x": 1}'],
    ["VADD", "v", "VALUES", 3, 1, 2, 3, "a", "M", 8],  # an update: 0
    ["VADD", "v", "VALUES", 3, 1, 2, 3, "a"],  # M mismatch
    ["VADD", "v", "VALUES", 3, 1, 2, 3, "b", "M", 8, "NOQUANT"],  # quantization mismatch
    ["VADD", "v", "VALUES", 2, 1, 2, "b", "M", 8],  # dimension mismatch
    ["VADD", "v", "VALUES", 3, 1, 2, "x", "b", "M", 8],  # not a number
    ["VADD", "v", "VALUES", 3, 1, 2, 3, "b", "M", 8, "BOGUS"],
    ["VADD", "v", "VALUES", 3, 1, 2, 3, "b", "M", 2],
    ["VADD", "v", "VALUES", 3, 1, 2, 3, "b", "M", 8, "EF", 0],
    ["VADD", "v", "FP32", b"\x00\x00\x80?\x00\x00", "b", "M", 8],  # not whole floats
    ["VADD", "v", "VALUES", 3, 1, 2, 3],
    ["VADD", "v", "FP32", b"\x00\x00\x80?\x00\x00\x00@\x00\x00@@", "c", "M", 8, "SETATTR", ""],
    ["VADD", "bits", "VALUES", 2, "-inf", "1e-3", "a", "BIN", "CAS"],
    ["VADD", "bits", "VALUES", 2, "1e40", 1, "b", "BIN"],  # beyond float: strtod's ERANGE
    ["VADD", "r", "REDUCE", 2, "VALUES", 4, 1, 2, 3, 4, "a"],
    ["VADD", "r", "REDUCE", 2, "VALUES", 3, 1, 2, 3, "b"],  # input dimension mismatch
    ["VADD", "r", "VALUES", 2, 1, 2, "b"],
    ["SET", "s", "1"],
    ["VADD", "s", "VALUES", 1, 1, "a"],
    ["VREM", "s", "a"],
    ["VSETATTR", "v", "a", '{"y": 2}'],
    ["VSETATTR", "v", "missing", "{}"],
    ["VSETATTR", "v", "a", ""],
    ["VSETATTR", "nokey", "a", "{}"],
    ["VREM", "v", "missing"],
    ["VREM", "v", "a"],
    ["EXISTS", "v"],  # the last element removed, the key is gone
    ["VREM", "v", "a"],
]


def test_the_engine_replies_to_vector_set_writes_as_redis_does():
    from rdbtools.keyspace.engine import Engine
    from tests.keyspace.test_engine_vs_server import normalized
    from tests.resp_client import RawClient

    engine = Engine(loading=False, target=target_for(SERVER))
    encoded = [[a if isinstance(a, bytes) else str(a).encode() for a in case] for case in REPLY_CASES]
    with start_server(SERVER) as server:
        client = RawClient(server.port)
        theirs = [normalized(client.call(args)) for args in encoded]
    ours = []
    for args in encoded:
        try:
            ours.append(normalized(engine.execute(args)))
        except CommandError as error:
            ours.append(normalized(error))
    assert ours == theirs
