"""Checks on a .tflite file before any runtime sees it, so failures name the file and problem."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from edged.errors import ModelError
from edged.runtime.flatbuf import FlatbufferError, summarize
from edged.safefile import MB, FileRefused, read_regular

EDGETPU_CUSTOM_OP = b"edgetpu-custom-op"
TFLITE_IDENTIFIER = b"TFL3"
DEFAULT_MAX_BYTES = 256 * MB  # model.max_size_mb's default


@dataclass(frozen=True)
class ModelFile:
    """What edged knows about a model file without loading it (the bytes are not kept)."""

    path: Path
    sha256: str
    size: int
    edgetpu_compiled: bool
    operator_codes: tuple[int | str, ...] = ()  # builtin op numbers, custom op names


def read_model_file(path: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> ModelFile:
    """Read and sanity-check a TFLite flatbuffer; raise ModelError naming the file.

    Only a regular file of at most ``max_bytes`` is read (a FIFO or a device is refused
    without blocking)."""
    try:
        data = read_regular(path, max_bytes)
    except FileRefused as exc:
        hint = " (model.max_size_mb raises the limit)" if "allowed" in str(exc) else ""
        raise ModelError(f"model file {path}: {exc}{hint}") from None
    if len(data) < 16 or data[4:8] != TFLITE_IDENTIFIER:
        head = data[:8].hex(" ") if data else "empty file"
        raise ModelError(
            f"model file {path}: not a TFLite model (no 'TFL3' flatbuffer identifier at byte 4; "
            f"starts with {head}); is it truncated, or a different format?")
    try:
        summary = summarize(data)
    except FlatbufferError as exc:
        raise ModelError(f"model file {path}: truncated or corrupt: {exc}") from None
    return ModelFile(path=path, sha256=hashlib.sha256(data).hexdigest(), size=len(data),
                     edgetpu_compiled=EDGETPU_CUSTOM_OP.decode() in summary.operator_codes,
                     operator_codes=tuple(summary.operator_codes))
