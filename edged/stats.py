"""Counters the pipeline threads bump and the status message reads.

Each counter has a single writer thread, so plain ints under the GIL are enough; readers
may see a value one frame old, which is fine for status.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

WINDOW = 512  # inference times kept for the status percentiles


def percentile(ordered: list[float], q: float) -> float:
    """numpy.percentile's default (linear) method on a sorted non-empty list, to the same
    float: numpy's lerp, with its form for t >= 0.5. A sort and two lookups cost a fraction
    of np.percentile's dispatch, which the publish thread paid once a second."""
    index = (len(ordered) - 1) * (q / 100)
    lo = int(index)
    hi = min(lo + 1, len(ordered) - 1)
    a, b, t = ordered[lo], ordered[hi], index - lo
    diff = b - a
    return b - diff * (1 - t) if t >= 0.5 else a + diff * t


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
    # the last WINDOW inference times: a plain list (storing a float in it is a pointer
    # store; into a numpy array it is a conversion), read once per status message
    _inference_ms: list[float] = field(default_factory=lambda: [0.0] * WINDOW)
    _n: int = 0
    _rates: tuple[float, int, int] = (0.0, 0, 0)

    def record_inference(self, ms: float) -> None:
        self._inference_ms[self._n % WINDOW] = ms
        self._n += 1

    def inference_percentiles(self) -> dict[str, float]:
        n = min(self._n, WINDOW)
        if n == 0:
            return {"p50": 0.0, "p99": 0.0}
        values = sorted(self._inference_ms[:n])
        return {"p50": round(percentile(values, 50), 3), "p99": round(percentile(values, 99), 3)}

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
