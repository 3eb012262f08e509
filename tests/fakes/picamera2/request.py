"""CompletedRequest and MappedArray, as in picamera2.request."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from picamera2.picamera2 import Picamera2

POISON = 0xEE  # a released buffer is overwritten, as the camera would reuse it


class CompletedRequest:
    def __init__(self, buffers: dict[str, np.ndarray], metadata: dict[str, Any],
                 picam2: Picamera2) -> None:
        self.picam2 = picam2
        self.ref_count = 1
        self.config = dict(picam2.camera_config)
        self.stream_map = {name: name for name in buffers}
        self._buffers = buffers
        self._metadata = metadata
        self.request: object | None = object()

    def acquire(self) -> None:
        if self.ref_count == 0:
            raise RuntimeError("CompletedRequest: acquiring lock with ref_count 0")
        self.ref_count += 1

    def release(self) -> None:
        self.ref_count -= 1
        if self.ref_count < 0:
            raise RuntimeError("CompletedRequest: lock now has negative ref_count")
        if self.ref_count == 0:
            for buf in self._buffers.values():
                buf.fill(POISON)
            self.picam2._return_buffers(self)
            self.request = None
            self.config = {}
            self.stream_map = {}

    def get_metadata(self) -> dict[str, Any]:
        if self.request is None:
            raise AssertionError("fake picamera2: get_metadata() on a released request")
        return dict(self._metadata)

    def make_buffer(self, name: str) -> np.ndarray:
        if self.stream_map.get(name) is None:
            raise RuntimeError(f"Stream {name!r} is not defined")
        return np.array(self._buffers[name], dtype=np.uint8)

    def make_array(self, name: str) -> np.ndarray:
        if self.config.get(name) is None:
            raise RuntimeError(f"Stream {name!r} is not defined")
        with MappedArray(self, name) as m:
            return np.ascontiguousarray(m.array)


def shaped(buffer: np.ndarray, config: dict[str, Any]) -> np.ndarray:
    """picamera2's zero-copy reshape of a 1-D buffer by its stream configuration."""
    fmt, (w, h), stride = config["format"], config["size"], config["stride"]
    if fmt in ("BGR888", "RGB888", "XBGR8888", "XRGB8888"):
        bpp = 4 if fmt.startswith("X") else 3
        rows = buffer.reshape((h, stride))
        return rows[:, : w * bpp].reshape((h, w, bpp))
    if fmt in ("YUV420", "YVU420"):
        return buffer.reshape((h * 3 // 2, stride))
    raise RuntimeError("Format " + fmt + " not supported")


class MappedArray:
    def __init__(self, request: CompletedRequest, stream: str, reshape: bool = True,
                 write: bool = True) -> None:
        if request.request is None:
            raise AssertionError("fake picamera2: MappedArray on a released request")
        if request.stream_map.get(stream) is None:
            raise KeyError(stream)
        self._request, self._stream, self._reshape = request, stream, reshape
        self._array: np.ndarray | None = None

    def __enter__(self) -> MappedArray:
        buf = self._request._buffers[self._stream]
        array = buf
        if self._reshape:
            array = shaped(buf, self._request.config[self._stream])
        self._array = array
        return self

    def __exit__(self, *exc: object) -> None:
        self._array = None

    @property
    def array(self) -> np.ndarray | None:
        return self._array
