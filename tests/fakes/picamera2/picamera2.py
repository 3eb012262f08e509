"""The fake Picamera2 class (see the package docstring for what it mirrors)."""

from __future__ import annotations

import time
from concurrent.futures import TimeoutError
from typing import Any

import libcamera
import numpy as np

from picamera2 import _isp
from picamera2.fake import FakeSensor, World, world
from picamera2.request import CompletedRequest

_SENSOR_FORMAT = "SRGGB10_CSI2P"
_STREAM_KEYS = ("format", "size", "stride", "preserve_ar")


def _controls_for(sensor: FakeSensor, platform: str) -> dict[str, tuple[Any, Any, Any]]:
    full = (0, 0, *sensor.resolution)
    # a Pi 5 (PiSP) crops each output on its own: libcamera's rpi::ScalerCrops, one rectangle
    # per stream, whose advertised values are the aspect-keeping crops (updated at configure)
    per_stream = {"ScalerCrops": (full, full, None)} if platform == "pisp" else {}
    return {
        "ScalerCrop": ((0, 0, 64, 64), full, full),
        **per_stream,
        "ExposureTime": (26, 112015443, 20000),
        "AnalogueGain": (1.112, 16.0, 1.0),
        "AeEnable": (False, True, True),
        "AwbEnable": (False, True, True),
        "ExposureValue": (-8.0, 8.0, 0.0),
        "Brightness": (-1.0, 1.0, 0.0),
        "Contrast": (0.0, 32.0, 1.0),
        "Saturation": (0.0, 32.0, 1.0),
        "Sharpness": (0.0, 16.0, 1.0),
        "ColourGains": (0.0, 32.0, None),
        "NoiseReductionMode": (0, 4, 0),
        "FrameDurationLimits": (8333, 120000000, 33333),
        "AfMode": (0, 2, 0),
    }


class Picamera2:
    @staticmethod
    def global_camera_info() -> list[dict[str, Any]]:
        cams = [{"Model": s.model, "Location": s.location, "Rotation": s.rotation,
                 "Id": s.id.replace("i2c@1", f"i2c@{i + 1}"), "Num": i}
                for i, s in enumerate(world().cameras)]
        return sorted(cams, key=lambda c: ("/usb" not in c["Id"], c["Id"]), reverse=True)

    def __init__(self, camera_num: int = 0, verbose_console: int | None = None,
                 tuning: Any = None, allocator: Any = None) -> None:
        self.is_open = False
        self.started = False
        self.camera: FakeSensor | None = None
        info = self.global_camera_info()[camera_num]  # IndexError with no (such) camera
        w = world()
        self.camera_idx = info["Num"]
        self._id = info["Id"]
        if w.take("acquire_failures") or self.camera_idx in w.acquired:
            try:
                raise RuntimeError("Failed to acquire camera: Device or resource busy")
            except RuntimeError as e:
                raise RuntimeError("Camera __init__ sequence did not complete.") from e
        w.acquired.add(self.camera_idx)
        w.opened += 1
        self.camera = w.cameras[self.camera_idx]
        self.is_open = True
        self.sensor_resolution = self.camera.resolution
        self.sensor_format = _SENSOR_FORMAT
        self.camera_config: dict[str, Any] = {}
        self.controls: dict[str, Any] = {}
        self._ctrl_info = _controls_for(self.camera, w.platform)
        self._crops: dict[str, tuple[int, int, int, int]] = {}
        self._generation = 0
        self._slots: list[dict[str, np.ndarray]] = []
        self._free: list[int] = []
        self._stale_jobs = 0
        self._next_frame = 0.0
        self._cache: dict[tuple[Any, ...], np.ndarray] = {}

    # -- properties -------------------------------------------------------------------------
    @property
    def camera_properties(self) -> dict[str, Any]:
        if self.camera is None:
            return {}
        return {"Model": self.camera.model, "Location": self.camera.location,
                "Rotation": self.camera.rotation, "PixelArraySize": self.camera.resolution,
                "ScalerCropMaximum": (0, 0, *self.camera.resolution),
                "ColorFilterArrangement": 0}

    @property
    def camera_controls(self) -> dict[str, tuple[Any, Any, Any]]:
        return dict(self._ctrl_info)

    @property
    def sensor_modes(self) -> list[dict[str, Any]]:
        assert self.camera is not None
        return [{"format": _SENSOR_FORMAT, "unpacked": "SRGGB10", "bit_depth": 10, "size": m,
                 "fps": 120.0 if m[0] < 2000 else 30.0,
                 "crop_limits": (0, 0, *self.camera.resolution),
                 "exposure_limits": (9, None)} for m in self.camera.modes]

    # -- configurations -----------------------------------------------------------------------
    @staticmethod
    def _stream(defaults: dict[str, Any], updates: dict[str, Any] | None) -> dict[str, Any] | None:
        if updates is None:
            return None
        for key, value in updates.items():
            if key not in _STREAM_KEYS:
                raise ValueError(f"Bad key {key!r}: valid stream configuration keys are "
                                 f"{_STREAM_KEYS}")
            defaults[key] = value
        w, h = defaults["size"]
        defaults["size"] = (w - w % 2, h - h % 2)  # align_stream(optimal=False)
        return defaults

    def _make(self, use_case: str, main_default: dict[str, Any], main: dict[str, Any],
              lores: dict[str, Any] | None, raw: dict[str, Any] | None, transform: Any,
              colour_space: Any, buffer_count: int, controls: dict[str, Any], display: Any,
              encode: Any, queue: bool, sensor: dict[str, Any] | None) -> dict[str, Any]:
        if self.camera is None:
            raise RuntimeError("Camera not opened")
        m = self._stream(main_default, main)
        assert m is not None
        lo = self._stream({"format": "YUV420", "size": m["size"], "preserve_ar": False}, lores)
        rw = None if raw is None else {"format": self.sensor_format, "size": m["size"], **raw}
        return {"use_case": use_case, "transform": transform, "colour_space": colour_space,
                "buffer_count": buffer_count, "queue": queue, "main": m, "lores": lo, "raw": rw,
                "controls": dict(controls), "sensor": sensor, "display": display,
                "encode": encode}

    def create_preview_configuration(
            self, main: dict[str, Any] = {}, lores: dict[str, Any] | None = None,  # noqa: B006
            raw: dict[str, Any] | None = {}, transform: Any = None,  # noqa: B006
            colour_space: Any = None, buffer_count: int = 4,
            controls: dict[str, Any] = {}, display: Any = "main",  # noqa: B006
            encode: Any = "main", queue: bool = True, sensor: dict[str, Any] | None = {},  # noqa: B006
            use_case: str = "preview") -> dict[str, Any]:
        controls = {"NoiseReductionMode": 1, "FrameDurationLimits": (100, 83333)} | controls
        return self._make(use_case, {"format": "XBGR8888", "size": (640, 480), "preserve_ar": True},
                          main, lores, raw, transform or libcamera.Transform(),
                          colour_space or libcamera.ColorSpace.Sycc(), buffer_count, controls,
                          display, encode, queue, sensor)

    def create_still_configuration(
            self, main: dict[str, Any] = {}, lores: dict[str, Any] | None = None,  # noqa: B006
            raw: dict[str, Any] | None = {}, transform: Any = None,  # noqa: B006
            colour_space: Any = None, buffer_count: int = 1,
            controls: dict[str, Any] = {}, display: Any = None,  # noqa: B006
            encode: Any = None, queue: bool = True, sensor: dict[str, Any] | None = {},  # noqa: B006
            use_case: str = "still") -> dict[str, Any]:
        controls = {"NoiseReductionMode": 2, "FrameDurationLimits": (100, 1000000000)} | controls
        return self._make(use_case, {"format": "BGR888", "size": self.sensor_resolution,
                                     "preserve_ar": True},
                          main, lores, raw, transform or libcamera.Transform(),
                          colour_space or libcamera.ColorSpace.Sycc(), buffer_count, controls,
                          display, encode, queue, sensor)

    def create_video_configuration(
            self, main: dict[str, Any] = {}, lores: dict[str, Any] | None = None,  # noqa: B006
            raw: dict[str, Any] | None = {}, transform: Any = None,  # noqa: B006
            colour_space: Any = None, buffer_count: int = 6,
            controls: dict[str, Any] = {}, display: Any = "main",  # noqa: B006
            encode: Any = "main", queue: bool = True, sensor: dict[str, Any] | None = {},  # noqa: B006
            use_case: str = "video") -> dict[str, Any]:
        controls = {"NoiseReductionMode": 3, "FrameDurationLimits": (33333, 33333)} | controls
        config = self._make(use_case, {"format": "XBGR8888", "size": (1280, 720),
                                       "preserve_ar": True},
                            main, lores, raw, transform or libcamera.Transform(), colour_space,
                            buffer_count, controls, display, encode, queue, sensor)
        if config["colour_space"] is None:
            small = config["main"]["size"][0] < 1280 or config["main"]["size"][1] < 720
            config["colour_space"] = (libcamera.ColorSpace.Smpte170m() if small
                                      else libcamera.ColorSpace.Rec709())
        return config

    # -- configure / start / stop / close ---------------------------------------------------
    def _check_stream(self, stream: Any, name: str) -> None:
        if type(stream) is not dict:
            raise RuntimeError(name + " stream should be a dictionary")
        fmt = stream.get("format")
        if name != "raw" and fmt not in _isp.RGB_FORMATS and fmt not in _isp.YUV_FORMATS:
            raise RuntimeError(f"Bad format {fmt} in stream {name}")
        size = stream.get("size")
        if type(size) is not tuple or len(size) != 2:
            raise RuntimeError("size in " + name + " stream should be (width, height)")
        if size[0] % 2 or size[1] % 2:
            raise RuntimeError("width and height should be even")

    def _check(self, config: dict[str, Any]) -> None:
        if not isinstance(config["colour_space"], libcamera.ColorSpace):
            raise RuntimeError("Colour space has incorrect type")
        if not isinstance(config["transform"], libcamera.Transform):
            raise RuntimeError("Transform has incorrect type")
        bad = set(config.get("sensor") or {}) - {"bit_depth", "output_size"}
        if bad:
            raise RuntimeError(f"Unexpected keys {bad} in sensor configuration")
        self._check_stream(config["main"], "main")
        if config["lores"] is not None:
            self._check_stream(config["lores"], "lores")
            (mw, mh), (lw, lh) = config["main"]["size"], config["lores"]["size"]
            if lw > mw or lh > mh:
                raise RuntimeError("lores stream dimensions may not exceed main stream")
            if world().platform == "vc4" and config["lores"]["format"] not in _isp.YUV_FORMATS:
                raise RuntimeError("lores stream must be YUV")
        self._check_controls(config["controls"])

    def _check_controls(self, controls: dict[str, Any]) -> None:
        for name in controls:
            if name != "FrameRate" and name not in self._ctrl_info:
                raise RuntimeError(f"Control {name} is not advertised by libcamera")

    def configure(self, camera_config: Any = None) -> None:
        if self.started:
            raise RuntimeError("Camera must be stopped before configuring")
        if camera_config is None or isinstance(camera_config, str):
            camera_config = {"still": self.create_still_configuration,
                             "video": self.create_video_configuration}.get(
                camera_config or "preview", self.create_preview_configuration)()
        if not isinstance(camera_config, dict):
            raise TypeError("Invalid type for `camera_config` given")
        config = {k: (dict(v) if isinstance(v, dict) else v) for k, v in camera_config.items()}
        self._check(config)
        align = 32 if world().platform == "vc4" else 64
        for name in ("main", "lores"):
            s = config[name]
            if s is not None:
                s["stride"] = _isp.stride_for(s["format"], s["size"][0], align)
                s["framesize"] = _isp.frame_size(s["format"], s["size"][1], s["stride"])
        config["sensor"] = {"bit_depth": 10, "output_size": self._pick_mode(config)}
        self.camera_config = config
        self._default_crops(config)
        self.controls = {"ScalerCrop": self._crops["main"], **config["controls"]}
        self._apply_crop_controls(config["controls"])
        self._allocate(config)
        world().last_config = config

    def _default_crops(self, config: dict[str, Any]) -> None:
        """The ISP crops libcamera (and picamera2) choose at configure, per platform.

        VC4 has one crop for both outputs: the sensor image cut to the largest output's aspect,
        centred. PiSP crops each output alone; picamera2 then sets rpi::ScalerCrops to the
        aspect-keeping crop for streams with ``preserve_ar`` and to the whole field of view
        (squeezed) for the others.
        """
        assert self.camera is not None
        full = (0, 0, *self.camera.resolution)
        streams = {n: config[n] for n in ("main", "lores") if config[n] is not None}
        if world().platform == "vc4":
            crop = _isp.aspect_crop(full, config["main"]["size"])  # main is the largest
            self._crops = {n: crop for n in streams}
        else:
            self._crops = {n: _isp.aspect_crop(full, s["size"]) if s.get("preserve_ar") else full
                           for n, s in streams.items()}
            info = self._ctrl_info["ScalerCrops"]
            crops = list(self._crops.values())
            self._ctrl_info["ScalerCrops"] = (crops[0], crops[-1], info[2])

    def _apply_crop_controls(self, controls: dict[str, Any]) -> None:
        """ScalerCrop: one rectangle for every output, scaled to each output as it is (aspect
        or not); ScalerCrops (PiSP): one rectangle per output, in stream order."""
        if "ScalerCrop" in controls:
            crop = tuple(int(v) for v in controls["ScalerCrop"])
            self._crops = {n: crop for n in self._crops}  # type: ignore[misc]
        if "ScalerCrops" in controls:
            rects = [tuple(int(v) for v in r) for r in controls["ScalerCrops"]]
            if not rects or any(len(r) != 4 for r in rects):
                raise RuntimeError("ScalerCrops needs one (x, y, width, height) per stream")
            for i, n in enumerate(self._crops):
                self._crops[n] = rects[min(i, len(rects) - 1)]  # type: ignore[assignment]
        if "main" in self._crops:
            self.controls["ScalerCrop"] = self._crops["main"]

    def camera_configuration(self) -> dict[str, Any]:
        return self.camera_config

    def stream_configuration(self, name: str = "main") -> dict[str, Any]:
        return self.camera_config[name]  # type: ignore[no-any-return]

    def _pick_mode(self, config: dict[str, Any]) -> tuple[int, int]:
        assert self.camera is not None
        want = (config.get("sensor") or {}).get("output_size") or config["main"]["size"]
        bigger = [m for m in self.camera.modes if m[0] >= want[0] and m[1] >= want[1]]
        return min(bigger) if bigger else max(self.camera.modes)

    def _allocate(self, config: dict[str, Any]) -> None:
        self._generation += 1
        names = [n for n in ("main", "lores") if config[n] is not None]
        self._slots = [{n: np.empty(config[n]["framesize"], np.uint8) for n in names}
                       for _ in range(config["buffer_count"])]
        self._free = list(range(len(self._slots)))
        self._cache = {}

    def start(self, config: Any = None, show_preview: Any = False) -> None:
        if not self.camera_config and config is None:
            config = "preview"
        if config is not None:
            self.configure(config)
        self.started = True
        self._next_frame = time.monotonic()

    def stop(self) -> None:
        if self.started:
            self.started = False
            self._stale_jobs = 0
            self._generation += 1
            self._free = list(range(len(self._slots)))

    def close(self) -> None:
        if not self.is_open:
            return
        self.stop()
        w = world()
        w.acquired.discard(self.camera_idx)
        w.closed += 1
        self.is_open = False
        self.camera = None
        self.camera_config = {}
        if w.take("close_failures"):
            raise RuntimeError("Failed to release camera")

    def __enter__(self) -> Picamera2:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def set_controls(self, controls: dict[str, Any]) -> None:
        self._check_controls(controls)
        self.controls.update(controls)
        self._apply_crop_controls(controls)
        world().last_controls = dict(self.controls)

    def cancel_all_and_flush(self) -> None:
        self._stale_jobs = 0

    # -- capture --------------------------------------------------------------------------
    def capture_request(self, wait: Any = None, signal_function: Any = None,
                        flush: Any = None) -> CompletedRequest:
        if signal_function is not None or wait is False:
            raise NotImplementedError("fake picamera2: asynchronous capture is not modelled")
        timeout = None if wait in (None, True) else float(wait)
        w = world()
        while self._stale_jobs and self._frame_ready(w):
            self._stale_jobs -= 1  # an abandoned job takes this frame and never releases it
            self._deliver(w)
            w.leaked += 1
        if not self._frame_ready(w) or w.take("timeouts"):
            if timeout is None:
                raise AssertionError("fake picamera2: capture_request() with no timeout would "
                                     "block forever here (no frame is coming)")
            time.sleep(timeout)
            self._stale_jobs += 1
            raise TimeoutError()
        return self._deliver(w)

    def _frame_ready(self, w: World) -> bool:
        present = any(c is self.camera for c in w.cameras)
        return self.started and present and bool(self._free)

    def _deliver(self, w: World) -> CompletedRequest:
        if w.frame_interval_s:
            delay = self._next_frame - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            self._next_frame = max(self._next_frame, time.monotonic()) + w.frame_interval_s
        slot = self._free.pop(0)
        buffers = self._slots[slot]
        blank, short = w.take("blank_frames"), w.take("short_frames")
        mapped: dict[str, np.ndarray] = {}
        for name, buf in buffers.items():
            if blank:
                buf.fill(0)
            else:
                np.copyto(buf, self._rendered(w, name))
            mapped[name] = buf[: buf.size // 2] if short else buf
        md = self._metadata(w)
        request = CompletedRequest(mapped, md, self)
        request._slot = (slot, self._generation)  # type: ignore[attr-defined]
        with w.lock:
            w.frames += 1
            w.outstanding += 1
            w.last_metadata = md
        return request

    def _rendered(self, w: World, name: str) -> np.ndarray:
        assert self.camera is not None
        cfg = self.camera_config
        stream, crop = cfg[name], self._crops[name]
        key = (name, w.scene_version, crop, stream["format"], stream["size"], stream["stride"])
        if key not in self._cache:
            rgb = _isp.render(w.scene, crop, self.camera.resolution, cfg["transform"], stream)
            self._cache[key] = _isp.pack(rgb, stream, cfg["colour_space"])
        return self._cache[key]

    def _metadata(self, w: World) -> dict[str, Any]:
        duration = int(w.frame_interval_s * 1e6) or 33333
        return {"SensorTimestamp": time.monotonic_ns() - 1_000_000, "ExposureTime": 20000,
                "AnalogueGain": 1.0, "DigitalGain": 1.0, "FrameDuration": duration,
                "ScalerCrop": self._crops["main"], "Lux": 400.0,
                **({"ScalerCrops": list(self._crops.values())}
                   if "ScalerCrops" in self._ctrl_info else {}),
                "ColourTemperature": 4500, "SensorTemperature": 40.0}

    def _return_buffers(self, request: CompletedRequest) -> None:
        slot, generation = request._slot  # type: ignore[attr-defined]
        w = world()
        with w.lock:
            w.outstanding -= 1
        if generation == self._generation and self.is_open:
            self._free.append(slot)
