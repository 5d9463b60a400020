"""The compiled accelerator and the pure-Python fast paths are twins: same values, same errors
(class, message and offset), on generated blobs and on damaged ones."""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rdbtools.errors import FormatError
from rdbtools.formats import accelerated, listpack, ziplist

if accelerated("decode_listpack") is None:
    if os.environ.get("CI"):
        pytest.fail("the _speedups extension was not built", pytrace=False)
    pytest.skip("the _speedups extension is not built here", allow_module_level=True)

PAIRS = {
    "listpack": (listpack.encode_listpack, listpack.python_decode_listpack, accelerated("decode_listpack")),
    "ziplist": (ziplist.encode_ziplist, ziplist.python_decode_ziplist, accelerated("decode_ziplist")),
}
items = st.lists(st.one_of(st.integers(-(2**63), 2**63 - 1), st.binary(max_size=80),
                           st.integers(0, 17000).map(lambda n: b"s" * n)), max_size=12)


def outcome(decode, blob: bytes, deep: bool):
    try:
        return ("ok", decode(blob, deep))
    except FormatError as error:
        return (type(error).__name__, error.message, error.offset)


def damage(blob: bytes, data) -> bytes:
    choice = data.draw(st.sampled_from(["cut", "flip", "byte", "none"]))
    if choice == "cut":
        return blob[: data.draw(st.integers(0, len(blob)))]
    if choice == "none":
        return blob
    damaged = bytearray(blob)
    at = data.draw(st.integers(0, len(blob) - 1))
    damaged[at] = damaged[at] ^ (1 << data.draw(st.integers(0, 7))) if choice == "flip" else data.draw(
        st.integers(0, 255))
    return bytes(damaged)


@pytest.mark.parametrize("name", sorted(PAIRS))
@settings(max_examples=400)
@given(values=items, deep=st.booleans(), data=st.data())
def test_compiled_and_python_decoders_agree_on_values_and_errors(name, values, deep, data):
    encode, python, compiled = PAIRS[name]
    blob = damage(encode(values), data)
    assert outcome(compiled, blob, deep) == outcome(python, blob, deep)


@pytest.mark.parametrize("name", sorted(PAIRS))
def test_compiled_decoder_accepts_memoryviews(name):
    encode, python, compiled = PAIRS[name]
    blob = encode([b"a", 1, -70000])
    assert compiled(memoryview(blob)) == python(blob) == [b"a", 1, -70000]
