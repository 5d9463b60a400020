"""The vector set schema (docs/formats.md §6.7): a damaged payload gives a vector set or one of our errors,
never a crash, whatever byte is changed; the undamaged one decodes."""

from __future__ import annotations

import contextlib
import struct

from construct import Container
from hypothesis import given, settings
from hypothesis import strategies as st

from rdbtools import RdbtoolError, open_rdb
from rdbtools.formats.primitives import encode_length
from rdbtools.formats.rdb import RdbType
from rdbtools.formats.vectorset import MODULE_NAME, VECTORSET, Quantization, SaveFlag
from rdbtools.rdb.model import KeyRecord
from tests.rdbbuild import rdb_file, s

_CHARSET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_DIM, _INPUT_DIM = 3, 4


def module_id(name: str, encver: int = 0) -> int:
    """Nine 6-bit characters, then the 10-bit encoding version (docs/formats.md §6.6)."""
    return sum(_CHARSET.index(c) << (64 - 6 * (i + 1)) for i, c in enumerate(name)) | encver


def _f32_bits(value: float) -> int:
    return struct.unpack("<I", struct.pack("<f", value))[0]


def _node(node_id: int, others: list[int], attributes: bytes) -> Container:
    """A level-0 node linked to ``others``, its worst link the first, l2 2.0 and int8 range 0.5."""
    params = [node_id, 1 << 24, len(others), 32, *others, _f32_bits(0.25) << 32, _f32_bits(2.0) | _f32_bits(0.5) << 32]
    return Container(offset=0, element=b"e%d" % node_id, attributes=attributes, vector=bytes([127, 0, 256 - 64]),
                     params=params)


def seed_payload() -> bytes:
    """Three int8 elements all linked to each other, one with attributes, made with REDUCE from 4 to 3."""
    ids = [1, 2, 3]
    nodes = [_node(i, [o for o in ids if o != i], b'{"n":%d}' % i if i == 2 else b"") for i in ids]
    matrix = struct.pack(f"<{_DIM * _INPUT_DIM}f", *([0.5] * _DIM * _INPUT_DIM))
    return VECTORSET.build(Container(
        dim=_DIM, count=len(nodes), config=Quantization.INT8 | 16 << 8,
        flags=SaveFlag.PROJECTION | SaveFlag.ATTRIBUTES,
        projection=Container(input_dim=_INPUT_DIM, matrix=matrix), nodes=nodes, end=None))


def file_with(payload: bytes) -> bytes:
    entry = bytes((RdbType.MODULE_2,)) + s("vs") + encode_length(module_id(MODULE_NAME)) + payload
    return rdb_file(entry, version=12)


def read_value(path):
    with open_rdb(path) as rdb:
        return [r.value for r in rdb if isinstance(r, KeyRecord)]


def test_the_seed_decodes_as_built(tmp_path):
    path = tmp_path / "seed.rdb"
    path.write_bytes(file_with(seed_payload()))
    (value,) = read_value(path)
    vset = value.decoded
    assert (vset.dim, vset.quantization, vset.m, vset.projection.input_dim) == (_DIM, Quantization.INT8, 16, _INPUT_DIM)
    assert {e.name: (e.attributes, e.links) for e in vset.elements} == {
        b"e1": (None, [2]), b"e2": (b'{"n":2}', [2]), b"e3": (None, [2])}
    # int8 127 of range 0.5 is 0.5, times l2 2.0; -64 is -64 * 0.5 / 127 * 2.0 in float32 steps
    assert vset.elements[0].vector[:2] == [1.0, 0.0]


@settings(max_examples=300, deadline=2000)
@given(data=st.data())
def test_a_damaged_vector_set_gives_a_vector_set_or_our_error(tmp_path_factory, data):
    payload = bytearray(seed_payload())
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(payload) - 1))
        payload[at] = data.draw(st.integers(0, 255))
    path = tmp_path_factory.mktemp("damaged") / "damaged.rdb"
    path.write_bytes(file_with(bytes(payload)))
    with contextlib.suppress(RdbtoolError):
        read_value(path)
