"""Optional JPEGs of the frames predictions were made on (``publish.frames: true``).

A socket and a thread of their own: encoding takes milliseconds and a JPEG is 100x a
prediction, so neither may delay predictions or push them past the high-water mark. The
newest frame wins when encoding falls behind, and nothing is encoded while nobody is
connected to the frames socket (a preview page that nobody watches costs nothing). Each
message is ``[b"edged.frames", header JSON {run_id, seq, frame_seq, capture_ns, width,
height, view}, JPEG]``, where ``seq`` is the prediction's and ``view`` is the image's extent
``[x0, y0, x1, y1]`` in normalized frame coordinates (boxes are in those); the image is the
model input as the model saw it.
"""

from __future__ import annotations

import errno
import io
import json
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import zmq

from edged.endpoints import next_port
from edged.errors import PublishError
from edged.handoff import Closed, Handoff
from edged.publisher import BoundEndpoint, SocketPolicy

log = logging.getLogger("edged.frames")
TOPIC = b"edged.frames"
REBIND_S = 3.0  # a tcp port closed a moment ago (a reload) is freed asynchronously by ZeroMQ


def frames_endpoint(endpoint: str) -> str:
    """Default frames endpoint beside the predictions one: same folder, or the next port."""
    return next_port(endpoint)


@dataclass
class _Job:
    image: np.ndarray
    header: dict[str, Any] = field(default_factory=dict)


class FramePublisher:
    def __init__(self, endpoint: str, shape: tuple[int, int, int], quality: int = 80,
                 hwm: int = 4, context: zmq.Context | None = None,
                 policy: SocketPolicy | None = None) -> None:
        """``policy``: the predictions publisher's (same CURVE keys, authenticator, ipc
        group); without one only ipc and loopback tcp bind."""
        self.endpoint, self.quality, self.hwm = endpoint, quality, hwm
        self.policy = SocketPolicy(hwm, 0) if policy is None else \
            SocketPolicy(hwm, 0, policy.group, policy.curve, policy.sockets)
        self.context = context or zmq.Context.instance()
        self.jobs: Handoff[_Job] = Handoff([_Job(np.zeros(shape, np.uint8)) for _ in range(3)])
        self.sent = 0
        self.unwatched = 0  # frames not encoded because nobody was connected
        self._bound = threading.Event()
        self._error: str | None = None
        self._thread = threading.Thread(target=self._run, name="edged-frames", daemon=True)

    def start(self) -> None:
        """Start the thread; PublishError if its socket cannot be bound."""
        self._thread.start()
        self._bound.wait(REBIND_S + 2)
        if self._error:
            self._thread.join(1)
            raise PublishError(f"publish.frames: {self._error}")

    def offer(self, image: np.ndarray, header: dict[str, Any]) -> None:
        """Called by the publish thread: copy the image and move on."""
        job = self.jobs.acquire()
        if job.image.shape != image.shape:  # a reload changed the model input size
            job.image = np.empty_like(image)
        np.copyto(job.image, image)
        job.header = header
        self.jobs.put(job)

    def _bind(self) -> BoundEndpoint:
        deadline = time.monotonic() + REBIND_S
        while True:
            try:
                return BoundEndpoint(self.policy, self.endpoint, (TOPIC,), self.context)
            except PublishError as exc:
                if os.strerror(errno.EADDRINUSE) not in str(exc) or \
                        time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def _run(self) -> None:
        try:
            bound = self._bind()
        except PublishError as exc:
            self._error = str(exc)
            self._bound.set()
            return
        self._bound.set()
        log.info("frames on %s", self.endpoint)
        try:
            self._loop(bound)
        finally:
            bound.close()

    def _loop(self, bound: BoundEndpoint) -> None:
        buf = io.BytesIO()
        from PIL import Image

        while True:
            bound.xpub.service()
            try:
                job = self.jobs.get(timeout=0.1)
            except Closed:
                return
            if job is None:
                continue
            if bound.xpub.subscribers == 0:
                self.jobs.release(job)
                self.unwatched += 1
                continue
            buf.seek(0)
            buf.truncate()
            Image.fromarray(job.image).save(buf, format="JPEG", quality=self.quality)
            header = json.dumps(job.header).encode()
            self.jobs.release(job)
            bound.xpub.send([TOPIC, header, memoryview(buf.getbuffer())])
            self.sent += 1

    def stop(self) -> None:
        self.jobs.close()
        self._thread.join(5)
