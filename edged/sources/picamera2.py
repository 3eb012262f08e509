"""Raspberry Pi camera via picamera2 (apt python3-picamera2). Implemented in the camera issue."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from edged.errors import SourceError
from edged.frames import Frame
from edged.sources.base import Source, SourceConfigBase


class Picamera2SourceConfig(SourceConfigBase):
    type: Literal["picamera2"]
    camera: int = Field(0, ge=0, description="camera index from Picamera2.global_camera_info()")
    stream: Literal["main", "lores"] = Field(
        "main", description="main: RGB at model size from the ISP; lores: YUV420 converted")
    size: tuple[int, int] | None = Field(None, description="sensor mode [width, height]")
    framerate: float | None = Field(None, gt=0)
    hflip: bool = False
    vflip: bool = False
    buffer_count: int = Field(4, ge=1, le=16)
    controls: dict[str, Any] = Field(default_factory=dict)
    crop: tuple[float, float, float, float] | None = Field(
        None, description="region of interest [x, y, width, height], normalized 0..1")


class Picamera2Source(Source):
    def __init__(self, config: Picamera2SourceConfig) -> None:
        self.config = config

    def open(self) -> None:
        raise SourceError("the picamera2 source is not implemented yet", transient=False)

    def read(self) -> Frame | None:  # pragma: no cover
        raise SourceError("not open", transient=False)

    def close(self) -> None:
        pass

    def describe(self) -> str:
        return f"picamera2:{self.config.camera}"
