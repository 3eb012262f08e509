"""Optional JPEGs of the frames predictions were made on (``publish.frames: true``).

A socket and a thread of their own: encoding takes milliseconds and a JPEG is 100x a
prediction, so neither may delay predictions or push them past the high-water mark. The
newest frame wins when encoding falls behind. Each message is
``[b"edged.frames", header JSON {run_id, seq, frame_seq, capture_ns, width, height}, JPEG]``,
where ``seq`` is the prediction's; the image is the model input as the model saw it.
"""

from __future__ import annotations

import io
import json
import logging
import threading
from dataclasses import dataclass, field

import numpy as np
import zmq

from edged.endpoints import next_port
from edged.errors import PublishError
from edged.handoff import Closed, Handoff
from edged.publisher import BoundEndpoint, SocketPolicy

log = logging.getLogger("edged.frames")
TOPIC = b"edged.frames"


def frames_endpoint(endpoint: str) -> str:
    """Default frames endpoint beside the predictions one: same folder, or the next port."""
    return next_port(endpoint)


@dataclass
class _Job:
    image: np.ndarray
    header: dict[str, int | str] = field(default_factory=dict)


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
        self._bound = threading.Event()
        self._error: str | None = None
        self._thread = threading.Thread(target=self._run, name="edged-frames", daemon=True)

    def start(self) -> None:
        self._thread.start()
        self._bound.wait(5)
        if self._error:
            log.error("frames: %s", self._error)

    def offer(self, image: np.ndarray, header: dict[str, int | str]) -> None:
        """Called by the publish thread: copy the image and move on."""
        job = self.jobs.acquire()
        np.copyto(job.image, image)
        job.header = header
        self.jobs.put(job)

    def _run(self) -> None:
        try:
            bound = BoundEndpoint(self.policy, self.endpoint, (TOPIC,), self.context)
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
