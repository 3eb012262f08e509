"""The daemon side of ``edged web``: one thread subscribed to status, predictions and events,
and to frames only while at least one page is watching. Keeps the newest of each (never a
queue) and wakes the page streams when something new arrives."""

from __future__ import annotations

import base64
import dataclasses
import json
import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import zmq

log = logging.getLogger("edged.web")
MAX_INBOUND = 8 << 20  # a JPEG of a model input is far smaller; anything bigger is not ours
FRAMES_IDLE_S = 5.0  # unsubscribe from frames this long after the last viewer left


@dataclass
class Snapshot:
    version: int = 0
    status: dict[str, Any] | None = None
    status_at: float = 0.0
    prediction: dict[str, Any] | None = None
    frame: dict[str, Any] | None = None  # {seq, width, height, jpeg (base64), prediction}
    events: list[dict[str, Any]] = field(default_factory=list)


class Feed:
    def __init__(self, endpoint: str, frames_endpoint: str | None, topics: dict[str, str],
                 curve: dict[str, bytes] | None = None,
                 context: zmq.Context | None = None) -> None:
        self.endpoint, self.frames_endpoint = endpoint, frames_endpoint
        self.topics = topics  # status, predictions, events, frames
        self.curve = curve
        self.context = context or zmq.Context.instance()
        self.snap = Snapshot()
        self.cond = threading.Condition()
        self.viewers = 0
        self.observers: list[Any] = []  # called with each prediction (metrics)
        self._recent: OrderedDict[int, dict[str, Any]] = OrderedDict()  # seq -> prediction
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="edged-web-feed", daemon=True)

    # --- used by the HTTP threads ------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def watch(self, delta: int) -> None:
        with self.cond:
            self.viewers += delta

    def wait_newer(self, version: int, timeout: float) -> Snapshot:
        with self.cond:
            self.cond.wait_for(lambda: self.snap.version > version, timeout)
            return self.snap

    def status_fresh(self, max_age: float) -> bool:
        return self.snap.status is not None and time.monotonic() - self.snap.status_at < max_age

    # --- the feed thread -----------------------------------------------------------------
    def _socket(self, endpoint: str, topics: list[str]) -> zmq.Socket:
        s = self.context.socket(zmq.SUB)
        s.setsockopt(zmq.LINGER, 0)
        s.setsockopt(zmq.RCVHWM, 4)
        s.setsockopt(zmq.MAXMSGSIZE, MAX_INBOUND)
        if self.curve:
            s.curve_serverkey = self.curve["server_public"]
            s.curve_publickey = self.curve["public"]
            s.curve_secretkey = self.curve["secret"]
        for t in topics:
            s.setsockopt(zmq.SUBSCRIBE, t.encode())
        s.connect(endpoint)
        return s

    def _run(self) -> None:
        main = self._socket(self.endpoint, [self.topics["status"], self.topics["predictions"],
                                            self.topics["events"]])
        main.setsockopt(zmq.RCVHWM, 100)
        frames: zmq.Socket | None = None
        last_viewer = 0.0
        poller = zmq.Poller()
        poller.register(main, zmq.POLLIN)
        try:
            while not self._stop.is_set():
                now = time.monotonic()
                if self.viewers > 0:
                    last_viewer = now
                want = self.frames_endpoint is not None and now - last_viewer < FRAMES_IDLE_S
                if want and frames is None:
                    frames = self._socket(self.frames_endpoint or "", [self.topics["frames"]])
                    poller.register(frames, zmq.POLLIN)
                elif not want and frames is not None:
                    poller.unregister(frames)
                    frames.close(0)
                    frames = None
                for sock, _ in poller.poll(200):
                    self._receive(sock.recv_multipart())
        finally:
            main.close(0)
            if frames is not None:
                frames.close(0)

    def _receive(self, msg: list[bytes]) -> None:
        if len(msg) < 2:
            return
        topic = msg[0].decode(errors="replace")
        try:
            body = json.loads(msg[1])
        except ValueError:
            return
        if not isinstance(body, dict):
            return
        if topic == self.topics["frames"] and len(msg) >= 3:
            self._on_frame(body, msg[2])
        elif topic == self.topics["status"]:
            self._update(status=body, status_at=time.monotonic())
        elif topic == self.topics["predictions"]:
            self._on_prediction(body)
        elif topic == self.topics["events"]:
            with self.cond:
                self._update(events=(self.snap.events + [body])[-20:])

    def _on_prediction(self, p: dict[str, Any]) -> None:
        for observe in self.observers:
            observe(p)
        seq = p.get("seq")
        if isinstance(seq, int):
            self._recent[seq] = p
            while len(self._recent) > 64:
                self._recent.popitem(last=False)
        self._update(prediction=p)

    def _on_frame(self, header: dict[str, Any], jpeg: bytes) -> None:
        seq = header.get("seq")
        frame = {"seq": seq, "width": header.get("width"), "height": header.get("height"),
                 "view": header.get("view"), "capture_ns": header.get("capture_ns"),
                 "jpeg": base64.b64encode(jpeg).decode("ascii"),
                 "prediction": self._recent.get(seq) if isinstance(seq, int) else None}
        self._update(frame=frame)

    def _update(self, **fields: Any) -> None:
        """Snapshots are replaced, never changed: a page stream may hold the old one."""
        with self.cond:
            self.snap = dataclasses.replace(self.snap, version=self.snap.version + 1, **fields)
            self.cond.notify_all()
