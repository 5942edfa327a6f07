"""A minimal reader for the parts of an ONNX ModelProto that the card checks need.

Listing models must stay cheap and must not need the ``onnx`` package, so the graph
signatures (inputs without initializers, outputs, element types, shapes, operator
domains) are read straight from the protobuf bytes.  A graph that imports an operator
domain onnxruntime does not ship is refused: custom operator libraries are never loaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.errors import ModelError

MAX_ONNX_BYTES = 512 << 20
# Operator domains that the stock onnxruntime CPU build implements.  Anything else
# would need a custom operator library, which Continuo never loads.
KNOWN_DOMAINS = frozenset({"", "ai.onnx", "ai.onnx.ml", "com.microsoft"})

# ONNX TensorProto element types used by the contract
ONNX_FLOAT = 1
ONNX_INT32 = 6
_TYPE_NAMES = {1: "float32", 6: "int32", 7: "int64", 10: "float16", 11: "float64"}


class _ProtoError(ValueError):
    pass


def _varint(buf: memoryview, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise _ProtoError("the data ends inside a number")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 70:
            raise _ProtoError("a number is too long")


def _fields(buf: memoryview):
    """Yield (field number, wire type, value) of one protobuf message; value is an int
    for varints and fixed-width fields and a memoryview for length-delimited ones."""
    pos, end = 0, len(buf)
    while pos < end:
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise _ProtoError("a field has number 0")
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            if pos + 8 > end:
                raise _ProtoError("the data ends inside a field")
            value, pos = int.from_bytes(buf[pos:pos + 8], "little"), pos + 8
        elif wire == 5:
            if pos + 4 > end:
                raise _ProtoError("the data ends inside a field")
            value, pos = int.from_bytes(buf[pos:pos + 4], "little"), pos + 4
        elif wire == 2:
            length, pos = _varint(buf, pos)
            if pos + length > end:
                raise _ProtoError("the data ends inside a field")
            value, pos = buf[pos:pos + length], pos + length
        else:
            raise _ProtoError(f"unknown wire type {wire}")
        yield number, wire, value


def _text(value: Any) -> str:
    return bytes(value).decode("utf-8", errors="replace")


@dataclass(frozen=True, slots=True)
class TensorSignature:
    """One graph input or output: name, ONNX element type and shape
    (an int for a fixed dimension, None for a symbolic or unknown one)."""

    name: str
    elem_type: int
    shape: tuple[int | None, ...] | None  # None: the rank is not stated

    def describe(self) -> str:
        return f"{self.name} {_TYPE_NAMES.get(self.elem_type, f'type {self.elem_type}')} " \
               f"{_dims(self.shape)}"


def _dims(shape: tuple[int | None, ...] | None) -> str:
    """A shape as the messages show it: [N, 256], N for a free dimension."""
    if shape is None:
        return "[?]"
    return "[" + ", ".join("N" if d is None else str(d) for d in shape) + "]"


@dataclass(frozen=True, slots=True)
class GraphSignature:
    inputs: dict[str, TensorSignature]
    outputs: dict[str, TensorSignature]
    domains: frozenset[str]


def _value_info(buf: memoryview) -> TensorSignature:
    name, elem, shape = "", 0, None
    for number, wire, value in _fields(buf):
        if number == 1 and wire == 2:
            name = _text(value)
        elif number == 2 and wire == 2:  # TypeProto
            for n2, w2, v2 in _fields(value):
                if n2 == 1 and w2 == 2:  # TypeProto.Tensor
                    for n3, w3, v3 in _fields(v2):
                        if n3 == 1 and w3 == 0:
                            elem = v3
                        elif n3 == 2 and w3 == 2:  # TensorShapeProto
                            dims: list[int | None] = []
                            for n4, w4, v4 in _fields(v3):
                                if n4 == 1 and w4 == 2:  # Dimension
                                    dim: int | None = None
                                    for n5, w5, v5 in _fields(v4):
                                        if n5 == 1 and w5 == 0:
                                            dim = v5
                                    dims.append(dim)
                            shape = tuple(dims)
    return TensorSignature(name, elem, shape)


def read_onnx_signature(data: bytes) -> GraphSignature:
    """Graph inputs (initializers left out), outputs and operator domains of an
    ONNX model, read from its protobuf bytes.  Raises ValueError when the bytes are
    not a well-formed ONNX model."""
    buf = memoryview(data)
    graph = None
    domains: set[str] = set()
    for number, wire, value in _fields(buf):
        if number == 7 and wire == 2:
            graph = value
        elif number == 8 and wire == 2:  # opset_import
            domain = ""
            for n2, w2, v2 in _fields(value):
                if n2 == 1 and w2 == 2:
                    domain = _text(v2)
            domains.add(domain)
    if graph is None:
        raise _ProtoError("there is no graph in it")
    inputs: list[TensorSignature] = []
    outputs: list[TensorSignature] = []
    initializers: set[str] = set()
    for number, wire, value in _fields(graph):
        if wire != 2:
            continue
        if number == 11:
            inputs.append(_value_info(value))
        elif number == 12:
            outputs.append(_value_info(value))
        elif number == 5:  # TensorProto: its name is field 8
            for n2, w2, v2 in _fields(value):
                if n2 == 8 and w2 == 2:
                    initializers.add(_text(v2))
    if not outputs:
        raise _ProtoError("the graph has no outputs")
    return GraphSignature(
        inputs={t.name: t for t in inputs if t.name not in initializers},
        outputs={t.name: t for t in outputs},
        domains=frozenset(domains),
    )



def check_tensor(sig: GraphSignature, where: str, name: str, elem: int,
                  shape: tuple[int | None, ...], what: str, file: str) -> None:
    """``shape`` lists the expected dimensions; None matches any (the batch, time)."""
    table = sig.inputs if where == "input" else sig.outputs
    t = table.get(name)
    if t is None:
        have = ", ".join(sorted(table)) or "none"
        raise ModelError(f"{what}: {file} has no {where} named '{name}' (it has {have})")
    if t.elem_type != elem:
        raise ModelError(f"{what}: in {file}, {where} '{name}' is "
                         f"{_TYPE_NAMES.get(t.elem_type, t.elem_type)}, the card expects "
                         f"{_TYPE_NAMES[elem]}")
    if t.shape is None:
        return  # the graph does not state the rank; onnxruntime checks at run time
    if len(t.shape) != len(shape) or any(
            want is not None and have is not None and want != have
            for want, have in zip(shape, t.shape)):
        raise ModelError(f"{what}: in {file}, {where} '{name}' has shape "
                         f"{_dims(t.shape)}, the card expects {_dims(shape)}")


def read_graph(path: Path, what: str) -> GraphSignature:
    try:
        size = path.stat().st_size
        if size > MAX_ONNX_BYTES:
            raise ModelError(f"{what}: {path.name} is larger than "
                             f"{MAX_ONNX_BYTES >> 20} MB")
        data = path.read_bytes()
    except FileNotFoundError:
        raise ModelError(f"{what}: the ONNX file {path.name} is missing") from None
    except OSError as e:
        raise ModelError(f"{what}: the ONNX file {path.name} cannot be read "
                         f"({e.strerror or e})") from None
    try:
        sig = read_onnx_signature(data)
    except (ValueError, IndexError) as e:
        raise ModelError(f"{what}: the ONNX file {path.name} is damaged ({e})") from None
    unknown = sorted(d for d in sig.domains if d not in KNOWN_DOMAINS)
    if unknown:
        raise ModelError(f"{what}: {path.name} needs custom operators ({', '.join(unknown)}), "
                         f"which Continuo does not load")
    return sig

