"""A bounds-checked reader for the few parts of a .tflite flatbuffer edged looks at.

Why: tflite-runtime 2.14 does not verify the flatbuffer and segfaults on a truncated file.
Checking that every table, vector and weight buffer lies inside the file turns that crash
into a message naming the file. It also lists the model's operators (for ``edged doctor``).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

# Model table fields (tensorflow/lite/schema/schema.fbs)
_MODEL_OPERATOR_CODES, _MODEL_SUBGRAPHS, _MODEL_BUFFERS = 1, 2, 4
# OperatorCode: deprecated_builtin_code(0), custom_code(1), version(2), builtin_code(3)
_OPCODE_DEPRECATED, _OPCODE_CUSTOM, _OPCODE_BUILTIN = 0, 1, 3
# Buffer: data(0), offset(1), size(2)
_BUFFER_DATA, _BUFFER_OFFSET, _BUFFER_SIZE = 0, 1, 2


class FlatbufferError(ValueError):
    pass


@dataclass(frozen=True)
class ModelSummary:
    operator_codes: list[int | str]  # builtin code numbers, or custom op names
    subgraphs: int
    buffers: int


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def _u(self, fmt: str, pos: int, what: str) -> int:
        size = struct.calcsize(fmt)
        if pos < 0 or pos + size > len(self.data):
            raise FlatbufferError(f"{what} at byte {pos} points past the end of the file "
                                  f"({len(self.data)} bytes)")
        return struct.unpack_from(fmt, self.data, pos)[0]

    def table(self, pos: int, what: str) -> tuple[int, int, int]:
        """(table position, vtable position, vtable size)."""
        vt = pos - self._u("<i", pos, what)
        vt_size = self._u("<H", vt, f"{what} vtable")
        if vt_size < 4 or vt + vt_size > len(self.data):
            raise FlatbufferError(f"{what} vtable at byte {vt} is invalid")
        return pos, vt, vt_size

    def field(self, table: tuple[int, int, int], index: int) -> int | None:
        pos, vt, vt_size = table
        slot = 4 + 2 * index
        if slot >= vt_size:
            return None
        off = self._u("<H", vt + slot, "field offset")
        return pos + off if off else None

    def vector(self, field_pos: int, elem_size: int, what: str) -> tuple[int, int]:
        """(first element position, length), checked to fit."""
        start = field_pos + self._u("<I", field_pos, what)
        length = self._u("<I", start, f"{what} length")
        if start + 4 + length * elem_size > len(self.data):
            raise FlatbufferError(f"{what} ({length} x {elem_size} bytes at byte {start}) "
                                  f"runs past the end of the file ({len(self.data)} bytes)")
        return start + 4, length

    def table_at(self, elem_pos: int, what: str) -> tuple[int, int, int]:
        return self.table(elem_pos + self._u("<I", elem_pos, what), what)


def summarize(data: bytes) -> ModelSummary:
    """Walk the model's operator codes and buffers; FlatbufferError if anything is cut off."""
    r = _Reader(data)
    model = r.table(r._u("<I", 0, "root offset"), "model table")
    codes: list[int | str] = []
    f = r.field(model, _MODEL_OPERATOR_CODES)
    if f is not None:
        first, n = r.vector(f, 4, "operator codes")
        for i in range(n):
            op = r.table_at(first + 4 * i, "operator code")
            custom = r.field(op, _OPCODE_CUSTOM)
            if custom is not None:
                start, length = r.vector(custom, 1, "custom op name")
                codes.append(data[start:start + length].decode("utf-8", "replace"))
                continue
            builtin = r.field(op, _OPCODE_BUILTIN)
            deprecated = r.field(op, _OPCODE_DEPRECATED)
            code = r._u("<i", builtin, "builtin code") if builtin is not None else 0
            if deprecated is not None:
                code = max(code, r._u("<b", deprecated, "builtin code"))
            codes.append(code)
    subgraphs = 0
    f = r.field(model, _MODEL_SUBGRAPHS)
    if f is not None:
        _, subgraphs = r.vector(f, 4, "subgraphs")
    buffers = 0
    f = r.field(model, _MODEL_BUFFERS)
    if f is not None:
        first, buffers = r.vector(f, 4, "buffers")
        for i in range(buffers):
            _check_buffer(r, r.table_at(first + 4 * i, f"buffer {i}"), i)
    return ModelSummary(codes, subgraphs, buffers)


def _check_buffer(r: _Reader, buf: tuple[int, int, int], i: int) -> None:
    data_field = r.field(buf, _BUFFER_DATA)
    if data_field is not None:
        r.vector(data_field, 1, f"weights buffer {i}")
    off_field, size_field = r.field(buf, _BUFFER_OFFSET), r.field(buf, _BUFFER_SIZE)
    if off_field is not None and size_field is not None:
        offset, size = r._u("<Q", off_field, "offset"), r._u("<Q", size_field, "size")
        if offset > 1 and offset + size > len(r.data):
            raise FlatbufferError(f"weights buffer {i} ({size} bytes at byte {offset}) runs "
                                  f"past the end of the file ({len(r.data)} bytes)")
