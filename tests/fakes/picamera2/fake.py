"""The fake camera world: attached sensors, the scene they see, injected faults, observations.

In-process tests mutate ``WORLD`` directly. A daemon subprocess reads a JSON state file named
by ``$FAKE_PICAMERA2_STATE`` whenever the file changes (checked on every camera call), so a
test can unplug and replug the camera while the daemon runs. JSON keys (all optional):

  {"cameras": 1,                  # number of attached sensors (0 = none)
   "scene": "/path/image.jpg",    # what the sensor sees (default: a colour gradient)
   "frame_interval_s": 0.02,      # pace frames like a real sensor
   "timeouts": 0, "blank_frames": 0, "short_frames": 0, "acquire_failures": 0,
   "platform": "vc4"}             # or "pisp" (Pi 5)

Counters (timeouts, blank_frames...) are consumed as faults fire and reset when the file
changes again.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


@dataclass
class FakeSensor:
    model: str = "imx708"
    id: str = "/base/soc/i2c0mux/i2c@1/imx708@1a"
    location: int = 2
    rotation: int = 180
    resolution: tuple[int, int] = (4608, 2592)
    modes: list[tuple[int, int]] = field(
        default_factory=lambda: [(1536, 864), (2304, 1296), (4608, 2592)])


def default_scene() -> np.ndarray:
    """A smooth colour gradient: every region distinct, so crops and flips are visible."""
    h, w = 240, 320
    ys, xs = np.mgrid[0:h, 0:w]
    scene = np.empty((h, w, 3), np.uint8)
    scene[..., 0] = (xs * 255 // (w - 1)).astype(np.uint8)
    scene[..., 1] = (ys * 255 // (h - 1)).astype(np.uint8)
    scene[..., 2] = 96
    return scene


@dataclass
class World:
    cameras: list[FakeSensor] = field(default_factory=lambda: [FakeSensor()])
    platform: str = "vc4"
    scene: np.ndarray = field(default_factory=default_scene)
    scene_version: int = 0
    frame_interval_s: float = 0.0
    # faults, consumed one per event
    acquire_failures: int = 0
    timeouts: int = 0
    blank_frames: int = 0
    short_frames: int = 0
    close_failures: int = 0
    # observations
    opened: int = 0
    closed: int = 0
    frames: int = 0
    outstanding: int = 0
    leaked: int = 0
    acquired: set[int] = field(default_factory=set)
    last_config: dict[str, Any] | None = None
    last_controls: dict[str, Any] = field(default_factory=dict)
    last_metadata: dict[str, Any] | None = None
    lock: threading.RLock = field(default_factory=threading.RLock)

    def set_scene(self, image: np.ndarray) -> None:
        self.scene = np.ascontiguousarray(image, dtype=np.uint8)
        self.scene_version += 1

    def unplug(self) -> None:
        self.cameras = []

    def plug(self, count: int = 1) -> None:
        self.cameras = [FakeSensor() for _ in range(count)]

    def take(self, fault: str) -> bool:
        """Consume one pending fault of this kind; True if one fired."""
        with self.lock:
            left = getattr(self, fault)
            if left > 0:
                setattr(self, fault, left - 1)
                return True
            return False


WORLD = World()
_state_mtime: float | None = None


def reset() -> World:
    """Start a test from a fresh world (one imx708 attached, no faults)."""
    global WORLD, _state_mtime
    WORLD = World()
    _state_mtime = None
    return WORLD


def world() -> World:
    """The current world, refreshed from $FAKE_PICAMERA2_STATE if that file changed."""
    global _state_mtime
    path = os.environ.get("FAKE_PICAMERA2_STATE")
    if path:
        try:
            mtime = os.stat(path).st_mtime_ns
        except FileNotFoundError:
            return WORLD
        if mtime != _state_mtime:
            _state_mtime = mtime
            _apply_state(json.loads(Path(path).read_text()))
    return WORLD


def _apply_state(state: dict[str, Any]) -> None:
    w = WORLD
    if "cameras" in state:
        w.plug(int(state["cameras"]))
    if state.get("scene"):
        from PIL import Image

        with Image.open(state["scene"]) as im:
            w.set_scene(np.asarray(im.convert("RGB")))
    for key in ("timeouts", "blank_frames", "short_frames", "acquire_failures",
                "close_failures"):
        setattr(w, key, int(state.get(key, 0)))
    w.frame_interval_s = float(state.get("frame_interval_s", w.frame_interval_s))
    w.platform = str(state.get("platform", w.platform))
