"""USB/V4L2 cameras, video files and network streams via OpenCV (optional dependency).

``device`` may be an index (``0``), a V4L2 node (``/dev/video0``), a video file, or an
RTSP/HTTP URL. Frames arrive as BGR and are converted into one RGB buffer allocated at open.
cv2 is imported in ``open`` only, so this module imports on any machine.

Failures: a missing camera or unreachable stream, a camera that stops delivering, and a
wrongly shaped frame raise transient SourceErrors (the pipeline reopens with backoff); a video
file that does not exist or cannot be decoded is a permanent error.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

import numpy as np
from pydantic import Field, field_validator

from edged.errors import SourceError
from edged.frames import Frame, monotonic_ns
from edged.sources.base import Source, SourceConfigBase

log = logging.getLogger(__name__)

INSTALL_HINT = ("OpenCV (cv2) is not importable: install it with `pip install 'edged[opencv]'` "
                "(opencv-python-headless) or, on Raspberry Pi OS, `sudo apt install "
                "python3-opencv` (then create the venv with --system-site-packages)")
SYS_V4L = Path("/sys/class/video4linux")
#: V4L2 nodes of the Pi's own hardware: not cameras OpenCV can read (use type picamera2)
_PI_NODES = ("bcm2835-codec", "bcm2835-isp", "pispbe", "rpi-hevc-dec", "unicam", "rp1-cfe")

Kind = Literal["camera", "stream", "file"]


class OpenCVSourceConfig(SourceConfigBase):
    type: Literal["opencv"]
    device: str | int = Field(0, description="/dev/videoN, an index, a video file or a URL")
    size: tuple[int, int] | None = Field(
        None, description="requested capture [width, height] (cameras; the device may differ)")
    loop: bool = Field(False, description="video files: start again at the end")
    fourcc: str | None = Field(
        None, description="cameras: pixel format to request, e.g. MJPG for high fps on USB")
    timeout_s: float = Field(5.0, gt=0, description="streams: open/read timeout")

    @field_validator("fourcc")
    @classmethod
    def _four_chars(cls, value: str | None) -> str | None:
        if value is not None and len(value) != 4:
            raise ValueError(f"fourcc must be 4 characters, e.g. MJPG; got {value!r}")
        return value


def import_cv2() -> ModuleType:
    try:
        import cv2
    except ImportError as exc:
        raise SourceError(f"{INSTALL_HINT} ({exc})", transient=False) from None
    cv2.setNumThreads(1)  # as edged.opencv does: the interpreter's threads keep the cores
    return cv2


def classify_device(device: str | int) -> tuple[Kind, str | int]:
    """('camera', index or /dev path), ('stream', url) or ('file', path)."""
    if isinstance(device, int):
        return "camera", device
    if device.isdigit():
        return "camera", int(device)
    if device.startswith("/dev/"):
        return "camera", device
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", device):
        return "stream", device
    return "file", device


def v4l2_index(target: str | int) -> int | str:
    """/dev/videoN, or a udev symlink to it (/dev/v4l/by-id/...), as the index N OpenCV's V4L2
    backend opens; anything else unchanged."""
    if isinstance(target, int):
        return target
    match = re.fullmatch(r"/dev/video(\d+)", str(Path(target).resolve()))
    return int(match.group(1)) if match else target


def list_cameras() -> list[dict[str, Any]]:
    """V4L2 capture nodes from sysfs, for ``edged doctor`` (needs neither cv2 nor the device):
    one dict per /dev/videoN with ``index`` (N, usable as ``source.device``), ``device``,
    ``name`` (the driver's card name) and ``pi_hardware`` (True for the Pi's codec/ISP/CSI
    nodes, which are not cameras for this source: use ``type: picamera2``)."""
    cameras = []
    for node in sorted(SYS_V4L.glob("video*"), key=lambda p: int(p.name[5:] or 0)):
        try:
            name = (node / "name").read_text().strip()
        except OSError:
            name = "?"
        cameras.append({"index": int(node.name[5:]), "device": f"/dev/{node.name}",
                        "name": name, "pi_hardware": name.startswith(_PI_NODES)})
    return cameras


class OpenCVSource(Source):
    def __init__(self, config: OpenCVSourceConfig) -> None:
        self.config = config
        self.kind, self.target = classify_device(config.device)
        self.live = self.kind != "file"  # a video file is pulled like images
        self._cv2: ModuleType | None = None
        self._cap: Any = None
        self._bgr: np.ndarray | None = None
        self._rgb = np.empty((0, 0, 3), np.uint8)

    def open(self) -> None:
        cv2 = self._cv2 = import_cv2()
        if self.kind == "file" and not Path(str(self.target)).is_file():
            raise SourceError(f"source.device: video file {self.target} not found",
                              transient=False)
        cap = self._capture(cv2)
        if not cap.isOpened():
            cap.release()
            raise self._open_error()
        self._request(cv2, cap)
        self._cap = cap
        w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        log.info("opencv %s %s: %dx%d @ %.1f fps (%s backend)", self.kind, self.target, w, h,
                 cap.get(cv2.CAP_PROP_FPS), cap.getBackendName())

    def _capture(self, cv2: ModuleType) -> Any:
        if self.kind == "camera":
            api = cv2.CAP_V4L2 if hasattr(cv2, "CAP_V4L2") else cv2.CAP_ANY
            return cv2.VideoCapture(v4l2_index(self.target), api)
        if self.kind == "stream":
            ms = int(self.config.timeout_s * 1000)
            params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms]
            return cv2.VideoCapture(str(self.target), cv2.CAP_ANY, params)
        return cv2.VideoCapture(str(self.target))

    def _request(self, cv2: ModuleType, cap: Any) -> None:
        if self.kind != "camera":
            return
        c = self.config
        if c.fourcc:
            cap.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter_fourcc(*c.fourcc))
        if c.size:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, c.size[0])
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, c.size[1])
        if c.fps:
            cap.set(cv2.CAP_PROP_FPS, c.fps)

    def _open_error(self) -> SourceError:
        if self.kind == "file":
            return SourceError(f"source.device: video file {self.target} cannot be decoded by "
                               "OpenCV (unsupported container or codec?)", transient=False)
        if self.kind == "stream":
            return SourceError(f"stream {self.target} could not be opened (unreachable, or "
                               "no codec)", transient=True)
        found = [c["device"] + f" ({c['name']})" for c in list_cameras() if not c["pi_hardware"]]
        return SourceError(f"camera {self.target} could not be opened; V4L2 cameras found: "
                           f"{', '.join(found) or 'none'}", transient=True)

    def read(self) -> Frame | None:
        if self._cap is None or self._cv2 is None:
            raise SourceError("opencv source is not open", transient=True)
        ok, frame = self._cap.read(self._bgr)
        if not ok or frame is None:
            if self.kind != "file":
                raise SourceError(f"opencv {self.kind} {self.target}: no frame (disconnected "
                                  "or timed out)", transient=True)
            if not self.config.loop:
                return None
            self._rewind()
            ok, frame = self._cap.read(self._bgr)
            if not ok or frame is None:
                raise SourceError(f"video file {self.target}: no frames after rewinding",
                                  transient=False)
        capture_ns = monotonic_ns()
        self._bgr = frame
        return Frame(image=self._to_rgb(frame), capture_ns=capture_ns)

    def _rewind(self) -> None:
        assert self._cv2 is not None
        if not self._cap.set(self._cv2.CAP_PROP_POS_FRAMES, 0):
            self.close()  # some backends cannot seek: reopen instead
            self.open()

    def _to_rgb(self, frame: np.ndarray) -> np.ndarray:
        cv2 = self._cv2
        assert cv2 is not None
        if frame.dtype != np.uint8 or frame.ndim not in (2, 3) or frame.size == 0 or (
                frame.ndim == 3 and frame.shape[2] not in (3, 4)):
            raise SourceError(f"opencv {self.target}: garbage frame (shape {frame.shape}, "
                              f"dtype {frame.dtype})", transient=True)
        h, w = frame.shape[:2]
        if self._rgb.shape != (h, w, 3):
            self._rgb = np.empty((h, w, 3), np.uint8)
        code = {2: cv2.COLOR_GRAY2RGB, 3: cv2.COLOR_BGR2RGB, 4: cv2.COLOR_BGRA2RGB}[
            2 if frame.ndim == 2 else frame.shape[2]]
        cv2.cvtColor(frame, code, dst=self._rgb)
        return self._rgb

    def close(self) -> None:
        cap, self._cap = self._cap, None
        self._bgr = None
        if cap is not None:
            cap.release()

    def describe(self) -> str:
        return f"opencv:{self.config.device}"
