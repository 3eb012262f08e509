"""Prometheus metrics for ``/metrics`` through the official client library: counters and
gauges read from the daemon's newest status (so they match ``/api/status`` exactly), and
latency histograms observed from each prediction the companion receives."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from edged import __version__
from edged.web.feed import Feed

STATES = ("starting", "running", "degraded", "stopping")
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class StatusCollector(Collector):
    def __init__(self, feed: Feed, stale_s: float) -> None:
        self.feed, self.stale_s = feed, stale_s

    def collect(self) -> Iterator[Any]:
        info = GaugeMetricFamily("edged_build_info", "edged version", labels=["version"])
        info.add_metric([__version__], 1)
        yield info
        up = self.feed.status_fresh(self.stale_s)
        yield GaugeMetricFamily("edged_up", "1 while the daemon sends status", value=int(up))
        yield GaugeMetricFamily("edged_web_viewers", "live pages open",
                                value=self.feed.viewers)
        status = self.feed.snap.status
        if status is None:
            return
        yield from status_metrics(status, up)


def status_metrics(s: dict[str, Any], up: bool) -> Iterator[Any]:
    state = GaugeMetricFamily("edged_state", "1 for the daemon's current state",
                              labels=["state"])
    for name in STATES:
        state.add_metric([name], int(up and s.get("state") == name))
    yield state
    frames = CounterMetricFamily("edged_frames", "frames by stage since the daemon started",
                                 labels=["stage"])
    for stage, n in sorted((s.get("frames") or {}).items()):
        frames.add_metric([stage], n)
    yield frames
    drops = CounterMetricFamily("edged_dropped_frames", "frames dropped, by cause",
                                labels=["cause"])
    for cause, n in sorted((s.get("dropped") or {}).items()):
        drops.add_metric([cause], n)
    yield drops
    fps = GaugeMetricFamily("edged_frame_rate_hertz", "frames per second", labels=["direction"])
    fps.add_metric(["in"], float(s.get("fps_in") or 0))
    fps.add_metric(["out"], float(s.get("fps_out") or 0))
    yield fps
    yield GaugeMetricFamily("edged_subscribers", "ZeroMQ subscribers",
                            value=float(s.get("subscribers") or 0))
    yield GaugeMetricFamily("edged_uptime_seconds", "daemon uptime",
                            value=float(s.get("uptime_s") or 0))
    if s.get("temperature_c") is not None:
        yield GaugeMetricFamily("edged_cpu_temperature_celsius", "CPU temperature",
                                value=float(s["temperature_c"]))


class Metrics:
    def __init__(self, feed: Feed, stale_s: float = 15.0) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.registry.register(StatusCollector(feed, stale_s))
        self.inference = Histogram("edged_inference_seconds", "interpreter invoke time",
                                   buckets=BUCKETS, registry=self.registry)
        self.end_to_end = Histogram("edged_end_to_end_latency_seconds",
                                    "capture to publish", buckets=BUCKETS,
                                    registry=self.registry)
        feed.observers.append(self.observe)

    def observe(self, prediction: dict[str, Any]) -> None:
        lat = prediction.get("latency_ms")
        if isinstance(lat, dict):
            for hist, key in ((self.inference, "inference"), (self.end_to_end, "total")):
                value = lat.get(key)
                if isinstance(value, int | float) and value >= 0:
                    hist.observe(value / 1000.0)

    def render(self) -> bytes:
        return generate_latest(self.registry)
