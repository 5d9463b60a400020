"""Vector sets (docs/formats.md §6.7): what Redis 8's built-in ``vectorset`` module saves in a MODULE_2 value.

Grammar, one item per module opcode-stream item (§6.6: ``UINT`` is opcode 2 and a ``len``, ``STRING``
opcode 5 and a ``str``); the module's encver must be 0::

    vectorset  := UINT dim  UINT count  UINT config  UINT flags  projection?  node{count}  EOF
    config     := quantization (bits 0-7: 0 f32, 1 int8, 2 bin) | M << 8 (bits 8-23; 0 means 16)
    flags      := bit 0: a projection (VADD REDUCE) follows; bit 1: every node has an attribute string
    projection := UINT input_dim  STRING matrix          dim rows of input_dim float32 LE
    node       := STRING element  STRING attributes?  STRING vector  UINT n  UINT{n} params
    vector     := dim float32 LE (f32) | dim int8 (int8) | ceil(dim / 64) u64 LE bit words (bin)
    params     := id  level | version << 24  layer{level + 1}  l2 | range << 32
    layer      := num_links  max_links  linked-id{num_links}  worst        (worst: version >= 1 only)

Vectors are stored normalized (divided by their L2 norm ``l2``); int8 vectors are scaled per vector
to [-127, 127] of ``range``. ``VECTORSET`` is the construct schema; ``decode_vectorset`` reads it and
checks what Redis's loader checks (vset.c VectorSetRdbLoad, hnsw.c hnsw_insert_serialized and
hnsw_deserialize_index), and gives each vector as VEMB returns it.
"""

from __future__ import annotations

import math
import struct
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import IntEnum
from io import BytesIO
from typing import Any, BinaryIO, NoReturn

from construct import (
    Array,
    Construct,
    ConstructError,
    Container,
    If,
    PrefixedArray,
    SizeofError,
    StreamError,
    Struct,
    Tell,
    this,
)

from rdbtools.errors import FormatError, UnsupportedError
from rdbtools.formats.primitives import Length, RdbString, encode_length, encode_string
from rdbtools.formats.rdb import ModuleOpcode, module_type_id

MODULE_NAME = "vectorset"
ENCVER = 0
MODULE_ID = module_type_id(MODULE_NAME, ENCVER)
DEFAULT_M = 16  # an M of 0 was written before M could be chosen (hnsw.h HNSW_DEFAULT_M)
MAX_M = 4096  # hnsw.h HNSW_MAX_M: a layer never has more than 4 * MAX_M links
SERIALIZATION_VERSION = 1  # hnsw.c: version 1 added each layer's worst link


class Quantization(IntEnum):
    """The vector encoding, named as VINFO's quant-type names it."""

    F32 = 0  # VADD NOQUANT
    INT8 = 1  # the default (VADD Q8)
    BIN = 2  # VADD BIN


class SaveFlag(IntEnum):
    PROJECTION = 1
    ATTRIBUTES = 2


class Item(Construct):
    """One module opcode-stream item of the opcode this field must have: UINT, STRING or EOF.

    The module reads with LoadUnsigned/LoadStringBuffer, which fail on an item of another opcode; so
    does this, with the item's offset in the payload.
    """

    def __init__(self, opcode: ModuleOpcode, what: str) -> None:
        super().__init__()
        self.opcode = opcode
        self.what = what

    def _parse(self, stream: BinaryIO, context: Any, path: str) -> Any:
        at = stream.tell()
        opcode = Length._parse(stream, context, path)
        if opcode != self.opcode:
            found = ModuleOpcode(opcode).name if opcode in ModuleOpcode._value2member_map_ else str(opcode)
            raise FormatError(f"vector set {self.what}: expected a module {self.opcode.name} item, found {found}",
                              offset=at)
        if self.opcode == ModuleOpcode.UINT:
            return Length._parse(stream, context, path)
        if self.opcode == ModuleOpcode.STRING:
            return bytes(RdbString._parse(stream, context, path))
        return None

    def _build(self, obj: Any, stream: BinaryIO, context: Any, path: str) -> Any:
        data = encode_length(self.opcode)
        if self.opcode == ModuleOpcode.UINT:
            data += encode_length(obj)
        elif self.opcode == ModuleOpcode.STRING:
            data += encode_string(obj)
        stream.write(data)
        return obj

    def _sizeof(self, context: Any, path: str) -> NoReturn:
        raise SizeofError("a module item has a variable size")


Node = Struct(
    "offset" / Tell,  # where the node starts in the payload: problems found later are placed here
    "element" / Item(ModuleOpcode.STRING, "element name"),
    "attributes" / If(this._.flags & SaveFlag.ATTRIBUTES, Item(ModuleOpcode.STRING, "attributes")),
    "vector" / Item(ModuleOpcode.STRING, "vector"),
    "params" / PrefixedArray(Item(ModuleOpcode.UINT, "node parameter count"),
                             Item(ModuleOpcode.UINT, "node parameter")),
)

VECTORSET = Struct(
    "dim" / Item(ModuleOpcode.UINT, "dimension"),
    "count" / Item(ModuleOpcode.UINT, "element count"),
    "config" / Item(ModuleOpcode.UINT, "quantization and M"),
    "flags" / Item(ModuleOpcode.UINT, "flags"),
    "projection" / If(this.flags & SaveFlag.PROJECTION, Struct(
        "input_dim" / Item(ModuleOpcode.UINT, "projection input dimension"),
        "matrix" / Item(ModuleOpcode.STRING, "projection matrix"),
    )),
    "nodes" / Array(this.count, Node),
    "end" / Item(ModuleOpcode.EOF, "end"),  # Redis checks the module EOF right after the last node
)


@dataclass(slots=True)
class VectorSetElement:
    name: bytes
    vector: list[float]  # as VEMB returns it: dequantized and multiplied back by l2
    attributes: bytes | None  # the JSON VGETATTR returns; None when the element has none
    level: int  # the highest HNSW layer the element is in
    links: list[int]  # how many neighbours it has in each layer, layer 0 first
    stored: bytes = b""  # the vector as stored: normalized, then quantized
    l2: float = 1.0  # the norm it was divided by
    range: float = 0.0  # int8 only: the largest absolute component, stored as 127


@dataclass(slots=True)
class Projection:
    """VADD REDUCE: vectors of ``input_dim`` components were projected to the set's dimension."""

    input_dim: int
    matrix: list[list[float]]  # dim rows of input_dim weights


@dataclass(slots=True)
class VectorSet:
    dim: int
    quantization: Quantization
    m: int
    projection: Projection | None
    elements: list[VectorSetElement]


@dataclass(slots=True)
class _Layer:
    links: list[int]
    max_links: int


@dataclass(slots=True)
class _Params:
    node_id: int
    layers: list[_Layer]
    l2: float
    range: float


_U32_AS_F32 = struct.Struct("<f")


def _f32_from_bits(bits: int) -> float:
    return _U32_AS_F32.unpack(bits.to_bytes(4, "little"))[0]


def decode_vectorset(payload: bytes, encver: int) -> VectorSet:
    """The vector set a MODULE_2 payload (its opcode stream up to EOF) holds; errors located in the payload."""
    if encver != ENCVER:
        raise UnsupportedError(f"vector set encoding version {encver}: Redis 8.2 loads version {ENCVER} only",
                               offset=0)
    try:
        parsed = VECTORSET.parse_stream(BytesIO(payload))
    except StreamError:
        raise FormatError("the vector set ends inside an item", offset=len(payload)) from None
    except ConstructError as error:
        raise FormatError(f"the vector set does not follow its layout: {error}", offset=0) from None
    quantization, m = _config(parsed.config)
    if parsed.dim == 0:
        raise FormatError("vector set of dimension 0", offset=0)
    projection = _projection(parsed.projection, parsed.dim)
    nodes = [(node, _params(node)) for node in parsed.nodes]
    _check_graph(nodes)
    elements = [_element(node, params, parsed.dim, quantization) for node, params in nodes]
    return VectorSet(parsed.dim, quantization, m, projection, elements)


def _config(config: int) -> tuple[Quantization, int]:
    kind = config & 0xFF
    if kind not in Quantization._value2member_map_:
        raise FormatError(f"unknown vector set quantization {kind}", offset=0)
    return Quantization(kind), (config >> 8) & 0xFFFF or DEFAULT_M


def _projection(stored: Container | None, dim: int) -> Projection | None:
    if stored is None:
        return None
    size = 4 * stored.input_dim * dim
    if len(stored.matrix) != size:
        raise FormatError(f"vector set projection matrix of {len(stored.matrix)} bytes, {dim} x "
                          f"{stored.input_dim} float32 take {size}", offset=0)
    weights = array("f", stored.matrix).tolist()
    return Projection(stored.input_dim, [weights[i:i + stored.input_dim] for i in range(0, len(weights),
                                                                                       stored.input_dim)])


def _params(node: Container) -> _Params:
    """A node's parameters (hnsw.c hnsw_serialize_node), refused as hnsw_insert_serialized refuses them."""
    params, at = node.params, node.offset
    if len(params) < 2:
        raise FormatError(f"vector set node with {len(params)} parameters (at least 2)", offset=at)
    level, version = params[1] & 0xFF, (params[1] >> 24) & 0xFF
    if version > SERIALIZATION_VERSION:
        raise FormatError(f"vector set node serialization version {version} (Redis 8.2 writes up to "
                          f"{SERIALIZATION_VERSION})", offset=at)
    index, layers = 2, []
    for _ in range(level + 1):
        layer, index = _layer(params, index, version, at)
        layers.append(layer)
    if index >= len(params):
        raise FormatError("vector set node lacks its l2 and range parameter", offset=at)
    l2_bits, range_bits = params[index] & 0xFFFFFFFF, (params[index] >> 32) & 0xFFFFFFFF
    return _Params(params[0], layers, _f32_from_bits(l2_bits), _f32_from_bits(range_bits))


def _layer(params: list[int], index: int, version: int, at: int) -> tuple[_Layer, int]:
    worst = 1 if version >= 1 else 0
    if index + 2 + worst > len(params):
        raise FormatError("vector set node parameters end inside a layer", offset=at)
    count, max_links = params[index], params[index + 1]
    if count > max_links or max_links > 4 * MAX_M:
        raise FormatError(f"vector set node layer with {count} links of at most {max_links}", offset=at)
    index += 2
    if index + count + worst > len(params):
        raise FormatError("vector set node parameters end inside a layer's links", offset=at)
    links = params[index:index + count]
    index += count
    if worst and count and (params[index] & 0xFFFFFFFF) >= count:
        raise FormatError(f"vector set node's worst link {params[index] & 0xFFFFFFFF} is not one of its {count} "
                          "links", offset=at)
    return _Layer(list(links), max_links), index + worst


def _check_graph(nodes: list) -> None:
    """What hnsw_deserialize_index refuses: links to itself, twice to one node, to an unknown node or
    one not in that layer, and links that are not reciprocal. Also duplicate ids and element names."""
    levels: dict[int, int] = {}
    names: set[bytes] = set()
    for node, params in nodes:
        if params.node_id in levels or node.element in names:
            what = f"id {params.node_id}" if params.node_id in levels else f"element {node.element!r}"
            raise FormatError(f"vector set holds node {what} twice", offset=node.offset)
        levels[params.node_id] = len(params.layers) - 1
        names.add(node.element)
    edges: set[tuple[int, int, int]] = set()
    for node, params in nodes:
        for layer_no, layer in enumerate(params.layers):
            _check_links(params.node_id, layer_no, layer.links, levels, node.offset)
            edges.update((params.node_id, other, layer_no) for other in layer.links)
    for source, other, layer_no in edges:
        if (other, source, layer_no) not in edges:
            offset = next(node.offset for node, params in nodes if params.node_id == source)
            raise FormatError(f"vector set link from node {source} to {other} in layer {layer_no} has no link back",
                              offset=offset)


def _check_links(node_id: int, layer_no: int, links: list[int], levels: dict[int, int], at: int) -> None:
    if len(set(links)) != len(links):
        raise FormatError(f"vector set node {node_id} links twice to one node in layer {layer_no}", offset=at)
    for other in links:
        if other == node_id:
            raise FormatError(f"vector set node {node_id} links to itself", offset=at)
        if levels.get(other, -1) < layer_no:
            raise FormatError(f"vector set node {node_id} links to node {other}, which is not in layer {layer_no}",
                              offset=at)


def _element(node: Container, params: _Params, dim: int, quantization: Quantization) -> VectorSetElement:
    size = vector_bytes(dim, quantization)
    if len(node.vector) != size:
        raise FormatError(f"vector set element {node.element!r}: vector of {len(node.vector)} bytes, "
                          f"{dim} dimensions take {size}", offset=node.offset)
    return VectorSetElement(node.element, dequantize(node.vector, dim, quantization, params.l2, params.range),
                            node.attributes or None, len(params.layers) - 1,
                            [len(layer.links) for layer in params.layers], node.vector, params.l2, params.range)


def vector_bytes(dim: int, quantization: Quantization) -> int:
    """hnsw.c hnsw_quants_bytes."""
    if quantization == Quantization.F32:
        return 4 * dim
    if quantization == Quantization.INT8:
        return dim
    return (dim + 63) // 64 * 8


def dequantize(stored: bytes, dim: int, quantization: Quantization, l2: float, scale: float) -> list[float]:
    """The vector VEMB answers (hnsw.c hnsw_get_node_vector), with its float32 arithmetic step by step.

    Each ``array("f", ...)`` rounds to float32 as the C code does after every operation; a product or
    quotient of float32 values computed in double and rounded once is the float32 result.
    """
    if quantization == Quantization.BIN:
        words = struct.unpack(f"<{len(stored) // 8}Q", stored)
        return [1.0 if words[j >> 6] >> (j & 63) & 1 else -1.0 for j in range(dim)]
    if quantization == Quantization.INT8:
        scaled = array("f", [q * scale for q in struct.unpack(f"{dim}b", stored)])
        normalized = array("f", [x / 127 for x in scaled])
    else:
        normalized = array("f", stored)
    return array("f", [x * l2 for x in normalized]).tolist()


# --- what VADD stores, and the value written back ---------------------------------------------------


def _f32(values: Iterable[float]) -> list[float]:
    """Each value rounded to float32, as C stores the result of one float operation."""
    return array("f", values).tolist()


def store(vector: Sequence[float], quantization: Quantization) -> tuple[bytes, float, float]:
    """The stored form of a float32 vector VADD inserts: (bytes, l2, range) (hnsw.c hnsw_node_new).

    The norm is summed four squares at a time as hnsw_normalize_vector does, in float32; a zero
    vector keeps l2 1 and is not divided.
    """
    squares = _f32([x * x for x in vector])
    total, i = 0.0, 0
    while i + 3 < len(squares):
        group = _f32([squares[i] + squares[i + 1]])[0]
        group = _f32([group + squares[i + 2]])[0]
        total = _f32([total + _f32([group + squares[i + 3]])[0]])[0]
        i += 4
    for square in squares[i:]:
        total = _f32([total + square])[0]
    l2 = 1.0
    if total != 0:
        l2 = _f32([math.sqrt(total)])[0]
        vector = _f32([x / l2 for x in vector])
    if quantization == Quantization.F32:
        return array("f", vector).tobytes(), l2, 0.0
    if quantization == Quantization.BIN:
        words = [0] * ((len(vector) + 63) // 64)
        for j, x in enumerate(vector):
            words[j >> 6] |= (x > 0) << (j & 63)
        return struct.pack(f"<{len(words)}Q", *words), l2, 0.0
    stored, largest = _int8(vector)
    return stored, l2, largest


def _int8(vector: Sequence[float]) -> tuple[bytes, float]:
    """hnsw.c quantize_to_q8: scaled so that the largest absolute component is 127, roundf'ed."""
    largest = max(abs(x) for x in vector)
    if largest == 0:
        return bytes(len(vector)), 0.0
    scale = _f32([127.0 / largest])[0]
    scaled = _f32([x * scale for x in vector])
    return struct.pack(f"{len(vector)}b", *(int(math.copysign(math.floor(abs(x) + 0.5), x)) for x in scaled)), largest


def projection_matrix(input_dim: int, dim: int) -> Projection:
    """vset.c createProjectionMatrix: +-1/sqrt(input_dim), the sign from the parity of bits of i & j."""
    scale = _f32([1.0 / math.sqrt(input_dim)])[0]
    return Projection(input_dim, [[-scale if (i & j).bit_count() % 2 else scale for j in range(input_dim)]
                                  for i in range(dim)])


def project(vector: Sequence[float], projection: Projection) -> list[float]:
    """vset.c applyProjection: each row's dot product with the vector, summed in float32."""
    result = []
    for row in projection.matrix:
        total = 0.0
        for weight, x in zip(row, vector, strict=True):
            total = _f32([total + _f32([weight * x])[0]])[0]
        result.append(total)
    return result


def encode_vectorset(vset: VectorSet) -> bytes:
    """The MODULE_2 payload of a vector set, its HNSW graph built anew (see ``neighbours``).

    Every node is on layer 0 and is written with serialization version 0 (no worst link: Redis
    computes it while loading); the first element is the entry point.
    """
    links = neighbours(vset)
    flags = (SaveFlag.PROJECTION if vset.projection else 0) | (
        SaveFlag.ATTRIBUTES if any(e.attributes for e in vset.elements) else 0)
    nodes = [Container(offset=0, element=e.name, attributes=e.attributes or b"", vector=e.stored,
                       params=[i + 1, 0, len(links[i]), max(2 * vset.m, len(links[i])), *(j + 1 for j in links[i]),
                               _f32_bits(e.l2) | _f32_bits(e.range) << 32])
             for i, e in enumerate(vset.elements)]
    projection = None if vset.projection is None else Container(
        input_dim=vset.projection.input_dim,
        matrix=array("f", [w for row in vset.projection.matrix for w in row]).tobytes())
    return VECTORSET.build(Container(dim=vset.dim, count=len(nodes), config=vset.quantization | vset.m << 8,
                                     flags=flags, projection=projection, nodes=nodes, end=None))


def neighbours(vset: VectorSet) -> list[list[int]]:
    """A searchable layer-0 graph, reciprocal as the loader requires: each element linked to its M
    nearest (by the stored vectors' cosine) and to the next element, so that every element is reached."""
    vectors = [dequantize(e.stored, vset.dim, vset.quantization, 1.0, e.range) for e in vset.elements]
    links: list[set[int]] = [set() for _ in vectors]
    for i, v in enumerate(vectors):
        distances = sorted((-sum(a * b for a, b in zip(v, w, strict=True)), j) for j, w in enumerate(vectors) if j != i)
        for _, j in distances[:vset.m]:
            links[i].add(j)
            links[j].add(i)
        if i + 1 < len(vectors):
            links[i].add(i + 1)
            links[i + 1].add(i)
    if any(len(node) > 4 * MAX_M for node in links):
        raise UnsupportedError("a vector set this large cannot be written by rdbtool (an element would need more "
                               f"than {4 * MAX_M} links)")
    return [sorted(node) for node in links]


def _f32_bits(value: float) -> int:
    return struct.unpack("<I", struct.pack("<f", value))[0]
