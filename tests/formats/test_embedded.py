"""Listpack, ziplist, intset and zipmap: each schema is symmetric, builds what Redis writes, and its
fast path decodes exactly what the schema decodes — on generated blobs and on damaged ones."""

from __future__ import annotations

import struct

import pytest
from construct import ConstructError
from hypothesis import given, settings
from hypothesis import strategies as st

from rdbtools.errors import FormatError, TruncatedError
from rdbtools.formats import intset, listpack, ziplist, zipmap

int64 = st.integers(-(2**63), 2**63 - 1)
boundary_ints = st.sampled_from([0, 1, 12, 13, 127, 128, -1, -128, -129, 4095, 4096, -4096, -4097, 32767, 32768,
                                 -32768, -32769, 2**23 - 1, 2**23, -(2**23), 2**31 - 1, 2**31, -(2**31),
                                 2**63 - 1, -(2**63)])
strings = st.one_of(
    st.binary(max_size=70),
    st.sampled_from([b"12", b"007", b"-0", b"+1", b" 1", b"", b"9223372036854775808"]),
    st.integers(0, 5000).map(lambda n: b"x" * n),
)
values = st.lists(st.one_of(int64, boundary_ints, strings), max_size=40)


def as_decoded(value: int | bytes, canonical) -> int | bytes:
    """What a decoder gives back for a value: integer-looking strings come back as integers."""
    if isinstance(value, bytes):
        number = canonical(value)
        return number if number is not None else value
    return value


def _listpack_canonical(value: bytes):
    from rdbtools.formats.numbers import canonical_int64

    return canonical_int64(value)


def _ziplist_canonical(value: bytes):
    from rdbtools.formats.numbers import canonical_int64

    return canonical_int64(value) if len(value) < 32 else None


CODECS = {
    "listpack": (listpack.encode_listpack, listpack.decode_listpack, listpack.LISTPACK, _listpack_canonical),
    "ziplist": (ziplist.encode_ziplist, ziplist.decode_ziplist, ziplist.ZIPLIST, _ziplist_canonical),
}


def schema_values(schema, blob: bytes) -> list:
    return [entry.value for entry in schema.parse(blob).entries]


@pytest.mark.parametrize("name", sorted(CODECS))
@settings(max_examples=150)
@given(items=values)
def test_encoded_values_decode_the_same_through_schema_and_fast_path(name, items):
    encode, decode, schema, canonical = CODECS[name]
    blob = encode(items)
    expected = [as_decoded(v, canonical) for v in items]
    assert decode(blob, deep=True) == expected
    assert schema_values(schema, blob) == expected
    assert schema.build(schema.parse(blob)) == blob


FAST_ENCODERS = {
    "listpack": (listpack.python_encode_listpack, listpack.schema_encode_listpack),
    "ziplist": (ziplist.encode_ziplist, ziplist.schema_encode_ziplist),
}


@pytest.mark.parametrize("name", sorted(FAST_ENCODERS))
@settings(max_examples=200)
@given(items=values)
def test_fast_encoders_build_exactly_what_the_schema_builds(name, items):
    fast, schema = FAST_ENCODERS[name]
    assert fast(items) == schema(items)


@settings(max_examples=150)
@given(items=st.lists(st.one_of(int64, boundary_ints), min_size=1, max_size=60))
def test_intset_is_sorted_minimal_and_agrees_with_its_schema(items):
    blob = intset.encode_intset(items)
    assert blob == intset.schema_encode_intset(items)
    expected = sorted(set(items))
    assert intset.decode_intset(blob, deep=True) == expected
    parsed = intset.INTSET.parse(blob)
    assert list(parsed.elements) == expected and parsed.encoding == intset.smallest_width(expected)
    assert intset.INTSET.build(parsed) == blob


@settings(max_examples=150)
@given(pairs=st.lists(st.tuples(strings, strings), min_size=1, max_size=20))
def test_zipmap_agrees_with_its_schema(pairs):
    blob = zipmap.encode_zipmap(pairs)
    assert zipmap.decode_zipmap(blob, deep=True) == pairs
    parsed = zipmap.ZIPMAP.parse(blob)
    assert [(e.key, e.value) for e in parsed.entries] == pairs
    assert zipmap.ZIPMAP.build(parsed) == blob


def _damage(blob: bytes, data) -> bytes:
    if data.draw(st.booleans()):
        return blob[: data.draw(st.integers(0, len(blob) - 1))]
    damaged = bytearray(blob)
    at = data.draw(st.integers(0, len(blob) - 1))
    damaged[at] ^= 1 << data.draw(st.integers(0, 7))
    return bytes(damaged)


def _outcome(function, blob):
    try:
        return ("ok", function(blob))
    except (FormatError, ConstructError):
        return ("error", None)


@pytest.mark.parametrize("name", sorted(CODECS))
@settings(max_examples=300)
@given(items=st.lists(st.one_of(int64, st.binary(max_size=20)), min_size=1, max_size=10), data=st.data())
def test_damaged_blobs_are_rejected_by_the_fast_path_whenever_the_schema_rejects_them(name, items, data):
    encode, decode, schema, _ = CODECS[name]
    blob = _damage(encode(items), data)
    fast = _outcome(lambda b: decode(b, deep=True), blob)
    slow = _outcome(lambda b: schema_values(schema, b), blob)
    if slow[0] == "error":
        assert fast[0] == "error"  # the fast path never accepts what the grammar refuses
    if fast[0] == "ok":
        assert fast[1] == slow[1]


# --- known answers from formats.md ------------------------------------------------------------


def test_listpack_from_the_annotated_7_0_file():
    blob = bytes.fromhex("0d00000002008166028176 02ff".replace(" ", ""))
    assert listpack.decode_listpack(blob, deep=True) == [b"f", b"v"]


def test_intset_from_the_annotated_7_0_file():
    assert intset.decode_intset(bytes.fromhex("0200000003000000010002000300"), deep=True) == [1, 2, 3]


def test_zipmap_example():
    assert zipmap.decode_zipmap(b"\x01\x03foo\x03\x00bar\xff") == [(b"foo", b"bar")]


def test_zipmap_free_bytes_are_skipped_and_kept_by_the_schema():
    blob = b"\x01\x01a\x01\x02b..\xff"
    assert zipmap.decode_zipmap(blob) == [(b"a", b"b")]
    assert zipmap.ZIPMAP.build(zipmap.ZIPMAP.parse(blob)) == blob


@pytest.mark.parametrize(("value", "first_byte", "size"), [
    (0, 0x00, 1), (127, 0x7F, 1), (-1, 0xDF, 2), (-4096, 0xD0, 2), (4095, 0xCF, 2), (4096, 0xF1, 3),
    (-(2**23), 0xF2, 4), (2**31 - 1, 0xF3, 5), (2**63 - 1, 0xF4, 9),
    (b"x" * 63, 0xBF, 64), (b"x" * 64, 0xE0, 66), (b"x" * 4096, 0xF0, 4101),
])
def test_listpack_entry_encodings_are_the_ones_redis_chooses(value, first_byte, size):
    blob = listpack.encode_listpack([value])
    assert blob[6] == first_byte
    assert len(blob) == 6 + size + listpack.backlen_width(size) + 1
    assert listpack.decode_listpack(blob, deep=True) == [value]


@pytest.mark.parametrize(("size", "width"), [(127, 1), (128, 2), (16382, 2), (16383, 3), (2097150, 3),
                                             (2097151, 4), (268435454, 4), (268435455, 5)])
def test_listpack_backlen_widths_follow_redis_thresholds(size, width):
    assert listpack.backlen_width(size) == width
    assert len(listpack.encode_backlen(size)) == width


@pytest.mark.parametrize(("value", "tag"), [(0, 0xF1), (12, 0xFD), (13, 0xFE), (-128, 0xFE), (200, 0xC0),
                                            (2**23 - 1, 0xF0), (2**31 - 1, 0xD0), (2**40, 0xE0)])
def test_ziplist_integer_encodings_are_the_ones_redis_chooses(value, tag):
    blob = ziplist.encode_ziplist([value])
    assert blob[11] == tag
    assert ziplist.decode_ziplist(blob) == [value]


def test_ziplist_entry_after_a_large_one_has_a_five_byte_prevlen():
    blob = ziplist.encode_ziplist([b"y" * 300, b"z"])
    first_size = 1 + 2 + 300  # prevlen + 14-bit string header + data
    assert blob[10 + first_size - 1 : 10 + first_size + 5] == b"y\xfe" + struct.pack("<I", first_size)
    assert ziplist.decode_ziplist(blob) == [b"y" * 300, b"z"]


# --- corruptions, each rejected with what was wrong and where --------------------------------


def test_listpack_with_wrong_total_is_rejected():
    blob = bytearray(listpack.encode_listpack([b"a"]))
    blob[0] += 1
    with pytest.raises(FormatError, match="header says") as caught:
        listpack.decode_listpack(bytes(blob))
    assert caught.value.offset == 0


def test_listpack_without_terminator_is_rejected():
    blob = bytearray(listpack.encode_listpack([b"a"]))
    blob[-1] = 0
    with pytest.raises(FormatError, match="0xFF"):
        listpack.decode_listpack(bytes(blob))


def test_listpack_backlen_of_the_wrong_width_is_caught_in_deep_mode_only():
    # a 1-byte entry whose backlen is written in two bytes: legal for a lax reader, not for Redis's sanitizer
    body = b"\x05" + b"\x00\x81"
    blob = struct.pack("<IH", 6 + len(body) + 1, 1) + body + b"\xff"
    with pytest.raises(TruncatedError):
        listpack.decode_listpack(blob)
    with pytest.raises(FormatError, match="back-length"):
        listpack.decode_listpack(blob, deep=True)


def test_listpack_entry_count_mismatch_is_rejected():
    blob = bytearray(listpack.encode_listpack([1, 2]))
    blob[4] = 3
    with pytest.raises(FormatError, match="counts 3 entries, found 2"):
        listpack.decode_listpack(bytes(blob))


def test_truncated_listpack_is_rejected_with_its_offset():
    body = b"\x85ab"  # a 5-byte string with only 2 bytes present
    blob = struct.pack("<IH", 6 + len(body) + 1, 1) + body + b"\xff"
    with pytest.raises(TruncatedError) as caught:
        listpack.decode_listpack(blob)
    assert caught.value.offset == 6


def test_listpack_invalid_encoding_byte_is_rejected():
    blob = struct.pack("<IH", 9, 1) + b"\xf5\x01" + b"\xff"
    with pytest.raises(FormatError, match="0xf5"):
        listpack.decode_listpack(blob)


def test_ziplist_prevlen_mismatch_is_rejected():
    blob = bytearray(ziplist.encode_ziplist([b"a", b"b"]))
    blob[13] = 7  # second entry's prevlen
    with pytest.raises(FormatError, match="prevlen says 7"):
        ziplist.decode_ziplist(bytes(blob))


def test_ziplist_tail_offset_must_point_at_the_last_entry():
    blob = bytearray(ziplist.encode_ziplist([b"a", b"b"]))
    blob[4] = 10
    with pytest.raises(FormatError, match="tail offset"):
        ziplist.decode_ziplist(bytes(blob))


def test_intset_out_of_order_is_caught_in_deep_mode():
    blob = struct.pack("<II3h", 2, 3, 1, 3, 2)
    assert intset.decode_intset(blob) == [1, 3, 2]
    with pytest.raises(FormatError, match="element 2"):
        intset.decode_intset(blob, deep=True)


@pytest.mark.parametrize(("blob", "message"), [
    (struct.pack("<II", 3, 1) + b"\x00\x00\x00", "2, 4 or 8"),
    (struct.pack("<II", 2, 0), "no elements"),
    (struct.pack("<II", 2, 2) + b"\x00\x00", "needs 12 bytes"),
])
def test_malformed_intsets_are_rejected(blob, message):
    with pytest.raises(FormatError, match=message):
        intset.decode_intset(blob)


def test_empty_zipmap_is_rejected():
    with pytest.raises(FormatError, match="no entries"):
        zipmap.decode_zipmap(b"\x00\xff")
