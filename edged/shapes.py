"""The demo's world: one coloured shape on a plain background.

Both the synthetic source and the demo model's training script draw from this one function,
so the embedded model recognises what the demo shows it.
"""

from __future__ import annotations

import numpy as np

SHAPE_NAMES: tuple[str, ...] = ("circle", "square", "triangle", "cross")


def draw_shape(name: str, width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """An HxWx3 uint8 RGB image of ``name`` at a random place, size and colour."""
    if name not in SHAPE_NAMES:
        raise ValueError(f"unknown shape {name!r}; expected one of {SHAPE_NAMES}")
    background = rng.integers(0, 90, 3)
    colour = rng.integers(150, 256, 3)
    image = np.empty((height, width, 3), dtype=np.uint8)
    image[:] = background
    side = min(width, height)
    r = rng.uniform(0.18, 0.32) * side
    cx = rng.uniform(r + 1, width - r - 1)
    cy = rng.uniform(r + 1, height - r - 1)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    dx, dy = xs - cx, ys - cy
    if name == "circle":
        mask = dx * dx + dy * dy <= r * r
    elif name == "square":
        mask = (np.abs(dx) <= r * 0.85) & (np.abs(dy) <= r * 0.85)
    elif name == "triangle":
        # apex up: inside when below the two slanted edges and above the base
        mask = (dy <= r * 0.8) & (dy >= -r) & (np.abs(dx) <= (dy + r) * 0.6)
    else:  # cross
        bar = r * 0.3
        mask = ((np.abs(dx) <= bar) & (np.abs(dy) <= r)) | ((np.abs(dy) <= bar) & (np.abs(dx) <= r))
    image[mask] = colour
    return image
