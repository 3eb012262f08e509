"""Exact area-average downscaling: edged's compiled kernel, or OpenCV's INTER_AREA without it.

``model.interpolation: area`` averages every source pixel under an output pixel, weighted by
its overlap. OpenCV's INTER_AREA does that in float and has a SIMD path only for integer
factors: 640x480 -> 224x224 (2.86 x 2.14) takes 1.1-2.8 ms on the hosts measured, more than
everything else per frame together (benchmarks/README.md). ``edged/_area.c`` computes the same
mean in integers, rounded half up, into the caller's buffer with the GIL released, 7-8x
faster. It is an optional build (setup.py): without a C compiler the install goes on and
:class:`AreaResize` uses OpenCV instead (results differ from the exact mean by at most 1).
"""

from __future__ import annotations

import math
from types import ModuleType

import numpy as np

from edged.opencv import opencv, resize_into


def _load_kernel() -> ModuleType | None:
    try:
        import edged._area as kernel
    except ImportError:
        return None
    return kernel


KERNEL = _load_kernel()
# the kernel's limits (edged/_area.c): uint16 row sums, exact rounding below 2^19
MAX_ROW_TOTAL = 65535 // 255
MAX_TOTAL = (1 << 19) - 1


def implementation() -> str:
    """What ``area`` runs on here, for doctor and bench."""
    if KERNEL is not None:
        return "edged's compiled kernel (edged/_area.c)"
    return "OpenCV INTER_AREA (edged._area was not built: no C compiler at install)"


def taps(n_src: int, n_dst: int) -> tuple[np.ndarray, np.ndarray, int]:
    """(first source index [n_dst], weights [n_dst, k], weight sum) of one axis.

    Every output's taps lie in a window of ``k`` consecutive source pixels starting at its
    first index; the window is moved left at the far edge so it never leaves the image, with
    zero weights where it holds no tap. Weights are integer overlaps in units where a source
    pixel is ``n_dst/g`` wide and an output pixel ``n_src/g`` (g = gcd): they sum to n_src/g.
    """
    if not 1 <= n_dst <= n_src:
        raise ValueError(f"area taps shrink only: {n_src} -> {n_dst}")
    g = math.gcd(n_src, n_dst)
    unit_src, unit_dst = n_dst // g, n_src // g
    spans = []
    for j in range(n_dst):
        lo, hi = j * unit_dst, (j + 1) * unit_dst
        first, last = lo // unit_src, (hi - 1) // unit_src
        spans.append((first, [min(hi, (i + 1) * unit_src) - max(lo, i * unit_src)
                              for i in range(first, last + 1)]))
    k = max(len(w) for _, w in spans)
    starts = np.empty(n_dst, np.int32)
    weights = np.zeros((n_dst, k), np.uint16)
    for j, (first, w) in enumerate(spans):
        start = min(first, n_src - k)
        starts[j] = start
        weights[j, first - start:first - start + len(w)] = w
    return starts, weights, unit_dst


class AreaResize:
    """Resizes (w, h) RGB images to (dw, dh), shrinking both axes, into the caller's buffer."""

    def __init__(self, src: tuple[int, int], dst: tuple[int, int]) -> None:
        (w, h), (dw, dh) = src, dst
        self.dsize = dst
        self._kernel = KERNEL
        self.xs, self.xw, sx = taps(w, dw)
        self.ys, self.yw, sy = taps(h, dh)
        self.total = sx * sy
        if sy > MAX_ROW_TOTAL or self.total > MAX_TOTAL:
            self._kernel = None  # a coprime odd size: OpenCV, within 1 of the exact mean
        # one uint16 row, or the vector path's memory: allocated once, not per frame
        bytes_ = 0 if self._kernel is None else \
            self._kernel.scratch_bytes(w, 3, dw, self.xw.shape[1])
        self._scratch = np.empty(bytes_, np.uint8)

    @property
    def compiled(self) -> bool:
        return self._kernel is not None

    def __call__(self, image: np.ndarray, out: np.ndarray) -> None:
        if self._kernel is not None:
            try:
                self._kernel.resize(image, out, self.xs, self.xw, self.ys, self.yw,
                                    self._scratch, self.total)
                return
            except (ValueError, BufferError):
                pass  # a layout the kernel does not take (e.g. reversed channels): OpenCV
        resize_into(image, self.dsize, out, opencv().INTER_AREA)
