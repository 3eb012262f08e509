"""Input and output tensors of a .tflite file read from the flatbuffer itself, so a model can
be checked without a runtime, even one compiled for the Edge TPU that no CPU runtime loads."""

from __future__ import annotations

from dataclasses import dataclass

from edged.runtime.flatbuf import FlatbufferError, _Reader

# tensorflow/lite/schema/schema.fbs: Model.subgraphs(2); SubGraph tensors(0) inputs(1)
# outputs(2); Tensor shape(0) type(1)
_MODEL_SUBGRAPHS = 2
_SG_TENSORS, _SG_INPUTS, _SG_OUTPUTS = 0, 1, 2
_T_SHAPE, _T_TYPE = 0, 1
DTYPES = {0: "float32", 1: "float16", 2: "int32", 3: "uint8", 4: "int64", 7: "int16",
          9: "int8"}


@dataclass(frozen=True)
class Tensor:
    shape: tuple[int, ...]
    dtype: str

    def __str__(self) -> str:
        return f"{'x'.join(map(str, self.shape))} {self.dtype}"


@dataclass(frozen=True)
class Signature:
    inputs: tuple[Tensor, ...]
    outputs: tuple[Tensor, ...]


def _ints(r: _Reader, table: tuple[int, int, int], index: int, what: str) -> list[int]:
    f = r.field(table, index)
    if f is None:
        return []
    first, n = r.vector(f, 4, what)
    return [r._u("<i", first + 4 * i, what) for i in range(n)]


def _tensor(r: _Reader, tensors: tuple[int, int], index: int) -> Tensor:
    first, n = tensors
    if not 0 <= index < n:
        raise FlatbufferError(f"tensor index {index} out of range ({n} tensors)")
    t = r.table_at(first + 4 * index, f"tensor {index}")
    type_field = r.field(t, _T_TYPE)
    code = r._u("<b", type_field, "tensor type") if type_field is not None else 0
    return Tensor(tuple(_ints(r, t, _T_SHAPE, "tensor shape")), DTYPES.get(code, f"type{code}"))


def read_signature(data: bytes) -> Signature:
    """The first subgraph's inputs and outputs; FlatbufferError if the file is cut off."""
    r = _Reader(data)
    model = r.table(r._u("<I", 0, "root offset"), "model table")
    f = r.field(model, _MODEL_SUBGRAPHS)
    if f is None:
        raise FlatbufferError("the model has no subgraph")
    first, n = r.vector(f, 4, "subgraphs")
    if n < 1:
        raise FlatbufferError("the model has no subgraph")
    sg = r.table_at(first, "subgraph 0")
    tf = r.field(sg, _SG_TENSORS)
    if tf is None:
        raise FlatbufferError("subgraph 0 has no tensors")
    tensors = r.vector(tf, 4, "tensors")
    inputs = tuple(_tensor(r, tensors, i) for i in _ints(r, sg, _SG_INPUTS, "inputs"))
    outputs = tuple(_tensor(r, tensors, i) for i in _ints(r, sg, _SG_OUTPUTS, "outputs"))
    return Signature(inputs, outputs)
