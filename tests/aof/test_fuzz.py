"""Damaged AOFs never crash, hang or make the reader or the checker allocate what the input cannot justify."""

from __future__ import annotations

import tracemalloc

from hiredis import pack_command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rdbtools.aof.check import check_aof
from rdbtools.aof.reader import open_aof
from rdbtools.errors import RdbtoolError

_SEED = (b"#TS:1700000000\r\n" + pack_command((b"SELECT", b"0")) + pack_command((b"SET", b"k", b"v" * 30))
         + pack_command((b"MULTI",)) + pack_command((b"RPUSH", b"l", b"a", b"b")) + pack_command((b"EXEC",)))
_HUGE = [b"$4294967296\r\n", b"*2147483648\r\n", b"$99999999999999999999\r\n", b"*-5\r\n", b"$-1\r\n"]


@st.composite
def damaged(draw) -> bytes:
    data = bytearray(_SEED)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "cut", "insert", "huge"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "cut":
            del data[at:]
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        else:
            data[at:at] = draw(st.sampled_from(_HUGE))
    return bytes(data)


@settings(max_examples=400, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=damaged())
def test_reader_and_checker_survive_damage_within_bounded_memory(tmp_path, data):
    path = tmp_path / "fuzz.aof"
    path.write_bytes(data)
    tracemalloc.start()
    try:
        try:
            for _ in open_aof(path):
                pass
        except RdbtoolError:
            pass
        report = check_aof(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert report.verdict in ("valid", "truncated", "format error", "unbalanced MULTI/EXEC", "broken RDB preamble")
    assert peak < (16 << 20) + 64 * len(data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=damaged(), clean=st.booleans())
def test_the_compiled_scan_and_the_python_walk_give_the_same_report(tmp_path, monkeypatch, data, clean):
    path = tmp_path / "twin.aof"
    path.write_bytes(_SEED * 3 if clean else data)
    def outcome():
        report = check_aof(path)
        return report.to_json(), [(f.last_command, f.at_end) for f in report.files]

    compiled = outcome()
    monkeypatch.setenv("RDBTOOL_PURE_PYTHON", "1")
    assert compiled == outcome()
