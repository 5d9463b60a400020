"""HyperLogLog as Redis stores it (a string): PFADD, PFCOUNT, PFMERGE with the same bytes.

Layout: "HYLL", an encoding byte (0 dense, 1 sparse), 3 unused bytes, the cached cardinality (u64le,
bit 63 set when stale), then the registers: dense, 16384 six-bit registers packed from the low bits;
sparse, opcodes ZERO 00xxxxxx (1-64 zero registers), XZERO 01xxxxxx yyyyyyyy (1-16384), VAL 1vvvvvxx
(1-4 registers of value 1-32). The sparse updates follow Redis's splitting and local merging step by
step, since different update orders leave different (valid) opcode sequences.
"""

from __future__ import annotations

import math

from rdbtools.keyspace.commands import OK, STRING, WRONGTYPE, CommandError, command
from rdbtools.keyspace.model import Entry

P, Q = 14, 50
REGISTERS = 1 << P
HEADER = 16
DENSE_SIZE = HEADER + (REGISTERS * 6 + 7) // 8
SPARSE_MAX_BYTES = 3000  # hll-sparse-max-bytes
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
    """(kind, span, value, size) of the opcode at p."""
    byte = hll[p]
    if byte & 0xC0 == 0:
        return "zero", (byte & 0x3F) + 1, 0, 1
    if byte & 0xC0 == 0x40:
        return "xzero", (((byte & 0x3F) << 8) | hll[p + 1]) + 1, 0, 2
    return "val", (byte & 0x3) + 1, ((byte >> 2) & 0x1F) + 1, 1


def _val(value: int, length: int) -> int:
    return 0x80 | ((value - 1) << 2) | (length - 1)


def _zeros(length: int) -> bytes:
    if length > ZERO_MAX_LEN:
        return bytes((0x40 | ((length - 1) >> 8), (length - 1) & 0xFF))
    return bytes((length - 1,))


def registers_of(hll: bytes) -> list[int] | None:
    """Every register's value (None when a sparse HLL does not cover exactly 16384 registers)."""
    if hll[4] == 0:
        return [dense_get(bytearray(hll), i) for i in range(REGISTERS)]
    values: list[int] = []
    p, data = HEADER, bytearray(hll)
    while p < len(hll):
        _, span, value, size = _opcode(data, p)
        values.extend([value] * span)
        p += size
    return values if len(values) == REGISTERS else None


def to_dense(hll: bytearray) -> bytearray:
    values = registers_of(hll)
    if values is None:
        raise CommandError(CORRUPT)
    dense = bytearray(hll[:HEADER]) + bytearray(DENSE_SIZE - HEADER)
    dense[4] = 0
    for index, value in enumerate(values):
        if value:
            dense_set(dense, index, value)
    return dense


def sparse_set(hll: bytearray, index: int, count: int) -> tuple[bytearray, bool]:
    """Redis's hllSparseSet: (the HLL, possibly promoted to dense, and whether a register grew)."""
    if count > VAL_MAX_VALUE:
        return _promote(hll, index, count)
    p, first, prev, span = HEADER, 0, None, 0
    while p < len(hll):
        kind, span, value, size = _opcode(hll, p)
        if index <= first + span - 1:
            break
        prev, p, first = p, p + size, first + span
    else:
        raise CommandError(CORRUPT)
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
    if len(sequence) > size and len(hll) + len(sequence) - size > SPARSE_MAX_BYTES:
        return _promote(hll, index, count)
    hll[p : p + size] = sequence
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


def add(hll: bytearray, element: bytes) -> tuple[bytearray, bool]:
    index, count = pattern(element)
    if hll[4] == 0:
        return hll, _dense_update(hll, index, count)
    return sparse_set(hll, index, count)


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


def estimate(values: list[int]) -> int:
    """hllCount: Ertl's improved estimator over the register histogram."""
    histogram = [0] * 64
    for value in values:
        histogram[value] += 1
    m = float(REGISTERS)
    z = m * _tau((m - histogram[Q + 1]) / m)
    for j in range(Q, 0, -1):
        z += histogram[j]
        z *= 0.5
    z += m * _sigma(histogram[0] / m)
    return math.floor(ALPHA_INF * m * m / z + 0.5)  # llroundl, for a positive value


# --- commands --------------------------------------------------------------------------------------

def _hll(e, key: bytes, read: bool = False) -> Entry | None:
    """The HyperLogLog at a key (``read``: as PFMERGE reads its sources, a miss telling keymiss)."""
    entry = e.read(key) if read else e.lookup(key)
    if entry is None:
        return None
    if entry.type != "string":
        raise CommandError(WRONGTYPE)
    if not is_hll(entry.value):
        raise CommandError(NOT_HLL)
    return entry


@command("pfadd", -2)
def pfadd(e, args):
    entry = _hll(e, args[1])
    created = entry is None
    hll = empty() if created else bytearray(entry.value)
    updated = created
    for element in args[2:]:
        hll, changed = add(hll, element)
        updated |= changed
    if updated:
        _invalidate(hll)
        _write(e, args[1], entry, hll)
    return int(updated)


def _write(e, key: bytes, entry, hll: bytearray) -> None:
    """Store a changed HyperLogLog, telling "pfadd" (PFMERGE's event too), and "new" when created."""
    if entry is None:
        e.add(key, Entry("string", bytes(hll)))
    else:
        entry.value = bytes(hll)
    e.notify(STRING, b"pfadd", key)


@command("pfcount", -2)
def pfcount(e, args):
    """One key: the cached cardinality, recomputed and stored when stale; several: their union."""
    if len(args) > 2:
        union = [0] * REGISTERS
        for key in args[1:]:
            entry = _hll(e, key)
            if entry is not None:
                union = [max(a, b) for a, b in zip(union, _registers(entry.value), strict=True)]
        return estimate(union)
    entry = _hll(e, args[1])
    if entry is None:
        return 0
    hll = bytearray(entry.value)
    if not hll[15] & 0x80:
        return int.from_bytes(hll[8:16], "little")
    card = estimate(_registers(entry.value))
    hll[8:16] = card.to_bytes(8, "little")
    entry.value = bytes(hll)
    return card


def _registers(value: bytes) -> list[int]:
    values = registers_of(value)
    if values is None:
        raise CommandError(CORRUPT)
    return values


@command("pfmerge", -2)
def pfmerge(e, args):
    """PFMERGE destkey [sourcekey ...]: the destination's registers count too; dense if any input is."""
    union, dense = [0] * REGISTERS, False
    for key in args[1:]:
        entry = _hll(e, key, read=True)
        if entry is not None:
            dense |= entry.value[4] == 0
            union = [max(a, b) for a, b in zip(union, _registers(entry.value), strict=True)]
    entry = e.lookup(args[1])
    hll = empty() if entry is None else bytearray(entry.value)
    if dense and hll[4] == 1:
        hll = to_dense(hll)
    for index, value in enumerate(union):
        if value:
            if hll[4] == 0:
                _dense_update(hll, index, value)
            else:
                hll, _ = sparse_set(hll, index, value)
    _invalidate(hll)
    _write(e, args[1], entry, hll)
    return OK
