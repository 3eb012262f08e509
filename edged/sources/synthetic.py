"""Generated RGB frames: moving shapes on a plain background, for demos and benchmarks."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from edged.frames import Frame, monotonic_ns
from edged.shapes import SHAPE_NAMES, draw_shape
from edged.sources.base import Source, SourceConfigBase


class SyntheticSourceConfig(SourceConfigBase):
    type: Literal["synthetic"]
    size: tuple[int, int] = Field((640, 480), description="[width, height] of generated frames")
    pattern: Literal["shapes", "noise"] = "shapes"
    seed: int = 0


FRAMES_PER_SHAPE = 2


def shape_at(frame_index: int) -> str:
    """The shape the 'shapes' pattern shows in frame ``frame_index`` (they cycle in order)."""
    return SHAPE_NAMES[(frame_index // FRAMES_PER_SHAPE) % len(SHAPE_NAMES)]


class SyntheticSource(Source):
    """Cycles through the demo shapes (the embedded model's classes), or random noise.

    Frames are pre-rendered once; ``read`` returns a view, so generation costs nothing per frame
    and benchmarks measure the pipeline, not the generator.
    """

    live = False

    def __init__(self, config: SyntheticSourceConfig) -> None:
        self.config = config
        self._frames: list[np.ndarray] = []
        self._i = 0

    def open(self) -> None:
        width, height = self.config.size
        rng = np.random.default_rng(self.config.seed)
        if self.config.pattern == "noise":
            self._frames = [rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
                            for _ in range(4)]
        else:
            self._frames = [draw_shape(shape_at(i), width, height, rng)
                            for i in range(FRAMES_PER_SHAPE * len(SHAPE_NAMES))]
        self._i = 0

    def read(self) -> Frame:
        image = self._frames[self._i % len(self._frames)]
        self._i += 1
        return Frame(image=image, capture_ns=monotonic_ns())

    def read_into(self, out: np.ndarray) -> Frame:
        """At the model's input size the frame goes straight into the pipeline's slot."""
        image = self._frames[self._i % len(self._frames)]
        if image.shape != out.shape:
            return self.read()
        self._i += 1
        capture_ns = monotonic_ns()
        np.copyto(out, image)
        return Frame(image=out, capture_ns=capture_ns)

    def close(self) -> None:
        self._frames = []

    def describe(self) -> str:
        w, h = self.config.size
        return f"synthetic:{self.config.pattern}:{w}x{h}"
