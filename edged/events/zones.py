"""Polygon zones: geometry (inside, distance to the edge) and running counts."""

from __future__ import annotations

from collections import Counter

import numpy as np

from edged.events.config import ZoneConfig


def inside_polygon(points: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """[n] bool: crossing-number test of ``points`` [n, 2] against ``poly`` [m, 2]."""
    return _inside(points, *edges(poly))


def edges(poly: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per edge: x0, y0, y1 and dx/dy (horizontal edges never straddle, so their slope
    is never used)."""
    x0, y0 = poly[:, 0], poly[:, 1]
    x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
    dy = np.where(y1 == y0, 1.0, y1 - y0)
    return x0, y0, y1, (x1 - x0) / dy


def _inside(points: np.ndarray, x0: np.ndarray, y0: np.ndarray, y1: np.ndarray,
            slope: np.ndarray) -> np.ndarray:
    y = points[:, 1:2]
    straddle = (y0 > y) != (y1 > y)
    return np.count_nonzero(straddle & (points[:, 0:1] < x0 + (y - y0) * slope), axis=1) % 2 == 1


def edge_distance(points: np.ndarray, poly: np.ndarray,
                  ends: np.ndarray | None = None) -> np.ndarray:
    """[n] distance from each point to the polygon's boundary (``ends``: poly rolled by one)."""
    a = poly[None, :, :]
    ab = (np.roll(poly, -1, axis=0) if ends is None else ends)[None, :, :] - a
    p = points[:, None, :]
    t = np.clip(np.sum((p - a) * ab, axis=2) / np.maximum(np.sum(ab * ab, axis=2), 1e-12), 0, 1)
    off = p - a - t[:, :, None] * ab
    return np.sqrt(np.min(np.sum(off * off, axis=2), axis=1))


class Zone:
    """One configured zone and its running counts (by label name)."""

    def __init__(self, config: ZoneConfig) -> None:
        self.config = config
        self.name = config.name
        self.poly = np.asarray(config.polygon, float)
        self.ends = np.roll(self.poly, -1, axis=0)
        self.current: Counter[str] = Counter()
        self.entered: Counter[str] = Counter()
        self.left: Counter[str] = Counter()

    def counts(self) -> dict[str, dict[str, int]]:
        return {"count": _plain(self.current), "entered": _plain(self.entered),
                "left": _plain(self.left)}

    def reset_current(self) -> None:
        self.current.clear()


def _plain(c: Counter[str]) -> dict[str, int]:
    return {k: v for k, v in sorted(c.items()) if v}
