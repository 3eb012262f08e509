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

Tracks are stored as columns (arrays over rows) so a frame with 50 objects costs a fixed
number of numpy calls (about a hundred), not 50 Python objects: the float columns are rows of
one [15, tracks] matrix, so updating the matched tracks is one gather, arithmetic on
contiguous rows, and one scatter. Callers may register their own per-track columns
(``add_column``): they are grown and compacted with the tracks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edged.events.assoc import CLS, STAGE, X0, associate, features, new_features
from edged.events.assoc import greedy_match as greedy_match  # re-exported
from edged.events.assoc import similarity as similarity  # re-exported

ALPHA = 0.7  # share of the measurement in the new position
BETA = 0.3  # share of the measured velocity in the new velocity
TENTATIVE_AGE_S = 0.3  # an unconfirmed track survives a missed detection or two
_EMPTY = np.zeros(0, np.int64)


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
    seen: np.ndarray | None = None  # det_rows[det_rows >= 0], when the update had it at hand


def xyxy_to_cxcywh(b: np.ndarray) -> np.ndarray:
    return np.stack([(b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2,
                     b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]], axis=1)


def cxcywh_to_xyxy(s: np.ndarray) -> np.ndarray:
    half = s[:, 2:4] / 2
    return np.concatenate([s[:, :2] - half, s[:, :2] + half], axis=1)


# rows of _Columns.f
_STATE, _VEL, _T_LAST, _T_FIRST, _SCORE, _BEST, _BOX, _HITS = 0, 4, 6, 7, 8, 9, 10, 14
_ROWS = 15


class _Columns:
    """The per-track arrays: float ones as rows of ``f`` (exposed as [tracks, ...] views),
    ids, labels and the confirmed flag apart; extra columns belong to callers (zones,
    lines)."""

    def __init__(self) -> None:
        self.f = np.zeros((_ROWS, 0))
        self.ids = np.zeros(0, np.int64)
        self.label = np.zeros(0, np.int64)  # voted class
        self.confirmed = np.zeros(0, bool)
        self.extra: dict[str, np.ndarray] = {}

    @property
    def state(self) -> np.ndarray:  # cx, cy, w, h
        return self.f[_STATE:_STATE + 4].T

    @property
    def vel(self) -> np.ndarray:  # centre, per second
        return self.f[_VEL:_VEL + 2].T

    @property
    def t_last(self) -> np.ndarray:
        return self.f[_T_LAST]

    @property
    def t_first(self) -> np.ndarray:
        return self.f[_T_FIRST]

    @property
    def score(self) -> np.ndarray:  # last matched score
        return self.f[_SCORE]

    @property
    def best(self) -> np.ndarray:  # best score so far
        return self.f[_BEST]

    @property
    def box(self) -> np.ndarray:  # last detection box
        return self.f[_BOX:_BOX + 4].T

    @property
    def hits(self) -> np.ndarray:
        return self.f[_HITS]

    def keep(self, rows: np.ndarray) -> None:
        self.f = self.f.take(rows, axis=1)
        self.ids, self.label = self.ids.take(rows), self.label.take(rows)
        self.confirmed = self.confirmed.take(rows)
        for k in self.extra:
            self.extra[k] = self.extra[k].take(rows, axis=0)

    def append(self, f: np.ndarray, label: np.ndarray) -> None:
        n = f.shape[1]
        self.f = np.concatenate([self.f, f], axis=1)
        self.ids = np.concatenate([self.ids, np.zeros(n, np.int64)])
        self.label = np.concatenate([self.label, label])
        self.confirmed = np.concatenate([self.confirmed, np.zeros(n, bool)])
        for k, col in self.extra.items():
            self.extra[k] = np.concatenate([col, np.zeros((n, *col.shape[1:]), col.dtype)])


class Tracker:
    def __init__(self, params: TrackerParams | None = None) -> None:
        self.params = params or TrackerParams()
        self.cols = _Columns()
        self.cols.extra["_votes"] = np.zeros((0, 1))
        self._dead = np.zeros(0, bool)
        self._next_id = 1
        self._by_conf: tuple[np.ndarray, np.ndarray] | None = None

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
        return self._predicted(t).T

    def _predicted(self, t: float, out: np.ndarray | None = None) -> np.ndarray:
        """[4, rows]: x0, y0, x1, y1 (into ``out`` when given)."""
        f = self.cols.f
        out = np.empty((4, f.shape[1])) if out is None else out
        centre = f[_VEL:_VEL + 2] * (t - f[_T_LAST])
        centre += f[_STATE:_STATE + 2]
        half = f[_STATE + 2:_STATE + 4] / 2
        np.subtract(centre, half, out=out[0:2])
        np.add(centre, half, out=out[2:4])
        return out

    def update(self, t: float, boxes: np.ndarray, scores: np.ndarray,
               classes: np.ndarray) -> FrameTracks:
        """One frame at time ``t`` (seconds): ``boxes`` [n, 4] xyxy, ``scores``, ``classes``."""
        self._compact()
        p, c = self.params, self.cols
        n = len(boxes)
        det_rows = np.empty(n, np.int64)
        det_rows.fill(-1)
        high = scores >= p.high_score
        if len(c.ids) and n:
            tr, dr = self._associate(t, boxes, classes, high)
            det_rows[dr] = tr
        dets = (det_rows >= 0).nonzero()[0]
        rows = det_rows.take(dets)
        appeared = self._correct(t, rows, boxes.T.take(dets, axis=1), scores.take(dets),
                                 classes.take(dets))
        conf = c.confirmed
        dead = (t - c.f[_T_LAST]) > self._conf_rows()[0]
        if p.max_age_s < 0:  # else the rows just matched (t_last = t) are not dead
            dead[rows] = False
        matched = rows[conf.take(rows)]
        gone = (dead & conf).nonzero()[0]
        lost = int(np.count_nonzero(conf)) - len(gone) - len(matched)
        self._dead = dead
        new = det_rows < 0
        new &= scores >= p.new_track_score
        if p.new_track_score < p.high_score:  # else implied
            new &= high
        fresh = new.nonzero()[0]
        if len(fresh):
            start = len(c.ids)
            new_confirmed = self._start(t, boxes[fresh], scores[fresh], classes[fresh])
            det_rows[fresh] = np.arange(start, start + len(fresh))
            self._dead = np.concatenate([dead, np.zeros(len(fresh), bool)])
            if len(new_confirmed):
                appeared = np.concatenate([appeared, new_confirmed])
                matched = np.concatenate([matched, new_confirmed])
            return FrameTracks(det_rows, matched, appeared, gone, lost)
        return FrameTracks(det_rows, matched, appeared, gone, lost, rows)

    def _conf_rows(self) -> tuple[np.ndarray, np.ndarray]:
        """Per track, from the confirmed flags (kept until they change): the age limit, and
        the stage code of association (0 confirmed, 2 tentative)."""
        conf = self.cols.confirmed
        if self._by_conf is None or len(self._by_conf[0]) != len(conf):
            p = self.params
            self._by_conf = (np.where(conf, p.max_age_s, min(p.max_age_s, TENTATIVE_AGE_S)),
                             np.multiply(~conf, 2.0))
        return self._by_conf

    def _associate(self, t: float, boxes: np.ndarray, classes: np.ndarray,
                   high: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        c, n = self.cols, len(self.cols.ids)
        f = new_features(n + len(boxes))
        self._predicted(t, f[X0:X0 + 4, :n])
        f[X0:X0 + 4, n:] = boxes.T
        f[CLS, :n] = c.label
        f[CLS, n:] = classes
        f[STAGE, :n] = self._conf_rows()[1]
        np.logical_not(high, out=f[STAGE, n:])
        return associate(f, n, features(f, n))

    def _correct(self, t: float, rows: np.ndarray, boxes: np.ndarray, scores: np.ndarray,
                 classes: np.ndarray) -> np.ndarray:
        """Alpha-beta update of matched rows (``boxes`` [4, rows] x0, y0, x1, y1); returns
        the rows confirmed by this update."""
        c = self.cols
        if not len(rows):
            return rows
        g = c.f.take(rows, axis=1)
        z = np.empty_like(boxes)
        np.add(boxes[0:2], boxes[2:4], out=z[0:2])
        z[0:2] /= 2
        np.subtract(boxes[2:4], boxes[0:2], out=z[2:4])
        dt = t - g[_T_LAST]
        np.maximum(dt, 1e-3, out=dt)
        pred = g[_STATE:_STATE + 4]
        pred[0:2] += g[_VEL:_VEL + 2] * dt
        resid = np.subtract(z, pred, out=z)
        pred += ALPHA * resid
        vel = g[_VEL:_VEL + 2]
        step = BETA * resid[0:2]
        step /= dt
        vel += step
        np.copyto(vel, resid[0:2] / dt, where=g[_HITS] == 1)
        g[_T_LAST] = t
        g[_HITS] += 1
        g[_SCORE] = scores
        np.maximum(g[_BEST], scores, out=g[_BEST])
        g[_BOX:_BOX + 4] = boxes
        c.f[:, rows] = g
        votes = self._votes(classes)
        votes[rows, classes] += scores
        c.label[rows] = votes[rows].argmax(axis=1)
        # hits grow by one per match and a track is confirmed on reaching min_hits (at its
        # start when min_hits <= 1): the unconfirmed with hits >= min_hits are those == it
        newly = rows[g[_HITS] == self.params.min_hits]
        if len(newly):
            self._confirm(newly)
        return newly

    def _votes(self, classes: np.ndarray) -> np.ndarray:
        """The [tracks, classes] score sums (label voting), wide enough for ``classes``."""
        votes = self.cols.extra["_votes"]
        if votes.shape[1] <= int(np.maximum.reduce(classes, initial=0)):  # rare: widen
            wider = np.zeros((len(votes), int(classes.max()) + 1))
            wider[:, :votes.shape[1]] = votes
            self.cols.extra["_votes"] = votes = wider
        return votes

    def _confirm(self, rows: np.ndarray) -> None:
        c = self.cols
        c.confirmed[rows] = True
        self._by_conf = None
        c.ids[rows] = np.arange(self._next_id, self._next_id + len(rows))
        self._next_id += len(rows)

    def _start(self, t: float, boxes: np.ndarray, scores: np.ndarray,
               classes: np.ndarray) -> np.ndarray:
        """New tentative tracks; returns those confirmed at once (``min_hits`` 1)."""
        n = len(boxes)
        start = len(self.cols.ids)
        f = np.zeros((_ROWS, n))
        b = boxes.T
        np.add(b[0:2], b[2:4], out=f[_STATE:_STATE + 2])
        f[_STATE:_STATE + 2] /= 2
        np.subtract(b[2:4], b[0:2], out=f[_STATE + 2:_STATE + 4])
        f[_T_LAST:_T_FIRST + 1] = t
        f[_SCORE:_BEST + 1] = scores
        f[_BOX:_BOX + 4] = b
        f[_HITS] = 1
        self.cols.append(f, classes.astype(np.int64))
        self._by_conf = None
        rows = np.arange(start, start + n)
        self._votes(classes)[rows, classes] = scores
        if self.params.min_hits > 1:
            return _EMPTY
        self._confirm(rows)
        return rows

    def _compact(self) -> None:
        if np.count_nonzero(self._dead):
            self.cols.keep((~self._dead).nonzero()[0])
            self._dead = np.zeros(len(self.cols.ids), bool)
            self._by_conf = None
        elif len(self._dead) != len(self.cols.ids):
            self._dead = np.zeros(len(self.cols.ids), bool)

    def live(self) -> int:
        """Confirmed tracks, lost ones included, not counting those just removed."""
        return int(np.count_nonzero(self.cols.confirmed & ~self._dead))

    def ages(self, rows: np.ndarray, t: float) -> np.ndarray:
        return t - self.cols.t_first[rows]
