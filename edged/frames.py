"""The unit that flows from a source into the pipeline."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np


@dataclass(slots=True)
class Frame:
    """One captured image.

    ``image`` is HxWx3 uint8 RGB and may be a view into a source-owned buffer that is only
    valid until the source's next ``read()``; the pipeline copies (resizes) it before then.
    ``capture_ns`` is CLOCK_MONOTONIC in nanoseconds (for picamera2, the sensor timestamp).
    """

    image: np.ndarray
    capture_ns: int

    @property
    def size(self) -> tuple[int, int]:
        """(width, height)."""
        return int(self.image.shape[1]), int(self.image.shape[0])


def monotonic_ns() -> int:
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC)
