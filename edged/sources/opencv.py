"""USB/V4L2 cameras, video files and streams via OpenCV. Implemented in the camera issue."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from edged.errors import SourceError
from edged.frames import Frame
from edged.sources.base import Source, SourceConfigBase


class OpenCVSourceConfig(SourceConfigBase):
    type: Literal["opencv"]
    device: str | int = Field(0, description="/dev/videoN, an index, a video file or a URL")
    size: tuple[int, int] | None = None
    loop: bool = False


class OpenCVSource(Source):
    def __init__(self, config: OpenCVSourceConfig) -> None:
        self.config = config

    def open(self) -> None:
        raise SourceError("the opencv source is not implemented yet", transient=False)

    def read(self) -> Frame | None:  # pragma: no cover
        raise SourceError("not open", transient=False)

    def close(self) -> None:
        pass

    def describe(self) -> str:
        return f"opencv:{self.config.device}"
