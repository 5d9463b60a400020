"""Lengths, strings and ASCII doubles: the schemas are symmetric and the fast paths agree with them."""

from __future__ import annotations

import math

import pytest
from construct import ConstructError
from hypothesis import given
from hypothesis import strategies as st

from rdbtools.errors import FormatError, TruncatedError
from rdbtools.formats.primitives import (
    AsciiDouble,
    Length,
    LengthForm,
    RdbString,
    StringEncoding,
    encode_length,
    encode_string,
    read_length,
    read_string,
)

lengths = st.one_of(
    st.integers(0, 63), st.integers(64, 16383), st.integers(16384, 2**32 - 1), st.integers(2**32, 2**64 - 1)
)
int_texts = st.integers(-(2**63), 2**63 - 1).map(lambda n: str(n).encode())
odd_texts = st.sampled_from([b"007", b"+1", b"-0", b" 1", b"1 ", b"", b"2147483648", b"-2147483649", b"1e3"])
strings = st.one_of(st.binary(max_size=300), int_texts, odd_texts)


def _fast_then_schema_length(blob: bytes):
    fast = read_length(blob, 0)
    parsed = Length.parse(blob)
    return fast, parsed


@given(lengths)
def test_minimal_length_round_trips_through_schema_and_fast_path(value):
    blob = encode_length(value)
    assert Length.parse(blob) == value
    assert Length.build(Length.parse(blob)) == blob
    assert read_length(blob, 0) == (value, len(blob))


@given(st.integers(0, 63), st.sampled_from([LengthForm.BITS14, LengthForm.BITS32, LengthForm.BITS64]))
def test_non_minimal_length_is_accepted_and_rebuilt_in_its_own_form(value, form):
    blob = encode_length(value, form)
    parsed = Length.parse(blob)
    assert parsed == value and parsed.form == form
    assert Length.build(parsed) == blob
    assert read_length(blob, 0) == (value, len(blob))


def test_length_forms_are_big_endian():
    assert Length.parse(b"\x41\x02") == 0x102
    assert Length.parse(b"\x80\x00\x01\x00\x00") == 0x10000
    assert Length.parse(b"\x81" + (2**40).to_bytes(8, "big")) == 2**40


@pytest.mark.parametrize("blob", [b"\x82\x00", b"\xbf"])
def test_invalid_length_forms_are_rejected_by_both(blob):
    with pytest.raises(FormatError):
        Length.parse(blob)
    with pytest.raises(FormatError):
        read_length(blob, 0)


@given(strings, st.booleans())
def test_string_encoding_round_trips_and_fast_path_agrees(value, compress):
    blob = encode_string(value, compress=compress)
    parsed = RdbString.parse(blob)
    assert parsed == value
    assert RdbString.build(parsed) == blob
    assert read_string(blob, 0) == (value, len(blob))


@pytest.mark.parametrize(
    ("value", "encoding", "size"),
    [(b"-128", StringEncoding.INT8, 2), (b"127", StringEncoding.INT8, 2), (b"-32768", StringEncoding.INT16, 3),
     (b"32767", StringEncoding.INT16, 3), (b"-2147483648", StringEncoding.INT32, 5),
     (b"2147483647", StringEncoding.INT32, 5)],
)
def test_canonical_integers_take_the_smallest_integer_encoding(value, encoding, size):
    blob = encode_string(value)
    assert blob[0] == 0xC0 | encoding and len(blob) == size
    assert RdbString.parse(blob).encoding == encoding


@pytest.mark.parametrize("value", [b"2147483648", b"007", b"-0", b"+5", b"123456789012"])
def test_non_canonical_or_large_integers_stay_raw(value):
    assert encode_string(value) == bytes((len(value),)) + value


def test_integer_looking_raw_string_keeps_its_raw_form_when_rebuilt():
    blob = b"\x0212"  # "12" stored raw, where Redis would have used INT8
    parsed = RdbString.parse(blob)
    assert parsed == b"12" and RdbString.build(parsed) == blob


def test_lzf_string_is_rebuilt_from_the_stored_compressed_bytes():
    value = b"a" * 200
    blob = encode_string(value, compress=True)
    assert blob[0] == 0xC3
    parsed = RdbString.parse(blob)
    assert parsed.encoding == StringEncoding.LZF
    assert RdbString.build(parsed) == blob
    assert read_string(blob, 0) == (value, len(blob))


def test_lzf_claiming_far_more_than_it_can_hold_fails_before_allocating():
    blob = b"\xc3\x02" + encode_length(4 * 2**30) + b"\x00a"
    with pytest.raises(FormatError, match="claims"):
        read_string(blob, 0)
    with pytest.raises(FormatError, match="claims"):
        RdbString.parse(blob)


def test_lzf_with_wrong_uncompressed_length_is_rejected():
    blob = encode_string(b"abc" * 20, compress=True)
    packed_len = blob[1]
    wrong = blob[:2] + bytes((blob[2] + 1,)) + blob[3:]
    assert packed_len
    with pytest.raises(FormatError, match="invalid LZF"):
        read_string(wrong, 0)


@pytest.mark.parametrize("blob", [b"\x05abc", b"\xc1\x01", b"\x80\x00\x00"])
def test_truncated_strings_are_reported_with_their_offset(blob):
    with pytest.raises(TruncatedError) as caught:
        read_string(b"\x00" + blob, 1)
    assert caught.value.offset == 1
    with pytest.raises((ConstructError, FormatError)):
        RdbString.parse(blob)


def test_unknown_string_encoding_is_rejected_by_both():
    with pytest.raises(FormatError, match="0xc4"):
        read_string(b"\xc4", 0)
    with pytest.raises(FormatError, match="0xc4"):
        RdbString.parse(b"\xc4")


@pytest.mark.parametrize(("blob", "value"), [(b"\xfd", math.nan), (b"\xfe", math.inf), (b"\xff", -math.inf),
                                             (b"\x041.25", 1.25), (b"\x02-3", -3.0)])
def test_ascii_doubles_decode_and_rebuild(blob, value):
    parsed = AsciiDouble.parse(blob)
    assert parsed == value or (math.isnan(value) and math.isnan(parsed))
    assert AsciiDouble.build(parsed) == blob
