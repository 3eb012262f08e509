"""Quantization arithmetic: real = (q - zero_point) * scale."""

from __future__ import annotations

import numpy as np


def dequantize(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """Real values of a quantized tensor as float32 (a float tensor passes through)."""
    if q.dtype.kind == "f" or scale == 0:
        return q.astype(np.float32, copy=False)
    return (q.astype(np.float32) - np.float32(zero_point)) * np.float32(scale)


def quantize(real: np.ndarray, scale: float, zero_point: int, dtype: np.dtype) -> np.ndarray:
    """Quantize real values to ``dtype`` with rounding and saturation."""
    dtype = np.dtype(dtype)
    if dtype.kind == "f" or scale == 0:
        return np.asarray(real, dtype=dtype)
    info = np.iinfo(dtype)
    q = np.rint(np.asarray(real, dtype=np.float32) / np.float32(scale)) + zero_point
    return np.clip(q, info.min, info.max).astype(dtype)


def pixel_lut(dtype: np.dtype, scale: float, zero_point: int,
              mean: float, std: float) -> np.ndarray | None:
    """A 256-entry table mapping a uint8 pixel to the model's input value, or None for identity.

    The model wants real = (pixel - mean) / std, stored as ``dtype`` with (scale, zero_point).
    For the common uint8 models (mean=zero_point, std=1/scale) the table is the identity and
    the resized pixels go in unchanged.
    """
    pixels = np.arange(256, dtype=np.float32)
    real = (pixels - np.float32(mean)) / np.float32(std)
    table = quantize(real, scale, zero_point, dtype)
    if table.dtype == np.uint8 and np.array_equal(table, pixels.astype(np.uint8)):
        return None
    return table


def default_normalization(dtype: np.dtype, scale: float, zero_point: int) -> tuple[float, float]:
    """(mean, std) to assume when the config gives none.

    Quantized inputs: whatever makes raw pixels map to themselves (uint8) or to pixel - 128
    (int8), which is how full-integer models are fed in practice (pycoral, Coral, Keras int8
    exports with a Rescaling layer). Float inputs: [-1, 1], the MobileNet convention.
    """
    dtype = np.dtype(dtype)
    if dtype == np.uint8:  # unquantized uint8 (scale 0) takes raw pixels too
        return (float(zero_point), 1.0 / scale) if scale else (0.0, 1.0)
    if dtype == np.int8:
        return (float(zero_point + 128), 1.0 / scale) if scale else (128.0, 1.0)
    return 127.5, 127.5
