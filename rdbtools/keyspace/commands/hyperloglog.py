"""HyperLogLog as Redis stores it (a string): PFADD, PFCOUNT, PFMERGE with the same bytes, PFDEBUG, PFSELFTEST.

Layout: "HYLL", an encoding byte (0 dense, 1 sparse), 3 unused bytes, the cached cardinality (u64le,
bit 63 set when stale), then the registers: dense, 16384 six-bit registers packed from the low bits;
sparse, opcodes ZERO 00xxxxxx (1-64 zero registers), XZERO 01xxxxxx yyyyyyyy (1-16384), VAL 1vvvvvxx
(1-4 registers of value 1-32). The sparse updates follow Redis's splitting and local merging step by
step, since different update orders leave different (valid) opcode sequences; a sparse HLL grows up to
hll-sparse-max-bytes (the target's threshold), then turns dense.

Whole-HLL work (counting, merging, conversions) runs on the registers as one byte each, unpacked and
packed with bytes.translate and compared as big integers: no Python loop over 16384 registers, which
PFCOUNT of several keys would otherwise pay on every call. A sparse HLL whose runs do not cover
exactly 16384 registers is corrupted (INVALIDOBJ) wherever it is read.
"""

from __future__ import annotations

import math
import random
import re
from bisect import bisect_right
from collections.abc import Callable
from itertools import accumulate
from typing import TYPE_CHECKING

from rdbtools.keyspace.commands import OK, STRING, WRONGTYPE, CommandError, Status, command
from rdbtools.keyspace.model import Entry

if TYPE_CHECKING:
    from rdbtools.keyspace.engine import Engine

P, Q = 14, 50
REGISTERS = 1 << P
HEADER = 16
DENSE_SIZE = HEADER + (REGISTERS * 6 + 7) // 8
VAL_MAX_VALUE, VAL_MAX_LEN, ZERO_MAX_LEN, XZERO_MAX_LEN = 32, 4, 64, 16384
ALPHA_INF = 0.721347520444481703680
NOT_HLL = "WRONGTYPE Key is not a valid HyperLogLog string value."
CORRUPT = "INVALIDOBJ Corrupted HLL object detected"
_MASK64 = (1 << 64) - 1


def murmurhash64a(data: bytes, seed: int = 0xADC83B19) -> int:
    m, r = 0xC6A4A7935BD1E995, 47
    h = (seed ^ (len(data) * m)) & _MASK64
    whole = len(data) - len(data) % 8
    for i in range(0, whole, 8):
        k = int.from_bytes(data[i : i + 8], "little")
        k = (k * m) & _MASK64
        k ^= k >> r
        k = (k * m) & _MASK64
        h ^= k
        h = (h * m) & _MASK64
    tail = data[whole:]
    if tail:
        h ^= int.from_bytes(tail, "little")
        h = (h * m) & _MASK64
    h ^= h >> r
    h = (h * m) & _MASK64
    return h ^ (h >> r)


def pattern(element: bytes) -> tuple[int, int]:
    """The register an element hashes to, and the length of its 000..1 run."""
    value = murmurhash64a(element)
    index = value & (REGISTERS - 1)
    value = (value >> P) | (1 << Q)
    return index, (value & -value).bit_length()


def empty() -> bytearray:
    return bytearray(b"HYLL\x01\x00\x00\x00" + bytes(8) + bytes((0x40 | ((XZERO_MAX_LEN - 1) >> 8),
                                                                 (XZERO_MAX_LEN - 1) & 0xFF)))


def _invalidate(hll: bytearray) -> None:
    hll[15] |= 0x80


def is_hll(value: bytes) -> bool:
    return (len(value) >= HEADER and value[:4] == b"HYLL" and value[4] <= 1
            and (value[4] != 0 or len(value) == DENSE_SIZE))


# --- registers, one byte each ----------------------------------------------------------------------

def _table(function) -> bytes:
    return bytes(function(b) & 0xFF for b in range(256))


# three packed bytes hold four registers: r0 = b0 & 63, r1 = b0 >> 6 | (b1 & 15) << 2, r2 = b1 >> 4 |
# (b2 & 3) << 4, r3 = b2 >> 2; each piece is a translation of one byte column, joined by OR
_UNPACK = tuple(_table(f) for f in (lambda b: b & 63, lambda b: b >> 6, lambda b: (b & 15) << 2, lambda b: b >> 4,
                                    lambda b: (b & 3) << 4, lambda b: b >> 2))
_PACK = tuple(_table(f) for f in (lambda r: (r & 3) << 6, lambda r: r >> 2, lambda r: (r & 15) << 4,
                                  lambda r: r >> 4, lambda r: r << 2))
_HIGH_BITS = int.from_bytes(b"\x80" * REGISTERS, "little")
_ALL_BITS = (1 << (8 * REGISTERS)) - 1


def _or(a: bytes, b: bytes) -> bytes:
    return (int.from_bytes(a, "little") | int.from_bytes(b, "little")).to_bytes(len(a), "little")


def unpack(hll: bytes | bytearray) -> bytes:
    """A dense HLL's registers, a byte each."""
    data = bytes(hll[HEADER:DENSE_SIZE])
    b0, b1, b2 = data[0::3], data[1::3], data[2::3]
    low6, top2, low4, top4, low2, top6 = _UNPACK
    registers = bytearray(REGISTERS)
    registers[0::4] = b0.translate(low6)
    registers[1::4] = _or(b0.translate(top2), b1.translate(low4))
    registers[2::4] = _or(b1.translate(top4), b2.translate(low2))
    registers[3::4] = b2.translate(top6)
    return bytes(registers)


def pack(registers: bytes) -> bytes:
    """The dense register bytes of registers given a byte each (each below 64)."""
    r0, r1, r2, r3 = (registers[i::4] for i in range(4))
    up6, down2, up4, down4, up2 = _PACK
    data = bytearray(DENSE_SIZE - HEADER)
    data[0::3] = _or(r0, r1.translate(up6))
    data[1::3] = _or(r1.translate(down2), r2.translate(up4))
    data[2::3] = _or(r2.translate(down4), r3.translate(up2))
    return bytes(data)


def maximum(a: bytes, b: bytes) -> bytes:
    """Register by register, the larger (values below 128): (a | 0x80) - b keeps its high bit where a >= b."""
    x, y = int.from_bytes(a, "little"), int.from_bytes(b, "little")
    keep = ((((x | _HIGH_BITS) - y) & _HIGH_BITS) >> 7) * 0xFF
    return ((x & keep) | (y & (_ALL_BITS ^ keep))).to_bytes(REGISTERS, "little")


# --- dense -----------------------------------------------------------------------------------------

def dense_get(registers: bytearray, index: int, base: int = HEADER) -> int:
    byte, bit = base + index * 6 // 8, index * 6 & 7
    high = registers[byte + 1] if byte + 1 < len(registers) else 0
    return ((registers[byte] >> bit) | (high << (8 - bit))) & 63


def dense_set(registers: bytearray, index: int, value: int, base: int = HEADER) -> None:
    byte, bit = base + index * 6 // 8, index * 6 & 7
    registers[byte] = (registers[byte] & ~(63 << bit) & 0xFF) | ((value << bit) & 0xFF)
    if byte + 1 < len(registers):
        registers[byte + 1] = (registers[byte + 1] & ~(63 >> (8 - bit)) & 0xFF) | (value >> (8 - bit))


def _dense_update(hll: bytearray, index: int, count: int) -> bool:
    if count > dense_get(hll, index):
        dense_set(hll, index, count)
        return True
    return False


# --- sparse ----------------------------------------------------------------------------------------

def _opcode(hll: bytearray, p: int) -> tuple[str, int, int, int]:
    """(kind, span, value, size) of the opcode at p (an XZERO cut by the end reads a 0, as Redis reads
    the string's terminating NUL)."""
    byte = hll[p]
    if byte & 0xC0 == 0:
        return "zero", (byte & 0x3F) + 1, 0, 1
    if byte & 0xC0 == 0x40:
        low = hll[p + 1] if p + 1 < len(hll) else 0
        return "xzero", (((byte & 0x3F) << 8) | low) + 1, 0, 2
    return "val", (byte & 0x3) + 1, ((byte >> 2) & 0x1F) + 1, 1


def _val(value: int, length: int) -> int:
    return 0x80 | ((value - 1) << 2) | (length - 1)


def _zeros(length: int) -> bytes:
    if length > ZERO_MAX_LEN:
        return bytes((0x40 | ((length - 1) >> 8), (length - 1) & 0xFF))
    return bytes((length - 1,))


#: registers a one-byte opcode covers (ZERO 1-64, VAL 1-4), 0 for an XZERO's first byte; a VAL's value
_SPANS = bytes(((b & 0x3F) + 1) if b < 0x40 else 0 if b < 0x80 else (b & 3) + 1 for b in range(256))
_VALUES = bytes(((b >> 2) & 0x1F) + 1 if b >= 0x80 else 0 for b in range(256))
_EXPANSIONS = [bytes((_VALUES[b],)) * _SPANS[b] for b in range(256)]  # the registers of a one-byte opcode
_XZERO = re.compile(rb"[\x40-\x7f]")  # an XZERO's first byte (found from an opcode's offset)


def _xzero_span(hll: bytes | bytearray, p: int) -> int:
    low = hll[p + 1] if p + 1 < len(hll) else 0  # cut by the end: Redis reads the terminating NUL
    return (((hll[p] & 0x3F) << 8) | low) + 1


def _sparse_registers(hll: bytes | bytearray) -> bytes | None:
    """A sparse HLL's registers, None unless its runs cover exactly 16384 (Redis 7.0.15 as Debian ships
    it, with the CVE-2025-32023 fix: a run passing the end is corruption wherever it is read). The
    one-byte opcodes between two XZEROs are expanded together (a table lookup each, in C)."""
    parts: list[bytes] = []
    total, p, end = 0, HEADER, len(hll)
    while p < end:
        found = _XZERO.search(hll, p)
        stop = end if found is None else found.start()
        run = bytes(hll[p:stop])
        total += sum(run.translate(_SPANS))
        if total > REGISTERS:
            return None
        parts.append(b"".join(map(_EXPANSIONS.__getitem__, run)))
        if found is None:
            break
        span = _xzero_span(hll, stop)
        total += span
        if total > REGISTERS:
            return None
        parts.append(bytes(span))
        p = stop + 2
    return b"".join(parts) if total == REGISTERS else None


def _locate(hll: bytearray, index: int) -> tuple[int, int, int | None]:
    """Redis's first step of hllSparseSet: the opcode covering the register (its offset, the first
    register it covers) and the offset of the opcode before it (None: none); INVALIDOBJ past the end.
    Between two XZEROs the one-byte opcodes' spans are summed in C and the opcode found by bisection."""
    p, first, prev, end = HEADER, 0, None, len(hll)
    while p < end:
        found = _XZERO.search(hll, p)
        stop = end if found is None else found.start()
        if stop > p:
            sums = list(accumulate(hll[p:stop].translate(_SPANS)))
            if index < first + sums[-1]:
                k = bisect_right(sums, index - first)
                return p + k, first + (sums[k - 1] if k else 0), p + k - 1 if k else prev
            first, prev = first + sums[-1], stop - 1
        if found is None:
            break
        span = _xzero_span(hll, stop)
        if index < first + span:
            return stop, first, prev
        prev, p, first = stop, stop + 2, first + span
    raise CommandError(CORRUPT)


def registers(hll: bytes | bytearray) -> bytes:
    """Every register, a byte each; INVALIDOBJ for a corrupted sparse HLL."""
    values = unpack(hll) if hll[4] == 0 else _sparse_registers(hll)
    if values is None:
        raise CommandError(CORRUPT)
    return values


def to_dense(hll: bytes | bytearray) -> bytearray:
    """Redis's hllSparseToDense: the header kept (the cached cardinality too), the registers packed."""
    dense = bytearray(hll[:HEADER]) + pack(registers(hll))
    dense[4] = 0
    return dense


def sparse_set(hll: bytearray, index: int, count: int, max_bytes: int) -> tuple[bytearray, bool]:
    """Redis's hllSparseSet: (the HLL, possibly promoted to dense, and whether a register grew)."""
    if count > VAL_MAX_VALUE:
        return _promote(hll, index, count)
    p, first, prev = _locate(hll, index)
    kind, span, value, size = _opcode(hll, p)
    if kind == "val":
        if value >= count:
            return hll, False
        if span == 1:
            hll[p] = _val(count, 1)
            return _merge(hll, prev), True
    if kind == "zero" and span == 1:
        hll[p] = _val(count, 1)
        return _merge(hll, prev), True
    last = first + span - 1
    if kind == "val":
        sequence = (bytes((_val(value, index - first),)) if index != first else b"") + bytes((_val(count, 1),)) + (
            bytes((_val(value, last - index),)) if index != last else b"")
    else:
        sequence = (_zeros(index - first) if index != first else b"") + bytes((_val(count, 1),)) + (
            _zeros(last - index) if index != last else b"")
    length = len(hll) + len(sequence) - size  # as Redis counts it, also for an XZERO cut by the end
    if len(sequence) > size and length > max_bytes:
        return _promote(hll, index, count)
    hll[p : p + size] = sequence
    del hll[length:]
    return _merge(hll, prev), True


def _merge(hll: bytearray, prev: int | None) -> bytearray:
    """Merge adjacent VAL opcodes of one value (up to 4 registers), scanning 5 opcodes from prev."""
    p = HEADER if prev is None else prev
    for _ in range(5):
        if p >= len(hll):
            break
        kind, span, value, size = _opcode(hll, p)
        if kind != "val":
            p += size
            continue
        if p + 1 < len(hll) and hll[p + 1] & 0x80:
            _, next_span, next_value, _ = _opcode(hll, p + 1)
            if next_value == value and span + next_span <= VAL_MAX_LEN:
                hll[p : p + 2] = bytes((_val(value, span + next_span),))
                continue
        p += 1
    _invalidate(hll)
    return hll


def _promote(hll: bytearray, index: int, count: int) -> tuple[bytearray, bool]:
    dense = to_dense(hll)
    _dense_update(dense, index, count)
    _invalidate(dense)
    return dense, True


def add(hll: bytearray, element: bytes, max_bytes: int) -> tuple[bytearray, bool]:
    index, count = pattern(element)
    if hll[4] == 0:
        return hll, _dense_update(hll, index, count)
    return sparse_set(hll, index, count, max_bytes)


# --- counting --------------------------------------------------------------------------------------

def _sigma(x: float) -> float:
    if x == 1.0:
        return math.inf
    y, z = 1.0, x
    while True:
        x *= x
        previous = z
        z += x * y
        y += y
        if previous == z:
            return z


def _tau(x: float) -> float:
    if x in (0.0, 1.0):
        return 0.0
    y, z = 1.0, 1 - x
    while True:
        x = math.sqrt(x)
        previous = z
        y *= 0.5
        z -= pow(1 - x, 2) * y
        if previous == z:
            return z / 3


def estimate(values: bytes) -> int:
    """hllCount: Ertl's improved estimator over the register histogram (registers a byte each)."""
    histogram, seen = [0] * (Q + 2), 0
    for value in range(Q + 2):  # the small values hold all registers but a few: stop once all are seen
        if seen == REGISTERS:
            break
        histogram[value] = values.count(value)
        seen += histogram[value]
    m = float(REGISTERS)
    z = m * _tau((m - histogram[Q + 1]) / m)
    for j in range(Q, 0, -1):
        z += histogram[j]
        z *= 0.5
    z += m * _sigma(histogram[0] / m)
    return math.floor(ALPHA_INF * m * m / z + 0.5)  # llroundl, for a positive value


# --- commands --------------------------------------------------------------------------------------

def _hll(e: Engine, key: bytes, read: bool = False) -> Entry | None:
    """The HyperLogLog at a key (``read``: as PFMERGE reads its sources, a miss telling keymiss)."""
    entry = e.read(key) if read else e.lookup(key)
    if entry is None:
        return None
    _check(entry)
    return entry


def _check(entry: Entry) -> None:
    """Redis's isHLLObjectOrReply."""
    if entry.type != "string":
        raise CommandError(WRONGTYPE)
    if not is_hll(entry.value):
        raise CommandError(NOT_HLL)


@command("pfadd", -2)
def pfadd(e: Engine, args: list[bytes]):
    entry = _hll(e, args[1])
    created = entry is None
    hll = empty() if entry is None else bytearray(entry.value)
    updated = created
    max_bytes = e.target.hll_sparse_max_bytes
    try:
        for element in args[2:]:
            hll, changed = add(hll, element, max_bytes)
            updated |= changed
    except CommandError:  # a corrupted HLL keeps the registers set before the error, as in Redis
        entry.value = bytes(hll)  # type: ignore[union-attr]  # only an existing HLL can be corrupted
        raise
    if updated:
        _invalidate(hll)
        _write(e, args[1], entry, hll)
    return int(updated)


def _write(e: Engine, key: bytes, entry, hll: bytearray) -> None:
    """Store a changed HyperLogLog, telling "pfadd" (PFMERGE's event too), and "new" when created."""
    if entry is None:
        e.add(key, Entry("string", bytes(hll)))
    else:
        entry.value = bytes(hll)
    e.notify(STRING, b"pfadd", key)


@command("pfcount", -2)
def pfcount(e: Engine, args: list[bytes]):
    """One key: the cached cardinality, recomputed and stored when stale (a change: propagated, as
    Redis does); several: their union."""
    e.changes = 0
    if len(args) > 2:
        union = bytes(REGISTERS)
        for key in args[1:]:
            entry = _hll(e, key)
            if entry is not None:
                union = maximum(union, registers(entry.value))
        return estimate(union)
    entry = _hll(e, args[1])
    if entry is None:
        return 0
    hll = bytearray(entry.value)
    if not hll[15] & 0x80:
        return int.from_bytes(hll[8:16], "little")
    card = estimate(registers(hll))
    hll[8:16] = card.to_bytes(8, "little")
    entry.value = bytes(hll)
    e.changes = 1
    return card


@command("pfmerge", -2)
def pfmerge(e: Engine, args: list[bytes]):
    """PFMERGE destkey [sourcekey ...]: the destination's registers count too; dense if any input is."""
    union, dense = bytes(REGISTERS), False
    for key in args[1:]:
        entry = _hll(e, key, read=True)
        if entry is not None:
            dense |= entry.value[4] == 0
            union = maximum(union, registers(entry.value))
    entry = e.lookup(args[1])
    hll = empty() if entry is None else bytearray(entry.value)
    if dense:
        hll = bytearray(hll[:HEADER]) + pack(union)  # the destination's own registers are in the union
        hll[4] = 0
    else:
        max_bytes = e.target.hll_sparse_max_bytes
        for index, value in enumerate(union):
            if value:
                if hll[4] == 0:
                    _dense_update(hll, index, value)
                else:
                    hll, _ = sparse_set(hll, index, value, max_bytes)
    _invalidate(hll)
    _write(e, args[1], entry, hll)
    return OK


# --- testing and debugging -------------------------------------------------------------------------

@command("pfdebug", 3)
def pfdebug(e: Engine, args: list[bytes]):
    """PFDEBUG GETREG|DECODE|ENCODING|TODENSE key, and SIMD ON|OFF where the target has it (no key)."""
    name = args[1].lower()
    e.changes = 0  # only a conversion to dense is propagated (Redis's dirty)
    if name == b"simd" and _has_simd(e.target):
        return _simd(e, args[2])
    entry = e.lookup(args[2])
    if entry is None:
        raise CommandError("ERR The specified key does not exist")
    _check(entry)
    encoding = entry.value[4]
    action = _DEBUG.get(name)
    if action is None:
        raise CommandError(f"ERR Unknown PFDEBUG subcommand '{args[1].decode('utf-8', 'replace')}'")
    if len(args) != 3:  # Redis 6.2's arity lets more arguments reach the subcommand
        raise CommandError(f"ERR Wrong number of arguments for the '{args[1].decode('utf-8', 'replace')}' subcommand")
    reply = action(entry)
    e.changes = int(entry.value[4] != encoding)
    return reply


def _has_simd(target) -> bool:
    """PFDEBUG SIMD: Redis 8.0 and Valkey 8.1 count dense HLLs with AVX2 where the CPU has it."""
    return target.version >= ((8, 1) if target.valkey_server else (8, 0))


_SIMD_STATE = {"enabled": True}  # the process's, as Redis keeps one per server (on by default)


def _simd(e: Engine, switch: bytes):
    """Turn the SIMD path on or off (serve has none: a reply only). A word other than ON or OFF gets the
    error and then, as Redis sends it too, the state: two replies to one command."""
    word = switch.lower()
    if word in (b"on", b"off"):
        _SIMD_STATE["enabled"] = word == b"on"
        return Status("enabled" if _SIMD_STATE["enabled"] else "disabled")
    from rdbtools.server.protocol import Raw  # the engine needs the server only here

    state = b"enabled" if _SIMD_STATE["enabled"] else b"disabled"
    return Raw(b"-ERR Argument must be ON or OFF\r\n+" + state + b"\r\n")


def _getreg(entry: Entry) -> list[int]:
    """The registers; a sparse HLL is turned dense first (and stays so)."""
    if entry.value[4] == 1:
        entry.value = bytes(to_dense(entry.value))
    return list(unpack(entry.value))


def _decode(entry: Entry) -> bytes:
    """The sparse opcodes as text: z:<len> (ZERO), Z:<len> (XZERO), v:<value>,<len> (VAL)."""
    hll = bytearray(entry.value)
    if hll[4] != 1:
        raise CommandError("ERR HLL encoding is not sparse")
    words, p = [], HEADER
    while p < len(hll):
        kind, span, value, size = _opcode(hll, p)
        words.append(b"v:%d,%d" % (value, span) if kind == "val" else b"%s:%d" % (b"z" if size == 1 else b"Z", span))
        p += size
    return b" ".join(words)


def _todense(entry: Entry) -> int:
    if entry.value[4] == 0:
        return 0
    entry.value = bytes(to_dense(entry.value))
    return 1


_DEBUG = {b"getreg": _getreg, b"decode": _decode, b"encoding": lambda entry: Status(("dense", "sparse")[
    entry.value[4]]), b"todense": _todense}


@command("pfselftest", 1, write=False)
def pfselftest(e: Engine, args: list[bytes]):
    """Redis's self test, run on serve's own code: register access, then dense and sparse HLLs fed the
    same elements agreeing and estimating within bounds (to 10^5 elements where Redis goes to 10^7)."""
    failure = self_test(e.target.hll_sparse_max_bytes)
    if failure is not None:
        raise CommandError(failure)
    return OK


SELF_TEST_CYCLES = 3  # Redis: 1000 rounds of the register test
SELF_TEST_ELEMENTS = 100_000


def self_test(max_bytes: int, rng: random.Random | None = None,
              read_register: Callable[[bytearray, int], int] = dense_get) -> str | None:
    """The first failure's TESTFAILED text, None when all pass; a test hands a broken ``read_register``
    (patching the module's would not reach compiled code, which calls its functions directly)."""
    rng = rng or random.Random()
    return _test_registers(rng, read_register) or _test_estimates(rng, max_bytes)


def _test_registers(rng: random.Random, read_register: Callable[[bytearray, int], int]) -> str | None:
    """Registers set to random values read back the same, one by one and unpacked at once; packing
    gives the same bytes."""
    dense = bytearray(DENSE_SIZE)
    for _ in range(SELF_TEST_CYCLES):
        values = bytes(rng.getrandbits(6) for _ in range(REGISTERS))
        for index, value in enumerate(values):
            dense_set(dense, index, value)
        for index, value in enumerate(values):
            got = read_register(dense, index)
            if got != value:
                return f"TESTFAILED Register {index} should be {value} but is {got}"
        if unpack(dense) != values or pack(values) != dense[HEADER:]:
            return "TESTFAILED packed and unpacked registers disagree"
    return None


def _test_estimates(rng: random.Random, max_bytes: int) -> str | None:
    """Distinct elements into a dense and a sparse HLL: at 1, 10, 100 ... elements both must agree,
    the sparse one still sparse while small, and the error within six standard errors (1 at 10)."""
    dense, sparse = bytearray(b"HYLL") + bytearray(DENSE_SIZE - 4), empty()
    seed = rng.getrandbits(64)
    relative = 1.04 / math.sqrt(REGISTERS)
    checkpoint = 1
    for j in range(1, SELF_TEST_ELEMENTS + 1):
        element = (j ^ seed).to_bytes(8, "little")
        index, run = pattern(element)
        _dense_update(dense, index, run)
        sparse, _ = add(sparse, element, max_bytes)
        if j != checkpoint:
            continue
        if j < max_bytes / 2 and sparse[4] != 1:
            return "TESTFAILED sparse encoding not used"
        card = estimate(unpack(dense))
        if card != estimate(registers(sparse)):
            return "TESTFAILED dense/sparse disagree"
        error = abs(checkpoint - card)
        if error > (1 if j == 10 else math.ceil(relative * 6 * checkpoint)):
            return f"TESTFAILED Too big error. card:{checkpoint} abserr:{error}"
        checkpoint *= 10
    return None
