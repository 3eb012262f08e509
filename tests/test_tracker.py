"""The ByteTrack-style tracker on hand-made detections."""

from __future__ import annotations

import numpy as np
import pytest

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
