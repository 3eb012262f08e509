"""Per-label summaries of predictions and the throttle that keeps a 30 fps stream from
becoming a 30 msg/s MQTT stream. Pure: no sockets, no clock of their own."""

from __future__ import annotations

from typing import Any


def summarize(raw: dict[str, Any]) -> dict[str, Any]:
    """``{"counts": {label: n}, "task", "seq", "capture_ns", "run_id"}`` from a prediction."""
    counts: dict[str, int] = {}
    for d in raw.get("detections") or ():
        name = str(d.get("label") or d.get("index"))
        counts[name] = counts.get(name, 0) + 1
    classes = raw.get("classes") or ()
    if classes:
        top = classes[0]
        counts[str(top.get("label") or top.get("index"))] = 1
    if raw.get("keypoints") and raw.get("pose_score", 0) > 0:
        counts["person"] = 1
    for c in (raw.get("segmentation") or {}).get("classes", ()):
        counts[str(c.get("label") or c.get("index"))] = 1
    return {"run_id": raw.get("run_id"), "seq": raw.get("seq"),
            "capture_ns": raw.get("capture_ns"), "task": raw.get("task"),
            "counts": dict(sorted(counts.items()))}


class Throttle:
    """Lets a summary through at most once per ``interval_s``; with ``on_change`` only when its
    counts differ from the last one sent. A change held back by the interval is not lost: it
    goes out when the interval ends (``due``)."""

    def __init__(self, interval_s: float, on_change: bool) -> None:
        self.interval_s = interval_s
        self.on_change = on_change
        self._last_sent_at: float | None = None
        self._last_counts: dict[str, int] | None = None
        self._pending: dict[str, Any] | None = None

    def offer(self, summary: dict[str, Any], now: float) -> dict[str, Any] | None:
        changed = summary["counts"] != self._last_counts
        if self.on_change and not changed:
            self._pending = None  # back to what was last sent: nothing to flush
            return None
        self._pending = summary
        return self.due(now)

    def due(self, now: float) -> dict[str, Any] | None:
        if self._pending is None:
            return None
        if self._last_sent_at is not None and now - self._last_sent_at < self.interval_s:
            return None
        out, self._pending = self._pending, None
        self._last_sent_at, self._last_counts = now, out["counts"]
        return out
