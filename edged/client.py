"""A small subscriber library for edged's ZeroMQ messages.

    from edged.client import Subscriber
    with Subscriber("ipc:///run/edged/predictions.sock") as sub:
        for msg in sub.predictions():
            print(msg.seq, msg.classes)
            if msg.gap: print("lost", msg.gap, "messages")

Gaps (messages lost, e.g. to a slow reader's high-water mark) and restarts (a new run_id) are
reported separately on each message, so a script can tell "I fell behind" from "the daemon
restarted".
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import zmq

from edged.events.schema import Counts, Event
from edged.messages import Prediction, Status

DEFAULT_ENDPOINT = "ipc:///run/edged/predictions.sock"
DEFAULT_TOPIC = "edged.predictions"
STATUS_TOPIC = "edged.status"
EVENTS_TOPIC = "edged.events"  # edged.event/1: tracks, zones, lines (docs/events.md)


@dataclass
class Received:
    topic: str
    message: Prediction | Status | Event | Counts
    raw: dict[str, Any]
    gap: int = 0  # messages missed just before this one (same run)
    restarted: bool = False  # run_id changed: the daemon restarted; seq starts over
    frames: tuple[bytes, ...] = ()  # extra binary frames (masks, JPEGs)


class GapTracker:
    """Per-topic sequence accounting."""

    def __init__(self) -> None:
        self.run_id: str | None = None
        self.next_seq: int | None = None
        self.lost = 0
        self.restarts = 0

    def observe(self, run_id: str, seq: int) -> tuple[int, bool]:
        restarted = self.run_id is not None and run_id != self.run_id
        gap = 0
        if restarted:
            self.restarts += 1
        elif self.next_seq is not None and seq > self.next_seq:
            gap = seq - self.next_seq
            self.lost += gap
        self.run_id, self.next_seq = run_id, seq + 1
        return gap, restarted


class Subscriber:
    def __init__(self, endpoint: str = DEFAULT_ENDPOINT, topics: tuple[str, ...] = (DEFAULT_TOPIC,),
                 context: zmq.Context | None = None, rcvhwm: int = 1000,
                 curve: dict[str, bytes] | None = None) -> None:
        self.context = context or zmq.Context.instance()
        self.socket = self.context.socket(zmq.SUB)
        self.socket.setsockopt(zmq.RCVHWM, rcvhwm)
        self.socket.setsockopt(zmq.LINGER, 0)
        if curve:
            self.socket.curve_serverkey = curve["server_public"]
            self.socket.curve_publickey = curve["public"]
            self.socket.curve_secretkey = curve["secret"]
        for t in topics:
            self.socket.setsockopt(zmq.SUBSCRIBE, t.encode())
        self.socket.connect(endpoint)
        self.trackers: dict[str, GapTracker] = {}

    def receive(self, timeout: float | None = None) -> Received | None:
        """The next message, or None after ``timeout`` seconds (None = wait forever)."""
        if timeout is not None and not self.socket.poll(int(timeout * 1000)):
            return None
        frames = self.socket.recv_multipart()
        topic = frames[0].decode()
        raw = json.loads(frames[1])
        schema = str(raw.get("schema", ""))
        msg: Prediction | Status | Event | Counts
        msg = Status.model_validate(raw) if schema.startswith("edged.status/") \
            else Prediction.model_validate(raw) if not schema.startswith("edged.event/") \
            else Counts.model_validate(raw) if raw.get("type") == "counts" \
            else Event.model_validate(raw)
        gap, restarted = 0, False
        if isinstance(msg, (Prediction, Event, Counts)):
            tracker = self.trackers.setdefault(topic, GapTracker())
            gap, restarted = tracker.observe(msg.run_id, msg.seq)
        return Received(topic, msg, raw, gap, restarted, tuple(frames[2:]))

    def __iter__(self) -> Iterator[Received]:
        while True:
            r = self.receive()
            if r is not None:
                yield r

    def predictions(self) -> Iterator[Prediction]:
        for r in self:
            if isinstance(r.message, Prediction):
                yield r.message

    def events(self) -> Iterator[Event | Counts]:
        """Typed events (subscribe to EVENTS_TOPIC), and a Counts message soon after joining
        (it includes every event with a lower seq) and whenever another subscriber joins."""
        for r in self:
            if isinstance(r.message, (Event, Counts)):
                yield r.message

    def close(self) -> None:
        self.socket.close(linger=0)

    def __enter__(self) -> Subscriber:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
