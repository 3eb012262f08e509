"""Raspberry Pi camera via picamera2 (apt python3-picamera2), scaled by the ISP to the model size.

The pipeline sets ``target_size`` (model input width, height) before ``open``; the stream is
configured at that size so the CPU never resizes a full frame. ``stream`` picks the ISP output:

- ``main`` (default): RGB at model size. picamera2 names formats by DRM (little-endian)
  convention, so ``BGR888`` arrays are in R,G,B order and are copied as they are.
- ``lores``: the second ISP output, which a Pi 4 (VC4) only delivers as YUV420; converted to
  RGB here in integer arithmetic (``edged.sources.yuv``), honouring full vs limited range.

Per frame: ``capture_request`` -> ``MappedArray`` (zero-copy view of the camera buffer) -> one
copy (or one conversion) into a buffer allocated at ``open`` -> ``release`` (always, even on
errors). ``capture_ns`` is the request's ``SensorTimestamp`` (ns, CLOCK_MONOTONIC).

picamera2 is imported in ``open`` only, so this module imports on any machine.
"""

from __future__ import annotations

import logging
from types import ModuleType
from typing import Any, Literal

import numpy as np
from pydantic import Field, model_validator

from edged.errors import SourceError
from edged.frames import Frame, monotonic_ns
from edged.sources.base import Source, SourceConfigBase
from edged.sources.yuv import Yuv420ToRgb, YuvEncoding, YuvRange

log = logging.getLogger(__name__)

INSTALL_HINT = (
    "picamera2 is not importable. On Raspberry Pi OS install it with apt "
    "(`sudo apt install python3-picamera2`; it is not pip-installable), and if edged runs in a "
    "venv, create the venv with `python3 -m venv --system-site-packages` so it can see the "
    "apt packages (picamera2, libcamera).")

RgbFormat = Literal["BGR888", "RGB888", "XBGR8888", "XRGB8888"]
#: channel indices that turn a mapped pixel into R,G,B (picamera2's inverted naming)
_RGB_ORDER: dict[str, tuple[list[int], int]] = {
    "BGR888": ([0, 1, 2], 3), "RGB888": ([2, 1, 0], 3),
    "XBGR8888": ([0, 1, 2], 4), "XRGB8888": ([2, 1, 0], 4),
}


class Picamera2SourceConfig(SourceConfigBase):
    type: Literal["picamera2"]
    camera: int = Field(0, ge=0, description="camera index from Picamera2.global_camera_info()")
    stream: Literal["main", "lores"] = Field(
        "main", description="main: RGB at model size from the ISP; lores: YUV420 converted")
    format: RgbFormat | Literal["YUV420"] | None = Field(
        None, description="stream pixel format; default BGR888 (R,G,B bytes) for main, "
                          "YUV420 for lores (the only lores format on a Pi 4)")
    colour_space: Literal["sycc", "smpte170m", "rec709"] = Field(
        "sycc", description="YUV colour space: sycc is full range (picamera2's preview default);"
                            " smpte170m and rec709 are limited range (its video defaults)")
    size: tuple[int, int] | None = Field(None, description="sensor mode [width, height]")
    framerate: float | None = Field(None, gt=0)
    hflip: bool = False
    vflip: bool = False
    buffer_count: int = Field(4, ge=1, le=16)
    controls: dict[str, Any] = Field(default_factory=dict)
    crop: tuple[float, float, float, float] | None = Field(
        None, description="region of interest [x, y, width, height], normalized 0..1")
    timeout_s: float = Field(2.0, gt=0, description="no frame for this long = camera failure")
    blank_frames_limit: int = Field(
        30, ge=0, description="all-black frames are dropped; this many in a row = camera "
                              "failure (0 = deliver them)")

    @model_validator(mode="after")
    def _check(self) -> Picamera2SourceConfig:
        if self.crop is not None:
            x, y, w, h = self.crop
            if not (0 <= x < 1 and 0 <= y < 1 and 0 < w <= 1 - x and 0 < h <= 1 - y):
                raise ValueError("crop must be [x, y, width, height] inside 0..1 with width, "
                                 f"height > 0; got {list(self.crop)}")
        return self

    def stream_format(self) -> str:
        return self.format or ("YUV420" if self.stream == "lores" else "BGR888")


def import_picamera2() -> tuple[ModuleType, ModuleType]:
    """(picamera2, libcamera), or SourceError(transient=False) with install instructions."""
    try:
        import libcamera
        import picamera2
    except ImportError as exc:
        raise SourceError(f"{INSTALL_HINT} ({exc})", transient=False) from None
    return picamera2, libcamera


def list_cameras() -> list[dict[str, Any]]:
    """Cameras libcamera sees, for ``edged doctor``: one dict per camera with keys
    ``index`` (the ``source.camera`` value), ``model`` (e.g. "imx708"), ``id`` (the libcamera id,
    showing how it is connected), ``location`` and ``rotation`` (when known).

    Raises SourceError(transient=False) with install instructions when picamera2 is missing.
    """
    picamera2, _ = import_picamera2()
    try:
        infos = picamera2.Picamera2.global_camera_info()
    except RuntimeError as exc:  # libcamera failed to start its camera manager
        raise SourceError(f"libcamera could not list cameras: {exc}", transient=True) from None
    return [{"index": i, "model": info.get("Model", "?"), "id": info.get("Id", "?"),
             "location": info.get("Location"), "rotation": info.get("Rotation")}
            for i, info in enumerate(infos)]


def describe_cameras(cameras: list[dict[str, Any]]) -> str:
    if not cameras:
        return "no cameras found"
    return "cameras found: " + ", ".join(f"{c['index']}: {c['model']} ({c['id']})"
                                         for c in cameras)


def even_size(size: tuple[int, int]) -> tuple[int, int]:
    """The ISP produces even sizes only: round each side up (the extra pixel is cropped off)."""
    return size[0] + size[0] % 2, size[1] + size[1] % 2


def scaler_crop(crop: tuple[float, float, float, float], full: tuple[int, int, int, int]
                ) -> tuple[int, int, int, int]:
    """A normalized ROI as a libcamera ScalerCrop rectangle inside the full field of view."""
    x0, y0, fw, fh = full
    x, y, w, h = crop
    return (x0 + round(x * fw), y0 + round(y * fh), max(1, round(w * fw)), max(1, round(h * fh)))


def aspect_crop(region: tuple[int, int, int, int], aspect: float) -> tuple[int, int, int, int]:
    """The largest centred part of ``region`` with width / height = ``aspect`` (even sizes),
    as libcamera's Raspberry Pi pipelines compute their default ISP crop."""
    x, y, w, h = region
    cw, ch = (round(h * aspect), h) if w / h > aspect else (w, round(w / aspect))
    cw, ch = max(2, cw - cw % 2), max(2, ch - ch % 2)
    return x + (w - cw) // 2, y + (h - ch) // 2, cw, ch


def fit_size(region: tuple[int, int, int, int], target: tuple[int, int]) -> tuple[int, int]:
    """The even size, within ``target``, that shows ``region`` at its own aspect (letterbox)."""
    _, _, w, h = region
    s = min(target[0] / w, target[1] / h)
    return even_size((max(2, round(w * s)), max(2, round(h * s))))


def plan_stream(mode: str, roi: tuple[int, int, int, int], target: tuple[int, int]
                ) -> tuple[tuple[int, int, int, int], tuple[int, int]]:
    """(ISP crop in sensor coordinates, output size) for a model.resize mode.

    stretch: the whole region squeezed to the model size; center-crop: the ISP crops the
    region to the model's aspect; letterbox: the whole region at its aspect, sized to fit
    (the pipeline adds the bars).
    """
    if mode == "center-crop":
        return aspect_crop(roi, target[0] / target[1]), target
    if mode == "letterbox":
        return roi, fit_size(roi, target)
    return roi, target


def fov_of(crop: tuple[int, int, int, int], full: tuple[int, int, int, int]
           ) -> tuple[float, float, float, float]:
    """(scale_x, scale_y, offset_x, offset_y): frame-normalized -> sensor-FOV-normalized."""
    fx, fy, fw, fh = full
    x, y, w, h = crop
    return w / fw, h / fh, (x - fx) / fw, (y - fy) / fh


def yuv_kind(colour_space: Any) -> tuple[YuvEncoding, YuvRange]:
    """Encoding and range of a libcamera ColorSpace (sYCC when unknown)."""
    encoding: YuvEncoding = "rec601"
    yuv_range: YuvRange = "full"
    if colour_space is not None:
        if getattr(colour_space.ycbcrEncoding, "name", "") == "Rec709":
            encoding = "rec709"
        if getattr(colour_space.range, "name", "") == "Limited":
            yuv_range = "limited"
    return encoding, yuv_range


class Picamera2Source(Source):
    def __init__(self, config: Picamera2SourceConfig) -> None:
        self.config = config
        self._cam: Any = None
        self._mapped_array: Any = None
        self._out = np.empty((0, 0, 3), np.uint8)
        self._image = self._out
        self._yuv: Yuv420ToRgb | None = None
        self._stream: dict[str, Any] = {}
        self._full: tuple[int, int, int, int] = (0, 0, 1, 1)  # ScalerCrop maximum
        self._crop: tuple[int, int, int, int] | None = None

    # -- open --------------------------------------------------------------------------------
    def open(self) -> None:
        picamera2, libcamera = import_picamera2()
        self._mapped_array = picamera2.MappedArray
        index = self.config.camera
        cameras = list_cameras()
        if not cameras:
            raise SourceError("picamera2: no cameras found (camera unplugged, ribbon cable "
                              "loose, or camera not enabled); retrying", transient=True)
        if index >= len(cameras):
            raise SourceError(f"source.camera: camera {index} does not exist; "
                              f"{describe_cameras(cameras)}", transient=False)
        try:
            cam = picamera2.Picamera2(index)
        except IndexError:  # unplugged between listing and opening
            raise SourceError(f"picamera2: camera {index} disappeared", transient=True) from None
        except RuntimeError as exc:
            cause = f" ({exc.__cause__})" if exc.__cause__ else ""
            raise SourceError(f"picamera2: camera {index} could not be acquired: {exc}{cause}. "
                              "Is another process (rpicam-*, another edged) using it?",
                              transient=True) from None
        try:
            self._configure(cam, libcamera)
        except BaseException:
            _close_quietly(cam)
            raise
        self._cam = cam

    def _configure(self, cam: Any, libcamera: ModuleType) -> None:
        c = self.config
        target = self.target_size or c.size or (640, 480)
        self._full = tuple(cam.camera_controls["ScalerCrop"][1])
        roi = scaler_crop(c.crop, self._full) if c.crop is not None else self._full
        crop, want = plan_stream(self.resize_mode, roi, target)
        size = even_size(want)
        fmt = c.stream_format()
        streams: dict[str, Any] = {"main": {"format": fmt, "size": size}, "lores": None}
        if c.stream == "lores":
            streams = {"main": {"format": "YUV420", "size": size},
                       "lores": {"format": fmt, "size": size}}
        colour_space = {"sycc": libcamera.ColorSpace.Sycc, "smpte170m":
                        libcamera.ColorSpace.Smpte170m, "rec709": libcamera.ColorSpace.Rec709}
        controls = dict(c.controls)
        if c.framerate:
            controls["FrameRate"] = c.framerate
        try:
            config = cam.create_preview_configuration(
                main=streams["main"], lores=streams["lores"], raw=None,
                transform=libcamera.Transform(hflip=int(c.hflip), vflip=int(c.vflip)),
                colour_space=colour_space[c.colour_space](), buffer_count=c.buffer_count,
                controls=controls, display=None, encode=None, queue=False,
                sensor={"output_size": tuple(c.size)} if c.size else {})
            cam.configure(config)
            cam.set_controls(self._crop_controls(cam, crop))
        except (RuntimeError, ValueError, TypeError, KeyError) as exc:
            raise SourceError(self._config_error(cam, exc), transient=False) from None
        self._prepare(cam.camera_configuration(), want)
        try:
            cam.start()
        except RuntimeError as exc:
            raise SourceError(f"picamera2: camera failed to start: {exc}", transient=True) \
                from None
        s = self._stream
        log.info("picamera2 camera %d: %s %s %dx%d stride %d, sensor mode %s", c.camera,
                 c.stream, s["format"], *s["size"], s["stride"],
                 (cam.camera_configuration().get("sensor") or {}).get("output_size"))

    def _crop_controls(self, cam: Any, crop: tuple[int, int, int, int]) -> dict[str, Any]:
        """The ISP crop, set explicitly (never left to defaults): a Pi 5 (PiSP) crops each
        output on its own (``ScalerCrops``, one per stream); a Pi 4 (VC4) has one crop for
        both outputs (``ScalerCrop``) and scales it to each output as it is, aspect or not."""
        self._crop = crop
        if "ScalerCrops" in cam.camera_controls:
            return {"ScalerCrops": [crop, crop] if self.config.stream == "lores" else [crop]}
        return {"ScalerCrop": crop}

    def fov_transform(self) -> tuple[float, float, float, float] | None:
        """Maps frame-normalized coordinates to the sensor's field of view (the ScalerCrop
        maximum): (scale_x, scale_y, offset_x, offset_y); None before open."""
        return fov_of(self._crop, self._full) if self._crop is not None else None

    def _config_error(self, cam: Any, exc: Exception) -> str:
        msg = f"picamera2 rejected the configuration of source (stream {self.config.stream}, " \
              f"format {self.config.stream_format()}): {exc}"
        if "Control" in str(exc):
            msg += "; controls this camera accepts: " + ", ".join(sorted(cam.camera_controls))
        if "lores stream must be YUV" in str(exc):
            msg += "; on a Pi 4 use format YUV420 for lores, or stream: main"
        return msg

    def _prepare(self, camera_config: dict[str, Any], want: tuple[int, int]) -> None:
        stream = dict(camera_config[self.config.stream])
        w, h = stream["size"]
        self._stream = stream
        self._out = np.empty((h, w, 3), np.uint8)
        # An odd model size was rounded up to even: drop the extra column/row, no resize.
        self._image = self._out[:want[1], :want[0]] if (w, h) == even_size(want) else self._out
        self._yuv = None
        if stream["format"] in ("YUV420", "YVU420"):
            encoding, yuv_range = yuv_kind(camera_config.get("colour_space"))
            self._yuv = Yuv420ToRgb(w, h, encoding, yuv_range)
        elif stream["format"] not in _RGB_ORDER:
            raise SourceError(f"picamera2: stream format {stream['format']} is not supported; "
                              f"use one of {', '.join(_RGB_ORDER)} or YUV420", transient=False)

    # -- read --------------------------------------------------------------------------------
    def read(self) -> Frame:
        """The next frame. All-black frames are dropped (never published); after
        ``blank_frames_limit`` of them in a row the camera counts as failed."""
        return self._read(self._out, self._image)

    def read_into(self, out: np.ndarray) -> Frame:
        """The ISP already delivers the model's size: the camera buffer is copied (or
        converted) straight into the pipeline's input slot, so a frame costs one pass."""
        if out.shape == self._out.shape == self._image.shape and out.dtype == np.uint8:
            return self._read(out, out)
        return self.read()

    def _read(self, dst: np.ndarray, image: np.ndarray) -> Frame:
        if self._cam is None:
            raise SourceError("picamera2 source is not open", transient=True)
        limit = self.config.blank_frames_limit
        for _ in range(max(1, limit)):
            capture_ns, blank = self._capture(dst)
            if not limit or not blank:
                return Frame(image=image, capture_ns=capture_ns)
        raise SourceError(f"picamera2: {limit} all-black frames in a row (sensor not "
                          "streaming?)", transient=True)

    def _capture(self, dst: np.ndarray) -> tuple[int, bool]:
        """Copy one frame into ``dst``: (sensor timestamp, all-zero?)."""
        cam, timeout = self._cam, self.config.timeout_s
        try:
            request = cam.capture_request(wait=timeout)
        except TimeoutError:
            cam.cancel_all_and_flush()  # else the abandoned job would swallow a later frame
            raise SourceError(f"picamera2: no frame within {timeout:g}s (camera disconnected "
                              "or stalled)", transient=True) from None
        except RuntimeError as exc:
            raise SourceError(f"picamera2: capture failed: {exc}", transient=True) from None
        try:
            metadata = request.get_metadata()
            self._note_crop(metadata)
            with self._mapped_array(request, self.config.stream) as mapped:
                blank = self._copy(mapped.array, dst)
        except ValueError as exc:  # a buffer that cannot be shaped as configured
            raise SourceError(f"picamera2: garbage frame ({exc})", transient=True) from None
        finally:
            request.release()
        return int(metadata.get("SensorTimestamp") or monotonic_ns()), blank

    def _note_crop(self, metadata: dict[str, Any]) -> None:
        """The crop the ISP really applied (libcamera aligns and clamps what was asked)."""
        crops = metadata.get("ScalerCrops")
        i = 1 if self.config.stream == "lores" else 0
        crop = crops[i] if crops and len(crops) > i else metadata.get("ScalerCrop")
        if crop is not None and len(crop) == 4:
            self._crop = tuple(int(v) for v in crop)  # type: ignore[assignment]

    def _copy(self, array: np.ndarray, out: np.ndarray) -> bool:
        """Copy/convert the mapped frame into ``out``; True if its bytes are all zero (a
        dead frame; limited-range black is Y=16, so black scenes are not blank)."""
        s = self._stream
        w, h = s["size"]
        if self._yuv is not None:
            if array.shape != (h * 3 // 2, s["stride"]):
                raise ValueError(f"YUV420 frame shaped {array.shape}, expected "
                                 f"{(h * 3 // 2, s['stride'])}")
            self._yuv.convert(array, s["stride"], out)
            return all_zero(array)
        order, bpp = _RGB_ORDER[s["format"]]
        if array.shape != (h, w, bpp):
            raise ValueError(f"{s['format']} frame shaped {array.shape}, expected {(h, w, bpp)}")
        if order == [0, 1, 2]:
            np.copyto(out, array[:, :, :3])
        else:  # per channel: fancy indexing would make a temporary copy
            for dst, src in enumerate(order):
                out[:, :, dst] = array[:, :, src]
        return all_zero(out)

    # -- close -------------------------------------------------------------------------------
    def close(self) -> None:
        cam, self._cam = self._cam, None
        if cam is not None:
            _close_quietly(cam)

    def describe(self) -> str:
        return f"picamera2:{self.config.camera}:{self.config.stream}"


def all_zero(a: np.ndarray) -> bool:
    """Every byte zero. A live frame is told apart by a sparse sample (every 7th row) before
    the full scan, so the common case reads ~1/7 of the frame."""
    return not a[::7].any() and not a.any()


def _close_quietly(cam: Any) -> None:
    """Stop and close; errors are logged, not raised (the camera may already be gone)."""
    for step in (cam.stop, cam.close):
        try:
            step()
        except Exception as exc:  # noqa: BLE001 - libcamera raises plain RuntimeErrors here
            log.debug("picamera2 %s failed: %s", step.__name__, exc)
