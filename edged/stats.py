"""Counters the pipeline threads bump and the status message reads.

Each counter has a single writer thread, so plain ints under the GIL are enough; readers
may see a value one frame old, which is fine for status.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Stats:
    captured: int = 0
    inferred: int = 0
    published: int = 0
    dropped_capture: int = 0  # overwritten in the latest-frame slot before inference took it
    dropped_backlog: int = 0  # results overwritten before the publish thread sent them
    dropped_send: int = 0  # ZeroMQ refused the send
    bad_frames: int = 0
    source_errors: int = 0
    inference_errors: int = 0
    _inference_ms: np.ndarray = field(default_factory=lambda: np.zeros(512, np.float64))
    _n: int = 0
    _rates: tuple[float, int, int] = (0.0, 0, 0)

    def record_inference(self, ms: float) -> None:
        self._inference_ms[self._n % self._inference_ms.size] = ms
        self._n += 1

    def inference_percentiles(self) -> dict[str, float]:
        n = min(self._n, self._inference_ms.size)
        if n == 0:
            return {"p50": 0.0, "p99": 0.0}
        p50, p99 = np.percentile(self._inference_ms[:n], [50, 99])
        return {"p50": round(float(p50), 3), "p99": round(float(p99), 3)}

    def rates(self) -> tuple[float, float]:
        """(frames/s captured, frames/s published) since the previous call."""
        now = time.monotonic()
        t0, c0, p0 = self._rates
        self._rates = (now, self.captured, self.published)
        dt = now - t0
        if t0 == 0.0 or dt <= 0:
            return 0.0, 0.0
        return (self.captured - c0) / dt, (self.published - p0) / dt

    def drops(self) -> dict[str, int]:
        return {"capture_slot": self.dropped_capture, "publish_backlog": self.dropped_backlog,
                "send": self.dropped_send, "bad_frames": self.bad_frames}

    def counts(self) -> dict[str, int]:
        return {"captured": self.captured, "inferred": self.inferred,
                "published": self.published, "source_errors": self.source_errors,
                "inference_errors": self.inference_errors}
