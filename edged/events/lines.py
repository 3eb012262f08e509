"""Directed counting lines. ``in`` is the side the line's normal points to: p1 -> p2 turned
90 degrees clockwise on the image (x right, y down). A line drawn left to right counts
downward motion as ``in``; a line drawn top to bottom counts right-to-left motion as ``in``."""

from __future__ import annotations

from collections import Counter

import numpy as np

from edged.events.config import LineConfig


class Line:
    def __init__(self, config: LineConfig) -> None:
        self.config = config
        self.name = config.name
        self.p1 = np.asarray(config.points[0], float)
        self.p2 = np.asarray(config.points[1], float)
        d = self.p2 - self.p1
        self.length2 = float(d @ d)
        self.normal = np.array([-d[1], d[0]]) / np.sqrt(self.length2)  # unit, the "in" side
        self.dir = d
        self.crossed: dict[str, Counter[str]] = {"in": Counter(), "out": Counter()}

    def within(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """[n] bool: the path a -> b meets the line between p1 and p2 (not its extension)."""
        sa = (a - self.p1) @ self.normal
        sb = (b - self.p1) @ self.normal
        lam = sa / np.where(sa == sb, 1e-12, sa - sb)
        x = a + lam[:, None] * (b - a)
        u = ((x - self.p1) @ self.dir) / self.length2
        return (u >= 0) & (u <= 1)

    def counts(self) -> dict[str, dict[str, int]]:
        return {k: {n: v for n, v in sorted(c.items())} for k, c in self.crossed.items()}
