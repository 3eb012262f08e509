"""All zones, and all lines, tested at once: their edges stacked so one frame costs a fixed
handful of numpy calls however many zones and lines there are. The tests that run on the few
tracks changing side in a frame (the zones' margin, the lines' crossing) loop on Python floats
up to ``FEW`` of them: the same operations in the same order give the same values, and a
Python float operation (~0.05 us) is far cheaper than a numpy call (~1 us) on a tiny array."""

from __future__ import annotations

import math

import numpy as np

from edged.events.lines import Line
from edged.events.zones import Zone, edges

KINDS = ("bottom-center", "center", "top-center")
FEW = 8  # up to this many points, ``ZoneSet.far`` loops on Python floats: fewer calls


def anchors(state: np.ndarray, kinds: tuple[int, ...] = (0, 1, 2)) -> np.ndarray:
    """[3, n, 2]: the anchor points of KINDS from [n, 4] cx, cy, w, h (only those of
    ``kinds`` are filled in)."""
    out = np.empty((3, len(state), 2))
    cx, cy, half = state[:, 0], state[:, 1], state[:, 3] / 2
    for k in kinds:
        out[k, :, 0] = cx
        if k == 1:
            out[k, :, 1] = cy
        else:
            (np.add if k == 0 else np.subtract)(cy, half, out=out[k, :, 1])
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
    def _filters(self, allowed: list[np.ndarray | None], min_score: np.ndarray) -> None:
        self.min_score = min_score
        self.table = label_table(allowed, 1 + max((len(a) for a in allowed if a is not None),
                                                  default=0))
        self._by_label = np.ascontiguousarray(self.table.T)  # [class index, items]
        self._scored = bool(min_score.any())

    def eligible(self, labels: np.ndarray, best: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """[rows, items] bool: ``labels`` and ``best`` (score) of the tracks, per track;
        scores are in [0, 1], a minimum of 0 admits every score."""
        ok = self._by_label.take(labels.take(rows), axis=0, mode="clip")  # labels are >= 0
        if self._scored:
            ok &= best[rows][:, None] >= self.min_score[None, :]
        return ok


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
        self.edge_zone = np.repeat(np.arange(len(zones)), [len(z.poly) for z in zones])
        ab = np.concatenate([z.ends - z.poly for z in zones]) if zones else np.zeros((0, 2))
        self.abx, self.aby = ab[:, 0].copy(), ab[:, 1].copy()
        self.ab2 = np.maximum(np.sum(ab * ab, axis=1), 1e-12)
        self.loiter = np.array([z.config.loiter_s or np.inf for z in zones])
        per_edge = np.stack([self.x0, self.y0, self.abx, self.aby, self.ab2], axis=1).tolist()
        self._edges = [per_edge[a:a + len(z.poly)] for a, z in zip(self.starts.tolist(), zones,
                                                                    strict=True)]
        self._margins = self.margin.tolist()
        self._filters(allowed, np.array([z.config.min_score for z in zones]))

    def inside(self, pts: np.ndarray) -> np.ndarray:
        """[n, zones] bool, ``pts`` from ``anchors``: crossing-number test on every edge."""
        if self.one_kind:
            p = pts[self.kind[0]] if len(self.kind) else pts[0]
            x, y = p[:, 0:1], p[:, 1:2]
        else:
            x, y = pts[self.edge_kind, :, 0].T, pts[self.edge_kind, :, 1].T
        hits = np.not_equal(self.y0 > y, self.y1 > y)
        hits &= x < self.x0 + (y - self.y0) * self.slope
        return np.logical_xor.reduceat(hits, self.starts, axis=1)

    def far(self, pts: np.ndarray, rows: np.ndarray, zones: np.ndarray) -> np.ndarray:
        """[k] bool: point ``rows[i]`` is at least the margin away from zone ``zones[i]``'s
        boundary (the hysteresis of an entry or exit). All zones' edges at once: the
        distance to each edge (``edge_distance``'s arithmetic), the other zones' masked."""
        if len(rows) <= FEW:
            return self._far_few(pts, rows, zones)
        p = pts[self.kind[zones], rows] if not self.one_kind else pts[self.kind[0], rows]
        dx = p[:, 0:1] - self.x0
        dy = p[:, 1:2] - self.y0
        t = dx * self.abx + dy * self.aby
        t /= self.ab2
        np.maximum(t, 0.0, out=t)  # np.clip's arithmetic, without its wrapper's cost
        np.minimum(t, 1.0, out=t)
        dx -= t * self.abx
        dy -= t * self.aby
        dx *= dx
        dy *= dy
        dx += dy
        dx[self.edge_zone != zones[:, None]] = np.inf
        return np.sqrt(dx.min(axis=1)) >= self.margin[zones]


    def _far_few(self, pts: np.ndarray, rows: np.ndarray, zones: np.ndarray) -> np.ndarray:
        """``far`` for a few points: the same operations in the same order on Python floats
        (IEEE doubles, as numpy's), so the same values, without numpy's cost per call."""
        p = pts[self.kind[zones], rows] if not self.one_kind else pts[self.kind[0], rows]
        out = []
        for (px, py), z in zip(p.tolist(), zones.tolist(), strict=True):
            best = math.inf
            for x0, y0, abx, aby, ab2 in self._edges[z]:
                dx, dy = px - x0, py - y0
                t = (dx * abx + dy * aby) / ab2
                t = 0.0 if t < 0.0 else 1.0 if t > 1.0 else t
                dx -= t * abx
                dy -= t * aby
                d = dx * dx + dy * dy
                if d < best:
                    best = d
            out.append(math.sqrt(best) >= self._margins[z])
        return np.array(out, bool)


class LineSet(_Filtered):
    def __init__(self, lines: list[Line], allowed: list[np.ndarray | None]) -> None:
        self.lines = lines
        self.kind = np.array([KINDS.index(ln.config.anchor) for ln in lines], np.int64)
        self.normal = np.array([ln.normal for ln in lines]).reshape(-1, 2)
        self.nx, self.ny = self.normal[:, 0].copy(), self.normal[:, 1].copy()
        self.offset = np.array([ln.p1 @ ln.normal for ln in lines])
        self.p1 = np.array([ln.p1 for ln in lines]).reshape(-1, 2)
        self.dir = np.array([ln.dir for ln in lines]).reshape(-1, 2)
        self.length2 = np.array([ln.length2 for ln in lines])
        self._normal, self._p1 = self.normal.tolist(), self.p1.tolist()
        self._dir, self._length2 = self.dir.tolist(), self.length2.tolist()
        self.margin = np.array([ln.config.margin for ln in lines])
        self.neg_margin = -self.margin
        self._filters(allowed, np.zeros(len(lines)))

    def points(self, pts: np.ndarray) -> np.ndarray:
        """[n, lines, 2]: each line's anchor of each track."""
        return pts[self.kind].transpose(1, 0, 2)

    def sides(self, p: np.ndarray) -> np.ndarray:
        """[n, lines] int8: +1 clearly on the in side, -1 clearly out, 0 within the margin."""
        s = p[:, :, 0] * self.nx + p[:, :, 1] * self.ny - self.offset
        return (s > self.margin).view(np.int8) - (s < self.neg_margin).view(np.int8)

    def within(self, a: np.ndarray, b: np.ndarray, li: np.ndarray) -> np.ndarray:
        """[k] bool: the path a -> b meets line ``li`` between its two points."""
        if len(li) <= FEW:
            return self._within_few(a.tolist(), b.tolist(), li.tolist())
        n, p1 = self.normal[li], self.p1[li]
        sa = _dot2((a - p1) * n)
        sb = _dot2((b - p1) * n)
        lam = sa / np.where(sa == sb, 1e-12, sa - sb)
        x = a + lam[:, None] * (b - a)
        u = _dot2((x - p1) * self.dir[li]) / self.length2[li]
        return (u >= 0) & (u <= 1)


    def _within_few(self, a: list[list[float]], b: list[list[float]],
                    li: list[int]) -> np.ndarray:
        """``within`` on Python floats: the same operations in the same order."""
        out = []
        for (ax, ay), (bx, by), j in zip(a, b, li, strict=True):
            (nx, ny), (p1x, p1y), (dx, dy) = self._normal[j], self._p1[j], self._dir[j]
            sa = (ax - p1x) * nx + (ay - p1y) * ny
            sb = (bx - p1x) * nx + (by - p1y) * ny
            lam = sa / (1e-12 if sa == sb else sa - sb)
            xx, xy = ax + lam * (bx - ax), ay + lam * (by - ay)
            u = ((xx - p1x) * dx + (xy - p1y) * dy) / self._length2[j]
            out.append(0 <= u <= 1)
        return np.array(out, bool)


def _dot2(products: np.ndarray) -> np.ndarray:
    """[k, 2] -> [k]: what np.sum(axis=1) gives (x0 + x1), without its wrapper's cost."""
    return products[:, 0] + products[:, 1]
