"""The daemon's side of events: runs the engine on each detection prediction (publish
thread), adds ``track_id``/``track_age`` to the detections, and publishes events and counts
on topic ``edged.events`` of the predictions socket."""

from __future__ import annotations

import json
import logging
from typing import Any, Protocol

import numpy as np

from edged.config import Config
from edged.errors import ConfigError
from edged.events.check import event_errors
from edged.events.engine import EventEngine
from edged.events.schema import EVENT_TOPIC

log = logging.getLogger("edged.events")
TOPIC = EVENT_TOPIC.encode()


class _Publisher(Protocol):
    joined: list[bytes]

    def send(self, frames: list[bytes]) -> bool: ...


def decoder_labels(decoder: Any) -> list[str | None] | None:
    labels = getattr(decoder, "labels", None)
    names = getattr(labels, "names", None)
    return list(names) if names is not None else None


class EventStage:
    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.engine: EventEngine | None = None
        self.dropped = 0
        self._last_ns = 0
        self._encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode

    def check(self, config: Config, decoder: Any) -> None:
        """ConfigError (exit 78) for labels the model does not have or a task without boxes."""
        errors = event_errors(config, decoder_labels(decoder), decoder.task)
        if errors:
            raise ConfigError(errors)

    def configure(self, config: Config, decoder: Any) -> None:
        """At start and after a reload. Counts of unchanged zones and lines are kept."""
        self.check(config, decoder)
        if decoder.task != "detection" or not config.track.enabled:
            self.engine = None
            return
        labels = decoder_labels(decoder)
        filters = [z.labels for z in config.zones] + [ln.labels for ln in config.lines]
        named = [n for f in filters for n in f or [] if not n.isdigit()]
        if labels is None and named:
            log.warning("the model has no labels: label filters %s match nothing (use class "
                        "indices, or set model.labels)", sorted(set(named)))
        if self.engine is None:
            self.engine = EventEngine(self.run_id, config.track, config.zones, config.lines,
                                      labels)
        else:
            self.engine.reconfigure(config.track, config.zones, config.lines, labels)
        log.info("tracking on: %d zones, %d lines", len(config.zones), len(config.lines))

    def observe(self, publisher: _Publisher, frame_seq: int, capture_ns: int,
                fields: dict[str, Any]) -> None:
        """Track one prediction's detections (in place) and send the events it raises."""
        dets = fields.get("detections")
        if self.engine is None or dets is None:
            return
        self._last_ns = capture_ns
        n = len(dets)
        boxes = np.array([d["box"] for d in dets], float).reshape(n, 4)
        scores = np.fromiter((d["score"] for d in dets), float, n)
        classes = np.fromiter((d["index"] for d in dets), np.int64, n)
        ft, events = self.engine.process(frame_seq, capture_ns, boxes, scores, classes)
        c = self.engine.tracker.cols
        rows = ft.det_rows
        has = rows >= 0
        has[has] = c.confirmed[rows[has]]
        if has.any():
            sel = rows[has]
            ages = np.round(capture_ns / 1e9 - c.t_first[sel], 3).tolist()
            for k, tid, age in zip(np.flatnonzero(has).tolist(), c.ids[sel].tolist(), ages,
                                   strict=True):
                dets[k]["track_id"] = tid
                dets[k]["track_age"] = age
        for event in events:
            self._send(publisher, event)

    def on_idle(self, publisher: _Publisher) -> None:
        """A new subscriber of edged.events gets the counts at once."""
        joined, publisher.joined = publisher.joined, []
        if self.engine is not None and any(TOPIC.startswith(p) for p in joined):
            self._send(publisher, self.engine.counts_message(self._last_ns))

    def counts(self) -> dict[str, Any] | None:
        return self.engine.counts() if self.engine is not None else None

    def _send(self, publisher: _Publisher, message: dict[str, Any]) -> None:
        if not publisher.send([TOPIC, self._encode(message).encode()]):
            self.dropped += 1
