"""Optional JPEGs of the frames predictions were made on (``publish.frames: true``).

A socket and a thread of their own: encoding takes milliseconds and a JPEG is 100x a
prediction, so neither may delay predictions or push them past the high-water mark. The
newest frame wins when encoding falls behind. Each message is
``[b"edged.frames", header JSON {run_id, seq, frame_seq, capture_ns, width, height}, JPEG]``,
where ``seq`` is the prediction's; the image is the model input as the model saw it.
"""

from __future__ import annotations

import errno
import io
import json
import logging
import threading
import time
from dataclasses import dataclass, field

import numpy as np
import zmq

from edged.errors import PublishError
from edged.handoff import Closed, Handoff

log = logging.getLogger("edged.frames")
TOPIC = b"edged.frames"


def frames_endpoint(endpoint: str) -> str:
    """Default frames endpoint beside the predictions one: same folder, or the next port."""
    if endpoint.startswith("ipc://"):
        head, _, _ = endpoint.rpartition("/")
        return f"{head}/frames.sock"
    host, _, port = endpoint.rpartition(":")
    return f"{host}:{int(port) + 1}"


@dataclass
class _Job:
    image: np.ndarray
    header: dict[str, int | str] = field(default_factory=dict)


class FramePublisher:
    def __init__(self, endpoint: str, shape: tuple[int, int, int], quality: int = 80,
                 hwm: int = 4, context: zmq.Context | None = None) -> None:
        self.endpoint, self.quality, self.hwm = endpoint, quality, hwm
        self.context = context or zmq.Context.instance()
        self.jobs: Handoff[_Job] = Handoff([_Job(np.zeros(shape, np.uint8)) for _ in range(3)])
        self.sent = 0
        self._bound = threading.Event()
        self._error: str | None = None
        self._thread = threading.Thread(target=self._run, name="edged-frames", daemon=True)

    def start(self) -> None:
        """Start the thread; PublishError if its socket cannot be bound."""
        self._thread.start()
        self._bound.wait(5)
        if self._error:
            self._thread.join(1)
            raise PublishError(f"publish.frames: {self._error}")

    def offer(self, image: np.ndarray, header: dict[str, int | str]) -> None:
        """Called by the publish thread: copy the image and move on."""
        job = self.jobs.acquire()
        if job.image.shape != image.shape:  # a reload changed the model input size
            job.image = np.empty_like(image)
        np.copyto(job.image, image)
        job.header = header
        self.jobs.put(job)

    def _run(self) -> None:
        sock = self.context.socket(zmq.PUB)
        sock.setsockopt(zmq.SNDHWM, self.hwm)
        sock.setsockopt(zmq.LINGER, 0)
        deadline = time.monotonic() + 3.0
        while True:
            try:
                sock.bind(self.endpoint)
                break
            except zmq.ZMQError as exc:
                # a tcp port closed a moment ago (a reload) is freed asynchronously by ZeroMQ
                if exc.errno == errno.EADDRINUSE and time.monotonic() < deadline:
                    time.sleep(0.05)
                    continue
                self._error = f"cannot bind {self.endpoint}: {exc.strerror}"
                self._bound.set()
                sock.close(linger=0)
                return
        self._bound.set()
        log.info("frames on %s", self.endpoint)
        buf = io.BytesIO()
        from PIL import Image

        try:
            while True:
                try:
                    job = self.jobs.get(timeout=0.5)
                except Closed:
                    return
                if job is None:
                    continue
                buf.seek(0)
                buf.truncate()
                Image.fromarray(job.image).save(buf, format="JPEG", quality=self.quality)
                header = json.dumps(job.header).encode()
                self.jobs.release(job)
                sock.send_multipart([TOPIC, header, buf.getbuffer()], copy=False,
                                    flags=zmq.NOBLOCK)
                self.sent += 1
        finally:
            sock.close()

    def stop(self) -> None:
        self.jobs.close()
        self._thread.join(5)
