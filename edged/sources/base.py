"""What every frame source implements, and the config fields every source shares."""

from __future__ import annotations

import abc

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from edged.frames import Frame

MAX_SIDE = 16384  # pixels: beyond any camera or image edged can hold in memory


class StrictModel(BaseModel):
    """Every config section: unknown keys are errors, and so are .inf and .nan (a frame rate
    or a mean that is not a number would only fail later, inside the pipeline)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class BackoffConfig(StrictModel):
    initial_s: float = Field(0.5, gt=0, le=3600,
                             description="first delay before reopening a failed source")
    max_s: float = Field(30.0, gt=0, le=3600,
                         description="upper bound of the exponential backoff")


class SourceConfigBase(StrictModel):
    fps: float = Field(0, ge=0, le=1000,
                       description="cap on the capture rate; 0 = as fast as possible")
    backoff: BackoffConfig = Field(default_factory=BackoffConfig)

    @model_validator(mode="after")
    def _ranges(self) -> SourceConfigBase:
        if 0 < self.fps < 0.001:
            raise ValueError("fps: must be 0 (as fast as possible) or at least 0.001")
        size = getattr(self, "size", None)  # [width, height], for the sources that have one
        if size is not None and not all(1 <= side <= MAX_SIDE for side in size):
            raise ValueError(f"size: width and height must be between 1 and {MAX_SIDE}, "
                             f"got {list(size)}")
        return self


class Source(abc.ABC):
    """A frame source. ``open`` and ``read`` raise ``edged.errors.SourceError`` on failure.

    The pipeline calls ``open`` once (and again after a transient failure, with backoff),
    ``read`` in a loop from the capture thread, and ``close`` when done or before reopening.
    ``read`` returns None at the end of a finite stream (a folder with ``loop: false``).
    """

    #: Set by the pipeline before ``open``: the model input (width, height), so sources that
    #: can scale in hardware (the Pi ISP) may deliver frames at that size directly.
    target_size: tuple[int, int] | None = None

    #: Set by the pipeline before ``open``: model.resize, for sources that resize themselves.
    resize_mode: str = "stretch"

    def fov_transform(self) -> tuple[float, float, float, float] | None:
        """(scale_x, scale_y, offset_x, offset_y) from frame-normalized coordinates to the
        source's full field of view, when the source crops in hardware; None = the frame is
        the field of view."""
        return None

    #: A live source (a camera, a stream) produces frames whether or not we keep up: the
    #: newest wins. A pulled source (files, synthetic) makes a frame only when asked, so the
    #: pipeline asks for the next one only when inference has taken the previous one.
    live: bool = True

    @abc.abstractmethod
    def open(self) -> None: ...

    @abc.abstractmethod
    def read(self) -> Frame | None: ...

    def read_into(self, out: np.ndarray) -> Frame | None:
        """Like ``read``; a source that can produce a frame of exactly ``out``'s shape (the
        model input, HxWx3 uint8) may write it into ``out`` and return a Frame whose image
        is ``out``: the pipeline then neither copies nor resizes it."""
        return self.read()

    @abc.abstractmethod
    def close(self) -> None: ...

    @abc.abstractmethod
    def describe(self) -> str:
        """A short human description for logs and status, e.g. 'images:/data/cat.bmp'."""
