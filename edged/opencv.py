"""OpenCV, imported on first use.

Importing cv2 maps its 60 MB library and costs the daemon ~4 MB of private memory and up to
~30 MB of resident mapped pages (measured on x86-64 with a fresh page cache); the default
path (``area`` shrinking with edged's kernel) never calls it. Bilinear and nearest resizes,
enlarging, the kernel's fallback and the OpenCV camera source import it when they need it.
"""

from __future__ import annotations

import functools
from types import ModuleType

import numpy as np


@functools.cache
def opencv() -> ModuleType:
    import cv2

    # one thread: a frame is too small to split profitably, and OpenCV's pool would take
    # cores from the interpreter's threads (process-wide)
    cv2.setNumThreads(1)
    return cv2


def resize_into(image: np.ndarray, dsize: tuple[int, int], dst: np.ndarray, flag: int) -> None:
    """``cv2.resize`` of ``image`` into ``dst`` (which may be a view: letterbox content)."""
    written = opencv().resize(image, dsize, dst=dst, interpolation=flag)
    if written is not dst and not np.shares_memory(written, dst):
        np.copyto(dst, written)  # OpenCV could not write in place (an odd layout)
