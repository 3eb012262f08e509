"""Tracker + zones + lines on generated scenes with known ground truth.

Noise-free: every crossing, entry and loitering is counted exactly once. With detection
jitter, 20% missed detections, spurious boxes and low-score detections: count error <= 5%,
no ID switch for objects visible throughout, MOTA and IDF1 computed here and printed
(``pytest -s tests/test_events_quality.py``).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

import numpy as np
import pytest

from edged.events.config import LineConfig, TrackConfig, ZoneConfig
from edged.events.engine import EventEngine
from edged.events.scene import Frame, Mover, Noise, simulate, traffic, true_counts

NAMES = ["person", "car"]
FPS = 10.0
ZONES = [ZoneConfig(name="porch", polygon=[(0.05, 0.05), (0.4, 0.05), (0.4, 0.45), (0.05, 0.45)]),
         ZoneConfig(name="driveway", polygon=[(0.6, 0.55), (0.95, 0.55), (0.95, 0.95),
                                              (0.6, 0.95)], labels=["car"], loiter_s=4)]
LINES = [LineConfig(name="door", points=((0.5, 1.0), (0.5, 0.0)))]  # in = rightwards
NOISE = Noise(jitter=0.006, miss=0.2, spurious=0.5, low_share=0.15)


def storyboard() -> list[Mover]:
    """The issue's cases: crossings both ways, zone entries and exits, two tracks crossing
    paths, an object hidden while it crosses the line, a turn-back, a parked (loitering) car."""
    return [
        Mover(1, 0, [(0, 0.02, 0.25), (6, 0.98, 0.25)], (0.06, 0.14)),  # A: porch, door in
        Mover(2, 1, [(1, 0.98, 0.72), (8, 0.02, 0.72)], (0.12, 0.10)),  # B: driveway, out
        Mover(3, 0, [(3, 0.0, 0.7), (6, 0.45, 0.7)], (0.06, 0.12)),  # C } paths cross at
        Mover(4, 0, [(3, 0.225, 0.475), (6, 0.225, 0.925)], (0.06, 0.12)),  # D } t = 4.5
        Mover(5, 0, [(3, 0.98, 0.35), (10, 0.02, 0.35)], (0.06, 0.14),
              hidden=[(6.2, 6.8)]),  # E: hidden while it crosses the door
        Mover(6, 0, [(4, 0.45, 0.15), (7, 0.75, 0.15), (8, 0.75, 0.15), (11, 0.30, 0.15)],
              (0.06, 0.12)),  # F: goes through the door, stops, comes back
        Mover(7, 1, [(2, 0.99, 0.75), (4, 0.80, 0.75), (11, 0.80, 0.75), (13, 0.99, 0.75)],
              (0.12, 0.10)),  # G: parks in the driveway
    ]


def run(frames: list[Frame]) -> tuple[EventEngine, list[dict[str, Any]], list[dict[int, int]],
                                      list[dict[int, tuple]]]:
    """Events, and per frame the published tracks: {track_id: box} and {det index: id}."""
    engine = EventEngine("r", TrackConfig(), ZONES, LINES, NAMES)
    events: list[dict[str, Any]] = []
    outputs = []
    for k, f in enumerate(frames):
        ft, evs = engine.process(k, int(f.t * 1e9), f.boxes, f.scores, f.classes)
        events += evs
        c = engine.tracker.cols
        outputs.append({int(c.ids[r]): tuple(f.boxes[d]) for d, r in enumerate(ft.det_rows)
                        if r >= 0 and c.confirmed[r]})
    return engine, events, [], outputs


def engine_counts(engine: EventEngine) -> dict[str, Counter[str]]:
    out: dict[str, Counter[str]] = {}
    for name, z in engine.counts()["zones"].items():
        out[f"zone:{name}"] = Counter(z["entered"])
    for name, ln in engine.counts()["lines"].items():
        for d in ("in", "out"):
            out[f"line:{name}:{d}"] = Counter(ln[d])
    return out


def count_error(got: dict[str, Counter[str]], truth: dict[str, Counter[str]]) -> float:
    keys = set(got) | set(truth)
    err = sum(abs(got.get(k, Counter())[lab] - truth.get(k, Counter())[lab])
              for k in keys for lab in NAMES)
    return err / max(1, sum(sum(c.values()) for c in truth.values()))


# --- CLEAR-MOT and identity metrics ------------------------------------------------------

def iou(a: tuple, b: tuple) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def hungarian_max(w: np.ndarray) -> list[tuple[int, int]]:
    """Maximum-weight assignment (Kuhn-Munkres, O(n^3)) on a rectangular matrix."""
    n = max(w.shape)
    cost = np.zeros((n, n))
    cost[:w.shape[0], :w.shape[1]] = w.max() - w if w.size else 0
    if w.size:
        cost[:w.shape[0], w.shape[1]:] = w.max()
        cost[w.shape[0]:, :] = w.max()
    u, v = np.zeros(n + 1), np.zeros(n + 1)
    p, way = np.zeros(n + 1, int), np.zeros(n + 1, int)
    for i in range(1, n + 1):
        p[0], j0 = i, 0
        minv = np.full(n + 1, np.inf)
        used = np.zeros(n + 1, bool)
        while True:
            used[j0] = True
            i0 = p[j0]
            cur = cost[i0 - 1] - u[i0] - v[1:]
            better = ~used[1:] & (cur < minv[1:])
            minv[1:][better] = cur[better]
            way[1:][better] = j0
            free = np.flatnonzero(~used[1:]) + 1
            j1 = int(free[np.argmin(minv[free])])
            delta = minv[j1]
            u[p[used]] += delta
            v[used] -= delta
            minv[~used] -= delta
            j0 = j1
            if p[j0] == 0:
                break
        while j0:
            j1 = way[j0]
            p[j0] = p[j1]
            j0 = j1
    return [(int(p[j]) - 1, j - 1) for j in range(1, n + 1)
            if p[j] and p[j] - 1 < w.shape[0] and j - 1 < w.shape[1]]


def mot_metrics(frames: list[Frame], outputs: list[dict[int, tuple]]) -> dict[str, Any]:
    """MOTA (CLEAR-MOT, IoU >= 0.5, previous matches kept when still valid), IDF1, and the
    track ids each true object was matched to."""
    gt_total = fp = fn = idsw = 0
    last: dict[int, int] = {}
    ids_of: dict[int, set[int]] = defaultdict(set)
    co: Counter[tuple[int, int]] = Counter()
    n_out = 0
    for f, out in zip(frames, outputs, strict=True):
        truth = dict(f.truth)
        gt_total += len(truth)
        n_out += len(out)
        pairs: dict[int, int] = {}
        for g, tid in last.items():  # keep last frame's correspondences first
            if g in truth and tid in out and iou(truth[g], out[tid]) >= 0.5:
                pairs[g] = tid
        cand = sorted(((iou(truth[g], out[t]), g, t) for g in truth for t in out
                       if g not in pairs and t not in pairs.values()), reverse=True)
        for score, g, t in cand:
            if score >= 0.5 and g not in pairs and t not in pairs.values():
                pairs[g] = t
        for g, t in pairs.items():
            if g in last and last[g] != t:
                idsw += 1
            last[g] = t
            ids_of[g].add(t)
            co[(g, t)] += 1
        fn += len(truth) - len(pairs)
        fp += len(out) - len(pairs)
    gts = sorted({g for g, _ in co})
    tids = sorted({t for _, t in co})
    w = np.array([[co[(g, t)] for t in tids] for g in gts], float).reshape(len(gts), len(tids))
    idtp = sum(w[i, j] for i, j in hungarian_max(w)) if w.size else 0
    return {"MOTA": 1 - (fn + fp + idsw) / gt_total, "IDF1": 2 * idtp / (gt_total + n_out),
            "FN": fn, "FP": fp, "IDSW": idsw, "GT": gt_total, "ids_of": ids_of}


def test_hungarian_finds_the_optimum_greedy_misses() -> None:
    w = np.array([[10, 9, 0], [9, 0, 0], [0, 0, 1]], float)  # greedy takes 10, then 0 + 1
    assert sorted(hungarian_max(w)) == [(0, 1), (1, 0), (2, 2)]
    assert sorted(hungarian_max(np.array([[1, 5]], float))) == [(0, 1)]


# --- the storyboard, without noise: exact ------------------------------------------------

def test_every_crossing_entry_and_loiter_counted_exactly_once_without_noise() -> None:
    movers, duration = storyboard(), 15.5
    frames = simulate(movers, FPS, duration, Noise())
    engine, events, _, outputs = run(frames)
    truth = true_counts(movers, FPS, duration, ZONES, LINES, NAMES)
    assert truth == {"zone:porch": Counter(person=3, car=0),
                     "zone:driveway": Counter(car=2, person=0),
                     "line:door:in": Counter(person=2), "line:door:out": Counter(person=2, car=1)}
    assert engine_counts(engine) == {k: +v for k, v in truth.items()}
    per_track = Counter((e["type"], e["track_id"], e.get("zone"), e.get("line"),
                         e.get("direction")) for e in events if e["type"] != "object.gone")
    assert max(per_track.values()) == 1, "an event raised twice for one track"
    loiter = [e for e in events if e["type"] == "zone.loitering"]
    assert [(e["zone"], e["label"]) for e in loiter] == [("driveway", "car")]
    assert 4.0 <= loiter[0]["dwell_s"] < 4.2
    m = mot_metrics(frames, outputs)
    assert all(len(ids) == 1 for ids in m["ids_of"].values()), m["ids_of"]
    assert m["IDSW"] == 0 and m["FP"] == 0
    # everything is in and out again at the end: counts balance
    assert engine.counts()["zones"]["porch"]["count"] == {}
    appeared = [e for e in events if e["type"] == "object.appeared"]
    gone = [e for e in events if e["type"] == "object.gone"]
    assert len(appeared) == len(movers) and len(gone) == len(movers)


# --- with noise: jitter, 20% misses, spurious and low-score boxes ------------------------

@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_storyboard_with_noise_no_id_switch_and_counts_right(seed: int) -> None:
    movers, duration = storyboard(), 15.5
    frames = simulate(movers, FPS, duration, NOISE, seed=seed)
    engine, _, _, outputs = run(frames)
    m = mot_metrics(frames, outputs)
    for mover in movers:
        if not mover.hidden:  # visible throughout: one track id all along
            assert len(m["ids_of"][mover.oid]) == 1, (mover, m["ids_of"][mover.oid])
    truth = true_counts(movers, FPS, duration, ZONES, LINES, NAMES)
    truth["zone:driveway"]["person"] = 0  # the zone counts cars only
    assert count_error(engine_counts(engine), truth) <= 0.05


def noisy_traffic(seed: int) -> tuple[float, dict[str, Any], list[Mover], int]:
    movers, duration = storyboard() + traffic(60, 60.0, seed=seed), 62.0
    frames = simulate(movers, FPS, duration, NOISE, seed=seed)
    engine, _, _, outputs = run(frames)
    truth = true_counts(movers, FPS, duration, ZONES, LINES, NAMES)
    truth["zone:driveway"]["person"] = 0
    total = sum(sum(c.values()) for c in truth.values())
    return count_error(engine_counts(engine), truth), mot_metrics(frames, outputs), movers, total


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_busy_scene_with_noise_count_error_within_5_percent(seed: int) -> None:
    """The storyboard plus 60 objects on random straight paths (crossing each other, the
    line and the zones): many counts, many close encounters."""
    error, m, movers, total = noisy_traffic(seed)
    switched = [x.oid for x in movers if not x.hidden and len(m["ids_of"][x.oid]) > 1]
    print(f"\nseed {seed}: {total} true counts, count error {100 * error:.1f}%, "
          f"MOTA {m['MOTA']:.3f}, IDF1 {m['IDF1']:.3f} (GT boxes {m['GT']}, FN {m['FN']}, "
          f"FP {m['FP']}, IDSW {m['IDSW']}), objects with more than one id: "
          f"{len(switched)} of {len(movers)}")
    assert total > 100 and error <= 0.05
    # 20% of the true boxes are never detected and a tracker publishes only what it matched
    # in a frame, so MOTA cannot reach ~0.8; these floors catch a broken tracker
    assert m["MOTA"] > 0.7 and m["IDF1"] > 0.78
    assert len(switched) <= 0.15 * len(movers)
