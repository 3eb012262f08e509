"""The publish step: one prediction (and its mask and frame) out on the sockets, plus the
status message between frames. Runs on the pipeline's publish thread (or, when one thread
runs every stage, on that one and the publish thread in turn, under one lock: ZeroMQ sockets
must never be used by two threads at once).

The emitter outlives pipelines: ``seq`` continues across a reload or an Edge TPU swap, so a
subscriber sees a gap only where predictions were really lost. Its sockets are swapped by
the supervisor only while no pipeline runs (its threads are joined).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

from edged.config import PublishConfig
from edged.events.stage import EventStage
from edged.framepub import FramePublisher
from edged.frames import monotonic_ns
from edged.health import Health
from edged.messages import PredictionBuilder
from edged.publisher import Publisher
from edged.slots import ResultSlot
from edged.stats import Stats

log = logging.getLogger("edged.publish")


class Emitter:
    def __init__(self, run_id: str, stats: Stats, health: Health,
                 status_payload: Callable[[], bytes], status_line: Callable[[], str],
                 on_status: Callable[[str], None]) -> None:
        self.run_id, self.stats, self.health = run_id, stats, health
        self._status_payload, self._status_line = status_payload, status_line
        self._on_status = on_status  # e.g. the systemd STATUS= line
        self.seq = 0
        self.config: PublishConfig | None = None
        self.publisher: Publisher | None = None
        self.frames: FramePublisher | None = None
        self.builder: PredictionBuilder | None = None
        self._next_status = 0.0
        self._topic = self._mask_topic = b""
        self.events = EventStage(run_id)  # tracking, zones, lines (edged.events)

    def attach(self, config: PublishConfig, publisher: Publisher,
               frames: FramePublisher | None, builder: PredictionBuilder) -> None:
        """Point at (new) sockets; call only while no publish thread runs."""
        self.config, self.publisher, self.frames, self.builder = \
            config, publisher, frames, builder
        self._topic = config.topic.encode()  # encoded once, not per frame
        self._mask_topic = self._topic + b".mask"
        self._next_status = 0.0  # a fresh status right after a swap

    def emit(self, item: ResultSlot, fields: dict[str, Any], t0: float) -> None:
        assert self.publisher is not None and self.builder is not None
        assert self.config is not None
        # side frames ("_mask"; any "_" key) are not message fields
        side = [k for k in fields if k[:1] == "_"]
        mask = fields.get("_mask") if side else None
        for k in side:
            del fields[k]
        seq = self.seq
        self.seq += 1
        # before the prediction is built: it adds track_id/track_age to the detections
        self.events.observe(self.publisher, item.frame_seq, item.capture_ns, fields)
        publish_ns = monotonic_ns()
        post_ms = (time.perf_counter() - t0) * 1e3
        total_ms = (publish_ns - item.capture_ns) / 1e6
        payload = self.builder.build(
            seq, item.frame_seq, item.capture_ns, publish_ns, item.frame_size,
            (item.preprocess_ms, item.inference_ms, post_ms, total_ms), fields)
        if not self.publisher.send_pair(self._topic, payload):
            self.stats.dropped_send += 1
        if self.frames is not None and item.image is not None:
            t = item.transform  # the model input's extent in normalized frame coordinates
            view = [round(v, 6) for v in (t.offset_x, t.offset_y, t.offset_x + t.scale_x,
                                          t.offset_y + t.scale_y)]
            self.frames.offer(item.image, {
                "run_id": self.run_id, "seq": seq, "frame_seq": item.frame_seq,
                "capture_ns": item.capture_ns, "width": item.image.shape[1],
                "height": item.image.shape[0], "view": view})
        if mask is not None and self.config.masks:
            header = json.dumps({"run_id": self.run_id, "seq": seq}).encode()
            self.publisher.send([self._mask_topic, header, mask])
        self.stats.published += 1

    def on_idle(self) -> None:
        """Between frames: serve subscriptions, send a status when due or when health
        changed, or at once to a new status subscriber."""
        assert self.publisher is not None and self.config is not None
        joined = self.publisher.service()
        self.events.on_idle(self.publisher)  # current counts to new event subscribers
        now = time.monotonic()
        if joined or now >= self._next_status or self.health.changed.is_set():
            self.health.changed.clear()
            self._next_status = now + self.config.status_interval
            self.send_status()

    def send_status(self) -> None:
        if self.publisher is not None and self.publisher.socket is not None:
            self.publisher.send_status(self._status_payload())
        self._on_status(self._status_line())
