"""The compiled accelerator and the pure-Python fast paths are twins: same values, same errors
(class, message and offset), on generated blobs and on damaged ones."""

from __future__ import annotations

import pytest
from hiredis import pack_command
from hypothesis import example, given, settings
from hypothesis import strategies as st

from rdbtools.errors import FormatError
from rdbtools.formats import accelerated, listpack, resp, ziplist
from tests.accelerators import require_accelerated

require_accelerated("decode_listpack")

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


# --- the record scan: the reader with and without it yields the same records and errors -------

from rdbtools.errors import RdbtoolError  # noqa: E402
from rdbtools.rdb.model import KeyRecord  # noqa: E402
from rdbtools.rdb.reader import RdbReader  # noqa: E402
from rdbtools.rdb.source import MappedSource  # noqa: E402
from tests.corpus import rdb_files, rdb_ids  # noqa: E402
from tests.rdb.test_properties import key_entries  # noqa: E402
from tests.rdbbuild import rdb_file  # noqa: E402

_CORPUS = rdb_files()


def read_all(path, accelerate: bool, deep: bool, keep_values: bool = True):
    """Every record, the problems found, and the error that stopped the walk (if any)."""
    with MappedSource(path) as source:
        try:
            reader = RdbReader(source, deep=deep, accelerate=accelerate, keep_values=keep_values)
            records = list(reader)
            if not keep_values:
                without_values((records, None, None))  # the scan leaves values out; Python's carry them
            error = None
        except RdbtoolError as caught:
            records, error = [], (type(caught).__name__, str(caught))
            reader = None
        problems = [str(p) for p in reader.problems] if reader is not None else []
    return records, problems, error


def without_values(outcome):
    records, problems, error = outcome
    for record in records:
        if isinstance(record, KeyRecord):
            record.value = None
    return records, problems, error


@pytest.mark.parametrize("corpus_file", _CORPUS, ids=rdb_ids(_CORPUS))
@pytest.mark.parametrize("deep", [False, True])
def test_scan_yields_the_same_records_as_the_python_loop_on_the_corpus(corpus_file, deep):
    python = read_all(corpus_file.path, False, deep)
    assert read_all(corpus_file.path, True, deep) == python
    assert read_all(corpus_file.path, True, deep, keep_values=False) == without_values(python)


@settings(max_examples=150, deadline=None)
@given(entries=st.lists(key_entries(), min_size=1, max_size=6), deep=st.booleans(), data=st.data())
def test_scan_agrees_with_the_python_loop_on_random_and_damaged_files(tmp_path_factory, entries, deep, data):
    blob = rdb_file(b"\xfe\x00", *entries)
    if data.draw(st.booleans()):
        blob = damage(blob, data)
    path = tmp_path_factory.mktemp("scan") / "file.rdb"
    path.write_bytes(blob)
    python = read_all(path, False, deep)
    assert read_all(path, True, deep) == python
    assert read_all(path, True, deep, keep_values=False) == without_values(python)


encodable = st.lists(st.one_of(st.integers(-(2**63), 2**63 - 1), st.binary(max_size=80),
                               st.sampled_from([b"0", b"-0", b"007", b"+1", b"-9223372036854775808",
                                                b"9223372036854775808", b"18446744073709551616", b"-", b""]),
                               st.integers(-(2**63), 2**63 - 1).map(lambda n: b"%d" % n),
                               st.integers(0, 70000).map(lambda n: b"s" * n)), max_size=12)


@settings(max_examples=400)
@given(values=encodable)
def test_compiled_listpack_builder_gives_the_python_bytes(values):
    assert accelerated("encode_listpack")(values) == listpack.python_encode_listpack(values)


@pytest.mark.parametrize("value", [2**63, -(2**63) - 1, 1.5, "text"])
def test_compiled_listpack_builder_refuses_what_python_refuses(value):
    with pytest.raises((OverflowError, TypeError)):
        listpack.python_encode_listpack([value])
    with pytest.raises((OverflowError, TypeError)):
        accelerated("encode_listpack")([value])


resp_args = st.lists(st.one_of(st.binary(max_size=30), st.sampled_from([b"MULTI", b"EXEC", b"\r\n", b"$3"])),
                     min_size=1, max_size=5)
resp_records = st.lists(st.one_of(resp_args.map(lambda args: pack_command(tuple(args))),
                                  st.sampled_from([b"#TS:1700000000\r\n", b"#note\r\n", b"#" + b"x" * 1030 + b"\r\n",
                                                   b"*03\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n", b"*-1\r\n"])),
                        max_size=12)


def resp_outcome(stream: bytes, start: int):
    records = []
    try:
        for record in resp.iter_records(stream, start):
            records.append((record.offset, record.line, record.args, record.annotation))
    except FormatError as error:
        records.append((type(error).__name__, error.message, error.offset))
    return records


@settings(max_examples=400)
@given(records=resp_records, data=st.data())
def test_compiled_resp_scanner_and_python_reader_agree_on_records_and_errors(records, data):
    stream = damage(b"".join(records), data) if records else b""
    start = data.draw(st.integers(0, len(stream)))
    compiled = resp_outcome(stream, start)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(resp, "_scan", None)
        assert compiled == resp_outcome(stream, start)
    assert resp._scan is not None


plain_strings = st.one_of(st.binary(max_size=100), st.integers(-(2**40), 2**40).map(lambda n: b"%d" % n),
                          st.sampled_from([b"-0", b"007", b"2147483648", b"-2147483649", b"" , b"a" * 70000]),
                          st.integers(0, 20000).map(lambda n: b"ab" * n))


@settings(max_examples=400)
@given(value=plain_strings, compress=st.booleans())
def test_compiled_string_encoder_gives_the_python_bytes(value, compress):
    import lzf

    from rdbtools.formats import primitives

    assert accelerated("encode_plain_string")(lzf.compress, value, compress) == primitives.python_encode_plain(
        value, compress)
    assert primitives.encode_plain(value, compress) == primitives.python_encode_plain(value, compress)


@settings(max_examples=500)
@given(text=st.one_of(st.integers(-(2**64), 2**64).map(lambda n: b"%d" % n), st.binary(max_size=22),
                      st.from_regex(rb"\A[-+ 0]?[0-9]{0,21}\Z")))
@example(text=b"-9223372036854775808")
@example(text=b"-9223372036854775809")
@example(text=b"-0")
def test_compiled_integer_reader_and_python_agree(text):
    from rdbtools.formats.numbers import python_canonical_int64

    canonical = accelerated("canonical_int64")
    assert canonical(text) == python_canonical_int64(text)
    assert canonical(bytearray(text)) == python_canonical_int64(text)


@given(number=st.one_of(st.integers(-(2**63), 2**63 - 1), st.integers(-(2**80), 2**80), st.booleans()),
       marker=st.sampled_from([0x3A, 0x24, 0x2A]))
@example(number=-(2**63), marker=0x3A)
@example(number=2**63, marker=0x24)  # past int64: Python's own text
def test_compiled_number_texts_and_python_agree(number, marker):
    from rdbtools.formats.numbers import python_int_text
    from rdbtools.server.protocol import python_int_line

    assert accelerated("int_text")(number) == python_int_text(number)
    assert accelerated("int_line")(marker, number) == python_int_line(marker, number)


_DOUBLE_PARTS = [b"0", b"1", b"9", b"5", b".", b"e", b"E", b"-", b"+", b"x", b"X", b"p", b"P", b"a", b"f", b"inf",
                 b"INFINITY", b"nan", b"_", b" ", b"\t", b"\x00", b"00", b"400", b"308", b"324", b"320"]


@settings(max_examples=1000)
@given(text=st.one_of(st.lists(st.sampled_from(_DOUBLE_PARTS), max_size=8).map(b"".join),
                      st.floats().map(lambda number: repr(number).encode()),
                      st.floats(allow_nan=False).map(lambda number: number.hex().encode()), st.binary(max_size=6)),
       hexadecimal=st.booleans())
@example(text=b"1e-400", hexadecimal=True)  # underflow to zero: ERANGE, refused
@example(text=b"4e-320", hexadecimal=True)  # a denormal: ERANGE too, but not zero: taken
@example(text=b"0x1p-1075", hexadecimal=True)
@example(text=b"0x1p3", hexadecimal=False)
@example(text=b"0x.8", hexadecimal=True)
@example(text=b"0x1p4000", hexadecimal=True)  # float.fromhex raised OverflowError (a defect reply to ZADD)
def test_compiled_double_reader_and_python_agree(text, hexadecimal):
    from rdbtools.formats.numbers import python_read_double

    compiled, python = accelerated("read_double")(text, hexadecimal), python_read_double(text, hexadecimal)
    assert repr(compiled) == repr(python)  # (repr: -0.0 is not 0.0)


request_streams = st.lists(st.one_of(
    st.lists(st.binary(max_size=30), min_size=1, max_size=4).map(lambda args: pack_command(tuple(args))),
    st.sampled_from([b"PING\r\n", b"*-1\r\n", b"*0\r\n", b"*-5\r\n", b"*-9223372036854775808\r\n",
                     b"*-9223372036854775809\r\n", b"*1\r\n$0\r\n\r\n", b"*2\r\n$1\r\nab\r\n",
                     b"*1\r\n+PING\r\n", b"*x\r\n", b"*01\r\n", b"*+1\r\n",
                     b"*1\r\n$-1\r\n", b"*1\r\n$ 4\r\n", b"*2147483648\r\n", b"*1\r\n$99999999999999999999\r\n",
                     b"*1\r\n$" + b"1" * 300]),
), max_size=6).map(b"".join)


@settings(max_examples=500)
@given(stream=request_streams, cut=st.integers(0, 400), max_bulk=st.sampled_from([5, 1000, 512 * 1024 * 1024]))
def test_compiled_request_parser_and_python_agree_on_requests_ends_and_errors(stream, cut, max_bulk):
    from rdbtools.server.protocol import python_requests_take

    buffer = bytearray(b"xx" + stream[: cut if cut < len(stream) else len(stream)])  # (parsed from 2)
    limits = (max_bulk, 1024 * 1024, 200)
    compiled, python = ["before"], ["before"]
    assert accelerated("requests_take")(buffer, 2, *limits, compiled) == python_requests_take(
        buffer, 2, *limits, python)
    assert compiled == python


@settings(max_examples=300)
@given(items=st.lists(st.one_of(st.binary(max_size=300), st.binary(max_size=3).map(bytearray), st.integers(),
                                st.none()), max_size=20))
def test_compiled_bulk_array_encoder_gives_the_python_bytes(items):
    from rdbtools.server.protocol import python_encode_bulks

    assert accelerated("encode_bulks")(items) == python_encode_bulks(items)


# --- byte strings as JSON text (dump): the UTF-8 check agrees with Python's strict decoder ---------

# bytes near the edges of well-formed UTF-8: lead bytes, continuation bytes, the boundary bytes of
# table 3-7 (overlongs, surrogates, beyond U+10FFFF), mixed with ASCII runs of eight and more
utf8_edges = st.lists(st.one_of(
    st.sampled_from([0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF, 0xE0, 0xED,
                     0xEE, 0xEF, 0xF0, 0xF4, 0xF5, 0xFF]).map(lambda b: bytes([b])),
    st.text(max_size=4).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.just(b"ascii-run"),
), max_size=12).map(b"".join)


@settings(max_examples=1000)
@given(data=st.one_of(st.binary(max_size=40), utf8_edges))
@example(data=b"\xed\xa0\x80")  # a surrogate: Python's strict decoder refuses it
@example(data=b"\xe0\x80\xaf")  # overlong
@example(data=b"\xf0\x8f\xbf\xbf")  # overlong
@example(data=b"\xf4\x90\x80\x80")  # beyond U+10FFFF
@example(data=b"\xc0\x80")
@example(data=b"abcdefgh\xe2\x82")  # cut after an ASCII run
@example(data=b"")
@example(data=b"\x00\xff")  # base64 with padding
def test_compiled_bytes_to_json_gives_the_python_text(data):
    from rdbtools.export.records import python_bytes_to_json

    assert accelerated("bytes_to_json")(data) == python_bytes_to_json(data)
    assert accelerated("bytes_to_json")(bytearray(data)) == python_bytes_to_json(data)


@given(items=st.lists(st.one_of(st.binary(max_size=20), utf8_edges), max_size=8))
def test_compiled_texts_to_json_gives_the_python_list(items):
    from rdbtools.export.records import python_texts_to_json

    expected = python_texts_to_json(items)
    texts = accelerated("texts_to_json")
    assert texts(items) == texts(tuple(items)) == texts(iter(items)) == expected
    assert texts(dict.fromkeys(items).keys()) == python_texts_to_json(dict.fromkeys(items))


def boundary_sequences():
    """Every code point as UTF-8 (surrogates too, which must be refused), every two-byte sequence, and
    each lead byte from 0xE0 with every second byte and the edge values of the bytes after it."""
    yield from (chr(c).encode("utf-8", "surrogatepass") for c in range(0x110000))
    yield from (bytes([a, b]) for a in range(256) for b in range(256))
    for lead in range(0xE0, 0x100):
        for second in range(256):
            for rest in (b"\x80", b"\xbf", b"\x00", b"\xc0", b"\x80\x80", b"\xbf\xbf", b"\x80\x7f"):
                yield bytes([lead, second]) + rest


def test_compiled_bytes_to_json_agrees_on_every_code_point_and_lead_byte():
    from rdbtools.export.records import python_bytes_to_json, python_texts_to_json

    sequences = list(boundary_sequences())
    compiled = accelerated("texts_to_json")
    for start in range(0, len(sequences), 4096):
        chunk = sequences[start : start + 4096]
        assert compiled(chunk) == python_texts_to_json(chunk), [
            s for s in chunk if accelerated("bytes_to_json")(s) != python_bytes_to_json(s)][:5]
