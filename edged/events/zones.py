"""Polygon zones: which anchors are inside, with hysteresis at the edge, and their counts."""

from __future__ import annotations

from collections import Counter

import numpy as np

from edged.events.config import ZoneConfig


def inside_polygon(points: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """[n] bool: crossing-number test of ``points`` [n, 2] against ``poly`` [m, 2]."""
    x, y = points[:, 0:1], points[:, 1:2]
    x0, y0 = poly[:, 0], poly[:, 1]
    x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
    straddle = (y0 > y) != (y1 > y)
    with np.errstate(divide="ignore", invalid="ignore"):
        xcross = x0 + (y - y0) * (x1 - x0) / (y1 - y0)
    return np.count_nonzero(straddle & (x < xcross), axis=1) % 2 == 1


def edge_distance(points: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """[n] distance from each point to the polygon's boundary."""
    a = poly[None, :, :]
    b = np.roll(poly, -1, axis=0)[None, :, :]
    p = points[:, None, :]
    ab = b - a
    t = np.clip(np.sum((p - a) * ab, axis=2) / np.maximum(np.sum(ab * ab, axis=2), 1e-12), 0, 1)
    nearest = a + t[:, :, None] * ab
    return np.sqrt(np.min(np.sum((p - nearest) ** 2, axis=2), axis=1))


class Zone:
    """One configured zone and its running counts (by label name)."""

    def __init__(self, config: ZoneConfig) -> None:
        self.config = config
        self.name = config.name
        self.poly = np.asarray(config.polygon, float)
        self.current: Counter[str] = Counter()
        self.entered: Counter[str] = Counter()
        self.left: Counter[str] = Counter()

    def changes(self, points: np.ndarray, eligible: np.ndarray,
                member: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(entering, leaving) masks over ``points``; ``member`` = inside until now.

        A point changes state only once it is ``margin`` past the edge, so a box jittering
        on the boundary does not flicker in and out."""
        inside = inside_polygon(points, self.poly) & eligible
        flip = inside != member
        if flip.any() and self.config.margin > 0:
            idx = np.flatnonzero(flip)
            far = edge_distance(points[idx], self.poly) >= self.config.margin
            flip[idx] = far | ~eligible[idx]
        return flip & inside, flip & member

    def counts(self) -> dict[str, dict[str, int]]:
        return {"count": _plain(self.current), "entered": _plain(self.entered),
                "left": _plain(self.left)}

    def reset_current(self) -> None:
        self.current.clear()


def _plain(c: Counter[str]) -> dict[str, int]:
    return {k: v for k, v in sorted(c.items()) if v}
