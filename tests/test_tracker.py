"""The ByteTrack-style tracker on hand-made detections."""

from __future__ import annotations

import numpy as np
import pytest

from edged.events.assoc import (
    CLS,
    STAGE,
    STAGE1_MIN,
    STAGE2_MIN,
    X0,
    associate,
    features,
    gate,
    new_features,
    pair_similarity,
)
from edged.events.tracker import Tracker, TrackerParams, greedy_match, similarity


def box(cx: float, cy: float, w: float = 0.1, h: float = 0.1) -> list[float]:
    return [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]


def step(tr: Tracker, t: float, dets: list[tuple[list[float], float, int]]) -> list[int]:
    """Track ids per detection (0 = not (yet) a confirmed track)."""
    boxes = np.array([d[0] for d in dets], float).reshape(-1, 4)
    ft = tr.update(t, boxes, np.array([d[1] for d in dets], float),
                   np.array([d[2] for d in dets], np.int64))
    c = tr.cols
    return [int(c.ids[r]) if r >= 0 and c.confirmed[r] else 0 for r in ft.det_rows.tolist()]


def test_a_track_is_confirmed_on_its_second_match_and_keeps_its_id() -> None:
    tr = Tracker()
    assert step(tr, 0.0, [(box(0.2, 0.5), 0.9, 0)]) == [0]  # tentative: no id yet
    ids = [step(tr, 0.1 * k, [(box(0.2 + 0.02 * k, 0.5), 0.9, 0)])[0] for k in range(1, 20)]
    assert ids == [1] * 19


def test_two_objects_crossing_keep_their_ids() -> None:
    tr = Tracker()
    seen = []
    for k in range(30):
        a = box(0.1 + 0.03 * k, 0.5)  # rightwards
        b = box(0.5, 0.1 + 0.03 * k)  # downwards, through a's path at k = 13
        seen.append(step(tr, 0.1 * k, [(a, 0.9, 0), (b, 0.9, 0)]))
    assert {s[0] for s in seen[1:]} == {1} and {s[1] for s in seen[1:]} == {2}


def test_low_score_detections_keep_a_track_alive_but_never_start_one() -> None:
    tr = Tracker()
    step(tr, 0.0, [(box(0.5, 0.5), 0.9, 0)])
    step(tr, 0.1, [(box(0.5, 0.5), 0.9, 0)])
    assert step(tr, 0.2, [(box(0.5, 0.5), 0.3, 0), (box(0.1, 0.1), 0.3, 0)]) == [1, 0]
    assert len(tr) == 1  # the lone low-score box started nothing


def test_a_lost_track_is_found_again_within_max_age_and_gone_after() -> None:
    tr = Tracker(TrackerParams(max_age_s=1.0))
    for k in range(5):
        step(tr, 0.1 * k, [(box(0.1 + 0.02 * k, 0.5), 0.9, 0)])
    for k in range(5, 12):  # hidden 0.7 s, still moving
        assert step(tr, 0.1 * k, []) == []
    assert step(tr, 1.2, [(box(0.1 + 0.02 * 12, 0.5), 0.9, 0)]) == [1]
    gone = []
    for k in range(13, 30):
        ft = tr.update(0.1 * k, np.zeros((0, 4)), np.zeros(0), np.zeros(0, np.int64))
        gone += tr.cols.ids[ft.gone].tolist()
    assert gone == [1] and tr.live() == 0


def test_the_label_is_the_score_weighted_vote() -> None:
    tr = Tracker()
    labels = [0, 1, 1, 0, 1, 1, 1]
    for k, lab in enumerate(labels):
        step(tr, 0.1 * k, [(box(0.5, 0.5), 0.8, lab)])
    assert tr.cols.label[0] == 1


def test_ids_are_unique_per_run_and_increase() -> None:
    tr = Tracker(TrackerParams(max_age_s=0.2))
    ids = []
    for k in range(40):
        x = 0.1 + 0.8 * ((k // 8) % 2)  # an object jumping across the frame every 8 frames
        ids += step(tr, 0.1 * k, [(box(x, 0.5), 0.9, 0)])
    distinct = [i for i in dict.fromkeys(ids) if i]
    assert distinct == list(range(1, len(distinct) + 1)) and len(distinct) == 5


def test_similarity_and_penalties() -> None:
    t = np.array([box(0.5, 0.5)])
    d = np.array([box(0.5, 0.5), box(0.6, 0.5), box(0.95, 0.95), box(0.5, 0.5, 0.3, 0.3)])
    sim = similarity(t, np.array([0]), d, np.array([0, 0, 0, 1]))[0]
    assert sim[0] == pytest.approx(1.0)
    assert -0.25 < sim[1] < 0  # side by side: still linkable
    assert sim[2] < -0.5  # far
    assert sim[3] < -0.25  # another class and another size


@pytest.mark.parametrize("seed", range(20))
def test_greedy_match_is_plain_greedy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    sim = rng.uniform(-1, 1, (rng.integers(1, 12), rng.integers(1, 12)))
    r, c = greedy_match(sim, 0.0)
    expected, used_r, used_c = [], set(), set()
    for flat in np.argsort(-sim, axis=None, kind="stable"):
        i, j = divmod(int(flat), sim.shape[1])
        if sim[i, j] > 0 and i not in used_r and j not in used_c:
            used_r.add(i)
            used_c.add(j)
            expected.append((i, j))
    assert sorted(zip(r.tolist(), c.tolist(), strict=True)) == sorted(expected)


# --- the gated association is the dense one, pair for pair --------------------------------

def random_boxes(rng: np.random.Generator, n: int) -> np.ndarray:
    """Boxes of mixed sizes (some near zero), many close to each other."""
    centres = rng.uniform(0, 1, (n, 2))
    centres[n // 2:] = centres[:n - n // 2] + rng.normal(0, 0.03, (n - n // 2, 2))
    wh = rng.uniform(0.0, 0.2, (n, 2)) * rng.choice([0.01, 1.0, 3.0], (n, 1))
    return np.concatenate([centres - wh / 2, centres + wh / 2], axis=1)


def features_of(tracks: np.ndarray, track_cls: np.ndarray, dets: np.ndarray,
                det_cls: np.ndarray, confirmed: np.ndarray, high: np.ndarray
                ) -> tuple[np.ndarray, bool]:
    n = len(tracks)
    f = new_features(n + len(dets))
    f[X0:X0 + 4] = np.concatenate([tracks, dets]).T
    f[CLS] = np.concatenate([track_cls, det_cls])
    f[STAGE] = np.concatenate([2 * ~confirmed, ~high])
    return f, features(f, n)


def three_stages(sim: np.ndarray, confirmed: np.ndarray, high: np.ndarray) -> set:
    """The tracker's association before it was gated: greedy_match per stage."""
    det_rows = np.full(sim.shape[1], -1)
    for tracks, dets, minimum in ((confirmed, high, STAGE1_MIN), (confirmed, ~high, STAGE2_MIN),
                                  (~confirmed, high, STAGE1_MIN)):
        t = np.flatnonzero(tracks & ~np.isin(np.arange(len(sim)), det_rows))
        d = np.flatnonzero(dets & (det_rows < 0))
        if len(t) and len(d):
            r, c = greedy_match(sim[np.ix_(t, d)], minimum)
            det_rows[d[c]] = t[r]
    return {(int(r), d) for d, r in enumerate(det_rows.tolist()) if r >= 0}


@pytest.mark.parametrize("seed", range(30))
def test_gate_keeps_every_pair_that_can_match_with_the_same_similarity(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, m = int(rng.integers(1, 40)), int(rng.integers(1, 40))
    tracks, dets = random_boxes(rng, n), random_boxes(rng, m)
    tc, dc = rng.integers(0, 2, n), rng.integers(0, 2, m)
    conf, high = rng.random(n) < 0.7, rng.random(m) < 0.7
    sim = similarity(tracks, tc, dets, dc)
    f, ok = features_of(tracks, tc, dets, dc, conf, high)
    assert ok
    r, c = gate(f, n)
    kept = np.zeros_like(sim, bool)
    kept[r, c] = True
    assert not (sim > STAGE1_MIN)[~kept].any()
    pairs = pair_similarity(f.take(r, axis=1), f[:, n:].take(c, axis=1))
    assert np.array_equal(pairs, sim[r, c])  # the same floating-point values
    tr, dr = associate(f, n, ok)
    assert set(zip(tr, dr, strict=True)) == three_stages(sim, conf, high)


def test_an_inverted_box_turns_the_gate_off() -> None:
    tracks = np.array([box(0.5, 0.5)])
    dets = np.array([box(0.5, 0.5), [0.6, 0.6, 0.5, 0.5]])  # the second: x1 < x0
    f, ok = features_of(tracks, np.zeros(1, int), dets, np.zeros(2, int), np.ones(1, bool),
                        np.ones(2, bool))
    assert not ok
    r, c = gate(f, 1, ok)
    assert list(zip(r.tolist(), c.tolist(), strict=True)) == [(0, 0), (0, 1)]


def test_the_gate_drops_the_pairs_of_distant_objects() -> None:
    rng = np.random.default_rng(1)
    centres = rng.uniform(0, 1, (50, 2))
    boxes = np.concatenate([centres - [0.02, 0.04], centres + [0.02, 0.04]], axis=1)
    f, ok = features_of(boxes, np.zeros(50, int), boxes, np.zeros(50, int), np.ones(50, bool),
                        np.ones(50, bool))
    r, _ = gate(f, 50, ok)
    assert 50 <= len(r) < 0.1 * 50 * 50
