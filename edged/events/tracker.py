"""A small ByteTrack-style multi-object tracker in numpy.

Per frame: predict every track with a constant-velocity alpha-beta filter on the box centre;
associate high-score detections with all tracks, then low-score detections with the confirmed
tracks left over (ByteTrack's second stage: it keeps occluded, low-confidence objects alive);
start tentative tracks from unmatched high-score detections; confirm a track after
``min_hits`` matches (a tentative track survives a short gap: with 20% missed detections,
ByteTrack's drop-at-first-miss delays many confirmations by several frames); drop a lost
track ``max_age_s`` after it was last seen.

Association is greedy on a DIoU similarity (IoU minus the normalized squared centre distance)
with penalties for another class and another box shape: unlike plain IoU it still links an
object that moved more than its own size between frames (low frame rates, coarse detectors);
with a few dozen objects greedy matching gives the same pairs as an optimal assignment almost
always, at a fraction of the cost. Order as in ByteTrack: confirmed tracks with high-score
detections, the confirmed left with low-score ones, then tentative tracks with the rest.

Tracks are stored as columns (arrays over rows) so a frame with 50 objects costs a handful of
numpy calls, not 50 Python objects. Callers may register their own per-track columns
(``add_column``): they are grown and compacted with the tracks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

ALPHA = 0.7  # share of the measurement in the new position
BETA = 0.3  # share of the measured velocity in the new velocity
STAGE1_MIN = -0.25  # DIoU: equal boxes side by side score -0.2
STAGE2_MIN = 0.3  # low-score detections must overlap the prediction well
_EMPTY = np.zeros(0, np.int64)
TENTATIVE_AGE_S = 0.3  # an unconfirmed track survives a missed detection or two
CLASS_PENALTY = 0.5  # class-aware, softly: a detector's class flicker can still match
SHAPE_PENALTY = 0.5  # per unit of |log| width and height ratio


@dataclass
class TrackerParams:
    max_age_s: float = 1.0
    high_score: float = 0.5
    new_track_score: float = 0.6
    min_hits: int = 2


@dataclass
class FrameTracks:
    """One update's outcome. Row indices are valid until the next ``update``."""

    det_rows: np.ndarray  # per detection: the row of its track, or -1
    active: np.ndarray  # rows of confirmed tracks matched in this frame
    appeared: np.ndarray  # rows confirmed in this frame (a subset of active)
    gone: np.ndarray  # rows of confirmed tracks removed in this frame (not in active)
    lost: int = 0  # confirmed tracks not seen in this frame, still kept


def xyxy_to_cxcywh(b: np.ndarray) -> np.ndarray:
    return np.stack([(b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2,
                     b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]], axis=1)


def cxcywh_to_xyxy(s: np.ndarray) -> np.ndarray:
    half = s[:, 2:4] / 2
    return np.concatenate([s[:, :2] - half, s[:, :2] + half], axis=1)


def similarity(tracks: np.ndarray, track_cls: np.ndarray, dets: np.ndarray,
               det_cls: np.ndarray) -> np.ndarray:
    """[tracks, dets]: DIoU (IoU minus the squared centre distance over the squared diagonal
    of the enclosing box), less a penalty for a different class and for a different box
    shape: a spurious box of another size next to a track whose object was missed does not
    capture it. Written as few whole-matrix operations as possible: at 50 x 50 their count,
    not their size, is the cost."""
    ax0, ay0, ax1, ay1 = (tracks[:, i:i + 1] for i in range(4))
    bx0, by0, bx1, by1 = dets[:, 0], dets[:, 1], dets[:, 2], dets[:, 3]
    inter = np.maximum(np.minimum(ax1, bx1) - np.maximum(ax0, bx0), 0)
    inter *= np.maximum(np.minimum(ay1, by1) - np.maximum(ay0, by0), 0)
    wa, ha = ax1 - ax0, ay1 - ay0
    wb, hb = bx1 - bx0, by1 - by0
    union = (wa * ha + 1e-12) + (wb * hb) - inter
    cw = np.maximum(ax1, bx1) - np.minimum(ax0, bx0)
    ch = np.maximum(ay1, by1) - np.minimum(ay0, by0)
    dx = (ax0 + ax1) - (bx0 + bx1)
    dy = (ay0 + ay1) - (by0 + by1)
    sim = inter / union - (dx * dx + dy * dy) / (4 * (cw * cw + ch * ch) + 1e-12)
    sim -= np.where(track_cls[:, None] != det_cls[None, :], CLASS_PENALTY, 0.0)
    lwa, lha = np.log(np.maximum(wa, 1e-6)), np.log(np.maximum(ha, 1e-6))
    lwb, lhb = np.log(np.maximum(wb, 1e-6)), np.log(np.maximum(hb, 1e-6))
    sim -= SHAPE_PENALTY * (np.abs(lwa - lwb) + np.abs(lha - lhb))
    return sim


def greedy_match(sim: np.ndarray, minimum: float) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (row, col) by decreasing similarity, each row and column used once.

    Mutually best pairs (best of their row and of their column) are always among greedy's
    picks, so they are taken at once, vectorized; only the contested rest is looped over."""
    ok = sim > minimum
    if not ok.any():
        return _EMPTY, _EMPTY
    s = np.where(ok, sim, -np.inf)
    best_c = s.argmax(axis=1)
    best_r = s.argmax(axis=0)
    rows = np.arange(len(s))
    mutual = (best_r[best_c] == rows) & ok[rows, best_c]
    r1, c1 = rows[mutual], best_c[mutual]
    s[r1, :] = -np.inf
    s[:, c1] = -np.inf
    rr, cc = np.nonzero(s > minimum)
    if not len(rr):
        return r1, c1
    order = np.argsort(-s[rr, cc], kind="stable")
    used_r: set[int] = set()
    used_c: set[int] = set()
    out_r, out_c = [], []
    for r, c in zip(rr[order].tolist(), cc[order].tolist(), strict=True):
        if r not in used_r and c not in used_c:
            used_r.add(r)
            used_c.add(c)
            out_r.append(r)
            out_c.append(c)
    return (np.concatenate([r1, out_r]).astype(np.int64),
            np.concatenate([c1, out_c]).astype(np.int64))


@dataclass
class _Columns:
    """The per-track arrays; extra columns belong to callers (zones, lines)."""

    ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    state: np.ndarray = field(default_factory=lambda: np.zeros((0, 4)))  # cx, cy, w, h
    vel: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))  # centre, per second
    t_last: np.ndarray = field(default_factory=lambda: np.zeros(0))
    t_first: np.ndarray = field(default_factory=lambda: np.zeros(0))
    hits: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    confirmed: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    score: np.ndarray = field(default_factory=lambda: np.zeros(0))  # last matched score
    best: np.ndarray = field(default_factory=lambda: np.zeros(0))  # best score so far
    label: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # voted class
    box: np.ndarray = field(default_factory=lambda: np.zeros((0, 4)))  # last detection box
    extra: dict[str, np.ndarray] = field(default_factory=dict)

    def names(self) -> list[str]:
        return ["ids", "state", "vel", "t_last", "t_first", "hits", "confirmed", "score",
                "best", "label", "box"]

    def keep(self, rows: np.ndarray) -> None:
        for n in self.names():
            setattr(self, n, getattr(self, n)[rows])
        for k in self.extra:
            self.extra[k] = self.extra[k][rows]

    def append(self, n: int, fill: dict[str, np.ndarray]) -> None:
        for name in self.names():
            setattr(self, name, np.concatenate([getattr(self, name), fill[name]]))
        for k, col in self.extra.items():
            self.extra[k] = np.concatenate([col, np.zeros((n, *col.shape[1:]), col.dtype)])


class Tracker:
    def __init__(self, params: TrackerParams | None = None) -> None:
        self.params = params or TrackerParams()
        self.cols = _Columns()
        self._dead = np.zeros(0, bool)
        self._next_id = 1

    def __len__(self) -> int:
        return len(self.cols.ids)

    def add_column(self, name: str, shape: tuple[int, ...], dtype: type) -> np.ndarray:
        """A caller's per-track column, zero for new tracks (replaces one of the same name)."""
        self.cols.extra[name] = np.zeros((len(self), *shape), dtype)
        return self.cols.extra[name]

    def column(self, name: str) -> np.ndarray:
        return self.cols.extra[name]

    def predicted(self, t: float) -> np.ndarray:
        """[rows, 4] xyxy boxes predicted for time ``t`` (seconds)."""
        c = self.cols
        s = c.state.copy()
        s[:, :2] += c.vel * (t - c.t_last)[:, None]
        return cxcywh_to_xyxy(s)

    def update(self, t: float, boxes: np.ndarray, scores: np.ndarray,
               classes: np.ndarray) -> FrameTracks:
        """One frame at time ``t`` (seconds): ``boxes`` [n, 4] xyxy, ``scores``, ``classes``."""
        self._compact()
        p, c = self.params, self.cols
        n = len(boxes)
        det_rows = np.full(n, -1, np.int64)
        high = scores >= p.high_score
        if len(c.ids) and n:
            # one similarity matrix for all three stages
            sim = similarity(self.predicted(t), c.label, boxes, classes)
            conf = c.confirmed
            self._assign(sim, conf, high, STAGE1_MIN, det_rows)
            taken = np.zeros(len(c.ids), bool)
            taken[det_rows[det_rows >= 0]] = True
            self._assign(sim, conf & ~taken, ~high & (det_rows < 0), STAGE2_MIN, det_rows)
            self._assign(sim, ~conf, high & (det_rows < 0), STAGE1_MIN, det_rows)
        dets = np.flatnonzero(det_rows >= 0)
        rows = det_rows[dets]
        appeared = self._correct(t, rows, boxes[dets], scores[dets], classes[dets])
        unmatched = np.ones(len(c.ids), bool)
        unmatched[rows] = False
        unseen = t - c.t_last
        dead = unmatched & ((unseen > p.max_age_s)
                            | (~c.confirmed & (unseen > min(p.max_age_s, TENTATIVE_AGE_S))))
        gone = np.flatnonzero(dead & c.confirmed)
        lost = int(np.count_nonzero(unmatched & c.confirmed & ~dead))
        fresh = np.flatnonzero(high & (det_rows < 0) & (scores >= p.new_track_score))
        start = len(c.ids)
        self._start(t, boxes[fresh], scores[fresh], classes[fresh])
        det_rows[fresh] = np.arange(start, start + len(fresh))
        self._dead = np.concatenate([dead, np.zeros(len(fresh), bool)])
        new_confirmed = np.arange(start, start + len(fresh))[c.confirmed[start:]]
        appeared = np.concatenate([appeared, new_confirmed])
        active = np.concatenate([rows, new_confirmed])
        active = active[c.confirmed[active]]
        return FrameTracks(det_rows, active, appeared, gone, lost)

    @staticmethod
    def _assign(sim: np.ndarray, track_mask: np.ndarray, det_mask: np.ndarray,
                minimum: float, det_rows: np.ndarray) -> None:
        tracks, dets = np.flatnonzero(track_mask), np.flatnonzero(det_mask)
        if len(tracks) and len(dets):
            r, d = greedy_match(sim[np.ix_(tracks, dets)], minimum)
            det_rows[dets[d]] = tracks[r]

    def _correct(self, t: float, rows: np.ndarray, boxes: np.ndarray, scores: np.ndarray,
                 classes: np.ndarray) -> np.ndarray:
        """Alpha-beta update of matched rows; returns rows confirmed by this update."""
        c = self.cols
        if not len(rows):
            return rows
        z = xyxy_to_cxcywh(boxes)
        dt = np.maximum(t - c.t_last[rows], 1e-3)
        pred = c.state[rows].copy()
        pred[:, :2] += c.vel[rows] * dt[:, None]
        resid = z - pred
        c.state[rows] = pred + ALPHA * resid
        first = (c.hits[rows] == 1)[:, None]
        c.vel[rows] = np.where(first, resid[:, :2] / dt[:, None],
                               c.vel[rows] + BETA * resid[:, :2] / dt[:, None])
        c.t_last[rows] = t
        c.hits[rows] += 1
        c.score[rows] = scores
        c.best[rows] = np.maximum(c.best[rows], scores)
        c.box[rows] = boxes
        votes = self._votes_for(classes)
        votes[rows, classes] += scores
        c.label[rows] = votes[rows].argmax(axis=1)
        newly = rows[~c.confirmed[rows] & (c.hits[rows] >= self.params.min_hits)]
        self._confirm(newly)
        return newly

    def _votes_for(self, classes: np.ndarray) -> np.ndarray:
        """The [tracks, classes] score sums (label voting), widened to the classes seen."""
        votes = self.cols.extra.get("_votes")
        width = int(classes.max()) + 1 if len(classes) else 1
        if votes is None or votes.shape[1] < width:
            wider = np.zeros((len(self.cols.ids), width))
            if votes is not None:
                wider[:, :votes.shape[1]] = votes
            self.cols.extra["_votes"] = votes = wider
        return votes

    def _confirm(self, rows: np.ndarray) -> None:
        c = self.cols
        c.confirmed[rows] = True
        c.ids[rows] = np.arange(self._next_id, self._next_id + len(rows))
        self._next_id += len(rows)

    def _start(self, t: float, boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray) -> None:
        n = len(boxes)
        if not n:
            return
        start = len(self.cols.ids)
        self.cols.append(n, {
            "ids": np.zeros(n, np.int64), "state": xyxy_to_cxcywh(boxes),
            "vel": np.zeros((n, 2)), "t_last": np.full(n, t), "t_first": np.full(n, t),
            "hits": np.ones(n, np.int64), "confirmed": np.zeros(n, bool),
            "score": scores.astype(float), "best": scores.astype(float),
            "label": classes.astype(np.int64), "box": boxes.astype(float)})
        votes = self._votes_for(classes)
        votes[np.arange(start, start + n), classes] = scores
        if self.params.min_hits <= 1:
            self._confirm(np.arange(start, start + n))

    def _compact(self) -> None:
        if self._dead.any():
            keep = np.flatnonzero(~self._dead)
            self.cols.keep(keep)
        self._dead = np.zeros(len(self.cols.ids), bool)

    def live(self) -> int:
        """Confirmed tracks, lost ones included, not counting those just removed."""
        return int(np.count_nonzero(self.cols.confirmed & ~self._dead))

    def ages(self, rows: np.ndarray, t: float) -> np.ndarray:
        return t - self.cols.t_first[rows]
