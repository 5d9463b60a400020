"""Damaged files never crash, hang or make the reader allocate more than the input justifies.

Mutations of valid files: bit flips, truncations, and length fields replaced by huge values. Every
outcome must be either records or one of our errors; ``verify`` must never raise at all.
"""

from __future__ import annotations

import tracemalloc

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rdbtools import RdbtoolError, open_rdb, verify_rdb
from tests.corpus import rdb_files

_SMALL = sorted((f.path for f in rdb_files() if f.path.stat().st_size <= 8192), key=lambda p: p.name)
_SEEDS = {p.name: p.read_bytes() for p in _SMALL}
_HUGE_LENGTHS = [b"\x80\xff\xff\xff\xff", b"\x81\x00\x00\x00\x01\x00\x00\x00\x00", b"\x81" + b"\xff" * 8,
                 b"\xbf\xff", b"\xc3\x01\x81\x00\x00\x00\x01\x00\x00\x00\x00"]
_MEMORY_ALLOWANCE = 32 << 20  # bytes a small damaged file may make us allocate, whatever it claims


def _consume(path) -> None:
    try:
        with open_rdb(path) as rdb:
            for _ in rdb:
                pass
    except RdbtoolError:
        pass


def _mutate(data: bytes, draw) -> bytes:
    kind = draw(st.sampled_from(["flip", "truncate", "huge", "flips"]))
    if kind == "truncate":
        return data[: draw(st.integers(0, len(data) - 1))]
    position = draw(st.integers(9, len(data) - 1))
    if kind == "huge":
        return data[:position] + draw(st.sampled_from(_HUGE_LENGTHS)) + data[position + 1 :]
    mutated = bytearray(data)
    for _ in range(1 if kind == "flip" else draw(st.integers(2, 8))):
        at = draw(st.integers(0, len(data) - 1))
        mutated[at] ^= 1 << draw(st.integers(0, 7))
    return bytes(mutated)


def test_fuzz_has_seed_files():
    assert len(_SEEDS) >= 20


@settings(max_examples=400, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.sampled_from(sorted(_SEEDS)), data=st.data())
def test_damaged_files_give_records_or_our_errors_within_bounded_memory(tmp_path, name, data):
    damaged = _mutate(_SEEDS[name], data.draw)
    path = tmp_path / "damaged.rdb"
    path.write_bytes(damaged)
    tracemalloc.start()
    try:
        _consume(path)
        report = verify_rdb(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert report.verdict in ("sound", "corrupt", "unsupported")
    assert peak < _MEMORY_ALLOWANCE + 64 * len(damaged)


@pytest.mark.parametrize("claim", _HUGE_LENGTHS)
def test_a_4gb_length_in_a_tiny_file_fails_fast(tmp_path, claim):
    path = tmp_path / "claim.rdb"
    path.write_bytes(b"REDIS0010\x00\x01k" + claim + b"abc\xff" + bytes(8))
    with pytest.raises(RdbtoolError):
        _consume_strict(path)


def _consume_strict(path) -> None:
    with open_rdb(path) as rdb:
        for _ in rdb:
            pass
