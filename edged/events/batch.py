"""All zones, and all lines, tested at once: their edges stacked so one frame costs a fixed
handful of numpy calls however many zones and lines there are."""

from __future__ import annotations

import numpy as np

from edged.events.lines import Line
from edged.events.zones import Zone, edge_distance, edges

KINDS = ("bottom-center", "center", "top-center")


def anchors(state: np.ndarray) -> np.ndarray:
    """[3, n, 2]: the anchor points of KINDS from [n, 4] cx, cy, w, h."""
    out = np.empty((3, len(state), 2))
    out[:, :, 0] = state[:, 0]
    half = state[:, 3] / 2
    out[0, :, 1] = state[:, 1] + half
    out[1, :, 1] = state[:, 1]
    out[2, :, 1] = state[:, 1] - half
    return out


def label_table(allowed: list[np.ndarray | None], size: int) -> np.ndarray:
    """[items, size] bool: class index admitted by each item's label filter (None = all);
    the last column stands for every index past the table."""
    table = np.ones((len(allowed), size + 1), bool)
    for i, a in enumerate(allowed):
        if a is not None:
            table[i] = False
            n = min(len(a), size)
            table[i, :n] = a[:n]
    return table


class _Filtered:
    table: np.ndarray
    min_score: np.ndarray

    def eligible(self, labels: np.ndarray, best: np.ndarray) -> np.ndarray:
        """[n, items] bool."""
        ok = self.table[:, np.minimum(labels, self.table.shape[1] - 1)].T
        return ok & (best[:, None] >= self.min_score[None, :])


class ZoneSet(_Filtered):
    def __init__(self, zones: list[Zone], allowed: list[np.ndarray | None]) -> None:
        self.zones = zones
        parts = [edges(z.poly) for z in zones]
        self.x0, self.y0, self.y1, self.slope = (
            np.concatenate([p[i] for p in parts]) if parts else np.zeros(0) for i in range(4))
        self.starts = np.cumsum([0] + [len(z.poly) for z in zones])[:-1]
        self.kind = np.array([KINDS.index(z.config.anchor) for z in zones], np.int64)
        self.edge_kind = np.repeat(self.kind, [len(z.poly) for z in zones])
        self.one_kind = len(set(self.kind.tolist())) <= 1
        self.margin = np.array([z.config.margin for z in zones])
        self.loiter = np.array([z.config.loiter_s or np.inf for z in zones])
        self.min_score = np.array([z.config.min_score for z in zones])
        self.table = label_table(allowed, 1 + max((len(a) for a in allowed if a is not None),
                                                  default=0))

    def inside(self, pts: np.ndarray) -> np.ndarray:
        """[n, zones] bool, ``pts`` from ``anchors``: crossing-number test on every edge."""
        if self.one_kind:
            p = pts[self.kind[0]] if len(self.kind) else pts[0]
            x, y = p[:, 0:1], p[:, 1:2]
        else:
            x, y = pts[self.edge_kind, :, 0].T, pts[self.edge_kind, :, 1].T
        hits = ((self.y0 > y) != (self.y1 > y)) & (x < self.x0 + (y - self.y0) * self.slope)
        return np.add.reduceat(hits, self.starts, axis=1) % 2 == 1

    def far(self, pts: np.ndarray, rows: np.ndarray, zones: np.ndarray) -> np.ndarray:
        """[k] bool: point ``rows[i]`` is at least the margin away from zone ``zones[i]``'s
        boundary (the hysteresis of an entry or exit)."""
        out = np.ones(len(rows), bool)
        for z in np.unique(zones).tolist():
            zone = self.zones[z]
            if zone.config.margin > 0:
                sel = zones == z
                p = pts[self.kind[z], rows[sel]]
                out[sel] = edge_distance(p, zone.poly, zone.ends) >= zone.config.margin
        return out


class LineSet(_Filtered):
    def __init__(self, lines: list[Line], allowed: list[np.ndarray | None]) -> None:
        self.lines = lines
        self.kind = np.array([KINDS.index(ln.config.anchor) for ln in lines], np.int64)
        self.normal = np.array([ln.normal for ln in lines]).reshape(-1, 2)
        self.offset = np.array([ln.p1 @ ln.normal for ln in lines])
        self.p1 = np.array([ln.p1 for ln in lines]).reshape(-1, 2)
        self.dir = np.array([ln.dir for ln in lines]).reshape(-1, 2)
        self.length2 = np.array([ln.length2 for ln in lines])
        self.margin = np.array([ln.config.margin for ln in lines])
        self.min_score = np.zeros(len(lines))
        self.table = label_table(allowed, 1 + max((len(a) for a in allowed if a is not None),
                                                  default=0))

    def points(self, pts: np.ndarray) -> np.ndarray:
        """[n, lines, 2]: each line's anchor of each track."""
        return pts[self.kind].transpose(1, 0, 2)

    def sides(self, p: np.ndarray) -> np.ndarray:
        """[n, lines] int8: +1 clearly on the in side, -1 clearly out, 0 within the margin."""
        s = p[:, :, 0] * self.normal[:, 0] + p[:, :, 1] * self.normal[:, 1] - self.offset
        return (np.sign(s) * (np.abs(s) > self.margin)).astype(np.int8)

    def within(self, a: np.ndarray, b: np.ndarray, li: np.ndarray) -> np.ndarray:
        """[k] bool: the path a -> b meets line ``li`` between its two points."""
        n, p1 = self.normal[li], self.p1[li]
        sa = np.sum((a - p1) * n, axis=1)
        sb = np.sum((b - p1) * n, axis=1)
        lam = sa / np.where(sa == sb, 1e-12, sa - sb)
        x = a + lam[:, None] * (b - a)
        u = np.sum((x - p1) * self.dir[li], axis=1) / self.length2[li]
        return (u >= 0) & (u <= 1)
