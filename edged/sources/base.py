"""What every frame source implements, and the config fields every source shares."""

from __future__ import annotations

import abc

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from edged.frames import Frame


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BackoffConfig(StrictModel):
    initial_s: float = Field(0.5, gt=0, description="first delay before reopening a failed source")
    max_s: float = Field(30.0, gt=0, description="upper bound of the exponential backoff")


class SourceConfigBase(StrictModel):
    fps: float = Field(0, ge=0, description="cap on the capture rate; 0 = as fast as possible")
    backoff: BackoffConfig = Field(default_factory=BackoffConfig)


class Source(abc.ABC):
    """A frame source. ``open`` and ``read`` raise ``edged.errors.SourceError`` on failure.

    The pipeline calls ``open`` once (and again after a transient failure, with backoff),
    ``read`` in a loop from the capture thread, and ``close`` when done or before reopening.
    ``read`` returns None at the end of a finite stream (a folder with ``loop: false``).
    """

    #: Set by the pipeline before ``open``: the model input (width, height), so sources that
    #: can scale in hardware (the Pi ISP) may deliver frames at that size directly.
    target_size: tuple[int, int] | None = None

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
