"""Vector set writes (Redis 8's module ``vectorset``): VADD, VREM, VSETATTR, as an AOF replays them.

A vector set key is an entry of type ``module`` whose value is a ``VectorSet`` (docs/formats.md §6.7):
its elements keep their vectors in the stored form VADD computes (normalized, quantized, with Redis's
float32 arithmetic), so VEMB answers the same after a conversion. A vector set loaded from an RDB
arrives as a ``ModuleValue`` and is decoded when a command first changes it. Replies and errors are
Redis 8.2's (vset.c).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from rdbtools.formats.vectorset import (
    DEFAULT_M,
    ENCVER,
    MAX_M,
    MODULE_ID,
    MODULE_NAME,
    Quantization,
    VectorSet,
    VectorSetElement,
    dequantize,
    encode_vectorset,
    project,
    projection_matrix,
    store,
)
from rdbtools.keyspace.commands import WRONGTYPE, CommandError, command, floating, integer
from rdbtools.rdb.model import ModuleValue

if TYPE_CHECKING:
    from rdbtools.keyspace.engine import Engine

_MIN_M = 4  # hnsw.h HNSW_MIN_M
_INVALID_VECTOR = "ERR invalid vector specification"
_QUANTIZATION = {b"noquant": Quantization.F32, b"bin": Quantization.BIN, b"q8": Quantization.INT8}


@dataclass
class EditedVectorSet:
    """A vector set commands change: its elements by name, oldest first (the file lists them newest first)."""

    settings: VectorSet  # dim, quantization, M and projection; its element list is not kept up to date
    elements: dict[bytes, VectorSetElement] = field(default_factory=dict)

    def module_value(self) -> ModuleValue:
        """The value as an RDB holds it (the keyspace writes it so)."""
        vset = replace(self.settings, elements=list(reversed(self.elements.values())))
        return ModuleValue(MODULE_ID, MODULE_NAME, ENCVER, encode_vectorset(vset), vset)


def vector_set(e: Engine, key: bytes) -> EditedVectorSet | None:
    """The key's vector set (decoded from its RDB form on first change); WRONGTYPE for anything else."""
    entry = e.get(key, "module")
    if entry is None:
        return None
    if isinstance(entry.value, ModuleValue):
        decoded = entry.value.decoded
        if not isinstance(decoded, VectorSet):
            raise CommandError(WRONGTYPE)
        entry.value = EditedVectorSet(decoded, {x.name: x for x in reversed(decoded.elements)})
    return entry.value


def _parse_vector(args: list[bytes], at: int) -> tuple[Sequence[float], int | None, int]:
    """[REDUCE dim] FP32 blob | VALUES n v1 .. vn, from args[at]: (float32 vector, reduce, next index)."""
    reduce = None
    if len(args) > at + 2 and args[at].lower() == b"reduce":
        reduce = integer(args[at + 1], _INVALID_VECTOR)
        if reduce <= 0:
            raise CommandError(_INVALID_VECTOR)
        at += 2
    kind = args[at].lower() if at < len(args) else b""
    if kind == b"fp32" and at + 1 < len(args) and len(args[at + 1]) >= 4 and len(args[at + 1]) % 4 == 0:
        blob = args[at + 1]
        return list(struct.unpack(f"<{len(blob) // 4}f", blob)), reduce, at + 2
    if kind == b"values" and at + 1 < len(args):
        count = integer(args[at + 1], _INVALID_VECTOR)
        if count < 1 or len(args) < at + 2 + count:
            raise CommandError(_INVALID_VECTOR)
        values = [floating(v, _INVALID_VECTOR) for v in args[at + 2:at + 2 + count]]
        return struct.unpack(f"{count}f", struct.pack(f"{count}f", *values)), reduce, at + 2 + count
    raise CommandError(_INVALID_VECTOR)


def _options(args: list[bytes], at: int) -> tuple[Quantization, int, bytes | None]:
    """The options after the element: CAS, EF n, M n, SETATTR json, NOQUANT | BIN | Q8."""
    quantization, m, attributes = Quantization.INT8, DEFAULT_M, None
    while at < len(args):
        option, has_value = args[at].lower(), at + 1 < len(args)
        if option in _QUANTIZATION:
            quantization = _QUANTIZATION[option]
        elif option == b"ef" and has_value:
            if not 0 < integer(args[at + 1], "ERR invalid EF") <= 1_000_000:
                raise CommandError("ERR invalid EF")
            at += 1
        elif option == b"m" and has_value:
            m = integer(args[at + 1], "ERR invalid M")
            if not _MIN_M <= m <= MAX_M:
                raise CommandError("ERR invalid M")
            at += 1
        elif option == b"setattr" and has_value:
            attributes = args[at + 1]
            at += 1
        elif option != b"cas":  # CAS only changes when the insert happens, not what it stores
            raise CommandError("ERR invalid option after element")
        at += 1
    return quantization, m, attributes


@command("vadd", -5)
def vadd(e: Engine, args: list[bytes]):
    vector, reduce, at = _parse_vector(args, 2)
    if at >= len(args):  # the module's own arity error names the command as sent
        raise CommandError(f"ERR wrong number of arguments for '{args[0].decode('utf-8', 'replace')[:128]}' command")
    name = args[at]
    quantization, m, attributes = _options(args, at + 1)
    edited = vector_set(e, args[1])
    if edited is None:
        projection = projection_matrix(len(vector), reduce) if reduce else None
        edited = e.get_or_create(args[1], "module", lambda: EditedVectorSet(
            VectorSet(reduce or len(vector), quantization, m, projection, []))).value
    else:
        _check_compatible(edited.settings, quantization, m, len(vector), reduce)
    settings = edited.settings
    if settings.projection is not None:
        vector = project(vector, settings.projection)
    stored, l2, scale = store(vector, quantization)
    element = edited.elements.pop(name, None)  # an update moves it to the head, as a re-insert does
    added = element is None
    if element is None:
        element = VectorSetElement(name, [], None, 0, [0])
    element.stored, element.l2, element.range = stored, l2, scale
    element.vector = dequantize(stored, settings.dim, quantization, l2, scale)
    if attributes is not None:
        element.attributes = attributes or None  # SETATTR "" removes them
    edited.elements[name] = element
    return int(added)


def _check_compatible(vset: VectorSet, quantization: Quantization, m: int, dim: int, reduce: int | None) -> None:
    if vset.quantization != quantization:
        raise CommandError("ERR asked quantization mismatch with existing vector set")
    if vset.m != m:
        raise CommandError("ERR asked M value mismatch with existing vector set")
    if (vset.projection is None and dim != vset.dim) or (vset.projection is not None and reduce != vset.dim):
        raise CommandError(f"ERR Vector dimension mismatch - got {dim} but set has {vset.dim}")
    if vset.projection is not None and dim != vset.projection.input_dim:
        raise CommandError(f"ERR Input dimension mismatch for projection - got {dim} but projection expects "
                           f"{vset.projection.input_dim}")


@command("vrem", 3)
def vrem(e: Engine, args: list[bytes]):
    edited = vector_set(e, args[1])
    if edited is None or edited.elements.pop(args[2], None) is None:
        return 0
    if not edited.elements:  # the last element gone, the key goes too
        del e.keys[args[1]]
    return 1


@command("vsetattr", 4)
def vsetattr(e: Engine, args: list[bytes]):
    edited = vector_set(e, args[1])
    element = None if edited is None else edited.elements.get(args[2])
    if element is None:
        return 0
    element.attributes = args[3] or None
    return 1
