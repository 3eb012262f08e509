"""YUV420 (I420, planar, 4:2:0) to RGB at the frame's own size, in integer arithmetic.

Used by the picamera2 ``lores`` stream, which on a Pi 4 (VC4 ISP) can only be YUV. The buffer
layout is picamera2's: an array of shape (height * 3 / 2, stride) holding the Y plane
(height rows of ``stride`` bytes) followed by the U and V planes (height / 2 rows of
``stride / 2`` bytes each). Only the first ``width`` (``width / 2``) bytes of a row are pixels.

Range matters: picamera2's preview and still configurations use sYCC (BT.601, full range,
0..255), its video configurations Smpte170m (BT.601) or Rec709, both limited range (Y 16..235,
chroma 16..240). Decoding limited data as full range gives washed-out, low-contrast images.

Chroma is applied at quarter resolution and broadcast over each 2x2 block (nearest-neighbour
upsampling), so per frame the cost is a handful of numpy passes over buffers allocated once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

YuvRange = Literal["full", "limited"]
YuvEncoding = Literal["rec601", "rec709"]

_SHIFT = 8  # fixed-point fraction bits of the coefficients

# (Kr, Kb) of each encoding; the conversion matrix follows from them.
_KR_KB: dict[str, tuple[float, float]] = {"rec601": (0.299, 0.114), "rec709": (0.2126, 0.0722)}


@dataclass(frozen=True, slots=True)
class YuvCoefficients:
    """Fixed-point (x256) coefficients: R = y*(Y-y_offset) + cr_r*Cr, etc., Cb/Cr centred on 0."""

    y_offset: int
    y: int
    cr_r: int
    cb_g: int
    cr_g: int
    cb_b: int


def coefficients(encoding: YuvEncoding, yuv_range: YuvRange) -> YuvCoefficients:
    """The integer conversion coefficients for an encoding (BT.601/709) and a range."""
    if encoding not in _KR_KB:
        raise ValueError(f"unknown YCbCr encoding {encoding!r}; expected rec601 or rec709")
    if yuv_range not in ("full", "limited"):
        raise ValueError(f"unknown YUV range {yuv_range!r}; expected full or limited")
    kr, kb = _KR_KB[encoding]
    kg = 1.0 - kr - kb
    y_scale, c_scale, y_offset = 1.0, 1.0, 0
    if yuv_range == "limited":
        y_scale, c_scale, y_offset = 255 / 219, 255 / 224, 16
    one = 1 << _SHIFT

    def fixed(value: float) -> int:
        return round(value * one)

    return YuvCoefficients(
        y_offset=y_offset,
        y=fixed(y_scale),
        cr_r=fixed(2 * (1 - kr) * c_scale),
        cb_g=fixed(2 * (1 - kb) * kb / kg * c_scale),
        cr_g=fixed(2 * (1 - kr) * kr / kg * c_scale),
        cb_b=fixed(2 * (1 - kb) * c_scale),
    )


def planes(buffer: np.ndarray, width: int, height: int, stride: int
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Views (no copy) of the Y (h x w), U and V (h/2 x w/2) planes of a YUV420 buffer."""
    flat = buffer.reshape(-1)
    need = stride * height * 3 // 2
    if flat.size < need:
        raise ValueError(f"YUV420 buffer holds {flat.size} bytes; {width}x{height} with stride "
                         f"{stride} needs {need}")
    half_stride, h2, w2 = stride // 2, height // 2, width // 2
    y_end = stride * height
    u_end = y_end + half_stride * h2
    y = flat[:y_end].reshape(height, stride)[:, :width]
    u = flat[y_end:u_end].reshape(h2, half_stride)[:, :w2]
    v = flat[u_end:u_end + half_stride * h2].reshape(h2, half_stride)[:, :w2]
    return y, u, v


class Yuv420ToRgb:
    """Converts YUV420 frames of one size into a caller-owned HxWx3 uint8 buffer.

    Width and height must be even (the ISP only produces even sizes). Scratch buffers are
    allocated here once; ``convert`` allocates nothing.
    """

    def __init__(self, width: int, height: int, encoding: YuvEncoding = "rec601",
                 yuv_range: YuvRange = "full") -> None:
        if width % 2 or height % 2 or width <= 0 or height <= 0:
            raise ValueError(f"YUV420 size must be even and positive, got {width}x{height}")
        self.width, self.height = width, height
        self.coeffs = coefficients(encoding, yuv_range)
        h2, w2 = height // 2, width // 2
        self._y = np.empty((height, width), np.int32)
        self._cb = np.empty((h2, w2), np.int32)
        self._cr = np.empty((h2, w2), np.int32)
        self._chroma = np.empty((h2, w2), np.int32)
        self._tmp = np.empty((height, width), np.int32)

    def convert(self, buffer: np.ndarray, stride: int, out: np.ndarray) -> np.ndarray:
        """Fill ``out`` (height x width x 3 uint8, may be a strided view) and return it."""
        h, w = self.height, self.width
        if out.shape != (h, w, 3) or out.dtype != np.uint8:
            raise ValueError(f"output must be {h}x{w}x3 uint8, got {out.shape} {out.dtype}")
        y, u, v = planes(buffer, w, h, stride)
        c = self.coeffs
        np.subtract(y, c.y_offset, out=self._y, dtype=np.int32)
        np.multiply(self._y, c.y, out=self._y)
        self._y += 1 << (_SHIFT - 1)  # rounding
        np.subtract(u, 128, out=self._cb, dtype=np.int32)
        np.subtract(v, 128, out=self._cr, dtype=np.int32)
        np.multiply(self._cr, c.cr_r, out=self._chroma)
        self._channel(out, 0)
        np.multiply(self._cb, -c.cb_g, out=self._chroma)
        self._chroma -= self._cr * c.cr_g
        self._channel(out, 1)
        np.multiply(self._cb, c.cb_b, out=self._chroma)
        self._channel(out, 2)
        return out

    def _channel(self, out: np.ndarray, index: int) -> None:
        h2, w2 = self.height // 2, self.width // 2
        tmp4 = self._tmp.reshape(h2, 2, w2, 2)
        np.add(self._y.reshape(h2, 2, w2, 2), self._chroma[:, None, :, None], out=tmp4)
        np.right_shift(self._tmp, _SHIFT, out=self._tmp)
        np.clip(self._tmp, 0, 255, out=self._tmp)
        out[:, :, index] = self._tmp


def yuv420_to_rgb(buffer: np.ndarray, width: int, height: int, stride: int | None = None,
                  encoding: YuvEncoding = "rec601", yuv_range: YuvRange = "full") -> np.ndarray:
    """One-off conversion into a new array (for tests and tools; sources reuse a converter)."""
    out = np.empty((height, width, 3), np.uint8)
    converter = Yuv420ToRgb(width, height, encoding, yuv_range)
    return converter.convert(buffer, width if stride is None else stride, out)
