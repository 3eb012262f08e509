"""The buffers that circulate between the pipeline's stages (edged.handoff): a model-sized
frame on its way to invoke, and a result on its way to be published."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edged.preprocess import Transform


@dataclass
class FrameSlot:
    image: np.ndarray
    frame_seq: int = 0
    capture_ns: int = 0
    frame_size: tuple[int, int] = (0, 0)
    transform: Transform = field(default_factory=Transform)
    preprocess_ms: float = 0.0


@dataclass
class ResultSlot:
    outputs: list[np.ndarray]
    image: np.ndarray | None = None  # the model input, kept only when frames are published
    frame_seq: int = 0
    capture_ns: int = 0
    frame_size: tuple[int, int] = (0, 0)
    transform: Transform = field(default_factory=Transform)
    preprocess_ms: float = 0.0
    inference_ms: float = 0.0
