"""OpenCV, imported on first use.

Importing cv2 maps its 60 MB library and costs the daemon ~4 MB of private memory and up to
~30 MB of resident mapped pages (measured on x86-64 with a fresh page cache); the default
path (``area`` shrinking with edged's kernel) never calls it. Bilinear and nearest resizes,
enlarging, the kernel's fallback and the OpenCV camera source import it when they need it.
"""

from __future__ import annotations

import functools
from types import ModuleType


@functools.cache
def opencv() -> ModuleType:
    import cv2

    # one thread: a frame is too small to split profitably, and OpenCV's pool would take
    # cores from the interpreter's threads (process-wide)
    cv2.setNumThreads(1)
    return cv2
