"""Resize a frame to the model input, once, into a preallocated buffer.

Index and weight tables are computed once per (frame size, model size, mode); per frame the
work is a few gathers and integer multiply-adds into buffers that already exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

ResizeMode = Literal["stretch", "letterbox", "center-crop"]
Interpolation = Literal["nearest", "bilinear"]


@dataclass(frozen=True, slots=True)
class Transform:
    """Maps normalized model-input coordinates to normalized source-frame coordinates.

    x_frame = x_model * scale_x + offset_x (likewise y). Task decoders use it to publish boxes
    and keypoints in the original frame, whatever the resize mode.
    """

    scale_x: float = 1.0
    scale_y: float = 1.0
    offset_x: float = 0.0
    offset_y: float = 0.0

    def x(self, x_model: np.ndarray | float) -> np.ndarray:
        return np.clip(np.asarray(x_model) * self.scale_x + self.offset_x, 0.0, 1.0)

    def y(self, y_model: np.ndarray | float) -> np.ndarray:
        return np.clip(np.asarray(y_model) * self.scale_y + self.offset_y, 0.0, 1.0)


@dataclass(frozen=True, slots=True)
class Placement:
    """Where the source region lands in the model input, in pixels."""

    src_x0: float  # source region (may be a crop) in source pixels
    src_y0: float
    src_w: float
    src_h: float
    dst_x0: int  # content rectangle inside the model input
    dst_y0: int
    dst_w: int
    dst_h: int


def place(src: tuple[int, int], dst: tuple[int, int], mode: ResizeMode) -> Placement:
    """Compute the placement of a (width, height) frame into a (width, height) model input."""
    sw, sh = src
    dw, dh = dst
    if mode == "stretch":
        return Placement(0, 0, sw, sh, 0, 0, dw, dh)
    if mode == "letterbox":
        s = min(dw / sw, dh / sh)
        cw, ch = max(1, round(sw * s)), max(1, round(sh * s))
        return Placement(0, 0, sw, sh, (dw - cw) // 2, (dh - ch) // 2, cw, ch)
    if mode == "center-crop":
        s = max(dw / sw, dh / sh)
        crop_w, crop_h = dw / s, dh / s
        return Placement((sw - crop_w) / 2, (sh - crop_h) / 2, crop_w, crop_h, 0, 0, dw, dh)
    raise ValueError(f"unknown resize mode {mode!r}")


def transform_for(p: Placement, src: tuple[int, int], dst: tuple[int, int]) -> Transform:
    sw, sh = src
    dw, dh = dst
    # model pixel u -> source pixel src_x0 + (u - dst_x0) * src_w / dst_w, then normalize
    kx = p.src_w / p.dst_w
    ky = p.src_h / p.dst_h
    return Transform(
        scale_x=dw * kx / sw,
        scale_y=dh * ky / sh,
        offset_x=(p.src_x0 - p.dst_x0 * kx) / sw,
        offset_y=(p.src_y0 - p.dst_y0 * ky) / sh,
    )


def _axis_table(n_dst: int, src0: float, src_len: float, n_src: int, bilinear: bool):
    """Source indices (and 8-bit weights) for each destination pixel along one axis."""
    centres = src0 + (np.arange(n_dst, dtype=np.float64) + 0.5) * (src_len / n_dst) - 0.5
    if not bilinear:
        idx = np.clip(np.floor(centres + 0.5), 0, n_src - 1).astype(np.intp)
        return idx, None, None
    centres = np.clip(centres, 0, n_src - 1)
    i0 = np.floor(centres).astype(np.intp)
    i1 = np.minimum(i0 + 1, n_src - 1)
    w1 = np.rint((centres - i0) * 256).astype(np.uint16)
    return i0, i1, w1


class Resizer:
    """Resizes frames of one size into one model input size with one mode."""

    def __init__(self, src: tuple[int, int], dst: tuple[int, int], mode: ResizeMode = "stretch",
                 interpolation: Interpolation = "bilinear", pad_value: int = 0) -> None:
        self.src, self.dst, self.mode = src, dst, mode
        self.interpolation = interpolation
        self.pad_value = pad_value
        p = place(src, dst, mode)
        self.placement = p
        self.transform = transform_for(p, src, dst)
        self.identity = src == dst
        bilinear = interpolation == "bilinear"
        sw, sh = src
        self._y0, self._y1, wy = _axis_table(p.dst_h, p.src_y0, p.src_h, sh, bilinear)
        self._x0, self._x1, wx = _axis_table(p.dst_w, p.src_x0, p.src_w, sw, bilinear)
        ch, cw = p.dst_h, p.dst_w
        if bilinear:
            assert wy is not None and wx is not None
            self._wy1 = wy.astype(np.uint32)[:, None, None]
            self._wy0 = (256 - self._wy1)
            self._wx1 = wx.astype(np.uint32)[None, :, None]
            self._wx0 = (256 - self._wx1)
            self._rows = np.empty((2, ch, sw, 3), dtype=np.uint8)
            self._quad = np.empty((4, ch, cw, 3), dtype=np.uint8)
            self._acc = np.empty((3, ch, cw, 3), dtype=np.uint32)
        else:
            self._rows = np.empty((1, ch, sw, 3), dtype=np.uint8)

    def content(self, out: np.ndarray) -> np.ndarray:
        p = self.placement
        return out[p.dst_y0:p.dst_y0 + p.dst_h, p.dst_x0:p.dst_x0 + p.dst_w]

    def _fill_bars(self, out: np.ndarray) -> None:
        p = self.placement
        out[:p.dst_y0] = self.pad_value
        out[p.dst_y0 + p.dst_h:] = self.pad_value
        out[:, :p.dst_x0] = self.pad_value
        out[:, p.dst_x0 + p.dst_w:] = self.pad_value

    def __call__(self, image: np.ndarray, out: np.ndarray) -> None:
        """Resize ``image`` (HxWx3 uint8) into ``out`` (model HxWx3 uint8)."""
        if self.identity:
            np.copyto(out, image)
            return
        if self.mode == "letterbox":
            self._fill_bars(out)
        dst = self.content(out)
        if self.interpolation == "nearest":
            rows = np.take(image, self._y0, axis=0, out=self._rows[0])
            np.take(rows, self._x0, axis=1, out=dst)
            return
        top = np.take(image, self._y0, axis=0, out=self._rows[0])
        bottom = np.take(image, self._y1, axis=0, out=self._rows[1])
        q = self._quad
        np.take(top, self._x0, axis=1, out=q[0])
        np.take(top, self._x1, axis=1, out=q[1])
        np.take(bottom, self._x0, axis=1, out=q[2])
        np.take(bottom, self._x1, axis=1, out=q[3])
        a, b, c = self._acc
        # a = (q0*wx0 + q1*wx1) * wy0 + (q2*wx0 + q3*wx1) * wy1, in 16.16 fixed point
        np.multiply(q[0], self._wx0, out=a)
        np.multiply(q[1], self._wx1, out=b)
        np.add(a, b, out=a)
        np.multiply(a, self._wy0, out=a)
        np.multiply(q[2], self._wx0, out=c)
        np.multiply(q[3], self._wx1, out=b)
        np.add(c, b, out=c)
        np.multiply(c, self._wy1, out=c)
        np.add(a, c, out=a)
        np.add(a, 1 << 15, out=a)
        np.right_shift(a, 16, out=a)
        np.copyto(dst, a, casting="unsafe")


class ResizerCache:
    """One Resizer per frame size seen (sources rarely change size; a reopened camera might)."""

    def __init__(self, dst: tuple[int, int], mode: ResizeMode,
                 interpolation: Interpolation, pad_value: int = 0) -> None:
        self.dst, self.mode, self.interpolation = dst, mode, interpolation
        self.pad_value = pad_value
        self._by_size: dict[tuple[int, int], Resizer] = {}

    def get(self, src: tuple[int, int]) -> Resizer:
        r = self._by_size.get(src)
        if r is None:
            if len(self._by_size) > 8:
                self._by_size.clear()
            r = Resizer(src, self.dst, self.mode, self.interpolation, pad_value=self.pad_value)
            self._by_size[src] = r
        return r
