"""Resize a frame to the model input, once, into a preallocated buffer.

The placement (crop, bars) and the filter are chosen once per (frame size, model size, mode);
per frame the work is one resize call into the buffer that already exists. The default
filter, ``area``, averages every source pixel when shrinking (antialiased, like the resizes
models are trained and evaluated with) and is bilinear when enlarging; ``bilinear`` samples
2 pixels per axis and aliases when shrinking more than 2x; ``nearest`` takes one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from edged.area import AreaResize
from edged.opencv import opencv, resize_into

ResizeMode = Literal["stretch", "letterbox", "center-crop"]
Interpolation = Literal["area", "bilinear", "nearest"]
INTERPOLATIONS: tuple[str, ...] = ("area", "bilinear", "nearest")


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


class _Stage:
    """One resize from a fixed source region into a fixed size: the exact area kernel
    (edged.area) when shrinking with ``area``, else ``cv2.resize`` (OpenCV imported then)."""

    def __init__(self, rows: slice, cols: slice, dsize: tuple[int, int], kind: str) -> None:
        self.rows, self.cols, self.dsize = rows, cols, dsize
        region = (cols.stop - cols.start, rows.stop - rows.start)
        self.area = AreaResize(region, dsize) if kind == "area" else None
        if self.area is None:
            cv2 = opencv()
            self.flag = {"nearest": cv2.INTER_NEAREST_EXACT, "linear": cv2.INTER_LINEAR}[kind]

    def __call__(self, image: np.ndarray, dst: np.ndarray) -> None:
        if self.area is not None:
            self.area(image[self.rows, self.cols], dst)
            return
        resize_into(image[self.rows, self.cols], self.dsize, dst, self.flag)


def _crop(x0: float, length: float, n: int) -> slice:
    """Whole source pixels ``x0 .. x0 + length``, inside ``0 .. n``."""
    start = min(max(0, round(x0)), n - 1)
    return slice(start, min(n, start + max(1, round(length))))


class Resizer:
    """Resizes frames of one size into one model input size with one mode.

    ``cv2.resize`` (SIMD, NEON on a Pi) or the area kernel (edged.area) does the work: both
    release the GIL while they run and write straight into the model-input buffer (a view for
    letterbox), so a frame costs one pass over the source region and no allocation.
    """

    def __init__(self, src: tuple[int, int], dst: tuple[int, int], mode: ResizeMode = "stretch",
                 interpolation: Interpolation = "area", pad_value: int = 0) -> None:
        if interpolation not in INTERPOLATIONS:
            raise ValueError(f"unknown interpolation {interpolation!r}")
        if not 0 <= pad_value <= 255:
            raise ValueError(f"pad_value {pad_value} is not a uint8 pixel value")
        self.src, self.dst, self.mode = src, dst, mode
        self.interpolation = interpolation
        self.pad_value = pad_value
        p = place(src, dst, mode)
        self.placement = p
        self.transform = transform_for(p, src, dst)
        self.identity = src == dst
        # The source region in whole pixels (the transform stays the placement's: rounding
        # moves the picture by at most half a source pixel). ``area`` when shrinking weights
        # every source pixel by its overlap with the output pixel (edged.area: the exact mean
        # from edged's compiled kernel, or OpenCV's INTER_AREA where it was not built).
        # Cheaper approximations (2x2 halvings, then bilinear) were measured and rejected:
        # they move small models' scores by up to 0.19 (benchmarks/README.md).
        sw, sh = src
        dsize = (p.dst_w, p.dst_h)
        rows, cols = _crop(p.src_y0, p.src_h, sh), _crop(p.src_x0, p.src_w, sw)
        shrinks = cols.stop - cols.start >= dsize[0] and rows.stop - rows.start >= dsize[1]
        kind = {"nearest": "nearest", "bilinear": "linear"}.get(
            interpolation, "area" if shrinks else "linear")
        self._stage = _Stage(rows, cols, dsize, kind)

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
        self._stage(image, self.content(out))


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
