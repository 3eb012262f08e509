"""Generated scenes with known ground truth, for the quality tests and ``events_bench``.

Objects move along piecewise-linear paths in normalized frame coordinates; a detector is
simulated from the drawing: exact boxes, or with jitter, missed detections and spurious boxes.
Ground-truth crossings and zone entries come from the true anchor path (no hysteresis).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from edged.events.config import LineConfig, ZoneConfig
from edged.events.lines import Line
from edged.events.zones import inside_polygon


@dataclass
class Mover:
    oid: int
    label: int
    path: list[tuple[float, float, float]]  # (t, cx, cy) waypoints
    size: tuple[float, float]  # w, h
    hidden: list[tuple[float, float]] = field(default_factory=list)  # occluded intervals

    def present(self, t: float) -> bool:
        return self.path[0][0] <= t <= self.path[-1][0]

    def visible(self, t: float) -> bool:
        return self.present(t) and not any(a <= t < b for a, b in self.hidden)

    def centre(self, t: float) -> tuple[float, float]:
        ts = [p[0] for p in self.path]
        return (float(np.interp(t, ts, [p[1] for p in self.path])),
                float(np.interp(t, ts, [p[2] for p in self.path])))

    def box(self, t: float) -> tuple[float, float, float, float]:
        (cx, cy), (w, h) = self.centre(t), self.size
        return (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)

    def anchor(self, t: float) -> tuple[float, float]:
        cx, cy = self.centre(t)
        return cx, cy + self.size[1] / 2


@dataclass
class Noise:
    jitter: float = 0.0  # sigma of box edges, normalized
    miss: float = 0.0  # probability a visible object is not detected
    spurious: float = 0.0  # mean false boxes per frame
    low_share: float = 0.0  # share of true detections with a low (0.3-0.5) score


@dataclass
class Frame:
    t: float
    truth: list[tuple[int, tuple[float, float, float, float]]]  # visible (oid, box)
    boxes: np.ndarray
    scores: np.ndarray
    classes: np.ndarray


def simulate(movers: list[Mover], fps: float, duration: float, noise: Noise,
             seed: int = 0) -> list[Frame]:
    rng = np.random.default_rng(seed)
    frames = []
    for k in range(int(duration * fps)):
        t = k / fps
        truth = [(m.oid, m.box(t)) for m in movers if m.visible(t)]
        boxes, scores, classes = [], [], []
        for m in (m for m in movers if m.visible(t)):
            if rng.random() < noise.miss:
                continue
            b = np.array(m.box(t)) + rng.normal(0, noise.jitter, 4) * (noise.jitter > 0)
            boxes.append(b)
            low = rng.random() < noise.low_share
            scores.append(rng.uniform(0.3, 0.5) if low else rng.uniform(0.6, 0.95))
            classes.append(m.label)
        for _ in range(rng.poisson(noise.spurious) if noise.spurious else 0):
            x, y = rng.uniform(0, 0.9, 2)
            w, h = rng.uniform(0.03, 0.1, 2)
            boxes.append(np.array([x, y, x + w, y + h]))
            scores.append(rng.uniform(0.3, 0.7))
            classes.append(int(rng.integers(0, 2)))
        frames.append(Frame(t, truth, np.array(boxes, float).reshape(-1, 4),
                            np.array(scores, float), np.array(classes, np.int64)))
    return frames


def true_counts(movers: list[Mover], fps: float, duration: float, zones: list[ZoneConfig],
                lines: list[LineConfig], names: list[str]) -> dict[str, Counter[str]]:
    """{'zone:NAME': entries by label, 'line:NAME:in'/'out': crossings by label}."""
    out: dict[str, Counter[str]] = {}
    times = np.arange(int(duration * fps)) / fps
    for m in movers:
        ts = [t for t in times if m.present(t)]
        pts = np.array([m.anchor(t) for t in ts])
        if len(pts) < 1:
            continue
        label = names[m.label]
        for z in zones:
            inside = inside_polygon(pts, np.asarray(z.polygon, float))
            entries = int(inside[0]) + int(np.count_nonzero(inside[1:] & ~inside[:-1]))
            out.setdefault(f"zone:{z.name}", Counter())[label] += entries
        for ln in lines:
            line = Line(ln)
            s = (pts - line.p1) @ line.normal
            sides = np.sign(s)
            for i in range(1, len(sides)):  # on the line = still on the side it came from
                sides[i] = sides[i] or sides[i - 1]
            for i in np.flatnonzero(sides[1:] * sides[:-1] < 0).tolist():
                j = i + 1 if s[i] else i - 1
                if line.within(pts[j:j + 1], pts[i + 1:i + 2])[0]:
                    d = "in" if sides[i + 1] > 0 else "out"
                    out.setdefault(f"line:{ln.name}:{d}", Counter())[label] += 1
    return out


def traffic(n: int, duration: float, seed: int = 1, first_id: int = 100) -> list[Mover]:
    """``n`` objects on straight paths across the frame, entering and leaving at its edges."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        t0 = rng.uniform(0, duration * 0.6)
        t1 = min(duration, t0 + rng.uniform(3, 8))
        y0, y1 = rng.uniform(0.1, 0.85, 2)
        x0, x1 = (0.0, 1.0) if rng.random() < 0.5 else (1.0, 0.0)
        size = (float(rng.uniform(0.05, 0.09)), float(rng.uniform(0.08, 0.14)))
        out.append(Mover(first_id + i, int(rng.integers(0, 2)),
                         [(t0, x0, y0), (t1, x1, y1)], size))
    return out


def crowd(n: int, seed: int = 2) -> list[Mover]:
    """``n`` objects wandering for a long time (the cost benchmark's 50 objects)."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        pts = [(float(t), float(rng.uniform(0.05, 0.95)), float(rng.uniform(0.05, 0.9)))
               for t in np.arange(0, 1000, 20.0)]
        out.append(Mover(i, int(rng.integers(0, 2)), pts, (0.04, 0.08)))
    return out
